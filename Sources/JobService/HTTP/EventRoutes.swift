import Foundation
import Hummingbird

/// Live timelines as Server-Sent Events (`Accept: text/event-stream`), or what is there
/// now as JSON (any other `Accept`). Each event's id is its `seq`, so a browser's
/// EventSource resumes after a reconnect by itself (`Last-Event-ID`); `?after=SEQ` does the
/// same for clients that cannot set headers. New entries are read from the store, so every
/// API instance sharing a store streams every job.
struct EventRoutes {
    let store: any JobStore
    /// How often the store is read for new entries while a stream is open.
    static let poll: Duration = .milliseconds(500)
    /// A comment line keeps proxies from closing a quiet stream.
    static let keepAlive: Duration = .seconds(15)
    /// `/v1/events` ends after this; EventSource reconnects and resumes where it was.
    static let globalStreamLifetime: Duration = .seconds(300)

    func register(on router: Router<APIContext>) {
        router.get("/v1/jobs/{id}/events") { request, context in
            let id = try context.parameters.require("id")
            guard let job = try await store.job(id, events: false) else { throw APIError.notFound("No job '\(id)'.") }
            return try await respond(request, jobID: id, finished: job.state.isFinal)
        }
        router.get("/v1/events") { request, _ in try await respond(request, jobID: nil, finished: false) }
    }

    private func respond(_ request: Request, jobID: String?, finished: Bool) async throws -> Response {
        let after = try await Self.start(request, store: store)
        let wantsStream = request.headers[.accept]?.contains("text/event-stream") == true
        guard wantsStream else {
            let events = try await store.events(after: after, jobID: jobID, limit: 500)
            return JSONBody.response(EventList(events: events))
        }
        let store = self.store
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            var last = after
            let clock = ContinuousClock()
            let opened = clock.now
            var quietSince = clock.now
            var ended = finished
            while true {
                let events = try await store.events(after: last, jobID: jobID, limit: 500)
                for event in events {
                    try await writer.write(ByteBuffer(string: Self.frame(event)))
                    last = event.seq
                    quietSince = clock.now
                    if jobID != nil, event.isFinal { ended = true }
                }
                // A job's stream ends with its outcome; a job already final sends its timeline and ends.
                if ended, events.count < 500, jobID != nil,
                   (try await store.job(jobID!, events: false))?.state.isFinal ?? true { break }
                if jobID == nil, clock.now - opened > Self.globalStreamLifetime { break }
                if clock.now - quietSince > Self.keepAlive {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    quietSince = clock.now
                }
                if events.count < 500 { try await Task.sleep(for: Self.poll) }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    /// Where to start: `Last-Event-ID` (a reconnecting EventSource), else `?after=` (a seq, or
    /// `latest`: only what happens from now on), else the beginning.
    static func start(_ request: Request, store: any JobStore) async throws -> Int {
        let text = request.headers[.init("Last-Event-ID")!] ?? request.uri.queryParameters.get("after")
        guard let text else { return 0 }
        if text == "latest" { return try await store.latestEventSeq() }
        guard let seq = Int(text), seq >= 0 else { throw APIError.badRequest("Last-Event-ID or after must be an event id (a number), or after=latest.") }
        return seq
    }

    static func frame(_ event: JobEvent) -> String {
        let data = String(decoding: JSONBody.buffer(event).readableBytesView, as: UTF8.self)
        return "id: \(event.seq)\nevent: \(event.kind)\ndata: \(data)\n\n"
    }
}

struct EventList: Encodable {
    var events: [JobEvent]
}
