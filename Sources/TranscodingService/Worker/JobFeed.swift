import Logging
import RabbitMQ
import Synchronization

/// Takes a job for each free slot, asking the lanes highest priority first (basic.get);
/// before any of them, the parts of segmented jobs already started (docs/segmenting.md):
/// finishing what has begun keeps the number of half-done jobs, and their scratch, bounded.
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
    enum Lane: Sendable, Equatable {
        case segments
        case jobs(JobPriority)
    }
    private let lanes: [(lane: Lane, queue: String)]
    private let idleCeiling: Duration
    private let logger: Logger

    init(puller: AMQPPuller, topology: Topology, slots: Int, idleCeiling: Duration, logger: Logger) {
        self.puller = puller
        lanes = [(.segments, topology.segmentsQueue)] + JobPriority.descending.map { (.jobs($0), topology.jobsQueue($0)) }
        state = Mutex(State(free: slots))
        self.idleCeiling = idleCeiling
        self.logger = logger
    }

    /// Hands each job taken to `start` until ``stop()``. The caller calls ``release()`` once
    /// the job is settled.
    func run(_ start: (AMQPDelivery, Lane) -> Void) async {
        var idle = Duration.milliseconds(10)
        while await slot() {
            do {
                if let (delivery, lane) = try await take() {
                    idle = .milliseconds(10)
                    start(delivery, lane)
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
    private func take() async throws -> (AMQPDelivery, Lane)? {
        for lane in lanes {
            if let delivery = try await puller.get(from: lane.queue) { return (delivery, lane.lane) }
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

    /// A slot that can be given back early (a coordinator waiting for its parts) and is
    /// given back once in any case.
    func token() -> SlotToken { SlotToken(feed: self) }

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

/// One taken slot; ``release()`` frees it the first time only.
final class SlotToken: Sendable {
    private let feed: JobFeed
    private let released = Atomic<Bool>(false)
    init(feed: JobFeed) { self.feed = feed }
    func release() {
        if !released.exchange(true, ordering: .relaxed) { feed.release() }
    }
}
