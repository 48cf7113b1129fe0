import Foundation
import RabbitMQ
import Synchronization
import Testing
import Transcoding
import TranscodingService

/// One input across many workers: split, parts encoded by any worker, joined (docs/segmenting.md).
@Suite(.serialized) struct SegmentedJobTests {
    /// Generated clips (nobody's media is long enough), made once per test process.
    static let clips: String = {
        let dir = NSTemporaryDirectory() + "segmented-clips-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    /// `seconds` of testsrc2 with a 440 Hz tone, a keyframe every 2 s.
    static func clip(_ size: String, seconds: Int) throws -> String {
        let path = "\(clips)/\(size)-\(seconds)s.mp4"
        if FileManager.default.fileExists(atPath: path) { return path }
        try TestMedia.generate(path, ["-f", "lavfi", "-i", "testsrc2=size=\(size):rate=30", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                                      "-t", "\(seconds)", "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p",
                                      "-c:a", "aac", "-b:a", "96k"])
        return path
    }

    static func ffprobe(_ args: [String]) throws -> String {
        let r = try Stack.run(["ffprobe", "-v", "error"] + args)
        guard r.status == 0 else { throw Timeout(description: "ffprobe failed: \(r.output)") }
        return r.output
    }

    /// Frame times (presentation order), and the video's and audio's durations.
    static func timeline(_ file: String) throws -> (pts: [Double], video: Double, audio: Double) {
        let pts = try ffprobe(["-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", file])
            .split(separator: "\n").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }.sorted()
        func duration(_ stream: String) throws -> Double {
            Double(try ffprobe(["-select_streams", stream, "-show_entries", "stream=duration", "-of", "csv=p=0", file])
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        return (pts, try duration("v:0"), try duration("a:0"))
    }

    /// The whole-file checks of a joined output: every input frame once, at an even pace, sound as long as picture.
    static func expectSeamless(_ file: String, frames: Int, fps: Double = 30) throws {
        let t = try timeline(file)
        #expect(t.pts.count == frames, "frames: \(t.pts.count) of \(frames)")
        let frame = 1 / fps
        let steps = zip(t.pts, t.pts.dropFirst()).map { $1 - $0 }
        let uneven = steps.enumerated().filter { abs($0.element - frame) > frame / 2 }
        #expect(uneven.isEmpty, "gaps or overlaps above half a frame at frames \(uneven.prefix(5).map(\.offset))")
        #expect(abs(t.video - t.audio) < frame, "video \(t.video) s, audio \(t.audio) s")
    }

    static func segmentedJob(_ id: String, input: String, preset: String = "h264-480p", seconds: Int = 10) -> JobRequest {
        var job = JobRequest(jobID: id, inputKey: input, outputKey: "out/\(id).mp4", preset: preset)
        job.segmenting = .init(mode: .always, segmentSeconds: seconds)
        return job
    }

    static func download(_ world: World, _ key: String) async throws -> String {
        let local = world.scratch + "/" + (key as NSString).lastPathComponent
        _ = try await world.storage.download(key, to: local)
        return local
    }

    /// Nothing of the job's parts is left: no objects under its prefix, no part tasks queued.
    /// A part still running when its job ended deletes itself once stored: allowed a few seconds.
    static func expectCleanedUp(_ world: World, _ id: String) async throws {
        var left = try await world.storage.listAll(prefix: ".transcoder/jobs/\(id)/")
        let deadline = ContinuousClock.now + .seconds(30)
        while !left.isEmpty && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            left = try await world.storage.listAll(prefix: ".transcoder/jobs/\(id)/")
        }
        #expect(left.isEmpty, "left under the job's prefix: \(left.prefix(5).map(\.key))")
        #expect(try await world.connection.queueInfo(world.topology.segmentsQueue).messageCount == 0)
    }

    /// The issue's acceptance test: 3 minutes of 1080p with sound, 10 s parts, two workers,
    /// against one worker encoding the whole input with the same settings.
    @Test func threeMinutes1080pOnTwoWorkersMatchesOneWorker() async throws {
        try await World.with { world in
            try await world.upload(try Self.clip("1920x1080", seconds: 180), as: "in/long.mp4")
            let a = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "seg-a"])
            let b = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "seg-b"])
            let progress = try await world.client.follow(jobIDs: ["split", "whole"])
            try await world.client.submit(Self.segmentedJob("split", input: "in/long.mp4", preset: "h264-720p"))
            let seen = Mutex<(workers: Int, total: Int?, done: [Int], percents: [Double])>((0, nil, [], []))
            let finals = try await progress.finals(for: ["split"], within: 900) { m in
                guard m.jobID == "split" else { return }
                seen.withLock { s in
                    s.workers = max(s.workers, m.workers ?? 0)
                    if let t = m.segmentsTotal { s.total = t }
                    if let d = m.segmentsDone { s.done.append(d) }
                    s.percents.append(m.progress)
                }
            }
            let final = try #require(finals["split"])
            #expect(final.state == .completed, "\(final.errorMessage ?? "")\n\(a.log.suffix(3000))\n\(b.log.suffix(3000))")
            let s = seen.withLock { $0 }
            #expect(s.total == 19, "18 video parts and the audio: \(String(describing: s.total))")
            #expect(s.workers == 2, "both workers encoded parts at once")
            #expect(s.done == s.done.sorted() && s.done.last == 19, "segments_done only grows: \(s.done)")
            #expect(s.percents == s.percents.sorted(), "one percentage that only grows")
            #expect(final.segmentsDone == 19 && final.outputHeight == 720)

            var whole = JobRequest(jobID: "whole", inputKey: "in/long.mp4", outputKey: "out/whole.mp4", preset: "h264-720p")
            whole.segmenting = .init(mode: .never)
            try await world.client.submit(whole)
            let reference = try #require(try await progress.finals(for: ["whole"], within: 900)["whole"])
            #expect(reference.state == .completed && reference.segmentsTotal == nil)

            let joined = try await Self.download(world, "out/split.mp4")
            let single = try await Self.download(world, "out/whole.mp4")
            try Self.expectSeamless(joined, frames: 5400)
            // Every part starts with an IDR frame: a keyframe at each 10 s seam.
            let keyframes = Set(try Self.ffprobe(["-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries", "frame=pts_time",
                                                  "-of", "csv=p=0", joined]).split(separator: "\n")
                .compactMap { Double($0.split(separator: ",").first ?? "").map { Int(($0 * 30).rounded()) } })
            let seams = stride(from: 300, to: 5400, by: 300)
            #expect(seams.allSatisfy(keyframes.contains), "keyframes at the seams: \(seams.filter { !keyframes.contains($0) })")
            // Quality against the one-worker encode, frame by frame.
            let log = world.scratch + "/ssim.log"
            let r = try Stack.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", joined, "-i", single, "-lavfi",
                                   "[0:v][1:v]ssim=stats_file=\(log)", "-f", "null", "-"])
            #expect(r.status == 0, "\(r.output)")
            let ssim = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { line -> Double? in
                line.split(separator: " ").first { $0.hasPrefix("All:") }.flatMap { Double($0.dropFirst(4)) }
            }
            #expect(ssim.count == 5400)
            let mean = ssim.reduce(0, +) / Double(max(1, ssim.count))
            #expect(mean >= 0.99, "mean SSIM \(mean)")
            let nearSeam = { (i: Int) in seams.contains { abs($0 - i) <= 5 } }
            let elsewhere = ssim.indices.filter { !nearSeam($0) }.map { ssim[$0] }.min() ?? 0
            let worstAtSeam = ssim.indices.filter(nearSeam).map { ssim[$0] }.min() ?? 0
            #expect(worstAtSeam >= elsewhere - 0.02, "worst SSIM near a seam \(worstAtSeam), elsewhere \(elsewhere)")
            print("segmented against one worker: mean SSIM \(mean), worst within 5 frames of a seam \(worstAtSeam), worst elsewhere \(elsewhere)")
            try await Self.expectCleanedUp(world, "split")
        }
    }

    /// kill -9 of the coordinator while parts are encoded, and again later (joining or nearly):
    /// a worker that takes the job again resumes from the manifest and the stored parts.
    @Test(arguments: [30.0, 88.0]) func killMinus9OfTheCoordinator(at percent: Double) async throws {
        try await World.with { world in
            try await world.upload(try Self.clip("640x360", seconds: 60), as: "in/clip.mp4")
            let coordinator = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "coordinator"])
            let id = "kill-\(Int(percent))"
            let progress = try await world.client.follow(jobIDs: [id])
            try await world.client.submit(Self.segmentedJob(id, input: "in/clip.mp4"))
            // The helper starts once the coordinator holds the job, so that the kill hits the coordinator.
            _ = try await withDeadline(120, "the coordinator never took \(id)") {
                for try await m in progress where m.jobID == id && m.workerID == "coordinator" { return m }
                throw Timeout(description: "progress stream ended")
            }
            let helper = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "helper"])
            _ = try await withDeadline(300, "\(id) did not pass \(percent) %") {
                for try await m in progress where m.jobID == id && m.progress >= percent && m.segmentsTotal != nil { return m }
                throw Timeout(description: "progress stream ended")
            }
            coordinator.signal(SIGKILL)
            #expect(await coordinator.waitForExit(within: 10) != nil)
            let final = try #require(try await progress.finals(for: [id], within: 400)[id])
            #expect(final.state == .completed, "\(final.errorMessage ?? "")\n\(helper.log.suffix(4000))")
            #expect(final.workerID == "helper" && (final.attempt ?? 0) >= 2)
            try Self.expectSeamless(try await Self.download(world, "out/\(id).mp4"), frames: 1800)
            try await Self.expectCleanedUp(world, id)
        }
    }

    /// kill -9 of a worker in the middle of a part: the broker gives the part to another worker.
    @Test func killMinus9OfAPartWorker() async throws {
        try await World.with { world in
            try await world.upload(try Self.clip("640x360", seconds: 60), as: "in/clip.mp4")
            let coordinator = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "coordinator"])
            let progress = try await world.client.follow(jobIDs: ["part-kill"])
            try await world.client.submit(Self.segmentedJob("part-kill", input: "in/clip.mp4"))
            _ = try await withDeadline(300, "parts never queued") {
                for try await m in progress where m.jobID == "part-kill" && m.segmentsTotal != nil { return m }
                throw Timeout(description: "progress stream ended")
            }
            let victim = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "victim"])
            try await withDeadline(120, "the victim never started a part") {
                while !victim.log.contains("encoding part") { try await Task.sleep(for: .milliseconds(50)) }
            }
            victim.signal(SIGKILL)
            #expect(await victim.waitForExit(within: 10) != nil)
            let final = try #require(try await progress.finals(for: ["part-kill"], within: 400)["part-kill"])
            #expect(final.state == .completed, "\(final.errorMessage ?? "")\n\(coordinator.log.suffix(4000))")
            try Self.expectSeamless(try await Self.download(world, "out/part-kill.mp4"), frames: 1800)
            try await Self.expectCleanedUp(world, "part-kill")
        }
    }

    /// Two workers, three segmented jobs at once: a coordinator waiting for its parts holds no
    /// slot, so every job finishes.
    @Test func twoWorkersThreeJobsAllFinish() async throws {
        try await World.with { world in
            try await world.upload(try Self.clip("640x360", seconds: 40), as: "in/clip.mp4")
            _ = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "w1"])
            _ = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "w2"])
            let ids = ["three-1", "three-2", "three-3"]
            let progress = try await world.client.follow(jobIDs: ids)
            for id in ids { try await world.client.submit(Self.segmentedJob(id, input: "in/clip.mp4")) }
            let finals = try await progress.finals(for: Set(ids), within: 600)
            for id in ids {
                #expect(finals[id]?.state == .completed, "\(id): \(finals[id]?.errorMessage ?? "no final")")
                try await Self.expectCleanedUp(world, id)
            }
            try Self.expectSeamless(try await Self.download(world, "out/three-2.mp4"), frames: 1200)
        }
    }

    /// Cancelling a segmented job cancels its parts; a part that fails for good fails the job with its reason.
    @Test func cancelAndPartFailure() async throws {
        try await World.with { world in
            try await world.upload(try Self.clip("640x360", seconds: 60), as: "in/clip.mp4")
            // A crash in the second part's engine only (test fault, aimed by the part's child job id).
            let worker = try world.startWorker(concurrency: 2, extra: ["TRANSCODER_TEST_CHILD_FAULT": "segv@broken#00001"])
            let progress = try await world.client.follow(jobIDs: ["cancelled", "broken"])
            try await world.client.submit(Self.segmentedJob("cancelled", input: "in/clip.mp4"))
            _ = try await withDeadline(300, "parts never queued") {
                for try await m in progress where m.jobID == "cancelled" && m.segmentsTotal != nil { return m }
                throw Timeout(description: "progress stream ended")
            }
            try await world.client.cancel(jobID: "cancelled", requestedBy: "test")
            let cancelled = try #require(try await progress.finals(for: ["cancelled"], within: 120)["cancelled"])
            #expect(cancelled.state == .cancelled)
            try await withDeadline(60, "parts of the cancelled job still queued or stored") {
                while true {
                    let queued = try await world.connection.queueInfo(world.topology.segmentsQueue).messageCount
                    let stored = try await world.storage.listAll(prefix: ".transcoder/jobs/cancelled/")
                    if queued == 0 && stored.isEmpty { return }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            #expect(!(try await world.storage.listAll(prefix: "out/")).contains { $0.key == "out/cancelled.mp4" })

            try await world.client.submit(Self.segmentedJob("broken", input: "in/clip.mp4"))
            let broken = try #require(try await progress.finals(for: ["broken"], within: 300)["broken"])
            #expect(broken.state == .failed, "\(worker.log.suffix(3000))")
            #expect(broken.errorCode == .engineCrashed, "\(broken.errorMessage ?? "")")
            #expect(broken.errorMessage?.contains("part 2") == true, "\(broken.errorMessage ?? "")")
            // The final message goes out just before the job is dead-lettered.
            try await withDeadline(30, "the failed job never reached the dead-letter queue") {
                while try await world.connection.queueInfo(world.topology.deadLetterQueue).messageCount == 0 {
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            try await Self.expectCleanedUp(world, "broken")
        }
    }
}
