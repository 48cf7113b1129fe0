import CAVCodec
import CGStreamer

/// The presets' sample format and rate converter, `transcoderresample`: a GstBaseTransform on
/// libswresample with its defaults, which is what ffmpeg runs between a decoder and an encoder.
/// It exists for CPU: audioconvert then audioresample (integer, quality 4) cost 0.22 CPU-s over
/// no resampling on 5.2 minutes of 44.1 to 48 kHz stereo for Opus, swresample 0.06 s, and
/// converts the format in the same pass. Channels pass through: an audioconvert before it mixes
/// them where the encoder takes fewer. Registered with rank none: only the pipeline builder uses it.
enum ResamplerElement {
    static let factoryName = "transcoderresample"

    static let registered = OwnElement.register(
        parent: gst_base_transform_get_type(), typeName: "TranscoderResample", factory: factoryName, rank: guint(GST_RANK_NONE.rawValue),
        classSize: MemoryLayout<GstBaseTransformClass>.stride, instanceSize: MemoryLayout<GstBaseTransform>.stride,
        classInit: { klass, _ in if let klass { ResamplerElement.classInit(klass) } },
        instanceInit: { instance, _ in
            guard let instance else { return }
            OwnElement.attach(ResamplerState(), to: UnsafeMutableRawPointer(instance), quark: ResamplerElement.quark)
        })

    private static let quark = g_quark_from_string("transcoder-resample-state")
    nonisolated(unsafe) private static var parentClass: UnsafeMutablePointer<GstBaseTransformClass>?

    private static func state(_ object: UnsafeMutableRawPointer?) -> ResamplerState? {
        OwnElement.state(object, quark: quark, as: ResamplerState.self)
    }

    private static func classInit(_ klass: UnsafeMutableRawPointer) {
        parentClass = g_type_class_peek_parent(klass)?.assumingMemoryBound(to: GstBaseTransformClass.self)
        let caps = GStreamer.string(cgst_resampler_caps())
        OwnElement.describe(klass, name: "Audio resampler (libswresample)", klassName: "Filter/Converter/Audio",
                            description: "Converts sample format and rate with libswresample", sink: caps, src: caps)
        let transformClass = klass.assumingMemoryBound(to: GstBaseTransformClass.self)
        transformClass.pointee.passthrough_on_same_caps = 1
        transformClass.pointee.transform_caps = { _, _, caps, filter in
            guard let caps else { return nil }
            return cgst_resampler_transform_caps(caps, filter)
        }
        transformClass.pointee.fixate_caps = { _, direction, caps, othercaps in
            guard let caps, let othercaps else { return othercaps }
            return cgst_resampler_fixate_caps(direction, caps, othercaps)
        }
        transformClass.pointee.set_caps = { trans, incaps, outcaps in
            guard let trans, let incaps, let outcaps, let s = ResamplerElement.state(trans) else { return 0 }
            var input = GstAudioInfo(), output = GstAudioInfo()
            guard gst_audio_info_from_caps(&input, incaps) != 0, gst_audio_info_from_caps(&output, outcaps) != 0,
                  s.configure(input, output) else { return 0 }
            // Caps that differ in nothing libswresample changes (a field it ignores) need no pass.
            gst_base_transform_set_passthrough(trans, s.converts ? 0 : 1)
            return 1
        }
        transformClass.pointee.transform_size = { trans, direction, caps, size, othercaps, othersize in
            guard let trans, let caps, let othercaps, let othersize, let s = ResamplerElement.state(trans) else { return 0 }
            guard let bytes = s.bytes(Int(size), caps: caps, other: othercaps, fromSink: direction == GST_PAD_SINK) else { return 0 }
            othersize.pointee = gsize(bytes)
            return 1
        }
        transformClass.pointee.transform = { trans, input, output in
            guard let trans, let input, let output, let s = ResamplerElement.state(trans) else { return GST_FLOW_ERROR }
            return s.convert(input, into: output, element: trans)
        }
        transformClass.pointee.sink_event = { trans, event in
            guard let trans, let event else { return 0 }
            if let s = ResamplerElement.state(trans) {
                switch cgst_event_type(event) {
                case GST_EVENT_FLUSH_STOP: s.restart()
                // The samples libswresample holds back belong before the new segment or the end.
                case GST_EVENT_SEGMENT, GST_EVENT_EOS: _ = s.endRun(element: trans)
                default: break
                }
            }
            return ResamplerElement.parentClass?.pointee.sink_event?(trans, event) ?? 0
        }
        transformClass.pointee.stop = { trans in
            ResamplerElement.state(trans)?.close()
            return 1
        }
    }

