import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TranscodingService
@testable import JobService

enum Backend: String, CaseIterable, Sendable {
    case sqlite, postgres
}

/// The store's rules on each backend, a real SQLite file and a real PostgreSQL server
/// (TRANSCODER_TEST_DATABASE_URL; unreachable fails, it does not skip): idempotency, folding
/// progress, paging, tokens.
@Suite final class JobStoreTests {
    let path = NSTemporaryDirectory() + "jobstore-\(UUID().uuidString.prefix(8)).sqlite"
    /// This test's own schema: tests never see each other's rows.
    let schema = "test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()

    deinit {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    static let databaseURL = ProcessInfo.processInfo.environment["TRANSCODER_TEST_DATABASE_URL"]
        ?? "postgres://transcoder:transcoder@127.0.0.1:5432/transcoder_test"

    func store(_ backend: Backend) async throws -> SQLJobStore {
        switch backend {
        case .sqlite: try await SQLiteJobStore.open(path: path)
        case .postgres: try await PostgresJobStore.open(url: try PostgresURL(Self.databaseURL + "?search_path=\(schema)"))
        }
    }

    /// Closes the store and drops its schema.
    func finish(_ store: SQLJobStore) async throws {
        try await store.close()
        if store is PostgresJobStore { _ = try await Self.admin("DROP SCHEMA \(schema) CASCADE") }
    }

    /// One statement on a connection of its own; each row's first column as text.
    static func admin(_ sql: String) async throws -> [String] {
        let connection = try await PostgresConnection.connect(
            configuration: try PostgresURL(databaseURL).connectionConfiguration(), id: 1, logger: Logger(label: "test"))
        var result: [String] = []
        do {
            for try await row in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test")) {
                result.append((try? row.makeRandomAccess()[0].decode(String.self)) ?? "")
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return result
    }

    func newJob(_ id: String, key: String? = nil, fingerprint: String = "f", input: String = "in/a.mp4") -> NewJob {
        NewJob(id: id, inputKey: input, outputKey: "out/\(id).mp4", preset: "h264-720p",
               body: #"{"job_id":"\#(id)","input_key":"\#(input)","output_key":"out/\#(id).mp4","preset":"h264-720p"}"#,
               metadata: #"{"team":"a"}"#, idempotencyKey: key, fingerprint: fingerprint)
    }

    func message(_ id: String, _ state: ProgressMessage.State, _ progress: Double, at seconds: Double, attempt: Int = 1)
        -> ProgressMessage {
        var m = ProgressMessage(jobID: id, progress: progress, state: state, workerID: "w1",
                                timestamp: Date(timeIntervalSince1970: 1_800_000_000 + seconds), attempt: attempt)
        if state == .completed { m.outputKey = "out/\(id).mp4"; m.outputSize = 1234; m.durationSeconds = 9.5 }
        if state == .failed || state == .retrying { m.errorCode = .storageUnavailable; m.errorMessage = "storage down" }
        if state == .queued { m.inputKey = "in/other.mp4" }
        return m
    }

    @Test(arguments: Backend.allCases) func aRetriedCreateReturnsTheFirstJob(_ backend: Backend) async throws {
        let store = try await store(backend)
        guard case .created(let first) = try await store.create(newJob("j1", key: "k1")) else { Issue.record("not created"); return }
        #expect(first.state == .pending && first.source == "api" && first.metadata == .object(["team": .string("a")]))
        // Same id, same request: the same job. Same key under another id (a client without job_id): the same job.
        guard case .existing(let again, true) = try await store.create(newJob("j1", key: "k1")) else { Issue.record("made twice"); return }
        #expect(again.id == "j1")
        guard case .existing(let byKey, true) = try await store.create(newJob("j2", key: "k1")) else { Issue.record("made twice"); return }
        #expect(byKey.id == "j1")
        // Same key with other fields: reported, not silently merged.
        guard case .existing(_, false) = try await store.create(newJob("j3", key: "k1", fingerprint: "g")) else {
            Issue.record("conflict not seen"); return
        }
        #expect(try await store.list(JobQuery()).jobs.map(\.id) == ["j1"])
        #expect(try await store.pending().map(\.id) == ["j1"])
        try await store.markSubmitted("j1")
        #expect(try await store.pending().isEmpty)
        #expect(try await store.job("j1", events: true)?.events?.map(\.kind) == ["created", "submitted"])
        try await finish(store)
    }

    @Test(arguments: Backend.allCases) func progressFoldsIntoTheRecordAndItsTimeline(_ backend: Backend) async throws {
        let store = try await store(backend)
        _ = try await store.create(newJob("j1"))
        try await store.markSubmitted("j1")
        try await store.apply(message("j1", .queued, 0, at: 1))
        try await store.apply(message("j1", .downloading, 0, at: 2))
        for (i, p) in [5.0, 7, 9, 11, 30, 31, 95].enumerated() { try await store.apply(message("j1", .transcoding, p, at: 3 + Double(i))) }
        try await store.apply(message("j1", .uploading, 96, at: 20))
        try await store.apply(message("j1", .completed, 100, at: 21))
        // A tick of the same attempt that arrives late does not undo the outcome.
        try await store.apply(message("j1", .transcoding, 50, at: 10))
        let job = try #require(try await store.job("j1", events: true))
        #expect(job.state == .completed && job.progress == 100 && job.outputSize == 1234 && job.durationSeconds == 9.5)
        #expect(job.finishedAt != nil && job.workerID == "w1" && job.attempt == 1 && job.errorCode == nil)
        #expect(job.inputKey == "in/a.mp4", "the API's own input key stays")
        // State changes always; samples only every 5 points (5 → 11 → 30 → 95, not 7, 9, 31).
        #expect(job.events?.map(\.kind) == ["created", "submitted", "queued", "downloading", "transcoding",
                                            "progress", "progress", "progress", "uploading", "completed"])
        #expect(job.events?.last?.data == .object([
            "attempt": .number(1), "duration_seconds": .number(9.5), "job_id": .string("j1"), "output_key": .string("out/j1.mp4"),
            "output_size": .number(1234), "progress": .number(100), "state": .string("completed"),
            "timestamp": .string(message("j1", .completed, 100, at: 21).timestamp), "worker_id": .string("w1")]))
        try await finish(store)
    }

    @Test(arguments: Backend.allCases) func aSegmentedJobsPartsAndWorkersAreRecorded(_ backend: Backend) async throws {
        let store = try await store(backend)
        _ = try await store.create(newJob("seg"))
        try await store.markSubmitted("seg")
        var tick = message("seg", .transcoding, 40, at: 5)
        (tick.segmentsTotal, tick.segmentsDone, tick.workers) = (19, 7, 2)
        try await store.apply(tick)
        var job = try #require(try await store.job("seg", events: false))
        #expect(job.segmentsTotal == 19 && job.segmentsDone == 7 && job.workers == 2)
        var done = message("seg", .completed, 100, at: 9)
        (done.segmentsTotal, done.segmentsDone, done.workers) = (19, 19, 0)
        try await store.apply(done)
        job = try #require(try await store.job("seg", events: false))
        #expect(job.segmentsDone == 19 && job.workers == 0 && job.state == .completed)
        // An unsegmented job's record has none of them.
        try await store.apply(message("plain", .transcoding, 40, at: 5))
        let plain = try #require(try await store.job("plain", events: false))
        #expect(plain.segmentsTotal == nil && plain.segmentsDone == nil && plain.workers == nil)
        try await finish(store)
    }

    @Test(arguments: Backend.allCases) func aJobOtherClientsPublishedIsRecordedFromItsProgress(_ backend: Backend) async throws {
        let store = try await store(backend)
        try await store.apply(message("pika-1", .queued, 0, at: 1))
        try await store.apply(message("pika-1", .retrying, 3, at: 2))
        var job = try #require(try await store.job("pika-1", events: false))
        #expect(job.source == "broker" && job.inputKey == "in/other.mp4" && job.state == .retrying)
        #expect(job.errorCode == "storage_unavailable" && job.finishedAt == nil)
        try await store.apply(message("pika-1", .queued, 0, at: 10, attempt: 2))
        try await store.apply(message("pika-1", .completed, 100, at: 11, attempt: 2))
        job = try #require(try await store.job("pika-1", events: true))
        #expect(job.state == .completed && job.attempt == 2 && job.errorCode == nil && job.outputKey == "out/pika-1.mp4")
        #expect(job.events?.map(\.kind) == ["created", "queued", "retrying", "queued", "completed"])
        try await finish(store)
    }

    @Test(arguments: Backend.allCases) func aJobKeepsItsPriorityThroughPendingRetryAndOtherClients(_ backend: Backend) async throws {
        let store = try await store(backend)
        var high = newJob("p-high")
        high.priority = .high
        _ = try await store.create(high)
        #expect(try await store.pending() == [PendingJob(id: "p-high", body: high.body, priority: .high)])
        #expect(try await store.job("p-high", events: false)?.priority == .high)
        try await store.markSubmitted("p-high")
        var failed = message("p-high", .failed, 0, at: 1)
        failed.errorCode = .inputNotFound
        try await store.apply(failed)
        #expect(try await store.resubmit("p-high", by: "test") == .resubmitted(body: high.body, priority: .high))
        // Another client's job: the lane its worker reports.
        var queued = message("pika-low", .queued, 0, at: 1)
        queued.priority = .low
        try await store.apply(queued)
        #expect(try await store.job("pika-low", events: false)?.priority == .low)
        try await finish(store)
    }

    @Test(arguments: Backend.allCases) func userPresetsAreCreatedReplacedAndDeleted(_ backend: Backend) async throws {
        let store = try await store(backend)
        let tiny = UserPreset(name: "tiny", description: "previews", definition: .object(["transcode_options": .string("videoscale")]),
                              createdAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-01T00:00:00.000Z")
        #expect(try await store.putPreset(tiny))
        var changed = tiny
        changed.description = nil
        changed.definition = .object(["preset": .string("h264-720p"), "overrides": .object(["crf": .number(26)])])
        changed.updatedAt = "2026-01-02T00:00:00.000Z"
        #expect(try await store.putPreset(changed) == false)
        #expect(try await store.preset(named: "tiny") == changed)
        #expect(try await store.presets().map(\.name) == ["tiny"])
        #expect(try await store.deletePreset(named: "tiny"))
        #expect(try await store.deletePreset(named: "tiny") == false)
        #expect(try await store.preset(named: "tiny") == nil)
        try await finish(store)
    }

    @Test(arguments: Backend.allCases) func pagesCoverEveryJobOnceAndFiltersApply(_ backend: Backend) async throws {
        let store = try await store(backend)
        for i in 1...120 {
            _ = try await store.create(newJob("job-\(i)", input: i % 3 == 0 ? "in/100%_x/\(i).mp4" : "in/1000_x/\(i).mp4"))
            if i % 4 == 0 { try await store.apply(message("job-\(i)", .failed, 0, at: Double(i))) }
        }
        var seen: [String] = []
        var query = JobQuery()
        query.limit = 50
        var pages = 0
        repeat {
            let page = try await store.list(query)
            seen += page.jobs.map(\.id)
            query.after = page.nextCursor
            pages += 1
        } while query.after != nil
        #expect(pages == 3 && seen.count == 120 && Set(seen).count == 120)
        #expect(seen.first == "job-120", "newest first")

        var failed = JobQuery()
        failed.states = [.failed]
        #expect(try await store.list(failed).jobs.count == 30)
        // % and _ in a prefix are literal characters, not patterns.
        var prefix = JobQuery()
        prefix.keyPrefix = "in/100%_"
        prefix.limit = 500
        #expect(try await store.list(prefix).jobs.count == 40)
        var late = JobQuery()
        late.createdAfter = "2999-01-01T00:00:00.000Z"
        #expect(try await store.list(late).jobs.isEmpty)
        try await finish(store)
    }

    @Test(arguments: Backend.allCases) func schemaAndDataSurviveAReopen(_ backend: Backend) async throws {
        let first = try await store(backend)
        _ = try await first.create(newJob("keep"))
        try await first.close()
        let store = try await self.store(backend)
        #expect(try await store.schemaVersion() == (backend == .sqlite ? Migrations.sqlite : Migrations.postgres).count)
        #expect(Migrations.sqlite.count == Migrations.postgres.count, "the same versions on both")
        #expect(try await store.job("keep", events: false) != nil)
        try await finish(store)
    }

    @Test(arguments: Backend.allCases) func tokensAreStoredHashedAndRevocable(_ backend: Backend) async throws {
        let store = try await store(backend)
        #expect(try await !store.hasActiveTokens())
        let (token, secret) = try await Tokens.create(name: "ci", scope: .read, in: store)
        #expect(secret.hasPrefix("tk_") && secret.count > 40)
        #expect(try await store.token(hash: Tokens.hash(secret)) == token)
        #expect(try await store.token(hash: Tokens.hash(secret + "x")) == nil)
        let stored = backend == .sqlite ? try String(contentsOfFile: path, encoding: .isoLatin1)
            : try await Self.admin("SELECT row_to_json(t)::text FROM \(schema).api_tokens t").joined()
        #expect(backend == .sqlite || stored.contains(Tokens.hash(secret)), "the row is there")
        #expect(!stored.contains(secret), "only the hash is stored")
        #expect(try await store.revokeToken(id: token.id))
        #expect(try await store.token(hash: Tokens.hash(secret)) == nil)
        #expect(try await !store.hasActiveTokens())
        #expect(try await !store.revokeToken(id: token.id))
        #expect(Scope.read < .write && Scope.write < .admin)
        try await finish(store)
    }
}

