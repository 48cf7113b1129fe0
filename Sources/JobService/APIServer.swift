import Foundation
import Hummingbird
import Logging
import RabbitMQ
import S3
import TranscodingService

/// `transcoder api`: settings beyond the workers' own (broker, queue names).
public struct APISettings: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// `DATABASE_URL` (`sqlite:PATH`, `postgres://...`, or a path), or `TRANSCODER_API_DATABASE`.
    public var database = JobStoreLocation.sqlite(path: "transcoder-jobs.sqlite")
    public var webhooks = WebhookSettings()
    /// The storage endpoint as clients reach it, for presigned URLs (SigV4 signs the host);
    /// nil: the workers' `AWS_S3_ENDPOINT_URL`.
    public var publicStorageURL: String?
    public init() {}

    var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

public struct APIStartError: Error, CustomStringConvertible {
    public let description: String
}

/// Where the job store lives: an SQLite file (the embedded default) or a PostgreSQL database
/// that several API instances can share.
public enum JobStoreLocation: Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(PostgresURL)

    /// From `DATABASE_URL`: `sqlite:PATH`, `postgres://USER:PASSWORD@HOST:PORT/DB` (or
    /// `postgresql://`), or a file path.
    public init(url: String) throws {
        if url.hasPrefix("sqlite://") { self = .sqlite(path: String(url.dropFirst("sqlite://".count))); return }
        if url.hasPrefix("sqlite:") { self = .sqlite(path: String(url.dropFirst("sqlite:".count))); return }
        if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") { self = .postgres(try PostgresURL(url)); return }
        guard !url.contains("://") else {
            throw APIStartError(description: "DATABASE_URL must be sqlite:PATH (or a file path) or a postgres:// URL with user, password, host, port and database")
        }
        self = .sqlite(path: url)
    }

    /// Never shows a password.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let url): url.description
        }
    }

    /// Opens the store and applies pending migrations.
    public func open(logger: Logger = Logger(label: "jobstore")) async throws -> any JobStore {
        switch self {
        case .sqlite(let path): try await SQLiteJobStore.open(path: path, logger: logger)
        case .postgres(let url): try await PostgresJobStore.open(url: url, logger: logger)
        }
    }
}

public enum APIServer {
    /// The API document, a resource of this target: the contract the routes are checked against.
    public static func openAPIDocument() throws -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml", subdirectory: "Resources"),
              let text = try? String(contentsOf: url, encoding: .utf8) else {
            throw APIStartError(description: "the API document (transcoder_JobService.resources/Resources/openapi.yaml) "
                + "is missing next to the binary: install the resources folder with it")
        }
        return text
    }

    /// Runs until SIGTERM or SIGINT: the HTTP listener and the progress ingestion.
    public static func run(settings: APISettings, configuration: WorkerConfiguration, logger: Logger) async throws {
        let document = try openAPIDocument()
        let store = try await settings.database.open(logger: logger)
        logger.info("job store open", metadata: ["store": "\(settings.database)"])
        do {
            try await serve(settings: settings, configuration: configuration, document: document, store: store, logger: logger)
            try await store.close()
        } catch {
            try? await store.close()
            throw error
        }
    }

    private static func serve(settings: APISettings, configuration: WorkerConfiguration, document: String,
                              store: any JobStore, logger: Logger) async throws {
        if !settings.isLoopback, !(try await store.hasActiveTokens()) {
            throw APIStartError(description: "refusing to listen on \(settings.host) without authentication: create a token first "
                + "(transcoder api token create --name NAME --scope admin), or listen on 127.0.0.1")
        }
        let connection = try await AMQPConnection.connect(try AMQPConfiguration(url: configuration.amqpURL), logger: logger)
        // Declared as workers declare them, so jobs posted before any worker starts wait in the queue.
        try await configuration.topology.declare(on: connection)
        let topology = configuration.topology
        let progressQueue = topology.progressQueue + ".api"
        let heartbeatQueue = topology.workersExchange + ".api"
        try await Ingest<ProgressMessage>.declareProgress(progressQueue, on: connection, topology: topology)
        try await Ingest<WorkerHeartbeat>.declareHeartbeats(heartbeatQueue, on: connection, topology: topology)
        let progress = Ingest<ProgressMessage>(connection: connection, queue: progressQueue, what: "progress message",
                                               logger: logger) { try await store.apply($0) }
        let heartbeats = Ingest<WorkerHeartbeat>(connection: connection, queue: heartbeatQueue, what: "worker heartbeat",
                                                 logger: logger) { try await store.recordHeartbeat($0) }
        let submitter = Submitter(client: JobClient(connection: connection, topology: configuration.topology), store: store,
                                  logger: logger)

        let router = Router(context: APIContext.self)
        router.add(middleware: RequestLogMiddleware(logger: logger))
        router.add(middleware: AuthMiddleware(store: store, alwaysRequired: !settings.isLoopback))
        router.get("/healthz") { _, _ in
            JSONBody.response(["status": "ok", "broker": connection.isConnected ? "connected" : "disconnected"])
        }
        router.get("/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: document)))
        }
        // Storage only when the workers' storage settings are here; URLs for clients are signed
        // for the endpoint they reach (TRANSCODER_API_STORAGE_URL), calls go to the workers' one.
        let s3 = configuration.s3
        let configured = !s3.bucket.isEmpty && !s3.accessKeyId.isEmpty
        let storage = configured ? S3Client(configuration: s3, logger: Logger(label: "s3")) : nil
        var publicS3 = s3
        if let url = settings.publicStorageURL { publicS3.endpoint = url }
        let presigner = configured ? (settings.publicStorageURL == nil ? storage : S3Client(configuration: publicS3, logger: Logger(label: "s3"))) : nil
        JobRoutes(store: store, submitter: submitter, webhooks: settings.webhooks, storage: presigner).register(on: router)
        EventRoutes(store: store).register(on: router)
        PresetRoutes(store: store).register(on: router)
        UploadRoutes(storage: storage, presigner: presigner).register(on: router)
        DeadLetterRoutes(letters: DeadLetters(connection: connection, topology: topology)).register(on: router)
        if let console = ConsoleRoutes.resourceDirectory() { ConsoleRoutes(directory: console).register(on: router) }
        router.get("/v1/workers") { _, _ in JSONBody.response(WorkerList(workers: try await store.workers())) }

        let app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "transcoder"),
            services: [progress, heartbeats, WebhookDispatcher(store: store, settings: settings.webhooks, logger: logger)],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                logger.notice("api listening", metadata: ["url": "http://\(settings.host):\(port)"])
                await submitter.republishPending()
            },
            logger: logger)
        do {
            try await app.runService()
        } catch {
            try? await storage?.shutdown()
            if presigner !== storage { try? await presigner?.shutdown() }
            await connection.close()
            throw error
        }
        try? await storage?.shutdown()
        if presigner !== storage { try? await presigner?.shutdown() }
        await connection.close()
    }
}

struct WorkerList: Encodable {
    var workers: [WorkerRecord]
}
