import ArgumentParser
import Foundation
import Synchronization
import TranscodingService

@main
struct Transcoder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcoder",
        abstract: "Distributed video transcoding: RabbitMQ jobs, S3 storage, GStreamer.",
        discussion: "Settings come from the environment and a .env file (see docs/operations.md).",
        version: BuildInfo.version,
        subcommands: [WorkerCommand.self, SubmitCommand.self, WatchCommand.self, RunCommand.self,
                      PresetsCommand.self, ValidateCommand.self, CancelCommand.self, DLQCommand.self, APICommand.self, JobChildCommand.self]
    )

    /// ArgumentParser's own main, except that an error a command throws is printed once, as
    /// ``ErrorAdvice`` words it (one line naming the object and the fix), instead of as
    /// `Error: <the error's description>`.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // ArgumentParser's own errors keep their usage and help output.
            // (help and usage errors can reach here too, as ArgumentParser's internal CommandError).
            if error is ExitCode || error is ValidationError || error is CleanExit
                || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") { exit(withError: error) }
            let advice = ErrorAdvice.advice(for: error, configuration: LoadedConfiguration.current)
            FileHandle.standardError.write(Data("transcoder: \(advice.sentence)\n".utf8))
            exit(withError: ExitCode(advice.isConfiguration ? 78 : 1))  // 78: EX_CONFIG
        }
    }
}

/// The configuration the running command loaded, so that its errors can name the broker
/// and queues it used.
enum LoadedConfiguration {
    private static let value = Mutex<WorkerConfiguration?>(nil)
    static var current: WorkerConfiguration? { value.withLock { $0 } }
    static func set(_ configuration: WorkerConfiguration) { value.withLock { $0 = configuration } }
}

/// Options every command that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("env-file"), help: "A .env file to read (the environment wins).")
    var envFile = ".env"
}
