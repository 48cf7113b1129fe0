import Foundation
import Testing
@testable import S3

/// The signer against AWS's generic SigV4 vectors and against botocore's S3 signing.
@Suite struct SignerFixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static let suiteNames = [
        "get-vanilla", "get-vanilla-query-order-key-case", "get-unreserved", "get-utf8",
        "get-vanilla-with-session-token", "post-header-key-sort", "get-vanilla-query-unreserved",
        "post-vanilla-query", "get-header-value-trim",
    ]

    static func date(_ amz: String) -> Date {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.date(from: amz)!
    }

    @Test(arguments: suiteNames)
    func awsTestSuite(name: String) throws {
        let dir = Self.fixtures.appendingPathComponent("aws4_testsuite/\(name)")
        func read(_ ext: String) throws -> String {
            try String(contentsOf: dir.appendingPathComponent("\(name).\(ext)"), encoding: .utf8)
                .replacingOccurrences(of: "\r", with: "")
        }
        let lines = try read("req").components(separatedBy: "\n")
        let requestLine = lines[0].components(separatedBy: " ")
        let method = requestLine[0]
        let target = requestLine[1..<(requestLine.count - 1)].joined(separator: " ")
        let pathPart = target.components(separatedBy: "?")[0]
        let queryPart = target.contains("?") ? String(target[target.index(after: target.firstIndex(of: "?")!)...]) : ""
        let query = queryPart.isEmpty ? [] : queryPart.components(separatedBy: "&").map { pair -> (name: String, value: String) in
            let kv = pair.components(separatedBy: "=")
            return (S3URIEncoding.decode(kv[0]), S3URIEncoding.decode(kv.count > 1 ? kv[1] : ""))
        }
        var host = ""
        var amzDate = ""
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() where line.contains(":") {
            let idx = line.firstIndex(of: ":")!
            let name = String(line[..<idx]), value = String(line[line.index(after: idx)...])
            switch name.lowercased() {
            case "host": host = value
            case "x-amz-date": amzDate = value
            default: headers.append((name, value))
            }
        }
        let creq = try read("creq")
        let token = creq.components(separatedBy: "\n").first { $0.hasPrefix("x-amz-security-token:") }
            .map { String($0.dropFirst("x-amz-security-token:".count)) }
        let signer = S3Signer(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                              sessionToken: token, region: "us-east-1", service: "service")
        let signed = signer.sign(S3SigningRequest(method: method, host: host, path: pathPart, query: query, headers: headers),
                                 payloadHash: S3Signer.emptyPayloadHash, date: Self.date(amzDate), pathMode: .generic)
        #expect(signed.canonicalRequest == creq)
        #expect(signed.stringToSign == (try read("sts")))
        #expect(signed.authorization == (try read("authz")))
    }

    struct BotocoreFile: Decodable {
        var access_key: String
        var secret_key: String
        var cases: [Case]
    }

    struct Case: Decodable, CustomTestStringConvertible {
        var name: String
        var method: String
        var bucket: String
        var key: String?
        var style: String
        var endpoint: String?
        var query: [[String]]
        var headers: [[String]]
        var payload: String
        var presign_expires: Int?
        var session_token: String?
        var date: String
        var canonical_request: String
        var string_to_sign: String
        var signature: String
        var authorization: String?
        var url: String?
        var testDescription: String { name }
    }

    static func botocore() throws -> BotocoreFile {
        let data = try Data(contentsOf: fixtures.appendingPathComponent("s3_sigv4_botocore.json"))
        return try JSONDecoder().decode(BotocoreFile.self, from: data)
    }

    static let botocoreCases: [Case] = (try? botocore().cases) ?? []

    @Test func botocoreFixturesLoaded() throws {
        #expect(try Self.botocore().cases.count >= 40)
    }

    /// Builds the request the way the client does (key encoding, addressing) and signs it.
    @Test(arguments: botocoreCases)
    func botocoreS3(_ c: Case) async throws {
        let file = try Self.botocore()
        let config = S3Configuration(accessKeyId: file.access_key, secretAccessKey: file.secret_key,
                                     sessionToken: c.session_token, region: "us-east-1",
                                     endpoint: c.style == "path" ? c.endpoint : nil, bucket: c.bucket)
        let client = S3Client(configuration: config)
        let endpoint = S3Client.endpoint(for: config)
        // The fixtures sign virtual-hosted AWS requests against the global endpoint.
        let host = c.headers.first { $0[0] == "Host" }![1]
        if c.style == "path" { #expect(endpoint.host == host) }
        let path = client.path(for: c.key)
        let signer = client.signer
        let request = S3SigningRequest(method: c.method, host: host, path: path,
                                       query: c.query.map { ($0[0], $0[1]) },
                                       headers: c.headers.filter { $0[0] != "Host" }.map { ($0[0], $0[1]) })
        if let expires = c.presign_expires {
            let presigned = signer.presign(request, expires: expires, date: Self.date(c.date))
            #expect(presigned.canonicalRequest == c.canonical_request)
            #expect(presigned.stringToSign == c.string_to_sign)
            #expect(presigned.signature == c.signature)
            #expect(c.url!.hasSuffix("X-Amz-Signature=" + presigned.signature))
            if c.style == "path" {
                let url = client.presignedURL(method: c.method, key: c.key!, expires: .seconds(expires), date: Self.date(c.date))
                #expect(Set(url.split(separator: "?")[1].split(separator: "&")) == Set(c.url!.split(separator: "?")[1].split(separator: "&")))
                #expect(url.split(separator: "?")[0] == c.url!.split(separator: "?")[0])
            }
        } else {
            let signed = signer.sign(request, payloadHash: c.payload, date: Self.date(c.date))
            #expect(signed.canonicalRequest == c.canonical_request)
            #expect(signed.stringToSign == c.string_to_sign)
            #expect(signed.signature == c.signature)
            #expect(signed.authorization == c.authorization)
        }
        try await client.shutdown()
    }

    @Test func keyEncodingFollowsS3Rules() {
        #expect(S3URIEncoding.encodePath("dir/my file (1).mp4") == "dir/my%20file%20%281%29.mp4")
        #expect(S3URIEncoding.encodePath("already%20encoded") == "already%2520encoded")
        #expect(S3URIEncoding.encodePath("é~_-.") == "%C3%A9~_-.")
        #expect(S3URIEncoding.encode("a/b+c") == "a%2Fb%2Bc")
        #expect(S3URIEncoding.decode("a%2Fb%2Bc%C3%A9") == "a/b+cé")
    }

    @Test func secretsStayOutOfDescriptions() {
        let config = S3Configuration(accessKeyId: "AKIAX", secretAccessKey: "topsecret", sessionToken: "tok3n", bucket: "b")
        #expect(!config.description.contains("topsecret"))
        #expect(!config.description.contains("tok3n"))
    }
}
