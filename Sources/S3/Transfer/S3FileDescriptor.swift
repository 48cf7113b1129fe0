import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One open POSIX file, read and written only with positional `pread`/`pwrite` on NIO's
/// thread pool, so blocking disk I/O never runs on Swift's cooperative pool and parts or
/// ranges in flight can share the descriptor without a shared seek pointer.
package final class S3FileDescriptor: Sendable {
    let fd: Int32
    let pool: NIOThreadPool
    private let closed = Mutex(false)

    private init(fd: Int32, pool: NIOThreadPool) {
        self.fd = fd
        self.pool = pool
    }

    package static func open(_ path: String, flags: Int32, mode: mode_t = 0o644,
                             pool: NIOThreadPool = .singleton) async throws -> S3FileDescriptor {
        let fd = try await pool.runIfActive { () throws -> Int32 in
            let fd = Foundation.open(path, flags | O_CLOEXEC, mode)
            if fd < 0 { throw S3FileDescriptor.posixError("open", path: path) }
            return fd
        }
        return S3FileDescriptor(fd: fd, pool: pool)
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    package func read(at offset: Int64, count: Int) async throws -> ByteBuffer {
        try await pool.runIfActive { [fd] in
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            var total = 0
            while total < count {
                let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - total) { ptr in
                    while true {
                        let r = pread(fd, ptr.baseAddress, count - total, off_t(offset) + off_t(total))
                        if r >= 0 { return r }
                        if errno != EINTR { throw S3FileDescriptor.posixError("pread", path: nil) }
                    }
                }
                if n == 0 { break }
                total += n
            }
            return buffer
        }
    }

    /// Writes the whole buffer at `offset`.
    package func write(_ buffer: ByteBuffer, at offset: Int64) async throws {
        try await pool.runIfActive { [fd] in
            var written = 0
            let count = buffer.readableBytes
            try buffer.withUnsafeReadableBytes { ptr in
                while written < count {
                    let r = pwrite(fd, ptr.baseAddress! + written, count - written, off_t(offset) + off_t(written))
                    if r < 0 {
                        if errno == EINTR { continue }
                        throw S3FileDescriptor.posixError("pwrite", path: nil)
                    }
                    written += r
                }
            }
        }
    }

    package func size() throws -> Int64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Self.posixError("fstat", path: nil) }
        return Int64(st.st_size)
    }

    package func close() {
        let wasClosed = closed.withLock { c in
            defer { c = true }
            return c
        }
        if !wasClosed { _ = Foundation.close(fd) }
    }

    deinit { close() }

    static func posixError(_ call: String, path: String?) -> S3Error {
        let err = errno
        return S3Error(code: "FileError",
                       message: "\(call)\(path.map { " \($0)" } ?? ""): \(String(cString: strerror(err)))")
    }
}

/// The bytes `[offset, offset+length)` of a file as a stream of bounded chunks, for request bodies.
package struct S3FileChunks: AsyncSequence, Sendable {
    package typealias Element = ByteBuffer
    let file: S3FileDescriptor
    let offset: Int64
    let length: Int64
    let chunkSize: Int

    package init(file: S3FileDescriptor, offset: Int64, length: Int64, chunkSize: Int = 256 * 1024) {
        self.file = file
        self.offset = offset
        self.length = length
        self.chunkSize = chunkSize
    }

    package struct AsyncIterator: AsyncIteratorProtocol {
        let file: S3FileDescriptor
        var position: Int64
        let end: Int64
        let chunkSize: Int

        package mutating func next() async throws -> ByteBuffer? {
            guard position < end else { return nil }
            let count = Int(Swift.min(Int64(chunkSize), end - position))
            let buffer = try await file.read(at: position, count: count)
            guard buffer.readableBytes > 0 else {
                throw S3Error(code: "FileChanged", message: "file is shorter than when the transfer started")
            }
            position += Int64(buffer.readableBytes)
            return buffer
        }
    }

    package func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(file: file, position: offset, end: offset + length, chunkSize: chunkSize)
    }
}
