import CAVCodec
import CGStreamer

/// An element instance's codec context, with the one packet and frame it reuses for every call
/// (streaming thread only).
class LibAVCodec: @unchecked Sendable {
    var context: UnsafeMutablePointer<AVCodecContext>?
    let packet = av_packet_alloc()
    let frame = av_frame_alloc()

    deinit {
        LibAV.free(&context)
        var p = packet
        av_packet_free(&p)
        var f = frame
        av_frame_free(&f)
    }

    func close() { LibAV.free(&context) }

    /// Sends a packet to the decoder. When libav wants its output read first, `receive` runs
    /// and the send is retried, a bounded number of times (a decoder that neither takes input
    /// nor gives output is broken); a packet libav refuses goes to `refused` with its code.
    func send(_ packet: UnsafeMutablePointer<AVPacket>, receive: () -> GstFlowReturn,
              refused: (Int32) -> GstFlowReturn) -> GstFlowReturn {
        guard let ctx = context else { return GST_FLOW_NOT_NEGOTIATED }
        for _ in 0..<8 {
            let sent = avcodec_send_packet(ctx, packet)
            guard sent == cav_error_again() else { return sent < 0 ? refused(sent) : GST_FLOW_OK }
            let flow = receive()
            if flow != GST_FLOW_OK { return flow }
        }
        return refused(cav_error_again())
    }

    /// Opens a configured context and keeps it; on failure frees it and posts `text` as a
    /// stream error of `element` (libav's code goes to the debug detail).
    func open(_ ctx: UnsafeMutablePointer<AVCodecContext>, _ codec: UnsafePointer<AVCodec>, element: gpointer,
              error code: GstStreamError, _ text: String, detail: String = "") -> Bool {
        let result = avcodec_open2(ctx, codec, nil)
        guard result >= 0 else {
            var failed: UnsafeMutablePointer<AVCodecContext>? = ctx
            LibAV.free(&failed)
            cgst_post_stream_error(element, code, text, "avcodec_open2 returned \(result)\(detail)")
            return false
        }
        LibAV.free(&context)
        context = ctx
        return true
    }
}

/// libavcodec plumbing shared by the decoder and encoder elements.
enum LibAV {
    /// Copies a GStreamer buffer into a packet with libav's zero padding (it reads past the end).
    static func fill(_ packet: UnsafeMutablePointer<AVPacket>, from buffer: UnsafeMutablePointer<GstBuffer>) -> Bool {
        let size = Int(gst_buffer_get_size(buffer))
        guard size > 0, av_new_packet(packet, Int32(size)) == 0 else { return false }
        gst_buffer_extract(buffer, 0, packet.pointee.data, gsize(size))
        return true
    }

    /// Codec configuration from caps (avcC, AudioSpecificConfig), padded as libav wants it.
    static func setExtradata(_ ctx: UnsafeMutablePointer<AVCodecContext>, from codecData: UnsafeMutablePointer<GstBuffer>?) {
        guard let codecData else { return }
        let size = Int(gst_buffer_get_size(codecData))
        guard size > 0, let extradata = av_mallocz(size + Int(AV_INPUT_BUFFER_PADDING_SIZE))?.assumingMemoryBound(to: UInt8.self) else { return }
        gst_buffer_extract(codecData, 0, extradata, gsize(size))
        ctx.pointee.extradata = extradata
        ctx.pointee.extradata_size = Int32(size)
    }

    static func free(_ ctx: inout UnsafeMutablePointer<AVCodecContext>?) {
        if ctx != nil { avcodec_free_context(&ctx) }
    }

    // libav channel bits (ascending = libav's native order) and GStreamer's positions for them;
    // the mapping keeps the order, so a native libav layout is a valid GStreamer one.
    private static let positions: [(bit: UInt64, position: GstAudioChannelPosition)] = [
        (0, GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT), (1, GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT),
        (2, GST_AUDIO_CHANNEL_POSITION_FRONT_CENTER), (3, GST_AUDIO_CHANNEL_POSITION_LFE1),
        (4, GST_AUDIO_CHANNEL_POSITION_REAR_LEFT), (5, GST_AUDIO_CHANNEL_POSITION_REAR_RIGHT),
        (6, GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT_OF_CENTER), (7, GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT_OF_CENTER),
        (8, GST_AUDIO_CHANNEL_POSITION_REAR_CENTER), (9, GST_AUDIO_CHANNEL_POSITION_SIDE_LEFT),
        (10, GST_AUDIO_CHANNEL_POSITION_SIDE_RIGHT), (11, GST_AUDIO_CHANNEL_POSITION_TOP_CENTER),
    ]

    /// GStreamer positions for a libav layout in native order; nil for mono, stereo and
    /// anything unmapped (GStreamer's defaults then apply).
    static func gstPositions(_ layout: AVChannelLayout) -> [GstAudioChannelPosition]? {
        guard layout.nb_channels > 2, layout.order == AV_CHANNEL_ORDER_NATIVE else { return nil }
        let mapped = positions.filter { layout.u.mask & (1 << $0.bit) != 0 }.map(\.position)
        return mapped.count == Int(layout.nb_channels) ? mapped : nil
    }

    /// libav's channel mask for GStreamer positions (0 if one has no libav equivalent).
    static func mask(_ gst: [GstAudioChannelPosition]) -> UInt64 {
        var mask: UInt64 = 0
        for p in gst {
            if p == GST_AUDIO_CHANNEL_POSITION_MONO { mask |= 1 << 2; continue }
            guard let bit = positions.first(where: { $0.position == p })?.bit else { return 0 }
            mask |= 1 << bit
        }
        return mask
    }
}
