import Foundation
import Logging
import Metrics
import RabbitMQ
import S3
import Synchronization
import Transcoding

extension Worker {
    /// One part of a segmented job. Never throws: the task is acked once its part is stored
    /// (or was already), once its failure is recorded for the coordinator, or when its job was
    /// cancelled; it goes back to the queue on shutdown or a passing failure.
    func handleSegment(_ delivery: AMQPDelivery, connection: AMQPConnection) async {
        inFlight.enter()
        defer { inFlight.leave() }
        guard let task = SegmentTask.decode(delivery.body), let job = try? JobRequest.decode(Array(task.job.utf8)) else {
            logger.warning("unreadable part task dropped", metadata: ["amqp.delivery_tag": "\(delivery.deliveryTag)"])
            try? await delivery.ack()
            return
        }
        var logger = self.logger
        logger[metadataKey: "job.id"] = "\(job.jobID)"
        logger[metadataKey: "job.part"] = "\(task.part)"
        let keys = SegmentKeys(jobID: job.jobID)
        let submittedAt = delivery.properties.headers[Topology.submittedAtHeader]?.intValue
        if cancels.isCancelled(job.jobID, submittedAt: submittedAt) {
            logger.info("part of a cancelled job dropped")
            try? await delivery.ack()
            return
        }
        // Done already: a redelivery after the part was stored, or a coordinator that queued it again.
        if (try? await storage.head(keys.encoded(task.part))) != nil {
            try? await delivery.ack()
            return
        }
        // No manifest: the job ended (completed, cancelled or dead-lettered) and its prefix is gone.
        do {
            _ = try await storage.head(keys.manifest)
        } catch let error as S3Error where error.isNotFound {
            logger.info("part of a job that has ended dropped")
            try? await delivery.ack()
            return
        } catch {
            try? await Task.sleep(for: .seconds(1))
            try? await delivery.nack(requeue: true)
            return
        }
        let events = PartEvents(connection: connection, topology: configuration.topology, jobID: job.jobID, part: task.part,
                                workerID: configuration.workerID)
        let deliveries = delivery.deliveryCount ?? (delivery.redelivered ? 1 : 0)
        if deliveries + 1 >= configuration.topology.deliveryLimit {
            // The broker drops this task after this delivery: record why, so the job fails with a reason.
            await recordPartFailure(JobFailure(.deliveryLimit, "it was delivered \(deliveries + 1) times without finishing (workers crashed or were stopped on it)"),
                                    keys: keys, events: events, delivery: delivery, logger: logger)
            return
        }
        logger.info("encoding part")
        let clock = ContinuousClock()
        let started = clock.now
        let work = Task {
            try await runner.encodePart(job, part: task.part, keys: keys, logger: logger) { p in
                events.progress(fraction: p.percent / 100, fps: p.fps)
            }
        }
        let stoppable = cancels.register(job.jobID, part: task.part, submittedAt: submittedAt) { work.cancel() }
        if !stoppable { work.cancel() }
        defer { if stoppable { cancels.unregister(job.jobID, part: task.part) } }
        do {
            _ = try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
            await events.send(.done)
            try? await delivery.ack()
            Counter(label: "transcoder_segments_total", dimensions: [("outcome", "completed")]).increment()
            Timer(label: "transcoder_segment_duration_seconds").record(clock.now - started)
        } catch where work.isCancelled && !Task.isCancelled {
            logger.info("part of a cancelled job stopped")
            try? await delivery.ack()
        } catch let failure as JobFailure where !Task.isCancelled {
            if FailurePolicy.isTransient(failure.code) {
                // Storage or disk trouble here: another worker (or this one, later) takes the part again.
                logger.warning("part failed for a passing reason; back to the queue", metadata: ["error": "\(failure.message)"])
                try? await Task.sleep(for: .seconds(1))
                try? await delivery.nack(requeue: true)
                return
            }
            await recordPartFailure(failure, keys: keys, events: events, delivery: delivery, logger: logger)
        } catch {
            logger.notice("part returned to the queue", metadata: ["error": "\(error)"])
            try? await delivery.nack(requeue: true)
        }
    }

    /// A part that will not succeed: stored under `failed/` (the coordinator's record), announced, acked.
    private func recordPartFailure(_ failure: JobFailure, keys: SegmentKeys, events: PartEvents, delivery: AMQPDelivery, logger: Logger) async {
        logger.warning("part failed", metadata: ["error.code": "\(failure.code.rawValue)", "error": "\(failure.message)"])
        Counter(label: "transcoder_segments_total", dimensions: [("outcome", "failed")]).increment()
        var event = events.event(.failed)
        event.errorCode = failure.code
        event.errorMessage = failure.message
        do {
            try await storage.put(event.encoded(), to: keys.failure(events.part), contentType: "application/json")
            await events.send(event)
            try? await delivery.ack()
        } catch {
            try? await delivery.nack(requeue: true)
        }
    }
}

/// A part's events to its coordinator: progress at most once a second, then done or failed.
final class PartEvents: Sendable {
    let connection: AMQPConnection
    let exchange: String
    let jobID: String
    let part: String
    let workerID: String
    private let lastSent = Mutex(ContinuousClock.now - .seconds(10))

    init(connection: AMQPConnection, topology: Topology, jobID: String, part: String, workerID: String) {
        self.connection = connection
        exchange = topology.segmentEventsExchange
        self.jobID = jobID
        self.part = part
        self.workerID = workerID
    }

    func event(_ state: SegmentEvent.State) -> SegmentEvent {
        SegmentEvent(jobID: jobID, part: part, workerID: workerID, state: state)
    }

    func progress(fraction: Double, fps: Double?) {
        let due = lastSent.withLock { last -> Bool in
            guard ContinuousClock.now - last >= .seconds(1) else { return false }
            last = .now
            return true
        }
        guard due else { return }
        var e = event(.running)
        e.fraction = min(1, max(0, fraction))
        e.fps = fps.flatMap { $0.isFinite ? ($0 * 10).rounded() / 10 : nil }
        Task { await send(e) }
    }

    func send(_ state: SegmentEvent.State) async { await send(event(state)) }

    /// A lost event costs the coordinator at most one listing period: the bucket is the record.
    func send(_ event: SegmentEvent) async {
        try? await connection.publish(event.encoded(), exchange: exchange, routingKey: jobID, properties: MessageProperties())
    }
}
