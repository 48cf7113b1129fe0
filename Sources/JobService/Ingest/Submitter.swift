import Foundation
import Logging
import RabbitMQ
import Synchronization
import TranscodingService

/// Puts recorded jobs on the broker, exactly as `transcoder submit` does (persistent,
/// confirmed, mandatory), then marks them submitted. A job is recorded before it is
/// published, so a 2xx always means "in the store and on the queue"; a job the API could
/// not confirm stays `pending` and is published again at the next start.
final class Submitter: Sendable {
    let client: JobClient
    let store: any JobStore
    let logger: Logger
    /// How long a POST waits for the broker's confirm before answering 503 (the publish goes on).
    let patience: Duration
    /// Jobs being published now: a retried POST must not publish a second copy meanwhile.
    private let inFlight = Mutex<Set<String>>([])

    init(client: JobClient, store: any JobStore, logger: Logger, patience: Duration = .seconds(10)) {
        self.client = client
        self.store = store
        self.logger = logger
        self.patience = patience
    }

    enum Outcome { case submitted, stillPublishing }

    /// Publishes and records the confirm; gives up waiting (not publishing) after ``patience``.
    func publish(id: String, body: [UInt8], priority: JobPriority) async -> Outcome {
        guard inFlight.withLock({ $0.insert(id).inserted }) else { return .stillPublishing }
        let task = Task { await self.submit(id: id, body: body, priority: priority) }
        return await withTaskGroup(of: Bool?.self) { group in
            group.addTask { await task.value }
            group.addTask { [patience] in try? await Task.sleep(for: patience); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first == true ? .submitted : .stillPublishing
        }
    }

    private func submit(id: String, body: [UInt8], priority: JobPriority) async -> Bool {
        defer { _ = inFlight.withLock { $0.remove(id) } }
        do {
            try await client.submit(body: body, jobID: id, priority: priority)
            try await store.markSubmitted(id)
            return true
        } catch {
            logger.error("could not publish a recorded job; it stays pending", metadata: ["job.id": "\(id)", "error": "\(error)"])
            return false
        }
    }

    /// Publishes what an earlier run recorded but could not confirm.
    func republishPending() async {
        do {
            let pending = try await store.pending()
            if !pending.isEmpty { logger.notice("publishing jobs recorded but not confirmed before", metadata: ["count": "\(pending.count)"]) }
            for job in pending { _ = await publish(id: job.id, body: Array(job.body.utf8), priority: job.priority) }
        } catch {
            logger.error("could not read pending jobs", metadata: ["error": "\(error)"])
        }
    }
}
