import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Reads a file's streams with GstDiscoverer. Blocking: call from a dedicated thread.
enum Prober {
    static func probe(path: String, timeout: Duration, logger: Logger) throws(TranscodeError) -> MediaInfo {
        GStreamer.ensureInitialized()
        var st = stat()
        guard access(path, R_OK) == 0, stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw TranscodeError(.inputUnreadable, "The input file does not exist or cannot be read.")
        }
        if st.st_size == 0 {
            throw TranscodeError(.inputCorrupt, "The input file is empty.")
        }
        var error: UnsafeMutablePointer<GError>?
        let ns = UInt64(timeout.components.seconds) * GStreamer.second + UInt64(timeout.components.attoseconds / 1_000_000_000)
        guard let discoverer = gst_discoverer_new(GstClockTime(ns), &error) else {
            let message = error.map { GStreamer.string($0.pointee.message) } ?? "unknown"
            if let error { g_error_free(error) }
            logger.error("gst_discoverer_new failed", metadata: ["gst.error": "\(message)"])
            throw TranscodeError(.encoderFailure, "The media engine could not start.")
        }
        defer { g_object_unref(UnsafeMutableRawPointer(discoverer)) }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let uri = gst_filename_to_uri(absolute, nil) else {
            throw TranscodeError(.inputUnreadable, "The input path is not valid.")
        }
        defer { g_free(uri) }
        let info = gst_discoverer_discover_uri(discoverer, uri, &error)
        defer { if let info { g_object_unref(UnsafeMutableRawPointer(info)) } }
        var domain: GQuark = 0, code: Int32 = 0, message = ""
        if let error {
            domain = error.pointee.domain
            code = error.pointee.code
            message = GStreamer.string(error.pointee.message)
            g_error_free(error)
        }
        guard let info else { throw classify(domain: domain, code: code, message: message, result: nil, logger: logger) }
        let result = gst_discoverer_info_get_result(info)
        guard result == GST_DISCOVERER_OK else {
            throw classify(domain: domain, code: code, message: message, result: result, logger: logger)
        }
        return mediaInfo(info)
    }

    private static func classify(domain: GQuark, code: Int32, message: String, result: GstDiscovererResult?,
                                 logger: Logger) -> TranscodeError {
        logger.info("probe failed", metadata: ["gst.error": "\(message)", "gst.result": "\(result.map { String($0.rawValue) } ?? "-")"])
        switch result {
        case GST_DISCOVERER_URI_INVALID: return TranscodeError(.inputUnreadable, "The input file cannot be opened.")
        case GST_DISCOVERER_TIMEOUT: return TranscodeError(.inputCorrupt, "The input could not be read in time; it may be damaged.")
        case GST_DISCOVERER_MISSING_PLUGINS:
            return TranscodeError(.inputUnsupported, "The input uses a format or codec this worker cannot decode.")
        default: break
        }
        if domain == gst_resource_error_quark() {
            return TranscodeError(.inputUnreadable, "The input file cannot be read.")
        }
        if domain == gst_stream_error_quark() {
            switch code {
            case Int32(GST_STREAM_ERROR_TYPE_NOT_FOUND.rawValue), Int32(GST_STREAM_ERROR_WRONG_TYPE.rawValue):
                return TranscodeError(.inputUnsupported, "The input is not an audio or video file this worker understands.")
            case Int32(GST_STREAM_ERROR_CODEC_NOT_FOUND.rawValue), Int32(GST_STREAM_ERROR_NOT_IMPLEMENTED.rawValue):
                return TranscodeError(.inputUnsupported, "The input uses a codec this worker cannot decode.")
            default: break
            }
        }
        if domain == gst_core_error_quark(), code == Int32(GST_CORE_ERROR_MISSING_PLUGIN.rawValue) {
            return TranscodeError(.inputUnsupported, "The input uses a format or codec this worker cannot decode.")
        }
        return TranscodeError(.inputCorrupt, "The input file is damaged or incomplete and cannot be read.")
    }

    private static func mediaInfo(_ info: OpaquePointer) -> MediaInfo {
        var streams: [MediaInfo.Stream] = []
        func walk(_ list: UnsafeMutablePointer<GList>?, _ body: (OpaquePointer) -> MediaInfo.Stream) {
            var node = list
            while let n = node {
                if let d = n.pointee.data { streams.append(body(OpaquePointer(d))) }
                node = n.pointee.next
            }
            gst_discoverer_stream_info_list_free(list)
        }
        walk(gst_discoverer_info_get_video_streams(info)) { v in
            var s = stream(v, kind: .video)
            s.width = Int(gst_discoverer_video_info_get_width(v))
            s.height = Int(gst_discoverer_video_info_get_height(v))
            let den = gst_discoverer_video_info_get_framerate_denom(v)
            if den > 0 { s.frameRate = Double(gst_discoverer_video_info_get_framerate_num(v)) / Double(den) }
            let br = gst_discoverer_video_info_get_bitrate(v)
            s.bitRate = br > 0 ? Int(br) : nil
            s.isImage = gst_discoverer_video_info_is_image(v) != 0
            if gst_discoverer_video_info_is_interlaced(v) != 0 { s.interlaced = true }
            return s
        }
        walk(gst_discoverer_info_get_audio_streams(info)) { a in
            var s = stream(a, kind: .audio)
            s.channels = Int(gst_discoverer_audio_info_get_channels(a))
            s.sampleRate = Int(gst_discoverer_audio_info_get_sample_rate(a))
            let br = gst_discoverer_audio_info_get_bitrate(a)
            s.bitRate = br > 0 ? Int(br) : nil
            return s
        }
        walk(gst_discoverer_info_get_subtitle_streams(info)) { stream($0, kind: .subtitle) }
        var container = ""
        if let top = gst_discoverer_info_get_stream_info(info) {
            if let caps = gst_discoverer_stream_info_get_caps(top) {
                container = GStreamer.mediaTypes(caps).first ?? ""
                GStreamer.unrefCaps(caps)
            }
            g_object_unref(UnsafeMutableRawPointer(top))
        }
        let duration = Double(gst_discoverer_info_get_duration(info)) / Double(GStreamer.second)
        let video = streams.first { $0.kind == .video }
        return MediaInfo(container: container, duration: duration, streams: streams, width: video?.width,
                         height: video?.height, frameRate: video?.frameRate,
                         bitRate: video?.bitRate ?? streams.first { $0.kind == .audio }?.bitRate)
    }

    private static func stream(_ s: OpaquePointer, kind: MediaInfo.Stream.Kind) -> MediaInfo.Stream {
        var mediaType = "", codec = ""
        var result = MediaInfo.Stream(kind: kind, codec: "", mediaType: "")
        if let caps = gst_discoverer_stream_info_get_caps(s) {
            mediaType = GStreamer.mediaTypes(caps).first ?? ""
            codec = GStreamer.take(gst_pb_utils_get_codec_description(caps))
            if kind == .video, let structure = gst_caps_get_structure(caps, 0) { bitstream(structure, into: &result) }
            GStreamer.unrefCaps(caps)
        }
        result.codec = codec.isEmpty ? mediaType : codec
        result.mediaType = mediaType
        return result
    }

    /// The parser's reading of the bitstream (h264parse, h265parse, mpegvideoparse caps).
    private static func bitstream(_ s: UnsafeMutablePointer<GstStructure>, into stream: inout MediaInfo.Stream) {
        func string(_ field: String) -> String? { gst_structure_get_string(s, field).map { String(cString: $0) } }
        stream.chromaFormat = string("chroma-format")
        var depth: guint = 0
        if gst_structure_get_uint(s, "bit-depth-luma", &depth) != 0, depth > 0 { stream.bitDepth = Int(depth) }
        // h264parse leaves interlace-mode out when the stream may code fields (frame_mbs_only_flag 0).
        if let mode = string("interlace-mode"), mode != "progressive" { stream.interlaced = true }
        if string("coded-picture-structure") == "field" { stream.interlaced = true }
    }
}
