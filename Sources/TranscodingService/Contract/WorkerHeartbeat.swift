import Foundation

/// What a worker publishes every ``interval`` on the fanout exchange `transcoding_jobs.workers`
/// (nothing is kept when nobody listens): who it is, what it runs, how busy its host is.
/// A last one with `state` `stopped` goes out when it shuts down.
public struct WorkerHeartbeat: Sendable, Codable, Equatable {
    public static let interval: Duration = .seconds(10)

    public struct Job: Sendable, Codable, Equatable {
        public var jobID: String
        public var state: ProgressMessage.State?
        public var progress: Double
        public var fps: Double?
        enum CodingKeys: String, CodingKey { case jobID = "job_id", state, progress, fps }
    }

    public var workerID: String
    public var host: String
    public var version: String
    public var pid: Int32
    public var startedAt: String
    public var timestamp: String
    /// `running`, `stopping` (finishing held jobs after SIGTERM) or `stopped`.
    public var state: String
    public var concurrency: Int
    public var jobs: [Job]
    /// The host's load average over 1, 5 and 15 minutes.
    public var load: [Double]

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id", host, version, pid, startedAt = "started_at", timestamp, state, concurrency, jobs, load
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    static func loadAverage() -> [Double] {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return [] }
        return text.split(separator: " ").prefix(3).compactMap { Double($0) }
    }
}

/// The version `transcoder --version` prints and heartbeats carry.
public enum BuildInfo {
    public static let version = "0.7.0"
}
