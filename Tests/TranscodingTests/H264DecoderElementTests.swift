import CGStreamer
import Synchronization
import Testing
@testable import Transcoding

/// The engine's libavcodec H.264 element against avdec_h264 on the same streams: the same
/// pictures with the same timestamps, whether it wraps libav's frames (downstream takes video
/// meta) or copies them into packed buffers (downstream does not).
@Suite struct H264DecoderElementTests {
    /// What came out of a decoder's source pad.
    struct Decoded: Equatable {
        var frames: [Int] = []        // one hash of the visible pixels per picture, in output order
        var pts: [UInt64] = []
        var format = ""
        var memoriesPerBuffer: Set<UInt32> = []
        var interlaceMode = ""        // the caps' interlace-mode and field-order
        var fieldOrder = ""
        var flaggedInterlaced = 0     // buffers with GST_VIDEO_BUFFER_FLAG_INTERLACED / _TFF
        var flaggedTFF = 0
    }

    final class Collector: @unchecked Sendable {
        let lock = Mutex(Decoded())
    }

    /// Decodes `path` with `decoder`, then `downstream`: "fakesink" (no video meta: our element
    /// copies) or a scaler, which takes video meta (our element wraps libav's planes).
    static func decode(_ path: String, with decoder: String, downstream: String) throws -> Decoded {
        let launch = "filesrc location=\(path) ! parsebin ! \(decoder) name=dec ! \(downstream)"
        let collector = Collector()
        try ProbedPipeline.play(launch, element: "dec", pad: "src", data: collector) { pad, info, data in
            guard let data else { return GST_PAD_PROBE_OK }
            ProbedPipeline.withFrame(pad, info) { buffer, caps, videoInfo, frame in
                var hasher = Hasher()
                for plane in 0..<cgst_video_info_n_planes(&videoInfo) {
                    guard let base = cgst_video_frame_plane(&frame, plane) else { continue }
                    let stride = Int(cgst_video_frame_stride(&frame, plane)), bytes = Int(cgst_video_frame_row_bytes(&frame, plane))
                    for row in 0..<Int(cgst_video_frame_rows(&frame, plane)) {
                        hasher.combine(bytes: UnsafeRawBufferPointer(start: base + row * stride, count: bytes))
                    }
                }
                let hash = hasher.finalize()
                let format = GStreamer.string(gst_video_format_to_string(videoInfo.finfo.pointee.format))
                let structure = gst_caps_get_structure(caps, 0)
                let mode = GStreamer.string(gst_structure_get_string(structure, "interlace-mode"))
                let order = GStreamer.string(gst_structure_get_string(structure, "field-order"))
                let flags = buffer.pointee.mini_object.flags
                Unmanaged<Collector>.fromOpaque(data).takeUnretainedValue().lock.withLock { d in
                    d.frames.append(hash)
                    d.pts.append(UInt64(buffer.pointee.pts))
                    d.format = format
                    d.memoriesPerBuffer.insert(gst_buffer_n_memory(buffer))
                    d.interlaceMode = mode
                    d.fieldOrder = order
                    if flags & GST_VIDEO_BUFFER_FLAG_INTERLACED.rawValue != 0 { d.flaggedInterlaced += 1 }
                    if flags & GST_VIDEO_BUFFER_FLAG_TFF.rawValue != 0 { d.flaggedTFF += 1 }
                }
            }
            return GST_PAD_PROBE_OK
        }
        return collector.lock.withLock { $0 }
    }

    static let scaler = "videoconvertscale ! video/x-raw,width=64,height=48 ! fakesink"

    @Test(arguments: [
        ("bikes.mp4", "I420"),            // avc in MP4, High profile with B-frames
        ("carphone_pristine.mp4", "I420"),
        ("h264-bframes.ts", "I420"),      // byte-stream
        ("h264-444.mkv", "Y444"),
        ("h264-10bit.mkv", "I420_10LE"),
        ("h264-422-10bit.mkv", "I422_10LE"),
        ("h264-gray10.mkv", "I420_10LE"),    // 4:0:0, which libav gives as 4:2:0
        ("h264-rgb.mkv", "GBR"),             // 4:4:4 with an RGB matrix: planar GBR
        ("interlaced-tff.mp4", "I420"),      // MBAFF, both field orders
        ("interlaced-bff.mp4", "I420"),
    ])
    func samePicturesAsAvdec(_ name: String, format: String) throws {
        let path = try Fixtures.input(name)
        let reference = try Self.decode(path, with: "avdec_h264", downstream: "fakesink")
        let wrapped = try Self.decode(path, with: H264DecoderElement.factoryName, downstream: Self.scaler)
        let copied = try Self.decode(path, with: H264DecoderElement.factoryName, downstream: "fakesink")
        #expect(reference.frames.count > 40, "\(name): avdec gave \(reference.frames.count) pictures")
        #expect(wrapped.format == format)
        for (label, ours) in [("wrapped", wrapped), ("copied", copied)] {
            #expect(ours.frames.count == reference.frames.count, "\(name) \(label): \(ours.frames.count) pictures, avdec \(reference.frames.count)")
            #expect(ours.frames == reference.frames, "\(name) \(label): pictures differ from avdec's")
            #expect(ours.pts == reference.pts, "\(name) \(label): timestamps differ from avdec's")
        }
        // The path taken: a memory per plane (libav's own) with video meta, one packed memory without.
        #expect(wrapped.memoriesPerBuffer.allSatisfy { $0 > 1 }, "\(name): wrapped buffers have \(wrapped.memoriesPerBuffer) memories")
        #expect(copied.memoriesPerBuffer == [1], "\(name): copied buffers have \(copied.memoriesPerBuffer) memories")
    }

