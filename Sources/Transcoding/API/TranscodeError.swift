/// Why a job failed, in a few categories a worker can act on (retry, reject, report).
///
/// `message` is written for the person who submitted the job; GStreamer's debug
/// detail goes to the engine's logger only.
public struct TranscodeError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The input file is missing or cannot be opened.
        case inputUnreadable = "input_unreadable"
        /// The input looks like media but is damaged, truncated or empty.
        case inputCorrupt = "input_corrupt"
        /// The input is not media, or has no stream this job can use.
        case inputUnsupported = "input_unsupported"
        /// The options are malformed, out of range or do not fit the container.
        case optionsInvalid = "options_invalid"
        /// The options ask for something the engine never allows (files, network, devices, limits).
        case optionsForbidden = "options_forbidden"
        /// Encoding or muxing failed while running.
        case encoderFailure = "encoder_failure"
        /// The output file could not be written.
        case outputUnwritable = "output_unwritable"
        /// The caller's task was cancelled.
        case cancelled
        /// The stall watchdog or the overall timeout stopped the job.
        case timedOut = "timed_out"
        /// The input would take more than the limits allow (frames above the pixel limit).
        case resourceLimit = "resource_limit"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
