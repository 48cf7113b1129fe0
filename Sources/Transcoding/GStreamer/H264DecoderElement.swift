import CAVCodec
import CGStreamer

/// The engine's H.264 decoder: a GstVideoDecoder on libavcodec, registered in this process as
/// `transcoderh264dec` one rank above avdec_h264, so decodebin picks it. It exists for memory.
/// avdec_h264 decodes into GStreamer buffers that libav keeps as references, and GstVideoDecoder
/// then copies nearly every frame it pushes (the buffer is not writable while libav holds it):
/// on the 1080p clip that was about 17 decoded frames alive against ffmpeg's 8. This element
/// lets libav decode into its own frame pool, as ffmpeg does, and pushes each picture as a
/// buffer that wraps the libav frame's planes (video meta carries the strides): no copy, and the
/// pool's memory returns to libav when the last GStreamer reference goes.
enum H264DecoderElement {
    static let factoryName = "transcoderh264dec"

    /// Registers the element once per process (after gst_init); false if GStreamer refused it.
    static let registered = OwnElement.register(
        parent: gst_video_decoder_get_type(), typeName: "TranscoderH264Dec", factory: factoryName, rank: guint(GST_RANK_PRIMARY.rawValue + 1),
        classSize: MemoryLayout<GstVideoDecoderClass>.stride, instanceSize: MemoryLayout<GstVideoDecoder>.stride,
        classInit: { klass, _ in if let klass { H264DecoderElement.classInit(klass) } },
        instanceInit: { instance, _ in
            guard let instance else { return }
            let raw = UnsafeMutableRawPointer(instance)
            OwnElement.attach(DecoderState(), to: raw, quark: H264DecoderElement.quark)
            let dec = raw.assumingMemoryBound(to: GstVideoDecoder.self)
            gst_video_decoder_set_packetized(dec, 1)   // whole access units, from h264parse
            gst_video_decoder_set_needs_format(dec, 1)
        })

    private static let quark = g_quark_from_string("transcoder-h264dec-state")
    nonisolated(unsafe) private static var parentClass: UnsafeMutablePointer<GstVideoDecoderClass>?
    /// A frame still pending this many frames after a later one came out is one libav dropped
    /// (H.264 reorders at most 16 frames; frame threads add a few).
    private static let ghostDistance: Int64 = 48

    private static func state(_ object: UnsafeMutableRawPointer?) -> DecoderState? {
        OwnElement.state(object, quark: quark, as: DecoderState.self)
    }

    /// What the element takes, in the parser's terms: chroma formats and luma bit depths whose
    /// libav pixel formats `videoFormat` maps (libav gives 4:0:0 as 4:2:0, and an RGB matrix
    /// as planar GBR). Decodebin, and the discoverer through it, pick avdec_h264 for a stream
    /// outside these (9, 12 or 14 bits, anything new) before any picture is decoded; a parser
    /// that does not say counts as the common 8-bit 4:2:0.
    static let sinkCaps = "video/x-h264, stream-format=(string){ avc, byte-stream }, alignment=(string)au, "
        + "chroma-format=(string){ \"4:2:0\", \"4:2:2\", \"4:4:4\", \"4:0:0\" }, bit-depth-luma=(uint){ 8, 10 }"

