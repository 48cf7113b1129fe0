import Foundation

/// A request to cancel a job, on the stream `transcoding_jobs.cancel`: every worker reads
/// the stream from its start, so a cancel reaches the job wherever it is: running on a
/// worker (stopped within a second or two), waiting in a queue, or on a worker that starts
/// later. A cancel applies to copies of the job submitted before it (header
/// `x-submitted-at`; a copy without it always), so a job can be resubmitted after one.
public struct CancelRequest: Sendable, Codable, Equatable {
    public var jobID: String?
    /// Milliseconds since 1970, UTC.
    public var requestedAt: Int64
    public var requestedBy: String?
    /// Set only on a worker's own catch-up marker, never with `job_id`.
    public var marker: String?

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", requestedAt = "requested_at", requestedBy = "requested_by", marker
    }

    public init(jobID: String, requestedBy: String?, at date: Date = Date()) {
        self.jobID = jobID
        self.requestedAt = Self.milliseconds(date)
        self.requestedBy = requestedBy
    }

    init(marker: String) {
        self.marker = marker
        self.requestedAt = Self.milliseconds(Date())
    }

    public static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }
}
