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

    public init(code: String, message: String, requestId: String? = nil, key: String? = nil, status: Int? = nil) {
        self.code = code
        self.message = message
        self.requestId = requestId
        self.key = key
        self.status = status
    }

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

    public var description: String {
        var s = "S3Error(\(code)"
        if let status { s += ", HTTP \(status)" }
        if let key { s += ", key: \(key)" }
        s += "): \(message)"
        if let requestId { s += " [request id \(requestId)]" }
        return s
    }
}

extension S3Error {
    /// Decodes an S3 error answer obtained outside the client (a presigned URL used by another
    /// HTTP tool); `nil` when the body is not an S3 error document.
    public static func fromResponse(body: [UInt8], status: Int, key: String? = nil) -> S3Error? {
        S3XML.error(from: body, status: status, requestId: nil, key: key)
    }
}