    /// libswresample's sample format for the interleaved formats the element takes.
    static func sampleFormat(_ format: GstAudioFormat) -> AVSampleFormat? {
        switch format {
        case GST_AUDIO_FORMAT_F32LE: AV_SAMPLE_FMT_FLT
        case GST_AUDIO_FORMAT_S16LE: AV_SAMPLE_FMT_S16
        case GST_AUDIO_FORMAT_S32LE: AV_SAMPLE_FMT_S32
        case GST_AUDIO_FORMAT_F64LE: AV_SAMPLE_FMT_DBL
        default: nil
        }
    }
}

/// One instance's converter for the negotiated caps, and where its output is in time (streaming thread only).
private final class ResamplerState: @unchecked Sendable {
    private var swr: OpaquePointer?
    private var inRate: Int32 = 0, outRate: Int32 = 0
    private var inFrameBytes = 0, outFrameBytes = 0
    /// Time of the first input sample since the last restart, and samples in and out since then.
    private var start = cgst_clock_time_none()
    private var samplesIn: guint64 = 0, samplesOut: guint64 = 0

    deinit { close() }

    var converts: Bool { swr != nil }

    func close() {
        swr_free(&swr)
        restart()
    }

    /// Forgets held-back samples and timing: the next buffer starts a new run (after a flush).
    func restart() {
        if let swr { swr_close(swr); swr_init(swr) }
        start = cgst_clock_time_none()
        samplesIn = 0
        samplesOut = 0
    }

    func configure(_ input: GstAudioInfo, _ output: GstAudioInfo) -> Bool {
        close()
        guard let inFormat = ResamplerElement.sampleFormat(input.finfo.pointee.format),
              let outFormat = ResamplerElement.sampleFormat(output.finfo.pointee.format),
              input.channels == output.channels, input.rate > 0, output.rate > 0 else { return false }
        inRate = input.rate
        outRate = output.rate
        inFrameBytes = Int(input.bpf)
        outFrameBytes = Int(output.bpf)
        if inFormat == outFormat, inRate == outRate { return true }   // passthrough
        // The same layout on both sides: libswresample leaves the channels alone.
        var inLayout = AVChannelLayout(), outLayout = AVChannelLayout()
        av_channel_layout_default(&inLayout, input.channels)
        av_channel_layout_default(&outLayout, output.channels)
        defer {
            av_channel_layout_uninit(&inLayout)
            av_channel_layout_uninit(&outLayout)
        }
        guard swr_alloc_set_opts2(&swr, &outLayout, outFormat, outRate, &inLayout, inFormat, inRate, 0, nil) == 0,
              swr_init(swr) >= 0 else {
            swr_free(&swr)
            return false
        }
        return true
    }

    /// The most bytes on the other side for `size` bytes on this one.
    func bytes(_ size: Int, caps: UnsafeMutablePointer<GstCaps>, other: UnsafeMutablePointer<GstCaps>, fromSink: Bool) -> Int? {
        // Every input buffer asks this with the negotiated caps: no caps parsing per buffer.
        if fromSink, let swr, inFrameBytes > 0 {
            return Int(swr_get_out_samples(swr, Int32(clamping: size / inFrameBytes))) * outFrameBytes
        }
        var info = GstAudioInfo(), otherInfo = GstAudioInfo()
        guard gst_audio_info_from_caps(&info, caps) != 0, gst_audio_info_from_caps(&otherInfo, other) != 0,
              info.bpf > 0, info.rate > 0 else { return nil }
        let count = size / Int(info.bpf)
        // Upper bound from the rates, with room for libswresample's filter (32 taps by default).
        let scaled = (count * Int(otherInfo.rate) + Int(info.rate) - 1) / Int(info.rate)
        return (scaled + (fromSink ? 64 : 0)) * Int(otherInfo.bpf)
    }

