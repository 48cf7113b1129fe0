import CGStreamer
import Foundation
import Testing
@testable import Transcoding

/// The MP4 writer of audio-only AAC jobs: its boxes on a fixed sample table, and a real job's
/// file against mp4mux's for the same encoding.
@Suite struct M4AWriterTests {
    /// The body of the first box at `path` (e.g. ["moov", "trak", "edts", "elst"]).
    static func box(_ path: [String], in bytes: [UInt8], from start: Int = 0, to end: Int? = nil) -> [UInt8]? {
        var at = start
        let end = end ?? bytes.count
        while at + 8 <= end {
            var size = Int(bytes[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) })
            let type = String(decoding: bytes[at + 4..<at + 8], as: UTF8.self)
            var header = 8
            if size == 1 { size = Int(bytes[at + 8..<at + 16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }); header = 16 }
            guard size >= header, at + size <= end else { return nil }
            if type == path[0] {
                if path.count == 1 { return Array(bytes[at + header..<at + size]) }
                // stsd and dref hold a count before their children; mp4a holds 28 bytes of fields.
                let skip = ["stsd": 8, "dref": 8, "mp4a": 28][type] ?? 0
                return box(Array(path.dropFirst()), in: bytes, from: at + header + skip, to: at + size)
            }
            at += size
        }
        return nil
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 { b[at..<at + 4].reduce(0) { $0 << 8 | UInt32($1) } }

    static let fixture: M4AMovie = {
        var movie = M4AMovie(format: .init(rate: 44100, channels: 2, config: [0x12, 0x10]))
        let frame = UInt64(1024) * 1_000_000_000 / 44100 + 1   // nanoseconds, rounded as GStreamer does
        movie.add(size: 300, duration: frame, clipping: (1024, 0))
        movie.add(size: 410, duration: frame, clipping: nil)
        movie.add(size: 390, duration: frame, clipping: nil)
        movie.add(size: 20, duration: UInt64(200) * 1_000_000_000 / 44100, clipping: (0, 0))
        return movie
    }()

    @Test func boxesDescribeTheFrames() throws {
        let moov = Self.fixture.moov()
        let stbl = ["moov", "trak", "mdia", "minf", "stbl"]
        let stts = try #require(Self.box(stbl + ["stts"], in: moov))
        #expect(Array(stts[4...]) == [0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 4, 0, 0, 0, 0, 1, 0, 0, 0, 200], "3 x 1024 then 1 x 200")
        let stsz = try #require(Self.box(stbl + ["stsz"], in: moov))
        #expect((0..<4).map { Self.u32(stsz, 12 + 4 * $0) } == [300, 410, 390, 20] && Self.u32(stsz, 8) == 4)
        let stco = try #require(Self.box(stbl + ["stco"], in: moov))
        #expect(Self.u32(stco, 4) == 1 && Self.u32(stco, 8) == UInt32(M4AMovie.header.count))
        let mdhd = try #require(Self.box(["moov", "trak", "mdia", "mdhd"], in: moov))
        #expect(Self.u32(mdhd, 12) == 44100 && Self.u32(mdhd, 16) == 3 * 1024 + 200, "timescale, every sample")
        let elst = try #require(Self.box(["moov", "trak", "edts", "elst"], in: moov))
        #expect(Self.u32(elst, 4) == 1 && Self.u32(elst, 8) == 2 * 1024 + 200 && Self.u32(elst, 12) == 1024, "priming left out")
        let esds = try #require(Self.box(stbl + ["stsd", "mp4a", "esds"], in: moov))
        #expect(Array(esds.suffix(13).prefix(7)) == [0x05, 0x80, 0x80, 0x80, 0x02, 0x12, 0x10], "AudioSpecificConfig in the esds")
    }

