/// The deliveries of one consumer, as an `AsyncSequence`; keeps yielding across reconnects.
///
/// The sequence ends after ``cancel()`` or ``AMQPConnection/close()``, and throws when the
/// broker cancels the consumer or it cannot be resumed after a reconnect (queue gone).
public struct AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery

    public let tag: String
    public let queue: String
    let stream: AsyncThrowingStream<[AMQPDelivery], Error>
    let loop: ConnectionLoop
    let record: ConsumerRecord

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<[AMQPDelivery], Error>.AsyncIterator
        let record: ConsumerRecord

        public mutating func next() async throws -> AMQPDelivery? {
            try await next(isolation: nil)
        }

        /// Runs on the caller's actor (no hop per message). Deliveries arrive in batches (one
        /// wake-up per burst of frames); the rest of a batch waits in the consumer, so a fresh
        /// iterator continues where the last one stopped. Skips deliveries that were still
        /// buffered when their channel died: they could not be acked, and the broker
        /// delivers them again on the new channel.
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> AMQPDelivery? {
            while true {
                if let d = record.takeBuffered() {
                    if d.token.epoch == record.liveEpoch.load(ordering: .acquiring) { return d }
                    continue
                }
                guard let batch = try await base.next(isolation: actor) else { return nil }
                guard !batch.isEmpty else { continue }
                record.keep(batch, from: 1)
                let d = batch[0]
                if d.token.epoch == record.liveEpoch.load(ordering: .acquiring) { return d }
            }
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
