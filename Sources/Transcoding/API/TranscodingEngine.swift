import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// Transcodes local files with GStreamer: presets or validated fragments, progress,
/// cancellation, watchdogs, and a probed, atomically renamed output.
///
/// One engine can run many jobs at once; each job gets its own pipeline and OS thread.
public final class TranscodingEngine: Sendable {
    public let limits: EngineLimits
    let logger: Logger

    public init(limits: EngineLimits = .default, logger: Logger = Logger(label: "transcoding.engine")) {
        self.limits = limits
        self.logger = logger
    }

    /// Checks options for an output key without touching any file, so a job can be refused
    /// before it is downloaded (the CLI's `validate` command calls this).
    public func validate(_ options: TranscodeOptions, outputKey: String) throws(TranscodeError) {
        _ = try Planner.plan(options, outputKey: outputKey, limits: limits)
    }

    /// Static form of ``validate(_:outputKey:)`` with the given limits.
    public static func validate(_ options: TranscodeOptions, outputKey: String, limits: EngineLimits = .default) throws(TranscodeError) {
        _ = try Planner.plan(options, outputKey: outputKey, limits: limits)
    }

    /// Streams, codecs and duration of a file; refuses non-media with a clear category.
    public func probe(_ file: String) async throws(TranscodeError) -> MediaInfo {
        let timeout = limits.probeTimeout
        let logger = logger
        return try await OSThread.run { () throws(TranscodeError) in try Prober.probe(path: file, timeout: timeout, logger: logger) }
    }

    /// What the output check reads back from a finished file (parse-only, no decoders).
    package func inspectOutput(_ file: String, logger: Logger? = nil) async throws(TranscodeError) -> MediaInfo {
        let timeout = limits.probeTimeout
        let logger = logger ?? self.logger
        return try await OSThread.run { () throws(TranscodeError) in try OutputInspector.inspect(path: file, timeout: timeout, logger: logger) }
    }

    /// Transcodes `input` into `output`. The output appears only on success (written under a
    /// temporary name next to it, read back and checked, then renamed); cancelling the calling task stops the
    /// job within about 100 ms and throws `.cancelled`.
    public func transcode(input: String, output: String, options: TranscodeOptions,
                          progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(TranscodeError) -> TranscodeResult {
        let plan = try Planner.plan(options, outputKey: output, limits: limits)
        let fragmentMode = if case .fragment = options { true } else { false }
        return try await transcode(input: input, output: output, plan: plan, fragmentMode: fragmentMode, progress: progress)
    }

    /// The temporary name an output is written under, next to it.
    static func partialName(for output: String) -> String {
        let url = URL(fileURLWithPath: output)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).partial").path
    }

