#include "registrar.hh"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <limits>

#include "sip/ascii.hh"
#include "sip/sip_uri.hh"
#include "sip_header_values.hh"
#include "text.hh"

namespace sf::control {

namespace {

// Longest Contact URI / parameter text a binding keeps (memory is bounded per binding).
constexpr size_t max_contact_uri = 512;
constexpr size_t max_contact_params = 512;



std::string q_text(uint16_t q) {
    if (q >= 1000) {
        return "1";
    }
    std::string s = "0." + std::to_string(1000 + q).substr(1);
    while (s.back() == '0') {
        s.pop_back();
    }
    return s.back() == '.' ? "0" : s;
}

// Splits ";a=b;c" parameter text into its elements, honouring quoted strings.
std::vector<std::string_view> split_params(std::string_view params) {
    std::vector<std::string_view> out;
    size_t b = 0;
    bool quoted = false;
    for (size_t i = 0; i <= params.size(); ++i) {
        if (i == params.size() || (!quoted && params[i] == ';')) {
            std::string_view p = trim_view(params.substr(b, i - b));
            if (!p.empty()) {
                out.push_back(p);
            }
            b = i + 1;
        } else if (params[i] == '"') {
            quoted = !quoted;
        } else if (quoted && params[i] == '\\') {
            ++i;
        }
    }
    return out;
}

std::string_view param_name(std::string_view p) {
    return trim_view(p.substr(0, p.find('=')));
}

// The Contact header params to keep with a binding: all but expires and q.
std::string kept_params(std::string_view params) {
    std::string out;
    for (std::string_view p : split_params(params)) {
        const std::string_view n = param_name(p);
        if (sip::iequals_ascii(n, "expires") || sip::iequals_ascii(n, "q")) {
            continue;
        }
        out += ';';
        out += p;
    }
    return out;
}

bool sip_scheme(std::string_view scheme) {
    return sip::iequals_ascii(scheme, "sip") || sip::iequals_ascii(scheme, "sips");
}

struct requested_contact {
    std::string_view uri;
    std::string_view params;
    uint16_t q = 1000;
    uint64_t expires = 0;  ///< resolved: param, else Expires header, else default (clamped later)
};

}  // namespace

bool same_uri(std::string_view a, std::string_view b) {
    sip::uri ua;
    sip::uri ub;
    if (!sip::parse_uri(a, ua) || !sip::parse_uri(b, ub)) {
        return a == b;
    }
    if (!sip::iequals_ascii(ua.scheme, ub.scheme) || ua.user != ub.user || ua.password != ub.password ||
        !sip::iequals_ascii(ua.host, ub.host) || ua.port != ub.port) {
        return false;
    }
    // Parameters: the ones RFC 3261 19.1.4 lists must agree when either URI has them,
    // any other only when both have it.
    auto check = [](std::string_view from, std::string_view other) {
        for (std::string_view p : split_params(from)) {
            const std::string_view name = param_name(p);
            bool found = false;
            const std::string_view v = sip::find_param(other, name, &found);
            const auto eq = p.find('=');
            const std::string_view mine = eq == std::string_view::npos ? std::string_view{} : trim_view(p.substr(eq + 1));
            const bool special = sip::iequals_ascii(name, "transport") || sip::iequals_ascii(name, "user") || sip::iequals_ascii(name, "ttl") ||
                                 sip::iequals_ascii(name, "method") || sip::iequals_ascii(name, "maddr");
            if (!found) {
                if (special) {
                    return false;
                }
                continue;
            }
            if (!sip::iequals_ascii(mine, v)) {
                return false;
            }
        }
        return true;
    };
    if (!check(ua.params, ub.params) || !check(ub.params, ua.params)) {
        return false;
    }
    return ua.headers == ub.headers;
}

std::string sip_date(int64_t unix_s) {
    static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t t = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
                  months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

registrar::registrar(registrar_config cfg, clock_fn now_ms, clock_fn wall_s)
    : cfg_(cfg), now_ms_(std::move(now_ms)), wall_s_(std::move(wall_s)) {}

register_result registrar::refuse(unsigned status, std::string reason, std::string extra) {
    ++stats_.refused;
    register_result r;
    r.status = status;
    r.reason = std::move(reason);
    r.extra = std::move(extra);
    return r;
}

register_result registrar::handle(const inbound& in, const account_config& account) {
    ++stats_.requests;
    const int64_t now = now_ms_();
    if (in.msg == nullptr || !in.msg->is_request || in.msg->req_method != sip::method::register_) {
        return refuse(400, "Not a REGISTER");
    }
    const sip::message& msg = *in.msg;

    // Step 3: the address-of-record from To; only the account's own users.
    sip::uri aor;
    if (!sip::parse_uri(msg.to.uri, aor) || !sip_scheme(aor.scheme) || aor.user.empty()) {
        return refuse(400, "Invalid To URI");
    }
    if (!account.may_register || !account.has_user(aor.user)) {
        return refuse(403, "Forbidden");
    }
    const std::string user(aor.user);

    // Expires header (applies to contacts without an expires parameter).
    bool has_expires_header = false;
    uint64_t expires_header = 0;
    if (const sip::header* h = msg.find(sip::hdr::expires)) {
        if (msg.count(sip::hdr::expires) != 1 || !parse_delta_seconds(h->value, expires_header)) {
            return refuse(400, "Invalid Expires");
        }
        has_expires_header = true;
    }

    // The Contact list (several header lines, each maybe a comma list).
    std::vector<contact_value> parsed;
    for (unsigned i = 0; i < msg.n_headers; ++i) {
        if (msg.headers[i].id != sip::hdr::contact) {
            continue;
        }
        if (const char* why = parse_contact_list(msg.headers[i].value, parsed)) {
            return refuse(400, why);
        }
    }
    std::vector<requested_contact> contacts;
    unsigned stars = 0;
    for (const contact_value& cv : parsed) {
        if (cv.star) {
            ++stars;
            continue;
        }
        sip::uri u;
        if (!sip::parse_uri(cv.uri, u) || !sip_scheme(u.scheme) || u.host.empty()) {
            return refuse(400, "Invalid Contact");
        }
        if (cv.uri.size() > max_contact_uri || cv.params.size() > max_contact_params) {
            return refuse(400, "Contact Too Long");
        }
        requested_contact rc;
        rc.uri = cv.uri;
        rc.params = cv.params;
        rc.q = cv.q;
        rc.expires = cv.has_expires ? cv.expires : has_expires_header ? expires_header : cfg_.default_expires;
        contacts.push_back(rc);
    }

    // Step 6: "*" only alone and with Expires: 0.
    if (stars > 0 && (stars > 1 || !contacts.empty() || !has_expires_header || expires_header != 0)) {
        return refuse(400, "Invalid Contact: * (only alone, with Expires: 0)");
    }

    // Step 5: too short an expiry is refused (423), too long shortened.
    for (requested_contact& rc : contacts) {
        if (rc.expires != 0 && rc.expires < cfg_.min_expires) {
            return refuse(423, "Interval Too Brief", "Min-Expires: " + std::to_string(cfg_.min_expires) + "\r\n");
        }
        rc.expires = std::min<uint64_t>(rc.expires, cfg_.max_expires);
    }

    // The user's bindings now; expired ones no longer count.
    std::vector<binding> current;
    if (auto it = by_user_.find(user); it != by_user_.end()) {
        for (uint64_t id : std::vector<uint64_t>(it->second)) {
            const binding& b = by_id_.at(id);
            if (b.expires_ms <= now) {
                erase(id);
                ++stats_.expired;
            } else {
                current.push_back(b);
            }
        }
    }

    // Steps 6 and 7: the Call-ID/CSeq rule. A binding from the same Call-ID is changed only
    // by a higher CSeq; otherwise the whole request fails and nothing changes (step 8).
    auto out_of_order = [&](const binding& b) { return b.call_id == msg.call_id && msg.cseq <= b.cseq; };
    register_result result;

    if (stars > 0) {
        for (const binding& b : current) {
            if (out_of_order(b)) {
                return refuse(500, "Out of Order CSeq");
            }
        }
        for (const binding& b : current) {
            erase(b.id);
        }
        result.removed = static_cast<unsigned>(current.size());
        stats_.removed += result.removed;
    } else {
        struct planned {
            binding b;
            bool existing = false;
            bool touched = false;
            bool removed = false;
        };
        std::vector<planned> plan;
        plan.reserve(current.size() + contacts.size());
        for (binding& b : current) {
            plan.push_back(planned{std::move(b), true, false, false});
        }
        for (const requested_contact& rc : contacts) {
            auto it = std::find_if(plan.begin(), plan.end(),
                                   [&](const planned& p) { return !p.removed && same_uri(p.b.contact, rc.uri); });
            if (it != plan.end() && !it->touched && out_of_order(it->b)) {
                return refuse(500, "Out of Order CSeq");
            }
            if (rc.expires == 0) {
                if (it != plan.end()) {
                    it->removed = true;
                }
                continue;
            }
            if (it == plan.end()) {
                plan.push_back(planned{});
                it = plan.end() - 1;
                it->b.user = user;
            }
            binding& b = it->b;
            it->touched = true;
            b.account = account.name;
            b.contact.assign(rc.uri);
            b.params = kept_params(rc.params);
            b.q = rc.q;
            b.flow = in.source;
            b.realm = in.realm;
            b.call_id.assign(msg.call_id);
            b.cseq = msg.cseq;
            b.registered_ms = now;
            b.expires_ms = now + static_cast<int64_t>(rc.expires) * 1000;
            b.keepalive_misses = 0;
            b.next_keepalive_ms = cfg_.keepalive_s == 0 ? 0 : now + int64_t{cfg_.keepalive_s} * 1000;
        }

        // Caps, checked only when the request adds bindings (refreshes always pass).
        size_t after = 0;
        for (const planned& p : plan) {
            after += p.removed ? 0 : 1;
        }
        if (after > current.size()) {
            if (after > cfg_.max_contacts_per_user) {
                return refuse(403, "Too Many Contacts");
            }
            if (by_id_.size() - current.size() + after > cfg_.max_bindings) {
                return refuse(503, "Registrar Full", "Retry-After: 60\r\n");
            }
        }

        // Step 8: commit.
        for (planned& p : plan) {
            if (p.removed) {
                if (p.existing) {
                    erase(p.b.id);
                    ++result.removed;
                }
            } else if (p.touched) {
                if (p.existing) {
                    binding& b = by_id_.at(p.b.id);
                    reschedule(b, 0, 0);  // out of the schedules at its old times
                    const int64_t exp = p.b.expires_ms;
                    const int64_t ka = p.b.next_keepalive_ms;
                    b = std::move(p.b);
                    b.expires_ms = 0;
                    b.next_keepalive_ms = 0;
                    reschedule(b, exp, ka);
                    ++result.refreshed;
                } else {
                    p.b.id = ++next_id_;
                    insert(std::move(p.b));
                    ++result.added;
                }
            }
        }
        stats_.added += result.added;
        stats_.refreshed += result.refreshed;
        stats_.removed += result.removed;
    }

    result.extra = contacts_of(user, now);
    if (wall_s_) {
        result.extra += "Date: " + sip_date(wall_s_()) + "\r\n";
    }
    return result;
}

void registrar::insert(binding b) {
    const uint64_t id = b.id;
    const int64_t exp = b.expires_ms;
    const int64_t ka = b.next_keepalive_ms;
    b.expires_ms = 0;
    b.next_keepalive_ms = 0;
    by_user_[b.user].push_back(id);
    binding& stored = by_id_.emplace(id, std::move(b)).first->second;
    reschedule(stored, exp, ka);
}

// Moves a binding's entries in the expiry and keepalive schedules (0 = not scheduled).
void registrar::reschedule(binding& b, int64_t expires_ms, int64_t next_keepalive_ms) {
    if (b.expires_ms != 0) {
        expiry_.erase({b.expires_ms, b.id});
    }
    if (b.next_keepalive_ms != 0) {
        keepalive_.erase({b.next_keepalive_ms, b.id});
    }
    b.expires_ms = expires_ms;
    b.next_keepalive_ms = next_keepalive_ms;
    if (expires_ms != 0) {
        expiry_.emplace(expires_ms, b.id);
    }
    if (next_keepalive_ms != 0) {
        keepalive_.emplace(next_keepalive_ms, b.id);
    }
}

void registrar::erase(uint64_t id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) {
        return;
    }
    binding& b = it->second;
    reschedule(b, 0, 0);
    auto u = by_user_.find(b.user);
    if (u != by_user_.end()) {
        auto& ids = u->second;
        ids.erase(std::remove(ids.begin(), ids.end(), id), ids.end());
        if (ids.empty()) {
            by_user_.erase(u);
        }
    }
    by_id_.erase(it);
}

std::vector<binding> registrar::lookup(std::string_view user) const {
    std::vector<binding> out;
    const int64_t now = now_ms_();
    auto it = by_user_.find(std::string(user));
    if (it == by_user_.end()) {
        return out;
    }
    for (uint64_t id : it->second) {
        const binding& b = by_id_.at(id);
        if (b.expires_ms > now) {
            out.push_back(b);
        }
    }
    std::stable_sort(out.begin(), out.end(), [](const binding& a, const binding& b) {
        if (a.q != b.q) {
            return a.q > b.q;
        }
        if (a.registered_ms != b.registered_ms) {
            return a.registered_ms > b.registered_ms;
        }
        return a.id > b.id;
    });
    return out;
}

std::string registrar::contacts_of(std::string_view user, int64_t now) const {
    std::string out;
    for (const binding& b : lookup(user)) {
        const int64_t left = (b.expires_ms - now + 999) / 1000;
        out += "Contact: <" + b.contact + ">" + b.params;
        if (b.q != 1000) {
            out += ";q=" + q_text(b.q);
        }
        out += ";expires=" + std::to_string(left) + "\r\n";
    }
    return out;
}

size_t registrar::expire(int64_t now_ms) {
    size_t n = 0;
    while (!expiry_.empty() && expiry_.begin()->first <= now_ms) {
        const uint64_t id = expiry_.begin()->second;
        expiry_.erase(expiry_.begin());  // first, so that the loop always moves on
        if (by_id_.count(id) != 0) {
            erase(id);
            ++n;
        }
    }
    stats_.expired += n;
    return n;
}

std::vector<binding> registrar::due_keepalives(int64_t now_ms, size_t max) {
    std::vector<binding> out;
    if (cfg_.keepalive_s == 0) {
        return out;
    }
    std::vector<uint64_t> due;
    for (auto it = keepalive_.begin(); it != keepalive_.end() && it->first <= now_ms && due.size() < max; ++it) {
        due.push_back(it->second);
    }
    const int64_t next = now_ms + int64_t{cfg_.keepalive_s} * 1000;
    for (uint64_t id : due) {
        auto found = by_id_.find(id);
        if (found == by_id_.end()) {
            continue;
        }
        binding& b = found->second;
        if (b.expires_ms <= now_ms) {
            erase(id);  // no keepalive for what is gone
            ++stats_.expired;
            continue;
        }
        reschedule(b, b.expires_ms, next);
        out.push_back(b);
    }
    return out;
}

void registrar::keepalive_ok(uint64_t binding_id) {
    if (auto it = by_id_.find(binding_id); it != by_id_.end()) {
        it->second.keepalive_misses = 0;
    }
}

bool registrar::keepalive_failed(uint64_t binding_id) {
    auto it = by_id_.find(binding_id);
    if (it == by_id_.end()) {
        return false;
    }
    if (++it->second.keepalive_misses < std::max(1u, cfg_.keepalive_failures)) {
        return false;
    }
    erase(binding_id);
    ++stats_.keepalive_drops;
    return true;
}

bool registrar::remove(uint64_t binding_id) {
    if (by_id_.count(binding_id) == 0) {
        return false;
    }
    erase(binding_id);
    ++stats_.removed;
    return true;
}

size_t registrar::remove_user(std::string_view user) {
    auto it = by_user_.find(std::string(user));
    if (it == by_user_.end()) {
        return 0;
    }
    const std::vector<uint64_t> ids = it->second;
    for (uint64_t id : ids) {
        erase(id);
    }
    stats_.removed += ids.size();
    return ids.size();
}

std::vector<std::string> registrar::registered_users() const {
    std::vector<std::string> out;
    out.reserve(by_user_.size());
    for (const auto& [user, ids] : by_user_) {
        out.push_back(user);
    }
    return out;
}

}  // namespace sf::control
