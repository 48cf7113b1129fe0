import AsyncHTTPClient
import Foundation
import NIOCore
import Testing
import TranscodingService

/// The API's other resources on the real stack: user presets, uploads, dead letters, priorities.
@Suite(.serialized) struct APIResourceTests {
    @Test func aClientUploadsWithoutCredentialsAndRunsAUserPreset() async throws {
        try await World.with { world in
            let api = try await APIProcess(world: world)
            // A user preset: checked like a job, usable by name, built-in names refused.
            let fragment = #"{"description":"tiny previews","transcode_options":"videoscale ! video/x-raw,width=160,height=120 ! x264enc speed-preset=ultrafast"}"#
            let made = try await api.call(.PUT, "/v1/presets/tiny", body: fragment)
            #expect(made.status == 201 && made.json["builtin"] as? Bool == false, "\(made.text)")
            #expect(try await api.call(.PUT, "/v1/presets/tiny", body: fragment).status == 200)
            #expect(try await api.call(.PUT, "/v1/presets/h264-720p", body: fragment).errorCode == "builtin_preset")
            let hostile = try await api.call(.PUT, "/v1/presets/evil", body: #"{"transcode_options":"filesrc location=/etc/passwd"}"#)
            #expect(hostile.status == 422 && hostile.errorCode == "forbidden_options", "\(hostile.text)")
            let adjusted = try await api.call(.PUT, "/v1/presets/fast-480", body: #"{"preset":"h264-480p","overrides":{"speed":"ultrafast"}}"#)
            #expect(adjusted.status == 201, "\(adjusted.text)")
            let names = (try await api.call(.GET, "/v1/presets").json["presets"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
            #expect(names.contains("h264-720p") && names.contains("tiny") && names.contains("fast-480") && !names.contains("evil"))

            // One presigned PUT, then a three-part multipart upload, neither with S3 credentials.
            let file = Stack.media("carphone_pristine.mp4")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            let single = try await api.call(.POST, "/v1/uploads", body: #"{"filename":"clip.mp4","size":\#(bytes.count)}"#)
            let key = try #require(single.json["key"] as? String, "\(single.text)")
            #expect(key.hasPrefix("uploads/") && key.hasSuffix("/clip.mp4"))
            #expect(try await put(bytes, to: try #require(single.json["url"] as? String)).status == 200)
            var big = Data()
            while big.count < 11 << 20 { big.append(bytes) }
            let multi = try await api.call(.POST, "/v1/uploads",
                                           body: #"{"filename":"big.mp4","size":\#(big.count),"multipart":true,"part_size":5242880,"content_type":"video/mp4"}"#)
            let parts = try #require(multi.json["parts"] as? [[String: Any]], "\(multi.text)")
            #expect(parts.count == 3)
            var etags: [String] = []
            for (index, part) in parts.enumerated() {
                let slice = big.subdata(in: (index * 5_242_880)..<min(big.count, (index + 1) * 5_242_880))
                let answer = try await put(slice, to: try #require(part["url"] as? String))
                #expect(answer.status == 200)
                etags.append(answer.etag ?? "")
            }
            let bigKey = try #require(multi.json["key"] as? String)
            let uploadID = try #require(multi.json["upload_id"] as? String)
            let etagList = etags.map { "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" }.joined(separator: ",")
            let joined = try await api.call(.POST, "/v1/uploads/\(uploadID)/complete",
                                            body: #"{"key":"\#(bigKey)","etags":[\#(etagList)]}"#)
            #expect(joined.status == 200 && joined.json["size"] as? Int == big.count, "\(joined.text)")
            #expect(try await world.storage.head(bigKey).size == Int64(big.count))
            let badType = try await api.call(.POST, "/v1/uploads", body: #"{"filename":"a.mp4","size":1,"content_type":"video mp4\u0001"}"#)
            #expect(badType.errorCode == "invalid_upload", "a content type goes into a header: \(badType.text)")
            let empty = try await api.call(.POST, "/v1/uploads", body: #"{"filename":"a.mp4","size":1,"content_type":""}"#)
            #expect(empty.errorCode == "invalid_upload", "\(empty.text)")
            let outside = try await api.call(.POST, "/v1/uploads/\(uploadID)/complete", body: #"{"key":"in/other.mp4","etags":["x"]}"#)
            #expect(outside.errorCode == "invalid_upload", "only the API's own upload keys")

            // The uploaded file through the user preset, at high priority.
            _ = try world.startWorker()
            let job = #"{"input_key":"\#(key)","output_key":"out/tiny.mp4","preset":"tiny","priority":"high"}"#
            let created = try await api.call(.POST, "/v1/jobs", body: job)
            #expect(created.status == 201, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let done = try await api.waitFor(id, state: "completed", within: 300)
            #expect(done.json["preset"] as? String == "tiny" && done.json["priority"] as? String == "high")
            let request = done.json["request"] as? [String: Any] ?? [:]
            #expect((request["transcode_options"] as? String)?.contains("width=160") == true && request["preset"] == nil, "\(request)")
            let probed = try await TestMedia.probe(try await downloaded(world, "out/tiny.mp4"))
            #expect(probed.width == 160, "\(probed)")
            // A job's overrides go on top of an adjusting preset's; a fragment preset takes none.
            let both = try await api.call(.POST, "/v1/jobs", body: #"{"input_key":"\#(key)","output_key":"out/x.mp4","preset":"tiny","overrides":{"crf":30}}"#)
            #expect(both.status == 422, "\(both.text)")
            #expect(try await api.call(.DELETE, "/v1/presets/tiny").status == 204)
            #expect(try await api.call(.GET, "/v1/presets/tiny").status == 404)
        }
    }

    @Test func deadLettersAreListedAndReplayedOverHTTP() async throws {
        try await World.with { world in
            let api = try await APIProcess(world: world)
            _ = try world.startWorker()
            let job = #"{"job_id":"dl-1","input_key":"in/later.mp4","output_key":"out/later.mp4","preset":"h264-480p","overrides":{"speed":"ultrafast"},"priority":"low"}"#
            #expect(try await api.call(.POST, "/v1/jobs", body: job).status == 201)
            _ = try await api.waitFor("dl-1", state: "failed", within: 120)
            var listed = try await api.call(.GET, "/v1/dead-letters")
            for _ in 0..<50 where (listed.json["total"] as? Int ?? 0) == 0 {
                try await Task.sleep(for: .milliseconds(200))
                listed = try await api.call(.GET, "/v1/dead-letters")
            }
            let entry = try #require((listed.json["dead_letters"] as? [[String: Any]])?.first, "\(listed.text)")
            #expect(entry["job_id"] as? String == "dl-1" && entry["error_code"] as? String == "input_not_found")
            #expect(entry["priority"] as? String == "low" && (entry["job"] as? [String: Any])?["input_key"] as? String == "in/later.mp4")
            // Listing takes nothing away.
            #expect(try await world.connection.queueInfo(world.topology.deadLetterQueue).messageCount == 1)

            try await world.upload(Stack.media("carphone_pristine.mp4"), as: "in/later.mp4")
            let replayed = try await api.call(.POST, "/v1/dead-letters/replay", body: #"{"job_ids":["dl-1","nope"]}"#)
            #expect(replayed.json["replayed"] as? [String] == ["dl-1"] && replayed.json["not_found"] as? [String] == ["nope"],
                    "\(replayed.text)")
            // The replayed copy's first message moves the record on from `failed`.
            for _ in 0..<300 where try await api.call(.GET, "/v1/jobs/dl-1").json["state"] as? String == "failed" {
                try await Task.sleep(for: .milliseconds(100))
            }
            let done = try await api.waitFor("dl-1", state: "completed", within: 300)
            #expect(done.json["priority"] as? String == "low")
            #expect(try await world.connection.queueInfo(world.topology.deadLetterQueue).messageCount == 0)
        }
    }

    private struct PutAnswer { var status: Int; var etag: String? }

    private func put(_ data: Data, to url: String) async throws -> PutAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .PUT
        request.body = .bytes(ByteBuffer(bytes: data))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        _ = try await response.body.collect(upTo: 1 << 20)
        return PutAnswer(status: Int(response.status.code), etag: response.headers.first(name: "ETag"))
    }

    private func downloaded(_ world: World, _ key: String) async throws -> String {
        let path = world.scratch + "/" + key.replacingOccurrences(of: "/", with: "_")
        _ = try await world.storage.download(key, to: path)
        return path
    }
}
