import Foundation
import RabbitMQ
import Testing
import TranscodingService

/// Each misconfiguration a person meets first, against the real services: the CLI's error
/// (its standard error), a worker's start-up failure (its last log line) or a failed job's
/// reason is one line that names the object and the setting to fix, with no type dump and
/// no secret.
@Suite struct ActionableErrorTests {
    static let wrongSecret = "Wr0ngSecretWr0ngSecretWr0ngSecret0000000"
    static let amqpPassword = "guest"

    /// Runs the CLI with `environment` and no .env file; standard error kept apart.
    static func cli(_ args: [String], environment: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Stack.binary)
        process.arguments = args + ["--env-file", "/nonexistent/.env"]
        process.environment = Stack.env.merging(environment) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: NSTemporaryDirectory())
        let base = NSTemporaryDirectory() + "cli-\(UUID().uuidString.prefix(8))"
        _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
        _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
        defer { for ext in [".out", ".err"] { try? FileManager.default.removeItem(atPath: base + ext) } }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        func read(_ ext: String) -> String { (try? String(contentsOfFile: base + ext, encoding: .utf8)) ?? "" }
        return (process.terminationStatus, read(".out"), read(".err"))
    }

    /// The CLI's environment for the shared stack, with `changes` applied.
    static func environment(_ changes: [String: String]) -> [String: String] {
        [
            "AMQP_URL": Stack.amqpURL, "AWS_ACCESS_KEY_ID": Stack.accessKey, "AWS_SECRET_ACCESS_KEY": Stack.secretKey,
            "AWS_S3_ENDPOINT_URL": Stack.endpoint, "S3_BUCKET_NAME": "videos", "AWS_REGION": "us-east-1",
        ].merging(changes) { $1 }
    }

    /// One line starting `transcoder: `, containing every one of `parts`, with no type dump
    /// and none of `secrets`.
    static func expectActionable(_ text: String, _ parts: [String], secrets: [String] = [],
                                 sourceLocation: SourceLocation = #_sourceLocation) {
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!line.isEmpty && !line.contains("\n"), "not one line:\n\(text)", sourceLocation: sourceLocation)
        #expect(line.hasPrefix("transcoder: "), "\(line)", sourceLocation: sourceLocation)
        for part in parts { #expect(line.contains(part), "missing \(part): \(line)", sourceLocation: sourceLocation) }
        for dump in ["Error(", "S3Error", "AMQPError", "NIOConnectionError", "Error: "] {
            #expect(!line.contains(dump), "type dump: \(line)", sourceLocation: sourceLocation)
        }
        for secret in secrets { #expect(!line.contains(secret), "secret shown: \(line)", sourceLocation: sourceLocation) }
    }

    /// A file for `submit --file`: every storage case fails at the upload, before the
    /// content matters, so no fetched media is needed. Its key is `in/actionable-input.mp4`.
    static let inputFile: String = {
        let path = NSTemporaryDirectory() + "actionable-\(UUID().uuidString.prefix(8))/actionable-input.mp4"
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: 0, count: 4096))
        return path
    }()
    static let inputKey = "in/actionable-input.mp4"

    /// The worker's last log line, after it exited at start.
    static func lastLine(of worker: WorkerProcess) -> String {
        worker.log.split(separator: "\n").last.map(String.init) ?? ""
    }

    /// No line of a worker's log carries a type dump or one of `secrets`.
    static func expectCleanLog(_ worker: WorkerProcess, secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let log = worker.log
        for bad in ["Error(", "S3Error", "AMQPError", "NIOConnectionError"] + secrets {
            #expect(!log.contains(bad), "\(bad) in the worker's log:\n\(log)", sourceLocation: sourceLocation)
        }
    }

    /// Polls the worker's log for a line containing `marker`; nil if none came within `seconds`.
    static func logLine(of worker: WorkerProcess, containing marker: String, within seconds: Double) async -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let line = worker.log.split(separator: "\n").first(where: { $0.contains(marker) }) { return String(line) }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return nil
    }

    // MARK: - Storage

    @Test func missingBucket() async throws {
        let bucket = "e2e-missing-\(UUID().uuidString.prefix(8).lowercased())"
        let run = try Self.cli(["submit", "--file", Self.inputFile, "--preset", "h264-480p"],
                               environment: Self.environment(["S3_BUCKET_NAME": bucket]))
        #expect(run.status == 78, "\(run.stderr)")
        Self.expectActionable(run.stderr, ["bucket '\(bucket)' does not exist at \(Stack.endpoint)",
                                           "scripts/stack bucket \(bucket)", "S3_BUCKET_NAME"], secrets: [Stack.secretKey])

        // A worker checks the bucket before it takes jobs it could only fail.
        try await World.with { world in
            let worker = try world.startWorker(extra: ["S3_BUCKET_NAME": bucket])
            let status = await worker.waitForExit(within: 60)
            #expect(status == 78, "\(worker.log)")
            Self.expectActionable(Self.lastLine(of: worker), ["bucket '\(bucket)' does not exist", "S3_BUCKET_NAME"],
                                  secrets: [Stack.secretKey])
            Self.expectCleanLog(worker, secrets: [Stack.secretKey])
        }
    }

    @Test func wrongSecretKey() async throws {
        let env = Self.environment(["AWS_SECRET_ACCESS_KEY": Self.wrongSecret])
        let run = try Self.cli(["submit", "--file", Self.inputFile, "--preset", "h264-480p"], environment: env)
        #expect(run.status == 78, "\(run.stderr)")
        Self.expectActionable(run.stderr, ["refused access to '\(Self.inputKey)' in bucket 'videos'",
                                           "AWS_SECRET_ACCESS_KEY"], secrets: [Self.wrongSecret, Stack.secretKey])

        try await World.with { world in
            let worker = try world.startWorker(extra: ["AWS_SECRET_ACCESS_KEY": Self.wrongSecret])
            let status = await worker.waitForExit(within: 60)
            #expect(status == 78, "\(worker.log)")
            Self.expectActionable(Self.lastLine(of: worker), ["refused access to bucket '\(world.bucket)'", "AWS_SECRET_ACCESS_KEY"],
                                  secrets: [Self.wrongSecret, Stack.secretKey])
            Self.expectCleanLog(worker, secrets: [Self.wrongSecret, Stack.secretKey])
        }
    }

    @Test func unreachableStorageEndpoint() async throws {
        let endpoint = "http://127.0.0.1:1"
        let run = try Self.cli(["submit", "--file", Self.inputFile, "--preset", "h264-480p"],
                               environment: Self.environment(["AWS_S3_ENDPOINT_URL": endpoint]))
        #expect(run.status == 1, "\(run.stderr)")
        Self.expectActionable(run.stderr, ["storage at \(endpoint) is unreachable", "connection refused",
                                           "'\(Self.inputKey)' in bucket 'videos'", "AWS_S3_ENDPOINT_URL"],
                              secrets: [Stack.secretKey])

        // Storage that does not answer may come back: the worker warns and keeps running, and a
        // job fails with a reason that names the endpoint and the worker's setting (one attempt,
        // so that the first failure is the final one rather than `retrying`).
        try await World.with { world in
            let worker = try world.startWorker(extra: ["AWS_S3_ENDPOINT_URL": endpoint, "TRANSCODER_MAX_ATTEMPTS": "1"])
            let key = "in/unreachable-\(world.id).mp4"
            let progress = try await world.client.follow(jobIDs: ["unreachable"])
            try await world.client.submit(JobRequest(jobID: "unreachable", inputKey: key, outputKey: "out/u.mp4", preset: "h264-480p"))
            let warning = await Self.logLine(of: worker, containing: "storage not reachable at start", within: 120)
            let line = try #require(warning, "\(worker.log)")
            #expect(line.contains("storage at \(endpoint) is unreachable (connection refused"), "\(line)")
            #expect(line.contains("AWS_S3_ENDPOINT_URL"), "\(line)")

            let final = try #require(try await progress.finals(for: ["unreachable"], within: 240)["unreachable"], "\(worker.log)")
            #expect(final.state == .failed)
            #expect(final.errorCode == .storageUnavailable)
            let reason = final.errorMessage ?? ""
            for part in ["storage at \(endpoint) is unreachable (connection refused", "'\(key)' in bucket '\(world.bucket)'",
                         "the worker's AWS_S3_ENDPOINT_URL", "transcoder dlq replay"] {
                #expect(reason.contains(part), "missing \(part): \(reason)")
            }
            #expect(!reason.contains("\n") && !reason.contains("Error(") && !reason.contains(Stack.secretKey), "\(reason)")
            #expect(worker.isRunning, "\(worker.log)")
            Self.expectCleanLog(worker, secrets: [Stack.secretKey])
        }
    }

    @Test func missingInputKey() async throws {
        try await World.with { world in
            let worker = try world.startWorker()
            let key = "in/missing-\(world.id).mp4"
            let progress = try await world.client.follow(jobIDs: ["missing-key"])
            try await world.client.submit(JobRequest(jobID: "missing-key", inputKey: key, outputKey: "out/m.mp4", preset: "h264-480p"))
            let final = try #require(try await progress.finals(for: ["missing-key"], within: 120)["missing-key"], "\(worker.log)")
            #expect(final.state == .failed)
            #expect(final.errorCode == .inputNotFound)
            #expect(final.errorMessage == "input object '\(key)' does not exist in bucket '\(world.bucket)': upload it there or fix the job's input_key")

            // The same reason reaches the dead-letter listing.
            let list = try Self.cli(["dlq", "list"], environment: world.workerEnvironment())
            #expect(list.status == 0, "\(list.stderr)")
            #expect(list.stdout.contains("missing-key\tinput_not_found\t"), "\(list.stdout)")
            #expect(list.stdout.contains("'\(key)' does not exist in bucket '\(world.bucket)'"), "\(list.stdout)")
            Self.expectCleanLog(worker, secrets: [Stack.secretKey])
        }
    }

    // MARK: - Broker

    @Test func unreachableBroker() async throws {
        let url = "amqp://guest:\(Self.amqpPassword)@127.0.0.1:1/%2f"
        let run = try Self.cli(["watch"], environment: Self.environment(["AMQP_URL": url]))
        #expect(run.status == 1, "\(run.stderr)")
        Self.expectActionable(run.stderr, ["cannot reach the broker at 127.0.0.1:1", "AMQP_URL (now amqp://guest:***@127.0.0.1:1/%2f)"],
                              secrets: [":\(Self.amqpPassword)@"])

        // A worker waits a minute for a broker that may be starting, then says the same.
        try await World.with { world in
            let worker = try world.startWorker(extra: ["AMQP_URL": url])
            let status = await worker.waitForExit(within: 150)
            #expect(status == 1, "\(worker.log)")
            Self.expectActionable(Self.lastLine(of: worker), ["cannot reach the broker at 127.0.0.1:1", "AMQP_URL"],
                                  secrets: [":\(Self.amqpPassword)@"])
            Self.expectCleanLog(worker, secrets: [":\(Self.amqpPassword)@"])
        }
    }

    @Test func wrongVhost() async throws {
        let vhost = "no-such-vhost-\(UUID().uuidString.prefix(8).lowercased())"
        let url = "amqp://guest:\(Self.amqpPassword)@localhost:5672/\(vhost)"
        let run = try Self.cli(["dlq", "list"], environment: Self.environment(["AMQP_URL": url]))
        #expect(run.status == 78, "\(run.stderr)")
        Self.expectActionable(run.stderr, ["vhost '\(vhost)' does not exist on the broker at localhost:5672",
                                           "rabbitmqctl add_vhost \(vhost)", "AMQP_URL"], secrets: [":\(Self.amqpPassword)@"])

        try await World.with { world in
            let worker = try world.startWorker(extra: ["AMQP_URL": url])
            let status = await worker.waitForExit(within: 60)
            #expect(status == 78, "\(worker.log)")
            Self.expectActionable(Self.lastLine(of: worker), ["vhost '\(vhost)' does not exist", "AMQP_URL"],
                                  secrets: [":\(Self.amqpPassword)@"])
            Self.expectCleanLog(worker, secrets: [":\(Self.amqpPassword)@"])
        }
    }

    @Test func wrongBrokerPassword() throws {
        let secret = "Wr0ngAmqpPass99"
        let run = try Self.cli(["watch"], environment: Self.environment(["AMQP_URL": "amqp://guest:\(secret)@localhost:5672/%2f"]))
        #expect(run.status == 78, "\(run.stderr)")
        Self.expectActionable(run.stderr, ["refused the login of user 'guest'", "password in AMQP_URL"], secrets: [secret])
    }

    @Test func missingJobsQueue() throws {
        let queue = "e2e-noqueue-\(UUID().uuidString.prefix(8).lowercased())"
        let run = try Self.cli(["submit", "--input-key", "in/x.mp4", "--preset", "h264-480p"],
                               environment: Self.environment(["TRANSCODER_JOBS_QUEUE": queue]))
        #expect(run.status == 78, "\(run.stderr)")
        Self.expectActionable(run.stderr, ["queue '\(queue)' does not exist", "TRANSCODER_JOBS_QUEUE"])
    }
}
