import Synchronization

/// The jobs this worker is running, by id, so that a redelivery of a job it is still
/// working on (its broker connection dropped and came back) waits for that attempt instead
/// of transcoding the same input twice at once.
final class ActiveJobs: Sendable {
    enum Outcome: Sendable { case completed, failed, interrupted }
    enum Claim: Sendable { case owner, duplicate(Outcome) }

    private struct Entry {
        var owners = 0
        var waiters: [CheckedContinuation<Claim, Never>] = []
    }
    private let state = Mutex<[String: Entry]>([:])

    /// A first delivery always runs; a redelivery of a job running here waits for its outcome.
    func claim(_ id: String, redelivered: Bool) async -> Claim {
        guard redelivered else {
            state.withLock { $0[id, default: Entry()].owners += 1 }
            return .owner
        }
        return await withCheckedContinuation { continuation in
            let owner = state.withLock { jobs -> Bool in
                if var entry = jobs[id], entry.owners > 0 {
                    entry.waiters.append(continuation)
                    jobs[id] = entry
                    return false
                }
                jobs[id, default: Entry()].owners += 1
                return true
            }
            if owner { continuation.resume(returning: .owner) }
        }
    }

    func release(_ id: String, _ outcome: Outcome) {
        let waiters = state.withLock { jobs -> [CheckedContinuation<Claim, Never>] in
            guard var entry = jobs[id] else { return [] }
            entry.owners -= 1
            let waiters = entry.waiters
            entry.waiters = []
            jobs[id] = entry.owners == 0 ? nil : entry
            return waiters
        }
        waiters.forEach { $0.resume(returning: .duplicate(outcome)) }
    }
}
