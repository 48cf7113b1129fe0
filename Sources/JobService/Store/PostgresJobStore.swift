import Foundation
import Logging
import NIOSSL
import PostgresNIO
import TranscodingService

/// The job store on a PostgreSQL server, for several API instances sharing one database:
/// a connection pool, each group of statements in a real transaction with row locks where
/// SQLite relied on having one writer (see ``SQLDialect/postgres``). The rules are ``SQLJobStore``'s.
public final class PostgresJobStore: SQLJobStore, @unchecked Sendable {
    let client: PostgresClient
    let logger: Logger
    /// The pool's `run()`, cancelled by `close()`.
    private let running: Task<Void, Never>

    /// Connects, applies pending migrations and starts the pool.
    public static func open(url: PostgresURL, logger: Logger = Logger(label: "jobstore")) async throws -> PostgresJobStore {
        // The pool starts now (its run() is under way by the first query) but is used only after
        // one plain connection succeeded: the pool retries a refused login forever instead of failing.
        let store = PostgresJobStore(client: PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: logger),
                                     logger: logger)
        do {
            let connection: PostgresConnection
            do {
                connection = try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: 0, logger: logger)
            } catch {
                throw APIStartError(description: "cannot connect to the job store at \(url): \(url.explain(error))")
            }
            do {
                try await migrate(connection, url: url, logger: logger)
                try await connection.close()
            } catch {
                try? await connection.close()
                throw APIStartError(description: "cannot prepare the job store at \(url): \(url.explain(error))")
            }
        } catch {
            try? await store.close()
            throw error
        }
        return store
    }

    private init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        running = Task { await client.run() }
        super.init(dialect: .postgres)
    }

    /// Instances starting together take turns: the advisory lock is held until the migrations commit.
    private static func migrate(_ connection: PostgresConnection, url: PostgresURL, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { connection in
            let session = PostgresSession(connection: connection, logger: logger)
            try await session.run("SELECT pg_advisory_xact_lock(\(migrationLock))")
            if let schema = url.schema { try await session.run("CREATE SCHEMA IF NOT EXISTS \"\(schema)\"") }
            try await session.run("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)")
            let applied = try await session.run("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations").first?.int("v") ?? 0
            for (index, migration) in Migrations.postgres.enumerated() where index + 1 > applied {
                for statement in migration.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
                where !statement.isEmpty {
                    try await session.run(statement)
                }
                try await session.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                      .integer(index + 1), .text(Timestamp.now()))
            }
        }
    }

    /// An arbitrary constant naming this store's migrations among the database's advisory locks.
    static let migrationLock = 0x7472_616E_7363

    override func inTransaction<T: Sendable>(_ body: @escaping @Sendable (any StoreSession) async throws -> T) async throws -> T {
        let logger = logger
        return try await client.withTransaction(logger: logger) { connection in
            try await body(PostgresSession(connection: connection, logger: logger))
        }
    }

    override func withSession<T: Sendable>(_ body: @escaping @Sendable (any StoreSession) async throws -> T) async throws -> T {
        let logger = logger
        return try await client.withConnection { connection in
            try await body(PostgresSession(connection: connection, logger: logger))
        }
    }

    public override func close() async throws {
        running.cancel()
        await running.value
    }
}

private struct PostgresSession: StoreSession {
    let connection: PostgresConnection
    let logger: Logger

    func run(_ sql: String, _ binds: [SQLValue]) async throws -> [any StoreRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        for bind in binds {
            switch bind {
            case .text(let value): bindings.append(value)
            case .integer(let value): bindings.append(value)
            case .real(let value): bindings.append(value)
            }
        }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: Self.numbered(sql), binds: bindings), logger: logger)
        var result: [any StoreRow] = []
        for try await row in rows { result.append(row.makeRandomAccess()) }
        return result
    }

    /// `?` → `$1`, `$2`, ... outside quoted text.
    static func numbered(_ sql: String) -> String {
        var result = ""
        var count = 0
        var quoted = false
        for character in sql {
            if character == "'" { quoted.toggle() }
            if character == "?" && !quoted {
                count += 1
                result += "$\(count)"
            } else {
                result.append(character)
            }
        }
        return result
    }
}

extension PostgresRandomAccessRow: StoreRow {
    func text(_ column: String) -> String? { contains(column) ? (try? self[column].decode(String?.self)) ?? nil : nil }
    func int(_ column: String) -> Int? { contains(column) ? (try? self[column].decode(Int?.self)) ?? nil : nil }
    func double(_ column: String) -> Double? { contains(column) ? (try? self[column].decode(Double?.self)) ?? nil : nil }
}

/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (or `postgresql://`), with optional
/// `?sslmode=disable|prefer|require` and `?search_path=SCHEMA` (created if missing: one
/// database can hold several stores, as the tests do). Describes itself without the password.
public struct PostgresURL: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    var password: String?
    public var database: String
    public var schema: String?
    public var sslMode: String

    public init(_ text: String) throws {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty else {
            throw APIStartError(description: "DATABASE_URL must be postgres://USER:PASSWORD@HOST:PORT/DATABASE for PostgreSQL")
        }
        self.host = host
        port = components.port ?? 5432
        self.user = user
        password = components.password
        database = String(components.path.drop(while: { $0 == "/" }))
        if database.isEmpty { database = user }
        let items = components.queryItems ?? []
        schema = items.first { $0.name == "search_path" }?.value
        sslMode = items.first { $0.name == "sslmode" }?.value ?? "prefer"
        guard ["disable", "prefer", "require"].contains(sslMode) else {
            throw APIStartError(description: "DATABASE_URL: sslmode must be disable, prefer or require")
        }
        if let schema, schema.isEmpty || !schema.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) {
            throw APIStartError(description: "DATABASE_URL: search_path must be one schema name of letters, digits and _")
        }
    }

    public var description: String {
        "postgres://\(user)@\(host):\(port)/\(database)" + (schema.map { "?search_path=\($0)" } ?? "")
    }

    /// Why a connection or statement failed, from the server's own message when there is one.
    /// PSQLError's description hides everything; the server's message never holds the password.
    func explain(_ error: any Error) -> String {
        if let error = error as? PostgresTransactionError,
           let cause = error.beginError ?? error.closureError ?? error.commitError {
            return explain(cause)
        }
        var text = "\(error)"
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                text = message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            } else if let underlying = error.underlying {
                text = "\(underlying)"
            } else {
                text = "\(error.code)"
            }
        }
        if let password, !password.isEmpty { text = text.replacingOccurrences(of: password, with: "***") }
        return text
    }

    private var startupParameters: [(String, String)] { schema.map { [("search_path", $0)] } ?? [] }

    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS = switch sslMode {
        case "disable": .disable
        case "require": .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        default: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                             database: database, tls: tls)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    func clientConfiguration() throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS = switch sslMode {
        case "disable": .disable
        case "require": .require(.makeClientConfiguration())
        default: .prefer(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                         database: database, tls: tls)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }
}
