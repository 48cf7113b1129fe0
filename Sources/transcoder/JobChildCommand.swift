import ArgumentParser
import TranscodingService

/// The worker's child for one job's media work (see JobChild); not for people.
struct JobChildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job-child", abstract: "Internal: one job's media work, started by the worker.", shouldDisplay: false)

    func run() async throws {
        let status = await JobChild.run()
        if status != 0 { throw ExitCode(status) }
    }
}
