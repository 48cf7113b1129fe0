import Foundation
import TranscodingService

/// A bind value of either backend; statements use `?` placeholders (PostgreSQL's are numbered
/// by ``PostgresJobStore``).
enum SQLValue: Sendable {
    case text(String?)
    case integer(Int?)
    case real(Double?)
}

/// A result row of either backend, read by column name; NULL reads as nil.
protocol StoreRow {
    func text(_ column: String) -> String?
    func int(_ column: String) -> Int?
    func double(_ column: String) -> Double?
}

/// Statements that belong together: one transaction (or, for reads, one connection).
protocol StoreSession: Sendable {
    func run(_ sql: String, _ binds: [SQLValue]) async throws -> [any StoreRow]
}

extension StoreSession {
    @discardableResult
    func run(_ sql: String, _ binds: SQLValue...) async throws -> [any StoreRow] { try await run(sql, binds) }
}

/// Where the backends' SQL differs.
struct SQLDialect: Sendable {
    /// Appended to a SELECT of rows the transaction then changes (SQLite has one writer at a time).
    var lock: String
    /// Appended to the SELECT of webhook deliveries to claim: another instance skips them.
    var claim: String
    /// Run before a timeline entry is added, held to the commit: entries commit in `seq` order,
    /// so a reader resuming after a `seq` never skips one that committed late.
    var eventOrder: String?

    static let sqlite = SQLDialect(lock: "", claim: "", eventOrder: nil)
    static let postgres = SQLDialect(lock: " FOR UPDATE", claim: " FOR UPDATE SKIP LOCKED",
                                     eventOrder: "SELECT pg_advisory_xact_lock(\(0x6A6F_625F_6576))")
}

/// Every rule of the job store, in SQL that both backends run: a backend supplies its
/// transactions, its reads and its dialect. (`@unchecked`: subclasses keep only immutable,
/// Sendable state.)
public class SQLJobStore: JobStore, @unchecked Sendable {
    let dialect: SQLDialect

    init(dialect: SQLDialect) { self.dialect = dialect }

    /// Runs `body` in one transaction; a backend overrides it.
    func inTransaction<T: Sendable>(_ body: @escaping @Sendable (any StoreSession) async throws -> T) async throws -> T {
        fatalError("a backend overrides inTransaction")
    }

    /// Runs `body` on one connection, without a transaction; a backend overrides it.
    func withSession<T: Sendable>(_ body: @escaping @Sendable (any StoreSession) async throws -> T) async throws -> T {
        fatalError("a backend overrides withSession")
    }

    public func close() async throws { fatalError("a backend overrides close") }

    /// The schema version now in the store.
    public func schemaVersion() async throws -> Int {
        try await withSession { try await $0.run("SELECT MAX(version) AS v FROM schema_migrations").first?.int("v") ?? 0 }
    }

    // MARK: Jobs

    public func create(_ job: NewJob) async throws -> CreateOutcome {
        try await inTransaction { session in
            let now = Timestamp.now()
            // Several instances may insert the same id or key at once: the unique indexes decide.
            let inserted = try await session.run("""
                INSERT INTO jobs (id, idempotency_key, fingerprint, state, source, input_key, output_key, preset, body,
                                  metadata, created_at, updated_at, webhook_url, webhook_progress, priority)
                VALUES (?, ?, ?, 'pending', 'api', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING RETURNING *
                """, .text(job.id), .text(job.idempotencyKey), .text(job.fingerprint), .text(job.inputKey),
                .text(job.outputKey), .text(job.preset), .text(job.body), .text(job.metadata), .text(now), .text(now),
                .text(job.webhookURL), .integer(job.webhookProgress ? 1 : 0), .text(job.priority.rawValue))
            if let row = inserted.first {
                try await self.addEvent(session, job.id, kind: "created", at: now, data: .object(["source": .string("api")]))
                return .created(JobRecord(row: row))
            }
            let existing = try await session.run(
                "SELECT * FROM jobs WHERE id = ? OR (idempotency_key IS NOT NULL AND idempotency_key = ?) LIMIT 1",
                .text(job.id), .text(job.idempotencyKey))
            guard let row = existing.first else { throw StoreError(description: "job \(job.id) conflicts with no stored job") }
            return .existing(JobRecord(row: row), sameRequest: row.text("fingerprint") == job.fingerprint)
        }
    }

