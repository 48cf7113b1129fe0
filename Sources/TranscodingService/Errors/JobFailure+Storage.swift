import S3

extension JobFailure {
    /// Maps a storage error once, for fetch and store alike, into a code and a reason that
    /// names the key, the bucket and the worker's setting to fix (``ErrorAdvice``).
    init(storage error: any Error, key: String, input: Bool, bucket: String) {
        if error is CancellationError {
            self.init(.internalError, "cancelled")
            return
        }
        guard let s3 = error as? S3Error else {
            self.init(.storageUnavailable, "storage request for '\(key)' in bucket '\(bucket)' failed "
                        + "(\(ErrorAdvice.redactURLPasswords(S3Error.oneLine(String(describing: error))))): check the storage, then replay the job (transcoder dlq replay)")
            return
        }
        if input && s3.isNotFound && !s3.isNoSuchBucket {
            self.init(.inputNotFound, "input object '\(key)' does not exist in bucket '\(s3.bucket ?? bucket)': "
                        + "upload it there or fix the job's input_key")
            return
        }
        let advice = ErrorAdvice.storage(s3, bucket: bucket, worker: true)
        self.init(s3.isNotFound || s3.isAccessDenied ? .storageDenied : .storageUnavailable, advice.sentence)
    }
}
