import CGStreamer
import CX265

/// The HEVC preset's encoder: a GstVideoEncoder on libx265, registered in this process as
/// `transcoderx265enc`, for the reason ``X264Element`` exists. x265enc keeps every input frame
/// mapped until x265 returns it encoded, though x265 copies each picture on entry: every frame
/// of x265's delay was held twice, and a 10 s cut of the 720p trailer peaked 11 MB above ffmpeg. This element
/// lets the input go once x265 has it. Settings are x265enc's for the preset's properties
/// (preset, CRF or ABR, keyframe interval, VUI from the caps); 8-bit 4:2:0 in.
/// Not on the fragment allowlist: a job's fragment names x265enc.
enum X265Element {
    static let factoryName = "transcoderx265enc"
    /// Byte-stream with VPS/SPS/PPS in each keyframe; the h265parse after it makes hvcC for MP4.
    private static let outputCaps = "video/x-h265, stream-format=(string)byte-stream, alignment=(string)au"

    static let registered = OwnElement.register(
        parent: gst_video_encoder_get_type(), typeName: "TranscoderX265Enc", factory: factoryName, rank: guint(GST_RANK_NONE.rawValue),
        classSize: MemoryLayout<GstVideoEncoderClass>.stride, instanceSize: MemoryLayout<GstVideoEncoder>.stride,
        classInit: { klass, _ in if let klass { X265Element.classInit(klass) } },
        instanceInit: { instance, _ in
            guard let instance else { return }
            let s = X265State()
            OwnElement.attach(s, to: UnsafeMutableRawPointer(instance), quark: X265Element.quark)
            s.settings.attach(to: UnsafeMutableRawPointer(instance))
        })

    private static let quark = g_quark_from_string("transcoder-x265-state")

    private static func state(_ object: UnsafeMutableRawPointer?) -> X265State? {
        OwnElement.state(object, quark: quark, as: X265State.self)
    }

    private static func classInit(_ klass: UnsafeMutableRawPointer) {
        EncoderSettings.install(on: klass, library: "x265", defaults: X265State.defaults(), bitrateBlurb: "Average bitrate in kbit/s (0: CRF)")
        OwnElement.describe(klass, name: "HEVC encoder (libx265)", klassName: "Codec/Encoder/Video",
                            description: "HEVC on libx265, releasing each input frame once x265 has copied it",
                            sink: "video/x-raw, format=(string)I420, width=(int)[16, 16384], height=(int)[16, 16384], framerate=(fraction)[0/1, 2147483647/1]",
                            src: outputCaps)

        let encoderClass = klass.assumingMemoryBound(to: GstVideoEncoderClass.self)
        encoderClass.pointee.set_format = { enc, input in
            guard let enc, let input, let s = X265Element.state(enc) else { return 0 }
            return X265Element.configure(enc, s, input) ? 1 : 0
        }
        encoderClass.pointee.handle_frame = { enc, frame in
            guard let enc, let frame else { return GST_FLOW_ERROR }
            guard let s = X265Element.state(enc), s.encoder != nil else {
                gst_video_codec_frame_unref(frame)
                return GST_FLOW_NOT_NEGOTIATED
            }
            return X265Element.encode(enc, s, frame)
        }
        encoderClass.pointee.finish = { enc in
            guard let enc, let s = X265Element.state(enc) else { return GST_FLOW_ERROR }
            return X265Element.drain(enc, s)
        }
        encoderClass.pointee.flush = { enc in
            guard let s = X265Element.state(enc), s.encoder != nil else { return 1 }
            s.close()
            return s.open() ? 1 : 0
        }
        encoderClass.pointee.stop = { enc in
            X265Element.state(enc)?.close()
            return 1
        }
        OwnVideoEncoder.installCommon(on: klass)
    }

