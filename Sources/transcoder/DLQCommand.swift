import ArgumentParser
import Foundation
import RabbitMQ
import TranscodingService

struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect and replay dead-lettered jobs.",
        subcommands: [List.self, Replay.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show dead-lettered jobs with their reasons (leaves them in place).")
        @Flag(help: "Print each job body as well.") var bodies = false
        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let entries = try await DeadLetters.open(config.envFile)
            defer { Task { await entries.connection.close() } }
            for entry in try await entries.all() {
                print("\(entry.jobID ?? "-")\t\(entry.reasonCode)\t\(entry.failedAt ?? "-")\t\(entry.reasonMessage)")
                if bodies { print("  " + String(decoding: entry.delivery.body, as: UTF8.self)) }
            }
            await entries.connection.close()  // unacked: every entry goes back to the queue
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send dead-lettered jobs back to the jobs queue.")
        @Argument(help: "Job ids to replay.") var jobIDs: [String] = []
        @Flag(help: "Replay every dead-lettered job.") var all = false
        @OptionGroup var config: ConfigOptions

        func validate() throws {
            guard all != !jobIDs.isEmpty else { throw ValidationError("give job ids or --all") }
        }

        func run() async throws {
            let entries = try await DeadLetters.open(config.envFile)
            var replayed = 0
            for entry in try await entries.all() where all || jobIDs.contains(entry.jobID ?? "") {
                var properties = entry.delivery.properties
                for header in [Topology.failureCodeHeader, Topology.failureMessageHeader, "x-failed-by", "x-failed-at",
                               "x-original-queue", "x-death", "x-first-death-exchange", "x-first-death-queue",
                               "x-first-death-reason", "x-delivery-count",
                               // A replay is a fresh start: the retry budget begins again.
                               Topology.attemptsHeader, Topology.attemptHistoryHeader] {
                    properties.headers[header] = nil
                }
                properties.persistent = true
                try await entries.connection.publish(entry.delivery.body, routingKey: entries.topology.jobsQueue,
                                                     properties: properties, mandatory: true)
                try await entry.delivery.ack()
                replayed += 1
                print("replayed \(entry.jobID ?? "-")")
            }
            await entries.connection.close()
            if replayed == 0 { throw ValidationError("no dead-lettered job matched") }
        }
    }
}

/// The dead-letter queue read without removing anything: deliveries stay unacked until
/// the caller acks one (replayed) or closes the connection (all go back).
struct DeadLetters {
    struct Entry {
        var delivery: AMQPDelivery
        var jobID: String? { JobRequest.jobID(in: delivery.body) }
        var reasonCode: String {
            delivery.headers[Topology.failureCodeHeader]?.stringValue
                ?? delivery.xDeath.first.map { "broker:\($0.reason)" } ?? "unknown"
        }
        var reasonMessage: String { delivery.headers[Topology.failureMessageHeader]?.stringValue ?? "" }
        var failedAt: String? { delivery.headers["x-failed-at"]?.stringValue }
    }

    let connection: AMQPConnection
    let topology: Topology

    static func open(_ envFile: String) async throws -> DeadLetters {
        let configuration = try await loadConfiguration(envFile, requireStorage: false)
        LogSetup.bootstrap(level: .warning, json: false)  // keep the listing free of connection logs
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: configuration.amqpURL))
        return DeadLetters(connection: connection, topology: configuration.topology)
    }

    /// Every message in the queue now (counted first, so this never waits for new ones).
    func all() async throws -> [Entry] {
        let count = Int(try await connection.queueInfo(topology.deadLetterQueue).messageCount)
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
}
