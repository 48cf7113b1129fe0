import CRabbitMQ
import Foundation

extension CArena {
    func properties(_ p: MessageProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: Int32 = AMQP_BASIC_DELIVERY_MODE_FLAG
        c.delivery_mode = p.persistent ? 2 : 1
        if let v = p.contentType { flags |= AMQP_BASIC_CONTENT_TYPE_FLAG; c.content_type = bytes(v) }
        if let v = p.contentEncoding { flags |= AMQP_BASIC_CONTENT_ENCODING_FLAG; c.content_encoding = bytes(v) }
        if !p.headers.isEmpty { flags |= AMQP_BASIC_HEADERS_FLAG; c.headers = table(p.headers) }
        if let v = p.priority { flags |= AMQP_BASIC_PRIORITY_FLAG; c.priority = v }
        if let v = p.correlationId { flags |= AMQP_BASIC_CORRELATION_ID_FLAG; c.correlation_id = bytes(v) }
        if let v = p.replyTo { flags |= AMQP_BASIC_REPLY_TO_FLAG; c.reply_to = bytes(v) }
        if let v = p.expiration { flags |= AMQP_BASIC_EXPIRATION_FLAG; c.expiration = bytes(v) }
        if let v = p.messageId { flags |= AMQP_BASIC_MESSAGE_ID_FLAG; c.message_id = bytes(v) }
        if let v = p.timestamp {
            flags |= AMQP_BASIC_TIMESTAMP_FLAG
            c.timestamp = UInt64(max(0, v.timeIntervalSince1970.rounded(.down)))
        }
        if let v = p.type { flags |= AMQP_BASIC_TYPE_FLAG; c.type = bytes(v) }
        if let v = p.userId { flags |= AMQP_BASIC_USER_ID_FLAG; c.user_id = bytes(v) }
        if let v = p.appId { flags |= AMQP_BASIC_APP_ID_FLAG; c.app_id = bytes(v) }
        c._flags = amqp_flags_t(flags)
        return c
    }
}

extension MessageProperties {
    /// Copies a decoded header frame into Swift memory.
    init(_ c: amqp_basic_properties_t) {
        let f = Int32(truncatingIfNeeded: c._flags)
        func has(_ flag: Int32) -> Bool { f & flag != 0 }
        self.init(
            contentType: has(AMQP_BASIC_CONTENT_TYPE_FLAG) ? c.content_type.string : nil,
            contentEncoding: has(AMQP_BASIC_CONTENT_ENCODING_FLAG) ? c.content_encoding.string : nil,
            headers: has(AMQP_BASIC_HEADERS_FLAG) ? AMQPTable(c.headers) : [:],
            correlationId: has(AMQP_BASIC_CORRELATION_ID_FLAG) ? c.correlation_id.string : nil,
            replyTo: has(AMQP_BASIC_REPLY_TO_FLAG) ? c.reply_to.string : nil,
            messageId: has(AMQP_BASIC_MESSAGE_ID_FLAG) ? c.message_id.string : nil,
            priority: has(AMQP_BASIC_PRIORITY_FLAG) ? c.priority : nil,
            expiration: has(AMQP_BASIC_EXPIRATION_FLAG) ? c.expiration.string : nil,
            persistent: has(AMQP_BASIC_DELIVERY_MODE_FLAG) && c.delivery_mode == 2,
            timestamp: has(AMQP_BASIC_TIMESTAMP_FLAG) ? Date(timeIntervalSince1970: TimeInterval(c.timestamp)) : nil,
            type: has(AMQP_BASIC_TYPE_FLAG) ? c.type.string : nil,
            appId: has(AMQP_BASIC_APP_ID_FLAG) ? c.app_id.string : nil,
            userId: has(AMQP_BASIC_USER_ID_FLAG) ? c.user_id.string : nil)
    }
}
