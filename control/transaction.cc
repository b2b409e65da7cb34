#include "transaction.hh"

#include <rte_mempool.h>

#include <algorithm>

namespace sf::control {

namespace {

std::string client_key(std::string_view branch, std::string_view cseq_method) {
    std::string k(branch);
    k.append("|").append(cseq_method);
    return k;
}

// ACK belongs to the INVITE transaction; CANCEL has its own (RFC 3261 17.2.3).
std::string server_key(const sip::message& m) {
    std::string_view method = m.req_method == sip::method::ack ? std::string_view("INVITE") : m.method_name;
    std::string k(m.top_via.branch);
    k.append("|").append(method).append("|").append(m.top_via.host).append("|").append(m.call_id);
    return k;
}

}  // namespace

struct transaction_layer::client_tx {
    enum class state : uint8_t { calling, proceeding, completed, terminated };
    uint64_t id = 0;
    bool invite = false;
    bool limited = false;        ///< ICT: CANCELled or detached, RFC 3261 9.1's 64*T1 runs
    bool cancel_wanted = false;  ///< ICT: cancel() was called (CANCEL on the first provisional)
    bool cancel_sent = false;
    std::string cancel_reason;   ///< the CANCEL's Reason header value (RFC 3326), if any
    state st = state::calling;
    std::string key;
    unsigned realm = 0;
    sip_addr dest;
    sip_wire request;
    sip_wire ack;  ///< ICT: ACK for the non-2xx final, re-sent on retransmissions
    unsigned interval = 0;
    timer_queue::id retransmit_timer = 0, timeout_timer = 0;
    response_cb on_response;
    timeout_cb on_timeout;
};

struct transaction_layer::server_tx {
    enum class state : uint8_t { trying, proceeding, completed, confirmed, terminated };
    uint64_t id = 0;
    bool invite = false;
    state st = state::trying;
    std::string key;
    unsigned realm = 0;
    sip_addr reply_to;
    response_base base;
    sip_wire last_response;
    /// The same response as bytes when the pool was low as it was sent (last_response empty).
    std::string parked;
    unsigned final_status = 0;
    unsigned interval = 0;
    std::string next_extra;  ///< add_to_next_response()
    timer_queue::id retransmit_timer = 0, timeout_timer = 0;
};

transaction_layer::transaction_layer(timer_queue& timers, message_pool& pool, sip_send_fn send, timer_config cfg,
                                     clock_fn now)
    : timers_(timers), pool_(pool), send_(std::move(send)), cfg_(cfg), now_(std::move(now)) {}

transaction_layer::~transaction_layer() {
    for (auto& [id, tx] : clients_) {
        timers_.cancel(tx->retransmit_timer);
        timers_.cancel(tx->timeout_timer);
    }
    for (auto& [id, tx] : servers_) {
        timers_.cancel(tx->retransmit_timer);
        timers_.cancel(tx->timeout_timer);
    }
}

// ---------------------------------------------------------------- client

uint64_t transaction_layer::send_request(sip::method method, std::string branch, unsigned realm, sip_addr dest,
                                         sip_wire request, response_cb on_response, timeout_cb on_timeout) {
    auto tx = std::make_unique<client_tx>();
    tx->id = ++last_id_;
    tx->invite = method == sip::method::invite;
    tx->key = client_key(branch, sip::method_token(method));
    tx->realm = realm;
    tx->dest = dest;
    tx->request = std::move(request);
    tx->interval = cfg_.t1_ms;
    tx->on_response = std::move(on_response);
    tx->on_timeout = std::move(on_timeout);
    const uint64_t id = tx->id;
    const ms_t now = now_();
    // Timer A / E: retransmit; timer B / F: give up after 64*T1.
    tx->retransmit_timer = timers_.add(now + tx->interval, [this, id] { client_retransmit(id); });
    tx->timeout_timer = timers_.add(now + 64ull * cfg_.t1_ms, [this, id] { client_timeout(id); });
    send_(tx->realm, tx->dest, tx->request);
    client_keys_[tx->key] = id;
    clients_.emplace(id, std::move(tx));
    ++stats_.client_created;
    return id;
}

bool transaction_layer::cancel(uint64_t id, std::string_view reason) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return false;
    }
    client_tx& tx = *it->second;
    if (!tx.invite || (tx.st != client_tx::state::calling && tx.st != client_tx::state::proceeding)) {
        return false;
    }
    if (!tx.cancel_wanted) {
        tx.cancel_wanted = true;
        tx.cancel_reason = std::string(reason);
        if (tx.st == client_tx::state::proceeding) {
            send_cancel(tx);
        }
    }
    return true;
}

