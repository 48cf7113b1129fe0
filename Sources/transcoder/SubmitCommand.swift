import ArgumentParser
import Foundation
import Logging
import RabbitMQ
import S3
import Transcoding
import TranscodingService

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Publish a transcoding job (optionally uploading the input first) and optionally wait for it.")

    @Option(help: "Object key of the input in S3_BUCKET_NAME (default with --file: in/FILENAME).") var inputKey: String?
    @Option(help: "Object key to write the output to (default with --file: out/NAME-PRESET.EXT).") var outputKey: String?
    @Option(help: "Upload this local file to --input-key first.") var file: String?
    @Option(help: "A pipeline fragment for the video branch.") var fragment: String?
    @Option(help: "A preset name (see `transcoder presets`).") var preset: String?
    @OptionGroup var overrides: OverrideOptions
    @Option(help: "Several outputs from one decode: a JSON array as the job's 'outputs' (then --output-key names the manifest).")
    var outputs: String?
    @Option(help: "Job id (default: a new UUID).") var jobID: String?
    @Option(help: "high, normal or low: a free worker takes high jobs first, low ones last.")
    var priority: JobPriority = .normal
    @Option(help: "auto, always or never: spread the input over the workers (auto: when it is long; docs/segmenting.md).")
    var segmenting: JobRequest.Segmenting.Mode?
    @Option(help: "Longest part of a segmented job, 10-300 s (implies --segmenting always unless given).")
    var segmentSeconds: Int?
    @Flag(help: "Show live progress and exit non-zero if the job fails.") var wait = false
    @OptionGroup var config: ConfigOptions

    func run() async throws {
        let configuration = try await loadConfiguration(config.envFile, requireStorage: file != nil)
        LogSetup.bootstrap(level: .warning, json: false)
        guard outputs != nil ? fragment == nil && preset == nil : (fragment == nil) != (preset == nil) else {
            throw ValidationError("give exactly one of --fragment, --preset or --outputs")
        }
        let (inputKey, outputKey) = try keys()
        var job = JobRequest(jobID: jobID ?? UUID().uuidString.lowercased(), inputKey: inputKey, outputKey: outputKey,
                             transcodeOptions: fragment, preset: preset, overrides: preset == nil ? nil : overrides.value)
        if let outputs {
            do { job.outputs = try JSONDecoder().decode([JobRequest.Output].self, from: Data(outputs.utf8)) } catch {
                throw ValidationError("--outputs is not a JSON array of outputs: \(error)")
            }
        }
        if segmenting != nil || segmentSeconds != nil {
            job.segmenting = .init(mode: segmenting ?? .always, segmentSeconds: segmentSeconds)
        }
        // The same checks a worker makes, before anything is uploaded.
        _ = try JobRequest.decode(Array(try JSONEncoder().encode(job)))

        if let file {
            // Retries are the client's business: the one line a person reads is the outcome.
            var quiet = Logger(label: "s3")
            quiet.logLevel = .error
            let storage = S3Client(configuration: configuration.s3, logger: quiet)
            do {
                try await storage.upload(file: file, to: inputKey)
                try await storage.shutdown()
            } catch {
                try? await storage.shutdown()
                throw error
            }
        }
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: configuration.amqpURL))
        let client = JobClient(connection: connection, topology: configuration.topology)
        let stream = wait ? try await client.follow(jobIDs: [job.jobID]) : nil
        try await client.submit(job, priority: priority)
        print(job.jobID)
        guard let stream else { await connection.close(); return }

        var bar = ProgressBar()
        for try await message in stream {
            bar.show(percent: message.progress, state: message.state.rawValue, fps: message.fps, eta: message.etaSeconds,
                     frames: message.frames, position: message.positionSeconds,
                     parts: message.segmentsTotal.map { (message.segmentsDone ?? 0, $0, message.workers ?? 0) })
            guard message.state.isFinal else { continue }
            bar.finish()
            await connection.close()
            if message.state == .cancelled {
                FileHandle.standardError.write(Data("cancelled: nothing was stored\n".utf8))
                throw ExitCode.failure
            }
            if message.state == .failed {
                FileHandle.standardError.write(Data("failed: \(message.errorCode?.rawValue ?? "?"): \(message.errorMessage ?? "")\n".utf8))
                throw ExitCode.failure
            }
            print("completed: \(message.outputKey ?? outputKey) (\(message.outputSize ?? 0) bytes, \(message.durationSeconds ?? 0) s)")
            return
        }
    }

    /// Keys given, or derived from --file: the same file and preset always map to the same keys.
    func keys() throws -> (input: String, output: String) {
        let name = file.map { URL(fileURLWithPath: $0).lastPathComponent }
        guard let input = inputKey ?? name.map({ "in/\($0)" }) else {
            throw ValidationError("give --input-key (the object to transcode), or --file to upload one")
        }
        if let outputKey { return (input, outputKey) }
        let base = URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent
        if outputs != nil { return (input, "out/\(base)/manifest.json") }
        let container = preset.flatMap(Preset.named)?.container ?? .mp4
        return (input, "out/\(base)-\(preset ?? "fragment").\(container.rawValue)")
    }
}

extension JobPriority: ExpressibleByArgument {}
extension JobRequest.Segmenting.Mode: ExpressibleByArgument {}
