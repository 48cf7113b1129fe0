// Tiny driver for bench/engine.sh: one transcode through the Transcoding library.
// usage: engine-bench INPUT --probe | --inspect   (GstDiscoverer probe | the parse-only output check)
//        engine-bench INPUT OUTPUT (--preset NAME [--width N] [--height N] [--bitrate K] [--crf N] [--speed S] | --fragment TEXT) [--quiet] [--repeat N] [--rss]
// --repeat N runs N jobs in this process (leak checks); --rss prints "rss ITERATION KB" (VmRSS) after each job.
// With GST_TRACERS=leaks in the environment, GStreamer is deinitialized at the end so the tracer reports.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Transcoding

func fail(_ text: String) -> Never {
    let line = text + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
/// One decimal, for the progress line (String(format:) is Foundation's, not FoundationEssentials').
func tenths(_ value: Double) -> Double { (value * 10).rounded() / 10 }

var args = Array(CommandLine.arguments.dropFirst())
guard args.count >= 2 else { fail("usage: engine-bench INPUT OUTPUT --preset NAME|--fragment TEXT [overrides] | engine-bench INPUT --probe|--inspect") }
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
    default: fail("unknown flag \(flag)")
    }
}
let isQuiet = quiet
let options: TranscodeOptions = fragment.map { .fragment($0) } ?? .preset(preset ?? "h264-720p", overrides: overrides)
let engine = TranscodingEngine()
if output == "--probe" || output == "--inspect" {
    do { print(output == "--probe" ? try await engine.probe(input) : try await engine.inspectOutput(input)) } catch { print("error \(error)"); exit(1) }
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
            print("progress \(tenths(p.percent))% pos \(tenths(p.position))s fps \(tenths(p.fps ?? 0)) eta \(Int(p.etaSeconds ?? 0))s")
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
