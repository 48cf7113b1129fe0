/// Checks options against the limits and the container, and turns them into an ``EncodingPlan``.
/// Needs GStreamer's registry but no files.
enum Planner {
    static func plan(_ options: TranscodeOptions, outputKey: String, limits: EngineLimits) throws(TranscodeError) -> EncodingPlan {
        GStreamer.ensureInitialized()
        switch options {
        case let .fragment(text):
            let container = Container.forOutputKey(outputKey)
            let parsed = try FragmentValidator.parse(text, limits: limits)
            try requireFits(parsed.outputMediaType, in: container, what: "The fragment's output")
            let (audio, caps) = EncodingPlan.defaultAudio(for: container)
            return EncodingPlan(container: container, video: .fragment(text), videoMediaType: parsed.outputMediaType,
                                audio: audio, audioOnly: false, audioCaps: caps)
        case let .preset(name, overrides):
            guard let preset = Preset.named(name) else {
                if Ladder.named(name) != nil {
                    throw TranscodeError(.optionsInvalid, "'\(name)' makes an HLS package: use it in an 'outputs' entry with 'hls'.")
                }
                throw TranscodeError(.optionsInvalid,
                    "Unknown preset '\(name)'. Known presets: \(Preset.all.map(\.name).joined(separator: ", ")).")
            }
            try check(overrides, preset: preset, limits: limits)
            let container = Container.fromExtension(of: outputKey) ?? preset.container
            let bitrate = preset.video == nil ? overrides.bitrateKbps ?? preset.audioBitrateKbps : preset.audioBitrateKbps
            let (audio, caps) = EncodingPlan.audio(preset.audio, bitrateKbps: bitrate)
            try requireFits(preset.audio == .opus ? "audio/x-opus" : "audio/mpeg", in: container, what: "Preset '\(name)' audio")
            guard let video = preset.video else {
                return EncodingPlan(container: container, video: nil, videoMediaType: nil, audio: audio, audioOnly: true, audioCaps: caps)
            }
            let encoder = EncodingPlan.videoEncoder(video, overrides, threads: limits.threads > 0 ? limits.threads : EncodingPlan.threadCount)
            guard GStreamer.factoryExists(encoder.factory) else {
                throw TranscodeError(.encoderFailure, "The encoder '\(encoder.factory)' is not installed on this worker.")
            }
            let mediaType = GStreamer.templateMediaTypes(factory: encoder.factory, direction: GST_PAD_SRC_VALUE).first ?? "video/x-raw"
            try requireFits(mediaType, in: container, what: "Preset '\(name)'")
            let box = (min(overrides.width ?? video.maxWidth, limits.maxWidth), min(overrides.height ?? video.maxHeight, limits.maxHeight))
            let width = overrides.width ?? (overrides.height != nil ? limits.maxWidth : box.0)
            let height = overrides.height ?? (overrides.width != nil ? limits.maxHeight : box.1)
            return EncodingPlan(container: container, video: .encode(encoder, maxWidth: width, maxHeight: height),
                                videoMediaType: mediaType, audio: audio, audioOnly: false, audioCaps: caps)
        }
    }

    /// "A codec the container cannot hold is a clear error before any work": compare with the muxer's sink templates.
    static func requireFits(_ mediaType: String, in container: Container, what: String) throws(TranscodeError) {
        let accepted = GStreamer.templateMediaTypes(factory: container.muxerFactory, direction: GST_PAD_SINK_VALUE)
        guard accepted.contains(mediaType) || accepted.contains("ANY") else {
            let hint = mediaType == "video/x-raw" ? " End the fragment with an encoder such as x264enc." : ""
            throw TranscodeError(.optionsInvalid,
                "\(what) is \(mediaType), which a .\(container.rawValue) file cannot hold.\(hint)")
        }
    }

    static func check(_ o: PresetOverrides, preset: Preset, limits: EngineLimits) throws(TranscodeError) {
        func bad(_ m: String) -> TranscodeError { TranscodeError(.optionsInvalid, "Override \(m).") }
        if preset.video == nil {
            if o.width != nil || o.height != nil || o.crf != nil || o.speed != nil {
                throw bad("width, height, crf and speed do not apply to the audio-only preset '\(preset.name)'")
            }
            if let b = o.bitrateKbps, !(16...512).contains(b) { throw bad("bitrateKbps must be 16...512 for audio, got \(b)") }
            return
        }
        if let w = o.width, !(16...limits.maxWidth).contains(w) { throw bad("width must be 16...\(limits.maxWidth), got \(w)") }
        if let h = o.height, !(16...limits.maxHeight).contains(h) { throw bad("height must be 16...\(limits.maxHeight), got \(h)") }
        if let b = o.bitrateKbps, !(50...50_000).contains(b) { throw bad("bitrateKbps must be 50...50000, got \(b)") }
        if o.crf != nil, o.bitrateKbps != nil { throw bad("set either crf or bitrateKbps, not both") }
        if let c = o.crf {
            switch preset.video!.codec {
            case .h264, .hevc: if !(0...51).contains(c) { throw bad("crf must be 0...51 for \(preset.name), got \(c)") }
            case .vp9: if !(0...63).contains(c) { throw bad("crf must be 0...63 for \(preset.name), got \(c)") }
            case .av1: throw bad("crf is not supported by \(preset.name) (bitrate only); use bitrateKbps")
            }
        }
        if let s = o.speed, !Preset.speeds.contains(s) {
            throw bad("speed must be one of \(Preset.speeds.joined(separator: ", ")), got '\(s)'")
        }
    }
}

import CGStreamer
private let GST_PAD_SRC_VALUE = GST_PAD_SRC
private let GST_PAD_SINK_VALUE = GST_PAD_SINK
