import Backoff
import Foundation
import Logging
import Metrics
import RabbitMQ
import S3
import ServiceLifecycle
import Transcoding

/// The `transcoder worker` service: consumes jobs, runs them, reports progress, settles
/// each delivery only once its outcome is stored and reported.
///
/// At most `concurrency` jobs run at once: a slot that frees takes the next job of the
/// highest priority lane (``JobFeed``). On graceful shutdown
/// (SIGTERM) it stops taking jobs, lets those it holds finish for `gracePeriod`, then
/// cancels the rest, which go back to the queue.
public final class Worker: Service {
    let configuration: WorkerConfiguration
    let logger: Logger
    let storage: S3Client
    let engine: TranscodingEngine
    let runner: JobRunner
    let inFlight = InFlight()
    let active = ActiveJobs()
    let cancels = Cancellations()
    let heartbeats = Heartbeats()
    public let status: WorkerStatus

    /// `status` is passed in when something (the metrics listener) must exist before the worker.
    public init(configuration: WorkerConfiguration, status: WorkerStatus = WorkerStatus(), logger: Logger) {
        self.configuration = configuration
        self.status = status
        self.logger = logger
        storage = S3Client(configuration: configuration.s3, logger: Logger(label: "s3"))
        engine = TranscodingEngine(limits: EngineLimits(stallTimeout: configuration.stallTimeout,
                                                         overallTimeout: configuration.jobTimeout),
                                   logger: Logger(label: "transcoding"))
        let child = ChildEngine(executable: ChildEngine.currentExecutable, limits: engine.limits,
                                memoryLimitBytes: Int64(configuration.jobMemoryMB) << 20,
                                logLevel: configuration.logLevel, jsonLogs: configuration.jsonLogs)
        runner = JobRunner(storage: storage, engine: engine, child: child, scratchRoot: configuration.scratchDirectory,
                           minimumFreeBytes: configuration.minimumFreeBytes)
    }

    /// Serves until shutdown, then closes in order: held jobs settled (or requeued), then the
    /// broker connection, then the storage client; each is awaited, none left to a stray task.
    public func run() async throws {
        do {
            try await serve()
        } catch {
            try? await storage.shutdown()
            throw error
        }
        try? await storage.shutdown()
        logger.info("worker stopped")
    }

    private func serve() async throws {
        try FileManager.default.createDirectory(atPath: configuration.scratchDirectory, withIntermediateDirectories: true)
        let orphans = ScratchDirectory.removeOrphans(root: configuration.scratchDirectory)
        if orphans > 0 { logger.notice("removed scratch directories of dead workers", metadata: ["count": "\(orphans)"]) }
        try await checkStorage()
        let amqp = try await connect()
        do {
            try await consume(on: amqp)
        } catch {
            await amqp.close()
            throw error
        }
        await amqp.close()
    }

    private func consume(on amqp: AMQPConnection) async throws {
        status.set(connection: amqp, storage: storage)
        try await configuration.topology.declare(on: amqp)
        let publisher = ProgressPublisher(connection: amqp, topology: configuration.topology)
        let router = JobRouter(connection: amqp, topology: configuration.topology)
        // Every cancel so far is known before the first job is taken.
        let cancelStream = try await cancels.start(on: amqp, topology: configuration.topology)
        let following = Task { await cancels.follow(cancelStream, logger: logger) }
        defer { following.cancel() }
        if !(await cancels.caughtUp(within: .seconds(60))) {
            logger.warning("cancel stream not read to its end within 60 s; taking jobs anyway",
                           metadata: ["stream": "\(configuration.topology.cancelStream)"])
        }
        let feed = JobFeed(puller: try await amqp.puller(), topology: configuration.topology,
                           slots: configuration.concurrency, idleCeiling: configuration.idlePoll, logger: logger)
        let notices = try await amqp.consume(queue: configuration.topology.deadLetterNotifyQueue, prefetch: 1)
        logger.info("worker ready", metadata: [
            "worker.id": "\(configuration.workerID)", "concurrency": "\(configuration.concurrency)",
            "queues": "\(configuration.topology.jobsQueues.joined(separator: ","))", "amqp": "\(amqp.configuration)",
            "s3": "\(configuration.s3)",
        ])

        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.reportDeliveryLimits(notices, publisher: publisher) }
            group.addTask { await self.heartbeats.run(on: amqp, self.configuration, logger: self.logger) }
            await withGracefulShutdownHandler {
                await feed.run { delivery, lane in
                    let slot = feed.token()
                    group.addTask {
                        switch lane {
                        case .segments:
                            await self.handleSegment(delivery, connection: amqp)
                        case .jobs(let priority):
                            await self.handle(delivery, priority: priority, publisher: publisher, router: router, connection: amqp, slot: slot)
                        }
                        slot.release()
                    }
                }
            } onGracefulShutdown: {
                self.heartbeats.markStopping()
                feed.stop()
                Task { await notices.cancel() }
            }
            await notices.cancel()
            await drain()
            await cancelStream.cancel()
            group.cancelAll()
            await heartbeats.publish(heartbeats.beat(configuration, stopped: true), on: amqp, configuration)
        }
    }

    /// Waits for held jobs up to the grace period; the caller cancels what is left.
    private func drain() async {
        guard inFlight.count > 0 else { return }
        logger.notice("finishing held jobs before exit", metadata: [
            "jobs": "\(inFlight.count)", "grace_seconds": "\(configuration.gracePeriod.components.seconds)"])
        let grace = configuration.gracePeriod
        let drained = await withTaskGroup(of: Bool.self) { race in
            race.addTask { await self.inFlight.drained(); return true }
            race.addTask { try? await Task.sleep(for: grace); return false }
            let first = await race.next() ?? true
            race.cancelAll()
            return first
        }
        if !drained {
            logger.notice("grace period over: returning unfinished jobs to the queue", metadata: ["jobs": "\(inFlight.count)"])
        }
    }

    /// A missing bucket or refused credentials stop the worker at start, before it takes jobs
    /// it could only fail; storage that does not answer (yet) is only logged, since it may come
    /// back, and `/readyz` reports it meanwhile.
    private func checkStorage() async throws {
        do {
            _ = try await storage.listPage(prefix: "transcoder-readyz/", maxKeys: 1)
        } catch let error as S3Error where !error.isTransient {
            throw error
        } catch {
            logger.warning("storage not reachable at start; jobs fail with storage_unavailable until it is", metadata: [
                "error": "\(ErrorAdvice.sentence(for: error, configuration: configuration))"])
        }
    }

    /// Connects, waiting for a broker that is still starting (unreachable) for up to a minute;
    /// bad credentials or TLS problems fail at once.
    private func connect() async throws -> AMQPConnection {
        var config = try AMQPConfiguration(url: configuration.amqpURL)
        config.connectionName = "transcoder worker \(configuration.workerID)"
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        let backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(5))
        var attempt = 1
        while true {
            do {
                return try await AMQPConnection.connect(config, logger: Logger(label: "amqp"))
            } catch let error as AMQPError where error.code == .unreachable && clock.now < deadline {
                logger.warning("broker not reachable yet, retrying", metadata: [
                    "error": "\(ErrorAdvice.sentence(for: error, configuration: configuration))"])
                try await Task.sleep(for: backoff.delay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }
}