    @Test func headerAndLargeMediaData() {
        #expect(M4AMovie.header.count == 48 && Array(M4AMovie.header[4..<12]) == Array("ftypmp42".utf8))
        let small = M4AMovie.mdatHeader(dataSize: 1000)
        #expect(small.position == 40 && small.bytes == [0, 0, 0x03, 0xF0] + Array("mdat".utf8))
        let large = M4AMovie.mdatHeader(dataSize: 5 << 30)
        #expect(large.position == 32, "over the free box")
        #expect(large.bytes == [0, 0, 0, 1] + Array("mdat".utf8) + [0, 0, 0, 1, 0x40, 0, 0, 0x10])
    }

    /// Packet sizes and checksums, every packet whatever the edit list says.
    static func packets(_ path: String) throws -> [String] {
        try Fixtures.run("ffprobe", ["-v", "error", "-ignore_editlist", "1", "-show_data_hash", "crc32", "-select_streams", "a",
                                     "-show_entries", "packet=size,data_hash", "-of", "csv=p=0", path])
            .split(separator: "\n").map(String.init)
    }

    /// The trailer's sound (MP3) through the aac-audio preset, which the writer takes, and the
    /// same encoding through mp4mux: the same AAC frames; ours leaves the encoder's priming out
    /// with an edit list, so it is one AAC frame shorter than mp4mux's and within one frame of
    /// the input; ffmpeg decodes it without a complaint.
    @Test func audioJobWritesTheFramesMp4muxWould() async throws {
        let dir = try Fixtures.tempDir()
        let input = dir.appendingPathComponent("sound.mp4").path
        try Fixtures.run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", try Fixtures.media("trailer_bbb.mp4"), "-vn", "-c", "copy", input])
        let ours = dir.appendingPathComponent("ours.m4a").path
        _ = try await TranscodingEngine().transcode(input: input, output: ours, options: .preset("aac-audio", overrides: PresetOverrides())) { _ in }

        let reference = dir.appendingPathComponent("mp4mux.m4a").path
        GStreamer.ensureInitialized()
        let launch = "filesrc location=\(input) ! parsebin ! decodebin ! audioconvert dithering=none ! audioresample "
            + "! \(AACEncoderElement.factoryName) bitrate=128000 ! aacparse ! mp4mux ! filesink location=\(reference)"
        var error: UnsafeMutablePointer<GError>?
        let pipeline = try #require(gst_parse_launch(launch, &error))
        defer {
            gst_element_set_state(pipeline, GST_STATE_NULL)
            gst_object_unref(UnsafeMutableRawPointer(pipeline))
        }
        #expect(try X264ElementTests.play(pipeline) == GST_MESSAGE_EOS)

        let ourPackets = try Self.packets(ours), theirPackets = try Self.packets(reference)
        #expect(ourPackets.count > 2000, "\(ourPackets.count) AAC frames")
        #expect(ourPackets == theirPackets, "the AAC frames differ from mp4mux's file")

        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: ours)))
        let elst = try #require(Self.box(["moov", "trak", "edts", "elst"], in: bytes))
        #expect(Self.u32(elst, 12) == 1024, "the encoder's priming is edited out")
        let duration = { (path: String, stream: String) throws -> Double in
            Double(try Fixtures.run("ffprobe", ["-v", "error", "-select_streams", stream, "-show_entries", "stream=duration",
                                                "-of", "csv=p=0", path]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let (got, expected) = (try duration(ours, "a"), try duration(input, "a"))
        #expect(abs(got - expected) < 1024.0 / 44100, "duration \(got) s, input \(expected) s")
        // mp4mux's file plays the priming; ours is shorter by exactly that (1023 samples in
        // mp4mux's first timestamp, as it rounds; within a millisecond either way).
        let withPriming = try duration(reference, "a")
        #expect(abs(withPriming - got - 1024.0 / 44100) < 0.001, "\(withPriming) s with the priming, \(got) s without")
        let complaints = try Fixtures.run("ffmpeg", ["-hide_banner", "-v", "warning", "-i", ours, "-f", "null", "-"])
        #expect(complaints.isEmpty, "\(complaints.prefix(300))")
    }
}
