/// A progress report, sent at least once a second while a job runs.
public struct TranscodeProgress: Sendable, Equatable, Codable {
    /// 0...100.
    public var percent: Double
    /// Seconds of input done.
    public var position: Double
    /// Seconds of input in all, when known.
    public var duration: Double?
    /// Video frames per wall-clock second since the last report.
    public var fps: Double?
    /// Estimated seconds left.
    public var etaSeconds: Double?
    /// Video frames done so far, when the output has video.
    public var frames: Int?

    /// `percent` is 0 while `duration` is unknown: only `position` and `frames` advance then.
    public init(percent: Double, position: Double, duration: Double?, fps: Double?, etaSeconds: Double?, frames: Int? = nil) {
        self.frames = frames
        self.percent = percent
        self.position = position
        self.duration = duration
        self.fps = fps
        self.etaSeconds = etaSeconds
    }
}

/// A finished job: both files as probed, so a caller can record what was produced.
public struct TranscodeResult: Sendable, Codable {
    public let output: MediaInfo
    public let input: MediaInfo
    public let elapsed: Duration
    /// Video frames encoded, when the output has video.
    public let frames: Int?
}
