/// Output container, chosen from the output key's extension.
public enum Container: String, Sendable, Codable, CaseIterable {
    case mp4, mov, mkv, webm, ts, ogg

    /// The container for an output key; a key without a known extension gets MP4
    /// (the seed's example key `path/to/output_file` has none).
    public static func forOutputKey(_ key: String) -> Container {
        fromExtension(of: key) ?? .mp4
    }

    /// The container named by the key's extension, or nil when it has none we know.
    public static func fromExtension(of key: String) -> Container? {
        let last = key.split(separator: "/").last.map(String.init) ?? key
        guard let dot = last.lastIndex(of: "."), dot != last.startIndex else { return nil }
        switch last[last.index(after: dot)...].lowercased() {
        case "mp4", "m4a", "m4v": return .mp4
        case "mov": return .mov
        case "mkv", "mka": return .mkv
        case "webm": return .webm
        case "ts", "m2ts", "mts": return .ts
        case "ogg", "opus", "oga": return .ogg
        default: return nil
        }
    }

    /// GStreamer muxer factory.
    var muxerFactory: String {
        switch self {
        case .mp4: "mp4mux"
        case .mov: "qtmux"
        case .mkv: "matroskamux"
        case .webm: "webmmux"
        case .ts: "mpegtsmux"
        case .ogg: "oggmux"
        }
    }

    /// Top-level caps name GstDiscoverer reports for a file in this container.
    var discovererCapsNames: [String] {
        switch self {
        case .mp4, .mov: ["video/quicktime", "audio/x-m4a"]
        case .mkv: ["video/x-matroska", "audio/x-matroska"]
        case .webm: ["video/webm", "audio/webm"]
        case .ts: ["video/mpegts"]
        case .ogg: ["audio/ogg", "application/ogg", "video/ogg"]
        }
    }
}
