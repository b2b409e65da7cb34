// Who a request belongs to, and the destinations only the config knows: accounts (trusted
// networks or digest credentials, RFC 3261 22 with RFC 7616/8760), REGISTER for users @local,
// `user@provider` and `user@local` in dial strings, and the per-account limits.
//
// With no [account.*] in the config every caller is served through the `default` dialplan as
// before (a lab, or a box behind another SBC). With accounts, a request from an address no
// account trusts must prove who it is: INVITE and REFER get 407, REGISTER 401; a wrong
// password and an unknown user both get 403, so nobody learns which users exist.

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "config.hh"
#include "log.hh"
#include "message_builder.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

using namespace b2bua_detail;

void b2bua::setup_accounts() {
    accounts_ = account_directory(cfg_.accounts, cfg_.providers);
    health_.configure(cfg_.providers, now_());
    digest_realm_ = cfg_.domain.empty() ? "sipferry" : cfg_.domain;
    if (!provider_regs_) {
        provider_regs_ = std::make_unique<provider_registrations>(provider_registration_env{
            tl_, timers_, now_, [this](uint32_t addr) { return route(addr); },
            [this](unsigned r) -> const realm_info& { return realm(r); }, cfg_.sip_port, cfg_.user_agent,
            cfg_.max_forwards});
    }
    provider_regs_->configure(cfg_.providers);
    signer_.reset();
    if (!cfg_.stir_key_pem.empty()) {
        std::string why;
        signer_ = identity_signer::from_pem(cfg_.stir_key_pem, cfg_.stir_x5u, why);
        if (!signer_) {
            log_info("[stir] key: %s: calls are not signed", why.c_str());  // the config checked it
        }
    }
    setup_verifier();
    if (housekeeping_timer_ == 0) {
        housekeeping_timer_ = timers_.add(now_() + housekeeping_ms, [this] { housekeeping(); });
    }
    if (cfg_.accounts.empty()) {
        return;
    }
    // Kept across reloads: nonces stay valid and registered phones stay registered.
    if (!auth_) {
        auth_ = std::make_unique<digest_server>(digest_server_config{},
                                                [this] { return static_cast<int64_t>(now_()); });
    }
    if (!registrar_) {
        registrar_ = std::make_unique<registrar>(cfg_.registrar, [this] { return static_cast<int64_t>(now_()); });
    } else {
        registrar_->set_config(cfg_.registrar);
    }
}

void b2bua::reload(const b2bua_config& cfg, std::shared_ptr<dialplan_engine> plans) {
    // Everything reloads but what the transport and transactions were built with.
    const b2bua_config kept = cfg_;
    cfg_ = cfg;
    cfg_.sip_port = kept.sip_port;
    cfg_.timers = kept.timers;
    cfg_.user_agent = kept.user_agent;
    transfer_policy_ = transfer_policy(cfg_.transfer);
    setup_accounts();
    if (registrar_) {
        // Users whose account went away (or may no longer register) lose their bindings.
        for (const std::string& user : registrar_->registered_users()) {
            const account_config* a = accounts_.account_by_user(user);
            if (a == nullptr || !a->may_register) {
                registrar_->remove_user(user);
            }
        }
    }
    dialplans_ = std::move(plans);
    ++reloads_;
    log_info("reloaded: %zu account(s), %zu provider(s); calls in progress keep their dialplans",
             cfg_.accounts.size(), cfg_.providers.size());
}

void b2bua::send_options(unsigned realm_index, sip_addr dest, const std::string& request_uri,
                         std::function<void()> answered, std::function<void()> unanswered) {
    const std::string& here = realm(realm_index).addr_text;
    const std::string branch = "z9hG4bK" + random_token(20);
    const std::string from = "<sip:sipferry@" + here + ">;tag=" + random_token(16);
    const std::string to = "<" + request_uri + ">";
    const std::string call_id = random_token(32);
    request_spec rs;
    rs.method = "OPTIONS";
    rs.request_uri = request_uri;
    rs.via_host = here;
    rs.via_port = cfg_.sip_port;
    rs.branch = branch;
    rs.max_forwards = cfg_.max_forwards;
    rs.from = from;
    rs.to = to;
    rs.call_id = call_id;
    rs.user_agent = cfg_.user_agent;
    tl_.send_request(
        sip::method::options, branch, realm_index, dest, build_request(tl_.pool(), rs),
        [answered = std::move(answered)](const inbound&) { answered(); }, std::move(unanswered));
}

