import CAVCodec
import CGStreamer

/// The presets' AAC encoder: a GstAudioEncoder on libavcodec's native AAC encoder with libav's
/// defaults, so the same bytes as ffmpeg's (avenc_aac differs: its aac-ms forces mid/side),
/// registered in this process as `transcoderaacenc`. Like the audio decoder it exists so that a job does not load gst-libav
/// and the libraries behind it (see AudioDecoderElement).
enum AACEncoderElement {
    static let factoryName = "transcoderaacenc"

    static let registered = OwnElement.register(
        parent: gst_audio_encoder_get_type(), typeName: "TranscoderAACEnc", factory: factoryName, rank: guint(GST_RANK_NONE.rawValue),
        classSize: MemoryLayout<GstAudioEncoderClass>.stride, instanceSize: MemoryLayout<GstAudioEncoder>.stride,
        classInit: { klass, _ in if let klass { AACEncoderElement.classInit(klass) } },
        instanceInit: { instance, _ in
            guard let instance else { return }
            OwnElement.attach(AACEncoderState(), to: UnsafeMutableRawPointer(instance), quark: AACEncoderElement.quark)
        })

    private static let quark = g_quark_from_string("transcoder-aacenc-state")
    private enum Property: guint { case bitrate = 1 }

    private static func state(_ object: UnsafeMutableRawPointer?) -> AACEncoderState? {
        OwnElement.state(object, quark: quark, as: AACEncoderState.self)
    }

    private static func classInit(_ klass: UnsafeMutableRawPointer) {
        let objectClass = klass.assumingMemoryBound(to: GObjectClass.self)
        objectClass.pointee.set_property = { object, id, value, _ in
            guard let s = AACEncoderElement.state(object), let value, id == Property.bitrate.rawValue else { return }
            s.bitrate = g_value_get_int(value)
        }
        objectClass.pointee.get_property = { object, id, value, _ in
            guard let s = AACEncoderElement.state(object), let value, id == Property.bitrate.rawValue else { return }
            g_value_set_int(value, s.bitrate)
        }
        g_object_class_install_property(objectClass, Property.bitrate.rawValue,
                                        g_param_spec_int("bitrate", "bitrate", "Bit rate in bit/s", 8000, 512_000, 128_000, cgst_param_readwrite()))
        OwnElement.describe(klass, name: "AAC encoder (libavcodec)", klassName: "Codec/Encoder/Audio",
                            description: "AAC-LC on libavcodec's native encoder",
                            sink: "audio/x-raw, format=(string)F32LE, layout=(string)interleaved, "
                                + "rate=(int){ 96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350 }, "
                                + "channels=(int)[1, 6]",
                            src: "audio/mpeg, mpegversion=(int)4, stream-format=(string)raw, framed=(boolean)true")
        let encoderClass = klass.assumingMemoryBound(to: GstAudioEncoderClass.self)
        encoderClass.pointee.set_format = { enc, info in
            guard let enc, let info, let s = AACEncoderElement.state(enc) else { return 0 }
            s.info = info.pointee
            return AACEncoderElement.open(enc, s) ? 1 : 0
        }
        encoderClass.pointee.handle_frame = { enc, buffer in
            guard let enc, let s = AACEncoderElement.state(enc) else { return GST_FLOW_ERROR }
            // libav's AAC encoder cannot be flushed: after a drain it opens again.
            if s.context == nil, buffer != nil, !AACEncoderElement.open(enc, s) { return GST_FLOW_NOT_NEGOTIATED }
            guard s.context != nil else { return GST_FLOW_OK }
            return AACEncoderElement.encode(enc, s, buffer)
        }
        encoderClass.pointee.flush = { enc in AACEncoderElement.state(enc)?.close() }
        encoderClass.pointee.stop = { enc in
            AACEncoderElement.state(enc)?.close()
            return 1
        }
    }

