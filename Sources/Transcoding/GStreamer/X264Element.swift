import CGStreamer
import CX264

/// The presets' H.264 encoder: a GstVideoEncoder on libx264, registered in this process as
/// `transcoderx264enc`. It exists for memory. x264enc keeps every input frame mapped until
/// x264 hands back that frame encoded, although x264 copies each picture on entry: with
/// lookahead, B-frames and frame threads that is 15-20 decoded frames held twice (on the 720p
/// trailer x264enc's peak RSS grew 6 MB per lookahead frame, ffmpeg's 3.2 MB). This element
/// releases the input as soon as x264 has taken it. Settings mirror x264enc's (preset, CRF or
/// ABR with a 600 ms VBV, keyframe interval), so outputs are encoded the same way.
/// Not on the fragment allowlist: a job's fragment names x264enc.
enum X264Element {
    static let factoryName = "transcoderx264enc"
    /// Byte-stream with SPS/PPS in each keyframe; the h264parse after it makes avcC for MP4.
    private static let outputCaps = "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au"

    /// Registers the element once per process (after gst_init); false if GStreamer refused it.
    static let registered = OwnElement.register(
        parent: gst_video_encoder_get_type(), typeName: "TranscoderX264Enc", factory: factoryName, rank: guint(GST_RANK_NONE.rawValue),
        classSize: MemoryLayout<GstVideoEncoderClass>.stride, instanceSize: MemoryLayout<GstVideoEncoder>.stride,
        classInit: { klass, _ in if let klass { X264Element.classInit(klass) } },
        instanceInit: { instance, _ in
            guard let instance else { return }
            let s = X264State()
            OwnElement.attach(s, to: UnsafeMutableRawPointer(instance), quark: X264Element.quark)
            s.settings.attach(to: UnsafeMutableRawPointer(instance))
        })

    private static let quark = g_quark_from_string("transcoder-x264-state")

    private static func state(_ object: UnsafeMutableRawPointer?) -> X264State? {
        OwnElement.state(object, quark: quark, as: X264State.self)
    }

    private static func classInit(_ klass: UnsafeMutableRawPointer) {

        EncoderSettings.install(on: klass, library: "x264", defaults: X264State.defaults(),
                                bitrateBlurb: "Average bitrate in kbit/s with a 600 ms VBV (0: CRF)", keyframePeriod: true)

        OwnElement.describe(klass, name: "H.264 encoder (libx264)", klassName: "Codec/Encoder/Video",
                            description: "H.264 on libx264, releasing each input frame once x264 has copied it",
                            sink: "video/x-raw, format=(string){ I420, NV12 }, width=(int)[16, 16384], height=(int)[16, 16384], framerate=(fraction)[0/1, 2147483647/1]",
                            src: outputCaps)

        let encoderClass = klass.assumingMemoryBound(to: GstVideoEncoderClass.self)
        encoderClass.pointee.set_format = { enc, input in
            guard let enc, let input, let s = X264Element.state(enc) else { return 0 }
            return X264Element.configure(enc, s, input) ? 1 : 0
        }
        encoderClass.pointee.handle_frame = { enc, frame in
            guard let enc, let frame else { return GST_FLOW_ERROR }
            guard let s = X264Element.state(enc), s.encoder != nil else {
                gst_video_codec_frame_unref(frame)
                return GST_FLOW_NOT_NEGOTIATED
            }
            return X264Element.encode(enc, s, frame)
        }
        encoderClass.pointee.finish = { enc in
            guard let enc, let s = X264Element.state(enc) else { return GST_FLOW_ERROR }
            return X264Element.drain(enc, s)
        }
        encoderClass.pointee.flush = { enc in
            // Frames held by x264 are dropped with it; the base class forgets its own.
            guard let s = X264Element.state(enc), s.encoder != nil else { return 1 }
            s.close()
            s.encoder = cx264_encoder_open(&s.param)
            return s.encoder != nil ? 1 : 0
        }
        encoderClass.pointee.stop = { enc in
            X264Element.state(enc)?.close()
            return 1
        }
        OwnVideoEncoder.installCommon(on: klass)
    }

    /// Opens x264 for new input caps (draining the previous stream first) and sets the output caps.
    private static func configure(_ enc: UnsafeMutablePointer<GstVideoEncoder>, _ s: X264State,
                                  _ input: UnsafeMutablePointer<GstVideoCodecState>) -> Bool {
        if s.encoder != nil {
            _ = drain(enc, s)
            s.close()
        }
        s.info = input.pointee.info
        guard let param = s.parameters() else {
            cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The H.264 encoder settings are invalid.", "x264 preset '\(s.settings.speedPreset)' unknown")
            return false
        }
        s.param = param
        guard let x = cx264_encoder_open(&s.param) else {
            cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The H.264 encoder could not start.", "x264_encoder_open failed for \(s.info.width)x\(s.info.height)")
            return false
        }
        s.encoder = x
        guard let caps = gst_caps_from_string(outputCaps),
              let output = gst_video_encoder_set_output_state(enc, caps, input) else { return false }
        gst_video_codec_state_unref(output)
        if s.info.fps_n > 0, s.info.fps_d > 0 {
            let frames = guint64(max(0, x264_encoder_maximum_delayed_frames(x)))
            let latency = gst_util_uint64_scale(frames, guint64(s.info.fps_d) * guint64(GStreamer.second), guint64(s.info.fps_n))
            gst_video_encoder_set_latency(enc, latency, latency)
        }
        return true
    }

