import Foundation
import Logging
import RabbitMQ
import Synchronization

/// What this worker knows of cancel requests, read from the cancel stream from its start,
/// and the jobs it runs that a request would stop.
///
/// Catching up: the worker appends a marker of its own to the stream and takes no job
/// before it has read back to that marker, so a cancel published before it started is
/// never missed.
final class Cancellations: Sendable {
    private struct State {
        /// Job id → time of its latest cancel request (ms since 1970).
        var requested: [String: Int64] = [:]
        /// Job id → how to stop each of its running attempts (the job, or parts of a segmented
        /// job, by part name), and when that copy was submitted.
        var running: [String: [String: (submittedAt: Int64?, stop: @Sendable () -> Void)]] = [:]
        var caughtUp = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())
    let marker = UUID().uuidString.lowercased()

    /// Whether a copy submitted at `submittedAt` (nil: unknown, so any request applies) is cancelled.
    func isCancelled(_ id: String, submittedAt: Int64?) -> Bool {
        state.withLock { Self.applies($0.requested[id], submittedAt) }
    }

    private static func applies(_ requestedAt: Int64?, _ submittedAt: Int64?) -> Bool {
        guard let requestedAt else { return false }
        return submittedAt.map { $0 <= requestedAt } ?? true
    }

    /// Registers a running attempt; false (and nothing registered) when it is already cancelled.
    func register(_ id: String, part: String = "", submittedAt: Int64?, stop: @escaping @Sendable () -> Void) -> Bool {
        state.withLock { s in
            if Self.applies(s.requested[id], submittedAt) { return false }
            s.running[id, default: [:]][part] = (submittedAt, stop)
            return true
        }
    }

    func unregister(_ id: String, part: String = "") {
        state.withLock { s in
            s.running[id]?[part] = nil
            if s.running[id]?.isEmpty == true { s.running[id] = nil }
        }
    }

    func receive(_ request: CancelRequest) {
        if request.marker == marker {
            let waiters = state.withLock { s in s.caughtUp = true; defer { s.waiters = [] }; return s.waiters }
            waiters.forEach { $0.resume() }
            return
        }
        guard let id = request.jobID else { return }
        let stops = state.withLock { s -> [@Sendable () -> Void] in
            s.requested[id] = max(s.requested[id] ?? 0, request.requestedAt)
            return (s.running[id] ?? [:]).values.filter { Self.applies(request.requestedAt, $0.submittedAt) }.map(\.stop)
        }
        stops.forEach { $0() }
    }

    /// Returns once the stream was read up to this worker's marker, or after `patience`.
    func caughtUp(within patience: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let now = self.state.withLock { s -> Bool in
                        if s.caughtUp { return true }
                        s.waiters.append(continuation)
                        return false
                    }
                    if now { continuation.resume() }
                }
                return true
            }
            group.addTask { try? await Task.sleep(for: patience); return false }
            let first = await group.next() ?? false
            if !first {
                // Let the waiting child finish: release every waiter.
                let waiters = state.withLock { s in defer { s.waiters = [] }; return s.waiters }
                waiters.forEach { $0.resume() }
            }
            group.cancelAll()
            return first
        }
    }

    /// Starts reading the stream from its first message and appends this worker's marker.
    func start(on connection: AMQPConnection, topology: Topology) async throws -> AMQPConsumer {
        // A stream needs a prefetch and manual acks; "first" replays what it keeps (a week).
        let consumer = try await connection.consume(queue: topology.cancelStream, prefetch: 1000,
                                                    arguments: ["x-stream-offset": .string("first")])
        try await connection.publish(CancelRequest(marker: marker).encoded(), routingKey: topology.cancelStream,
                                     properties: MessageProperties(contentType: "application/json"), mandatory: true)
        return consumer
    }

    func follow(_ consumer: AMQPConsumer, logger: Logger) async {
        do {
            for try await delivery in consumer {
                if let request = try? JSONDecoder().decode(CancelRequest.self, from: Data(delivery.body)) {
                    receive(request)
                    if let id = request.jobID { logger.debug("cancel request", metadata: ["job.id": "\(id)"]) }
                }
                try? await delivery.ack()
            }
        } catch {
            logger.debug("cancel stream consumer ended", metadata: ["error": "\(error)"])
        }
    }
}
