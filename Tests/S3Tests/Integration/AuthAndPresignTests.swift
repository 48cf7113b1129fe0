import Foundation
import S3
import Testing

/// What radosgw must refuse, and presigned URLs used by a plain HTTP client (curl).
@Suite struct AuthAndPresignTests {
    @Test func wrongSecretIsAccessDeniedAndNotRetried() async throws {
        try await TestServer.withBucket { _, bucket in
            let secret = "wrongsecretwrongsecretwrongsecret00000000"
            let bad = S3Client(configuration: TestServer.configuration(bucket: bucket, secret: secret))
            let error = await #expect(throws: S3Error.self) { try await bad.put([1, 2, 3], to: "x") }
            try await bad.shutdown()
            #expect(error?.isAccessDenied == true)
            #expect(error?.isTransient == false)
            #expect(error?.status == 403)
            #expect(error?.code == "SignatureDoesNotMatch")
            #expect(error?.requestId?.isEmpty == false)
            #expect(error.map { !"\($0)".contains(secret) } == true)
        }
    }

    @Test func presignedPutAndGetFromCurl() async throws {
        try await TestServer.withBucket { client, _ in
            let dir = try TempDir()
            let source = try await dir.randomFile("src", size: 300_000)
            let key = "presigned/my clip é+&.mp4"
            let put = client.presignedURL(method: "PUT", key: key, expires: .seconds(300))
            let putResult = try await run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-T", source, put])
            #expect(putResult.output == "200")
            #expect(try await client.head(key).size == 300_000)
            let get = client.presignedURL(method: "GET", key: key, expires: .seconds(300))
            let out = dir.path("out")
            let getResult = try await run("/usr/bin/curl", ["-s", "-o", out, "-w", "%{http_code}", get])
            #expect(getResult.output == "200")
            #expect(try await sha256(out) == (try await sha256(source)))
        }
    }

    @Test func expiredPresignedURLIsRejected() async throws {
        try await TestServer.withBucket { client, _ in
            try await client.put(Array("hello".utf8), to: "k")
            let url = client.presignedURL(method: "GET", key: "k", expires: .seconds(1),
                                          date: Date().addingTimeInterval(-120))
            let dir = try TempDir()
            let result = try await run("/usr/bin/curl", ["-s", "-o", dir.path("body"), "-w", "%{http_code}", url])
            #expect(result.output == "403")
            let body = Array(try Data(contentsOf: URL(fileURLWithPath: dir.path("body"))))
            let error = try #require(S3Error.fromResponse(body: body, status: 403))
            #expect(error.isAccessDenied)
            #expect(error.code == "AccessDenied")
            // A fresh one works, so the 403 is the expiry.
            let fresh = client.presignedURL(method: "GET", key: "k", expires: .seconds(60))
            #expect(try await run("/usr/bin/curl", ["-s", fresh]).output == "hello")
        }
    }
}
