import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A built several-output pipeline and what each output needs after end of stream.
/// Immutable once built; the captures inside are thread-safe.
final class FanOut: @unchecked Sendable {
    struct Rendition {
        var name: String
        var width: Int
        var height: Int
        /// Directory of its playlist and segments, relative to the job's output directory.
        var directory: String
    }
    struct Thumbnails {
        var poster: FrameCapture
        var sprite: FrameCapture?
        var spriteSelector: FrameSelector?
    }

    let built: BuiltPipeline
    /// Output index → the temporary file a file output is written to (renamed once checked).
    let temporaryFiles: [Int: String]
    let renditions: [Int: [Rendition]]
    let thumbnails: [Int: Thumbnails]

    init(built: BuiltPipeline, temporaryFiles: [Int: String], renditions: [Int: [Rendition]], thumbnails: [Int: Thumbnails]) {
        self.built = built
        self.temporaryFiles = temporaryFiles
        self.renditions = renditions
        self.thumbnails = thumbnails
    }
}

/// One decode fanned out to every output: filesrc ! decodebin, raw video into a tee feeding each
/// output's scaler and encoder (or fragment), raw audio into a tee feeding one encoder per distinct
/// audio setting, whose encoded stream is itself teed into every muxer that takes it. The HLS
/// variants of a job therefore share one AAC encoding.
enum FanOutBuilder {
    static func build(_ plans: [OutputPlan], input: MediaInfo, inputPath: String, directory: String,
                      limits: EngineLimits) throws(TranscodeError) -> FanOut {
        let a = try Assembly(name: "fanout")
        let src = try a.add(ElementSpec("filesrc", [("location", inputPath)]), name: "src")
        let decode = try a.add(ElementSpec("decodebin"), name: "decode")
        try a.chain([src, decode])
        let counter = StreamCounter()

        var videoTee: UnsafeMutablePointer<GstElement>?
        var videoEntry: ObjectHandle?
        if input.hasVideo, plans.contains(where: \.wantsVideo) {
            // Deinterlacing and the frame-rate ceiling once, before the fan-out.
            let steps = try a.videoPreparation(input: input, limits: limits) + [try a.add(ElementSpec("tee"), name: "vtee")]
            try a.chain(steps)
            videoTee = steps.last
            videoEntry = a.sinkPad(steps[0])
            counter.attach(to: videoEntry!.pad)
        }
        var audioTee: UnsafeMutablePointer<GstElement>?
        var audioEntry: ObjectHandle?
        if input.hasAudio, plans.contains(where: \.wantsAudio) {
            let tee = try a.add(ElementSpec("tee"), name: "atee")
            audioTee = tee
            audioEntry = a.sinkPad(tee)
            if videoEntry == nil { counter.attach(to: audioEntry!.pad) }
        }
        guard videoEntry != nil || audioEntry != nil else {
            throw TranscodeError(.inputUnsupported, "The input has no stream these outputs can use.")
        }

        /// A new branch off the video tee: a queue of two frames gives it its own thread.
        func videoBranch() throws(TranscodeError) -> UnsafeMutablePointer<GstElement> {
            let q = try a.add(Assembly.queue(2))
            try a.chain([videoTee!, q])
            return q
        }
        var encodedAudio: [String: UnsafeMutablePointer<GstElement>] = [:]
        /// The tee of the encoded audio for these settings, made on first use.
        func audioSource(_ encoder: ElementSpec, caps: String?) throws(TranscodeError) -> UnsafeMutablePointer<GstElement>? {
            guard let audioTee else { return nil }
            let key = "\(encoder.factory)|\(encoder.properties.map { "\($0.name)=\($0.value)" })|\(caps ?? "")"
            if let tee = encodedAudio[key] { return tee }
            let steps = [try a.add(Assembly.unboundedQueue)] + (try a.audioEncode(encoder, caps: caps)) + [try a.add(ElementSpec("tee"))]
            try a.chain([audioTee] + steps)
            encodedAudio[key] = steps.last
            return steps.last
        }
        /// The encoded audio into a muxer's pad; unbounded, because the muxer holds audio while the video encoders' lookahead fills.
        func feedAudio(_ encoder: ElementSpec, caps: String?, into sink: UnsafeMutablePointer<GstElement>, pad: String?) throws(TranscodeError) {
            guard let tee = try audioSource(encoder, caps: caps) else { return }
            let q = try a.add(Assembly.unboundedQueue)
            try a.chain([tee, q])
            guard gst_element_link_pads(q, "src", sink, pad) != 0 else {
                throw TranscodeError(.optionsInvalid, "The audio cannot go into '\(GStreamer.objectName(UnsafeMutableRawPointer(sink)))'.")
            }
        }

        var fragmentSources: [ObjectHandle] = []
        var files: [Int: String] = [:]
        var renditionsByOutput: [Int: [FanOut.Rendition]] = [:]
        var thumbnailsByOutput: [Int: FanOut.Thumbnails] = [:]
        for (index, plan) in plans.enumerated() {
            let path = Paths.join(directory, plan.name)
            switch plan.kind {
            case .file(let p):
                let temp = temporaryPath(path)
                try makeDirectory(Paths.parent(temp))
                files[index] = temp
                let mux = try a.add(ElementSpec(p.container.muxerFactory))
                let sink = try a.add(ElementSpec("filesink", [("location", temp), ("async", "false")]))
                try a.chain([mux, sink])
                if let video = p.video, videoTee != nil, !p.audioOnly {
                    var steps = [try videoBranch()]
                    switch video {
                    case let .encode(encoder, maxWidth, maxHeight):
                        let (w, h) = EncodingPlan.fit(width: input.width ?? 0, height: input.height ?? 0, maxWidth: maxWidth, maxHeight: maxHeight)
                        steps += try a.scaleAndEncode(encoder, width: w, height: h, input: input)
                    case let .fragment(text):
                        let (bin, source) = try a.fragment(text, name: "\(PipelineBuilder.fragmentName)\(index + 1)", limits: limits) {
                            PipelineBuilder.tuneFragment($0, limits: limits)
                        }
                        fragmentSources.append(source)
                        steps.append(bin)
                    }
                    if let type = p.videoMediaType, let parser = EncodingPlan.parser(for: type) { steps.append(try a.add(ElementSpec(parser))) }
                    try a.chain(steps + [mux])
                }
                if let encoder = p.audio { try feedAudio(encoder, caps: p.audioCaps, into: mux, pad: nil) }
            case .hls(let h):
                let (iw, ih) = (input.width ?? 0, input.height ?? 0)
                let kept = h.isLadder ? Ladder.kept(h.renditions, forWidth: iw, height: ih) { ($0.maxWidth, $0.maxHeight) } : h.renditions
                var renditions: [FanOut.Rendition] = []
                // Largest first, each rung scaled from the one above it (a cascade), so no rung scales
                // more source pixels than it must; with the ladder bench at CPU x0.99 of ffmpeg's split.
                var previous: UnsafeMutablePointer<GstElement>?
                let sized = kept.map { r in (r, EncodingPlan.fit(width: iw, height: ih, maxWidth: r.maxWidth, maxHeight: r.maxHeight)) }
                    .sorted { $0.1.0 * $0.1.1 > $1.1.0 * $1.1.1 }
                for (n, (r, (w, hh))) in sized.enumerated() {
                    let dir = Paths.join(plan.name, r.name)
                    try makeDirectory(Paths.join(directory, dir))
                    let full = Paths.join(directory, dir)
                    let sink = try a.add(ElementSpec("hlssink2", [
                        ("location", Paths.join(full, "seg%05d.ts")),
                        ("playlist-location", Paths.join(full, "hlssink.m3u8")),
                        ("target-duration", String(h.segmentSeconds)), ("max-files", "0"), ("playlist-length", "0"),
                        // Keyframes come from the encoder's fixed schedule, the same in every variant.
                        ("send-keyframe-requests", "false"),
                    ]))
                    let source: UnsafeMutablePointer<GstElement>
                    if let previous {
                        source = try a.add(Assembly.queue(2))
                        try a.chain([previous, source])
                    } else {
                        source = try videoBranch()
                    }
                    var scaled = [source] + (try a.scaler()) + [try a.scaledCaps(width: w, height: hh)]
                    if n + 1 < sized.count {   // the next rung's source
                        scaled.append(try a.add(ElementSpec("tee")))
                        previous = scaled.last
                    }
                    try a.chain(scaled)
                    // The queue keeps the scaler off the encoder's feeding thread.
                    let encode = [scaled.last!, try a.add(Assembly.queue(1)), try a.add(r.encoder), try a.add(ElementSpec("h264parse"))]
                    try a.chain(encode)
                    guard gst_element_link_pads(encode.last!, "src", sink, "video") != 0 else {
                        throw TranscodeError(.encoderFailure, "The HLS packager refused the video.")
                    }
                    try feedAudio(h.audio, caps: h.audioCaps, into: sink, pad: "audio")
                    renditions.append(FanOut.Rendition(name: r.name, width: w, height: hh, directory: dir))
                }
                renditionsByOutput[index] = renditions
            case .thumbnails(let spec):
                try makeDirectory(path)
                let duration = input.duration
                let posterTime = spec.posterAt < 1 ? spec.posterAt * duration : min(spec.posterAt, max(0, duration - 0.5))
                let (pw, ph) = EncodingPlan.fit(width: input.width ?? 0, height: input.height ?? 0, maxWidth: 1280, maxHeight: 720)
                let poster = try thumbnailBranch(a, FrameSelector(times: [posterTime]), width: pw, height: ph, branch: videoBranch)
                var thumbs = FanOut.Thumbnails(poster: poster)
                if let interval = spec.spriteIntervalSeconds {
                    let count = max(1, Int((duration / interval).rounded(.up)))
                    let selector = FrameSelector(times: (0..<count).map { Double($0) * interval })
                    let (sw, sh) = EncodingPlan.fit(width: input.width ?? 0, height: input.height ?? 0,
                                                    maxWidth: spec.width, maxHeight: limits.maxHeight)
                    thumbs.sprite = try thumbnailBranch(a, selector, width: sw, height: sh, branch: videoBranch)
                    thumbs.spriteSelector = selector
                }
                thumbnailsByOutput[index] = thumbs
            }
        }
        if let videoEntry { a.colorimetry.attach(to: videoEntry.pad) }
        PadLinker(video: videoEntry, audio: audioEntry).attach(to: decode)
        return FanOut(built: BuiltPipeline(pipeline: a.pipeline, fragmentSources: fragmentSources, counter: counter, countsFrames: videoEntry != nil),
                      temporaryFiles: files, renditions: renditionsByOutput, thumbnails: thumbnailsByOutput)
    }