    /// Hands one frame to x264, then lets go of its input buffer: x264 has its own copy now.
    private static func encode(_ enc: UnsafeMutablePointer<GstVideoEncoder>, _ s: X264State,
                               _ frame: UnsafeMutablePointer<GstVideoCodecFrame>) -> GstFlowReturn {
        defer { gst_video_codec_frame_unref(frame) }
        var vframe = GstVideoFrame()
        guard gst_video_frame_map(&vframe, &s.info, frame.pointee.input_buffer, GST_MAP_READ) != 0 else {
            cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The H.264 encoder could not read a frame.", "gst_video_frame_map failed")
            return GST_FLOW_ERROR
        }
        var pic = x264_picture_t()
        x264_picture_init(&pic)
        pic.img.i_csp = s.csp
        pic.img.i_plane = s.csp == X264_CSP_NV12 ? 2 : 3
        withUnsafeMutableBytes(of: &pic.img.plane) { planes in
            withUnsafeMutableBytes(of: &pic.img.i_stride) { strides in
                for i in 0..<Int(pic.img.i_plane) {
                    planes.storeBytes(of: cgst_video_frame_plane(&vframe, guint(i)), toByteOffset: i * MemoryLayout<UnsafeMutablePointer<UInt8>?>.stride,
                                      as: UnsafeMutablePointer<UInt8>?.self)
                    strides.storeBytes(of: cgst_video_frame_stride(&vframe, guint(i)), toByteOffset: i * MemoryLayout<Int32>.stride, as: Int32.self)
                }
            }
        }
        pic.i_type = cgst_frame_is_force_keyframe(frame) != 0 || s.isScheduledKeyframe(UInt64(frame.pointee.pts)) ? X264_TYPE_IDR : X264_TYPE_AUTO
        if s.param.b_pic_struct != 0, let input = frame.pointee.input_buffer {
            let flags = input.pointee.mini_object.flags
            let structure = flags & GST_VIDEO_BUFFER_FLAG_INTERLACED.rawValue == 0 ? PIC_STRUCT_PROGRESSIVE
                : flags & GST_VIDEO_BUFFER_FLAG_TFF.rawValue != 0 ? PIC_STRUCT_TOP_BOTTOM : PIC_STRUCT_BOTTOM_TOP
            pic.i_pic_struct = Int32(structure.rawValue)
        }
        pic.i_pts = Int64(bitPattern: UInt64(frame.pointee.pts))
        pic.opaque = UnsafeMutableRawPointer(bitPattern: UInt(frame.pointee.system_frame_number))
        let result = s.encodeStep(&pic)
        gst_video_frame_unmap(&vframe)
        gst_buffer_replace(&frame.pointee.input_buffer, nil)
        return finish(enc, s, result)
    }

    /// Sends what x264 still holds, at end of stream or before new caps.
    private static func drain(_ enc: UnsafeMutablePointer<GstVideoEncoder>, _ s: X264State) -> GstFlowReturn {
        while let x = s.encoder, x264_encoder_delayed_frames(x) > 0 {
            let flow = finish(enc, s, s.encodeStep(nil))
            if flow != GST_FLOW_OK { return flow }
        }
        return GST_FLOW_OK
    }

    /// Pushes the picture x264 returned, if any, as the output of the frame it came from.
    private static func finish(_ enc: UnsafeMutablePointer<GstVideoEncoder>, _ s: X264State, _ r: X264State.Step) -> GstFlowReturn {
        switch r {
        case .failed(let code):
            cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The H.264 encoder failed.", "x264_encoder_encode returned \(code)")
            return GST_FLOW_ERROR
        case .none:
            return GST_FLOW_OK
        case let .picture(pic, data, size):
            return OwnVideoEncoder.push(enc, frame: Int32(truncatingIfNeeded: Int(bitPattern: pic.opaque)), data, size: size,
                                        keyframe: pic.b_keyframe != 0, dts: pic.i_dts)
        }
    }
}

/// One element instance's settings (set in NULL/READY) and encoder (streaming thread only).
private final class X264State: @unchecked Sendable {
    static func defaults() -> EncoderSettings { EncoderSettings(speedPreset: "medium", crf: 23, keyIntMax: 250) }
    let settings = X264State.defaults()
    private var firstPTS: UInt64?
    private var nextKeyframe: UInt64 = 0

