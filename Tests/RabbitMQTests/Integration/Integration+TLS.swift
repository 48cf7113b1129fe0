import Foundation
import RabbitMQ
import Testing

extension Integration {
    /// The stack's amqps listener (5671) uses a server certificate signed by the CA in
    /// `$RMQ_DIR/tls/ca.pem` (scripts/stack generates both).
    @Test func amqpsRoundTripWithVerifiedPeer() async throws {
        let ca = Broker.stateDir + "/tls/ca.pem"
        #expect(FileManager.default.fileExists(atPath: ca), "no CA at \(ca): start the broker with scripts/stack up")
        let config = try AMQPConfiguration(url: "amqps://guest:guest@localhost:5671/%2f?cacertfile=\(ca)&verify=verify_peer")
        let conn = try await AMQPConnection.connect(config)
        defer { Task { await conn.close() } }
        let q = Broker.unique("tls")
        try await conn.declare(queue: QueueSpec(name: q, durable: false, autoDelete: true))
        try await conn.publish("secret", routingKey: q)
        let consumer = try await conn.consume(queue: q, prefetch: 1)
        let d = try await consumer.next()
        #expect(d.body == Array("secret".utf8))
        try await d.ack()
        await consumer.cancel()
    }

    /// A CA made here with the openssl CLI did not sign the broker's certificate.
    @Test func amqpsWithForeignCAFailsAsTLSError() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("amqp-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=foreign-ca",
                       "-keyout", dir.appendingPathComponent("ca.key").path, "-out", dir.appendingPathComponent("ca.pem").path]
        p.standardError = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { cont in
            p.terminationHandler = { cont.resume(returning: $0.terminationStatus) }
            do { try p.run() } catch { cont.resume(throwing: error) }
        }
        try #require(status == 0, "openssl req failed")
        let url = "amqps://guest:guest@localhost:5671/%2f?cacertfile=\(dir.appendingPathComponent("ca.pem").path)"
        do {
            _ = try await AMQPConnection.connect(AMQPConfiguration(url: url))
            Issue.record("TLS with a foreign CA succeeded")
        } catch let e as AMQPError {
            #expect(e.code == .tls)
            #expect(e.message.contains("CA"))
        }
    }
}
