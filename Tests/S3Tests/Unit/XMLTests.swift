import Foundation
import Testing
@testable import S3

/// Decoding of S3's XML answers from fixed documents.
@Suite struct XMLTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(name)")
        return Array(try Data(contentsOf: url))
    }

    @Test func errorDocumentBecomesTypedError() throws {
        let error = try #require(S3XML.error(from: try Self.fixture("error_nosuchkey.xml"), status: 404,
                                             requestId: "header-id", key: "fallback"))
        #expect(error.code == "NoSuchKey")
        #expect(error.message == "The specified key does not exist.")
        #expect(error.key == "in put/é & clip.mp4")
        #expect(error.requestId == "tx000000abc-0060-default")
        #expect(error.status == 404)
        #expect(error.isNotFound)
        #expect(!error.isTransient)
        #expect(!error.isAccessDenied)
        #expect(error.description.contains("NoSuchKey"))
    }

    @Test func errorInsideA200IsTransient() throws {
        let error = try #require(S3XML.error(from: try Self.fixture("complete_error_in_200.xml"), status: 200,
                                             requestId: nil, key: "k"))
        #expect(error.code == "InternalError")
        #expect(error.isTransient)
    }

    @Test func notAnErrorDocument() throws {
        #expect(S3XML.error(from: try Self.fixture("list_page.xml"), status: 200, requestId: nil, key: nil) == nil)
        #expect(S3XML.error(from: Array("<html>oops".utf8), status: 502, requestId: nil, key: nil) == nil)
    }

    @Test func classification() {
        #expect(S3Error(code: "SignatureDoesNotMatch", message: "", status: 403).isAccessDenied)
        #expect(S3Error(code: "InvalidAccessKeyId", message: "", status: 403).isAccessDenied)
        #expect(S3Error(code: "SlowDown", message: "", status: 503).isTransient)
        #expect(S3Error(code: "ConnectionError", message: "").isTransient)
        #expect(!S3Error(code: "InvalidArgument", message: "", status: 400).isTransient)
        #expect(S3Error(code: "NotFound", message: "", status: 404).isNotFound)
    }

    @Test func listPageWithURLEncodedKeys() throws {
        let page = try S3XML.listPage(try Self.fixture("list_page.xml"))
        #expect(page.isTruncated)
        #expect(page.nextContinuationToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        #expect(page.objects.map(\.key) == ["in put/a+b.mp4", "in put/été.mkv"])
        #expect(page.objects.map(\.size) == [1_048_576, 20_971_520])
        #expect(page.objects[0].etag == "\"9b2cf535f27731c974343645a3985328\"")
        #expect(page.objects[0].lastModified == Date(timeIntervalSince1970: 1_714_558_830.123))
        #expect(page.commonPrefixes == ["in put/sub/"])
    }

    @Test func lastListPage() throws {
        let page = try S3XML.listPage(try Self.fixture("list_last_page.xml"))
        #expect(!page.isTruncated)
        #expect(page.nextContinuationToken == nil)
        #expect(page.objects.map(\.key) == ["plain key & more"])
        #expect(page.objects[0].size == 0)
    }

    @Test func multipartUploadListing() throws {
        let result = try S3XML.multipartUploads(try Self.fixture("list_multipart_uploads.xml"))
        #expect(result.uploads == [S3MultipartUpload(key: "big.mkv", uploadId: "2~xyz")])
        #expect(result.nextKey == nil)
    }

    @Test func completeBodyEscapesETags() {
        let body = S3XML.completeMultipartBody(etags: ["\"a\"", "\"b\""])
        #expect(body.contains("<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>"))
        #expect(body.contains("<Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part>"))
    }

    @Test func malformedListIsAnError() {
        #expect(throws: S3Error.self) { try S3XML.listPage(Array("<Error/>".utf8)) }
    }

    @Test func configurationFromEnvironment() throws {
        let env = ["AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "S3_BUCKET_NAME": "b",
                   "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:7480/"]
        let config = try S3Configuration.fromEnvironment(env)
        #expect(config.region == "us-east-1")
        #expect(config.endpoint == "http://127.0.0.1:7480")
        #expect(config.sessionToken == nil)
        #expect(S3Client.endpoint(for: config).host == "127.0.0.1:7480")
        #expect(S3Client.endpoint(for: config).bucketPath == "/b")
        var missing = env
        missing["S3_BUCKET_NAME"] = nil
        let error = #expect(throws: S3Error.self) { try S3Configuration.fromEnvironment(missing) }
        #expect(error?.message.contains("S3_BUCKET_NAME") == true)
        let aws = S3Configuration(accessKeyId: "a", secretAccessKey: "s", region: "eu-west-1", bucket: "media")
        #expect(S3Client.endpoint(for: aws).host == "media.s3.eu-west-1.amazonaws.com")
    }
}
