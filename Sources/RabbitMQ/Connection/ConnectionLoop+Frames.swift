import CRabbitMQ
import Foundation

extension ConnectionLoop {
    /// Reads every frame already available without blocking (this also sends heartbeats
    /// when due) and dispatches it. Bounded so queued work (acks) gets its turn.
    func drainFrames() {
        var timeout = timeval(tv_sec: 0, tv_usec: 0)
        var frame = amqp_frame_t()
        var count = 0
        moreFramesBuffered = false
        lastDrain = .now
        defer { flushDeliveries() }
        while let h = handle {
            if count == 512 { moreFramesBuffered = true; break }
            let rc = amqp_simple_wait_frame_noblock(h.state, &frame, &timeout)
            if rc == AMQP_STATUS_TIMEOUT.rawValue { break }
            if rc != 0 {
                connectionLost(AMQPError(.connectionClosed, "reading from the broker failed: \(statusText(rc))"))
                return
            }
            count += 1
            dispatch(frame, h)
        }
        if count > 0 {
            didWork = true
            lastReceive = .now
        }
        if let h = handle { amqp_maybe_release_buffers(h.state) }
    }

    private func dispatch(_ frame: amqp_frame_t, _ h: ConnectionHandle) {
        let ch = frame.channel
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            let m = frame.payload.method
            switch m.id {
            case CRMQ_BASIC_ACK:
                let a = m.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                if ch == Self.publishChannel { publisher.settle(a.delivery_tag, multiple: a.multiple != 0, error: nil) }
            case CRMQ_BASIC_NACK:
                let n = m.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
                if ch == Self.publishChannel {
                    publisher.settle(n.delivery_tag, multiple: n.multiple != 0, error: AMQPError(.nacked,
                        "the broker refused responsibility for the message (basic.nack), e.g. a full queue with x-overflow=reject-publish; retry later or raise the queue limits"))
                }
            case CRMQ_BASIC_DELIVER:
                let d = m.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
                content[ch] = PendingContent(method: .deliver(
                    deliveryTag: d.delivery_tag, redelivered: d.redelivered != 0,
                    exchange: names.string(d.exchange), routingKey: names.string(d.routing_key)))
            case CRMQ_BASIC_RETURN:
                let r = m.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
                content[ch] = PendingContent(method: .returned(
                    exchange: r.exchange.string, routingKey: r.routing_key.string, replyCode: r.reply_code,
                    replyText: r.reply_text.string))
            case CRMQ_BASIC_CANCEL:
                let c = m.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
                brokerCancelled(channel: ch, tag: c.consumer_tag.string)
            case CRMQ_CHANNEL_CLOSE:
                let c = m.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                channelClosedByBroker(ch, ConnectionHandle.brokerError(c.reply_code, c.reply_text.string, "channel \(ch)"))
            case CRMQ_CONNECTION_CLOSE:
                let c = m.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                _ = crmq_send_connection_close_ok(h.state)
                connectionLost(ConnectionHandle.brokerError(c.reply_code, c.reply_text.string, "connection"))
            case CRMQ_CONNECTION_BLOCKED:
                logger.warning("amqp connection blocked by the broker (memory or disk alarm); publishes wait")
            case CRMQ_CONNECTION_UNBLOCKED:
                logger.info("amqp connection unblocked")
            default:
                break
            }
        case AMQP_FRAME_HEADER:
            guard content[ch] != nil else { return }
            let p = frame.payload.properties
            content[ch]!.bodySize = Int(p.body_size)
            content[ch]!.headerSeen = true
            if let decoded = p.decoded {
                content[ch]!.properties = MessageProperties(decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            }
            content[ch]!.body.reserveCapacity(Int(p.body_size))
            if p.body_size == 0 { completeContent(ch) }
        case AMQP_FRAME_BODY:
            guard content[ch] != nil else { return }
            let b = frame.payload.body_fragment
            if b.len > 0, let bytes = b.bytes {
                content[ch]!.body.append(contentsOf: UnsafeRawBufferPointer(start: bytes, count: b.len))
            }
            if content[ch]!.body.count >= content[ch]!.bodySize { completeContent(ch) }
        default:
            break
        }
    }

    private func completeContent(_ ch: amqp_channel_t) {
        guard let c = content.removeValue(forKey: ch) else { return }
        switch c.method {
        case .returned(let exchange, let routingKey, let code, let text):
            publisher.markReturned(exchange: exchange, routingKey: routingKey, replyCode: code, replyText: text)
        case .deliver(let tag, let redelivered, let exchange, let routingKey):
            guard let consumer = consumerChannels[ch], !consumer.cancelled, handle != nil else {
                // Arrived between our basic.cancel and its cancel-ok: give it back.
                if let h = handle { amqp_basic_reject(h.state, ch, tag, 1) }
                return
            }
            consumer.delivered(tag)
            if consumer.batch.isEmpty { batchedConsumers.append(consumer) }
            let delivery = AMQPDelivery(
                body: c.body, properties: c.properties, exchange: exchange, routingKey: routingKey,
                redelivered: redelivered, deliveryTag: tag, consumerTag: consumer.record.tag,
                token: DeliveryToken(loop: self, record: consumer.record, channel: ch, epoch: consumer.epoch, deliveryTag: tag))
            consumer.batch.append(delivery)
        }
    }

    /// Hands each consumer the deliveries of this frame burst in one yield.
    func flushDeliveries() {
        guard !batchedConsumers.isEmpty else { return }
        for consumer in batchedConsumers where !consumer.batch.isEmpty {
            let batch = consumer.batch
            consumer.batch = []
            consumer.record.continuation.yield(batch)
        }
        batchedConsumers.removeAll(keepingCapacity: true)
    }
}

/// Reuses the String of the last exchange and routing key seen: deliveries of one queue
/// repeat them, and a fresh String per message is an allocation per message.
struct NameCache {
    private var entries: [(bytes: [UInt8], string: String)] = []

    mutating func string(_ b: amqp_bytes_t) -> String {
        guard b.len > 0, let p = b.bytes else { return "" }
        let raw = UnsafeRawBufferPointer(start: p, count: b.len)
        for e in entries where e.bytes.count == b.len && e.bytes.withUnsafeBytes({ memcmp($0.baseAddress!, p, b.len) == 0 }) {
            return e.string
        }
        let s = String(decoding: raw, as: UTF8.self)
        if entries.count == 8 { entries.removeFirst() }
        entries.append((Array(raw), s))
        return s
    }
}
