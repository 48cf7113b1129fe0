import Foundation
import Transcoding

/// A preset an operator defined through the API: a name for a pipeline fragment, or for a
/// built-in preset with overrides. Jobs name it like a built-in one; the API expands it
/// before publishing, so workers never need to know it.
public struct UserPreset: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// `{"transcode_options": "..."}` or `{"preset": "<built-in>", "overrides": {...}}`.
    public var definition: JSONTree
    public var createdAt: String
    public var updatedAt: String

    public init(name: String, description: String?, definition: JSONTree, createdAt: String, updatedAt: String) {
        self.name = name
        self.description = description
        self.definition = definition
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// 1–64 of a-z, 0-9, '.', '_', '-', not starting with a punctuation mark.
    static func isValidName(_ name: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789._-")
        guard let first = name.first, first.isLetter || first.isNumber, name.count <= 64 else { return false }
        return name.allSatisfy(allowed.contains)
    }
    static let maxDescription = 500

    /// Job fields (one job, or one entry of `outputs`) with a user preset's name replaced by
    /// what it stands for. A job's own `overrides` go on top of the preset's.
    func expand(into fields: inout [String: JSONTree]) throws(PresetError) {
        guard case .object(let definition) = definition else { return }
        if let fragment = definition["transcode_options"] {
            if let overrides = fields["overrides"], overrides != .null {
                throw PresetError("'overrides' apply to a preset built on a built-in one; '\(name)' is a pipeline fragment")
            }
            fields["preset"] = nil
            fields["overrides"] = nil
            fields["transcode_options"] = fragment
            return
        }
        fields["preset"] = definition["preset"]
        var merged: [String: JSONTree] = [:]
        if case .object(let own)? = definition["overrides"] { merged = own }
        if case .object(let asked)? = fields["overrides"] { merged.merge(asked) { $1 } }
        fields["overrides"] = merged.isEmpty ? nil : .object(merged)
    }
}

struct PresetError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension UserPreset: Encodable {
    enum CodingKeys: String, CodingKey {
        case name, builtin, description, transcodeOptions = "transcode_options", preset, overrides
        case createdAt = "created_at", updatedAt = "updated_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(false, forKey: .builtin)
        try c.encodeIfPresent(description, forKey: .description)
        if case .object(let d) = definition {
            try c.encodeIfPresent(d["transcode_options"], forKey: .transcodeOptions)
            try c.encodeIfPresent(d["preset"], forKey: .preset)
            try c.encodeIfPresent(d["overrides"], forKey: .overrides)
        }
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(updatedAt, forKey: .updatedAt)
    }
}
