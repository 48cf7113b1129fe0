import Metrics
import Synchronization

/// Counts the jobs a worker holds, so that shutdown can wait for them to drain.
final class InFlight: Sendable {
    private let state = Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))
    private let gauge = Gauge(label: "transcoder_jobs_in_flight")

    func enter() {
        let count = state.withLock { $0.count += 1; return $0.count }
        gauge.record(count)
    }

    func leave() {
        let (count, waiters) = state.withLock { s -> (Int, [CheckedContinuation<Void, Never>]) in
            s.count -= 1
            guard s.count == 0 else { return (s.count, []) }
            defer { s.waiters = [] }
            return (0, s.waiters)
        }
        gauge.record(count)
        waiters.forEach { $0.resume() }
    }

    var count: Int { state.withLock { $0.count } }

    /// Returns when no job is held.
    func drained() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> Bool in
                if s.count == 0 { return true }
                s.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}
