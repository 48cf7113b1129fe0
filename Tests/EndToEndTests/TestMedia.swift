import Foundation
import Transcoding

enum TestMedia {
    static let engine = TranscodingEngine()

    static func probe(_ path: String) async throws -> MediaInfo {
        try await engine.probe(path)
    }

    /// Writes a file with `ffmpeg` (generated test clips); fails the test if ffmpeg fails.
    static func generate(_ path: String, _ args: [String]) throws {
        let result = try Stack.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"] + args + [path])
        guard result.status == 0 else { throw Timeout(description: "ffmpeg failed: \(result.output)") }
    }
}