    public func markSubmitted(_ id: String) async throws {
        try await inTransaction { session in
            // Only from pending: a worker may have reported already.
            let rows = try await session.run(
                "UPDATE jobs SET state = 'submitted', updated_at = ? WHERE id = ? AND state = 'pending' RETURNING id",
                .text(Timestamp.now()), .text(id))
            if !rows.isEmpty { try await self.addEvent(session, id, kind: "submitted", at: Timestamp.now(), data: .object([:])) }
        }
    }

    public func pending() async throws -> [PendingJob] {
        try await withSession { session in
            try await session.run("SELECT id, body, priority FROM jobs WHERE state = 'pending' ORDER BY seq").compactMap { row in
                guard let id = row.text("id"), let body = row.text("body") else { return nil }
                return PendingJob(id: id, body: body, priority: JobPriority(rawValue: row.text("priority") ?? "") ?? .normal)
            }
        }
    }

    public func apply(_ message: ProgressMessage) async throws {
        guard let id = message.jobID else { return }
        let body = JSONTree.parse(String(decoding: try JSONEncoder().encode(message), as: UTF8.self)) ?? .null
        let lock = dialect.lock
        try await inTransaction { session in
            let select = "SELECT * FROM jobs WHERE id = ?" + lock
            var row = try await session.run(select, .text(id)).first
            if row == nil {
                // Published by another client: the record starts with its first progress message.
                let inserted = try await session.run("""
                    INSERT INTO jobs (id, state, source, input_key, created_at, updated_at, priority)
                    VALUES (?, ?, 'broker', ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id
                    """, .text(id), .text(message.state.rawValue), .text(message.inputKey), .text(message.timestamp),
                    .text(Timestamp.now()), .text((message.priority ?? .normal).rawValue))
                if !inserted.isEmpty {
                    try await self.addEvent(session, id, kind: "created", at: message.timestamp, data: .object(["source": .string("broker")]))
                }
                row = try await session.run(select, .text(id)).first
            }
            guard let row else { return }
            let state = row.text("state")
            if ProgressFold.isStale(message, lastMessageAt: row.text("last_message_at")) {
                // Kept in the timeline, but it does not undo the newer state.
                if message.state.isFinal { try await self.addEvent(session, id, kind: message.state.rawValue, at: message.timestamp, data: body) }
                return
            }
            let kind = state == JobState.pending.rawValue || state == JobState.submitted.rawValue || row.text("last_message_at") == nil
                ? message.state.rawValue
                : ProgressFold.eventKind(message, state: state, attempt: row.int("attempt"), sampled: row.double("sampled_progress"))
            let final = message.state.isFinal
            let failing = message.state == .failed || message.state == .retrying
            try await session.run("""
                UPDATE jobs SET state = ?, progress = ?, attempt = COALESCE(?, attempt), worker_id = ?,
                    fps = ?, eta_seconds = ?, started_at = COALESCE(?, started_at),
                    input_key = COALESCE(input_key, ?), priority = COALESCE(?, priority),
                    output_key = COALESCE(?, output_key),
                    output_size = COALESCE(?, output_size), duration_seconds = COALESCE(?, duration_seconds),
                    output_codec = COALESCE(?, output_codec), output_width = COALESCE(?, output_width),
                    output_height = COALESCE(?, output_height),
                    segments_total = COALESCE(?, segments_total), segments_done = COALESCE(?, segments_done), workers = ?,
                    error_code = ?, error_message = ?,
                    finished_at = ?, last_message_at = ?, updated_at = ?,
                    sampled_progress = CASE WHEN ? = 1 THEN ? ELSE sampled_progress END
                WHERE id = ?
                """,
                .text(message.state.rawValue), .real(message.progress), .integer(message.attempt), .text(message.workerID),
                .real(message.fps), .real(message.etaSeconds), .text(message.startedAt),
                .text(message.inputKey), .text(message.priority?.rawValue),
                .text(message.outputKey),
                .integer(message.outputSize.map { Int($0) }), .real(message.durationSeconds),
                .text(message.outputCodec), .integer(message.outputWidth), .integer(message.outputHeight),
                .integer(message.segmentsTotal), .integer(message.segmentsDone), .integer(message.workers),
                .text(failing ? message.errorCode?.rawValue : nil), .text(failing ? message.errorMessage : nil),
                .text(final ? message.timestamp : nil), .text(message.timestamp), .text(Timestamp.now()),
                .integer(kind == nil ? 0 : 1), .real(message.progress),
                .text(id))
            if let kind { try await self.addEvent(session, id, kind: kind, at: message.timestamp, data: body) }
            if state != message.state.rawValue { try await self.enqueueWebhook(session, row, state: JobState(message.state)) }
        }
    }

