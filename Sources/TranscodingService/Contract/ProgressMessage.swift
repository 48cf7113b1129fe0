import Foundation

/// What workers publish on `transcoding_progress`.
///
/// The seed's clients read `job_id` and `progress` (0–100); everything else is added and
/// optional for them. `progress` covers the whole job (download, transcode, upload) and
/// never goes backwards within one attempt. The final message of a job has state
/// `completed` or `failed` and is never dropped by the broker (see ``Topology``).
public struct ProgressMessage: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable, CaseIterable {
        case queued, downloading, transcoding, uploading, completed, failed
        /// The attempt failed for a passing reason; the job comes back after `retry_in_seconds`.
        case retrying
        /// Stopped (or never started) on a cancel request; nothing stored. Final.
        case cancelled

        public var isFinal: Bool { self == .completed || self == .failed || self == .cancelled }
    }

    /// `null` only for a message so malformed that it had no readable job id.
    public var jobID: String?
    public var progress: Double
    public var state: State
    public var workerID: String
    /// When this message was made, RFC 3339 UTC.
    public var timestamp: String
    /// When this worker took the job.
    public var startedAt: String?
    /// Which attempt at the job this is (1 the first time): redeliveries and retries both count.
    public var attempt: Int?
    /// `queued` only: the job's input, so that readers who never saw the job (the API's
    /// store, for jobs other clients published) know what it is about.
    public var inputKey: String?
    /// `queued` only: the lane the job was taken from (absent on workers before 0.6).
    public var priority: JobPriority?
    public var fps: Double?
    public var etaSeconds: Double?
    // Transcoding only: what is done in media terms, the only advance while the duration is unknown.
    public var frames: Int?
    public var positionSeconds: Double?
    // Completed only.
    public var outputKey: String?
    public var outputSize: Int64?
    public var durationSeconds: Double?
    /// A single output's video codec (else its audio codec), e.g. "H.264 (High Profile)", and frame size.
    public var outputCodec: String?
    public var outputWidth: Int?
    public var outputHeight: Int?
    // Failed and retrying only.
    public var errorCode: JobFailure.Code?
    public var errorMessage: String?
    // Retrying only: seconds until the job is back in the jobs queue.
    public var retryInSeconds: Double?
    /// A several-output job: each output's key, state and progress.
    public var outputs: [OutputProgress]?
    /// A segmented job: its parts (video parts and the audio), how many are encoded, and
    /// how many workers encode them right now.
    public var segmentsTotal: Int?
    public var segmentsDone: Int?
    public var workers: Int?

    public struct OutputProgress: Sendable, Equatable, Codable {
        public var key: String
        public var state: State
        public var progress: Double
        public init(key: String, state: State, progress: Double) {
            self.key = key; self.state = state; self.progress = min(100, max(0, (progress * 10).rounded() / 10))
        }
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", progress, state, workerID = "worker_id", timestamp
        case startedAt = "started_at", attempt, inputKey = "input_key", priority, fps, etaSeconds = "eta_seconds", frames, positionSeconds = "position_seconds"
        case outputKey = "output_key", outputSize = "output_size", durationSeconds = "duration_seconds"
        case outputCodec = "output_codec", outputWidth = "output_width", outputHeight = "output_height"
        case errorCode = "error_code", errorMessage = "error_message", retryInSeconds = "retry_in_seconds", outputs
        case segmentsTotal = "segments_total", segmentsDone = "segments_done", workers
    }

    public init(jobID: String?, progress: Double, state: State, workerID: String, timestamp: Date = Date(),
                startedAt: Date? = nil, attempt: Int? = nil) {
        self.jobID = jobID
        self.progress = min(100, max(0, (progress * 10).rounded() / 10))
        self.state = state
        self.workerID = workerID
        self.timestamp = Self.format(timestamp)
        self.startedAt = startedAt.map(Self.format)
        self.attempt = attempt
    }

    /// Like the synthesized encoding, except that `job_id` is always present (`null` when
    /// unknown): the seed's readers index `progress_data['job_id']`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(jobID, forKey: .jobID)
        try c.encode(progress, forKey: .progress)
        try c.encode(state, forKey: .state)
        try c.encode(workerID, forKey: .workerID)
        try c.encode(timestamp, forKey: .timestamp)
        try c.encodeIfPresent(startedAt, forKey: .startedAt)
        try c.encodeIfPresent(attempt, forKey: .attempt)
        try c.encodeIfPresent(inputKey, forKey: .inputKey)
        try c.encodeIfPresent(priority, forKey: .priority)
        try c.encodeIfPresent(fps, forKey: .fps)
        try c.encodeIfPresent(etaSeconds, forKey: .etaSeconds)
        try c.encodeIfPresent(frames, forKey: .frames)
        try c.encodeIfPresent(positionSeconds, forKey: .positionSeconds)
        try c.encodeIfPresent(outputKey, forKey: .outputKey)
        try c.encodeIfPresent(outputSize, forKey: .outputSize)
        try c.encodeIfPresent(durationSeconds, forKey: .durationSeconds)
        try c.encodeIfPresent(outputCodec, forKey: .outputCodec)
        try c.encodeIfPresent(outputWidth, forKey: .outputWidth)
        try c.encodeIfPresent(outputHeight, forKey: .outputHeight)
        try c.encodeIfPresent(errorCode, forKey: .errorCode)
        try c.encodeIfPresent(errorMessage, forKey: .errorMessage)
        try c.encodeIfPresent(retryInSeconds, forKey: .retryInSeconds)
        try c.encodeIfPresent(outputs, forKey: .outputs)
        try c.encodeIfPresent(segmentsTotal, forKey: .segmentsTotal)
        try c.encodeIfPresent(segmentsDone, forKey: .segmentsDone)
        try c.encodeIfPresent(workers, forKey: .workers)
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings and finite numbers cannot fail.
        return Array((try? encoder.encode(self)) ?? Data())
    }

    public static func format(_ date: Date) -> String {
        date.ISO8601Format(.init(includingFractionalSeconds: true))
    }
}

extension ProgressMessage {
    /// This message as a job's failure: the one place a failed outcome gets its state,
    /// code and reason (settling turns it into `retrying` when the policy retries).
    func failing(_ failure: JobFailure) -> ProgressMessage {
        var message = self
        message.state = .failed
        message.errorCode = failure.code
        message.errorMessage = failure.message
        return message
    }
}
