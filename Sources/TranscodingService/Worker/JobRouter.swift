import RabbitMQ

/// Where a failed job's message goes: a retry queue or the dead-letter queue. The one door
/// for both, so the failure policy's decision has one owner (`Worker.settleFailure`) and
/// nothing else publishes job bodies.
struct JobRouter: Sendable {
    private let connection: AMQPConnection
    let topology: Topology

    init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    /// Into the delay queue of `tier` of its lane; the broker dead-letters it back into the
    /// lane when its per-message TTL (`properties.expiration`) runs out.
    func retry(_ body: [UInt8], properties: MessageProperties, tier: Duration, priority: JobPriority) async throws {
        try await connection.publish(body, routingKey: topology.retryQueue(tier: tier, priority: priority),
                                     properties: properties)
    }

    func deadLetter(_ body: [UInt8], properties: MessageProperties) async throws {
        try await connection.publish(body, routingKey: topology.deadLetterQueue, properties: properties)
    }
}
