import Foundation
import Synchronization
import Testing
import TranscodingService

/// Several workers on one host, and several jobs in one worker.
@Suite(.serialized) struct SeveralWorkersTests {
    @Test func threeWorkersOnOneHostEachWithItsOwnMetricsPort() async throws {
        try await World.with { world in
            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/small.mp4")
            let base = Int.random(in: 20_000...29_000)
            let ports = [base, base + 1, base + 2]
            let workers = try ports.enumerated().map { i, port in
                try world.startWorker(extra: ["TRANSCODER_METRICS_PORT": "\(port)", "TRANSCODER_WORKER_ID": "host-w\(i + 1)"])
            }
            for port in ports { try await HTTP.waitFor(port: port, path: "/readyz", status: 200, within: 60) }

            // A fourth on a taken port stops at once, naming the setting, and harms nobody.
            let clash = try world.startWorker(extra: ["TRANSCODER_METRICS_PORT": "\(ports[0])"])
            let status = await clash.waitForExit(within: 60)
            #expect(status == 78, "\(clash.log)")
            #expect(clash.log.contains("TRANSCODER_METRICS_PORT=\(ports[0]) is already in use"), "\(clash.log)")
            #expect(!clash.log.contains("Fatal error"), "\(clash.log)")

            let ids = (1...6).map { "host-\($0)" }
            let progress = try await world.client.follow(jobIDs: ids)
            try await Task.sleep(for: .seconds(2))  // every consumer registered, so the broker spreads the batch
            for id in ids {
                try await world.client.submit(JobRequest(jobID: id, inputKey: "in/small.mp4", outputKey: "out/\(id).mp4",
                                                         preset: "h264-480p", overrides: .init(speed: "ultrafast")))
            }
            let finals = try await progress.finals(for: Set(ids), within: 400)
            #expect(finals.values.allSatisfy { $0.state == .completed }, "\(finals.values.map { "\($0.jobID!): \($0.errorMessage ?? "ok")" })")
            #expect(Set(finals.values.map(\.workerID)) == ["host-w1", "host-w2", "host-w3"])
            #expect(try await world.storage.listAll(prefix: "out/").count == 6)
            for (port, worker) in zip(ports, workers) {
                #expect(worker.isRunning)
                let metrics = try await HTTP.get(port: port, path: "/metrics").body
                #expect(Metrics.value(metrics, "transcoder_jobs_total", label: "outcome=\"completed\"") ?? 0 >= 1, "\(metrics)")
            }
        }
    }

    @Test func concurrencyRunsThatManyJobsAtOnce() async throws {
        try await World.with { world in
            try await world.upload(Stack.media("bikes.mp4"), as: "in/bikes.mp4")
            let worker = try world.startWorker(concurrency: 3)
            let ids = ["conc-1", "conc-2", "conc-3"]
            let seen = Seen()
            let progress = try await world.client.follow(jobIDs: ids)
            for id in ids {
                try await world.client.submit(JobRequest(jobID: id, inputKey: "in/bikes.mp4", outputKey: "out/\(id).mp4",
                                                         preset: "h264-720p"))
            }
            let finals = try await progress.finals(for: Set(ids), within: 400) { message in
                guard let id = message.jobID else { return }
                seen.state.withLock { state in
                    if message.state == .transcoding { state.started.insert(id) }
                    if message.state.isFinal, state.startedBeforeFirstFinal == nil {
                        state.startedBeforeFirstFinal = state.started.count
                    }
                }
            }
            #expect(finals.values.allSatisfy { $0.state == .completed }, "\(worker.log)")
            // The worker held all three at once: each was transcoding before any had finished.
            #expect(seen.state.withLock { $0.startedBeforeFirstFinal } == 3)
        }
    }
}

private final class Seen: Sendable {
    let state = Mutex<(started: Set<String>, startedBeforeFirstFinal: Int?)>(([], nil))
}
