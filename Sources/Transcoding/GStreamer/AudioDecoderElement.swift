import CAVCodec
import CGStreamer

/// The engine's decoder for the common audio codecs (AAC, MP3, MP2, AC-3, E-AC-3): a
/// GstAudioDecoder on libavcodec, registered in this process as `transcoderaudiodec` one rank
/// above avdec_*. Same decoders as avdec's, so the same samples; what it saves is loading
/// gst-libav, whose plugin links libavfilter and libavformat and, through them, dozens of
/// libraries (speech synthesis, SVG, Vulkan...): 28 MB of peak RSS on the trailer, whose audio
/// is MP3. Other codecs still go to avdec_* or GStreamer's own decoders.
enum AudioDecoderElement {
    static let factoryName = "transcoderaudiodec"

    static let registered = OwnElement.register(
        parent: gst_audio_decoder_get_type(), typeName: "TranscoderAudioDec", factory: factoryName,
        rank: guint(GST_RANK_PRIMARY.rawValue + 1),
        classSize: MemoryLayout<GstAudioDecoderClass>.stride, instanceSize: MemoryLayout<GstAudioDecoder>.stride,
        classInit: { klass, _ in if let klass { AudioDecoderElement.classInit(klass) } },
        instanceInit: { instance, _ in
            guard let instance else { return }
            OwnElement.attach(AudioDecoderState(), to: UnsafeMutableRawPointer(instance), quark: AudioDecoderElement.quark)
        })

    private static let quark = g_quark_from_string("transcoder-audiodec-state")

    private static func state(_ object: UnsafeMutableRawPointer?) -> AudioDecoderState? {
        OwnElement.state(object, quark: quark, as: AudioDecoderState.self)
    }

    private static func classInit(_ klass: UnsafeMutableRawPointer) {
        OwnElement.describe(klass, name: "Audio decoder (libavcodec)", klassName: "Codec/Decoder/Audio",
                            description: "AAC, MP3, MP2, AC-3 and E-AC-3 on libavcodec",
                            sink: "audio/mpeg, mpegversion=(int){ 2, 4 }, stream-format=(string){ raw, adts }, framed=(boolean)true; "
                                + "audio/mpeg, mpegversion=(int)1, layer=(int)[2, 3], parsed=(boolean)true; "
                                + "audio/x-ac3, framed=(boolean)true; audio/x-eac3, framed=(boolean)true",
                            src: "audio/x-raw, format=(string)F32LE, layout=(string)interleaved")
        let decoderClass = klass.assumingMemoryBound(to: GstAudioDecoderClass.self)
        decoderClass.pointee.set_format = { dec, caps in
            guard let dec, let caps, let s = AudioDecoderElement.state(dec) else { return 0 }
            return AudioDecoderElement.open(dec, s, caps) ? 1 : 0
        }
        decoderClass.pointee.handle_frame = { dec, buffer in
            guard let dec, let s = AudioDecoderElement.state(dec), s.context != nil else { return GST_FLOW_NOT_NEGOTIATED }
            guard let buffer else { return AudioDecoderElement.drain(dec, s) }
            return AudioDecoderElement.decode(dec, s, buffer)
        }
        decoderClass.pointee.flush = { dec, _ in
            if let s = AudioDecoderElement.state(dec), let ctx = s.context { avcodec_flush_buffers(ctx) }
        }
        decoderClass.pointee.stop = { dec in
            AudioDecoderElement.state(dec)?.close()
            return 1
        }
    }

    private static func codec(_ caps: UnsafeMutablePointer<GstCaps>) -> AVCodecID? {
        guard let s = gst_caps_get_structure(caps, 0) else { return nil }
        var version: gint = 0, layer: gint = 0
        switch GStreamer.string(gst_structure_get_name(s)) {
        case "audio/mpeg":
            _ = gst_structure_get_int(s, "mpegversion", &version)
            if version != 1 { return AV_CODEC_ID_AAC }
            _ = gst_structure_get_int(s, "layer", &layer)
            return layer == 2 ? AV_CODEC_ID_MP2 : AV_CODEC_ID_MP3
        case "audio/x-ac3": return AV_CODEC_ID_AC3
        case "audio/x-eac3": return AV_CODEC_ID_EAC3
        default: return nil
        }
    }

