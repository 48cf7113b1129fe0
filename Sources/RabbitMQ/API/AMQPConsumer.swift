/// The deliveries of one consumer, as an `AsyncSequence`; keeps yielding across reconnects.
///
/// The sequence ends after ``cancel()`` or ``AMQPConnection/close()``, and throws when the
/// broker cancels the consumer or it cannot be resumed after a reconnect (queue gone).
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    public let tag: String
    public let queue: String
    let stream: AsyncThrowingStream<AMQPDelivery, Error>
    let loop: ConnectionLoop

    public func makeAsyncIterator() -> AsyncThrowingStream<AMQPDelivery, Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }

    /// Stops deliveries (basic.cancel). Deliveries already received can still be settled;
    /// messages that were in flight are given back to the queue.
    public func cancel() async {
        let tag = self.tag
        _ = try? await loop.submit(needsConnection: false) { loop in loop.cancelConsumer(tag: tag) }
    }
}