    func transcode(input: String, output: String, plan: EncodingPlan, fragmentMode: Bool,
                   progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(TranscodeError) -> TranscodeResult {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + limits.overallTimeout
        var log = logger
        log[metadataKey: "transcode.output"] = "\(URL(fileURLWithPath: output).lastPathComponent)"
        let inputInfo = try await probe(input)
        // Hands back what the probe's decoders freed into thread arenas (about 2 MB on the trailer).
        cgst_trim_heap()
        try Self.check(inputInfo, against: plan, limits: limits)
        if Task.isCancelled { throw TranscodeError(.cancelled, "The job was cancelled.") }

        let temp = Self.partialName(for: output)
        defer { try? FileManager.default.removeItem(atPath: temp) }

        let limits = limits
        let job = TranscodeJob()
        let jobLogger = log
        let result: Result<TranscodeJob.Outcome, TranscodeError> = await withTaskCancellationHandler {
            await OSThread.result { () throws(TranscodeError) -> TranscodeJob.Outcome in
                let built = try PipelineBuilder.build(plan: plan, input: inputInfo, inputPath: input, outputPath: temp, limits: limits)
                return try job.run(built, duration: inputInfo.duration > 0 ? inputInfo.duration : nil, deadline: deadline,
                                   limits: limits, fragmentMode: fragmentMode, logger: jobLogger, progress: progress).get()
            }
        } onCancel: {
            job.cancel()
        }
        let outcome = try result.get()
        if Task.isCancelled { throw TranscodeError(.cancelled, "The job was cancelled.") }

        // Parse-only read-back: GstDiscoverer would plug decoders again, about 0.1 s per job.
        let outputInfo = try await inspectOutput(temp, logger: jobLogger)
        try Self.verify(outputInfo, input: inputInfo, plan: plan, inputWarnings: outcome.inputWarnings)
        if rename(temp, output) != 0 {
            throw TranscodeError(.outputUnwritable, "The output file could not be put in place.")
        }
        progress(TranscodeProgress(percent: 100, position: inputInfo.duration, duration: inputInfo.duration, fps: nil, etaSeconds: 0))
        return TranscodeResult(output: outputInfo, input: inputInfo, elapsed: clock.now - started,
                               frames: outputInfo.hasVideo ? outcome.frames : nil)
    }

    /// Refuses inputs the plan cannot use before building anything.
    static func check(_ input: MediaInfo, against plan: EncodingPlan,
                      limits: EngineLimits = .default) throws(TranscodeError) {
        try check(input, needsVideo: plan.video != nil, audioOnly: plan.audioOnly, limits: limits)
    }

    /// The same for what an output needs: video (a video preset, HLS, thumbnails) or audio only.
    static func check(_ input: MediaInfo, needsVideo: Bool, audioOnly: Bool, limits: EngineLimits) throws(TranscodeError) {
        if !input.hasVideo && !input.hasAudio {
            throw TranscodeError(.inputUnsupported, "The input has no audio or video stream.")
        }
        // A tiny file can declare huge frames (a decompression bomb): refused before any decoding.
        if let w = input.width, let h = input.height, w > 0, h > 0, w * h > limits.maxWidth * limits.maxHeight {
            throw TranscodeError(.resourceLimit, "The input's frames are \(w)x\(h), more pixels than this worker's limit of "
                                    + "\(limits.maxWidth)x\(limits.maxHeight); scale it down before submitting.")
        }
        if input.isStillImage {
            throw TranscodeError(.inputUnsupported, "The input is a still image, not a video.")
        }
        if audioOnly, !input.hasAudio {
            throw TranscodeError(.inputUnsupported, "The input has no audio stream for an audio-only preset.")
        }
        if needsVideo, !input.hasVideo {
            throw TranscodeError(.inputUnsupported, "The input has no video stream; use an audio-only preset.")
        }
    }

    /// The output must be in the expected container, carry the expected streams and last about as long as the input.
    static func verify(_ out: MediaInfo, input: MediaInfo, plan: EncodingPlan, inputWarnings: Bool) throws(TranscodeError) {
        let wantsVideo = plan.video != nil && input.hasVideo && !plan.audioOnly
        let wantsAudio = plan.audio != nil && input.hasAudio
        let containerOK = plan.container.discovererCapsNames.contains(out.container)
        guard containerOK, out.hasVideo == wantsVideo, out.hasAudio == wantsAudio,
              !wantsVideo || out.video?.mediaType == plan.videoMediaType else {
            throw TranscodeError(.encoderFailure, "The output does not have the expected container or streams.")
        }
        // Streams may legitimately end a little apart (the trailer's audio stops 3 s before its video).
        let tolerance = max(1.0, input.duration * 0.1)
        if input.duration > 0, abs(out.duration - input.duration) > tolerance {
            if inputWarnings || out.duration < input.duration {
                throw TranscodeError(.inputCorrupt, "The input ends early or is damaged: only \(Int(out.duration)) of \(Int(input.duration)) seconds could be decoded.")
            }
            throw TranscodeError(.encoderFailure, "The output's duration does not match the input's.")
        }
    }
}
