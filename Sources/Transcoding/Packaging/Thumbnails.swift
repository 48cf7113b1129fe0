import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Lets through the first frame at or after each wanted time (seconds from the stream's first
/// frame) and drops every other before it is scaled, so a thumbnail branch costs almost nothing.
final class FrameSelector: Sendable {
    private struct State {
        var origin: UInt64?
        var next = 0
        var chosen: [Double] = []
    }
    private let times: [Double]
    private let state = Mutex(State())

    init(times: [Double]) { self.times = times }

    /// The wanted times that got a frame, in order.
    var chosen: [Double] { state.withLock { $0.chosen } }

    func admit(_ pts: UInt64) -> Bool {
        guard pts != GStreamer.clockTimeNone else { return false }
        return state.withLock { s in
            let origin = s.origin ?? pts
            s.origin = origin
            let t = pts >= origin ? Double(pts - origin) / Double(GStreamer.second) : 0
            guard s.next < times.count, t + 0.0005 >= times[s.next] else { return false }
            s.chosen.append(times[s.next])
            while s.next < times.count, times[s.next] <= t + 0.0005 { s.next += 1 }
            return true
        }
    }

    func attach(to pad: UnsafeMutablePointer<GstPad>) {
        let probe: @convention(c) (UnsafeMutablePointer<GstPad>?, UnsafeMutablePointer<GstPadProbeInfo>?, gpointer?) -> GstPadProbeReturn = { _, info, data in
            guard let info, let data, let buffer = info.pointee.data?.assumingMemoryBound(to: GstBuffer.self) else { return GST_PAD_PROBE_OK }
            let selector = Unmanaged<FrameSelector>.fromOpaque(data).takeUnretainedValue()
            return selector.admit(UInt64(buffer.pointee.pts)) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP
        }
        let release: @convention(c) (gpointer?) -> Void = { data in
            if let data { Unmanaged<FrameSelector>.fromOpaque(data).release() }
        }
        _ = gst_pad_add_probe(pad, cgst_probe_buffer(), probe, Unmanaged.passRetained(self).toOpaque(), release)
    }
}

/// Copies each I420 frame reaching a pad into tightly packed bytes (planes without stride padding).
final class FrameCapture: Sendable {
    let width: Int
    let height: Int
    private let frames = Mutex<[[UInt8]]>([])

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    var captured: [[UInt8]] { frames.withLock { $0 } }

    fileprivate func take(_ buffer: UnsafeMutablePointer<GstBuffer>, pad: UnsafeMutablePointer<GstPad>) {
        guard let caps = gst_pad_get_current_caps(pad) else { return }
        defer { GStreamer.unrefCaps(caps) }
        var info = GstVideoInfo()
        guard gst_video_info_from_caps(&info, caps) != 0, Int(info.width) == width, Int(info.height) == height else { return }
        var frame = GstVideoFrame()
        guard gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ) != 0 else { return }
        defer { gst_video_frame_unmap(&frame) }
        var out = [UInt8](repeating: 0, count: I420.size(width, height))
        out.withUnsafeMutableBufferPointer { dst in
            var offset = 0
            for plane in 0..<3 {
                let (w, h) = plane == 0 ? (width, height) : (width / 2, height / 2)
                guard let src = cgst_video_frame_plane(&frame, guint(plane)) else { return }
                let stride = Int(cgst_video_frame_stride(&frame, guint(plane)))
                for row in 0..<h {
                    (dst.baseAddress! + offset + row * w).update(from: src + row * stride, count: w)
                }
                offset += w * h
            }
        }
        frames.withLock { $0.append(out) }
    }

    func attach(to pad: UnsafeMutablePointer<GstPad>) {
        let probe: @convention(c) (UnsafeMutablePointer<GstPad>?, UnsafeMutablePointer<GstPadProbeInfo>?, gpointer?) -> GstPadProbeReturn = { pad, info, data in
            guard let pad, let info, let data, let buffer = info.pointee.data?.assumingMemoryBound(to: GstBuffer.self) else { return GST_PAD_PROBE_OK }
            Unmanaged<FrameCapture>.fromOpaque(data).takeUnretainedValue().take(buffer, pad: pad)
            return GST_PAD_PROBE_OK
        }
        let release: @convention(c) (gpointer?) -> Void = { data in
            if let data { Unmanaged<FrameCapture>.fromOpaque(data).release() }
        }
        _ = gst_pad_add_probe(pad, cgst_probe_buffer(), probe, Unmanaged.passRetained(self).toOpaque(), release)
    }
}

