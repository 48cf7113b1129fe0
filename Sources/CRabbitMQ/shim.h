#ifndef CRABBITMQ_SHIM_H
#define CRABBITMQ_SHIM_H
// rabbitmq-c for Swift: 0.11 ships <amqp.h>, 0.12+ <rabbitmq-c/amqp.h>.
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#endif
#include <sys/eventfd.h>
#include <poll.h>

// amqp_login is variadic, which Swift cannot call: fix the SASL method to PLAIN here.
static inline amqp_rpc_reply_t crmq_login_plain(amqp_connection_state_t state, const char *vhost,
                                                int frame_max, int heartbeat,
                                                const char *user, const char *password) {
    return amqp_login(state, vhost, 0, frame_max, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password);
}

// Same, with client properties (capabilities such as consumer_cancel_notify, connection_name).
static inline amqp_rpc_reply_t crmq_login_plain_with_properties(amqp_connection_state_t state, const char *vhost,
                                                                int frame_max, int heartbeat,
                                                                const amqp_table_t *properties,
                                                                const char *user, const char *password) {
    return amqp_login_with_properties(state, vhost, 0, frame_max, heartbeat, properties,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}

// Method ids are macros with casts; give Swift plain constants.
static const amqp_method_number_t CRMQ_BASIC_DELIVER = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t CRMQ_BASIC_ACK = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t CRMQ_BASIC_NACK = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t CRMQ_BASIC_RETURN = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t CRMQ_BASIC_CANCEL = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t CRMQ_BASIC_GET_OK = AMQP_BASIC_GET_OK_METHOD;
static const amqp_method_number_t CRMQ_CHANNEL_CLOSE = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t CRMQ_CHANNEL_CLOSE_OK = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t CRMQ_CONNECTION_CLOSE = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t CRMQ_CONNECTION_CLOSE_OK = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t CRMQ_CONNECTION_BLOCKED = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t CRMQ_CONNECTION_UNBLOCKED = AMQP_CONNECTION_UNBLOCKED_METHOD;

/// Replies to a broker-initiated channel.close; rabbitmq-c does not do it for us.
static inline int crmq_send_channel_close_ok(amqp_connection_state_t state, amqp_channel_t channel) {
    amqp_channel_close_ok_t ok = {0};
    return amqp_send_method(state, channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
}

static inline int crmq_send_connection_close_ok(amqp_connection_state_t state) {
    amqp_connection_close_ok_t ok = {0};
    return amqp_send_method(state, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
}

/// The wake-up fd the connection thread polls beside its socket.
static inline int crmq_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
static inline void crmq_eventfd_signal(int fd) { eventfd_write(fd, 1); }
static inline void crmq_eventfd_drain(int fd) { eventfd_t v; (void)eventfd_read(fd, &v); }

#endif
