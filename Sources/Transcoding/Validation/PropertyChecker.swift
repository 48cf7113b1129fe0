import CGStreamer

/// Checks every property a fragment set (value differs from the default) on one element.
enum PropertyChecker {
    static func check(element e: UnsafeMutablePointer<GstElement>, name: String, factory: String, limits: EngineLimits) throws(TranscodeError) {
        let object = UnsafeMutableRawPointer(e).assumingMemoryBound(to: GObject.self)
        var count: guint = 0
        guard let specs = cgst_list_properties(e, &count) else { return }
        defer { g_free(specs) }
        for i in 0..<Int(count) {
            guard let spec = specs[i], cgst_pspec_readwrite(spec) != 0 else { continue }
            let property = GStreamer.string(g_param_spec_get_name(spec))
            if FragmentPolicy.ignoredProperties.contains(property) { continue }
            var isDefault: gboolean = 0
            let value = GStreamer.take(cgst_property_string(object, spec, &isDefault))
            if isDefault != 0 { continue }
            func refuse(_ why: String) -> TranscodeError {
                TranscodeError(.optionsForbidden, "Element '\(name)' (\(factory)): property '\(property)' is refused: \(why).")
            }
            if let why = FragmentPolicy.deniedProperties[factory]?[property] { throw refuse(why) }
            if factory == "x264enc", property == "pass", !FragmentPolicy.x264SafePasses.contains(value) {
                throw refuse("multi-pass encoding writes a stats file on the worker; use cbr, quant or qual")
            }
            if factory.hasPrefix("avenc_"), property == "flags" || property == "pass", value.contains("pass") {
                throw refuse("multi-pass encoding writes a log file on the worker")
            }
            let lower = property.lowercased()
            if lower == "threads" || lower == "n-threads", let n = Int(value), n > FragmentPolicy.maxThreads {
                throw refuse("it asks for \(n) threads, above the limit of \(FragmentPolicy.maxThreads)")
            }
            if let hit = FragmentPolicy.externalNameFragments.first(where: { lower.contains($0) }) {
                throw refuse("its name ('\(hit)') suggests it names a file, URI, socket, descriptor or raw option string")
            }
            let type = cgst_pspec_value_type(spec)
            if type == cgst_type_caps() {
                try checkCaps(object, property: property, limits: limits, refuse: refuse)
                continue
            }
            if type == cgst_type_string() {
                throw refuse("free-text properties are not accepted in fragments (they can name files or pass raw options)")
            }
            if g_type_is_a(type, cgst_type_object()) != 0 || g_type_is_a(type, cgst_type_pointer()) != 0
                || g_type_is_a(type, cgst_type_boxed()) != 0 {
                throw refuse("object, pointer and structure properties are not accepted in fragments")
            }
        }
    }

    /// A capsfilter may not ask for more than the limits: fixed or minimum width, height and rate.
    private static func checkCaps(_ object: UnsafeMutablePointer<GObject>, property: String, limits: EngineLimits,
                                  refuse: (String) -> TranscodeError) throws(TranscodeError) {
        guard let caps = cgst_property_caps(object, property) else { return }
        defer { GStreamer.unrefCaps(caps) }
        for i in 0..<gst_caps_get_size(caps) {
            guard let s = gst_caps_get_structure(caps, i) else { continue }
            for (field, limit) in [("width", limits.maxWidth), ("height", limits.maxHeight)] {
                if let v = gst_structure_get_value(s, field), let low = lowestInt(v), low > limit {
                    throw refuse("it asks for \(field) \(low), above the limit of \(limit)")
                }
            }
            if let v = gst_structure_get_value(s, "framerate"), let low = lowestFraction(v), low > Double(limits.maxFrameRate) {
                throw refuse("it asks for \(low) frames per second, above the limit of \(limits.maxFrameRate)")
            }
        }
    }

    private static func lowestInt(_ v: UnsafePointer<GValue>) -> Int? {
        let t = cgst_value_type(v)
        if t == cgst_type_int() { return Int(g_value_get_int(v)) }
        if t == cgst_type_int_range() { return Int(gst_value_get_int_range_min(v)) }
        if t == cgst_type_list() {
            return (0..<gst_value_list_get_size(v)).compactMap { lowestInt(gst_value_list_get_value(v, $0)) }.min()
        }
        return nil
    }

    private static func lowestFraction(_ v: UnsafePointer<GValue>) -> Double? {
        let t = cgst_value_type(v)
        if t == cgst_type_fraction() {
            let d = cgst_fraction_den(v)
            return d == 0 ? nil : Double(cgst_fraction_num(v)) / Double(d)
        }
        if t == cgst_type_fraction_range() { return gst_value_get_fraction_range_min(v).flatMap { lowestFraction($0) } }
        if t == cgst_type_list() {
            return (0..<gst_value_list_get_size(v)).compactMap { lowestFraction(gst_value_list_get_value(v, $0)) }.min()
        }
        return nil
    }
}
