import Foundation
import Logging

/// A RabbitMQ connection that recovers by itself, for publishing with confirms and consuming.
///
/// One OS thread owns the underlying rabbitmq-c connection; every method hands work to it,
/// so no blocking C call runs on Swift's cooperative pool and any number of tasks may use
/// the connection at once. When the connection drops, the thread reconnects with backoff,
/// declares the recorded topology again and resumes the consumers. Operations issued
/// meanwhile wait for the new connection.
public final class AMQPConnection: Sendable {
    let loop: ConnectionLoop
    public let configuration: AMQPConfiguration

    private init(loop: ConnectionLoop, configuration: AMQPConfiguration) {
        self.loop = loop
        self.configuration = configuration
    }

    deinit { loop.requestStop() }

    /// Connects and logs in; the first connection is not retried, so bad credentials or an
    /// unreachable host fail here with an ``AMQPError`` that says which.
    public static func connect(_ configuration: AMQPConfiguration,
                               logger: Logger = Logger(label: "amqp")) async throws -> AMQPConnection {
        let loop = try await ConnectionLoop.start(config: configuration, logger: logger)
        return AMQPConnection(loop: loop, configuration: configuration)
    }

    public static func connect(url: String, logger: Logger = Logger(label: "amqp")) async throws -> AMQPConnection {
        try await connect(AMQPConfiguration(url: url), logger: logger)
    }

    /// True between a successful (re)connect and the next loss.
    public var isConnected: Bool { loop.connected.load(ordering: .acquiring) }

    /// Declares a queue and records it for recovery. Redeclaring with other arguments throws
    /// ``AMQPError/Code/preconditionFailed`` naming the queue and the argument.
    @discardableResult
    public func declare(queue: QueueSpec) async throws -> QueueInfo {
        try await loop.submit { loop in
            let info = try loop.declare(queue)
            loop.topology.record(queue)
            return info
        }
    }

    public func declare(exchange: ExchangeSpec) async throws {
        try await loop.submit { loop in
            try loop.declare(exchange)
            loop.topology.record(exchange)
        }
    }

    public func bind(_ binding: BindingSpec) async throws {
        try await loop.submit { loop in
            try loop.bind(binding)
            loop.topology.record(binding)
        }
    }

    public func unbind(_ binding: BindingSpec) async throws {
        try await loop.submit { loop in
            try loop.bind(binding, unbind: true)
            loop.topology.forget(binding: binding)
        }
    }

    /// Message and consumer counts of an existing queue (passive declare); throws
    /// ``AMQPError/Code/notFound`` when it does not exist.
    public func queueInfo(_ name: String) async throws -> QueueInfo {
        try await loop.submit { loop in try loop.declare(QueueSpec(name: name), passive: true) }
    }

    /// Removes the ready messages; returns how many.
    @discardableResult
    public func purge(queue: String) async throws -> UInt32 {
        try await loop.submit { loop in try loop.purge(queue: queue) }
    }

    /// Deletes a queue and forgets it (and its bindings) for recovery.
    @discardableResult
    public func deleteQueue(_ name: String) async throws -> UInt32 {
        try await loop.submit { loop in
            loop.topology.forget(queue: name)
            return try loop.delete(queue: name)
        }
    }

    public func deleteExchange(_ name: String) async throws {
        try await loop.submit { loop in
            loop.topology.forget(exchange: name)
            try loop.delete(exchange: name)
        }
    }

    /// Publishes and returns once the broker confirmed it (for a persistent message to a
    /// durable queue: written to disk). Throws ``AMQPError/Code/nacked``,
    /// ``AMQPError/Code/unroutable`` (with `mandatory`) or ``AMQPError/Code/connectionClosed``
    /// (the outcome is unknown: publish again). Concurrent calls are pipelined: publishes
    /// queued together leave in one write. `nonisolated(nonsending)`: no executor hop
    /// before the message is queued.
    nonisolated(nonsending)
    public func publish(_ body: [UInt8], exchange: String = "", routingKey: String,
                        properties: MessageProperties = .init(), mandatory: Bool = false) async throws {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, Error>) in
            loop.enqueuePublish(PublishRequest(body: body, exchange: exchange, routingKey: routingKey,
                                               properties: properties, mandatory: mandatory, continuation: cont))
        }
    }

    nonisolated(nonsending)
    public func publish(_ body: String, exchange: String = "", routingKey: String,
                        properties: MessageProperties = .init(), mandatory: Bool = false) async throws {
        try await publish(Array(body.utf8), exchange: exchange, routingKey: routingKey, properties: properties,
                          mandatory: mandatory)
    }

    /// Starts a consumer with manual acks and at most `prefetch` unacked deliveries.
    /// The tag stays the same across reconnects.
    public func consume(queue: String, prefetch: UInt16, consumerTag: String? = nil,
                        arguments: AMQPTable = [:]) async throws -> AMQPConsumer {
        let tag = consumerTag ?? "swift-\(UUID().uuidString.lowercased())"
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [AMQPDelivery].self)
        let record = ConsumerRecord(tag: tag, queue: queue, prefetch: prefetch, arguments: arguments,
                                    continuation: continuation)
        try await loop.submit { loop in try loop.startConsumer(record) }
        continuation.onTermination = { [loop] _ in
            loop.post { $0.cancelConsumer(tag: tag) }
        }
        return AMQPConsumer(tag: tag, queue: queue, stream: stream, loop: loop, record: record)
    }

    /// Closes the connection: consumers end, unconfirmed publishes throw, held deliveries can
    /// no longer be settled (the broker requeues them).
    public func close() async {
        await loop.stop()
    }
}
