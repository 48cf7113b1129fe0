import ArgumentParser
import Foundation
import JobService
import Logging
import S3
import TranscodingService

struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "The job service: job records, the HTTP API (docs/api.md), API tokens.",
        subcommands: [Serve.self, Token.self, OpenAPI.self, AllowUploads.self],
        defaultSubcommand: Serve.self)

    /// Where the job store is: DATABASE_URL, TRANSCODER_API_DATABASE, --database.
    struct StoreOptions: ParsableArguments {
        @Option(help: "The job store: sqlite:PATH, a file path, or postgres://USER:PASSWORD@HOST:PORT/DATABASE (default: $DATABASE_URL, $TRANSCODER_API_DATABASE, transcoder-jobs.sqlite).")
        var database: String?

        func location() throws -> JobStoreLocation {
            let environment = ProcessInfo.processInfo.environment
            if let database { return try JobStoreLocation(url: database) }
            if let url = environment["DATABASE_URL"], !url.isEmpty { return try JobStoreLocation(url: url) }
            if let path = environment["TRANSCODER_API_DATABASE"], !path.isEmpty { return .sqlite(path: path) }
            return APISettings().database
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve", abstract: "Serve the HTTP API and record every job's progress (until SIGTERM/SIGINT).")

        @Option(help: "HOST:PORT to listen on (default: $TRANSCODER_API_LISTEN or 127.0.0.1:8080). Beyond loopback, tokens are required.")
        var listen: String?
        @OptionGroup var store: StoreOptions
        @OptionGroup var config: ConfigOptions

        func run() async throws {
            let configuration = try await loadConfiguration(config.envFile, requireStorage: false)
            LogSetup.bootstrap(level: configuration.logLevel, json: configuration.jsonLogs)
            var settings = APISettings()
            let address = listen ?? ProcessInfo.processInfo.environment["TRANSCODER_API_LISTEN"] ?? "127.0.0.1:8080"
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
                  (0...65535).contains(port) else {
                throw ValidationError("--listen must be HOST:PORT, e.g. 127.0.0.1:8080")
            }
            settings.host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            settings.port = port
            settings.database = try store.location()
            let environment = ProcessInfo.processInfo.environment
            settings.webhooks.secret = environment["TRANSCODER_API_WEBHOOK_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
            settings.webhooks.allowPrivate = ["1", "true", "yes"].contains(environment["TRANSCODER_API_WEBHOOK_ALLOW_PRIVATE"]?.lowercased() ?? "")
            if let text = environment["TRANSCODER_API_WEBHOOK_RETRY_DELAY"], !text.isEmpty {
                guard let seconds = Int(text), (1...3600).contains(seconds) else {
                    throw ValidationError("TRANSCODER_API_WEBHOOK_RETRY_DELAY must be 1-3600 seconds")
                }
                settings.webhooks.retryDelay = .seconds(seconds)
            }
            if let url = environment["TRANSCODER_API_STORAGE_URL"], !url.isEmpty {
                guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme), parsed.host != nil else {
                    throw ValidationError("TRANSCODER_API_STORAGE_URL=\(url) is not a URL like https://storage.example.com")
                }
                settings.publicStorageURL = url
            }
            try await APIServer.run(settings: settings, configuration: configuration, logger: Logger(label: "api"))
        }
    }

    struct Token: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "token", abstract: "Create, list and revoke API tokens (stored hashed in the job store).",
            subcommands: [Create.self, List.self, Revoke.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a token and print it once.")
            @Option(help: "A name for people (who or what uses it).") var name: String
            @Option(help: "read, write (read + submit) or admin.") var scope: String = "write"
            @OptionGroup var store: StoreOptions

            func run() async throws {
                guard let scope = Scope(rawValue: scope) else { throw ValidationError("--scope must be read, write or admin") }
                let jobs = try await store.location().open()
                let (token, secret) = try await Tokens.create(name: name, scope: scope, in: jobs)
                try await jobs.close()
                FileHandle.standardError.write(Data("created \(token.id) (\(scope.rawValue)); the token is shown only now:\n".utf8))
                print(secret)
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")
            @OptionGroup var store: StoreOptions

            func run() async throws {
                let jobs = try await store.location().open()
                for token in try await jobs.tokens() {
                    print([token.id, token.scope.rawValue, token.createdAt, token.revokedAt.map { "revoked \($0)" } ?? "active", token.name]
                        .joined(separator: "\t"))
                }
                try await jobs.close()
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Revoke a token: the API refuses it from the next request.")
            @Argument(help: "The token's id (tok_..., from `token list`).") var id: String
            @OptionGroup var store: StoreOptions

            func run() async throws {
                let jobs = try await store.location().open()
                let revoked = try await jobs.revokeToken(id: id)
                try await jobs.close()
                guard revoked else { throw ValidationError("no active token \(id)") }
                print("revoked \(id)")
            }
        }
    }

    struct OpenAPI: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "openapi", abstract: "Print the API's OpenAPI document.")
        func run() throws { print(try APIServer.openAPIDocument(), terminator: "") }
    }

    struct AllowUploads: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allow-uploads",
            abstract: "Let browsers on these origins upload to the bucket with presigned URLs (sets the bucket's CORS rules).")
        @Option(help: "An origin the console is served from, e.g. https://transcoder.example.com (repeatable).")
        var origin: [String]
        @OptionGroup var config: ConfigOptions

        func run() async throws {
            guard !origin.isEmpty else { throw ValidationError("give at least one --origin") }
            for o in origin {
                guard let url = URL(string: o), ["http", "https"].contains(url.scheme), url.host != nil, url.path.isEmpty else {
                    throw ValidationError("--origin \(o) is not an origin like https://transcoder.example.com (scheme, host, port; no path)")
                }
            }
            let configuration = try await loadConfiguration(config.envFile, requireStorage: true)
            let storage = S3Client(configuration: configuration.s3, logger: Logger(label: "s3"))
            do {
                try await storage.allowBrowserUploads(from: origin)
                try await storage.shutdown()
            } catch {
                try? await storage.shutdown()
                throw error
            }
            print("bucket \(configuration.s3.bucket) accepts uploads from \(origin.joined(separator: ", "))")
        }
    }
}
