import Foundation
import S3
import Testing

/// Transfers against the real radosgw.
@Suite struct RoundTripTests {
    static let awkwardKeys = [
        "in put/my file (1).mp4", "vidéos/ünïcode 東京/clip.mkv",
        "a+b=c&d?e#f%g;h:i@j$k,l!m*n'o(p)q[r]s~t.bin", "already%20encoded", "deep/./dot/../x",
    ]

    @Test func smallObjectsWithAwkwardKeys() async throws {
        try await TestServer.withBucket { client, _ in
            let dir = try TempDir()
            let source = try await dir.randomFile("src", size: 100_000)
            for (i, key) in Self.awkwardKeys.enumerated() {
                try await client.upload(file: source, to: key, contentType: "video/mp4")
                let info = try await client.head(key)
                #expect(info.size == 100_000)
                #expect(info.contentType == "video/mp4")
                let target = dir.path("dl-\(i)")
                #expect(try await client.download(key, to: target) == 100_000)
                #expect(try await sha256(target) == (try await sha256(source)))
            }
            let listed = try await client.listAll().map(\.key)
            #expect(Set(listed) == Set(Self.awkwardKeys))
            #expect(try await client.listAll(prefix: "vidéos/").map(\.key) == ["vidéos/ünïcode 東京/clip.mkv"])
            try await client.delete(Self.awkwardKeys[0])
            let error = await #expect(throws: S3Error.self) { try await client.head(Self.awkwardKeys[0]) }
            #expect(error?.isNotFound == true)
            #expect(error?.isTransient == false)
            let getError = await #expect(throws: S3Error.self) { try await client.download("missing key", to: dir.path("none")) }
            #expect(getError?.isNotFound == true)
            #expect(!FileManager.default.fileExists(atPath: dir.path("none")))
            // Empty objects too.
            try await client.put([], to: "empty")
            #expect(try await client.download("empty", to: dir.path("empty")) == 0)
            #expect(try fileSize(dir.path("empty")) == 0)
        }
    }

    /// The chunked body path (what TLS endpoints use), here over plain HTTP with sendfile off.
    @Test func chunkedUploadBodiesArriveIntact() async throws {
        try await TestServer.withBucket(partSize: 5 * 1024 * 1024, concurrency: 2, sendfile: false) { client, _ in
            let dir = try TempDir()
            for (name, size) in [("multi", 11 * 1024 * 1024 + 3), ("single", 700_001)] {
                let source = try await dir.randomFile(name, size: size)
                try await client.upload(file: source, to: "chunked/\(name)")
                #expect(try await client.head("chunked/\(name)").size == Int64(size))
                let target = dir.path("\(name).out")
                #expect(try await client.download("chunked/\(name)", to: target) == Int64(size))
                #expect(try await sha256(target) == (try await sha256(source)))
            }
        }
    }

    @Test func largeObjectMultipartAndParallelRanges() async throws {
        try await TestServer.withBucket(partSize: 16 * 1024 * 1024, concurrency: 4) { client, _ in
            let dir = try TempDir()
            let size = 210 * 1024 * 1024 + 12345
            let source = try await dir.randomFile("big", size: size)
            let seen = ProgressBox()
            try await client.upload(file: source, to: "big/object.bin", progress: { seen.record($0) })
            #expect(seen.last == Int64(size))
            #expect(seen.count == 14)   // one report per part
            let info = try await client.head("big/object.bin")
            #expect(info.size == Int64(size))
            #expect(info.etag?.hasSuffix("-14\"") == true)   // multipart ETag: 14 parts
            let target = dir.path("big.out")
            #expect(try await client.download("big/object.bin", to: target) == Int64(size))
            #expect(try fileSize(target) == Int64(size))
            #expect(try await sha256(target) == (try await sha256(source)))
            // Ranged GET across a part boundary.
            let boundary = Int64(16 * 1024 * 1024)
            let bytes = try await client.get("big/object.bin", range: (boundary - 10)...(boundary + 9))
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: source))
            try handle.seek(toOffset: UInt64(boundary - 10))
            #expect(bytes == Array(handle.readData(ofLength: 20)))
            try handle.close()
            try await client.delete("big/object.bin")
            #expect(try await client.listMultipartUploads().isEmpty)
        }
    }

    @Test func listPaging() async throws {
        try await TestServer.withBucket { client, _ in
            let keys = (0..<7).map { "page/item \($0)+é" }
            for key in keys { try await client.put(Array(key.utf8), to: key) }
            try await client.put([1], to: "other/x")
            let first = try await client.listPage(prefix: "page/", maxKeys: 3)
            #expect(first.objects.count == 3)
            #expect(first.isTruncated)
            let token = try #require(first.nextContinuationToken)
            let second = try await client.listPage(prefix: "page/", continuationToken: token, maxKeys: 3)
            #expect(second.objects.map(\.key) == Array(keys[3..<6]))
            var streamed: [String] = []
            for try await object in client.list(prefix: "page/", pageSize: 2) { streamed.append(object.key) }
            #expect(streamed == keys)
            #expect(try await client.get("page/item 3+é") == Array("page/item 3+é".utf8))
            #expect(try await client.get("page/item 3+é", range: 5...8) == Array("item".utf8))
        }
    }
}

final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int64] = []
    func record(_ v: Int64) { lock.lock(); values.append(v); lock.unlock() }
    var last: Int64? { lock.lock(); defer { lock.unlock() }; return values.max() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return values.count }
}
