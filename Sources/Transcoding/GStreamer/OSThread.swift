import CGStreamer
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs blocking GStreamer calls on a fresh OS thread, never on Swift's cooperative pool.
/// A bare pthread rather than Foundation's `Thread`: the engine stays off full Foundation,
/// whose ICU data costs every process that links it about 7 MB of RSS.
enum OSThread {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(TranscodeError) -> T) async throws(TranscodeError) -> T {
        try await result(body).get()
    }

    static func result<T: Sendable>(_ body: @escaping @Sendable () throws(TranscodeError) -> T) async -> Result<T, TranscodeError> {
        await withCheckedContinuation { continuation in
            let work = Work {
                do throws(TranscodeError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if !start(work) {
                continuation.resume(returning: .failure(TranscodeError(.encoderFailure, "The media engine could not start a thread.")))
            }
        }
    }

    private final class Work {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private static func start(_ work: Work) -> Bool {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 4 << 20)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(work).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let rc = pthread_create(&thread, &attributes, { context in
            cgst_name_thread("transcoding")
            Unmanaged<Work>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        if rc != 0 { Unmanaged<Work>.fromOpaque(context).release() }
        return rc == 0
    }
}
