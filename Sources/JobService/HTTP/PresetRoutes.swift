import Foundation
import Hummingbird
import Transcoding
import TranscodingService

/// `/v1/presets`: the built-in presets (read-only) and the operator's own, which jobs name
/// like built-in ones. A user preset is checked like a job before it is stored.
struct PresetRoutes {
    let store: any JobStore

    func register(on router: Router<APIContext>) {
        router.get("/v1/presets") { _, _ in try await list() }
        router.get("/v1/presets/{name}") { _, context in try await show(context) }
        router.put("/v1/presets/{name}") { request, context in try await put(request, context) }
        router.delete("/v1/presets/{name}") { _, context in try await delete(context) }
    }

    func list() async throws -> Response {
        JSONBody.response(PresetList(presets: PresetList.builtin.presets, user: try await store.presets()))
    }

    func show(_ context: APIContext) async throws -> Response {
        let name = try context.parameters.require("name")
        if let entry = PresetList.builtin.presets.first(where: { $0.name == name }) { return JSONBody.response(entry) }
        guard let preset = try await store.preset(named: name) else { throw APIError.notFound("No preset '\(name)'.") }
        return JSONBody.response(preset)
    }

    func put(_ request: Request, _ context: APIContext) async throws -> Response {
        let name = try context.parameters.require("name")
        try Self.checkWritable(name)
        let bytes = try await request.body.collect(upTo: context.maxUploadSize)
        guard case .object(var fields)? = try? JSONDecoder().decode(JSONTree.self, from: Data(buffer: bytes)) else {
            throw APIError.badRequest("The body must be a JSON object: {\"transcode_options\": \"...\"} or {\"preset\": \"h264-720p\", \"overrides\": {...}}, with an optional \"description\".")
        }
        var description: String?
        switch fields.removeValue(forKey: "description") {
        case .string(let text)? where text.utf8.count <= UserPreset.maxDescription: description = text
        case nil, .null?: break
        default: throw Self.invalid("description must be a string of at most \(UserPreset.maxDescription) bytes")
        }
        fields = fields.filter { $0.value != .null }  // null counts as absent, as in a job
        let unknown = Set(fields.keys).subtracting(["transcode_options", "preset", "overrides"])
        guard unknown.isEmpty else { throw Self.invalid("unknown fields: \(unknown.sorted().joined(separator: ", "))") }
        if case .string(let base)? = fields["preset"], Preset.named(base) == nil {
            throw Self.invalid("'preset' must name a built-in preset (GET /v1/presets); '\(base)' is not one")
        }
        // Exactly the checks a job with these fields gets, on placeholder keys.
        var job = fields
        job["job_id"] = .string("preset-check")
        job["input_key"] = .string("in/preset-check.mp4")
        job["output_key"] = .string("out/preset-check.mp4")
        do throws(JobFailure) {
            let request = try JobRequest.decode(Array(JSONTree.object(job).text().utf8))
            guard request.outputs == nil else { throw JobFailure(.invalidJob, "a preset names one output") }
            try request.validateOptions()
        } catch {
            throw APIError(.unprocessableContent, error.code.rawValue, error.message)
        }
        let now = Timestamp.now()
        let existing = try await store.preset(named: name)
        let preset = UserPreset(name: name, description: description, definition: .object(fields),
                                createdAt: existing?.createdAt ?? now, updatedAt: now)
        let created = try await store.putPreset(preset)
        return JSONBody.response(preset, status: created ? .created : .ok, headers: [.location: "/v1/presets/\(name)"])
    }

    func delete(_ context: APIContext) async throws -> Response {
        let name = try context.parameters.require("name")
        try Self.checkWritable(name)
        guard try await store.deletePreset(named: name) else { throw APIError.notFound("No user preset '\(name)'.") }
        return Response(status: .noContent)
    }

    private static func checkWritable(_ name: String) throws {
        if PresetList.builtin.presets.contains(where: { $0.name == name }) {
            throw APIError(.conflict, "builtin_preset", "'\(name)' is a built-in preset, which cannot be changed; choose another name.")
        }
        guard UserPreset.isValidName(name) else {
            throw invalid("a preset name is 1–64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")
        }
    }

    private static func invalid(_ message: String) -> APIError { APIError(.unprocessableContent, "invalid_preset", message) }

    /// Replaces user preset names in a job's fields (and in each of its `outputs`).
    static func expand(_ fields: inout [String: JSONTree], store: any JobStore) async throws {
        func expandOne(_ object: inout [String: JSONTree]) async throws {
            guard case .string(let name)? = object["preset"], Preset.named(name) == nil, Ladder.named(name) == nil,
                  let preset = try await store.preset(named: name) else { return }
            do { try preset.expand(into: &object) } catch {
                throw APIError(.unprocessableContent, JobFailure.Code.invalidJob.rawValue, error.description)
            }
        }
        try await expandOne(&fields)
        if case .array(var outputs)? = fields["outputs"] {
            for index in outputs.indices {
                guard case .object(var output) = outputs[index] else { continue }
                try await expandOne(&output)
                outputs[index] = .object(output)
            }
            fields["outputs"] = .array(outputs)
        }
    }
}

/// `GET /v1/presets`: what `transcoder presets` prints, as data, then the user presets.
struct PresetList: Encodable, Sendable {
    struct Entry: Encodable, Sendable {
        var name: String
        var builtin = true
        var kind: String
        var summary: String
        var container: String?
    }
    var presets: [Entry]
    var user: [UserPreset] = []

    func encode(to encoder: any Encoder) throws {
        enum Keys: String, CodingKey { case presets }
        var c = encoder.container(keyedBy: Keys.self)
        var all = c.nestedUnkeyedContainer(forKey: .presets)
        for entry in presets { try all.encode(entry) }
        for preset in user { try all.encode(preset) }
    }

    static let builtin = PresetList(presets:
        Preset.all.map { Entry(name: $0.name, kind: $0.video == nil ? "audio" : "video", summary: $0.summary, container: $0.container.rawValue) }
        + Ladder.all.map { Entry(name: $0.name, kind: "ladder", summary: $0.summary, container: nil) })
}
