/// A named set of H.264 renditions for HLS (`hls-ladder`): one decode, one scaler and encoder
/// per rung, one AAC stream muxed into every variant. Rungs above the input are dropped.
public struct Ladder: Sendable {
    public struct Rung: Sendable, Equatable {
        public let name: String
        public let maxWidth: Int
        public let maxHeight: Int
        /// Average bitrate with a VBV of the same rate (600 ms buffer): the variant's bandwidth stays predictable.
        public let bitrateKbps: Int
    }

    public let name: String
    public let summary: String
    public let rungs: [Rung]
    public let speed: String
    public let audioBitrateKbps: Int

    public static let hls = Ladder(
        name: "hls-ladder",
        summary: "HLS ladder: H.264 1080p 5000, 720p 2800, 480p 1400, 360p 800 kbit/s (speed veryfast, keyframes at every segment start); "
            + "one AAC 128 kbit/s stream in every variant; rungs above the input are dropped. Only in an `outputs` entry with `hls`",
        rungs: [Rung(name: "1080p", maxWidth: 1920, maxHeight: 1080, bitrateKbps: 5000),
                Rung(name: "720p", maxWidth: 1280, maxHeight: 720, bitrateKbps: 2800),
                Rung(name: "480p", maxWidth: 854, maxHeight: 480, bitrateKbps: 1400),
                Rung(name: "360p", maxWidth: 640, maxHeight: 360, bitrateKbps: 800)],
        speed: "veryfast", audioBitrateKbps: 128)

    public static let all = [hls]
    public static func named(_ name: String) -> Ladder? { all.first { $0.name == name } }

    /// The rungs worth encoding for an input of `width`x`height`: every rung that scales it down,
    /// plus the smallest one that holds it whole (at the input's own size); nothing is upscaled.
    public static func rungs(_ rungs: [Rung], forWidth width: Int, height: Int) -> [Rung] {
        kept(rungs, forWidth: width, height: height) { ($0.maxWidth, $0.maxHeight) }
    }

    /// The same choice for anything with a size box (the planned renditions).
    static func kept<T>(_ items: [T], forWidth width: Int, height: Int, box: (T) -> (width: Int, height: Int)) -> [T] {
        guard width > 0, height > 0 else { return items }
        let boxes = items.map(box)
        let scalesDown = boxes.map { width > $0.width || height > $0.height }
        let holding = boxes.indices.filter { !scalesDown[$0] }.min { boxes[$0].width * boxes[$0].height < boxes[$1].width * boxes[$1].height }
        let kept = items.indices.filter { scalesDown[$0] || $0 == holding }.map { items[$0] }
        return kept.isEmpty ? Array(items.suffix(1)) : kept
    }
}
