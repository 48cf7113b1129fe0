/// What GstDiscoverer found in a file: used to refuse non-media early and to check outputs.
public struct MediaInfo: Sendable, Codable, Equatable {
    public struct Stream: Sendable, Codable, Equatable {
        public enum Kind: String, Sendable, Codable { case video, audio, subtitle, other }
        public var kind: Kind
        /// Human codec name, e.g. "H.264 (High Profile)".
        public var codec: String
        /// Caps media type, e.g. "video/x-h264".
        public var mediaType: String
        public var width: Int?
        public var height: Int?
        public var frameRate: Double?
        public var channels: Int?
        public var sampleRate: Int?
        public var bitRate: Int?
        /// The discoverer's image flag (a video stream of one picture): the only sign of a still
        /// image; a duration of 0 means only that the container did not say.
        public var isImage: Bool?
        /// Coded as fields (or flagged interlaced in the caps): video presets deinterlace it.
        public var interlaced: Bool?
        /// What the parser read from the bitstream: "4:2:0", "4:2:2", "4:4:4", "4:0:0"; luma bits.
        public var chromaFormat: String?
        public var bitDepth: Int?
    }

    /// Caps media type of the container, e.g. "video/quicktime"; empty for raw streams.
    public var container: String
    /// Seconds.
    public var duration: Double
    public var streams: [Stream]
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    /// Bits per second of the first video (else audio) stream, when known.
    public var bitRate: Int?

    public var hasVideo: Bool { streams.contains { $0.kind == .video } }
    public var hasAudio: Bool { streams.contains { $0.kind == .audio } }
    public var video: Stream? { streams.first { $0.kind == .video } }
    public var audio: Stream? { streams.first { $0.kind == .audio } }
    public var isStillImage: Bool { video?.isImage == true && !hasAudio }
    public var isInterlaced: Bool { video?.interlaced == true }
}
