import Foundation
import Synchronization
import Testing
@testable import Transcoding

/// The pure parts of several-output jobs: playlists, codec strings, sprite sheets, WebVTT, rung choice, names.
struct PackagingUnitTests {
    @Test func hlssinkPlaylistBecomesVOD() {
        let sink = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:6\n\n#EXTINF:6,\nseg00000.ts\n#EXTINF:5.9600000381469727,\nseg00001.ts\n#EXT-X-ENDLIST"
        let segments = HLS.segments(inPlaylist: sink)
        #expect(segments == [.init(duration: 6, uri: "seg00000.ts"), .init(duration: 5.9600000381469727, uri: "seg00001.ts")])
        let vod = HLS.vodPlaylist(segments)
        #expect(vod == "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n"
                    + "#EXTINF:6,\nseg00000.ts\n#EXTINF:5.96,\nseg00001.ts\n#EXT-X-ENDLIST\n")
    }

    @Test func masterListsVariantsByBandwidth() {
        let master = HLS.master([
            .init(uri: "360p/index.m3u8", bandwidth: 900_000, averageBandwidth: 800_000, width: 640, height: 360, codecs: "avc1.64001e,mp4a.40.2", frameRate: 29.97),
            .init(uri: "720p/index.m3u8", bandwidth: 3_000_000, averageBandwidth: 2_800_000, width: 1280, height: 720, codecs: "avc1.64001f", frameRate: nil),
        ])
        #expect(master == "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                    + "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2800000,RESOLUTION=1280x720,CODECS=\"avc1.64001f\"\n720p/index.m3u8\n"
                    + "#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=800000,RESOLUTION=640x360,CODECS=\"avc1.64001e,mp4a.40.2\",FRAME-RATE=29.97\n360p/index.m3u8\n")
    }

    @Test func bandwidthIsThePeakSegment() {
        let segments: [HLS.Segment] = [.init(duration: 2, uri: "a"), .init(duration: 2, uri: "b"), .init(duration: 1, uri: "c")]
        let (peak, average) = HLS.bitrates(segments, sizes: [250_000, 500_000, 100_000])
        #expect(peak == 2_000_000)
        #expect(average == 1_360_000)
    }

    @Test func codecStringComesFromTheSPS() {
        // An AUD, then an SPS of High profile (100), constraint flags 0, level 4.0, after a 4-byte start code.
        let stream: [UInt8] = [0x47, 0x40, 0, 0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28, 0xAC]
        #expect(HLS.avcCodec(inStream: stream) == "avc1.640028")
        #expect(HLS.avcCodec(inStream: [0, 0, 1, 0x68, 1, 2, 3]) == nil)
    }

    @Test func spriteSheetTilesFrames() {
        // Three 4x2 frames, luma 1, 2, 3; two columns: a 8x4 sheet with the last cell black.
        let frames = (1...3).map { v in [UInt8](repeating: UInt8(v), count: 8) + [UInt8](repeating: UInt8(100 + v), count: 4) }
        let sheet = I420.sheet(frames, width: 4, height: 2, columns: 2)
        #expect(sheet.width == 8 && sheet.height == 4)
        #expect(Array(sheet.bytes[0..<8]) == [1, 1, 1, 1, 2, 2, 2, 2])
        #expect(Array(sheet.bytes[16..<24]) == [3, 3, 3, 3, 16, 16, 16, 16])
        let u = Array(sheet.bytes[32..<40])   // U plane 4x2: row 0 = frames 1, 2; row 1 = frame 3, black
        #expect(u == [101, 101, 102, 102, 103, 103, 128, 128])
    }

    @Test func thumbnailTrackCoversTheDuration() {
        let vtt = ThumbnailTrack.vtt(times: [0, 10, 20], duration: 25.5, sprite: "sprite.jpg", width: 160, height: 90, columns: 2)
        #expect(vtt == "WEBVTT\n\n00:00:00.000 --> 00:00:10.000\nsprite.jpg#xywh=0,0,160,90\n\n00:00:10.000 --> 00:00:20.000\nsprite.jpg#xywh=160,0,160,90\n"
                    + "\n00:00:20.000 --> 00:00:25.500\nsprite.jpg#xywh=0,90,160,90\n")
        #expect(ThumbnailTrack.timestamp(3723.0456) == "01:02:03.046")
    }

    @Test func frameSelectorKeepsOneFramePerWantedTime() {
        let selector = FrameSelector(times: [0, 1, 2])
        let second = GStreamer.second
        let pts = stride(from: 0, to: 3 * 25, by: 1).map { UInt64(5 * second) + UInt64($0) * second / 25 }
        let admitted = pts.filter { selector.admit($0) }
        #expect(admitted.count == 3)
        #expect(selector.chosen == [0, 1, 2])
    }

    @Test func ladderDropsRungsAboveTheInput() {
        let rungs = Ladder.hls.rungs
        #expect(Ladder.rungs(rungs, forWidth: 1920, height: 1080).map(\.name) == ["1080p", "720p", "480p", "360p"])
        #expect(Ladder.rungs(rungs, forWidth: 1280, height: 720).map(\.name) == ["720p", "480p", "360p"])
        #expect(Ladder.rungs(rungs, forWidth: 1280, height: 536).map(\.name) == ["720p", "480p", "360p"])
        #expect(Ladder.rungs(rungs, forWidth: 320, height: 240).map(\.name) == ["360p"])
        #expect(Ladder.rungs(rungs, forWidth: 3840, height: 2160).map(\.name) == ["1080p", "720p", "480p", "360p"])
    }

    @Test(arguments: [["../x"], ["/abs"], ["a", "a"], ["a", "a/b"], ["a b"], [".hidden"], ["a//b"]])
    func badOutputNamesAreRefused(_ names: [String]) {
        #expect(throws: TranscodeError.self) { try OutputPlanner.checkNames(names) }
    }

    @Test func outputsArePlannedOrRefusedWithTheirNumber() throws {
        let plans = try OutputPlanner.plan([
            OutputSpec(name: "hls", kind: .hls(.preset("hls-ladder"), segmentSeconds: 4)),
            OutputSpec(name: "a.webm", kind: .file(.preset("vp9-720p"))),
            OutputSpec(name: "t", kind: .thumbnails(ThumbnailSpec(spriteIntervalSeconds: 5))),
        ], limits: .default)
        guard case .hls(let h) = plans[0].kind else { Issue.record("not hls"); return }
        #expect(h.renditions.map(\.name) == ["1080p", "720p", "480p", "360p"])
        #expect(h.renditions.allSatisfy { $0.encoder.properties.contains(.init(name: "keyframe-period", value: "4000")) })
        let refusals: [(OutputSpec, String)] = [
            (OutputSpec(name: "h", kind: .hls(.preset("vp9-720p"), segmentSeconds: 6)), "Output 1: HLS packaging takes an H.264 preset"),
            (OutputSpec(name: "h", kind: .hls(.fragment("x264enc"), segmentSeconds: 6)), "not a pipeline fragment"),
            (OutputSpec(name: "h", kind: .hls(.preset("hls-ladder"), segmentSeconds: 30)), "segment_seconds must be 2...20"),
            (OutputSpec(name: "f.mp4", kind: .file(.preset("hls-ladder"))), "use it in an 'outputs' entry with 'hls'"),
            (OutputSpec(name: "t", kind: .thumbnails(ThumbnailSpec(width: 2000))), "width must be 32...640"),
            (OutputSpec(name: "f.mp4", kind: .file(.fragment("videoconvert ! x264enc ! filesink location=/tmp/x"))), "Output 1:"),
        ]
        for (spec, message) in refusals {
            #expect(throws: TranscodeError.self) { try OutputPlanner.plan([spec], limits: .default) }
            do { _ = try OutputPlanner.plan([spec], limits: .default) } catch {
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }
}

/// Several outputs from one decode through real GStreamer, checked by the same script as the end-to-end test.
@Suite(.serialized) struct PackagingTests {
    @Test func ladderFileAndThumbnailsFromA1080pClip() async throws {
        let input = try Fixtures.clip("ladder-1080p.mp4")
        let dir = try Fixtures.tempDir()
        let reports = Mutex<[TranscodeProgress]>([])
        let result = try await TranscodingEngine().transcode(input: input, outputs: [
            OutputSpec(name: "hls", kind: .hls(.preset("hls-ladder"), segmentSeconds: 4)),
            OutputSpec(name: "one.mp4", kind: .file(.preset("h264-480p"))),
            OutputSpec(name: "thumbs", kind: .thumbnails(ThumbnailSpec(posterAt: 3, spriteIntervalSeconds: 2, width: 120))),
        ], directory: dir.path) { p in reports.withLock { $0.append(p) } }

        #expect(result.outputs.map(\.name) == ["hls", "one.mp4", "thumbs"])
        let hls = result.outputs[0].files
        #expect(hls.last?.role == .master, "the master is stored last")
        #expect(hls.filter { $0.role == .variant }.count == 4)
        #expect(hls.firstIndex { $0.role == .variant }! > hls.lastIndex { $0.role == .segment }!)
        #expect(result.outputs[1].info?.video?.height == 480)
        #expect(reports.withLock { $0 }.last?.percent == 100)
        // Nothing but the outputs in the directory: no temporary files, no hlssink2 playlists.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["hls", "one.mp4", "thumbs"])
        for file in result.outputs.flatMap(\.files) {
            let size = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(file.path).path)[.size] as? Int64
            #expect(size == file.size, "\(file.path)")
        }

        let checker = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/check_outputs.py").path
        _ = try Fixtures.run("python3", [checker, "--dir", dir.appendingPathComponent("hls").path, "hls", "--input", input,
                                         "--segment-seconds", "4", "--expect-rungs", "1080p,720p,480p,360p"])
        _ = try Fixtures.run("python3", [checker, "--dir", dir.appendingPathComponent("thumbs").path, "thumbs", "--input", input,
                                         "--interval", "2", "--width", "120"])
    }

    @Test func aRefusedOutputLeavesNothing() async throws {
        let dir = try Fixtures.tempDir()
        await #expect(throws: TranscodeError.self) {
            _ = try await TranscodingEngine().transcode(input: try Fixtures.clip("clip.mp4"), outputs: [
                OutputSpec(name: "a.mp4", kind: .file(.preset("h264-480p"))),
                OutputSpec(name: "b.mp4", kind: .file(.fragment("videoconvert ! x264enc ! filesink location=/tmp/pwned"))),
            ], directory: dir.path) { _ in }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func aFragmentOutputThatEnlargesIsStoppedAndNothingStays() async throws {
        // As for one output: videobox with negative borders grows the picture, seen only in the running caps.
        let dir = try Fixtures.tempDir()
        let input = try Fixtures.clip("clip.mp4")
        let error = await failure { () async throws(TranscodeError) in
            _ = try await TranscodingEngine(limits: EngineLimits(maxWidth: 400)).transcode(input: input, outputs: [
                OutputSpec(name: "hls", kind: .hls(.preset("h264-480p"), segmentSeconds: 2)),
                OutputSpec(name: "big.mp4", kind: .file(.fragment("videobox left=-200 ! videoconvert ! x264enc"))),
            ], directory: dir.path) { _ in }
        }
        #expect(error?.code == .optionsForbidden, "\(String(describing: error))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func aDamagedInputFailsEveryOutput() async throws {
        let dir = try Fixtures.tempDir()
        let whole = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.clip("ladder-1080p.mp4")))
        let truncated = dir.appendingPathComponent("truncated.mp4").path
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        let out = dir.appendingPathComponent("out").path
        let error = await failure { () async throws(TranscodeError) in
            _ = try await TranscodingEngine().transcode(input: truncated, outputs: [
                OutputSpec(name: "hls", kind: .hls(.preset("hls-ladder"), segmentSeconds: 2)),
                OutputSpec(name: "t", kind: .thumbnails(ThumbnailSpec(spriteIntervalSeconds: 1))),
            ], directory: out) { _ in }
        }
        #expect(error?.code == .inputCorrupt, "\(String(describing: error))")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).isEmpty)
    }

    @Test func scalingKeepsTheInputsColourMatrix() async throws {
        // An untagged 1080p input counts as BT.709; its 480p output stays BT.709 (no matrix
        // conversion on the way) and says so, in one output and in a ladder's SD rungs.
        let input = try Fixtures.clip("ladder-1080p.mp4")
        let dir = try Fixtures.tempDir()
        _ = try await TranscodingEngine().transcode(input: input, outputs: [
            OutputSpec(name: "small.mp4", kind: .file(.preset("h264-480p"))),
            OutputSpec(name: "hls", kind: .hls(.preset("hls-ladder"), segmentSeconds: 4)),
        ], directory: dir.path) { _ in }
        let single = dir.appendingPathComponent("single.mp4").path
        _ = try await TranscodingEngine().transcode(input: input, output: single, options: .preset("h264-480p")) { _ in }
        for file in [single, dir.appendingPathComponent("small.mp4").path, dir.appendingPathComponent("hls/360p/seg00000.ts").path] {
            let matrix = try Fixtures.run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "stream=color_space",
                                                      "-of", "csv=p=0", file])
            // MPEG-TS lists the stream once per program as well.
            #expect(Set(matrix.split(whereSeparator: \.isNewline).map(String.init)) == ["bt709"], "\(file): \(matrix)")
        }
    }

    /// The engine's error, or nil when the body succeeded.
    private func failure(_ body: () async throws(TranscodeError) -> Void) async -> TranscodeError? {
        do { try await body(); return nil } catch { return error }
    }
}
