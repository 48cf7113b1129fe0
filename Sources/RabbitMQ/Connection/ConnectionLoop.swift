import Backoff
import CRabbitMQ
import CoreMetrics
import Foundation
import Logging
import Synchronization

/// A unit of work handed to the connection thread.
struct Work: Sendable {
    /// False for work that must answer even while reconnecting (acks of dead deliveries).
    var needsConnection: Bool
    /// False for acks: they may wait for the thread's short linger, so that a fast consumer's
    /// acks go out in batches instead of waking the thread once per message.
    var urgent = true
    var run: @Sendable (ConnectionLoop) -> Void
    var fail: @Sendable (AMQPError) -> Void
}

/// The dedicated OS thread that owns one rabbitmq-c connection (and its successors after
/// reconnects).
///
/// rabbitmq-c is not thread-safe and services heartbeats only inside its own calls, so this
/// thread polls the socket and a wake-up eventfd with a timeout under a quarter of the
/// heartbeat, runs the frame loop, and runs the ``Work`` that tasks enqueue.
/// `@unchecked Sendable`: every stored property except `inbox`, `connected` and `wakeFD`
/// (which are locked, atomic or immutable) is touched only by that thread.
final class ConnectionLoop: @unchecked Sendable {
    struct Inbox {
        var items: [Work] = []
        /// Publishes and settlements are plain values (no closure, no allocation of their
        /// own) since they come once per message.
        var publishes: [PublishRequest] = []
        var settlements: [PendingSettlement] = []
        var sleeping = false
        var lingering = false
        var stopping = false
        var stopped = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    static let publishChannel: amqp_channel_t = 1
    static let rpcChannel: amqp_channel_t = 2

    let config: AMQPConfiguration
    let logger: Logger
    private let inbox = Mutex(Inbox())
    private let wakeFD: Int32
    let connected = Atomic<Bool>(false)

    // Thread-owned state.
    var handle: ConnectionHandle?
    lazy var lifecycle = ConnectionLifecycle(backoff: Backoff(initial: config.reconnectInitialDelay, maximum: config.reconnectMaxDelay))
    var generation: UInt64 { lifecycle.generation }
    var topology = DeclaredTopology()
    var publisher = PublisherState()
    var consumerRecords: [String: ConsumerRecord] = [:]
    var consumerChannels: [amqp_channel_t: ConsumerChannel] = [:]
    /// The epoch of each open consumer channel; a delivery may only be settled on the epoch
    /// that delivered it (not after the channel or connection was replaced).
    var channelEpochs: [amqp_channel_t: UInt64] = [:]
    var nextEpoch: UInt64 = 1
    var nextChannel: amqp_channel_t = 3
    var freeChannels: [amqp_channel_t] = []
    var content: [amqp_channel_t: PendingContent] = [:]
    var lastReceive = ContinuousClock.now
    var moreFramesBuffered = false
    /// Set when an iteration handled frames or work: the thread then lingers briefly
    /// before a deep sleep, collecting acks.
    var didWork = false
    /// The last poll saw the socket readable (or timed out): frames may be waiting.
    var socketReady = true
    var lastDrain = ContinuousClock.now
    /// Seen under the inbox lock in ``runInbox()``, to spare a lock per iteration.
    private var stopSeen = false
    let writer = FrameWriter()
    /// Successful reconnections after a lost connection (not the first connect). Made at
    /// each use so that it reports to whatever metrics backend is bootstrapped by then.
    var reconnects: Counter { Counter(label: "amqp_reconnects_total") }
    var names = NameCache()
    /// Consumers with deliveries decoded in the current frame burst.
    var batchedConsumers: [ConsumerChannel] = []
    // Spare arrays swapped with the inbox's, so taking the inbox allocates nothing.
    private var spareItems: [Work] = []
    private var sparePublishes: [PublishRequest] = []
    private var spareSettlements: [PendingSettlement] = []

    private init(config: AMQPConfiguration, logger: Logger) {
        self.config = config
        var logger = logger
        logger[metadataKey: "amqp.host"] = "\(config.host):\(config.port)"
        logger[metadataKey: "amqp.vhost"] = "\(config.vhost)"
        self.logger = logger
        self.wakeFD = crmq_eventfd()
    }

    deinit { close(wakeFD) }

