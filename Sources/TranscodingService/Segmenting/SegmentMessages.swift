import Foundation

/// Where a segmented job keeps its parts in the bucket. Every key is fixed by the job id and
/// the part's name, so a redelivered task or coordinator finds what is already there.
struct SegmentKeys: Sendable {
    let prefix: String

    init(jobID: String) { prefix = ".transcoder/jobs/\(jobID)/" }

    var manifest: String { prefix + "manifest.json" }
    /// A part as split from the input (`00003`, `audio`).
    func source(_ part: String) -> String { prefix + "src/\(part).mkv" }
    /// A part once encoded.
    func encoded(_ part: String) -> String { prefix + "out/\(part).mkv" }
    var encodedPrefix: String { prefix + "out/" }
    /// Why a part failed for good (a ``SegmentEvent`` as JSON).
    func failure(_ part: String) -> String { prefix + "failed/\(part).json" }
    var failurePrefix: String { prefix + "failed/" }

    /// The part name of a key under `out/` or `failed/`.
    static func part(of key: String) -> String {
        let name = key.split(separator: "/").last.map(String.init) ?? key
        return name.split(separator: ".").first.map(String.init) ?? name
    }
}

/// What the split made, stored once every source part is in the bucket: from then on a new
/// coordinator of the job starts from here instead of splitting again.
struct SegmentManifest: Codable, Sendable, Equatable {
    var jobID: String
    /// Video parts in timeline order (`00000`, `00001`, ...), then `audio` when the input has sound.
    var parts: [String]
    var durationSeconds: Double
    var inputSize: Int64
    var segmentSeconds: Int
    /// Bytes of each source part, by name: the weights of the job's progress.
    var sizes: [String: Int64]

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", parts, durationSeconds = "duration_seconds", inputSize = "input_size"
        case segmentSeconds = "segment_seconds", sizes
    }

    static let audioPart = "audio"
    var videoParts: [String] { parts.filter { $0 != Self.audioPart } }
    var hasAudio: Bool { parts.contains(Self.audioPart) }
}

/// A part to encode, on the internal queue `transcoding_jobs.segments`: the job as it was
/// submitted (so the part is encoded with exactly its options) and the part's name.
struct SegmentTask: Codable, Sendable {
    /// The job message's body, verbatim.
    var job: String
    var part: String

    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }
    static func decode(_ body: [UInt8]) -> SegmentTask? { try? JSONDecoder().decode(SegmentTask.self, from: Data(body)) }
}

/// How a part goes, from the worker encoding it to the job's coordinator (internal topic
/// exchange, routing key: the job id). Only a hint: the bucket is the record of what is done.
struct SegmentEvent: Codable, Sendable {
    enum State: String, Codable, Sendable { case running, done, failed }
    var jobID: String
    var part: String
    var workerID: String
    var state: State
    /// 0...1 of this part.
    var fraction: Double = 0
    var fps: Double?
    var errorCode: JobFailure.Code?
    var errorMessage: String?

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", part, workerID = "worker_id", state, fraction, fps
        case errorCode = "error_code", errorMessage = "error_message"
    }

    func encoded() -> [UInt8] { Array((try? JSONEncoder().encode(self)) ?? Data()) }
    static func decode(_ body: [UInt8]) -> SegmentEvent? { try? JSONDecoder().decode(SegmentEvent.self, from: Data(body)) }
}