extension JobStoreTests {
    @Test(arguments: Backend.allCases) func workersAreLiveUntilTheyStopOrGoSilent(_ backend: Backend) async throws {
        let store = try await store(backend)
        func beat(_ id: String, _ state: String) -> WorkerHeartbeat {
            WorkerHeartbeat(workerID: id, host: "h", version: "1", pid: 7, startedAt: "2026-01-01T00:00:00.000Z",
                            timestamp: "2026-01-01T00:00:10.000Z", state: state, concurrency: 2,
                            jobs: [.init(jobID: "j1", state: .transcoding, progress: 42.5, fps: 90)], load: [0.5, 0.4, 0.3])
        }
        try await store.recordHeartbeat(beat("w1", "running"))
        try await store.recordHeartbeat(beat("w2", "running"))
        try await store.recordHeartbeat(beat("w2", "stopped"))
        var workers = try await store.workers()
        #expect(workers.map(\.status) == ["live", "stopped"])
        #expect(workers.first?.jobs == .array([.object(["job_id": .string("j1"), "state": .string("transcoding"),
                                                        "progress": .number(42.5), "fps": .number(90)])]))
        workers = try await store.workers(asOf: Date().addingTimeInterval(31))
        #expect(workers.map(\.status) == ["lost", "stopped"], "three missed heartbeats")
        workers = try await store.workers(asOf: Date().addingTimeInterval(8 * 86400))
        #expect(workers.isEmpty, "forgotten after a week")
        try await finish(store)
    }
}

