import RabbitMQ
import Testing

@Suite struct URLParserTests {
    @Test func defaultsAndEncodedVhost() throws {
        let c = try AMQPConfiguration(url: "amqp://guest:guest@localhost:5672/%2f")
        #expect(c.host == "localhost")
        #expect(c.port == 5672)
        #expect(c.user == "guest")
        #expect(c.password == "guest")
        #expect(c.vhost == "/")
        #expect(c.tls == nil)
    }

    @Test func fullURL() throws {
        let c = try AMQPConfiguration(
            url: "amqps://jobs%40svc:p%40ss%3Aw0rd@rabbit.internal:5673/prod%2Fvideo?heartbeat=7&connection_timeout=2500&cacertfile=/etc/ca.pem&verify=verify_none")
        #expect(c.user == "jobs@svc")
        #expect(c.password == "p@ss:w0rd")
        #expect(c.host == "rabbit.internal")
        #expect(c.port == 5673)
        #expect(c.vhost == "prod/video")
        #expect(c.heartbeat == .seconds(7))
        #expect(c.connectTimeout == .milliseconds(2500))
        #expect(c.tls?.caCertificatePath == "/etc/ca.pem")
        #expect(c.tls?.verifyPeer == false)
    }

    @Test func amqpsDefaultsToVerifiedTLSOn5671() throws {
        let c = try AMQPConfiguration(url: "amqps://h")
        #expect(c.port == 5671)
        #expect(c.tls?.verifyPeer == true)
        #expect(c.user == "guest")
        #expect(c.vhost == "/")
    }

    @Test func emptyPathMeansSlashAndIPv6() throws {
        #expect(try AMQPConfiguration(url: "amqp://u:p@h/").vhost == "/")
        #expect(try AMQPConfiguration(url: "amqp://u:p@h/dev").vhost == "dev")
        let v6 = try AMQPConfiguration(url: "amqp://[::1]:5600/x")
        #expect(v6.host == "::1")
        #expect(v6.port == 5600)
    }

    @Test(arguments: ["http://h", "amqp://h:99999", "amqp://h:abc", "amqp://h/%zz", "amqp://h?heartbeat=-1",
                      "amqp://h?cacertfile=/x", "amqps://h?verify=maybe"])
    func rejects(_ url: String) {
        #expect(throws: AMQPError.self) { try AMQPConfiguration(url: url) }
    }

    @Test func descriptionHidesPassword() throws {
        let c = try AMQPConfiguration(url: "amqp://svc:s3cr3t-Pa55@h:5672/%2f?heartbeat=10")
        #expect(!c.description.contains("s3cr3t"))
        #expect(c.description == "amqp://svc:***@h:5672/%2f?heartbeat=10")
    }
}
