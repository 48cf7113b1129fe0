import Foundation
import Logging
import Metrics
import Synchronization
import Transcoding

/// Runs each job's media work in a child process (``JobChild``) with hard limits, so a
/// decoder that crashes, loops or grows takes down only its job: the worker watches the
/// child's memory and progress, kills it on cancellation, and turns how it ended into a
/// ``JobFailure``.
struct ChildEngine: Sendable {
    /// This binary (the child is `transcoder job-child`).
    var executable: String
    var limits: EngineLimits
    /// Resident memory ceiling of one child.
    var memoryLimitBytes: Int64
    var logLevel: Logger.Level
    var jsonLogs: Bool
    /// How often the child's resident memory is read.
    var sampleInterval: Duration = .milliseconds(100)

    /// The worker's own path, for re-executing it.
    static var currentExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// All the child's environment: no credentials, no broker URL, nothing a job could use.
    static func childEnvironment(from environment: [String: String], scratch: String, jobID: String) -> [String: String] {
        // No Swift crash report: a crash ends the child at once, with its signal.
        var env = ["TMPDIR": scratch, "LC_ALL": "C.UTF-8", "SWIFT_BACKTRACE": "enable=no"]
        for key in ["PATH", "HOME", "XDG_CACHE_HOME"] { env[key] = environment[key] }
        // GStreamer's own settings (registry location, plugin path, debug), none of them secret.
        for (key, value) in environment where key.hasPrefix("GST_") { env[key] = value }
        if let fault = testFault(environment[JobChild.faultVariable], jobID: jobID) { env[JobChild.faultVariable] = fault }
        return env
    }

    /// The worker's test-only `fault@job-id-prefix,...` setting: the fault for this job, if any.
    static func testFault(_ setting: String?, jobID: String) -> String? {
        for entry in (setting ?? "").split(separator: ",") {
            let parts = entry.split(separator: "@", maxSplits: 1)
            if parts.count == 1 || jobID.hasPrefix(parts[1]) { return String(parts[0]) }
        }
        return nil
    }

