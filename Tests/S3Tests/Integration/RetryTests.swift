import Foundation
import S3
import Testing

/// The local fault-injecting proxy (Fixtures/fault_proxy.py) in front of radosgw.
final class FaultProxy {
    let process = Process()
    let port: Int
    let logPath: String

    init(rules: [String], dir: TempDir) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fault_proxy.py").path
        let upstream = URLComponents(string: TestServer.endpoint)!
        logPath = dir.path("proxy.log")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--upstream", "\(upstream.host!):\(upstream.port ?? 80)",
                             "--log", logPath, "--lifetime", "30"] + rules.flatMap { ["--rule", $0] }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let d = pipe.fileHandleForReading.availableData
            if d.isEmpty { break }
            line.append(d)
        }
        guard let text = String(data: line, encoding: .utf8), text.hasPrefix("PORT "),
              let port = Int(text.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw S3Error(code: "ProxyFailed", message: "fault proxy did not start")
        }
        self.port = port
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// "<method> <target> <action>" per request seen.
    func log() -> [String] {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    private var stopped = false

    /// Kills the proxy, closing every connection it holds (call before the client's shutdown,
    /// which otherwise waits for connections the proxy still keeps open).
    func stop() {
        guard !stopped else { return }
        stopped = true
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite struct RetryTests {
    static func config(_ proxy: FaultProxy, bucket: String, maxAttempts: Int = 5) -> S3Configuration {
        TestServer.configuration(bucket: bucket, endpoint: proxy.endpoint, partSize: 5 * 1024 * 1024,
                                 concurrency: 3, maxAttempts: maxAttempts)
    }

    @Test func transientFaultsAreRetriedAndOthersAreNot() async throws {
        try await TestServer.withBucket { direct, bucket in
            let dir = try TempDir()
            let proxy = try FaultProxy(rules: ["PUT small:503,reset,500", "GET dl-me:reset"], dir: dir)
            defer { proxy.stop() }
            try await withClient(Self.config(proxy, bucket: bucket)) { client in
            try await client.put(Array("payload".utf8), to: "small")
            #expect(try await direct.get("small") == Array("payload".utf8))
            let puts = proxy.log().filter { $0.hasPrefix("PUT /\(bucket)/small") }
            #expect(puts.map { $0.split(separator: " ").last! } == ["503", "reset", "500", "pass"])

            try await direct.put(Array("x".utf8), to: "dl-me")
            #expect(try await client.download("dl-me", to: dir.path("dl")) == 1)

            let error = await #expect(throws: S3Error.self) { try await client.get("no such key") }
            #expect(error?.code == "NoSuchKey")
            #expect(proxy.log().filter { $0.contains("no%20such%20key") }.count == 1)   // 404 is not retried
            proxy.stop()
            }
        }
    }

    @Test func failedPartAndRangeAreRetriedAlone() async throws {
        try await TestServer.withBucket { direct, bucket in
            let dir = try TempDir()
            let size = 17 * 1024 * 1024   // 4 parts of 5 MiB (last one 2 MiB)
            let source = try await dir.randomFile("src", size: size)
            let proxy = try FaultProxy(rules: ["PUT partNumber=2&:reset,503", "GET big:pass,pass,reset"], dir: dir)
            defer { proxy.stop() }
            try await withClient(Self.config(proxy, bucket: bucket)) { client in
            try await client.upload(file: source, to: "big", progress: nil)
            let parts = proxy.log().filter { $0.hasPrefix("PUT") }
                .compactMap { line in line.split(separator: "partNumber=").last.map { $0.prefix { $0 != "&" } } }
            #expect(parts.filter { $0 == "2" }.count == 3)
            #expect(parts.filter { $0 == "1" }.count == 1)
            #expect(parts.filter { $0 == "4" }.count == 1)
            #expect(try await direct.head("big").size == Int64(size))

            let out = dir.path("out")
            #expect(try await client.download("big", to: out) == Int64(size))
            #expect(try await sha256(out) == (try await sha256(source)))
            // HEAD + 4 ranges + 1 retried range.
            #expect(proxy.log().filter { $0.hasPrefix("GET /\(bucket)/big") }.count == 5)
            proxy.stop()
            }
        }
    }

    @Test func failedMultipartUploadIsAborted() async throws {
        try await TestServer.withBucket { direct, bucket in
            let dir = try TempDir()
            let source = try await dir.randomFile("src", size: 16 * 1024 * 1024)
            let proxy = try FaultProxy(rules: ["PUT partNumber=3&:reset,reset,reset"], dir: dir)
            defer { proxy.stop() }
            try await withClient(Self.config(proxy, bucket: bucket, maxAttempts: 2)) { client in
                let error = await #expect(throws: S3Error.self) {
                    try await client.upload(file: source, to: "doomed.bin")
                }
                #expect(error?.isTransient == true)
                #expect(proxy.log().contains { $0.hasPrefix("DELETE /\(bucket)/doomed.bin?uploadId=") })
                proxy.stop()
            }
            #expect(proxy.log().contains { $0.hasPrefix("DELETE /\(bucket)/doomed.bin?uploadId=") })
            #expect(try await direct.listMultipartUploads().isEmpty)
            let missing = await #expect(throws: S3Error.self) { try await direct.head("doomed.bin") }
            #expect(missing?.isNotFound == true)

        }
    }
}
