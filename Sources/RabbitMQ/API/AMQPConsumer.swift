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
    let record: ConsumerRecord

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<AMQPDelivery, Error>.AsyncIterator
        let record: ConsumerRecord

        /// Skips deliveries that were still buffered when their channel died: they could not
        /// be acked, and the broker delivers them again on the new channel.
        public mutating func next() async throws -> AMQPDelivery? {
            while let d = try await base.next() {
                let live = record.liveEpoch.load(ordering: .acquiring)
                if d.token.epoch == live { return d }
            }
            return nil
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), record: record)
    }

    /// Stops deliveries (basic.cancel). Deliveries already received can still be settled;
    /// messages that were in flight are given back to the queue.
    public func cancel() async {
        let tag = self.tag
        _ = try? await loop.submit(needsConnection: false) { loop in loop.cancelConsumer(tag: tag) }
    }
}
