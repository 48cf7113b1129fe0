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
    /// The fragment's output pad, checked against the limits once caps are known.
    let fragmentSource: ObjectHandle?
    let counter: StreamCounter
    let countsFrames: Bool

    init(pipeline: ObjectHandle, fragmentSource: ObjectHandle?, counter: StreamCounter, countsFrames: Bool) {
        self.pipeline = pipeline
        self.fragmentSource = fragmentSource
        self.counter = counter
        self.countsFrames = countsFrames
    }
}

/// Builds filesrc ! decodebin, then a video and an audio branch into the muxer and filesink.
/// Element objects are created and linked here; only the final decodebin pads link at run time.
enum PipelineBuilder {
    static let fragmentName = "fragment"

    static func build(plan: EncodingPlan, input: MediaInfo, inputPath: String, outputPath: String,
                      limits: EngineLimits) throws(TranscodeError) -> BuiltPipeline {
        GStreamer.ensureInitialized()
        guard let raw = gst_pipeline_new("transcode") else { throw TranscodeError(.encoderFailure, "The media engine could not start.") }
        gst_object_ref_sink(UnsafeMutableRawPointer(raw))
        let pipeline = ObjectHandle(owning: UnsafeMutableRawPointer(raw))
        let threads = String(limits.threads > 0 ? limits.threads : EncodingPlan.threadCount)

        func add(_ spec: ElementSpec, name: String? = nil) throws(TranscodeError) -> UnsafeMutablePointer<GstElement> {
            guard let e = GStreamer.make(spec) else {
                throw TranscodeError(.encoderFailure, "The element '\(spec.factory)' is not installed on this worker.")
            }
            if let name { gst_object_set_name(UnsafeMutableRawPointer(e).assumingMemoryBound(to: GstObject.self), name) }
            gst_bin_add(pipeline.bin, e)
            return e
        }
        func chain(_ elements: [UnsafeMutablePointer<GstElement>]) throws(TranscodeError) {
            for (a, b) in zip(elements, elements.dropFirst()) where gst_element_link(a, b) == 0 {
                throw TranscodeError(.optionsInvalid,
                    "'\(GStreamer.objectName(UnsafeMutableRawPointer(a)))' cannot feed '\(GStreamer.objectName(UnsafeMutableRawPointer(b)))': their formats do not match.")
            }
        }
        /// Small queues: raw 1080p frames are 3 MB each, so the 200-buffer default costs memory, not speed.
        func queue(_ buffers: Int) -> ElementSpec {
            ElementSpec("queue", [("max-size-buffers", String(buffers)), ("max-size-bytes", "0"), ("max-size-time", "0")])
        }

        let src = try add(ElementSpec("filesrc", [("location", inputPath)]), name: "src")
        let decode = try add(ElementSpec("decodebin"), name: "decode")
        let mux = try add(ElementSpec(plan.container.muxerFactory), name: "mux")
        let sink = try add(ElementSpec("filesink", [("location", outputPath), ("async", "false")]), name: "sink")
        try chain([src, decode])
        try chain([mux, sink])

        var videoEntry: ObjectHandle?
        var audioEntry: ObjectHandle?
        var fragmentSource: ObjectHandle?
        let counter = StreamCounter()

        // No queue right after decodebin: its multiqueue already gives each stream a thread, and
        // one more hand-off of raw frames cost 14 MB on the 720p trailer (gst-launch, same pipeline).
        if let video = plan.video, input.hasVideo, !plan.audioOnly {
            var head: UnsafeMutablePointer<GstElement>
            var tail: UnsafeMutablePointer<GstElement>
            switch video {
            case let .encode(encoder, maxWidth, maxHeight):
                let (w, h) = EncodingPlan.fit(width: input.width ?? 0, height: input.height ?? 0, maxWidth: maxWidth, maxHeight: maxHeight)
                var steps: [UnsafeMutablePointer<GstElement>] = []
                if input.isInterlaced {   // nothing at all for progressive input
                    // deinterlace works on 8-bit YUV; the H.264 presets encode 8-bit anyway.
                    if (input.video?.bitDepth ?? 8) > 8 { steps.append(try add(ElementSpec("videoconvert"))) }
                    let deinterlace = try add(Deinterlacer.spec, name: "deinterlace")
                    Deinterlacer.followFieldOrder(of: deinterlace)
                    steps.append(deinterlace)
                }
                if let fps = input.frameRate, fps > Double(limits.maxFrameRate) {   // drop frames before paying to scale them
                    steps.append(try add(ElementSpec("videorate", [("max-rate", String(limits.maxFrameRate))])))
                }
                // Scaling and conversion in one pass (and a passthrough when the decoder's format already suits the encoder).
                // One thread: the encoder keeps every core busy, and on the 1080p clip n-threads=2 cost
                // about 6 MB of peak RSS with no gain in wall or CPU time (6 alternated runs each).
                if GStreamer.factoryExists("videoconvertscale") {
                    steps.append(try add(ElementSpec("videoconvertscale")))
                } else {
                    steps.append(try add(ElementSpec("videoscale")))
                    steps.append(try add(ElementSpec("videoconvert")))
                }
                steps.append(try add(ElementSpec("capsfilter", [("caps", "video/x-raw,width=\(w),height=\(h)")])))
                // Without this queue the scaler runs in the thread that feeds x264: a serial stage at 1080p.
                // When the size stays, the converter is a passthrough and the queue only costs memory.
                if (w, h) != (input.width ?? 0, input.height ?? 0) { steps.append(try add(queue(1), name: "encqueue")) }
                let enc = try add(encoder, name: "vencoder")
                steps.append(enc)
                try chain(steps)
                head = steps[0]
                tail = enc
            case let .fragment(text):
                let parsed = try FragmentValidator.parse(text, limits: limits)
                gst_object_set_name(parsed.handle.raw.assumingMemoryBound(to: GstObject.self), fragmentName)
                tuneFragment(parsed.handle, threads: threads)
                let ghostSink = gst_ghost_pad_new("sink", parsed.sinkPad.pad)
                let ghostSrc = gst_ghost_pad_new("src", parsed.srcPad.pad)
                guard let ghostSink, let ghostSrc else { throw TranscodeError(.optionsInvalid, "The fragment's pads cannot be used.") }
                gst_element_add_pad(parsed.handle.element, ghostSink)
                gst_element_add_pad(parsed.handle.element, ghostSrc)
                fragmentSource = ObjectHandle(retaining: UnsafeMutableRawPointer(ghostSrc))
                gst_bin_add(pipeline.bin, parsed.handle.element)   // the pipeline takes its own reference
                head = parsed.handle.element
                tail = parsed.handle.element
            }
            if let type = plan.videoMediaType, let parser = EncodingPlan.parser(for: type) {
                let p = try add(ElementSpec(parser))
                try chain([tail, p])
                tail = p
            }
            try chain([tail, mux])
            let entry = ObjectHandle(owning: UnsafeMutableRawPointer(gst_element_get_static_pad(head, "sink")!))
            counter.attach(to: entry.pad)
            videoEntry = entry
        }
        if let encoder = plan.audio, input.hasAudio {
            let convert = try add(ElementSpec("audioconvert"), name: "aconvert")
            let resample = try add(ElementSpec("audioresample"))
            var steps = [convert, resample]
            if let caps = plan.audioCaps { steps.append(try add(ElementSpec("capsfilter", [("caps", caps)]))) }
            let enc = try add(encoder, name: "aencoder")
            steps.append(enc)
            if let parser = EncodingPlan.parser(for: encoder.factory == "opusenc" ? "audio/x-opus" : "audio/mpeg") {
                steps.append(try add(ElementSpec(parser)))
            }
            steps.append(mux)
            try chain(steps)
            let entry = ObjectHandle(owning: UnsafeMutableRawPointer(gst_element_get_static_pad(convert, "sink")!))
            if videoEntry == nil { counter.attach(to: entry.pad) }
            audioEntry = entry
        }
        guard videoEntry != nil || audioEntry != nil else {
            throw TranscodeError(.inputUnsupported, "The input has no stream this job can use.")
        }
        PadLinker(video: videoEntry, audio: audioEntry).attach(to: decode)
        return BuiltPipeline(pipeline: pipeline, fragmentSource: fragmentSource, counter: counter, countsFrames: videoEntry != nil)
    }

    /// Gives the fragment's converters our thread count and x264 a smaller lookahead buffer, where it left the defaults.
    private static func tuneFragment(_ bin: ObjectHandle, threads: String) {
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
