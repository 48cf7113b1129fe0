import Foundation
import Logging
import S3
import Testing

/// Connection settings for the real radosgw: env S3 variables, else the dev stack's defaults.
enum TestServer {
    static let env = ProcessInfo.processInfo.environment
    static let endpoint = env["AWS_S3_ENDPOINT_URL"] ?? "http://127.0.0.1:7480"
    static let accessKey = env["AWS_ACCESS_KEY_ID"] ?? "AKIACEPHTEST00000000"
    static let secretKey = env["AWS_SECRET_ACCESS_KEY"] ?? "cephtestsecretcephtestsecret0000000000000"
    static let region = env["AWS_REGION"] ?? "us-east-1"

    static func configuration(bucket: String, endpoint: String = endpoint, secret: String = secretKey,
                              partSize: Int = 5 * 1024 * 1024, concurrency: Int = 4,
                              maxAttempts: Int = 5) -> S3Configuration {
        S3Configuration(accessKeyId: accessKey, secretAccessKey: secret, region: region, endpoint: endpoint,
                        bucket: bucket, partSize: partSize, concurrency: concurrency, maxAttempts: maxAttempts,
                        retryBaseDelay: .milliseconds(20), maxRetryDelay: .milliseconds(200))
    }

    static func uniqueBucket() -> String {
        "s3test-" + UUID().uuidString.lowercased().prefix(13).replacingOccurrences(of: "-", with: "")
    }

    /// Runs `body` with a client on a fresh bucket, then empties and deletes the bucket.
    static func withBucket(partSize: Int = 5 * 1024 * 1024, concurrency: Int = 4, sendfile: Bool = true,
                           _ body: (S3Client, String) async throws -> Void) async throws {
        let bucket = uniqueBucket()
        var config = configuration(bucket: bucket, partSize: partSize, concurrency: concurrency, maxAttempts: 2)
        config.sendfileUploads = sendfile
        let client = S3Client(configuration: config)
        do {
            try await client.createBucket()
        } catch {
            try await client.shutdown()
            Issue.record("radosgw at \(endpoint) is not usable (\(error)); start it with scripts/stack up")
            throw error
        }
        var failure: (any Error)?
        do { try await body(client, bucket) } catch { failure = error }
        do {
            for upload in try await client.listMultipartUploads() {
                try await client.abortMultipartUpload(key: upload.key, uploadId: upload.uploadId)
            }
            for object in try await client.listAll() { try await client.delete(object.key) }
            try await client.deleteBucket()
        } catch {
            if failure == nil { failure = error }
        }
        try await client.shutdown()
        if let failure { throw failure }
    }
}

/// Temporary files for a test, removed at the end.
final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("s3tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// A file of `size` random bytes (from /dev/urandom).
    func randomFile(_ name: String, size: Int) async throws -> String {
        let p = path(name)
        try await run("/bin/sh", ["-c", "head -c \(size) /dev/urandom > '\(p)'"])
        return p
    }
}

/// Runs a tool on its own thread: waiting for a child never blocks Swift's cooperative pool.
@discardableResult
func run(_ tool: String, _ args: [String]) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread {
            do { continuation.resume(returning: try runBlocking(tool, args)) } catch { continuation.resume(throwing: error) }
        }.start()
    }
}

func runBlocking(_ tool: String, _ args: [String]) throws -> (status: Int32, output: String) {
    // Output goes to a file, not a pipe: a pipe's write end can leak into a concurrently spawned
    // long-lived child (the fault proxy) and then EOF never comes.
    let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("s3run-\(UUID().uuidString)").path
    FileManager.default.createFile(atPath: outPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let process = Process()
    process.executableURL = URL(fileURLWithPath: tool)
    process.arguments = args
    process.standardOutput = out
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try out.close()
    let data = try Data(contentsOf: URL(fileURLWithPath: outPath))
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func sha256(_ path: String) async throws -> String {
    let out = try await run("/usr/bin/sha256sum", [path]).output
    return String(out.prefix(64))
}

func fileSize(_ path: String) throws -> Int64 {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? -1
}

/// Runs `body` with a client that is shut down however `body` ends.
func withClient<T>(_ configuration: S3Configuration, _ body: (S3Client) async throws -> T) async throws -> T {
    let client = S3Client(configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}
