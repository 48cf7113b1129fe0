import Crypto
import Foundation
import Hummingbird
import Logging

/// Outermost: every request gets an id (`X-Request-Id`), one log line (method, path,
/// status, time, token id; never a header or body), and every error the JSON error shape.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let logger: Logger

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let requestID = context.id
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response(requestID: requestID)
        } catch let error as any HTTPResponseError {
            // Hummingbird's own: an unknown route, a body too large or not JSON.
            let code = error.status == .notFound ? "not_found" : error.status == .methodNotAllowed ? "method_not_allowed"
                : error.status == .contentTooLarge ? "too_large" : "bad_request"
            let message = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            response = APIError(error.status, code, message).response(requestID: requestID)
        } catch {
            logger.error("request failed", metadata: ["request_id": "\(requestID)", "error": "\(String(reflecting: error))"])
            response = APIError(.internalServerError, "internal_error", "The server failed; quote the request id to its operator.")
                .response(requestID: requestID)
        }
        response.headers[.init("X-Request-Id")!] = requestID
        let elapsed = ContinuousClock.now - started
        logger.info("request", metadata: [
            "request_id": "\(requestID)", "method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
            "status": "\(response.status.code)",
            "ms": "\(Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000 + Double(elapsed.components.seconds) * 1000)",
            "token": "\(context.caller.tokenID ?? "-")",
        ])
        return response
    }
}

/// Bearer tokens: reads need `read`, anything else `write`. Required when the API listens
/// beyond loopback, or as soon as one token exists (checked per request, so a token created
/// while the API runs takes effect at once, and a revoked one stops working at once).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let store: any JobStore
    let alwaysRequired: Bool
    /// Paths anyone may read: health and the API's own description.
    static let open: Set<String> = ["/healthz", "/openapi.yaml"]

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        // The console's own files carry no data: the page loads, then asks for a token.
        let path = request.uri.path
        if Self.open.contains(path) || path == "/" || path.hasPrefix("/console/") { return try await next(request, context) }
        var context = context
        let header = request.headers[.authorization]
        if let header {
            guard header.lowercased().hasPrefix("bearer "),
                  let token = try await store.token(hash: Tokens.hash(String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)))
            else { throw Self.unauthorized("The bearer token is not valid (unknown or revoked).") }
            context.token = token
        } else if try await required() {
            throw Self.unauthorized("This API needs a bearer token: Authorization: Bearer <token> (`transcoder api token create`).")
        }
        let needed = Self.scope(request)
        if let token = context.token, token.scope < needed {
            throw APIError(.forbidden, "forbidden", "Token '\(token.name)' has scope \(token.scope.rawValue); this needs \(needed.rawValue).")
        }
        return try await next(request, context)
    }

    /// Reading needs `read`; changing jobs `write`; changing what every job may use (user
    /// presets) or replaying dead letters `admin`.
    static func scope(_ request: Request) -> Scope {
        if request.method == .get || request.method == .head { return .read }
        let path = request.uri.path
        return path.hasPrefix("/v1/presets") || path.hasPrefix("/v1/dead-letters") ? .admin : .write
    }

    private func required() async throws -> Bool {
        if alwaysRequired { return true }
        return try await store.hasActiveTokens()
    }

    static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, "unauthorized", message)
        error.headers[.wwwAuthenticate] = "Bearer realm=\"transcoder\""
        return error
    }
}

/// API tokens: `tk_` and 32 random bytes; the store keeps only their SHA-256.
public enum Tokens {
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return "tk_" + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func hash(_ token: String) -> String { Hex.sha256(token) }

    /// Creates a token in the store and returns its secret, shown once.
    public static func create(name: String, scope: Scope, in store: any JobStore) async throws -> (APIToken, String) {
        let secret = generate()
        let id = "tok_" + String(hash(secret + "id").prefix(10))
        let token = APIToken(id: id, name: name, scope: scope, createdAt: Timestamp.now(), revokedAt: nil)
        try await store.insertToken(token, hash: hash(secret))
        return (token, secret)
    }
}

/// Lower-case hex of digests: token hashes, request fingerprints, webhook signatures.
enum Hex {
    static func string(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
    static func sha256(_ text: String) -> String { string(SHA256.hash(data: Data(text.utf8))) }
}
