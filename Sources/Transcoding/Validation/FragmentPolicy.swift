/// What an untrusted fragment may contain. Allowlist first: anything not named here is refused,
/// whatever its class; properties are then checked because encoders can write files too.
enum FragmentPolicy {
    /// Element factories a fragment may use: converters, scalers, filters, encoders, parsers.
    static let allowedFactories: Set<String> = [
        "videoconvert", "videoscale", "videoconvertscale", "videorate", "videoflip", "videocrop",
        "videobox", "deinterlace", "videobalance", "gamma", "capsfilter", "queue",
        "x264enc", "x265enc", "vp8enc", "vp9enc", "av1enc", "theoraenc", "jpegenc",
        "avenc_mpeg4", "avenc_mpeg2video", "avenc_mjpeg",
        "h264parse", "h265parse", "vp9parse", "vp8parse", "av1parse", "mpeg4videoparse",
        "mpegvideoparse", "jpegparse",
    ]

    /// Properties refused outright per factory, with the reason a user sees.
    static let deniedProperties: [String: [String: String]] = [
        "x264enc": [
            "option-string": "it passes raw options to libx264, which can write files (stats, dumps)",
            "multipass-cache-file": "it names a file on the worker",
        ],
        "x265enc": ["option-string": "it passes raw options to libx265, which can read and write files"],
        "vp8enc": [
            "multipass-cache-file": "it names a file on the worker",
            "multipass-mode": "multi-pass encoding writes a cache file on the worker",
        ],
        "vp9enc": [
            "multipass-cache-file": "it names a file on the worker",
            "multipass-mode": "multi-pass encoding writes a cache file on the worker",
        ],
        "av1enc": ["enc-pass": "multi-pass encoding is not supported for jobs"],
    ]

    /// Properties never checked: identity only.
    static let ignoredProperties: Set<String> = ["name", "parent"]

    /// Substrings of property names that point outside the process: files, URIs, sockets, descriptors.
    static let externalNameFragments = ["location", "file", "uri", "path", "socket", "fd", "dir", "device", "host", "port", "option"]

    /// x264enc `pass` values that do not touch the disk (cbr, quant, qual); passes 1-3 write `x264.log`.
    static let x264SafePasses: Set<String> = ["cbr", "quant", "qual", "0", "4", "5"]

    /// Most threads a fragment's element may ask for (`threads`, `n-threads`): enough for any
    /// machine's cores, not enough to exhaust the process (x264enc takes `threads=100000`).
    static let maxThreads = 64

    /// Why a factory is refused, from its class metadata, for the user message.
    static func refusalReason(factory: String, klass: String) -> String {
        let k = klass.lowercased()
        if k.contains("source") { return "it is a source element; fragments may not read files, devices or the network" }
        if k.contains("sink") { return "it is a sink element; fragments may not write files, devices or the network" }
        if k.contains("network") { return "it is a network element" }
        if k.contains("device") || k.contains("hardware") { return "it accesses a device" }
        if klass.isEmpty { return "it is not a known element" }
        return "it is not on the list of elements allowed in fragments (converters, scalers, encoders, parsers)"
    }
}
