import Foundation
import RabbitMQ
import Testing

/// Integration tests against the real broker. Serialized: the recovery tests close
/// connections and restart the broker, which would disturb tests running beside them.
@Suite(.serialized) struct Integration {}

extension Integration {
    @Test func roundTripWithProperties() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("roundtrip")
        try await conn.declare(queue: QueueSpec(name: q, durable: false))
        let props = MessageProperties(
            contentType: "application/json", headers: ["job-id": "j-1", "attempt": 2, "urgent": true],
            correlationId: "corr-1", replyTo: "replies", messageId: "m-1", priority: 4, expiration: "60000",
            timestamp: Date(timeIntervalSince1970: 1_700_000_000), type: "transcode", appId: "tests")
        try await conn.publish(Array("{\"a\":1}".utf8), routingKey: q, properties: props)
        let consumer = try await conn.consume(queue: q, prefetch: 1)
        let d = try await consumer.next()
        #expect(d.body == Array("{\"a\":1}".utf8))
        #expect(d.properties == props)
        #expect(d.routingKey == q)
        #expect(d.exchange == "")
        #expect(!d.redelivered)
        #expect(d.deliveryCount == nil)
        try await d.ack()
        await consumer.cancel()
        #expect(try await conn.queueInfo(q).messageCount == 0)
        try await conn.deleteQueue(q)
    }

    @Test func confirmsUnroutableMissingExchangeAndNack() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("confirms")
        try await conn.declare(queue: QueueSpec(name: q, durable: true, autoDelete: true, arguments: [
            "x-max-length": 1, "x-overflow": "reject-publish",
        ]))
        try await conn.publish("first", routingKey: q, mandatory: true)
        // x-overflow=reject-publish on a full queue: the broker nacks.
        do {
            try await conn.publish("second", routingKey: q)
            Issue.record("publish into a full reject-publish queue returned normally")
        } catch let e as AMQPError {
            #expect(e.code == .nacked)
        }
        do {
            try await conn.publish("lost", routingKey: Broker.unique("nowhere"), mandatory: true)
            Issue.record("unroutable mandatory publish returned normally")
        } catch let e as AMQPError {
            #expect(e.code == .unroutable)
            #expect(e.message.contains("routing key"))
        }
        do {
            try await conn.publish("x", exchange: Broker.unique("no-such-exchange"), routingKey: q)
            Issue.record("publish to a missing exchange returned normally")
        } catch let e as AMQPError {
            #expect(e.code == .notFound)
        }
        // The publish channel came back after the broker closed it.
        try await conn.purge(queue: q)
        try await conn.publish("after", routingKey: q)
        #expect(try await conn.queueInfo(q).messageCount == 1)
        try await conn.deleteQueue(q)
    }

    @Test func prefetchIsRespected() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("prefetch")
        try await conn.declare(queue: QueueSpec(name: q, durable: false, autoDelete: true))
        for i in 0..<10 { try await conn.publish("m\(i)", routingKey: q) }
        let consumer = try await conn.consume(queue: q, prefetch: 3)
        var held: [AMQPDelivery] = []
        for _ in 0..<3 { held.append(try await consumer.next()) }
        // With 3 unacked, the broker keeps the other 7 ready.
        #expect(try await conn.queueInfo(q).messageCount == 7)
        for d in held { try await d.ack() }
        var bodies = held.map { String(decoding: $0.body, as: UTF8.self) }
        for _ in 0..<7 {
            let d = try await consumer.next()
            bodies.append(String(decoding: d.body, as: UTF8.self))
            try await d.ack()
        }
        #expect(bodies == (0..<10).map { "m\($0)" })
        await consumer.cancel()
    }

    /// Acks are coalesced into `multiple=true` acks; one must never cover a delivery the
    /// application has not acked (here the oldest, held while later ones are acked).
    @Test func batchedAcksNeverCoverAnUnackedDelivery() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("acks")
        try await conn.declare(queue: QueueSpec(name: q, durable: false))
        for i in 0..<6 { try await conn.publish("m\(i)", routingKey: q) }
        let consumer = try await conn.consume(queue: q, prefetch: 6)
        var got: [AMQPDelivery] = []
        for _ in 0..<6 { got.append(try await consumer.next()) }
        // Ack all but the first and the fourth, in a burst, then nack the fourth (requeue).
        for i in [5, 1, 2, 4] { try await got[i].ack() }
        try await got[3].nack(requeue: true)
        let again = try await consumer.next()
        #expect(String(decoding: again.body, as: UTF8.self) == "m3")
        #expect(again.redelivered)
        try await again.ack()
        // Only the first is still unacked: giving up the consumer returns exactly it.
        await consumer.cancel()
        await conn.close()
        let check = try await Broker.connect()
        defer { Task { await check.close() } }
        try await Broker.eventually("the held delivery is back in the queue") {
            try await check.queueInfo(q).messageCount == 1
        }
        let c2 = try await check.consume(queue: q, prefetch: 1)
        let first = try await c2.next()
        #expect(String(decoding: first.body, as: UTF8.self) == "m0")
        try await first.ack()
        await c2.cancel()
        try await check.deleteQueue(q)
    }

    @Test func nackRequeueAndReject() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("nack")
        try await conn.declare(queue: QueueSpec(name: q, durable: false))
        try await conn.publish("once", routingKey: q)
        let consumer = try await conn.consume(queue: q, prefetch: 1)
        let first = try await consumer.next()
        #expect(!first.redelivered)
        try await first.nack(requeue: true)
        let second = try await consumer.next()
        #expect(second.redelivered)
        #expect(second.body == first.body)
        try await second.reject(requeue: true)
        let third = try await consumer.next()
        #expect(third.redelivered)
        try await third.reject(requeue: false)
        await consumer.cancel()
        #expect(try await conn.queueInfo(q).messageCount == 0)
        // A new consumer on the same connection after the cancel.
        try await conn.publish("again", routingKey: q)
        let c2 = try await conn.consume(queue: q, prefetch: 1)
        let again = try await c2.next()
        #expect(String(decoding: again.body, as: UTF8.self) == "again")
        try await again.ack()
        await c2.cancel()
        try await conn.deleteQueue(q)
    }

    @Test func deadLettersAfterDeliveryLimit() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("poison")
        let dlq = q + ".dead"
        try await conn.declare(queue: QueueSpec(name: dlq))
        try await conn.declare(queue: .quorum(q, deliveryLimit: 2, deadLetterExchange: "", deadLetterRoutingKey: dlq))
        try await conn.publish("poison", routingKey: q, properties: MessageProperties(messageId: "p-1"))
        let consumer = try await conn.consume(queue: q, prefetch: 1)
        var counts: [Int?] = []
        for _ in 0..<3 {
            let d = try await consumer.next()
            counts.append(d.deliveryCount)
            try await d.nack(requeue: true)
        }
        #expect(counts == [nil, 1, 2])
        await consumer.cancel()
        let dead = try await conn.consume(queue: dlq, prefetch: 1)
        let d = try await dead.next()
        #expect(d.properties.messageId == "p-1")
        let death = try #require(d.xDeath.first)
        #expect(death.reason == "delivery_limit")
        #expect(death.queue == q)
        #expect(death.count == 1)
        try await d.ack()
        await dead.cancel()
        try await conn.deleteQueue(q)
        try await conn.deleteQueue(dlq)
    }

    @Test func manyConcurrentPublishers() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("many")
        try await conn.declare(queue: QueueSpec(name: q, durable: true, autoDelete: true))
        let consumer = try await conn.consume(queue: q, prefetch: 200)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<50 {
                group.addTask {
                    for i in 0..<100 {
                        try await conn.publish("\(t)-\(i)", routingKey: q,
                                               properties: MessageProperties(messageId: "\(t)-\(i)"))
                    }
                }
            }
            try await group.waitForAll()
        }
        var seen = Set<String>()
        for try await d in consumer {
            seen.insert(d.properties.messageId ?? "")
            try await d.ack()
            if seen.count == 5000 { break }
        }
        #expect(seen.count == 5000)
        #expect(try await conn.queueInfo(q).messageCount == 0)
    }
}