    /// CPU-seconds for the whole job across all cores: the job timeout on every core.
    var cpuSeconds: Int {
        Int(limits.overallTimeout.components.seconds) * max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    private enum Stop: Sendable { case memory, stalled, cancelled }

    private final class Run: @unchecked Sendable {
        let final = Mutex<ChildEvent?>(nil)
        let stop = Mutex<Stop?>(nil)
        let lastProgress = Mutex(ContinuousClock.now)
        let peakSampled = Atomic<Int64>(0)
    }

    func transcode(jobID: String, input: String, output: String, options: TranscodeOptions, workingDirectory: String,
                   logger: Logger, progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(JobFailure) -> TranscodeResult {
        let request = ChildRequest(jobID: jobID, input: input, output: output, options: options, limits: limits,
                                   cpuSeconds: cpuSeconds, logLevel: logLevel.rawValue, jsonLogs: jsonLogs)
        guard case .completed(let result) = try await run(request, workingDirectory: workingDirectory, logger: logger, progress: progress) else {
            throw JobFailure(.internalError, "The media engine process answered a different job.")
        }
        return result
    }

    /// Every output of a several-output job into `directory` (inside the scratch directory).
    func transcode(jobID: String, input: String, outputs: [OutputSpec], directory: String, workingDirectory: String,
                   logger: Logger, progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(JobFailure) -> MultiTranscodeResult {
        let request = ChildRequest(jobID: jobID, input: input, output: directory, options: .fragment(""), outputs: outputs, limits: limits,
                                   cpuSeconds: cpuSeconds, logLevel: logLevel.rawValue, jsonLogs: jsonLogs)
        guard case .completedOutputs(let result) = try await run(request, workingDirectory: workingDirectory, logger: logger, progress: progress) else {
            throw JobFailure(.internalError, "The media engine process answered a different job.")
        }
        return result
    }

    /// A step of a segmented job; its answer (split, completed or joined) as the child sent it.
    func segmented(_ step: SegmentedStep, jobID: String, input: String, output: String, options: TranscodeOptions, workingDirectory: String,
                   logger: Logger, progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(JobFailure) -> ChildEvent {
        let request = ChildRequest(jobID: jobID, input: input, output: output, options: options, segmented: step, limits: limits,
                                   cpuSeconds: cpuSeconds, logLevel: logLevel.rawValue, jsonLogs: jsonLogs)
        return try await run(request, workingDirectory: workingDirectory, logger: logger, progress: progress)
    }

    private func run(_ request: ChildRequest, workingDirectory: String, logger: Logger,
                     progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(JobFailure) -> ChildEvent {
        let jobID = request.jobID
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: executable, arguments: ["job-child"],
                                     environment: Self.childEnvironment(from: ProcessInfo.processInfo.environment,
                                                                        scratch: workingDirectory, jobID: jobID),
                                     workingDirectory: workingDirectory)
        } catch {
            throw JobFailure(.internalError, "The worker could not start its media engine process: \(error).")
        }
        let run = Run()
        let body = (try? JSONEncoder().encode(request)) ?? Data()
        let exit: ChildProcess.Exit = await withTaskCancellationHandler {
            _ = child.send(body)
            let watchdog = Task { await watch(child, run) }
            let exit = await Self.readUntilExit(child, run, progress: progress)
            watchdog.cancel()
            return exit
        } onCancel: {
            run.stop.withLock { $0 = $0 ?? .cancelled }
            child.kill()
        }
        let peak = max(exit.peakRSSBytes, run.peakSampled.load(ordering: .relaxed))
        Gauge(label: "transcoder_job_child_peak_rss_bytes").record(peak)
        logger.info("media engine process ended", metadata: [
            "child.pid": "\(child.pid)", "child.peak_rss_mb": "\(peak >> 20)",
            "child.cpu_seconds": "\((exit.cpuSeconds * 10).rounded() / 10)",
            "child.exit": "\(exit.status.map { "status \($0)" } ?? exit.signal.map { "signal \($0)" } ?? "?")"])
        return try outcome(exit, stop: run.stop.withLock { $0 }, final: run.final.withLock { $0 })
    }

    /// Reads events until the child closes stdout, then reaps it (both blocking: on a thread).
    private static func readUntilExit(_ child: ChildProcess, _ run: Run,
                                      progress: @escaping @Sendable (TranscodeProgress) -> Void) async -> ChildProcess.Exit {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var pending = Data()
                var chunk = [UInt8](repeating: 0, count: 64 * 1024)
                while true {
                    let n = read(child.stdout, &chunk, chunk.count)
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { break }
                    pending.append(contentsOf: chunk[0..<n])
                    while let newline = pending.firstIndex(of: 0x0A) {
                        let line = pending[pending.startIndex..<newline]
                        pending = Data(pending[pending.index(after: newline)...])
                        switch ChildEvent.decode(Data(line)) {
                        case .progress(let p)?:
                            run.lastProgress.withLock { $0 = .now }
                            progress(p)
                        case let event?: run.final.withLock { $0 = event }
                        case nil: break
                        }
                    }
                    if pending.count > 1 << 20 { pending.removeAll() }   // no line is this long
                }
                continuation.resume(returning: child.wait())
            }
            thread.name = "job-child-reader"
            thread.start()
        }
    }

    /// Kills the child past its memory ceiling, or when it has reported nothing for longer
    /// than its own probe and stall watchdogs allow (a decoder stuck in a loop).
    private func watch(_ child: ChildProcess, _ run: Run) async {
        let silence = limits.stallTimeout + limits.probeTimeout + .seconds(5)
        while !Task.isCancelled {
            try? await Task.sleep(for: sampleInterval)
            let rss = child.residentBytes
            if rss > run.peakSampled.load(ordering: .relaxed) { run.peakSampled.store(rss, ordering: .relaxed) }
            if rss > memoryLimitBytes {
                run.stop.withLock { $0 = $0 ?? .memory }
                child.kill()
                return
            }
            if ContinuousClock.now - run.lastProgress.withLock({ $0 }) > silence {
                run.stop.withLock { $0 = $0 ?? .stalled }
                child.kill()
                return
            }
        }
    }

    private func outcome(_ exit: ChildProcess.Exit, stop: Stop?, final: ChildEvent?) throws(JobFailure) -> ChildEvent {
        switch (stop, final) {
        case (.cancelled?, _):
            throw JobFailure(.internalError, "The job was cancelled.")
        case (.memory?, _):
            throw JobFailure(.resourceLimit, "The job used more than \(memoryLimitBytes >> 20) MB of memory and was stopped "
                                + "(TRANSCODER_JOB_MEMORY_MB); an unbounded queue or a huge frame size in the options or the input does this.")
        case (.stalled?, _):
            throw JobFailure(.timedOut, "The media engine stopped reporting progress for longer than the stall timeout and was stopped.")
        case (nil, .completed?), (nil, .completedOutputs?), (nil, .split?), (nil, .joined?):
            return final!
        case (nil, .failed(let code, let message)?):
            throw JobFailure(TranscodeError(code, message))
        default:
            break
        }
        if exit.signal == SIGXCPU {
            throw JobFailure(.resourceLimit, "The job used more than \(cpuSeconds) CPU-seconds and was stopped (the job timeout on every core).")
        }
        if let signal = exit.signal {
            let name = String(cString: strsignal(signal))
            if signal == SIGKILL {
                throw JobFailure(.engineCrashed, "The media engine process was killed by the host (signal 9, \(name)), "
                                    + "for example by the kernel's out-of-memory killer.")
            }
            throw JobFailure(.engineCrashed, "The media engine crashed on this input (signal \(signal), \(name)).")
        }
        throw JobFailure(.engineCrashed, "The media engine process exited with status \(exit.status ?? -1) without a result.")
    }
}
