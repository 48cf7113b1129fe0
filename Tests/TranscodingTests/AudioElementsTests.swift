import CGStreamer
import Foundation
import Synchronization
import Testing
@testable import Transcoding

/// The libavcodec audio elements against gst-libav's on the same input: the same samples and
/// channel layout from the decoder, the same bytes from the AAC encoder.
@Suite struct AudioElementsTests {
    struct Output: Equatable {
        var bytes: [UInt8] = []
        var caps = ""
        /// The first buffer's PTS and the end (PTS + duration) of the last, in nanoseconds.
        var firstPTS: UInt64?
        var end: UInt64 = 0
    }

    final class Collector: @unchecked Sendable {
        let output = Mutex(Output())
    }

    /// Runs `launch` to its end and returns what reached the element named `out`.
    static func collect(_ launch: String) throws -> Output {
        let collector = Collector()
        try ProbedPipeline.play(launch, element: "out", pad: "sink", data: collector) { pad, info, data in
            guard let pad, let info, let data, let buffer = info.pointee.data?.assumingMemoryBound(to: GstBuffer.self) else { return GST_PAD_PROBE_OK }
            var map = GstMapInfo()
            guard gst_buffer_map(buffer, &map, GST_MAP_READ) != 0 else { return GST_PAD_PROBE_OK }
            defer { gst_buffer_unmap(buffer, &map) }
            let chunk = UnsafeRawBufferPointer(start: map.data, count: Int(map.size))
            let caps = gst_pad_get_current_caps(pad)
            let text = caps.map { GStreamer.take(gst_caps_to_string($0)) } ?? ""
            if let caps { GStreamer.unrefCaps(caps) }
            let pts = buffer.pointee.pts, duration = buffer.pointee.duration
            Unmanaged<Collector>.fromOpaque(data).takeUnretainedValue().output.withLock { o in
                o.bytes.append(contentsOf: chunk)
                o.caps = text
                if pts != cgst_clock_time_none() {
                    if o.firstPTS == nil { o.firstPTS = UInt64(pts) }
                    if duration != cgst_clock_time_none() { o.end = UInt64(pts + duration) }
                }
            }
            return GST_PAD_PROBE_OK
        }
        return collector.output.withLock { $0 }
    }

    static func sameCaps(_ a: String, _ b: String) -> Bool {
        guard let x = gst_caps_from_string(a), let y = gst_caps_from_string(b) else { return false }
        defer { GStreamer.unrefCaps(x); GStreamer.unrefCaps(y) }
        return gst_caps_is_equal(x, y) != 0
    }

    @Test(arguments: [
        ("trailer_bbb.mp4", "mpegaudioparse", "avdec_mp3float"),   // MP3, stereo (libav's default MP3 decoder)
        ("bigbuckbunny.mp4", "aacparse", "avdec_aac"),        // AAC raw with codec_data, 5.1
        ("h264-bframes.ts", "aacparse", "avdec_aac"),         // AAC in ADTS
        ("ac3.mkv", "ac3parse", "avdec_ac3"),                 // AC-3, 5.1
    ])
    func decoderGivesAvdecsSamples(_ name: String, parser: String, avdec: String) throws {
        let path = try Fixtures.input(name)
        let demux = name.hasSuffix(".ts") ? "tsdemux" : name.hasSuffix(".mkv") ? "matroskademux" : "qtdemux"
        func run(_ decoder: String) throws -> Output {
            try Self.collect("filesrc location=\(path) ! \(demux) ! \(parser) ! \(decoder) ! audioconvert "
                             + "! audio/x-raw,format=F32LE,layout=interleaved ! fakesink name=out")
        }
        let theirs = try run(avdec)
        let ours = try run(AudioDecoderElement.factoryName)
        #expect(theirs.bytes.count > 100_000, "\(name): avdec gave \(theirs.bytes.count) bytes")
        #expect(ours.bytes.count == theirs.bytes.count, "\(name): \(ours.bytes.count) bytes against avdec's \(theirs.bytes.count)")
        let same = ours.bytes == theirs.bytes   // outside #expect, which would diff megabytes
        #expect(same, "\(name): samples differ from avdec's")
        #expect(Self.sameCaps(ours.caps, theirs.caps), "\(name): \(ours.caps) against avdec's \(theirs.caps)")
    }

