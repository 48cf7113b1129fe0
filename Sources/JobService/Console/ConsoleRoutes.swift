import Foundation
import Hummingbird

/// The web console: static HTML, CSS and JavaScript modules (no build step) served at `/`,
/// talking only to the public `/v1` API with the same tokens. Every URL the console uses
/// is relative, so it works behind a path prefix.
struct ConsoleRoutes {
    /// Where the files are: the package's resources, or `TRANSCODER_API_CONSOLE_DIR` while
    /// developing (edited files are served without a rebuild).
    let directory: URL

    static func resourceDirectory() -> URL? {
        if let dir = ProcessInfo.processInfo.environment["TRANSCODER_API_CONSOLE_DIR"], !dir.isEmpty {
            return URL(fileURLWithPath: dir, isDirectory: true)
        }
        return Bundle.module.url(forResource: "console", withExtension: nil, subdirectory: "Resources")
    }

    static let types = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon", "json": "application/json",
    ]

    func register(on router: Router<APIContext>) {
        router.get("/") { _, _ in try file("index.html") }
        router.get("/console/{name}") { _, context in try file(try context.parameters.require("name")) }
    }

    private func file(_ name: String) throws -> Response {
        // One flat folder: no path ever leaves it.
        guard !name.contains("/"), !name.hasPrefix("."), let type = Self.types[(name as NSString).pathExtension],
              let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else {
            throw APIError.notFound("No console file '\(name)'.")
        }
        var headers: HTTPFields = [.contentType: type, .cacheControl: "no-cache"]
        headers[.init("X-Content-Type-Options")!] = "nosniff"
        if type.hasPrefix("text/html") {
            // The console runs only its own scripts and talks only to this origin.
            headers[.init("Content-Security-Policy")!] =
                "default-src 'self'; img-src 'self' data: blob:; media-src *; connect-src *; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