    var encoder: OpaquePointer?
    var param = x264_param_t()
    var info = GstVideoInfo()

    deinit { close() }

    /// x264's colour space for the input (the sink caps allow only these two).
    var csp: Int32 { info.finfo.pointee.format == GST_VIDEO_FORMAT_NV12 ? X264_CSP_NV12 : X264_CSP_I420 }

    func close() {
        if let x = encoder { x264_encoder_close(x) }
        encoder = nil
        firstPTS = nil
    }

    /// True for the first frame at or past the next multiple of the period (half a millisecond early counts,
    /// for rounded timestamps); each period gets one keyframe however the frame rate varies.
    func isScheduledKeyframe(_ pts: UInt64) -> Bool {
        guard settings.keyframePeriodMs > 0, pts != GStreamer.clockTimeNone else { return false }
        let period = UInt64(settings.keyframePeriodMs) * 1_000_000
        let first = firstPTS ?? pts
        if firstPTS == nil { firstPTS = pts; nextKeyframe = 0 }
        let t = pts - first + 500_000
        guard t >= nextKeyframe else { return false }
        nextKeyframe = (t / period + 1) * period
        return true
    }

    /// x264's parameters for the current input, as x264enc sets them for the same properties.
    func parameters() -> x264_param_t? {
        var p = x264_param_t()
        guard x264_param_default_preset(&p, settings.speedPreset, nil) == 0 else { return nil }
        p.i_log_level = X264_LOG_ERROR
        p.i_csp = csp
        p.i_width = info.width
        p.i_height = info.height
        if info.fps_n > 0, info.fps_d > 0 {
            p.i_fps_num = UInt32(info.fps_n)
            p.i_fps_den = UInt32(info.fps_d)
        }
        p.i_timebase_num = 1                       // pts in nanoseconds, as GStreamer has them
        p.i_timebase_den = UInt32(GStreamer.second)
        // Presets deinterlace first; interlaced input reaches x264 only from a fragment, and is
        // then coded in the input's field order (per picture when the caps say mixed), as x264enc does.
        if info.interlace_mode != GST_VIDEO_INTERLACE_MODE_PROGRESSIVE {
            p.b_interlaced = 1
            p.b_tff = cgst_video_info_field_order(&info) == GST_VIDEO_FIELD_ORDER_BOTTOM_FIELD_FIRST ? 0 : 1
            if info.interlace_mode == GST_VIDEO_INTERLACE_MODE_MIXED { p.b_pic_struct = 1 }
        }
        if info.par_n > 0, info.par_d > 0 {
            p.vui.i_sar_width = info.par_n
            p.vui.i_sar_height = info.par_d
        }
        p.vui.b_fullrange = info.colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ? 1 : 0
        p.vui.i_colorprim = Int32(gst_video_color_primaries_to_iso(info.colorimetry.primaries))
        p.vui.i_transfer = Int32(gst_video_transfer_function_to_iso(info.colorimetry.transfer))
        p.vui.i_colmatrix = Int32(gst_video_color_matrix_to_iso(info.colorimetry.matrix))
        p.i_keyint_max = Int32(settings.keyIntMax)          // threads stay x264's choice (1.5 x cores)
        if settings.keyframePeriodMs > 0 {                  // only the scheduled IDRs (isScheduledKeyframe)
            p.i_keyint_max = X264_KEYINT_MAX_INFINITE
            p.i_scenecut_threshold = 0
            p.b_open_gop = 0
        }
        p.b_annexb = 1                             // see outputCaps
        p.b_repeat_headers = 1
        if settings.bitrateKbps > 0 {
            p.rc.i_rc_method = X264_RC_ABR
            p.rc.i_bitrate = Int32(settings.bitrateKbps)
            p.rc.i_vbv_max_bitrate = Int32(settings.bitrateKbps)
            p.rc.i_vbv_buffer_size = Int32(settings.bitrateKbps * 600 / 1000)
        } else {
            p.rc.i_rc_method = X264_RC_CRF
            p.rc.f_rf_constant = Float(settings.crf)
        }
        return p
    }

    enum Step {
        case none
        case picture(x264_picture_t, UnsafeMutablePointer<UInt8>, Int)
        case failed(Int32)
    }

    /// One x264_encoder_encode call (nil flushes a delayed frame). The payload stays valid until the next call.
    func encodeStep(_ pic: UnsafeMutablePointer<x264_picture_t>?) -> Step {
        guard let x = encoder else { return .none }
        var nals: UnsafeMutablePointer<x264_nal_t>?
        var count: Int32 = 0
        var out = x264_picture_t()
        let size = x264_encoder_encode(x, &nals, &count, pic, &out)
        if size < 0 { return .failed(size) }
        guard size > 0, count > 0, let data = nals?.pointee.p_payload else { return .none }
        return .picture(out, data, Int(size))
    }
}
