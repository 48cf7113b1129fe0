import Foundation
import Hummingbird
import RabbitMQ
import TranscodingService

/// `/v1/dead-letters`: what `transcoder dlq list` and `replay` do, over HTTP. Messages stay
/// in the dead-letter queue while they are read (unacked, then given back), so a listing
/// never loses one; listings and replays of this API take turns.
struct DeadLetterRoutes {
    let letters: DeadLetters
    let gate = AsyncGate()
    static let maxLimit = 1000

    func register(on router: Router<APIContext>) {
        router.get("/v1/dead-letters") { request, _ in try await list(request) }
        router.post("/v1/dead-letters/replay") { request, context in try await replay(request, context) }
    }

    struct Entry: Encodable {
        var jobID: String?
        var errorCode: String
        var errorMessage: String
        var failedAt: String?
        var failedBy: String?
        var attempts: Int?
        var priority: JobPriority
        /// The job message as it was dead-lettered (null when it is not JSON).
        var job: JSONTree?
        enum CodingKeys: String, CodingKey {
            case jobID = "job_id", errorCode = "error_code", errorMessage = "error_message", failedAt = "failed_at"
            case failedBy = "failed_by", attempts, priority, job
        }
    }

    func list(_ request: Request) async throws -> Response {
        var limit = 100
        if let text = request.uri.queryParameters.get("limit") {
            guard let value = Int(text), (1...Self.maxLimit).contains(value) else {
                throw APIError.badRequest("limit must be 1–\(Self.maxLimit).")
            }
            limit = value
        }
        let entries: [Entry] = try await gate.serially {
            let taken = try await letters.take(limit: limit)
            await letters.giveBack(taken)
            return taken.map { entry in
                Entry(jobID: entry.jobID, errorCode: entry.reasonCode, errorMessage: entry.reasonMessage,
                      failedAt: entry.failedAt, failedBy: entry.failedBy, attempts: entry.attempts,
                      priority: entry.priority(in: letters.topology),
                      job: JSONTree.parse(String(decoding: entry.delivery.body, as: UTF8.self)))
            }
        }
        let total = try await letters.connection.queueInfo(letters.topology.deadLetterQueue).messageCount
        struct Listing: Encodable {
            var deadLetters: [Entry]
            var total: UInt32
            enum CodingKeys: String, CodingKey { case deadLetters = "dead_letters", total }
        }
        return JSONBody.response(Listing(deadLetters: entries, total: total))
    }

    struct ReplayRequest: Decodable {
        var jobIDs: [String]?
        var all: Bool?
        enum CodingKeys: String, CodingKey { case jobIDs = "job_ids", all }
    }

    func replay(_ request: Request, _ context: APIContext) async throws -> Response {
        guard let asked = try? await request.decode(as: ReplayRequest.self, context: context),
              (asked.all == true) != !(asked.jobIDs ?? []).isEmpty, (asked.jobIDs ?? []).count <= Self.maxLimit else {
            throw APIError.badRequest("The body must be {\"job_ids\": [\"...\"]} or {\"all\": true}.")
        }
        let wanted = Set(asked.jobIDs ?? [])
        let replayed: [String] = try await gate.serially {
            let taken = try await letters.take()
            var replayed: [String] = []
            var kept: [DeadLetters.Entry] = []
            for entry in taken {
                guard asked.all == true || wanted.contains(entry.jobID ?? "") else { kept.append(entry); continue }
                do {
                    try await letters.replay(entry)
                    replayed.append(entry.jobID ?? "")
                } catch {
                    kept.append(entry)
                }
            }
            await letters.giveBack(kept)
            return replayed
        }
        struct Outcome: Encodable {
            var replayed: [String]
            var notFound: [String]
            enum CodingKeys: String, CodingKey { case replayed, notFound = "not_found" }
        }
        let missing = wanted.subtracting(replayed).sorted()
        return JSONBody.response(Outcome(replayed: replayed, notFound: missing))
    }
}
