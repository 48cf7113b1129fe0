import CGStreamer
import Synchronization

/// Links decodebin's (or parsebin's) pads to the prepared branches as they appear (first video, first audio),
/// and ends a branch whose stream never shows up so the muxer does not wait forever.
final class PadLinker: Sendable {
    private struct State {
        var video: ObjectHandle?
        var audio: ObjectHandle?
    }
    private let state: Mutex<State>
    private let decodesVideo: Bool
    /// Links parsebin's encoded streams (`audio/mpeg`, ...) rather than decodebin's raw ones.
    private let encoded: Bool

    init(video: ObjectHandle?, audio: ObjectHandle?, encoded: Bool = false) {
        state = Mutex(State(video: video, audio: audio))
        decodesVideo = video != nil && !encoded
        self.encoded = encoded
    }

    /// An audio-only job leaves video encoded: decodebin would otherwise decode every picture
    /// to throw it away (on the trailer that was most of an audio-only job's CPU time).
    /// A linker of encoded streams on decodebin (the split) stops before every decoder.
    fileprivate func select(_ factory: OpaquePointer) -> Int32 {
        guard !decodesVideo else { return 0 }   // GST_AUTOPLUG_SELECT_TRY
        let klass = GStreamer.string(gst_element_factory_get_metadata(factory, GST_ELEMENT_METADATA_KLASS))
        return klass.contains("Decoder") && (encoded || klass.contains("Video")) ? 1 : 0   // 1: _EXPOSE
    }

    fileprivate func padAdded(_ pad: UnsafeMutablePointer<GstPad>) {
        guard let caps = gst_pad_get_current_caps(pad) ?? gst_pad_query_caps(pad, nil) else { return }
        let type = GStreamer.mediaTypes(caps).first ?? ""
        GStreamer.unrefCaps(caps)
        let target: ObjectHandle? = state.withLock { s in
            if type.hasPrefix(encoded ? "video/" : "video/x-raw"), let v = s.video { s.video = nil; return v }
            if type.hasPrefix(encoded ? "audio/" : "audio/x-raw"), let a = s.audio { s.audio = nil; return a }
            return nil
        }
        if let target { _ = gst_pad_link(pad, target.pad) }
    }

    fileprivate func noMorePads() {
        let left = state.withLock { s -> [ObjectHandle] in
            defer { s.video = nil; s.audio = nil }
            return [s.video, s.audio].compactMap { $0 }
        }
        for pad in left { _ = gst_pad_send_event(pad.pad, gst_event_new_eos()) }
    }

    /// Connects the signals; decodebin keeps the linker alive until it is finalized.
    func attach(to decodebin: UnsafeMutablePointer<GstElement>) {
        let padAdded: @convention(c) (UnsafeMutablePointer<GstElement>?, UnsafeMutablePointer<GstPad>?, gpointer?) -> Void = { _, pad, data in
            guard let pad, let data else { return }
            Unmanaged<PadLinker>.fromOpaque(data).takeUnretainedValue().padAdded(pad)
        }
        let noMore: @convention(c) (UnsafeMutablePointer<GstElement>?, gpointer?) -> Void = { _, data in
            guard let data else { return }
            Unmanaged<PadLinker>.fromOpaque(data).takeUnretainedValue().noMorePads()
        }
        let release: @convention(c) (gpointer?, UnsafeMutablePointer<GClosure>?) -> Void = { data, _ in
            guard let data else { return }
            Unmanaged<PadLinker>.fromOpaque(data).release()
        }
        _ = cgst_connect(decodebin, "pad-added", unsafeBitCast(padAdded, to: GCallback.self),
                         Unmanaged.passRetained(self).toOpaque(), release)
        let select: @convention(c) (UnsafeMutablePointer<GstElement>?, UnsafeMutablePointer<GstPad>?, UnsafeMutablePointer<GstCaps>?,
                                    OpaquePointer?, gpointer?) -> Int32 = { _, _, _, factory, data in
            guard let factory, let data else { return 0 }
            return Unmanaged<PadLinker>.fromOpaque(data).takeUnretainedValue().select(factory)
        }
        _ = cgst_connect(decodebin, "autoplug-select", unsafeBitCast(select, to: GCallback.self),
                         Unmanaged.passRetained(self).toOpaque(), release)
        _ = cgst_connect(decodebin, "no-more-pads", unsafeBitCast(noMore, to: GCallback.self),
                         Unmanaged.passRetained(self).toOpaque(), release)
    }
}
