/// Exponential backoff, the one schedule every retry loop uses: S3 requests, AMQP
/// reconnects, the worker's first connect, final progress messages and job retries.
///
/// The delay after attempt `n` (1 the first) is `initial × 2^(n−1)`, at most `maximum`,
/// then jittered so that clients that failed together do not come back together.
public struct Backoff: Sendable, Equatable {
    public enum Jitter: Sendable, Equatable {
        /// Exactly the step (a single client reconnecting: nothing to spread).
        case none
        /// Uniform in [0, step] ("full jitter"): the most spread, for many clients hitting one server.
        case full
        /// Uniform in [step/2, step] ("equal jitter"): spread, but never much shorter than asked.
        case equal
    }

    public var initial: Duration
    public var maximum: Duration
    public var jitter: Jitter

    public init(initial: Duration, maximum: Duration, jitter: Jitter = .none) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The un-jittered step after `attempt`: initial × 2^(attempt−1), capped (no overflow).
    public func step(afterAttempt attempt: Int) -> Duration {
        let doublings = min(max(0, attempt - 1), 40)
        var step = initial
        for _ in 0..<doublings {
            step = step * 2
            if step >= maximum { return maximum }
        }
        return min(step, maximum)
    }

    /// The delay after `attempt`; `random` in 0...1 picks the point within the jitter range.
    public func delay(afterAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let step = step(afterAttempt: attempt)
        let r = min(1, max(0, random))
        let fraction = switch jitter {
        case .none: 1.0
        case .full: r
        case .equal: 0.5 + 0.5 * r
        }
        let ms = (Double(step.components.seconds) * 1000 + Double(step.components.attoseconds) / 1e15) * fraction
        return .milliseconds(Int64(ms.rounded()))
    }
}
