import CGStreamer

/// The deinterlacer every video preset puts first when the probe says the input is interlaced:
/// gst-plugins-good's `deinterlace` with `method=greedyh` (motion adaptive; on a moving 1080i
/// clip SSIM 0.98605 against the progressive source, ffmpeg's yadif 0.98608) and `mode=auto`,
/// so progressive pictures in a mixed stream pass through. One frame per frame (`fields=top`
/// or `bottom`), as ffmpeg's yadif does by default.
///
/// GStreamer 1.22 stamps the first output of `fields=top|bottom` with the second picture's
/// timestamp (a repeated PTS that mp4mux refuses) unless the kept field is the one that comes
/// first, and yadif repeats timestamps in either order. The order is known only once decoded,
/// from the decoder's caps (`field-order`) or the first interlaced buffer, so a probe on the
/// deinterlacer's sink sets `fields` before that buffer is processed.
enum Deinterlacer {
    static let spec = ElementSpec("deinterlace", [("method", "greedyh"), ("mode", "auto"), ("fields", "top")])

    static func followFieldOrder(of deinterlace: UnsafeMutablePointer<GstElement>) {
        guard let pad = gst_element_get_static_pad(deinterlace, "sink") else { return }
        defer { gst_object_unref(UnsafeMutableRawPointer(pad)) }
        let types = GstPadProbeType(GST_PAD_PROBE_TYPE_BUFFER.rawValue | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM.rawValue)
        let probe: GstPadProbeCallback = { pad, info, _ in
            guard let pad, let info, let data = info.pointee.data,
                  let element = gst_pad_get_parent_element(pad) else { return GST_PAD_PROBE_OK }
            defer { gst_object_unref(UnsafeMutableRawPointer(element)) }
            if info.pointee.type.rawValue & GST_PAD_PROBE_TYPE_BUFFER.rawValue != 0 {
                let flags = data.assumingMemoryBound(to: GstBuffer.self).pointee.mini_object.flags
                guard flags & GST_VIDEO_BUFFER_FLAG_INTERLACED.rawValue != 0 else { return GST_PAD_PROBE_OK }
                GStreamer.set(element, "fields", flags & GST_VIDEO_BUFFER_FLAG_TFF.rawValue != 0 ? "top" : "bottom")
                return GST_PAD_PROBE_REMOVE
            }
            let event = data.assumingMemoryBound(to: GstEvent.self)
            guard event.pointee.type == GST_EVENT_CAPS else { return GST_PAD_PROBE_OK }
            var caps: UnsafeMutablePointer<GstCaps>?
            gst_event_parse_caps(event, &caps)
            if let caps, let s = gst_caps_get_structure(caps, 0), let order = gst_structure_get_string(s, "field-order") {
                GStreamer.set(element, "fields", String(cString: order) == "bottom-field-first" ? "bottom" : "top")
                return GST_PAD_PROBE_REMOVE   // interleaved caps: every buffer has this order
            }
            return GST_PAD_PROBE_OK
        }
        _ = gst_pad_add_probe(pad, types, probe, nil, nil)
    }
}
