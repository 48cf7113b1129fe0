import CGStreamer

/// A pipeline being put together: element creation, linking and the branch shapes that the
/// single-output and the fan-out builders share. Used by one building thread only.
struct Assembly {
    let pipeline: ObjectHandle
    /// The scalers' capsfilters; the builder attaches it to the decoded video's pad.
    let colorimetry = ColorimetryPin()

    init(name: String) throws(TranscodeError) {
        GStreamer.ensureInitialized()
        guard let raw = gst_pipeline_new(name) else { throw TranscodeError(.encoderFailure, "The media engine could not start.") }
        gst_object_ref_sink(UnsafeMutableRawPointer(raw))
        pipeline = ObjectHandle(owning: UnsafeMutableRawPointer(raw))
    }

    func add(_ spec: ElementSpec, name: String? = nil) throws(TranscodeError) -> UnsafeMutablePointer<GstElement> {
        guard let e = GStreamer.make(spec) else {
            throw TranscodeError(.encoderFailure, "The element '\(spec.factory)' is not installed on this worker.")
        }
        if let bad = GStreamer.rejectedProperty(of: spec, on: e) {
            gst_object_ref_sink(UnsafeMutableRawPointer(e))
            gst_object_unref(UnsafeMutableRawPointer(e))
            throw TranscodeError(.encoderFailure, "The element '\(spec.factory)' on this worker does not take \(bad.name)=\(bad.value).")
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
    static func queue(_ buffers: Int) -> ElementSpec {
        ElementSpec("queue", [("max-size-buffers", String(buffers)), ("max-size-bytes", "0"), ("max-size-time", "0")])
    }

    /// A queue bounded by nothing, for compressed or audio streams that a muxer may need to hold
    /// while another stream catches up (the encoder's lookahead): they are small.
    static let unboundedQueue = ElementSpec("queue", [("max-size-buffers", "0"), ("max-size-bytes", "0"), ("max-size-time", "0")])

    func sinkPad(_ e: UnsafeMutablePointer<GstElement>) -> ObjectHandle {
        ObjectHandle(owning: UnsafeMutableRawPointer(gst_element_get_static_pad(e, "sink")!))
    }

    /// Steps that every video preset needs before scaling: deinterlacing (interlaced input only)
    /// and the frame-rate ceiling. Empty for a progressive input within the limits.
    func videoPreparation(input: MediaInfo, limits: EngineLimits) throws(TranscodeError) -> [UnsafeMutablePointer<GstElement>] {
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
        return steps
    }

    /// Scale into `width`x`height` then encode; returns the elements in order (not yet linked).
    func scaleAndEncode(_ encoder: ElementSpec, width w: Int, height h: Int, input: MediaInfo,
                        encoderName: String? = nil) throws(TranscodeError) -> [UnsafeMutablePointer<GstElement>] {
        var steps: [UnsafeMutablePointer<GstElement>] = []
        steps += try scaler()
        steps.append(try scaledCaps(width: w, height: h))
        // Without this queue the scaler runs in the thread that feeds x264: a serial stage at 1080p.
        // When the size stays, the converter is a passthrough and the queue only costs memory.
        if (w, h) != (input.width ?? 0, input.height ?? 0) { steps.append(try add(Self.queue(1))) }
        let e = try add(encoder, name: encoderName)
        if Self.libvpxOrAomEncoders.contains(encoder.factory) { cgst_attach_timebase_encoder_probe(e) }
        steps.append(e)
        return steps
    }

    /// Resizing then conversion, each a passthrough where it has nothing to do: the engine's
    /// swscale element (``ScalerElement``), then videoconvert for an encoder that wants another
    /// format, on the smaller picture. One thread each: the encoder keeps every core busy (on the
    /// 1080p clip videoconvertscale's n-threads=2 cost about 6 MB of peak RSS and gained nothing).
    func scaler() throws(TranscodeError) -> [UnsafeMutablePointer<GstElement>] {
        guard ScalerElement.registered else { return [try add(ElementSpec("videoconvertscale"))] }
        return [try add(ElementSpec(ScalerElement.factoryName)), try add(ElementSpec("videoconvert"))]
    }

    /// Encoders that truncate frame times to a 1/fps timebase and copy each picture in
    /// (`cgst_timebase_encoder_probe`).
    static let libvpxOrAomEncoders: Set<String> = ["av1enc", "vp9enc", "vp8enc"]

    /// The capsfilter after a scaler: the size, and the input's colorimetry once known (``ColorimetryPin``).
    func scaledCaps(width w: Int, height h: Int) throws(TranscodeError) -> UnsafeMutablePointer<GstElement> {
        let caps = "video/x-raw,width=\(w),height=\(h)"
        let filter = try add(ElementSpec("capsfilter", [("caps", caps)]))
        colorimetry.add(filter, caps: caps)
        return filter
    }

    /// The validated fragment as a bin with ghost pads, added to the pipeline; returns it and its output pad.
    func fragment(_ text: String, name: String, limits: EngineLimits,
                  tune: (ObjectHandle) -> Void) throws(TranscodeError) -> (UnsafeMutablePointer<GstElement>, ObjectHandle) {
        let parsed = try FragmentValidator.parse(text, limits: limits)
        gst_object_set_name(parsed.handle.raw.assumingMemoryBound(to: GstObject.self), name)
        tune(parsed.handle)
        let ghostSink = gst_ghost_pad_new("sink", parsed.sinkPad.pad)
        let ghostSrc = gst_ghost_pad_new("src", parsed.srcPad.pad)
        guard let ghostSink, let ghostSrc else { throw TranscodeError(.optionsInvalid, "The fragment's pads cannot be used.") }
        gst_element_add_pad(parsed.handle.element, ghostSink)
        gst_element_add_pad(parsed.handle.element, ghostSrc)
        gst_bin_add(pipeline.bin, parsed.handle.element)   // the pipeline takes its own reference
        return (parsed.handle.element, ObjectHandle(retaining: UnsafeMutableRawPointer(ghostSrc)))
    }

    /// No dither: the encoders requantize anyway (ffmpeg does not dither either), and
    /// audioconvert's default TPDF dither cost 0.5 of 3.6 CPU-s on 5.5 min of sound to Opus.
    static let audioConvert = ElementSpec("audioconvert", [("dithering", "none")])

    /// Raw audio to the encoded stream a muxer takes: mix channels, convert format and rate,
    /// limit channels, encode, parse. audioconvert only mixes (or passes through) where the
    /// engine's resampler is registered: libswresample converts format and rate in one pass.
    func audioEncode(_ encoder: ElementSpec, caps: String?, convertName: String? = nil) throws(TranscodeError) -> [UnsafeMutablePointer<GstElement>] {
        let resampler = ResamplerElement.registered ? ResamplerElement.factoryName : "audioresample"
        var steps = [try add(Self.audioConvert, name: convertName), try add(ElementSpec(resampler))]
        if let caps { steps.append(try add(ElementSpec("capsfilter", [("caps", caps)]))) }
        steps.append(try add(encoder, name: convertName == nil ? nil : "aencoder"))
        if let parser = EncodingPlan.parser(for: encoder.factory == "opusenc" ? "audio/x-opus" : "audio/mpeg") {
            steps.append(try add(ElementSpec(parser)))
        }
        return steps
    }
}