    private static func classInit(_ klass: UnsafeMutableRawPointer) {
        parentClass = g_type_class_peek_parent(klass)?.assumingMemoryBound(to: GstVideoDecoderClass.self)

        OwnElement.describe(klass, name: "H.264 decoder (libavcodec)", klassName: "Codec/Decoder/Video",
                            description: "H.264 on libavcodec, pushing libav's own frames without a copy",
                            sink: sinkCaps,
                            src: "video/x-raw, format=(string){ I420, Y42B, Y444, I420_10LE, I422_10LE, Y444_10LE, GBR, GBR_10LE, NV12, GRAY8 }")

        let decoderClass = klass.assumingMemoryBound(to: GstVideoDecoderClass.self)
        decoderClass.pointee.set_format = { dec, input in
            guard let dec, let input, let s = H264DecoderElement.state(dec) else { return 0 }
            return H264DecoderElement.open(dec, s, input) ? 1 : 0
        }
        decoderClass.pointee.handle_frame = { dec, frame in
            guard let dec, let frame else { return GST_FLOW_ERROR }
            guard let s = H264DecoderElement.state(dec), s.context != nil else {
                gst_video_codec_frame_unref(frame)
                return GST_FLOW_NOT_NEGOTIATED
            }
            return H264DecoderElement.decode(dec, s, frame)
        }
        let drain: @convention(c) (UnsafeMutablePointer<GstVideoDecoder>?) -> GstFlowReturn = { dec in
            guard let dec, let s = H264DecoderElement.state(dec) else { return GST_FLOW_ERROR }
            return H264DecoderElement.drain(dec, s)
        }
        decoderClass.pointee.finish = drain
        decoderClass.pointee.drain = drain
        decoderClass.pointee.flush = { dec in
            if let s = H264DecoderElement.state(dec), let ctx = s.context { avcodec_flush_buffers(ctx) }
            return 1
        }
        decoderClass.pointee.stop = { dec in
            H264DecoderElement.state(dec)?.close()
            return 1
        }
        decoderClass.pointee.decide_allocation = { dec, query in
            guard let dec, let query, let s = H264DecoderElement.state(dec),
                  H264DecoderElement.parentClass?.pointee.decide_allocation?(dec, query) ?? 0 != 0 else { return 0 }
            s.downstreamTakesVideoMeta = gst_query_find_allocation_meta(query, gst_video_meta_api_get_type(), nil) != 0
            if s.downstreamTakesVideoMeta { H264DecoderElement.keepPoolEmpty(query) }
            return 1
        }
    }

    /// The base class insists on a buffer pool; with video meta downstream it is never used, so
    /// it should not preallocate frames either.
    private static func keepPoolEmpty(_ query: UnsafeMutablePointer<GstQuery>) {
        guard gst_query_get_n_allocation_pools(query) > 0 else { return }
        var pool: UnsafeMutablePointer<GstBufferPool>?
        var size: guint = 0, minimum: guint = 0, maximum: guint = 0
        gst_query_parse_nth_allocation_pool(query, 0, &pool, &size, &minimum, &maximum)
        guard let pool else { return }
        defer { gst_object_unref(UnsafeMutableRawPointer(pool)) }
        if let config = gst_buffer_pool_get_config(pool) {
            var caps: UnsafeMutablePointer<GstCaps>?
            gst_buffer_pool_config_get_params(config, &caps, nil, nil, nil)
            gst_buffer_pool_config_set_params(config, caps, size, 0, maximum)
            _ = gst_buffer_pool_set_config(pool, config)
        }
        gst_query_set_nth_allocation_pool(query, 0, pool, size, 0, maximum)
    }

    /// Opens libavcodec for new input caps, draining what the previous stream still holds.
    private static func open(_ dec: UnsafeMutablePointer<GstVideoDecoder>, _ s: DecoderState,
                             _ input: UnsafeMutablePointer<GstVideoCodecState>) -> Bool {
        if s.context != nil {
            _ = drain(dec, s)
            s.close()
        }
        guard let codec = avcodec_find_decoder(AV_CODEC_ID_H264), let ctx = avcodec_alloc_context3(codec) else { return false }
        // libav's automatic count is cores + 1, each frame thread holding a picture (3 MB at
        // 1080p); with the encoder busy on every core, one per core decoded as fast on the 1080p
        // clip (12.67 s both, medians of 4) and peaked 8 MB lower.
        ctx.pointee.thread_count = Int32(g_get_num_processors())
        ctx.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        LibAV.setExtradata(ctx, from: input.pointee.codec_data)   // avcC, for stream-format=avc
        guard s.open(ctx, codec, element: dec, error: GST_STREAM_ERROR_DECODE, "The H.264 decoder could not start.") else { return false }
        s.inputState = gst_video_codec_state_ref(input)
        return true
    }

    /// Sends one access unit to libav and pushes every picture it has ready.
    private static func decode(_ dec: UnsafeMutablePointer<GstVideoDecoder>, _ s: DecoderState,
                               _ frame: UnsafeMutablePointer<GstVideoCodecFrame>) -> GstFlowReturn {
        defer { gst_video_codec_frame_unref(frame) }
        guard s.context != nil, let packet = s.packet else { return GST_FLOW_NOT_NEGOTIATED }
        guard LibAV.fill(packet, from: frame.pointee.input_buffer) else { return GST_FLOW_OK }
        defer { av_packet_unref(packet) }
        packet.pointee.pts = Int64(frame.pointee.system_frame_number)   // reordered with its picture
        let flow = s.send(packet, receive: { receive(dec, s) },
                          refused: { cgst_decoder_error(dec, "avcodec_send_packet returned \($0)") })
        if flow != GST_FLOW_OK { return flow }
        return receive(dec, s)
    }

