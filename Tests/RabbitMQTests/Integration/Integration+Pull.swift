import Foundation
import RabbitMQ
import Testing

extension Integration {
    /// basic.get: one message at a time, settled like a delivery, empty queues answer nil,
    /// a missing queue fails that get only, and the puller survives a lost connection.
    @Test func pullerTakesOneMessageAtATime() async throws {
        let conn = try await Broker.connect(name: "pull-test")
        defer { Task { await conn.close() } }
        let q = Broker.unique("pull")
        try await conn.declare(queue: QueueSpec(name: q, arguments: ["x-queue-type": "quorum"]))
        let puller = try await conn.puller()
        #expect(try await puller.get(from: q) == nil)
        let props = MessageProperties(headers: ["job-id": "j-1"], persistent: true)
        try await conn.publish("one", routingKey: q, properties: props)

        let first = try #require(try await puller.get(from: q))
        #expect(String(decoding: first.body, as: UTF8.self) == "one")
        #expect(first.properties.headers["job-id"]?.stringValue == "j-1" && first.routingKey == q && !first.redelivered)
        try await first.nack(requeue: true)
        let again = try #require(try await puller.get(from: q))
        #expect(String(decoding: again.body, as: UTF8.self) == "one" && again.redelivered && again.deliveryCount == 1)
        try await again.ack()
        try await conn.publish("two", routingKey: q, properties: props)
        try await conn.publish("three", routingKey: q, properties: props)

        await #expect(throws: AMQPError.self) { _ = try await puller.get(from: Broker.unique("missing")) }
        let second = try #require(try await puller.get(from: q))
        #expect(String(decoding: second.body, as: UTF8.self) == "two")
        // The other message stays ready for anyone else: a puller holds only what it took.
        #expect(try await conn.queueInfo(q).messageCount == 1)

        // A delivery of the lost connection cannot be settled; the message comes back.
        try await Broker.closeConnection(named: "pull-test")
        await #expect(throws: AMQPError.self) {
            for _ in 0..<50 {
                try await second.ack()
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        var back: AMQPDelivery?
        for _ in 0..<100 where back == nil {
            back = try? await puller.get(from: q)
            if back == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        // Both come again (a quorum queue puts returned messages at the back): "two" redelivered.
        var bodies: [String: Bool] = [:]
        var next = back
        while let delivery = next {
            bodies[String(decoding: delivery.body, as: UTF8.self)] = delivery.redelivered
            try await delivery.ack()
            next = try await puller.get(from: q)
        }
        #expect(bodies == ["two": true, "three": false])
        await puller.close()
        try await conn.deleteQueue(q)
    }
}
