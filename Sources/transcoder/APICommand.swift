import ArgumentParser
import Foundation
import JobService
import Logging
import TranscodingService

struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "The job service: job records, the HTTP API (docs/api.md), API tokens.",
        subcommands: [Serve.self, Token.self, OpenAPI.self],
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
}
