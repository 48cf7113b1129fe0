import Foundation

/// Takes messages one at a time with `basic.get` (manual ack), for a caller that decides
/// per message which queue to take from next: a worker with a free slot asks its priority
/// lanes in order, so it never holds a message it cannot start yet (a consumer's prefetch
/// would, and a quorum queue counts every message given back as a delivery).
///
/// Deliveries are settled like a consumer's; the puller's channel is reopened after a
/// reconnect (held deliveries then throw ``AMQPError/Code/deliveryGone``).
public struct AMQPPuller: Sendable {
    public let tag: String
    let loop: ConnectionLoop
    let record: ConsumerRecord

    /// One message of `queue`, or nil when it has none ready. Throws
    /// ``AMQPError/Code/notFound`` for a missing queue and ``AMQPError/Code/connectionClosed``
    /// while the connection is being re-established.
    public func get(from queue: String) async throws -> AMQPDelivery? {
        let record = self.record
        return try await loop.submit { loop in try loop.get(record, queue: queue) }
    }

    /// Closes the puller's channel once its held deliveries are settled.
    public func close() async {
        let tag = self.tag
        _ = try? await loop.submit(needsConnection: false) { loop in loop.cancelConsumer(tag: tag) }
    }
}

extension AMQPConnection {
    /// A puller on its own channel; it survives reconnects like a consumer.
    public func puller() async throws -> AMQPPuller {
        let tag = "swift-get-\(UUID().uuidString.lowercased())"
        let (_, continuation) = AsyncThrowingStream.makeStream(of: [AMQPDelivery].self)
        let record = ConsumerRecord(tag: tag, queue: "", prefetch: 0, arguments: [:], pull: true,
                                    continuation: continuation)
        try await loop.submit { loop in
            try loop.startConsumer(record)
        }
        return AMQPPuller(tag: tag, loop: loop, record: record)
    }
}
