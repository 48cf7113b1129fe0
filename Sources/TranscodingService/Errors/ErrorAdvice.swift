import Foundation
import RabbitMQ
import S3

/// The one place where an error becomes what a person reads: the CLI's error line, a
/// worker's start-up failure, the reason of a failed job.
///
/// Each text is one line, names the object (bucket, key, endpoint, queue, vhost) and the
/// setting or command that fixes it, and never carries a secret: the S3 secret key, the
/// session token and the AMQP password are removed even if a lower layer let one through.
public enum ErrorAdvice {
    /// What to tell a person about `error`.
    public struct Advice: Sendable, Equatable {
        public var sentence: String
        /// A setting or the services' set-up is wrong (exit status 78), rather than a
        /// failure that may pass (a service down, a bad input).
        public var isConfiguration: Bool
    }

    /// Advice for an error reaching the CLI or stopping a worker at start. `configuration`
    /// names the broker and queues; without it the error's own text is used.
    public static func advice(for error: any Error, configuration: WorkerConfiguration?) -> Advice {
        let advice: Advice
        switch error {
        case let s3 as S3Error:
            advice = Self.storage(s3, bucket: configuration?.s3.bucket)
        case let amqp as AMQPError:
            advice = Self.broker(amqp, configuration: configuration)
        case let invalid as WorkerConfiguration.Invalid:
            advice = Advice(sentence: "configuration error: \(invalid.description)", isConfiguration: true)
        case let failure as JobFailure:
            advice = Advice(sentence: failure.description, isConfiguration: false)
        case let localized as LocalizedError:
            advice = Advice(sentence: localized.errorDescription ?? String(describing: error), isConfiguration: false)
        default:
            advice = Advice(sentence: String(describing: error), isConfiguration: false)
        }
        return Advice(sentence: redact(advice.sentence, configuration: configuration), isConfiguration: advice.isConfiguration)
    }

    /// The sentence of ``advice(for:configuration:)``.
    public static func sentence(for error: any Error, configuration: WorkerConfiguration?) -> String {
        advice(for: error, configuration: configuration).sentence
    }

    // MARK: - S3

    /// `worker: true` says "the worker's S3_BUCKET_NAME": the reader of a failed job is a
    /// client, who has to ask for the worker's settings to change.
    static func storage(_ error: S3Error, bucket fallbackBucket: String? = nil, worker: Bool = false) -> Advice {
        let bucket = error.bucket ?? fallbackBucket ?? "?"
        let at = error.endpoint.map { " at \($0)" } ?? ""
        let object = error.key.map { "'\($0)' in bucket '\(bucket)'" } ?? "bucket '\(bucket)'"
        let codeText = [error.code, error.status.map { "HTTP \($0)" }].compactMap(\.self).joined(separator: ", ")
        func setting(_ name: String) -> String { worker ? "the worker's \(name)" : name }

        if error.isNoSuchBucket || (error.key == nil && error.isNotFound) {
            return Advice(sentence: "bucket '\(bucket)' does not exist\(at): create it (on the local stack: "
                            + "scripts/stack bucket \(bucket)) or set \(setting("S3_BUCKET_NAME")) to an existing bucket",
                          isConfiguration: true)
        }
        if error.isAccessDenied {
            let fix: String
            switch error.code {
            case "SignatureDoesNotMatch":
                fix = "the secret key does not match the access key: set \(setting("AWS_SECRET_ACCESS_KEY")) to the secret of \(setting("AWS_ACCESS_KEY_ID"))"
            case "InvalidAccessKeyId":
                fix = "the storage does not know this access key: set \(setting("AWS_ACCESS_KEY_ID")) and \(setting("AWS_SECRET_ACCESS_KEY")) to credentials of this storage"
            case "ExpiredToken", "InvalidToken":
                fix = "the temporary credentials expired: renew them and set \(setting("AWS_SESSION_TOKEN")) and the keys again"
            case "RequestTimeTooSkewed":
                fix = "this machine's clock is off: set it right (NTP)"
            default:
                fix = "check \(setting("AWS_ACCESS_KEY_ID")) and \(setting("AWS_SECRET_ACCESS_KEY")) and that the bucket policy lets that key read and write \(bucket)"
            }
            return Advice(sentence: "storage\(at) refused access to \(object) (\(codeText)): \(fix)", isConfiguration: true)
        }
        let tries = error.attempts.map { ", after \($0) attempts" } ?? ""
        let then = worker ? ", then replay the job (transcoder dlq replay)" : " and try again"
        if error.isUnreachable {
            let cause = S3Error.oneLine(error.message)
            return Advice(sentence: "storage\(at) is unreachable (\(cause.isEmpty ? error.code : cause)\(tries)) for \(object): "
                            + "check that it is running and that \(setting("AWS_S3_ENDPOINT_URL")) points at it\(then)",
                          isConfiguration: false)
        }
        if error.isTransient {
            return Advice(sentence: "storage\(at) kept failing for \(object) (\(codeText)\(tries)): check the storage's health\(then)",
                          isConfiguration: false)
        }
        if error.code == "FileError" || error.code == "FileChanged" {
            return Advice(sentence: "the local file for \(object) cannot be used (\(S3Error.oneLine(error.message))): check its path and that it is not being written",
                          isConfiguration: false)
        }
        if error.code == "MissingConfiguration" {
            return Advice(sentence: S3Error.oneLine(error.message), isConfiguration: true)
        }
        let detail = S3Error.oneLine(error.message)
        return Advice(sentence: "storage\(at) refused the request for \(object) (\(codeText)\(detail.isEmpty ? "" : ": \(detail)")): "
                        + "check \(setting("AWS_REGION")) and \(setting("AWS_S3_ENDPOINT_URL"))",
                      isConfiguration: false)
    }

