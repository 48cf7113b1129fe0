import RabbitMQ
import S3
import Testing
@testable import TranscodingService

/// The wording of ``ErrorAdvice`` on fixed errors; the end-to-end tests check the same
/// cases against the real services.
struct ErrorAdviceTests {
    static let secret = "s3cr3t-value-0123456789"
    static let password = "amqp-Pa55word"

    func configuration(amqpURL: String = "amqp://svc:\(password)@broker.example:5672/%2f") async throws -> WorkerConfiguration {
        try await WorkerConfiguration.load(environmentFile: "/nonexistent/.env", environment: [
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": Self.secret, "S3_BUCKET_NAME": "videos",
            "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:7480", "AMQP_URL": amqpURL,
        ])
    }

    func s3(_ code: String, status: Int?, key: String? = nil, message: String = "") -> S3Error {
        var e = S3Error(code: code, message: message, key: key, status: status)
        e.bucket = "videos"
        e.endpoint = "http://127.0.0.1:7480"
        return e
    }

    /// What every text must be: one line, no type dump, no secret.
    func checkClean(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!text.contains("\n"), "\(text)", sourceLocation: sourceLocation)
        for dump in ["S3Error", "AMQPError", "Error(", "NIOConnectionError"] {
            #expect(!text.contains(dump), "\(text)", sourceLocation: sourceLocation)
        }
        #expect(!text.contains(Self.secret), "\(text)", sourceLocation: sourceLocation)
        #expect(!text.contains(Self.password), "\(text)", sourceLocation: sourceLocation)
    }

    @Test func missingBucketNamesBucketEndpointSettingAndCommand() async throws {
        let advice = ErrorAdvice.advice(for: s3("NoSuchBucket", status: 404, key: "in/x.mp4"), configuration: try await configuration())
        #expect(advice.sentence.contains("bucket 'videos' does not exist at http://127.0.0.1:7480"), "\(advice.sentence)")
        #expect(advice.sentence.contains("scripts/stack bucket videos"))
        #expect(advice.sentence.contains("S3_BUCKET_NAME"))
        #expect(advice.isConfiguration)
        checkClean(advice.sentence)
    }

    @Test(arguments: [
        ("SignatureDoesNotMatch", "AWS_SECRET_ACCESS_KEY"),
        ("InvalidAccessKeyId", "AWS_ACCESS_KEY_ID"),
        ("Forbidden", "AWS_SECRET_ACCESS_KEY"),
        ("RequestTimeTooSkewed", "clock"),
    ])
    func refusedCredentialsNameTheSetting(code: String, setting: String) async throws {
        let text = ErrorAdvice.sentence(for: s3(code, status: 403, key: "in/x.mp4"), configuration: try await configuration())
        #expect(text.contains("'in/x.mp4' in bucket 'videos'"), "\(text)")
        #expect(text.contains(setting), "\(text)")
        checkClean(text)
    }

    @Test func unreachableStorageNamesEndpointCauseAndSetting() async throws {
        var error = s3("ConnectionError", status: nil, key: "in/x.mp4", message: "connection refused")
        error.attempts = 5
        let text = ErrorAdvice.sentence(for: error, configuration: try await configuration())
        #expect(text.contains("storage at http://127.0.0.1:7480 is unreachable (connection refused, after 5 attempts)"), "\(text)")
        #expect(text.contains("AWS_S3_ENDPOINT_URL"))
        checkClean(text)
    }

    @Test func failedJobReasonsNameKeyBucketAndTheWorkersSetting() {
        let missing = JobFailure(storage: s3("NotFound", status: 404, key: "in/x.mp4"), key: "in/x.mp4", input: true, bucket: "videos")
        #expect(missing.code == .inputNotFound)
        #expect(missing.message == "input object 'in/x.mp4' does not exist in bucket 'videos': upload it there or fix the job's input_key")

        let noBucket = JobFailure(storage: s3("NoSuchBucket", status: 404), key: "out/y.mp4", input: false, bucket: "videos")
        #expect(noBucket.code == .storageDenied)
        #expect(noBucket.message.contains("the worker's S3_BUCKET_NAME"), "\(noBucket.message)")

        let denied = JobFailure(storage: s3("SignatureDoesNotMatch", status: 403, key: "out/y.mp4"), key: "out/y.mp4", input: false, bucket: "videos")
        #expect(denied.code == .storageDenied)
        #expect(denied.message.contains("the worker's AWS_SECRET_ACCESS_KEY"), "\(denied.message)")

        let down = JobFailure(storage: s3("ServiceUnavailable", status: 503, key: "in/x.mp4"), key: "in/x.mp4", input: true, bucket: "videos")
        #expect(down.code == .storageUnavailable)
        #expect(down.message.contains("transcoder dlq replay"), "\(down.message)")
        for failure in [missing, noBucket, denied, down] { checkClean(failure.message) }
    }

    @Test func brokerErrorsNameHostVhostAndAMQPURLWithoutThePassword() async throws {
        let config = try await configuration(amqpURL: "amqp://svc:\(Self.password)@broker.example:5672/x")
        let cases: [(AMQPError, [String])] = [
            (AMQPError(.unreachable, "cannot connect to broker.example:5672: a socket error occurred"),
             ["cannot reach the broker at broker.example:5672", "AMQP_URL (now amqp://svc:***@broker.example:5672/x)"]),
            (AMQPError(.authenticationFailed, "refused"), ["user 'svc'", "password in AMQP_URL"]),
            (AMQPError(.vhostRefused, "user 'svc' on vhost 'x' ... NOT_ALLOWED - vhost x not found", replyCode: 530),
             ["vhost 'x' does not exist", "rabbitmqctl add_vhost x", "AMQP_URL"]),
            (AMQPError(.vhostRefused, "NOT_ALLOWED - access to vhost 'x' refused for user 'svc'", replyCode: 530),
             ["user 'svc' may not open vhost 'x'", "rabbitmqctl set_permissions -p x svc"]),
            (AMQPError(.unroutable, "no queue is bound"), ["queue 'transcoding_jobs' does not exist", "TRANSCODER_JOBS_QUEUE"]),
        ]
        for (error, parts) in cases {
            let text = ErrorAdvice.sentence(for: error, configuration: config)
            for part in parts { #expect(text.contains(part), "\(text)") }
            checkClean(text)
        }
    }

    @Test func secretsAreRemovedWhateverCarriesThem() async throws {
        let config = try await configuration()
        struct Leaky: Error, CustomStringConvertible {
            var description: String { "failed with key \(ErrorAdviceTests.secret) via amqp://svc:\(ErrorAdviceTests.password)@h/ \nand more" }
        }
        let text = ErrorAdvice.sentence(for: Leaky(), configuration: config)
        #expect(text == "failed with key *** via amqp://svc:***@h/ and more")
        checkClean(text)
    }

    @Test func s3ErrorDescriptionIsALineNotATypeDump() {
        let text = s3("NoSuchKey", status: 404, key: "in/x.mp4", message: "The specified key\ndoes not exist.").description
        #expect(text == "S3 request for 'in/x.mp4' in bucket 'videos' at http://127.0.0.1:7480 failed: NoSuchKey (HTTP 404), The specified key does not exist.")
    }
}
