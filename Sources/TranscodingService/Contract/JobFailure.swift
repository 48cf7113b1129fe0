/// Why a job failed, in the codes clients see on the progress queue.
///
/// Every stage maps its own errors into one of these exactly once; the message is for
/// people and never carries a credential, a signature or GStreamer's debug detail.
public struct JobFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// The message is not a job: bad JSON, missing or empty fields.
        case invalidJob = "invalid_job"
        /// Options that cannot work: unknown preset, override out of range, bad fragment.
        case invalidOptions = "invalid_options"
        /// A fragment that asks for files, network, devices or other forbidden elements.
        case forbiddenOptions = "forbidden_options"
        case inputNotFound = "input_not_found"
        /// The storage refused access to the input or the output (credentials, policy).
        case storageDenied = "storage_denied"
        case inputUnreadable = "input_unreadable"
        case inputCorrupt = "input_corrupt"
        case inputUnsupported = "input_unsupported"
        case encoderFailed = "encoder_failed"
        case timedOut = "timed_out"
        /// Storage kept failing after retries (5xx, network).
        case storageUnavailable = "storage_unavailable"
        case insufficientDisk = "insufficient_disk"
        /// The broker gave up on the job after too many deliveries (workers crashed on it).
        case deliveryLimit = "delivery_limit"
        /// The job's media process went past its memory or CPU ceiling (TRANSCODER_JOB_MEMORY_MB,
        /// the job timeout on every core).
        case resourceLimit = "resource_limit"
        /// The job's media process crashed (the signal is in the message) or was killed by the host.
        case engineCrashed = "engine_crashed"
        case internalError = "internal_error"
    }

    public var code: Code
    public var message: String
    /// The job id, when the message was readable enough to have one.
    public var jobID: String?

    public init(_ code: Code, _ message: String, jobID: String? = nil) {
        self.code = code; self.message = message; self.jobID = jobID
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
