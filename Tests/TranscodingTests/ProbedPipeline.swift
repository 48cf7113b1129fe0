import CGStreamer
import Testing
@testable import Transcoding

/// Plays a gst-launch description to its end with a buffer probe on one element's pad. `data`
/// reaches the probe as its user data and stays alive until the pipeline is gone.
enum ProbedPipeline {
    static func play(_ launch: String, element: String, pad: String, data: AnyObject, probe: GstPadProbeCallback) throws {
        GStreamer.ensureInitialized()
        let opaque = Unmanaged.passRetained(data).toOpaque()
        defer { Unmanaged<AnyObject>.fromOpaque(opaque).release() }
        var error: UnsafeMutablePointer<GError>?
        let pipeline = try #require(gst_parse_launch(launch, &error), "\(launch)")
        defer {
            gst_element_set_state(pipeline, GST_STATE_NULL)
            gst_object_unref(UnsafeMutableRawPointer(pipeline))
        }
        let target = try #require(gst_bin_get_by_name(cgst_bin(UnsafeMutableRawPointer(pipeline)), element))
        let targetPad = try #require(gst_element_get_static_pad(target, pad))
        _ = gst_pad_add_probe(targetPad, cgst_probe_buffer(), probe, opaque, nil)
        gst_object_unref(UnsafeMutableRawPointer(targetPad))
        gst_object_unref(UnsafeMutableRawPointer(target))
        #expect(try X264ElementTests.play(pipeline) == GST_MESSAGE_EOS, "pipeline failed: \(launch)")
    }

    /// What a buffer probe on a raw video pad sees, mapped for reading: the buffer, its caps,
    /// video info and frame. `body` does not run when the pad has no caps or the buffer does not map.
    static func withFrame(_ pad: UnsafeMutablePointer<GstPad>?, _ info: UnsafeMutablePointer<GstPadProbeInfo>?,
                          _ body: (UnsafeMutablePointer<GstBuffer>, UnsafeMutablePointer<GstCaps>, inout GstVideoInfo, inout GstVideoFrame) -> Void) {
        guard let pad, let info, let buffer = info.pointee.data?.assumingMemoryBound(to: GstBuffer.self),
              let caps = gst_pad_get_current_caps(pad) else { return }
        defer { GStreamer.unrefCaps(caps) }
        var videoInfo = GstVideoInfo()
        var frame = GstVideoFrame()
        guard gst_video_info_from_caps(&videoInfo, caps) != 0,
              gst_video_frame_map(&frame, &videoInfo, buffer, GST_MAP_READ) != 0 else { return }
        defer { gst_video_frame_unmap(&frame) }
        body(buffer, caps, &videoInfo, &frame)
    }
}