void transaction_layer::send_cancel(client_tx& tx) {
    tx.cancel_sent = true;
    // RFC 3261 9.1: with no final response to the INVITE 64*T1 after its CANCEL, the client
    // considers it cancelled and destroys the transaction. Without this, a callee that sent a
    // provisional response and then nothing (gone, or unwilling) would keep the INVITE
    // transaction, and the message segments it holds, for ever.
    limit_pending_invite(tx, now_());
    sip::message inv;
    if (!parse_invite(tx, inv)) {
        return;  // not one we built: nothing to take the CANCEL from
    }
    std::string branch(inv.top_via.branch);
    sip_wire text = request_for_invite(inv, "CANCEL", inv.find(sip::hdr::to)->value, tx.cancel_reason);
    if (text.empty()) {
        return;  // pool exhausted: the 64*T1 limit still ends the INVITE
    }
    // The CANCEL is a non-INVITE transaction of its own (timer E/F); nobody waits for its 200.
    send_request(sip::method::cancel, std::move(branch), tx.realm, tx.dest, std::move(text), nullptr, nullptr);
}

void transaction_layer::limit_pending_invite(client_tx& tx, ms_t now) {
    if (!tx.invite || tx.limited ||
        (tx.st != client_tx::state::calling && tx.st != client_tx::state::proceeding)) {
        return;  // not an INVITE, limited already, or answered: nothing to give up
    }
    tx.limited = true;
    timers_.cancel(tx.timeout_timer);
    const uint64_t id = tx.id;
    tx.timeout_timer = timers_.add(now + 64ull * cfg_.t1_ms, [this, id] { client_timeout(id); });
}

void transaction_layer::client_retransmit(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    client_tx& tx = *it->second;
    tx.retransmit_timer = 0;
    if (tx.st != client_tx::state::calling && tx.st != client_tx::state::proceeding) {
        return;
    }
    if (tx.invite && tx.st == client_tx::state::proceeding) {
        return;  // a provisional response stops timer A
    }
    send_(tx.realm, tx.dest, tx.request);
    ++stats_.retransmissions_sent;
    if (tx.invite) {
        tx.interval *= 2;  // timer A doubles without a cap
    } else {
        // Timer E doubles up to T2; in Proceeding it stays at T2.
        tx.interval = tx.st == client_tx::state::proceeding ? cfg_.t2_ms : std::min(tx.interval * 2, cfg_.t2_ms);
    }
    tx.retransmit_timer = timers_.add(now_() + tx.interval, [this, id] { client_retransmit(id); });
}

void transaction_layer::client_timeout(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    client_tx& tx = *it->second;
    tx.timeout_timer = 0;
    if (tx.st == client_tx::state::completed || tx.st == client_tx::state::terminated) {
        client_terminate(id);  // timer D / K ran out
        return;
    }
    if (tx.invite && tx.st == client_tx::state::proceeding && !tx.limited) {
        return;  // timer B only applies while Calling (a CANCEL sets a limit of its own)
    }
    ++stats_.timeouts;
    auto cb = std::move(tx.on_timeout);
    client_terminate(id);
    if (cb) {
        cb();
    }
}

void transaction_layer::client_terminate(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    timers_.cancel(it->second->retransmit_timer);
    timers_.cancel(it->second->timeout_timer);
    client_keys_.erase(it->second->key);
    clients_.erase(it);
}

