import Backoff

/// The connection loop's states and transitions, apart from the socket work: the loop tells
/// it what happened and asks it what to do next, so the rules are tested without a broker.
///
///     starting --opened, ready--> connected --lost--> lost --opened, ready--> connected ...
///     starting --first connect failed--> stopped     lost --stop--> stopped
///
/// A connection is `opened` (a new generation: deliveries are tagged with it) and then
/// `ready` once its topology and consumers are declared; from the second generation on,
/// the recorded topology is declared again. While lost, each failed attempt (a refused
/// connect or a recovery cut short) doubles the wait (``Backoff``, from the configuration's
/// reconnect delays); readiness resets it. An outage is timed from the first loss to
/// readiness, across failed attempts.
struct ConnectionLifecycle: Equatable {
    enum State: Equatable { case starting, connected, lost, stopped }
    enum Next: Equatable {
        case wait(Duration)
        case stop
    }

    let backoff: Backoff
    private(set) var state = State.starting
    /// Connections opened so far; 1 is the first.
    private(set) var generation: UInt64 = 0
    /// Reconnect attempts that failed since the connection was lost.
    private(set) var failedAttempts = 0
    /// When the current outage began (nil while connected).
    private(set) var lostAt: ContinuousClock.Instant?

    init(backoff: Backoff) { self.backoff = backoff }

    /// A connection was opened: returns whether its topology and consumers must be declared again.
    mutating func opened() -> Bool {
        generation += 1
        state = .connected
        return generation > 1
    }

    /// The opened connection is fully set up: returns how long the outage before it lasted.
    mutating func ready(at now: ContinuousClock.Instant) -> Duration? {
        defer { failedAttempts = 0; lostAt = nil }
        return lostAt.map { now - $0 }
    }

    /// The first connect failed: the caller's connect throws; there is no reconnect loop.
    mutating func firstConnectFailed() { state = .stopped }

    /// The connection is gone (socket error, heartbeat timeout, broker close). Idempotent.
    mutating func lost(at now: ContinuousClock.Instant) {
        guard state == .connected || state == .lost else { return }
        lostAt = lostAt ?? now
        state = .lost
    }

    /// A reconnect attempt failed; returns the wait before the next one.
    mutating func reconnectFailed() -> Duration {
        failedAttempts += 1
        return backoff.delay(afterAttempt: failedAttempts + 1)
    }

    /// What to do while lost: wait (then try again), or stop when asked to.
    func next(stopRequested: Bool) -> Next {
        stopRequested ? .stop : .wait(backoff.delay(afterAttempt: failedAttempts + 1))
    }

    mutating func stopped() { state = .stopped }
}