    private static func configure(_ enc: UnsafeMutablePointer<GstVideoEncoder>, _ s: X265State,
                                  _ input: UnsafeMutablePointer<GstVideoCodecState>) -> Bool {
        if s.encoder != nil {
            _ = drain(enc, s)
            s.close()
        }
        s.info = input.pointee.info
        guard s.open() else {
            cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The HEVC encoder could not start.",
                                   "x265 refused preset '\(s.settings.speedPreset)' for \(s.info.width)x\(s.info.height)")
            return false
        }
        guard let caps = gst_caps_from_string(outputCaps),
              let output = gst_video_encoder_set_output_state(enc, caps, input) else { return false }
        gst_video_codec_state_unref(output)
        return true
    }

    /// Hands one frame to x265, then lets go of its input buffer: x265 has its own copy now.
    private static func encode(_ enc: UnsafeMutablePointer<GstVideoEncoder>, _ s: X265State,
                               _ frame: UnsafeMutablePointer<GstVideoCodecFrame>) -> GstFlowReturn {
        defer { gst_video_codec_frame_unref(frame) }
        var vframe = GstVideoFrame()
        guard gst_video_frame_map(&vframe, &s.info, frame.pointee.input_buffer, GST_MAP_READ) != 0 else {
            cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The HEVC encoder could not read a frame.", "gst_video_frame_map failed")
            return GST_FLOW_ERROR
        }
        var pic = x265_picture()
        x265_picture_init(s.param, &pic)
        pic.colorSpace = X265_CSP_I420
        pic.bitDepth = 8
        withUnsafeMutableBytes(of: &pic.planes) { planes in
            withUnsafeMutableBytes(of: &pic.stride) { strides in
                for i in 0..<3 {
                    planes.storeBytes(of: UnsafeMutableRawPointer(cgst_video_frame_plane(&vframe, guint(i))), toByteOffset: i * MemoryLayout<UnsafeMutableRawPointer?>.stride,
                                      as: UnsafeMutableRawPointer?.self)
                    strides.storeBytes(of: cgst_video_frame_stride(&vframe, guint(i)), toByteOffset: i * MemoryLayout<Int32>.stride, as: Int32.self)
                }
            }
        }
        pic.sliceType = cgst_frame_is_force_keyframe(frame) != 0 ? Int32(X265_TYPE_IDR) : Int32(X265_TYPE_AUTO)
        pic.pts = Int64(bitPattern: UInt64(frame.pointee.pts))
        pic.userData = UnsafeMutableRawPointer(bitPattern: UInt(frame.pointee.system_frame_number) + 1)
        let result = s.encodeStep(&pic)
        gst_video_frame_unmap(&vframe)
        gst_buffer_replace(&frame.pointee.input_buffer, nil)
        return finish(enc, s, result)
    }

    /// Sends what x265 still holds, at end of stream or before new caps.
    private static func drain(_ enc: UnsafeMutablePointer<GstVideoEncoder>, _ s: X265State) -> GstFlowReturn {
        while s.encoder != nil {
            let step = s.encodeStep(nil)
            if case .none = step { return GST_FLOW_OK }
            let flow = finish(enc, s, step)
            if flow != GST_FLOW_OK { return flow }
        }
        return GST_FLOW_OK
    }

    /// Pushes the picture x265 returned, if any, as the output of the frame it came from.
    private static func finish(_ enc: UnsafeMutablePointer<GstVideoEncoder>, _ s: X265State, _ r: X265State.Step) -> GstFlowReturn {
        switch r {
        case .failed(let code):
            cgst_post_stream_error(enc, GST_STREAM_ERROR_ENCODE, "The HEVC encoder failed.", "x265_encoder_encode returned \(code)")
            return GST_FLOW_ERROR
        case .none:
            return GST_FLOW_OK
        case let .picture(pic, data, size):
            return OwnVideoEncoder.push(enc, frame: Int32(truncatingIfNeeded: Int(bitPattern: pic.userData) - 1), data, size: size,
                                        keyframe: pic.sliceType == X265_TYPE_IDR || pic.sliceType == X265_TYPE_I, dts: pic.dts)
        }
    }
}

