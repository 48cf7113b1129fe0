import Foundation

/// A value of an AMQP field table: queue arguments, message headers, `x-death` entries.
///
/// Integers of every width decode to ``int(_:)`` and floats to ``double(_:)``, so callers
/// match on one case; ``int(_:)`` encodes as a signed 64-bit `l`, which RabbitMQ accepts for
/// every numeric argument (`x-max-length`, `x-delivery-limit`, `x-message-ttl`, ...).
public enum AMQPValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case array([AMQPValue])
    case table([String: AMQPValue])
    /// Second precision on the wire.
    case timestamp(Date)
    /// A long string that is not valid UTF-8, or an explicit byte array.
    case bytes([UInt8])
    case void
}

/// Arguments and headers, as the broker sees them.
public typealias AMQPTable = [String: AMQPValue]

extension AMQPValue {
    /// The integer, whatever width the peer chose.
    public var intValue: Int64? { if case .int(let v) = self { v } else { nil } }
    public var stringValue: String? {
        switch self {
        case .string(let s): s
        case .bytes(let b): String(decoding: b, as: UTF8.self)
        default: nil
        }
    }
    public var arrayValue: [AMQPValue]? { if case .array(let a) = self { a } else { nil } }
    public var tableValue: AMQPTable? { if case .table(let t) = self { t } else { nil } }
    public var dateValue: Date? { if case .timestamp(let d) = self { d } else { nil } }
}

extension AMQPValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: AMQPValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, AMQPValue)...) {
        self = .table(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
