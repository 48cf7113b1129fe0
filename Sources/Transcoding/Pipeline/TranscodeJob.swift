import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization

/// Runs one built pipeline to EOS on the calling (dedicated) thread: bus polling, progress,
/// cancellation, watchdogs and teardown all happen here, so GStreamer state is touched by
/// one thread only.
final class TranscodeJob: Sendable {
    struct Outcome: Sendable {
        var frames: Int
        /// The decoder complained (warnings) while running: a short output then means a damaged input.
        var inputWarnings: Bool
    }

    private let cancelled = Atomic<Bool>(false)

    /// Safe from any thread; the loop notices within one bus poll (100 ms).
    func cancel() { cancelled.store(true, ordering: .relaxed) }

    func run(_ built: BuiltPipeline, duration: Double?, deadline: ContinuousClock.Instant, limits: EngineLimits,
             fragmentMode: Bool, logger: Logger, progress: @Sendable (TranscodeProgress) -> Void) -> Result<Outcome, TranscodeError> {
        let element = built.pipeline.element
        guard let bus = gst_element_get_bus(element) else {
            return .failure(TranscodeError(.encoderFailure, "The media engine could not start."))
        }
        defer {
            _ = gst_element_set_state(element, GST_STATE_NULL)
            gst_object_unref(UnsafeMutableRawPointer(bus))
        }
        let clock = ContinuousClock()
        let start = clock.now
        var lastAdvance = start
        var lastPosition = -1.0
        var lastReport = start
        var lastReportFrames = 0
        var unchecked = built.fragmentSources
        // A stream without an index (MPEG-TS, a capture) may learn its duration while it plays.
        var duration = duration
        var inputWarnings = false
        let mask = GST_MESSAGE_EOS.rawValue | GST_MESSAGE_ERROR.rawValue | GST_MESSAGE_WARNING.rawValue

        if gst_element_set_state(element, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE {
            logger.warning("pipeline refused to start")
        }
        while true {
            if let message = gst_bus_timed_pop_filtered(bus, 100 * 1_000_000, GstMessageType(rawValue: mask)) {
                defer { gst_mini_object_unref(UnsafeMutableRawPointer(message).assumingMemoryBound(to: GstMiniObject.self)) }
                let type = cgst_message_type(message)
                if type == GST_MESSAGE_EOS {
                    // A short job can end before the first poll below: its fragments' caps are checked here too.
                    if let error = Self.checkOutputCaps(of: &unchecked, limits: limits) { return .failure(error) }
                    return .success(Outcome(frames: built.counter.buffers.load(ordering: .relaxed), inputWarnings: inputWarnings))
                }
                let (domain, code, text, debug, path) = Self.details(message, isError: type == GST_MESSAGE_ERROR)
                if type == GST_MESSAGE_WARNING {
                    logger.debug("gstreamer warning", metadata: ["gst.source": "\(path)", "gst.message": "\(text)", "gst.debug": "\(debug)"])
                    if path.contains("/decode") { inputWarnings = true }
                    continue
                }
                logger.error("gstreamer error", metadata: ["gst.source": "\(path)", "gst.message": "\(text)", "gst.debug": "\(debug)"])
                return .failure(ErrorClassifier.classify(domain: domain, code: code, sourcePath: path, debug: debug, fragmentMode: fragmentMode))
            }
            let now = clock.now
            if cancelled.load(ordering: .relaxed) {
                return .failure(TranscodeError(.cancelled, "The job was cancelled."))
            }
            if let error = Self.checkOutputCaps(of: &unchecked, limits: limits) { return .failure(error) }
            let position = built.counter.position
            if position > lastPosition + 0.000_001 {
                lastPosition = position
                lastAdvance = now
            } else if now - lastAdvance > limits.stallTimeout {
                return .failure(TranscodeError(.timedOut, "The job stalled: no progress for \(limits.stallTimeout.components.seconds) s."))
            }
            if now >= deadline {
                return .failure(TranscodeError(.timedOut, "The job took longer than the \(limits.overallTimeout.components.seconds) s allowed."))
            }
            if now - lastReport >= .milliseconds(500) {
                let frames = built.counter.buffers.load(ordering: .relaxed)
                let elapsed = Double((now - lastReport).components.attoseconds) / 1e18 + Double((now - lastReport).components.seconds)
                let total = Double((now - start).components.seconds) + Double((now - start).components.attoseconds) / 1e18
                let fps = built.countsFrames ? Double(frames - lastReportFrames) / max(elapsed, 0.001) : nil
                let pos = max(0, position)
                if duration == nil {
                    var nanoseconds: gint64 = 0
                    if gst_element_query_duration(element, GST_FORMAT_TIME, &nanoseconds) != 0, nanoseconds > 0 {
                        duration = Double(nanoseconds) / Double(GStreamer.second)
                    }
                }
                let percent = duration.map { $0 > 0 ? min(100, pos / $0 * 100) : 0 } ?? 0
                let eta: Double? = (duration != nil && pos > 0) ? max(0, total * (duration! - pos) / pos) : nil
                progress(TranscodeProgress(percent: percent, position: pos, duration: duration, fps: fps, etaSeconds: eta,
                                           frames: built.countsFrames ? frames : nil))
                lastReport = now
                lastReportFrames = frames
            }
        }
    }

    /// Checks each fragment output pad once its caps are known, and forgets it then.
    private static func checkOutputCaps(of pads: inout [ObjectHandle], limits: EngineLimits) -> TranscodeError? {
        for (i, pad) in pads.enumerated().reversed() {
            guard let caps = gst_pad_get_current_caps(pad.pad) else { continue }
            pads.remove(at: i)
            defer { GStreamer.unrefCaps(caps) }
            if let error = checkOutputCaps(caps, limits: limits) { return error }
        }
        return nil
    }

    /// Bounds the fragment's real output (videobox or caps can enlarge what validation saw).
    private static func checkOutputCaps(_ caps: UnsafeMutablePointer<GstCaps>, limits: EngineLimits) -> TranscodeError? {
        guard let s = gst_caps_get_structure(caps, 0) else { return nil }
        var w: gint = 0, h: gint = 0, num: gint = 0, den: gint = 1
        if gst_structure_get_int(s, "width", &w) != 0, Int(w) > limits.maxWidth {
            return TranscodeError(.optionsForbidden, "The fragment produces video \(w) pixels wide, above the limit of \(limits.maxWidth).")
        }
        if gst_structure_get_int(s, "height", &h) != 0, Int(h) > limits.maxHeight {
            return TranscodeError(.optionsForbidden, "The fragment produces video \(h) pixels high, above the limit of \(limits.maxHeight).")
        }
        if gst_structure_get_fraction(s, "framerate", &num, &den) != 0, den > 0, Double(num) / Double(den) > Double(limits.maxFrameRate) {
            return TranscodeError(.optionsForbidden, "The fragment produces \(num / den) frames per second, above the limit of \(limits.maxFrameRate).")
        }
        return nil
    }

    private static func details(_ message: UnsafeMutablePointer<GstMessage>, isError: Bool)
        -> (GQuark, Int32, String, String, String) {
        var error: UnsafeMutablePointer<GError>?
        var debug: UnsafeMutablePointer<gchar>?
        if isError { gst_message_parse_error(message, &error, &debug) } else { gst_message_parse_warning(message, &error, &debug) }
        let domain = error?.pointee.domain ?? 0
        let code = error?.pointee.code ?? 0
        let text = GStreamer.string(error?.pointee.message)
        if let error { g_error_free(error) }
        let path = cgst_message_src(message).map { GStreamer.take(gst_object_get_path_string($0)) } ?? ""
        return (domain, code, text, GStreamer.take(debug), path)
    }
}
