import CGStreamer

/// The properties the own video encoders share (speed preset, CRF or bitrate, keyframe
/// interval), set in NULL/READY and read when the encoder opens. Attached to each instance
/// under one quark, so that one pair of GObject property callbacks serves every such element.
final class EncoderSettings: @unchecked Sendable {
    var speedPreset: String
    var crf: guint
    var bitrateKbps: guint = 0
    /// 0: the library's default.
    var keyIntMax: guint
    /// With a period, keyframes fall at the same times in every encoder fed the same frames
    /// (HLS variants switch there): IDR at each multiple of it from the first frame, and no scene cuts.
    var keyframePeriodMs: guint = 0

    init(speedPreset: String, crf: guint, keyIntMax: guint) {
        self.speedPreset = speedPreset
        self.crf = crf
        self.keyIntMax = keyIntMax
    }

    private static let quark = g_quark_from_string("transcoder-encoder-settings")

    private enum Property: guint {
        case speedPreset = 1, crf, bitrate, keyIntMax, keyframePeriod
    }

    func attach(to instance: UnsafeMutableRawPointer) {
        OwnElement.attach(self, to: instance, quark: Self.quark)
    }

    private static func of(_ object: UnsafeMutableRawPointer?) -> EncoderSettings? {
        OwnElement.state(object, quark: quark, as: EncoderSettings.self)
    }

    /// Installs the properties with these defaults on an element class; `keyframePeriod` adds `keyframe-period`.
    static func install(on klass: UnsafeMutableRawPointer, library: String, defaults: EncoderSettings,
                        bitrateBlurb: String, keyframePeriod: Bool = false) {
        let objectClass = klass.assumingMemoryBound(to: GObjectClass.self)
        objectClass.pointee.set_property = { object, id, value, _ in
            guard let s = EncoderSettings.of(object), let value, let property = Property(rawValue: id) else { return }
            switch property {
            case .speedPreset: s.speedPreset = GStreamer.string(g_value_get_string(value))
            case .crf: s.crf = g_value_get_uint(value)
            case .bitrate: s.bitrateKbps = g_value_get_uint(value)
            case .keyIntMax: s.keyIntMax = g_value_get_uint(value)
            case .keyframePeriod: s.keyframePeriodMs = g_value_get_uint(value)
            }
        }
        objectClass.pointee.get_property = { object, id, value, _ in
            guard let s = EncoderSettings.of(object), let value, let property = Property(rawValue: id) else { return }
            switch property {
            case .speedPreset: g_value_set_string(value, s.speedPreset)
            case .crf: g_value_set_uint(value, s.crf)
            case .bitrate: g_value_set_uint(value, s.bitrateKbps)
            case .keyIntMax: g_value_set_uint(value, s.keyIntMax)
            case .keyframePeriod: g_value_set_uint(value, s.keyframePeriodMs)
            }
        }
        let rw = cgst_param_readwrite()
        func uint(_ name: String, _ blurb: String, _ max: guint, _ def: guint) -> UnsafeMutablePointer<GParamSpec>? {
            g_param_spec_uint(name, name, blurb, 0, max, def, rw)
        }
        var specs: [(Property, UnsafeMutablePointer<GParamSpec>?)] = [
            (.speedPreset, g_param_spec_string("speed-preset", "speed-preset", "\(library) preset name (ultrafast ... placebo)", defaults.speedPreset, rw)),
            (.crf, uint("crf", "Constant rate factor, when bitrate is 0", 51, defaults.crf)),
            (.bitrate, uint("bitrate", bitrateBlurb, 2_000_000, 0)),
            (.keyIntMax, uint("key-int-max", "Maximal distance between keyframes (0: \(library)'s default)", 10_000, defaults.keyIntMax)),
        ]
        if keyframePeriod {
            specs.append((.keyframePeriod, uint("keyframe-period", "An IDR frame at every multiple of this many ms from the first frame, and no other (0: \(library) decides)", 600_000, 0)))
        }
        for (id, spec) in specs { g_object_class_install_property(objectClass, id.rawValue, spec) }
    }
}

/// What the own video encoders (X264Element, X265Element) do alike beyond their settings.
enum OwnVideoEncoder {
    /// start, propose_allocation and transform_meta, shared by both encoders.
    static func installCommon(on klass: UnsafeMutableRawPointer) {
        let encoderClass = klass.assumingMemoryBound(to: GstVideoEncoderClass.self)
        // As x264enc: input timestamps start 1000 hours in (the base class shifts them and
        // the segment), so decode timestamps, which run ahead of the presentation times by
        // the B-frame delay, never go below zero. Shifting DTS up to meet PTS instead made
        // B-frames decode after they are shown: mp4mux then moved every picture two frames
        // late against its timestamps (SSIM 0.90 against 0.98).
        encoderClass.pointee.start = { enc in
            if let enc { gst_video_encoder_set_min_pts(enc, GstClockTime(3600 * 1000) * GstClockTime(GStreamer.second)) }
            return 1
        }
        encoderClass.pointee.propose_allocation = { enc, query in
            // Strided frames (video meta) straight from the decoder, with no copy to a packed layout.
            gst_query_add_allocation_meta(query, gst_video_meta_api_get_type(), nil)
            let base = g_type_class_peek(gst_video_encoder_get_type())?.assumingMemoryBound(to: GstVideoEncoderClass.self)
            return base?.pointee.propose_allocation?(enc, query) ?? 1
        }
        // The input buffer is gone by the time a frame is finished, so there are no metas to copy.
        encoderClass.pointee.transform_meta = nil
    }

    /// Pushes one encoded picture (`size` bytes at `data`) as the output of frame `number`.
    static func push(_ enc: UnsafeMutablePointer<GstVideoEncoder>, frame number: Int32, _ data: UnsafeMutablePointer<UInt8>, size: Int,
                     keyframe: Bool, dts: Int64) -> GstFlowReturn {
        guard let frame = gst_video_encoder_get_frame(enc, number) else { return GST_FLOW_OK }
        frame.pointee.output_buffer = gst_buffer_new_allocate(nil, gsize(size), nil)
        gst_buffer_fill(frame.pointee.output_buffer, 0, data, gsize(size))
        if keyframe { cgst_frame_set_sync_point(frame) }
        frame.pointee.dts = GstClockTime(dts >= 0 ? UInt64(dts) : GStreamer.clockTimeNone)
        return gst_video_encoder_finish_frame(enc, frame)
    }
}
