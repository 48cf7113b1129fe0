import CAVCodec
import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Process-wide GStreamer setup and small C helpers shared by the engine.
enum GStreamer {
    /// `gst_init` runs once per process (Swift runs a static initializer exactly once,
    /// thread-safely); GStreamer is never deinitialized, so no object outlives it.
    private static let initialized: Bool = {
        gst_init(nil, nil)
        // libav writes to stderr by default; as in gst-libav, its messages stay out of the logs
        // (decoding errors reach the bus through the elements).
        av_log_set_level(AV_LOG_QUIET)
        _ = X264Element.registered
        _ = X265Element.registered
        _ = H264DecoderElement.registered
        _ = AudioDecoderElement.registered
        _ = AACEncoderElement.registered
        _ = ScalerElement.registered
        _ = ResamplerElement.registered
        _ = M4AWriterElement.registered
        return true
    }()

    static func ensureInitialized() { _ = initialized }

    static var second: UInt64 { UInt64(cgst_second()) }
    static var clockTimeNone: UInt64 { UInt64(cgst_clock_time_none()) }

    static func string(_ p: UnsafePointer<gchar>?) -> String { p.map { String(cString: $0) } ?? "" }

    /// Takes ownership of a g_malloc'ed string.
    static func take(_ p: UnsafeMutablePointer<gchar>?) -> String {
        guard let p else { return "" }
        defer { g_free(p) }
        return String(cString: p)
    }

    static func objectName(_ o: UnsafeMutableRawPointer) -> String { string(cgst_object_name(o)) }

    /// Factory name of an element, or nil for bins made by the parser.
    static func factoryName(_ e: UnsafeMutablePointer<GstElement>) -> String? {
        guard let f = cgst_element_factory(e) else { return nil }
        return string(cgst_factory_name(f))
    }

    static func factoryKlass(_ factoryName: String) -> String {
        guard let f = gst_element_factory_find(factoryName) else { return "" }
        defer { gst_object_unref(UnsafeMutableRawPointer(f)) }
        return string(gst_element_factory_get_metadata(f, GST_ELEMENT_METADATA_KLASS))
    }

    static func factoryExists(_ name: String) -> Bool {
        guard let f = gst_element_factory_find(name) else { return false }
        gst_object_unref(UnsafeMutableRawPointer(f))
        return true
    }

    /// Caps of the pad templates of one direction of a factory (media type names only).
    static func templateMediaTypes(factory: String, direction: GstPadDirection) -> [String] {
        guard let f = gst_element_factory_find(factory) else { return [] }
        defer { gst_object_unref(UnsafeMutableRawPointer(f)) }
        var names: [String] = []
        var list: UnsafePointer<GList>? = gst_element_factory_get_static_pad_templates(f)
        while let node = list {
            if let t = node.pointee.data?.assumingMemoryBound(to: GstStaticPadTemplate.self),
               t.pointee.direction == direction {
                var sc = t.pointee.static_caps
                if let caps = gst_static_caps_get(&sc) {
                    names += mediaTypes(caps)
                    gst_mini_object_unref(UnsafeMutableRawPointer(caps).assumingMemoryBound(to: GstMiniObject.self))
                }
            }
            list = UnsafePointer(node.pointee.next)
        }
        return names
    }

    static func mediaTypes(_ caps: UnsafeMutablePointer<GstCaps>) -> [String] {
        if gst_caps_is_any(caps) != 0 { return ["ANY"] }
        return (0..<gst_caps_get_size(caps)).compactMap { i in
            gst_caps_get_structure(caps, i).map { string(gst_structure_get_name($0)) }
        }
    }

    static func unrefCaps(_ caps: UnsafeMutablePointer<GstCaps>) {
        gst_mini_object_unref(UnsafeMutableRawPointer(caps).assumingMemoryBound(to: GstMiniObject.self))
    }

    static func unref(_ o: UnsafeMutableRawPointer) { gst_object_unref(o) }

    /// Creates an element and sets string-typed property values on it.
    static func make(_ spec: ElementSpec) -> UnsafeMutablePointer<GstElement>? {
        guard let e = gst_element_factory_make(spec.factory, nil) else { return nil }
        for p in spec.properties {
            gst_util_set_object_arg(UnsafeMutableRawPointer(e).assumingMemoryBound(to: GObject.self), p.name, p.value)
        }
        return e
    }

    /// The first of `spec`'s properties that `e` lacks or whose value its type cannot take:
    /// gst_util_set_object_arg only logs those, so a preset would silently run on a default.
    static func rejectedProperty(of spec: ElementSpec, on e: UnsafeMutablePointer<GstElement>) -> ElementSpec.Property? {
        let klass = UnsafeMutableRawPointer(e).assumingMemoryBound(to: GTypeInstance.self).pointee.g_class
        for p in spec.properties {
            guard let pspec = g_object_class_find_property(UnsafeMutableRawPointer(klass)?.assumingMemoryBound(to: GObjectClass.self), p.name) else {
                return p
            }
            var v = GValue()
            g_value_init(&v, cgst_pspec_value_type(pspec))
            defer { g_value_unset(&v) }
            if gst_value_deserialize_with_pspec(&v, p.value, pspec) == 0 { return p }
        }
        return nil
    }

    static func set(_ e: UnsafeMutablePointer<GstElement>, _ name: String, _ value: String) {
        gst_util_set_object_arg(UnsafeMutableRawPointer(e).assumingMemoryBound(to: GObject.self), name, value)
    }

    static func hasProperty(_ e: UnsafeMutablePointer<GstElement>, _ name: String) -> Bool {
        let klass = UnsafeMutableRawPointer(e).assumingMemoryBound(to: GTypeInstance.self).pointee.g_class
        return g_object_class_find_property(UnsafeMutableRawPointer(klass)?.assumingMemoryBound(to: GObjectClass.self), name) != nil
    }
}

extension GStreamer {
    /// An integer-like property read through GLib's value transforms (uint, enum).
    static func intProperty(_ e: UnsafeMutablePointer<GstElement>, _ name: String) -> Int? {
        guard hasProperty(e, name) else { return nil }
        var v = GValue()
        g_value_init(&v, cgst_type_int())
        defer { g_value_unset(&v) }
        g_object_get_property(UnsafeMutableRawPointer(e).assumingMemoryBound(to: GObject.self), name, &v)
        return Int(g_value_get_int(&v))
    }
}

/// For leak checks only (GST_TRACERS=leaks reports at gst_deinit): call once, when no job runs
/// and none will, as the process's last GStreamer call.
package enum GStreamerShutdown {
    package static func deinitialize() { gst_deinit() }
}