    // MARK: - AMQP

    static func broker(_ error: AMQPError, configuration: WorkerConfiguration?) -> Advice {
        guard let configuration, let amqp = try? AMQPConfiguration(url: configuration.amqpURL) else {
            return Advice(sentence: "\(error.message) (broker set by AMQP_URL)", isConfiguration: error.code == .invalidConfiguration)
        }
        let broker = "the broker at \(amqp.host):\(amqp.port)"
        let url = "AMQP_URL (now \(redactURLPasswords(configuration.amqpURL)))"
        let jobs = configuration.topology.jobsQueue
        switch error.code {
        case .unreachable:
            return Advice(sentence: "cannot reach \(broker): start RabbitMQ there or set \(url) to its host and port",
                          isConfiguration: false)
        case .authenticationFailed:
            return Advice(sentence: "\(broker) refused the login of user '\(amqp.user)': fix the user name or password in \(url)",
                          isConfiguration: true)
        case .vhostRefused:
            let vhost = amqp.vhost
            if error.message.contains("not found") {
                return Advice(sentence: "vhost '\(vhost)' does not exist on \(broker): create it (rabbitmqctl add_vhost \(vhost)) "
                                + "or fix the vhost at the end of \(url); %2f is the default vhost '/'",
                              isConfiguration: true)
            }
            return Advice(sentence: "user '\(amqp.user)' may not open vhost '\(vhost)' on \(broker): grant it "
                            + "(rabbitmqctl set_permissions -p \(vhost) \(amqp.user) '.*' '.*' '.*') or use another user in \(url)",
                          isConfiguration: true)
        case .tls, .invalidConfiguration:
            return Advice(sentence: "\(error.message) (set by AMQP_URL)", isConfiguration: true)
        case .unroutable:
            return Advice(sentence: "queue '\(jobs)' does not exist on \(broker), so the job was not sent: start a worker first "
                            + "(it declares the queue) or set TRANSCODER_JOBS_QUEUE to the workers' queue",
                          isConfiguration: true)
        case .notFound:
            return Advice(sentence: "\(firstClause(error.message)) on \(broker): start a worker once (it declares the queues and "
                            + "exchanges) or set TRANSCODER_JOBS_QUEUE and TRANSCODER_PROGRESS_QUEUE to the workers' names",
                          isConfiguration: true)
        case .preconditionFailed, .accessRefused, .resourceLocked:
            return Advice(sentence: error.message, isConfiguration: true)
        case .connectionClosed, .deliveryGone, .nacked, .consumerCancelled, .timeout, .protocolError:
            return Advice(sentence: "\(firstClause(error.message)) (\(broker)): try again; if it persists, check the broker's log",
                          isConfiguration: false)
        }
    }

    /// The part of a library message before its own advice (`...; declare it first`).
    static func firstClause(_ message: String) -> String {
        String(message.split(separator: ";", maxSplits: 1).first ?? Substring(message))
    }

    // MARK: - Secrets

    /// One line, without the configured S3 secrets and without a password in any URL (the
    /// AMQP password is not searched for alone: `guest` is also the user's name).
    static func redact(_ text: String, configuration: WorkerConfiguration?) -> String {
        var text = S3Error.oneLine(text)
        for case let secret? in [configuration?.s3.secretAccessKey, configuration?.s3.sessionToken] where secret.count >= 4 {
            text = text.replacingOccurrences(of: secret, with: "***")
        }
        return redactURLPasswords(text)
    }

    /// `scheme://user:password@host` → `scheme://user:***@host`.
    static func redactURLPasswords(_ text: String) -> String {
        text.replacing(/(?<scheme>[a-zA-Z][a-zA-Z0-9+.-]*:\/\/)(?<user>[^\s:@\/]*):[^\s@\/]+@/) { match in
            "\(match.output.scheme)\(match.output.user):***@"
        }
    }
}
