import Foundation
import RabbitMQ
import Synchronization
import Testing
import TranscodingService

/// The seed README's pika snippets, run verbatim against a real worker.
@Suite(.serialized) struct SeedContractTests {
    @Test func seedSnippetsTranscodeJob1EndToEnd() async throws {
        try await World.with(seedNames: true) { world in
            _ = try await world.connection.purge(queue: "transcoding_progress")
            _ = try await world.connection.purge(queue: "transcoding_jobs")
            try await world.upload(Stack.media("bigbuckbunny.mp4"), as: "path/to/input_file")
            let worker = try world.startWorker()

            // Our own observer on the progress exchange, to check every message's schema.
            let observed = try await world.client.follow(jobIDs: ["job1"])
            let consumer = Process()
            consumer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            consumer.arguments = ["python3", "-u", "\(Stack.root)/Tests/EndToEndTests/Seed/seed_progress.py"]
            let out = Pipe()
            consumer.standardOutput = out
            try consumer.run()
            defer { consumer.terminate() }

            let publish = try Stack.run(["python3", "\(Stack.root)/Tests/EndToEndTests/Seed/seed_publish.py"])
            #expect(publish.status == 0, "seed publisher failed: \(publish.output)")

            let messages = Mutex<[ProgressMessage]>([])
            let finals = try await observed.finals(for: ["job1"], within: 240) { m in messages.withLock { $0.append(m) } }
            let final = try #require(finals["job1"])
            #expect(final.state == .completed, "job failed: \(final.errorCode?.rawValue ?? "") \(final.errorMessage ?? "")\n\(worker.log)")
            #expect(final.outputKey == "path/to/output_file")

            // The seed's consumer printed the job reaching 100 %.
            let lines = try await readLines(out, until: { $0.contains("Job job1: 100%") }, within: 30)
            #expect(lines.contains("Job job1: 100%"), "seed consumer printed: \(lines)")
            #expect(lines.contains { $0.hasPrefix("Job job1: 0") }, "no early progress line: \(lines)")

            // Progress never goes backwards and is reported with the added fields.
            let all = messages.withLock { $0 }
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.progress <= $1.progress })
            #expect(Set(all.map(\.state)).isSuperset(of: [.downloading, .transcoding, .uploading, .completed]))

            // The stored output is an MP4 (no extension in the key) that the engine can read.
            let local = world.scratch + "/out.mp4"
            _ = try await world.storage.download("path/to/output_file", to: local)
            let info = try await TestMedia.probe(local)
            #expect(info.container.contains("quicktime"))
            #expect(info.video?.codec.lowercased().contains("h.264") == true || info.video?.codec.lowercased().contains("avc") == true,
                    "codec \(String(describing: info.video?.codec))")
            #expect(abs(info.duration - 5.3) < 0.6)

            try SchemaCheck.progress(all)
        }
    }

    private func readLines(_ pipe: Pipe, until done: @escaping @Sendable (String) -> Bool, within seconds: Double) async throws -> [String] {
        let handle = pipe.fileHandleForReading
        let collected = Mutex<(text: String, done: Bool)>(("", false))
        handle.readabilityHandler = { h in
            let chunk = String(decoding: h.availableData, as: UTF8.self)
            collected.withLock { c in
                c.text += chunk
                if c.text.split(separator: "\n").contains(where: { done(String($0)) }) { c.done = true }
            }
        }
        let deadline = Date().addingTimeInterval(seconds)
        while !collected.withLock({ $0.done }) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        handle.readabilityHandler = nil
        return collected.withLock { $0.text }.split(separator: "\n").map(String.init)
    }
}

enum SchemaCheck {
    /// Validates messages with docs/schemas/progress.schema.json (python jsonschema).
    static func progress(_ messages: [ProgressMessage]) throws {
        try validate(messages.map { String(decoding: $0.encoded(), as: UTF8.self) }, schema: "progress.schema.json")
    }

    static func validate(_ lines: [String], schema: String) throws {
        let file = NSTemporaryDirectory() + "messages-\(UUID().uuidString.prefix(8)).jsonl"
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try Stack.run(["python3", "\(Stack.root)/Tests/EndToEndTests/validate_messages.py",
                                    "\(Stack.root)/docs/schemas/\(schema)", file])
        #expect(result.status == 0, "schema check failed: \(result.output)")
    }
}
