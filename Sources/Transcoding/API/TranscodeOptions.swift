/// What a job asks the engine to do to the video (and audio) of its input.
public enum TranscodeOptions: Sendable, Equatable, Codable {
    /// An untrusted GStreamer fragment for the video branch, e.g. `videoconvert ! x264enc`;
    /// the engine supplies demuxing, decoding, audio, parsing and muxing around it.
    case fragment(String)
    /// One of ``Preset/all`` by name, with optional checked overrides.
    case preset(String, overrides: PresetOverrides = .init())
}

/// Structured tweaks to a preset; each is range-checked by ``TranscodingEngine/validate(_:outputKey:)``.
public struct PresetOverrides: Sendable, Codable, Equatable {
    /// Bounding box width in pixels (16...limit); the aspect ratio is kept and nothing is upscaled.
    public var width: Int?
    /// Bounding box height in pixels (16...limit).
    public var height: Int?
    /// Target bitrate in kbit/s (video for video presets, audio for audio presets); replaces CRF.
    public var bitrateKbps: Int?
    /// Constant quality (H.264/HEVC 0...51, VP9 0...63); not for AV1 or audio presets.
    public var crf: Int?
    /// x264-style speed name: ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow.
    public var speed: String?

    public init(width: Int? = nil, height: Int? = nil, bitrateKbps: Int? = nil, crf: Int? = nil, speed: String? = nil) {
        self.width = width
        self.height = height
        self.bitrateKbps = bitrateKbps
        self.crf = crf
        self.speed = speed
    }
}
