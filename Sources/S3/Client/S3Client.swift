import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOPosix

/// An S3 client for one bucket: streaming transfers from and to files, multipart with
/// parallel parts, retries on transient faults. Works with AWS, MinIO and Ceph RGW.
///
/// Call ``shutdown()`` before dropping it when it owns its `HTTPClient`.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    package let signer: S3Signer
    let http: HTTPClient
    let ownsHTTPClient: Bool
    let logger: Logger
    let endpoint: Endpoint

    /// Scheme, host and path prefix that every request of this client shares.
    struct Endpoint: Sendable {
        var scheme: String
        /// `Host` header value (with port when not the default).
        var host: String
        /// `/bucket` in path style, empty in virtual-hosted style.
        var bucketPath: String
        var base: String { "\(scheme)://\(host)" }
    }

    /// - Parameter httpClient: share one with the rest of the process; when `nil` the client
    ///   creates its own, sized for ``S3Configuration/concurrency``, and shuts it down.
    public init(configuration: S3Configuration, httpClient: HTTPClient? = nil,
                logger: Logger = Logger(label: "s3")) {
        self.configuration = configuration
        self.signer = S3Signer(accessKeyId: configuration.accessKeyId,
                               secretAccessKey: configuration.secretAccessKey,
                               sessionToken: configuration.sessionToken, region: configuration.region)
        self.logger = logger
        self.endpoint = Self.endpoint(for: configuration)
        if let httpClient {
            self.http = httpClient
            self.ownsHTTPClient = false
        } else {
            var config = HTTPClient.Configuration()
            config.timeout = .init(connect: .seconds(10), read: .seconds(60))
            config.connectionPool = .init(idleTimeout: .seconds(30),
                                          concurrentHTTP1ConnectionsPerHostSoftLimit: max(8, configuration.concurrency * 2))
            // A refused connection fails the request at once: our own retries (backoff, jitter,
            // attempt count in the error) decide, rather than the pool re-dialling for the
            // whole connect timeout on each of them.
            config.connectionPool.retryConnectionEstablishment = false
            config.decompression = .disabled
            config.redirectConfiguration = .disallow
            self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            self.ownsHTTPClient = true
        }
    }

    public func shutdown() async throws {
        if ownsHTTPClient { try await http.shutdown() }
    }

    static func endpoint(for c: S3Configuration) -> Endpoint {
        if let string = c.endpoint, let url = URLComponents(string: string), let host = url.host {
            let scheme = url.scheme ?? "https"
            var hostHeader = host.contains(":") ? "[\(host)]" : host
            if let port = url.port, !(scheme == "http" && port == 80) && !(scheme == "https" && port == 443) {
                hostHeader += ":\(port)"
            }
            let prefix = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
            return Endpoint(scheme: scheme, host: hostHeader, bucketPath: prefix + "/" + S3URIEncoding.encode(c.bucket))
        }
        // AWS: virtual-hosted style, unless the bucket name cannot be a DNS label (dots break TLS).
        if c.bucket.contains(".") {
            return Endpoint(scheme: "https", host: "s3.\(c.region).amazonaws.com", bucketPath: "/" + c.bucket)
        }
        return Endpoint(scheme: "https", host: "\(c.bucket).s3.\(c.region).amazonaws.com", bucketPath: "")
    }

    /// The wire path of a key (or of the bucket when `key` is nil).
    package func path(for key: String?) -> String { Self.path(for: key, endpoint: endpoint) }

    static func path(for key: String?, endpoint: Endpoint) -> String {
        guard let key else { return endpoint.bucketPath.isEmpty ? "/" : endpoint.bucketPath }
        return endpoint.bucketPath + "/" + S3URIEncoding.encodePath(key)
    }

    /// A URL anyone can use with plain HTTP until it expires; keep it secret like a password.
    /// `query`: parameters the URL is for (`partNumber` and `uploadId` of an upload part).
    public func presignedURL(method: String, key: String, query: [(name: String, value: String)] = [],
                             expires: Duration, date: Date = Date()) -> String {
        let request = S3SigningRequest(method: method.uppercased(), host: endpoint.host, path: path(for: key), query: query)
        let presigned = signer.presign(request, expires: Int(expires.components.seconds), date: date)
        return endpoint.base + request.path + "?" + presigned.queryString
    }
}
