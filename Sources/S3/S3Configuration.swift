/// Where and how the client talks to S3; secrets are kept out of `description`.
public struct S3Configuration: Sendable, CustomStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?
    public var region: String
    /// Custom endpoint (MinIO, Ceph RGW): path-style addressing. `nil` means AWS, virtual-hosted.
    public var endpoint: String?
    public var bucket: String
    /// Multipart part size and ranged-GET size; S3 refuses parts under 5 MiB.
    public var partSize: Int
    /// Parts or ranges in flight per transfer.
    public var concurrency: Int
    /// Attempts per request, the first included, for transient faults.
    public var maxAttempts: Int
    /// First retry delay; each retry doubles it (full jitter), capped at ``maxRetryDelay``.
    public var retryBaseDelay: Duration
    public var maxRetryDelay: Duration
    /// Objects up to this size go in one PUT / GET.
    public var multipartThreshold: Int
    /// Over plain HTTP, upload bodies go from the file to the socket by `sendfile(2)`. Turn off
    /// for files on a filesystem without it; bodies then go in chunks, as they always do over TLS.
    public var sendfileUploads = true

    public static let minimumPartSize = 5 * 1024 * 1024

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil,
                region: String = "us-east-1", endpoint: String? = nil, bucket: String,
                partSize: Int = 16 * 1024 * 1024, concurrency: Int = 4, maxAttempts: Int = 5,
                retryBaseDelay: Duration = .milliseconds(200), maxRetryDelay: Duration = .seconds(10),
                multipartThreshold: Int? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.region = region
        self.endpoint = endpoint.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.bucket = bucket
        self.partSize = max(partSize, Self.minimumPartSize)
        self.concurrency = max(1, concurrency)
        self.maxAttempts = max(1, maxAttempts)
        self.retryBaseDelay = retryBaseDelay
        self.maxRetryDelay = maxRetryDelay
        self.multipartThreshold = multipartThreshold ?? self.partSize
    }

    /// Reads the seed's variables: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, S3_BUCKET_NAME,
    /// AWS_S3_ENDPOINT_URL (optional), AWS_REGION (default us-east-1), AWS_SESSION_TOKEN (optional).
    public static func fromEnvironment(_ env: [String: String]) throws -> S3Configuration {
        func required(_ name: String) throws -> String {
            guard let v = env[name], !v.isEmpty else {
                throw S3Error(code: "MissingConfiguration",
                              message: "environment variable \(name) is not set; set it to configure S3 access")
            }
            return v
        }
        func optional(_ name: String) -> String? {
            guard let v = env[name], !v.isEmpty else { return nil }
            return v
        }
        return S3Configuration(
            accessKeyId: try required("AWS_ACCESS_KEY_ID"),
            secretAccessKey: try required("AWS_SECRET_ACCESS_KEY"),
            sessionToken: optional("AWS_SESSION_TOKEN"),
            region: optional("AWS_REGION") ?? "us-east-1",
            endpoint: optional("AWS_S3_ENDPOINT_URL"),
            bucket: try required("S3_BUCKET_NAME"))
    }

    public var description: String {
        "S3Configuration(endpoint: \(endpoint ?? "aws"), region: \(region), bucket: \(bucket), "
            + "accessKeyId: \(accessKeyId), partSize: \(partSize), concurrency: \(concurrency))"
    }
}
