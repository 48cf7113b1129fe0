import Foundation
import RabbitMQ
import Synchronization
import Testing
import TranscodingService

/// Crashes, restarts and shutdowns lose no job.
@Suite(.serialized) struct ReliabilityTests {
    static let trailer = "trailer_bbb.mp4"

    /// Waits until a job is transcoding past `percent`.
    static func waitUntilTranscoding(_ stream: ProgressStream, job: String, past percent: Double, within seconds: Double) async throws -> ProgressMessage {
        try await withDeadline(seconds, "\(job) did not pass \(percent) % within \(Int(seconds)) s") {
            for try await m in stream where m.jobID == job && m.state == .transcoding && m.progress > percent { return m }
            throw Timeout(description: "progress stream ended")
        }
    }

    @Test func killMinus9MidJobAnotherWorkerFinishesIt() async throws {
        try await World.with { world in
            try await world.upload(Stack.media(Self.trailer), as: "in/trailer.mp4")
            let first = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "victim"])
            let progress = try await world.client.follow(jobIDs: ["kill9"])
            try await world.client.submit(JobRequest(jobID: "kill9", inputKey: "in/trailer.mp4", outputKey: "out/kill9.mp4",
                                                     preset: "h264-480p"))
            _ = try await Self.waitUntilTranscoding(progress, job: "kill9", past: 10, within: 180)
            first.signal(SIGKILL)
            #expect(await first.waitForExit(within: 10) != nil)