/// Packed I420 pictures: sizes and the sprite sheet, pure (unit-tested on fixed frames).
enum I420 {
    static func size(_ w: Int, _ h: Int) -> Int { w * h + 2 * (w / 2) * (h / 2) }

    /// Tiles `frames` (each `w`x`h`, even) left to right, top to bottom, `columns` per row; empty cells black.
    static func sheet(_ frames: [[UInt8]], width w: Int, height h: Int, columns: Int) -> (bytes: [UInt8], width: Int, height: Int) {
        let cols = max(1, min(columns, frames.count))
        let rows = max(1, (frames.count + cols - 1) / cols)
        let (sw, sh) = (w * cols, h * rows)
        var out = [UInt8](repeating: 16, count: sw * sh)                    // black luma
        out += [UInt8](repeating: 128, count: 2 * (sw / 2) * (sh / 2))      // neutral chroma
        for (i, frame) in frames.enumerated() where frame.count == size(w, h) {
            let (cx, cy) = (i % cols, i / cols)
            var src = 0
            var planeStart = 0
            for plane in 0..<3 {
                let (pw, ph, psw) = plane == 0 ? (w, h, sw) : (w / 2, h / 2, sw / 2)
                let psh = plane == 0 ? sh : sh / 2
                for row in 0..<ph {
                    let dst = planeStart + (cy * ph + row) * psw + cx * pw
                    out.replaceSubrange(dst..<(dst + pw), with: frame[(src + row * pw)..<(src + row * pw + pw)])
                }
                src += pw * ph
                planeStart += psw * psh
            }
        }
        return (out, sw, sh)
    }
}

/// The WebVTT thumbnails track of a sprite sheet: one cue per tile, contiguous from 0 to the duration.
enum ThumbnailTrack {
    static func vtt(times: [Double], duration: Double, sprite: String, width: Int, height: Int, columns: Int) -> String {
        var text = "WEBVTT\n"
        for (i, start) in times.enumerated() {
            let end = i + 1 < times.count ? times[i + 1] : max(duration, start + 0.001)
            let (x, y) = ((i % columns) * width, (i / columns) * height)
            text += "\n\(timestamp(start)) --> \(timestamp(end))\n\(sprite)#xywh=\(x),\(y),\(width),\(height)\n"
        }
        return text
    }

    static func timestamp(_ seconds: Double) -> String {
        let ms = Int((seconds * 1000).rounded())
        func pad(_ v: Int, _ n: Int) -> String { String(repeating: "0", count: max(0, n - String(v).count)) + String(v) }
        return "\(pad(ms / 3_600_000, 2)):\(pad(ms / 60_000 % 60, 2)):\(pad(ms / 1000 % 60, 2)).\(pad(ms % 1000, 3))"
    }
}

/// Encodes one packed I420 picture as JPEG with a fixed pipeline (no job input in it but numbers).
enum JPEGWriter {
    static func write(_ bytes: [UInt8], width: Int, height: Int, to path: String, timeout: Duration) throws(TranscodeError) {
        let raw = path + ".yuv"
        defer { try? FileManager.default.removeItem(atPath: raw) }
        guard FileManager.default.createFile(atPath: raw, contents: Data(bytes)) else {
            throw TranscodeError(.outputUnwritable, "A thumbnail could not be written.")
        }
        let a = try Assembly(name: "jpeg")
        let steps = [
            try a.add(ElementSpec("filesrc", [("location", raw)])),
            try a.add(ElementSpec("rawvideoparse", [("format", "i420"), ("width", String(width)), ("height", String(height)), ("framerate", "1/1")])),
            try a.add(ElementSpec("jpegenc", [("quality", "85")])),
            try a.add(ElementSpec("filesink", [("location", path), ("async", "false")])),
        ]
        try a.chain(steps)
        let built = BuiltPipeline(pipeline: a.pipeline, counter: StreamCounter(), countsFrames: false)
        let result = TranscodeJob().run(built, duration: nil, deadline: .now + timeout, limits: .default, fragmentMode: false,
                                        logger: .init(label: "transcoding.jpeg")) { _ in }
        if case .failure(let error) = result { throw TranscodeError(.encoderFailure, "A thumbnail could not be encoded: \(error.message)") }
    }
}
