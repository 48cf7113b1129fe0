import CGStreamer
import Synchronization
import Testing
@testable import Transcoding

/// The presets' libx264 element on generated frames: every frame comes out, keyframes and
/// timestamps are sane, and (its reason to exist) input frames are let go of at once, where
/// x264enc holds one per frame of x264's delay.
@Suite struct X264ElementTests {
    /// Input buffers alive at once and what came out, for `frames` test frames through `encoder`.
    struct Run {
        var maxAlive = 0
        var outputs = 0
        var keyframes = 0
        var dtsNonDecreasing = true
        var allPTS = true
        /// No picture decodes after it is shown (DTS ≤ PTS on every buffer).
        var dtsNeverAfterPTS = true
    }

    /// Counts live input buffers: each buffer entering the encoder is replaced by a deep copy
    /// (pooled buffers are never freed, only recycled) whose finalization is watched.
    final class Tracker: Sendable {
        let alive = Atomic<Int>(0)
        let maxAlive = Atomic<Int>(0)
        let outputs = Atomic<Int>(0)
        let keyframes = Atomic<Int>(0)
        let lastDTS = Atomic<UInt64>(0)
        let dtsBackwards = Atomic<Bool>(false)
        let missingPTS = Atomic<Bool>(false)
        let dtsAfterPTS = Atomic<Bool>(false)
    }

    /// Plays a pipeline until it ends: EOS or ERROR (60 s at most).
    static func play(_ pipeline: UnsafeMutablePointer<GstElement>) throws -> GstMessageType {
        gst_element_set_state(pipeline, GST_STATE_PLAYING)
        let bus = gst_element_get_bus(pipeline)
        defer { gst_object_unref(UnsafeMutableRawPointer(bus)) }
        let types = GstMessageType(rawValue: GST_MESSAGE_EOS.rawValue | GST_MESSAGE_ERROR.rawValue)
        let message = try #require(gst_bus_timed_pop_filtered(bus, 60 * GstClockTime(GStreamer.second), types), "no EOS or error in 60 s")
        defer { gst_mini_object_unref(UnsafeMutableRawPointer(message).assumingMemoryBound(to: GstMiniObject.self)) }
        return cgst_message_type(message)
    }

    static func encode(_ encoder: String, format: String = "I420", frames: Int = 60, parser: String = "h264parse") throws -> Run {
        GStreamer.ensureInitialized()
        let launch = "videotestsrc num-buffers=\(frames) pattern=ball ! video/x-raw,format=\(format),width=320,height=240,framerate=30/1 "
            + "! identity name=copy ! \(encoder) ! \(parser) ! fakesink name=out"
        var error: UnsafeMutablePointer<GError>?
        let pipeline = try #require(gst_parse_launch(launch, &error), "\(launch)")
        defer {
            gst_element_set_state(pipeline, GST_STATE_NULL)
            gst_object_unref(UnsafeMutableRawPointer(pipeline))
        }
        let bin = cgst_bin(UnsafeMutableRawPointer(pipeline))
        let tracker = Tracker()
        let data = Unmanaged.passRetained(tracker).toOpaque()
        defer { Unmanaged<Tracker>.fromOpaque(data).release() }

        let copy = try #require(gst_bin_get_by_name(bin, "copy"))
        let copyPad = try #require(gst_element_get_static_pad(copy, "src"))
        _ = gst_pad_add_probe(copyPad, cgst_probe_buffer(), { _, info, data in
            guard let info, let data, let buffer = info.pointee.data?.assumingMemoryBound(to: GstBuffer.self) else { return GST_PAD_PROBE_OK }
            let t = Unmanaged<Tracker>.fromOpaque(data).takeUnretainedValue()
            let fresh = gst_buffer_copy_deep(buffer)!
            gst_mini_object_unref(UnsafeMutableRawPointer(buffer).assumingMemoryBound(to: GstMiniObject.self))
            info.pointee.data = UnsafeMutableRawPointer(fresh)
            let now = t.alive.add(1, ordering: .relaxed).newValue
            _ = t.maxAlive.max(now, ordering: .relaxed)
            gst_mini_object_weak_ref(UnsafeMutableRawPointer(fresh).assumingMemoryBound(to: GstMiniObject.self), { data, _ in
                if let data { Unmanaged<Tracker>.fromOpaque(data).takeUnretainedValue().alive.subtract(1, ordering: .relaxed) }
            }, data)
            return GST_PAD_PROBE_OK
        }, data, nil)

        let out = try #require(gst_bin_get_by_name(bin, "out"))
        let outPad = try #require(gst_element_get_static_pad(out, "sink"))
        _ = gst_pad_add_probe(outPad, cgst_probe_buffer(), { _, info, data in
            guard let info, let data, let buffer = info.pointee.data?.assumingMemoryBound(to: GstBuffer.self) else { return GST_PAD_PROBE_OK }
            let t = Unmanaged<Tracker>.fromOpaque(data).takeUnretainedValue()
            t.outputs.add(1, ordering: .relaxed)
            if buffer.pointee.mini_object.flags & GST_BUFFER_FLAG_DELTA_UNIT.rawValue == 0 { t.keyframes.add(1, ordering: .relaxed) }
            let dts = UInt64(buffer.pointee.dts)
            if dts != GStreamer.clockTimeNone {
                if dts < t.lastDTS.load(ordering: .relaxed) { t.dtsBackwards.store(true, ordering: .relaxed) }
                t.lastDTS.store(dts, ordering: .relaxed)
            }
            if UInt64(buffer.pointee.pts) == GStreamer.clockTimeNone { t.missingPTS.store(true, ordering: .relaxed) }
            if dts != GStreamer.clockTimeNone, dts > UInt64(buffer.pointee.pts) { t.dtsAfterPTS.store(true, ordering: .relaxed) }
            return GST_PAD_PROBE_OK
        }, data, nil)
        for o in [UnsafeMutableRawPointer(copyPad), UnsafeMutableRawPointer(copy), UnsafeMutableRawPointer(outPad), UnsafeMutableRawPointer(out)] {
            gst_object_unref(o)
        }

        #expect(try Self.play(pipeline) == GST_MESSAGE_EOS, "pipeline failed: \(launch)")
        return Run(maxAlive: tracker.maxAlive.load(ordering: .relaxed), outputs: tracker.outputs.load(ordering: .relaxed),
                   keyframes: tracker.keyframes.load(ordering: .relaxed),
                   dtsNonDecreasing: !tracker.dtsBackwards.load(ordering: .relaxed), allPTS: !tracker.missingPTS.load(ordering: .relaxed),
                   dtsNeverAfterPTS: !tracker.dtsAfterPTS.load(ordering: .relaxed))
    }

