import Foundation
import Synchronization
import Testing
import TranscodingService

/// Priority lanes on the real broker with a real worker.
@Suite(.serialized) struct PriorityTests {
    /// A high job published behind 50 waiting normal ones (and a low one before them all)
    /// is the first the free worker takes; normal ones keep their order; the low one is last.
    @Test func aHighJobBehindFiftyNormalOnesStartsFirstAndALowOneLast() async throws {
        try await World.with { world in
            let normal = (1...50).map { "normal-\($0)" }
            let ids = ["low-1"] + normal + ["high-1"]
            let progress = try await world.client.follow(jobIDs: ids)
            // Inputs that do not exist: each job ends at once (dead-lettered), which is all
            // the order needs.
            func job(_ id: String) -> JobRequest {
                JobRequest(jobID: id, inputKey: "in/none-\(id).mp4", outputKey: "out/\(id).mp4", preset: "h264-480p")
            }
            try await world.client.submit(job("low-1"), priority: .low)
            for id in normal { try await world.client.submit(job(id)) }
            try await world.client.submit(job("high-1"), priority: .high)
            #expect(try await world.connection.queueInfo(world.topology.jobsQueue(.high)).messageCount == 1)

            let order = Mutex<[(String, JobPriority?)]>([])
            let worker = try world.startWorker(concurrency: 1)
            let finals = try await progress.finals(for: Set(ids), within: 300) { message in
                guard message.state == .queued, let id = message.jobID else { return }
                order.withLock { $0.append((id, message.priority)) }
            }
            #expect(finals.count == ids.count, "\(worker.log)")
            let taken = order.withLock { $0 }
            #expect(taken.map(\.0) == ["high-1"] + normal + ["low-1"], "\(taken.map(\.0))")
            #expect(taken.first?.1 == .high && taken.last?.1 == .low && taken[1].1 == .normal)
            #expect(finals["high-1"]?.errorCode == .inputNotFound, "\(String(describing: finals["high-1"]))")
            // A dead letter remembers its lane, so a replay goes back there.
            // (A worker reports the failure first, then copies the job there.)
            for _ in 0..<100 where try await world.connection.queueInfo(world.topology.deadLetterQueue).messageCount < ids.count {
                try await Task.sleep(for: .milliseconds(100))
            }
            let letters = DeadLetters(connection: world.connection, topology: world.topology)
            let entries = try await letters.take()
            #expect(entries.count == ids.count)
            #expect(entries.first { $0.jobID == "high-1" }?.priority(in: world.topology) == .high)
            #expect(entries.first { $0.jobID == "low-1" }?.priority(in: world.topology) == .low)
            await letters.giveBack(entries)
        }
    }
}
