// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "transcoder",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "transcoder", targets: ["transcoder"]),
        .library(name: "Transcoding", targets: ["Transcoding"]),
        .library(name: "S3", targets: ["S3"]),
        .library(name: "RabbitMQ", targets: ["RabbitMQ"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The job service (`transcoder api`): HTTP server and the embedded job store.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
        // The job store shared by several API instances (DATABASE_URL=postgres://...).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
    ],
    targets: [
        // C interop: module maps plus static-inline shims for macros and variadic calls.
        .systemLibrary(
            name: "CGStreamer",
            pkgConfig: "gstreamer-pbutils-1.0",
            providers: [.apt(["libgstreamer1.0-dev", "libgstreamer-plugins-base1.0-dev"])]
        ),
        // libx264 for the presets' own H.264 element (Transcoding/GStreamer/X264Element.swift).
        // No pkgConfig: x264.pc only adds -DX264_API_IMPORTS (Windows), which SwiftPM warns about.
        .systemLibrary(name: "CX264", providers: [.apt(["libx264-dev"])]),
        // libx265 for the presets' own HEVC element (Transcoding/GStreamer/X265Element.swift).
        .systemLibrary(name: "CX265", providers: [.apt(["libx265-dev"])]),
        // The one exponential backoff schedule (pure Swift), shared by S3, RabbitMQ and the worker.
        .target(name: "Backoff"),
        // posix_spawn's Linux extensions for a job's child process (glibc only, no library).
        .systemLibrary(name: "CSpawn"),
        // libavcodec for the own decoders and AAC encoder, libswscale and libswresample for the own scaler and resampler
        // (Transcoding/GStreamer/: H264DecoderElement, ScalerElement, ...).
        .systemLibrary(name: "CAVCodec", providers: [.apt(["libavcodec-dev", "libswscale-dev", "libswresample-dev"])]),
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),

        // The three independent libraries; none knows the others.
        .target(
            name: "Transcoding",
            dependencies: ["CGStreamer", "CX264", "CX265", "CAVCodec", .product(name: "Logging", package: "swift-log")]
        ),
        // Driver for bench/engine.sh: one transcode through the library, nothing else.
        .executableTarget(name: "engine-bench", dependencies: ["Transcoding"]),
        .target(
            name: "S3",
            dependencies: [
                "Backoff",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // bench/s3.sh: our transfers timed against boto3.
        .executableTarget(name: "s3-bench", dependencies: ["S3"]),
        .target(
            name: "RabbitMQ",
            dependencies: [
                "CRabbitMQ", "Backoff",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // bench/amqp.sh: our client against pika on the same broker.
        .executableTarget(name: "amqp-bench", dependencies: ["RabbitMQ"]),

        // The product: job contract, stages, worker service, configuration.
        .target(
            name: "TranscodingService",
            dependencies: [
                "Transcoding", "S3", "RabbitMQ", "CSpawn", "Backoff",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The job service: durable job records, the HTTP API over them, progress ingestion.
        // Workers never need it; it talks to them only through the broker.
        .target(
            name: "JobService",
            dependencies: [
                "TranscodingService", "RabbitMQ", "Transcoding", "Backoff", "S3",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources")]
        ),
        .executableTarget(
            name: "transcoder",
            dependencies: [
                "TranscodingService", "JobService",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "TranscodingTests", dependencies: ["Transcoding"]),
        .testTarget(name: "S3Tests", dependencies: ["S3"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RabbitMQTests", dependencies: ["RabbitMQ", "Backoff"]),
        .testTarget(name: "TranscodingServiceTests", dependencies: ["TranscodingService", "Backoff"]),
        .testTarget(name: "EndToEndTests", dependencies: [
            "TranscodingService", "Transcoding", "S3", "RabbitMQ", "JobService",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "JobServiceTests", dependencies: [
            "JobService", "TranscodingService", .product(name: "PostgresNIO", package: "postgres-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
