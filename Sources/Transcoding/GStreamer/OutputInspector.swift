import CGStreamer
import Logging
import Synchronization

/// Reads back what a finished output holds without decoding it: `typefind` names the
/// container, `parsebin` exposes each stream's parsed caps, and a duration query after
/// preroll gives the length. The same facts GstDiscoverer reports for the check in
/// ``TranscodingEngine/verify(_:input:plan:inputWarnings:)``, without plugging decoders.
/// Blocking: call from a dedicated thread.
enum OutputInspector {
    static func inspect(path: String, timeout: Duration, logger: Logger) throws(TranscodeError) -> MediaInfo {
        GStreamer.ensureInitialized()
        let unreadable = TranscodeError(.encoderFailure, "The encoder produced an unreadable file.")
        guard let raw = gst_pipeline_new("inspect") else { throw unreadable }
        gst_object_ref_sink(UnsafeMutableRawPointer(raw))
        let pipeline = ObjectHandle(owning: UnsafeMutableRawPointer(raw))
        guard let src = GStreamer.make(ElementSpec("filesrc", [("location", path)])),
              let parse = GStreamer.make(ElementSpec("parsebin")) else { throw unreadable }
        for e in [src, parse] { gst_bin_add(pipeline.bin, e) }
        guard gst_element_link(src, parse) != 0 else { throw unreadable }
        let sinks = StreamSinks()
        sinks.attach(to: parse)

        guard let bus = gst_element_get_bus(pipeline.element) else { throw unreadable }
        defer {
            _ = gst_element_set_state(pipeline.element, GST_STATE_NULL)
            gst_object_unref(UnsafeMutableRawPointer(bus))
        }
        _ = gst_element_set_state(pipeline.element, GST_STATE_PAUSED)
        let mask = GST_MESSAGE_ASYNC_DONE.rawValue | GST_MESSAGE_ERROR.rawValue
        let ns = GstClockTime(UInt64(timeout.components.seconds) * GStreamer.second + UInt64(timeout.components.attoseconds / 1_000_000_000))
        guard let message = gst_bus_timed_pop_filtered(bus, ns, GstMessageType(rawValue: mask)) else {
            logger.error("output inspection timed out")
            throw unreadable
        }
        defer { gst_mini_object_unref(UnsafeMutableRawPointer(message).assumingMemoryBound(to: GstMiniObject.self)) }
        if cgst_message_type(message) == GST_MESSAGE_ERROR {
            var error: UnsafeMutablePointer<GError>?
            var debug: UnsafeMutablePointer<gchar>?
            gst_message_parse_error(message, &error, &debug)
            logger.error("output inspection failed", metadata: ["gst.message": "\(GStreamer.string(error?.pointee.message))",
                                                               "gst.debug": "\(GStreamer.take(debug))"])
            if let error { g_error_free(error) }
            throw unreadable
        }
        // parsebin's own typefind keeps what it found (its pad's caps are cleared in pull mode).
        var container = ""
        if let find = gst_bin_get_by_name(UnsafeMutableRawPointer(parse).assumingMemoryBound(to: GstBin.self), "typefind") {
            if let caps = cgst_property_caps(UnsafeMutableRawPointer(find).assumingMemoryBound(to: GObject.self), "caps") {
                container = GStreamer.mediaTypes(caps).first ?? ""
                GStreamer.unrefCaps(caps)
            }
            gst_object_unref(UnsafeMutableRawPointer(find))
        }
        var nanoseconds: gint64 = -1
        let duration = gst_element_query_duration(pipeline.element, GST_FORMAT_TIME, &nanoseconds) != 0 && nanoseconds > 0
            ? Double(nanoseconds) / Double(GStreamer.second) : 0
        let found = streams(of: parse)
        let video = found.first { $0.kind == .video }
        return MediaInfo(container: container, duration: duration, streams: found, width: video?.width,
                         height: video?.height, frameRate: video?.frameRate, bitRate: nil)
    }

