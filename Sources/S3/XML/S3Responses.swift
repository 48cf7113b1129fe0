import Foundation

/// One object in a listing.
public struct S3ObjectSummary: Sendable, Hashable {
    public var key: String
    public var size: Int64
    public var etag: String?
    public var lastModified: Date?
}

/// One ListObjectsV2 page; pass ``nextContinuationToken`` to get the next one.
public struct S3ListPage: Sendable {
    public var objects: [S3ObjectSummary]
    public var commonPrefixes: [String]
    public var isTruncated: Bool
    public var nextContinuationToken: String?
}

/// What HEAD tells about an object.
public struct S3ObjectInfo: Sendable {
    public var size: Int64
    public var etag: String?
    public var contentType: String?
    public var lastModified: Date?
}

/// A multipart upload that was started and neither completed nor aborted.
public struct S3MultipartUpload: Sendable, Hashable {
    public var key: String
    public var uploadId: String
}

/// Decoders for S3's XML bodies; pure, so fixtures test them.
package enum S3XML {
    /// S3's `<Error>` document; `nil` when the body is not one.
    package static func error(from body: [UInt8], status: Int?, requestId: String?, key: String?) -> S3Error? {
        guard let root = S3XMLElement.parse(body), root.name == "Error" else { return nil }
        return S3Error(code: root.string("Code") ?? "Unknown",
                       message: root.string("Message") ?? "",
                       requestId: root.string("RequestId") ?? requestId,
                       key: root.string("Key") ?? key, status: status)
    }

    package static func listPage(_ body: [UInt8]) throws -> S3ListPage {
        guard let root = S3XMLElement.parse(body), root.name == "ListBucketResult" else {
            throw S3Error(code: "MalformedResponse", message: "ListObjectsV2 answer is not a ListBucketResult")
        }
        let urlEncoded = root.string("EncodingType") == "url"
        func key(_ s: String) -> String { urlEncoded ? formDecode(s) : s }
        let objects = root.all("Contents").map { c in
            S3ObjectSummary(key: key(c.string("Key") ?? ""),
                            size: Int64(c.string("Size") ?? "") ?? 0,
                            etag: c.string("ETag"),
                            lastModified: c.string("LastModified").flatMap(parseISO8601))
        }
        let prefixes = root.all("CommonPrefixes").compactMap { $0.string("Prefix").map(key) }
        return S3ListPage(objects: objects, commonPrefixes: prefixes,
                          isTruncated: root.string("IsTruncated") == "true",
                          nextContinuationToken: root.string("NextContinuationToken"))
    }

    package static func uploadId(_ body: [UInt8]) throws -> String {
        guard let root = S3XMLElement.parse(body), let id = root.string("UploadId"), !id.isEmpty else {
            throw S3Error(code: "MalformedResponse", message: "CreateMultipartUpload answer has no UploadId")
        }
        return id
    }

    package static func multipartUploads(_ body: [UInt8]) throws -> (uploads: [S3MultipartUpload], nextKey: String?, nextUploadId: String?) {
        guard let root = S3XMLElement.parse(body), root.name == "ListMultipartUploadsResult" else {
            throw S3Error(code: "MalformedResponse", message: "answer is not a ListMultipartUploadsResult")
        }
        let uploads = root.all("Upload").map {
            S3MultipartUpload(key: $0.string("Key") ?? "", uploadId: $0.string("UploadId") ?? "")
        }
        let truncated = root.string("IsTruncated") == "true"
        return (uploads, truncated ? root.string("NextKeyMarker") : nil, truncated ? root.string("NextUploadIdMarker") : nil)
    }

    /// The CompleteMultipartUpload body we send (ETags as S3 gave them, quotes included).
    package static func completeMultipartBody(etags: [String]) -> String {
        var s = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (i, etag) in etags.enumerated() {
            s += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(escape(etag))</ETag></Part>"
        }
        return s + "</CompleteMultipartUpload>"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// `encoding-type=url` answers use form encoding ('+' for space).
    static func formDecode(_ s: String) -> String {
        S3URIEncoding.decode(s.replacingOccurrences(of: "+", with: " "))
    }

    package static func parseISO8601(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }

    /// RFC 1123 dates of `Last-Modified`.
    package static func parseHTTPDate(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: s)
    }
}
