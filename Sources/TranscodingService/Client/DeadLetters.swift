import Foundation
import RabbitMQ

/// The dead-letter queue, read without removing anything: the entries taken stay unacked
/// until each is replayed or ``giveBack(_:)`` returns them. Used by `transcoder dlq` and
/// by the API's `/v1/dead-letters`.
public struct DeadLetters: Sendable {
    public struct Entry: Sendable {
        public var delivery: AMQPDelivery
        public var jobID: String? { JobRequest.jobID(in: delivery.body) }
        public var reasonCode: String {
            delivery.headers[Topology.failureCodeHeader]?.stringValue
                ?? delivery.xDeath.first.map { "broker:\($0.reason)" } ?? "unknown"
        }
        public var reasonMessage: String { delivery.headers[Topology.failureMessageHeader]?.stringValue ?? "" }
        public var failedAt: String? { delivery.headers["x-failed-at"]?.stringValue }
        public var failedBy: String? { delivery.headers["x-failed-by"]?.stringValue }
        public var attempts: Int? { delivery.headers[Topology.attemptsHeader]?.intValue.map { Int($0) } }
        /// The lane the job came from (broker dead-letters: the queue of its last death).
        public func priority(in topology: Topology) -> JobPriority {
            let queue = delivery.headers["x-original-queue"]?.stringValue ?? delivery.xDeath.first?.queue ?? ""
            return topology.priority(ofQueue: queue) ?? .normal
        }
    }

    public let connection: AMQPConnection
    public let topology: Topology

    public init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    /// Up to `limit` messages in the queue now (counted first, so this never waits for new ones).
    public func take(limit: Int = 65_535) async throws -> [Entry] {
        let count = min(limit, Int(try await connection.queueInfo(topology.deadLetterQueue).messageCount))
        guard count > 0 else { return [] }
        let consumer = try await connection.consume(queue: topology.deadLetterQueue, prefetch: UInt16(min(count, 65535)))
        var entries: [Entry] = []
        for try await delivery in consumer {
            entries.append(Entry(delivery: delivery))
            if entries.count == count { break }
        }
        await consumer.cancel()
        return entries
    }

    /// Publishes the job back to its lane as a fresh start (no failure headers, a new retry
    /// budget), then removes it from the dead-letter queue.
    public func replay(_ entry: Entry) async throws {
        var properties = entry.delivery.properties
        for header in [Topology.failureCodeHeader, Topology.failureMessageHeader, "x-failed-by", "x-failed-at",
                       "x-original-queue", "x-death", "x-first-death-exchange", "x-first-death-queue",
                       "x-first-death-reason", "x-delivery-count", Topology.attemptsHeader, Topology.attemptHistoryHeader] {
            properties.headers[header] = nil
        }
        properties.persistent = true
        // A replay is a new copy: a cancel requested before now does not stop it.
        properties.headers[Topology.submittedAtHeader] = .int(CancelRequest.milliseconds(Date()))
        try await connection.publish(entry.delivery.body, routingKey: topology.jobsQueue(entry.priority(in: topology)),
                                     properties: properties, mandatory: true)
        try await entry.delivery.ack()
    }

    /// Returns entries not replayed to the queue.
    public func giveBack(_ entries: [Entry]) async {
        for entry in entries { try? await entry.delivery.nack(requeue: true) }
    }
}