    /// Selected frames only, scaled to `width`x`height` I420 and copied out at a fakesink.
    private static func thumbnailBranch(_ a: Assembly, _ selector: FrameSelector, width: Int, height: Int,
                                        branch: () throws(TranscodeError) -> UnsafeMutablePointer<GstElement>) throws(TranscodeError) -> FrameCapture {
        let q = try branch()
        selector.attach(to: a.sinkPad(q).pad)
        let scale = try a.add(ElementSpec("videoconvertscale"))
        let caps = try a.add(ElementSpec("capsfilter", [("caps", "video/x-raw,format=I420,width=\(width),height=\(height),pixel-aspect-ratio=1/1")]))
        let sink = try a.add(ElementSpec("fakesink", [("sync", "false"), ("async", "false")]))
        try a.chain([q, scale, caps, sink])
        let capture = FrameCapture(width: width, height: height)
        capture.attach(to: a.sinkPad(sink).pad)
        return capture
    }

    /// Where a file output is written until it is checked: hidden, next to its final name.
    static func temporaryPath(_ path: String) -> String { Paths.join(Paths.parent(path), ".\(Paths.last(path)).partial") }

    private static func makeDirectory(_ path: String) throws(TranscodeError) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw TranscodeError(.outputUnwritable, "An output directory could not be made.")
        }
    }
}
