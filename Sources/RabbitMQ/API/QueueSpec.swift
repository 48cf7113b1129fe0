/// A queue to declare; the connection records it and declares it again after a reconnect.
public struct QueueSpec: Sendable, Hashable {
    public var name: String
    public var durable: Bool
    public var exclusive: Bool
    public var autoDelete: Bool
    /// `x-queue-type`, `x-dead-letter-exchange`, `x-delivery-limit`, `x-max-length`, ...
    public var arguments: AMQPTable

    public init(name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
                arguments: AMQPTable = [:]) {
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.arguments = arguments
    }

    /// A durable quorum queue that dead-letters a message once it has been delivered
    /// `deliveryLimit` + 1 times, the shape job queues need against poison messages.
    public static func quorum(_ name: String, deliveryLimit: Int? = nil, deadLetterExchange: String? = nil,
                              deadLetterRoutingKey: String? = nil) -> QueueSpec {
        var args: AMQPTable = ["x-queue-type": "quorum"]
        if let deliveryLimit { args["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
        if let deadLetterExchange { args["x-dead-letter-exchange"] = .string(deadLetterExchange) }
        if let deadLetterRoutingKey { args["x-dead-letter-routing-key"] = .string(deadLetterRoutingKey) }
        return QueueSpec(name: name, arguments: args)
    }
}

/// What a passive declare reports about a queue.
public struct QueueInfo: Sendable, Hashable {
    public var name: String
    /// Messages ready for delivery (not counting unacknowledged ones).
    public var messageCount: UInt32
    public var consumerCount: UInt32
}