    /// A webhook for a change of state: outcomes always, other states when the job asked for progress.
    private func enqueueWebhook(_ session: any StoreSession, _ row: any StoreRow, state: JobState) async throws {
        guard let url = row.text("webhook_url"), state.isFinal || row.int("webhook_progress") == 1,
              let id = row.text("id"),
              let fresh = try await session.run("SELECT * FROM jobs WHERE id = ?", .text(id)).first else { return }
        let event = "job.\(state.rawValue)"
        let payload = JSONTree.object(["event": .string(event), "job": JSONTree.parse(String(decoding: JSONBody.buffer(JobRecord(row: fresh)).readableBytesView, as: UTF8.self)) ?? .null])
        let now = Timestamp.now()
        try await session.run("""
            INSERT INTO webhook_deliveries (job_id, event, url, body, state, next_attempt_at, created_at)
            VALUES (?, ?, ?, ?, 'pending', ?, ?)
            """, .text(id), .text(event), .text(url), .text(payload.text()), .text(now), .text(now))
    }

    public func claimDeliveries(now: Date, limit: Int, lease: Duration) async throws -> [WebhookDelivery] {
        let claim = dialect.claim
        return try await inTransaction { session in
            let rows = try await session.run(
                "SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?" + claim,
                .text(Timestamp.format(now)), .integer(limit))
            let until = Timestamp.format(now.addingTimeInterval(Double(lease.components.seconds)))
            for row in rows {
                try await session.run("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?", .text(until), .integer(row.int("id") ?? 0))
            }
            return rows.map(WebhookDelivery.init(row:))
        }
    }

    public func recordAttempt(_ id: Int, _ attempt: WebhookDelivery.Attempt, delivered: Bool, next: Date?) async throws {
        let lock = dialect.lock
        try await inTransaction { session in
            guard let row = try await session.run("SELECT attempts FROM webhook_deliveries WHERE id = ?" + lock, .integer(id)).first
            else { return }
            var attempts = WebhookDelivery.attempts(row.text("attempts"))
            attempts.append(attempt)
            let text = String(decoding: JSONBody.buffer(attempts).readableBytesView, as: UTF8.self)
            let state = delivered ? "delivered" : next == nil ? "failed" : "pending"
            try await session.run("""
                UPDATE webhook_deliveries SET attempts = ?, state = ?, next_attempt_at = ?, delivered_at = ? WHERE id = ?
                """, .text(text), .text(state), .text(next.map(Timestamp.format) ?? attempt.at),
                .text(delivered ? attempt.at : nil), .integer(id))
        }
    }

    public func requestCancel(_ id: String, by: String) async throws {
        try await inTransaction { session in
            let now = Timestamp.now()
            let waiting = JobState.allCases.filter(\.isWaiting).map { "'\($0.rawValue)'" }.joined(separator: ", ")
            // The row first: a timeline entry's ordering lock is taken after every row lock.
            let changed = try await session.run(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE id = ? AND state IN (\(waiting)) RETURNING *",
                .text(now), .text(now), .text(id))
            try await self.addEvent(session, id, kind: "cancel_requested", at: now, data: .object(["by": .string(by)]))
            if let row = changed.first { try await self.enqueueWebhook(session, row, state: .cancelled) }
        }
    }

