import Foundation
import RabbitMQ
import Testing

extension Integration {
    @Test func badCredentialsSayWhatToDoWithoutThePassword() async throws {
        do {
            _ = try await AMQPConnection.connect(AMQPConfiguration(url: "amqp://guest:Wr0ngSecret99@localhost:5672/%2f"))
            Issue.record("login with a wrong password succeeded")
        } catch let e as AMQPError {
            #expect(e.code == .authenticationFailed)
            #expect(e.message.contains("credentials"))
            #expect(!e.description.contains("Wr0ngSecret99"))
        }
    }

    @Test func unknownVhostIsRefused() async throws {
        do {
            _ = try await AMQPConnection.connect(AMQPConfiguration(url: "amqp://guest:guest@localhost:5672/no-such-vhost"))
            Issue.record("login to a missing vhost succeeded")
        } catch let e as AMQPError {
            #expect(e.code == .vhostRefused)
            #expect(e.message.contains("no-such-vhost"))
        }
    }

    @Test func unreachableHost() async throws {
        do {
            _ = try await AMQPConnection.connect(AMQPConfiguration(url: "amqp://guest:guest@127.0.0.1:1/%2f"))
            Issue.record("connecting to port 1 succeeded")
        } catch let e as AMQPError {
            #expect(e.code == .unreachable)
            #expect(e.message.contains("127.0.0.1:1"))
        }
    }

    @Test func redeclareWithOtherArgumentsNamesQueueAndArgument() async throws {
        let conn = try await Broker.connect()
        defer { Task { await conn.close() } }
        let q = Broker.unique("redeclare")
        try await conn.declare(queue: QueueSpec(name: q, autoDelete: true, arguments: ["x-max-length": 10]))
        do {
            try await conn.declare(queue: QueueSpec(name: q, autoDelete: true, arguments: ["x-max-length": 20]))
            Issue.record("redeclare with another x-max-length succeeded")
        } catch let e as AMQPError {
            #expect(e.code == .preconditionFailed)
            #expect(e.replyCode == 406)
            #expect(e.message.contains(q))
            #expect(e.message.contains("x-max-length"))
        }
        // The RPC channel was reopened: the connection still works.
        #expect(try await conn.queueInfo(q).messageCount == 0)
        do {
            _ = try await conn.queueInfo(Broker.unique("missing"))
            Issue.record("passive declare of a missing queue succeeded")
        } catch let e as AMQPError {
            #expect(e.code == .notFound)
        }
        try await conn.deleteQueue(q)
    }

    @Test func exclusiveQueueOfAnotherConnectionIsLocked() async throws {
        let a = try await Broker.connect()
        let b = try await Broker.connect()
        defer { Task { await a.close(); await b.close() } }
        let q = Broker.unique("exclusive")
        try await a.declare(queue: QueueSpec(name: q, durable: false, exclusive: true))
        do {
            _ = try await b.consume(queue: q, prefetch: 1)
            Issue.record("consuming another connection's exclusive queue succeeded")
        } catch let e as AMQPError {
            #expect(e.code == .resourceLocked)
        }
    }
}
