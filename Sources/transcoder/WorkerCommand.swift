import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TranscodingService

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Consume transcoding jobs until SIGTERM/SIGINT (then finish held jobs within the grace period).")

    @OptionGroup var config: ConfigOptions

    func run() async throws {
        let configuration = try await loadConfiguration(config.envFile)
        LogSetup.bootstrap(level: configuration.logLevel, json: configuration.jsonLogs)
        let logger = Logger(label: "transcoder")
        // Before the worker exists: its metrics objects bind to the factory bootstrapped then,
        // and a port that is taken stops start-up before any connection is made.
        let registry = configuration.metricsPort > 0 ? MetricsServer.bootstrapMetrics() : nil
        let status = WorkerStatus()
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let registry {
            do {
                let server = try await MetricsServer.listen(port: configuration.metricsPort, status: status,
                                                            registry: registry, logger: logger)
                services.append(.init(service: server, serviceName: "metrics"))
            } catch let error as MetricsServer.ListenError {
                FileHandle.standardError.write(Data("transcoder: \(error.description)\n".utf8))
                throw ExitCode(78)  // EX_CONFIG
            }
        }
        let worker = Worker(configuration: configuration, status: status, logger: logger)
        services.insert(.init(service: worker, serviceName: "worker"), at: 0)
        var groupConfiguration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint],
                                                           logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.gracePeriod + .seconds(30)
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// Loads the configuration or stops with one line naming the bad setting.
func loadConfiguration(_ envFile: String, requireStorage: Bool = true) async throws -> WorkerConfiguration {
    do {
        let configuration = try await WorkerConfiguration.load(environmentFile: envFile, requireStorage: requireStorage)
        LoadedConfiguration.set(configuration)
        return configuration
    } catch {
        FileHandle.standardError.write(Data("transcoder: configuration error: \(error)\n".utf8))
        throw ExitCode(78)  // EX_CONFIG
    }
}
