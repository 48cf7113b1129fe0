import Foundation
import Hummingbird
import S3

/// `/v1/uploads`: puts a client's file into the bucket without giving it S3 credentials.
/// The API only signs; the bytes go from the client straight to S3, so its memory stays
/// flat whatever the size. Keys are made here, under `uploads/`, so an upload can never
/// overwrite an input or output of another job.
struct UploadRoutes {
    let storage: S3Client?
    /// Signs for the endpoint clients reach (may be `storage` itself).
    let presigner: S3Client?
    static let lifetime: Duration = .seconds(3600)
    /// S3's limits: one PUT up to 5 GiB; parts 5 MiB–5 GiB, at most 10 000.
    static let maxSinglePut: Int64 = 5 << 30
    static let minPart: Int64 = 5 << 20
    static let maxParts: Int64 = 10_000
    static let defaultPart: Int64 = 64 << 20

    func register(on router: Router<APIContext>) {
        router.post("/v1/uploads") { request, context in try await Self.storageErrors { try await create(request, context) } }
        router.post("/v1/uploads/{upload_id}/complete") { request, context in
            try await Self.storageErrors { try await complete(request, context) }
        }
        router.delete("/v1/uploads/{upload_id}") { request, context in
            try await Self.storageErrors { try await abort(request, context) }
        }
    }

    /// Storage failures are the storage's, not the API's: 502 with its code, never a 500.
    private static func storageErrors(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let error as S3Error {
            throw APIError(.badGateway, "storage_error", "Storage answered \(error.code): \(error.message)")
        }
    }

    struct NewUpload: Decodable {
        var filename: String
        var size: Int64
        var contentType: String?
        var multipart: Bool?
        var partSize: Int64?
        enum CodingKeys: String, CodingKey {
            case filename, size, contentType = "content_type", multipart, partSize = "part_size"
        }
    }

    struct Upload: Encodable {
        struct Part: Encodable {
            var partNumber: Int
            var url: String
            enum CodingKeys: String, CodingKey { case partNumber = "part_number", url }
        }
        /// The key to name as a job's `input_key` once the upload is done.
        var key: String
        var method = "PUT"
        /// Single upload: PUT the whole file here.
        var url: String?
        /// Multipart: PUT each part, then POST the ETags to `/v1/uploads/{upload_id}/complete`.
        var uploadID: String?
        var partSize: Int64?
        var parts: [Part]?
        var expiresAt: String
        enum CodingKeys: String, CodingKey {
            case key, method, url, uploadID = "upload_id", partSize = "part_size", parts, expiresAt = "expires_at"
        }
    }

