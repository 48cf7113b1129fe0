import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

extension S3Client {
    /// Size, ETag and type of an object; throws an ``S3Error`` with `isNotFound` when absent.
    public func head(_ key: String) async throws -> S3ObjectInfo {
        try await perform(S3Request(.HEAD, key: key)) { response in
            let h = response.headers
            guard let size = h.first(name: "Content-Length").flatMap(Int64.init) else {
                throw S3Error(code: "MalformedResponse", message: "HEAD answer has no Content-Length", key: key)
            }
            return S3ObjectInfo(size: size, etag: h.first(name: "ETag"), contentType: h.first(name: "Content-Type"),
                                lastModified: h.first(name: "Last-Modified").flatMap(S3XML.parseHTTPDate))
        }
    }

    /// Deletes an object; deleting a missing key succeeds, as in S3.
    public func delete(_ key: String) async throws {
        try await perform(S3Request(.DELETE, key: key)) { _ in () }
    }

    /// Creates the configured bucket; one that already exists and is ours counts as success.
    public func createBucket() async throws {
        var request = S3Request(.PUT, key: nil)
        if configuration.region != "us-east-1" {
            request.setBytes(Array("""
                <CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\
                <LocationConstraint>\(configuration.region)</LocationConstraint></CreateBucketConfiguration>
                """.utf8))
        }
        do {
            try await perform(request) { _ in () }
        } catch let error as S3Error where error.code == "BucketAlreadyOwnedByYou" {
            return
        }
    }

    /// Lets browsers on `origins` PUT (presigned uploads) and GET objects of the bucket and
    /// read each part's ETag (PutBucketCors); replaces the bucket's CORS rules.
    public func allowBrowserUploads(from origins: [String]) async throws {
        var request = S3Request(.PUT, key: nil, query: [("cors", "")])
        let allowed = origins.map { "<AllowedOrigin>\(S3XML.escape($0))</AllowedOrigin>" }.joined()
        let rule = "<CORSRule>\(allowed)<AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>"
            + "<AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
            + "<MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule>"
        request.setBytes(Array("<CORSConfiguration>\(rule)</CORSConfiguration>".utf8))
        try await perform(request) { _ in () }
    }

    /// Deletes the (empty) bucket; for tests and the dev stack.
    public func deleteBucket() async throws {
        try await perform(S3Request(.DELETE, key: nil)) { _ in () }
    }

    /// Stores a small in-memory object in one PUT (Content-MD5 and signed sha256).
    public func put(_ bytes: [UInt8], to key: String, contentType: String? = nil) async throws {
        var request = S3Request(.PUT, key: key)
        if let contentType { request.headers.append(("Content-Type", contentType)) }
        request.setBytes(bytes)
        try await perform(request) { _ in () }
    }

    /// The bytes of `range` (inclusive) of an object, in memory: for small reads only.
    public func get(_ key: String, range: ClosedRange<Int64>? = nil) async throws -> [UInt8] {
        var headers: [(name: String, value: String)] = []
        if let range { headers.append(("Range", "bytes=\(range.lowerBound)-\(range.upperBound)")) }
        return try await perform(S3Request(.GET, key: key, headers: headers)) { response in
            let limit = range.map { Int($0.upperBound - $0.lowerBound + 1) } ?? 64 * 1024 * 1024
            let body = try await response.body.collect(upTo: limit)
            return Array(body.readableBytesView)
        }
    }

    /// One ListObjectsV2 page.
    public func listPage(prefix: String? = nil, continuationToken: String? = nil,
                         maxKeys: Int? = nil, delimiter: String? = nil) async throws -> S3ListPage {
        var query: [(name: String, value: String)] = [("list-type", "2"), ("encoding-type", "url")]
        if let prefix { query.append(("prefix", prefix)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let maxKeys { query.append(("max-keys", String(maxKeys))) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        return try await perform(S3Request(.GET, key: nil, query: query)) { response in
            let body = try await response.body.collect(upTo: 32 * 1024 * 1024)
            return try S3XML.listPage(Array(body.readableBytesView))
        }
    }

    /// Every object under `prefix`, fetched page by page as the sequence is iterated.
    public func list(prefix: String? = nil, pageSize: Int? = nil) -> S3ObjectSequence {
        S3ObjectSequence(client: self, prefix: prefix, pageSize: pageSize)
    }

    /// All objects under `prefix`, pagination done inside.
    public func listAll(prefix: String? = nil, pageSize: Int? = nil) async throws -> [S3ObjectSummary] {
        var all: [S3ObjectSummary] = []
        for try await object in list(prefix: prefix, pageSize: pageSize) { all.append(object) }
        return all
    }

    /// Multipart uploads started and not finished; empty after any of our failed uploads.
    public func listMultipartUploads(prefix: String? = nil) async throws -> [S3MultipartUpload] {
        var uploads: [S3MultipartUpload] = []
        var marker: (key: String, id: String)?
        repeat {
            var query: [(name: String, value: String)] = [("uploads", "")]
            if let prefix { query.append(("prefix", prefix)) }
            if let marker { query += [("key-marker", marker.key), ("upload-id-marker", marker.id)] }
            let page = try await perform(S3Request(.GET, key: nil, query: query)) { response in
                let body = try await response.body.collect(upTo: 32 * 1024 * 1024)
                return try S3XML.multipartUploads(Array(body.readableBytesView))
            }
            uploads += page.uploads
            marker = page.nextKey.map { ($0, page.nextUploadId ?? "") }
        } while marker != nil
        return uploads
    }

    /// Abandons a multipart upload and frees its parts.
    /// Whether a multipart upload of `key` is open (ListParts; false for an unknown id).
    public func multipartUploadExists(key: String, uploadId: String) async throws -> Bool {
        do {
            try await perform(S3Request(.GET, key: key, query: [("max-parts", "1"), ("uploadId", uploadId)])) { response in
                _ = try await response.body.collect(upTo: 1024 * 1024)
            }
            return true
        } catch let error as S3Error where error.isNotFound {
            return false
        }
    }

    public func abortMultipartUpload(key: String, uploadId: String) async throws {
        do {
            try await perform(S3Request(.DELETE, key: key, query: [("uploadId", uploadId)])) { _ in () }
        } catch let error as S3Error where error.code == "NoSuchUpload" {
            return
        }
    }
}

/// Objects of a listing, one ListObjectsV2 page in memory at a time.
public struct S3ObjectSequence: AsyncSequence, Sendable {
    public typealias Element = S3ObjectSummary
    let client: S3Client
    let prefix: String?
    let pageSize: Int?

    public struct AsyncIterator: AsyncIteratorProtocol {
        let client: S3Client
        let prefix: String?
        let pageSize: Int?
        var buffer: [S3ObjectSummary] = []
        var token: String?
        var done = false

        public mutating func next() async throws -> S3ObjectSummary? {
            while buffer.isEmpty {
                if done { return nil }
                let page = try await client.listPage(prefix: prefix, continuationToken: token, maxKeys: pageSize)
                buffer = page.objects.reversed()
                token = page.nextContinuationToken
                done = !page.isTruncated || token == nil
            }
            return buffer.popLast()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(client: client, prefix: prefix, pageSize: pageSize)
    }
}