    /// Streams from parsebin's pads, read after preroll: at pad-added some parsers' caps are not yet fixed.
    private static func streams(of parsebin: UnsafeMutablePointer<GstElement>) -> [MediaInfo.Stream] {
        var found: [MediaInfo.Stream] = []
        let it = gst_element_iterate_src_pads(parsebin)
        defer { gst_iterator_free(it) }
        while let pad = cgst_iterator_next_pad(it) {
            defer { gst_object_unref(UnsafeMutableRawPointer(pad)) }
            guard let caps = gst_pad_get_current_caps(pad) else { continue }
            defer { GStreamer.unrefCaps(caps) }
            let type = GStreamer.mediaTypes(caps).first ?? ""
            var stream = MediaInfo.Stream(kind: type.hasPrefix("video/") ? .video : type.hasPrefix("audio/") ? .audio : .other,
                                          codec: GStreamer.take(gst_pb_utils_get_codec_description(caps)), mediaType: type)
            if stream.codec.isEmpty { stream.codec = type }
            if let s = gst_caps_get_structure(caps, 0) {
                var w: gint = 0, h: gint = 0, num: gint = 0, den: gint = 0, channels: gint = 0, rate: gint = 0
                if gst_structure_get_int(s, "width", &w) != 0 { stream.width = Int(w) }
                if gst_structure_get_int(s, "height", &h) != 0 { stream.height = Int(h) }
                if gst_structure_get_fraction(s, "framerate", &num, &den) != 0, den > 0 { stream.frameRate = Double(num) / Double(den) }
                if gst_structure_get_int(s, "channels", &channels) != 0 { stream.channels = Int(channels) }
                if gst_structure_get_int(s, "rate", &rate) != 0 { stream.sampleRate = Int(rate) }
            }
            found.append(stream)
        }
        return found
    }
}

/// Gives each stream parsebin exposes a queue and a fakesink, so the pipeline prerolls.
private final class StreamSinks: Sendable {
    /// The sink goes into parsebin's parent: holding the pipeline here would make a cycle through the signal.
    fileprivate func padAdded(_ pad: UnsafeMutablePointer<GstPad>, of parsebin: UnsafeMutablePointer<GstElement>) {
        guard let parent = gst_object_get_parent(UnsafeMutableRawPointer(parsebin).assumingMemoryBound(to: GstObject.self)) else { return }
        defer { gst_object_unref(UnsafeMutableRawPointer(parent)) }
        // A queue per stream, as GstDiscoverer does: parsebin has no multiqueue, so one prerolled
        // sink would otherwise block the demuxer before the other streams reach theirs.
        guard let queue = GStreamer.make(ElementSpec("queue")),
              let sink = GStreamer.make(ElementSpec("fakesink", [("sync", "false")])) else { return }
        let bin = UnsafeMutableRawPointer(parent).assumingMemoryBound(to: GstBin.self)
        gst_bin_add(bin, queue)
        gst_bin_add(bin, sink)
        _ = gst_element_link(queue, sink)
        _ = gst_element_sync_state_with_parent(sink)
        _ = gst_element_sync_state_with_parent(queue)
        if let queuePad = gst_element_get_static_pad(queue, "sink") {
            _ = gst_pad_link(pad, queuePad)
            gst_object_unref(UnsafeMutableRawPointer(queuePad))
        }
    }

    /// parsebin holds the reference it is given until it is finalized.
    func attach(to parsebin: UnsafeMutablePointer<GstElement>) {
        let padAdded: @convention(c) (UnsafeMutablePointer<GstElement>?, UnsafeMutablePointer<GstPad>?, gpointer?) -> Void = { element, pad, data in
            guard let element, let pad, let data else { return }
            Unmanaged<StreamSinks>.fromOpaque(data).takeUnretainedValue().padAdded(pad, of: element)
        }
        let release: @convention(c) (gpointer?, UnsafeMutablePointer<GClosure>?) -> Void = { data, _ in
            guard let data else { return }
            Unmanaged<StreamSinks>.fromOpaque(data).release()
        }
        _ = cgst_connect(parsebin, "pad-added", unsafeBitCast(padAdded, to: GCallback.self),
                         Unmanaged.passRetained(self).toOpaque(), release)
    }
}
