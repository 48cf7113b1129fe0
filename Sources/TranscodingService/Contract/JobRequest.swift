import Foundation

/// A transcoding job as clients publish it on `transcoding_jobs` (the seed's contract).
///
/// The seed's four fields are kept as they are; `preset` and `overrides` are ours.
/// Exactly one of `transcode_options` and `preset` names the work. Unknown fields are
/// ignored so that newer clients keep working with older workers.
public struct JobRequest: Sendable, Equatable, Codable {
    public var jobID: String
    public var inputKey: String
    public var outputKey: String
    /// A pipeline fragment for the video branch, e.g. `"videoconvert ! x264enc"`. Untrusted.
    public var transcodeOptions: String?
    public var preset: String?
    public var overrides: Overrides?

    /// Structured, range-checked adjustments of a preset.
    public struct Overrides: Sendable, Equatable, Codable {
        public var width: Int?
        public var height: Int?
        public var bitrate: Int?
        public var crf: Int?
        public var speed: String?
        public init(width: Int? = nil, height: Int? = nil, bitrate: Int? = nil, crf: Int? = nil, speed: String? = nil) {
            self.width = width; self.height = height; self.bitrate = bitrate; self.crf = crf; self.speed = speed
        }
    }

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", inputKey = "input_key", outputKey = "output_key"
        case transcodeOptions = "transcode_options", preset, overrides
    }

    public init(jobID: String, inputKey: String, outputKey: String, transcodeOptions: String? = nil,
                preset: String? = nil, overrides: Overrides? = nil) {
        self.jobID = jobID; self.inputKey = inputKey; self.outputKey = outputKey
        self.transcodeOptions = transcodeOptions; self.preset = preset; self.overrides = overrides
    }
}

extension JobRequest {
    static let maxKeyBytes = 1024
    static let maxJobIDBytes = 200  // it is also a topic routing key (255 max)
    static let maxOptionsBytes = 4096

    /// Decodes and validates a job body. The error names the field and says what is wrong,
    /// and carries the job id when one could be read, so the failure can be reported.
    public static func decode(_ body: some Collection<UInt8>) throws(JobFailure) -> JobRequest {
        let document: JSONValue
        do {
            document = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch {
            throw JobFailure(.invalidJob, "the job is not valid JSON")
        }
        guard case .object(let fields) = document else {
            throw JobFailure(.invalidJob, "the job must be a JSON object, not \(document.typeName)")
        }
        let jobID = try? string(fields, "job_id", max: maxJobIDBytes)
        do throws(JobFailure) {
            var job = JobRequest(
                jobID: try string(fields, "job_id", max: maxJobIDBytes),
                inputKey: try string(fields, "input_key", max: maxKeyBytes),
                outputKey: try string(fields, "output_key", max: maxKeyBytes),
                transcodeOptions: try optionalString(fields, "transcode_options", max: maxOptionsBytes),
                preset: try optionalString(fields, "preset", max: 64)
            )
            switch (job.transcodeOptions, job.preset) {
            case (nil, nil):
                throw JobFailure(.invalidJob, "the job needs 'transcode_options' (a pipeline fragment) or 'preset'")
            case (.some, .some):
                throw JobFailure(.invalidJob, "give either 'transcode_options' or 'preset', not both")
            default: break
            }
            if let raw = fields["overrides"], raw != .null {
                guard job.preset != nil else {
                    throw JobFailure(.invalidJob, "'overrides' apply to a 'preset' only")
                }
                job.overrides = try overrides(raw)
            }
            return job
        } catch var failure {
            failure.jobID = jobID
            throw failure
        }
    }

    /// The job id of a body, valid job or not, when it has a readable one.
    public static func jobID(in body: some Collection<UInt8>) -> String? {
        do { return try decode(body).jobID } catch { return error.jobID }
    }

    private static func string(_ fields: [String: JSONValue], _ name: String, max: Int) throws(JobFailure) -> String {
        guard let value = fields[name], value != .null else {
            throw JobFailure(.invalidJob, "field '\(name)' is missing")
        }
        guard case .string(let text) = value else {
            throw JobFailure(.invalidJob, "field '\(name)' must be a string, not \(value.typeName)")
        }
        guard !text.allSatisfy(\.isWhitespace) else {
            throw JobFailure(.invalidJob, "field '\(name)' is empty")
        }
        guard text.utf8.count <= max else {
            throw JobFailure(.invalidJob, "field '\(name)' is longer than \(max) bytes")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw JobFailure(.invalidJob, "field '\(name)' contains control characters")
        }
        return text
    }

    private static func optionalString(_ fields: [String: JSONValue], _ name: String, max: Int) throws(JobFailure) -> String? {
        guard let value = fields[name], value != .null else { return nil }
        return try string(fields, name, max: max)
    }

    private static func overrides(_ raw: JSONValue) throws(JobFailure) -> Overrides {
        guard case .object(let fields) = raw else {
            throw JobFailure(.invalidJob, "field 'overrides' must be an object, not \(raw.typeName)")
        }
        let known = ["width", "height", "bitrate", "crf", "speed"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw JobFailure(.invalidJob, "unknown override '\(unknown)' (known: \(known.joined(separator: ", ")))")
        }
        func int(_ name: String) throws(JobFailure) -> Int? {
            guard let value = fields[name], value != .null else { return nil }
            guard case .number(let number) = value, let int = Int(exactly: number) else {
                throw JobFailure(.invalidJob, "override '\(name)' must be an integer")
            }
            return int
        }
        return Overrides(width: try int("width"), height: try int("height"), bitrate: try int("bitrate"),
                         crf: try int("crf"), speed: try optionalString(fields, "speed", max: 32))
    }
}
