#if canImport(Glibc)
import Glibc
#endif
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// A small HTTP listener for operators: `/metrics` (Prometheus text), `/healthz` (the
/// process is alive) and `/readyz` (broker connected and storage reachable, else 503 and why).
public final class MetricsServer: Service {
    public let port: Int
    private let channel: any Channel
    let logger: Logger

    /// The listener could not start; the description names the setting and what to do.
    public struct ListenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Makes swift-metrics report into a Prometheus registry (once per process).
    public static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Stages and jobs last from milliseconds (a small download) to hours (a long transcode).
        factory.defaultDurationHistogramBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200]
            .map { Duration.milliseconds(Int64($0 * 1000)) }
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// Binds the port before anything else starts, so a taken port stops the worker before
    /// it takes a job (another worker on this host is the usual cause).
    public static func listen(port: Int, status: WorkerStatus, registry: PrometheusCollectorRegistry,
                              logger: Logger) async throws -> MetricsServer {
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(HTTPHandler(status: status, registry: registry))
                    }
                }
                .bind(host: "0.0.0.0", port: port).get()
            return MetricsServer(port: port, channel: channel, logger: logger)
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ListenError(description: "TRANSCODER_METRICS_PORT=\(port) is already in use on this host (another worker?). "
                + "Give each worker on a host its own port (TRANSCODER_METRICS_PORT=\(port + 1) ...), set it to 0 to turn "
                + "the listener off, or run one worker with TRANSCODER_CONCURRENCY=N.")
        } catch let error as IOError where error.errnoCode == EACCES {
            throw ListenError(description: "TRANSCODER_METRICS_PORT=\(port) needs privileges this user lacks; choose a port above 1023.")
        }
    }

    private init(port: Int, channel: any Channel, logger: Logger) {
        self.port = port
        self.channel = channel
        self.logger = logger
    }

    public func run() async throws {
        let channel = self.channel
        logger.info("metrics listening", metadata: ["port": "\(port)"])
        await withGracefulShutdownHandler {
            try? await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

private final class HTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let status: WorkerStatus
    let registry: PrometheusCollectorRegistry
    private var path = "/"

    init(status: WorkerStatus, registry: PrometheusCollectorRegistry) {
        self.status = status
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): path = String(head.uri.split(separator: "?").first ?? "/")
        case .body: break
        case .end:
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            switch path {
            case "/metrics":
                respond(context.value, .ok, registry.emitToBuffer(), type: "text/plain; version=0.0.4")
            case "/healthz":
                respond(context.value, .ok, Array("ok\n".utf8))
            case "/readyz":
                let status = self.status
                let eventLoop = context.value.eventLoop
                Task {
                    let reason = await status.unreadyReason()
                    eventLoop.execute {
                        self.respond(context.value, reason == nil ? .ok : .serviceUnavailable,
                                     Array((reason.map { "unready: \($0)" } ?? "ready").utf8 + [0x0A]))
                    }
                }
            default:
                respond(context.value, .notFound, Array("not found\n".utf8))
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ body: [UInt8],
                         type: String = "text/plain") {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)")])
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
