import Foundation
import Logging
import RabbitMQ
import ServiceLifecycle
import TranscodingService

/// Records every progress message into the store: the API's own jobs and those other
/// clients publish straight to RabbitMQ. Reads a durable queue of its own bound to the
/// progress exchange, so it takes nothing from `transcoding_progress`, misses nothing while
/// the API is down, and several API instances share the work.
struct ProgressIngest: Service {
    let connection: AMQPConnection
    let topology: Topology
    let store: any JobStore
    let queue: String
    let logger: Logger

    /// Bounded like `transcoding_progress`, but without expiry: an API down for a day
    /// catches up. Dropping the oldest ticks beyond the bound costs samples, not outcomes,
    /// as long as finals are not among the 1 000 000 oldest.
    static func spec(_ name: String) -> QueueSpec {
        QueueSpec(name: name, arguments: ["x-queue-type": .string("quorum"), "x-max-length": .int(1_000_000),
                                          "x-overflow": .string("drop-head")])
    }

    func declare() async throws {
        _ = try await connection.declare(queue: Self.spec(queue))
        try await connection.bind(BindingSpec(queue: queue, exchange: topology.progressExchange, routingKey: "#"))
    }

    func run() async throws {
        let consumer = try await connection.consume(queue: queue, prefetch: 200)
        try await withGracefulShutdownHandler {
            for try await delivery in consumer {
                guard let message = try? JSONDecoder().decode(ProgressMessage.self, from: Data(delivery.body)) else {
                    logger.warning("ignored a progress message that does not parse", metadata: ["routing_key": "\(delivery.routingKey)"])
                    try? await delivery.ack()
                    continue
                }
                do {
                    try await store.apply(message)
                    try? await delivery.ack()
                } catch {
                    logger.error("could not record a progress message; it goes back to the queue",
                                 metadata: ["job.id": "\(message.jobID ?? "-")", "error": "\(error)"])
                    try? await delivery.nack(requeue: true)
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        } onGracefulShutdown: {
            Task { await consumer.cancel() }
        }
    }
}
