/// A failure of the AMQP client: what happened, and what to do about it.
///
/// Descriptions never contain the password of the connection URL.
public struct AMQPError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable, Hashable {
        case invalidConfiguration
        case authenticationFailed
        /// Login worked but the broker would not open the vhost: it does not exist, or the
        /// user has no permissions on it.
        case vhostRefused
        case unreachable
        case tls
        case accessRefused
        case notFound
        case preconditionFailed
        case resourceLocked
        /// The connection closed (or was lost) before the operation finished.
        case connectionClosed
        /// An ack/nack/reject for a delivery whose channel or connection is gone; the broker
        /// has requeued the message already, so do not retry the ack.
        case deliveryGone
        /// The broker refused responsibility for a published message.
        case nacked
        /// A `mandatory` publish matched no queue.
        case unroutable
        /// The broker cancelled a consumer (its queue was deleted, for example).
        case consumerCancelled
        case timeout
        case protocolError
    }

    public var code: Code
    public var message: String
    /// The AMQP reply code from the broker (406, 403, ...) when there was one.
    public var replyCode: UInt16?

    public init(_ code: Code, _ message: String, replyCode: UInt16? = nil) {
        self.code = code
        self.message = message
        self.replyCode = replyCode
    }

    /// The message alone: it already says what happened and what to do; ``code`` is for code.
    public var description: String { message }
}
