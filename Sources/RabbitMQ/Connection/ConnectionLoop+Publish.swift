import CRabbitMQ
import Foundation

/// One publish waiting for the connection thread (a plain value: no closure per message).
struct PublishRequest: Sendable {
    var body: [UInt8]
    var exchange: String
    var routingKey: String
    var properties: MessageProperties
    var mandatory: Bool
    var continuation: CheckedContinuation<Void, Error>
}

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

    /// Sends a burst of messages; each continuation resumes on the broker's ack (or throws
    /// on nack, return, channel error or connection loss). Over plain TCP the whole burst
    /// is encoded into one buffer and written with as few `send` calls as possible.
    func publish(_ batch: [PublishRequest]) {
        guard let h = handle else {
            for r in batch { r.continuation.resume(throwing: AMQPError(.connectionClosed, "not connected")) }
            return
        }
        let arena = CArena()
        let frameMax = max(Int(amqp_get_frame_max(h.state)), 4096)
        for r in batch {
            var props = arena.properties(r.properties)
            var method = amqp_basic_publish_t(ticket: 0, exchange: arena.bytes(r.exchange),
                                              routing_key: arena.bytes(r.routingKey),
                                              mandatory: r.mandatory ? 1 : 0, immediate: 0)
            let rc: Int32 = r.body.withUnsafeBytes { raw in
                if h.isTLS {
                    return amqp_basic_publish(h.state, Self.publishChannel, method.exchange, method.routing_key,
                                              method.mandatory, 0, &props,
                                              amqp_bytes_t(len: raw.count, bytes: UnsafeMutableRawPointer(mutating: raw.baseAddress)))
                }
                return writer.appendPublish(channel: Self.publishChannel, method: &method, properties: &props,
                                            body: raw, frameMax: frameMax)
            }
            if rc != 0 {
                let status = statusText(rc)
                if h.isTLS {
                    let error = AMQPError(.connectionClosed,
                        "publishing to '\(r.exchange)'/'\(r.routingKey)' failed: \(status); the connection is being re-established, publish again")
                    r.continuation.resume(throwing: error)
                    connectionLost(error)
                    return
                }
                r.continuation.resume(throwing: AMQPError(.invalidConfiguration,
                    "cannot encode the message to '\(r.exchange)'/'\(r.routingKey)': \(status); its properties (headers) must fit in one frame"))
                continue
            }
            publisher.add(.init(continuation: r.continuation, exchange: r.exchange, routingKey: r.routingKey,
                                mandatory: r.mandatory, returned: nil))
            if writer.count >= 1 << 18, !flushWriter() { return }
        }
        _ = flushWriter()
    }

    /// False when the write failed; the connection is then being recovered and every
    /// unconfirmed publish has been failed.
    private func flushWriter() -> Bool {
        guard writer.count > 0, let h = handle else { return true }
        guard let problem = writer.flush(to: h.socketFD, timeout: config.rpcTimeout) else { return true }
        connectionLost(AMQPError(.connectionClosed, "publishing failed: \(problem)"))
        return false
    }
}