void transaction_layer::detach_client(uint64_t id) {
    auto it = clients_.find(id);
    if (it == clients_.end()) {
        return;
    }
    client_tx& tx = *it->second;
    tx.on_response = nullptr;
    tx.on_timeout = nullptr;
    // An INVITE nobody waits for any more still ACKs a late final response, but only for 64*T1
    // (as after a CANCEL, RFC 3261 9.1): in Proceeding it has no timer of its own, and a peer
    // that never answers would keep it for good.
    limit_pending_invite(tx, now_());
}

bool transaction_layer::parse_invite(const client_tx& tx, sip::message& inv) {
    // The INVITE is parsed where it lies; one larger than a segment is made contiguous first
    // (the parser wants one buffer).
    std::string_view text = tx.request.contiguous();
    if (text.empty() && !tx.request.empty()) {
        linear_.resize(tx.request.size());
        linear_.resize(tx.request.copy_to(linear_.data(), linear_.size()));
        text = linear_;
    }
    return !text.empty() && sip::parse(text, inv) == sip::parse_error::ok;
}

sip_wire transaction_layer::request_for_invite(const sip::message& inv, std::string_view method,
                                               std::string_view to, std::string_view reason) {
    // RFC 3261 17.1.1.3 (ACK) and 9.1 (CANCEL): the INVITE's Request-URI, top Via, From,
    // Call-ID, CSeq number and Route headers, so it takes the INVITE's path hop by hop.
    sip_writer w(pool_);
    w.append(method).append(" ").append(inv.request_uri).append(" SIP/2.0\r\n");
    w.header("Via", inv.top_via.raw);
    w.append("Max-Forwards: 70\r\n");
    for (unsigned i = 0; i < inv.n_headers; ++i) {
        if (inv.headers[i].id == sip::hdr::route) {
            w.header("Route", inv.headers[i].value);
        }
    }
    w.header("From", inv.find(sip::hdr::from)->value);
    w.header("To", to);
    w.header("Call-ID", inv.call_id);
    w.append("CSeq: ").append_uint(inv.cseq).append(" ").append(method).append("\r\n");
    if (!reason.empty()) {
        w.header("Reason", reason);
    }
    w.append("Content-Length: 0\r\n\r\n");
    return w.finish();
}

bool transaction_layer::on_response(const inbound& in) {
    const sip::message& m = *in.msg;
    auto k = client_keys_.find(client_key(m.top_via.branch, m.cseq_method_name));
    if (k == client_keys_.end()) {
        ++stats_.stray_responses;
        return false;
    }
    const uint64_t id = k->second;
    client_tx& tx = *clients_.at(id);
    const unsigned status = m.status;

    if (tx.st == client_tx::state::completed) {
        // A retransmitted final response: the ICT re-sends its ACK, the NICT absorbs it.
        if (tx.invite && status >= 300 && !tx.ack.empty()) {
            send_(tx.realm, tx.dest, tx.ack);
        }
        ++stats_.retransmissions_absorbed;
        return true;
    }
    if (status < 200) {
        if (tx.st == client_tx::state::calling) {
            tx.st = client_tx::state::proceeding;
            if (tx.invite) {
                timers_.cancel(tx.retransmit_timer);
                tx.retransmit_timer = 0;
            }
        }
        if (tx.cancel_wanted && !tx.cancel_sent) {
            send_cancel(tx);  // any provisional response, 100 included, allows it (RFC 3261 9.1)
        }
        if (tx.on_response) {
            tx.on_response(in);
        }
        return true;
    }

    response_cb cb = tx.on_response;
    if (tx.invite && status < 300) {
        // 2xx ends the ICT at once; the TU ACKs and absorbs retransmitted 2xx.
        client_terminate(id);
    } else {
        tx.st = client_tx::state::completed;
        timers_.cancel(tx.retransmit_timer);
        timers_.cancel(tx.timeout_timer);
        tx.retransmit_timer = 0;
        if (tx.invite) {
            sip::message inv;
            if (parse_invite(tx, inv)) {
                tx.ack = request_for_invite(inv, "ACK", m.find(sip::hdr::to)->value);
            }
            if (!tx.ack.empty()) {
                send_(tx.realm, tx.dest, tx.ack);
            }
        }
        // Timer D (32 s on UDP) for the ICT, K (T4) for the NICT: absorb retransmissions.
        const ms_t linger = tx.invite ? std::max<ms_t>(32000, 64ull * cfg_.t1_ms) : cfg_.t4_ms;
        tx.timeout_timer = timers_.add(now_() + linger, [this, id] { client_timeout(id); });
    }
    if (cb) {
        cb(in);
    }
    return true;
}

