import Foundation

/// Runs blocking GStreamer calls on a fresh OS thread, never on Swift's cooperative pool.
enum OSThread {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(TranscodeError) -> T) async throws(TranscodeError) -> T {
        try await result(body).get()
    }

    static func result<T: Sendable>(_ body: @escaping @Sendable () throws(TranscodeError) -> T) async -> Result<T, TranscodeError> {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(TranscodeError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "transcoding"
            thread.stackSize = 4 << 20
            thread.start()
        }
    }
}