void b2bua::ping_provider(const provider_config& p) {
    const int r = p.realm >= 0 ? p.realm : route(p.host);
    if (r < 0) {
        return;  // no way there: the config check names it; nothing to probe
    }
    // Unanswered once: by the provider's response_timeout (when set: a probe waits no longer
    // than an INVITE would) or the transaction's timeout, whichever comes first, and only if no
    // response came before. Any response, even one after that verdict, means it lives.
    auto responded = std::make_shared<bool>(false);
    auto judged = std::make_shared<bool>(false);
    const std::string name = p.name;
    auto answered = [this, responded, name] {
        *responded = true;
        if (health_.answered(name)) {
            log_info("provider %s answers again: up", name.c_str());
        }
    };
    auto unanswered = [this, responded, judged, name] {
        if (!*responded && !std::exchange(*judged, true) && health_.unanswered(name)) {
            log_info("provider %s left an OPTIONS unanswered: down", name.c_str());
        }
    };
    if (p.response_timeout_s != 0) {
        timers_.add(now_() + 1000ull * p.response_timeout_s, unanswered);
    }
    send_options(static_cast<unsigned>(r), sip_addr{p.host, p.port},
                 "sip:" + ipv4_to_string(p.host) + ":" + std::to_string(p.port), answered, unanswered);
}

void b2bua::housekeeping() {
    housekeeping_timer_ = timers_.add(now_() + housekeeping_ms, [this] { housekeeping(); });
    for (const std::string& name : health_.due_pings(now_())) {
        if (const provider_config* p = accounts_.provider(name)) {
            ping_provider(*p);
        }
    }
    if (!registrar_) {
        return;  // no accounts: nobody registers
    }
    const int64_t now = static_cast<int64_t>(now_());
    registrar_->expire(now);
    // OPTIONS keepalive of registered contacts over the flow they registered from (keeps NAT
    // bindings open, finds dead phones); paced so a large registrar never bursts.
    for (const binding& b : registrar_->due_keepalives(now, 50)) {
        const uint64_t id = b.id;
        send_options(
            b.realm, b.flow, b.contact, [this, id] { registrar_->keepalive_ok(id); },  // any answer: the flow lives
            [this, id] {
                if (registrar_->keepalive_failed(id)) {
                    log_info("registered contact %llu dropped: keepalives unanswered", static_cast<unsigned long long>(id));
                }
            });
    }
}

b2bua::identity b2bua::identify(const inbound& in, uint64_t stx, bool proxy_style) {
    if (cfg_.accounts.empty()) {
        return {identity::kind::open, nullptr};
    }
    if (const account_config* a = accounts_.account_by_source(in.source.addr)) {
        return {identity::kind::account, a};
    }
    if (accounts_.provider_by_address(in.source.addr) != nullptr) {
        return {identity::kind::provider, nullptr};  // a trunk's inbound call: routed, billed to nobody
    }
    const sip::message& m = *in.msg;
    const sip::hdr credentials_header = proxy_style ? sip::hdr::proxy_authorization : sip::hdr::authorization;
    auto challenge = [&](bool stale) {
        ++stats_.auth_challenges;
        std::string extra;
        for (const std::string& value : auth_->challenge(digest_realm_, stale)) {
            extra += std::string(proxy_style ? "Proxy-Authenticate: " : "WWW-Authenticate: ") + value + "\r\n";
        }
        const unsigned status = proxy_style ? 407 : 401;
        tl_.respond(stx, status, reason_phrase(status), random_token(16), extra);
        return identity{identity::kind::answered, nullptr};
    };
    const sip::header* h = m.find(credentials_header);
    if (h == nullptr) {
        return challenge(false);
    }
    const digest_verdict v = auth_->verify(
        m.method_name, h->value,
        [this](std::string_view user, std::string_view realm, digest_algorithm alg) -> std::optional<digest_secret> {
            const account_config* a = accounts_.account(user);
            if (a == nullptr || !a->has_credentials() || a->realm != realm) {
                return std::nullopt;  // an HA1 is only good for the realm it was made with
            }
            if (!a->password.empty()) {
                return digest_secret{digest_secret::kind::password, a->password};
            }
            const std::string& ha1 = alg == digest_algorithm::sha256 ? a->ha1_sha256 : a->ha1_md5;
            if (ha1.empty()) {
                return std::nullopt;
            }
            return digest_secret{digest_secret::kind::ha1, ha1};
        },
        in.source.addr, m.request_uri);
    switch (v.outcome) {
    case digest_outcome::ok:
        return {identity::kind::account, accounts_.account(v.username)};
    case digest_outcome::stale:
        return challenge(true);
    case digest_outcome::bad_nonce:
    case digest_outcome::replay:
        return challenge(false);  // not ours or used up: a fresh nonce, no verdict on the password
    case digest_outcome::malformed:
        ++stats_.auth_failures;
        tl_.respond(stx, 400, reason_phrase(400), random_token(16), warning_header(v.reason));
        return {identity::kind::answered, nullptr};
    case digest_outcome::wrong_response:
    case digest_outcome::unknown_user:
        break;
    }
    // Same answer for both: never reveal whether the user exists.
    ++stats_.auth_failures;
    log_info("authentication failed for '%s' from %s (%s)", v.username.c_str(), to_string(in.source).c_str(),
             v.reason);
    tl_.respond(stx, 403, reason_phrase(403), random_token(16), {});
    return {identity::kind::answered, nullptr};
}

