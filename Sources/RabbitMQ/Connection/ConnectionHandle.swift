import CRabbitMQ
import Foundation

/// One rabbitmq-c connection (`amqp_connection_state_t` and its socket).
///
/// `@unchecked Sendable` is safe because only the ``ConnectionLoop`` thread that created it
/// ever calls into it: the handle crosses no thread after creation, it merely lives in a
/// class that tasks also reference for other (locked) state.
final class ConnectionHandle: @unchecked Sendable {
    let state: amqp_connection_state_t
    let socketFD: Int32
    /// The heartbeat the broker agreed to, in seconds (0 = off).
    let heartbeat: Int
    /// TLS connections must write through rabbitmq-c (OpenSSL), not the raw fd.
    let isTLS: Bool
    private var destroyed = false

    private init(state: amqp_connection_state_t, heartbeat: Int, isTLS: Bool) {
        self.state = state
        self.socketFD = amqp_get_sockfd(state)
        self.heartbeat = heartbeat
        self.isTLS = isTLS
    }

    /// Opens the socket (TCP or TLS) and logs in. Blocking: call on the connection thread.
    static func open(_ config: AMQPConfiguration) throws -> ConnectionHandle {
        guard let state = amqp_new_connection() else { throw AMQPError(.protocolError, "out of memory") }
        let arena = CArena()
        let where_ = "\(config.host):\(config.port)"
        func fail(_ error: AMQPError) -> AMQPError {
            amqp_destroy_connection(state)
            return error
        }
        let socket: OpaquePointer?
        if let tls = config.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else { throw fail(AMQPError(.tls, "could not create a TLS socket (OpenSSL init failed)")) }
            if let ca = tls.caCertificatePath {
                let rc = amqp_ssl_socket_set_cacert(socket, arena.cString(ca))
                if rc != 0 {
                    throw fail(AMQPError(.tls, "cannot load CA certificate '\(ca)': \(statusText(rc)); check the cacertfile path and that it is PEM"))
                }
            }
            if let cert = tls.certificatePath, let key = tls.keyPath {
                let rc = amqp_ssl_socket_set_key(socket, arena.cString(cert), arena.cString(key))
                if rc != 0 { throw fail(AMQPError(.tls, "cannot load client certificate '\(cert)' / key '\(key)': \(statusText(rc))")) }
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyPeer ? 1 : 0)
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else { throw fail(AMQPError(.protocolError, "could not create a TCP socket")) }
        }
        var timeout = timeval(duration: config.connectTimeout)
        let rc = amqp_socket_open_noblock(socket, arena.cString(config.host), Int32(config.port), &timeout)
        if rc != 0 {
            let status = amqp_status_enum(rawValue: rc)
            if config.tls != nil, rc <= AMQP_STATUS_SSL_ERROR.rawValue, rc > _AMQP_STATUS_SSL_NEXT_VALUE.rawValue {
                throw fail(AMQPError(.tls, "TLS handshake with \(where_) failed: \(statusText(rc)); check that the broker's certificate is signed by the configured CA (cacertfile) and names the host, or use verify=verify_none for testing"))
            }
            if status == AMQP_STATUS_TIMEOUT {
                throw fail(AMQPError(.unreachable, "connecting to \(where_) timed out after \(config.connectTimeout); check the host, port and firewall"))
            }
            throw fail(AMQPError(.unreachable, "cannot connect to \(where_): \(statusText(rc)); check that RabbitMQ is running and the host and port are right"))
        }
        let heartbeatSeconds = Int(config.heartbeat.components.seconds)
        // Set before login so that a broker that never answers the handshake cannot hang us.
        var handshake = timeval(duration: config.connectTimeout)
        amqp_set_handshake_timeout(state, &handshake)
        var clientProperties = arena.table([
            "capabilities": .table([
                "consumer_cancel_notify": true, "connection.blocked": true, "publisher_confirms": true,
                "basic.nack": true, "authentication_failure_close": true, "exchange_exchange_bindings": true,
            ]),
            "connection_name": .string(config.connectionName ?? "swift-rabbitmq"),
        ])
        let reply = crmq_login_plain_with_properties(state, arena.cString(config.vhost), 131072, Int32(heartbeatSeconds),
                                                     &clientProperties, arena.cString(config.user),
                                                     arena.cString(config.password))
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            throw fail(loginError(reply, config))
        }
        var rpc = timeval(duration: config.rpcTimeout)
        amqp_set_rpc_timeout(state, &rpc)
        return ConnectionHandle(state: state, heartbeat: Int(amqp_get_heartbeat(state)), isTLS: config.tls != nil)
    }

    private static func loginError(_ reply: amqp_rpc_reply_t, _ config: AMQPConfiguration) -> AMQPError {
        let who = "user '\(config.user)' on vhost '\(config.vhost)' at \(config.host):\(config.port)"
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == CRMQ_CONNECTION_CLOSE {
            let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = close.reply_text.string
            switch close.reply_code {
            case 403 where text.contains("Login was refused") || text.contains("ACCESS_REFUSED - Login"):
                return AMQPError(.authenticationFailed, "the broker refused the login of \(who): wrong user name or password; check the credentials in the AMQP URL", replyCode: 403)
            case 530, 403:
                return AMQPError(.vhostRefused, "\(who) may not open the vhost: \(text); check that the vhost exists and the user has permissions on it (rabbitmqctl set_permissions)", replyCode: close.reply_code)
            default:
                return AMQPError(.protocolError, "the broker closed the connection during login of \(who): \(close.reply_code) \(text)", replyCode: close.reply_code)
            }
        }
        if reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION {
            let rc = reply.library_error
            // RabbitMQ without the authentication_failure_close capability just drops the socket.
            if rc == AMQP_STATUS_CONNECTION_CLOSED.rawValue || rc == AMQP_STATUS_SOCKET_CLOSED.rawValue {
                return AMQPError(.authenticationFailed, "the broker closed the connection during login of \(who); most likely wrong credentials, or the vhost does not exist")
            }
            if rc == AMQP_STATUS_TIMEOUT.rawValue {
                return AMQPError(.timeout, "login of \(who) timed out; is this port an AMQP listener (TLS on 5671 needs amqps://)?")
            }
            return AMQPError(.protocolError, "login of \(who) failed: \(statusText(rc))")
        }
        return AMQPError(.protocolError, "login of \(who) failed")
    }

    /// Turns the reply of the last RPC into a Swift error; channel- and connection-level
    /// exceptions name the broker's text, which says which queue and argument disagreed.
    func check(_ reply: amqp_rpc_reply_t, _ context: @autoclosure () -> String) throws(RPCFailure) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == CRMQ_CHANNEL_CLOSE {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                throw .channelClosed(Self.brokerError(close.reply_code, close.reply_text.string, context()))
            }
            if reply.reply.id == CRMQ_CONNECTION_CLOSE {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                throw .connectionLost(Self.brokerError(close.reply_code, close.reply_text.string, context()), brokerClosed: true)
            }
            throw .connectionLost(AMQPError(.protocolError, "\(context()): unexpected server method \(reply.reply.id)"), brokerClosed: false)
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let rc = reply.library_error
            if rc == AMQP_STATUS_TIMEOUT.rawValue {
                throw .connectionLost(AMQPError(.timeout, "\(context()): the broker did not answer in time; the connection is being recycled"), brokerClosed: false)
            }
            throw .connectionLost(AMQPError(.connectionClosed, "\(context()): connection lost (\(statusText(rc))); it is being re-established"), brokerClosed: false)
        default:
            throw .connectionLost(AMQPError(.protocolError, "\(context()): no reply"), brokerClosed: false)
        }
    }

    func checkStatus(_ rc: Int32, _ context: @autoclosure () -> String) throws(RPCFailure) {
        guard rc != 0 else { return }
        throw .connectionLost(AMQPError(.connectionClosed, "\(context()): \(statusText(rc)); the connection is being re-established"), brokerClosed: false)
    }

    static func brokerError(_ code: UInt16, _ text: String, _ context: String) -> AMQPError {
        switch code {
        case 406:
            AMQPError(.preconditionFailed, "\(context): the broker refused: \(text). A queue or exchange that already exists must be declared with the same arguments: use the existing arguments, or delete it first (rabbitmqctl delete_queue / the management UI)", replyCode: code)
        case 403:
            AMQPError(.accessRefused, "\(context): access refused: \(text); grant the user permissions (rabbitmqctl set_permissions) or use another name", replyCode: code)
        case 404:
            AMQPError(.notFound, "\(context): not found: \(text); declare it first", replyCode: code)
        case 405:
            AMQPError(.resourceLocked, "\(context): resource locked: \(text); an exclusive queue belongs to another connection", replyCode: code)
        case 320:
            AMQPError(.connectionClosed, "\(context): the broker closed the connection: \(text)", replyCode: code)
        default:
            AMQPError(.protocolError, "\(context): the broker closed the channel: \(code) \(text)", replyCode: code)
        }
    }

    func setRPCTimeout(_ d: Duration) {
        var t = timeval(duration: d)
        amqp_set_rpc_timeout(state, &t)
    }

    /// Closes politely (best effort, bounded by the RPC timeout) and frees the C state.
    func close(graceful: Bool) {
        guard !destroyed else { return }
        destroyed = true
        if graceful {
            _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        }
        amqp_destroy_connection(state)
    }

    deinit { close(graceful: false) }
}

/// How an RPC failed: the channel is gone (reopen it) or the connection is (reconnect).
enum RPCFailure: Error {
    case channelClosed(AMQPError)
    case connectionLost(AMQPError, brokerClosed: Bool)

    var error: AMQPError {
        switch self {
        case .channelClosed(let e), .connectionLost(let e, _): e
        }
    }
}

func statusText(_ rc: Int32) -> String { String(cString: amqp_error_string2(rc)) }

extension timeval {
    init(duration: Duration) {
        let c = duration.components
        self.init(tv_sec: Int(c.seconds), tv_usec: Int(c.attoseconds / 1_000_000_000_000))
    }
}
