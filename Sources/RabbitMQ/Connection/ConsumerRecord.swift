import CRabbitMQ
import Synchronization

/// A consumer as the application sees it: survives reconnects (the stream keeps yielding).
final class ConsumerRecord: Sendable {
    /// Deliveries of a batch the iterator has not returned yet. Kept here rather than in the
    /// iterator because callers may make a fresh iterator per `next()`.
    struct Leftover {
        var items: [AMQPDelivery] = []
        var index = 0
    }

    let tag: String
    let queue: String
    let prefetch: UInt16
    let arguments: AMQPTable
    /// A puller (``AMQPPuller``): its channel takes messages by basic.get, never consumes.
    let pull: Bool
    /// Batches: one wake-up of the consuming task per frame burst, not per message.
    let continuation: AsyncThrowingStream<[AMQPDelivery], Error>.Continuation
    /// Epoch of the channel currently consuming (0 while there is none): the iterator skips
    /// buffered deliveries of a dead channel, which the broker redelivers anyway.
    let liveEpoch = Atomic<UInt64>(0)
    let leftover = Mutex(Leftover())

    init(tag: String, queue: String, prefetch: UInt16, arguments: AMQPTable, pull: Bool = false,
         continuation: AsyncThrowingStream<[AMQPDelivery], Error>.Continuation) {
        self.tag = tag
        self.pull = pull
        self.queue = queue
        self.prefetch = prefetch
        self.arguments = arguments
        self.continuation = continuation
    }

    /// The next buffered delivery of the current batch, if any.
    func takeBuffered() -> AMQPDelivery? {
        leftover.withLock { l in
            guard l.index < l.items.count else { return nil }
            defer {
                l.index += 1
                if l.index == l.items.count { l.items.removeAll(keepingCapacity: true); l.index = 0 }
            }
            return l.items[l.index]
        }
    }

    /// Keeps `batch[from...]` for the following `next()` calls.
    func keep(_ batch: [AMQPDelivery], from: Int) {
        guard from < batch.count else { return }
        leftover.withLock { l in
            if l.index >= l.items.count {
                l.items = batch
                l.index = from
            } else {
                l.items.append(contentsOf: batch[from...])
            }
        }
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
    /// Tags handed out, ascending, from `head`; entries before `head` are settled. Lets a
    /// batch of acks that covers the oldest tags go out as one `multiple=true` ack.
    var tags: [UInt64] = []
    var head = 0
    /// Tags settled on their own while older tags were still open (skipped at `head`).
    var settledAhead = Set<UInt64>()
    /// Deliveries decoded in the current frame burst, yielded together.
    var batch: [AMQPDelivery] = []

    init(record: ConsumerRecord, channel: amqp_channel_t, epoch: UInt64) {
        self.record = record
        self.channel = channel
        self.epoch = epoch
    }

    /// Whether `tag` was handed out and is at or after `head` (binary search: tags ascend).
    func isOpen(_ tag: UInt64) -> Bool {
        var lo = head, hi = tags.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if tags[mid] < tag { lo = mid + 1 } else { hi = mid }
        }
        return lo < tags.count && tags[lo] == tag
    }

    func delivered(_ tag: UInt64) {
        outstanding += 1
        tags.append(tag)
    }
}

/// A message whose header and body frames are still arriving.
struct PendingContent {
    enum Method {
        case deliver(deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
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

/// An ack, nack or reject waiting for the connection thread.
struct PendingSettlement: Sendable {
    var token: DeliveryToken
    var settlement: ConnectionLoop.Settlement
}