    /// The raw AAC frames of an ADTS file, headers dropped.
    static func adtsPayloads(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [], at = 0
        while at + 7 <= data.count, data[at] == 0xFF, data[at + 1] & 0xF0 == 0xF0 {
            let header = data[at + 1] & 1 == 1 ? 7 : 9
            let length = Int(data[at + 3] & 0x03) << 11 | Int(data[at + 4]) << 3 | Int(data[at + 5]) >> 5
            guard length > header, at + length <= data.count else { break }
            out += data[at + header ..< at + length]
            at += length
        }
        return out
    }

    /// Same input, same settings: ffmpeg's AAC encoder (the bench's comparison) and ours agree
    /// to the byte. (avenc_aac does not: its aac-ms property forces mid/side, where libav decides.)
    @Test(arguments: ["stereo", "FL+FR+FC+LFE+BL+BR"])
    func encoderGivesFfmpegsBytes(layout: String) throws {
        let dir = try Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let channels = layout == "stereo" ? 2 : 6
        let waves = ["sin(440*2*PI*t)", "0.5*sin(660*2*PI*t)", "0.3*sin(880*2*PI*t)", "0.2*sin(110*2*PI*t)",
                     "0.4*sin(330*2*PI*t)", "0.1*sin(990*2*PI*t)"].prefix(channels).joined(separator: "|")
        let wav = dir.appendingPathComponent("in.wav").path, adts = dir.appendingPathComponent("ffmpeg.aac").path
        try Fixtures.run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "aevalsrc=\(waves):s=48000:d=3:c=\(layout)",
                                    "-c:a", "pcm_f32le", wav])
        try Fixtures.run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", wav, "-c:a", "aac", "-b:a", "128k", "-f", "adts", adts])
        let theirs = Self.adtsPayloads(Array(try Data(contentsOf: URL(fileURLWithPath: adts))))
        let ours = try Self.collect("filesrc location=\(wav) ! wavparse ! audioconvert ! \(AACEncoderElement.factoryName) bitrate=128000 ! fakesink name=out")
        #expect(theirs.count > 10_000)
        let same = ours.bytes == theirs
        #expect(same, "\(layout): \(ours.bytes.count) bytes against ffmpeg's \(theirs.count)")
        #expect(ours.caps.contains("codec_data=(buffer)") && ours.caps.contains("channels=(int)\(channels)"), "\(ours.caps)")
    }

    /// The resampler against ffmpeg's automatic conversion (libswresample's defaults, as here)
    /// of the same float input: the same samples to the bit, held-back ones drained at the end.
    @Test(arguments: [("S16LE", 44100, 48000, "s16le"), ("F32LE", 48000, 24000, "f32le"), ("S16LE", 48000, 48000, "s16le")])
    func resamplerGivesFfmpegsSamples(format: String, from inRate: Int, to outRate: Int, ffmpegFormat: String) throws {
        let dir = try Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("in.wav").path, raw = dir.appendingPathComponent("ffmpeg.raw").path
        // Tones up to near the input's Nyquist frequency and noise: the filter's stop band matters.
        let waves = "0.5*sin(440*2*PI*t)+0.2*sin(\(inRate / 2 - 1500)*2*PI*t)+0.1*(random(0)-0.5)|0.4*sin(1000*2*PI*t)"
        try Fixtures.run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "aevalsrc=\(waves):s=\(inRate):d=3.01",
                                    "-c:a", "pcm_f32le", wav])
        try Fixtures.run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", wav, "-ar", String(outRate), "-f", ffmpegFormat, raw])
        let theirs = Array(try Data(contentsOf: URL(fileURLWithPath: raw)))
        let ours = try Self.collect("filesrc location=\(wav) ! wavparse ! \(ResamplerElement.factoryName) "
                                    + "! audio/x-raw,format=\(format),rate=\(outRate) ! fakesink name=out")
        let frameBytes = 2 * (format == "S16LE" ? 2 : 4)
        #expect(theirs.count / frameBytes > outRate * 3, "ffmpeg gave \(theirs.count) bytes")
        #expect(ours.bytes.count == theirs.count, "\(ours.bytes.count) bytes against ffmpeg's \(theirs.count)")
        let same = ours.bytes == theirs
        #expect(same, "\(format) \(inRate) to \(outRate) Hz: samples differ from ffmpeg's")
        // Timed from the input's start by samples counted out: the drained tail ends the stream
        // where the sound ends, within one output sample.
        let frames = UInt64(ours.bytes.count / frameBytes)
        #expect(ours.firstPTS == 0)
        #expect(abs(Int64(ours.end) - Int64(frames * 1_000_000_000 / UInt64(outRate))) <= 1_000_000_000 / Int64(outRate),
                "ends at \(ours.end) ns for \(frames) samples")
        #expect(abs(Int64(ours.end) - 3_010_000_000) <= 1_000_000_000 / Int64(outRate), "ends at \(ours.end) ns, the input at 3.01 s")
        #expect(Self.sameCaps(ours.caps, "audio/x-raw, format=(string)\(format), layout=(string)interleaved, rate=(int)\(outRate), "
                              + "channels=(int)2, channel-mask=(bitmask)0x3"), "\(ours.caps)")
    }

    /// Two inputs one after the other (concat: a new segment between them): the samples held
    /// back from the first are drained before the second starts, and the second is resampled
    /// from a fresh start, so the output is ffmpeg's conversion of each, end to end.
    @Test func resamplerDrainsAtANewSegment() throws {
        let dir = try Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var expected: [UInt8] = [], wavs: [String] = []
        for (i, tone) in ["sin(440*2*PI*t)|sin(550*2*PI*t)", "0.5*sin(3000*2*PI*t)|0.2*sin(90*2*PI*t)"].enumerated() {
            let wav = dir.appendingPathComponent("in\(i).wav").path, raw = dir.appendingPathComponent("ffmpeg\(i).raw").path
            try Fixtures.run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "aevalsrc=\(tone):s=44100:d=1.003",
                                        "-c:a", "pcm_f32le", wav])
            try Fixtures.run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-i", wav, "-ar", "48000", "-f", "s16le", raw])
            expected += Array(try Data(contentsOf: URL(fileURLWithPath: raw)))
            wavs.append(wav)
        }
        let ours = try Self.collect("concat name=c ! \(ResamplerElement.factoryName) ! audio/x-raw,format=S16LE,rate=48000 ! fakesink name=out "
                                    + wavs.map { "filesrc location=\($0) ! wavparse ! c. " }.joined())
        #expect(expected.count > 2 * 48000 * 4)
        #expect(ours.bytes.count == expected.count, "\(ours.bytes.count) bytes against ffmpeg's \(expected.count)")
        let same = ours.bytes == expected
        #expect(same, "samples differ from ffmpeg's conversion of each input")
    }

    @Test func decodebinPicksItForCommonAudio() throws {
        GStreamer.ensureInitialized()
        for caps in ["audio/mpeg, mpegversion=1, layer=3, parsed=true", "audio/mpeg, mpegversion=4, stream-format=raw, framed=true",
                     "audio/x-ac3, framed=true"] {
            #expect(H264DecoderElementTests.bestDecoder(for: caps) == AudioDecoderElement.factoryName, "\(caps)")
        }
    }
}
