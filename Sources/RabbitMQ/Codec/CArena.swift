import CRabbitMQ
import Foundation

/// Owns the C memory (bytes, table entries) handed to one rabbitmq-c call.
///
/// `amqp_cstring_bytes(swiftString)` would keep a pointer into a temporary; everything passed
/// to C is copied here instead and freed when the arena goes away, after the call returned.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    init() {}

    deinit {
        for p in allocations { p.deallocate() }
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        bytes(Array(string.utf8))
    }

    func bytes(_ data: [UInt8]) -> amqp_bytes_t {
        guard !data.isEmpty else { return amqp_bytes_t(len: 0, bytes: nil) }
        let p = UnsafeMutableRawPointer.allocate(byteCount: data.count, alignment: 1)
        data.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        allocations.append(p)
        return amqp_bytes_t(len: data.count, bytes: p)
    }

    /// A NUL-terminated copy, for the `const char *` parameters (host, vhost, user, password).
    func cString(_ string: String) -> UnsafePointer<CChar> {
        let utf8 = Array(string.utf8CString)
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
        p.initialize(from: utf8, count: utf8.count)
        allocations.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
        allocations.append(UnsafeMutableRawPointer(p))
        return p
    }

    /// A single C value whose address stays valid as long as the arena lives.
    func box<T>(_ value: T) -> UnsafeMutablePointer<T> {
        let p = allocate(T.self, count: 1)
        p.initialize(to: value)
        return p
    }
}

extension amqp_bytes_t {
    /// Copies the bytes out; the frame pool they live in is recycled after the frame.
    var array: [UInt8] {
        guard len > 0, let bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: len))
    }

    var string: String { String(decoding: array, as: UTF8.self) }
}
