import Foundation
import Hummingbird
import Synchronization

/// Per-request state: who is calling (set by ``AuthMiddleware``).
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var token: APIToken? {
        didSet { caller.set(token?.id) }
    }
    /// The token's id, shared with the outer request log (a context is a value: the log
    /// middleware would not see what the auth middleware set on its copy).
    let caller = Caller()
    /// Jobs carry at most 16 KB of options and metadata; nothing the API takes is larger.
    public var maxUploadSize: Int { 64 * 1024 }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

final class Caller: Sendable {
    private let id = Mutex<String?>(nil)
    func set(_ value: String?) { id.withLock { $0 = value } }
    var tokenID: String? { id.withLock { $0 } }
}

/// Every error the API returns: `{"error": {"code": "...", "message": "...", "request_id": "..."}}`.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }

    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var requestID: String
            enum CodingKeys: String, CodingKey { case code, message, requestID = "request_id" }
        }
        var error: Detail
    }

    func response(requestID: String) -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json"
        let body = Body(error: .init(code: code, message: message, requestID: requestID))
        return Response(status: status, headers: headers, body: .init(byteBuffer: JSONBody.buffer(body)))
    }
}

enum JSONBody {
    static func buffer(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ByteBuffer(bytes: (try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer(value)))
    }
}
