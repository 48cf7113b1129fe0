import Foundation
import RabbitMQ

/// What `transcoder submit` and `watch` (and tests) use to talk to workers.
public struct JobClient: Sendable {
    public let connection: AMQPConnection
    public let topology: Topology

    public init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    /// Publishes a job (persistent, confirmed) the way the seed's clients do: default
    /// exchange, routing key = the jobs queue of its priority (normal: the seed's queue).
    /// `mandatory` makes a missing queue an error.
    public func submit(_ job: JobRequest, priority: JobPriority = .normal) async throws {
        try await submit(body: Self.body(job), jobID: job.jobID, priority: priority)
    }

    /// Publishes a job message already encoded (by ``body(_:)``).
    public func submit(body: [UInt8], jobID: String, priority: JobPriority = .normal) async throws {
        let properties = MessageProperties(contentType: "application/json",
                                           headers: [Topology.submittedAtHeader: .int(CancelRequest.milliseconds(Date()))],
                                           messageId: jobID)
        try await connection.publish(body, routingKey: topology.jobsQueue(priority), properties: properties,
                                     mandatory: true)
    }

    /// Asks every worker to cancel the job: a running attempt stops, a waiting copy never starts.
    public func cancel(jobID: String, requestedBy: String?) async throws {
        let request = CancelRequest(jobID: jobID, requestedBy: requestedBy)
        try await connection.publish(request.encoded(), routingKey: topology.cancelStream,
                                     properties: MessageProperties(contentType: "application/json", persistent: true),
                                     mandatory: true)
    }

    /// A job as it travels: JSON with sorted keys.
    public static func body(_ job: JobRequest) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A struct of strings, integers and finite numbers always encodes.
        return Array((try? encoder.encode(job)) ?? Data())
    }

    /// Follows progress without taking messages from the shared progress queue: a private
    /// queue bound to the progress exchange for the given jobs (all jobs when empty).
    /// Bind before submitting so that no message is missed.
    public func follow(jobIDs: [String]) async throws -> ProgressStream {
        let name = "transcoder.watch.\(UUID().uuidString.lowercased())"
        _ = try await connection.declare(queue: QueueSpec(name: name, durable: false, exclusive: true, autoDelete: true,
                                                          arguments: ["x-expires": .int(60_000)]))
        for key in jobIDs.isEmpty ? ["#"] : jobIDs {
            try await connection.bind(BindingSpec(queue: name, exchange: topology.progressExchange, routingKey: key))
        }
        let consumer = try await connection.consume(queue: name, prefetch: 100)
        return ProgressStream(consumer: consumer)
    }
}

/// Progress messages as they arrive; undecodable messages are skipped.
public struct ProgressStream: AsyncSequence, Sendable {
    public typealias Element = ProgressMessage
    let consumer: AMQPConsumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AMQPConsumer.AsyncIterator
        public mutating func next() async throws -> ProgressMessage? {
            while let delivery = try await base.next() {
                try? await delivery.ack()
                if let message = try? JSONDecoder().decode(ProgressMessage.self, from: Data(delivery.body)) {
                    return message
                }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: consumer.makeAsyncIterator()) }

    public func cancel() async { await consumer.cancel() }
}
