import Configuration
import Foundation
import Testing
@testable import TranscodingService

struct ConfigurationTests {
    let seed = ["AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "S3_BUCKET_NAME": "videos",
                "AWS_S3_ENDPOINT_URL": "http://minio:9000"]

    func load(_ env: [String: String]) async throws -> WorkerConfiguration {
        try await WorkerConfiguration.load(environmentFile: "/nonexistent/.env", environment: env)
    }

    @Test func seedVariablesAreEnoughAndDefaultsFollowTheSeed() async throws {
        let c = try await load(seed)
        #expect(c.amqpURL == "amqp://guest:guest@localhost:5672/%2f")
        #expect(c.s3.bucket == "videos")
        #expect(c.s3.endpoint == "http://minio:9000")
        #expect(c.s3.region == "us-east-1")
        #expect(c.topology.jobsQueue == "transcoding_jobs")
        #expect(c.topology.progressQueue == "transcoding_progress")
        #expect(c.concurrency == 1)
    }

    @Test(arguments: [
        ("S3_BUCKET_NAME", nil as String?, "S3_BUCKET_NAME is not set"),
        ("TRANSCODER_CONCURRENCY", "zero", "TRANSCODER_CONCURRENCY=zero is not an integer"),
        ("TRANSCODER_CONCURRENCY", "0", "in 1...64"),
        ("AMQP_URL", "http://x", "AMQP_URL must start with amqp://"),
        ("AWS_S3_ENDPOINT_URL", "minio", "is not a URL"),
        ("TRANSCODER_LOG_LEVEL", "loud", "TRANSCODER_LOG_LEVEL=loud"),
    ])
    func badSettingsStopStartUpWithOneClearLine(key: String, value: String?, expected: String) async {
        var env = seed
        env[key] = value
        do {
            _ = try await load(env)
            Issue.record("accepted \(key)=\(value ?? "<unset>")")
        } catch {
            let line = "\(error)"
            #expect(line.contains(expected), "\(line)")
            #expect(!line.contains("\n"))
            #expect(!line.contains("s3cr3t-value"))
        }
    }

    @Test func anUnreadableEnvironmentFileIsNamedNotDumped() async {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("env-\(UInt32.random(in: 0...UInt32.max))").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        await #expect {
            try await WorkerConfiguration.load(environmentFile: directory, environment: seed)
        } throws: { error in
            "\(error)" == "cannot read the environment file '\(directory)' (it is a directory): make it a readable file or pass another one with --env-file"
        }
    }
}

struct TopologyTests {
    @Test func jobsQueueIsQuorumWithDeliveryLimitAndDeadLetters() {
        let t = Topology()
        #expect(t.jobs.arguments["x-queue-type"] == .string("quorum"))
        #expect(t.jobs.arguments["x-delivery-limit"] == .int(5))
        #expect(t.deadLetterQueue == "transcoding_jobs.dead")
        #expect(t.progress.arguments["x-overflow"] == .string("drop-head"))
        #expect(t.progress.arguments["x-message-ttl"] == .int(3_600_000))
        #expect(t.progress.arguments["x-dead-letter-exchange"] == .string("transcoding_progress.overflow"))
    }
}
