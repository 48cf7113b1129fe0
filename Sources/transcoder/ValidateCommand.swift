import ArgumentParser
import Foundation
import Transcoding
import TranscodingService

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check job options (a fragment, a preset, or a whole job JSON) without running anything.")

    @Option(help: "A pipeline fragment for the video branch, e.g. \"videoconvert ! x264enc\".") var fragment: String?
    @Option(help: "A preset name (see `transcoder presets`).") var preset: String?
    @Option(help: "A job as JSON ('-' reads standard input).") var job: String?
    @Option(help: "The output key (its extension picks the container).") var outputKey = "output.mp4"
    @OptionGroup var overrides: OverrideOptions

    func run() throws {
        let request: JobRequest
        if let job {
            let text = job == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : job
            do { request = try JobRequest.decode(Array(text.utf8)) } catch { return fail(error.description) }
        } else if fragment != nil || preset != nil {
            request = JobRequest(jobID: "validate", inputKey: "input", outputKey: outputKey, transcodeOptions: fragment,
                                 preset: preset, overrides: preset == nil ? nil : overrides.value)
        } else {
            throw ValidationError("give --fragment, --preset or --job")
        }
        do {
            try request.validateOptions()
        } catch {
            return fail(error.description)
        }
        if let outputs = request.outputs {
            print("ok: \(outputs.count) outputs, manifest at \(request.outputKey)")
        } else {
            print("ok: \(request.options) -> \(Container.forOutputKey(request.outputKey).rawValue)")
        }
    }

    private func fail(_ reason: String) {
        FileHandle.standardError.write(Data("rejected: \(reason)\n".utf8))
        Foundation.exit(1)
    }
}

struct OverrideOptions: ParsableArguments {
    @Option(help: "Preset override: box width.") var width: Int?
    @Option(help: "Preset override: box height.") var height: Int?
    @Option(help: "Preset override: video bitrate, kbit/s.") var bitrate: Int?
    @Option(help: "Preset override: constant quality.") var crf: Int?
    @Option(help: "Preset override: encoder speed.") var speed: String?

    var value: JobRequest.Overrides? {
        guard width != nil || height != nil || bitrate != nil || crf != nil || speed != nil else { return nil }
        return JobRequest.Overrides(width: width, height: height, bitrate: bitrate, crf: crf, speed: speed)
    }
}
