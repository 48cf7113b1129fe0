import Configuration
import Foundation
import Logging
import S3
import SystemPackage

/// Everything a worker reads at start, from the environment and a `.env` file.
///
/// Keys are documented here and in docs/operations.md; the seed's names are kept as they
/// are. The process environment wins over `.env`. A bad value stops start-up with one line
/// naming the variable.
public struct WorkerConfiguration: Sendable {
    public var amqpURL: String
    public var s3: S3Configuration
    public var topology: Topology
    public var concurrency: Int
    public var scratchDirectory: String
    public var jobTimeout: Duration
    public var stallTimeout: Duration
    public var gracePeriod: Duration
    /// The longest wait between two looks at the empty job lanes: an idle worker's pickup delay
    /// at worst, against 3 basic.get per look on the broker (docs/priorities.md).
    public var idlePoll: Duration
    /// Segmented jobs (docs/segmenting.md): an input at least this long is spread over the
    /// workers when its job says `auto` (or nothing), in parts of about `segmentSeconds`.
    public var segmentThreshold: Duration
    public var segmentSeconds: Int
    public var workerID: String
    public var logLevel: Logger.Level
    public var jsonLogs: Bool
    /// 0 turns the HTTP listener for /metrics, /healthz and /readyz off.
    public var metricsPort: Int
    /// Free bytes a scratch directory must keep beyond the input's size.
    public var minimumFreeBytes: Int64
    /// Resident memory ceiling of one job's media process.
    public var jobMemoryMB: Int

