import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// Which stream a part of a segmented job encodes: one stretch of the video, or the whole audio.
public enum SegmentPart: String, Sendable, Codable {
    case video, audio
}

/// What ``TranscodingEngine/split(input:directory:segmentSeconds:minimumSeconds:options:outputKey:progress:)`` made.
public struct SplitResult: Sendable, Codable {
    public var input: MediaInfo
    /// Video part files (names in the directory), in timeline order; empty when the input was not split.
    public var segments: [String]
    /// The audio stream copied whole, if the input has one.
    public var audio: String?
}

/// One long input spread over many workers, in three engine steps:
/// 1. split: the input's video is cut at keyframes into parts by a stream copy (splitmuxsink),
///    and its audio copied whole, into Matroska files that keep the input's timeline;
/// 2. each part is encoded as any job would be (``SegmentPart/video``), and the audio once
///    (``SegmentPart/audio``), still on that timeline;
/// 3. join: the encoded parts are played in order through concat and muxed with the audio
///    into the requested container, without encoding again.
///
/// Timestamps are never rebuilt: every file carries the input's own times to the microsecond
/// (``cgst_absolute_time_probe`` undoes each demuxer's restart at its file's first frame), so
/// the joined output has the input's frames at the input's times.
enum Segmenter {
    static let audioFile = "audio.mka"
    static let partPattern = "src%05d.mkv"

    /// Matroska with a 10 µs timecode scale: its default, milliseconds, moves 30 fps frames by up
    /// to half a millisecond and makes a constant frame rate uneven in the MP4 joined from it.
    /// A block's time is 16 bits relative to its cluster (±327 ms at this scale), so clusters
    /// end after 200 ms (the default, 65 s, assumes milliseconds and overflowed).
    static var partMuxer: ElementSpec {
        ElementSpec("matroskamux", [("timecodescale", "10000"), ("min-cluster-duration", "100000000"), ("max-cluster-duration", "200000000")])
    }

    static func split(input: MediaInfo, inputPath: String, directory: String, segmentSeconds: Int) throws(TranscodeError) -> BuiltPipeline {
        let a = try Assembly(name: "split")
        let src = try a.add(ElementSpec("filesrc", [("location", inputPath)]))
        // decodebin stopped before its decoders, not parsebin: parsebin starved the audio branch
        // while splitmuxsink took the video (gst-launch did the same), decodebin's multiqueue does not.
        let parse = try a.add(ElementSpec("decodebin"))
        try a.chain([src, parse])
        let vqueue = try a.add(Assembly.unboundedQueue)
        let splitter = try a.add(ElementSpec("splitmuxsink", [
            ("max-size-time", String(UInt64(segmentSeconds) * GStreamer.second)),
            ("location", directory + "/" + partPattern),
            ("async-finalize", "false"),
        ]))
        guard let muxer = GStreamer.make(partMuxer) else {
            throw TranscodeError(.encoderFailure, "The element 'matroskamux' is not installed on this worker.")
        }
        cgst_set_element_property(splitter, "muxer", muxer)
        let vpad = gst_element_request_pad_simple(splitter, "video")
        guard let vpad, let qsrc = gst_element_get_static_pad(vqueue, "src"), gst_pad_link(qsrc, vpad) == GST_PAD_LINK_OK else {
            throw TranscodeError(.encoderFailure, "The media engine could not set up the split.")
        }
        gst_object_unref(UnsafeMutableRawPointer(qsrc))
        gst_object_unref(UnsafeMutableRawPointer(vpad))
        let video = a.sinkPad(vqueue)
        let counter = StreamCounter()
        counter.attach(to: video.pad)
        var audio: ObjectHandle?
        if input.hasAudio {
            let aqueue = try a.add(Assembly.unboundedQueue)
            let amux = try a.add(partMuxer)
            let sink = try a.add(ElementSpec("filesink", [("location", directory + "/" + audioFile), ("async", "false")]))
            try linkAudio(aqueue, into: amux)
            try a.chain([amux, sink])
            audio = a.sinkPad(aqueue)
        }
        PadLinker(video: video, audio: audio, encoded: true).attach(to: parse)
        return BuiltPipeline(pipeline: a.pipeline, counter: counter, countsFrames: true)
    }

    /// A queue has no caps to choose a muxer pad by: linked as is, it would take a video pad.
    static func linkAudio(_ queue: UnsafeMutablePointer<GstElement>, into mux: UnsafeMutablePointer<GstElement>) throws(TranscodeError) {
        guard let sinkPad = gst_element_request_pad_simple(mux, "audio_%u"), let srcPad = gst_element_get_static_pad(queue, "src") else {
            throw TranscodeError(.encoderFailure, "The media engine could not link the audio.")
        }
        defer {
            gst_object_unref(UnsafeMutableRawPointer(srcPad))
            gst_object_unref(UnsafeMutableRawPointer(sinkPad))
        }
        guard gst_pad_link(srcPad, sinkPad) == GST_PAD_LINK_OK else {
            throw TranscodeError(.encoderFailure, "The media engine could not link the audio.")
        }
    }

