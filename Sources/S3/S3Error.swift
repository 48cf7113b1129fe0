/// A failed S3 operation: S3's own error code when it sent one, else a client-side code.
///
/// Never carries a secret, signature or presigned URL, so it is safe to log.
public struct S3Error: Error, CustomStringConvertible, Sendable {
    /// S3's code (`NoSuchKey`, `AccessDenied`, `SlowDown`…) or ours (`NotFound` for a bodiless
    /// 404, `ConnectionError`, `SizeMismatch`, `MissingConfiguration`…).
    public var code: String
    public var message: String
    public var requestId: String?
    public var key: String?
    public var status: Int?
    /// The bucket and endpoint (`http://127.0.0.1:7480`, or AWS's host) of the failed request,
    /// filled in by the client so that a message can name where it went.
    public var bucket: String?
    public var endpoint: String?
    /// Requests sent before giving up, when the client retried.
    public var attempts: Int?

    public init(code: String, message: String, requestId: String? = nil, key: String? = nil, status: Int? = nil) {
        self.code = code
        self.message = message
        self.requestId = requestId
        self.key = key
        self.status = status
    }

    /// The bucket does not exist (S3's `NoSuchBucket`; a bodiless HEAD 404 cannot tell a
    /// missing bucket from a missing key).
    public var isNoSuchBucket: Bool { code == "NoSuchBucket" }

    /// No answer at all: refused, reset, timed out, name not resolved.
    public var isUnreachable: Bool { ["ConnectionError", "Timeout"].contains(code) }

    /// The object, bucket or upload does not exist: retrying will not help.
    public var isNotFound: Bool {
        status == 404 || ["NoSuchKey", "NoSuchBucket", "NoSuchUpload", "NotFound"].contains(code)
    }

    /// Credentials or signature refused: a configuration problem, not a transient one.
    public var isAccessDenied: Bool {
        status == 403 || [
            "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken",
            "InvalidToken", "RequestTimeTooSkewed", "Forbidden",
        ].contains(code)
    }

    /// Worth retrying: server errors, throttling, dropped connections and timeouts.
    public var isTransient: Bool {
        if let status, status >= 500 { return true }
        return [
            "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling",
            "ThrottlingException", "ConnectionError", "Timeout", "IncompleteBody",
        ].contains(code)
    }

    /// One line for logs: what failed where, S3's code and message; no type name, no secret.
    public var description: String {
        var s = "S3 request"
        if let key { s += " for '\(key)'" }
        if let bucket { s += " in bucket '\(bucket)'" }
        if let endpoint { s += " at \(endpoint)" }
        s += " failed: \(code)"
        if let status { s += " (HTTP \(status))" }
        let text = Self.oneLine(message)
        if !text.isEmpty { s += ", \(text)" }
        if let attempts, attempts > 1 { s += ", after \(attempts) attempts" }
        if let requestId { s += " [request id \(requestId)]" }
        return s
    }

    /// Collapses the white space (new lines included) of a server's or library's text.
    package static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}

extension S3Error {
    /// Decodes an S3 error answer obtained outside the client (a presigned URL used by another
    /// HTTP tool); `nil` when the body is not an S3 error document.
    public static func fromResponse(body: [UInt8], status: Int, key: String? = nil) -> S3Error? {
        S3XML.error(from: body, status: status, requestId: nil, key: key)
    }
}
