import Foundation
import Logging
import Synchronization
import Transcoding

/// The child side (`transcoder job-child`): one job's probe, decode, encode and output check,
/// in a process of its own so that whatever the media does to a decoder ends here. It has no
/// credentials and no connections: it reads its request from stdin, works on files in its
/// working directory (the job's scratch directory) and reports on stdout.
public enum JobChild {
    /// Test-only faults, set by the worker from its own environment (`segv@crash-,memory@big-`:
    /// a fault for job ids with that prefix), never from a job message: they prove the worker
    /// survives a child that crashes, exits, hangs or grows without bound.
    public static let faultVariable = "TRANSCODER_TEST_CHILD_FAULT"

    public static func run() async -> Int32 {
        let out = Mutex(FileHandle.standardOutput)
        let emit: @Sendable (ChildEvent) -> Void = { event in out.withLock { $0.write(event.encoded()) } }

        let input = FileHandle.standardInput.readDataToEndOfFile()
        guard let request = try? JSONDecoder().decode(ChildRequest.self, from: input) else {
            emit(.failed(code: .encoderFailure, message: "The media engine process got no valid request."))
            return 2
        }
        // Before any media is touched: the CPU ceiling the worker set for this job.
        var cpu = rlimit(rlim_cur: rlim_t(request.cpuSeconds), rlim_max: rlim_t(request.cpuSeconds + 5))
        _ = setrlimit(Int32(RLIMIT_CPU.rawValue), &cpu)
        var core = rlimit(rlim_cur: 0, rlim_max: 0)   // a crash leaves no core file of the job's media in scratch
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &core)
        LogSetup.bootstrap(level: Logger.Level(rawValue: request.logLevel) ?? .info, json: request.jsonLogs)
        var logger = Logger(label: "transcoding")
        logger[metadataKey: "job.id"] = "\(request.jobID)"
        injectFault(ProcessInfo.processInfo.environment[faultVariable])

        let engine = TranscodingEngine(limits: request.limits, logger: logger)
        do {
            if let step = request.segmented {
                let progress: @Sendable (TranscodeProgress) -> Void = { emit(.progress($0)) }
                switch step {
                case let .split(seconds, minimum, key):
                    emit(.split(try await engine.split(input: request.input, directory: request.output, segmentSeconds: seconds,
                                                       minimumSeconds: minimum, options: request.options, outputKey: key, progress: progress)))
                case let .encode(part, key):
                    emit(.completed(try await engine.transcodeSegment(input: request.input, output: request.output, options: request.options,
                                                                      outputKey: key, part: part, progress: progress)))
                case let .join(parts, audio, key, duration):
                    emit(.joined(try await engine.join(parts: parts, audio: audio, output: request.output, options: request.options,
                                                       outputKey: key, duration: duration, progress: progress)))
                }
            } else if let outputs = request.outputs {
                let result = try await engine.transcode(input: request.input, outputs: outputs, directory: request.output) { emit(.progress($0)) }
                emit(.completedOutputs(result))
            } else {
                let result = try await engine.transcode(input: request.input, output: request.output, options: request.options) {
                    emit(.progress($0))
                }
                emit(.completed(result))
            }
        } catch {
            emit(.failed(code: error.code, message: error.message))
        }
        return 0
    }

    private static func injectFault(_ fault: String?) {
        switch fault {
        case "segv": UnsafeMutablePointer<Int>(bitPattern: 8)?.pointee = 1   // a real bad access, as a decoder's
        case "abort": abort()
        case "exit": exit(3)
        case "memory":   // touches memory until the worker's ceiling stops it
            var blocks: [UnsafeMutableRawPointer] = []
            while true {
                guard let block = malloc(64 << 20) else { break }
                memset(block, 1, 64 << 20)
                blocks.append(block)
                usleep(20_000)
            }
        case "hang": while true { sleep(60) }
        default: break
        }
    }
}
