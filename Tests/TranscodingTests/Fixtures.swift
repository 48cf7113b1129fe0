import Foundation
import Testing

/// Real media (scripts/fetch-media) and clips generated per run with gst-launch-1.0 / ffmpeg.
enum Fixtures {
    static let mediaDir: URL = {
        if let dir = ProcessInfo.processInfo.environment["TRANSCODER_MEDIA_DIR"] { return URL(fileURLWithPath: dir) }
        // Tests/TranscodingTests/Fixtures.swift -> package root
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".cache/media")
    }()

    /// A real sample; fails the test (never skips) when scripts/fetch-media has not been run.
    static func media(_ name: String) throws -> String {
        let path = mediaDir.appendingPathComponent(name).path
        try #require(FileManager.default.fileExists(atPath: path), "missing \(path): run scripts/fetch-media")
        return path
    }

    /// A real sample when scripts/fetch-media has one by that name, else a generated clip.
    static func input(_ name: String) throws -> String {
        FileManager.default.fileExists(atPath: mediaDir.appendingPathComponent(name).path) ? try media(name) : try clip(name)
    }

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("transcoding-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs a tool and requires success.
    @discardableResult
    static func run(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let out = String(decoding: data, as: UTF8.self)
        try #require(p.terminationStatus == 0, "\(tool) failed: \(out.suffix(500))")
        return out
    }

    /// Short clips in odd containers and codecs, made once per test process.
    static let generated: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("transcoding-fixtures-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    static func clip(_ name: String) throws -> String {
        let path = generated.appendingPathComponent(name).path
        if FileManager.default.fileExists(atPath: path) { return path }
        let base = ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi",
                    "-i", "sine=frequency=440:sample_rate=44100", "-t", "2"]
        switch name {
        case "clip.mp4": try run("ffmpeg", base + ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2", path])
        case "mjpeg.avi": try run("ffmpeg", base + ["-c:v", "mjpeg", "-c:a", "libmp3lame", path])
        case "mpeg2.mpg": try run("ffmpeg", base + ["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "vob", path])
        case "vp8.webm": try run("ffmpeg", base + ["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libvorbis", path])
        case "mpeg4.avi": try run("ffmpeg", base + ["-c:v", "mpeg4", "-c:a", "libmp3lame", path])
        // H.264 variants for the decoder element: byte-stream with B-frames, 4:4:4, 10-bit.
        case "h264-bframes.ts": try run("ffmpeg", base + ["-c:v", "libx264", "-preset", "fast", "-bf", "3", "-c:a", "aac", path])
        case "h264-444.mkv": try run("ffmpeg", base + ["-c:v", "libx264", "-preset", "fast", "-pix_fmt", "yuv444p", "-an", path])
        case "h264-10bit.mkv": try run("ffmpeg", base + ["-c:v", "libx264", "-preset", "fast", "-pix_fmt", "yuv420p10le", "-an", path])
        case "ac3.mkv": try run("ffmpeg", base + ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "ac3", "-ac", "6", path])
        // A 1080p clip for the HLS ladder (every rung), 14 s with audio.
        case "ladder-1080p.mp4":
            try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30",
                               "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "14", "-c:v", "libx264",
                               "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", path])
        // 24 fps: frame times are not whole nanoseconds (41666666.67 ns).
        case "film-24fps.mp4":
            try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24",
                               "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path])
        // Long enough to split: 20 s with audio, a keyframe every 2 s, B-frames (x264's default).
        case "split-20s.mp4":
            try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
                               "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "20", "-c:v", "libx264",
                               "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", path])
        case "tone.wav": try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "2", path])
        // No duration for the discoverer: an MPEG-TS of 25 frames without audio, as a capture would be.
        case "unknown-duration.ts":
            try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                               "-frames:v", "25", "-c:v", "mpeg2video", "-f", "mpegts", path])
        // Interlaced 1080i: 50 fps motion woven into 25 fields-pairs per second, coded as fields
        // (x264's MBAFF) in each order, with audio.
        case "interlaced-tff.mp4", "interlaced-bff.mp4":
            let tff = name.contains("tff")
            try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=50",
                               "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2",
                               "-vf", "tinterlace=\(tff ? "interleave_top" : "interleave_bottom"),setfield=\(tff ? "tff" : "bff")",
                               "-c:v", "libx264", "-preset", "veryfast", "-flags", "+ildct+ilme", "-x264-params", tff ? "tff=1" : "bff=1",
                               "-pix_fmt", "yuv420p", "-c:a", "aac", path])
        // Decodable by libav but not by the engine's H.264 element: 4:4:4 with an RGB matrix (gbrp).
        case "h264-rgb.mkv": try run("ffmpeg", base + ["-c:v", "libx264rgb", "-preset", "fast", "-an", path])
        // Handled by the element: 4:2:2 10-bit, and 4:0:0 (libav gives it as 4:2:0 10-bit).
        case "h264-422-10bit.mkv": try run("ffmpeg", base + ["-c:v", "libx264", "-preset", "fast", "-pix_fmt", "yuv422p10le", "-an", path])
        case "h264-gray10.mkv": try run("ffmpeg", base + ["-c:v", "libx264", "-preset", "fast", "-pix_fmt", "gray10le", "-an", path])
        case "still.png", "still.jpg":
            try run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", path])
        case "gst.mkv":
            try run("gst-launch-1.0", ["-q", "videotestsrc", "num-buffers=50", "!", "video/x-raw,width=320,height=240,framerate=25/1", "!",
                                       "x264enc", "speed-preset=ultrafast", "!", "matroskamux", "!", "filesink", "location=\(path)"])
        default: Issue.record("unknown clip \(name)")
        }
        return path
    }
}
