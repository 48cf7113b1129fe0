import Foundation
import Synchronization
import Testing
@testable import Transcoding

/// End to end through real GStreamer on real and generated media. Serialized: the machine has 2 cores.
@Suite(.serialized) struct TranscodeTests {
    let engine = TranscodingEngine()

    func transcode(_ input: String, _ outputName: String, _ options: TranscodeOptions, engine: TranscodingEngine? = nil)
        async throws -> (TranscodeResult, URL, [TranscodeProgress]) {
        let dir = try Fixtures.tempDir()
        let out = dir.appendingPathComponent(outputName)
        let reports = Mutex<[TranscodeProgress]>([])
        let result = try await (engine ?? self.engine).transcode(input: input, output: out.path, options: options) { p in
            reports.withLock { $0.append(p) }
        }
        #expect(FileManager.default.fileExists(atPath: out.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == [outputName], "no temporary files left")
        return (result, out, reports.withLock { $0 })
    }

    static let presetCases: [(String, String, String?, String)] = [
        ("h264-1080p", "o.mp4", "video/x-h264", "video/quicktime"),
        ("h264-720p", "o", "video/x-h264", "video/quicktime"),
        ("h264-480p", "o.mkv", "video/x-h264", "video/x-matroska"),
        ("hevc-720p", "o.mp4", "video/x-h265", "video/quicktime"),
        ("vp9-720p", "o.webm", "video/x-vp9", "video/webm"),
        ("av1-720p", "o.mp4", "video/x-av1", "video/quicktime"),
        ("aac-audio", "o.m4a", nil, "video/quicktime"),
        ("opus-audio", "o.opus", nil, "audio/ogg"),
    ]

    @Test(arguments: presetCases)
    func everyPreset(_ c: (String, String, String?, String)) async throws {
        let (result, _, reports) = try await transcode(try Fixtures.clip("clip.mp4"), c.1, .preset(c.0))
        #expect(result.output.container == c.3)
        #expect(result.output.video?.mediaType == c.2)
        #expect(result.output.hasAudio)
        #expect(abs(result.output.duration - 2) < 0.5)
        if c.2 != nil {
            #expect(result.output.width == 320 && result.output.height == 240, "never upscaled")
            #expect((result.frames ?? 0) >= 45)
        }
        #expect(reports.last?.percent == 100)
    }

    /// av1enc truncates frame times to its 1/fps timebase: at 24 fps two frames shared PTS 0 and
    /// libaom's rate control overshot its target by 1.7x until the engine rounded times up to a microsecond.
    @Test func av1HoldsItsBitrateAt24fps() async throws {
        let target = 300
        let (result, out, _) = try await transcode(try Fixtures.clip("film-24fps.mp4"), "film.mp4",
                                                   .preset("av1-720p", overrides: .init(bitrateKbps: target)))
        let bytes = try #require(try FileManager.default.attributesOfItem(atPath: out.path)[.size] as? Int)
        let kbps = Double(bytes) * 8 / result.output.duration / 1000
        #expect(result.frames == 144)
        #expect(kbps > Double(target) * 0.7 && kbps < Double(target) * 1.3, "\(kbps) kbit/s for a \(target) kbit/s target")
    }

    /// x264 writes its settings into the stream; a CRF preset must encode as x264 and ffmpeg mean
    /// CRF, without x264enc's default 2 Mbit/s VBV cap.
    @Test func crfPresetIsPlainCRF() async throws {
        let (_, out, _) = try await transcode(try Fixtures.media("bikes.mp4"), "crf.mp4",
                                              .preset("h264-480p", overrides: .init(crf: 30, speed: "ultrafast")))
        let bytes = try Data(contentsOf: out)
        let marker = Data("x264 - core".utf8)
        let start = try #require(bytes.range(of: marker)?.lowerBound, "x264 settings in the stream")
        let settings = String(decoding: bytes[start..<min(bytes.endIndex, start + 2000)].prefix { $0 != 0 }, as: UTF8.self)
        #expect(settings.contains(" rc=crf "))
        #expect(settings.contains(" crf=30.0 "))
        #expect(settings.contains(" keyint=250 "))
        #expect(!settings.contains("vbv_maxrate"), "\(settings)")
    }