    public func resubmit(_ id: String, by: String) async throws -> ResubmitOutcome {
        let lock = dialect.lock
        return try await inTransaction { session in
            guard let row = try await session.run("SELECT state, body, priority FROM jobs WHERE id = ?" + lock, .text(id)).first else {
                return .notFound
            }
            let state = JobState(rawValue: row.text("state") ?? "") ?? .pending
            guard state == .failed || state == .cancelled else { return .notAllowed(state) }
            guard let body = row.text("body") else { return .unknownMessage }
            let now = Timestamp.now()
            try await session.run("""
                UPDATE jobs SET state = 'pending', progress = 0, sampled_progress = 0, error_code = NULL, error_message = NULL,
                    finished_at = NULL, updated_at = ?, last_message_at = ? WHERE id = ?
                """, .text(now), .text(now), .text(id))
            // (last_message_at: what the earlier copy's workers still report is older, so it
            // goes into the timeline without undoing the retry.)
            try await self.addEvent(session, id, kind: "retry_requested", at: now, data: .object(["by": .string(by)]))
            return .resubmitted(body: body, priority: JobPriority(rawValue: row.text("priority") ?? "") ?? .normal)
        }
    }

    public func job(_ id: String, events: Bool) async throws -> JobRecord? {
        try await withSession { session in
            guard let row = try await session.run("SELECT * FROM jobs WHERE id = ?", .text(id)).first else { return nil }
            var record = JobRecord(row: row)
            if events {
                record.events = try await session.run("SELECT * FROM job_events WHERE job_id = ? ORDER BY seq", .text(id))
                    .map(JobEvent.init(row:))
                let deliveries = try await session.run("SELECT * FROM webhook_deliveries WHERE job_id = ? ORDER BY id", .text(id))
                    .map(WebhookDelivery.init(row:))
                record.webhooks = deliveries.isEmpty ? nil : deliveries
            }
            return record
        }
    }

