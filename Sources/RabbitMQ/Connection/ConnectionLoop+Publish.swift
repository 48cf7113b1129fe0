import CRabbitMQ
import Foundation

extension ConnectionLoop {
    func openPublishChannel() throws(AMQPError) {
        publisher.failAll(AMQPError(.connectionClosed, "the publish channel was reopened before the broker confirmed"))
        try rpc(channel: Self.publishChannel, "opening the publish channel") { h throws(RPCFailure) in
            amqp_channel_open(h.state, Self.publishChannel)
            try h.check(amqp_get_rpc_reply(h.state), "opening the publish channel")
            amqp_confirm_select(h.state, Self.publishChannel)
            try h.check(amqp_get_rpc_reply(h.state), "enabling publisher confirms")
        }
    }

    /// Sends one message; `continuation` resumes on the broker's ack (or throws on nack,
    /// return, channel error or connection loss).
    func publish(_ body: [UInt8], exchange: String, routingKey: String, properties: MessageProperties,
                 mandatory: Bool, continuation: CheckedContinuation<Void, Error>) {
        guard let h = handle else {
            continuation.resume(throwing: AMQPError(.connectionClosed, "not connected"))
            return
        }
        let arena = CArena()
        var props = arena.properties(properties)
        let ex = arena.bytes(exchange)
        let rk = arena.bytes(routingKey)
        let rc = body.withUnsafeBytes { raw in
            amqp_basic_publish(h.state, Self.publishChannel, ex, rk, mandatory ? 1 : 0, 0, &props,
                               amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress)))
        }
        if rc != 0 {
            let error = AMQPError(.connectionClosed,
                "publishing to '\(exchange)'/'\(routingKey)' failed: \(statusText(rc)); the connection is being re-established, publish again")
            continuation.resume(throwing: error)
            connectionLost(error)
            return
        }
        publisher.add(.init(continuation: continuation, exchange: exchange, routingKey: routingKey,
                            mandatory: mandatory, returned: nil))
    }
}
