import Foundation
import RabbitMQ
import Testing
import TranscodingService

/// Every kind of bad input ends as a failed message with its reason and the job in the
/// dead-letter queue, while the worker keeps serving; then `transcoder dlq` round-trips one.
@Suite(.serialized) struct BadInputTests {
    @Test func badJobsFailClearlyAndAreDeadLetteredWhileTheWorkerKeepsServing() async throws {
        try await World.with { world in
            let worker = try world.startWorker()

            // Inputs: corrupt (truncated) media, a text file, an empty object, and a good clip.
            let truncated = world.scratch + "/truncated.mp4"
            let whole = try Data(contentsOf: URL(fileURLWithPath: Stack.media("bigbuckbunny.mp4")))
            try whole.prefix(whole.count / 3).write(to: URL(fileURLWithPath: truncated))
            let text = world.scratch + "/notes.txt"
            try String(repeating: "this is not a video\n", count: 500).write(toFile: text, atomically: true, encoding: .utf8)
            let empty = world.scratch + "/empty.mp4"
            FileManager.default.createFile(atPath: empty, contents: Data())
            try await world.upload(truncated, as: "in/truncated.mp4")
            try await world.upload(text, as: "in/notes.txt")
            try await world.upload(empty, as: "in/empty.mp4")
            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/good.mp4")
            let pwned = "/tmp/e2e-\(world.id)-pwned"

            func job(_ id: String, _ input: String, fragment: String? = nil, preset: String? = nil) -> String {
                var fields = ["\"job_id\": \"\(id)\"", "\"input_key\": \"\(input)\"", "\"output_key\": \"out/\(id).mp4\""]
                if let fragment { fields.append("\"transcode_options\": \"\(fragment)\"") }
                if let preset { fields.append("\"preset\": \"\(preset)\"") }
                return "{" + fields.joined(separator: ", ") + "}"
            }
            let cases: [(id: String?, body: String, code: JobFailure.Code)] = [
                (nil, "{not json", .invalidJob),
                ("bad-missing", #"{"job_id": "bad-missing", "input_key": "in/good.mp4"}"#, .invalidJob),
                ("bad-empty", #"{"job_id": "bad-empty", "input_key": "", "output_key": "o.mp4", "preset": "h264-480p"}"#, .invalidJob),
                ("bad-type", #"{"job_id": "bad-type", "input_key": 7, "output_key": "o.mp4", "preset": "h264-480p"}"#, .invalidJob),
                ("bad-preset", job("bad-preset", "in/good.mp4", preset: "h264-9000p"), .invalidOptions),
                ("bad-filesink", job("bad-filesink", "in/good.mp4", fragment: "videoconvert ! x264enc ! filesink location=\(pwned)"), .forbiddenOptions),
                ("bad-option-string", job("bad-option-string", "in/good.mp4", fragment: "x264enc option-string=stats=\(pwned)"), .forbiddenOptions),
                ("bad-no-input", job("bad-no-input", "in/missing.mp4", preset: "h264-480p"), .inputNotFound),
                ("bad-truncated", job("bad-truncated", "in/truncated.mp4", preset: "h264-480p"), .inputCorrupt),
                ("bad-text", job("bad-text", "in/notes.txt", preset: "h264-480p"), .inputUnsupported),
                ("bad-empty-object", job("bad-empty-object", "in/empty.mp4", preset: "h264-480p"), .inputCorrupt),
            ]
            let watch = try await world.client.follow(jobIDs: cases.compactMap(\.id) + ["good-after"])
            for c in cases {
                try await world.connection.publish(c.body, routingKey: world.topology.jobsQueue)
            }
            try await world.client.submit(JobRequest(jobID: "good-after", inputKey: "in/good.mp4", outputKey: "out/good.mp4",
                                                     preset: "h264-480p"))

            var seen: [ProgressMessage] = []
            let finals = try await watch.finals(for: Set(cases.compactMap(\.id) + ["good-after"]), within: 300)
            for c in cases {
                guard let id = c.id else { continue }
                let final = try #require(finals[id], "no outcome for \(id)")
                #expect(final.state == .failed, "\(id): \(final.state)")
                #expect(final.errorCode == c.code, "\(id): \(String(describing: final.errorCode)) \(final.errorMessage ?? "")")
                #expect(!(final.errorMessage ?? "").isEmpty)
                #expect(!(final.errorMessage ?? "").contains(Stack.secretKey))
                seen.append(final)
            }
            let good = try #require(finals["good-after"])
            #expect(good.state == .completed, "good job after bad ones: \(good.errorMessage ?? "")\n\(worker.log)")
            #expect(worker.isRunning)
            #expect(!FileManager.default.fileExists(atPath: pwned), "a forbidden fragment wrote a file")

            // Every bad job sits in the dead-letter queue with its reason.
            try await Task.sleep(for: .milliseconds(500))
            let dead = try await world.connection.queueInfo(world.topology.deadLetterQueue)
            #expect(Int(dead.messageCount) == cases.count)
            try SchemaCheck.progress(seen + [good])

            // `transcoder dlq list` shows them; once the missing input exists, replay completes it.
            let env = world.workerEnvironment()
            let list = try Stack.run([Stack.binary, "dlq", "list"], environment: env)
            #expect(list.status == 0, "\(list.output)")
            #expect(list.output.contains("bad-no-input\tinput_not_found"), "\(list.output)")
            #expect(list.output.contains("bad-filesink\tforbidden_options"), "\(list.output)")
            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/missing.mp4")
            let replayWatch = try await world.client.follow(jobIDs: ["bad-no-input"])
            let replay = try Stack.run([Stack.binary, "dlq", "replay", "bad-no-input"], environment: env)
            #expect(replay.status == 0, "\(replay.output)")
            let replayed = try await replayWatch.finals(for: ["bad-no-input"], within: 120)["bad-no-input"]
            #expect(replayed?.state == .completed, "\(String(describing: replayed?.errorMessage))")
            try await Task.sleep(for: .milliseconds(500))
            #expect(Int(try await world.connection.queueInfo(world.topology.deadLetterQueue).messageCount) == cases.count - 1)
        }
    }
}
