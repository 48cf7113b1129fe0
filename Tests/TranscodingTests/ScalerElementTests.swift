import CGStreamer
import Synchronization
import Testing
@testable import Transcoding

/// The engine's swscale element against videoconvertscale on the same decoded pictures: the
/// same format, timestamps and picture shape, and pixels that differ only as two bicubic
/// scalers differ (libswscale's B=0, C=0.6 and GStreamer's Catmull-Rom, B=0, C=0.5).
@Suite struct ScalerElementTests {
    struct Scaled {
        var planes: [[Double]] = []    // the first plane of each picture, samples scaled to 0...1
        var pts: [UInt64] = []
        var format = ""
        var size = (0, 0)
        var aspect = (0, 0)            // pixel-aspect-ratio
        var interlaceMode = ""
    }

    final class Collector: @unchecked Sendable {
        let lock = Mutex(Scaled())
    }

    /// Decodes `path` (or runs `source`), then `scaler` named `sc` and `caps`; collects what
    /// leaves the scaler.
    static func scale(_ path: String, with scaler: String, caps: String) throws -> Scaled {
        try scale(source: "filesrc location=\(path) ! decodebin", with: scaler, caps: caps)
    }

    static func scale(source: String, with scaler: String, caps: String) throws -> Scaled {
        let launch = "\(source) ! \(scaler) name=sc ! \(caps) ! fakesink"
        let collector = Collector()
        try ProbedPipeline.play(launch, element: "sc", pad: "src", data: collector) { pad, info, data in
            guard let data else { return GST_PAD_PROBE_OK }
            ProbedPipeline.withFrame(pad, info) { buffer, caps, videoInfo, frame in
                let wide = videoInfo.finfo.pointee.bits > 8
                let maximum = Double((1 << videoInfo.finfo.pointee.bits) - 1)
                var samples: [Double] = []
                if let base = cgst_video_frame_plane(&frame, 0) {
                    let pitch = Int(cgst_video_frame_stride(&frame, 0)), bytes = Int(cgst_video_frame_row_bytes(&frame, 0))
                    for row in 0..<Int(cgst_video_frame_rows(&frame, 0)) {
                        let line = UnsafeRawBufferPointer(start: base + row * pitch, count: bytes)
                        if wide {
                            for i in stride(from: 0, to: bytes, by: 2) { samples.append(Double(line.loadUnaligned(fromByteOffset: i, as: UInt16.self)) / maximum) }
                        } else {
                            for b in line { samples.append(Double(b) / maximum) }
                        }
                    }
                }
                let structure = gst_caps_get_structure(caps, 0)
                var n: gint = 1, d: gint = 1
                if gst_structure_get_fraction(structure, "pixel-aspect-ratio", &n, &d) == 0 { (n, d) = (1, 1) }
                let format = GStreamer.string(gst_video_format_to_string(videoInfo.finfo.pointee.format))
                let mode = GStreamer.string(gst_structure_get_string(structure, "interlace-mode"))
                Unmanaged<Collector>.fromOpaque(data).takeUnretainedValue().lock.withLock { s in
                    s.planes.append(samples)
                    s.pts.append(UInt64(buffer.pointee.pts))
                    s.format = format
                    s.size = (Int(videoInfo.width), Int(videoInfo.height))
                    s.aspect = (Int(n), Int(d))
                    s.interlaceMode = mode
                }
            }
            return GST_PAD_PROBE_OK
        }
        return collector.lock.withLock { $0 }
    }

    /// Mean absolute difference of two pictures' samples, as a fraction of full scale.
    static func meanDifference(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return 1 }
        return zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(a.count)
    }

    /// 320x240 (1080i for the interlaced ones) to 176x144: another shape, so the pixel aspect
    /// ratio must change to keep the picture's. libswscale for the formats it maps, GStreamer's
    /// converter for GBR and interlaced pictures.
    @Test(arguments: [
        ("h264-bframes.ts", "I420"),
        ("h264-444.mkv", "Y444"),
        ("h264-10bit.mkv", "I420_10LE"),
        ("h264-422-10bit.mkv", "I422_10LE"),
        ("h264-rgb.mkv", "GBR"),
        ("interlaced-tff.mp4", "I420"),
    ])
    func scalesAsCatmullRom(_ name: String, format: String) throws {
        let path = try Fixtures.clip(name)
        let caps = "video/x-raw,width=176,height=144"
        let reference = try Self.scale(path, with: "videoconvertscale method=catrom", caps: caps)
        let ours = try Self.scale(path, with: ScalerElement.factoryName, caps: caps)
        #expect(ours.planes.count >= 50, "\(name): \(ours.planes.count) pictures")
        #expect(ours.planes.count == reference.planes.count, "\(name): \(ours.planes.count) pictures, reference \(reference.planes.count)")
        #expect(ours.pts == reference.pts, "\(name): timestamps differ")
        #expect(ours.format == format && reference.format == format, "\(name): \(ours.format), reference \(reference.format)")
        #expect(ours.size == (176, 144))
        #expect(ours.aspect == reference.aspect && ours.aspect != (1, 1), "\(name): aspect \(ours.aspect), reference \(reference.aspect)")
        #expect(ours.interlaceMode == reference.interlaceMode)
        // Measured: 0.0012-0.0025 of full scale. videoconvertscale's default 2-tap bilinear is
        // 0.005-0.011 away; a shifted, flipped or mis-strided picture is tenths away.
        let worst = zip(ours.planes, reference.planes).map { Self.meanDifference($0, $1) }.max() ?? 1
        #expect(worst < 0.005, "\(name): worst picture differs from Catmull-Rom's by \(worst) of full scale")
    }

    /// Same size in and out: the element passes buffers through untouched.
    @Test func sameSizeIsAPassthrough() throws {
        let path = try Fixtures.clip("h264-bframes.ts")
        let ours = try Self.scale(path, with: ScalerElement.factoryName, caps: "video/x-raw,width=320,height=240")
        let plain = try Self.scale(path, with: "identity", caps: "video/x-raw")
        #expect(ours.planes.count == plain.planes.count && ours.planes == plain.planes)
    }

    /// The pixel aspect ratio carries the picture's shape: PAL 4:3 (720x576, 16/15) stays 16/15
    /// at half size and becomes 3/4 squeezed into 640x360.
    @Test(arguments: [((360, 288), (16, 15)), ((640, 360), (3, 4))])
    func keepsThePictureShape(_ size: (Int, Int), aspect: (Int, Int)) throws {
        let source = "videotestsrc num-buffers=3 ! video/x-raw,format=I420,width=720,height=576,pixel-aspect-ratio=16/15"
        let ours = try Self.scale(source: source, with: ScalerElement.factoryName, caps: "video/x-raw,width=\(size.0),height=\(size.1)")
        #expect(ours.planes.count == 3)
        #expect(ours.size == size && ours.aspect == aspect, "\(ours.size) \(ours.aspect)")
    }
}
