// STIR/SHAKEN verification in the B2BUA: a call from a provider with verify_identity has its
// Identity headers checked (stir_verify.hh) before its dialplan runs, so that the dialplan can
// route on req.Verstat and the called party is told the verstat (ATIS-1000074 5.3.1).
//
// Verifying never waits: a certificate that is not known yet is fetched by the control loop
// (set_certificate_fetch) while the INVITE, and any retransmission of it, is held here; when
// the certificate arrives the INVITEs are handled as if they came then. The fetch has a timeout
// (certificate_fetcher.hh), so nothing is held for longer than that. With a signature pool
// (`[stir] verify_threads`) the signatures are checked on its threads the same way: the INVITE
// waits, the control thread goes on, and the pool's answer lets the INVITE through.

#include <chrono>

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "json_writer.hh"
#include "log.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

using namespace b2bua_detail;

namespace {

constexpr size_t max_held = 256;         // INVITEs held at once (a carrier's burst; beyond, verified at once)
constexpr unsigned max_identities = 8;   // Identity headers of one INVITE that are looked at (div PASSporTs too)

int64_t wall_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// A URI's user without its parameters ("+15551234;npdi" -> "+15551234") as a telephone number.
std::string tn_of(std::string_view user) {
    return canonical_tn(user.substr(0, user.find(';')));
}

std::vector<std::string_view> identities_of(const sip::message& m) {
    std::vector<std::string_view> out;
    for (unsigned i = 0; i < m.n_headers && out.size() < max_identities; ++i) {
        const sip::header& h = m.headers[i];
        if (h.id == sip::hdr::other && iequals_ascii(h.name, "Identity")) {
            out.push_back(h.value);
        }
    }
    return out;
}

// The INVITE transaction (RFC 3261 17.2.3): its retransmissions have the same key.
std::string transaction_key(const sip::message& m) {
    return std::string(m.call_id) + "|" + std::string(m.top_via.branch) + "|" + std::string(m.top_via.host);
}

struct call_numbers {
    std::string orig, dest;
};

// The numbers a PASSporT must name: the caller (a trusted provider's P-Asserted-Identity, else
// the From user: ATIS-1000074 5.3) and the called (the Request-URI's user, else the To's).
call_numbers numbers_of(const sip::message& m, const provider_config& trunk) {
    call_numbers n;
    const asserted_identity asserted = identity_of_call(m, trunk.trust_identity, nullptr);
    if (!asserted.empty()) {
        n.orig = tn_of(asserted.user);
    } else if (sip::uri from; sip::parse_uri(m.from.uri, from)) {
        n.orig = tn_of(from.user);
    }
    if (sip::uri ruri; sip::parse_uri(m.request_uri, ruri)) {
        n.dest = tn_of(ruri.user);
    }
    if (sip::uri to; n.dest.empty() && sip::parse_uri(m.to.uri, to)) {
        n.dest = tn_of(to.user);
    }
    return n;
}

}  // namespace

void b2bua::setup_verifier() {
    if (verifier_) {
        verifier_->set_crl_grace(cfg_.stir_crl_grace_s);  // a reload's applies to the CRLs kept
    }
    const std::string setup = cfg_.stir_ca_pem + "\n" + std::to_string(cfg_.stir_max_age_s) +
                              (cfg_.stir_check_crl ? " crl\n" : "\n") + cfg_.stir_crl_signers_pem;
    if (setup == verifier_setup_) {
        return;  // the same roots: the certificates fetched so far stay
    }
    verifier_setup_ = setup;
    verifier_.reset();
    if (!cfg_.stir_ca_pem.empty()) {
        std::string why;
        verifier_ = identity_verifier::from_pem(cfg_.stir_ca_pem, cfg_.stir_max_age_s, why, cfg_.stir_check_crl);
        if (verifier_) {
            verifier_->set_crl_grace(cfg_.stir_crl_grace_s);
        }
        if (!verifier_) {
            log_info("[stir] ca: %s: nothing is verified", why.c_str());  // the config checked it
        } else if (!cfg_.stir_crl_signers_pem.empty()) {
            why = verifier_->trust_crl_signers(cfg_.stir_crl_signers_pem, wall_s());
            if (!why.empty()) {
                log_info("[stir] crl_signers: %s: their CRLs are refused", why.c_str());  // checked at load
            }
        }
    }
}

