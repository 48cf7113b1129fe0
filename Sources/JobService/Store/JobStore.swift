import Foundation
import TranscodingService

/// The durable record of every job: what the API accepted and what workers reported.
/// SQLite is the embedded default (``SQLiteJobStore``); every backend applies the same
/// versioned schema (``Migrations``) and passes the same tests.
public protocol JobStore: Sendable {
    /// Records a new job, or returns the one already recorded under the same id or
    /// idempotency key (a retried POST never makes two jobs).
    func create(_ job: NewJob) async throws -> CreateOutcome
    /// The job's message is confirmed on the broker.
    func markSubmitted(_ id: String) async throws
    /// Jobs recorded but not confirmed on the broker (the API stopped between the two).
    func pending() async throws -> [PendingJob]
    /// Folds one progress message into the job's record and timeline; creates the record
    /// for a job published by another client.
    func apply(_ message: ProgressMessage) async throws
    /// Records a cancel request; a job no worker runs ends `cancelled` now, a running one
    /// when its worker reports it.
    func requestCancel(_ id: String, by: String) async throws
    /// Makes a failed or cancelled API job `pending` again and returns its message to publish.
    func resubmit(_ id: String, by: String) async throws -> ResubmitOutcome
    func job(_ id: String, events: Bool) async throws -> JobRecord?
    /// Timeline entries after `seq`, oldest first: of one job, or of all.
    func events(after seq: Int, jobID: String?, limit: Int) async throws -> [JobEvent]
    func list(_ query: JobQuery) async throws -> JobPage
    /// The newest timeline entry's seq (0 when there is none).
    func latestEventSeq() async throws -> Int

    /// Claims up to `limit` deliveries due at `now` for `lease` (another API instance sharing
    /// the store skips them meanwhile).
    func claimDeliveries(now: Date, limit: Int, lease: Duration) async throws -> [WebhookDelivery]
    /// Records an attempt; `next` nil ends the delivery (`delivered` when `delivered`, else `failed`).
    func recordAttempt(_ id: Int, _ attempt: WebhookDelivery.Attempt, delivered: Bool, next: Date?) async throws

    func recordHeartbeat(_ heartbeat: WorkerHeartbeat) async throws
    /// Workers seen in the last week, with their status as of now.
    func workers() async throws -> [WorkerRecord]

    func insertToken(_ token: APIToken, hash: String) async throws
    /// The unrevoked token with this SHA-256 hash.
    func token(hash: String) async throws -> APIToken?
    func tokens() async throws -> [APIToken]
    /// False when there is no such unrevoked token.
    func revokeToken(id: String) async throws -> Bool
    func hasActiveTokens() async throws -> Bool

    /// User presets (built-in ones live in the code and are never stored).
    func presets() async throws -> [UserPreset]
    func preset(named name: String) async throws -> UserPreset?
    /// Creates or replaces; true when it was created.
    func putPreset(_ preset: UserPreset) async throws -> Bool
    /// False when there was no such preset.
    func deletePreset(named name: String) async throws -> Bool

    func close() async throws
}

/// A job recorded but not confirmed on the broker.
public struct PendingJob: Sendable, Equatable {
    public var id: String
    public var body: String
    public var priority: JobPriority
}

public enum CreateOutcome: Sendable {
    case created(JobRecord)
    /// Recorded before; `sameRequest` is false when the id or key now comes with another job.
    case existing(JobRecord, sameRequest: Bool)
}

public enum ResubmitOutcome: Sendable, Equatable {
    case resubmitted(body: String, priority: JobPriority)
    case notFound
    /// Not final yet, or completed.
    case notAllowed(JobState)
    /// Published by another client: the API never saw its message.
    case unknownMessage
}

/// How a progress message changes a record: the rules every backend shares.
enum ProgressFold {
    /// A progress sample goes into the timeline when the job advanced this many points
    /// since the last entry (state changes always do): a day-old job's timeline stays short.
    static let sampleStep = 5.0

    /// Whether a message is older than what the record already shows. Ticks of one job come
    /// in order from one worker; a late one from an earlier attempt must not undo a newer state.
    static func isStale(_ message: ProgressMessage, lastMessageAt: String?) -> Bool {
        guard let lastMessageAt else { return false }
        return message.timestamp < lastMessageAt
    }

    static func eventKind(_ message: ProgressMessage, state: String?, attempt: Int?, sampled: Double?) -> String? {
        if state != message.state.rawValue || (message.attempt != nil && attempt != message.attempt) {
            return message.state.rawValue
        }
        if message.progress >= (sampled ?? 0) + sampleStep { return "progress" }
        return nil
    }
}
