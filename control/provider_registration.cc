#include "provider_registration.hh"

#include <algorithm>
#include <charconv>

#include "config.hh"
#include "log.hh"
#include "message_builder.hh"

namespace sf::control {

struct provider_registrations::reg {
    provider_config cfg;
    uint64_t serial = 0;  ///< callbacks carry it: a response for a forgotten registration is ignored
    std::string call_id;  ///< one per registration (RFC 3261 10.2.4)
    std::string from_tag;
    uint32_t cseq = 0;
    state st = state::registering;
    unsigned requested_s = 0;  ///< expiry asked for in the attempt under way
    bool auth_tried = false;   ///< this attempt already answered a challenge
    unsigned expires_s = 0;
    ms_t expires_at = 0;
    unsigned last_status = 0;
    unsigned failures = 0;
    timer_queue::id timer = 0;
    int realm = -1;
    std::string aor;          ///< sip:username@from_host (To and From)
    std::string request_uri;  ///< sip:from_host
    std::string contact_uri;  ///< sip:username@our-address:port
};

namespace {

bool same_registration(const provider_config& a, const provider_config& b) {
    return a.host == b.host && a.port == b.port && a.realm == b.realm && a.username == b.username &&
           a.password == b.password && a.from_host == b.from_host && a.registers == b.registers &&
           a.register_expiry == b.register_expiry;
}

std::optional<unsigned> parse_seconds(std::string_view s) {
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p == s.data()) {
        return std::nullopt;
    }
    return v;
}

// The expires parameter of the Contact value that names `contact` (RFC 3261 10.2.4: the registrar
// lists every binding of the AOR; ours is the one with our URI).
std::optional<unsigned> contact_expires(const sip::message& m, std::string_view contact) {
    for (unsigned h = 0; h < m.n_headers; ++h) {
        if (m.headers[h].id != sip::hdr::contact) {
            continue;
        }
        std::string_view v = m.headers[h].value;
        for (size_t at = v.find(contact); at != std::string_view::npos; at = v.find(contact, at + 1)) {
            std::string_view rest = v.substr(at + contact.size());
            const size_t end = rest.find(',');
            rest = rest.substr(0, end);
            const size_t p = rest.find(";expires=");
            if (p != std::string_view::npos) {
                return parse_seconds(rest.substr(p + 9));
            }
        }
    }
    return std::nullopt;
}

}  // namespace

const char* provider_registrations::state_name(state s) {
    switch (s) {
    case state::registering: return "registering";
    case state::registered: return "registered";
    case state::retry_wait: return "retry_wait";
    case state::unregistering: return "unregistering";
    }
    return "?";
}

provider_registrations::provider_registrations(provider_registration_env env) : env_(std::move(env)) {}

provider_registrations::~provider_registrations() {
    for (auto& [name, r] : regs_) {
        env_.timers.cancel(r->timer);
    }
    for (auto& r : leaving_) {
        env_.timers.cancel(r->timer);
    }
}

void provider_registrations::configure(const std::vector<provider_config>& providers) {
    std::map<std::string, std::unique_ptr<reg>> next;
    for (const provider_config& p : providers) {
        if (!p.registers) {
            continue;
        }
        auto old = regs_.find(p.name);
        if (old != regs_.end() && same_registration(old->second->cfg, p)) {
            next.emplace(p.name, std::move(old->second));  // unchanged: keeps its binding and timers
            regs_.erase(old);
            continue;
        }
        auto r = std::make_unique<reg>();
        r->cfg = p;
        r->serial = ++next_serial_;
        r->call_id = random_token(32);
        r->from_tag = random_token(16);
        r->cseq = 0;
        r->realm = p.realm >= 0 ? p.realm : env_.route(p.host);
        const std::string& host = p.from_host.empty() ? ipv4_to_string(p.host) : p.from_host;
        r->aor = "sip:" + p.username + "@" + host;
        r->request_uri = "sip:" + host;
        if (r->realm >= 0) {
            const realm_info& ri = env_.realm(static_cast<unsigned>(r->realm));
            r->contact_uri = "sip:" + p.username + "@" + ri.addr_text + ":" + std::to_string(env_.sip_port);
        }
        reg& ref = *r;
        next.emplace(p.name, std::move(r));
        send_register(ref, p.register_expiry);
    }
    // What is left was removed or changed: its binding goes (best effort, one attempt).
    for (auto& [name, r] : regs_) {
        unregister_and_forget(std::move(r));
    }
    regs_ = std::move(next);
}

