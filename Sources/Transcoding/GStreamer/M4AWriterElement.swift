import CGStreamer
import Glibc

/// The MP4 writer of audio-only AAC jobs, `transcoderm4asink`: a GstBaseSink that appends each
/// AAC frame to the file in the encoder's own thread and writes the sample tables at the end.
/// It exists for CPU: mp4mux is a GstAggregator with a thread of its own, and every frame
/// crossed to it and back (13 600 context switches on 5.5 min of sound, 0.2-1.5 CPU-s of a
/// 5 s job on this 2-core VM; no mp4mux property or batching removed them). Layout: ftyp,
/// mdat, moov (as mp4mux writes without faststart), all frames in one chunk, and the encoder's
/// priming as an edit list, as ffmpeg writes it (mp4mux played the priming).
enum M4AWriterElement {
    static let factoryName = "transcoderm4asink"

    static let registered = OwnElement.register(
        parent: gst_base_sink_get_type(), typeName: "TranscoderM4ASink", factory: factoryName, rank: guint(GST_RANK_NONE.rawValue),
        classSize: MemoryLayout<GstBaseSinkClass>.stride, instanceSize: MemoryLayout<GstBaseSink>.stride,
        classInit: { klass, _ in if let klass { M4AWriterElement.classInit(klass) } },
        instanceInit: { instance, _ in
            guard let instance else { return }
            let raw = UnsafeMutableRawPointer(instance)
            OwnElement.attach(WriterState(), to: raw, quark: M4AWriterElement.quark)
            let sink = raw.assumingMemoryBound(to: GstBaseSink.self)
            gst_base_sink_set_sync(sink, 0)
            gst_base_sink_set_async_enabled(sink, 0)
        })

    private static let quark = g_quark_from_string("transcoder-m4asink-state")
    private enum Property: guint { case location = 1 }
    nonisolated(unsafe) private static var parentClass: UnsafeMutablePointer<GstBaseSinkClass>?

    private static func state(_ object: UnsafeMutableRawPointer?) -> WriterState? {
        OwnElement.state(object, quark: quark, as: WriterState.self)
    }

    private static func classInit(_ klass: UnsafeMutableRawPointer) {
        parentClass = g_type_class_peek_parent(klass)?.assumingMemoryBound(to: GstBaseSinkClass.self)
        let objectClass = klass.assumingMemoryBound(to: GObjectClass.self)
        objectClass.pointee.set_property = { object, id, value, _ in
            guard let s = M4AWriterElement.state(object), let value, id == Property.location.rawValue else { return }
            s.location = GStreamer.string(g_value_get_string(value))
        }
        objectClass.pointee.get_property = { object, id, value, _ in
            guard let s = M4AWriterElement.state(object), let value, id == Property.location.rawValue else { return }
            g_value_set_string(value, s.location)
        }
        g_object_class_install_property(objectClass, Property.location.rawValue,
                                        g_param_spec_string("location", "location", "File to write", nil, cgst_param_readwrite()))
        let template = "audio/mpeg, mpegversion=(int)4, stream-format=(string)raw, framed=(boolean)true"
        let elementClass = klass.assumingMemoryBound(to: GstElementClass.self)
        gst_element_class_set_metadata(elementClass, "MP4 audio writer", "Sink/File",
                                       "Writes one AAC stream as an MP4 file, in the upstream thread", "transcoder")
        if let caps = gst_caps_from_string(template) {
            gst_element_class_add_pad_template(elementClass, gst_pad_template_new("sink", GST_PAD_SINK, GST_PAD_ALWAYS, caps))
            GStreamer.unrefCaps(caps)
        }

        let sinkClass = klass.assumingMemoryBound(to: GstBaseSinkClass.self)
        sinkClass.pointee.start = { sink in
            guard let sink, let s = M4AWriterElement.state(sink) else { return 0 }
            guard s.open() else {
                cgst_post_resource_error(sink, GST_RESOURCE_ERROR_OPEN_WRITE, "The output file could not be opened.", "open: errno \(errno)")
                return 0
            }
            return 1
        }
        sinkClass.pointee.stop = { sink in
            M4AWriterElement.state(sink)?.close()
            return 1
        }
        sinkClass.pointee.set_caps = { sink, caps in
            guard let sink, let caps, let s = M4AWriterElement.state(sink) else { return 0 }
            return s.movie.configure(caps) ? 1 : 0
        }
        sinkClass.pointee.render = { sink, buffer in
            guard let sink, let buffer, let s = M4AWriterElement.state(sink) else { return GST_FLOW_ERROR }
            guard s.append(buffer) else {
                cgst_post_resource_error(sink, GST_RESOURCE_ERROR_WRITE, "The output file could not be written.", "write: errno \(errno)")
                return GST_FLOW_ERROR
            }
            return GST_FLOW_OK
        }
        sinkClass.pointee.event = { sink, event in
            guard let sink, let event else { return 0 }
            // The file is whole before the end of stream reaches the application.
            if cgst_event_type(event) == GST_EVENT_EOS, let s = M4AWriterElement.state(sink), !s.finish() {
                cgst_post_resource_error(sink, GST_RESOURCE_ERROR_WRITE, "The output file could not be written.", "finish: errno \(errno)")
                gst_event_unref(event)
                return 0
            }
            return M4AWriterElement.parentClass?.pointee.event?(sink, event) ?? 0
        }
    }
}

/// One instance's open file and sample table (streaming thread only, but for start and stop).
private final class WriterState: @unchecked Sendable {
    var location = ""
    var movie = M4AMovie()
    private var fd: Int32 = -1
    /// Bytes not yet written: AAC frames are a few hundred bytes, so one write per frame
    /// would be a system call every 23 ms of sound. As filesink, 64 KB at a time.
    private var pending: [UInt8] = []
    private static let flushSize = 64 * 1024

    deinit { close() }

    func open() -> Bool {
        close()
        movie = M4AMovie(format: movie.format)
        fd = Glibc.open(location, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        pending = M4AMovie.header
        pending.reserveCapacity(Self.flushSize + 4096)
        return fd >= 0
    }

    func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    func append(_ buffer: UnsafeMutablePointer<GstBuffer>) -> Bool {
        var map = GstMapInfo()
        guard gst_buffer_map(buffer, &map, GST_MAP_READ) != 0 else { return false }
        defer { gst_buffer_unmap(buffer, &map) }
        pending.append(contentsOf: UnsafeRawBufferPointer(start: map.data, count: Int(map.size)))
        var clip: (start: UInt64, end: UInt64)?
        if let meta = cgst_buffer_audio_clipping_meta(buffer), meta.pointee.format == GST_FORMAT_DEFAULT {
            clip = (UInt64(meta.pointee.start), UInt64(meta.pointee.end))
        }
        movie.add(size: UInt32(map.size), duration: UInt64(buffer.pointee.duration), clipping: clip)
        return pending.count < Self.flushSize || flush()
    }

    /// Writes the sample tables and the media data's size; false on a write error.
    func finish() -> Bool {
        guard fd >= 0 else { return false }
        let mdat = M4AMovie.mdatHeader(dataSize: movie.dataSize)
        pending += movie.moov()
        guard flush() else { return false }
        let patched = mdat.bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(mdat.position)) == $0.count }
        close()
        return patched
    }

    private func flush() -> Bool {
        let written = pending.withUnsafeBytes { bytes -> Bool in
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        pending.removeAll(keepingCapacity: true)
        return written
    }
}
