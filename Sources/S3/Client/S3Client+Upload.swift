import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

extension S3Client {
    /// Uploads a file: one PUT up to ``S3Configuration/multipartThreshold``, else a multipart
    /// upload with ``S3Configuration/concurrency`` parts in flight, each with its signed SHA-256.
    ///
    /// On any failure (or cancellation) the multipart upload is aborted, so no parts are left
    /// billed. `progress` gets the bytes confirmed so far. Memory stays a few MiB per part in flight.
    /// Returns the size uploaded.
    @discardableResult
    public func upload(file path: String, to key: String, contentType: String? = nil,
                       progress: (@Sendable (Int64) -> Void)? = nil) async throws -> Int64 {
        let file = try await S3FileDescriptor.open(path, flags: O_RDONLY)
        let size: Int64
        do {
            size = try file.size()
            file.close()
        } catch {
            file.close()
            throw error
        }
        logger.debug("S3 upload", metadata: ["s3.key": "\(key)", "s3.size": "\(size)"])
        if size <= Int64(configuration.multipartThreshold) {
            try await uploadPart(path: path, key: key, offset: 0, length: size, contentType: contentType,
                                 partNumber: nil, uploadId: nil)
            progress?(size)
            return size
        }
        try await multipartUpload(path: path, key: key, size: size, contentType: contentType, progress: progress)
        return size
    }

    func multipartUpload(path: String, key: String, size: Int64, contentType: String?,
                         progress: (@Sendable (Int64) -> Void)?) async throws {
        let uploadId = try await createMultipartUpload(key: key, contentType: contentType)
        let partSize = Int64(configuration.partSize)
        let partCount = Int((size + partSize - 1) / partSize)
        let done = ByteCounter()
        do {
            var etags = [String](repeating: "", count: partCount)
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var next = 0
                func addPart() {
                    let index = next
                    next += 1
                    let offset = Int64(index) * partSize
                    let length = min(partSize, size - offset)
                    group.addTask {
                        let etag = try await self.uploadPart(path: path, key: key, offset: offset, length: length,
                                                             contentType: nil, partNumber: index + 1, uploadId: uploadId)
                        let total = done.add(length)
                        progress?(total)
                        return (index, etag)
                    }
                }
                while next < min(configuration.concurrency, partCount) { addPart() }
                while let (index, etag) = try await group.next() {
                    etags[index] = etag
                    if next < partCount { addPart() }
                }
            }
            try await completeMultipartUpload(key: key, uploadId: uploadId, etags: etags)
            // Ceph answers an empty ETag on completion: check the result by size instead.
            let info = try await head(key)
            guard info.size == size else {
                throw S3Error(code: "SizeMismatch", message: "uploaded \(size) bytes but S3 stores \(info.size)", key: key)
            }
        } catch {
            logger.warning("S3 multipart upload failed, aborting it",
                           metadata: ["s3.key": "\(key)", "s3.error": "\(S3Client.classify(error, key: key).code)"])
            // Detached so that a cancelled caller still gets its upload aborted.
            let abort = Task.detached { [self] in
                try await self.abortMultipartUpload(key: key, uploadId: uploadId)
            }
            do { try await abort.value } catch {
                logger.error("S3 abort of multipart upload failed", metadata: [
                    "s3.key": "\(key)", "s3.error": "\(S3Client.classify(error, key: key).code)",
                ])
            }
            throw error
        }
    }

    /// SHA-256 (hex) of a file slice, read in bounded chunks.
    func sha256(of path: String, offset: Int64, length: Int64) async throws -> String {
        let file = try await S3FileDescriptor.open(path, flags: O_RDONLY)
        defer { file.close() }
        var hash = SHA256()
        for try await chunk in S3FileChunks(file: file, offset: offset, length: length) {
            chunk.withUnsafeReadableBytes { hash.update(bufferPointer: $0) }
        }
        return S3URIEncoding.hex(hash.finalize())
    }

    /// PUT of a whole object (no `uploadId`) or of one part; returns the ETag.
    @discardableResult
    func uploadPart(path: String, key: String, offset: Int64, length: Int64, contentType: String?,
                    partNumber: Int?, uploadId: String?) async throws -> String {
        // Signed payload: S3 checks the body against this hash (as strong as Content-MD5, and
        // SHA-256 runs ~2x faster than MD5 where the CPU has SHA extensions).
        let payloadHash = try await sha256(of: path, offset: offset, length: length)
        var request = S3Request(.PUT, key: key)
        if let partNumber, let uploadId {
            request.query = [("partNumber", String(partNumber)), ("uploadId", uploadId)]
        }
        if let contentType { request.headers.append(("Content-Type", contentType)) }
        request.body = .file(path: path, offset: offset, length: length)
        request.payloadHash = payloadHash
        request.timeout = .seconds(60 + length / (256 * 1024))
        return try await perform(request) { response in
            guard let etag = response.headers.first(name: "ETag") else {
                throw S3Error(code: "MalformedResponse", message: "PUT answer has no ETag", key: key)
            }
            return etag
        }
    }

    /// Starts a multipart upload; returns its upload id (also for clients uploading the
    /// parts through presigned URLs).
    public func createMultipartUpload(key: String, contentType: String?) async throws -> String {
        var request = S3Request(.POST, key: key, query: [("uploads", "")])
        if let contentType { request.headers.append(("Content-Type", contentType)) }
        return try await perform(request) { response in
            let body = try await response.body.collect(upTo: 1024 * 1024)
            return try S3XML.uploadId(Array(body.readableBytesView))
        }
    }

    /// Joins the parts, given their ETags in part order.
    public func completeMultipartUpload(key: String, uploadId: String, etags: [String]) async throws {
        var request = S3Request(.POST, key: key, query: [("uploadId", uploadId)])
        request.setBytes(Array(S3XML.completeMultipartBody(etags: etags).utf8))
        request.timeout = .minutes(10)
        try await perform(request) { response in
            // S3 may answer 200 and still report an error in the body.
            let body = Array(try await response.body.collect(upTo: 1024 * 1024).readableBytesView)
            if let error = S3XML.error(from: body, status: 200, requestId: response.headers.first(name: "x-amz-request-id"), key: key) {
                throw error
            }
        }
    }
}

/// Bytes confirmed so far by parts finishing on different tasks.
final class ByteCounter: Sendable {
    private let value = Atomic<Int64>(0)
    func add(_ n: Int64) -> Int64 { value.add(n, ordering: .relaxed).newValue }
}
