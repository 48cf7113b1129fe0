import Crypto
import Foundation

/// What the signer needs to know about one request; the URL parts exactly as they go on the wire.
public struct S3SigningRequest: Sendable {
    public var method: String
    /// The `Host` header value, with `:port` when the port is not the scheme's default.
    public var host: String
    /// The wire path, already percent-encoded (S3 keys via ``S3URIEncoding/encodePath(_:)``).
    public var path: String
    /// Query parameters, decoded; the signer encodes and sorts them.
    public var query: [(name: String, value: String)]
    /// Headers to sign besides `Host` (Range, Content-MD5, Content-Type, x-amz-*).
    public var headers: [(name: String, value: String)]

    public init(method: String, host: String, path: String,
                query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = []) {
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        self.headers = headers
    }
}

/// AWS Signature Version 4, pure: the date is injected so fixtures can check every step.
///
/// S3 signs the path as sent (no normalisation, no second encoding); ``PathMode/generic``
/// is the other services' variant, used only to check against AWS's generic test suite.
public struct S3Signer: Sendable {
    public enum PathMode: Sendable { case s3, generic }

    /// The payload hash that lets a body stream without being hashed first.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public let accessKeyId: String
    let secretAccessKey: String
    public let sessionToken: String?
    public let region: String
    public let service: String

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil,
                region: String, service: String = "s3") {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.service = service
    }

    /// The intermediate strings and the result; tests compare every step against botocore.
    public struct Signed: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// Headers to add to the request (x-amz-date, x-amz-content-sha256, token, Authorization).
        public var headers: [(name: String, value: String)]
        public var authorization: String
    }

    public struct Presigned: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        /// The full encoded query string, signature included.
        public var queryString: String
    }

    /// Signs with an `Authorization` header.
    public func sign(_ request: S3SigningRequest, payloadHash: String, date: Date,
                     pathMode: PathMode = .s3) -> Signed {
        let (amzDate, day) = Self.timestamps(date)
        var headers = request.headers
        headers.append(("host", request.host))
        headers.append(("x-amz-date", amzDate))
        var added: [(name: String, value: String)] = [("x-amz-date", amzDate)]
        if pathMode == .s3 {
            headers.append(("x-amz-content-sha256", payloadHash))
            added.append(("x-amz-content-sha256", payloadHash))
        }
        if let token = sessionToken {
            headers.append(("x-amz-security-token", token))
            added.append(("x-amz-security-token", token))
        }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders(headers)
        let canonicalRequest = [
            request.method, canonicalPath(request.path, mode: pathMode),
            Self.canonicalQuery(request.query), canonicalHeaders, signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonicalRequest)
        let signature = signature(day: day, stringToSign: stringToSign)
        let authorization = "AWS4-HMAC-SHA256 Credential=\(accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        added.append(("Authorization", authorization))
        return Signed(canonicalRequest: canonicalRequest, stringToSign: stringToSign,
                      signature: signature, headers: added, authorization: authorization)
    }

    /// Query-string signing (presigned URL); only `host` is signed, the payload is unsigned.
    public func presign(_ request: S3SigningRequest, expires seconds: Int, date: Date,
                        pathMode: PathMode = .s3) -> Presigned {
        let (amzDate, day) = Self.timestamps(date)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        var query = request.query
        query.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        query.append(("X-Amz-Credential", "\(accessKeyId)/\(scope)"))
        query.append(("X-Amz-Date", amzDate))
        query.append(("X-Amz-Expires", String(seconds)))
        query.append(("X-Amz-SignedHeaders", "host"))
        if let token = sessionToken { query.append(("X-Amz-Security-Token", token)) }
        let (canonicalHeaders, signedHeaders) = Self.canonicalHeaders([("host", request.host)])
        let canonicalQuery = Self.canonicalQuery(query)
        let canonicalRequest = [
            request.method, canonicalPath(request.path, mode: pathMode), canonicalQuery,
            canonicalHeaders, signedHeaders, Self.unsignedPayload,
        ].joined(separator: "\n")
        let stringToSign = stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonicalRequest)
        let signature = signature(day: day, stringToSign: stringToSign)
        return Presigned(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature,
                         queryString: canonicalQuery + "&X-Amz-Signature=" + signature)
    }

    // MARK: steps

    func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        let hash = S3URIEncoding.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))
        return "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(hash)"
    }

    func signature(day: String, stringToSign: String) -> String {
        func hmac(_ key: SymmetricKey, _ s: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data(s.utf8), using: key))
        }
        var key = SymmetricKey(data: Data("AWS4\(secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] { key = hmac(key, part) }
        let mac = HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key)
        return S3URIEncoding.hex(mac)
    }

    func canonicalPath(_ path: String, mode: PathMode) -> String {
        let p = path.isEmpty ? "/" : path
        switch mode {
        case .s3:
            return p
        case .generic:
            return S3URIEncoding.encodePath(Self.normalize(p))
        }
    }

    /// RFC 3986 dot-segment removal plus collapsing of empty segments (generic SigV4 only).
    static func normalize(_ path: String) -> String {
        var out: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." { _ = out.popLast(); continue }
            out.append(segment)
        }
        var result = "/" + out.joined(separator: "/")
        if path.hasSuffix("/") && result != "/" { result += "/" }
        return result
    }

    package static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (S3URIEncoding.encode($0.name), S3URIEncoding.encode($0.value)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (String, String) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            let trimmed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(trimmed)
        }
        let names = merged.keys.sorted()
        let canonical = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        return (canonical, names.joined(separator: ";"))
    }

    /// `x-amz-date` and the credential-scope day, in UTC.
    package static func timestamps(_ date: Date) -> (amzDate: String, day: String) {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        let day = String(format: "%04d%02d%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday))
        let amz = day + String(format: "T%02d%02d%02dZ", Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
        return (amz, day)
    }
}
