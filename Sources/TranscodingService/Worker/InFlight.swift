import Metrics
import Synchronization

/// Counts the jobs a worker holds, so that shutdown can wait for them to drain.
final class InFlight: Sendable {
    private struct State {
        var count = 0
        var nextWaiter = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())
    private let gauge = Gauge(label: "transcoder_jobs_in_flight")

    func enter() {
        let count = state.withLock { $0.count += 1; return $0.count }
        gauge.record(count)
    }

    func leave() {
        let (count, waiters) = state.withLock { s -> (Int, [CheckedContinuation<Void, Never>]) in
            s.count -= 1
            guard s.count == 0 else { return (s.count, []) }
            defer { s.waiters = [:] }
            return (0, Array(s.waiters.values))
        }
        gauge.record(count)
        waiters.forEach { $0.resume() }
    }

    var count: Int { state.withLock { $0.count } }

    /// Returns when no job is held, or when the calling task is cancelled (so that it can
    /// race a grace-period timer in a task group).
    func drained() async {
        let id = state.withLock { s in s.nextWaiter += 1; return s.nextWaiter }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { s -> Bool in
                    if s.count == 0 || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}