// ---------------------------------------------------------------- server

bool transaction_layer::absorb_request(const inbound& in) {
    const sip::message& m = *in.msg;
    auto k = server_keys_.find(server_key(m));
    if (k == server_keys_.end()) {
        return false;
    }
    server_tx& tx = *servers_.at(k->second);
    if (m.req_method == sip::method::ack) {
        if (!tx.invite || tx.final_status < 300) {
            return false;  // ACK for a 2xx: a separate transaction, the TU's business
        }
        if (tx.st == server_tx::state::completed) {
            // Timer I: stay Confirmed for T4 to absorb ACK retransmissions.
            tx.st = server_tx::state::confirmed;
            timers_.cancel(tx.retransmit_timer);
            timers_.cancel(tx.timeout_timer);
            tx.retransmit_timer = 0;
            const uint64_t id = tx.id;
            tx.timeout_timer = timers_.add(now_() + cfg_.t4_ms, [this, id] { server_terminate(id); });
        }
        ++stats_.retransmissions_absorbed;
        return true;
    }
    // A retransmitted request: repeat the last response, if any.
    if (tx.st != server_tx::state::confirmed) {
        resend_response(tx);
    }
    ++stats_.retransmissions_absorbed;
    return true;
}

uint64_t transaction_layer::create_server(const inbound& in) {
    const sip::message& m = *in.msg;
    auto tx = std::make_unique<server_tx>();
    tx->id = ++last_id_;
    tx->invite = m.req_method == sip::method::invite;
    tx->key = server_key(m);
    tx->realm = in.realm;
    tx->reply_to = response_address(in);
    tx->base = response_base::from_request(m);
    tx->st = tx->invite ? server_tx::state::proceeding : server_tx::state::trying;
    const uint64_t id = tx->id;
    server_keys_[tx->key] = id;
    servers_.emplace(id, std::move(tx));
    ++stats_.server_created;
    if (m.req_method == sip::method::invite) {
        respond(id, 100, "Trying", {}, {});
    }
    return id;
}

void transaction_layer::add_to_next_response(uint64_t id, std::string headers) {
    if (auto it = servers_.find(id); it != servers_.end() && it->second->final_status == 0) {
        it->second->next_extra += headers;
    }
}

sip_wire transaction_layer::respond(uint64_t id, unsigned status, std::string_view reason,
                                       std::string_view to_tag, std::string_view extra, std::string_view content_type,
                                       std::string_view body) {
    auto it = servers_.find(id);
    if (it == servers_.end()) {
        return {};
    }
    server_tx& tx = *it->second;
    if (tx.final_status != 0) {
        return {};  // one final response per transaction
    }
    std::string with_next;
    if (status > 100 && !tx.next_extra.empty()) {
        with_next = std::string(extra) + tx.next_extra;
        extra = with_next;
        tx.next_extra.clear();
    }
    sip_wire sent = build_response(pool_, tx.base, status, reason, to_tag, extra, server_, content_type, body);
    send_(tx.realm, tx.reply_to, sent);
    if (status < 200) {
        if (tx.st == server_tx::state::trying) {
            tx.st = server_tx::state::proceeding;
        }
        keep_for_retransmission(tx, sent);
        return sent;
    }
    tx.final_status = status;
    if (tx.invite && status < 300) {
        // 2xx: the IST ends; the TU retransmits the 2xx until the ACK (RFC 3261 13.3.1.4).
        server_terminate(id);
        return sent;
    }
    keep_for_retransmission(tx, sent);
    tx.st = server_tx::state::completed;
    const ms_t now = now_();
    if (tx.invite) {
        // Timer G retransmits the final response until the ACK; timer H gives up.
        tx.interval = cfg_.t1_ms;
        tx.retransmit_timer = timers_.add(now + tx.interval, [this, id] { server_retransmit(id); });
        tx.timeout_timer = timers_.add(now + 64ull * cfg_.t1_ms, [this, id] {
            ++stats_.timeouts;
            server_terminate(id);
        });
    } else {
        // Timer J: absorb request retransmissions for 64*T1.
        tx.timeout_timer = timers_.add(now + 64ull * cfg_.t1_ms, [this, id] { server_terminate(id); });
    }
    return sent;
}

