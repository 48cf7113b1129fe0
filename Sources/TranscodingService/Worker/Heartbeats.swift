import Foundation
import Logging
import RabbitMQ
import Synchronization

/// Publishes this worker's ``WorkerHeartbeat`` every ``WorkerHeartbeat/interval``, so that
/// the job service can list live and lost workers and what they run.
final class Heartbeats: Sendable {
    private let reporters = Mutex<[String: ProgressReporter]>([:])
    private let stopping = Atomic<Bool>(false)
    let startedAt = Date()

    func add(_ id: String, _ reporter: ProgressReporter) { reporters.withLock { $0[id] = reporter } }
    func remove(_ id: String) { _ = reporters.withLock { $0.removeValue(forKey: id) } }
    func markStopping() { stopping.store(true, ordering: .relaxed) }

    func beat(_ configuration: WorkerConfiguration, stopped: Bool = false) -> WorkerHeartbeat {
        let jobs = reporters.withLock { $0 }.map { id, reporter in
            let now = reporter.snapshot()
            return WorkerHeartbeat.Job(jobID: id, state: now.state, progress: now.progress,
                                       fps: now.fps.map { ($0 * 10).rounded() / 10 })
        }.sorted { $0.jobID < $1.jobID }
        return WorkerHeartbeat(
            workerID: configuration.workerID, host: ProcessInfo.processInfo.hostName, version: BuildInfo.version,
            pid: ProcessInfo.processInfo.processIdentifier, startedAt: ProgressMessage.format(startedAt),
            timestamp: ProgressMessage.format(Date()),
            state: stopped ? "stopped" : stopping.load(ordering: .relaxed) ? "stopping" : "running",
            concurrency: configuration.concurrency, jobs: jobs, load: WorkerHeartbeat.loadAverage())
    }

    /// Until cancelled. A heartbeat nobody reads is dropped by the exchange; one the broker
    /// cannot take now is skipped (the next follows).
    func run(on connection: AMQPConnection, _ configuration: WorkerConfiguration, logger: Logger) async {
        while !Task.isCancelled {
            await publish(beat(configuration), on: connection, configuration)
            try? await Task.sleep(for: WorkerHeartbeat.interval)
        }
    }

    func publish(_ heartbeat: WorkerHeartbeat, on connection: AMQPConnection, _ configuration: WorkerConfiguration) async {
        try? await connection.publish(heartbeat.encoded(), exchange: configuration.topology.workersExchange, routingKey: "",
                                      properties: MessageProperties(contentType: "application/json", persistent: false))
    }
}
