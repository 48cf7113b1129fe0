import Backoff
import Testing

/// The one backoff schedule: steps, cap, and the three jitter modes, on fixed random values.
struct BackoffTests {
    @Test(arguments: [(1, 250), (2, 500), (3, 1000), (4, 2000), (5, 3000), (6, 3000), (1_000_000, 3000), (0, 250), (-3, 250)])
    func stepsDoubleUpToTheCap(_ attempt: Int, milliseconds: Int) {
        let backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(3))   // the AMQP reconnect defaults
        #expect(backoff.step(afterAttempt: attempt) == .milliseconds(milliseconds))
        #expect(backoff.delay(afterAttempt: attempt, random: 0.1) == .milliseconds(milliseconds), "no jitter")
    }

    @Test(arguments: [
        (Backoff.Jitter.full, 0.0, 0), (.full, 0.5, 2000), (.full, 1.0, 4000), (.full, 9.0, 4000), (.full, -1.0, 0),
        (.equal, 0.0, 2000), (.equal, 0.5, 3000), (.equal, 1.0, 4000), (.none, 0.0, 4000),
    ])
    func jitterStaysWithinItsRange(_ jitter: Backoff.Jitter, random: Double, milliseconds: Int) {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(10), jitter: jitter)
        #expect(backoff.delay(afterAttempt: 3, random: random) == .milliseconds(milliseconds))
    }

    @Test func randomDelaysNeverLeaveTheStep() {
        let backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10), jitter: .full)
        for attempt in 1...12 {
            let delay = backoff.delay(afterAttempt: attempt)
            #expect(delay >= .zero && delay <= backoff.step(afterAttempt: attempt))
        }
    }
}