    /// concat plays the parts one after another in the order its pads were requested.
    static func join(parts: [String], audio: String?, outputPath: String, plan: EncodingPlan) throws(TranscodeError) -> BuiltPipeline {
        let a = try Assembly(name: "join")
        let concat = try a.add(ElementSpec("concat", [("adjust-base", "false")]))
        var steps = [concat]
        switch plan.videoMediaType {
        case "video/x-h264"?: steps.append(try a.add(ElementSpec("h264timestamper")))
        case "video/x-h265"?: steps.append(try a.add(ElementSpec("h265timestamper")))
        default: break   // VP9 and AV1 have no reordering: decode order is presentation order
        }
        let mux = try a.add(ElementSpec(plan.container.muxerFactory), name: "mux")
        let sink = try a.add(ElementSpec("filesink", [("location", outputPath), ("async", "false")]))
        try a.chain(steps + [mux, sink])
        let counter = StreamCounter()
        counter.attach(to: a.sinkPad(steps.count > 1 ? steps[1] : mux).pad)
        for part in parts {
            let src = try a.add(ElementSpec("filesrc", [("location", part)]))
            let parse = try a.add(ElementSpec("parsebin"))
            try a.chain([src, parse])
            guard let raw = gst_element_request_pad_simple(concat, "sink_%u") else {
                throw TranscodeError(.encoderFailure, "The media engine could not set up the join.")
            }
            let pad = ObjectHandle(owning: UnsafeMutableRawPointer(raw))
            cgst_attach_absolute_time_probe(pad.pad)
            PadLinker(video: pad, audio: nil, encoded: true).attach(to: parse)
        }
        if let audio {
            let src = try a.add(ElementSpec("filesrc", [("location", audio)]))
            let parse = try a.add(ElementSpec("parsebin"))
            let queue = try a.add(Assembly.unboundedQueue)
            try a.chain([src, parse])
            try linkAudio(queue, into: mux)
            let entry = a.sinkPad(queue)
            cgst_attach_absolute_time_probe(entry.pad)
            PadLinker(video: nil, audio: entry, encoded: true).attach(to: parse)
        }
        return BuiltPipeline(pipeline: a.pipeline, counter: counter, countsFrames: true)
    }
}

extension TranscodingEngine {
    /// Probes `input` and, when it has video and lasts at least `minimumSeconds`, splits it into
    /// `directory` (see ``Segmenter``). Refuses options the output cannot take, as a job would.
    public func split(input: String, directory: String, segmentSeconds: Int, minimumSeconds: Double, options: TranscodeOptions,
                      outputKey: String, progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(TranscodeError) -> SplitResult {
        let plan = try Planner.plan(options, outputKey: outputKey, limits: limits)
        let info = try await probe(input)
        try Self.check(info, against: plan, limits: limits)
        guard info.hasVideo, plan.video != nil, !plan.audioOnly, info.duration >= minimumSeconds else {
            return SplitResult(input: info, segments: [], audio: nil)
        }
        try await runBuilt(duration: info.duration, progress: progress) { () throws(TranscodeError) in
            try Segmenter.split(input: info, inputPath: input, directory: directory, segmentSeconds: segmentSeconds)
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("src") && $0.hasSuffix(".mkv") }.sorted()
        guard !names.isEmpty else { throw TranscodeError(.inputCorrupt, "The input's video could not be split: no frames were read.") }
        return SplitResult(input: info, segments: names, audio: info.hasAudio ? Segmenter.audioFile : nil)
    }

    /// Encodes one part of a segmented job: `outputKey` is the job's own (its container decides
    /// what the options may produce); the part itself is written as Matroska to `output`.
    public func transcodeSegment(input: String, output: String, options: TranscodeOptions, outputKey: String, part: SegmentPart,
                                 progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(TranscodeError) -> TranscodeResult {
        var plan = try Planner.plan(options, outputKey: outputKey, limits: limits)
        plan.container = .mkv
        plan.keepsTimeline = true
        switch part {
        case .video: plan.audio = nil
        case .audio:
            plan.video = nil
            plan.videoMediaType = nil
            plan.audioOnly = true
        }
        return try await transcode(input: input, output: output, plan: plan, fragmentMode: part == .video && plan.isFragment, progress: progress)
    }

    /// Joins encoded parts (in order) and the encoded audio into `output`, in the job's container.
    public func join(parts: [String], audio: String?, output: String, options: TranscodeOptions, outputKey: String, duration: Double,
                     progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(TranscodeError) -> MediaInfo {
        let plan = try Planner.plan(options, outputKey: outputKey, limits: limits)
        let temp = Self.partialName(for: output)
        defer { try? FileManager.default.removeItem(atPath: temp) }
        try await runBuilt(duration: duration, progress: progress) { () throws(TranscodeError) in
            try Segmenter.join(parts: parts, audio: audio, outputPath: temp, plan: plan)
        }
        let info = try await inspectOutput(temp)
        guard plan.container.discovererCapsNames.contains(info.container), info.hasVideo, info.hasAudio == (audio != nil) else {
            throw TranscodeError(.encoderFailure, "The joined output does not have the expected container or streams.")
        }
        if rename(temp, output) != 0 { throw TranscodeError(.outputUnwritable, "The output file could not be put in place.") }
        return info
    }

    /// Builds a pipeline of our own (split, join) on its job thread and runs it to the end,
    /// stopped by the calling task's cancellation.
    private func runBuilt(duration: Double, progress: @escaping @Sendable (TranscodeProgress) -> Void,
                          _ build: @escaping @Sendable () throws(TranscodeError) -> BuiltPipeline) async throws(TranscodeError) {
        let limits = limits
        let logger = logger
        let job = TranscodeJob()
        let result: Result<TranscodeJob.Outcome, TranscodeError> = await withTaskCancellationHandler {
            await OSThread.result { () throws(TranscodeError) -> TranscodeJob.Outcome in
                try job.run(try build(), duration: duration > 0 ? duration : nil, deadline: .now + limits.overallTimeout,
                            limits: limits, fragmentMode: false, logger: logger, progress: progress).get()
            }
        } onCancel: {
            job.cancel()
        }
        _ = try result.get()
    }
}
