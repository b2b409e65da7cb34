#pragma once
/// @file
/// RFC 3261 section 17 transactions over UDP: INVITE client (ICT), non-INVITE
/// client (NICT), INVITE server (IST) and non-INVITE server (NIST), with timers
/// A-K from T1/T2/T4. The layer absorbs retransmissions and generates them; the
/// transaction user (the B2BUA) sees each request once and each response once
/// per client transaction. 2xx to INVITE are end-to-end: the B2BUA retransmits
/// them and ACKs them itself, as RFC 3261 13.3.1.4 and 13.2.2.4 say.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "message_builder.hh"
#include "sip_types.hh"
#include "timer_queue.hh"

namespace sf::control {

struct timer_config {
    unsigned t1_ms = 500;
    unsigned t2_ms = 4000;
    unsigned t4_ms = 5000;
};

/// Counters the management API shows.
struct transaction_stats {
    uint64_t client_created = 0, server_created = 0;
    uint64_t retransmissions_sent = 0, retransmissions_absorbed = 0;
    uint64_t timeouts = 0, stray_responses = 0;
    /// Responses a server transaction kept as plain bytes rather than message mbufs because the
    /// pool was running low (see transaction_layer::keep_for_retransmission).
    uint64_t responses_parked = 0;
};

class transaction_layer {
public:
    using response_cb = std::function<void(const inbound&)>;
    using timeout_cb = std::function<void()>;
    using clock_fn = std::function<ms_t()>;

    /// `pool` is where this shard's messages (ours and the B2BUA's) are built.
    transaction_layer(timer_queue& timers, message_pool& pool, sip_send_fn send, timer_config cfg, clock_fn now);
    ~transaction_layer();

    // --- client side ---
    /// Sends `request` (built with Via branch `branch`) to `dest` and runs the
    /// client state machine. `on_response` sees each distinct response once
    /// (provisional and final); `on_timeout` fires on timer B/F, and for an INVITE that
    /// was CANCELled (cancel() below) 64*T1 after the CANCEL when no final response came
    /// (RFC 3261 9.1). For an INVITE the ACK for a non-2xx final response is generated here.
    uint64_t send_request(sip::method method, std::string branch, unsigned realm, sip_addr dest,
                          sip_wire request, response_cb on_response, timeout_cb on_timeout);
    /// Passes a response to its client transaction; false if none matches (a
    /// retransmitted 2xx after the ICT ended, or a stray response).
    bool on_response(const inbound& in);
    /// RFC 3261 9.1: CANCELs INVITE client transaction `id`. The CANCEL is built from the
    /// INVITE itself (Request-URI, top Via, From, To, Call-ID, CSeq number, Route headers) and
    /// goes where the INVITE went: at once when a provisional response has come, otherwise on
    /// the first one (before it, a CANCEL could overtake its INVITE). From then on the INVITE
    /// waits 64*T1 at most for its final response (a 487, or a 2xx that crossed the CANCEL).
    /// False when there is nothing to cancel: no such transaction, not an INVITE, or its
    /// final response is in. A second call sends no second CANCEL. `reason`, when given, is the
    /// value of a Reason header the CANCEL carries (RFC 3326: why the INVITE is given up).
    bool cancel(uint64_t id, std::string_view reason = {});
    /// Forgets the callbacks of a client transaction (its call ended) while the
    /// state machine itself keeps absorbing retransmissions; an INVITE still waiting for its
    /// final response waits 64*T1 more at most.
    void detach_client(uint64_t id);

    // --- server side ---
    /// True if `in` is a retransmission of a request with a server transaction
    /// (the last response is re-sent) or the ACK of a non-2xx final response.
    bool absorb_request(const inbound& in);
    /// A server transaction for a new request. An INVITE's answers 100 Trying at once.
    uint64_t create_server(const inbound& in);
    /// Sends a response through server transaction `id` and returns it (shared, for the
    /// caller's own retransmissions); empty and nothing sent once the transaction has ended
    /// or sent a final response, or when the pool ran out (then the transaction goes on as
    /// if the response had been lost).
    sip_wire respond(uint64_t id, unsigned status, std::string_view reason, std::string_view to_tag,
                 std::string_view extra, std::string_view content_type = {}, std::string_view body = {});
    /// Header lines (each with its CRLF) the next response of server transaction `id` after its
    /// 100 Trying carries, whoever sends it: news for the peer that belongs to no one response,
    /// such as RFC 9410's Reason for an Identity that failed verification. Once, then gone.
    void add_to_next_response(uint64_t id, std::string headers);
    /// Final status sent by the server transaction, 0 if none yet (or unknown id).
    unsigned final_status(uint64_t id) const;
    /// The INVITE server transaction a CANCEL (same branch) refers to, 0 if none.
    uint64_t find_invite_server(const inbound& cancel) const;

    void set_server_header(std::string server) { server_ = std::move(server); }
    /// Segments of the pool that final responses kept for retransmission must leave free for
    /// messages on their way out (the dataplane's frames_out ring: sent frames hold their
    /// segments until a worker transmits them). Responses are parked as bytes below the larger
    /// of this and a quarter of the pool.
    void keep_free_for_sending(unsigned segments) { send_reserve_ = segments; }
    /// The pool the shard builds its messages in.
    message_pool& pool() { return pool_; }
    const transaction_stats& stats() const { return stats_; }
    size_t size() const { return clients_.size() + servers_.size(); }

private:
    struct client_tx;
    struct server_tx;

    void client_retransmit(uint64_t id);
    /// Sends the CANCEL of INVITE transaction `tx` (a provisional response has come).
    void send_cancel(client_tx& tx);
    /// An INVITE still waiting for its final response (CANCELled or detached) ends 64*T1 from now.
    void limit_pending_invite(client_tx& tx, ms_t now);
    void client_timeout(uint64_t id);
    void client_terminate(uint64_t id);
    void server_retransmit(uint64_t id);
    void keep_for_retransmission(server_tx& tx, const sip_wire& sent);
    void resend_response(const server_tx& tx);
    void server_terminate(uint64_t id);
    /// The INVITE of `tx` parsed where it lies (made contiguous in linear_ if it spans segments).
    bool parse_invite(const client_tx& tx, sip::message& inv);
    /// An ACK or CANCEL for `inv` (RFC 3261 17.1.1.3, 9.1): its Request-URI, top Via, From,
    /// Call-ID, CSeq number and Route headers; To as given (the response's, for an ACK).
    sip_wire request_for_invite(const sip::message& inv, std::string_view method, std::string_view to,
                                std::string_view reason = {});

    timer_queue& timers_;
    message_pool& pool_;
    sip_send_fn send_;
    timer_config cfg_;
    clock_fn now_;
    std::string server_;
    unsigned send_reserve_ = 0;
    std::string linear_;  ///< an INVITE of several segments, made contiguous to build its ACK (rare)
    uint64_t last_id_ = 0;
    std::unordered_map<uint64_t, std::unique_ptr<client_tx>> clients_;
    std::unordered_map<std::string, uint64_t> client_keys_;
    std::unordered_map<uint64_t, std::unique_ptr<server_tx>> servers_;
    std::unordered_map<std::string, uint64_t> server_keys_;
    transaction_stats stats_;
};

}  // namespace sf::control
