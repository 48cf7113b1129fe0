import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

/// One S3 call before signing; rebuilt and re-signed on every attempt.
struct S3Request: Sendable {
    enum Body: Sendable {
        case none
        case bytes([UInt8])
        /// A slice of a file, re-read from disk on every attempt.
        case file(path: String, offset: Int64, length: Int64)
    }

    var method: HTTPMethod
    var key: String?
    var query: [(name: String, value: String)] = []
    /// Headers that are signed (Range, Content-MD5, Content-Type, If-Match…).
    var headers: [(name: String, value: String)] = []
    var body: Body = .none
    /// sha256 hex of the body, or ``S3Signer/unsignedPayload``.
    var payloadHash: String = S3Signer.emptyPayloadHash
    /// Total time for one attempt, body transfer included.
    var timeout: TimeAmount = .minutes(5)

    init(_ method: HTTPMethod, key: String?, query: [(name: String, value: String)] = [],
         headers: [(name: String, value: String)] = []) {
        self.method = method
        self.key = key
        self.query = query
        self.headers = headers
    }

    /// Small in-memory body, signed with its sha256.
    mutating func setBytes(_ bytes: [UInt8]) {
        body = .bytes(bytes)
        payloadHash = S3URIEncoding.hex(SHA256.hash(data: bytes))
        headers.append(("Content-MD5", Data(Insecure.MD5.hash(data: bytes)).base64EncodedString()))
    }

    var bodyLength: Int64 {
        switch body {
        case .none: return 0
        case .bytes(let b): return Int64(b.count)
        case .file(_, _, let length): return length
        }
    }
}