    /// Pushes what libav still holds, at end of stream or before new caps.
    private static func drain(_ dec: UnsafeMutablePointer<GstVideoDecoder>, _ s: DecoderState) -> GstFlowReturn {
        guard let ctx = s.context else { return GST_FLOW_OK }
        _ = avcodec_send_packet(ctx, nil)
        let flow = receive(dec, s)
        avcodec_flush_buffers(ctx)   // accepts input again after the end-of-stream drain
        return flow
    }

    private static func receive(_ dec: UnsafeMutablePointer<GstVideoDecoder>, _ s: DecoderState) -> GstFlowReturn {
        guard let ctx = s.context, let picture = s.frame else { return GST_FLOW_OK }
        while true {
            let r = avcodec_receive_frame(ctx, picture)
            if r == cav_error_again() || r == cav_error_eof() { return GST_FLOW_OK }
            if r < 0 {   // this picture is lost; the next packet may decode
                return cgst_decoder_error(dec, "avcodec_receive_frame returned \(r)")
            }
            let flow = push(dec, s, picture)
            av_frame_unref(picture)
            if flow != GST_FLOW_OK { return flow }
        }
    }

    /// Finishes the codec frame a picture belongs to, with a buffer wrapping the picture.
    private static func push(_ dec: UnsafeMutablePointer<GstVideoDecoder>, _ s: DecoderState,
                             _ picture: UnsafeMutablePointer<AVFrame>) -> GstFlowReturn {
        let number = picture.pointee.pts
        guard number != cav_nopts(), let frame = gst_video_decoder_get_frame(dec, Int32(truncatingIfNeeded: number)) else {
            return GST_FLOW_OK
        }
        releaseGhosts(dec, olderThan: number - ghostDistance)
        guard negotiate(dec, s, picture) else {
            gst_video_decoder_drop_frame(dec, frame)
            return GST_FLOW_NOT_NEGOTIATED
        }
        guard let wrapped = wrap(picture, &s.outputInfo) else {
            gst_video_decoder_drop_frame(dec, frame)
            cgst_post_stream_error(dec, GST_STREAM_ERROR_DECODE, "The H.264 decoder failed.", "a decoded picture has an unexpected layout")
            return GST_FLOW_ERROR
        }
        if s.downstreamTakesVideoMeta {
            frame.pointee.output_buffer = wrapped
        } else {
            // Downstream wants packed planes: one copy, into the base class's pool.
            let flow = gst_video_decoder_allocate_output_frame(dec, frame)
            guard flow == GST_FLOW_OK, copy(wrapped, into: frame.pointee.output_buffer, &s.outputInfo) else {
                gst_buffer_unref(wrapped)
                gst_video_decoder_drop_frame(dec, frame)
                return flow == GST_FLOW_OK ? GST_FLOW_ERROR : flow
            }
            gst_buffer_unref(wrapped)
        }
        guard let buffer = frame.pointee.output_buffer else {
            gst_video_decoder_drop_frame(dec, frame)
            return GST_FLOW_ERROR
        }
        if picture.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 { cgst_buffer_flag_set(buffer, GST_BUFFER_FLAG_CORRUPTED.rawValue) }
        if picture.pointee.interlaced_frame != 0 {
            var flags = GST_VIDEO_BUFFER_FLAG_INTERLACED.rawValue
            if picture.pointee.top_field_first != 0 { flags |= GST_VIDEO_BUFFER_FLAG_TFF.rawValue }
            cgst_buffer_flag_set(buffer, flags)
        }
        return gst_video_decoder_finish_frame(dec, frame)
    }

    /// Frames libav dropped (undecodable, or before the first keyframe) would wait forever.
    private static func releaseGhosts(_ dec: UnsafeMutablePointer<GstVideoDecoder>, olderThan limit: Int64) {
        guard limit > 0 else { return }
        let frames = gst_video_decoder_get_frames(dec)
        var node = frames
        while let n = node {
            if let f = n.pointee.data?.assumingMemoryBound(to: GstVideoCodecFrame.self) {
                if Int64(f.pointee.system_frame_number) < limit {
                    gst_video_decoder_release_frame(dec, f)
                } else {
                    gst_video_codec_frame_unref(f)
                }
            }
            node = n.pointee.next
        }
        g_list_free(frames)
    }

