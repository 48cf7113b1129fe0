import CGStreamer

/// What the engine's own elements (X264Element, H264DecoderElement, the libav audio elements)
/// share: a GType registered in this process, with a Swift object per instance kept as qdata.
enum OwnElement {
    /// Registers a subclass of `parent` and its factory; false if GStreamer refused it.
    /// `classInit` runs once; `instanceInit` once per instance, after its state is attached.
    static func register(parent: GType, typeName: String, factory: String, rank: guint, classSize: Int, instanceSize: Int,
                         classInit: GClassInitFunc, instanceInit: GInstanceInitFunc) -> Bool {
        var info = GTypeInfo()
        info.class_size = guint16(classSize)
        info.class_init = classInit
        info.instance_size = guint16(instanceSize)
        info.instance_init = instanceInit
        let type = g_type_register_static(parent, typeName, &info, GTypeFlags(0))
        return gst_element_register(nil, factory, rank, type) != 0
    }

    /// Gives an instance its Swift state, released when the instance is finalized.
    static func attach<State: AnyObject>(_ state: State, to instance: UnsafeMutableRawPointer, quark: GQuark) {
        g_object_set_qdata_full(instance.assumingMemoryBound(to: GObject.self), quark, Unmanaged.passRetained(state).toOpaque()) {
            if let p = $0 { Unmanaged<AnyObject>.fromOpaque(p).release() }
        }
    }

    static func state<State: AnyObject>(_ object: UnsafeMutableRawPointer?, quark: GQuark, as type: State.Type) -> State? {
        guard let object, let p = g_object_get_qdata(object.assumingMemoryBound(to: GObject.self), quark) else { return nil }
        return Unmanaged<State>.fromOpaque(p).takeUnretainedValue()
    }

    /// Metadata and always-present sink and src pads.
    static func describe(_ klass: UnsafeMutableRawPointer, name: String, klassName: String, description: String,
                         sink: String, src: String) {
        let elementClass = klass.assumingMemoryBound(to: GstElementClass.self)
        gst_element_class_set_metadata(elementClass, name, klassName, description, "transcoder")
        for (pad, direction, caps) in [("sink", GST_PAD_SINK, sink), ("src", GST_PAD_SRC, src)] {
            guard let c = gst_caps_from_string(caps) else { continue }
            gst_element_class_add_pad_template(elementClass, gst_pad_template_new(pad, direction, GST_PAD_ALWAYS, c))
            GStreamer.unrefCaps(c)
        }
    }
}
