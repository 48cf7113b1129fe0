import Foundation
import Logging
import Metrics
import RabbitMQ
import S3
import Synchronization
import Transcoding

/// What the worker holding a job lends its coordinator: the broker, the job's message and a
/// way to give its slot back while the parts are encoded elsewhere.
struct SegmentContext: Sendable {
    let connection: AMQPConnection
    let topology: Topology
    let threshold: Duration
    let defaultSeconds: Int
    /// The job message as received, handed on verbatim to every part.
    let jobBody: [UInt8]
    let submittedAt: Int64?
    /// Frees the job's slot for other work (this worker's parts included); called once.
    let releaseSlot: @Sendable () -> Void
    let deadline: ContinuousClock.Instant
    /// A later attempt (retried or redelivered): only then can a manifest already exist.
    let resumable: Bool
    /// Set once the job has parts in the bucket, so that its end deletes them.
    let trace = SegmentTrace()
}

/// Whether a job stored anything under its segment prefix (read by the worker when it settles).
final class SegmentTrace: Sendable {
    private let stored = Atomic<Bool>(false)
    func markStored() { stored.store(true, ordering: .relaxed) }
    var hasStored: Bool { stored.load(ordering: .relaxed) }
}

/// The coordinator of a segmented job: the worker that took the job from its lane.
///
/// 1. Fetches the input and splits it in a job child (cut at keyframes, audio copied whole).
///    A short input is not split: the runner transcodes it as usual.
/// 2. Stores the parts under `.transcoder/jobs/<job_id>/src/`, then the manifest.
/// 3. Publishes a task per part not yet encoded and gives its slot back: it never holds a
///    slot while it waits, so any number of segmented jobs cannot starve their own parts.
/// 4. Waits for every encoded part (`out/`), from part events and a bucket listing.
/// 5. Joins them with the audio without encoding again, stores the output, deletes the prefix.
///
/// A redelivered job finds the manifest and starts at 3; parts already encoded are kept.
struct SegmentCoordinator: Sendable {
    let runner: JobRunner
    let context: SegmentContext

    enum Outcome: Sendable {
        case completed(JobRunner.Completed)
        /// Too short (or no video): the input is fetched and the caller transcodes it as usual.
        case notSegmented(input: (path: String, size: Int64))
    }

    /// How the job's progress is shared: split (in transcoding), parts, join.
    private static let splitShare = 0.05, joinShare = 0.05

    var storage: S3Client { runner.store.storage }

