/// A checked output of a several-output job, decided before any file is touched.
struct OutputPlan: Sendable {
    enum Kind: Sendable {
        case file(EncodingPlan)
        case hls(HLSPlan)
        case thumbnails(ThumbnailSpec)
    }
    var name: String
    var kind: Kind

    var wantsVideo: Bool {
        switch kind {
        case .file(let p): p.video != nil && !p.audioOnly
        case .hls, .thumbnails: true
        }
    }
    var wantsAudio: Bool {
        switch kind {
        case .file(let p): p.audio != nil
        case .hls: true
        case .thumbnails: false
        }
    }
}

struct HLSPlan: Sendable {
    struct Rendition: Sendable {
        var name: String
        var encoder: ElementSpec
        var maxWidth: Int
        var maxHeight: Int
    }
    /// For a ladder, every rung; ``FanOutBuilder`` drops those above the input.
    var renditions: [Rendition]
    var isLadder: Bool
    var segmentSeconds: Int
    var audio: ElementSpec
    var audioCaps: String?
}

/// Checks every output of a job (names, options, packaging) and plans each one.
enum OutputPlanner {
    static let maxOutputs = 16
    static let segmentSeconds = 2...20

    static func plan(_ outputs: [OutputSpec], limits: EngineLimits) throws(TranscodeError) -> [OutputPlan] {
        guard (1...maxOutputs).contains(outputs.count) else {
            throw TranscodeError(.optionsInvalid, "A job has 1 to \(maxOutputs) outputs, not \(outputs.count).")
        }
        try checkNames(outputs.map(\.name))
        var plans: [OutputPlan] = []
        for (index, output) in outputs.enumerated() {
            let kind: OutputPlan.Kind
            do throws(TranscodeError) {
                switch output.kind {
                case .file(let options):
                    kind = .file(try Planner.plan(options, outputKey: output.name, limits: limits))
                case let .hls(options, seconds):
                    kind = .hls(try hls(options, segmentSeconds: seconds, limits: limits))
                case .thumbnails(let spec):
                    try check(spec)
                    kind = .thumbnails(spec)
                }
            } catch {
                throw TranscodeError(error.code, "Output \(index + 1): \(error.message)")
            }
            plans.append(OutputPlan(name: output.name, kind: kind))
        }
        return plans
    }

    /// Names become paths in the job's directory: plain relative components, distinct, none inside another.
    static func checkNames(_ names: [String]) throws(TranscodeError) {
        for name in names {
            let parts = name.split(separator: "/", omittingEmptySubsequences: false)
            let plain = parts.allSatisfy { p in
                !p.isEmpty && p != "." && p != ".." && p.utf8.allSatisfy { c in
                    (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x2D || c == 0x5F
                }
            }
            guard plain, !name.hasPrefix(".") else {
                throw TranscodeError(.optionsInvalid, "The output name '\(name)' is not a plain relative path.")
            }
        }
        for (i, a) in names.enumerated() {
            for b in names[(i + 1)...] where a == b || a.hasPrefix(b + "/") || b.hasPrefix(a + "/") {
                throw TranscodeError(.optionsInvalid, "The outputs '\(a)' and '\(b)' overlap.")
            }
        }
    }

    static func hls(_ options: TranscodeOptions, segmentSeconds: Int, limits: EngineLimits) throws(TranscodeError) -> HLSPlan {
        guard Self.segmentSeconds.contains(segmentSeconds) else {
            throw TranscodeError(.optionsInvalid, "hls segment_seconds must be \(Self.segmentSeconds.lowerBound)...\(Self.segmentSeconds.upperBound), got \(segmentSeconds).")
        }
        guard case let .preset(name, overrides) = options else {
            throw TranscodeError(.optionsInvalid, "HLS packaging takes an H.264 preset or '\(Ladder.hls.name)', not a pipeline fragment.")
        }
        GStreamer.ensureInitialized()
        let period = ("keyframe-period", String(segmentSeconds * 1000))
        let (audio, caps) = EncodingPlan.audio(.aac, bitrateKbps: Ladder.hls.audioBitrateKbps)
        if let ladder = Ladder.named(name) {
            guard overrides == PresetOverrides() else {
                throw TranscodeError(.optionsInvalid, "Overrides do not apply to '\(ladder.name)'; use one output per H.264 preset with overrides instead.")
            }
            let renditions = ladder.rungs.map { r in
                HLSPlan.Rendition(name: r.name, encoder: ElementSpec(X264Element.factoryName, [
                    ("speed-preset", ladder.speed), ("bitrate", String(r.bitrateKbps)), period]),
                    maxWidth: min(r.maxWidth, limits.maxWidth), maxHeight: min(r.maxHeight, limits.maxHeight))
            }
            return HLSPlan(renditions: renditions, isLadder: true, segmentSeconds: segmentSeconds, audio: audio, audioCaps: caps)
        }
        guard let preset = Preset.named(name), let video = preset.video, video.codec == .h264 else {
            throw TranscodeError(.optionsInvalid, "HLS packaging takes an H.264 preset (h264-1080p, h264-720p, h264-480p) or '\(Ladder.hls.name)', not '\(name)'.")
        }
        try Planner.check(overrides, preset: preset, limits: limits)
        var encoder = EncodingPlan.videoEncoder(video, overrides, threads: 1)
        encoder.properties.append(ElementSpec.Property(name: period.0, value: period.1))
        let width = overrides.width ?? (overrides.height != nil ? limits.maxWidth : min(video.maxWidth, limits.maxWidth))
        let height = overrides.height ?? (overrides.width != nil ? limits.maxHeight : min(video.maxHeight, limits.maxHeight))
        let rendition = HLSPlan.Rendition(name: height < limits.maxHeight ? "\(height)p" : "video", encoder: encoder,
                                          maxWidth: width, maxHeight: height)
        return HLSPlan(renditions: [rendition], isLadder: false, segmentSeconds: segmentSeconds, audio: audio, audioCaps: caps)
    }

    static func check(_ spec: ThumbnailSpec) throws(TranscodeError) {
        guard ThumbnailSpec.widths.contains(spec.width) else {
            throw TranscodeError(.optionsInvalid, "thumbnails width must be \(ThumbnailSpec.widths.lowerBound)...\(ThumbnailSpec.widths.upperBound), got \(spec.width).")
        }
        guard spec.posterAt.isFinite, spec.posterAt >= 0 else {
            throw TranscodeError(.optionsInvalid, "thumbnails poster_at must be a number of seconds, or a fraction below 1, not \(spec.posterAt).")
        }
        if let interval = spec.spriteIntervalSeconds, !(interval.isFinite && ThumbnailSpec.intervals.contains(interval)) {
            throw TranscodeError(.optionsInvalid, "thumbnails sprite_interval_seconds must be 1...600, got \(interval).")
        }
    }
}
