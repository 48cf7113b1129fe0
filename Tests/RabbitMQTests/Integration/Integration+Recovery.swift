import Foundation
import RabbitMQ
import Testing

extension Integration {
    @Test func recoversAfterBrokerClosesTheConnection() async throws {
        let name = Broker.unique("conn")
        let conn = try await Broker.connect(name: name)
        defer { Task { await conn.close() } }
        let q = Broker.unique("recover")
        try await conn.declare(queue: QueueSpec(name: q, durable: false, exclusive: true))
        try await conn.publish("before", routingKey: q)
        let consumer = try await conn.consume(queue: q, prefetch: 1)
        let held = try await consumer.next()

        try await Broker.closeConnection(named: name)
        try await Broker.eventually("the connection notices the close") { !conn.isConnected }
        // The exclusive queue died with the connection; recovery declared it again.
        try await conn.publish("after", routingKey: q)
        let d = try await consumer.next()
        #expect(String(decoding: d.body, as: UTF8.self) == "after")
        try await d.ack()
        do {
            try await held.ack()
            Issue.record("ack of a delivery from the dead connection went through")
        } catch let e as AMQPError {
            #expect(e.code == .deliveryGone)
        }
        #expect(conn.isConnected)
        await consumer.cancel()
    }

    /// The one full broker restart of the suite: confirmed persistent messages survive, the
    /// consumer keeps yielding, a publish issued during the outage completes afterwards.
    @Test func survivesBrokerRestartWithoutLosingMessages() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("restart")
        try await conn.declare(queue: QueueSpec(name: q, durable: true))
        for i in 0..<20 {
            try await conn.publish("m\(i)", routingKey: q, properties: MessageProperties(messageId: "m\(i)"))
        }
        let consumer = try await conn.consume(queue: q, prefetch: 5)
        var acked = Set<String>()
        for _ in 0..<5 {
            let d = try await consumer.next()
            try await d.ack()
            acked.insert(d.properties.messageId ?? "")
        }
        let held = try await consumer.next()

        try await Broker.stack("stop")
        try await Broker.eventually("the client notices the broker is gone") { !conn.isConnected }
        let lateTask = Task { try await conn.publish("late", routingKey: q, properties: MessageProperties(messageId: "late")) }
        try await Broker.stack("start")
        try await lateTask.value

        do {
            try await held.ack()
            Issue.record("ack from before the restart went through")
        } catch let e as AMQPError {
            #expect(e.code == .deliveryGone)
        }
        var seen = acked
        while seen.count < 21 {
            let d = try await consumer.next(timeout: .seconds(60))
            seen.insert(d.properties.messageId ?? "")
            try await d.ack()
        }
        #expect(try await conn.queueInfo(q).messageCount == 0)
        #expect(seen == Set((0..<20).map { "m\($0)" } + ["late"]))
        await consumer.cancel()
        try await conn.deleteQueue(q)
    }
}
