import Backoff
@testable import RabbitMQ
import Testing

/// The connection loop's states and transitions, driven without a broker.
@Suite struct ConnectionLifecycleTests {
    static let backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(3))
    let t0 = ContinuousClock.now

    @Test func theFirstConnectionRecoversNothingLaterOnesDeclareEverythingAgain() {
        var life = ConnectionLifecycle(backoff: Self.backoff)
        #expect(life.state == .starting)
        #expect(life.opened() == false)
        #expect(life.ready(at: t0) == nil, "no outage before the first connection")
        #expect(life.state == .connected && life.generation == 1)
        life.lost(at: t0)
        #expect(life.state == .lost)
        #expect(life.opened() == true, "the second generation declares the recorded topology again")
        #expect(life.generation == 2)
    }

    @Test func aFailedFirstConnectStopsWithoutAReconnectLoop() {
        var life = ConnectionLifecycle(backoff: Self.backoff)
        life.firstConnectFailed()
        #expect(life.state == .stopped)
        life.lost(at: t0)
        #expect(life.state == .stopped, "a stopped loop is not lost")
    }

    @Test func waitsDoubleWhileReconnectsFailAndResetOnceReady() {
        var life = ConnectionLifecycle(backoff: Self.backoff)
        _ = life.opened(); _ = life.ready(at: t0)
        life.lost(at: t0)
        #expect(life.next(stopRequested: false) == .wait(.milliseconds(250)))
        var waits: [Duration] = []
        for _ in 0..<6 {
            waits.append(life.reconnectFailed())
            life.lost(at: t0 + .seconds(100))   // still lost: the outage keeps its start
        }
        #expect(waits == [500, 1000, 2000, 3000, 3000, 3000].map { .milliseconds($0) })
        #expect(life.next(stopRequested: false) == .wait(.seconds(3)))
        // A recovery cut short counts as a failed attempt, and the outage still runs from the first loss.
        _ = life.opened()
        #expect(life.reconnectFailed() == .seconds(3))
        life.lost(at: t0 + .seconds(200))
        _ = life.opened()
        #expect(life.ready(at: t0 + .seconds(300)) == .seconds(300))
        #expect(life.failedAttempts == 0 && life.lostAt == nil)
        life.lost(at: t0 + .seconds(400))
        #expect(life.next(stopRequested: false) == .wait(.milliseconds(250)), "the next outage starts from the first step")
    }

    @Test func aStopWhileLostEndsTheLoop() {
        var life = ConnectionLifecycle(backoff: Self.backoff)
        _ = life.opened(); _ = life.ready(at: t0)
        life.lost(at: t0)
        #expect(life.next(stopRequested: true) == .stop)
        life.stopped()
        #expect(life.state == .stopped)
    }
}
