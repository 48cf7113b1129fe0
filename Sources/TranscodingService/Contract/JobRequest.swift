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
    /// Several outputs from one decode; then `outputKey` names the job's manifest (docs/messages.md).
    public var outputs: [Output]?
    /// Spreading one input over many workers (docs/messages.md, "One input across many workers").
    public var segmenting: Segmenting?

    public struct Segmenting: Codable, Sendable, Equatable {
        public enum Mode: String, Codable, Sendable, CaseIterable { case auto, always, never }
        public var mode: Mode = .auto
        /// Target length of a part; nil: the worker's TRANSCODER_SEGMENT_SECONDS.
        public var segmentSeconds: Int?
        public static let secondsRange = 10...300
        enum CodingKeys: String, CodingKey { case mode, segmentSeconds = "segment_seconds" }
        public init(mode: Mode = .auto, segmentSeconds: Int? = nil) { self.mode = mode; self.segmentSeconds = segmentSeconds }
    }

    /// One entry of `outputs`: a file (preset or fragment), an HLS package or thumbnails.
    public struct Output: Sendable, Equatable, Codable {
        public var key: String
        public var preset: String?
        public var overrides: Overrides?
        public var transcodeOptions: String?
        public var hls: HLSPackaging?
        public var thumbnails: Thumbnails?

        public struct HLSPackaging: Sendable, Equatable, Codable {
            public var segmentSeconds: Int?
            enum CodingKeys: String, CodingKey { case segmentSeconds = "segment_seconds" }
            public init(segmentSeconds: Int? = nil) { self.segmentSeconds = segmentSeconds }
        }
        public struct Thumbnails: Sendable, Equatable, Codable {
            public var posterAt: Double?
            public var spriteIntervalSeconds: Double?
            public var width: Int?
            enum CodingKeys: String, CodingKey {
                case posterAt = "poster_at", spriteIntervalSeconds = "sprite_interval_seconds", width
            }
            public init(posterAt: Double? = nil, spriteIntervalSeconds: Double? = nil, width: Int? = nil) {
                self.posterAt = posterAt; self.spriteIntervalSeconds = spriteIntervalSeconds; self.width = width
            }
        }
        enum CodingKeys: String, CodingKey {
            case key, preset, overrides, transcodeOptions = "transcode_options", hls, thumbnails
        }
        public init(key: String, preset: String? = nil, overrides: Overrides? = nil, transcodeOptions: String? = nil,
                    hls: HLSPackaging? = nil, thumbnails: Thumbnails? = nil) {
            self.key = key; self.preset = preset; self.overrides = overrides; self.transcodeOptions = transcodeOptions
            self.hls = hls; self.thumbnails = thumbnails
        }
        /// HLS and thumbnails entries name a prefix; a file entry names an object.
        public var isPrefix: Bool { hls != nil || thumbnails != nil }
    }

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
        case transcodeOptions = "transcode_options", preset, overrides, outputs, segmenting
    }

    public init(jobID: String, inputKey: String, outputKey: String, transcodeOptions: String? = nil,
                preset: String? = nil, overrides: Overrides? = nil, outputs: [Output]? = nil) {
        self.jobID = jobID; self.inputKey = inputKey; self.outputKey = outputKey
        self.transcodeOptions = transcodeOptions; self.preset = preset; self.overrides = overrides
        self.outputs = outputs
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
            if let raw = fields["segmenting"], raw != .null { job.segmenting = try segmenting(raw) }
            if let raw = fields["outputs"], raw != .null {
                guard job.transcodeOptions == nil, job.preset == nil, fields["overrides"] ?? .null == .null else {
                    throw JobFailure(.invalidJob, "with 'outputs', give 'preset', 'transcode_options' and 'overrides' per output, not at the top level")
                }
                job.outputs = try outputs(raw, manifestKey: job.outputKey)
                return job
            }
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

    static let maxOutputs = 16

    private static func outputs(_ raw: JSONValue, manifestKey: String) throws(JobFailure) -> [Output] {
        guard case .array(let items) = raw, (1...maxOutputs).contains(items.count) else {
            throw JobFailure(.invalidJob, "field 'outputs' must be an array of 1 to \(maxOutputs) objects")
        }
        var result: [Output] = []
        for (n, item) in items.enumerated() {
            let at = "outputs[\(n)]"
            guard case .object(let fields) = item else { throw JobFailure(.invalidJob, "\(at) must be an object, not \(item.typeName)") }
            let known = ["key", "preset", "overrides", "transcode_options", "hls", "thumbnails"]
            if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
                throw JobFailure(.invalidJob, "\(at) has an unknown field '\(unknown)' (known: \(known.joined(separator: ", ")))")
            }
            var output = Output(key: try string(fields, "key", max: maxKeyBytes, in: at),
                                preset: try optionalString(fields, "preset", max: 64, in: at),
                                transcodeOptions: try optionalString(fields, "transcode_options", max: maxOptionsBytes, in: at))
            if let raw = fields["overrides"], raw != .null {
                guard output.preset != nil else { throw JobFailure(.invalidJob, "\(at): 'overrides' apply to a 'preset' only") }
                output.overrides = try overrides(raw)
            }
            if let raw = fields["hls"], raw != .null {
                let f = try object(raw, "\(at).hls", known: ["segment_seconds"])
                output.hls = .init(segmentSeconds: try int(f, "segment_seconds", in: "\(at).hls"))
            }
            if let raw = fields["thumbnails"], raw != .null {
                let f = try object(raw, "\(at).thumbnails", known: ["poster_at", "sprite_interval_seconds", "width"])
                output.thumbnails = .init(posterAt: try number(f, "poster_at", in: "\(at).thumbnails"),
                                          spriteIntervalSeconds: try number(f, "sprite_interval_seconds", in: "\(at).thumbnails"),
                                          width: try int(f, "width", in: "\(at).thumbnails"))
            }
            let forms = [output.preset != nil, output.transcodeOptions != nil, output.thumbnails != nil].filter { $0 }.count
            guard forms == 1 else {
                throw JobFailure(.invalidJob, "\(at) needs exactly one of 'preset', 'transcode_options' or 'thumbnails'")
            }
            guard output.hls == nil || output.thumbnails == nil else {
                throw JobFailure(.invalidJob, "\(at) cannot be both 'hls' and 'thumbnails'")
            }
            guard output.isPrefix == output.key.hasSuffix("/") else {
                throw JobFailure(.invalidJob, output.isPrefix ? "\(at).key names a prefix for hls or thumbnails, so it must end with '/'"
                                                               : "\(at).key names a file, so it must not end with '/'")
            }
            result.append(output)
        }
        let keys = result.map(\.key) + [manifestKey]
        for (i, a) in keys.enumerated() {
            for b in keys[(i + 1)...] where a == b || (a.hasSuffix("/") && b.hasPrefix(a)) || (b.hasSuffix("/") && a.hasPrefix(b)) {
                throw JobFailure(.invalidJob, "the keys '\(a)' and '\(b)' overlap (output keys and output_key, the manifest, must be distinct and not inside one another's prefix)")
            }
        }
        return result
    }

    private static func segmenting(_ raw: JSONValue) throws(JobFailure) -> Segmenting {
        let fields = try object(raw, "segmenting", known: ["mode", "segment_seconds"])
        var result = Segmenting()
        if let mode = try optionalString(fields, "mode", max: 16, in: "segmenting") {
            guard let parsed = Segmenting.Mode(rawValue: mode) else {
                throw JobFailure(.invalidJob, "'segmenting.mode' must be auto, always or never")
            }
            result.mode = parsed
        }
        if let seconds = try int(fields, "segment_seconds", in: "segmenting") {
            guard Segmenting.secondsRange.contains(seconds) else {
                throw JobFailure(.invalidJob, "'segmenting.segment_seconds' must be \(Segmenting.secondsRange.lowerBound) to \(Segmenting.secondsRange.upperBound)")
            }
            result.segmentSeconds = seconds
        }
        return result
    }

    private static func object(_ raw: JSONValue, _ name: String, known: [String]) throws(JobFailure) -> [String: JSONValue] {
        guard case .object(let fields) = raw else { throw JobFailure(.invalidJob, "field '\(name)' must be an object, not \(raw.typeName)") }
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw JobFailure(.invalidJob, "field '\(name)' has an unknown field '\(unknown)' (known: \(known.joined(separator: ", ")))")
        }
        return fields
    }

    private static func number(_ fields: [String: JSONValue], _ name: String, in parent: String) throws(JobFailure) -> Double? {
        guard let value = fields[name], value != .null else { return nil }
        guard case .number(let number) = value, number.isFinite else { throw JobFailure(.invalidJob, "'\(parent).\(name)' must be a number") }
        return number
    }

    private static func int(_ fields: [String: JSONValue], _ name: String, in parent: String) throws(JobFailure) -> Int? {
        guard let number = try number(fields, name, in: parent) else { return nil }
        guard let int = Int(exactly: number) else { throw JobFailure(.invalidJob, "'\(parent).\(name)' must be an integer") }
        return int
    }

    private static func string(_ fields: [String: JSONValue], _ name: String, max: Int, in parent: String) throws(JobFailure) -> String {
        do { return try string(fields, name, max: max) } catch { throw JobFailure(.invalidJob, "\(parent): \(error.message)") }
    }

    private static func optionalString(_ fields: [String: JSONValue], _ name: String, max: Int, in parent: String) throws(JobFailure) -> String? {
        guard let value = fields[name], value != .null else { return nil }
        return try string(fields, name, max: max, in: parent)
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