    /// Sets output caps when the picture's format, size, aspect, interlacing or field order
    /// changes. Interlaced pictures make the caps interleaved with the picture's field order, as
    /// avdec_h264 does, so deinterlace and the encoders see it; each buffer is flagged as well.
    private static func negotiate(_ dec: UnsafeMutablePointer<GstVideoDecoder>, _ s: DecoderState,
                                  _ picture: UnsafeMutablePointer<AVFrame>) -> Bool {
        let p = picture.pointee
        let key = DecoderState.OutputKey(format: p.format, width: p.width, height: p.height,
                                         sarNum: p.sample_aspect_ratio.num, sarDen: p.sample_aspect_ratio.den,
                                         interlaced: p.interlaced_frame != 0 || s.outputKey?.interlaced == true,
                                         topFieldFirst: p.interlaced_frame != 0 ? p.top_field_first != 0 : s.outputKey?.topFieldFirst ?? true)
        if key == s.outputKey { return true }
        guard let format = videoFormat(p.format) else {
            // sinkCaps sends such streams to avdec_h264; reaching this means the caps did not tell.
            cgst_post_stream_error(dec, GST_STREAM_ERROR_CODEC_NOT_FOUND, "The input's video uses a pixel format this worker cannot handle.",
                                   "libav pixel format \(p.format)")
            return false
        }
        guard let state = gst_video_decoder_set_output_state(dec, format, guint(p.width), guint(p.height), s.inputState) else { return false }
        defer { gst_video_codec_state_unref(state) }
        var info = state.pointee.info
        if key.sarNum > 0, key.sarDen > 0 {
            info.par_n = key.sarNum
            info.par_d = key.sarDen
        }
        if key.interlaced {
            info.interlace_mode = GST_VIDEO_INTERLACE_MODE_INTERLEAVED
            cgst_video_info_set_field_order(&info, key.topFieldFirst ? GST_VIDEO_FIELD_ORDER_TOP_FIELD_FIRST : GST_VIDEO_FIELD_ORDER_BOTTOM_FIELD_FIRST)
        }
        // The bitstream's colour description, where it has one (2 is "unspecified").
        if p.color_range == AVCOL_RANGE_JPEG || isFullRangeFormat(p.format) {
            info.colorimetry.range = GST_VIDEO_COLOR_RANGE_0_255
        } else if p.color_range == AVCOL_RANGE_MPEG {
            info.colorimetry.range = GST_VIDEO_COLOR_RANGE_16_235
        }
        if p.colorspace.rawValue != 2 { info.colorimetry.matrix = gst_video_color_matrix_from_iso(guint(p.colorspace.rawValue)) }
        if p.color_trc.rawValue != 2 { info.colorimetry.transfer = gst_video_transfer_function_from_iso(guint(p.color_trc.rawValue)) }
        if p.color_primaries.rawValue != 2 { info.colorimetry.primaries = gst_video_color_primaries_from_iso(guint(p.color_primaries.rawValue)) }
        state.pointee.info = info
        guard gst_video_decoder_negotiate(dec) != 0 else { return false }
        s.outputInfo = info
        s.outputKey = key
        return true
    }

    private static func videoFormat(_ format: Int32) -> GstVideoFormat? {
        switch format {
        case AV_PIX_FMT_YUV420P.rawValue, AV_PIX_FMT_YUVJ420P.rawValue: GST_VIDEO_FORMAT_I420
        case AV_PIX_FMT_YUV422P.rawValue, AV_PIX_FMT_YUVJ422P.rawValue: GST_VIDEO_FORMAT_Y42B
        case AV_PIX_FMT_YUV444P.rawValue, AV_PIX_FMT_YUVJ444P.rawValue: GST_VIDEO_FORMAT_Y444
        case AV_PIX_FMT_YUV420P10LE.rawValue: GST_VIDEO_FORMAT_I420_10LE
        case AV_PIX_FMT_YUV422P10LE.rawValue: GST_VIDEO_FORMAT_I422_10LE
        case AV_PIX_FMT_YUV444P10LE.rawValue: GST_VIDEO_FORMAT_Y444_10LE
        case AV_PIX_FMT_GBRP.rawValue: GST_VIDEO_FORMAT_GBR          // both G, B, R planes in that order
        case AV_PIX_FMT_GBRP10LE.rawValue: GST_VIDEO_FORMAT_GBR_10LE
        case AV_PIX_FMT_NV12.rawValue: GST_VIDEO_FORMAT_NV12
        case AV_PIX_FMT_GRAY8.rawValue: GST_VIDEO_FORMAT_GRAY8
        default: nil
        }
    }