    /// Ours against the stock element with the same settings, and the parser after both.
    static let encoderPairs: [(ours: String, theirs: String, parser: String)] = [
        ("\(X264Element.factoryName) speed-preset=veryfast crf=23", "x264enc speed-preset=veryfast pass=qual quantizer=23 vbv-buf-capacity=0", "h264parse"),
        ("\(X265Element.factoryName) speed-preset=veryfast crf=28", "x265enc speed-preset=veryfast option-string=crf=28 log-level=error", "h265parse"),
    ]

    @Test(arguments: encoderPairs)
    func releasesEachInputFrameOnceTheLibraryHasIt(_ pair: (ours: String, theirs: String, parser: String)) throws {
        let ours = try Self.encode(pair.ours, parser: pair.parser)
        let theirs = try Self.encode(pair.theirs, parser: pair.parser)
        #expect(ours.outputs == 60 && theirs.outputs == 60)
        #expect(ours.maxAlive <= 2, "our element held \(ours.maxAlive) input frames")
        #expect(theirs.maxAlive > 8, "the stock element holds one input frame per frame of the encoder's delay; saw \(theirs.maxAlive)")
    }

    /// The HEVC element on the checks `everyFrameOutWithBFramesAndKeyframes` makes for H.264.
    @Test func x265EveryFrameOutWithBFramesAndKeyframes() throws {
        let run = try Self.encode("\(X265Element.factoryName) speed-preset=medium key-int-max=15", parser: "h265parse")
        #expect(run.outputs == 60)
        #expect(run.keyframes >= 4, "key-int-max=15 over 60 frames gave \(run.keyframes) keyframes")
        #expect(run.dtsNonDecreasing)
        #expect(run.allPTS)
        #expect(run.dtsNeverAfterPTS, "a B-frame decodes after it is shown")
        #expect(try Self.encode("\(X265Element.factoryName) speed-preset=ultrafast bitrate=300", frames: 30, parser: "h265parse").outputs == 30)
    }

    @Test(arguments: ["I420", "NV12"]) func everyFrameOutWithBFramesAndKeyframes(format: String) throws {
        // medium: 3 B-frames, so output order differs from input order and dts starts below pts.
        let run = try Self.encode("\(X264Element.factoryName) speed-preset=medium key-int-max=15", format: format)
        #expect(run.outputs == 60)
        #expect(run.keyframes >= 4, "key-int-max=15 over 60 frames gave \(run.keyframes) keyframes")
        #expect(run.dtsNonDecreasing)
        #expect(run.allPTS)
        #expect(run.dtsNeverAfterPTS, "a B-frame decodes after it is shown")
    }

    @Test func bitrateModeAndUnknownPresetFailCleanly() throws {
        #expect(try Self.encode("\(X264Element.factoryName) speed-preset=ultrafast bitrate=300", frames: 30).outputs == 30)
        var error: UnsafeMutablePointer<GError>?
        let launch = "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=64 ! \(X264Element.factoryName) speed-preset=nonsense ! fakesink"
        let pipeline = try #require(gst_parse_launch(launch, &error))
        defer {
            gst_element_set_state(pipeline, GST_STATE_NULL)
            gst_object_unref(UnsafeMutableRawPointer(pipeline))
        }
        #expect(try Self.play(pipeline) == GST_MESSAGE_ERROR, "an unknown x264 preset must be an error, not silence")
    }

    /// Interlaced input reaching the element (from a fragment; presets deinterlace first) is
    /// coded interlaced in its own field order, not forced top-first.
    @Test(arguments: [("interlaced-tff.mp4", "tt"), ("interlaced-bff.mp4", "bb")])
    func keepsTheInputsFieldOrder(_ name: String, order: String) throws {
        GStreamer.ensureInitialized()
        let out = try Fixtures.tempDir().appendingPathComponent("o.mp4").path
        let launch = "filesrc location=\(try Fixtures.clip(name)) ! parsebin ! avdec_h264 ! \(X264Element.factoryName) speed-preset=ultrafast "
            + "! h264parse ! mp4mux ! filesink location=\(out)"
        var error: UnsafeMutablePointer<GError>?
        let pipeline = try #require(gst_parse_launch(launch, &error), "\(launch)")
        defer {
            gst_element_set_state(pipeline, GST_STATE_NULL)
            gst_object_unref(UnsafeMutableRawPointer(pipeline))
        }
        #expect(try Self.play(pipeline) == GST_MESSAGE_EOS)
        #expect(try TranscodeTests.fieldOrder(out) == order)
    }
}
