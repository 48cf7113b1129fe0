import Foundation
import S3
import Synchronization
import Testing
import TranscodingService

/// One job, many outputs (docs/messages.md): an HLS ladder, a file and thumbnails from one
/// decode, stored with the master playlist after its variants and the manifest last; an
/// output that is refused fails the whole job and stores nothing.
@Suite(.serialized) struct OutputsTests {
    @Test func aLadderAFileAndThumbnailsFromOneJob() async throws {
        try await World.with { world in
            let worker = try world.startWorker()
            try await world.upload(Stack.media("trailer_bbb.mp4"), as: "in/trailer.mp4")
            let good = #"""
            {"job_id": "many", "input_key": "in/trailer.mp4", "output_key": "out/many/manifest.json", "outputs": [
              {"key": "out/many/hls/", "preset": "hls-ladder", "hls": {"segment_seconds": 6}},
              {"key": "out/many/small.mp4", "preset": "h264-480p", "overrides": {"height": 240}},
              {"key": "out/many/thumbs/", "thumbnails": {"poster_at": 0.5, "sprite_interval_seconds": 10, "width": 160}}]}
            """#
            let bad = #"""
            {"job_id": "many-bad", "input_key": "in/trailer.mp4", "output_key": "out/bad/manifest.json", "outputs": [
              {"key": "out/bad/a.mp4", "preset": "h264-480p"},
              {"key": "out/bad/b.mp4", "transcode_options": "videoconvert ! x264enc ! filesink location=/tmp/many-bad"}]}
            """#
            let ids: Set<String> = ["many", "many-bad"]
            let watch = try await world.client.follow(jobIDs: Array(ids))
            try await world.connection.publish(bad, routingKey: world.topology.jobsQueue)
            try await world.connection.publish(good, routingKey: world.topology.jobsQueue)
            let seen = Mutex<[ProgressMessage]>([])
            let finals = try await watch.finals(for: ids, within: 600) { m in seen.withLock { $0.append(m) } }

            let refused = try #require(finals["many-bad"])
            #expect(refused.state == .failed && refused.errorCode == .forbiddenOptions, "\(String(describing: refused.errorMessage))")
            #expect(try await world.storage.listAll(prefix: "out/bad/").isEmpty, "a refused job stored something")

            let done = try #require(finals["many"])
            #expect(done.state == .completed, "\(String(describing: done.errorMessage))\n\(worker.log)")
            #expect(done.outputKey == "out/many/manifest.json")
            #expect(done.outputs?.map(\.key) == ["out/many/hls/", "out/many/small.mp4", "out/many/thumbs/"])
            #expect(done.outputs?.allSatisfy { $0.state == .completed && $0.progress == 100 } == true)
            let ticks = seen.withLock { $0 }.filter { $0.jobID == "many" && $0.state == .transcoding }
            #expect(ticks.contains { ($0.outputs?.count ?? 0) == 3 }, "no per-output progress while transcoding")
            try SchemaCheck.progress(seen.withLock { $0 })

            // The manifest lists every stored object with its size, and nothing else is under the prefix.
            let manifestBytes = try await world.storage.get("out/many/manifest.json")
            let manifest = try #require(try JSONSerialization.jsonObject(with: Data(manifestBytes)) as? [String: Any])
            let outputs = try #require(manifest["outputs"] as? [[String: Any]])
            let objects = outputs.flatMap { ($0["objects"] as? [[String: Any]]) ?? [] }
            let stored = Dictionary(uniqueKeysWithValues: try await world.storage.listAll(prefix: "out/many/").map { ($0.key, $0.size) })
            #expect(stored.count == objects.count + 1, "\(stored.keys.sorted())")
            for object in objects {
                let key = try #require(object["key"] as? String)
                #expect(stored[key] == (object["size"] as? NSNumber)?.int64Value, "\(key)")
            }
            #expect(objects.contains { $0["role"] as? String == "master" && $0["key"] as? String == "out/many/hls/master.m3u8" })
            let file = try #require(objects.first { $0["role"] as? String == "file" })
            #expect(file["height"] as? Int == 240)

            // Playlists, segments, keyframe alignment, bandwidth, durations and thumbnails, read from the bucket.
            let checker = "\(Stack.root)/Tests/Scripts/check_outputs.py"
            let hls = try Stack.run(["python3", checker, "--bucket", world.bucket, "--prefix", "out/many/hls/", "hls",
                                     "--input", Stack.media("trailer_bbb.mp4"), "--segment-seconds", "6", "--expect-rungs", "720p,480p,360p"])
            #expect(hls.status == 0, "\(hls.output)")
            let thumbs = try Stack.run(["python3", checker, "--bucket", world.bucket, "--prefix", "out/many/thumbs/", "thumbs",
                                        "--input", Stack.media("trailer_bbb.mp4"), "--interval", "10", "--width", "160"])
            #expect(thumbs.status == 0, "\(thumbs.output)")
            #expect(worker.isRunning)
        }
    }
}
