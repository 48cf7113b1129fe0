import CGStreamer

/// Turns a GStreamer error into one of our categories, by domain, code and which part of
/// the pipeline posted it (input side, the job's video branch, or the output side).
enum ErrorClassifier {
    static func classify(domain: GQuark, code: Int32, sourcePath: String, debug: String, fragmentMode: Bool) -> TranscodeError {
        let fromInput = sourcePath.contains("/decode") || sourcePath.hasSuffix(":src")
        let fromFragment = sourcePath.contains("/\(PipelineBuilder.fragmentName)") || sourcePath.contains(":\(PipelineBuilder.fragmentName)")
        let fromOutput = sourcePath.hasSuffix(":sink") || sourcePath.hasSuffix(":mux")
        if domain == gst_resource_error_quark() {
            if fromOutput { return TranscodeError(.outputUnwritable, "The output file could not be written.") }
            return TranscodeError(.inputUnreadable, "The input file could not be read.")
        }
        if domain == gst_stream_error_quark() {
            switch code {
            case Int32(GST_STREAM_ERROR_TYPE_NOT_FOUND.rawValue), Int32(GST_STREAM_ERROR_WRONG_TYPE.rawValue),
                 Int32(GST_STREAM_ERROR_CODEC_NOT_FOUND.rawValue), Int32(GST_STREAM_ERROR_NOT_IMPLEMENTED.rawValue):
                return TranscodeError(.inputUnsupported, "The input uses a format or codec this worker cannot handle.")
            case Int32(GST_STREAM_ERROR_DECODE.rawValue), Int32(GST_STREAM_ERROR_DEMUX.rawValue):
                return TranscodeError(.inputCorrupt, "The input is damaged or incomplete and could not be decoded.")
            case Int32(GST_STREAM_ERROR_ENCODE.rawValue), Int32(GST_STREAM_ERROR_MUX.rawValue):
                return TranscodeError(.encoderFailure, "Encoding failed.")
            default: break
            }
        }
        if domain == gst_core_error_quark(), code == Int32(GST_CORE_ERROR_MISSING_PLUGIN.rawValue) {
            return TranscodeError(.inputUnsupported, "The input uses a format or codec this worker cannot handle.")
        }
        if debug.contains("not-negotiated") || (domain == gst_core_error_quark() && code == Int32(GST_CORE_ERROR_NEGOTIATION.rawValue)) {
            if fragmentMode {
                return TranscodeError(.optionsInvalid, "The fragment's elements could not agree on a video format with the input or the container.")
            }
            return TranscodeError(.encoderFailure, "The encoder could not accept the input's format.")
        }
        if fromFragment { return TranscodeError(.encoderFailure, "An element of the fragment failed while encoding.") }
        if fromInput { return TranscodeError(.inputCorrupt, "The input is damaged or incomplete and could not be decoded.") }
        return TranscodeError(.encoderFailure, "Encoding failed.")
    }
}
