import Foundation
import Logging
import Metrics
import S3
import Synchronization
import Transcoding

/// Runs one job's stages in order: validate, fetch, transcode, store. Knows nothing about
/// the broker: the caller reports the outcome and settles the delivery.
public struct JobRunner: Sendable {
    let fetch: FetchStage
    let transcode: TranscodeStage
    let store: StoreStage
    let scratchRoot: String

    public struct Completed: Sendable {
        public var outputKey: String
        public var outputSize: Int64
        public var durationSeconds: Double
        public var inputSize: Int64
        public var frames: Int?
        public var elapsed: Duration
        /// A single output's video codec (else audio codec) and frame size, as probed.
        public var codec: String?
        public var width: Int?
        public var height: Int?
    }

    init(storage: S3Client, engine: TranscodingEngine, child: ChildEngine, scratchRoot: String, minimumFreeBytes: Int64) {
        fetch = FetchStage(storage: storage, minimumFreeBytes: minimumFreeBytes)
        transcode = TranscodeStage(engine: engine, child: child)
        store = StoreStage(storage: storage)
        self.scratchRoot = scratchRoot
    }

    /// Throws ``JobFailure``, or `CancellationError` when the task was cancelled (the
    /// worker is shutting down and the job goes back to the queue).
    ///
    /// With `segments`, a single-output job that does not say `never` may be spread over the
    /// workers (``SegmentCoordinator``); it is transcoded here when its input is too short.
    func run(_ job: JobRequest, reporter: ProgressReporter, logger: Logger, segments: SegmentContext? = nil) async throws -> Completed {
        let clock = ContinuousClock()
        let started = clock.now
        try transcode.validate(job)
        let outputSet = job.outputs.map { OutputSet($0) }
        if let outputSet { reporter.setOutputs(outputSet.entries.map { .init(key: $0.key, state: .queued, progress: 0) }) }
        let scratch = try ScratchDirectory.create(root: scratchRoot, jobID: job.jobID)
        defer { scratch.remove() }

        let input: (path: String, size: Int64)
        if let segments, job.outputs == nil, job.segmenting?.mode != .never {
            switch try await SegmentCoordinator(runner: self, context: segments).run(job, scratch: scratch, reporter: reporter, logger: logger) {
            case .completed(let done): return done
            case .notSegmented(let fetched): input = fetched
            }
        } else {
            reporter.update(.downloading, fraction: 0)
            logger.info("fetching input", metadata: ["s3.key": "\(job.inputKey)"])
            input = try await timed("fetch") {
                try await fetch.run(key: job.inputKey, into: scratch) { reporter.update(.downloading, fraction: $0) }
            }
        }
        Counter(label: "transcoder_bytes_total", dimensions: [("direction", "in")]).increment(by: Int(input.size))

        logger.info("transcoding", metadata: ["input.bytes": "\(input.size)"])
        let fpsGauge = Gauge(label: "transcoder_transcode_fps")
        if let outputSet {
            return try await runOutputs(job, outputSet, input: input, scratch: scratch, reporter: reporter, logger: logger,
                                        fps: fpsGauge, elapsed: { clock.now - started })
        }
        reporter.update(.transcoding, fraction: 0)
        let output = try await timed("transcode") {
            try await transcode.run(jobID: job.jobID, input: input.path, outputKey: job.outputKey, options: job.options,
                                    in: scratch, logger: logger) { p in
                reporter.update(.transcoding, fraction: p.percent / 100, fps: p.fps, eta: p.etaSeconds,
                                frames: p.frames, position: p.position)
                if let fps = p.fps { fpsGauge.record(fps) }
            }
        }
        try? FileManager.default.removeItem(atPath: input.path)  // disk for the next job sooner

        let outputSize = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int64) ?? 0
        logger.info("storing output", metadata: ["s3.key": "\(job.outputKey)", "output.bytes": "\(outputSize)"])
        reporter.update(.uploading, fraction: 0)
        let stored = try await timed("store") {
            try await store.run(file: output.path, key: job.outputKey) { sent in
                reporter.update(.uploading, fraction: outputSize > 0 ? Double(sent) / Double(outputSize) : 1)
            }
        }
        Counter(label: "transcoder_bytes_total", dimensions: [("direction", "out")]).increment(by: Int(stored))
        let probed = output.result.output
        return Completed(outputKey: job.outputKey, outputSize: stored, durationSeconds: probed.duration,
                         inputSize: input.size, frames: output.result.frames, elapsed: clock.now - started,
                         codec: probed.video?.codec ?? probed.audio?.codec, width: probed.video?.width, height: probed.video?.height)
    }
}

