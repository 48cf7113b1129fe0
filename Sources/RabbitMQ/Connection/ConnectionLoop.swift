import CRabbitMQ
import Foundation
import Logging
import Synchronization

/// A unit of work handed to the connection thread.
struct Work: Sendable {
    /// False for work that must answer even while reconnecting (acks of dead deliveries).
    var needsConnection: Bool
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
        var sleeping = false
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
    var generation: UInt64 = 0
    var topology = Topology()
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

    func enqueue(_ work: Work) {
        let (wake, rejected) = inbox.withLock { s -> (Bool, Bool) in
            if s.stopping || s.stopped { return (false, true) }
            s.items.append(work)
            if s.sleeping { s.sleeping = false; return (true, false) }
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

    /// Like ``submit(needsConnection:_:)`` but `body` keeps the continuation and resumes it
    /// later (a publish resumes on the broker's confirm).
    func submitDeferred<T: Sendable>(_ body: @escaping @Sendable (ConnectionLoop, CheckedContinuation<T, Error>) -> Void)
        async throws -> T
    {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            enqueue(Work(needsConnection: true, run: { loop in body(loop, cont) }, fail: { cont.resume(throwing: $0) }))
        }
    }

    /// Fire-and-forget variant for deinit / stream termination paths.
    func post(_ body: @escaping @Sendable (ConnectionLoop) -> Void) {
        enqueue(Work(needsConnection: false, run: body, fail: { _ in }))
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
            inbox.withLock { $0.stopped = true }
            firstConnect.resume(throwing: error)
            return
        }
        var delay = config.reconnectInitialDelay
        while !stopRequested {
            if handle == nil {
                runInbox()
                if sleepInterruptibly(delay) { break }
                do {
                    try connect()
                    delay = config.reconnectInitialDelay
                } catch {
                    logger.warning("amqp reconnect failed, retrying in \(min(delay * 2, config.reconnectMaxDelay))",
                                   metadata: ["amqp.error": "\(error)"])
                    delay = min(delay * 2, config.reconnectMaxDelay)
                }
                continue
            }
            runInbox()
            if handle != nil { drainFrames() }
            if handle != nil { waitForActivity() }
        }
        shutdown()
    }

    private func connect() throws {
        let h = try ConnectionHandle.open(config)
        handle = h
        generation += 1
        lastReceive = .now
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
        if generation > 1 { recoverTopology() }
        resumeConsumers()
        guard handle != nil else { throw AMQPError(.connectionClosed, "connection lost during recovery") }
        connected.store(true, ordering: .releasing)
        logger.info("amqp connected", metadata: ["amqp.generation": "\(generation)", "amqp.heartbeat": "\(h.heartbeat)"])
    }

    private func runInbox() {
        let items = inbox.withLock { s -> [Work] in
            let i = s.items
            s.items = []
            return i
        }
        var deferred: [Work] = []
        for item in items {
            if item.needsConnection && handle == nil { deferred.append(item); continue }
            item.run(self)
        }
        if !deferred.isEmpty { inbox.withLock { $0.items.insert(contentsOf: deferred, at: 0) } }
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
        let sleep = inbox.withLock { s -> Bool in
            if !s.items.isEmpty || s.stopping || pending { return false }
            s.sleeping = true
            return true
        }
        let tick = h.heartbeat > 0 ? max(Int(h.heartbeat) * 1000 / 5, 50) : 1000
        var fds = [pollfd(fd: h.socketFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 2, sleep ? Int32(tick) : 0)
        if sleep { inbox.withLock { $0.sleeping = false } }
        if fds[1].revents != 0 { crmq_eventfd_drain(wakeFD) }
        if fds[0].revents != 0 { lastReceive = .now }
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
    }

    private func shutdown() {
        let closed = AMQPError(.connectionClosed, "the connection was closed by close()")
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
        let (items, waiters) = inbox.withLock { s in
            s.stopped = true
            defer { s.items = []; s.closeWaiters = [] }
            return (s.items, s.closeWaiters)
        }
        for item in items { item.fail(closed) }
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
