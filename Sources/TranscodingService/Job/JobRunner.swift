import Foundation
import Logging
import Metrics
import S3
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
    }

    init(storage: S3Client, engine: TranscodingEngine, child: ChildEngine, scratchRoot: String, minimumFreeBytes: Int64) {
        fetch = FetchStage(storage: storage, minimumFreeBytes: minimumFreeBytes)
        transcode = TranscodeStage(engine: engine, child: child)
        store = StoreStage(storage: storage)
        self.scratchRoot = scratchRoot
    }

    /// Throws ``JobFailure``, or `CancellationError` when the task was cancelled (the
    /// worker is shutting down and the job goes back to the queue).
    func run(_ job: JobRequest, reporter: ProgressReporter, logger: Logger) async throws -> Completed {
        let clock = ContinuousClock()
        let started = clock.now
        let options = try transcode.validate(job)
        let scratch = try ScratchDirectory.create(root: scratchRoot, jobID: job.jobID)
        defer { scratch.remove() }

        func timed<T>(_ stage: String, _ body: () async throws -> T) async throws -> T {
            let t0 = clock.now
            defer { Timer(label: "transcoder_stage_duration_seconds", dimensions: [("stage", stage)])
                .record(clock.now - t0) }
            do { return try await body() } catch {
                // A stage that ends because the task was cancelled is not the job's fault.
                if Task.isCancelled { throw CancellationError() }
                throw error
            }
        }

        reporter.update(.downloading, fraction: 0)
        logger.info("fetching input", metadata: ["s3.key": "\(job.inputKey)"])
        let input = try await timed("fetch") {
            try await fetch.run(key: job.inputKey, into: scratch) { reporter.update(.downloading, fraction: $0) }
        }
        Counter(label: "transcoder_bytes_total", dimensions: [("direction", "in")]).increment(by: Int(input.size))

        logger.info("transcoding", metadata: ["input.bytes": "\(input.size)"])
        reporter.update(.transcoding, fraction: 0)
        let fpsGauge = Gauge(label: "transcoder_transcode_fps")
        let output = try await timed("transcode") {
            try await transcode.run(jobID: job.jobID, input: input.path, outputKey: job.outputKey, options: options,
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
        return Completed(outputKey: job.outputKey, outputSize: stored, durationSeconds: output.result.output.duration,
                         inputSize: input.size, frames: output.result.frames, elapsed: clock.now - started)
    }
}

extension Metrics.Timer {
    func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
