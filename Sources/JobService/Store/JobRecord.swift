import Foundation
import TranscodingService

/// Where a job stands, as the API reports it: the worker's progress states plus the two
/// before any worker has it.
public enum JobState: String, Sendable, Codable, CaseIterable {
    /// Recorded by the API; not yet confirmed on the broker (the API publishes it again at start).
    case pending
    /// On the jobs queue, waiting for a worker.
    case submitted
    case queued, downloading, transcoding, uploading, retrying, completed, failed, cancelled

    public var isFinal: Bool { self == .completed || self == .failed || self == .cancelled }
    /// No worker is running it: a cancel ends it at once (every worker drops its copy).
    public var isWaiting: Bool { self == .pending || self == .submitted || self == .retrying }

    init(_ state: ProgressMessage.State) { self = JobState(rawValue: state.rawValue)! }
}

/// One job as the store keeps it. Encoded as the API's `Job` schema (docs/openapi.yaml).
public struct JobRecord: Sendable, Codable, Equatable {
    public var id: String
    public var state: JobState
    /// `api` for jobs posted to the API, `broker` for jobs seen only through their progress
    /// (published straight to RabbitMQ by another client).
    public var source: String
    public var inputKey: String?
    public var outputKey: String?
    public var preset: String?
    /// The lane it was published to (for other clients' jobs: the lane a worker took it from).
    public var priority: JobPriority = .normal
    /// The job message as published (API jobs only).
    public var request: JSONTree?
    public var metadata: JSONTree?
    public var progress: Double
    public var attempt: Int?
    public var workerID: String?
    public var fps: Double?
    public var etaSeconds: Double?
    public var outputSize: Int64?
    public var durationSeconds: Double?
    public var outputCodec: String?
    public var outputWidth: Int?
    public var outputHeight: Int?
    /// A segmented job: its parts, how many are encoded, and workers on it now (docs/segmenting.md).
    public var segmentsTotal: Int?
    public var segmentsDone: Int?
    public var workers: Int?
    public var errorCode: String?
    public var errorMessage: String?
    public var createdAt: String
    public var updatedAt: String
    public var startedAt: String?
    public var finishedAt: String?
    /// Only in the detail view: what happened, oldest first.
    public var events: [JobEvent]?
    /// Only in the detail view: the webhook deliveries made for it, with every attempt.
    public var webhooks: [WebhookDelivery]?
    /// Insertion order: the list's cursor. Not encoded.
    public var seq: Int = 0

    enum CodingKeys: String, CodingKey {
        case id, state, source, inputKey = "input_key", outputKey = "output_key", preset, priority, request, metadata, progress
        case attempt, workerID = "worker_id", fps, etaSeconds = "eta_seconds", outputSize = "output_size"
        case durationSeconds = "duration_seconds", outputCodec = "output_codec", outputWidth = "output_width"
        case outputHeight = "output_height", segmentsTotal = "segments_total", segmentsDone = "segments_done", workers
        case errorCode = "error_code", errorMessage = "error_message"
        case createdAt = "created_at", updatedAt = "updated_at", startedAt = "started_at", finishedAt = "finished_at", events, webhooks
    }
}

/// One entry of a job's timeline: a state change (with the progress message that made it),
/// a progress sample, or the API's own `submitted`.
public struct JobEvent: Sendable, Codable, Equatable {
    /// Increases over all jobs: the SSE event id, and where a stream resumes.
    public var seq: Int
    public var jobID: String?
    public var kind: String
    public var at: String
    public var data: JSONTree

    enum CodingKeys: String, CodingKey { case seq, jobID = "job_id", kind, at, data }

    /// Ends the job's timeline (until a retry).
    public var isFinal: Bool { JobState(rawValue: kind)?.isFinal ?? false }
}

/// Filters of `GET /v1/jobs`; newest first, `cursor` continues after the last job of a page.
public struct JobQuery: Sendable, Equatable {
    public var states: [JobState] = []
    public var createdAfter: String?
    public var createdBefore: String?
    /// Jobs whose input or output key starts with this.
    public var keyPrefix: String?
    public var limit = 50
    /// The `seq` of the last job of the previous page.
    public var after: Int?
    public init() {}
}

public struct JobPage: Sendable {
    public var jobs: [JobRecord]
    /// Present when there may be more: pass it back as `cursor`.
    public var nextCursor: Int?
}

/// What `POST /v1/jobs` records before publishing.
public struct NewJob: Sendable {
    public var id: String
    public var inputKey: String
    public var outputKey: String
    public var preset: String?
    public var priority: JobPriority = .normal
    /// The job message, exactly as it is published.
    public var body: String
    public var metadata: String?
    public var idempotencyKey: String?
    /// SHA-256 of what the client asked for, without the id: a retry must ask for the same.
    public var fingerprint: String
    public var webhookURL: String? = nil
    /// Also POST each state change, not only the outcome.
    public var webhookProgress = false
}

/// One webhook POST for one job event, retried until the target answers 2xx or a day passed.
public struct WebhookDelivery: Sendable, Codable, Equatable {
    public struct Attempt: Sendable, Codable, Equatable {
        public var at: String
        /// The target's HTTP status, when it answered.
        public var status: Int?
        public var error: String?
        public var ms: Int
    }
    public var id: Int
    public var jobID: String
    /// `job.completed`, `job.failed`, `job.cancelled`, or with progress on, `job.<state>`.
    public var event: String
    public var url: String
    /// `pending` (to be tried at `next_attempt_at`), `delivered` or `failed` (gave up).
    public var state: String
    public var attempts: [Attempt]
    public var createdAt: String
    public var nextAttemptAt: String?
    public var deliveredAt: String?
    /// What is POSTed; not in the API's output.
    public var body: String = ""

    enum CodingKeys: String, CodingKey {
        case id, jobID = "job_id", event, url, state, attempts, createdAt = "created_at", nextAttemptAt = "next_attempt_at"
        case deliveredAt = "delivered_at"
    }
}

/// An API token's permission: each includes the ones before it.
public enum Scope: String, Sendable, Codable, CaseIterable, Comparable {
    case read, write, admin
    public static func < (a: Scope, b: Scope) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

public struct APIToken: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var scope: Scope
    public var createdAt: String
    public var revokedAt: String?
}

/// RFC 3339 UTC with milliseconds, as progress messages carry: sorts as text.
enum Timestamp {
    static func now() -> String { format(Date()) }
    static func format(_ date: Date) -> String { ProgressMessage.format(date) }
}

/// A worker as its heartbeats describe it (`GET /v1/workers`).
public struct WorkerRecord: Sendable, Codable, Equatable {
    public var id: String
    public var host: String
    public var version: String
    public var pid: Int
    public var startedAt: String
    public var lastSeen: String
    /// `live` (a heartbeat within ``lostAfter``), `stopping`, `stopped` (said goodbye) or `lost` (went silent).
    public var status: String
    public var concurrency: Int
    public var jobs: JSONTree
    public var load: JSONTree

    /// Three missed heartbeats.
    public static let lostAfter: Duration = .seconds(30)

    enum CodingKeys: String, CodingKey {
        case id, host, version, pid, startedAt = "started_at", lastSeen = "last_seen", status, concurrency, jobs, load
    }
}
