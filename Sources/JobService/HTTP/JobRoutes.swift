import Foundation
import Hummingbird
import RabbitMQ
import S3
import Transcoding
import TranscodingService

/// `/v1/jobs`. Jobs are checked by the worker's own validator before
/// they are recorded, recorded before they are published, and answered only once the
/// broker confirmed them.
struct JobRoutes {
    let store: any JobStore
    let submitter: Submitter
    let webhooks: WebhookSettings
    /// For presigned output URLs; nil when the API has no storage settings.
    let storage: S3Client?
    static let outputURLLifetime: Duration = .seconds(3600)

    /// User metadata is returned with the job, never interpreted.
    static let maxMetadataBytes = 16 * 1024
    static let maxIdempotencyKey = 200

    func register(on router: Router<APIContext>) {
        router.post("/v1/jobs") { request, context in try await create(request, context) }
        router.get("/v1/jobs") { request, _ in try await list(request) }
        router.get("/v1/jobs/{id}") { _, context in try await show(context) }
        router.post("/v1/jobs/{id}/cancel") { _, context in try await cancel(context) }
        router.post("/v1/jobs/{id}/retry") { _, context in try await retry(context) }
        router.get("/v1/jobs/{id}/output") { _, context in try await output(context) }
    }

    func create(_ request: Request, _ context: APIContext) async throws -> Response {
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        guard case .object(var fields)? = try? JSONDecoder().decode(JSONTree.self, from: Data(buffer: bytes)) else {
            throw APIError.badRequest("The body must be a JSON object: the job's fields (input_key, output_key, and preset, transcode_options or outputs).")
        }
        var metadata: String?
        if let value = fields.removeValue(forKey: "metadata"), value != .null {
            guard case .object = value else { throw APIError(.unprocessableContent, "invalid_job", "metadata must be a JSON object.") }
            metadata = value.text()
            guard metadata!.utf8.count <= Self.maxMetadataBytes else {
                throw APIError(.unprocessableContent, "invalid_job", "metadata is larger than \(Self.maxMetadataBytes) bytes.")
            }
        }
        var webhookURL: String?
        var webhookProgress = false
        if let value = fields.removeValue(forKey: "webhook"), value != .null {
            guard case .object(let webhook) = value, case .string(let url)? = webhook["url"],
                  Set(webhook.keys).isSubset(of: ["url", "progress"]) else {
                throw APIError(.unprocessableContent, "invalid_job", "webhook must be an object {\"url\": \"https://...\", \"progress\": false}.")
            }
            if case .bool(let progress)? = webhook["progress"] { webhookProgress = progress }
            else if webhook["progress"] != nil { throw APIError(.unprocessableContent, "invalid_job", "webhook.progress must be true or false.") }
            guard webhooks.secret != nil else {
                throw APIError(.unprocessableContent, "webhooks_off",
                               "This API sends no webhooks: its operator has not set TRANSCODER_API_WEBHOOK_SECRET.")
            }
            do { _ = try WebhookTarget.check(url, allowPrivate: webhooks.allowPrivate) } catch {
                throw APIError(.unprocessableContent, "invalid_webhook", "\(error)")
            }
            webhookURL = url
        }
        var priority = JobPriority.normal
        if let value = fields.removeValue(forKey: "priority"), value != .null {
            guard case .string(let name) = value, let parsed = JobPriority(rawValue: name) else {
                throw APIError(.unprocessableContent, "invalid_job", "priority must be \"high\", \"normal\" or \"low\".")
            }
            priority = parsed
        }
        let key = request.headers[.init("Idempotency-Key")!]
        if let key, key.isEmpty || key.utf8.count > Self.maxIdempotencyKey {
            throw APIError.badRequest("Idempotency-Key must be 1–\(Self.maxIdempotencyKey) bytes.")
        }
        // What the client asked for, without the id we may add: a retry must ask the same.
        var asked = fields
        asked.removeValue(forKey: "job_id")
        if let metadata { asked["metadata"] = .string(metadata) }
        if let webhookURL { asked["webhook"] = .string("\(webhookURL) \(webhookProgress)") }
        if priority != .normal { asked["priority"] = .string(priority.rawValue) }
        let fingerprint = Hex.sha256(JSONTree.object(asked).text())
        if fields["job_id"] == nil || fields["job_id"] == .null { fields["job_id"] = .string(UUID().uuidString.lowercased()) }

        let named = fields["preset"]
        try await PresetRoutes.expand(&fields, store: store)
        // The worker's own checks: the same message is accepted here exactly when a worker would run it.
        let job: JobRequest
        do {
            job = try JobRequest.decode(Array(JSONTree.object(fields).text().utf8))
            try job.validateOptions()
        } catch {
            throw APIError(.unprocessableContent, error.code.rawValue, error.message)
        }
        let body = JobClient.body(job)
        if request.uri.queryParameters.get("dry_run") == "true" {
            // Checked only (the console validates as people type): nothing recorded or published.
            struct Valid: Encodable { var valid = true; var job: JSONTree? }
            return JSONBody.response(Valid(job: JSONTree.parse(String(decoding: body, as: UTF8.self))))
        }
        let outcome = try await store.create(NewJob(
            id: job.jobID, inputKey: job.inputKey, outputKey: job.outputKey,
            preset: named.flatMap { if case .string(let name) = $0 { name } else { nil } } ?? job.preset, priority: priority,
            body: String(decoding: body, as: UTF8.self), metadata: metadata, idempotencyKey: key, fingerprint: fingerprint,
            webhookURL: webhookURL, webhookProgress: webhookProgress))
        switch outcome {
        case .existing(let record, sameRequest: false):
            throw APIError(.conflict, "conflict",
                           "Job '\(record.id)' was already submitted with other fields\(key == nil ? "" : " (same Idempotency-Key)"); use a new job_id or key.")
        case .existing(let record, sameRequest: true):
            if record.state == .pending {
                _ = await submitter.publish(id: record.id, body: Array((record.request?.text() ?? "").utf8), priority: record.priority)
            }
            return try await respond(record.id, status: .ok)
        case .created(let record):
            if case .stillPublishing = await submitter.publish(id: record.id, body: body, priority: priority) {
                var error = APIError(.serviceUnavailable, "broker_unavailable",
                                     "The job '\(record.id)' is recorded but the broker has not confirmed it yet; it will be published when the broker is back. Retry with the same job_id or Idempotency-Key to see it.")
                error.headers[.retryAfter] = "5"
                throw error
            }
            return try await respond(record.id, status: .created)
        }
    }