    /// Half the machine's memory shared by the concurrent jobs, within 1-4 GB: a 1080p H.264
    /// job peaks near 0.6 GB, and a runaway one is stopped before it pushes the host to swap.
    public static func defaultJobMemoryMB(concurrency: Int, physicalMemory: UInt64 = ProcessInfo.processInfo.physicalMemory) -> Int {
        let share = Int(physicalMemory >> 20) / 2 / max(1, concurrency)
        return min(4096, max(1024, share))
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the configuration; `environmentFile` is read when it exists.
    /// `requireStorage: false` lets broker-only commands (watch, dlq) run without S3 settings.
    public static func load(environmentFile: String = ".env", requireStorage: Bool = true,
                            environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> WorkerConfiguration {
        let secrets: SecretsSpecifier<String, String> = .specific(["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AMQP_URL"])
        let file: EnvironmentVariablesProvider
        do {
            file = try await EnvironmentVariablesProvider(environmentFilePath: FilePath(environmentFile), allowMissing: true,
                                                          secretsSpecifier: secrets)
        } catch {
            // The provider's error is a Foundation dump; the person needs the path, the cause and the fix.
            var info = stat()
            let cause = stat(environmentFile, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR ? "it is a directory"
                : access(environmentFile, R_OK) != 0 ? String(cString: strerror(errno)).lowercased() : "not a text file"
            throw Invalid(description: "cannot read the environment file '\(environmentFile)' (\(cause)): "
                            + "make it a readable file or pass another one with --env-file")
        }
        let reader = ConfigReader(providers: [
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: secrets), file,
        ])
        return try WorkerConfiguration(reader: reader, requireStorage: requireStorage)
    }

    init(reader: ConfigReader, requireStorage: Bool = true) throws {
        func string(_ key: String, _ fallback: String? = nil) throws -> String {
            if let value = reader.string(forKey: ConfigKey(key), isSecret: key.contains("SECRET")), !value.isEmpty { return value }
            if let fallback { return fallback }
            throw Invalid(description: "\(key) is not set (environment or .env)")
        }
        func int(_ key: String, _ fallback: Int, _ range: ClosedRange<Int>) throws -> Int {
            guard let text = reader.string(forKey: ConfigKey(key)), !text.isEmpty else { return fallback }
            guard let value = Int(text), range.contains(value) else {
                throw Invalid(description: "\(key)=\(text) is not an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
        func seconds(_ key: String, _ fallback: Int, _ range: ClosedRange<Int>) throws -> Duration {
            .seconds(try int(key, fallback, range))
        }

        amqpURL = try string("AMQP_URL", "amqp://guest:guest@localhost:5672/%2f")
        guard amqpURL.hasPrefix("amqp://") || amqpURL.hasPrefix("amqps://") else {
            throw Invalid(description: "AMQP_URL must start with amqp:// or amqps://")
        }
        var s3 = S3Configuration(
            accessKeyId: try string("AWS_ACCESS_KEY_ID", requireStorage ? nil : ""),
            secretAccessKey: try string("AWS_SECRET_ACCESS_KEY", requireStorage ? nil : ""),
            sessionToken: reader.string(forKey: "AWS_SESSION_TOKEN", isSecret: true).flatMap { $0.isEmpty ? nil : $0 },
            region: try string("AWS_REGION", "us-east-1"),
            endpoint: reader.string(forKey: "AWS_S3_ENDPOINT_URL").flatMap { $0.isEmpty ? nil : $0 },
            bucket: try string("S3_BUCKET_NAME", requireStorage ? nil : "")
        )
        if let endpoint = s3.endpoint, URL(string: endpoint)?.host == nil {
            throw Invalid(description: "AWS_S3_ENDPOINT_URL=\(endpoint) is not a URL like http://minio:9000")
        }
        s3.partSize = try int("TRANSCODER_S3_PART_SIZE_MB", 16, 5...512) * 1024 * 1024
        s3.concurrency = try int("TRANSCODER_S3_CONCURRENCY", 4, 1...64)
        self.s3 = s3

        topology = Topology(
            jobsQueue: try string("TRANSCODER_JOBS_QUEUE", "transcoding_jobs"),
            progressQueue: try string("TRANSCODER_PROGRESS_QUEUE", "transcoding_progress"),
            deliveryLimit: try int("TRANSCODER_DELIVERY_LIMIT", 5, 1...100),
            retry: FailurePolicy.Limits(maxAttempts: try int("TRANSCODER_MAX_ATTEMPTS", 8, 1...20),
                                        baseDelay: try seconds("TRANSCODER_RETRY_DELAY", 5, 1...3600),
                                        maxDelay: try seconds("TRANSCODER_RETRY_MAX_DELAY", 600, 1...86400))
        )
        concurrency = try int("TRANSCODER_CONCURRENCY", 1, 1...64)
        scratchDirectory = try string("TRANSCODER_SCRATCH_DIR", FileManager.default.temporaryDirectory.appendingPathComponent("transcoder").path)
        jobTimeout = try seconds("TRANSCODER_JOB_TIMEOUT", 6 * 3600, 1...(7 * 24 * 3600))
        stallTimeout = try seconds("TRANSCODER_STALL_TIMEOUT", 120, 1...86400)
        gracePeriod = try seconds("TRANSCODER_GRACE_PERIOD", 60, 0...86400)
        idlePoll = .milliseconds(try int("TRANSCODER_IDLE_POLL_MS", 200, 20...5000))
        segmentThreshold = try seconds("TRANSCODER_SEGMENT_THRESHOLD", 600, 0...(7 * 24 * 3600))
        segmentSeconds = try int("TRANSCODER_SEGMENT_SECONDS", 30, JobRequest.Segmenting.secondsRange)
        workerID = try string("TRANSCODER_WORKER_ID", "\(ProcessInfo.processInfo.hostName)-\(getpid())")
        let level = try string("TRANSCODER_LOG_LEVEL", "info")
        guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
            throw Invalid(description: "TRANSCODER_LOG_LEVEL=\(level) is not one of trace, debug, info, notice, warning, error, critical")
        }
        logLevel = parsed
        let format = try string("TRANSCODER_LOG_FORMAT", "text")
        guard format == "text" || format == "json" else {
            throw Invalid(description: "TRANSCODER_LOG_FORMAT=\(format) is not text or json")
        }
        jsonLogs = format == "json"
        metricsPort = try int("TRANSCODER_METRICS_PORT", 9090, 0...65535)
        minimumFreeBytes = Int64(try int("TRANSCODER_MIN_FREE_MB", 512, 0...1_000_000)) * 1024 * 1024
        jobMemoryMB = try int("TRANSCODER_JOB_MEMORY_MB", Self.defaultJobMemoryMB(concurrency: concurrency), 128...1_000_000)
    }
}
