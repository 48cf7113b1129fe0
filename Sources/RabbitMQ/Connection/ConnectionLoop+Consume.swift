import CRabbitMQ
import Foundation

extension ConnectionLoop {
    enum Settlement {
        case ack
        case nack(requeue: Bool)
        case reject(requeue: Bool)
    }

    /// Opens a channel with `basic.qos(prefetch)` and starts the consumer on it (a puller's
    /// channel is only opened).
    func startConsumer(_ record: ConsumerRecord) throws(AMQPError) {
        let ch = allocateChannel()
        let what = record.pull ? "opening a channel for basic.get" : "consuming from queue '\(record.queue)'"
        try rpc(channel: ch, what) { h throws(RPCFailure) in
            let arena = CArena()
            amqp_channel_open(h.state, ch)
            try h.check(amqp_get_rpc_reply(h.state), what)
            if record.pull { return }
            amqp_basic_qos(h.state, ch, 0, record.prefetch, 0)
            try h.check(amqp_get_rpc_reply(h.state), "\(what) (basic.qos)")
            amqp_basic_consume(h.state, ch, arena.bytes(record.queue), arena.bytes(record.tag), 0, 0, 0,
                               arena.table(record.arguments))
            try h.check(amqp_get_rpc_reply(h.state), what)
        }
        let epoch = newEpoch(for: ch)
        consumerChannels[ch] = ConsumerChannel(record: record, channel: ch, epoch: epoch)
        record.liveEpoch.store(epoch, ordering: .releasing)
        consumerRecords[record.tag] = record
    }

    func resumeConsumers() {
        for record in consumerRecords.values {
            do {
                try startConsumer(record)
            } catch {
                if handle == nil { return }  // lost again: the next reconnect retries
                logger.error("amqp recovery: consumer '\(record.tag)' cannot resume: \(error.message)")
                consumerRecords.removeValue(forKey: record.tag)
                record.continuation.finish(throwing: error)
            }
        }
    }

    func cancelConsumer(tag: String) {
        guard let record = consumerRecords.removeValue(forKey: tag) else { return }
        record.continuation.finish()
        guard let cc = consumerChannels.values.first(where: { $0.record === record }) else { return }
        cc.cancelled = true
        let ch = cc.channel
        if record.pull {
            if cc.outstanding <= 0 { closeConsumerChannel(ch) }
            return
        }
        do {
            try rpc(channel: ch, "cancelling consumer '\(tag)'") { h throws(RPCFailure) in
                let arena = CArena()
                amqp_basic_cancel(h.state, ch, arena.bytes(tag))
                try h.check(amqp_get_rpc_reply(h.state), "cancelling consumer '\(tag)'")
            }
        } catch {
            logger.debug("amqp cancel: \(error.message)")
        }
        if cc.outstanding <= 0 { closeConsumerChannel(ch) }
    }

    /// One message of `queue` by basic.get (manual ack), or nil when it is empty. The
    /// puller's channel is reopened first if the broker closed it (a get on a missing queue).
    func get(_ record: ConsumerRecord, queue: String) throws(AMQPError) -> AMQPDelivery? {
        func channel() -> ConsumerChannel? { consumerChannels.values.first { $0.record === record } }
        if channel() == nil { try startConsumer(record) }
        guard let cc = channel() else {
            throw AMQPError(.connectionClosed, "basic.get from queue '\(queue)': no channel")
        }
        let ch = cc.channel
        let what = "basic.get from queue '\(queue)'"
        let got = try rpc(channel: ch, what) { h throws(RPCFailure) -> (UInt64, Bool, String, String, MessageProperties, [UInt8])? in
            let arena = CArena()
            let reply = amqp_basic_get(h.state, ch, arena.bytes(queue), 0)
            try h.check(reply, what)
            guard reply.reply.id == CRMQ_BASIC_GET_OK else { return nil }
            let ok = reply.reply.decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
            // Copied before reading the content, which may reuse the channel's buffers.
            let head = (ok.delivery_tag, ok.redelivered != 0, ok.exchange.string, ok.routing_key.string)
            var message = amqp_message_t()
            try h.check(amqp_read_message(h.state, ch, &message, 0), what)
            defer { amqp_destroy_message(&message) }
            let body = message.body.len > 0 && message.body.bytes != nil
                ? Array(UnsafeRawBufferPointer(start: message.body.bytes, count: message.body.len)) : []
            return (head.0, head.1, head.2, head.3, MessageProperties(message.properties), body)
        }
        guard let (tag, redelivered, exchange, routingKey, properties, body) = got else { return nil }
        cc.delivered(tag)
        return AMQPDelivery(body: body, properties: properties, exchange: exchange, routingKey: routingKey,
                            redelivered: redelivered, deliveryTag: tag, consumerTag: record.tag,
                            token: DeliveryToken(loop: self, record: record, channel: ch, epoch: cc.epoch, deliveryTag: tag))
    }

    func brokerCancelled(channel ch: amqp_channel_t, tag: String) {
        guard let cc = consumerChannels[ch] else { return }
        flushDeliveries()
        consumerRecords.removeValue(forKey: tag)
        cc.cancelled = true
        cc.record.continuation.finish(throwing: AMQPError(.consumerCancelled,
            "the broker cancelled consumer '\(tag)' on queue '\(cc.record.queue)' (queue deleted or its leader moved); declare the queue and consume again"))
        if cc.outstanding <= 0 { closeConsumerChannel(ch) }
    }