void b2bua::on_register(const inbound& in) {
    const uint64_t stx = tl_.create_server(in);
    if (!registrar_) {
        tl_.respond(stx, 501, reason_phrase(501), random_token(16), allow_header);
        return;
    }
    const identity who = identify(in, stx, false);
    if (who.what == identity::kind::answered) {
        return;
    }
    if (who.account == nullptr || !who.account->may_register) {
        tl_.respond(stx, 403, reason_phrase(403), random_token(16), warning_header("this account may not register"));
        return;
    }
    const register_result r = registrar_->handle(in, *who.account);
    tl_.respond(stx, r.status, r.reason, random_token(16), r.extra);
}

std::string b2bua::resolve_targets(std::vector<dial_target>& targets, unsigned& status) const {
    std::vector<dial_target> out;
    bool local_seen = false;
    for (const dial_target& t : targets) {
        if (t.host == "local") {
            // A registered user: every live contact rings, in parallel within the destination's group.
            local_seen = true;
            if (!registrar_) {
                status = 404;
                return "no registrar: there are no accounts";
            }
            for (const binding& b : registrar_->lookup(t.user)) {
                dial_target r = t;
                r.host = ipv4_to_string(b.flow.addr);
                r.port = b.flow.port;
                r.contact_uri = b.contact;
                r.account = b.account;
                r.realm = static_cast<int>(b.realm);
                if (const account_config* a = accounts_.account(b.account)) {
                    r.media_realm = a->media_realm;
                    r.media.inherit(a->media);  // a dial string's co=, mt= override the account's
                    if (r.diversion_via == diversion_headers::unset) {
                        r.diversion_via = a->diversion_via;  // as a provider's (a PBX registering as a user)
                    }
                }
                out.push_back(std::move(r));
            }
            continue;
        }
        if (const provider_config* p = accounts_.provider(t.host)) {
            dial_target r = t;
            r.host = ipv4_to_string(p->host);
            r.port = p->port;
            r.realm = p->realm;
            r.media_realm = p->media_realm;
            r.provider = p->name;
            r.trusted = p->trust_identity;
            if (r.from_host.empty()) {
                r.from_host = p->from_host;
            }
            r.media.inherit(p->media);  // a dial string's co=, mt= override the provider's
            if (r.diversion_via == diversion_headers::unset) {
                r.diversion_via = p->diversion_via;
            }
            out.push_back(std::move(r));
            continue;
        }
        out.push_back(t);
    }
    if (out.empty()) {
        status = local_seen ? 480 : 404;
        return local_seen ? "the user is not registered" : "no destination";
    }
    for (dial_target& r : out) {
        uint32_t addr = 0;
        if (r.provider.empty() && parse_ipv4_text(r.host, addr)) {
            // A trusted provider's address dialled as such is inside the trust domain too.
            const provider_config* p = accounts_.provider_by_address(addr, r.port);
            r.trusted = p != nullptr && p->trust_identity;
        }
        if (std::string why = resolve_media_realm(r); !why.empty()) {
            status = 502;
            return why;
        }
    }
    targets = std::move(out);
    return "";
}

std::string b2bua::resolve_media_realm(dial_target& t) const {
    if (t.media_realm_name.empty()) {
        return "";  // the provider's or account's media realm, if any, else the SIP's
    }
    t.media_realm = realm_named(t.media_realm_name);
    return t.media_realm < 0 ? "mr=" + t.media_realm_name + ": no [port." + t.media_realm_name + "] to anchor media on"
                             : "";
}

bool b2bua::account_transfer_allowed(const std::string& account, ms_t now) {
    const account_config* a = accounts_.account(account);
    if (a == nullptr || a->max_transfers_per_minute == 0) {
        return true;
    }
    // A token bucket per account, as transfer_policy keeps one for the whole appliance.
    auto [it, fresh] = transfer_buckets_.try_emplace(account, a->max_transfers_per_minute, 60'000);
    if (!fresh) {
        it->second.set_rate(a->max_transfers_per_minute, 60'000);  // a reload may have changed it
    }
    return it->second.take(now);
}

bool b2bua::account_call_allowed(const account_config& a, ms_t now) {
    if (a.max_calls_per_second == 0) {
        return true;
    }
    auto [it, fresh] = call_buckets_.try_emplace(a.name, a.max_calls_per_second, 1'000);
    if (!fresh) {
        it->second.set_rate(a.max_calls_per_second, 1'000);
    }
    return it->second.take(now);
}

}  // namespace sf::control