            let second = try world.startWorker(extra: ["TRANSCODER_WORKER_ID": "rescuer"])
            let final = try #require(try await progress.finals(for: ["kill9"], within: 400)["kill9"])
            #expect(final.state == .completed, "\(final.errorMessage ?? "")\n\(second.log)")
            #expect(final.workerID == "rescuer")
            #expect((final.attempt ?? 0) >= 2)
            let local = world.scratch + "/kill9.mp4"
            _ = try await world.storage.download("out/kill9.mp4", to: local)
            let info = try await TestMedia.probe(local)
            #expect(abs(info.duration - 55) < 2, "duration \(info.duration)")
            #expect(info.height == 480)
            // Nothing was left behind: the queue is empty and no scratch directory remains.
            #expect(try await world.connection.queueInfo(world.topology.jobsQueue).messageCount == 0)
            #expect((try FileManager.default.contentsOfDirectory(atPath: world.scratch)).filter { $0.hasPrefix("job-") }.isEmpty,
                    "scratch left behind (the rescuer removes the killed worker's at start, its own after the job)")
        }
    }

    @Test func sigtermFinishesHeldJobThenExitsZero() async throws {
        try await World.with { world in
            try await world.upload(Stack.media("bigbuckbunny.mp4"), as: "in/bbb.mp4")
            let worker = try world.startWorker()
            let progress = try await world.client.follow(jobIDs: ["term"])
            try await world.client.submit(JobRequest(jobID: "term", inputKey: "in/bbb.mp4", outputKey: "out/term.mkv", preset: "h264-720p"))
            _ = try await Self.waitUntilTranscoding(progress, job: "term", past: 6, within: 120)
            worker.signal(SIGTERM)
            let status = await worker.waitForExit(within: 120)
            #expect(status == 0, "exit \(String(describing: status))\n\(worker.log)")
            let final = try #require(try await progress.finals(for: ["term"], within: 10)["term"])
            #expect(final.state == .completed)
            #expect(worker.log.contains("finishing held jobs"))
            _ = try await world.storage.head("out/term.mkv")
        }
    }

    @Test func sigtermAfterGracePeriodRequeuesTheJob() async throws {
        try await World.with { world in
            try await world.upload(Stack.media(Self.trailer), as: "in/trailer.mp4")
            let worker = try world.startWorker(extra: ["TRANSCODER_GRACE_PERIOD": "1"])
            let progress = try await world.client.follow(jobIDs: ["requeue"])
            try await world.client.submit(JobRequest(jobID: "requeue", inputKey: "in/trailer.mp4", outputKey: "out/r.mp4",
                                                     preset: "h264-720p"))
            _ = try await Self.waitUntilTranscoding(progress, job: "requeue", past: 6, within: 180)
            worker.signal(SIGTERM)
            let status = await worker.waitForExit(within: 60)
            #expect(status == 0, "exit \(String(describing: status))\n\(worker.log)")
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await world.connection.queueInfo(world.topology.jobsQueue).messageCount == 1, "job not back in the queue")
            #expect(try await world.connection.queueInfo(world.topology.deadLetterQueue).messageCount == 0)
            #expect(!worker.log.contains("job failed"))
            #expect((try? await world.storage.head("out/r.mp4")) == nil, "a partial output was stored")
        }
    }

    @Test func brokerRestartMidJobLosesNothingAndReadinessFollowsTheBroker() async throws {
        try await World.with { world in
            try await world.upload(Stack.media(Self.trailer), as: "in/trailer.mp4")
            let port = Int.random(in: 20000...29999)
            let worker = try world.startWorker(extra: ["TRANSCODER_METRICS_PORT": "\(port)"])
            let progress = try await world.client.follow(jobIDs: ["restart"])
            try await world.client.submit(JobRequest(jobID: "restart", inputKey: "in/trailer.mp4", outputKey: "out/restart.mp4",
                                                     preset: "h264-480p"))
            _ = try await Self.waitUntilTranscoding(progress, job: "restart", past: 5, within: 180)
            #expect(try await HTTP.get(port: port, path: "/readyz").status == 200)
            let metricsBefore = try await HTTP.get(port: port, path: "/metrics").body

            // Stop the broker, see the worker turn unready, start it again.
            let stop = try Stack.run(["\(Stack.root)/scripts/stack", "rabbitmq", "stop"])
            #expect(stop.status == 0, "\(stop.output)")
            let unready = try await HTTP.get(port: port, path: "/readyz")
            #expect(unready.status == 503, "readyz while the broker is down: \(unready.status) \(unready.body)")
            let start = try Stack.run(["\(Stack.root)/scripts/stack", "rabbitmq", "start"])
            #expect(start.status == 0, "\(start.output)")
            try await HTTP.waitFor(port: port, path: "/readyz", status: 200, within: 90)

            // The outcome is in the durable progress queue (the watcher's queue died with the broker).
            let final = try await world.finalInProgressQueue(job: "restart", within: 400)
            #expect(final.state == .completed, "\(final.errorMessage ?? "")\n\(worker.log)")
            let info = try await world.storage.head("out/restart.mp4")
            #expect(info.size > 100_000)
            #expect(try await world.connection.queueInfo(world.topology.jobsQueue).messageCount == 0)
            let metricsAfter = try await HTTP.get(port: port, path: "/metrics").body
            #expect(Metrics.value(metricsAfter, "transcoder_jobs_total", label: "outcome=\"completed\"") ?? 0 >= 1, "\(metricsAfter)")
            // Counters moved during the job: bytes in were counted before the restart, bytes out after.
            #expect(Metrics.value(metricsBefore, "transcoder_bytes_total", label: "direction=\"in\"") ?? 0 > 0, "\(metricsBefore)")
            #expect(Metrics.value(metricsBefore, "transcoder_jobs_total", label: "outcome=\"completed\"") == nil)
            #expect(Metrics.value(metricsAfter, "transcoder_bytes_total", label: "direction=\"out\"") ?? 0 > 0)
        }
    }

    @Test func twoWorkersWithConcurrencyTwoDrainABatch() async throws {
        try await World.with { world in
            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/small.mp4")
            let a = try world.startWorker(concurrency: 2, extra: ["TRANSCODER_WORKER_ID": "w-a"])
            let b = try world.startWorker(concurrency: 2, extra: ["TRANSCODER_WORKER_ID": "w-b"])
            let ids = (1...8).map { "batch-\($0)" }
            let progress = try await world.client.follow(jobIDs: ids)
            try await Task.sleep(for: .seconds(2))  // both consumers registered, so the broker spreads the batch
            for id in ids {
                try await world.client.submit(JobRequest(jobID: id, inputKey: "in/small.mp4", outputKey: "out/\(id).webm",
                                                         preset: "vp9-720p"))
            }
            let finals = try await progress.finals(for: Set(ids), within: 400)
            #expect(finals.values.allSatisfy { $0.state == .completed }, "\(finals.values.map { "\($0.jobID!): \($0.errorMessage ?? "ok")" })")
            #expect(Set(finals.values.map(\.workerID)) == ["w-a", "w-b"])
            #expect(try await world.storage.listAll(prefix: "out/").count == 8)
        }
    }

    @Test func inputOf200MBRoundTrips() async throws {
        try await World.with { world in
            let big = world.scratch + "/big.ts"
            try TestMedia.generate(big, ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
                                         "-t", "36", "-c:v", "mpeg2video", "-q:v", "1", "-qmin", "1", "-qmax", "1", "-g", "1",
                                         "-c:a", "mp2", "-shortest"])
            let size = (try FileManager.default.attributesOfItem(atPath: big)[.size] as? Int64) ?? 0
            #expect(size >= 200 * 1024 * 1024, "generated input is only \(size >> 20) MiB")
            try await world.upload(big, as: "in/big.ts")
            try FileManager.default.removeItem(atPath: big)
            let worker = try world.startWorker()
            let progress = try await world.client.follow(jobIDs: ["big"])
            try await world.client.submit(JobRequest(jobID: "big", inputKey: "in/big.ts", outputKey: "out/big.mp4", preset: "h264-480p",
                                                     overrides: .init(speed: "ultrafast")))
            let final = try #require(try await progress.finals(for: ["big"], within: 600)["big"])
            #expect(final.state == .completed, "\(final.errorMessage ?? "")\n\(worker.log)")
            #expect(abs((final.durationSeconds ?? 0) - 36) < 1)
        }
    }
}
