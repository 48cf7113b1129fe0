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
            for entry in try await entries.take() {
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
            for entry in try await entries.take() where all || jobIDs.contains(entry.jobID ?? "") {
                try await entries.replay(entry)
                replayed += 1
                print("replayed \(entry.jobID ?? "-")")
            }
            await entries.connection.close()
            if replayed == 0 { throw ValidationError("no dead-lettered job matched") }
        }
    }
}

extension DeadLetters {
    static func open(_ envFile: String) async throws -> DeadLetters {
        let configuration = try await loadConfiguration(envFile, requireStorage: false)
        LogSetup.bootstrap(level: .warning, json: false)  // keep the listing free of connection logs
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: configuration.amqpURL))
        return DeadLetters(connection: connection, topology: configuration.topology)
    }
}
