import Foundation
import Synchronization
import Testing
import TranscodingService

/// An S3 endpoint of the workers' own that can go down: Tests/S3Tests/Fixtures/fault_proxy.py
/// in front of radosgw, which resets every connection between ``cut()`` and ``restore()``.
/// Cutting the shared radosgw instead would fail the tests running beside this one.
final class OutageProxy: Sendable {
    let pid: pid_t
    let endpoint: String

    /// Started detached (setsid, no pipes), so it is no child of the test process: a child
    /// started beside killMinus9's victim kept that victim from being seen exiting.
    init() throws {
        let upstream = URLComponents(string: Stack.endpoint)!
        let port = try Self.freePort()
        let script = "\(Stack.root)/Tests/S3Tests/Fixtures/fault_proxy.py"
        let started = try Stack.run(["sh", "-c", "setsid python3 '\(script)' --upstream \(upstream.host!):\(upstream.port ?? 80) "
                                     + "--lifetime 900 --log /dev/null --port \(port) </dev/null >/dev/null 2>&1 & echo $!"])
        guard started.status == 0, let pid = pid_t(started.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Timeout(description: "the outage proxy did not start: \(started.output)")
        }
        self.pid = pid
        endpoint = "http://127.0.0.1:\(port)"
    }

    /// Waits until the proxy accepts connections.
    func ready() async throws {
        let port = Int(endpoint.split(separator: ":").last!)!
        for _ in 0..<100 {
            if Self.accepts(port) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Timeout(description: "the outage proxy did not start")
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw Timeout(description: "no free port for the outage proxy") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    func cut() { kill(pid, SIGUSR1) }
    func restore() { kill(pid, SIGUSR2) }
    func stop() { kill(pid, SIGKILL) }
}

/// A passing outage is retried through the broker, not dead-lettered.
@Suite(.serialized) struct OutageTests {
    @Test func storageOutageOf60SecondsIsRetriedAndEveryJobCompletes() async throws {
        try await World.with { world in
            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/small.mp4")
            let proxy = try OutageProxy()
            defer { proxy.stop() }
            try await proxy.ready()
            let endpoint = ["AWS_S3_ENDPOINT_URL": proxy.endpoint]
            let a = try world.startWorker(extra: endpoint.merging(["TRANSCODER_WORKER_ID": "out-a"]) { $1 })
            let b = try world.startWorker(extra: endpoint.merging(["TRANSCODER_WORKER_ID": "out-b"]) { $1 })
            let ids = (1...5).map { "outage-\($0)" }
            let progress = try await world.client.follow(jobIDs: ids)
            proxy.cut()
            for id in ids {
                try await world.client.submit(JobRequest(jobID: id, inputKey: "in/small.mp4", outputKey: "out/\(id).mp4",
                                                         preset: "h264-480p", overrides: .init(speed: "ultrafast")))
            }
            let retries = Mutex<[ProgressMessage]>([])
            let outage = Task {
                try await Task.sleep(for: .seconds(60))
                proxy.restore()
            }
            let finals = try await progress.finals(for: Set(ids), within: 600) { message in
                if message.state == .retrying { retries.withLock { $0.append(message) } }
            }
            try await outage.value
            #expect(finals.values.allSatisfy { $0.state == .completed },
                    "\(finals.values.map { "\($0.jobID!): \($0.errorCode?.rawValue ?? "") \($0.errorMessage ?? "ok")" })\n\(a.log)\n\(b.log)")
            // The jobs taken during the outage came back through a retry queue and say which
            // attempt finished them; later ones may ride out the rest inside the S3 client's
            // own retries, so only the first two (one per worker) must have been retried.
            let retried = retries.withLock { $0 }
            #expect(Set(retried.compactMap(\.jobID)).isSuperset(of: ["outage-1", "outage-2"]), "\(retried.map { "\($0.jobID!)" })")
            #expect(retried.allSatisfy { $0.errorCode == .storageUnavailable && ($0.retryInSeconds ?? 0) > 0 })
            for id in Set(retried.compactMap(\.jobID)) {
                #expect((finals[id]?.attempt ?? 0) >= 2, "\(id) retried but finished at attempt \(finals[id]?.attempt ?? 0)")
            }
            #expect(try await world.connection.queueInfo(world.topology.deadLetterQueue).messageCount == 0)
            #expect(try await world.storage.listAll(prefix: "out/").count == 5)
        }
    }

    @Test func retriesEndInTheDeadLetterQueueWithTheirHistory() async throws {
        try await World.with { world in
            // Storage that never answers: storage_unavailable, transient, on every attempt.
            _ = try world.startWorker(extra: ["AWS_S3_ENDPOINT_URL": "http://127.0.0.1:1",
                                              "TRANSCODER_MAX_ATTEMPTS": "3", "TRANSCODER_RETRY_DELAY": "1"])
            let progress = try await world.client.follow(jobIDs: ["doomed"])
            let attempts = Mutex<[Int]>([])
            try await world.client.submit(JobRequest(jobID: "doomed", inputKey: "in/small.mp4", outputKey: "out/doomed.mp4",
                                                     preset: "h264-480p"))
            let final = try #require(try await progress.finals(for: ["doomed"], within: 300) { message in
                if message.state == .retrying { attempts.withLock { $0.append(message.attempt ?? 0) } }
            }["doomed"])
            #expect(final.state == .failed)
            #expect(final.errorCode == .storageUnavailable)
            #expect(final.attempt == 3)
            #expect(attempts.withLock { $0 } == [1, 2])
            let dead = try await world.connection.consume(queue: world.topology.deadLetterQueue, prefetch: 1)
            let letter = try await withDeadline(30, "nothing in \(world.topology.deadLetterQueue)") {
                for try await delivery in dead { return delivery }
                throw Timeout(description: "dead-letter consumer ended")
            }
            #expect(letter.properties.headers[Topology.attemptsHeader]?.intValue == 3)
            let history = letter.properties.headers[Topology.attemptHistoryHeader]?.arrayValue ?? []
            #expect(history.count == 2, "\(history)")
            #expect(history.first?.stringValue?.hasPrefix("attempt 1 (") == true, "\(history)")
            try await letter.ack()
            await dead.cancel()
        }
    }
}
