import CRabbitMQ
import Synchronization

/// A consumer as the application sees it: survives reconnects (the stream keeps yielding).
final class ConsumerRecord: Sendable {
    let tag: String
    let queue: String
    let prefetch: UInt16
    let arguments: AMQPTable
    let continuation: AsyncThrowingStream<AMQPDelivery, Error>.Continuation
    /// Epoch of the channel currently consuming (0 while there is none): the iterator skips
    /// buffered deliveries of a dead channel, which the broker redelivers anyway.
    let liveEpoch = Atomic<UInt64>(0)

    init(tag: String, queue: String, prefetch: UInt16, arguments: AMQPTable,
         continuation: AsyncThrowingStream<AMQPDelivery, Error>.Continuation) {
        self.tag = tag
        self.queue = queue
        self.prefetch = prefetch
        self.arguments = arguments
        self.continuation = continuation
    }
}

/// A consumer on one channel of one connection generation (thread-owned).
final class ConsumerChannel {
    let record: ConsumerRecord
    let channel: amqp_channel_t
    let epoch: UInt64
    /// Deliveries handed out and not yet settled; the channel closes after a cancel once
    /// this reaches zero, so held deliveries stay ackable.
    var outstanding = 0
    var cancelled = false

    init(record: ConsumerRecord, channel: amqp_channel_t, epoch: UInt64) {
        self.record = record
        self.channel = channel
        self.epoch = epoch
    }
}

/// A message whose header and body frames are still arriving.
struct PendingContent {
    enum Method {
        case deliver(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
        case returned(exchange: String, routingKey: String, replyCode: UInt16, replyText: String)
    }

    var method: Method
    var properties = MessageProperties()
    var bodySize = 0
    var body: [UInt8] = []
    var headerSeen = false
}

/// Identifies the connection generation and channel epoch that delivered a message.
struct DeliveryToken: Sendable {
    let loop: ConnectionLoop
    let record: ConsumerRecord
    let channel: amqp_channel_t
    let epoch: UInt64
    let deliveryTag: UInt64
}
