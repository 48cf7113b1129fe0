import Foundation
import Testing
@testable import TranscodingService
@testable import JobService

/// The store's rules on a real SQLite file: idempotency, folding progress, paging, tokens.
@Suite final class SQLiteJobStoreTests {
    let path = NSTemporaryDirectory() + "jobstore-\(UUID().uuidString.prefix(8)).sqlite"

    deinit {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    func store() async throws -> SQLiteJobStore { try await SQLiteJobStore.open(path: path) }

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

    @Test func aRetriedCreateReturnsTheFirstJob() async throws {
        let store = try await store()
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
        try await store.close()
    }

    @Test func progressFoldsIntoTheRecordAndItsTimeline() async throws {
        let store = try await store()
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
        try await store.close()
    }

    @Test func aJobOtherClientsPublishedIsRecordedFromItsProgress() async throws {
        let store = try await store()
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
        try await store.close()
    }

    @Test func pagesCoverEveryJobOnceAndFiltersApply() async throws {
        let store = try await store()
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
        try await store.close()
    }

    @Test func schemaAndDataSurviveAReopen() async throws {
        let first = try await store()
        _ = try await first.create(newJob("keep"))
        try await first.close()
        let store = try await self.store()
        #expect(try await store.schemaVersion() == Migrations.sqlite.count)
        #expect(try await store.job("keep", events: false) != nil)
        try await store.close()
    }

    @Test func tokensAreStoredHashedAndRevocable() async throws {
        let store = try await store()
        #expect(try await !store.hasActiveTokens())
        let (token, secret) = try await Tokens.create(name: "ci", scope: .read, in: store)
        #expect(secret.hasPrefix("tk_") && secret.count > 40)
        #expect(try await store.token(hash: Tokens.hash(secret)) == token)
        #expect(try await store.token(hash: Tokens.hash(secret + "x")) == nil)
        let file = try String(contentsOfFile: path, encoding: .isoLatin1)
        #expect(!file.contains(secret), "only the hash is stored")
        #expect(try await store.revokeToken(id: token.id))
        #expect(try await store.token(hash: Tokens.hash(secret)) == nil)
        #expect(try await !store.hasActiveTokens())
        #expect(try await !store.revokeToken(id: token.id))
        #expect(Scope.read < .write && Scope.write < .admin)
        try await store.close()
    }
}

extension SQLiteJobStoreTests {
    @Test func workersAreLiveUntilTheyStopOrGoSilent() async throws {
        let store = try await store()
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
        try await store.close()
    }
}