    func create(_ request: Request, _ context: APIContext) async throws -> Response {
        let storage = try configured()
        let presigner = self.presigner ?? storage
        let asked: NewUpload
        do { asked = try await request.decode(as: NewUpload.self, context: context) } catch {
            throw APIError.badRequest("The body must be {\"filename\": \"clip.mp4\", \"size\": BYTES} (optional content_type, multipart, part_size).")
        }
        let name = asked.filename.split(separator: "/").last.map(String.init) ?? ""
        guard !name.isEmpty, name != ".", name != "..", name.utf8.count <= 200,
              !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Self.invalid("filename must be a file name of 1–200 bytes, without control characters")
        }
        guard asked.size >= 0 else { throw Self.invalid("size must be the file's size in bytes") }
        if let type = asked.contentType, !Self.isMediaType(type) {
            throw Self.invalid("content_type must be a media type like video/mp4 (printable ASCII, at most 200 bytes)")
        }
        let key = "uploads/\(UUID().uuidString.lowercased())/\(name)"
        let now = Date()
        let expires = Timestamp.format(now.addingTimeInterval(Double(Self.lifetime.components.seconds)))
        guard asked.multipart == true || asked.size > Self.maxSinglePut else {
            let url = presigner.presignedURL(method: "PUT", key: key, expires: Self.lifetime, date: now)
            return JSONBody.response(Upload(key: key, url: url, expiresAt: expires), status: .created)
        }
        let partSize = max(asked.partSize ?? Self.defaultPart, (asked.size + Self.maxParts - 1) / Self.maxParts)
        guard partSize >= Self.minPart, partSize <= Self.maxSinglePut else {
            throw Self.invalid("part_size must be 5 MiB–5 GiB")
        }
        let count = max(1, Int((asked.size + partSize - 1) / partSize))
        let uploadID = try await storage.createMultipartUpload(key: key, contentType: asked.contentType)
        let parts = (1...count).map { number in
            Upload.Part(partNumber: number, url: presigner.presignedURL(
                method: "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                expires: Self.lifetime, date: now))
        }
        return JSONBody.response(Upload(key: key, uploadID: uploadID, partSize: partSize, parts: parts, expiresAt: expires),
                                 status: .created)
    }

    struct Completion: Decodable {
        var key: String
        var etags: [String]
    }

    func complete(_ request: Request, _ context: APIContext) async throws -> Response {
        let storage = try configured()
        let uploadID = try context.parameters.require("upload_id")
        guard let done = try? await request.decode(as: Completion.self, context: context), !done.etags.isEmpty,
              done.etags.count <= Int(Self.maxParts) else {
            throw APIError.badRequest("The body must be {\"key\": KEY, \"etags\": [ETag of part 1, part 2, ...]}.")
        }
        try Self.checkKey(done.key)
        guard try await storage.multipartUploadExists(key: done.key, uploadId: uploadID) else {
            throw Self.invalid("no open upload '\(uploadID)' of '\(done.key)' (completed, abandoned, or never made here)")
        }
        do {
            try await storage.completeMultipartUpload(key: done.key, uploadId: uploadID, etags: done.etags)
        } catch let error as S3Error where !error.isTransient {
            throw APIError(.unprocessableContent, "upload_incomplete", "Storage refused to join the parts: \(error.code) (\(error.message)).")
        }
        let info = try await storage.head(done.key)
        struct Done: Encodable { var key: String; var size: Int64 }
        return JSONBody.response(Done(key: done.key, size: info.size))
    }

    func abort(_ request: Request, _ context: APIContext) async throws -> Response {
        let storage = try configured()
        let uploadID = try context.parameters.require("upload_id")
        guard let key = request.uri.queryParameters.get("key") else { throw APIError.badRequest("Give the upload's key: ?key=KEY.") }
        try Self.checkKey(key)
        try await storage.abortMultipartUpload(key: key, uploadId: uploadID)
        return Response(status: .noContent)
    }

    private func configured() throws -> S3Client {
        guard let storage else {
            throw APIError(.serviceUnavailable, "storage_not_configured",
                           "This API has no storage settings (S3_BUCKET_NAME and credentials), so it cannot sign uploads.")
        }
        return storage
    }

    /// Completing or aborting works on this API's own upload keys only.
    private static func checkKey(_ key: String) throws {
        guard key.hasPrefix("uploads/"), key.split(separator: "/").count == 3 else {
            throw invalid("key must be the key POST /v1/uploads returned (uploads/ID/NAME)")
        }
    }

    /// `type/subtype` with optional parameters, printable ASCII: it becomes a header on the way to storage.
    static func isMediaType(_ text: String) -> Bool {
        guard text.utf8.count <= 200, text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return false }
        let essence = (text.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            .trimmingCharacters(in: .whitespaces)
        let token = { (part: Substring) in !part.isEmpty && part.allSatisfy { $0.isLetter || $0.isNumber || "!#$&^_.+-".contains($0) } }
        let parts = essence.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && token(parts[0]) && token(parts[1])
    }

    private static func invalid(_ message: String) -> APIError { APIError(.unprocessableContent, "invalid_upload", message) }
}
