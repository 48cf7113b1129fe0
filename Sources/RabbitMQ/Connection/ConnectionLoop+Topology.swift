import CRabbitMQ
import Foundation

extension ConnectionLoop {
    func declare(_ q: QueueSpec, passive: Bool = false) throws(AMQPError) -> QueueInfo {
        let what = passive ? "checking queue '\(q.name)'" : "declaring queue '\(q.name)'"
        return try rpc(channel: Self.rpcChannel, what) { h throws(RPCFailure) in
            let arena = CArena()
            let ok = amqp_queue_declare(h.state, Self.rpcChannel, arena.bytes(q.name), passive ? 1 : 0,
                                        q.durable ? 1 : 0, q.exclusive ? 1 : 0, q.autoDelete ? 1 : 0,
                                        arena.table(q.arguments))
            try h.check(amqp_get_rpc_reply(h.state), what)
            guard let ok else { throw .connectionLost(AMQPError(.protocolError, "\(what): empty reply"), brokerClosed: false) }
            return QueueInfo(name: ok.pointee.queue.string, messageCount: ok.pointee.message_count,
                             consumerCount: ok.pointee.consumer_count)
        }
    }

    func declare(_ e: ExchangeSpec) throws(AMQPError) {
        let what = "declaring exchange '\(e.name)'"
        try rpc(channel: Self.rpcChannel, what) { h throws(RPCFailure) in
            let arena = CArena()
            amqp_exchange_declare(h.state, Self.rpcChannel, arena.bytes(e.name), arena.bytes(e.kind.rawValue), 0,
                                  e.durable ? 1 : 0, e.autoDelete ? 1 : 0, 0, arena.table(e.arguments))
            try h.check(amqp_get_rpc_reply(h.state), what)
        }
    }

    func bind(_ b: BindingSpec, unbind: Bool = false) throws(AMQPError) {
        let what = "\(unbind ? "unbinding" : "binding") queue '\(b.queue)' \(unbind ? "from" : "to") exchange '\(b.exchange)' with key '\(b.routingKey)'"
        try rpc(channel: Self.rpcChannel, what) { h throws(RPCFailure) in
            let arena = CArena()
            if unbind {
                amqp_queue_unbind(h.state, Self.rpcChannel, arena.bytes(b.queue), arena.bytes(b.exchange),
                                  arena.bytes(b.routingKey), arena.table(b.arguments))
            } else {
                amqp_queue_bind(h.state, Self.rpcChannel, arena.bytes(b.queue), arena.bytes(b.exchange),
                                arena.bytes(b.routingKey), arena.table(b.arguments))
            }
            try h.check(amqp_get_rpc_reply(h.state), what)
        }
    }

    func purge(queue: String) throws(AMQPError) -> UInt32 {
        let what = "purging queue '\(queue)'"
        return try rpc(channel: Self.rpcChannel, what) { h throws(RPCFailure) in
            let arena = CArena()
            let ok = amqp_queue_purge(h.state, Self.rpcChannel, arena.bytes(queue))
            try h.check(amqp_get_rpc_reply(h.state), what)
            return ok?.pointee.message_count ?? 0
        }
    }

    func delete(queue: String) throws(AMQPError) -> UInt32 {
        let what = "deleting queue '\(queue)'"
        return try rpc(channel: Self.rpcChannel, what) { h throws(RPCFailure) in
            let arena = CArena()
            let ok = amqp_queue_delete(h.state, Self.rpcChannel, arena.bytes(queue), 0, 0)
            try h.check(amqp_get_rpc_reply(h.state), what)
            return ok?.pointee.message_count ?? 0
        }
    }

    func delete(exchange: String) throws(AMQPError) {
        let what = "deleting exchange '\(exchange)'"
        try rpc(channel: Self.rpcChannel, what) { h throws(RPCFailure) in
            let arena = CArena()
            amqp_exchange_delete(h.state, Self.rpcChannel, arena.bytes(exchange), 0)
            try h.check(amqp_get_rpc_reply(h.state), what)
        }
    }

    /// Declares the recorded topology again on a fresh connection. A failure is logged and
    /// skipped: one bad declaration must not keep the rest (and the consumers) down.
    func recoverTopology() {
        for e in topology.exchanges {
            do { try declare(e) } catch { logger.error("amqp recovery: \(error.message)") }
        }
        for q in topology.queues {
            do { _ = try declare(q) } catch { logger.error("amqp recovery: \(error.message)") }
        }
        for b in topology.bindings {
            do { try bind(b) } catch { logger.error("amqp recovery: \(error.message)") }
        }
    }
}