/// Several API instances on one PostgreSQL database.
extension JobStoreTests {
    @Test func twoInstancesNeverClaimTheSameWebhookDelivery() async throws {
        let first = try await store(.postgres), second = try await store(.postgres)
        for i in 0..<40 {
            var job = newJob("hook-\(i)")
            job.webhookURL = "http://127.0.0.1:9/hook"
            _ = try await first.create(job)
            try await first.apply(message("hook-\(i)", .completed, 100, at: Double(i)))
        }
        // Both claim a few at a time, at once, until nothing is due.
        let claims = try await withThrowingTaskGroup(of: [Int].self) { group in
            for store in [first, second, first, second] {
                group.addTask {
                    var ids: [Int] = []
                    while true {
                        let due = try await store.claimDeliveries(now: Date().addingTimeInterval(1), limit: 3, lease: .seconds(600))
                        if due.isEmpty { return ids }
                        ids += due.map(\.id)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let all = claims.flatMap { $0 }
        #expect(all.count == 40 && Set(all).count == 40, "\(all.count) claims of \(Set(all).count) deliveries")
        try await second.close()
        try await finish(first)
    }

    @Test func concurrentCreatesWithOneIdempotencyKeyMakeOneJob() async throws {
        let first = try await store(.postgres), second = try await store(.postgres)
        let outcomes = try await withThrowingTaskGroup(of: (created: Bool, id: String, same: Bool).self) { group in
            for i in 0..<24 {
                let job = newJob("racer-\(i)", key: "one-key")
                group.addTask {
                    switch try await (i % 2 == 0 ? first : second).create(job) {
                    case .created(let job): (true, job.id, true)
                    case .existing(let job, let same): (false, job.id, same)
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter(\.created).count == 1)
        #expect(Set(outcomes.map(\.id)).count == 1 && outcomes.allSatisfy(\.same))
        #expect(try await first.list(JobQuery()).jobs.count == 1)
        #expect(try await second.pending().count == 1)
        try await second.close()
        try await finish(first)
    }

    @Test func progressAndCancelsOnTwoInstancesAtOnceAllCommit() async throws {
        let first = try await store(.postgres), second = try await store(.postgres)
        let ids = (0..<16).map { "busy-\($0)" }
        for id in ids { _ = try await first.create(newJob(id)); try await first.markSubmitted(id) }
        let ticks = ids.map { id in [message(id, .queued, 0, at: 1), message(id, .transcoding, 10, at: 2)] }
        // Folding locks the job row, then the timeline; a cancel must take them in the same order
        // (the other order deadlocks, and PostgreSQL aborts one of the two).
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Each job's ticks in order, as one worker sends them.
            for job in ticks { group.addTask { for tick in job { try await first.apply(tick) } } }
            for id in ids { group.addTask { try await second.requestCancel(id, by: "tok_test") } }
            try await group.waitForAll()
        }
        let events = try await first.events(after: 0, jobID: nil, limit: 1000)
        #expect(events.count == ids.count * 5, "created, submitted, queued, transcoding, cancel_requested for each")
        #expect(events.map(\.seq) == events.map(\.seq).sorted())
        for id in ids {
            let job = try #require(try await second.job(id, events: true))
            #expect(job.events?.filter { $0.kind == "cancel_requested" }.count == 1)
            #expect([.cancelled, .queued, .transcoding].contains(job.state), "\(job.state)")
        }
        try await second.close()
        try await finish(first)
    }

    @Test func aWrongPasswordIsRefusedClearlyWithoutThePassword() async throws {
        var url = try #require(URLComponents(string: Self.databaseURL))
        url.password = "not-the-Secret-42"
        let error = await #expect(throws: APIStartError.self) {
            try await PostgresJobStore.open(url: try PostgresURL(url.string!))
        }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("password authentication failed"), "\(text)")
        #expect(!text.contains("not-the-Secret-42"), "\(text)")
        #expect(try PostgresURL(url.string!).description == "postgres://\(url.user ?? "")@\(url.host ?? ""):\(url.port ?? 5432)\(url.path)")
    }
}