    /// One buffer through libswresample; the output is timed from the run's start and sample count.
    func convert(_ input: UnsafeMutablePointer<GstBuffer>, into output: UnsafeMutablePointer<GstBuffer>,
                 element: UnsafeMutablePointer<GstBaseTransform>) -> GstFlowReturn {
        guard swr != nil else { return GST_FLOW_NOT_NEGOTIATED }
        if discontinuous(input) {
            let flow = endRun(element: element)
            if flow != GST_FLOW_OK { return flow }
        }
        if start == cgst_clock_time_none() {
            start = input.pointee.pts == cgst_clock_time_none() ? 0 : input.pointee.pts
        }
        var inMap = GstMapInfo(), outMap = GstMapInfo()
        guard gst_buffer_map(input, &inMap, GST_MAP_READ) != 0 else { return GST_FLOW_ERROR }
        defer { gst_buffer_unmap(input, &inMap) }
        guard gst_buffer_map(output, &outMap, GST_MAP_WRITE) != 0 else { return GST_FLOW_ERROR }
        let frames = Int(inMap.size) / inFrameBytes
        let produced = run(UnsafePointer(inMap.data), frames: frames, into: outMap.data, capacity: Int(outMap.size) / outFrameBytes)
        gst_buffer_unmap(output, &outMap)
        samplesIn += guint64(frames)
        guard produced >= 0 else {
            cgst_post_stream_error(element, GST_STREAM_ERROR_FAILED, "The audio could not be resampled.", "swr_convert returned \(produced)")
            return GST_FLOW_ERROR
        }
        if produced == 0 { return GST_FLOW_CUSTOM_SUCCESS }   // GST_BASE_TRANSFORM_FLOW_DROPPED: all held back
        gst_buffer_set_size(output, gssize(produced * outFrameBytes))
        stamp(output, frames: produced)
        return GST_FLOW_OK
    }

    /// Ends the current run: pushes what it holds back, and the next buffer starts a new one.
    func endRun(element: UnsafeMutablePointer<GstBaseTransform>) -> GstFlowReturn {
        let flow = drain(element: element)
        restart()
        return flow
    }

    /// Pushes what libswresample holds back (a few milliseconds), timed after what it gave.
    private func drain(element: UnsafeMutablePointer<GstBaseTransform>) -> GstFlowReturn {
        guard let swr, start != cgst_clock_time_none() else { return GST_FLOW_OK }
        let capacity = Int(swr_get_out_samples(swr, 0))
        guard capacity > 0, let buffer = gst_buffer_new_allocate(nil, gsize(capacity * outFrameBytes), nil) else { return GST_FLOW_OK }
        var map = GstMapInfo()
        guard gst_buffer_map(buffer, &map, GST_MAP_WRITE) != 0 else {
            gst_buffer_unref(buffer)
            return GST_FLOW_ERROR
        }
        let produced = run(nil, frames: 0, into: map.data, capacity: capacity)
        gst_buffer_unmap(buffer, &map)
        guard produced > 0 else {
            gst_buffer_unref(buffer)
            return GST_FLOW_OK
        }
        gst_buffer_set_size(buffer, gssize(produced * outFrameBytes))
        stamp(buffer, frames: produced)
        return gst_pad_push(element.pointee.srcpad, buffer)
    }

    /// No input: libswresample flushes what it holds.
    private func run(_ input: UnsafePointer<UInt8>?, frames: Int, into output: UnsafeMutablePointer<UInt8>?, capacity: Int) -> Int {
        var target = output
        guard let input else { return Int(swr_convert(swr, &target, Int32(clamping: capacity), nil, 0)) }
        var source: UnsafePointer<UInt8>? = input
        return Int(swr_convert(swr, &target, Int32(clamping: capacity), &source, Int32(clamping: frames)))
    }

    private func stamp(_ buffer: UnsafeMutablePointer<GstBuffer>, frames: Int) {
        let first = samplesOut, next = samplesOut + guint64(frames)
        let pts = start + gst_util_uint64_scale_int_round(first, gint(cgst_second()), outRate)
        buffer.pointee.pts = pts
        buffer.pointee.dts = cgst_clock_time_none()
        buffer.pointee.duration = start + gst_util_uint64_scale_int_round(next, gint(cgst_second()), outRate) - pts
        buffer.pointee.offset = first
        buffer.pointee.offset_end = next
        samplesOut = next
    }

    /// A flagged discontinuity, or a timestamp more than 1/32 s away from the samples counted so
    /// far (audioresample's tolerance: rounding in upstream timestamps must not restart the filter).
    private func discontinuous(_ buffer: UnsafeMutablePointer<GstBuffer>) -> Bool {
        guard start != cgst_clock_time_none() else { return false }
        if cgst_buffer_is_discont(buffer) != 0 { return true }
        let pts = buffer.pointee.pts
        guard pts != cgst_clock_time_none(), pts >= start else { return pts != cgst_clock_time_none() }
        let at = gst_util_uint64_scale_int_round(pts - start, inRate, gint(cgst_second()))
        let delta = at > samplesIn ? at - samplesIn : samplesIn - at
        return delta > guint64(inRate >> 5)
    }
}
