import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A pipeline ready to run, plus the hooks the job loop reads.
final class BuiltPipeline: @unchecked Sendable {
    /// Owned and driven by one job thread only; see ``ObjectHandle``.
    let pipeline: ObjectHandle
    /// The fragments' output pads, each checked against the limits once its caps are known.
    let fragmentSources: [ObjectHandle]
    let counter: StreamCounter
    let countsFrames: Bool

    init(pipeline: ObjectHandle, fragmentSources: [ObjectHandle] = [], counter: StreamCounter, countsFrames: Bool) {
        self.pipeline = pipeline
        self.fragmentSources = fragmentSources
        self.counter = counter
        self.countsFrames = countsFrames
    }
}

/// Builds filesrc ! decodebin, then a video and an audio branch into the muxer and filesink
/// (one output; ``FanOutBuilder`` makes several from one decode).
/// Element objects are created and linked here; only the final decodebin pads link at run time.
enum PipelineBuilder {
    static let fragmentName = "fragment"

    static func build(plan: EncodingPlan, input: MediaInfo, inputPath: String, outputPath: String,
                      limits: EngineLimits) throws(TranscodeError) -> BuiltPipeline {
        let a = try Assembly(name: "transcode")
        let src = try a.add(ElementSpec("filesrc", [("location", inputPath)]), name: "src")
        // Audio alone: parsebin, then a decodebin for the one audio stream, all in the demuxer's
        // thread. decodebin's multiqueue would hand every compressed frame to another thread:
        // on 5.5 min of sound that was 12 000 context switches, and 0.3 s of system time against 0.05.
        let audioAlone = plan.video == nil || !input.hasVideo || plan.audioOnly
        let demux = try a.add(ElementSpec(audioAlone ? "parsebin" : "decodebin"), name: audioAlone ? "parse" : "decode")
        let decode = audioAlone ? try a.add(ElementSpec("decodebin"), name: "decode") : demux
        try a.chain([src, demux])
        if audioAlone { PadLinker(video: nil, audio: a.sinkPad(decode), encoded: true).attach(to: demux) }
        let mux: UnsafeMutablePointer<GstElement>
        if audioAlone, !plan.keepsTimeline, plan.container == .mp4, plan.audio?.factory == AACEncoderElement.factoryName,
           M4AWriterElement.registered {
            // AAC alone into MP4: written in the encoder's thread, no muxer thread (M4AWriterElement).
            mux = try a.add(ElementSpec(M4AWriterElement.factoryName, [("location", outputPath)]), name: "sink")
        } else {
            mux = try a.add(plan.keepsTimeline ? Segmenter.partMuxer : ElementSpec(plan.container.muxerFactory), name: "mux")
            let sink = try a.add(ElementSpec("filesink", [("location", outputPath), ("async", "false")]), name: "sink")
            try a.chain([mux, sink])
        }

        var videoEntry: ObjectHandle?
        var audioEntry: ObjectHandle?
        var fragmentSource: ObjectHandle?
        let counter = StreamCounter()

        // No queue right after decodebin: its multiqueue already gives each stream a thread, and
        // one more hand-off of raw frames cost 14 MB on the 720p trailer (gst-launch, same pipeline).
        if let video = plan.video, input.hasVideo, !plan.audioOnly {
            var steps: [UnsafeMutablePointer<GstElement>]
            switch video {
            case let .encode(encoder, maxWidth, maxHeight):
                let (w, h) = EncodingPlan.fit(width: input.width ?? 0, height: input.height ?? 0, maxWidth: maxWidth, maxHeight: maxHeight)
                steps = try a.videoPreparation(input: input, limits: limits)
                steps += try a.scaleAndEncode(encoder, width: w, height: h, input: input, encoderName: "vencoder")
            case let .fragment(text):
                let (bin, source) = try a.fragment(text, name: fragmentName, limits: limits) { tuneFragment($0, limits: limits) }
                fragmentSource = source
                steps = [bin]
            }
            if let type = plan.videoMediaType, let parser = EncodingPlan.parser(for: type) {
                steps.append(try a.add(ElementSpec(parser)))
            }
            try a.chain(steps + [mux])
            let entry = a.sinkPad(steps[0])
            counter.attach(to: entry.pad)
            a.colorimetry.attach(to: entry.pad)
            videoEntry = entry
        }
        if let encoder = plan.audio, input.hasAudio {
            let steps = try a.audioEncode(encoder, caps: plan.audioCaps, convertName: "aconvert")
            try a.chain(steps + [mux])
            let entry = a.sinkPad(steps[0])
            if videoEntry == nil { counter.attach(to: entry.pad) }
            audioEntry = entry
        }
        guard videoEntry != nil || audioEntry != nil else {
            throw TranscodeError(.inputUnsupported, "The input has no stream this job can use.")
        }
        if plan.keepsTimeline { for entry in [videoEntry, audioEntry].compactMap({ $0 }) { cgst_attach_absolute_time_probe(entry.pad) } }
        PadLinker(video: videoEntry, audio: audioEntry).attach(to: decode)
        return BuiltPipeline(pipeline: a.pipeline, fragmentSources: fragmentSource.map { [$0] } ?? [], counter: counter, countsFrames: videoEntry != nil)
    }

    /// Gives the fragment's converters our thread count and x264 a smaller lookahead buffer, where it left the defaults.
    static func tuneFragment(_ bin: ObjectHandle, limits: EngineLimits) {
        let threads = String(limits.threads > 0 ? limits.threads : EncodingPlan.threadCount)
        let it = gst_bin_iterate_recurse(bin.bin)
        defer { gst_iterator_free(it) }
        var failed: gboolean = 0
        while let e = cgst_iterator_next_element(it, &failed) {
            defer { gst_object_unref(UnsafeMutableRawPointer(e)) }
            switch GStreamer.factoryName(e) {
            case "videoconvert", "videoscale", "videoconvertscale":
                if GStreamer.intProperty(e, "n-threads") == 1 { GStreamer.set(e, "n-threads", threads) }
            case "x264enc":
                // Output-neutral: only the threaded lookahead's frame buffer goes.
                if GStreamer.intProperty(e, "sync-lookahead") == -1 { GStreamer.set(e, "sync-lookahead", "0") }
            default: break
            }
        }
    }
}
