import Foundation
import Transcoding

/// The worker and its job child talk over two pipes: the request goes to the child's stdin
/// as one JSON document, and the child answers on stdout with one ``ChildEvent`` per line.
/// Both sides are this binary, so the shapes change together.
struct ChildRequest: Codable, Sendable {
    var jobID: String
    var input: String
    var output: String
    var options: TranscodeOptions
    /// A several-output job: `output` is then the directory the outputs go in, and `options` is unused.
    var outputs: [OutputSpec]? = nil
    /// A step of a segmented job instead of a whole transcode.
    var segmented: SegmentedStep? = nil
    var limits: EngineLimits
    /// RLIMIT_CPU for the child, in CPU-seconds of all its threads.
    var cpuSeconds: Int
    var logLevel: String
    var jsonLogs: Bool
}

/// The steps of a segmented job that touch media, each in a job child like any transcode.
/// `outputKey` is always the job's own: its container decides what the options may produce.
enum SegmentedStep: Codable, Sendable {
    /// `input` into parts in the directory `output`, when it lasts at least `minimumSeconds`.
    case split(segmentSeconds: Int, minimumSeconds: Double, outputKey: String)
    /// One part file `input` encoded into `output`.
    case encode(part: SegmentPart, outputKey: String)
    /// Encoded parts (in order) and audio into `output`; `input` is unused.
    case join(parts: [String], audio: String?, outputKey: String, duration: Double)
}

enum ChildEvent: Codable, Sendable {
    case progress(TranscodeProgress)
    case completed(TranscodeResult)
    case completedOutputs(MultiTranscodeResult)
    case split(SplitResult)
    case joined(MediaInfo)
    case failed(code: TranscodeError.Code, message: String)

    /// One line of the child's stdout (nil for anything else: the line is ignored).
    static func decode(_ line: Data) -> ChildEvent? { try? JSONDecoder().decode(ChildEvent.self, from: line) }

    func encoded() -> Data {
        var data = (try? JSONEncoder().encode(self)) ?? Data()
        data.append(0x0A)
        return data
    }
}
