import CGStreamer

/// Owns one strong reference to a GstObject and drops it on deinit.
///
/// `@unchecked Sendable` is safe because GstObject reference counting is atomic and the
/// engine only touches an object's state from the one thread that runs its job (or, before a
/// job starts, from the thread that built it).
final class ObjectHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer

    /// Adopts a full (non-floating) reference.
    init(owning raw: UnsafeMutableRawPointer) { self.raw = raw }

    /// Adds a reference of its own.
    init(retaining raw: UnsafeMutableRawPointer) {
        gst_object_ref(raw)
        self.raw = raw
    }

    deinit { gst_object_unref(raw) }

    var element: UnsafeMutablePointer<GstElement> { raw.assumingMemoryBound(to: GstElement.self) }
    var bin: UnsafeMutablePointer<GstBin> { raw.assumingMemoryBound(to: GstBin.self) }
    var pad: UnsafeMutablePointer<GstPad> { raw.assumingMemoryBound(to: GstPad.self) }
    var name: String { GStreamer.objectName(raw) }
}
