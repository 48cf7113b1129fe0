import Foundation
import Testing
@testable import Transcoding

/// Split, encode the parts one by one, join: the engine's half of segmented jobs, checked with ffprobe.
@Suite struct SegmentingTests {
    let engine = TranscodingEngine()

    /// Video packet times (presentation order) and the audio's duration, as ffprobe reads the file.
    static func timeline(_ file: String) throws -> (video: [Double], audioDuration: Double, videoDuration: Double) {
        let pts = try Fixtures.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", file])
            .split(separator: "\n").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }.sorted()
        func duration(_ stream: String) throws -> Double {
            Double(try Fixtures.run("ffprobe", ["-v", "error", "-select_streams", stream, "-show_entries", "stream=duration", "-of", "csv=p=0", file])
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        return (pts, try duration("a:0"), try duration("v:0"))
    }

    @Test func splitEncodeJoinKeepsEveryFrameOnTheInputsTimeline() async throws {
        let input = try Fixtures.clip("split-20s.mp4")
        let dir = try Fixtures.tempDir()
        defer { if ProcessInfo.processInfo.environment["KEEP"] == nil { try? FileManager.default.removeItem(at: dir) } }
        let options = TranscodeOptions.preset("h264-480p")
        let split = try await engine.split(input: input, directory: dir.path, segmentSeconds: 5, minimumSeconds: 0,
                                           options: options, outputKey: "out.mp4") { _ in }
        // A part never exceeds its target: cut at the last keyframe before it (every 2 s here), so 4 s each.
        #expect(split.segments.count == 5, "\(split.segments)")
        #expect(split.audio != nil)
        var parts: [String] = []
        for (i, name) in split.segments.enumerated() {
            let out = dir.appendingPathComponent("enc\(i).mkv").path
            let r = try await engine.transcodeSegment(input: dir.appendingPathComponent(name).path, output: out, options: options,
                                                      outputKey: "out.mp4", part: .video) { _ in }
            #expect(r.output.hasVideo && !r.output.hasAudio)
            parts.append(out)
        }
        let audio = dir.appendingPathComponent("audio-enc.mkv").path
        let a = try await engine.transcodeSegment(input: dir.appendingPathComponent(split.audio!).path, output: audio, options: options,
                                                  outputKey: "out.mp4", part: .audio) { _ in }
        #expect(a.output.hasAudio && !a.output.hasVideo)
        let joined = dir.appendingPathComponent("out.mp4").path
        let info = try await engine.join(parts: parts, audio: audio, output: joined, options: options, outputKey: "out.mp4",
                                         duration: split.input.duration) { _ in }
        #expect(info.hasVideo && info.hasAudio)

        let t = try Self.timeline(joined)
        #expect(t.video.count == 600, "frames: \(t.video.count)")
        let frame = 1.0 / 30
        let gaps = zip(t.video, t.video.dropFirst()).map { $1 - $0 }.filter { abs($0 - frame) > frame / 2 }
        #expect(gaps.isEmpty, "uneven frame steps: \(gaps.prefix(5))")
        #expect(abs((t.video.first ?? 1)) < frame / 2)
        #expect(abs(t.audioDuration - t.videoDuration) < frame, "audio \(t.audioDuration) s, video \(t.videoDuration) s")
        let keyframes = try Fixtures.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries",
                                                     "frame=pts_time", "-of", "csv=p=0", joined]).split(separator: "\n").count
        #expect(keyframes >= split.segments.count, "each part starts with a keyframe")
    }

    @Test func shortInputIsNotSplit() async throws {
        let dir = try Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let split = try await engine.split(input: try Fixtures.clip("clip.mp4"), directory: dir.path, segmentSeconds: 10, minimumSeconds: 600,
                                           options: .preset("h264-480p"), outputKey: "out.mp4") { _ in }
        #expect(split.segments.isEmpty)
        #expect(split.input.duration > 1)
    }
}
