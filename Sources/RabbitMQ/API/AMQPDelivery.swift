import Foundation

/// A message handed to a consumer; settle it exactly once with ``ack()``, ``nack(requeue:)``
/// or ``reject(requeue:)``.
///
/// Holding a delivery unacked for hours is fine: the connection thread keeps heartbeats
/// flowing meanwhile (mind the broker's `consumer_timeout`). A delivery belongs to the
/// connection and channel that delivered it: after a reconnect its settle methods throw
/// ``AMQPError/Code/deliveryGone`` and the broker redelivers the message.
public struct AMQPDelivery: Sendable {
    public let body: [UInt8]
    public let properties: MessageProperties
    public let exchange: String
    public let routingKey: String
    /// True when the broker delivered this message before (to us or someone else).
    public let redelivered: Bool
    public let deliveryTag: UInt64
    public let consumerTag: String
    let token: DeliveryToken

    init(body: [UInt8], properties: MessageProperties, exchange: String, routingKey: String, redelivered: Bool,
         deliveryTag: UInt64, consumerTag: String, token: DeliveryToken) {
        self.body = body
        self.properties = properties
        self.exchange = exchange
        self.routingKey = routingKey
        self.redelivered = redelivered
        self.deliveryTag = deliveryTag
        self.consumerTag = consumerTag
        self.token = token
    }

    public var headers: AMQPTable { properties.headers }

    /// How many times a quorum queue delivered this message before (`x-delivery-count`);
    /// nil on the first delivery and on classic queues.
    public var deliveryCount: Int? { headers["x-delivery-count"]?.intValue.map { Int($0) } }

    /// The dead-lettering history (`x-death`), newest first, as the broker keeps it.
    public var xDeath: [XDeath] { headers["x-death"]?.arrayValue?.compactMap { $0.tableValue.map(XDeath.init) } ?? [] }

    /// Tells the broker the message is done; it will not be delivered again.
    /// (`nonisolated(nonsending)`, as the other settle methods: it never suspends, so it
    /// runs on the caller's executor without a hop.)
    nonisolated(nonsending) public func ack() async throws { try settle(.ack) }

    /// Gives the message back (`requeue: true`) or dead-letters / drops it (`false`).
    nonisolated(nonsending) public func nack(requeue: Bool) async throws { try settle(.nack(requeue: requeue)) }

    /// Like ``nack(requeue:)``, with the AMQP 0-9-1 `basic.reject` method.
    nonisolated(nonsending) public func reject(requeue: Bool) async throws { try settle(.reject(requeue: requeue)) }

    /// AMQP has no reply to an ack, so waiting for the connection thread to write it would
    /// prove nothing more: check that the delivering channel is still the live one, queue
    /// the frame and return. The thread checks again before writing, so an ack never goes
    /// out on a replaced channel or connection (if the connection dies in between, the
    /// broker requeues the message, just as for ``AMQPError/Code/deliveryGone``).
    private func settle(_ s: ConnectionLoop.Settlement) throws {
        let t = token
        guard t.record.liveEpoch.load(ordering: .acquiring) == t.epoch else {
            throw AMQPError(.deliveryGone,
                "delivery \(t.deliveryTag) came on a channel or connection that has since closed; the broker has requeued the message already (it comes again with redelivered=true), so it cannot be acked, nacked or rejected any more")
        }
        t.loop.enqueueSettlement(PendingSettlement(token: t, settlement: s))
    }
}

/// One entry of the `x-death` header: why and how often a message was dead-lettered from a queue.
public struct XDeath: Sendable, Hashable {
    public var queue: String
    /// `rejected`, `expired`, `maxlen` or `delivery_limit`.
    public var reason: String
    public var count: Int
    public var exchange: String
    public var routingKeys: [String]
    public var time: Date?

    public init(table: AMQPTable) {
        queue = table["queue"]?.stringValue ?? ""
        reason = table["reason"]?.stringValue ?? ""
        count = Int(table["count"]?.intValue ?? 0)
        exchange = table["exchange"]?.stringValue ?? ""
        routingKeys = table["routing-keys"]?.arrayValue?.compactMap(\.stringValue) ?? []
        time = table["time"]?.dateValue
    }
}
