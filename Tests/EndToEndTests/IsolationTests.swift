import Foundation
import Testing
import TranscodingService

/// Each job's media work runs in a child process: whatever happens there (a segfault, an
/// abort, unbounded memory, a hang) fails that job with a reason, and the worker, same
/// process, goes on serving. The child has no credentials, no inherited descriptors and the
/// job's scratch directory as its working directory.
@Suite(.serialized) struct IsolationTests {
    /// The job's child: a process whose parent is the worker and whose command is job-child.
    static func child(of worker: Int32) -> Int32? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == worker,
                  let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                  cmdline.contains("job-child") else { continue }
            return pid
        }
        return nil
    }

    static func residentMB(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    @Test func aChildThatCrashesHangsOrGrowsFailsOnlyItsJob() async throws {
        try await World.with { world in
            let worker = try world.startWorker(extra: [
                "TRANSCODER_TEST_CHILD_FAULT": "segv@crash-segv,abort@crash-abort,memory@crash-memory,hang@crash-hang",
                "TRANSCODER_JOB_MEMORY_MB": "300", "TRANSCODER_RETRY_DELAY": "1", "TRANSCODER_STALL_TIMEOUT": "1",
                "TRANSCODER_MAX_ATTEMPTS": "2",
            ])
            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/good.mp4")
            let ids = ["crash-segv", "crash-abort", "crash-memory", "crash-hang", "good-after"]
            let watch = try await world.client.follow(jobIDs: ids)
            for id in ids {
                try await world.client.submit(JobRequest(jobID: id, inputKey: "in/good.mp4", outputKey: "out/\(id).mp4", preset: "h264-480p"))
            }
            // While the hanging child is there, look at what it was given.
            let inspected = Task { () -> (env: String, fds: [String], cwd: String)? in
                for _ in 0..<600 {
                    if let pid = Self.child(of: worker.pid),
                       let env = try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8), env.contains("TRANSCODER_TEST_CHILD_FAULT=hang") {
                        // What each descriptor is: the pipes and the runtime's own epoll/eventfd/timerfd only.
                        // Read once the table holds still: just after exec, the loader has each shared
                        // library open for a moment (a descriptor gone before readlink reads "?").
                        func descriptors() -> [String] {
                            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).map {
                                "\($0):" + ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) ?? "?")
                            }.sorted()
                        }
                        let fds = descriptors()
                        try await Task.sleep(for: .milliseconds(300))
                        guard fds == descriptors(), !fds.contains(where: { $0.hasSuffix(":?") }) else { continue }
                        let cwd = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) ?? ""
                        return (env, fds, cwd)
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return nil
            }
            let rssBefore = Self.residentMB(worker.pid)
            let finals = try await watch.finals(for: Set(ids), within: 240)

            func failure(_ id: String) throws -> ProgressMessage {
                let final = try #require(finals[id], "no outcome for \(id)")
                #expect(final.state == .failed, "\(id): \(final.state)")
                return final
            }
            for (id, signal) in [("crash-segv", "signal 11"), ("crash-abort", "signal 6")] {
                let final = try failure(id)
                #expect(final.errorCode == .engineCrashed, "\(id): \(String(describing: final.errorCode))")
                #expect(final.errorMessage?.contains(signal) == true, "\(final.errorMessage ?? "")")
                #expect(final.attempt == 2, "one retry, then dead-lettered: attempt \(String(describing: final.attempt))")
            }
            let memory = try failure("crash-memory")
            #expect(memory.errorCode == .resourceLimit, "\(String(describing: memory.errorCode)) \(memory.errorMessage ?? "")")
            #expect(memory.errorMessage?.contains("300 MB") == true)
            let hang = try failure("crash-hang")
            #expect(hang.errorCode == .timedOut, "\(String(describing: hang.errorCode)) \(hang.errorMessage ?? "")")
            #expect(finals["good-after"]?.state == .completed, "the next job is served")

            #expect(worker.isRunning, "the worker survived every child")
            #expect(Self.residentMB(worker.pid) < rssBefore + 100, "the worker's own memory stays flat")
            let seen = try #require(await inspected.value, "the hanging child was never seen")
            for secret in ["AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AMQP_URL", Stack.secretKey] {
                #expect(!seen.env.contains(secret), "the child's environment has \(secret)")
            }
            let unexpected = seen.fds.filter { fd in
                !(fd.hasPrefix("0:pipe:") || fd.hasPrefix("1:pipe:") || fd.hasPrefix("2:") || fd.contains(":anon_inode:"))
            }
            #expect(unexpected.isEmpty && seen.fds.count < 8, "descriptors of the child: \(seen.fds)")
            #expect(seen.cwd.hasPrefix(world.scratch) && seen.cwd.contains("job-"), "working directory \(seen.cwd)")
            await worker.stop()
        }
    }

    /// The fragment from the issue: a queue without bounds before a slow encoder buffers the
    /// whole decoded input (3.2 GB on a 40 s 1080p clip, 0.6 GB without the queue). It ends as
    /// resource_limit at a 1000 MB ceiling, with the worker's own memory flat, and the worker
    /// serves the next job.
    @Test func anUnboundedQueueEndsAsResourceLimit() async throws {
        try await World.with { world in
            let clip = world.scratch + "/1080p.mp4"
            try TestMedia.generate(clip, ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-t", "20",
                                          "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
            try await world.upload(clip, as: "in/1080p.mp4")
            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/good.mp4")
            let worker = try world.startWorker(extra: ["TRANSCODER_JOB_MEMORY_MB": "1000"])
            let rssBefore = Self.residentMB(worker.pid)
            let watch = try await world.client.follow(jobIDs: ["unbounded", "good-after"])
            try await world.client.submit(JobRequest(jobID: "unbounded", inputKey: "in/1080p.mp4", outputKey: "out/u.mp4",
                transcodeOptions: "videoconvert ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! x264enc"))
            try await world.client.submit(JobRequest(jobID: "good-after", inputKey: "in/good.mp4", outputKey: "out/g.mp4", preset: "h264-480p"))
            let finals = try await watch.finals(for: ["unbounded", "good-after"], within: 180)
            let unbounded = try #require(finals["unbounded"])
            #expect(unbounded.state == .failed && unbounded.errorCode == .resourceLimit,
                    "\(unbounded.state) \(String(describing: unbounded.errorCode)) \(unbounded.errorMessage ?? "")")
            #expect(finals["good-after"]?.state == .completed)
            #expect(worker.isRunning)
            #expect(Self.residentMB(worker.pid) < rssBefore + 100, "the worker's own memory stays flat")
            await worker.stop()
        }
    }

    /// A decompression bomb (a few KB declaring 8192x8192 frames) is refused before decoding;
    /// an upscale to the 8K 120 fps limits through x264enc grows past the memory ceiling and
    /// is stopped. Both are resource_limit, and the worker goes on.
    @Test func hugeFramesAndAnUpscaleToTheLimitsEndAsResourceLimit() async throws {
        try await World.with { world in
            let bomb = world.scratch + "/bomb.mp4"
            try TestMedia.generate(bomb, ["-f", "lavfi", "-i", "color=black:size=8192x8192:rate=1", "-frames:v", "2",
                                          "-c:v", "libx264", "-preset", "ultrafast"])
            let size = try #require(try FileManager.default.attributesOfItem(atPath: bomb)[.size] as? Int)
            #expect(size < 200_000, "the bomb is small: \(size) bytes")
            try await world.upload(bomb, as: "in/bomb.mp4")
            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/good.mp4")
            let worker = try world.startWorker(extra: ["TRANSCODER_JOB_MEMORY_MB": "1024"])
            let ids = ["bomb", "upscale-8k", "good-after"]
            let watch = try await world.client.follow(jobIDs: ids)
            try await world.client.submit(JobRequest(jobID: "bomb", inputKey: "in/bomb.mp4", outputKey: "out/b.mp4", preset: "h264-720p"))
            try await world.client.submit(JobRequest(jobID: "upscale-8k", inputKey: "in/good.mp4", outputKey: "out/u.mp4",
                transcodeOptions: "videoscale ! videorate ! video/x-raw,width=7680,height=4320,framerate=120/1 ! x264enc"))
            try await world.client.submit(JobRequest(jobID: "good-after", inputKey: "in/good.mp4", outputKey: "out/g.mp4", preset: "h264-480p"))
            let finals = try await watch.finals(for: Set(ids), within: 300)
            for id in ["bomb", "upscale-8k"] {
                let final = try #require(finals[id])
                #expect(final.state == .failed && final.errorCode == .resourceLimit,
                        "\(id): \(final.state) \(String(describing: final.errorCode)) \(final.errorMessage ?? "")")
            }
            #expect(finals["bomb"]?.errorMessage?.contains("8192x8192") == true)
            #expect(finals["good-after"]?.state == .completed)
            #expect(worker.isRunning)
            await worker.stop()
        }
    }
}
