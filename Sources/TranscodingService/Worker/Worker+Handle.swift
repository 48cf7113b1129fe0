import Foundation
import Logging
import Metrics
import RabbitMQ

extension Worker {
    /// One delivery from start to settlement. Never throws: every outcome ends in an ack
    /// (completed, or failed and dead-lettered) or a requeue (shutdown).
    func handle(_ delivery: AMQPDelivery, priority: JobPriority, publisher: ProgressPublisher, router: JobRouter,
                connection: AMQPConnection, slot: SlotToken) async {
        inFlight.enter()
        defer { inFlight.leave() }
        let clock = ContinuousClock()
        let started = clock.now
        // Retries are new messages carrying the attempts before them; redeliveries count on top.
        let earlier = Int(delivery.properties.headers[Topology.attemptsHeader]?.intValue ?? 0)
        let attempt = earlier + (delivery.deliveryCount ?? (delivery.redelivered ? 1 : 0)) + 1
        var logger = self.logger
        logger[metadataKey: "amqp.delivery_tag"] = "\(delivery.deliveryTag)"
        logger[metadataKey: "job.attempt"] = "\(attempt)"

        let job: JobRequest
        do {
            job = try JobRequest.decode(delivery.body)
        } catch {
            logger[metadataKey: "job.id"] = "\(error.jobID ?? "-")"
            let message = ProgressMessage(jobID: error.jobID, progress: 0, state: .queued,
                                          workerID: configuration.workerID, attempt: attempt).failing(error)
            await settleFailure(delivery, priority: priority, failure: error, message: message, attempt: attempt,
                                publisher: publisher, router: router, logger: logger)
            return
        }
        logger[metadataKey: "job.id"] = "\(job.jobID)"
        let submittedAt = delivery.properties.headers[Topology.submittedAtHeader]?.intValue
        if cancels.isCancelled(job.jobID, submittedAt: submittedAt) {
            await settleCancelled(delivery, ProgressMessage(jobID: job.jobID, progress: 0, state: .cancelled,
                                                            workerID: configuration.workerID, attempt: attempt),
                                  publisher: publisher, logger: logger)
            return
        }
        while case .duplicate(let outcome) = await active.claim(job.jobID, redelivered: delivery.redelivered) {
            guard outcome != .interrupted else { continue }  // that attempt gave the job back: run it
            logger.notice("redelivery of a job this worker already finished; settled without running it again",
                          metadata: ["outcome": "\(outcome)"])
            try? await delivery.ack()
            return
        }
        var outcome = ActiveJobs.Outcome.interrupted
        defer { active.release(job.jobID, outcome) }
        logger.info("job received", metadata: ["s3.input": "\(job.inputKey)", "s3.output": "\(job.outputKey)"])

        var base = ProgressMessage(jobID: job.jobID, progress: 0, state: .queued, workerID: configuration.workerID,
                                   startedAt: Date(), attempt: attempt)
        base.inputKey = job.inputKey
        base.priority = priority
        let reporter = ProgressReporter(base: base, publisher: publisher.publish, logger: logger)
        heartbeats.add(job.jobID, reporter)
        defer { heartbeats.remove(job.jobID) }
        reporter.update(.queued, fraction: 0)
        // The attempt runs in its own task so that a cancel request stops it alone.
        let segments = SegmentContext(connection: connection, topology: configuration.topology,
                                      threshold: configuration.segmentThreshold, defaultSeconds: configuration.segmentSeconds,
                                      jobBody: delivery.body, submittedAt: submittedAt, releaseSlot: { slot.release() },
                                      deadline: .now + configuration.jobTimeout, resumable: attempt > 1)
        let work = Task { try await runner.run(job, reporter: reporter, logger: logger, segments: segments) }
        let stoppable = cancels.register(job.jobID, submittedAt: submittedAt) { work.cancel() }
        if !stoppable { work.cancel() }
        defer { if stoppable { cancels.unregister(job.jobID) } }
        do {
            let done = try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
            await reporter.close()
            var message = reporter.final(.completed)
            message.outputKey = done.outputKey
            message.outputSize = done.outputSize
            message.durationSeconds = (done.durationSeconds * 1000).rounded() / 1000
            message.outputCodec = done.codec
            message.outputWidth = done.width
            message.outputHeight = done.height
            try await publisher.publishFinal(message, logger: logger)
            outcome = .completed
            Counter(label: "transcoder_jobs_total", dimensions: [("outcome", "completed")]).increment()
            Timer(label: "transcoder_job_duration_seconds").record(clock.now - started)
            try await delivery.ack()
            logger.info("job completed", metadata: [
                "output.bytes": "\(done.outputSize)", "elapsed_seconds": "\((clock.now - started).components.seconds)"])
        } catch where work.isCancelled && !Task.isCancelled {
            // Stopped by a cancel request (not by shutdown): the runner removed its scratch
            // space and every object it had stored.
            await reporter.close()
            if segments.trace.hasStored { await SegmentCoordinator.discard(SegmentKeys(jobID: job.jobID), storage: storage) }
            await settleCancelled(delivery, reporter.final(.cancelled), publisher: publisher, logger: logger)
            outcome = .failed
        } catch let failure as JobFailure where !Task.isCancelled {
            await reporter.close()
            await settleFailure(delivery, priority: priority, failure: failure,
                                message: reporter.final(.failed).failing(failure), attempt: attempt,
                                publisher: publisher, router: router, logger: logger, segmentsStored: segments.trace.hasStored)
            outcome = .failed
        } catch {
            await reporter.close()
            if Task.isCancelled {
                // Shutdown: the job is not at fault; another worker takes it from the start.
                logger.notice("job returned to the queue (worker stopping)")
                Counter(label: "transcoder_jobs_total", dimensions: [("outcome", "requeued")]).increment()
            } else {
                // Could not report or ack (broker gone): the broker requeues it by itself.
                logger.warning("job outcome not settled; the broker will redeliver it", metadata: ["error": "\(error)"])
                Counter(label: "transcoder_jobs_total", dimensions: [("outcome", "unsettled")]).increment()
            }
            try? await delivery.nack(requeue: true)
        }
    }

