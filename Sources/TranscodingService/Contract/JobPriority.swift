/// Which jobs a free worker slot takes first. Each priority has its own jobs queue (a lane,
/// ``Topology/jobsQueue(_:)``); `normal` is the seed's queue, so a client that knows nothing
/// of priorities keeps working unchanged.
public enum JobPriority: String, Sendable, Codable, CaseIterable, Comparable {
    case high, normal, low

    /// Highest first: the order a worker asks the lanes in.
    public static let descending: [JobPriority] = [.high, .normal, .low]

    public static func < (a: JobPriority, b: JobPriority) -> Bool {
        descending.firstIndex(of: a)! > descending.firstIndex(of: b)!
    }
}
