import S3
import Transcoding

/// Stage 3: the output file to its key. S3 makes an object visible only once a PUT or a
/// multipart completion succeeds, so a reader sees the old output, the whole new one, or
/// none: a duplicate delivery of a finished job cannot leave a torn object.
struct StoreStage: Sendable {
    let storage: S3Client

    func run(file: String, key: String, contentType: String? = nil,
             progress: @escaping @Sendable (Int64) -> Void) async throws(JobFailure) -> Int64 {
        do {
            return try await storage.upload(file: file, to: key, contentType: contentType ?? Container.forOutputKey(key).mimeType, progress: progress)
        } catch {
            throw JobFailure(storage: error, key: key, input: false, bucket: storage.configuration.bucket)
        }
    }
}

extension Container {
    var mimeType: String {
        switch self {
        case .mp4: "video/mp4"
        case .mov: "video/quicktime"
        case .mkv: "video/x-matroska"
        case .webm: "video/webm"
        case .ts: "video/mp2t"
        case .ogg: "audio/ogg"
        }
    }
}