    public func events(after seq: Int, jobID: String?, limit: Int) async throws -> [JobEvent] {
        try await withSession { session in
            if let jobID {
                return try await session.run("SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                                             .text(jobID), .integer(seq), .integer(limit)).map(JobEvent.init(row:))
            }
            return try await session.run("SELECT * FROM job_events WHERE seq > ? ORDER BY seq LIMIT ?",
                                         .integer(seq), .integer(limit)).map(JobEvent.init(row:))
        }
    }

    public func list(_ query: JobQuery) async throws -> JobPage {
        var clauses: [String] = []
        var binds: [SQLValue] = []
        if !query.states.isEmpty {
            clauses.append("state IN (\(query.states.map { _ in "?" }.joined(separator: ", ")))")
            binds += query.states.map { .text($0.rawValue) }
        }
        if let after = query.createdAfter { clauses.append("created_at >= ?"); binds.append(.text(after)) }
        if let before = query.createdBefore { clauses.append("created_at < ?"); binds.append(.text(before)) }
        if let prefix = query.keyPrefix {
            // A range on each key's index: every string that starts with `prefix` sorts in
            // [prefix, prefix + U+10FFFF) byte-wise (the greatest UTF-8 sequence; PostgreSQL's
            // key columns use the C collation for this).
            let end = prefix + "\u{10FFFF}"
            clauses.append("((input_key >= ? AND input_key < ?) OR (output_key >= ? AND output_key < ?))")
            binds += [.text(prefix), .text(end), .text(prefix), .text(end)]
        }
        if let after = query.after { clauses.append("seq < ?"); binds.append(.integer(after)) }
        let sql = "SELECT * FROM jobs" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
            + " ORDER BY seq DESC LIMIT \(query.limit + 1)"
        let limit = query.limit
        return try await withSession { [binds] session in
            let rows = try await session.run(sql, binds)
            let page = rows.prefix(limit)
            return JobPage(jobs: page.map(JobRecord.init(row:)), nextCursor: rows.count > limit ? page.last?.int("seq") : nil)
        }
    }

    // MARK: Workers

    public func recordHeartbeat(_ heartbeat: WorkerHeartbeat) async throws {
        let jobs = JSONTree.parse(String(decoding: try JSONEncoder().encode(heartbeat.jobs), as: UTF8.self)) ?? .array([])
        // Heartbeats carry the worker's clock; last_seen is the API's, so that "lost" does not depend on skew.
        try await withSession { session in
            try await session.run("""
                INSERT INTO workers (id, host, version, pid, started_at, last_seen, state, concurrency, jobs, load)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET host = excluded.host, version = excluded.version, pid = excluded.pid,
                    started_at = excluded.started_at, last_seen = excluded.last_seen, state = excluded.state,
                    concurrency = excluded.concurrency, jobs = excluded.jobs, load = excluded.load
                """, .text(heartbeat.workerID), .text(heartbeat.host), .text(heartbeat.version), .integer(Int(heartbeat.pid)),
                .text(heartbeat.startedAt), .text(Timestamp.now()), .text(heartbeat.state), .integer(heartbeat.concurrency),
                .text(jobs.text()), .text(JSONTree.array(heartbeat.load.map(JSONTree.number)).text()))
            return ()
        }
    }

    public func workers() async throws -> [WorkerRecord] { try await workers(asOf: Date()) }

    func workers(asOf now: Date) async throws -> [WorkerRecord] {
        let forgetBefore = Timestamp.format(now.addingTimeInterval(-7 * 86400))
        let lostBefore = Timestamp.format(now.addingTimeInterval(-Double(WorkerRecord.lostAfter.components.seconds)))
        return try await withSession { session in
            try await session.run("DELETE FROM workers WHERE last_seen < ?", .text(forgetBefore))
            return try await session.run("SELECT * FROM workers ORDER BY id").map { WorkerRecord(row: $0, lostBefore: lostBefore) }
        }
    }

    public func latestEventSeq() async throws -> Int {
        try await withSession { try await $0.run("SELECT COALESCE(MAX(seq), 0) AS v FROM job_events").first?.int("v") ?? 0 }
    }

    // MARK: Presets

    public func presets() async throws -> [UserPreset] {
        try await withSession { try await $0.run("SELECT * FROM presets ORDER BY name").compactMap(UserPreset.init(row:)) }
    }

    public func preset(named name: String) async throws -> UserPreset? {
        try await withSession { try await $0.run("SELECT * FROM presets WHERE name = ?", .text(name)).first.flatMap(UserPreset.init(row:)) }
    }

    public func putPreset(_ preset: UserPreset) async throws -> Bool {
        try await inTransaction { session in
            // The unique name decides between two instances writing one preset at once.
            let created = try await session.run("""
                INSERT INTO presets (name, description, definition, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING RETURNING name
                """, .text(preset.name), .text(preset.description), .text(preset.definition.text()),
                .text(preset.createdAt), .text(preset.updatedAt))
            if !created.isEmpty { return true }
            try await session.run("UPDATE presets SET description = ?, definition = ?, updated_at = ? WHERE name = ?",
                                  .text(preset.description), .text(preset.definition.text()), .text(preset.updatedAt),
                                  .text(preset.name))
            return false
        }
    }

    public func deletePreset(named name: String) async throws -> Bool {
        try await withSession { !(try await $0.run("DELETE FROM presets WHERE name = ? RETURNING name", .text(name))).isEmpty }
    }

    // MARK: Tokens

    public func insertToken(_ token: APIToken, hash: String) async throws {
        try await withSession { session in
            try await session.run("INSERT INTO api_tokens (id, name, hash, scope, created_at) VALUES (?, ?, ?, ?, ?)",
                                  .text(token.id), .text(token.name), .text(hash), .text(token.scope.rawValue), .text(token.createdAt))
            return ()
        }
    }

    public func token(hash: String) async throws -> APIToken? {
        try await withSession { session in
            try await session.run("SELECT * FROM api_tokens WHERE hash = ? AND revoked_at IS NULL", .text(hash)).first.map(APIToken.init(row:))
        }
    }

    public func tokens() async throws -> [APIToken] {
        try await withSession { try await $0.run("SELECT * FROM api_tokens ORDER BY created_at").map(APIToken.init(row:)) }
    }

    public func revokeToken(id: String) async throws -> Bool {
        try await withSession { session in
            !(try await session.run("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id",
                                    .text(Timestamp.now()), .text(id))).isEmpty
        }
    }

    public func hasActiveTokens() async throws -> Bool {
        try await withSession { !(try await $0.run("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1")).isEmpty }
    }

    // MARK: Rows

    private func addEvent(_ session: any StoreSession, _ id: String, kind: String, at: String, data: JSONTree) async throws {
        if let eventOrder = dialect.eventOrder { try await session.run(eventOrder) }
        try await session.run("INSERT INTO job_events (job_id, kind, at, data) VALUES (?, ?, ?, ?)",
                              .text(id), .text(kind), .text(at), .text(data.text()))
    }
}

struct StoreError: Error, CustomStringConvertible {
    let description: String
}

extension JobRecord {
    init(row: any StoreRow) {
        self.init(
            id: row.text("id") ?? "", state: JobState(rawValue: row.text("state") ?? "") ?? .pending, source: row.text("source") ?? "api",
            inputKey: row.text("input_key"), outputKey: row.text("output_key"), preset: row.text("preset"),
            priority: JobPriority(rawValue: row.text("priority") ?? "") ?? .normal, request: JSONTree.parse(row.text("body")), metadata: JSONTree.parse(row.text("metadata")),
            progress: row.double("progress") ?? 0, attempt: row.int("attempt"), workerID: row.text("worker_id"), fps: row.double("fps"),
            etaSeconds: row.double("eta_seconds"), outputSize: row.int("output_size").map(Int64.init),
            durationSeconds: row.double("duration_seconds"), outputCodec: row.text("output_codec"),
            outputWidth: row.int("output_width"), outputHeight: row.int("output_height"),
            segmentsTotal: row.int("segments_total"), segmentsDone: row.int("segments_done"), workers: row.int("workers"),
            errorCode: row.text("error_code"), errorMessage: row.text("error_message"),
            createdAt: row.text("created_at") ?? "", updatedAt: row.text("updated_at") ?? "", startedAt: row.text("started_at"),
            finishedAt: row.text("finished_at"), events: nil, seq: row.int("seq") ?? 0)
    }
}

extension JobEvent {
    init(row: any StoreRow) {
        self.init(seq: row.int("seq") ?? 0, jobID: row.text("job_id"), kind: row.text("kind") ?? "",
                  at: row.text("at") ?? "", data: JSONTree.parse(row.text("data")) ?? .null)
    }
}

extension WebhookDelivery {
    init(row: any StoreRow) {
        self.init(
            id: row.int("id") ?? 0, jobID: row.text("job_id") ?? "", event: row.text("event") ?? "",
            url: row.text("url") ?? "", state: row.text("state") ?? "", attempts: Self.attempts(row.text("attempts")),
            createdAt: row.text("created_at") ?? "",
            nextAttemptAt: row.text("state") == "pending" ? row.text("next_attempt_at") : nil,
            deliveredAt: row.text("delivered_at"), body: row.text("body") ?? "")
    }

