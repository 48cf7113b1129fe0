/// The pure part of ``AMQPConfiguration/init(url:)``, kept apart so it is unit-testable.
enum URLParser {
    static func parse(_ url: String) throws -> AMQPConfiguration {
        func fail(_ what: String) -> AMQPError {
            AMQPError(.invalidConfiguration,
                      "invalid AMQP URL: \(what); expected amqp[s]://user:password@host:port/vhost?heartbeat=N")
        }
        guard let schemeEnd = url.range(of: "://") else { throw fail("missing scheme") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "amqp" || scheme == "amqps" else { throw fail("scheme '\(scheme)' is not amqp or amqps") }
        var rest = Substring(url[schemeEnd.upperBound...])
        var query = Substring("")
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var path: Substring? = nil
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var user = "guest", password = "guest"
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                user = try decode(userinfo[..<colon], fail("bad escape in user"))
                password = try decode(userinfo[userinfo.index(after: colon)...], fail("bad escape in password"))
            } else {
                user = try decode(userinfo, fail("bad escape in user"))
                password = ""
            }
        }
        var host = "localhost"
        var port: Int? = nil
        if rest.hasPrefix("[") {  // IPv6 literal
            guard let close = rest.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") { port = Int(rest.dropFirst()); if port == nil { throw fail("bad port") } }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else {
                throw fail("bad port '\(rest[rest.index(after: colon)...])'")
            }
            port = p
        } else if !rest.isEmpty {
            host = String(rest)
        }
        if host.isEmpty { host = "localhost" }
        var vhost = "/"
        if let path, !path.isEmpty {
            vhost = try decode(path, fail("bad escape in vhost"))
        }
        var config = AMQPConfiguration(host: host, port: port, user: user, password: password, vhost: vhost,
                                       tls: scheme == "amqps" ? .init() : nil)
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1)
            let key = String(kv[0])
            let value = kv.count > 1 ? try decode(kv[1], fail("bad escape in '\(key)'")) : ""
            switch key {
            case "heartbeat":
                guard let n = Int(value), n >= 0 else { throw fail("heartbeat must be whole seconds >= 0") }
                config.heartbeat = .seconds(n)
            case "connection_timeout":
                guard let n = Int(value), n > 0 else { throw fail("connection_timeout must be milliseconds > 0") }
                config.connectTimeout = .milliseconds(n)
            case "cacertfile":
                config.tls?.caCertificatePath = value
            case "certfile":
                config.tls?.certificatePath = value
            case "keyfile":
                config.tls?.keyPath = value
            case "verify":
                switch value {
                case "verify_peer": config.tls?.verifyPeer = true
                case "verify_none": config.tls?.verifyPeer = false
                default: throw fail("verify must be verify_peer or verify_none")
                }
            case "name", "connection_name":
                config.connectionName = value
            default:
                break  // other clients' options (channel_max, auth_mechanism, ...) are ignored
            }
        }
        if config.tls == nil, query.contains("cacertfile") || query.contains("verify=") {
            throw fail("TLS options need the amqps scheme")
        }
        return config
    }

    static func decode(_ s: Substring, _ error: @autoclosure () -> AMQPError) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let c = it.next() {
            if c == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hex(h), let lv = hex(l) else { throw error() }
                bytes.append(hv << 4 | lv)
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                let hexDigits = Array("0123456789abcdef")
                out += "%\(hexDigits[Int(b >> 4)])\(hexDigits[Int(b & 0xf)])"
            }
        }
        return out
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