    /// A cancelled job is acked, not dead-lettered: nobody wants it run again.
    func settleCancelled(_ delivery: AMQPDelivery, _ message: ProgressMessage, publisher: ProgressPublisher,
                         logger: Logger) async {
        logger.notice("job cancelled on request")
        Counter(label: "transcoder_jobs_total", dimensions: [("outcome", "cancelled")]).increment()
        do {
            try await publisher.publishFinal(message, logger: logger)
            try await delivery.ack()
        } catch {
            try? await delivery.nack(requeue: true)
        }
    }

    /// Settles a failed attempt as ``FailurePolicy`` decides: a retry goes to its delay
    /// queue, anything else to the dead-letter queue with its reason; then the delivery is
    /// acked. If the copy cannot be made, a retry is requeued and a dead letter rejected
    /// (the broker dead-letters it), so the job is never lost.
    func settleFailure(_ delivery: AMQPDelivery, priority: JobPriority, failure: JobFailure, message: ProgressMessage, attempt: Int,
                       publisher: ProgressPublisher, router: JobRouter, logger: Logger, segmentsStored: Bool = false) async {
        let topology = configuration.topology
        var properties = delivery.properties
        properties.persistent = true
        // The broker's own bookkeeping of this copy; a new copy starts its own.
        properties.headers["x-delivery-count"] = nil
        let decision = FailurePolicy.decide(failure.code, attempt: attempt, limits: topology.retry,
                                            jitter: Double.random(in: 0...1))
        if case .retry(let delay, let tier) = decision {
            logger.notice("job failed for a passing reason; retrying", metadata: [
                "error.code": "\(failure.code.rawValue)", "error": "\(failure.message)", "retry.delay": "\(delay)"])
            Counter(label: "transcoder_jobs_total", dimensions: [("outcome", "retried")]).increment()
            var retrying = message
            retrying.state = .retrying
            let ms = max(1, delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)
            retrying.retryInSeconds = (Double(ms) / 100).rounded() / 10
            properties.headers[Topology.attemptsHeader] = .int(Int64(attempt))
            properties.headers[Topology.attemptHistoryHeader] = .array(history(properties, attempt: attempt, failure, message))
            properties.expiration = String(ms)
            do {
                try? await publisher.publishFinal(retrying, logger: logger)
                try await router.retry(delivery.body, properties: properties, tier: tier, priority: priority)
                try await delivery.ack()
            } catch {
                try? await delivery.nack(requeue: true)
            }
            return
        }
        logger.warning("job failed", metadata: ["error.code": "\(failure.code.rawValue)", "error": "\(failure.message)"])
        // A segmented job's parts are of no use any more (a retried one keeps them).
        if segmentsStored, let id = message.jobID { await SegmentCoordinator.discard(SegmentKeys(jobID: id), storage: storage) }
        Counter(label: "transcoder_jobs_total", dimensions: [("outcome", "failed")]).increment()
        do {
            try await publisher.publishFinal(message, logger: logger)
        } catch {
            logger.error("could not report the failure", metadata: ["error": "\(error)"])
        }
        properties.expiration = nil
        properties.headers[Topology.failureCodeHeader] = .string(failure.code.rawValue)
        properties.headers[Topology.failureMessageHeader] = .string(failure.message)
        properties.headers["x-failed-by"] = .string(configuration.workerID)
        properties.headers["x-failed-at"] = .string(message.timestamp)
        properties.headers["x-original-queue"] = .string(topology.jobsQueue(priority))
        if attempt > 1 { properties.headers[Topology.attemptsHeader] = .int(Int64(attempt)) }
        do {
            try await router.deadLetter(delivery.body, properties: properties)
            try await delivery.ack()
        } catch {
            try? await delivery.reject(requeue: false)
        }
    }

    /// The attempt history so far plus this attempt, one line each.
    private func history(_ properties: MessageProperties, attempt: Int, _ failure: JobFailure,
                         _ message: ProgressMessage) -> [AMQPValue] {
        var lines: [AMQPValue] = []
        if case .array(let earlier)? = properties.headers[Topology.attemptHistoryHeader] { lines = earlier }
        lines.append(.string("attempt \(attempt) (\(configuration.workerID), \(message.timestamp)): \(failure.code.rawValue): \(failure.message)"))
        return lines
    }

    /// Jobs the broker gave up on (delivery limit: workers kept dying on them) get their
    /// failed message here, since no worker lived to send it.
    func reportDeliveryLimits(_ notices: AMQPConsumer, publisher: ProgressPublisher) async {
        do {
            for try await notice in notices {
                let message = ProgressMessage(jobID: JobRequest.jobID(in: notice.body), progress: 0, state: .queued,
                                              workerID: configuration.workerID, attempt: configuration.topology.deliveryLimit)
                    .failing(JobFailure(.deliveryLimit, "the job was delivered \(configuration.topology.deliveryLimit) times without finishing (workers crashed or were stopped on it); it is in \(configuration.topology.deadLetterQueue)"))
                if notice.xDeath.contains(where: { $0.reason == "delivery_limit" }) {
                    Counter(label: "transcoder_jobs_total", dimensions: [("outcome", "failed")]).increment()
                    try? await publisher.publishFinal(message, logger: logger)
                }
                try? await notice.ack()
            }
        } catch {
            logger.debug("dead-letter notice consumer ended", metadata: ["error": "\(error)"])
        }
    }
}
