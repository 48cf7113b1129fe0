import Foundation
import Transcoding

/// A several-output job as the engine sees it: each output gets a local name in the scratch
/// directory (`out1.mp4`, `out2/`), so object keys never become paths, and each produced file
/// maps back to its key.
struct OutputSet: Sendable {
    struct Entry: Sendable {
        var key: String
        var spec: OutputSpec
    }
    let entries: [Entry]

    /// `keysAsNames`: each output at its own key under the directory (the CLI's local `run`), not at `outN`.
    init(_ outputs: [JobRequest.Output], keysAsNames: Bool = false) {
        entries = outputs.enumerated().map { i, o in
            let name: String
            if keysAsNames {
                name = o.isPrefix ? String(o.key.dropLast()) : o.key
            } else if o.isPrefix {
                name = "out\(i + 1)"
            } else {
                let ext = Container.fromExtension(of: o.key) != nil ? "." + (o.key as NSString).pathExtension.lowercased() : ""
                name = "out\(i + 1)\(ext)"
            }
            let kind: OutputSpec.Kind
            if let t = o.thumbnails {
                kind = .thumbnails(ThumbnailSpec(posterAt: t.posterAt ?? 0.1, spriteIntervalSeconds: t.spriteIntervalSeconds, width: t.width ?? 160))
            } else if let h = o.hls {
                kind = .hls(o.options, segmentSeconds: h.segmentSeconds ?? 6)
            } else {
                kind = .file(o.options)
            }
            return Entry(key: o.key, spec: OutputSpec(name: name, kind: kind))
        }
    }

    var specs: [OutputSpec] { entries.map(\.spec) }

    /// The object key of a produced file (its path is relative to the job's output directory).
    func key(of file: ProducedOutput.File, in output: Int) -> String {
        let entry = entries[output]
        guard case .file = entry.spec.kind else { return entry.key + file.path.dropFirst(entry.spec.name.count + 1) }
        return entry.key
    }
}

extension JobRequest {
    /// The checks a worker makes on the job's options before downloading anything (no media, no broker).
    public func validateOptions(limits: EngineLimits = .default) throws(JobFailure) {
        do {
            if let outputs { try TranscodingEngine.validate(outputs: OutputSet(outputs).specs, limits: limits) }
            else { try TranscodingEngine.validate(options, outputKey: outputKey, limits: limits) }
        } catch {
            throw JobFailure(error)
        }
    }

    /// The engine's outputs for a local run: each at its key under the output directory.
    public var localOutputs: [OutputSpec]? { outputs.map { OutputSet($0, keysAsNames: true).specs } }
}

extension JobRequest.Output {
    var options: TranscodeOptions { JobRequest.options(preset: preset, overrides: overrides, fragment: transcodeOptions) }
}

/// The job's manifest, stored at `output_key` after every output: its presence means the job is complete.
struct JobManifest: Codable, Sendable {
    struct Object: Codable, Sendable {
        var key: String
        var size: Int64
        var role: String
        var container: String?
        var codec: String?
        var width: Int?
        var height: Int?
        var durationSeconds: Double?
        var bitrate: Int?
        enum CodingKeys: String, CodingKey {
            case key, size, role, container, codec, width, height, durationSeconds = "duration_seconds", bitrate
        }
    }
    struct Output: Codable, Sendable {
        var key: String
        var kind: String
        var objects: [Object]
    }
    var jobID: String
    var inputKey: String
    var durationSeconds: Double
    var outputs: [Output]
    enum CodingKeys: String, CodingKey { case jobID = "job_id", inputKey = "input_key", durationSeconds = "duration_seconds", outputs }

    func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        return (try? encoder.encode(self)) ?? Data()
    }
}