bool b2bua::hold(const inbound& in, std::string url, std::string key) {
    if (held_.size() >= max_held) {
        ++stats_.held_overflow;
        return false;  // verified now: without its certificate it fails
    }
    held_.push_back(held_invite{std::move(url), std::move(key), in.realm, in.source, std::string(in.raw)});
    if (!replaying_) {
        ++stats_.invites_held;  // once per INVITE, though it may wait for its certificate, then its signatures
    }
    return true;
}

bool b2bua::hold_for_verification(const inbound& in, std::optional<prepared_verification>& prepared) {
    if (!verifier_) {
        return false;
    }
    const provider_config* trunk = accounts_.provider_by_address(in.source.addr);
    if (trunk == nullptr || !trunk->verify_identity) {
        return false;
    }
    const sip::message& m = *in.msg;
    std::string key = transaction_key(m);
    if (verified_.count(key) != 0) {
        return false;  // the pool's answer is in: on_invite takes it
    }
    if (checking_.count(key) != 0) {
        return hold(in, {}, std::move(key));  // a retransmission while its signatures are checked
    }
    const parsed_identities identities = parse_identities(identities_of(m));
    const int64_t now = wall_s();
    if (fetch_certificate_) {
        if (std::string url = verifier_->missing_certificate(identities, now); !url.empty()) {
            if (!hold(in, url, {})) {
                return false;
            }
            if (fetching_.insert(url).second) {
                fetch_certificate_(url);
            }
            return true;
        }
    }
    const auto [orig, dest] = numbers_of(m, *trunk);
    prepared = verifier_->prepare(identities, orig, dest, now);
    if (pool_ == nullptr || prepared->checks() == 0) {
        return false;  // verify_caller checks the signatures itself, if any are left
    }
    if (held_.size() >= max_held) {
        ++stats_.held_overflow;
        return false;
    }
    const uint64_t id = ++last_job_;
    if (!pool_->submit(id, prepared->signature_checks())) {
        ++stats_.pool_full;
        return false;  // the pool is full: checked here
    }
    ++stats_.signatures_pooled;
    checking_.insert(key);
    jobs_.emplace(id, signature_job{key, std::move(*prepared)});
    prepared.reset();
    return hold(in, {}, std::move(key));
}

void b2bua::replay_held(const std::string& url, const std::string& key) {
    // In the order they came: the first opens the transaction, its retransmissions are then
    // absorbed by it.
    std::deque<held_invite> ready;
    for (auto it = held_.begin(); it != held_.end();) {
        if (it->url == url && it->key == key) {
            ready.push_back(std::move(*it));
            it = held_.erase(it);
        } else {
            ++it;
        }
    }
    const bool outer = !replaying_;
    replaying_ = true;
    for (const held_invite& h : ready) {
        on_datagram(h.realm, h.source, h.raw);
    }
    replaying_ = !outer;
}

void b2bua::certificate_arrived(const std::string& url, bool ok, const std::string& pem, uint32_t max_age_s,
                                const std::string& error) {
    fetching_.erase(url);
    const int64_t now = wall_s();
    if (verifier_) {
        // A CRL (stir_crl.hh) when a known certificate names the URL, else a certificate; either
        // URL is printable (parse_identity, revocation_lists::distribution_point).
        const bool crl = verifier_->names_revocation_list(url);
        std::string why = !ok ? error
                          : crl ? verifier_->store_revocation_list(url, pem, now)
                                : verifier_->store_certificate(url, pem, now, max_age_s);
        if (!ok) {
            verifier_->store_failure(url, now);
        }
        if (!why.empty()) {
            ++(crl ? stats_.crl_fetches_failed : stats_.cert_fetches_failed);
            log_info("[stir] %s %s refused: %s%s", crl ? "CRL" : "certificate", url.c_str(), why.c_str(),
                     crl && verifier_->revocation_list_stale(url) ? " (the last good one answers, stale: crl_grace)" : "");
        } else {
            ++(crl ? stats_.crls_fetched : stats_.certs_fetched);
        }
    }
    replay_held(url, {});
}

void b2bua::poll_verifications() {
    if (pool_ == nullptr) {
        return;
    }
    pool_->drain([this](uint64_t id, const std::vector<bool>& valid) {
        const auto it = jobs_.find(id);
        if (it == jobs_.end()) {
            return;
        }
        const std::string key = it->second.key;
        verified_[key] = identity_verifier::conclude(it->second.prepared, valid);
        jobs_.erase(it);
        checking_.erase(key);
        replay_held({}, key);
        verified_.erase(key);  // taken by the INVITE, or it was CANCELled or refused meanwhile
    });
}