extension JobRunner {
    /// One part of a segmented job, on whichever worker took its task: the source part in,
    /// encoded in a job child with the job's own options, stored under its fixed key.
    func encodePart(_ job: JobRequest, part: String, keys: SegmentKeys, logger: Logger,
                    progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws -> Int64 {
        let scratch = try ScratchDirectory.create(root: scratchRoot, jobID: "\(job.jobID)-part-\(part)")
        defer { scratch.remove() }
        let started = ContinuousClock.now
        let source = scratch.file("part.mkv")
        do {
            _ = try await store.storage.download(keys.source(part), to: source)
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw JobFailure(storage: error, key: keys.source(part), input: true, bucket: store.storage.configuration.bucket)
        }
        let downloaded = ContinuousClock.now
        let encoded = scratch.file("encoded.mkv")
        let kind: SegmentPart = part == SegmentManifest.audioPart ? .audio : .video
        let event = try await timed("transcode") {
            // The child's job id names the part too (its logs; the test-only faults can aim at one part).
            try await transcode.child.segmented(.encode(part: kind, outputKey: job.outputKey), jobID: "\(job.jobID)#\(part)", input: source, output: encoded,
                                                options: job.options, workingDirectory: scratch.path, logger: logger, progress: progress)
        }
        guard case .completed(let result) = event else { throw JobFailure(.internalError, "The media engine process answered a different step.") }
        let transcoded = ContinuousClock.now
        let bytes = try await timed("store") { try await store.run(file: encoded, key: keys.encoded(part)) { _ in } }
        // The job ended while this part was encoded (cancelled, or failed for good): its prefix is
        // being deleted, and this part must not outlive it.
        do {
            _ = try await store.storage.head(keys.manifest)
        } catch let error as S3Error where error.isNotFound {
            try? await store.storage.delete(keys.encoded(part))
        } catch {}
        logger.info("part stored", metadata: [
            "output.bytes": "\(bytes)", "duration_seconds": "\(result.output.duration)", "download_ms": "\((downloaded - started).milliseconds)",
            "encode_ms": "\((transcoded - downloaded).milliseconds)", "store_ms": "\((ContinuousClock.now - transcoded).milliseconds)"])
        return bytes
    }

    /// Runs one stage under its duration metric.
    private func timed<T>(_ stage: String, _ body: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let t0 = clock.now
        defer { Timer(label: "transcoder_stage_duration_seconds", dimensions: [("stage", stage)]).record(clock.now - t0) }
        do { return try await body() } catch {
            // A stage that ends because the task was cancelled is not the job's fault.
            if Task.isCancelled { throw CancellationError() }
            throw error
        }
    }

    /// A several-output job after the fetch: one child run makes every output, then each file is
    /// stored (HLS master playlists after their variants, the manifest last). A failure deletes
    /// what was already stored under the job's keys.
    private func runOutputs(_ job: JobRequest, _ outputs: OutputSet, input: (path: String, size: Int64), scratch: ScratchDirectory,
                            reporter: ProgressReporter, logger: Logger, fps: Gauge, elapsed: () -> Duration) async throws -> Completed {
        @Sendable func detail(_ state: ProgressMessage.State, _ percent: (Int) -> Double) {
            reporter.setOutputs(outputs.entries.indices.map { .init(key: outputs.entries[$0].key, state: state, progress: percent($0)) })
        }
        detail(.transcoding, { _ in 0 })
        reporter.update(.transcoding, fraction: 0)
        let directory = scratch.file("outputs")
        let result = try await timed("transcode") {
            try await transcode.child.transcode(jobID: job.jobID, input: input.path, outputs: outputs.specs, directory: directory,
                                                workingDirectory: scratch.path, logger: logger) { p in
                // One decode feeds every output, so they advance together.
                detail(.transcoding, { _ in p.percent })
                reporter.update(.transcoding, fraction: p.percent / 100, fps: p.fps, eta: p.etaSeconds, frames: p.frames, position: p.position)
                if let f = p.fps { fps.record(f) }
            }
        }
        try? FileManager.default.removeItem(atPath: input.path)

        // Store order: media and thumbnails, then variant playlists, then master playlists; the manifest after all.
        var phases: [[(key: String, path: String, output: Int, file: ProducedOutput.File)]] = [[], [], []]
        for (index, produced) in result.outputs.enumerated() {
            for file in produced.files {
                let phase = file.role == .master ? 2 : file.role == .variant ? 1 : 0
                phases[phase].append((outputs.key(of: file, in: index), (directory as NSString).appendingPathComponent(file.path), index, file))
            }
        }
        let total = max(1, phases.joined().map(\.file.size).reduce(0, +))
        var perOutput = [Int64](repeating: 0, count: outputs.entries.count)
        for file in phases.joined() { perOutput[file.output] += max(1, file.file.size) }
        let tally = UploadTally(outputs: outputs.entries.count)
        let shares = perOutput
        detail(.uploading, { _ in 0 })
        reporter.update(.uploading, fraction: 0)
        logger.info("storing outputs", metadata: ["outputs": "\(outputs.entries.count)", "objects": "\(phases.joined().count)", "output.bytes": "\(total)"])
        do {
            try await timed("store") {
                for phase in phases {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        var running = 0
                        for item in phase {
                            if running == 4 { try await group.next(); running -= 1 }
                            running += 1
                            group.addTask {
                                let size = try await store.run(file: item.path, key: item.key, contentType: OutputContentType.of(item.key)) { _ in }
                                let (now, done) = tally.stored(item.key, size: size, output: item.output)
                                detail(.uploading, { Double(done[$0]) * 100 / Double(shares[$0]) })
                                reporter.update(.uploading, fraction: Double(now) / Double(total))
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            }
            let manifest = JobManifest(jobID: job.jobID, inputKey: job.inputKey, durationSeconds: result.input.duration, outputs:
                result.outputs.enumerated().map { index, produced in
                    let entry = outputs.entries[index]
                    let kind = switch entry.spec.kind { case .file: "file"; case .hls: "hls"; case .thumbnails: "thumbnails" }
                    return JobManifest.Output(key: entry.key, kind: kind, objects: produced.files.map { f in
                        JobManifest.Object(key: outputs.key(of: f, in: index), size: f.size, role: f.role.rawValue,
                                           container: f.role == .file ? produced.info?.container : nil, codec: f.codec, width: f.width,
                                           height: f.height, durationSeconds: f.durationSeconds.map { ($0 * 1000).rounded() / 1000 }, bitrate: f.bitrate)
                    })
                })
            do {
                try await store.storage.put(Array(manifest.encoded()), to: job.outputKey, contentType: "application/json")
            } catch {
                throw JobFailure(storage: error, key: job.outputKey, input: false, bucket: store.storage.configuration.bucket)
            }
        } catch {
            // None of a failed job's outputs stay (a cancelled one's neither): best effort, then the failure.
            for key in tally.keys { try? await store.storage.delete(key) }
            throw error
        }
        let bytes = tally.bytes
        Counter(label: "transcoder_bytes_total", dimensions: [("direction", "out")]).increment(by: Int(bytes))
        return Completed(outputKey: job.outputKey, outputSize: bytes, durationSeconds: result.input.duration,
                         inputSize: input.size, frames: result.frames, elapsed: elapsed())
    }
}

/// What a several-output job has stored so far: keys (to delete on failure) and bytes.
private final class UploadTally: Sendable {
    private struct State {
        var keys: [String] = []
        var bytes: Int64 = 0
        var perOutput: [Int64]
    }
    private let state: Mutex<State>
    init(outputs: Int) { state = Mutex(State(perOutput: [Int64](repeating: 0, count: outputs))) }

    func stored(_ key: String, size: Int64, output: Int) -> (bytes: Int64, perOutput: [Int64]) {
        state.withLock { s in
            s.keys.append(key)
            s.bytes += size
            s.perOutput[output] += max(1, size)
            return (s.bytes, s.perOutput)
        }
    }
    var keys: [String] { state.withLock { $0.keys } }
    var bytes: Int64 { state.withLock { $0.bytes } }
}

/// Content types of the objects a several-output job stores.
enum OutputContentType {
    static func of(_ key: String) -> String? {
        switch (key as NSString).pathExtension.lowercased() {
        case "m3u8": "application/vnd.apple.mpegurl"
        case "ts": "video/mp2t"
        case "jpg": "image/jpeg"
        case "vtt": "text/vtt"
        default: Container.fromExtension(of: key).map(\.mimeType)
        }
    }
}

extension Metrics.Timer {
    func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
