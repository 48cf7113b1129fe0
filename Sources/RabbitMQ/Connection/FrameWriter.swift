import CRabbitMQ
import Foundation

/// Encodes basic.publish method, header and body frames back to back into one buffer, so a
/// burst of publishes leaves in one `send` instead of three writes per message.
///
/// Plain TCP only (the socket fd is written directly; rabbitmq-c keeps no partial output of
/// its own between calls, and only the connection thread writes). TLS goes through
/// `amqp_basic_publish`. Thread-owned by the ``ConnectionLoop`` thread.
final class FrameWriter {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    static let basicPublishMethod: UInt32 = 0x003C_0028  // AMQP_BASIC_PUBLISH_METHOD
    static let basicClass: UInt16 = 60
    private static let frameEnd: UInt8 = 0xCE  // AMQP_FRAME_END

    init(capacity: Int = 1 << 16) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    private func reserve(_ n: Int) {
        guard count + n > capacity else { return }
        var newCapacity = capacity * 2
        while newCapacity < count + n { newCapacity *= 2 }
        let p = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        p.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = p
        capacity = newCapacity
    }

    private func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        base.storeBytes(of: v.bigEndian, toByteOffset: offset, as: T.self)
    }

    private func frameHeader(_ type: UInt8, _ channel: amqp_channel_t, size: Int, at offset: Int) {
        put(type, at: offset)
        put(channel, at: offset + 1)
        put(UInt32(size), at: offset + 3)
        put(Self.frameEnd, at: offset + 7 + size)
    }

    /// Appends one message; on an encoding error (e.g. headers larger than a frame) nothing
    /// is appended and the rabbitmq-c status is returned.
    func appendPublish(channel: amqp_channel_t, method: inout amqp_basic_publish_t,
                       properties: inout amqp_basic_properties_t, body: UnsafeRawBufferPointer,
                       frameMax: Int) -> Int32 {
        let start = count
        // Method frame: 7-byte header, method id, arguments, frame end.
        reserve(7 + 4 + 2 + 2 * 256 + 1 + 1)
        put(Self.basicPublishMethod, at: count + 7)
        var rc = amqp_encode_method(Self.basicPublishMethod, &method,
                                    amqp_bytes_t(len: capacity - count - 12, bytes: base + count + 11))
        if rc < 0 { count = start; return rc }
        frameHeader(UInt8(AMQP_FRAME_METHOD), channel, size: Int(rc) + 4, at: count)
        count += 8 + Int(rc) + 4
        // Header frame: class, weight, body size, properties.
        reserve(frameMax)
        put(Self.basicClass, at: count + 7)
        put(UInt16(0), at: count + 9)
        put(UInt64(body.count), at: count + 11)
        rc = amqp_encode_properties(Self.basicClass, &properties,
                                    amqp_bytes_t(len: frameMax - 8 - 12, bytes: base + count + 19))
        if rc < 0 { count = start; return rc }
        frameHeader(UInt8(AMQP_FRAME_HEADER), channel, size: Int(rc) + 12, at: count)
        count += 8 + Int(rc) + 12
        // Body frames of at most frameMax - 8 bytes each.
        let chunk = frameMax - 8
        var offset = 0
        while offset < body.count {
            let n = min(chunk, body.count - offset)
            reserve(8 + n)
            (base + count + 7).copyMemory(from: body.baseAddress! + offset, byteCount: n)
            frameHeader(UInt8(AMQP_FRAME_BODY), channel, size: n, at: count)
            count += 8 + n
            offset += n
        }
        return 0
    }

    /// Writes everything buffered to `fd` (non-blocking socket: waits for POLLOUT up to
    /// `timeout`). Returns nil or what went wrong.
    func flush(to fd: Int32, timeout: Duration) -> String? {
        defer { count = 0 }
        var offset = 0
        while offset < count {
            let n = send(fd, base + offset, count - offset, Int32(MSG_NOSIGNAL))
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let r = poll(&p, 1, Int32(clamping: timeout.milliseconds))
                if r == 0 { return "the broker did not read for \(timeout)" }
                if r < 0 && errno != EINTR { return String(cString: strerror(errno)) }
                continue
            }
            return n == 0 ? "socket closed" : String(cString: strerror(errno))
        }
        return nil
    }
}
