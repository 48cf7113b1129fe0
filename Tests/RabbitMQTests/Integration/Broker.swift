import Foundation
import Logging
import RabbitMQ
import Testing

/// The broker the integration tests talk to (started by `scripts/stack up` / `.ci/run`).
enum Broker {
    static let url = ProcessInfo.processInfo.environment["AMQP_URL"] ?? "amqp://guest:guest@localhost:5672/%2f"
    static let packageRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let stateDir = ProcessInfo.processInfo.environment["RMQ_DIR"] ?? "/tmp/rabbitmq-state"

    static func config(_ extra: String = "", name: String? = nil) throws -> AMQPConfiguration {
        var c = try AMQPConfiguration(url: url + extra)
        c.reconnectInitialDelay = .milliseconds(100)
        c.reconnectMaxDelay = .seconds(1)
        c.connectTimeout = .seconds(3)
        c.connectionName = name
        return c
    }

    static func connect(_ extra: String = "", name: String? = nil) async throws -> AMQPConnection {
        do {
            var logger = Logger(label: "amqp-test")
            logger.logLevel = .warning
            return try await AMQPConnection.connect(config(extra, name: name), logger: logger)
        } catch let e as AMQPError where e.code == .unreachable {
            Issue.record("RabbitMQ is not reachable at \(url): start it with `scripts/stack up` (\(e.message))")
            throw e
        }
    }

    static func unique(_ prefix: String) -> String {
        "test.\(prefix).\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `scripts/stack rabbitmq ARGS` without blocking a cooperative thread.
    @discardableResult
    static func stack(_ args: String...) async throws -> String {
        let p = Process()
        p.executableURL = packageRoot.appendingPathComponent("scripts/stack")
        p.arguments = ["rabbitmq"] + args
        // `start` leaves a detached broker behind that would inherit (and hold open) a pipe.
        let capture = args.first == "ctl"
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("stack-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out) }
        let handle = try FileHandle(forWritingTo: out)
        defer { try? handle.close() }
        p.standardOutput = capture ? handle : FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { cont in
            p.terminationHandler = { cont.resume(returning: $0.terminationStatus) }
            do { try p.run() } catch { cont.resume(throwing: error) }
        }
        #expect(status == 0, "scripts/stack rabbitmq \(args.joined(separator: " ")) failed")
        return (try? String(contentsOf: out, encoding: .utf8)) ?? ""
    }

    /// Closes the broker side of the connection named `name` (as `close_all_connections`
    /// would, without disturbing other users of the shared broker).
    static func closeConnection(named name: String) async throws {
        var pid: String?
        for _ in 0..<50 {
            let out = try await stack("ctl", "-q", "list_connections", "pid", "client_properties")
            if let line = out.split(separator: "\n").first(where: { $0.contains(name) }),
               let end = line.firstIndex(of: ">") {
                pid = String(line[...end])
                break
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        let found = try #require(pid, "connection \(name) not listed by rabbitmqctl")
        try await stack("ctl", "-q", "close_connection", found, "test: forced close")
    }

    /// Waits for a condition without asserting on timing.
    static func eventually(_ what: String, timeout: Duration = .seconds(30),
                           _ check: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await check() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("timed out waiting for: \(what)")
    }
}

extension AMQPConsumer {
    /// The next delivery, failing the test instead of hanging when none comes.
    func next(timeout: Duration = .seconds(30)) async throws -> AMQPDelivery {
        let stream = self
        return try await withThrowingTaskGroup(of: AMQPDelivery?.self) { group in
            group.addTask {
                var it = stream.makeAsyncIterator()
                return try await it.next()
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            let first = try await group.next()!
            return try #require(first, "no delivery from \(queue) within \(timeout)")
        }
    }
}
