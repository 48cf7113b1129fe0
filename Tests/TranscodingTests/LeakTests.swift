import Foundation
import Testing

/// Many jobs in one process must not leak: runs the `engine-bench` driver (built next to this
/// test bundle) for dozens of jobs under GStreamer's leaks tracer, and watches its RSS.
@Suite(.serialized) struct LeakTests {
    static let jobs = 50
    /// RSS wobbles by a few MB from job to job (allocator arenas, GStreamer's one-time caches fill
    /// in the first jobs), but a leaked pipeline, encoder or buffer pool per job would add far more
    /// than this over the 35 jobs between the two windows compared.
    static let rssGrowthLimitKB = 24 * 1024  // 11 MB of drift seen under load; a per-job leak of ~1 MB exceeds it

    /// The driver: next to the running test bundle (.build/<triple>/debug), else under the package's .build.
    static func engineBench() throws -> String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [exe.deletingLastPathComponent().appendingPathComponent("engine-bench").path,
                          root.appendingPathComponent(".build/debug/engine-bench").path]
        let found = candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(found, "engine-bench not built (looked in \(candidates)): run `swift build --build-tests`")
    }

    @Test func manyJobsInOneProcessLeakNothing() throws {
        let dir = try Fixtures.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = dir.appendingPathComponent("tiny.mp4").path
        try Fixtures.run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
                                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "1",
                                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-ac", "2", clip])
        let output = dir.appendingPathComponent("out.mp4").path

        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Self.engineBench())
        p.arguments = [clip, output, "--preset", "h264-720p", "--speed", "ultrafast", "--quiet", "--rss", "--repeat", String(Self.jobs)]
        var env = ProcessInfo.processInfo.environment
        env["GST_TRACERS"] = "leaks"
        env["GST_DEBUG"] = "GST_TRACER:7"
        env["GST_DEBUG_NO_COLOR"] = "1"
        p.environment = env
        let errFile = dir.appendingPathComponent("stderr.log")
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let errHandle = try FileHandle(forWritingTo: errFile)
        let outPipe = Pipe()
        p.standardOutput = outPipe
        p.standardError = errHandle   // a file: the tracer's log can be large, a pipe could fill and block
        try p.run()
        let stdout = String(decoding: outPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try errHandle.close()
        let stderr = try String(contentsOf: errFile, encoding: .utf8)

        try #require(p.terminationStatus == 0, "engine-bench failed: \(stdout.suffix(500)) \(stderr.suffix(500))")
        #expect(stdout.contains("ok frames=25"), "last job output: \(stdout.suffix(300))")

        let report = LeakReport(log: stderr)
        #expect(report.tracerActive, "the leaks tracer did not load: \(stderr.prefix(500))")
        #expect(report.alive.isEmpty, "objects alive after \(Self.jobs) jobs and gst_deinit: \(report.alive.prefix(10))")

        let rss = RSSSamples(stdout: stdout)
        #expect(rss.count == Self.jobs, "one RSS sample per job")
        // Medians of windows, not single samples, so one noisy sample cannot decide.
        let early = try #require(rss.median(6...15)), late = try #require(rss.median((Self.jobs - 9)...Self.jobs))
        #expect(late - early <= Self.rssGrowthLimitKB, "RSS grew from \(early) KB (jobs 6-15) to \(late) KB (last 10 jobs)")
    }

    /// The parser must see a leak when the tracer prints one, so a clean report means something.
    @Test func leakReportParsing() {
        let header = "0:00:00.04 123 0x1 DEBUG GST_TRACER gsttracerrecord.c:123:gst_tracer_record_build_format: "
            + "new format string: object-alive, type-name=(string)%s, address=(gpointer)%p, description=(string)%s, ref-count=(uint)%u, trace=(string)%s;"
        // A real line, from a C program that kept an identity element alive past gst_deinit.
        let leak = "0:00:00.036502226 14223 0x55b7093d1a30 TRACE             GST_TRACER :0:: object-alive, type-name=(string)GstIdentity, "
            + "address=(gpointer)0x55b7095888d0, description=(string)<identity0>, ref-count=(uint)1, trace=(string);"
        let clean = LeakReport(log: header)
        #expect(clean.tracerActive)
        #expect(clean.alive.isEmpty)
        let leaky = LeakReport(log: header + "\n" + leak)
        #expect(leaky.alive.count == 1)
        #expect(leaky.alive.first?.contains("GstIdentity") == true)
        #expect(!LeakReport(log: "nothing here").tracerActive)
        let samples = RSSSamples(stdout: "rss 1 100\nrss 2 120\nrss 3 90\nok frames=25\n")
        #expect(samples[2] == 120 && samples.count == 3)
        #expect(samples.median(1...3) == 100)
        #expect(samples.median(2...4) == nil)
    }
}

/// What GStreamer's leaks tracer said, from a GST_DEBUG=GST_TRACER:7 log.
struct LeakReport {
    /// The tracer registered its "object-alive" record, so it was running.
    let tracerActive: Bool
    /// One line per object still alive at gst_deinit.
    let alive: [String]

    init(log: String) {
        let lines = log.split(separator: "\n")
        tracerActive = lines.contains { $0.contains("new format string: object-alive,") }
        alive = lines.filter { $0.contains("object-alive, type-name=(string)") && !$0.contains("type-name=(string)%s") }.map(String.init)
    }
}

/// "rss ITERATION KB" lines printed by `engine-bench --rss`.
struct RSSSamples {
    private let byIteration: [Int: Int]
    var count: Int { byIteration.count }
    subscript(iteration: Int) -> Int? { byIteration[iteration] }
    /// Median over the iterations given, nil if any is missing.
    func median(_ iterations: ClosedRange<Int>) -> Int? {
        let values = iterations.compactMap { byIteration[$0] }.sorted()
        return values.count == iterations.count && !values.isEmpty ? values[values.count / 2] : nil
    }

    init(stdout: String) {
        var map: [Int: Int] = [:]
        for line in stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 3, parts[0] == "rss", let i = Int(parts[1]), let kb = Int(parts[2]) { map[i] = kb }
        }
        byIteration = map
    }
}