// A completed server transaction holds its final response for 32 s (timer J, or H without an
// ACK), so a flood of distinct requests from many sources (each one its own transaction, past any
// per-source limit) would pin one message mbuf per request and leave none for building anything
// else: no answer to anybody until they expire. Below a quarter of the pool free, the response is
// kept as bytes on the heap instead (a few hundred bytes each, where memory is plentiful) and
// rebuilt into mbufs only if the request is retransmitted; RFC 3261 17.2 behaviour is unchanged.
// The threshold is at least the send reserve: while a worker is off its CPU the responses to a
// flood pile up in frames_out (4095 of them), each holding its segments, and a quarter of an 8191
// pool was not enough for that (the lab saw the pool run dry).
void transaction_layer::keep_for_retransmission(server_tx& tx, const sip_wire& sent) {
    tx.parked.clear();
    const rte_mempool* mp = pool_.mempool();
    if (sent.empty() || pool_.available() >= std::max(mp->size / 4, send_reserve_)) {
        tx.last_response = sent;
        return;
    }
    tx.last_response.reset();
    tx.parked.resize(sent.size());
    tx.parked.resize(sent.copy_to(tx.parked.data(), tx.parked.size()));
    ++stats_.responses_parked;
}

void transaction_layer::resend_response(const server_tx& tx) {
    if (!tx.last_response.empty()) {
        send_(tx.realm, tx.reply_to, tx.last_response);
        return;
    }
    if (tx.parked.empty()) {
        return;  // nothing sent yet, or the pool ran out when it was built: as if it had been lost
    }
    sip_writer w(pool_);
    w.append(tx.parked);
    sip_wire again = w.finish();
    if (!again.empty()) {  // the pool still empty: counted in its alloc_failures, lost like a datagram
        send_(tx.realm, tx.reply_to, again);
    }
}

void transaction_layer::server_retransmit(uint64_t id) {
    auto it = servers_.find(id);
    if (it == servers_.end()) {
        return;
    }
    server_tx& tx = *it->second;
    tx.retransmit_timer = 0;
    if (tx.st != server_tx::state::completed) {
        return;
    }
    resend_response(tx);
    ++stats_.retransmissions_sent;
    tx.interval = std::min(tx.interval * 2, cfg_.t2_ms);
    tx.retransmit_timer = timers_.add(now_() + tx.interval, [this, id] { server_retransmit(id); });
}

void transaction_layer::server_terminate(uint64_t id) {
    auto it = servers_.find(id);
    if (it == servers_.end()) {
        return;
    }
    timers_.cancel(it->second->retransmit_timer);
    timers_.cancel(it->second->timeout_timer);
    server_keys_.erase(it->second->key);
    servers_.erase(it);
}

unsigned transaction_layer::final_status(uint64_t id) const {
    auto it = servers_.find(id);
    return it == servers_.end() ? 0 : it->second->final_status;
}

uint64_t transaction_layer::find_invite_server(const inbound& cancel) const {
    const sip::message& m = *cancel.msg;
    std::string k(m.top_via.branch);
    k.append("|INVITE|").append(m.top_via.host).append("|").append(m.call_id);
    auto it = server_keys_.find(k);
    return it == server_keys_.end() ? 0 : it->second;
}

}  // namespace sf::control