    private static func isFullRangeFormat(_ format: Int32) -> Bool {
        [AV_PIX_FMT_YUVJ420P.rawValue, AV_PIX_FMT_YUVJ422P.rawValue, AV_PIX_FMT_YUVJ444P.rawValue].contains(format)
    }

    /// A buffer of one memory per plane, each holding a reference on the libav buffer it wraps.
    private static func wrap(_ picture: UnsafeMutablePointer<AVFrame>, _ info: inout GstVideoInfo) -> UnsafeMutablePointer<GstBuffer>? {
        let planes = Int(cgst_video_info_n_planes(&info))
        guard planes > 0, planes <= 4, let buffer = gst_buffer_new() else { return nil }
        var offsets = [gsize](repeating: 0, count: 4)
        var strides = [gint](repeating: 0, count: 4)
        var total: gsize = 0
        let release: GDestroyNotify = { p in
            var ref = p?.assumingMemoryBound(to: AVBufferRef.self)
            av_buffer_unref(&ref)
        }
        let layout = withUnsafeBytes(of: picture.pointee.data) { data in
            withUnsafeBytes(of: picture.pointee.linesize) { linesize in
                (0..<planes).map { i in
                    (data.load(fromByteOffset: i * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride, as: UnsafeMutablePointer<UInt8>?.self),
                     linesize.load(fromByteOffset: i * MemoryLayout<Int32>.stride, as: Int32.self))
                }
            }
        }
        for (i, (data, linesize)) in layout.enumerated() {
            guard let data, linesize > 0, let owner = av_frame_get_plane_buffer(picture, Int32(i)),
                  let base = owner.pointee.data, data >= base else {
                gst_buffer_unref(buffer)
                return nil
            }
            // The last row may end before the stride does; never claim past libav's buffer.
            let rows = gsize(cgst_video_info_comp_height(&info, guint(i)))
            let available = Int(owner.pointee.size) - base.distance(to: data)
            let size = min(gsize(linesize) * rows, gsize(max(0, available)))
            guard let ref = av_buffer_ref(owner),
                  let memory = gst_memory_new_wrapped(GST_MEMORY_FLAG_READONLY, data, size, 0, size, ref, release) else {
                gst_buffer_unref(buffer)
                return nil
            }
            gst_buffer_append_memory(buffer, memory)
            offsets[i] = total
            strides[i] = linesize
            total += size
        }
        _ = gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, info.finfo.pointee.format,
                                           guint(info.width), guint(info.height), guint(planes), &offsets, &strides)
        return buffer
    }

    private static func copy(_ source: UnsafeMutablePointer<GstBuffer>, into target: UnsafeMutablePointer<GstBuffer>?,
                             _ info: inout GstVideoInfo) -> Bool {
        guard let target else { return false }
        var from = GstVideoFrame(), to = GstVideoFrame()
        guard gst_video_frame_map(&from, &info, source, GST_MAP_READ) != 0 else { return false }
        defer { gst_video_frame_unmap(&from) }
        guard gst_video_frame_map(&to, &info, target, GST_MAP_WRITE) != 0 else { return false }
        defer { gst_video_frame_unmap(&to) }
        return gst_video_frame_copy(&to, &from) != 0
    }
}

/// One element instance's libav state (streaming thread only).
private final class DecoderState: LibAVCodec, @unchecked Sendable {
    struct OutputKey: Equatable {
        var format: Int32, width: Int32, height: Int32, sarNum: Int32, sarDen: Int32, interlaced: Bool, topFieldFirst: Bool
    }

    var inputState: UnsafeMutablePointer<GstVideoCodecState>?
    var outputKey: OutputKey?
    var outputInfo = GstVideoInfo()
    var downstreamTakesVideoMeta = false

    deinit { close() }

    override func close() {
        super.close()
        if let s = inputState { gst_video_codec_state_unref(s) }
        inputState = nil
        outputKey = nil
    }
}
