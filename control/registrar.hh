#pragma once
/// @file
/// The registrar (location service) for users @local: REGISTER processing after
/// RFC 3261 section 10.3, bindings with expiry, several contacts per user ordered by
/// q, the NAT flow each binding was registered over, and OPTIONS keepalive
/// bookkeeping. Pure logic over a parsed message: the B2BUA authenticates the
/// request and picks the account, calls handle(), and answers with
/// build_response(..., result.status, result.reason, tag, result.extra, ...).
/// Time comes from an injected clock (milliseconds, any monotonic origin).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "accounts.hh"
#include "sip_types.hh"

namespace sf::control {

/// `[registrar]`.
struct registrar_config {
    unsigned min_expires = 60;          ///< shorter non-zero expiries get 423 + Min-Expires
    unsigned max_expires = 3600;        ///< longer ones are shortened to this
    unsigned default_expires = 3600;    ///< when neither the contact nor the request says
    unsigned max_contacts_per_user = 10;  ///< a REGISTER that would exceed it gets 403
    unsigned keepalive_s = 30;          ///< OPTIONS keepalive interval per binding, 0 = off
    unsigned keepalive_failures = 3;    ///< consecutive unanswered keepalives that drop a binding
    unsigned max_bindings = 100000;     ///< all users together; beyond it: 503
};

/// One registered contact of a user.
struct binding {
    uint64_t id = 0;          ///< unique for the registrar's life; stays the same on refresh
    std::string user;         ///< the AOR user (To user of the REGISTER)
    std::string account;      ///< the account it registered under
    std::string contact;      ///< Contact URI as registered (no angle brackets)
    std::string params;       ///< Contact header params other than expires and q (";a=b;c"), may be ""
    uint16_t q = 1000;        ///< q-value x 1000 (no q: 1.0)
    sip_addr flow;            ///< where the REGISTER came from: send requests for the contact here
    unsigned realm = 0;       ///< appliance port it arrived on (and requests leave from)
    std::string call_id;
    uint32_t cseq = 0;
    int64_t registered_ms = 0;    ///< last REGISTER that added or refreshed it
    int64_t expires_ms = 0;       ///< absolute expiry
    int64_t next_keepalive_ms = 0;
    unsigned keepalive_misses = 0;
};

/// What to answer a REGISTER.
struct register_result {
    unsigned status = 200;
    std::string reason = "OK";
    /// Complete header lines for the response ("Name: value\r\n"): on 200 one Contact per
    /// current binding with ;expires=remaining seconds (and Date when a wall clock is
    /// set), on 423 Min-Expires, on 503 Retry-After.
    std::string extra;
    unsigned added = 0, refreshed = 0, removed = 0;  ///< what the request changed
};

struct registrar_stats {
    uint64_t requests = 0;   ///< REGISTERs handled
    uint64_t refused = 0;    ///< answered with a non-2xx status
    uint64_t added = 0;
    uint64_t refreshed = 0;
    uint64_t removed = 0;    ///< by expires=0 or Contact: *
    uint64_t expired = 0;    ///< by expire()
    uint64_t keepalive_drops = 0;
};

class registrar {
public:
    using clock_fn = std::function<int64_t()>;

    /// `now_ms`: the clock used by handle() and lookup(). `wall_s`, when given, returns
    /// UNIX seconds and adds a Date header to every 200 (RFC 3261 10.3 step 8).
    explicit registrar(registrar_config cfg, clock_fn now_ms, clock_fn wall_s = {});

    /// Processes a REGISTER from `account`, which the caller has already identified
    /// (digest authentication or source network). `in.msg` must be a parsed REGISTER;
    /// the flow is `in.source` on `in.realm`. The Request-URI and Require are the
    /// caller's to check (RFC 3261 10.3 steps 1-2).
    register_result handle(const inbound& in, const account_config& account);

    /// The live bindings of `user`: highest q first, then most recently registered.
    std::vector<binding> lookup(std::string_view user) const;

    /// Removes the bindings that expired at `now_ms`; returns how many.
    size_t expire(int64_t now_ms);

    /// The bindings whose OPTIONS keepalive is due at `now_ms` (longest overdue first), at
    /// most `max` of them (pacing: the rest stay due for the next call); each is marked as
    /// sent and due again keepalive_s later. Empty when keepalive_s is 0.
    std::vector<binding> due_keepalives(int64_t now_ms, size_t max = SIZE_MAX);
    /// Any response to a keepalive: the binding's flow is alive.
    void keepalive_ok(uint64_t binding_id);
    /// No answer to a keepalive: after keepalive_failures in a row the binding is
    /// dropped. Returns true when it was dropped.
    bool keepalive_failed(uint64_t binding_id);

    /// Removes one binding (e.g. its contact answered 404/410); false if unknown.
    bool remove(uint64_t binding_id);
    /// Removes every binding of `user` (its account went away on reload); returns how many.
    size_t remove_user(std::string_view user);

    /// A new config (reload); bindings stay, new limits apply to the next REGISTERs.
    void set_config(const registrar_config& cfg) { cfg_ = cfg; }
    const registrar_config& config() const { return cfg_; }

    /// Every user with at least one binding (a reload checks they still have an account).
    std::vector<std::string> registered_users() const;

    size_t size() const { return by_id_.size(); }
    size_t users() const { return by_user_.size(); }
    const registrar_stats& stats() const { return stats_; }

private:
    register_result refuse(unsigned status, std::string reason, std::string extra = {});
    void insert(binding b);
    void erase(uint64_t id);
    void reschedule(binding& b, int64_t expires_ms, int64_t next_keepalive_ms);
    std::string contacts_of(std::string_view user, int64_t now) const;

    registrar_config cfg_;
    clock_fn now_ms_;
    clock_fn wall_s_;
    uint64_t next_id_ = 0;
    std::unordered_map<uint64_t, binding> by_id_;
    std::unordered_map<std::string, std::vector<uint64_t>> by_user_;
    std::set<std::pair<int64_t, uint64_t>> expiry_;     ///< (expires_ms, id)
    std::set<std::pair<int64_t, uint64_t>> keepalive_;  ///< (next_keepalive_ms, id), when keepalive is on
    registrar_stats stats_;
};

/// RFC 3261 19.1.4 URI equality for Contact matching (scheme, user and password
/// case-sensitive; host case-insensitive; port as written; transport, user, ttl, method
/// and maddr parameters must agree, other parameters only when both carry them;
/// URI headers must agree).
bool same_uri(std::string_view a, std::string_view b);

/// An IMF-fixdate for the Date header ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string sip_date(int64_t unix_s);

}  // namespace sf::control