bool b2bua::cancel_held_invite(const inbound& cancel) {
    const sip::message& c = *cancel.msg;
    auto same_transaction = [&c](const sip::message& inv) {
        return inv.call_id == c.call_id && inv.top_via.branch == c.top_via.branch && inv.top_via.host == c.top_via.host;
    };
    bool answered = false;
    for (auto it = held_.begin(); it != held_.end();) {
        sip::message inv;
        if (sip::parse(it->raw, inv) != sip::parse_error::ok || !same_transaction(inv)) {
            ++it;
            continue;
        }
        if (!answered) {
            // Its transaction starts and ends here: 487 to the INVITE (RFC 3261 9.2), as if it had
            // been CANCELled while ringing; retransmissions of it are then absorbed.
            const inbound held_in{it->realm, it->source, &inv, it->raw};
            tl_.respond(tl_.create_server(held_in), 487, reason_phrase(487), random_token(16), {});
            ++stats_.held_cancelled;
            answered = true;
        }
        it = held_.erase(it);
    }
    if (answered) {
        tl_.respond(tl_.create_server(cancel), 200, "OK", {}, {});
    }
    return answered;
}

verification b2bua::verify_caller(const sip::message& m, const provider_config* trunk,
                                  const std::optional<prepared_verification>& prepared) {
    if (trunk == nullptr || !trunk->verify_identity || !verifier_) {
        return {};
    }
    verification v;
    if (const auto it = verified_.find(transaction_key(m)); it != verified_.end()) {
        v = it->second;  // the pool checked its signatures
    } else if (prepared) {
        v = identity_verifier::conclude(*prepared, check_signatures(prepared->signature_checks()));
    } else {
        const auto [orig, dest] = numbers_of(m, *trunk);
        v = verifier_->verify(identities_of(m), orig, dest, wall_s());
    }
    switch (v.status) {
    case verstat::passed:
        ++stats_.verify_passed;
        break;
    case verstat::failed:
        ++stats_.verify_failed;
        ++stats_.verify_failures[v.reason];
        break;
    default:
        ++stats_.verify_none;
        break;
    }
    return v;
}

std::string b2bua::stir_certificates_json() const {
    json_writer j;
    j.begin_object().key("certificates").begin_array();
    if (verifier_) {
        const int64_t now = wall_s();
        for (const identity_verifier::cached_certificate& c : verifier_->cached(now)) {
            j.begin_object().key("url").value(c.url).key("state").value(c.state);
            j.key("expires_in_s").value(c.expires_s - now).key("spc").begin_array();
            for (const std::string& spc : c.scope.spcs) {
                j.value(spc);
            }
            j.end_array().key("numbers").value(uint64_t{c.scope.numbers.size()});
            j.key("ranges").value(uint64_t{c.scope.ranges.size()}).end_object();
        }
    }
    j.end_array().key("revocation_lists").begin_array();
    if (verifier_) {
        const int64_t now = wall_s();
        for (const revocation_lists::listed& l : verifier_->cached_revocation_lists(now)) {
            j.begin_object().key("url").value(l.url).key("state").value(l.state);
            j.key("expires_in_s").value(l.expires_s - now).key("revoked").value(uint64_t{l.revoked}).end_object();
        }
    }
    j.end_array().end_object();
    return j.take();
}

bool b2bua::answer_verification(uint64_t stx, const provider_config* trunk, const verification& v) {
    if (trunk == nullptr) {
        return true;
    }
    if (v.status == verstat::failed && trunk->reject_failed_identity) {
        const stir_error e = rfc8224_error(v.reason);
        ++stats_.verify_rejected;
        ++stats_.calls_failed;
        tl_.respond(stx, e.status, e.phrase, random_token(16), {});
        return false;
    }
    if (v.status == verstat::no_validation && trunk->require_identity) {
        ++stats_.verify_rejected_unsigned;
        ++stats_.calls_failed;
        tl_.respond(stx, 428, "Use Identity Header", random_token(16), {});
        return false;
    }
    if (v.status == verstat::failed) {
        // RFC 9410: the call goes on, and its signer learns why its Identity failed.
        tl_.add_to_next_response(stx, stir_reason_header(v));
        ++stats_.verify_reasons_sent;
    }
    return true;
}

}  // namespace sf::control
