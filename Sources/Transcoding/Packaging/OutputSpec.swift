/// One output of a job that makes several from one decode (``TranscodingEngine/transcode(input:outputs:directory:progress:)``).
public struct OutputSpec: Sendable, Codable, Equatable {
    public enum Kind: Sendable, Codable, Equatable {
        /// One file, as a single-output job makes it; `name` is the file (its extension picks the container).
        case file(TranscodeOptions)
        /// An HLS package in the directory `name`: the options name an H.264 preset or the ladder preset.
        case hls(TranscodeOptions, segmentSeconds: Int)
        /// Poster, sprite sheet and WebVTT thumbnails track in the directory `name`.
        case thumbnails(ThumbnailSpec)
    }

    /// A path relative to the job's output directory: no `..`, no leading `/` (checked by the planner).
    public var name: String
    public var kind: Kind

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }
}

public struct ThumbnailSpec: Sendable, Codable, Equatable {
    /// Seconds, or a fraction of the duration when below 1.
    public var posterAt: Double
    /// One sprite frame per interval (seconds); nil: no sprite sheet.
    public var spriteIntervalSeconds: Double?
    /// Width of each sprite frame; the height keeps the aspect ratio.
    public var width: Int

    public init(posterAt: Double = 0.1, spriteIntervalSeconds: Double? = nil, width: Int = 160) {
        self.posterAt = posterAt
        self.spriteIntervalSeconds = spriteIntervalSeconds
        self.width = width
    }

    public static let widths = 32...640
    public static let intervals = 1.0...600.0
}

/// What one output produced: its files in the order they must be stored (for HLS the master
/// playlist last, so a reader never sees a master naming a missing variant).
public struct ProducedOutput: Sendable, Codable {
    public struct File: Sendable, Codable {
        public enum Role: String, Sendable, Codable { case file, master, variant, segment, poster, sprite, vtt }
        /// Relative to the job's output directory.
        public var path: String
        public var role: Role
        public var size: Int64
        public var codec: String?
        public var width: Int?
        public var height: Int?
        public var durationSeconds: Double?
        /// Bits per second: the peak segment bitrate for a variant playlist.
        public var bitrate: Int?

        public init(path: String, role: Role, size: Int64, codec: String? = nil, width: Int? = nil, height: Int? = nil,
                    durationSeconds: Double? = nil, bitrate: Int? = nil) {
            self.path = path; self.role = role; self.size = size; self.codec = codec
            self.width = width; self.height = height; self.durationSeconds = durationSeconds; self.bitrate = bitrate
        }
    }

    public var name: String
    public var files: [File]
    /// The output's media facts (a file's, the top variant's), when it has media.
    public var info: MediaInfo?
}

public struct MultiTranscodeResult: Sendable, Codable {
    public let input: MediaInfo
    public let outputs: [ProducedOutput]
    public let elapsed: Duration
    public let frames: Int?
}

/// Path strings inside the job's directory (FoundationEssentials has no NSString path methods).
enum Paths {
    static func join(_ a: String, _ b: String) -> String { a.isEmpty ? b : a.hasSuffix("/") ? a + b : a + "/" + b }
    static func parent(_ p: String) -> String {
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }
    static func last(_ p: String) -> String { p.split(separator: "/").last.map(String.init) ?? p }
}