    /// Starts the thread and waits for the first connection; that one is not retried, so a
    /// wrong password or host fails fast.
    static func start(config: AMQPConfiguration, logger: Logger) async throws -> ConnectionLoop {
        let loop = ConnectionLoop(config: config, logger: logger)
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, Error>) in
            let thread = Thread { loop.run(firstConnect: cont) }
            thread.name = "amqp-\(config.host)"
            thread.stackSize = 1 << 20
            thread.start()
        }
        return loop
    }

    // MARK: Handing work to the thread

    /// Queues a publish; its continuation resumes on the broker's confirm.
    func enqueuePublish(_ request: PublishRequest) {
        let (wake, rejected) = inbox.withLock { s -> (Bool, Bool) in
            if s.stopping || s.stopped { return (false, true) }
            s.publishes.append(request)
            if s.sleeping || s.lingering {
                s.sleeping = false
                s.lingering = false
                return (true, false)
            }
            return (false, false)
        }
        if rejected {
            request.continuation.resume(throwing: AMQPError(.connectionClosed, "the connection was closed by close(); open a new one"))
        }
        if wake { crmq_eventfd_signal(wakeFD) }
    }

    /// Queues an ack/nack/reject. Not urgent: a lingering thread picks a batch of them up
    /// within a millisecond, so a fast consumer's acks coalesce instead of waking it per message.
    func enqueueSettlement(_ settlement: PendingSettlement) {
        let wake = inbox.withLock { s -> Bool in
            if s.stopping || s.stopped { return false }
            s.settlements.append(settlement)
            if s.sleeping {
                s.sleeping = false
                return true
            }
            return false
        }
        if wake { crmq_eventfd_signal(wakeFD) }
    }

    func enqueue(_ work: Work) {
        let (wake, rejected) = inbox.withLock { s -> (Bool, Bool) in
            if s.stopping || s.stopped { return (false, true) }
            s.items.append(work)
            if s.sleeping || (s.lingering && work.urgent) {
                s.sleeping = false
                s.lingering = false
                return (true, false)
            }
            return (false, false)
        }
        if rejected { work.fail(AMQPError(.connectionClosed, "the connection was closed by close(); open a new one")) }
        if wake { crmq_eventfd_signal(wakeFD) }
    }

    /// Runs `body` on the connection thread and returns its result.
    func submit<T: Sendable>(needsConnection: Bool = true,
                             _ body: @escaping @Sendable (ConnectionLoop) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            enqueue(Work(needsConnection: needsConnection,
                         run: { loop in cont.resume(with: Result { try body(loop) }) },
                         fail: { cont.resume(throwing: $0) }))
        }
    }

    /// Fire-and-forget variant (acks, stream termination).
    func post(urgent: Bool = true, _ body: @escaping @Sendable (ConnectionLoop) -> Void) {
        enqueue(Work(needsConnection: false, urgent: urgent, run: body, fail: { _ in }))
    }

    func stop() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let (wake, done) = inbox.withLock { s -> (Bool, Bool) in
                if s.stopped { return (false, true) }
                s.stopping = true
                s.closeWaiters.append(cont)
                return (true, false)
            }
            if done { cont.resume() }
            if wake { crmq_eventfd_signal(wakeFD) }
        }
    }

    func requestStop() {
        inbox.withLock { $0.stopping = true }
        crmq_eventfd_signal(wakeFD)
    }

    private var stopRequested: Bool { inbox.withLock { $0.stopping } }

    // MARK: The thread

    private func run(firstConnect: CheckedContinuation<Void, Error>) {
        do {
            try connect()
            firstConnect.resume()
        } catch {
            lifecycle.firstConnectFailed()
            inbox.withLock { $0.stopped = true }
            firstConnect.resume(throwing: error)
            return
        }
        while true {
            if handle == nil {
                lifecycle.lost(at: .now)
                guard case .wait(let delay) = lifecycle.next(stopRequested: stopRequested) else { break }
                runInbox()
                if sleepInterruptibly(delay) { break }
                do {
                    try connect()
                    reconnects.increment()
                } catch {
                    let next = lifecycle.reconnectFailed()
                    logger.warning("amqp reconnect failed, retrying in \(next)", metadata: ["amqp.error": "\(error)"])
                }
                continue
            }
            runInbox()
            if stopSeen { break }
            if handle != nil, needsDrain() { drainFrames() }
            if handle != nil { waitForActivity() }
        }
        lifecycle.stopped()
        shutdown()
    }

    private func connect() throws {
        let h = try ConnectionHandle.open(config)
        handle = h
        lastReceive = .now
        lastDrain = .now
        socketReady = true
        // A broker that accepts connections while still booting (queues recovering, quorum
        // leaders being elected) may sit on the recovery RPCs; bound each by the connect
        // timeout rather than the (longer) RPC timeout, so a stuck attempt is abandoned
        // quickly and retried instead of holding the connection down for minutes.
        h.setRPCTimeout(min(config.rpcTimeout, config.connectTimeout))
        defer { if let h = handle { h.setRPCTimeout(config.rpcTimeout) } }
        do {
            try openPublishChannel()
            try rpc(channel: Self.rpcChannel, "opening a channel") { h throws(RPCFailure) in
                amqp_channel_open(h.state, Self.rpcChannel)
                try h.check(amqp_get_rpc_reply(h.state), "opening a channel")
            }
        } catch {
            handle?.close(graceful: false)
            handle = nil
            throw error
        }
        if lifecycle.opened() { recoverTopology() }
        resumeConsumers()
        guard handle != nil else { throw AMQPError(.connectionClosed, "connection lost during recovery") }
        connected.store(true, ordering: .releasing)
        if let outage = lifecycle.ready(at: .now) { logger.info("amqp reconnected", metadata: ["amqp.outage": "\(outage)"]) }
        logger.info("amqp connected", metadata: ["amqp.generation": "\(generation)", "amqp.heartbeat": "\(h.heartbeat)"])
    }

    /// Runs the queued settlements, work and publishes. Publishes wait in the inbox while
    /// there is no connection. Settlements go first: an ack the application sent before
    /// another call is on the wire before that call's frames.
    private func runInbox() {
        var items = spareItems, publishes = sparePublishes, settlements = spareSettlements
        let connected = handle != nil
        stopSeen = inbox.withLock { s in
            swap(&s.items, &items)
            swap(&s.settlements, &settlements)
            if connected { swap(&s.publishes, &publishes) }
            return s.stopping
        }
        if !settlements.isEmpty {
            settle(settlements)
            didWork = true
        }
        var deferred: [Work] = []
        for item in items {
            if item.needsConnection && handle == nil { deferred.append(item); continue }
            item.run(self)
            didWork = true
        }
        if !deferred.isEmpty { inbox.withLock { $0.items.insert(contentsOf: deferred, at: 0) } }
        if !publishes.isEmpty {
            if handle != nil {
                publish(publishes)
            } else {
                let waiting = publishes
                inbox.withLock { $0.publishes.insert(contentsOf: waiting, at: 0) }
            }
            didWork = true
        }
        items.removeAll(keepingCapacity: true)
        publishes.removeAll(keepingCapacity: true)
        settlements.removeAll(keepingCapacity: true)
        spareItems = items
        sparePublishes = publishes
        spareSettlements = settlements
    }

    /// Whether to call into rabbitmq-c for frames: only when the socket was readable,
    /// rabbitmq-c holds buffered data, or a heartbeat tick is due (it sends heartbeats
    /// only inside its calls). Spares a recv and a poll per iteration while only writing.
    private func needsDrain() -> Bool {
        guard let h = handle else { return false }
        if socketReady || moreFramesBuffered { return true }
        if amqp_data_in_buffer(h.state) != 0 || amqp_frames_enqueued(h.state) != 0 { return true }
        // Also after a millisecond without a drain: work arriving steadily during a linger
        // must not starve reading (nor rabbitmq-c's heartbeats).
        return ContinuousClock.now - lastDrain > .milliseconds(1)
    }

    private func tickMilliseconds(_ h: ConnectionHandle) -> Int {
        h.heartbeat > 0 ? max(h.heartbeat * 1000 / 5, 50) : 1000
    }

    /// Sleeps on the wake fd; still answers work that needs no connection. True when stopping.
    private func sleepInterruptibly(_ duration: Duration) -> Bool {
        let deadline = ContinuousClock.now + duration
        while true {
            if stopRequested { return true }
            let left = deadline - .now
            if left <= .zero { return false }
            inbox.withLock { $0.sleeping = true }
            var fd = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, Int32(left.milliseconds + 1))
            inbox.withLock { $0.sleeping = false }
            if fd.revents != 0 { crmq_eventfd_drain(wakeFD) }
            runInbox()
        }
    }

    private func waitForActivity() {
        guard let h = handle else { return }
        let heartbeat = Duration.seconds(h.heartbeat)
        if h.heartbeat > 0, ContinuousClock.now - lastReceive > heartbeat * 2 {
            connectionLost(AMQPError(.connectionClosed,
                "no data from the broker for \(heartbeat * 2) (two heartbeats): the peer is dead or the network is down; reconnecting"))
            return
        }
        let pending = moreFramesBuffered || amqp_data_in_buffer(h.state) != 0 || amqp_frames_enqueued(h.state) != 0
        // After activity with deliveries out, linger 1 ms: acks queue up without waking us,
        // and the socket is not watched, so deliveries arriving meanwhile are read in one
        // burst afterwards (one wake-up of the thread and of the consumer per burst, not per
        // TCP segment). Otherwise sleep until the socket, urgent work, or the heartbeat tick.
        let linger = didWork && consumerChannels.values.contains { $0.outstanding > 0 }
        didWork = false
        let sleep = inbox.withLock { s -> Bool in
            if !s.items.isEmpty || !s.publishes.isEmpty || !s.settlements.isEmpty || s.stopping || pending { return false }
            if linger { s.lingering = true } else { s.sleeping = true }
            return true
        }
        let tick = tickMilliseconds(h)
        var fds = (pollfd(fd: h.socketFD, events: sleep && linger ? 0 : Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))
        let ready = withUnsafeMutableBytes(of: &fds) { raw in
            poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), 2, sleep ? Int32(linger ? 1 : tick) : 0)
        }
        if sleep {
            inbox.withLock {
                $0.sleeping = false
                $0.lingering = false
            }
        }
        if fds.1.revents != 0 { crmq_eventfd_drain(wakeFD) }
        socketReady = fds.0.revents != 0 || (ready == 0 && sleep)
        if fds.0.revents != 0 { lastReceive = .now }
    }

    /// Tears the connection down after a failure; the run loop reconnects with backoff.
    func connectionLost(_ error: AMQPError) {
        guard let h = handle else { return }
        h.close(graceful: false)
        handle = nil
        connected.store(false, ordering: .releasing)
        logger.warning("amqp connection lost, reconnecting", metadata: ["amqp.error": "\(error.message)"])
        publisher.failAll(AMQPError(.connectionClosed,
            "the connection was lost before the broker confirmed the message (\(error.message)); it may or may not have been stored: publish it again, consumers must tolerate duplicates"))
        for record in consumerRecords.values { record.liveEpoch.store(0, ordering: .releasing) }
        consumerChannels.removeAll()
        channelEpochs.removeAll()
        freeChannels.removeAll()
        nextChannel = 3
        content.removeAll()
        moreFramesBuffered = false
        for c in batchedConsumers { c.batch = [] }
        batchedConsumers.removeAll()
    }

    private func shutdown() {
        let closed = AMQPError(.connectionClosed, "the connection was closed by close()")
        // Acks the application sent before close() still go out.
        let settlements = inbox.withLock { s in
            defer { s.settlements = [] }
            return s.settlements
        }
        if handle != nil, !settlements.isEmpty { settle(settlements) }
        publisher.failAll(closed)
        for record in consumerRecords.values { record.continuation.finish() }
        consumerRecords.removeAll()
        consumerChannels.removeAll()
        channelEpochs.removeAll()
        if let h = handle {
            h.close(graceful: true)
            handle = nil
        }
        connected.store(false, ordering: .releasing)
        let (items, publishes, waiters) = inbox.withLock { s in
            s.stopped = true
            defer { s.items = []; s.publishes = []; s.closeWaiters = [] }
            return (s.items, s.publishes, s.closeWaiters)
        }
        for item in items { item.fail(closed) }
        for p in publishes { p.continuation.resume(throwing: closed) }
        for w in waiters { w.resume() }
        logger.debug("amqp connection closed")
    }

    // MARK: Channels

    func allocateChannel() -> amqp_channel_t {
        if let c = freeChannels.popLast() { return c }
        defer { nextChannel += 1 }
        return nextChannel
    }

    func newEpoch(for channel: amqp_channel_t) -> UInt64 {
        defer { nextEpoch += 1 }
        channelEpochs[channel] = nextEpoch
        return nextEpoch
    }

    /// Runs a blocking RPC and maps failures: a broker channel.close is answered with
    /// close-ok (rabbitmq-c does not) and the RPC channel reopened; a lost connection starts
    /// recovery. The thrown error is always an ``AMQPError``.
    @discardableResult
    func rpc<T>(channel: amqp_channel_t, _ context: @autoclosure () -> String,
                _ body: (ConnectionHandle) throws(RPCFailure) -> T) throws(AMQPError) -> T {
        guard let h = handle else {
            throw AMQPError(.connectionClosed, "\(context()): not connected; the connection is being re-established")
        }
        do {
            return try body(h)
        } catch {
            switch error {
            case .channelClosed(let e):
                if crmq_send_channel_close_ok(h.state, channel) != 0 {
                    connectionLost(e)
                } else if channel == Self.rpcChannel {
                    amqp_channel_open(h.state, channel)
                    if amqp_get_rpc_reply(h.state).reply_type != AMQP_RESPONSE_NORMAL {
                        connectionLost(AMQPError(.protocolError, "cannot reopen the RPC channel"))
                    }
                } else if channel == Self.publishChannel {
                    publisher.failAll(e)
                    try? openPublishChannel()
                } else {
                    _ = forgetChannel(channel)
                }
                throw e
            case .connectionLost(let e, let brokerClosed):
                if brokerClosed { _ = crmq_send_connection_close_ok(h.state) }
                connectionLost(e)
                throw e
            }
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let c = components
        return c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000
    }
}
