import Foundation

/// A job's own directory under the worker's scratch root, removed when the job ends
/// whatever the outcome. Object keys never become paths: files inside have fixed names.
struct ScratchDirectory: Sendable {
    let path: String

    static func create(root: String, jobID: String) throws(JobFailure) -> ScratchDirectory {
        let safe = String(jobID.unicodeScalars.prefix(40).map {
            CharacterSet.alphanumerics.contains($0) && $0.isASCII ? Character($0) : "_"
        })
        // The pid in the name lets a later start remove what a killed worker left behind.
        let path = (root as NSString).appendingPathComponent("job-\(getpid())-\(safe)-\(UUID().uuidString.prefix(8))")
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw JobFailure(.internalError, "cannot create a scratch directory under \(root)")
        }
        return ScratchDirectory(path: path)
    }

    /// Removes job directories of workers that are no longer running (killed mid-job);
    /// workers sharing the root keep theirs.
    static func removeOrphans(root: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        var removed = 0
        for name in names where name.hasPrefix("job-") {
            let parts = name.split(separator: "-")
            guard parts.count > 2, let pid = Int32(parts[1]), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if (try? FileManager.default.removeItem(atPath: (root as NSString).appendingPathComponent(name))) != nil { removed += 1 }
        }
        return removed
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
