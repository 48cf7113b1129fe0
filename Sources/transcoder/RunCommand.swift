import Synchronization
import ArgumentParser
import Foundation
import Logging
import Transcoding
import TranscodingService

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Transcode a local file to a local file with the worker's engine (no broker, no storage).")

    @Argument(help: "Input media file.") var input: String
    @Argument(help: "Output file; its extension picks the container (none: MP4). With --outputs, a directory.") var output: String
    @Option(help: "A pipeline fragment for the video branch.") var fragment: String?
    @Option(help: "A preset name (see `transcoder presets`); the default is h264-720p.") var preset: String?
    @OptionGroup var overrides: OverrideOptions
    @Option(help: "Several outputs from one decode, as a job's 'outputs' JSON array; each goes to its key under the output directory.")
    var outputs: String?
    @Option(help: "Stall timeout in seconds.") var stallTimeout = 120
    @Flag(help: "Log GStreamer detail.") var verbose = false

    func run() async throws {
        LogSetup.bootstrap(level: verbose ? .debug : .warning, json: false)
        guard fragment == nil || preset == nil else { throw ValidationError("give --fragment or --preset, not both") }
        let request = JobRequest(jobID: "local", inputKey: input, outputKey: output, transcodeOptions: fragment,
                                 preset: fragment == nil ? (preset ?? "h264-720p") : nil,
                                 overrides: fragment == nil ? overrides.value : nil)
        let engine = TranscodingEngine(limits: EngineLimits(stallTimeout: .seconds(stallTimeout)),
                                       logger: Logger(label: "transcoding"))
        let bar = Mutex(ProgressBar())
        if let outputs {
            guard fragment == nil, preset == nil else { throw ValidationError("give --outputs alone, or --fragment/--preset") }
            let job = try JobRequest.decode(Array(#"{"job_id":"local","input_key":"in","output_key":"manifest.json","outputs":"#.utf8)
                                            + Array(outputs.utf8) + Array("}".utf8))
            do {
                let result = try await engine.transcode(input: input, outputs: job.localOutputs ?? [], directory: output) { p in
                    bar.withLock { $0.show(percent: p.percent, state: "transcoding", fps: p.fps, eta: p.etaSeconds, frames: p.frames, position: p.position) }
                }
                bar.withLock { $0.show(percent: 100, state: "done", fps: nil, eta: nil); $0.finish() }
                for produced in result.outputs {
                    let bytes = produced.files.map(\.size).reduce(0, +)
                    print("\(output)/\(produced.name): \(produced.files.count) files, \(bytes) bytes")
                }
            } catch {
                bar.withLock { $0.finish() }
                FileHandle.standardError.write(Data("transcoder: cannot transcode '\(input)': \(error)\n".utf8))
                throw ExitCode.failure
            }
            return
        }
        do {
            let result = try await engine.transcode(input: input, output: output, options: request.options) { p in
                bar.withLock { $0.show(percent: p.percent, state: "transcoding", fps: p.fps, eta: p.etaSeconds, frames: p.frames, position: p.position) }
            }
            bar.withLock { $0.show(percent: 100, state: "done", fps: nil, eta: nil); $0.finish() }
            let seconds = Double(result.elapsed.components.seconds) + Double(result.elapsed.components.attoseconds) / 1e18
            print(String(format: "%@: %@, %.1f s of media in %.1f s", output, describe(result.output), result.output.duration, seconds))
        } catch {
            bar.withLock { $0.finish() }
            FileHandle.standardError.write(Data("transcoder: cannot transcode '\(input)': \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func describe(_ info: MediaInfo) -> String {
        var parts = [info.container]
        if let v = info.video { parts.append("\(v.codec) \(v.width ?? 0)x\(v.height ?? 0)") }
        if let a = info.audio { parts.append(a.codec) }
        return parts.joined(separator: ", ")
    }
}
