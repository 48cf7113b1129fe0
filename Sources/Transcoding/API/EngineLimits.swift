/// Bounds on what a job may ask for, so one request cannot take the worker over.
public struct EngineLimits: Sendable, Codable {
    /// Largest output width in pixels.
    public var maxWidth: Int
    /// Largest output height in pixels.
    public var maxHeight: Int
    /// Highest output frame rate in frames per second.
    public var maxFrameRate: Int
    /// Longest accepted fragment text in characters.
    public var maxFragmentLength: Int
    /// A job whose position does not move for this long is stopped as timed out.
    public var stallTimeout: Duration
    /// Whole-job ceiling, probing included.
    public var overallTimeout: Duration
    /// Timeout for one GstDiscoverer probe.
    public var probeTimeout: Duration
    /// Threads for encoders, converters and scalers; 0 means one per core.
    public var threads: Int
    /// Extra factories the fragment validator accepts. For tests only (the stall test
    /// uses `identity sleep-time=`); never fill this from job input.
    package var testOnlyAllowedFactories: Set<String> = []

    public init(
        maxWidth: Int = 7680, maxHeight: Int = 4320, maxFrameRate: Int = 120,
        maxFragmentLength: Int = 2048,
        stallTimeout: Duration = .seconds(60), overallTimeout: Duration = .seconds(3600),
        probeTimeout: Duration = .seconds(10), threads: Int = 0
    ) {
        self.maxWidth = maxWidth
        self.maxHeight = maxHeight
        self.maxFrameRate = maxFrameRate
        self.maxFragmentLength = maxFragmentLength
        self.stallTimeout = stallTimeout
        self.overallTimeout = overallTimeout
        self.probeTimeout = probeTimeout
        self.threads = threads
    }

    public static let `default` = EngineLimits()
}
