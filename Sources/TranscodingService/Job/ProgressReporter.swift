import Foundation
import Logging
import Synchronization

/// Turns a job's stage and engine events into at most about one progress message a second
/// (state changes go at once), published from its own task so that a slow broker never
/// holds up the transcode. Ticks that cannot be published are dropped; only the final
/// message is retried (``ProgressPublisher/publishFinal(_:logger:patience:)``).
final class ProgressReporter: Sendable {
    /// How overall progress is split between the stages.
    enum Span {
        static let download = 0.0...5.0
        static let transcode = 5.0...95.0
        static let upload = 95.0...99.9
    }

    private struct State {
        var last: ProgressMessage.State?
        var lastSent = ContinuousClock.now - .seconds(10)
        var progress = 0.0
        var fps: Double?
        var outputs: [ProgressMessage.OutputProgress]?
        var segments: (total: Int, done: Int, workers: Int)?
    }

    let base: ProgressMessage
    private let state = Mutex(State())
    private let stream: AsyncStream<ProgressMessage>
    private let continuation: AsyncStream<ProgressMessage>.Continuation
    private let sender: Task<Void, Never>

    init(base: ProgressMessage, publisher: @escaping @Sendable (ProgressMessage) async throws -> Void, logger: Logger) {
        self.base = base
        (stream, continuation) = AsyncStream.makeStream(of: ProgressMessage.self, bufferingPolicy: .bufferingNewest(1))
        sender = Task { [stream] in
            for await message in stream {
                do { try await publisher(message) } catch {
                    logger.debug("progress tick dropped", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    /// The last state, progress and fps sent, for heartbeats.
    func snapshot() -> (state: ProgressMessage.State?, progress: Double, fps: Double?) {
        state.withLock { ($0.last, $0.progress, $0.fps) }
    }

    /// Sets the per-output detail that every following message carries (several-output jobs).
    func setOutputs(_ outputs: [ProgressMessage.OutputProgress]) {
        state.withLock { $0.outputs = outputs }
    }

    /// A segmented job's parts, carried by every following message.
    func setSegments(total: Int, done: Int, workers: Int) {
        state.withLock { $0.segments = (total, done, workers) }
    }

    /// Reports `fraction` (0...1) of a stage. Callable from any thread.
    func update(_ stage: ProgressMessage.State, fraction: Double, fps: Double? = nil, eta: Double? = nil,
                frames: Int? = nil, position: Double? = nil) {
        let span: ClosedRange<Double> = switch stage {
        case .downloading: Span.download
        case .transcoding: Span.transcode
        case .uploading: Span.upload
        default: 0...0
        }
        let clamped = fraction.isFinite ? min(1, max(0, fraction)) : 0
        let now = ContinuousClock.now
        let message: ProgressMessage? = state.withLock { s in
            let overall = max(s.progress, span.lowerBound + (span.upperBound - span.lowerBound) * clamped)
            guard s.last != stage || now - s.lastSent >= .milliseconds(950) else { return nil }
            s.last = stage
            s.lastSent = now
            s.progress = overall
            s.fps = stage == .transcoding ? fps ?? s.fps : nil
            var m = ProgressMessage(jobID: base.jobID, progress: overall, state: stage, workerID: base.workerID,
                                startedAt: nil, attempt: base.attempt)
            m.startedAt = base.startedAt
            if stage == .queued { m.inputKey = base.inputKey; m.priority = base.priority }
            m.fps = fps.flatMap { $0.isFinite ? ($0 * 10).rounded() / 10 : nil }
            m.etaSeconds = eta.flatMap { $0.isFinite && $0 >= 0 ? $0.rounded() : nil }
            m.frames = frames
            m.outputs = s.outputs
            if let segments = s.segments { (m.segmentsTotal, m.segmentsDone, m.workers) = segments }
            m.positionSeconds = position.flatMap { $0.isFinite && $0 >= 0 ? ($0 * 10).rounded() / 10 : nil }
            return m
        }
        if let message { continuation.yield(message) }
    }

    /// Stops ticking; the caller then publishes the final message itself.
    func close() async {
        continuation.finish()
        await sender.value
    }

    func final(_ state: ProgressMessage.State) -> ProgressMessage {
        var m = ProgressMessage(jobID: base.jobID, progress: state == .completed ? 100 : self.state.withLock { $0.progress },
                                state: state, workerID: base.workerID, attempt: base.attempt)
        m.startedAt = base.startedAt
        if let segments = self.state.withLock({ $0.segments }) {
            (m.segmentsTotal, m.segmentsDone, m.workers) = (segments.total, state == .completed ? segments.total : segments.done, 0)
        }
        // A job's outputs end together: all stored, or none.
        m.outputs = self.state.withLock { $0.outputs }?.map { o in
            .init(key: o.key, state: state, progress: state == .completed ? 100 : o.progress)
        }
        return m
    }
}
