import Foundation
import RabbitMQ
import Testing
import TranscodingService

extension World {
    /// Reads the durable progress queue until the job's final message (taking what it reads).
    func finalInProgressQueue(job: String, within seconds: Double) async throws -> ProgressMessage {
        let consumer = try await connection.consume(queue: topology.progressQueue, prefetch: 50)
        defer { Task { await consumer.cancel() } }
        return try await withDeadline(seconds, "no final message for \(job) in \(topology.progressQueue) within \(Int(seconds)) s") {
            for try await delivery in consumer {
                try? await delivery.ack()
                if let m = try? JSONDecoder().decode(ProgressMessage.self, from: Data(delivery.body)),
                   m.jobID == job, m.state.isFinal { return m }
            }
            throw Timeout(description: "progress consumer ended")
        }
    }
}

/// GETs through curl, enough for /metrics, /healthz, /readyz.
enum HTTP {
    static func get(port: Int, path: String) async throws -> (status: Int, body: String) {
        let result = try Stack.run(["curl", "-s", "-m", "30", "-o", "-", "-w", "\n%{http_code}", "http://127.0.0.1:\(port)\(path)"])
        var lines = result.output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.popLast() ?? "") ?? 0
        return (status, lines.joined(separator: "\n"))
    }

    static func waitFor(port: Int, path: String, status: Int, within seconds: Double) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await get(port: port, path: path).status) == status { return }
            try await Task.sleep(for: .milliseconds(500))
        }
        throw Timeout(description: "\(path) did not answer \(status) within \(Int(seconds)) s")
    }
}

enum Metrics {
    /// The value of a Prometheus sample whose labels contain `label`.
    static func value(_ text: String, _ name: String, label: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + "{") && line.contains(label) {
            if let last = line.split(separator: " ").last, let v = Double(last) { return v }
        }
        return nil
    }
}
