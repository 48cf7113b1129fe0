// Tiny driver for bench/engine.sh: one transcode through the Transcoding library.
// usage: engine-bench INPUT --probe
//        engine-bench INPUT OUTPUT (--preset NAME [--width N] [--height N] [--bitrate K] [--crf N] [--speed S] | --fragment TEXT) [--quiet] [--repeat N] [--rss]
// --repeat N runs N jobs in this process (leak checks); --rss prints "rss ITERATION KB" (VmRSS) after each job.
// With GST_TRACERS=leaks in the environment, GStreamer is deinitialized at the end so the tracer reports.
import Foundation
import Transcoding

var args = Array(CommandLine.arguments.dropFirst())
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: engine-bench INPUT OUTPUT --preset NAME|--fragment TEXT [overrides]\n".utf8))
    exit(2)
}
let input = args.removeFirst(), output = args.removeFirst()
var overrides = PresetOverrides()
var preset: String?
var fragment: String?
var quiet = false
var repeatCount = 1
var printRSS = false
while !args.isEmpty {
    let flag = args.removeFirst()
    func value() -> String { args.isEmpty ? "" : args.removeFirst() }
    switch flag {
    case "--preset": preset = value()
    case "--fragment": fragment = value()
    case "--width": overrides.width = Int(value())
    case "--height": overrides.height = Int(value())
    case "--bitrate": overrides.bitrateKbps = Int(value())
    case "--crf": overrides.crf = Int(value())
    case "--speed": overrides.speed = value()
    case "--quiet": quiet = true
    case "--repeat": repeatCount = Int(value()) ?? 1   // leak checks: many jobs in one process
    case "--rss": printRSS = true
    default: FileHandle.standardError.write(Data("unknown flag \(flag)\n".utf8)); exit(2)
    }
}
let isQuiet = quiet
let options: TranscodeOptions = fragment.map { .fragment($0) } ?? .preset(preset ?? "h264-720p", overrides: overrides)
let engine = TranscodingEngine()
if output == "--probe" {
    do { print(try await engine.probe(input)) } catch { print("error \(error)"); exit(1) }
    exit(0)
}
/// Resident set size of this process in KB, from /proc (Linux).
func residentKB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
}
do {
    let count = max(1, repeatCount)
    for iteration in 1..<count {
        _ = try await engine.transcode(input: input, output: output, options: options) { _ in }
        if printRSS { print("rss \(iteration) \(residentKB())") }
    }
    let result = try await engine.transcode(input: input, output: output, options: options) { p in
        if !isQuiet {
            print(String(format: "progress %5.1f%% pos %.1fs fps %.1f eta %.0fs", p.percent, p.position, p.fps ?? 0, p.etaSeconds ?? 0))
        }
    }
    if printRSS { print("rss \(count) \(residentKB())") }
    print("ok frames=\(result.frames ?? 0) duration=\(result.output.duration) container=\(result.output.container) "
        + "streams=\(result.output.streams.map(\.mediaType)) elapsed=\(result.elapsed)")
} catch {
    print("error \(error)")
    exit(1)
}
if ProcessInfo.processInfo.environment["GST_TRACERS"]?.contains("leaks") == true {
    GStreamerShutdown.deinitialize()   // the leaks tracer reports here
}
