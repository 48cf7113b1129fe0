/// Where and how to connect, parsed from an AMQP URL.
///
/// `amqp[s]://user:password@host:port/vhost?heartbeat=N&connection_timeout=MS&cacertfile=PATH&verify=verify_peer`.
/// The vhost is URL-decoded (`%2f` is `/`); an empty path means `/`. ``description`` hides the
/// password, so the configuration can be logged.
public struct AMQPConfiguration: Sendable, Hashable, CustomStringConvertible {
    public struct TLS: Sendable, Hashable {
        /// PEM file of the CA that signed the broker's certificate; nil uses no CA (then set
        /// ``verifyPeer`` to false).
        public var caCertificatePath: String?
        /// Verify the broker's certificate chain and host name; `verify=verify_none` turns it off.
        public var verifyPeer: Bool = true
        /// Client certificate and key for brokers that require one.
        public var certificatePath: String?
        public var keyPath: String?

        public init(caCertificatePath: String? = nil, verifyPeer: Bool = true, certificatePath: String? = nil,
                    keyPath: String? = nil) {
            self.caCertificatePath = caCertificatePath
            self.verifyPeer = verifyPeer
            self.certificatePath = certificatePath
            self.keyPath = keyPath
        }
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String
    /// Negotiated with the broker (the smaller wins); a dead peer is noticed within twice this.
    public var heartbeat: Duration = .seconds(30)
    public var connectTimeout: Duration = .seconds(10)
    /// How long a single RPC (declare, consume, ...) may wait for the broker.
    public var rpcTimeout: Duration = .seconds(30)
    /// Delay before the first reconnect attempt; doubled after each failure up to ``reconnectMaxDelay``.
    public var reconnectInitialDelay: Duration = .milliseconds(250)
    /// Kept short by default: an attempt against a broker that is down is a refused
    /// connect (cheap), and the connection comes back within this long of the broker being ready.
    public var reconnectMaxDelay: Duration = .seconds(3)
    /// Set by the `amqps` scheme.
    public var tls: TLS?
    /// Shown in the management UI.
    public var connectionName: String?

    public init(host: String = "localhost", port: Int? = nil, user: String = "guest", password: String = "guest",
                vhost: String = "/", tls: TLS? = nil) {
        self.host = host
        self.port = port ?? (tls == nil ? 5672 : 5671)
        self.user = user
        self.password = password
        self.vhost = vhost
        self.tls = tls
    }

    /// Parses an AMQP URL; throws ``AMQPError/Code/invalidConfiguration`` naming the bad part.
    public init(url: String) throws {
        try self = URLParser.parse(url)
    }

    /// The URL with the password replaced by `***`.
    public var description: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        let encodedVhost = URLParser.percentEncode(vhost)
        var s = "\(scheme)://\(URLParser.percentEncode(user)):***@\(host):\(port)/\(encodedVhost)"
        s += "?heartbeat=\(heartbeat.components.seconds)"
        if let tls {
            if let ca = tls.caCertificatePath { s += "&cacertfile=\(ca)" }
            s += "&verify=\(tls.verifyPeer ? "verify_peer" : "verify_none")"
        }
        return s
    }
}
