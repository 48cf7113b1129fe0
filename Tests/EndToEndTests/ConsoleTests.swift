import Foundation
import Testing
import TranscodingService

/// The web console in a real headless Chromium (Selenium), against the real stack: the
/// script (Tests/Browser/console_test.py) signs in, uploads, submits, watches, plays,
/// cancels, replays and manages presets, and checks the browser's console log each step.
@Suite(.serialized) struct ConsoleTests {
    @Test func everyPageWorksInAHeadlessBrowser() async throws {
        try await World.with { world in
            let database = world.scratch + "/jobs.sqlite"
            let token = try APIProcess.makeToken("browser", scope: "admin", database: database)
            let api = try await APIProcess(world: world, database: database)
            // Presigned uploads go from the page straight to storage: another origin.
            let allowed = try Stack.run([Stack.binary, "api", "allow-uploads", "--origin", api.baseURL, "--env-file", "/nonexistent/.env"],
                                        environment: world.workerEnvironment())
            #expect(allowed.status == 0, "\(allowed.output)")
            _ = try world.startWorker(concurrency: 2)
            let screenshots = Stack.root + "/.artifacts/console"
            try FileManager.default.createDirectory(atPath: screenshots, withIntermediateDirectories: true)
            let run = try Stack.run(["python3", "Tests/Browser/console_test.py", api.baseURL, token,
                                     Stack.media("carphone_pristine.mp4"), screenshots])
            #expect(run.status == 0, "\(run.output.suffix(8000))\n--- api log ---\n\(api.log.suffix(3000))")
            #expect(!api.log.contains(token), "no token in the log")
        }
    }
}
