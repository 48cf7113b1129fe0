import Foundation

/// The basic properties of a message, as published and as delivered.
public struct MessageProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: AMQPTable
    public var correlationId: String?
    public var replyTo: String?
    public var messageId: String?
    /// 0...9 on a classic queue declared with `x-max-priority`; quorum queues ignore it.
    public var priority: UInt8?
    /// Per-message TTL in milliseconds, as a string (the protocol says so).
    public var expiration: String?
    /// Delivery mode 2: the broker writes the message to disk before confirming.
    public var persistent: Bool
    public var timestamp: Date?
    public var type: String?
    public var appId: String?
    public var userId: String?

    public init(contentType: String? = nil, contentEncoding: String? = nil, headers: AMQPTable = [:],
                correlationId: String? = nil, replyTo: String? = nil, messageId: String? = nil,
                priority: UInt8? = nil, expiration: String? = nil, persistent: Bool = true,
                timestamp: Date? = nil, type: String? = nil, appId: String? = nil, userId: String? = nil) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.correlationId = correlationId
        self.replyTo = replyTo
        self.messageId = messageId
        self.priority = priority
        self.expiration = expiration
        self.persistent = persistent
        self.timestamp = timestamp
        self.type = type
        self.appId = appId
        self.userId = userId
    }
}
