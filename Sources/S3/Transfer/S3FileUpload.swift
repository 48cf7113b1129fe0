import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Sends a request whose body is a file slice, with memory bounded by the transport rather
/// than by the part size.
///
/// The async API's body stream checks for backpressure before the event loop has taken its
/// previous writes, so a fast disk can queue most of a 16 MiB part in memory (seen: 20–37 MB
/// spikes). The delegate API's writer decides on the event loop: over plain HTTP the slice goes
/// as one `sendfile(2)` region (no copy through user space at all), over TLS (or with
/// ``S3Configuration/sendfileUploads`` off) in chunks that wait whenever the socket is full.
extension S3Client {
    func executeFileBody(_ http: HTTPClientRequest, path: String, offset: Int64, length: Int64,
                         timeout: TimeAmount) async throws -> HTTPClientResponse {
        // The chunk reader may outlive a failed request by a read: the closure keeps its descriptor
        // open (closed on release), so a late read never lands on a reused descriptor number.
        let file = try await S3FileDescriptor.open(path, flags: O_RDONLY)
        let body: HTTPClient.Body
        // NIO needs a handle of its own; it stays open until the request has finished with it.
        var region: NIOFileHandle?
        defer { try? region?.close() }
        if endpoint.scheme == "http" && configuration.sendfileUploads {
            let fd = dup(file.fd)
            file.close()
            guard fd >= 0 else { throw S3FileDescriptor.posixError("dup", path: path) }
            let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
            region = handle
            body = .stream(contentLength: length) { writer in
                writer.write(.fileRegion(FileRegion(fileHandle: handle, readerIndex: Int(offset), endIndex: Int(offset + length))))
            }
        } else {
            let eventLoop = self.http.eventLoopGroup.any()
            body = .stream(contentLength: length) { writer in
                let done = eventLoop.makePromise(of: Void.self)
                done.completeWithTask {
                    for try await chunk in S3FileChunks(file: file, offset: offset, length: length) {
                        try await writer.write(.byteBuffer(chunk)).get()   // waits while the socket is full
                    }
                }
                return done.futureResult
            }
        }
        let request = try HTTPClient.Request(url: http.url, method: http.method, headers: http.headers, body: body)
        let task = self.http.execute(request: request, delegate: ResponseAccumulator(request: request, maxBodySize: 1 << 20),
                                     deadline: .now() + timeout)
        let response = try await withTaskCancellationHandler {
            try await task.futureResult.get()
        } onCancel: {
            task.cancel()
        }
        return HTTPClientResponse(status: response.status, headers: response.headers,
                                  body: .bytes(response.body ?? ByteBuffer()))
    }
}
