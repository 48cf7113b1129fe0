import Foundation
import Synchronization
import Logging
import SQLiteNIO
import TranscodingService

/// The embedded job store: one SQLite file in WAL mode, so that a killed API loses no
/// committed write. One connection; statements that belong together run under one
/// ``AsyncGate`` turn, inside a transaction. The rules are ``SQLJobStore``'s.
public final class SQLiteJobStore: SQLJobStore, @unchecked Sendable {
    let connection: SQLiteConnection
    let gate = AsyncGate()

    /// Opens (creating) the file and applies pending migrations.
    public static func open(path: String, logger: Logger = Logger(label: "jobstore")) async throws -> SQLiteJobStore {
        let connection = try await SQLiteConnection.open(storage: path == ":memory:" ? .memory : .file(path: path), logger: logger)
        let store = SQLiteJobStore(connection: connection)
        try await store.prepare()
        return store
    }

    private init(connection: SQLiteConnection) {
        self.connection = connection
        super.init(dialect: .sqlite)
    }

    private func prepare() async throws {
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"] {
            _ = try await connection.query(pragma)
        }
        try await transaction {
            _ = try await self.connection.query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            let applied = try await self.connection.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")
                .first?.column("v")?.integer ?? 0
            for (index, migration) in Migrations.sqlite.enumerated() where index + 1 > applied {
                // One statement per prepare: split the script.
                for statement in migration.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
                where !statement.isEmpty {
                    _ = try await self.connection.query(statement)
                }
                _ = try await self.connection.query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                                                    [.integer(index + 1), .text(Timestamp.now())])
            }
        }
    }

    private func transaction<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await gate.serially {
            _ = try await self.connection.query("BEGIN IMMEDIATE")
            do {
                let result = try await body()
                _ = try await self.connection.query("COMMIT")
                return result
            } catch {
                _ = try? await self.connection.query("ROLLBACK")
                throw error
            }
        }
    }

    override func inTransaction<T: Sendable>(_ body: @escaping @Sendable (any StoreSession) async throws -> T) async throws -> T {
        try await transaction { try await body(SQLiteSession(connection: self.connection)) }
    }

    override func withSession<T: Sendable>(_ body: @escaping @Sendable (any StoreSession) async throws -> T) async throws -> T {
        try await gate.serially { try await body(SQLiteSession(connection: self.connection)) }
    }

    public override func close() async throws { try await connection.close() }
}

private struct SQLiteSession: StoreSession {
    let connection: SQLiteConnection

    func run(_ sql: String, _ binds: [SQLValue]) async throws -> [any StoreRow] {
        try await connection.query(sql, binds.map { bind in
            switch bind {
            case .text(let value): value.map(SQLiteData.text) ?? .null
            case .integer(let value): value.map(SQLiteData.integer) ?? .null
            case .real(let value): value.map(SQLiteData.float) ?? .null
            }
        })
    }
}

extension SQLiteRow: StoreRow {
    func text(_ column: String) -> String? { self.column(column)?.string }
    func int(_ column: String) -> Int? { self.column(column).flatMap { $0.isNull ? nil : $0.integer } }
    func double(_ column: String) -> Double? { self.column(column).flatMap { $0.isNull ? nil : $0.double } }
}


/// Runs async bodies one at a time, in arrival order (an actor alone would interleave
/// them at every await inside a transaction).
final class AsyncGate: Sendable {
    private let state = Mutex<(busy: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func serially<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await enter()
        do {
            let result = try await body()
            leave()
            return result
        } catch {
            leave()
            throw error
        }
    }

    private func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let proceed = state.withLock { state in
                if state.busy { state.waiters.append(continuation); return false }
                state.busy = true
                return true
            }
            if proceed { continuation.resume() }
        }
    }

    private func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty { state.busy = false; return nil }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
