import Foundation
import RabbitMQ
import S3
import Synchronization
import Testing
import TranscodingService

/// The real stack the end-to-end tests run against (started by scripts/stack; nothing
/// here skips: a missing service fails the test that needs it).
enum Stack {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let env = ProcessInfo.processInfo.environment
    static let amqpURL = env["AMQP_URL"] ?? "amqp://guest:guest@localhost:5672/%2f"
    static let endpoint = env["AWS_S3_ENDPOINT_URL"] ?? "http://127.0.0.1:7480"
    static let accessKey = env["AWS_ACCESS_KEY_ID"] ?? "AKIACEPHTEST00000000"
    static let secretKey = env["AWS_SECRET_ACCESS_KEY"] ?? "cephtestsecretcephtestsecret0000000000000"
    static let databaseURL = env["TRANSCODER_TEST_DATABASE_URL"] ?? "postgres://transcoder:transcoder@127.0.0.1:5432/transcoder_test"
    static let mediaDir = env["TRANSCODER_MEDIA_DIR"] ?? root + "/.cache/media"
    static var binary: String {
        for dir in [".build/debug", ".build/x86_64-unknown-linux-gnu/debug", ".build/aarch64-unknown-linux-gnu/debug"] {
            let path = "\(root)/\(dir)/transcoder"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return "\(root)/.build/debug/transcoder"
    }

    static func media(_ name: String) -> String { "\(mediaDir)/\(name)" }

    static func s3(bucket: String) -> S3Client {
        S3Client(configuration: S3Configuration(accessKeyId: accessKey, secretAccessKey: secretKey, region: "us-east-1",
                                                endpoint: endpoint, bucket: bucket))
    }

    static func amqp() async throws -> AMQPConnection {
        try await AMQPConnection.connect(try AMQPConfiguration(url: amqpURL))
    }

    /// Runs a command to completion; returns its exit status and output. Output goes
    /// through a file, not a pipe: a daemon the command starts may keep a pipe open forever.
    @discardableResult
    static func run(_ args: [String], environment: [String: String] = [:], input: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = args
        process.environment = env.merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        let outputPath = NSTemporaryDirectory() + "run-\(UUID().uuidString.prefix(8)).out"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        process.standardOutput = output
        process.standardError = output
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        try output.close()
        return (process.terminationStatus, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }
}

/// One test's private world: its own bucket and its own queue names, so that tests do not
/// see each other's jobs or progress.
final class World: Sendable {
    let id: String
    let bucket: String
    let storage: S3Client
    let connection: AMQPConnection
    let topology: Topology
    let scratch: String
    private let workers = Mutex<[WorkerProcess]>([])

    /// Runs `body` in a new world and always cleans up after it: workers stopped, objects,
    /// bucket and queues deleted (the radosgw of CI has finite space).
    static func with<T>(seedNames: Bool = false, _ body: (World) async throws -> T) async throws -> T {
        let world = try await World(seedNames: seedNames)
        do {
            let result = try await body(world)
            await world.close()
            return result
        } catch {
            await world.close()
            throw error
        }
    }

    init(seedNames: Bool = false) async throws {
        id = String(UUID().uuidString.lowercased().prefix(8))
        bucket = "e2e-\(id)"
        storage = Stack.s3(bucket: bucket)
        do {
            try await storage.createBucket()
            connection = try await Stack.amqp()
        } catch {
            try? await storage.shutdown()  // a client dropped without shutdown traps
            throw error
        }
        topology = seedNames ? Topology() : Topology(jobsQueue: "e2e-\(id).jobs", progressQueue: "e2e-\(id).progress")
        try await topology.declare(on: connection)
        scratch = NSTemporaryDirectory() + "e2e-\(id)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    var client: JobClient { JobClient(connection: connection, topology: topology) }

    /// Environment for a worker of this world.
    func workerEnvironment(concurrency: Int = 1, extra: [String: String] = [:]) -> [String: String] {
        [
            "AMQP_URL": Stack.amqpURL, "AWS_ACCESS_KEY_ID": Stack.accessKey, "AWS_SECRET_ACCESS_KEY": Stack.secretKey,
            "AWS_S3_ENDPOINT_URL": Stack.endpoint, "S3_BUCKET_NAME": bucket, "AWS_REGION": "us-east-1",
            "TRANSCODER_JOBS_QUEUE": topology.jobsQueue, "TRANSCODER_PROGRESS_QUEUE": topology.progressQueue,
            "TRANSCODER_CONCURRENCY": "\(concurrency)", "TRANSCODER_SCRATCH_DIR": scratch,
            "TRANSCODER_METRICS_PORT": "0", "TRANSCODER_LOG_LEVEL": "info", "TRANSCODER_GRACE_PERIOD": "60",
        ].merging(extra) { $1 }
    }

    func startWorker(concurrency: Int = 1, extra: [String: String] = [:]) throws -> WorkerProcess {
        let worker = try WorkerProcess(environment: workerEnvironment(concurrency: concurrency, extra: extra))
        workers.withLock { $0.append(worker) }
        return worker
    }

    func upload(_ file: String, as key: String) async throws {
        try await storage.upload(file: file, to: key)
    }

    /// Deletes what the world made; leaves the shared services running.
    func close() async {
        for worker in workers.withLock({ $0 }) { await worker.stop() }
        if let objects = try? await storage.listAll() {
            for object in objects { try? await storage.delete(object.key) }
        }
        try? await storage.deleteBucket()
        try? await storage.shutdown()
        if topology != Topology() {
            for queue in [topology.deadLetterQueue, topology.deadLetterNotifyQueue,
                          topology.progressQueue, topology.resultsQueue, topology.progressQueue + ".api",
                          topology.cancelStream, topology.workersExchange + ".api", topology.segmentsQueue] + topology.jobsQueues
                + JobPriority.allCases.flatMap(topology.retryQueues) {
                _ = try? await connection.deleteQueue(queue)
            }
            try? await connection.deleteExchange(topology.segmentEventsExchange)
        }
        await connection.close()
        try? FileManager.default.removeItem(atPath: scratch)
    }
}

/// A `transcoder worker` child process; its log is kept for failure messages.
final class WorkerProcess: Sendable {
    private let process: Process
    let logPath: String

    init(environment: [String: String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: Stack.binary)
        process.arguments = ["worker", "--env-file", "/nonexistent/.env"]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        logPath = NSTemporaryDirectory() + "worker-\(UUID().uuidString.prefix(8)).log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for exit (polling, so the cooperative pool is not blocked); nil on deadline.
    func waitForExit(within seconds: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            if Date() > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return process.terminationStatus
    }

    func stop() async {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if await waitForExit(within: 20) == nil { signal(SIGKILL); _ = await waitForExit(within: 5) }
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

struct Timeout: Error, CustomStringConvertible {
    var description: String
}

/// Runs `body`, failing with `message` if it has not finished within `seconds`: a hung
/// service fails the test instead of hanging the run.
func withDeadline<T: Sendable>(_ seconds: Double, _ message: @autoclosure () -> String,
                               _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let timeout = Timeout(description: message())
    return try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw timeout
        }
        let result = try await group.next()!
        group.cancelAll()
        return result
    }
}

extension ProgressStream {
    /// Collects messages until `jobIDs` all reached a final state; fails after `seconds`.
    func finals(for jobIDs: Set<String>, within seconds: Double, onMessage: @escaping @Sendable (ProgressMessage) -> Void = { _ in })
        async throws -> [String: ProgressMessage] {
        try await withDeadline(seconds, "no final progress for \(jobIDs.sorted()) within \(Int(seconds)) s") {
            var finals: [String: ProgressMessage] = [:]
            for try await message in self {
                onMessage(message)
                if message.state.isFinal, let id = message.jobID, jobIDs.contains(id) {
                    finals[id] = message
                    if finals.count == jobIDs.count { break }
                }
            }
            return finals
        }
    }
}
