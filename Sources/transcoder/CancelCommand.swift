import ArgumentParser
import Foundation
import RabbitMQ
import TranscodingService

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel jobs: a running attempt stops within seconds and stores nothing; a waiting one never starts.",
        discussion: "Goes through the broker (the cancel stream every worker reads), so it needs no API. Each job ends with a `cancelled` progress message once a worker sees it.")

    @Argument(help: "Job ids to cancel.") var jobIDs: [String]
    @OptionGroup var config: ConfigOptions

    func run() async throws {
        let configuration = try await loadConfiguration(config.envFile, requireStorage: false)
        LogSetup.bootstrap(level: .warning, json: false)
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: configuration.amqpURL))
        try await configuration.topology.declare(on: connection)
        let client = JobClient(connection: connection, topology: configuration.topology)
        for id in jobIDs {
            try await client.cancel(jobID: id, requestedBy: "cli@\(ProcessInfo.processInfo.hostName)")
            print("cancel requested: \(id)")
        }
        await connection.close()
    }
}
