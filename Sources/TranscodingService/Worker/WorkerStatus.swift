import Foundation
import RabbitMQ
import S3
import Synchronization

/// What /healthz and /readyz answer: alive once running; ready while the broker connection
/// is up and the bucket answered within the last few seconds.
public final class WorkerStatus: Sendable {
    private struct State {
        var connection: AMQPConnection?
        var storage: S3Client?
        var storageCheckedAt: ContinuousClock.Instant?
        var storageOK = false
    }
    private let state = Mutex(State())

    public init() {}

    func set(connection: AMQPConnection, storage: S3Client) {
        state.withLock { $0.connection = connection; $0.storage = storage }
    }

    /// `nil` when ready, else the reason.
    public func unreadyReason() async -> String? {
        let (connection, storage, cached) = state.withLock { s in
            let fresh = s.storageCheckedAt.map { ContinuousClock.now - $0 < .seconds(5) } ?? false
            return (s.connection, s.storage, fresh ? s.storageOK : nil)
        }
        guard let connection, let storage else { return "starting" }
        guard connection.isConnected else { return "broker not connected" }
        var storageOK = cached
        if storageOK == nil {
            let ok = (try? await storage.listPage(prefix: "transcoder-readyz/", maxKeys: 1)) != nil
            state.withLock { $0.storageCheckedAt = .now; $0.storageOK = ok }
            storageOK = ok
        }
        return storageOK == true ? nil : "storage not reachable"
    }
}
