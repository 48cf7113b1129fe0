import RabbitMQ

/// The queues a worker declares at start (idempotently; every worker declares the same).
///
/// - Jobs: one lane per ``JobPriority`` (normal is the seed's queue), each a durable quorum queue, so that even the seed's non-persistent publishes
///   survive a broker restart. Jobs that fail are republished to the dead-letter queue with
///   their reason in headers and then acked; a job whose deliveries reach the limit
///   (workers crashed on it) is dead-lettered by the broker itself (x-death reason
///   `delivery_limit`).
/// - Progress: published to a topic exchange (routing key = job id) bound to the
///   progress queue, so `transcoder watch` can follow one job without taking messages
///   from the seed's readers. The queue is bounded for the case where nobody reads it. Messages expire after
///   `progressTTL` and the queue holds at most `progressMaxLength` (oldest dropped first);
///   both paths dead-letter into a headers exchange that keeps only messages marked
///   `x-final: true` (the completed/failed message of each job) in the results queue.
///   So progress ticks may be lost to an absent reader, a job's outcome never is.
/// - Retries: a job that failed for a passing reason (``FailurePolicy``) waits in a delay
///   queue of its backoff tier (per-queue TTL, so no message waits behind a longer one)
///   and is dead-lettered by the broker back into the jobs queue when its time is up.
public struct Topology: Sendable, Equatable {
    public var jobsQueue: String
    public var progressQueue: String
    public var deliveryLimit: Int
    public var progressTTL: Duration
    public var progressMaxLength: Int
    public var retry: FailurePolicy.Limits

    public init(jobsQueue: String = "transcoding_jobs", progressQueue: String = "transcoding_progress",
                deliveryLimit: Int = 5, progressTTL: Duration = .seconds(3600), progressMaxLength: Int = 100_000,
                retry: FailurePolicy.Limits = .init()) {
        self.retry = retry
        self.jobsQueue = jobsQueue
        self.progressQueue = progressQueue
        self.deliveryLimit = deliveryLimit
        self.progressTTL = progressTTL
        self.progressMaxLength = progressMaxLength
    }

    /// The jobs queue (lane) of one priority: `normal` is `jobsQueue` itself, the others
    /// add a suffix (`transcoding_jobs.high`, `transcoding_jobs.low`).
    public func jobsQueue(_ priority: JobPriority) -> String {
        priority == .normal ? jobsQueue : jobsQueue + "." + priority.rawValue
    }
    /// Every lane, highest priority first.
    public var jobsQueues: [String] { JobPriority.descending.map(jobsQueue) }
    /// The priority whose lane `queue` is (nil for any other queue).
    public func priority(ofQueue queue: String) -> JobPriority? {
        JobPriority.allCases.first { jobsQueue($0) == queue }
    }

    public var deadLetterQueue: String { jobsQueue + ".dead" }
    /// The delay queue of one backoff tier, named by its delay: workers with other retry
    /// settings declare other queues instead of clashing on one. Each lane has its own, so
    /// that a retried job comes back at its own priority.
    public func retryQueue(tier: Duration, priority: JobPriority = .normal) -> String {
        jobsQueue(priority) + ".retry.\(tier.components.seconds)s"
    }
    /// The normal lane's delay queues.
    public var retryQueues: [String] { retryQueues(.normal) }
    public func retryQueues(_ priority: JobPriority) -> [String] {
        FailurePolicy.tiers(retry).map { retryQueue(tier: $0, priority: priority) }
    }
    /// Where final progress messages go when they expire or overflow unread.
    public var resultsQueue: String { progressQueue + ".results" }
    var progressOverflowExchange: String { progressQueue + ".overflow" }
    /// Workers publish progress here with the job id as routing key; the progress queue
    /// takes everything (the seed's readers), watchers bind their own queue to one job.
    public var progressExchange: String { progressQueue + ".events" }

    /// Header that marks the last message of a job on the progress queue.
    public static let finalHeader = "x-final"
    /// Headers a dead-lettered job carries.
    public static let failureCodeHeader = "x-failure-code"
    public static let failureMessageHeader = "x-failure-message"
    /// Attempts made before this copy of the job was published (retries only).
    public static let attemptsHeader = "x-attempts"
    /// One line per failed attempt that was retried: "attempt N (worker, time): code: message".
    public static let attemptHistoryHeader = "x-attempt-history"

    /// Where the broker dead-letters jobs (delivery limit reached): fanned out to the
    /// dead-letter queue and to a queue workers read to report those jobs as failed.
    var deadLetterExchange: String { jobsQueue + ".dlx" }

    /// Worker heartbeats (``WorkerHeartbeat``): a fanout exchange; readers bind their own queue.
    public var workersExchange: String { jobsQueue + ".workers" }

