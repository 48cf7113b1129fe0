import ArgumentParser
import Foundation
import RabbitMQ
import TranscodingService

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Follow progress messages (of the given jobs, or all) without consuming the shared progress queue.")

    @Argument(help: "Job ids to follow; none follows every job.") var jobIDs: [String] = []
    @Flag(help: "Print each message as raw JSON.") var json = false
    @OptionGroup var config: ConfigOptions

    func run() async throws {
        let configuration = try await loadConfiguration(config.envFile, requireStorage: false)
        LogSetup.bootstrap(level: .warning, json: false)
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: configuration.amqpURL))
        let stream = try await JobClient(connection: connection, topology: configuration.topology).follow(jobIDs: jobIDs)
        var remaining = Set(jobIDs)
        for try await message in stream {
            if json {
                print(String(decoding: message.encoded(), as: UTF8.self))
            } else {
                var line = "\(message.timestamp) \(message.jobID ?? "-") \(message.state.rawValue) \(message.progress)%"
                if let fps = message.fps { line += " \(fps) fps" }
                if let eta = message.etaSeconds { line += " eta \(Int(eta))s" }
                if let code = message.errorCode { line += " \(code.rawValue): \(message.errorMessage ?? "")" }
                if let retry = message.retryInSeconds { line += " (attempt \(message.attempt ?? 1); next in \(retry) s)" }
                if message.state == .completed { line += " -> \(message.outputKey ?? "") (\(message.outputSize ?? 0) bytes)" }
                print(line)
            }
            if message.state.isFinal, let id = message.jobID, remaining.remove(id) != nil, remaining.isEmpty { break }
        }
        await connection.close()
    }
}