    private static func open(_ dec: UnsafeMutablePointer<GstAudioDecoder>, _ s: AudioDecoderState, _ caps: UnsafeMutablePointer<GstCaps>) -> Bool {
        if s.context != nil {
            _ = drain(dec, s)
            s.close()
        }
        guard let id = codec(caps), let codec = avcodec_find_decoder(id), let ctx = avcodec_alloc_context3(codec),
              let structure = gst_caps_get_structure(caps, 0) else { return false }
        var rate: gint = 0, channels: gint = 0
        if gst_structure_get_int(structure, "rate", &rate) != 0 { ctx.pointee.sample_rate = rate }
        if gst_structure_get_int(structure, "channels", &channels) != 0, channels > 0 {
            av_channel_layout_default(&ctx.pointee.ch_layout, channels)
        }
        if let value = gst_structure_get_value(structure, "codec_data"), cgst_value_type(value) == gst_buffer_get_type() {
            LibAV.setExtradata(ctx, from: g_value_get_boxed(value)?.assumingMemoryBound(to: GstBuffer.self))
        }
        return s.open(ctx, codec, element: dec, error: GST_STREAM_ERROR_DECODE, "The audio decoder could not start.")
    }

    private static func decode(_ dec: UnsafeMutablePointer<GstAudioDecoder>, _ s: AudioDecoderState,
                               _ buffer: UnsafeMutablePointer<GstBuffer>) -> GstFlowReturn {
        guard s.context != nil, let packet = s.packet, LibAV.fill(packet, from: buffer) else {
            return gst_audio_decoder_finish_frame(dec, nil, 1)
        }
        defer { av_packet_unref(packet) }
        var produced = 0
        let sent = s.send(packet, receive: {
            let (flow, n) = receive(dec, s)
            produced += n
            return flow
        }, refused: { cgst_audio_decoder_error(dec, "avcodec_send_packet returned \($0)") })
        if sent != GST_FLOW_OK { return sent }
        let (flow, n) = receive(dec, s)
        produced += n
        if flow != GST_FLOW_OK { return flow }
        // The base class counts input frames: one that gave no samples still has to be finished.
        return produced == 0 ? gst_audio_decoder_finish_frame(dec, nil, 1) : GST_FLOW_OK
    }

    private static func drain(_ dec: UnsafeMutablePointer<GstAudioDecoder>, _ s: AudioDecoderState) -> GstFlowReturn {
        guard let ctx = s.context else { return GST_FLOW_OK }
        _ = avcodec_send_packet(ctx, nil)
        let (flow, _) = receive(dec, s)
        avcodec_flush_buffers(ctx)
        return flow
    }

    /// Pushes every decoded frame libav has ready; returns the flow and how many it pushed.
    private static func receive(_ dec: UnsafeMutablePointer<GstAudioDecoder>, _ s: AudioDecoderState) -> (GstFlowReturn, Int) {
        guard let ctx = s.context, let frame = s.frame else { return (GST_FLOW_OK, 0) }
        var pushed = 0
        while true {
            let r = avcodec_receive_frame(ctx, frame)
            if r == cav_error_again() || r == cav_error_eof() { return (GST_FLOW_OK, pushed) }
            if r < 0 {   // this packet is lost; the next one may decode
                return (cgst_audio_decoder_error(dec, "avcodec_receive_frame returned \(r)"), pushed)
            }
            defer { av_frame_unref(frame) }
            guard negotiate(dec, s, frame) else { return (GST_FLOW_NOT_NEGOTIATED, pushed) }
            guard let out = interleave(dec, frame) else {
                cgst_post_stream_error(dec, GST_STREAM_ERROR_CODEC_NOT_FOUND, "The input's audio uses a sample format this worker cannot handle.",
                                       "libav sample format \(frame.pointee.format)")
                return (GST_FLOW_ERROR, pushed)
            }
            let flow = gst_audio_decoder_finish_frame(dec, out, 1)
            pushed += 1
            if flow != GST_FLOW_OK { return (flow, pushed) }
        }
    }

