#ifndef CGSTREAMER_SHIM_H
#define CGSTREAMER_SHIM_H
// GStreamer for Swift: the headers plus static-inline wrappers for what does not
// import (cast macros, type checks, variadic calls, callback registration).
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>
#include <gst/audio/audio.h>
#include <malloc.h>
#include <sys/prctl.h>

/// Hands freed heap pages back to the system (glibc keeps them per thread arena otherwise).
static inline void cgst_trim_heap(void) { malloc_trim(0); }

/// Names the calling thread for top and gdb (prctl is variadic).
static inline void cgst_name_thread(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

static inline guint64 cgst_second(void) { return GST_SECOND; }
static inline guint64 cgst_clock_time_none(void) { return GST_CLOCK_TIME_NONE; }

static inline GstMessageType cgst_message_type(GstMessage *m) { return GST_MESSAGE_TYPE(m); }
static inline GstObject *cgst_message_src(GstMessage *m) { return GST_MESSAGE_SRC(m); }
static inline const gchar *cgst_object_name(gpointer o) { return GST_OBJECT_NAME(o); }

static inline gboolean cgst_is_bin(gpointer o) { return GST_IS_BIN(o); }
static inline gboolean cgst_is_element(gpointer o) { return GST_IS_ELEMENT(o); }
static inline gboolean cgst_is_pad(gpointer o) { return GST_IS_PAD(o); }

static inline GstElement *cgst_element(gpointer o) { return GST_ELEMENT(o); }
static inline GstBin *cgst_bin(gpointer o) { return GST_BIN(o); }
static inline GstObject *cgst_object(gpointer o) { return GST_OBJECT(o); }
static inline GstPipeline *cgst_pipeline(gpointer o) { return GST_PIPELINE(o); }

/// Properties of an instance's class, g_free the array.
static inline GParamSpec **cgst_list_properties(gpointer o, guint *n) {
    return g_object_class_list_properties(G_OBJECT_GET_CLASS(o), n);
}
static inline GType cgst_pspec_value_type(GParamSpec *p) { return G_PARAM_SPEC_VALUE_TYPE(p); }
static inline GType cgst_pspec_owner_type(GParamSpec *p) { return p->owner_type; }
static inline GType cgst_type_string(void) { return G_TYPE_STRING; }
static inline GType cgst_type_object(void) { return G_TYPE_OBJECT; }
static inline GType cgst_type_boxed(void) { return G_TYPE_BOXED; }
static inline GType cgst_type_pointer(void) { return G_TYPE_POINTER; }
static inline GType cgst_type_caps(void) { return GST_TYPE_CAPS; }
static inline GType cgst_type_element(void) { return GST_TYPE_ELEMENT; }
static inline GType cgst_type_pad(void) { return GST_TYPE_PAD; }
static inline GType cgst_type_int(void) { return G_TYPE_INT; }
static inline GType cgst_type_fraction(void) { return GST_TYPE_FRACTION; }
static inline GType cgst_type_int_range(void) { return GST_TYPE_INT_RANGE; }
static inline GType cgst_type_fraction_range(void) { return GST_TYPE_FRACTION_RANGE; }
static inline GType cgst_type_list(void) { return GST_TYPE_LIST; }
static inline GType cgst_value_type(const GValue *v) { return G_VALUE_TYPE(v); }
static inline gboolean cgst_pspec_readwrite(GParamSpec *p) {
    return (p->flags & G_PARAM_READABLE) && (p->flags & G_PARAM_WRITABLE);
}

/// The current value of a property, serialized for messages and checks; g_free it.
static inline gchar *cgst_property_string(GObject *o, GParamSpec *p, gboolean *is_default) {
    GValue v = G_VALUE_INIT;
    g_value_init(&v, G_PARAM_SPEC_VALUE_TYPE(p));
    g_object_get_property(o, p->name, &v);
    if (is_default) *is_default = g_param_value_defaults(p, &v);
    gchar *s = gst_value_serialize(&v);
    g_value_unset(&v);
    return s;
}
/// The caps held by a GstCaps-typed property (full ref or NULL).
static inline GstCaps *cgst_property_caps(GObject *o, const gchar *name) {
    GstCaps *c = NULL;
    g_object_get(o, name, &c, NULL);
    return c;
}

static inline gulong cgst_connect(gpointer instance, const gchar *signal, GCallback cb,
                                  gpointer data, GClosureNotify destroy) {
    return g_signal_connect_data(instance, signal, cb, data, destroy, 0);
}

/// The next element from an iterator over elements (full ref), NULL at the end or on error;
/// a resync restarts the walk.
static inline GstElement *cgst_iterator_next_element(GstIterator *it, gboolean *failed) {
    GValue item = G_VALUE_INIT;
    for (;;) {
        switch (gst_iterator_next(it, &item)) {
        case GST_ITERATOR_OK: {
            GstElement *e = GST_ELEMENT(g_value_dup_object(&item));
            g_value_unset(&item);
            return e;
        }
        case GST_ITERATOR_RESYNC: gst_iterator_resync(it); continue;
        case GST_ITERATOR_ERROR: if (failed) *failed = TRUE; return NULL;
        default: return NULL;
        }
    }
}
static inline GstPad *cgst_iterator_next_pad(GstIterator *it) {
    GValue item = G_VALUE_INIT;
    for (;;) {
        switch (gst_iterator_next(it, &item)) {
        case GST_ITERATOR_OK: {
            GstPad *p = GST_PAD(g_value_dup_object(&item));
            g_value_unset(&item);
            return p;
        }
        case GST_ITERATOR_RESYNC: gst_iterator_resync(it); continue;
        default: return NULL;
        }
    }
}

static inline const gchar *cgst_factory_name(GstElementFactory *f) { return GST_OBJECT_NAME(f); }
static inline GstElementFactory *cgst_element_factory(GstElement *e) { return gst_element_get_factory(e); }

static inline gboolean cgst_query_position(GstElement *e, gint64 *pos) {
    return gst_element_query_position(e, GST_FORMAT_TIME, pos);
}

static inline gint cgst_fraction_num(const GValue *v) { return gst_value_get_fraction_numerator(v); }
static inline gint cgst_fraction_den(const GValue *v) { return gst_value_get_fraction_denominator(v); }

static inline GstPadProbeType cgst_probe_buffer(void) { return GST_PAD_PROBE_TYPE_BUFFER; }
static inline void cgst_caps_set_string(GstCaps *caps, const gchar *field, const gchar *value) {
    gst_caps_set_simple(caps, field, G_TYPE_STRING, value, NULL);
}

// For elements of our own (GstVideoEncoder and GstVideoDecoder subclasses).
static inline GParamFlags cgst_param_readwrite(void) { return G_PARAM_READWRITE; }
/// A fatal stream error (GST_STREAM_ERROR_ENCODE, _DECODE, ...) posted by an element.
static inline void cgst_post_stream_error(gpointer element, GstStreamError code, const gchar *text, const gchar *debug) {
    gst_element_message_full(GST_ELEMENT(element), GST_MESSAGE_ERROR, GST_STREAM_ERROR, code,
                             g_strdup(text), g_strdup(debug), __FILE__, GST_FUNCTION, __LINE__);
}
/// A fatal resource error (GST_RESOURCE_ERROR_OPEN_WRITE, _WRITE, ...) posted by an element.
static inline void cgst_post_resource_error(gpointer element, GstResourceError code, const gchar *text, const gchar *debug) {
    gst_element_message_full(GST_ELEMENT(element), GST_MESSAGE_ERROR, GST_RESOURCE_ERROR, code,
                             g_strdup(text), g_strdup(debug), __FILE__, GST_FUNCTION, __LINE__);
}
static inline GstEventType cgst_event_type(GstEvent *e) { return GST_EVENT_TYPE(e); }
static inline GstAudioClippingMeta *cgst_buffer_audio_clipping_meta(GstBuffer *b) { return gst_buffer_get_audio_clipping_meta(b); }
/// A decoding error counted against the decoder's max-errors (GStreamer's default: never fatal).
static inline GstFlowReturn cgst_decoder_error(GstVideoDecoder *dec, const gchar *debug) {
    GstFlowReturn ret = GST_FLOW_OK;
    GST_VIDEO_DECODER_ERROR(dec, 1, STREAM, DECODE, (NULL), ("%s", debug), ret);
    return ret;
}
static inline GstFlowReturn cgst_audio_decoder_error(GstAudioDecoder *dec, const gchar *debug) {
    GstFlowReturn ret = GST_FLOW_OK;
    GST_AUDIO_DECODER_ERROR(dec, 1, STREAM, DECODE, (NULL), ("%s", debug), ret);
    return ret;
}
static inline gint cgst_video_info_comp_height(const GstVideoInfo *info, guint comp) { return GST_VIDEO_INFO_COMP_HEIGHT(info, comp); }
static inline GstVideoFieldOrder cgst_video_info_field_order(const GstVideoInfo *info) { return GST_VIDEO_INFO_FIELD_ORDER(info); }
static inline void cgst_video_info_set_field_order(GstVideoInfo *info, GstVideoFieldOrder order) { GST_VIDEO_INFO_FIELD_ORDER(info) = order; }
static inline guint cgst_video_info_n_planes(const GstVideoInfo *info) { return GST_VIDEO_INFO_N_PLANES(info); }
static inline void cgst_buffer_flag_set(GstBuffer *b, guint flags) { GST_BUFFER_FLAG_SET(b, flags); }
static inline gboolean cgst_frame_is_force_keyframe(GstVideoCodecFrame *f) { return GST_VIDEO_CODEC_FRAME_IS_FORCE_KEYFRAME(f); }
static inline void cgst_frame_set_sync_point(GstVideoCodecFrame *f) { GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT(f); }
static inline guint8 *cgst_video_frame_plane(GstVideoFrame *f, guint i) { return GST_VIDEO_FRAME_PLANE_DATA(f, i); }
static inline gint cgst_video_frame_stride(GstVideoFrame *f, guint i) { return GST_VIDEO_FRAME_PLANE_STRIDE(f, i); }
/// Visible bytes per row and rows of a plane (its first component's), padding excluded.
static inline gsize cgst_video_frame_row_bytes(GstVideoFrame *f, guint plane) {
    gint comp[GST_VIDEO_MAX_COMPONENTS];
    gst_video_format_info_component(f->info.finfo, plane, comp);
    return (gsize)GST_VIDEO_FRAME_COMP_WIDTH(f, comp[0]) * GST_VIDEO_FRAME_COMP_PSTRIDE(f, comp[0]);
}
static inline gint cgst_video_frame_rows(GstVideoFrame *f, guint plane) {
    gint comp[GST_VIDEO_MAX_COMPONENTS];
    gst_video_format_info_component(f->info.finfo, plane, comp);
    return GST_VIDEO_FRAME_COMP_HEIGHT(f, comp[0]);
}

/// `out` narrowed to `filter` where a caps query gave one, in the filter's order (takes `out`).
static inline GstCaps *cgst_caps_filtered(GstCaps *out, GstCaps *filter) {
    if (!filter) return out;
    GstCaps *both = gst_caps_intersect_full(filter, out, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(out);
    return both;
}
/// The engine's scaler (ScalerElement): formats and sizes as videoconvertscale takes them.
static inline const gchar *cgst_scaler_caps(void) { return GST_VIDEO_CAPS_MAKE(GST_VIDEO_FORMATS_ALL); }
/// Any size on the other side, everything else (format, colorimetry) as it is: only the size
/// changes here, as in videoscale's transform_caps.
static inline GstCaps *cgst_scaler_transform_caps(GstCaps *caps, GstCaps *filter) {
    GstCaps *out = gst_caps_new_empty();
    for (guint i = 0; i < gst_caps_get_size(caps); i++) {
        GstStructure *s = gst_caps_get_structure(caps, i);
        GstCapsFeatures *f = gst_caps_get_features(caps, i);
        if (i > 0 && gst_caps_is_subset_structure_full(out, s, f)) continue;
        s = gst_structure_copy(s);
        gst_structure_set(s, "width", GST_TYPE_INT_RANGE, 1, G_MAXINT, "height", GST_TYPE_INT_RANGE, 1, G_MAXINT, NULL);
        if (gst_structure_has_field(s, "pixel-aspect-ratio"))
            gst_structure_set(s, "pixel-aspect-ratio", GST_TYPE_FRACTION_RANGE, 1, G_MAXINT, G_MAXINT, 1, NULL);
        gst_caps_append_structure_full(out, s, gst_caps_features_copy(f));
    }
    return cgst_caps_filtered(out, filter);
}
/// Output caps for fixed input caps: the size nearest the input's where downstream leaves it
/// open, and the pixel aspect ratio that keeps the picture's shape.
static inline GstCaps *cgst_scaler_fixate_caps(GstPadDirection direction, GstCaps *caps, GstCaps *othercaps) {
    othercaps = gst_caps_truncate(gst_caps_make_writable(othercaps));
    if (direction == GST_PAD_SINK && !gst_caps_is_empty(othercaps)) {
        GstStructure *in = gst_caps_get_structure(caps, 0), *out = gst_caps_get_structure(othercaps, 0);
        gint w = 0, h = 0, pn = 1, pd = 1, ow = 0, oh = 0, n, d;
        gst_structure_get_int(in, "width", &w);
        gst_structure_get_int(in, "height", &h);
        if (!gst_structure_get_fraction(in, "pixel-aspect-ratio", &pn, &pd)) { pn = 1; pd = 1; }
        gst_structure_fixate_field_nearest_int(out, "width", w);
        gst_structure_fixate_field_nearest_int(out, "height", h);
        if (w > 0 && h > 0 && gst_structure_get_int(out, "width", &ow) && gst_structure_get_int(out, "height", &oh)
            && ow > 0 && oh > 0 && gst_util_fraction_multiply(w, h, pn, pd, &n, &d)
            && gst_util_fraction_multiply(n, d, oh, ow, &n, &d)) {
            if (gst_structure_has_field(out, "pixel-aspect-ratio"))
                gst_structure_fixate_field_nearest_fraction(out, "pixel-aspect-ratio", n, d);
            else
                gst_structure_set(out, "pixel-aspect-ratio", GST_TYPE_FRACTION, n, d, NULL);
        }
    }
    return gst_caps_fixate(othercaps);
}

/// The engine's resampler (ResamplerElement): the interleaved formats libswresample takes
/// here, any rate; channels pass through unchanged (audioconvert before it mixes them).
#define CGST_RESAMPLER_CAPS "audio/x-raw, format=(string){ F32LE, S16LE, S32LE, F64LE }, layout=(string)interleaved, " \
                            "rate=(int)[1, 2147483647], channels=(int)[1, 64]"
static inline const gchar *cgst_resampler_caps(void) { return CGST_RESAMPLER_CAPS; }
/// Any of those formats and any rate on the other side, channels as they are (audioconvert's
/// and audioresample's transform_caps in one). The caps as given come first, so that
/// intersection prefers them.
static inline GstCaps *cgst_resampler_transform_caps(GstCaps *caps, GstCaps *filter) {
    GstCaps *out = gst_caps_copy(caps);
    static GstStaticCaps template_caps = GST_STATIC_CAPS(CGST_RESAMPLER_CAPS);   // parsed once, not per query
    GstCaps *template = gst_static_caps_get(&template_caps);
    for (guint i = 0; i < gst_caps_get_size(caps); i++) {
        GstStructure *s = gst_structure_copy(gst_caps_get_structure(caps, i));
        gst_structure_remove_fields(s, "format", "rate", NULL);
        GstCaps *wide = gst_caps_new_full(s, NULL);
        GstCaps *allowed = gst_caps_intersect(wide, template);
        gst_caps_unref(wide);
        out = gst_caps_merge(out, allowed);
    }
    gst_caps_unref(template);
    return cgst_caps_filtered(out, filter);
}
/// Output caps for fixed input caps: the input's format and the rate nearest the input's,
/// where downstream leaves them open.
static inline GstCaps *cgst_resampler_fixate_caps(GstPadDirection direction, GstCaps *caps, GstCaps *othercaps) {
    othercaps = gst_caps_truncate(gst_caps_make_writable(othercaps));
    if (!gst_caps_is_empty(othercaps)) {
        GstStructure *in = gst_caps_get_structure(caps, 0), *out = gst_caps_get_structure(othercaps, 0);
        gint rate = 0;
        const gchar *format = gst_structure_get_string(in, "format");
        if (gst_structure_get_int(in, "rate", &rate)) gst_structure_fixate_field_nearest_int(out, "rate", rate);
        if (format) gst_structure_fixate_field_string(out, "format", format);
    }
    (void)direction;
    return gst_caps_fixate(othercaps);
}
static inline gboolean cgst_buffer_is_discont(GstBuffer *b) { return GST_BUFFER_IS_DISCONT(b); }

/// For encoders on libvpx and libaom (vp8enc, vp9enc, av1enc), one probe on their sink pad,
/// between two handle_frame calls:
/// - Drops the input buffer of every frame already handed over. The libraries copy each picture
///   into their own lookahead, but GstVideoEncoder keeps the input until the output is finished
///   (25 pictures for vp9enc's lag); the base class expects this and skips copying metadata.
/// - Rounds PTS and duration up to a whole microsecond. The elements convert them to a 1/fps
///   timebase by truncation, so a 24 fps frame time already truncated to nanoseconds
///   (41666666) lands a tick early: two frames shared PTS 0 and aom's rate control overshot
///   its target (2.57 Mbit/s for 1.5 on a 10 s cut of the 720p trailer, gst-launch).
static inline GstPadProbeReturn cgst_timebase_encoder_probe(GstPad *pad, GstPadProbeInfo *info, gpointer encoder) {
    (void)pad;
    GList *frames = gst_video_encoder_get_frames(GST_VIDEO_ENCODER(encoder));
    for (GList *l = frames; l; l = l->next) {
        GstVideoCodecFrame *frame = l->data;
        if (frame->input_buffer) gst_buffer_replace(&frame->input_buffer, NULL);
    }
    g_list_free_full(frames, (GDestroyNotify)gst_video_codec_frame_unref);

    GstBuffer *b = GST_PAD_PROBE_INFO_BUFFER(info);
    GstClockTime pts = GST_BUFFER_PTS(b), dur = GST_BUFFER_DURATION(b);
    gboolean fix_pts = GST_CLOCK_TIME_IS_VALID(pts) && pts % 1000 != 0;
    gboolean fix_dur = GST_CLOCK_TIME_IS_VALID(dur) && dur % 1000 != 0;
    if (!fix_pts && !fix_dur) return GST_PAD_PROBE_OK;
    b = gst_buffer_make_writable(b);   /* shallow: the memory is shared */
    if (fix_pts) GST_BUFFER_PTS(b) = pts - pts % 1000 + 1000;
    if (fix_dur) GST_BUFFER_DURATION(b) = dur - dur % 1000 + 1000;
    GST_PAD_PROBE_INFO_DATA(info) = b;
    return GST_PAD_PROBE_OK;
}
static inline void cgst_attach_timebase_encoder_probe(GstElement *encoder) {
    GstPad *pad = gst_element_get_static_pad(encoder, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, cgst_timebase_encoder_probe, encoder, NULL);
    gst_object_unref(pad);
}

/// Segmented jobs keep the input's own timeline through every step: a demuxer starts its
/// segment at the file's first timestamp, so running time would restart at 0 in each segment
/// file. Moving that start into the base makes running time equal the timestamps again (muxers
/// write running time), while stream time (progress) still counts from the file's start.
static inline GstPadProbeReturn cgst_absolute_time_probe(GstPad *pad, GstPadProbeInfo *info, gpointer data) {
    (void)pad; (void)data;
    GstEvent *event = GST_PAD_PROBE_INFO_EVENT(info);
    if (GST_EVENT_TYPE(event) != GST_EVENT_SEGMENT) return GST_PAD_PROBE_OK;
    const GstSegment *in = NULL;
    gst_event_parse_segment(event, &in);
    if (in->format != GST_FORMAT_TIME || in->start == 0) return GST_PAD_PROBE_OK;
    GstSegment segment;
    gst_segment_copy_into(in, &segment);
    segment.base += segment.start;
    guint32 seqnum = gst_event_get_seqnum(event);
    GstEvent *replaced = gst_event_new_segment(&segment);
    gst_event_set_seqnum(replaced, seqnum);
    gst_event_unref(event);
    GST_PAD_PROBE_INFO_DATA(info) = replaced;
    return GST_PAD_PROBE_OK;
}
/// An element-valued property (splitmuxsink's muxer), which gst_util_set_object_arg cannot set.
static inline void cgst_set_element_property(GstElement *e, const gchar *name, GstElement *value) {
    g_object_set(e, name, value, NULL);
}
static inline void cgst_attach_absolute_time_probe(GstPad *pad) {
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, cgst_absolute_time_probe, NULL, NULL);
}

#endif
