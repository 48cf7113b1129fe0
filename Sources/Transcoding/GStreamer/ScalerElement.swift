import CAVCodec
import CGStreamer

/// The presets' scaler, `transcoderscale`: a GstVideoFilter on libswscale's bicubic, which is
/// what ffmpeg's `scale` filter runs. It exists for CPU: videoconvertscale's default 4-tap
/// scaler cost 1.58 CPU-s over decoding for 600 frames of 1080p to 720p, swscale 1.30.
/// Only the size changes; format, colorimetry and the rest stay, and a `videoconvert` after it
/// converts where the encoder needs another format (on the smaller picture). Formats swscale
/// does not know here, and interlaced pictures, are scaled by GStreamer's own converter, as
/// videoconvertscale would. Registered with rank none: only the pipeline builder uses it.
enum ScalerElement {
    static let factoryName = "transcoderscale"

    static let registered = OwnElement.register(
        parent: gst_video_filter_get_type(), typeName: "TranscoderScale", factory: factoryName, rank: guint(GST_RANK_NONE.rawValue),
        classSize: MemoryLayout<GstVideoFilterClass>.stride, instanceSize: MemoryLayout<GstVideoFilter>.stride,
        classInit: { klass, _ in if let klass { ScalerElement.classInit(klass) } },
        instanceInit: { instance, _ in
            guard let instance else { return }
            OwnElement.attach(ScalerState(), to: UnsafeMutableRawPointer(instance), quark: ScalerElement.quark)
        })

    private static let quark = g_quark_from_string("transcoder-scale-state")

    private static func state(_ object: UnsafeMutableRawPointer?) -> ScalerState? {
        OwnElement.state(object, quark: quark, as: ScalerState.self)
    }

    private static func classInit(_ klass: UnsafeMutableRawPointer) {
        let caps = GStreamer.string(cgst_scaler_caps())
        OwnElement.describe(klass, name: "Video scaler (libswscale)", klassName: "Filter/Converter/Video/Scaler",
                            description: "Resizes video with libswscale's bicubic, keeping its format", sink: caps, src: caps)
        let transformClass = klass.assumingMemoryBound(to: GstBaseTransformClass.self)
        transformClass.pointee.passthrough_on_same_caps = 1
        transformClass.pointee.transform_caps = { _, _, caps, filter in
            guard let caps else { return nil }
            return cgst_scaler_transform_caps(caps, filter)
        }
        transformClass.pointee.fixate_caps = { _, direction, caps, othercaps in
            guard let caps, let othercaps else { return othercaps }
            return cgst_scaler_fixate_caps(direction, caps, othercaps)
        }
        let filterClass = klass.assumingMemoryBound(to: GstVideoFilterClass.self)
        filterClass.pointee.set_info = { filter, _, inInfo, _, outInfo in
            guard let filter, let inInfo, let outInfo, let s = ScalerElement.state(filter) else { return 0 }
            let sameSize = inInfo.pointee.width == outInfo.pointee.width && inInfo.pointee.height == outInfo.pointee.height
            // Caps that differ only in pixel aspect ratio need no pixels touched.
            gst_base_transform_set_passthrough(UnsafeMutableRawPointer(filter).assumingMemoryBound(to: GstBaseTransform.self), sameSize ? 1 : 0)
            return s.configure(inInfo, outInfo, passthrough: sameSize) ? 1 : 0
        }
        filterClass.pointee.transform_frame = { filter, input, output in
            guard let filter, let input, let output, let s = ScalerElement.state(filter) else { return GST_FLOW_ERROR }
            return s.scale(input, into: output) ? GST_FLOW_OK : GST_FLOW_ERROR
        }
    }

    /// libswscale's pixel format for a GStreamer format, where they lay out planes the same way.
    static func pixelFormat(_ format: GstVideoFormat) -> AVPixelFormat? {
        switch format {
        case GST_VIDEO_FORMAT_I420: AV_PIX_FMT_YUV420P
        case GST_VIDEO_FORMAT_Y42B: AV_PIX_FMT_YUV422P
        case GST_VIDEO_FORMAT_Y444: AV_PIX_FMT_YUV444P
        case GST_VIDEO_FORMAT_NV12: AV_PIX_FMT_NV12
        case GST_VIDEO_FORMAT_I420_10LE: AV_PIX_FMT_YUV420P10LE
        case GST_VIDEO_FORMAT_I422_10LE: AV_PIX_FMT_YUV422P10LE
        case GST_VIDEO_FORMAT_Y444_10LE: AV_PIX_FMT_YUV444P10LE
        case GST_VIDEO_FORMAT_P010_10LE: AV_PIX_FMT_P010LE
        case GST_VIDEO_FORMAT_GRAY8: AV_PIX_FMT_GRAY8
        default: nil
        }
    }
}

/// One instance's scaler for the negotiated sizes (streaming thread only).
private final class ScalerState: @unchecked Sendable {
    private var sws: OpaquePointer?
    private var converter: OpaquePointer?
    /// Plane pointers and strides for sws_scale, filled per frame (kept: no allocation per frame).
    private var source = [UnsafePointer<UInt8>?](repeating: nil, count: 4)
    private var sourceStride = [Int32](repeating: 0, count: 4)
    private var target = [UnsafeMutablePointer<UInt8>?](repeating: nil, count: 4)
    private var targetStride = [Int32](repeating: 0, count: 4)

    deinit { reset() }

    private func reset() {
        if let sws { sws_freeContext(sws) }
        if let converter { gst_video_converter_free(converter) }
        sws = nil
        converter = nil
    }

    func configure(_ input: UnsafeMutablePointer<GstVideoInfo>, _ output: UnsafeMutablePointer<GstVideoInfo>, passthrough: Bool) -> Bool {
        reset()
        if passthrough { return true }
        let format = input.pointee.finfo.pointee.format
        if input.pointee.interlace_mode == GST_VIDEO_INTERLACE_MODE_PROGRESSIVE, let pixels = ScalerElement.pixelFormat(format) {
            // SWS_BICUBIC: ffmpeg's command line passes flags=bicubic to every scale filter.
            sws = sws_getContext(input.pointee.width, input.pointee.height, pixels,
                                 output.pointee.width, output.pointee.height, pixels, SWS_BICUBIC, nil, nil, nil)
            return sws != nil
        }
        converter = gst_video_converter_new(input, output, nil)
        return converter != nil
    }

    func scale(_ input: UnsafeMutablePointer<GstVideoFrame>, into output: UnsafeMutablePointer<GstVideoFrame>) -> Bool {
        if let converter {
            gst_video_converter_frame(converter, input, output)
            return true
        }
        guard let sws else { return false }
        for p in 0..<Int(cgst_video_info_n_planes(&input.pointee.info)) {
            source[p] = UnsafePointer(cgst_video_frame_plane(input, guint(p)))
            sourceStride[p] = cgst_video_frame_stride(input, guint(p))
            target[p] = cgst_video_frame_plane(output, guint(p))
            targetStride[p] = cgst_video_frame_stride(output, guint(p))
        }
        let rows = sws_scale(sws, source, sourceStride, 0, input.pointee.info.height, target, targetStride)
        return rows == output.pointee.info.height
    }
}
