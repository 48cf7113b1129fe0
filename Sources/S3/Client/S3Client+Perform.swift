import CoreMetrics
import AsyncHTTPClient
import Backoff
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

extension S3Client {
    /// Sends `request`, retrying transient faults with exponential backoff and full jitter.
    ///
    /// `handle` runs for a 2xx answer and may consume the body; if it throws a transient
    /// error (connection dropped mid-body, short body) the whole attempt is retried, so a
    /// ranged GET or a part upload is redone alone. Non-2xx answers become ``S3Error``.
    func perform<T: Sendable>(_ request: S3Request,
                              handle: @Sendable (HTTPClientResponse) async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await performOnce(request, handle: handle)
            } catch {
                var s3Error = Self.classify(error, key: request.key)
                if Task.isCancelled || error is CancellationError { throw error }
                guard s3Error.isTransient, attempt < configuration.maxAttempts else {
                    s3Error.bucket = s3Error.bucket ?? configuration.bucket
                    s3Error.endpoint = s3Error.endpoint ?? configuration.endpoint ?? endpoint.base
                    if attempt > 1 { s3Error.attempts = attempt }
                    throw s3Error
                }
                let delay = backoff(attempt: attempt)
                logger.warning("S3 request failed, retrying", metadata: [
                    "s3.method": "\(request.method.rawValue)", "s3.key": "\(request.key ?? "")",
                    "s3.attempt": "\(attempt)", "s3.error": "\(s3Error.code)",
                    "s3.status": "\(s3Error.status.map(String.init) ?? "-")",
                ])
                try await Task.sleep(for: delay)
                attempt += 1
                Counter(label: "s3_retries_total").increment()
            }
        }
    }

    /// Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))] (many workers, one server).
    func backoff(attempt: Int) -> Duration {
        Backoff(initial: configuration.retryBaseDelay, maximum: configuration.maxRetryDelay, jitter: .full)
            .delay(afterAttempt: attempt)
    }

    private func performOnce<T: Sendable>(_ request: S3Request,
                                          handle: @Sendable (HTTPClientResponse) async throws -> T) async throws -> T {
        let path = path(for: request.key)
        var signing = S3SigningRequest(method: request.method.rawValue, host: endpoint.host, path: path,
                                       query: request.query, headers: request.headers)
        signing.headers = request.headers
        let signed = signer.sign(signing, payloadHash: request.payloadHash, date: Date())
        let query = S3Signer.canonicalQuery(request.query)
        var http = HTTPClientRequest(url: endpoint.base + path + (query.isEmpty ? "" : "?" + query))
        http.method = request.method
        http.headers.add(name: "Host", value: endpoint.host)
        for (name, value) in request.headers { http.headers.add(name: name, value: value) }
        for (name, value) in signed.headers { http.headers.add(name: name, value: value) }
        http.headers.add(name: "User-Agent", value: "transcoder-s3/1.0")

        let response: HTTPClientResponse
        switch request.body {
        case .none:
            if request.method == .PUT || request.method == .POST {
                http.headers.add(name: "Content-Length", value: "0")
            }
            response = try await self.http.execute(http, timeout: request.timeout)
        case .bytes(let bytes):
            http.body = .bytes(ByteBuffer(bytes: bytes))
            response = try await self.http.execute(http, timeout: request.timeout)
        case .file(let filePath, let offset, let length):
            response = try await executeFileBody(http, path: filePath, offset: offset, length: length, timeout: request.timeout)
        }
        let requestId = response.headers.first(name: "x-amz-request-id")
        guard (200..<300).contains(response.status.code) else {
            // Error bodies are small; cap what we read so a misbehaving proxy cannot bloat memory.
            let body = try? await response.body.collect(upTo: 256 * 1024)
            let bytes = body.map { Array($0.readableBytesView) } ?? []
            if let parsed = S3XML.error(from: bytes, status: Int(response.status.code),
                                        requestId: requestId, key: request.key) {
                throw parsed
            }
            throw S3Error(code: Self.code(forStatus: response.status.code),
                          message: "HTTP \(response.status.code) \(response.status.reasonPhrase) for \(request.method.rawValue)",
                          requestId: requestId, key: request.key, status: Int(response.status.code))
        }
        return try await handle(response)
    }

    static func code(forStatus status: UInt) -> String {
        switch status {
        case 301, 307: return "PermanentRedirect"
        case 400: return "BadRequest"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 409: return "Conflict"
        case 412: return "PreconditionFailed"
        case 416: return "InvalidRange"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        default: return "HTTP\(status)"
        }
    }

    /// Maps transport errors (resets, timeouts, closed connections) to a transient ``S3Error``
    /// whose message says what happened in words (`connection refused`), not as a type dump;
    /// the underlying error carries no credentials (we never put any in URLs).
    static func classify(_ error: any Error, key: String?) -> S3Error {
        if let e = error as? S3Error { return e }
        if let e = error as? HTTPClientError {
            switch e {
            case .readTimeout, .writeTimeout, .deadlineExceeded:
                return S3Error(code: "Timeout", message: "no answer in time", key: key)
            case .connectTimeout:
                return S3Error(code: "Timeout", message: "connecting timed out", key: key)
            default:
                break
            }
        }
        return S3Error(code: "ConnectionError", message: transportCause(error), key: key)
    }

    /// A few words for a transport failure: the errno text of a refused or reset connection,
    /// a DNS failure, or the error's own description when it is none of those.
    static func transportCause(_ error: any Error) -> String {
        if let e = error as? NIOConnectionError {
            if e.dnsAError != nil || e.dnsAAAAError != nil { return "host name \(e.host) not found" }
            if let io = e.connectionErrors.lazy.compactMap({ $0.error as? IOError }).first {
                return String(cString: strerror(io.errnoCode)).lowercased()
            }
            return "cannot connect to \(e.host):\(e.port)"
        }
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)).lowercased() }
        if let e = error as? HTTPClientError {
            switch e {
            case .remoteConnectionClosed: return "the server closed the connection"
            case .cancelled: return "cancelled"
            default: break
            }
        }
        if let e = error as? ChannelError, case .ioOnClosedChannel = e { return "the connection was closed" }
        return S3Error.oneLine(String(describing: error))
    }
}
