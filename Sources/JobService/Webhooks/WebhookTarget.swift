#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Where a webhook may go. Targets that resolve to loopback, link-local, private,
/// shared, multicast or reserved addresses are refused unless the operator allows them
/// (`TRANSCODER_API_WEBHOOK_ALLOW_PRIVATE`), so a job cannot make the API probe the
/// network it runs in. Checked when the job is submitted and again before each delivery
/// (a name may resolve elsewhere later).
enum WebhookTarget {
    struct Refused: Error, CustomStringConvertible { var description: String }

    static func check(_ text: String, allowPrivate: Bool) throws -> URL {
        guard text.utf8.count <= 2048, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty else {
            throw Refused(description: "webhook.url must be an http or https URL with a host (at most 2048 bytes)")
        }
        guard url.user == nil, url.password == nil else { throw Refused(description: "webhook.url must not hold credentials") }
        if allowPrivate { return url }
        let addresses = resolve(host)
        guard !addresses.isEmpty else { throw Refused(description: "webhook.url's host '\(host)' does not resolve") }
        if let inside = addresses.first(where: isInternal) {
            throw Refused(description: "webhook.url's host '\(host)' resolves to \(describe(inside)), an internal address; "
                + "the API's operator can allow such targets with TRANSCODER_API_WEBHOOK_ALLOW_PRIVATE=true")
        }
        return url
    }

    /// Every address the name resolves to, as raw bytes (4 or 16).
    static func resolve(_ host: String) -> [[UInt8]] {
        let name = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var out: [[UInt8]] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let info = next {
            if info.pointee.ai_family == AF_INET, let address = info.pointee.ai_addr {
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    withUnsafeBytes(of: v4.pointee.sin_addr.s_addr) { out.append(Array($0)) }
                }
            } else if info.pointee.ai_family == AF_INET6, let address = info.pointee.ai_addr {
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    withUnsafeBytes(of: v6.pointee.sin6_addr) { out.append(Array($0)) }
                }
            }
            next = info.pointee.ai_next
        }
        return out
    }

    /// Loopback, unspecified, private (RFC 1918, ULA), shared (CGNAT), link-local,
    /// benchmarking, multicast and reserved ranges; IPv4-mapped IPv6 as its IPv4.
    static func isInternal(_ address: [UInt8]) -> Bool {
        if address.count == 16 {
            if address[0..<10].allSatisfy({ $0 == 0 }) && address[10] == 0xff && address[11] == 0xff {
                return isInternal(Array(address[12..<16]))
            }
            if address.allSatisfy({ $0 == 0 }) || address == [UInt8](repeating: 0, count: 15) + [1] { return true }
            if address[0] & 0xfe == 0xfc { return true }                      // fc00::/7 unique local
            if address[0] == 0xfe && address[1] & 0xc0 == 0x80 { return true } // fe80::/10 link-local
            if address[0] == 0xff { return true }                              // multicast
            if address[0] == 0x20 && address[1] == 0x01 && address[2] == 0x0d && address[3] == 0xb8 { return true } // documentation
            return false
        }
        guard address.count == 4 else { return true }
        let (a, b) = (address[0], address[1])
        return a == 0 || a == 10 || a == 127 || a >= 224
            || (a == 100 && b & 0xc0 == 64)        // 100.64/10 shared
            || (a == 169 && b == 254)              // link-local, cloud metadata
            || (a == 172 && b & 0xf0 == 16)        // 172.16/12
            || (a == 192 && b == 168)
            || (a == 192 && b == 0 && address[2] == 0)  // 192.0.0/24 protocol assignments
            || (a == 198 && b & 0xfe == 18)        // 198.18/15 benchmarking
    }

    static func describe(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: address.count, by: 2).map { String(format: "%x", Int(address[$0]) << 8 | Int(address[$0 + 1])) }
            .joined(separator: ":")
    }
}
