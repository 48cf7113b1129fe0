import Foundation
@testable import RabbitMQ
import Testing

@Suite struct AMQPTableCodecTests {
    /// Field-table bytes as AMQP 0-9-1 lays them out: u32 size, then per entry a short-string
    /// key, a type octet and the value (keys sorted by our encoder).
    @Test func encodesToFixedBytes() throws {
        let bytes = try AMQPTableCodec.encode([
            "x-max-length": 1000,
            "x-overflow": "reject-publish",
            "x-queue-type": "quorum",
        ])
        var expected: [UInt8] = []
        func key(_ k: String) { expected.append(UInt8(k.utf8.count)); expected += Array(k.utf8) }
        func be<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.bigEndian) { expected += $0 } }
        var body: [UInt8] = []
        swap(&body, &expected)
        key("x-max-length"); expected.append(UInt8(ascii: "l")); be(Int64(1000))
        key("x-overflow"); expected.append(UInt8(ascii: "S")); be(UInt32(14)); expected += Array("reject-publish".utf8)
        key("x-queue-type"); expected.append(UInt8(ascii: "S")); be(UInt32(6)); expected += Array("quorum".utf8)
        swap(&body, &expected)
        be(UInt32(body.count))
        expected += body
        #expect(bytes == expected)
    }

    @Test func decodesEveryKindTheBrokerSends() throws {
        // x-death as RabbitMQ writes it: an array of tables with long, longstr, timestamp, array.
        let original: AMQPTable = [
            "x-delivery-count": 3,
            "x-death": [
                [
                    "count": 1, "reason": "delivery_limit", "queue": "jobs", "exchange": "",
                    "routing-keys": ["jobs"], "time": .timestamp(Date(timeIntervalSince1970: 1_700_000_000)),
                ],
            ],
            "flag": true, "ratio": 0.5, "raw": .bytes([0, 255, 1]), "nothing": .void,
        ]
        let decoded = try AMQPTableCodec.decode(AMQPTableCodec.encode(original))
        #expect(decoded == original)
        let death = XDeath(table: try #require(decoded["x-death"]?.arrayValue?.first?.tableValue))
        #expect(death == XDeath(table: ["count": 1, "reason": "delivery_limit", "queue": "jobs", "exchange": "",
                                        "routing-keys": ["jobs"], "time": .timestamp(Date(timeIntervalSince1970: 1_700_000_000))]))
        #expect(death.reason == "delivery_limit")
        #expect(death.count == 1)
        #expect(death.routingKeys == ["jobs"])
    }

    @Test func decodesNarrowIntegersAsInt() throws {
        // 'I' (signed 32) and 's' (signed 16), which other clients send for small numbers.
        let bytes: [UInt8] = [0, 0, 0, 12, 1, 0x61, UInt8(ascii: "I"), 0xff, 0xff, 0xff, 0xfe,
                              1, 0x62, UInt8(ascii: "s"), 0, 7]
        #expect(try AMQPTableCodec.decode(bytes) == ["a": -2, "b": 7])
    }
}
