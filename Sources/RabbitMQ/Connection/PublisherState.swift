/// Outstanding publisher confirms of the publish channel, by delivery sequence number.
///
/// Sequence numbers are contiguous from 1 per channel, so the entries live in an array
/// indexed by `seq - firstSeq` (no hashing per message) and `multiple=true` acks settle a
/// range from the oldest open one in amortised O(1).
struct PublisherState {
    struct Pending {
        var continuation: CheckedContinuation<Void, Error>
        var exchange: String
        var routingKey: String
        var mandatory: Bool
        var returned: AMQPError?
    }

    private(set) var nextSeq: UInt64 = 1
    /// Sequence number of `slots[0]`.
    private var firstSeq: UInt64 = 1
    /// `slots[..<head]` are all settled.
    private var head = 0
    private var slots: [Pending?] = []
    private(set) var inFlight = 0
    /// Mandatory publishes in order, to match a basic.return (which carries no sequence
    /// number) with the oldest unconfirmed publish to the same exchange and routing key.
    private var mandatory: [UInt64] = []

    mutating func add(_ p: Pending) {
        slots.append(p)
        inFlight += 1
        if p.mandatory { mandatory.append(nextSeq) }
        nextSeq += 1
    }

    private func index(_ seq: UInt64) -> Int? {
        guard seq >= firstSeq, seq < nextSeq else { return nil }
        return Int(seq - firstSeq)
    }

    mutating func settle(_ tag: UInt64, multiple: Bool, error: AMQPError?) {
        guard let last = index(tag) else { return }
        if multiple {
            var i = head
            while i <= last {
                complete(i, error)
                i += 1
            }
        } else {
            complete(last, error)
        }
        while head < slots.count, slots[head] == nil { head += 1 }
        if head == slots.count {
            firstSeq += UInt64(head)
            slots.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > slots.count {
            firstSeq += UInt64(head)
            slots.removeFirst(head)
            head = 0
        }
    }

    private mutating func complete(_ i: Int, _ error: AMQPError?) {
        guard let p = slots[i] else { return }
        slots[i] = nil
        inFlight -= 1
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
        let open = mandatory.filter { seq in index(seq).map { slots[$0] != nil } ?? false }
        mandatory = open
        guard let seq = mandatory.first(where: {
            let p = slots[index($0)!]!
            return p.returned == nil && p.exchange == exchange && p.routingKey == routingKey
        }) else { return }
        slots[index(seq)!]!.returned = AMQPError(.unroutable,
            "no queue is bound to exchange '\(exchange.isEmpty ? "(default)" : exchange)' with routing key '\(routingKey)' (\(replyCode) \(replyText)); declare and bind the queue before publishing",
            replyCode: replyCode)
    }

    /// Fails everything in flight and restarts numbering, as a new channel does.
    mutating func failAll(_ error: AMQPError) {
        let all = slots
        slots = []
        head = 0
        inFlight = 0
        mandatory = []
        nextSeq = 1
        firstSeq = 1
        for p in all { p?.continuation.resume(throwing: error) }
    }
}
