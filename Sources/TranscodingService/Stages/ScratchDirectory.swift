import Foundation

/// A job's own directory under the worker's scratch root, removed when the job ends
/// whatever the outcome. Object keys never become paths: files inside have fixed names.
struct ScratchDirectory: Sendable {
    let path: String

    static func create(root: String, jobID: String) throws(JobFailure) -> ScratchDirectory {
        let safe = String(jobID.unicodeScalars.prefix(40).map {
            CharacterSet.alphanumerics.contains($0) && $0.isASCII ? Character($0) : "_"
        })
        let path = (root as NSString).appendingPathComponent("job-\(safe)-\(UUID().uuidString.prefix(8))")
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw JobFailure(.internalError, "cannot create a scratch directory under \(root)")
        }
        return ScratchDirectory(path: path)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Bytes available to this process on the scratch file system.
    func freeBytes() -> Int64? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else { return nil }
        return Int64(stats.f_bavail) * Int64(stats.f_frsize)
    }
}
