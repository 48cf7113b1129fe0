#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// HLS playlists: hlssink2's media playlists read back and rewritten as VOD, and the master
/// playlist, which is ours: figures come from what was produced, not from settings.
enum HLS {
    struct Segment: Equatable {
        var duration: Double
        var uri: String
    }

    struct Variant: Equatable {
        var uri: String
        /// Peak segment bitrate, bits per second.
        var bandwidth: Int
        var averageBandwidth: Int
        var width: Int
        var height: Int
        var codecs: String
        var frameRate: Double?
    }

    /// The segments of a media playlist, in order.
    static func segments(inPlaylist text: String) -> [Segment] {
        var result: [Segment] = []
        var pending: Double?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = String(raw.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
            if line.hasPrefix("#EXTINF:") {
                let value = line.dropFirst("#EXTINF:".count).split(separator: ",", maxSplits: 1).first.map(String.init) ?? ""
                pending = Double(value)
            } else if !line.isEmpty, !line.hasPrefix("#"), let duration = pending {
                result.append(Segment(duration: duration, uri: line))
                pending = nil
            }
        }
        return result
    }

    /// A VOD media playlist listing every segment (hlssink2 in GStreamer 1.22 writes no playlist type).
    static func vodPlaylist(_ segments: [Segment]) -> String {
        let target = Int((segments.map(\.duration).max() ?? 1).rounded())
        var text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:\(max(1, target))\n#EXT-X-MEDIA-SEQUENCE:0\n"
        for s in segments { text += "#EXTINF:\(decimal(s.duration, 6)),\n\(s.uri)\n" }
        return text + "#EXT-X-ENDLIST\n"
    }

    /// The master playlist, highest bandwidth first.
    static func master(_ variants: [Variant]) -> String {
        var text = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n"
        for v in variants.sorted(by: { $0.bandwidth > $1.bandwidth }) {
            var attributes = ["BANDWIDTH=\(v.bandwidth)", "AVERAGE-BANDWIDTH=\(v.averageBandwidth)",
                              "RESOLUTION=\(v.width)x\(v.height)", "CODECS=\"\(v.codecs)\""]
            if let fps = v.frameRate, fps > 0 { attributes.append("FRAME-RATE=\(decimal(fps, 3))") }
            text += "#EXT-X-STREAM-INF:\(attributes.joined(separator: ","))\n\(v.uri)\n"
        }
        return text
    }

    /// Peak and average bitrate (bits per second) of segments with these sizes.
    static func bitrates(_ segments: [Segment], sizes: [Int64]) -> (peak: Int, average: Int) {
        var peak = 0.0
        for (s, size) in zip(segments, sizes) where s.duration > 0 { peak = max(peak, Double(size) * 8 / s.duration) }
        let seconds = segments.map(\.duration).reduce(0, +)
        let bytes = sizes.reduce(0, +)
        return (Int(peak.rounded(.up)), seconds > 0 ? Int((Double(bytes) * 8 / seconds).rounded(.up)) : 0)
    }

    /// `avc1.PPCCLL` from the first sequence parameter set in an MPEG-TS (or any Annex B) stream.
    static func avcCodec(inStream bytes: [UInt8]) -> String? {
        var i = 0
        while i + 6 < bytes.count {
            if bytes[i] == 0, bytes[i + 1] == 0, bytes[i + 2] == 1, bytes[i + 3] & 0x1F == 7 {
                return "avc1." + bytes[(i + 4)...(i + 6)].map { b in
                    let hex = String(b, radix: 16)
                    return hex.count == 1 ? "0" + hex : hex
                }.joined()
            }
            i += 1
        }
        return nil
    }

    static func decimal(_ value: Double, _ places: Int) -> String {
        let scale = (0..<places).reduce(1.0) { r, _ in r * 10 }
        let text = "\((value * scale).rounded() / scale)"
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}