    /// The decoder decodebin would take for caps: the highest-ranked one whose sink caps fit.
    static func bestDecoder(for capsString: String) -> String? {
        GStreamer.ensureInitialized()
        guard let caps = gst_caps_from_string(capsString) else { return nil }
        defer { GStreamer.unrefCaps(caps) }
        let decoders = gst_element_factory_list_get_elements(GstElementFactoryListType(1), GST_RANK_MARGINAL)   // _TYPE_DECODER
        let fitting = gst_element_factory_list_filter(decoders, caps, GST_PAD_SINK, 0)
        defer {
            gst_plugin_feature_list_free(fitting)
            gst_plugin_feature_list_free(decoders)
        }
        var best: (name: String, rank: guint)?
        var node = fitting
        while let n = node {
            if let feature = n.pointee.data.map(OpaquePointer.init) {
                let rank = gst_plugin_feature_get_rank(feature)
                if rank > best?.rank ?? 0 { best = (GStreamer.objectName(UnsafeMutableRawPointer(feature)), rank) }
            }
            node = n.pointee.next
        }
        return best?.name
    }

    /// Interlaced pictures reach deinterlace and the encoders as interlaced, in their field
    /// order: in the caps (interleaved, as avdec_h264 has them) and on every buffer.
    @Test(arguments: [("interlaced-tff.mp4", "top-field-first"), ("interlaced-bff.mp4", "bottom-field-first")])
    func carriesInterlacingAndFieldOrder(_ name: String, order: String) throws {
        let path = try Fixtures.clip(name)
        let reference = try Self.decode(path, with: "avdec_h264", downstream: "fakesink")
        let ours = try Self.decode(path, with: H264DecoderElement.factoryName, downstream: Self.scaler)
        #expect(reference.fieldOrder == order, "avdec: \(reference.fieldOrder)")
        #expect(ours.interlaceMode == "interleaved", "\(ours.interlaceMode)")
        #expect(ours.fieldOrder == order, "\(ours.fieldOrder)")
        #expect(ours.flaggedInterlaced == ours.frames.count && ours.frames.count == 50, "\(ours.flaggedInterlaced) of \(ours.frames.count)")
        #expect(ours.flaggedTFF == (order == "top-field-first" ? ours.frames.count : 0), "\(ours.flaggedTFF) flagged top field first")
    }

    @Test func decodebinPicksItForH264() {
        #expect(Self.bestDecoder(for: "video/x-h264, stream-format=avc, alignment=au") == H264DecoderElement.factoryName)
    }

    /// Streams outside what the element maps go to avdec_h264, chosen from the parser's caps
    /// before anything is decoded (by decodebin and by the discoverer alike).
    @Test(arguments: [
        ("4:2:0", 8, true), ("4:2:2", 8, true), ("4:4:4", 8, true), ("4:0:0", 8, true),
        ("4:2:0", 10, true), ("4:2:2", 10, true), ("4:4:4", 10, true), ("4:0:0", 10, true),
        ("4:2:0", 9, false), ("4:2:0", 12, false), ("4:2:2", 12, false), ("4:4:4", 14, false),
        ("4:1:1", 8, false),                 // anything new
    ])
    func libavTakesWhatTheElementDoesNotMap(_ chroma: String, depth: Int, own: Bool) {
        let caps = "video/x-h264, stream-format=avc, alignment=au, chroma-format=(string)\"\(chroma)\", bit-depth-luma=(uint)\(depth), parsed=true"
        #expect(Self.bestDecoder(for: caps) == (own ? H264DecoderElement.factoryName : "avdec_h264"), "\(caps)")
    }
}