    func run(_ job: JobRequest, scratch: ScratchDirectory, reporter: ProgressReporter, logger: Logger) async throws -> Outcome {
        let clock = ContinuousClock()
        let started = clock.now
        let keys = SegmentKeys(jobID: job.jobID)
        if context.resumable, let manifest = try await loadManifest(keys) {
            context.trace.markStored()
            logger.info("segmented job resumed from its manifest", metadata: ["parts": "\(manifest.parts.count)"])
            return .completed(try await coordinate(job, manifest, keys: keys, scratch: scratch, reporter: reporter, logger: logger, started: started))
        }
        reporter.update(.downloading, fraction: 0)
        let input = try await runner.fetch.run(key: job.inputKey, into: scratch) { reporter.update(.downloading, fraction: $0) }
        let fetched = clock.now
        let mode = job.segmenting?.mode ?? .auto
        let seconds = job.segmenting?.segmentSeconds ?? context.defaultSeconds
        let minimum = mode == .always ? 0 : Double(context.threshold.components.seconds)
        let directory = scratch.file("parts")
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        reporter.update(.transcoding, fraction: 0)
        let event = try await runner.transcode.child.segmented(.split(segmentSeconds: seconds, minimumSeconds: minimum, outputKey: job.outputKey),
                                                               jobID: job.jobID, input: input.path, output: directory, options: job.options,
                                                               workingDirectory: scratch.path, logger: logger) { p in
            reporter.update(.transcoding, fraction: p.percent / 100 * Self.splitShare)
        }
        guard case .split(let split) = event else { throw JobFailure(.internalError, "The media engine process answered a different step.") }
        guard !split.segments.isEmpty else {
            try? FileManager.default.removeItem(atPath: directory)
            return .notSegmented(input: input)
        }
        try? FileManager.default.removeItem(atPath: input.path)
        let splitDone = clock.now

        context.trace.markStored()
        // Parts in the bucket first, the manifest last: a manifest means every part is there.
        var files = split.segments.enumerated().map { (String(format: "%05d", $0.offset), directory + "/" + $0.element) }
        if let audio = split.audio { files.append((SegmentManifest.audioPart, directory + "/" + audio)) }
        let sizes = Mutex([String: Int64]())
        try await forEach(files, concurrency: 4) { part, path in
            let size = try await runner.store.run(file: path, key: keys.source(part)) { _ in }
            sizes.withLock { $0[part] = size }
            try? FileManager.default.removeItem(atPath: path)
        }
        let manifest = SegmentManifest(jobID: job.jobID, parts: files.map(\.0), durationSeconds: split.input.duration, inputSize: input.size,
                                       segmentSeconds: seconds, sizes: sizes.withLock { $0 })
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try await storage.put(Array(try encoder.encode(manifest)), to: keys.manifest, contentType: "application/json")
        } catch {
            throw JobFailure(storage: error, key: keys.manifest, input: false, bucket: storage.configuration.bucket)
        }
        logger.info("input split", metadata: ["parts": "\(manifest.videoParts.count)", "audio": "\(manifest.hasAudio)",
                                              "segment_seconds": "\(seconds)", "fetch_ms": "\((fetched - started).milliseconds)",
                                              "split_ms": "\((splitDone - fetched).milliseconds)", "upload_ms": "\((clock.now - splitDone).milliseconds)"])
        return .completed(try await coordinate(job, manifest, keys: keys, scratch: scratch, reporter: reporter, logger: logger, started: started))
    }

    private func loadManifest(_ keys: SegmentKeys) async throws(JobFailure) -> SegmentManifest? {
        do {
            return try JSONDecoder().decode(SegmentManifest.self, from: Data(try await storage.get(keys.manifest)))
        } catch let error as S3Error where error.isNotFound {
            return nil
        } catch is DecodingError {
            return nil   // not ours, or from an incompatible version: split again
        } catch {
            throw JobFailure(storage: error, key: keys.manifest, input: false, bucket: storage.configuration.bucket)
        }
    }

    /// Parts encoded so far (names), and permanent part failures.
    private func look(_ keys: SegmentKeys) async throws(JobFailure) -> (done: Set<String>, failed: [String]) {
        do {
            let done = try await storage.listAll(prefix: keys.encodedPrefix).map { SegmentKeys.part(of: $0.key) }
            let failed = try await storage.listAll(prefix: keys.failurePrefix).map(\.key)
            return (Set(done), failed)
        } catch {
            throw JobFailure(storage: error, key: keys.prefix, input: false, bucket: storage.configuration.bucket)
        }
    }

    private func coordinate(_ job: JobRequest, _ manifest: SegmentManifest, keys: SegmentKeys, scratch: ScratchDirectory,
                            reporter: ProgressReporter, logger: Logger, started: ContinuousClock.Instant) async throws -> JobRunner.Completed {
        let total = manifest.parts.count
        var (done, failed) = try await look(keys)
        if let failure = failed.first { throw try await partFailure(failure, keys: keys) }
        let watch = try await PartWatch.start(on: context.connection, topology: context.topology, jobID: job.jobID)
        defer { Task { await watch.stop() } }

        let missing = manifest.parts.filter { !done.contains($0) }
        var properties = MessageProperties()
        properties.persistent = true
        properties.contentType = "application/json"
        if let submitted = context.submittedAt { properties.headers[Topology.submittedAtHeader] = .int(submitted) }
        let body = String(decoding: context.jobBody, as: UTF8.self)
        for part in missing {
            try await context.connection.publish(SegmentTask(job: body, part: part).encoded(), routingKey: context.topology.segmentsQueue,
                                                 properties: properties)
        }
        logger.info("parts queued; slot given back while they are encoded", metadata: ["parts": "\(missing.count)", "done": "\(done.count)"])
        context.releaseSlot()

        let weights = manifest.parts.map { Double(max(1, manifest.sizes[$0] ?? 1)) }
        let weightSum = weights.reduce(0, +)
        var lastLook = ContinuousClock.now
        while done.count < total {
            try Task.checkCancellation()
            if ContinuousClock.now >= context.deadline {
                throw JobFailure(.timedOut, "The segmented job did not finish within the job timeout (\(done.count) of \(total) parts encoded).")
            }
            let seen = await watch.next(within: .seconds(1))
            done.formUnion(seen.done)
            if !seen.failed.isEmpty || ContinuousClock.now - lastLook >= .seconds(5) || seen.done.count > 0 {
                (done, failed) = try await look(keys)
                lastLook = ContinuousClock.now
                if let failure = failed.first { throw try await partFailure(failure, keys: keys) }
            }
            let running = watch.running(excluding: done)
            var fraction = 0.0
            for (i, part) in manifest.parts.enumerated() {
                fraction += weights[i] * (done.contains(part) ? 1 : running[part]?.fraction ?? 0)
            }
            reporter.setSegments(total: total, done: done.count, workers: Set(running.values.map(\.worker)).count)
            let fps = running.values.compactMap(\.fps).reduce(0, +)
            reporter.update(.transcoding, fraction: Self.splitShare + (1 - Self.splitShare - Self.joinShare) * fraction / weightSum,
                            fps: fps > 0 ? fps : nil)
        }
        reporter.setSegments(total: total, done: total, workers: 0)
        return try await join(job, manifest, keys: keys, scratch: scratch, reporter: reporter, logger: logger, started: started)
    }

    /// A part's stored failure as the job's: the job fails with the part's reason. The record
    /// goes, the parts stay: if the job is retried only that part is encoded again, and if it
    /// is dead-lettered the worker deletes the prefix (``Worker/settleFailure``).
    private func partFailure(_ key: String, keys: SegmentKeys) async throws -> JobFailure {
        let part = SegmentKeys.part(of: key)
        let event = (try? await storage.get(key)).flatMap { SegmentEvent.decode($0) }
        for failed in (try? await storage.listAll(prefix: keys.failurePrefix)) ?? [] { try? await storage.delete(failed.key) }
        let label = part == SegmentManifest.audioPart ? "the audio" : "part \(Int(part).map { $0 + 1 }.map(String.init) ?? part)"
        return JobFailure(event?.errorCode ?? .internalError, "\(label) of the segmented job failed: \(event?.errorMessage ?? "no reason recorded")")
    }

    /// Deletes everything the job keeps under its prefix (best effort).
    func discard(_ keys: SegmentKeys) async { await Self.discard(keys, storage: storage) }

    /// The manifest goes first, then whatever is listed: a part stored after that listing finds
    /// no manifest and deletes itself (``JobRunner/encodePart``), so nothing is left behind.
    static func discard(_ keys: SegmentKeys, storage: S3Client) async {
        try? await storage.delete(keys.manifest)
        guard let objects = try? await storage.listAll(prefix: keys.prefix) else { return }
        try? await forEach(objects.map(\.key), concurrency: 8) { try? await storage.delete($0) }
    }

    private func join(_ job: JobRequest, _ manifest: SegmentManifest, keys: SegmentKeys, scratch: ScratchDirectory,
                      reporter: ProgressReporter, logger: Logger, started: ContinuousClock.Instant) async throws -> JobRunner.Completed {
        let clock = ContinuousClock()
        let t0 = clock.now
        let directory = scratch.file("encoded")
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await forEach(manifest.parts, concurrency: 4) { part in
            do {
                _ = try await storage.download(keys.encoded(part), to: directory + "/\(part).mkv")
            } catch {
                throw JobFailure(storage: error, key: keys.encoded(part), input: false, bucket: storage.configuration.bucket)
            }
        }
        let fetched = clock.now - t0
        let ext = (job.outputKey as NSString).pathExtension
        let output = scratch.file("output" + (ext.isEmpty ? "" : ".\(ext)"))
        let parts = manifest.videoParts.map { directory + "/\($0).mkv" }
        let audio = manifest.hasAudio ? directory + "/\(SegmentManifest.audioPart).mkv" : nil
        let event = try await runner.transcode.child.segmented(.join(parts: parts, audio: audio, outputKey: job.outputKey, duration: manifest.durationSeconds),
                                                               jobID: job.jobID, input: "", output: output, options: job.options,
                                                               workingDirectory: scratch.path, logger: logger) { p in
            reporter.update(.transcoding, fraction: 1 - Self.joinShare + Self.joinShare * p.percent / 100)
        }
        guard case .joined(let info) = event else { throw JobFailure(.internalError, "The media engine process answered a different step.") }
        let joined = clock.now - t0 - fetched
        try? FileManager.default.removeItem(atPath: directory)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int64) ?? 0
        reporter.update(.uploading, fraction: 0)
        let stored = try await runner.store.run(file: output, key: job.outputKey) { sent in
            reporter.update(.uploading, fraction: size > 0 ? Double(sent) / Double(size) : 1)
        }
        Counter(label: "transcoder_bytes_total", dimensions: [("direction", "out")]).increment(by: Int(stored))
        let storedAt = clock.now
        await discard(keys)
        logger.info("segmented job joined", metadata: ["parts": "\(manifest.parts.count)", "fetch_ms": "\(fetched.milliseconds)",
                                                       "join_ms": "\(joined.milliseconds)", "store_ms": "\((storedAt - t0 - fetched - joined).milliseconds)",
                                                       "cleanup_ms": "\((clock.now - storedAt).milliseconds)", "output.bytes": "\(stored)"])
        return JobRunner.Completed(outputKey: job.outputKey, outputSize: stored, durationSeconds: info.duration, inputSize: manifest.inputSize,
                                   frames: nil, elapsed: clock.now - started, codec: info.video?.codec ?? info.audio?.codec,
                                   width: info.video?.width, height: info.video?.height)
    }
}