    private static func open(_ enc: UnsafeMutablePointer<GstAudioEncoder>, _ s: AACEncoderState) -> Bool {
        s.close()
        s.primed = false
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_AAC), let ctx = avcodec_alloc_context3(codec) else { return false }
        var info = s.info
        let channels = Int(info.channels)
        ctx.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        ctx.pointee.sample_rate = info.rate
        ctx.pointee.time_base = AVRational(num: 1, den: info.rate)
        ctx.pointee.bit_rate = Int64(s.bitrate)
        ctx.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)   // AudioSpecificConfig for codec_data
        let positions = withUnsafeBytes(of: &info.position) { Array($0.bindMemory(to: GstAudioChannelPosition.self).prefix(channels)) }
        let mask = channels > 2 ? LibAV.mask(positions) : 0
        if mask != 0, supports(codec, mask: mask) {
            _ = av_channel_layout_from_mask(&ctx.pointee.ch_layout, mask)
        } else {
            av_channel_layout_default(&ctx.pointee.ch_layout, Int32(channels))
        }
        guard s.open(ctx, codec, element: enc, error: GST_STREAM_ERROR_ENCODE, "The AAC encoder could not start.",
                     detail: " for \(channels) channels at \(info.rate) Hz") else { return false }
        guard let caps = gst_caps_from_string("audio/mpeg, mpegversion=(int)4, stream-format=(string)raw, framed=(boolean)true, "
                                              + "rate=(int)\(info.rate), channels=(int)\(channels)") else { return false }
        defer { GStreamer.unrefCaps(caps) }
        if let extradata = ctx.pointee.extradata, ctx.pointee.extradata_size > 0,
           let codecData = gst_buffer_new_memdup(extradata, gsize(ctx.pointee.extradata_size)) {
            var value = GValue()
            g_value_init(&value, gst_buffer_get_type())
            g_value_take_boxed(&value, codecData)
            gst_caps_set_value(caps, "codec_data", &value)
            g_value_unset(&value)
        }
        let frameSize = ctx.pointee.frame_size
        gst_audio_encoder_set_frame_samples_min(enc, frameSize)
        gst_audio_encoder_set_frame_samples_max(enc, frameSize)
        gst_audio_encoder_set_frame_max(enc, 1)
        return gst_audio_encoder_set_output_format(enc, caps) != 0
    }

    /// Whether the encoder takes this layout; others (5.1 with side channels) are encoded as
    /// the encoder's layout of that many channels, as ffmpeg does.
    private static func supports(_ codec: UnsafePointer<AVCodec>, mask: UInt64) -> Bool {
        guard var layout = codec.pointee.ch_layouts else { return true }
        while layout.pointee.nb_channels > 0 {
            if layout.pointee.order == AV_CHANNEL_ORDER_NATIVE, layout.pointee.u.mask == mask { return true }
            layout += 1
        }
        return false
    }

    /// One frame of samples (nil: drain), then every packet libav has ready.
    private static func encode(_ enc: UnsafeMutablePointer<GstAudioEncoder>, _ s: AACEncoderState,
                               _ buffer: UnsafeMutablePointer<GstBuffer>?) -> GstFlowReturn {
        guard let ctx = s.context, let frame = s.frame, let packet = s.packet else { return GST_FLOW_ERROR }
        if let buffer {
            guard fill(frame, ctx, from: buffer, channels: Int(s.info.channels)) else {
                cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The AAC encoder failed.", "no frame buffer")
                return GST_FLOW_ERROR
            }
            let sent = avcodec_send_frame(ctx, frame)
            av_frame_unref(frame)
            if sent < 0 {
                cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The AAC encoder failed.", "avcodec_send_frame returned \(sent)")
                return GST_FLOW_ERROR
            }
        } else {
            _ = avcodec_send_frame(ctx, nil)
        }
        while avcodec_receive_packet(ctx, packet) == 0 {
            defer { av_packet_unref(packet) }
            guard let out = gst_buffer_new_memdup(packet.pointee.data, gsize(packet.pointee.size)) else { return GST_FLOW_ERROR }
            var skipSize = 0
            // Encoder priming, for muxers that write it as an edit (as avenc_aac does). libav's
            // native AAC encoder gives no side data, only initial_padding (1024), which is what
            // ffmpeg's MP4 muxer writes as the edit: the first packet carries it.
            if let skip = av_packet_get_side_data(packet, AV_PKT_DATA_SKIP_SAMPLES, &skipSize), skipSize == 10 {
                let raw = UnsafeRawPointer(skip)
                let start = UInt32(littleEndian: raw.loadUnaligned(as: UInt32.self))
                let end = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                _ = gst_buffer_add_audio_clipping_meta(out, GST_FORMAT_DEFAULT, guint64(start), guint64(end))
            } else if !s.primed, ctx.pointee.initial_padding > 0 {
                _ = gst_buffer_add_audio_clipping_meta(out, GST_FORMAT_DEFAULT, guint64(ctx.pointee.initial_padding), 0)
            }
            s.primed = true
            let flow = gst_audio_encoder_finish_frame(enc, out, packet.pointee.duration > 0 ? gint(packet.pointee.duration) : -1)
            if flow != GST_FLOW_OK { return flow }
        }
        if buffer == nil { s.close() }
        return GST_FLOW_OK
    }

    /// Interleaved float samples into libav's planar frame.
    private static func fill(_ frame: UnsafeMutablePointer<AVFrame>, _ ctx: UnsafeMutablePointer<AVCodecContext>,
                             from buffer: UnsafeMutablePointer<GstBuffer>, channels: Int) -> Bool {
        var map = GstMapInfo()
        guard channels > 0, gst_buffer_map(buffer, &map, GST_MAP_READ) != 0 else { return false }
        defer { gst_buffer_unmap(buffer, &map) }
        let samples = Int(map.size) / (channels * MemoryLayout<Float>.size)
        frame.pointee.nb_samples = Int32(samples)
        frame.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        frame.pointee.sample_rate = ctx.pointee.sample_rate
        guard av_channel_layout_copy(&frame.pointee.ch_layout, &ctx.pointee.ch_layout) == 0,
              av_frame_get_buffer(frame, 0) == 0, let data = frame.pointee.extended_data, let bytes = map.data else { return false }
        let input = UnsafeRawPointer(bytes).assumingMemoryBound(to: Float.self)
        for c in 0..<channels {
            let plane = UnsafeMutableRawPointer(data[c]!).assumingMemoryBound(to: Float.self)
            for i in 0..<samples { plane[i] = input[i &* channels &+ c] }
        }
        return true
    }
}

private final class AACEncoderState: LibAVCodec, @unchecked Sendable {
    var bitrate: gint = 128_000
    /// Whether this encoding's first packet is out (it carries the priming).
    var primed = false
    var info = GstAudioInfo()
}
