/// Outstanding publisher confirms of the publish channel, by delivery sequence number.
///
/// Sequence numbers are contiguous from 1 per channel, so `multiple=true` acks settle a
/// range from ``lowest`` in amortised O(1).
struct PublisherState {
    struct Pending {
        var continuation: CheckedContinuation<Void, Error>
        var exchange: String
        var routingKey: String
        var mandatory: Bool
        var returned: AMQPError?
    }

    private(set) var nextSeq: UInt64 = 1
    private var lowest: UInt64 = 1
    private var pending: [UInt64: Pending] = [:]
    /// Mandatory publishes in order, to match a basic.return (which carries no sequence
    /// number) with the oldest unconfirmed publish to the same exchange and routing key.
    private var mandatory: [UInt64] = []

    var inFlight: Int { pending.count }

    mutating func add(_ p: Pending) {
        pending[nextSeq] = p
        if p.mandatory { mandatory.append(nextSeq) }
        nextSeq += 1
    }

    mutating func settle(_ tag: UInt64, multiple: Bool, error: AMQPError?) {
        if multiple {
            var s = lowest
            while s <= tag {
                complete(s, error)
                s += 1
            }
        } else {
            complete(tag, error)
        }
        while lowest < nextSeq, pending[lowest] == nil { lowest += 1 }
        if pending.isEmpty { lowest = nextSeq }
    }

    private mutating func complete(_ seq: UInt64, _ error: AMQPError?) {
        guard let p = pending.removeValue(forKey: seq) else { return }
        if let error {
            p.continuation.resume(throwing: error)
        } else if let returned = p.returned {
            p.continuation.resume(throwing: returned)
        } else {
            p.continuation.resume()
        }
    }

    /// Marks the oldest unconfirmed mandatory publish to `exchange`/`routingKey` as returned;
    /// its confirm, which the broker sends right after the return, then throws.
    mutating func markReturned(exchange: String, routingKey: String, replyCode: UInt16, replyText: String) {
        mandatory.removeAll { pending[$0] == nil }
        guard let seq = mandatory.first(where: {
            let p = pending[$0]!
            return p.returned == nil && p.exchange == exchange && p.routingKey == routingKey
        }) else { return }
        pending[seq]!.returned = AMQPError(.unroutable,
            "no queue is bound to exchange '\(exchange.isEmpty ? "(default)" : exchange)' with routing key '\(routingKey)' (\(replyCode) \(replyText)); declare and bind the queue before publishing",
            replyCode: replyCode)
    }

    /// Fails everything in flight and restarts numbering, as a new channel does.
    mutating func failAll(_ error: AMQPError) {
        let all = pending
        pending = [:]
        mandatory = []
        nextSeq = 1
        lowest = 1
        for (_, p) in all { p.continuation.resume(throwing: error) }
    }
}
