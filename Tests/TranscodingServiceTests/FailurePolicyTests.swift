import Testing
@testable import TranscodingService

struct FailurePolicyTests {
    typealias Code = JobFailure.Code
    let limits = FailurePolicy.Limits(maxAttempts: 5, baseDelay: .seconds(5), maxDelay: .seconds(30))

    @Test func everyCodeIsClassified() {
        let permanent: Set<Code> = [.invalidJob, .invalidOptions, .forbiddenOptions, .inputNotFound, .storageDenied,
                                    .inputUnreadable, .inputCorrupt, .inputUnsupported, .encoderFailed, .deliveryLimit,
                                    .resourceLimit, .engineCrashed]
        let transient: Set<Code> = [.storageUnavailable, .insufficientDisk, .timedOut, .internalError]
        #expect(permanent.union(transient) == Set(Code.allCases))
        for code in Code.allCases { #expect(FailurePolicy.isTransient(code) == transient.contains(code), "\(code)") }
    }

    /// (code, attempt that failed, jitter) → decision.
    @Test(arguments: [
        (Code.inputCorrupt, 1, 0.5, FailurePolicy.Decision.deadLetter),
        (.invalidJob, 1, 0.0, .deadLetter),
        (.forbiddenOptions, 1, 1.0, .deadLetter),
        (.inputNotFound, 2, 0.3, .deadLetter),
        (.storageDenied, 1, 0.3, .deadLetter),
        (.storageUnavailable, 1, 1.0, .retry(delay: .seconds(5), tier: .seconds(5))),
        (.storageUnavailable, 1, 0.0, .retry(delay: .milliseconds(2500), tier: .seconds(5))),
        (.storageUnavailable, 2, 1.0, .retry(delay: .seconds(10), tier: .seconds(10))),
        (.insufficientDisk, 3, 0.5, .retry(delay: .seconds(15), tier: .seconds(20))),
        (.timedOut, 4, 1.0, .retry(delay: .seconds(30), tier: .seconds(30))),   // 40 s capped at 30
        (.internalError, 4, 0.0, .retry(delay: .seconds(15), tier: .seconds(30))),
        (.storageUnavailable, 5, 1.0, .deadLetter),                               // the last attempt
        (.storageUnavailable, 9, 1.0, .deadLetter),
        (.storageUnavailable, 1, 7.0, .retry(delay: .seconds(5), tier: .seconds(5))),  // jitter clamped
        (.resourceLimit, 1, 0.5, .deadLetter),
        (.engineCrashed, 1, 1.0, .retry(delay: .seconds(5), tier: .seconds(5))),       // perhaps the host killed it
        (.engineCrashed, 2, 1.0, .deadLetter),                                        // it crashes again: not the host
    ])
    func decision(code: Code, attempt: Int, jitter: Double, expected: FailurePolicy.Decision) {
        #expect(FailurePolicy.decide(code, attempt: attempt, limits: limits, jitter: jitter) == expected)
    }

    @Test func oneAttemptMeansNoRetry() {
        let none = FailurePolicy.Limits(maxAttempts: 1)
        #expect(FailurePolicy.decide(.storageUnavailable, attempt: 1, limits: none, jitter: 0.5) == .deadLetter)
        #expect(FailurePolicy.tiers(none).isEmpty)
    }

    @Test func tiersAreTheDistinctDelaysShortestFirst() {
        #expect(FailurePolicy.tiers(limits) == [.seconds(5), .seconds(10), .seconds(20), .seconds(30)])
        #expect(FailurePolicy.tiers(.init()) == [5, 10, 20, 40, 80, 160, 320].map { .seconds($0) })  // the defaults
        let topology = Topology(jobsQueue: "jobs", retry: limits)
        #expect(topology.retryQueues == ["jobs.retry.5s", "jobs.retry.10s", "jobs.retry.20s", "jobs.retry.30s"])
    }

    @Test func hugeAttemptNumbersDoNotOverflow() {
        #expect(FailurePolicy.delayTier(afterAttempt: 1_000, limits: limits) == .seconds(30))
    }
}
