import Foundation
import Logging
import RabbitMQ
import ServiceLifecycle
import TranscodingService

/// Folds what workers publish into the store, from queues of the API's own, so that it
/// takes nothing from other readers and several API instances share the work:
/// - every progress message (the API's jobs and those other clients publish straight to
///   RabbitMQ), from a durable queue bound to the progress exchange, so nothing is missed
///   while the API is down;
/// - worker heartbeats, from a queue bound to the workers exchange whose messages expire
///   after a minute (an old heartbeat says nothing).
struct Ingest<Message: Decodable & Sendable>: Service {
    let connection: AMQPConnection
    let queue: String
    let what: String
    let logger: Logger
    let apply: @Sendable (Message) async throws -> Void

    /// The progress queue: bounded like `transcoding_progress` but without expiry, so an API
    /// down for a day catches up; beyond the bound the oldest ticks go, outcomes stay unless
    /// they are among the 1 000 000 oldest.
    static func declareProgress(_ queue: String, on connection: AMQPConnection, topology: Topology) async throws {
        _ = try await connection.declare(queue: QueueSpec(name: queue, arguments: [
            "x-queue-type": .string("quorum"), "x-max-length": .int(1_000_000), "x-overflow": .string("drop-head")]))
        try await connection.bind(BindingSpec(queue: queue, exchange: topology.progressExchange, routingKey: "#"))
    }

    static func declareHeartbeats(_ queue: String, on connection: AMQPConnection, topology: Topology) async throws {
        _ = try await connection.declare(queue: QueueSpec(name: queue, arguments: [
            "x-message-ttl": .int(60_000), "x-max-length": .int(10_000), "x-overflow": .string("drop-head")]))
        try await connection.bind(BindingSpec(queue: queue, exchange: topology.workersExchange, routingKey: ""))
    }

    func run() async throws {
        let consumer = try await connection.consume(queue: queue, prefetch: 200)
        try await withGracefulShutdownHandler {
            for try await delivery in consumer {
                guard let message = try? JSONDecoder().decode(Message.self, from: Data(delivery.body)) else {
                    logger.warning("ignored a \(what) that does not parse", metadata: ["routing_key": "\(delivery.routingKey)"])
                    try? await delivery.ack()
                    continue
                }
                do {
                    try await apply(message)
                    try? await delivery.ack()
                } catch {
                    logger.error("could not record a \(what); it goes back to the queue", metadata: ["error": "\(error)"])
                    try? await delivery.nack(requeue: true)
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        } onGracefulShutdown: {
            Task { await consumer.cancel() }
        }
    }
}
