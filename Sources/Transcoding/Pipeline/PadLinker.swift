import CGStreamer
import Synchronization

/// Links decodebin's pads to the prepared branches as they appear (first video, first audio),
/// and ends a branch whose stream never shows up so the muxer does not wait forever.
final class PadLinker: Sendable {
    private struct State {
        var video: ObjectHandle?
        var audio: ObjectHandle?
    }
    private let state: Mutex<State>

    init(video: ObjectHandle?, audio: ObjectHandle?) {
        state = Mutex(State(video: video, audio: audio))
    }

    fileprivate func padAdded(_ pad: UnsafeMutablePointer<GstPad>) {
        guard let caps = gst_pad_get_current_caps(pad) ?? gst_pad_query_caps(pad, nil) else { return }
        let type = GStreamer.mediaTypes(caps).first ?? ""
        GStreamer.unrefCaps(caps)
        let target: ObjectHandle? = state.withLock { s in
            if type.hasPrefix("video/x-raw"), let v = s.video { s.video = nil; return v }
            if type.hasPrefix("audio/x-raw"), let a = s.audio { s.audio = nil; return a }
            return nil
        }
        if let target { _ = gst_pad_link(pad, target.pad) }
    }

    /// libav's frame threading keeps one decoded frame in flight per thread; slice threading
    /// and a thread cap keep the decoder's memory near ffmpeg's.
    fileprivate func tuneDecoder(_ element: UnsafeMutablePointer<GstElement>) {
        guard let factory = GStreamer.factoryName(element), factory.hasPrefix("avdec_") else { return }
        if let v = getenv("ENGINE_DEC_THREADS") { GStreamer.set(element, "max-threads", String(cString: v)) }
        if let v = getenv("ENGINE_DEC_TYPE") { GStreamer.set(element, "thread-type", String(cString: v)) }
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
        let deepAdded: @convention(c) (UnsafeMutablePointer<GstElement>?, UnsafeMutablePointer<GstElement>?, UnsafeMutablePointer<GstElement>?, gpointer?) -> Void = { _, _, element, data in
            guard let element, let data else { return }
            Unmanaged<PadLinker>.fromOpaque(data).takeUnretainedValue().tuneDecoder(element)
        }
        _ = cgst_connect(decodebin, "deep-element-added", unsafeBitCast(deepAdded, to: GCallback.self),
                         Unmanaged.passRetained(self).toOpaque(), release)
        _ = cgst_connect(decodebin, "no-more-pads", unsafeBitCast(noMore, to: GCallback.self),
                         Unmanaged.passRetained(self).toOpaque(), release)
    }
}

/// Counts buffers and tracks timestamps on the main branch, for progress and the result.
final class StreamCounter: Sendable {
    let buffers = Atomic<Int>(0)
    let firstPTS = Atomic<UInt64>(UInt64.max)
    let lastPTS = Atomic<UInt64>(0)

    /// Seconds of media that have passed the probe.
    var position: Double {
        let first = firstPTS.load(ordering: .relaxed)
        guard first != UInt64.max else { return 0 }
        let last = lastPTS.load(ordering: .relaxed)
        return last > first ? Double(last - first) / Double(GStreamer.second) : 0
    }

    func attach(to pad: UnsafeMutablePointer<GstPad>) {
        let probe: @convention(c) (UnsafeMutablePointer<GstPad>?, UnsafeMutablePointer<GstPadProbeInfo>?, gpointer?) -> GstPadProbeReturn = { _, info, data in
            guard let info, let data else { return GST_PAD_PROBE_OK }
            let counter = Unmanaged<StreamCounter>.fromOpaque(data).takeUnretainedValue()
            counter.buffers.add(1, ordering: .relaxed)
            if let buffer = info.pointee.data?.assumingMemoryBound(to: GstBuffer.self) {
                let pts = UInt64(buffer.pointee.pts)
                if pts != GStreamer.clockTimeNone {
                    _ = counter.firstPTS.compareExchange(expected: UInt64.max, desired: pts, ordering: .relaxed)
                    _ = counter.lastPTS.max(pts, ordering: .relaxed)
                }
            }
            return GST_PAD_PROBE_OK
        }
        let release: @convention(c) (gpointer?) -> Void = { data in
            guard let data else { return }
            Unmanaged<StreamCounter>.fromOpaque(data).release()
        }
        _ = gst_pad_add_probe(pad, cgst_probe_buffer(), probe, Unmanaged.passRetained(self).toOpaque(), release)
    }
}