    func closeConsumerChannel(_ ch: amqp_channel_t) {
        consumerChannels.removeValue(forKey: ch)
        channelEpochs.removeValue(forKey: ch)
        do {
            try rpc(channel: ch, "closing channel \(ch)") { h throws(RPCFailure) in
                amqp_channel_close(h.state, ch, AMQP_REPLY_SUCCESS)
                try h.check(amqp_get_rpc_reply(h.state), "closing channel \(ch)")
            }
            freeChannels.append(ch)
        } catch {
            logger.debug("amqp channel close: \(error.message)")
        }
    }

    /// Forgets a channel the broker closed (the caller already sent close-ok).
    func forgetChannel(_ ch: amqp_channel_t) -> ConsumerChannel? {
        content.removeValue(forKey: ch)
        channelEpochs.removeValue(forKey: ch)
        let cc = consumerChannels.removeValue(forKey: ch)
        freeChannels.append(ch)
        return cc
    }

    /// A broker channel.close outside an RPC: answer close-ok, then bring the channel's
    /// role back (publisher: fail in-flight confirms; consumer: consume again, so held
    /// deliveries of the old channel become ``AMQPError/Code/deliveryGone``).
    func channelClosedByBroker(_ ch: amqp_channel_t, _ error: AMQPError) {
        guard let h = handle else { return }
        if crmq_send_channel_close_ok(h.state, ch) != 0 {
            connectionLost(error)
            return
        }
        switch ch {
        case Self.publishChannel:
            logger.error("amqp publish channel closed by the broker: \(error.message)")
            publisher.failAll(error)
            do { try openPublishChannel() } catch { logger.error("amqp: \(error.message)") }
        case Self.rpcChannel:
            amqp_channel_open(h.state, ch)
            if amqp_get_rpc_reply(h.state).reply_type != AMQP_RESPONSE_NORMAL {
                connectionLost(AMQPError(.protocolError, "cannot reopen the RPC channel"))
            }
        default:
            guard let cc = forgetChannel(ch) else { return }
            cc.record.liveEpoch.store(0, ordering: .releasing)
            logger.error("amqp consumer channel closed by the broker: \(error.message)",
                         metadata: ["amqp.consumer": "\(cc.record.tag)"])
            guard !cc.cancelled, consumerRecords[cc.record.tag] != nil else { return }
            do {
                try startConsumer(cc.record)
            } catch {
                if handle == nil { return }
                consumerRecords.removeValue(forKey: cc.record.tag)
                cc.record.continuation.finish(throwing: error)
            }
        }
    }

    /// Writes the queued acks/nacks/rejects whose delivering channel is still the live one.
    ///
    /// Acks that settle the oldest open tags of a channel go out as one `multiple=true` ack
    /// (one frame, one write for a whole prefetch window). It never covers a tag the
    /// application has not acked: the run stops at the first open tag not in this batch.
    func settle(_ items: [PendingSettlement]) {
        var byChannel: [amqp_channel_t: [UInt64: Settlement]] = [:]
        for item in items {
            let t = item.token
            guard handle != nil, channelEpochs[t.channel] == t.epoch, consumerChannels[t.channel] != nil else {
                logger.debug("amqp: dropped the settlement of delivery \(t.deliveryTag) of a closed channel; the broker requeued it")
                continue
            }
            byChannel[t.channel, default: [:]][t.deliveryTag] = item.settlement
        }
        for (ch, pending) in byChannel {
            guard let cc = consumerChannels[ch] else { continue }
            settle(pending, on: cc)
            if handle == nil { return }
            if cc.cancelled && cc.outstanding <= 0 { closeConsumerChannel(ch) }
        }
    }

    private func settle(_ batch: [UInt64: Settlement], on cc: ConsumerChannel) {
        var pending = batch
        var runEnd: UInt64 = 0
        var runLength = 0
        func flushRun() -> Bool {
            defer { runLength = 0 }
            return runLength == 0 || send(.ack, tag: runEnd, multiple: runLength > 1, on: cc.channel)
        }
        while cc.head < cc.tags.count {
            let tag = cc.tags[cc.head]
            if cc.settledAhead.remove(tag) != nil { cc.head += 1; continue }
            guard let s = pending.removeValue(forKey: tag) else { break }
            cc.head += 1
            cc.outstanding -= 1
            if case .ack = s {
                runEnd = tag
                runLength += 1
            } else {
                guard flushRun(), send(s, tag: tag, multiple: false, on: cc.channel) else { return }
            }
        }
        guard flushRun() else { return }
        for (tag, s) in pending.sorted(by: { $0.key < $1.key }) {
            guard send(s, tag: tag, multiple: false, on: cc.channel) else { return }
            // Count it only when it is open (a second settle of a tag is the broker's to refuse).
            if !cc.settledAhead.contains(tag), cc.isOpen(tag) {
                cc.settledAhead.insert(tag)
                cc.outstanding -= 1
            }
        }
        if cc.head > 256 && cc.head * 2 > cc.tags.count {
            cc.tags.removeFirst(cc.head)
            cc.head = 0
        }
    }

    /// False when the write failed (the connection is then being recovered).
    private func send(_ s: Settlement, tag: UInt64, multiple: Bool, on ch: amqp_channel_t) -> Bool {
        guard let h = handle else { return false }
        let rc: Int32
        switch s {
        case .ack: rc = amqp_basic_ack(h.state, ch, tag, multiple ? 1 : 0)
        case .nack(let requeue): rc = amqp_basic_nack(h.state, ch, tag, multiple ? 1 : 0, requeue ? 1 : 0)
        case .reject(let requeue): rc = amqp_basic_reject(h.state, ch, tag, requeue ? 1 : 0)
        }
        if rc != 0 {
            connectionLost(AMQPError(.connectionClosed, "sending an ack failed: \(statusText(rc))"))
            return false
        }
        return true
    }
}
