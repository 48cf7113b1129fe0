import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension S3Client {
    /// Streams an object into `path`, in parallel ranges when it is larger than a part.
    ///
    /// Writes a temporary file beside `path` and renames it only once every byte arrived and
    /// the size matches HEAD, so readers never see a partial file. Returns the size.
    @discardableResult
    public func download(_ key: String, to path: String) async throws -> Int64 {
        let info = try await head(key)
        let url = URL(fileURLWithPath: path)
        let temp = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).s3-\(UUID().uuidString)").path
        let file = try await S3FileDescriptor.open(temp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            let partSize = Int64(configuration.partSize)
            if info.size <= partSize {
                try await downloadRange(key, file: file, offset: 0, length: info.size, etag: info.etag, whole: true)
            } else {
                let count = Int((info.size + partSize - 1) / partSize)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var next = 0
                    func addRange() {
                        let offset = Int64(next) * partSize
                        next += 1
                        let length = min(partSize, info.size - offset)
                        group.addTask {
                            try await self.downloadRange(key, file: file, offset: offset, length: length,
                                                         etag: info.etag, whole: false)
                        }
                    }
                    while next < min(configuration.concurrency, count) { addRange() }
                    while try await group.next() != nil {
                        if next < count { addRange() }
                    }
                }
            }
            let written = try file.size()
            guard written == info.size else {
                throw S3Error(code: "SizeMismatch", message: "downloaded \(written) bytes, expected \(info.size)", key: key)
            }
            file.close()
            guard rename(temp, path) == 0 else { throw S3FileDescriptor.posixError("rename", path: path) }
            return info.size
        } catch {
            file.close()
            unlink(temp)
            throw error
        }
    }

    /// GETs `[offset, offset+length)` into the file at the same offset; retried alone on faults.
    func downloadRange(_ key: String, file: S3FileDescriptor, offset: Int64, length: Int64,
                       etag: String?, whole: Bool) async throws {
        var request = S3Request(.GET, key: key)
        if !whole { request.headers.append(("Range", "bytes=\(offset)-\(offset + length - 1)")) }
        if let etag { request.headers.append(("If-Match", etag)) }
        request.timeout = .seconds(60 + length / (256 * 1024))
        try await perform(request) { response in
            // Receive the next buffer while the previous one is written: awaiting each disk
            // write in the receive loop would stall the socket (AHC applies backpressure).
            var position = offset
            var pending = ByteBuffer()
            var inFlight: Task<Void, any Error>?
            let flushAt = 512 * 1024
            func flush() async throws {
                try await inFlight?.value
                let buffer = pending
                let at = position
                position += Int64(buffer.readableBytes)
                pending = ByteBuffer()
                inFlight = Task { try await file.write(buffer, at: at) }
            }
            do {
                for try await chunk in response.body {
                    var chunk = chunk
                    if pending.readableBytes == 0 && chunk.readableBytes >= flushAt {
                        pending = chunk
                    } else {
                        pending.writeBuffer(&chunk)
                    }
                    if pending.readableBytes >= flushAt { try await flush() }
                }
                if pending.readableBytes > 0 { try await flush() }
                try await inFlight?.value
            } catch {
                _ = await inFlight?.result
                throw error
            }
            guard position - offset == length else {
                throw S3Error(code: "IncompleteBody", message: "got \(position - offset) of \(length) bytes", key: key)
            }
        }
    }
}