    private func respond(_ id: String, status: HTTPResponse.Status) async throws -> Response {
        guard let record = try await store.job(id, events: false) else { throw APIError.notFound("No job '\(id)'.") }
        return JSONBody.response(record, status: status, headers: [.location: "/v1/jobs/\(Self.escapePath(id))"])
    }

    func list(_ request: Request) async throws -> Response {
        let parameters = request.uri.queryParameters
        var query = JobQuery()
        if let states = parameters.get("state"), !states.isEmpty {
            query.states = try states.split(separator: ",").map { name in
                guard let state = JobState(rawValue: String(name)) else {
                    throw APIError.badRequest("Unknown state '\(name)'; states are \(JobState.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                return state
            }
        }
        query.createdAfter = try parameters.get("created_after").map { try Self.time($0, "created_after") }
        query.createdBefore = try parameters.get("created_before").map { try Self.time($0, "created_before") }
        if let prefix = parameters.get("prefix"), !prefix.isEmpty { query.keyPrefix = prefix }
        if let limit = parameters.get("limit") {
            guard let value = Int(limit), (1...500).contains(value) else { throw APIError.badRequest("limit must be 1–500.") }
            query.limit = value
        }
        if let cursor = parameters.get("cursor") {
            guard let seq = Cursor.decode(cursor) else { throw APIError.badRequest("cursor is not one this API returned.") }
            query.after = seq
        }
        let page = try await store.list(query)
        return JSONBody.response(JobList(jobs: page.jobs, nextCursor: page.nextCursor.map(Cursor.encode)))
    }

    func show(_ context: APIContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let record = try await store.job(id, events: true) else {
            throw APIError.notFound("No job '\(id)' in the store (neither submitted here nor reported by a worker).")
        }
        return JSONBody.response(record)
    }

    /// Through the broker's cancel stream, as `transcoder cancel` does: workers need no API.
    func cancel(_ context: APIContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let record = try await store.job(id, events: false) else { throw APIError.notFound("No job '\(id)'.") }
        guard !record.state.isFinal else {
            throw APIError(.conflict, "already_final", "Job '\(id)' is already \(record.state.rawValue); there is nothing to cancel.")
        }
        let by = context.token.map { "token \($0.id)" } ?? "api"
        do {
            try await submitter.client.cancel(jobID: id, requestedBy: by)
        } catch {
            throw APIError(.serviceUnavailable, "broker_unavailable", "The broker did not take the cancel request; retry.")
        }
        try await store.requestCancel(id, by: by)
        return try await respond(id, status: .accepted)
    }

    /// A failed or cancelled API job, published again under the same id (its message unchanged).
    func retry(_ context: APIContext) async throws -> Response {
        let id = try context.parameters.require("id")
        switch try await store.resubmit(id, by: context.token.map { "token \($0.id)" } ?? "api") {
        case .notFound:
            throw APIError.notFound("No job '\(id)'.")
        case .notAllowed(let state):
            throw APIError(.conflict, "not_retryable", "Job '\(id)' is \(state.rawValue); only failed or cancelled jobs are retried.")
        case .unknownMessage:
            throw APIError(.conflict, "not_retryable",
                           "Job '\(id)' was published by another client, so the API does not have its message; use `transcoder dlq replay \(id)`.")
        case .resubmitted(let body, let priority):
            if case .stillPublishing = await submitter.publish(id: id, body: Array(body.utf8), priority: priority) {
                var error = APIError(.serviceUnavailable, "broker_unavailable",
                                     "Job '\(id)' is pending again but the broker has not confirmed it yet; it will be published when the broker is back.")
                error.headers[.retryAfter] = "5"
                throw error
            }
            return try await respond(id, status: .accepted)
        }
    }

    /// A presigned GET of a completed job's output (the manifest for a several-output job),
    /// valid for an hour: the client needs no storage credentials.
    func output(_ context: APIContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard let record = try await store.job(id, events: false) else { throw APIError.notFound("No job '\(id)'.") }
        guard record.state == .completed, let key = record.outputKey else {
            throw APIError(.conflict, "not_completed", "Job '\(id)' is \(record.state.rawValue); only a completed job has an output.")
        }
        guard let storage else {
            throw APIError(.serviceUnavailable, "storage_not_configured",
                           "This API has no storage settings (S3_BUCKET_NAME, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), so it cannot sign URLs.")
        }
        let now = Date()
        let url = storage.presignedURL(method: "GET", key: key, expires: Self.outputURLLifetime, date: now)
        let expires = Timestamp.format(now.addingTimeInterval(Double(Self.outputURLLifetime.components.seconds)))
        return JSONBody.response(["key": key, "url": url, "expires_at": expires], headers: [.cacheControl: "no-store"])
    }

    /// RFC 3339 in, the store's own form out (so that text comparison is time comparison).
    static func time(_ text: String, _ name: String) throws -> String {
        let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        guard let date = (try? withFraction.parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text)) else {
            throw APIError.badRequest("\(name) must be an RFC 3339 time such as 2026-01-31T12:00:00Z.")
        }
        return Timestamp.format(date)
    }

    static func escapePath(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
    }
}

struct JobList: Encodable {
    var jobs: [JobRecord]
    var nextCursor: String?
    enum CodingKeys: String, CodingKey { case jobs, nextCursor = "next_cursor" }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(jobs, forKey: .jobs)
        try container.encode(nextCursor, forKey: .nextCursor)  // null on the last page
    }
}

/// Opaque to clients: the position after which the next page starts.
enum Cursor {
    static func encode(_ seq: Int) -> String {
        Data("j\(seq)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }
    static func decode(_ text: String) -> Int? {
        let padded = text + String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: padded), let string = String(data: data, encoding: .utf8),
              string.hasPrefix("j"), let seq = Int(string.dropFirst()), seq > 0 else { return nil }
        return seq
    }
}
