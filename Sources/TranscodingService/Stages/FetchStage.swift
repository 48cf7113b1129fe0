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
        } catch {
            throw JobFailure(storage: error, key: key, input: true)
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
            throw JobFailure(storage: error, key: key, input: true)
        }
    }
}

extension JobFailure {
    /// Maps a storage error once, for fetch and store alike; S3Error's description carries
    /// no secret or signature, so it may be shown.
    init(storage error: any Error, key: String, input: Bool) {
        if error is CancellationError {
            self.init(.internalError, "cancelled")
            return
        }
        guard let s3 = error as? S3Error else {
            self.init(.storageUnavailable, "storage request for '\(key)' failed: \(error)")
            return
        }
        if s3.isNotFound {
            self.init(input ? .inputNotFound : .storageDenied,
                      input ? "input object '\(key)' does not exist in the bucket"
                            : "the bucket does not exist or cannot be written (\(s3.code))")
        } else if s3.isAccessDenied {
            self.init(.storageDenied, "storage refused access to '\(key)' (\(s3.code)): check the worker's credentials and bucket policy")
        } else {
            self.init(.storageUnavailable, "storage kept failing for '\(key)' after retries (\(s3.code))")
        }
    }
}
