import CGStreamer
import Synchronization

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
