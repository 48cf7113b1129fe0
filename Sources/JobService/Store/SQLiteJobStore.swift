import Foundation
import Synchronization
import Logging
import SQLiteNIO
import TranscodingService

/// The embedded job store: one SQLite file in WAL mode, so that a killed API loses no
/// committed write. One connection; statements that belong together run under one
/// ``AsyncGate`` turn, inside a transaction.
public final class SQLiteJobStore: JobStore {
    let connection: SQLiteConnection
    let gate = AsyncGate()

    /// Opens (creating) the file and applies pending migrations.
    public static func open(path: String, logger: Logger = Logger(label: "jobstore")) async throws -> SQLiteJobStore {
        let connection = try await SQLiteConnection.open(storage: path == ":memory:" ? .memory : .file(path: path), logger: logger)
        let store = SQLiteJobStore(connection: connection)
        try await store.prepare()
        return store
    }

    private init(connection: SQLiteConnection) { self.connection = connection }

    private func prepare() async throws {
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"] {
            _ = try await connection.query(pragma)
        }
        try await transaction {
            _ = try await self.connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            let applied = try await self.connection.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
                .first?.column("v")?.integer ?? 0
            for (index, migration) in Migrations.sqlite.enumerated() where index + 1 > applied {
                // One statement per prepare: split the script.
                for statement in migration.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
                where !statement.isEmpty {
                    _ = try await self.connection.query(statement)
                }
                _ = try await self.connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                                    [.integer(index + 1), .text(Timestamp.now())])
            }
        }
    }

    /// The schema version now in the file.
    public func schemaVersion() async throws -> Int {
        try await connection.query("SELECT MAX(version) AS v FROM schema_migrations").first?.column("v")?.integer ?? 0
    }

    private func transaction<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await gate.serially {
            _ = try await self.connection.query("BEGIN IMMEDIATE")
            do {
                let result = try await body()
                _ = try await self.connection.query("COMMIT")
                return result
            } catch {
                _ = try? await self.connection.query("ROLLBACK")
                throw error
            }
        }
    }

    private func query(_ sql: String, _ binds: [SQLiteData] = []) async throws -> [SQLiteRow] {
        try await gate.serially { try await self.connection.query(sql, binds) }
    }

    // MARK: Jobs

    public func create(_ job: NewJob) async throws -> CreateOutcome {
        try await transaction {
            let existing = try await self.connection.query(
                "SELECT * FROM jobs WHERE id = ? OR (idempotency_key IS NOT NULL AND idempotency_key = ?) LIMIT 1",
                [.text(job.id), job.idempotencyKey.map(SQLiteData.text) ?? .null])
            if let row = existing.first {
                return .existing(Self.record(row), sameRequest: row.column("fingerprint")?.string == job.fingerprint)
            }
            let now = Timestamp.now()
            _ = try await self.connection.query("""
                INSERT INTO jobs (id, idempotency_key, fingerprint, state, source, input_key, output_key, preset, body,
                                  metadata, created_at, updated_at, webhook_url, webhook_progress, priority)
                VALUES (?, ?, ?, 'pending', 'api', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [.text(job.id), Self.opt(job.idempotencyKey), .text(job.fingerprint), .text(job.inputKey),
                      .text(job.outputKey), Self.opt(job.preset), .text(job.body), Self.opt(job.metadata), .text(now), .text(now),
                      Self.opt(job.webhookURL), .integer(job.webhookProgress ? 1 : 0), .text(job.priority.rawValue)])
            try await self.addEvent(job.id, kind: "created", at: now, data: .object(["source": .string("api")]))
            let row = try await self.connection.query("SELECT * FROM jobs WHERE id = ?", [.text(job.id)])
            return .created(Self.record(row[0]))
        }
    }

    public func markSubmitted(_ id: String) async throws {
        try await transaction {
            // Only from pending: a worker may have reported already.
            let rows = try await self.connection.query(
                "UPDATE jobs SET state = 'submitted', updated_at = ? WHERE id = ? AND state = 'pending' RETURNING id",
                [.text(Timestamp.now()), .text(id)])
            if !rows.isEmpty { try await self.addEvent(id, kind: "submitted", at: Timestamp.now(), data: .object([:])) }
        }
    }

    public func pending() async throws -> [PendingJob] {
        try await query("SELECT id, body, priority FROM jobs WHERE state = 'pending' ORDER BY seq").compactMap { row in
            guard let id = row.column("id")?.string, let body = row.column("body")?.string else { return nil }
            return PendingJob(id: id, body: body, priority: JobPriority(rawValue: row.column("priority")?.string ?? "") ?? .normal)
        }
    }

    public func apply(_ message: ProgressMessage) async throws {
        guard let id = message.jobID else { return }
        let body = JSONTree.parse(String(decoding: try JSONEncoder().encode(message), as: UTF8.self)) ?? .null
        try await transaction {
            var row = try await self.connection.query("SELECT * FROM jobs WHERE id = ?", [.text(id)]).first
            if row == nil {
                // Published by another client: the record starts with its first progress message.
                _ = try await self.connection.query("""
                    INSERT INTO jobs (id, state, source, input_key, created_at, updated_at, priority)
                    VALUES (?, ?, 'broker', ?, ?, ?, ?)
                    """, [.text(id), .text(message.state.rawValue), Self.opt(message.inputKey), .text(message.timestamp),
                          .text(Timestamp.now()), .text((message.priority ?? .normal).rawValue)])
                try await self.addEvent(id, kind: "created", at: message.timestamp, data: .object(["source": .string("broker")]))
                row = try await self.connection.query("SELECT * FROM jobs WHERE id = ?", [.text(id)]).first
            }
            guard let row else { return }
            let state = row.column("state")?.string
            let attempt = row.column("attempt")?.integer
            if ProgressFold.isStale(message, lastMessageAt: row.column("last_message_at")?.string) {
                // Kept in the timeline, but it does not undo the newer state.
                if message.state.isFinal { try await self.addEvent(id, kind: message.state.rawValue, at: message.timestamp, data: body) }
                return
            }
            let kind = state == JobState.pending.rawValue || state == JobState.submitted.rawValue || row.column("last_message_at")?.isNull != false
                ? message.state.rawValue
                : ProgressFold.eventKind(message, state: state, attempt: attempt, sampled: row.column("sampled_progress")?.double)
            let final = message.state.isFinal
            let failing = message.state == .failed || message.state == .retrying
            _ = try await self.connection.query("""
                UPDATE jobs SET state = ?, progress = ?, attempt = COALESCE(?, attempt), worker_id = ?,
                    fps = ?, eta_seconds = ?, started_at = COALESCE(?, started_at),
                    input_key = COALESCE(input_key, ?), priority = COALESCE(?, priority),
                    output_key = CASE WHEN ? IS NOT NULL THEN ? ELSE output_key END,
                    output_size = COALESCE(?, output_size), duration_seconds = COALESCE(?, duration_seconds),
                    error_code = ?, error_message = ?,
                    finished_at = ?, last_message_at = ?, updated_at = ?,
                    sampled_progress = CASE WHEN ? THEN ? ELSE sampled_progress END
                WHERE id = ?
                """, [
                    .text(message.state.rawValue), .float(message.progress), Self.opt(message.attempt), .text(message.workerID),
                    Self.opt(message.fps), Self.opt(message.etaSeconds), Self.opt(message.startedAt),
                    Self.opt(message.inputKey), Self.opt(message.priority?.rawValue),
                    Self.opt(message.outputKey), Self.opt(message.outputKey),
                    Self.opt(message.outputSize.map { Int($0) }), Self.opt(message.durationSeconds),
                    failing ? Self.opt(message.errorCode?.rawValue) : .null, failing ? Self.opt(message.errorMessage) : .null,
                    final ? .text(message.timestamp) : .null, .text(message.timestamp), .text(Timestamp.now()),
                    .integer(kind == nil ? 0 : 1), .float(message.progress),
                    .text(id),
                ])
            if let kind { try await self.addEvent(id, kind: kind, at: message.timestamp, data: body) }
            if state != message.state.rawValue { try await self.enqueueWebhook(row, state: JobState(message.state)) }
        }
    }

    /// A webhook for a change of state: outcomes always, other states when the job asked for progress.
    private func enqueueWebhook(_ row: SQLiteRow, state: JobState) async throws {
        guard let url = row.column("webhook_url")?.string, state.isFinal || row.column("webhook_progress")?.integer == 1,
              let id = row.column("id")?.string,
              let fresh = try await connection.query("SELECT * FROM jobs WHERE id = ?", [.text(id)]).first else { return }
        let event = "job.\(state.rawValue)"
        let payload = JSONTree.object(["event": .string(event), "job": JSONTree.parse(String(decoding: JSONBody.buffer(Self.record(fresh)).readableBytesView, as: UTF8.self)) ?? .null])
        let now = Timestamp.now()
        _ = try await connection.query("""
            INSERT INTO webhook_deliveries (job_id, event, url, body, state, next_attempt_at, created_at)
            VALUES (?, ?, ?, ?, 'pending', ?, ?)
            """, [.text(id), .text(event), .text(url), .text(payload.text()), .text(now), .text(now)])
    }

    public func claimDeliveries(now: Date, limit: Int, lease: Duration) async throws -> [WebhookDelivery] {
        try await transaction {
            let rows = try await self.connection.query(
                "SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
                [.text(Timestamp.format(now)), .integer(limit)])
            let until = Timestamp.format(now.addingTimeInterval(Double(lease.components.seconds)))
            for row in rows {
                _ = try await self.connection.query("UPDATE webhook_deliveries SET next_attempt_at = ? WHERE id = ?",
                                                    [.text(until), .integer(row.column("id")?.integer ?? 0)])
            }
            return rows.map(Self.delivery)
        }
    }

    public func recordAttempt(_ id: Int, _ attempt: WebhookDelivery.Attempt, delivered: Bool, next: Date?) async throws {
        try await transaction {
            guard let row = try await self.connection.query("SELECT attempts FROM webhook_deliveries WHERE id = ?", [.integer(id)]).first
            else { return }
            var attempts = (try? JSONDecoder().decode([WebhookDelivery.Attempt].self, from: Data((row.column("attempts")?.string ?? "[]").utf8))) ?? []
            attempts.append(attempt)
            let text = String(decoding: JSONBody.buffer(attempts).readableBytesView, as: UTF8.self)
            let state = delivered ? "delivered" : next == nil ? "failed" : "pending"
            _ = try await self.connection.query("""
                UPDATE webhook_deliveries SET attempts = ?, state = ?, next_attempt_at = ?, delivered_at = ? WHERE id = ?
                """, [.text(text), .text(state), .text(next.map(Timestamp.format) ?? attempt.at),
                      delivered ? .text(attempt.at) : .null, .integer(id)])
        }
    }

    static func delivery(_ row: SQLiteRow) -> WebhookDelivery {
        WebhookDelivery(
            id: row.column("id")?.integer ?? 0, jobID: row.column("job_id")?.string ?? "", event: row.column("event")?.string ?? "",
            url: row.column("url")?.string ?? "", state: row.column("state")?.string ?? "",
            attempts: (try? JSONDecoder().decode([WebhookDelivery.Attempt].self,
                                                 from: Data((row.column("attempts")?.string ?? "[]").utf8))) ?? [],
            createdAt: row.column("created_at")?.string ?? "",
            nextAttemptAt: row.column("state")?.string == "pending" ? row.column("next_attempt_at")?.string : nil,
            deliveredAt: row.column("delivered_at")?.string, body: row.column("body")?.string ?? "")
    }

    public func requestCancel(_ id: String, by: String) async throws {
        try await transaction {
            let now = Timestamp.now()
            try await self.addEvent(id, kind: "cancel_requested", at: now, data: .object(["by": .string(by)]))
            let waiting = JobState.allCases.filter(\.isWaiting).map { "'\($0.rawValue)'" }.joined(separator: ", ")
            let changed = try await self.connection.query(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE id = ? AND state IN (\(waiting)) RETURNING *",
                [.text(now), .text(now), .text(id)])
            if let row = changed.first { try await self.enqueueWebhook(row, state: .cancelled) }
        }
    }

    public func resubmit(_ id: String, by: String) async throws -> ResubmitOutcome {
        try await transaction {
            guard let row = try await self.connection.query("SELECT state, body, priority FROM jobs WHERE id = ?", [.text(id)]).first else {
                return .notFound
            }
            let state = JobState(rawValue: row.column("state")?.string ?? "") ?? .pending
            guard state == .failed || state == .cancelled else { return .notAllowed(state) }
            guard let body = row.column("body")?.string else { return .unknownMessage }
            let now = Timestamp.now()
            _ = try await self.connection.query("""
                UPDATE jobs SET state = 'pending', progress = 0, sampled_progress = 0, error_code = NULL, error_message = NULL,
                    finished_at = NULL, updated_at = ?, last_message_at = ? WHERE id = ?
                """, [.text(now), .text(now), .text(id)])
            // (last_message_at: what the earlier copy's workers still report is older, so it
            // goes into the timeline without undoing the retry.)
            try await self.addEvent(id, kind: "retry_requested", at: now, data: .object(["by": .string(by)]))
            return .resubmitted(body: body, priority: JobPriority(rawValue: row.column("priority")?.string ?? "") ?? .normal)
        }
    }

    public func job(_ id: String, events: Bool) async throws -> JobRecord? {
        try await gate.serially {
            guard let row = try await self.connection.query("SELECT * FROM jobs WHERE id = ?", [.text(id)]).first else { return nil }
            var record = Self.record(row)
            if events {
                record.events = try await self.connection.query(
                    "SELECT * FROM job_events WHERE job_id = ? ORDER BY seq", [.text(id)]).map(Self.event)
                let deliveries = try await self.connection.query(
                    "SELECT * FROM webhook_deliveries WHERE job_id = ? ORDER BY id", [.text(id)]).map(Self.delivery)
                record.webhooks = deliveries.isEmpty ? nil : deliveries
            }
            return record
        }
    }

    public func events(after seq: Int, jobID: String?, limit: Int) async throws -> [JobEvent] {
        if let jobID {
            return try await query("SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                                   [.text(jobID), .integer(seq), .integer(limit)]).map(Self.event)
        }
        return try await query("SELECT * FROM job_events WHERE seq > ? ORDER BY seq LIMIT ?",
                               [.integer(seq), .integer(limit)]).map(Self.event)
    }

    static func event(_ row: SQLiteRow) -> JobEvent {
        JobEvent(seq: row.column("seq")?.integer ?? 0, jobID: row.column("job_id")?.string, kind: row.column("kind")?.string ?? "",
                 at: row.column("at")?.string ?? "", data: JSONTree.parse(row.column("data")?.string) ?? .null)
    }

    public func list(_ query: JobQuery) async throws -> JobPage {
        var clauses: [String] = []
        var binds: [SQLiteData] = []
        if !query.states.isEmpty {
            clauses.append("state IN (\(query.states.map { _ in "?" }.joined(separator: ", ")))")
            binds += query.states.map { .text($0.rawValue) }
        }
        if let after = query.createdAfter { clauses.append("created_at >= ?"); binds.append(.text(after)) }
        if let before = query.createdBefore { clauses.append("created_at < ?"); binds.append(.text(before)) }
        if let prefix = query.keyPrefix {
            // A range on each key's index: every string that starts with `prefix` sorts in
            // [prefix, prefix + U+10FFFF) byte-wise (the greatest UTF-8 sequence).
            let end = prefix + "\u{10FFFF}"
            clauses.append("((input_key >= ? AND input_key < ?) OR (output_key >= ? AND output_key < ?))")
            binds += [.text(prefix), .text(end), .text(prefix), .text(end)]
        }
        if let after = query.after { clauses.append("seq < ?"); binds.append(.integer(after)) }
        let sql = "SELECT * FROM jobs" + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
            + " ORDER BY seq DESC LIMIT \(query.limit + 1)"
        let rows = try await self.query(sql, binds)
        let page = rows.prefix(query.limit)
        return JobPage(jobs: page.map(Self.record),
                       nextCursor: rows.count > query.limit ? page.last?.column("seq")?.integer : nil)
    }

    // MARK: Workers

    public func recordHeartbeat(_ heartbeat: WorkerHeartbeat) async throws {
        let jobs = JSONTree.parse(String(decoding: try JSONEncoder().encode(heartbeat.jobs), as: UTF8.self)) ?? .array([])
        // Heartbeats carry the worker's clock; last_seen is the API's, so that "lost" does not depend on skew.
        _ = try await query("""
            INSERT INTO workers (id, host, version, pid, started_at, last_seen, state, concurrency, jobs, load)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET host = excluded.host, version = excluded.version, pid = excluded.pid,
                started_at = excluded.started_at, last_seen = excluded.last_seen, state = excluded.state,
                concurrency = excluded.concurrency, jobs = excluded.jobs, load = excluded.load
            """, [.text(heartbeat.workerID), .text(heartbeat.host), .text(heartbeat.version), .integer(Int(heartbeat.pid)),
                  .text(heartbeat.startedAt), .text(Timestamp.now()), .text(heartbeat.state), .integer(heartbeat.concurrency),
                  .text(jobs.text()), .text(JSONTree.array(heartbeat.load.map(JSONTree.number)).text())])
    }

    public func workers() async throws -> [WorkerRecord] { try await workers(asOf: Date()) }

    func workers(asOf now: Date) async throws -> [WorkerRecord] {
        _ = try await query("DELETE FROM workers WHERE last_seen < ?", [.text(Timestamp.format(now.addingTimeInterval(-7 * 86400)))])
        let lostBefore = Timestamp.format(now.addingTimeInterval(-Double(WorkerRecord.lostAfter.components.seconds)))
        return try await query("SELECT * FROM workers ORDER BY id").map { row in
            let lastSeen = row.column("last_seen")?.string ?? ""
            let state = row.column("state")?.string ?? "running"
            let status = state == "stopped" ? "stopped" : lastSeen < lostBefore ? "lost" : state == "stopping" ? "stopping" : "live"
            return WorkerRecord(
                id: row.column("id")?.string ?? "", host: row.column("host")?.string ?? "",
                version: row.column("version")?.string ?? "", pid: row.column("pid")?.integer ?? 0,
                startedAt: row.column("started_at")?.string ?? "", lastSeen: lastSeen, status: status,
                concurrency: row.column("concurrency")?.integer ?? 0,
                jobs: JSONTree.parse(row.column("jobs")?.string) ?? .array([]),
                load: JSONTree.parse(row.column("load")?.string) ?? .array([]))
        }
    }

    // MARK: Tokens

    public func insertToken(_ token: APIToken, hash: String) async throws {
        _ = try await query("INSERT INTO api_tokens (id, name, hash, scope, created_at) VALUES (?, ?, ?, ?, ?)",
                            [.text(token.id), .text(token.name), .text(hash), .text(token.scope.rawValue), .text(token.createdAt)])
    }

    public func token(hash: String) async throws -> APIToken? {
        try await query("SELECT * FROM api_tokens WHERE hash = ? AND revoked_at IS NULL", [.text(hash)]).first.map(Self.token)
    }

    public func tokens() async throws -> [APIToken] {
        try await query("SELECT * FROM api_tokens ORDER BY created_at").map(Self.token)
    }

    public func revokeToken(id: String) async throws -> Bool {
        !(try await query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id",
                          [.text(Timestamp.now()), .text(id)])).isEmpty
    }

    public func hasActiveTokens() async throws -> Bool {
        !(try await query("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1")).isEmpty
    }

    // MARK: Presets

    public func presets() async throws -> [UserPreset] {
        try await query("SELECT * FROM presets ORDER BY name").compactMap(Self.preset)
    }

    public func preset(named name: String) async throws -> UserPreset? {
        try await query("SELECT * FROM presets WHERE name = ?", [.text(name)]).first.flatMap(Self.preset)
    }

    public func putPreset(_ preset: UserPreset) async throws -> Bool {
        try await transaction {
            let existed = !(try await self.connection.query("SELECT 1 FROM presets WHERE name = ?", [.text(preset.name)])).isEmpty
            _ = try await self.connection.query("""
                INSERT INTO presets (name, description, definition, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET description = excluded.description, definition = excluded.definition,
                    updated_at = excluded.updated_at
                """, [.text(preset.name), Self.opt(preset.description), .text(preset.definition.text()),
                      .text(preset.createdAt), .text(preset.updatedAt)])
            return !existed
        }
    }

    public func deletePreset(named name: String) async throws -> Bool {
        !(try await query("DELETE FROM presets WHERE name = ? RETURNING name", [.text(name)])).isEmpty
    }

    static func preset(_ row: SQLiteRow) -> UserPreset? {
        guard let name = row.column("name")?.string, let definition = JSONTree.parse(row.column("definition")?.string) else { return nil }
        return UserPreset(name: name, description: row.column("description")?.string, definition: definition,
                          createdAt: row.column("created_at")?.string ?? "", updatedAt: row.column("updated_at")?.string ?? "")
    }

    public func close() async throws { try await connection.close() }

    // MARK: Rows

    private func addEvent(_ id: String, kind: String, at: String, data: JSONTree) async throws {
        _ = try await connection.query("INSERT INTO job_events (job_id, kind, at, data) VALUES (?, ?, ?, ?)",
                                       [.text(id), .text(kind), .text(at), .text(data.text())])
    }

    static func opt(_ value: String?) -> SQLiteData { value.map(SQLiteData.text) ?? .null }
    static func opt(_ value: Int?) -> SQLiteData { value.map { .integer($0) } ?? .null }
    static func opt(_ value: Double?) -> SQLiteData { value.map(SQLiteData.float) ?? .null }

    static func record(_ row: SQLiteRow) -> JobRecord {
        func text(_ name: String) -> String? { row.column(name)?.string }
        func double(_ name: String) -> Double? { row.column(name).flatMap { $0.isNull ? nil : $0.double } }
        func int(_ name: String) -> Int? { row.column(name).flatMap { $0.isNull ? nil : $0.integer } }
        return JobRecord(
            id: text("id") ?? "", state: JobState(rawValue: text("state") ?? "") ?? .pending, source: text("source") ?? "api",
            inputKey: text("input_key"), outputKey: text("output_key"), preset: text("preset"),
            priority: JobPriority(rawValue: text("priority") ?? "") ?? .normal, request: JSONTree.parse(text("body")), metadata: JSONTree.parse(text("metadata")),
            progress: double("progress") ?? 0, attempt: int("attempt"), workerID: text("worker_id"), fps: double("fps"),
            etaSeconds: double("eta_seconds"), outputSize: int("output_size").map(Int64.init),
            durationSeconds: double("duration_seconds"), errorCode: text("error_code"), errorMessage: text("error_message"),
            createdAt: text("created_at") ?? "", updatedAt: text("updated_at") ?? "", startedAt: text("started_at"),
            finishedAt: text("finished_at"), events: nil, seq: int("seq") ?? 0)
    }

    static func token(_ row: SQLiteRow) -> APIToken {
        APIToken(id: row.column("id")?.string ?? "", name: row.column("name")?.string ?? "",
                 scope: Scope(rawValue: row.column("scope")?.string ?? "") ?? .read,
                 createdAt: row.column("created_at")?.string ?? "", revokedAt: row.column("revoked_at")?.string)
    }
}

/// Runs async bodies one at a time, in arrival order (an actor alone would interleave
/// them at every await inside a transaction).
final class AsyncGate: Sendable {
    private let state = Mutex<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func serially<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await enter()
        do {
            let result = try await body()
            leave()
            return result
        } catch {
            leave()
            throw error
        }
    }

    private func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let proceed = state.withLock { state in
                if state.busy { state.waiters.append(continuation); return false }
                state.busy = true
                return true
            }
            if proceed { continuation.resume() }
        }
    }

    private func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty { state.busy = false; return nil }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