    @Test func seedFragmentOnVideoWithoutAudio() async throws {
        let (result, _, reports) = try await transcode(try Fixtures.media("bikes.mp4"), "output_file", .fragment("videoconvert ! x264enc"))
        #expect(result.output.container == "video/quicktime")
        #expect(result.output.video?.mediaType == "video/x-h264")
        #expect(!result.output.hasAudio)
        #expect(abs(result.output.duration - result.input.duration) < 0.5)
        #expect(reports.count >= 2)
        #expect(reports.allSatisfy { (0...100).contains($0.percent) })
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.position <= $1.position })
    }

    @Test func surroundAudioIsCarriedAndVideoScaledDown() async throws {
        let (result, _, _) = try await transcode(try Fixtures.media("bigbuckbunny.mp4"), "bbb.mp4",
                                                 .preset("h264-480p", overrides: .init(width: 320, speed: "ultrafast")))
        #expect(result.input.audio?.channels == 6)
        #expect(result.output.audio?.channels == 6)
        #expect(result.output.audio?.mediaType == "audio/mpeg")
        #expect(result.output.width == 320 && result.output.height == 180)
    }

    @Test func realTrailerThroughFragmentIntoMatroska() async throws {
        // Trailer: H.264 High + MP3; a scaled-down fragment keeps this quick.
        let (result, _, _) = try await transcode(try Fixtures.media("trailer_bbb.mp4"), "t.mkv",
            .fragment("videoscale ! video/x-raw,width=160,height=90 ! videoconvert ! x264enc speed-preset=ultrafast"))
        #expect(result.output.container == "video/x-matroska")
        #expect(result.output.width == 160)
        #expect(result.output.hasAudio)
        #expect(abs(result.output.duration - result.input.duration) < 1.5)
    }

    @Test(arguments: ["mjpeg.avi", "mpeg2.mpg", "vp8.webm", "mpeg4.avi", "gst.mkv"])
    func oddContainersAndCodecs(_ clip: String) async throws {
        let (result, _, _) = try await transcode(try Fixtures.clip(clip), "o.ts", .fragment("videoconvert ! x264enc speed-preset=ultrafast"))
        #expect(result.output.container == "video/mpegts")
        #expect(result.output.video?.mediaType == "video/x-h264")
        #expect(result.output.hasAudio == result.input.hasAudio)
    }

    /// Unknown duration is not a still image: the stream transcodes whole, and until a duration
    /// is known progress counts frames and media time, not a percentage.
    @Test func inputWithoutDurationTranscodes() async throws {
        let input = try Fixtures.clip("unknown-duration.ts")
        #expect(try await engine.probe(input).duration == 0, "the clip must not declare a duration")
        let (result, out, reports) = try await transcode(input, "o.mp4", .preset("h264-480p"))
        #expect(result.output.hasVideo && !result.output.hasAudio)
        #expect(result.frames == 25)
        #expect(abs(result.output.duration - 1) < 0.2, "\(result.output.duration)")
        #expect(try await engine.probe(out.path).duration > 0.8)
        for report in reports.dropLast() where report.duration == nil {
            #expect(report.percent == 0 && report.etaSeconds == nil, "\(report)")
        }
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.position <= $1.position })
    }

    /// ffmpeg's idet filter on a file: frames it judged top-first, bottom-first and progressive.
    static func idet(_ path: String) throws -> (tff: Int, bff: Int, progressive: Int) {
        let out = try Fixtures.run("ffmpeg", ["-hide_banner", "-i", path, "-vf", "idet", "-an", "-f", "null", "-"])
        let line = try #require(out.split(separator: "\n").first { $0.contains("Multi frame detection") }, "no idet line")
        func count(_ label: String) -> Int {
            guard let r = line.range(of: label + ":") else { return -1 }
            return Int(line[r.upperBound...].drop { $0 == " " }.prefix { $0.isNumber }) ?? -1
        }
        return (count("TFF"), count("BFF"), count("Progressive"))
    }

    static func fieldOrder(_ path: String) throws -> String {
        try Fixtures.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=field_order",
                                     "-of", "default=noprint_wrappers=1:nokey=1", path]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// SSIM of `output` against `input` scaled to the output's size, with the output's first
    /// `skip` frames dropped (ffmpeg pairs frames by timestamp).
    static func ssim(_ output: String, against input: String, skippingOutputFrames skip: Int = 0) throws -> Double {
        let size = try Fixtures.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                                                "-of", "csv=s=x:p=0", output]).trimmingCharacters(in: .whitespacesAndNewlines)
        let graph = "[0:v]trim=start_frame=\(skip),setpts=PTS-STARTPTS[o];[1:v]setpts=PTS-STARTPTS,"
            + "scale=\(size.replacingOccurrences(of: "x", with: ":")):flags=bicubic[r];[o][r]ssim"
        let out = try Fixtures.run("ffmpeg", ["-hide_banner", "-i", output, "-i", input, "-lavfi", graph, "-f", "null", "-"])
        let all = try #require(out.range(of: "All:"), "no SSIM in ffmpeg's output")
        return Double(out[all.upperBound...].prefix { $0.isNumber || $0 == "." }) ?? 0
    }

    /// Each picture of an H.264 preset's output shows the input picture of its own time: with
    /// B-frames decoding after they were shown, every picture came out two frames late.
    @Test func h264PresetPicturesLineUpWithTheirTimestamps() async throws {
        let input = try Fixtures.media("trailer_bbb.mp4")
        let (_, out, _) = try await transcode(input, "o.mp4", .preset("h264-480p", overrides: .init(speed: "ultrafast")))
        let aligned = try Self.ssim(out.path, against: input)
        let late = try Self.ssim(out.path, against: input, skippingOutputFrames: 2)
        #expect(aligned > 0.95 && aligned > late, "SSIM in step \(aligned), two frames off \(late)")
    }

    /// Interlaced input comes out of a preset progressive, whatever its field order: idet finds
    /// the frames progressive (no combing) and the stream says so.
    @Test(arguments: ["interlaced-tff.mp4", "interlaced-bff.mp4"])
    func interlacedInputComesOutProgressive(_ name: String) async throws {
        let input = try Fixtures.clip(name)
        let before = try Self.idet(input)
        #expect(before.tff + before.bff > 45, "the clip must look interlaced to idet: \(before)")
        #expect(try await engine.probe(input).isInterlaced)
        let (result, out, _) = try await transcode(input, "o.mp4", .preset("h264-720p"))
        #expect(result.frames == 50, "one frame per frame: \(result.frames ?? -1)")
        #expect(result.output.hasAudio && abs(result.output.duration - 2) < 0.1)
        let after = try Self.idet(out.path)
        let determined = after.tff + after.bff + after.progressive
        #expect(determined > 0 && Double(after.progressive) >= 0.95 * Double(determined), "idet on the output: \(after)")
        #expect(try Self.fieldOrder(out.path) == "progressive")
    }

    /// Progressive input gets no deinterlacer at all (it costs nothing there).
    @Test func progressiveInputIsNotInterlaced() async throws {
        for input in [try Fixtures.clip("clip.mp4"), try Fixtures.media("trailer_bbb.mp4"), try Fixtures.media("bikes.mp4")] {
            #expect(try await engine.probe(input).isInterlaced == false, "\(input)")
        }
    }

    /// H.264 in 4:4:4 RGB (libx264rgb) transcodes: once refused as damaged, the element's
    /// pixel format list did not have planar GBR.
    @Test func rgbH264Transcodes() async throws {
        let input = try Fixtures.clip("h264-rgb.mkv")
        #expect(try await engine.probe(input).video?.chromaFormat == "4:4:4")
        let (result, _, _) = try await transcode(input, "o.mp4", .preset("h264-480p"))
        #expect(result.frames == 50)
        #expect(result.output.video?.mediaType == "video/x-h264")
    }

    @Test(arguments: ["still.png", "still.jpg"])
    func stillImagesAreRefused(_ name: String) async throws {
        let dir = try Fixtures.tempDir()
        let error = await #expect(throws: TranscodeError.self) {
            _ = try await engine.transcode(input: try Fixtures.clip(name), output: dir.appendingPathComponent("o.mp4").path,
                                           options: .preset("h264-480p")) { _ in }
        }
        #expect(error?.code == .inputUnsupported)
        #expect(error?.message.contains("still image") == true, "\(String(describing: error))")
    }

    @Test func audioOnlyInputForAudioPreset() async throws {
        let (result, _, _) = try await transcode(try Fixtures.clip("tone.wav"), "a.m4a", .preset("aac-audio"))
        #expect(!result.output.hasVideo)
        #expect(result.frames == nil)
    }

    /// The output check reads files without decoders; on every container we write it must see what GstDiscoverer sees.
    @Test(arguments: [("o.mp4", "h264-480p"), ("o.webm", "vp9-720p"), ("o.mkv", "hevc-720p"), ("o.opus", "opus-audio"),
                      ("o.ts", "videoconvert ! x264enc speed-preset=ultrafast")])
    func outputCheckAgreesWithDiscoverer(_ c: (String, String)) async throws {
        let options: TranscodeOptions = c.1.contains(" ") ? .fragment(c.1) : .preset(c.1, overrides: PresetOverrides())
        let (_, out, _) = try await transcode(try Fixtures.clip("clip.mp4"), c.0, options)
        let probed = try await engine.probe(out.path)
        let inspected = try await engine.inspectOutput(out.path)
        #expect(!inspected.container.isEmpty)
        #expect(inspected.container == probed.container)
        #expect(inspected.streams.map(\.mediaType).sorted() == probed.streams.map(\.mediaType).sorted())
        #expect(abs(inspected.duration - probed.duration) < 0.2, "\(inspected.duration) vs \(probed.duration)")
        #expect(inspected.width == probed.width && inspected.height == probed.height)
        #expect(inspected.audio?.channels == probed.audio?.channels)
    }

    @Test func outputCheckRefusesDamagedFiles() async throws {
        let engine = TranscodingEngine(limits: EngineLimits(probeTimeout: .seconds(3)))
        for (name, _) in try Self.damaged() where name != "missing.mp4" {
            await #expect(throws: TranscodeError.self, "\(name)") {
                _ = try await engine.inspectOutput(Fixtures.generated.appendingPathComponent(name).path)
            }
        }
    }

    static func damaged() throws -> [(String, TranscodeError.Code)] {
        let dir = Fixtures.generated
        let bbb = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.media("bigbuckbunny.mp4")))
        try bbb.prefix(bbb.count / 2).write(to: dir.appendingPathComponent("truncated.mp4"))
        var garbage = Data(bbb.prefix(2000))
        garbage.append(Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }))
        try garbage.write(to: dir.appendingPathComponent("corrupt.mp4"))
        try Data().write(to: dir.appendingPathComponent("zero.mp4"))
        try Data("just some text, not a video\n".utf8).write(to: dir.appendingPathComponent("notes.mp4"))
        return [("truncated.mp4", .inputCorrupt), ("corrupt.mp4", .inputCorrupt), ("zero.mp4", .inputCorrupt),
                ("notes.mp4", .inputUnsupported), ("missing.mp4", .inputUnreadable)]
    }

    @Test func badInputsGetTheRightCode() async throws {
        // GstDiscoverer sometimes waits for its timeout on the truncated MP4 (moov missing) when
        // other pipelines ran in the process before; the timeout is also classified as corrupt.
        let engine = TranscodingEngine(limits: EngineLimits(probeTimeout: .seconds(3)))
        for (name, code) in try Self.damaged() {
            let dir = try Fixtures.tempDir()
            let out = dir.appendingPathComponent("o.mp4")
            do {
                _ = try await engine.transcode(input: Fixtures.generated.appendingPathComponent(name).path, output: out.path,
                                               options: .preset("h264-480p")) { _ in }
                Issue.record("\(name) accepted")
            } catch {
                #expect(error.code == code, "\(name): \(error)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "\(name) left files")
        }
    }

    @Test func cancellationStopsPromptlyAndLeavesNothing() async throws {
        let input = try Fixtures.media("trailer_bbb.mp4")
        let dir = try Fixtures.tempDir()
        let out = dir.appendingPathComponent("c.mp4")
        let started = Mutex(false)
        let engine = engine
        let task = Task {
            try await engine.transcode(input: input, output: out.path, options: .preset("h264-720p")) { _ in started.withLock { $0 = true } }
        }
        while !started.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(50)) }
        task.cancel()
        let result = await task.result
        #expect(throws: TranscodeError.self) { try result.get() }
        if case let .failure(error as TranscodeError) = result { #expect(error.code == .cancelled) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func stallWatchdog() async throws {
        // Test-only knob: `identity sleep-time` (3 s per frame) is never allowed to real jobs.
        var limits = EngineLimits(stallTimeout: .seconds(1))
        limits.testOnlyAllowedFactories = ["identity"]
        let dir = try Fixtures.tempDir()
        do {
            _ = try await TranscodingEngine(limits: limits).transcode(
                input: try Fixtures.clip("clip.mp4"), output: dir.appendingPathComponent("s.mp4").path,
                options: .fragment("identity sleep-time=3000000 ! videoconvert ! x264enc")) { _ in }
            Issue.record("stall not detected")
        } catch let error as TranscodeError {
            #expect(error.code == .timedOut)
            #expect(error.message.contains("stalled"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        #expect(throws: TranscodeError.self) {
            try TranscodingEngine.validate(.fragment("identity sleep-time=3000000 ! videoconvert ! x264enc"), outputKey: "o")
        }
    }

    @Test func overallTimeout() async throws {
        let dir = try Fixtures.tempDir()
        do {
            _ = try await TranscodingEngine(limits: EngineLimits(overallTimeout: .seconds(1))).transcode(
                input: try Fixtures.media("trailer_bbb.mp4"), output: dir.appendingPathComponent("t.mp4").path,
                options: .preset("h264-720p")) { _ in }
            Issue.record("timeout not enforced")
        } catch let error as TranscodeError {
            #expect(error.code == .timedOut)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func maliciousFragmentWritesNothing() async throws {
        let dir = try Fixtures.tempDir()
        let trap = dir.appendingPathComponent("pwned").path
        for fragment in ["videoconvert ! x264enc ! filesink location=\(trap)",
                         "videoconvert ! tee name=t ! queue ! x264enc t. ! queue ! multifilesink location=\(trap)%d",
                         "videoconvert ! x264enc multipass-cache-file=\(trap) pass=pass1",
                         "videoconvert ! vp9enc multipass-cache-file=\(trap) multipass-mode=first-pass"] {
            do {
                _ = try await engine.transcode(input: try Fixtures.clip("clip.mp4"), output: dir.appendingPathComponent("o.mp4").path,
                                               options: .fragment(fragment)) { _ in }
                Issue.record("accepted \(fragment)")
            } catch let error as TranscodeError {
                #expect(error.code == .optionsForbidden, "\(error)")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: trap + "0"))
    }

    @Test func fragmentThatEnlargesBeyondLimitIsStoppedAtRunTime() async throws {
        // videobox with negative borders grows the picture: only the running caps show it.
        let dir = try Fixtures.tempDir()
        do {
            _ = try await TranscodingEngine(limits: EngineLimits(maxWidth: 400)).transcode(
                input: try Fixtures.clip("clip.mp4"), output: dir.appendingPathComponent("o.mp4").path,
                options: .fragment("videobox left=-200 ! videoconvert ! x264enc")) { _ in }
            Issue.record("accepted")
        } catch let error as TranscodeError {
            #expect(error.code == .optionsForbidden, "\(error)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func probeDescribesRealMedia() async throws {
        let info = try await engine.probe(try Fixtures.media("trailer_bbb.mp4"))
        #expect(info.container == "video/quicktime")
        #expect(info.width == 1280 && info.height == 720)
        #expect(abs((info.frameRate ?? 0) - 24) < 0.1)
        #expect(abs(info.duration - 55) < 1)
        #expect(info.audio?.mediaType == "audio/mpeg")
        #expect(info.video?.codec.contains("H.264") == true)
    }
}
