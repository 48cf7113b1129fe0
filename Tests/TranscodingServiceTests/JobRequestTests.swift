import Foundation
import Testing
@testable import TranscodingService

struct JobRequestTests {
    func decode(_ text: String) throws(JobFailure) -> JobRequest { try JobRequest.decode(Array(text.utf8)) }

    @Test func seedExampleDecodes() throws {
        let job = try decode(#"{"job_id": "job1", "input_key": "path/to/input_file", "output_key": "path/to/output_file", "transcode_options": "videoconvert ! x264enc"}"#)
        #expect(job == JobRequest(jobID: "job1", inputKey: "path/to/input_file", outputKey: "path/to/output_file",
                                  transcodeOptions: "videoconvert ! x264enc"))
        #expect(job.options == .fragment("videoconvert ! x264enc"))
    }

    @Test func segmentingDecodesAndRoundTrips() throws {
        let job = try decode(#"{"job_id": "a", "input_key": "i", "output_key": "o.mp4", "preset": "h264-720p", "segmenting": {"mode": "always", "segment_seconds": 20}}"#)
        #expect(job.segmenting == .init(mode: .always, segmentSeconds: 20))
        let defaults = try decode(#"{"job_id": "a", "input_key": "i", "output_key": "o.mp4", "preset": "h264-720p", "segmenting": {}}"#)
        #expect(defaults.segmenting == .init(mode: .auto, segmentSeconds: nil))
        #expect(try decode(#"{"job_id": "a", "input_key": "i", "output_key": "o", "preset": "p", "segmenting": null}"#).segmenting == nil)
        // What the CLI and the API send is what a worker reads.
        #expect(try JobRequest.decode(Array(try JSONEncoder().encode(job))) == job)
    }

    @Test func segmentKeysNameTheirPart() {
        let keys = SegmentKeys(jobID: "j1")
        #expect(keys.encoded("00012") == ".transcoder/jobs/j1/out/00012.mkv")
        #expect(SegmentKeys.part(of: keys.encoded("00012")) == "00012")
        #expect(SegmentKeys.part(of: keys.failure("audio")) == "audio")
        #expect(keys.source("audio").hasPrefix(keys.prefix) && keys.manifest.hasPrefix(keys.prefix))
    }

    @Test func presetWithOverridesDecodes() throws {
        let job = try decode(#"{"job_id": "a", "input_key": "i", "output_key": "o.webm", "preset": "vp9-720p", "overrides": {"width": 640, "crf": 30, "speed": "fast"}, "extra": true}"#)
        #expect(job.preset == "vp9-720p")
        #expect(job.overrides == .init(width: 640, crf: 30, speed: "fast"))
        #expect(job.options == .preset("vp9-720p", overrides: .init(width: 640, crf: 30, speed: "fast")))
    }

    @Test(arguments: [
        ("{not json", nil, "not valid JSON"),
        ("[1, 2]", nil, "must be a JSON object"),
        (#"{"input_key": "i", "output_key": "o", "preset": "p"}"#, nil, "'job_id' is missing"),
        (#"{"job_id": "j", "output_key": "o", "preset": "p"}"#, "j", "'input_key' is missing"),
        (#"{"job_id": "j", "input_key": "  ", "output_key": "o", "preset": "p"}"#, "j", "'input_key' is empty"),
        (#"{"job_id": "j", "input_key": 5, "output_key": "o", "preset": "p"}"#, "j", "'input_key' must be a string, not a number"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o"}"#, "j", "needs 'transcode_options'"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "preset": "p", "transcode_options": "x264enc"}"#, "j", "not both"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "transcode_options": ""}"#, "j", "'transcode_options' is empty"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "transcode_options": "x", "overrides": {"width": 1}}"#, "j", "apply to a 'preset' only"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "preset": "p", "overrides": {"width": 1.5}}"#, "j", "'width' must be an integer"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "preset": "p", "overrides": {"depth": 1}}"#, "j", "unknown override 'depth'"),
        (#"{"job_id": "j", "input_key": "a\u0000b", "output_key": "o", "preset": "p"}"#, "j", "control characters"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "preset": "p", "segmenting": {"mode": "sometimes"}}"#, "j", "'segmenting.mode' must be auto, always or never"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "preset": "p", "segmenting": {"segment_seconds": 5}}"#, "j", "'segmenting.segment_seconds' must be 10 to 300"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "preset": "p", "segmenting": {"segment_seconds": 30.5}}"#, "j", "must be an integer"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "preset": "p", "segmenting": {"parts": 4}}"#, "j", "unknown field 'parts'"),
        (#"{"job_id": "j", "input_key": "i", "output_key": "o", "preset": "p", "segmenting": "always"}"#, "j", "'segmenting' must be an object"),
    ] as [(String, String?, String)])
    func malformedJobsNameTheProblem(body: String, jobID: String?, reason: String) {
        do {
            _ = try decode(body)
            Issue.record("accepted: \(body)")
        } catch {
            #expect(error.code == .invalidJob)
            #expect(error.jobID == jobID)
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }

    @Test func overlongKeyIsRejected() {
        let key = String(repeating: "k", count: 1025)
        #expect(throws: JobFailure.self) { try decode(#"{"job_id": "j", "input_key": "\#(key)", "output_key": "o", "preset": "p"}"#) }
    }

    @Test func jobIDIsFoundEvenInInvalidJobs() {
        #expect(JobRequest.jobID(in: Array(#"{"job_id": "x1"}"#.utf8)) == "x1")
        #expect(JobRequest.jobID(in: Array("nope".utf8)) == nil)
    }
}

struct ProgressMessageTests {
    @Test func encodesTheSeedFieldsAndOursWithoutNulls() throws {
        var message = ProgressMessage(jobID: "job1", progress: 42.345, state: .transcoding, workerID: "w1",
                                      timestamp: Date(timeIntervalSince1970: 1_800_000_000), attempt: 1)
        message.fps = 30.5
        let object = try #require(try JSONSerialization.jsonObject(with: Data(message.encoded())) as? [String: Any])
        #expect(object["job_id"] as? String == "job1")
        #expect(object["progress"] as? Double == 42.3)
        #expect(object["state"] as? String == "transcoding")
        #expect(object["timestamp"] as? String == "2027-01-15T08:00:00.000Z")
        #expect(object["eta_seconds"] == nil)
        #expect(object["error_code"] == nil)
    }

    @Test func wholeProgressIsAnInteger() {
        let m = ProgressMessage(jobID: "job1", progress: 100, state: .completed, workerID: "w")
        #expect(String(decoding: m.encoded(), as: UTF8.self).contains(#""progress":100,"#))
    }

    @Test func unknownJobIDIsSentAsNull() throws {
        let text = String(decoding: ProgressMessage(jobID: nil, progress: 0, state: .failed, workerID: "w").encoded(), as: UTF8.self)
        #expect(text.contains(#""job_id":null"#))
    }

    @Test func progressIsClamped() {
        #expect(ProgressMessage(jobID: nil, progress: 140, state: .failed, workerID: "w").progress == 100)
        #expect(ProgressMessage(jobID: nil, progress: -3, state: .failed, workerID: "w").progress == 0)
    }
}

/// Several outputs (docs/messages.md): decoding, refusals, local names and keys.
extension JobRequestTests {
    func decodeJob(_ text: String) throws(JobFailure) -> JobRequest { try JobRequest.decode(Array(text.utf8)) }

    @Test func outputsDecodeAndMapToLocalNames() throws {
        let job = try decodeJob(#"{"job_id": "m", "input_key": "in.mov", "output_key": "out/m/manifest.json", "outputs": [{"key": "out/m/hls/", "preset": "hls-ladder", "hls": {"segment_seconds": 4}}, {"key": "out/m/small.WEBM", "preset": "vp9-720p", "overrides": {"height": 360}}, {"key": "out/m/thumbs/", "thumbnails": {"poster_at": 0.2, "sprite_interval_seconds": 10}}, {"key": "out/m/f.mkv", "transcode_options": "videoconvert ! x264enc"}]}"#)
        let outputs = try #require(job.outputs)
        #expect(outputs[0] == JobRequest.Output(key: "out/m/hls/", preset: "hls-ladder", hls: .init(segmentSeconds: 4)))
        #expect(outputs[1].overrides == JobRequest.Overrides(height: 360))
        let set = OutputSet(outputs)
        #expect(set.specs.map(\.name) == ["out1", "out2.webm", "out3", "out4.mkv"])
        #expect(set.specs[0].kind == .hls(.preset("hls-ladder", overrides: .init()), segmentSeconds: 4))
        #expect(set.specs[2].kind == .thumbnails(.init(posterAt: 0.2, spriteIntervalSeconds: 10, width: 160)))
        #expect(set.specs[3].kind == .file(.fragment("videoconvert ! x264enc")))
        #expect(set.key(of: .init(path: "out1/720p/seg00000.ts", role: .segment, size: 1), in: 0) == "out/m/hls/720p/seg00000.ts")
        #expect(set.key(of: .init(path: "out2.webm", role: .file, size: 1), in: 1) == "out/m/small.WEBM")
        #expect(OutputSet(outputs, keysAsNames: true).specs.map(\.name) == ["out/m/hls", "out/m/small.WEBM", "out/m/thumbs", "out/m/f.mkv"])
        try job.validateOptions()
    }

    @Test(arguments: [
        (#""outputs": [{"key": "a.mp4", "preset": "h264-480p"}], "preset": "h264-480p""#, "not at the top level"),
        (#""outputs": []"#, "array of 1 to 16"),
        (#""outputs": [{"key": "a.mp4", "preset": "h264-480p", "transcode_options": "x264enc"}]"#, "exactly one of"),
        (#""outputs": [{"key": "a.mp4"}]"#, "exactly one of"),
        (#""outputs": [{"key": "t/", "preset": "h264-480p", "thumbnails": {}}]"#, "exactly one of"),
        (#""outputs": [{"key": "h", "preset": "hls-ladder", "hls": {}}]"#, "must end with '/'"),
        (#""outputs": [{"key": "a.mp4/", "preset": "h264-480p"}]"#, "must not end with '/'"),
        (#""outputs": [{"key": "h/", "preset": "hls-ladder", "hls": {"segment_seconds": 4.5}}]"#, "must be an integer"),
        (#""outputs": [{"key": "h/", "preset": "hls-ladder", "hls": {"segments": 4}}]"#, "unknown field 'segments'"),
        (#""outputs": [{"key": "h/", "preset": "hls-ladder", "hls": {}}, {"key": "h/x.mp4", "preset": "h264-480p"}]"#, "overlap"),
        (#""outputs": [{"key": "o", "preset": "h264-480p"}]"#, "overlap"),
        (#""outputs": [{"key": "a.mp4", "transcode_options": "x264enc", "overrides": {"crf": 20}}]"#, "apply to a 'preset' only"),
        (#""outputs": [{"key": "a.mp4", "preset": "h264-480p", "color": 1}]"#, "unknown field 'color'"),
    ])
    func badOutputsAreInvalidJobs(_ fields: String, _ reason: String) {
        do {
            _ = try decodeJob(#"{"job_id": "j", "input_key": "i", "output_key": "o", "# + fields + "}")
            Issue.record("accepted: \(fields)")
        } catch {
            #expect(error.code == .invalidJob)
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }

    @Test func outputOptionsAreCheckedLikeTheWorkerDoes() {
        let job = JobRequest(jobID: "j", inputKey: "i", outputKey: "m.json", outputs: [
            .init(key: "h/", preset: "vp9-720p", hls: .init(segmentSeconds: 6))])
        #expect(throws: JobFailure.self) { try job.validateOptions() }
        do { try job.validateOptions() } catch { #expect(error.code == .invalidOptions) }
    }
}
