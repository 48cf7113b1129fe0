import Foundation
import Logging
import Transcoding

/// Stage 2: local input to local output, in the job's own media process (``ChildEngine``).
struct TranscodeStage: Sendable {
    /// Validation only (no media): runs in the worker.
    let engine: TranscodingEngine
    let child: ChildEngine

    /// Checks the job's options without touching any file, so bad options fail before
    /// anything is downloaded.
    func validate(_ job: JobRequest) throws(JobFailure) {
        try job.validateOptions(limits: engine.limits)
    }

    func run(jobID: String, input: String, outputKey: String, options: TranscodeOptions, in scratch: ScratchDirectory,
             logger: Logger, progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(JobFailure) -> (path: String, result: TranscodeResult) {
        // Keep the key's extension (it picks the container); none lets the engine choose.
        let ext = Container.fromExtension(of: outputKey) != nil ? "." + (outputKey as NSString).pathExtension.lowercased() : ""
        let output = scratch.file("output" + ext)
        let result = try await child.transcode(jobID: jobID, input: input, output: output, options: options,
                                               workingDirectory: scratch.path, logger: logger, progress: progress)
        return (output, result)
    }
}

extension JobRequest {
    /// The engine's options for this job (the decoder guarantees exactly one form).
    public var options: TranscodeOptions {
        Self.options(preset: preset, overrides: overrides, fragment: transcodeOptions)
    }

    /// A preset with its overrides, or else the fragment: the engine's form of a job or of one of its outputs.
    static func options(preset: String?, overrides o: Overrides?, fragment: String?) -> TranscodeOptions {
        guard let preset else { return .fragment(fragment ?? "") }
        return .preset(preset, overrides: PresetOverrides(width: o?.width, height: o?.height, bitrateKbps: o?.bitrate, crf: o?.crf, speed: o?.speed))
    }
}

extension JobFailure {
    init(_ error: TranscodeError) {
        let code: Code = switch error.code {
        case .inputUnreadable: .inputUnreadable
        case .inputCorrupt: .inputCorrupt
        case .inputUnsupported: .inputUnsupported
        case .optionsInvalid: .invalidOptions
        case .optionsForbidden: .forbiddenOptions
        case .encoderFailure: .encoderFailed
        case .outputUnwritable: .internalError
        case .cancelled: .internalError
        case .timedOut: .timedOut
        case .resourceLimit: .resourceLimit
        }
        self.init(code, error.message)
    }
}
