import Foundation
import Testing
import TranscodingService

/// 1000 mutated media files (Tests/Scripts/mutate_media.py, fixed seed: the same files every
/// run) from valid MP4, MPEG-TS, Matroska and WebM clips, each run as a job through one
/// worker: the worker never dies, and every job ends completed or failed with a reason.
/// Inputs that crash a decoder end as `engine_crashed` in their own process.
@Suite(.serialized) struct FuzzTests {
    static let seed = 20_261_204
    static let count = 1000

    @Test func mutatedMediaEndsCompletedOrFailedAndNeverTakesTheWorkerDown() async throws {
        try await World.with { world in
            let dir = world.scratch + "/fuzz"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let base = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25", "-f", "lavfi", "-i", "sine=frequency=440", "-t", "1"]
            let sources = [
                ("src.mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]),
                ("src.ts", ["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-c:a", "mp2"]),
                ("src.mkv", ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "ac3"]),
                ("src.webm", ["-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libvorbis"]),
            ]
            for (name, codecs) in sources { try TestMedia.generate(dir + "/" + name, base + codecs) }
            let listing = try Stack.run(["python3", Stack.root + "/Tests/Scripts/mutate_media.py", "\(Self.seed)", "\(Self.count)",
                                         dir + "/out"] + sources.map { dir + "/" + $0.0 })
            #expect(listing.status == 0, "\(listing.output.suffix(500))")
            let files = listing.output.split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count == 3 }
            try #require(files.count == Self.count)
            let kinds = Dictionary(uniqueKeysWithValues: files.map { (String($0[0]), "\($0[1]) \($0[2])") })

            let worker = try world.startWorker(concurrency: 2, extra: [
                "TRANSCODER_STALL_TIMEOUT": "10", "TRANSCODER_MAX_ATTEMPTS": "1", "TRANSCODER_JOB_MEMORY_MB": "1024",
            ])
            let watch = try await world.client.follow(jobIDs: [])
            for file in kinds.keys.sorted() {
                try await world.upload(dir + "/out/" + file, as: "fuzz/" + file)
                try await world.client.submit(JobRequest(jobID: file, inputKey: "fuzz/" + file, outputKey: "out/\(file).mp4",
                                                         preset: "h264-480p"))
            }
            let finals = try await watch.finals(for: Set(kinds.keys), within: 1500)

            var counts: [String: Int] = [:]
            var crashed: [String] = []
            for (id, final) in finals {
                counts[final.errorCode?.rawValue ?? final.state.rawValue, default: 0] += 1
                #expect(final.state == .completed || final.state == .failed, "\(id): \(final.state)")
                if final.state == .failed {
                    #expect(final.errorCode != nil && !(final.errorMessage ?? "").isEmpty, "\(id): no reason")
                    #expect(final.errorCode != .deliveryLimit, "\(id) took a worker down")
                }
                if final.errorCode == .engineCrashed { crashed.append("\(id) (\(kinds[id] ?? "")): \(final.errorMessage ?? "")") }
            }
            #expect(worker.isRunning, "the worker survived every input")
            print("fuzz seed \(Self.seed), \(Self.count) jobs: \(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
            for line in crashed.sorted() { print("fuzz crashed a child: \(line)") }
            await worker.stop()
        }
    }
}
