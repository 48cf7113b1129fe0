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
    var limits: EngineLimits
    /// RLIMIT_CPU for the child, in CPU-seconds of all its threads.
    var cpuSeconds: Int
    var logLevel: String
    var jsonLogs: Bool
}

enum ChildEvent: Codable, Sendable {
    case progress(TranscodeProgress)
    case completed(TranscodeResult)
    case completedOutputs(MultiTranscodeResult)
    case failed(code: TranscodeError.Code, message: String)

    /// One line of the child's stdout (nil for anything else: the line is ignored).
    static func decode(_ line: Data) -> ChildEvent? { try? JSONDecoder().decode(ChildEvent.self, from: line) }

    func encoded() -> Data {
        var data = (try? JSONEncoder().encode(self)) ?? Data()
        data.append(0x0A)
        return data
    }
}
