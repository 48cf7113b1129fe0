import Backoff

/// What happens to a delivery whose job failed: the one place that tells a bad job from a
/// passing outage.
///
/// Permanent failures (the job, its options or its input are at fault) are dead-lettered at
/// once: running them again gives the same result. Transient ones (storage unreachable,
/// scratch disk full, a timeout on a loaded host, a fault of the worker) go back to the jobs
/// queue through a delay queue, after an exponential backoff with jitter, until
/// `maxAttempts` attempts have been made; then they are dead-lettered too. A crash of the
/// job's media process gets one more attempt (the host may have killed it), and a second
/// crash dead-letters it: with each job in its own process, that costs no other job.
public enum FailurePolicy {
    public struct Limits: Sendable, Equatable {
        /// Attempts in all, the first included; 1 turns retries off.
        public var maxAttempts: Int
        /// Delay before the second attempt; each later one doubles it, up to `maxDelay`.
        public var baseDelay: Duration
        public var maxDelay: Duration

        public init(maxAttempts: Int = 8, baseDelay: Duration = .seconds(5), maxDelay: Duration = .seconds(600)) {
            self.maxAttempts = maxAttempts
            self.baseDelay = baseDelay
            self.maxDelay = maxDelay
        }

        /// Equal jitter: within the upper half of each tier, so a retry queue's TTL bounds it.
        var backoff: Backoff { Backoff(initial: baseDelay, maximum: maxDelay, jitter: .equal) }
    }

    public enum Decision: Sendable, Equatable {
        case deadLetter
        /// Back to the jobs queue through the delay queue of `tier` after `delay` (≤ the tier).
        case retry(delay: Duration, tier: Duration)
    }

    public static func isTransient(_ code: JobFailure.Code) -> Bool {
        switch code {
        case .storageUnavailable, .insufficientDisk, .timedOut, .internalError: true
        case .invalidJob, .invalidOptions, .forbiddenOptions, .inputNotFound, .storageDenied, .inputUnreadable,
             .inputCorrupt, .inputUnsupported, .encoderFailed, .deliveryLimit, .resourceLimit, .engineCrashed: false
        }
    }

    /// Attempts a failure with this code may have in all.
    public static func attemptLimit(_ code: JobFailure.Code, limits: Limits) -> Int {
        if isTransient(code) { return limits.maxAttempts }
        return code == .engineCrashed ? min(2, limits.maxAttempts) : 1
    }

    /// `attempt` is the attempt that just failed (1 the first time); `jitter` in 0...1 picks
    /// the delay within the upper half of the tier ("equal jitter"), so workers that failed
    /// together do not come back together.
    public static func decide(_ code: JobFailure.Code, attempt: Int, limits: Limits, jitter: Double) -> Decision {
        guard attempt < attemptLimit(code, limits: limits) else { return .deadLetter }
        let backoff = limits.backoff
        return .retry(delay: backoff.delay(afterAttempt: attempt, random: jitter), tier: backoff.step(afterAttempt: attempt))
    }

    /// The un-jittered delay after `attempt`: base × 2^(attempt−1), at most `maxDelay`.
    public static func delayTier(afterAttempt attempt: Int, limits: Limits) -> Duration {
        limits.backoff.step(afterAttempt: attempt)
    }

    /// Every tier the limits can produce, shortest first: the delay queues a worker declares.
    public static func tiers(_ limits: Limits) -> [Duration] {
        guard limits.maxAttempts > 1 else { return [] }
        var tiers: [Duration] = []
        for attempt in 1..<limits.maxAttempts {
            let tier = delayTier(afterAttempt: attempt, limits: limits)
            if tiers.last != tier { tiers.append(tier) }
        }
        return tiers
    }
}
