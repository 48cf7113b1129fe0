import CRabbitMQ
import Foundation

private func kind(_ k: amqp_field_value_kind_t) -> UInt8 { UInt8(k.rawValue) }

extension CArena {
    /// Builds an `amqp_table_t` whose memory this arena owns. Keys are sorted so that the
    /// encoding is deterministic.
    func table(_ table: AMQPTable) -> amqp_table_t {
        guard !table.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let entries = allocate(amqp_table_entry_t.self, count: table.count)
        for (i, key) in table.keys.sorted().enumerated() {
            (entries + i).initialize(to: amqp_table_entry_t(key: bytes(key), value: field(table[key]!)))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    func field(_ value: AMQPValue) -> amqp_field_value_t {
        var f = amqp_field_value_t()
        switch value {
        case .string(let s):
            f.kind = kind(AMQP_FIELD_KIND_UTF8)
            f.value.bytes = bytes(s)
        case .int(let i):
            f.kind = kind(AMQP_FIELD_KIND_I64)
            f.value.i64 = i
        case .bool(let b):
            f.kind = kind(AMQP_FIELD_KIND_BOOLEAN)
            f.value.boolean = b ? 1 : 0
        case .double(let d):
            f.kind = kind(AMQP_FIELD_KIND_F64)
            f.value.f64 = d
        case .array(let a):
            f.kind = kind(AMQP_FIELD_KIND_ARRAY)
            let entries = allocate(amqp_field_value_t.self, count: a.count)
            for (i, v) in a.enumerated() { (entries + i).initialize(to: field(v)) }
            f.value.array = amqp_array_t(num_entries: Int32(a.count), entries: a.isEmpty ? nil : entries)
        case .table(let t):
            f.kind = kind(AMQP_FIELD_KIND_TABLE)
            f.value.table = table(t)
        case .timestamp(let d):
            f.kind = kind(AMQP_FIELD_KIND_TIMESTAMP)
            f.value.u64 = UInt64(max(0, d.timeIntervalSince1970.rounded(.down)))
        case .bytes(let b):
            f.kind = kind(AMQP_FIELD_KIND_BYTES)
            f.value.bytes = bytes(b)
        case .void:
            f.kind = kind(AMQP_FIELD_KIND_VOID)
        }
        return f
    }
}

extension AMQPValue {
    /// Decodes a C field value into Swift memory (nothing keeps pointing at the frame pool).
    init(_ f: amqp_field_value_t) {
        switch Character(Unicode.Scalar(f.kind)) {
        case "t": self = .bool(f.value.boolean != 0)
        case "b": self = .int(Int64(f.value.i8))
        case "B": self = .int(Int64(f.value.u8))
        case "s": self = .int(Int64(f.value.i16))
        case "u": self = .int(Int64(f.value.u16))
        case "I": self = .int(Int64(f.value.i32))
        case "i": self = .int(Int64(f.value.u32))
        case "l": self = .int(f.value.i64)
        case "L": self = .int(Int64(truncatingIfNeeded: f.value.u64))
        case "f": self = .double(Double(f.value.f32))
        case "d": self = .double(f.value.f64)
        case "D":
            let d = f.value.decimal
            self = .double(Double(d.value) / pow(10, Double(d.decimals)))
        case "S":
            let raw = f.value.bytes.array
            if let s = String(validating: raw, as: UTF8.self) { self = .string(s) } else { self = .bytes(raw) }
        case "x": self = .bytes(f.value.bytes.array)
        case "A":
            let a = f.value.array
            self = .array((0..<Int(a.num_entries)).map { AMQPValue(a.entries[$0]) })
        case "F": self = .table(AMQPTable(f.value.table))
        case "T": self = .timestamp(Date(timeIntervalSince1970: TimeInterval(f.value.u64)))
        default: self = .void
        }
    }
}

extension AMQPTable {
    init(_ t: amqp_table_t) {
        self.init(minimumCapacity: Int(t.num_entries))
        for i in 0..<Int(t.num_entries) {
            let e = t.entries[i]
            self[e.key.string] = AMQPValue(e.value)
        }
    }
}

/// Wire encoding of tables through rabbitmq-c's own codec; used by the unit tests to check
/// our conversion against fixed bytes.
package enum AMQPTableCodec {
    package static func encode(_ table: AMQPTable) throws -> [UInt8] {
        let arena = CArena()
        var t = arena.table(table)
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset = 0
        let rc = buffer.withUnsafeMutableBytes { raw in
            amqp_encode_table(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress), &t, &offset)
        }
        guard rc == 0 else { throw AMQPError(.protocolError, "table encoding failed: \(String(cString: amqp_error_string2(rc)))") }
        return Array(buffer[..<offset])
    }

    package static func decode(_ bytes: [UInt8]) throws -> AMQPTable {
        var pool = amqp_pool_t()
        init_amqp_pool(&pool, 4096)
        defer { empty_amqp_pool(&pool) }
        var table = amqp_table_t()
        var offset = 0
        var copy = bytes
        let rc = copy.withUnsafeMutableBytes { raw in
            amqp_decode_table(amqp_bytes_t(len: raw.count, bytes: raw.baseAddress), &pool, &table, &offset)
        }
        guard rc == 0 else { throw AMQPError(.protocolError, "table decoding failed: \(String(cString: amqp_error_string2(rc)))") }
        return AMQPTable(table)
    }
}
