import ArgumentParser
import Transcoding

struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "presets", abstract: "List the named presets and what they do.")

    func run() {
        let width = Preset.all.map(\.name.count).max() ?? 0
        for preset in Preset.all {
            print(preset.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + preset.summary)
        }
        print("""

        Overrides (job field "overrides", or --width/--height/--bitrate/--crf/--speed):
          width, height  box to fit in (aspect ratio kept, never upscaled)
          bitrate        video kbit/s      crf  constant quality
          speed          \(Preset.speeds.joined(separator: " "))
        """)
    }
}