void provider_registrations::send_register(reg& r, unsigned expires, std::string auth_header) {
    env_.timers.cancel(r.timer);
    r.timer = 0;
    if (r.realm < 0) {
        log_info("provider %s: no port reaches %s, not registering", r.cfg.name.c_str(),
                 ipv4_to_string(r.cfg.host).c_str());
        failed(r, 0);
        return;
    }
    if (auth_header.empty()) {
        r.auth_tried = false;  // a new attempt may answer one challenge again
    }
    r.requested_s = expires;
    if (r.st != state::unregistering) {
        r.st = state::registering;
    }
    const realm_info& ri = env_.realm(static_cast<unsigned>(r.realm));
    const std::string branch = "z9hG4bK" + random_token(20);
    const std::string from = "<" + r.aor + ">;tag=" + r.from_tag;
    const std::string to = "<" + r.aor + ">";
    const std::string contact = "<" + r.contact_uri + ">";
    const std::string extra = auth_header + "Expires: " + std::to_string(expires) + "\r\n";
    request_spec rs;
    rs.method = "REGISTER";
    rs.request_uri = r.request_uri;
    rs.via_host = ri.addr_text;
    rs.via_port = env_.sip_port;
    rs.branch = branch;
    rs.max_forwards = env_.max_forwards;
    rs.from = from;
    rs.to = to;
    rs.call_id = r.call_id;
    rs.cseq = ++r.cseq;
    rs.contact = contact;
    rs.extra = extra;
    rs.user_agent = env_.user_agent;
    const std::string name = r.cfg.name;
    const uint64_t serial = r.serial;
    ++stats_.registers_sent;
    env_.tl.send_request(
        sip::method::register_, branch, static_cast<unsigned>(r.realm), sip_addr{r.cfg.host, r.cfg.port},
        build_request(env_.tl.pool(), rs), [this, name, serial](const inbound& in) { on_response(name, serial, in); },
        [this, name, serial] { on_timeout(name, serial); });
}

void provider_registrations::on_response(const std::string& name, uint64_t serial, const inbound& in) {
    reg* r = nullptr;
    if (auto it = regs_.find(name); it != regs_.end() && it->second->serial == serial) {
        r = it->second.get();
    }
    auto leaving = std::find_if(leaving_.begin(), leaving_.end(), [&](const auto& l) { return l->serial == serial; });
    if (r == nullptr && leaving != leaving_.end()) {
        r = leaving->get();
    }
    if (r == nullptr) {
        return;
    }
    const sip::message& m = *in.msg;
    if (m.status < 200) {
        return;
    }
    const bool unregistering = r->st == state::unregistering;
    if ((m.status == 401 || m.status == 407) && !r->auth_tried && !r->cfg.username.empty()) {
        const sip::hdr which = m.status == 407 ? sip::hdr::proxy_authenticate : sip::hdr::www_authenticate;
        std::vector<std::string_view> challenges;
        for (unsigned h = 0; h < m.n_headers; ++h) {
            if (m.headers[h].id == which) {
                challenges.push_back(m.headers[h].value);
            }
        }
        std::string credentials;
        if (const char* why = digest_.authorize(std::span<const std::string_view>(challenges), "REGISTER",
                                                r->request_uri, r->cfg.username, r->cfg.password, credentials)) {
            log_info("provider %s: cannot answer its %u: %s", name.c_str(), m.status, why);
        } else {
            r->auth_tried = true;  // kept by send_register: a second challenge in this attempt fails it
            ++stats_.auth_answered;
            send_register(*r, r->requested_s,
                          std::string(m.status == 407 ? "Proxy-Authorization: " : "Authorization: ") + credentials +
                              "\r\n");
            return;
        }
    }
    if (m.status == 423 && !unregistering) {
        // Interval Too Brief: ask again with the registrar's minimum (RFC 3261 10.2.8), once per minimum.
        const sip::header* min = m.find("Min-Expires");
        const auto v = min != nullptr ? parse_seconds(min->value) : std::nullopt;
        if (v && *v > r->requested_s && *v <= 86'400) {
            log_info("provider %s: 423, registering again for %u s", name.c_str(), *v);
            send_register(*r, *v);
            return;
        }
    }
    r->last_status = m.status;
    if (unregistering) {
        if (m.status < 300) {
            ++stats_.unregistered;
            log_info("provider %s: unregistered", name.c_str());
        } else {
            log_info("provider %s: unregistering got %u (the binding lapses on its own)", name.c_str(), m.status);
        }
        if (leaving != leaving_.end()) {
            leaving_.erase(leaving);
        }
        return;
    }
    if (m.status >= 300) {
        log_info("provider %s: REGISTER refused with %u", name.c_str(), m.status);
        failed(*r, m.status);
        return;
    }
    unsigned granted = r->requested_s;
    if (const auto c = contact_expires(m, r->contact_uri)) {
        granted = *c;
    } else if (const sip::header* e = m.find(sip::hdr::expires)) {
        granted = parse_seconds(e->value).value_or(granted);
    }
    if (granted == 0) {
        log_info("provider %s: 2xx without a binding for %s", name.c_str(), r->contact_uri.c_str());
        failed(*r, m.status);
        return;
    }
    r->st = state::registered;
    r->failures = 0;
    r->expires_s = granted;
    r->expires_at = env_.now() + ms_t{granted} * 1000;
    ++stats_.registered;
    log_info("provider %s: registered as %s for %u s", name.c_str(), r->contact_uri.c_str(), granted);
    // Refresh well before the binding lapses: 30 s early, or at half time for short ones.
    const unsigned lead = granted > 60 ? 30 : granted / 2;
    schedule(*r, ms_t{granted - lead} * 1000, true);
}