    /// Sets the output format when rate or channels change.
    private static func negotiate(_ dec: UnsafeMutablePointer<GstAudioDecoder>, _ s: AudioDecoderState,
                                  _ frame: UnsafeMutablePointer<AVFrame>) -> Bool {
        let layout = frame.pointee.ch_layout
        let key = AudioDecoderState.OutputKey(rate: frame.pointee.sample_rate, channels: layout.nb_channels,
                                              mask: layout.order == AV_CHANNEL_ORDER_NATIVE ? layout.u.mask : 0)
        if key == s.outputKey { return true }
        var info = GstAudioInfo()
        if var positions = LibAV.gstPositions(layout) {
            gst_audio_info_set_format(&info, GST_AUDIO_FORMAT_F32LE, key.rate, key.channels, &positions)
        } else {
            gst_audio_info_set_format(&info, GST_AUDIO_FORMAT_F32LE, key.rate, key.channels, nil)
        }
        guard gst_audio_decoder_set_output_format(dec, &info) != 0 else { return false }
        s.outputKey = key
        return true
    }

    /// The frame's samples as interleaved 32-bit float, whatever libav produced.
    private static func interleave(_ dec: UnsafeMutablePointer<GstAudioDecoder>, _ frame: UnsafeMutablePointer<AVFrame>) -> UnsafeMutablePointer<GstBuffer>? {
        let samples = Int(frame.pointee.nb_samples), channels = Int(frame.pointee.ch_layout.nb_channels)
        let format = AVSampleFormat(rawValue: frame.pointee.format)
        let supported = [AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_FLT, AV_SAMPLE_FMT_S16P, AV_SAMPLE_FMT_S16, AV_SAMPLE_FMT_S32P, AV_SAMPLE_FMT_S32]
        guard supported.contains(format), samples > 0, channels > 0, let data = frame.pointee.extended_data,
              let buffer = gst_audio_decoder_allocate_output_buffer(dec, gsize(samples * channels * MemoryLayout<Float>.size)) else { return nil }
        var map = GstMapInfo()
        guard gst_buffer_map(buffer, &map, GST_MAP_WRITE) != 0, let bytes = map.data else {
            gst_buffer_unref(buffer)
            return nil
        }
        // libav's plane pointers, checked rather than trusted: one per channel when planar.
        let planar = [AV_SAMPLE_FMT_FLTP, AV_SAMPLE_FMT_S16P, AV_SAMPLE_FMT_S32P].contains(format)
        var planes: [UnsafeRawPointer] = []
        for c in 0..<(planar ? channels : 1) {
            guard let plane = data[c] else {
                gst_buffer_unmap(buffer, &map)
                gst_buffer_unref(buffer)
                return nil
            }
            planes.append(UnsafeRawPointer(plane))
        }
        let out = UnsafeMutableRawPointer(bytes).assumingMemoryBound(to: Float.self)
        let count = samples * channels
        // Concrete loops: a generic converter ran at about 1500 instructions per sample.
        switch format {
        case AV_SAMPLE_FMT_FLT:
            out.update(from: planes[0].assumingMemoryBound(to: Float.self), count: count)
        case AV_SAMPLE_FMT_S16:
            let input = planes[0].assumingMemoryBound(to: Int16.self)
            for i in 0..<count { out[i] = Float(input[i]) * (1 / 32768) }
        case AV_SAMPLE_FMT_S32:
            let input = planes[0].assumingMemoryBound(to: Int32.self)
            for i in 0..<count { out[i] = Float(input[i]) * (1 / 2_147_483_648) }
        case AV_SAMPLE_FMT_FLTP:
            for c in 0..<channels {
                let plane = planes[c].assumingMemoryBound(to: Float.self)
                for i in 0..<samples { out[i &* channels &+ c] = plane[i] }
            }
        case AV_SAMPLE_FMT_S16P:
            for c in 0..<channels {
                let plane = planes[c].assumingMemoryBound(to: Int16.self)
                for i in 0..<samples { out[i &* channels &+ c] = Float(plane[i]) * (1 / 32768) }
            }
        default:
            for c in 0..<channels {
                let plane = planes[c].assumingMemoryBound(to: Int32.self)
                for i in 0..<samples { out[i &* channels &+ c] = Float(plane[i]) * (1 / 2_147_483_648) }
            }
        }
        gst_buffer_unmap(buffer, &map)
        return buffer
    }
}

private final class AudioDecoderState: LibAVCodec, @unchecked Sendable {
    struct OutputKey: Equatable { var rate: Int32, channels: Int32, mask: UInt64 }

    var outputKey: OutputKey?

    override func close() {
        super.close()
        outputKey = nil
    }
}
