import S3

/// Stage 1: the input object into the job's scratch directory.
struct FetchStage: Sendable {
    let storage: S3Client
    let minimumFreeBytes: Int64

    /// Downloads `key`; before that checks it exists and that the scratch file system can
    /// hold it twice (input plus an output of similar size) and keep `minimumFreeBytes`.
    func run(key: String, into scratch: ScratchDirectory,
             progress: @escaping @Sendable (Double) -> Void) async throws(JobFailure) -> (path: String, size: Int64) {
        let info: S3ObjectInfo
        do {
            info = try await storage.head(key)
        } catch let error as S3Error where error.isNotFound {
            // A HEAD 404 has no body: ask the bucket itself whether it is the bucket that is missing.
            var cause: any Error = error
            do { _ = try await storage.listPage(prefix: key, maxKeys: 1) } catch let list as S3Error where list.isNoSuchBucket { cause = list } catch {}
            throw JobFailure(storage: cause, key: key, input: true, bucket: storage.configuration.bucket)
        } catch {
            throw JobFailure(storage: error, key: key, input: true, bucket: storage.configuration.bucket)
        }
        if let free = scratch.freeBytes(), free < info.size * 2 + minimumFreeBytes {
            throw JobFailure(.insufficientDisk,
                             "the worker has \(free >> 20) MiB free for an input of \(info.size >> 20) MiB; try another worker or free disk")
        }
        if info.size == 0 {
            throw JobFailure(.inputCorrupt, "input object '\(key)' is empty (0 bytes)")
        }
        let path = scratch.file("input")
        do {
            progress(0)
            let size = try await storage.download(key, to: path)
            progress(1)
            return (path, size)
        } catch {
            throw JobFailure(storage: error, key: key, input: true, bucket: storage.configuration.bucket)
        }
    }
}
