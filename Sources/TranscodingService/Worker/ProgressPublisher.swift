import Backoff
import Logging
import RabbitMQ

/// Publishes progress messages with publisher confirms on the progress exchange.
public struct ProgressPublisher: Sendable {
    private let connection: AMQPConnection
    let topology: Topology

    public init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    public func publish(_ message: ProgressMessage) async throws {
        let properties = MessageProperties(contentType: "application/json",
                                           headers: [Topology.finalHeader: .bool(message.state.isFinal)],
                                           persistent: message.state.isFinal)
        try await connection.publish(message.encoded(), exchange: topology.progressExchange,
                                     routingKey: message.jobID ?? "", properties: properties)
    }

    /// A job's outcome must reach the queue before the job is acked: retry through broker
    /// outages (the connection recovers by itself) for up to `patience`.
    func publishFinal(_ message: ProgressMessage, logger: Logger, patience: Duration = .seconds(300)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        var attempt = 1
        while true {
            do {
                return try await publish(message)
            } catch {
                guard clock.now < deadline, !Task.isCancelled else { throw error }
                logger.warning("final progress message not confirmed yet, retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff.delay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }
}
