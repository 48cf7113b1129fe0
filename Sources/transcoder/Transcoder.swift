import ArgumentParser

@main
struct Transcoder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcoder",
        abstract: "Distributed video transcoding: RabbitMQ jobs, S3 storage, GStreamer.",
        discussion: "Settings come from the environment and a .env file (see docs/operations.md).",
        subcommands: [WorkerCommand.self, SubmitCommand.self, WatchCommand.self, RunCommand.self,
                      PresetsCommand.self, ValidateCommand.self, DLQCommand.self]
    )
}

/// Options every command that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("env-file"), help: "A .env file to read (the environment wins).")
    var envFile = ".env"
}
