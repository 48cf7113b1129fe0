import ArgumentParser
import Transcoding

struct PresetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "presets", abstract: "List the named presets and what they do.")

    func run() {
        let width = (Preset.all.map(\.name.count) + Ladder.all.map(\.name.count)).max() ?? 0
        for preset in Preset.all {
            print(preset.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + preset.summary)
        }
        for ladder in Ladder.all {
            print(ladder.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + ladder.summary)
        }
        print("""

        Overrides (job field "overrides", or --width/--height/--bitrate/--crf/--speed):
          width, height  box to fit in (aspect ratio kept, never upscaled)
          bitrate        video kbit/s      crf  constant quality
          speed          \(Preset.speeds.joined(separator: " "))

        Several outputs from one decode (job field "outputs", or --outputs with submit and run):
          [{"key": "out/hls/", "preset": "hls-ladder", "hls": {"segment_seconds": 6}},
           {"key": "out/small.mp4", "preset": "h264-480p"},
           {"key": "out/thumbs/", "thumbnails": {"poster_at": 0.1, "sprite_interval_seconds": 10, "width": 160}}]
        """)
    }
}