void provider_registrations::on_timeout(const std::string& name, uint64_t serial) {
    if (auto it = regs_.find(name); it != regs_.end() && it->second->serial == serial) {
        log_info("provider %s: REGISTER unanswered", name.c_str());
        failed(*it->second, 408);
        return;
    }
    std::erase_if(leaving_, [&](const auto& l) { return l->serial == serial; });
}

void provider_registrations::failed(reg& r, unsigned status) {
    ++stats_.failures;
    r.last_status = status;
    ++r.failures;
    if (r.expires_at != 0 && env_.now() >= r.expires_at) {
        r.expires_s = 0;
        r.expires_at = 0;
    }
    r.st = state::retry_wait;
    const unsigned shift = std::min(r.failures - 1, 10u);
    schedule(r, std::min(max_retry_ms, first_retry_ms << shift), false);
}

void provider_registrations::schedule(reg& r, ms_t delay, bool refresh) {
    env_.timers.cancel(r.timer);
    const std::string name = r.cfg.name;
    const uint64_t serial = r.serial;
    r.timer = env_.timers.add(env_.now() + delay, [this, name, serial, refresh] {
        auto it = regs_.find(name);
        if (it == regs_.end() || it->second->serial != serial) {
            return;
        }
        reg& x = *it->second;
        x.timer = 0;
        if (refresh) {
            log_info("provider %s: refreshing the registration", name.c_str());
        }
        send_register(x, x.cfg.register_expiry);
    });
}

void provider_registrations::unregister_and_forget(std::unique_ptr<reg> r) {
    env_.timers.cancel(r->timer);
    r->timer = 0;
    if (r->expires_at == 0 || r->realm < 0) {
        return;  // nothing bound (or nowhere to send): simply forget it
    }
    r->st = state::unregistering;
    reg& ref = *r;
    leaving_.push_back(std::move(r));
    send_register(ref, 0);
}

std::optional<provider_registrations::view> provider_registrations::find(const std::string& provider) const {
    auto it = regs_.find(provider);
    if (it == regs_.end()) {
        return std::nullopt;
    }
    const reg& r = *it->second;
    return view{r.st, r.expires_s, r.expires_at, r.last_status, r.failures};
}

void provider_registrations::write_json(json_writer& j) const {
    j.begin_object();
    const ms_t now = env_.now();
    for (const auto& [name, r] : regs_) {
        j.key(name).begin_object();
        j.key("state").value(state_name(r->st));
        j.key("contact").value(r->contact_uri);
        j.key("expires_s").value(r->expires_s);
        j.key("expires_in_s").value(r->expires_at > now ? (r->expires_at - now) / 1000 : uint64_t{0});
        j.key("last_status").value(r->last_status);
        j.key("failures").value(r->failures);
        j.end_object();
    }
    j.end_object();
}

}  // namespace sf::control
