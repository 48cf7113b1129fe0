import Foundation
import RabbitMQ
import Testing

extension Integration {
    /// A transcode holds its job unacked for a long time: heartbeats must keep flowing
    /// (2 s heartbeat, 10 s hold: the broker would drop a silent connection after ~4 s).
    @Test func heartbeatSurvivesLongHoldOfUnackedDelivery() async throws {
        let conn = try await Broker.connect("?heartbeat=2")
        defer { Task { await conn.close() } }
        let q = Broker.unique("hold")
        try await conn.declare(queue: QueueSpec(name: q, durable: false, autoDelete: true))
        try await conn.publish("long job", routingKey: q)
        let consumer = try await conn.consume(queue: q, prefetch: 1)
        let d = try await consumer.next()
        try await Task.sleep(for: .seconds(10))
        #expect(conn.isConnected)
        try await d.ack()  // would throw deliveryGone had the connection been replaced
        #expect(try await conn.queueInfo(q).messageCount == 0)
        await consumer.cancel()
    }
}
