#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One element to create, with properties set through `gst_util_set_object_arg` (strings).
struct ElementSpec: Sendable, Equatable {
    var factory: String
    var properties: [Property] = []

    struct Property: Sendable, Equatable {
        var name: String
        var value: String
    }

    init(_ factory: String, _ properties: [(String, String)] = []) {
        self.factory = factory
        self.properties = properties.map { Property(name: $0.0, value: $0.1) }
    }
}

/// A checked job: what to build around the input, decided before any file is touched.
struct EncodingPlan: Sendable {
    enum Video: Sendable {
        /// Scale into the box (never up), then encode.
        case encode(ElementSpec, maxWidth: Int, maxHeight: Int)
        /// The validated untrusted fragment text; parsed again (and re-validated) per job.
        case fragment(String)
    }

    var container: Container
    var video: Video?
    /// Media type the video branch emits, e.g. "video/x-h264".
    var videoMediaType: String?
    var audio: ElementSpec?
    var audioOnly: Bool
    /// Caps limiting the audio before its encoder (channel count), if any.
    var audioCaps: String?
    /// A part of a segmented job: timestamps stay on the input's timeline (not restarted at the
    /// part file's start) and are written to the microsecond, so that the parts join exactly.
    var keepsTimeline = false

    var isFragment: Bool { if case .fragment? = video { true } else { false } }

    /// Parser to put between an encoder and the muxer, by encoded media type.
    static func parser(for mediaType: String) -> String? {
        switch mediaType {
        case "video/x-h264": "h264parse"
        case "video/x-h265": "h265parse"
        case "video/x-vp9": "vp9parse"
        case "video/x-av1": "av1parse"
        case "video/mpeg": "mpeg4videoparse"
        case "audio/mpeg": "aacparse"
        default: nil
        }
    }

    /// The audio the container gets when the job does not say: AAC where it fits, else Opus.
    static func defaultAudio(for container: Container, bitrateKbps: Int = 128) -> (ElementSpec, String?) {
        switch container {
        case .webm, .ogg: audio(.opus, bitrateKbps: bitrateKbps)
        case .mp4, .mov, .mkv, .ts: audio(.aac, bitrateKbps: bitrateKbps)
        }
    }

    /// Encoder and input caps for an audio codec; AAC keeps up to 5.1, Opus up to 7.1.
    static func audio(_ codec: Preset.AudioCodec, bitrateKbps: Int) -> (ElementSpec, String?) {
        switch codec {
        case .opus: (ElementSpec("opusenc", [("bitrate", String(bitrateKbps * 1000)), ("bitrate-type", "vbr")]), "audio/x-raw,channels=[1,8]")
        case .aac: (ElementSpec(AACEncoderElement.factoryName, [("bitrate", String(bitrateKbps * 1000))]), "audio/x-raw,channels=[1,6]")
        }
    }

    static var threadCount: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// The encoder element for a preset's video with overrides applied (already range-checked).
    static func videoEncoder(_ v: Preset.Video, _ o: PresetOverrides, threads: Int) -> ElementSpec {
        let speed = o.speed ?? v.speed
        let speedIndex = Preset.speeds.firstIndex(of: speed) ?? 2
        let bitrate = o.bitrateKbps ?? (o.crf == nil ? v.bitrateKbps : nil)
        let crf = o.crf ?? v.crf
        let t = String(threads)
        switch v.codec {
        case .h264:
            // Our libx264 element (X264Element): x264enc's settings and encoding, with each input
            // frame released once x264 has copied it. x264's own threading (1.5 x cores, threaded
            // lookahead), as gst-launch and ffmpeg run it: threads = cores with sync-lookahead 0
            // saved about 25 MB but cost 15-20 % wall time on the 720p trailer on an idle 2-core machine.
            var p = [("speed-preset", speed), ("key-int-max", "250")]
            // Plain CRF as x264 and ffmpeg mean it (no VBV cap), or ABR with x264enc's 600 ms VBV.
            if let bitrate { p.append(("bitrate", String(bitrate))) } else { p.append(("crf", String(crf ?? 23))) }
            return ElementSpec(X264Element.factoryName, p)
        case .hevc:
            // Our libx265 element (X265Element): x265enc's settings, each input released once x265 has copied it.
            var p = [("speed-preset", speed)]
            if let bitrate { p.append(("bitrate", String(bitrate))) } else { p.append(("crf", String(crf ?? 28))) }
            return ElementSpec(X265Element.factoryName, p)
        case .vp9:
            var p = [("deadline", "1"), ("cpu-used", String(8 - speedIndex)), ("threads", t), ("row-mt", "true")]
            if let b = o.bitrateKbps { p += [("end-usage", "vbr"), ("target-bitrate", String(b * 1000))] }
            else {
                // vp9enc has no pure-quality mode (libvpx's VPX_Q, ffmpeg's `-crf N -b:v 0`): constrained
                // quality, the preset's bitrate a ceiling (ffmpeg's `-crf N -b:v B`).
                p += [("end-usage", "cq"), ("cq-level", String(crf ?? 32)), ("target-bitrate", String((v.bitrateKbps ?? 2000) * 1000))]
            }
            return ElementSpec("vp9enc", p)
        case .av1:
            let cpu = min(10, 10 - speedIndex)
            return ElementSpec("av1enc", [
                ("usage-profile", speedIndex <= 3 ? "realtime" : "good-quality"), ("cpu-used", String(cpu)),
                ("threads", t), ("row-mt", "true"), ("end-usage", "vbr"),
                ("target-bitrate", String(bitrate ?? 1500)), ("max-quantizer", "63"), ("keyframe-max-dist", "250"),
            ])
        }
    }

    /// The size a video of `w`x`h` gets in a box: aspect kept, never upscaled, even dimensions.
    static func fit(width w: Int, height h: Int, maxWidth: Int, maxHeight: Int) -> (Int, Int) {
        guard w > 0, h > 0 else { return (maxWidth, maxHeight) }
        let scale = min(1.0, Double(maxWidth) / Double(w), Double(maxHeight) / Double(h))
        func even(_ x: Double) -> Int { max(2, Int(x / 2) * 2) }
        return (min(even(Double(w) * scale), maxWidth - maxWidth % 2), min(even(Double(h) * scale), maxHeight - maxHeight % 2))
    }
}
