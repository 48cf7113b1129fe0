import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Parses an untrusted fragment into a bin and checks it without ever changing its state,
/// so nothing it names is opened.
enum FragmentValidator {
    /// A parsed, checked fragment; the caller owns `handle` and links its two free pads.
    struct Parsed {
        let handle: ObjectHandle
        let sinkPad: ObjectHandle
        let srcPad: ObjectHandle
        /// Media type leaving the fragment, e.g. "video/x-h264" ("video/x-raw" when it does not encode).
        let outputMediaType: String
    }

    static func parse(_ text: String, limits: EngineLimits) throws(TranscodeError) -> Parsed {
        GStreamer.ensureInitialized()
        let start = text.firstIndex { !$0.isWhitespace } ?? text.endIndex
        let end = text.lastIndex { !$0.isWhitespace }.map(text.index(after:)) ?? start
        let trimmed = String(text[start..<end])
        guard !trimmed.isEmpty else { throw TranscodeError(.optionsInvalid, "The pipeline fragment is empty.") }
        guard trimmed.count <= limits.maxFragmentLength else {
            throw TranscodeError(.optionsInvalid, "The pipeline fragment is longer than \(limits.maxFragmentLength) characters.")
        }
        var error: UnsafeMutablePointer<GError>?
        let raw = gst_parse_bin_from_description_full(trimmed, 0, nil, GST_PARSE_FLAG_FATAL_ERRORS, &error)
        if let raw { gst_object_ref_sink(UnsafeMutableRawPointer(raw)) }
        let bin = raw.map { ObjectHandle(owning: UnsafeMutableRawPointer($0)) }
        if let error {
            let message = GStreamer.string(error.pointee.message)
            let code = error.pointee.code
            g_error_free(error)
            throw parseError(message: message, code: code, text: trimmed)
        }
        guard let bin else { throw TranscodeError(.optionsInvalid, "The pipeline fragment could not be parsed.") }

        var sinks: [ObjectHandle] = []
        var srcs: [ObjectHandle] = []
        var encoders: [String] = []
        let it = gst_bin_iterate_recurse(bin.bin)
        defer { gst_iterator_free(it) }
        var failed: gboolean = 0
        while let e = cgst_iterator_next_element(it, &failed) {
            let element = ObjectHandle(owning: UnsafeMutableRawPointer(e))
            let name = GStreamer.objectName(element.raw)
            guard let factory = GStreamer.factoryName(e) else {
                throw TranscodeError(.optionsForbidden, "Element '\(name)' is refused: nested bins are not allowed in fragments.")
            }
            guard FragmentPolicy.allowedFactories.contains(factory) || limits.testOnlyAllowedFactories.contains(factory) else {
                let why = FragmentPolicy.refusalReason(factory: factory, klass: GStreamer.factoryKlass(factory))
                throw TranscodeError(.optionsForbidden, "Element '\(name)' (\(factory)) is refused: \(why).")
            }
            if GStreamer.factoryKlass(factory).contains("Encoder") { encoders.append(factory) }
            try PropertyChecker.check(element: e, name: name, factory: factory, limits: limits)
            collectFreePads(e, sinks: &sinks, srcs: &srcs)
        }
        if failed != 0 { throw TranscodeError(.optionsInvalid, "The pipeline fragment could not be inspected.") }
        guard sinks.count == 1, srcs.count == 1 else {
            throw TranscodeError(.optionsInvalid,
                "The fragment must be one chain with exactly one free input and one free output "
                + "(found \(sinks.count) inputs and \(srcs.count) outputs); branches and references to elements outside it are not allowed.")
        }
        let mediaType = outputType(srcs[0], lastEncoder: encoders.last)
        return Parsed(handle: bin, sinkPad: sinks[0], srcPad: srcs[0], outputMediaType: mediaType)
    }

    private static func collectFreePads(_ e: UnsafeMutablePointer<GstElement>, sinks: inout [ObjectHandle], srcs: inout [ObjectHandle]) {
        let pads = gst_element_iterate_pads(e)
        defer { gst_iterator_free(pads) }
        while let p = cgst_iterator_next_pad(pads) {
            let pad = ObjectHandle(owning: UnsafeMutableRawPointer(p))
            guard gst_pad_is_linked(p) == 0 else { continue }
            if gst_pad_get_direction(p) == GST_PAD_SINK { sinks.append(pad) } else { srcs.append(pad) }
        }
    }

    /// What the fragment emits: its free pad's caps (templates while in NULL state),
    /// else the last encoder's source template, else raw video.
    private static func outputType(_ pad: ObjectHandle, lastEncoder: String?) -> String {
        if let caps = gst_pad_query_caps(pad.pad, nil) {
            defer { GStreamer.unrefCaps(caps) }
            let types = GStreamer.mediaTypes(caps)
            if let first = types.first, first != "ANY", Set(types).count == 1 { return first }
        }
        if let lastEncoder, let t = GStreamer.templateMediaTypes(factory: lastEncoder, direction: GST_PAD_SRC).first { return t }
        return "video/x-raw"
    }

    private static func parseError(message: String, code: Int32, text: String) -> TranscodeError {
        let outside = text.contains(#/(^|[\s!])[A-Za-z_][\w-]*\.(\s|!|$)/#)
        if outside || code == Int32(GST_PARSE_ERROR_LINK.rawValue) && message.contains("no element") {
            return TranscodeError(.optionsForbidden,
                "The fragment refers to an element by name ('name.') that is not inside it; fragments may not reach outside themselves (\(message)).")
        }
        if code == Int32(GST_PARSE_ERROR_NO_SUCH_ELEMENT.rawValue) {
            return TranscodeError(.optionsInvalid, "The fragment names an element that does not exist: \(message).")
        }
        if code == Int32(GST_PARSE_ERROR_NO_SUCH_PROPERTY.rawValue) {
            return TranscodeError(.optionsInvalid, "The fragment sets a property that does not exist: \(message).")
        }
        return TranscodeError(.optionsInvalid, "The fragment could not be parsed: \(message).")
    }
}
