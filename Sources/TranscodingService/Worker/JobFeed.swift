import Logging
import RabbitMQ
import Synchronization

/// Takes a job for each free slot, asking the lanes highest priority first (basic.get).
///
/// A consumer's prefetch would hold messages the worker cannot start yet, out of reach of
/// other workers and of a later high-priority job; and a quorum queue (3.10 has no
/// priorities of its own) counts every message given back as a delivery. Pulling holds
/// nothing: a high job published behind any number of normal ones is the next job of the
/// first worker with a free slot. The price is polling while idle, backed off from 10 ms to
/// `idleCeiling` (`TRANSCODER_IDLE_POLL_MS`; docs/priorities.md has the measurements).
final class JobFeed: Sendable {
    private struct State {
        var free: Int
        var stopped = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state: Mutex<State>
    private let puller: AMQPPuller
    private let lanes: [(priority: JobPriority, queue: String)]
    private let idleCeiling: Duration
    private let logger: Logger

    init(puller: AMQPPuller, topology: Topology, slots: Int, idleCeiling: Duration, logger: Logger) {
        self.puller = puller
        lanes = JobPriority.descending.map { ($0, topology.jobsQueue($0)) }
        state = Mutex(State(free: slots))
        self.idleCeiling = idleCeiling
        self.logger = logger
    }

    /// Hands each job taken to `start` until ``stop()``. The caller calls ``release()`` once
    /// the job is settled.
    func run(_ start: (AMQPDelivery, JobPriority) -> Void) async {
        var idle = Duration.milliseconds(10)
        while await slot() {
            do {
                if let (delivery, priority) = try await take() {
                    idle = .milliseconds(10)
                    start(delivery, priority)
                    continue
                }
                release()
                try await Task.sleep(for: idle)
                idle = min(idle * 2, idleCeiling)
            } catch {
                release()
                // Reconnecting, or a lane deleted under us (declared again after a reconnect).
                logger.warning("cannot take jobs; trying again in 1 s", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// One job from the highest lane that has one.
    private func take() async throws -> (AMQPDelivery, JobPriority)? {
        for lane in lanes {
            if let delivery = try await puller.get(from: lane.queue) { return (delivery, lane.priority) }
        }
        return nil
    }

    /// Waits for a free slot and takes it; false once stopped.
    private func slot() async -> Bool {
        while true {
            let ready = state.withLock { s -> Bool? in
                if s.stopped { return false }
                if s.free > 0 { s.free -= 1; return true }
                return nil
            }
            if let ready { return ready }
            await withCheckedContinuation { continuation in
                let now = state.withLock { s -> Bool in
                    if s.stopped || s.free > 0 { return true }
                    s.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// A slot is free again (its job settled, or the look found nothing).
    func release() {
        state.withLock { s in
            s.free += 1
            return s.waiter.take()
        }?.resume()
    }

    /// Takes no more jobs; `run` returns.
    func stop() {
        state.withLock { s in
            s.stopped = true
            return s.waiter.take()
        }?.resume()
    }
}