    /// Cancel requests (``CancelRequest``): a stream every worker reads from its start.
    public var cancelStream: String { jobsQueue + ".cancel" }
    /// Milliseconds since 1970 at which a copy of a job was submitted; a cancel applies to
    /// copies submitted before it.
    public static let submittedAtHeader = "x-submitted-at"
    /// Cancels are kept a week: a job waiting longer in a queue than that runs.
    var cancels: QueueSpec {
        QueueSpec(name: cancelStream, arguments: ["x-queue-type": .string("stream"), "x-max-age": .string("7D"),
                                                  "x-max-length-bytes": .int(100_000_000)])
    }
    public var deadLetterNotifyQueue: String { jobsQueue + ".dead.notify" }
    /// Internal: the parts of segmented jobs, taken by any worker before new jobs (docs/segmenting.md).
    public var segmentsQueue: String { jobsQueue + ".segments" }
    /// Internal topic exchange: part workers tell a job's coordinator how its parts go (routing key: job id).
    public var segmentEventsExchange: String { jobsQueue + ".segments.events" }
    /// No dead-letter exchange: a part is not a job, and one that keeps killing workers is
    /// failed by the worker that sees its last delivery (``Worker/handleSegment``).
    var segments: QueueSpec {
        QueueSpec(name: segmentsQueue, arguments: ["x-queue-type": .string("quorum"), "x-delivery-limit": .int(Int64(deliveryLimit))])
    }

    var jobs: QueueSpec { jobs(.normal) }
    func jobs(_ priority: JobPriority) -> QueueSpec {
        QueueSpec(name: jobsQueue(priority), arguments: [
            "x-queue-type": .string("quorum"),
            "x-delivery-limit": .int(Int64(deliveryLimit)),
            "x-dead-letter-exchange": .string(deadLetterExchange),
        ])
    }
    var deadLetters: QueueSpec {
        QueueSpec(name: deadLetterQueue, arguments: ["x-queue-type": .string("quorum")])
    }
    var progress: QueueSpec {
        QueueSpec(name: progressQueue, arguments: [
            "x-message-ttl": .int(Int64(progressTTL.components.seconds * 1000)),
            "x-max-length": .int(Int64(progressMaxLength)),
            "x-overflow": .string("drop-head"),
            "x-dead-letter-exchange": .string(progressOverflowExchange),
        ])
    }
    func retrySpec(tier: Duration, priority: JobPriority) -> QueueSpec {
        let ms = tier.components.seconds * 1000 + tier.components.attoseconds / 1_000_000_000_000_000
        return QueueSpec(name: retryQueue(tier: tier, priority: priority), arguments: [
            "x-message-ttl": .int(ms),
            "x-dead-letter-exchange": .string(""),
            "x-dead-letter-routing-key": .string(jobsQueue(priority)),
        ])
    }
    var results: QueueSpec {
        QueueSpec(name: resultsQueue, arguments: ["x-queue-type": .string("quorum")])
    }

    /// Declares everything; a queue that exists with other arguments fails start-up with
    /// the broker's message, which names the queue and the argument.
    public func declare(on connection: AMQPConnection) async throws {
        try await connection.declare(exchange: ExchangeSpec(name: deadLetterExchange, kind: .fanout))
        _ = try await connection.declare(queue: deadLetters)
        _ = try await connection.declare(queue: QueueSpec(name: deadLetterNotifyQueue, arguments: ["x-queue-type": .string("quorum")]))
        try await connection.bind(BindingSpec(queue: deadLetterQueue, exchange: deadLetterExchange))
        try await connection.bind(BindingSpec(queue: deadLetterNotifyQueue, exchange: deadLetterExchange))
        for priority in JobPriority.descending {
            _ = try await connection.declare(queue: jobs(priority))
            for tier in FailurePolicy.tiers(retry) {
                _ = try await connection.declare(queue: retrySpec(tier: tier, priority: priority))
            }
        }
        _ = try await connection.declare(queue: cancels)
        _ = try await connection.declare(queue: segments)
        try await connection.declare(exchange: ExchangeSpec(name: segmentEventsExchange, kind: .topic))
        try await connection.declare(exchange: ExchangeSpec(name: workersExchange, kind: .fanout))
        try await connection.declare(exchange: ExchangeSpec(name: progressOverflowExchange, kind: .headers))
        _ = try await connection.declare(queue: results)
        try await connection.bind(BindingSpec(queue: resultsQueue, exchange: progressOverflowExchange, routingKey: "",
                                              arguments: ["x-match": .string("all"), Self.finalHeader: .bool(true)]))
        _ = try await connection.declare(queue: progress)
        try await connection.declare(exchange: ExchangeSpec(name: progressExchange, kind: .topic))
        try await connection.bind(BindingSpec(queue: progressQueue, exchange: progressExchange, routingKey: "#"))
    }
}