/// Runs `body` over `items`, at most `concurrency` at a time; the first error cancels the rest.
func forEach<T: Sendable>(_ items: [T], concurrency: Int, _ body: @escaping @Sendable (T) async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        var running = 0
        for item in items {
            if running == concurrency { try await group.next(); running -= 1 }
            running += 1
            group.addTask { try await body(item) }
        }
        try await group.waitForAll()
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

/// The part events of one job, read from its own exclusive queue on the internal exchange.
final class PartWatch: Sendable {
    struct Running: Sendable {
        var worker: String
        var fraction: Double
        var fps: Double?
        var seen: ContinuousClock.Instant
    }
    private struct State {
        var running: [String: Running] = [:]
        var done: Set<String> = []
        var failed: Set<String> = []
    }
    private let state = Mutex(State())
    private let consumer: AMQPConsumer
    private let reader: Mutex<Task<Void, Never>?> = Mutex(nil)

    private init(consumer: AMQPConsumer) { self.consumer = consumer }

    static func start(on connection: AMQPConnection, topology: Topology, jobID: String) async throws -> PartWatch {
        let name = "\(topology.segmentEventsExchange).\(UUID().uuidString.lowercased())"
        _ = try await connection.declare(queue: QueueSpec(name: name, durable: false, exclusive: true, autoDelete: true,
                                                          arguments: ["x-expires": .int(600_000)]))
        try await connection.bind(BindingSpec(queue: name, exchange: topology.segmentEventsExchange, routingKey: jobID))
        let watch = PartWatch(consumer: try await connection.consume(queue: name, prefetch: 200))
        watch.reader.withLock { $0 = Task { await watch.read() } }
        return watch
    }

    private func read() async {
        do {
            for try await delivery in consumer {
                try? await delivery.ack()
                guard let event = SegmentEvent.decode(delivery.body) else { continue }
                state.withLock { s in
                    switch event.state {
                    case .running: s.running[event.part] = Running(worker: event.workerID, fraction: event.fraction, fps: event.fps, seen: .now)
                    case .done: s.running[event.part] = nil; s.done.insert(event.part)
                    case .failed: s.running[event.part] = nil; s.failed.insert(event.part)
                    }
                }
            }
        } catch {}
    }

    /// Parts that finished or failed since the last call, waiting up to `patience` for one.
    func next(within patience: Duration) async -> (done: Set<String>, failed: Set<String>) {
        let deadline = ContinuousClock.now + patience
        while true {
            let taken = state.withLock { s -> (Set<String>, Set<String>)? in
                guard !s.done.isEmpty || !s.failed.isEmpty else { return nil }
                defer { s.done = []; s.failed = [] }
                return (s.done, s.failed)
            }
            if let taken { return taken }
            if ContinuousClock.now >= deadline { return ([], []) }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Parts being encoded now (heard from in the last 15 s), by part name.
    func running(excluding done: Set<String>) -> [String: Running] {
        let now = ContinuousClock.now
        return state.withLock { s in s.running.filter { !done.contains($0.key) && now - $0.value.seen < .seconds(15) } }
    }

    func stop() async {
        reader.withLock { $0?.cancel() }
        await consumer.cancel()
    }
}