    static func attempts(_ text: String?) -> [Attempt] {
        (try? JSONDecoder().decode([Attempt].self, from: Data((text ?? "[]").utf8))) ?? []
    }
}

extension APIToken {
    init(row: any StoreRow) {
        self.init(id: row.text("id") ?? "", name: row.text("name") ?? "", scope: Scope(rawValue: row.text("scope") ?? "") ?? .read,
                  createdAt: row.text("created_at") ?? "", revokedAt: row.text("revoked_at"))
    }
}

extension WorkerRecord {
    /// `lostBefore`: a worker last seen before this went silent.
    init(row: any StoreRow, lostBefore: String) {
        let lastSeen = row.text("last_seen") ?? ""
        let state = row.text("state") ?? "running"
        let status = state == "stopped" ? "stopped" : lastSeen < lostBefore ? "lost" : state == "stopping" ? "stopping" : "live"
        self.init(
            id: row.text("id") ?? "", host: row.text("host") ?? "", version: row.text("version") ?? "", pid: row.int("pid") ?? 0,
            startedAt: row.text("started_at") ?? "", lastSeen: lastSeen, status: status, concurrency: row.int("concurrency") ?? 0,
            jobs: JSONTree.parse(row.text("jobs")) ?? .array([]), load: JSONTree.parse(row.text("load")) ?? .array([]))
    }
}

extension UserPreset {
    init?(row: any StoreRow) {
        guard let name = row.text("name"), let definition = JSONTree.parse(row.text("definition")) else { return nil }
        self.init(name: name, description: row.text("description"), definition: definition,
                  createdAt: row.text("created_at") ?? "", updatedAt: row.text("updated_at") ?? "")
    }
}
