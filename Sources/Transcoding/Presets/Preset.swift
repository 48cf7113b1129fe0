/// A named, declarative recipe: container, codecs, size box, rate control and audio.
///
/// Presets are data; ``EncodingPlan`` turns one plus ``PresetOverrides`` into elements.
public struct Preset: Sendable {
    public enum VideoCodec: String, Sendable { case h264, hevc, vp9, av1 }
    public enum AudioCodec: String, Sendable { case aac, opus }

    public struct Video: Sendable {
        public let codec: VideoCodec
        /// Bounding box; the aspect ratio is kept and nothing is upscaled.
        public let maxWidth: Int
        public let maxHeight: Int
        /// Default constant quality, or nil for bitrate-driven codecs.
        public let crf: Int?
        /// Default bitrate in kbit/s when `crf` is nil.
        public let bitrateKbps: Int?
        public let speed: String
    }

    public let name: String
    /// One line for `transcoder presets`.
    public let summary: String
    /// Used when the output key has no extension.
    public let container: Container
    public let video: Video?
    public let audio: AudioCodec
    public let audioBitrateKbps: Int

    /// Every preset, in the order the CLI lists them.
    public static let all: [Preset] = [
        h264("h264-1080p", 1920, 1080), h264("h264-720p", 1280, 720), h264("h264-480p", 854, 480),
        Preset(name: "hevc-720p",
               summary: "HEVC (x265) in MP4, fit in 1280x720, CRF 28, speed veryfast; AAC 128 kbit/s",
               container: .mp4, video: Video(codec: .hevc, maxWidth: 1280, maxHeight: 720, crf: 28, bitrateKbps: nil, speed: "veryfast"),
               audio: .aac, audioBitrateKbps: 128),
        Preset(name: "vp9-720p",
               summary: "VP9 (libvpx) in WebM, fit in 1280x720, constrained quality 32 up to 2000 kbit/s, realtime speed; Opus 128 kbit/s",
               container: .webm, video: Video(codec: .vp9, maxWidth: 1280, maxHeight: 720, crf: 32, bitrateKbps: 2000, speed: "veryfast"),
               audio: .opus, audioBitrateKbps: 128),
        Preset(name: "av1-720p",
               summary: "AV1 (libaom) in MP4, fit in 1280x720, 1500 kbit/s VBR, realtime speed; AAC 128 kbit/s. Debian 12's GStreamer has no SVT-AV1, which encodes about 2x the frames per CPU-second (docs/performance.md)",
               container: .mp4, video: Video(codec: .av1, maxWidth: 1280, maxHeight: 720, crf: nil, bitrateKbps: 1500, speed: "veryfast"),
               audio: .aac, audioBitrateKbps: 128),
        Preset(name: "aac-audio",
               summary: "Audio only: AAC 128 kbit/s in MP4/M4A (video dropped)",
               container: .mp4, video: nil, audio: .aac, audioBitrateKbps: 128),
        Preset(name: "opus-audio",
               summary: "Audio only: Opus 96 kbit/s in Ogg (.opus/.ogg; also .webm/.mkv) (video dropped)",
               container: .ogg, video: nil, audio: .opus, audioBitrateKbps: 96),
    ]

    /// The preset with this name, if any.
    public static func named(_ name: String) -> Preset? { all.first { $0.name == name } }

    /// Speed names accepted by ``PresetOverrides/speed``, fastest first.
    public static let speeds = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]

    private static func h264(_ name: String, _ w: Int, _ h: Int) -> Preset {
        Preset(name: name,
               summary: "H.264 (x264) in MP4, fit in \(w)x\(h), CRF 23, speed veryfast; AAC 128 kbit/s",
               container: .mp4, video: Video(codec: .h264, maxWidth: w, maxHeight: h, crf: 23, bitrateKbps: nil, speed: "veryfast"),
               audio: .aac, audioBitrateKbps: 128)
    }
}
