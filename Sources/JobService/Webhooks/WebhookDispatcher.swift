import AsyncHTTPClient
import Backoff
import Crypto
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Webhook settings of `transcoder api`. Its description never shows the secret.
public struct WebhookSettings: Sendable, CustomStringConvertible {
    /// Signs every delivery; webhooks are refused while it is unset.
    public var secret: String?
    /// Allows targets on loopback, link-local and private addresses.
    public var allowPrivate = false
    /// The first retry's delay; each next doubles, up to an hour, for a day.
    public var retryDelay: Duration = .seconds(10)
    public static let retryFor: Duration = .seconds(24 * 3600)
    public init() {}

    public var description: String {
        "WebhookSettings(secret: \(secret == nil ? "unset" : "set"), allowPrivate: \(allowPrivate), retryDelay: \(retryDelay))"
    }

    /// `X-Transcoder-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
    public static func signature(secret: String, timestamp: Int, body: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "t=\(timestamp),v1=" + Hex.string(mac)
    }
}

/// POSTs due deliveries, records each attempt on the job, retries with backoff.
/// Redirects are not followed and the target is checked again before each attempt, so a
/// target cannot lead the API into the operator's network.
struct WebhookDispatcher: Service {
    let store: any JobStore
    let settings: WebhookSettings
    let logger: Logger

    func run() async throws {
        // Without a secret there is nothing to send; a service must not end before shutdown.
        guard let secret = settings.secret else { return try await gracefulShutdown() }
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow,
                                                     timeout: .init(connect: .seconds(5), read: .seconds(10)))
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let due = (try? await store.claimDeliveries(now: Date(), limit: 16, lease: .seconds(60))) ?? []
                await withTaskGroup(of: Void.self) { group in
                    for delivery in due { group.addTask { await deliver(delivery, secret: secret, client: client) } }
                }
                if due.isEmpty { try await Task.sleep(for: .seconds(1)) }
            }
        }
        try? await client.shutdown()
    }

    func deliver(_ delivery: WebhookDelivery, secret: String, client: HTTPClient) async {
        let started = ContinuousClock.now
        var status: Int?
        var failure: String?
        do {
            _ = try WebhookTarget.check(delivery.url, allowPrivate: settings.allowPrivate)
            var request = HTTPClientRequest(url: delivery.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "transcoder-webhooks")
            request.headers.add(name: "X-Transcoder-Event", value: delivery.event)
            request.headers.add(name: "X-Transcoder-Delivery", value: "\(delivery.id)")
            request.headers.add(name: "X-Transcoder-Signature",
                                value: WebhookSettings.signature(secret: secret, timestamp: Int(Date().timeIntervalSince1970), body: delivery.body))
            request.body = .bytes(ByteBuffer(string: delivery.body))
            let response = try await client.execute(request, timeout: .seconds(15))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            status = Int(response.status.code)
        } catch let refused as WebhookTarget.Refused {
            failure = refused.description
        } catch {
            failure = "\(error)"
        }
        let elapsed = ContinuousClock.now - started
        let attempt = WebhookDelivery.Attempt(at: Timestamp.now(), status: status, error: failure,
                                              ms: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000))
        let delivered = status.map { (200..<300).contains($0) } ?? false
        var next: Date?
        if !delivered {
            let backoff = Backoff(initial: settings.retryDelay, maximum: .seconds(3600), jitter: .equal)
            let wait = backoff.delay(afterAttempt: delivery.attempts.count + 1)
            let candidate = Date().addingTimeInterval(Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18)
            let created = (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(delivery.createdAt)) ?? Date()
            if candidate.timeIntervalSince(created) < Double(WebhookSettings.retryFor.components.seconds) { next = candidate }
            logger.notice("webhook attempt failed", metadata: [
                "job.id": "\(delivery.jobID)", "delivery": "\(delivery.id)", "status": "\(status.map(String.init) ?? "-")",
                "error": "\(failure ?? "-")", "retry": "\(next != nil)"])
        }
        do {
            try await store.recordAttempt(delivery.id, attempt, delivered: delivered, next: next)
        } catch {
            logger.error("could not record a webhook attempt", metadata: ["delivery": "\(delivery.id)", "error": "\(error)"])
        }
    }
}