/// One element instance's settings (set in NULL/READY) and encoder (streaming thread only).
private final class X265State: @unchecked Sendable {
    static func defaults() -> EncoderSettings { EncoderSettings(speedPreset: "medium", crf: 28, keyIntMax: 0) }
    let settings = X265State.defaults()
    var encoder: OpaquePointer?
    var param: UnsafeMutablePointer<x265_param>?
    var info = GstVideoInfo()

    deinit { close() }

    func close() {
        if let x = encoder { x265_encoder_close(x) }
        encoder = nil
        if let p = param { x265_param_free(p) }
        param = nil
    }

    /// x265's parameters for the current input, as x265enc sets them, then the encoder.
    func open() -> Bool {
        guard let p = x265_param_alloc() else { return false }
        param = p
        guard x265_param_default_preset(p, settings.speedPreset, nil) == 0 else { return false }
        p.pointee.logLevel = X265_LOG_ERROR
        p.pointee.internalCsp = X265_CSP_I420
        p.pointee.sourceWidth = info.width
        p.pointee.sourceHeight = info.height
        if info.fps_n > 0, info.fps_d > 0 {
            p.pointee.fpsNum = UInt32(info.fps_n)
            p.pointee.fpsDenom = UInt32(info.fps_d)
        }
        if info.width < 64 || info.height < 64 { p.pointee.maxCUSize = 32 }   // a CU must fit the picture
        if info.width < 32 || info.height < 32 { p.pointee.maxCUSize = 16 }
        if info.par_n > 0, info.par_d > 0 {
            p.pointee.vui.aspectRatioIdc = X265_EXTENDED_SAR
            p.pointee.vui.sarWidth = info.par_n
            p.pointee.vui.sarHeight = info.par_d
        }
        p.pointee.vui.bEnableVideoSignalTypePresentFlag = 1
        p.pointee.vui.videoFormat = 5   // unspecified
        p.pointee.vui.bEnableVideoFullRangeFlag = info.colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ? 1 : 0
        p.pointee.vui.bEnableColorDescriptionPresentFlag = 1
        p.pointee.vui.matrixCoeffs = Int32(gst_video_color_matrix_to_iso(info.colorimetry.matrix))
        p.pointee.vui.colorPrimaries = Int32(gst_video_color_primaries_to_iso(info.colorimetry.primaries))
        p.pointee.vui.transferCharacteristics = Int32(gst_video_transfer_function_to_iso(info.colorimetry.transfer))
        if settings.keyIntMax > 0 { p.pointee.keyframeMax = Int32(settings.keyIntMax) }
        p.pointee.bRepeatHeaders = 1   // see outputCaps
        p.pointee.bAnnexB = 1
        if settings.bitrateKbps > 0 {
            p.pointee.rc.rateControlMode = Int32(X265_RC_ABR.rawValue)
            p.pointee.rc.bitrate = Int32(settings.bitrateKbps)
        } else {
            guard x265_param_parse(p, "crf", String(settings.crf)) == 0 else { return false }
        }
        encoder = cx265_encoder_open(p)
        return encoder != nil
    }

    enum Step {
        case none
        case picture(x265_picture, UnsafeMutablePointer<UInt8>, Int)
        case failed(Int32)
    }

    /// One x265_encoder_encode call (nil flushes a delayed frame). x265 lays its NALs out one
    /// after another, so the first payload spans them all; it stays valid until the next call.
    func encodeStep(_ pic: UnsafeMutablePointer<x265_picture>?) -> Step {
        guard let x = encoder, let p = param else { return .none }
        var nals: UnsafeMutablePointer<x265_nal>?
        var count: UInt32 = 0
        var out = x265_picture()
        x265_picture_init(p, &out)
        let got = x265_encoder_encode(x, &nals, &count, pic, &out)
        if got < 0 { return .failed(got) }
        guard got > 0, count > 0, let nals, let data = nals.pointee.payload else { return .none }
        let size = (0..<Int(count)).reduce(0) { $0 + Int(nals[$1].sizeBytes) }
        return .picture(out, data, size)
    }
}
