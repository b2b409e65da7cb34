// Dialling the dialplan's destinations: parallel branches within a group (`&`), groups one
// after the other (`|`), ring times, delayed starts, and the choice of the response leg A
// gets when nobody answers (RFC 3261 16.7, as a forking proxy would choose it).
//
// Each branch is an INVITE of its own with its own Call-ID and tags: the appliance is the
// UAC of every branch, so a loser is simply CANCELled (or, if it answered too late, ACKed
// and BYEd) and nothing of it reaches leg A. Every branch offers the same SDP (the B half
// of the call's media bridge): whoever answers, the bridge is already in place.

#include <algorithm>
#include <chrono>
#include <charconv>
#include <span>
#include <utility>

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "config.hh"
#include "diversion.hh"
#include "log.hh"
#include "message_builder.hh"
#include "sip/sdp.hh"
#include "stir_verify.hh"

namespace sf::control {

using namespace b2bua_detail;

bool b2bua::branches_unsettled(const call& c) const {
    return std::any_of(c.branches.begin(), c.branches.end(), [](const call::branch& br) {
        return br.st != call::branch::state::done;
    });
}

bool b2bua::branches_pending(const call& c) const {
    return std::any_of(c.branches.begin(), c.branches.end(), [&](const call::branch& br) {
        return br.target.group == c.group && (br.st == call::branch::state::delayed ||
                                              br.st == call::branch::state::ringing);
    });
}

void b2bua::start_group(call& c, unsigned group) {
    c.group = group;
    const size_t first = c.branches.size();
    for (const dial_target& t : c.plan) {
        if (t.group != group) {
            continue;
        }
        call::branch br;
        br.target = t;
        leg& l = br.l;
        l.realm = c.b.realm;
        l.media_realm = c.b.media_realm;  // the answering branch becomes leg B
        uint32_t addr = 0;
        parse_ipv4_text(t.host, addr);  // checked in on_invite
        br.dest = sip_addr{addr, t.port};
        l.target = br.dest;
        l.call_id = random_token(32);
        l.owns_call_id = true;
        l.local_tag = random_token(16);
        const std::string& b_addr = realm(l.realm).addr_text;
        // A phone (no provider) is told how the calling number was verified (ATIS-1000074
        // 5.3.1: verstat on the numbers of From and P-Asserted-Identity).
        const std::string_view verstat = t.provider.empty() ? std::string_view(c.verstat) : std::string_view();
        asserted_identity asserted = leg_identity(c.identity, t);
        asserted.user = with_verstat(asserted.user, verstat);
        br.identity = identity_for_destination(asserted, c.privacy, t.trusted, from_host_of(t, b_addr));
        l.local_uri = br.identity.anonymous_from
                          ? std::string(anonymous_from)
                          : from_name_addr(t, with_verstat(c.caller_user, verstat), c.caller_display, b_addr);
        // A registered user is reached at its Contact, over the flow it registered from.
        br.request_uri = t.contact_uri.empty() ? "sip:" + t.user + "@" + t.host + ":" + std::to_string(t.port)
                                               : t.contact_uri;
        l.remote_uri = "<" + br.request_uri + ">";
        l.target_uri = br.request_uri;
        l.contact = "<sip:sipferry@" + b_addr + ":" + std::to_string(cfg_.sip_port) + ">";
        l.transfer_mode = t.transfer_mode;
        l.media = t.media;
        l.sdp_sess_id = c.b.sdp_sess_id;
        l.sdp_version = c.b.sdp_version;
        l.local_cseq = 1;
        br.via_branch = "z9hG4bK" + random_token(20);
        by_call_id_[l.call_id] = c.id;
        c.branches.push_back(std::move(br));
    }
    if (c.rec.callee.empty() && first < c.branches.size()) {
        c.rec.callee = to_string(c.branches[first].dest);
        c.rec.provider = c.branches[first].target.provider;
        c.rec.b_call_id = c.branches[first].l.call_id;
    }
    const uint64_t id = c.id;
    bool skipped = false;
    for (size_t i = first; i < c.branches.size(); ++i) {
        call::branch& br = c.branches[i];
        const provider_config* p = br.target.provider.empty() ? nullptr : accounts_.provider(br.target.provider);
        const bool down = p != nullptr && !health_.up(p->name);
        const bool full = p != nullptr && p->max_calls != 0 && provider_calls(p->name) >= p->max_calls;
        // Judged on the caller's offer as it came: b_offer went through the caller's own list
        // already (its account's codecs), which may have disabled what it cannot use.
        bool no_codec = false;
        if (!c.b_offer.empty()) {
            allowed_media(c.a_remote_sdp, c.a.media, br.l.media, &no_codec);
        }
        br.offer = allowed_media(c.b_offer, c.a.media, br.l.media, nullptr, br.l.media.codecs);
        unsigned skip_status = 0;
        if (no_codec) {
            // Its co= allows none of the caller's audio codecs: it could only answer 488.
            log_info("call %llu: %s allows none of the offered codecs or media types", static_cast<unsigned long long>(c.id),
                     br.request_uri.c_str());
            ++stats_.codec_offers_refused;
            skip_status = 488;
        } else if (down || full) {
            // Its provider left its last probe or INVITE unanswered, or has no channel free: fail
            // it now (not 32 s later, not with the provider's own 503) and let the next one ring.
            ++(down ? stats_.providers_skipped_down : stats_.providers_skipped_full);
            skip_status = 503;
        }
        if (skip_status != 0) {
            br.st = call::branch::state::done;
            br.status = skip_status;
            by_call_id_.erase(br.l.call_id);
            if (better_failure(skip_status, c.best_status)) {
                c.best_status = skip_status;
                c.best_reason = std::string(reason_phrase(skip_status));
            }
            skipped = true;
            continue;
        }
        if (p != nullptr && p->max_calls != 0) {
            ++provider_calls_[p->name];  // reserved from now: a delayed destination (dt=) too
            br.holds_channel = true;
        }
        if (br.target.delay_s == 0) {
            send_branch_invite(c, i);
            continue;
        }
        br.timer = timers_.add(now_() + 1000ull * br.target.delay_s, [this, id, i] {
            auto it = calls_.find(id);
            if (it != calls_.end() && i < it->second->branches.size()) {
                it->second->branches[i].timer = 0;
                send_branch_invite(*it->second, i);
            }
        });
    }
    if (skipped) {
        group_over(c);  // every destination of the group skipped: the next group (may end the call)
    }
}

std::string b2bua::identity_line(const dial_target& t, const std::string& passed, const std::string& orig_user,
                                 char attest, const std::string& origid, bool withheld) {
    if (t.provider.empty()) {
        return {};
    }
    const provider_config* p = accounts_.provider(t.provider);
    if (p == nullptr || !p->sign_identity) {
        return {};
    }
    if (withheld && !t.trusted) {
        ++stats_.stir_unsigned;
        return {};  // a number the caller withholds is not told to a peer outside the trust domain
    }
    if (!passed.empty()) {
        ++stats_.stir_passed;
        return passed;  // attested by the carrier the call came from: passed on, not signed again
    }
    if (!signer_) {
        ++stats_.stir_unsigned;
        return {};
    }
    passport_claims pc;
    pc.attest = attest;
    pc.orig_tn = canonical_tn(orig_user);
    pc.dest_tn = canonical_tn(t.user);
    pc.iat = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    pc.origid = origid;
    if (pc.orig_tn.empty() || pc.dest_tn.empty()) {
        ++stats_.stir_unsigned;
        return {};
    }
    const std::string value = signer_->identity(pc);
    ++(value.empty() ? stats_.stir_unsigned : stats_.stir_signed);
    return value.empty() ? std::string() : "Identity: " + value + "\r\n";
}

std::string b2bua::div_identity_line(const call& c, const dial_target& t) {
    const std::string div_tn = canonical_tn(std::string_view(c.called_user).substr(0, c.called_user.find(';')));
    const std::string dest_tn = canonical_tn(t.user);
    if (!signer_ || div_tn.empty() || dest_tn.empty() || div_tn == dest_tn || c.inbound_orig_tn.empty() ||
        c.verstat == to_string(verstat::failed)) {
        return {};
    }
    div_claims d;
    d.orig_tn = c.inbound_orig_tn;  // the caller as the carrier that signed the call named it
    d.dest_tn = dest_tn;
    d.div_tn = div_tn;
    d.iat = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const std::string value = signer_->identity(d);
    if (value.empty()) {
        return {};
    }
    ++stats_.stir_div_signed;
    return "Identity: " + value + "\r\n";
}

void b2bua::send_branch_invite(call& c, size_t i) {
    call::branch& br = c.branches[i];
    br.st = call::branch::state::ringing;
    std::string extra(allow_header);
    for (const auto& [name, value] : br.target.headers) {
        extra += name + ": " + value + "\r\n";
    }
    extra += br.identity.header_lines;
    // Signed at each sending (an authentication retry, a delayed dt= destination): a fresh iat.
    const asserted_identity who = leg_identity(c.identity, br.target);
    const std::string identity = identity_line(br.target, c.inbound_identity, who.empty() ? c.caller_user : who.user,
                                               c.attest, c.origid, c.privacy.withholds_identity());
    extra += identity;
    if (!identity.empty() && identity == c.inbound_identity) {
        extra += div_identity_line(c, br.target);  // passed on: diverted on the way?
    }
    // RFC 5806: whom the call was for, when it went elsewhere on purpose (dv=) or was deflected.
    // RFC 7044 History-Info too, or instead (dh=, a provider's diversion_headers).
    const std::string_view why = br.target.redirected ? std::string_view("deflection") : br.target.diversion;
    const bool diverted = !why.empty() && !c.called_user.empty();
    const std::string_view called_host = from_host_of(br.target, realm(br.l.realm).addr_text);
    if (diverted && writes_diversion(br.target.diversion_via)) {
        extra += diversion_line(c.called_user, called_host, why);
    }
    extra += c.inbound_diversions;
    // The call's history stays inside the trust domain when the caller asked (RFC 7044 10.1.2).
    const bool history_passes = br.target.trusted || !c.privacy.withholds_history();
    if (history_passes) {
        extra += c.inbound_history;
    }
    if (diverted && writes_history_info(br.target.diversion_via)) {
        const std::string& parent = history_passes ? c.inbound_history_index : std::string();
        extra += history_info_line(parent, c.called_user, called_host, br.request_uri, why);
    }
    extra += br.auth_header;
    // One Supported line: reliable provisionals are PRACKed (send_prack), session timers kept.
    extra += cfg_.session_expires_s != 0 ? "Supported: 100rel, timer\r\n" : "Supported: 100rel\r\n";
    extra += timer_headers_for_b();
    request_spec rs;
    rs.method = "INVITE";
    rs.request_uri = br.request_uri;
    rs.via_host = realm(br.l.realm).addr_text;
    rs.via_port = cfg_.sip_port;
    rs.branch = br.via_branch;
    rs.max_forwards = c.b_max_forwards;
    const std::string from = br.l.from_value();
    rs.from = from;
    rs.to = br.l.remote_uri;
    rs.call_id = br.l.call_id;
    rs.cseq = br.l.local_cseq;
    rs.contact = br.l.contact;
    rs.extra = extra;
    rs.user_agent = cfg_.user_agent;
    if (!br.offer.empty()) {
        rs.content_type = "application/sdp";
        rs.body = br.offer;  // through its co= (start_group checked that it leaves a codec)
    }
    const uint64_t id = c.id;
    br.tx = tl_.send_request(
        sip::method::invite, br.via_branch, br.l.realm, br.dest, build_request(tl_.pool(), rs),
        [this, id, i](const inbound& resp) { on_branch_response(id, i, resp); },
        [this, id, i] { on_branch_timeout(id, i); });
    arm_response_timeout(c, i);
    const unsigned ring_s = br.target.ring_time_s != 0 ? br.target.ring_time_s : cfg_.max_ring_s;
    if (ring_s != 0 && br.timer == 0) {  // an authentication retry keeps the running one
        br.timer = timers_.add(now_() + 1000ull * ring_s, [this, id, i, ring_s] {
            auto it = calls_.find(id);
            if (it == calls_.end()) {
                return;
            }
            call& cc = *it->second;
            cc.branches[i].timer = 0;
            if (cc.branches[i].st == call::branch::state::ringing) {
                log_info("call %llu: %s did not answer within %u s", static_cast<unsigned long long>(id),
                         cc.branches[i].request_uri.c_str(), ring_s);
                if (better_failure(480, cc.best_status)) {
                    cc.best_status = 480;
                    cc.best_reason = std::string(reason_phrase(480));
                }
                give_up_branch(cc, i);
                group_over(cc);
            }
        });
    }
}

void b2bua::release_channel(call& c, size_t i) {
    call::branch& br = c.branches[i];
    if (std::exchange(br.holds_channel, false)) {
        give_back_channel(br.target.provider);
    }
}

void b2bua::give_back_channel(const std::string& provider) {
    if (auto it = provider_calls_.find(provider); it != provider_calls_.end() && --it->second == 0) {
        provider_calls_.erase(it);
    }
}

void b2bua::release_transfer_channel(call& c, size_t i) {
    call::transfer_branch& br = c.transfer.ringing[i];
    if (std::exchange(br.holds_channel, false)) {
        give_back_channel(br.target.provider);
    }
}

void b2bua::release_leg_channel(call& c, bool leg_b) {
    std::string& provider = c.channel[leg_b ? 1 : 0];
    if (!provider.empty()) {
        give_back_channel(provider);
        provider.clear();
    }
}

void b2bua::forget_account_call(const std::string& account) {
    if (account.empty()) {
        return;
    }
    if (auto it = account_calls_.find(account); it != account_calls_.end() && --it->second == 0) {
        account_calls_.erase(it);
    }
}

void b2bua::arm_response_timeout(call& c, size_t i) {
    call::branch& br = c.branches[i];
    const provider_config* p = br.target.provider.empty() ? nullptr : accounts_.provider(br.target.provider);
    timers_.cancel(br.response_timer);
    br.response_timer = 0;
    if (p == nullptr || p->response_timeout_s == 0) {
        return;
    }
    const uint64_t id = c.id;
    br.response_timer = timers_.add(now_() + 1000ull * p->response_timeout_s, [this, id, i] {
        auto it = calls_.find(id);
        if (it == calls_.end()) {
            return;
        }
        call& cc = *it->second;
        call::branch& b = cc.branches[i];
        b.response_timer = 0;
        if (b.st != call::branch::state::ringing) {
            return;
        }
        // Not even a 100: the provider is unreachable or dead. The INVITE cannot be CANCELled
        // before a provisional response (RFC 3261 9.1), so it is left to its transaction (a late
        // 2xx is ACKed and BYEd) and the dial string moves on.
        ++stats_.provider_response_timeouts;
        log_info("call %llu: provider %s did not respond to the INVITE", static_cast<unsigned long long>(id),
                 b.target.provider.c_str());
        if (health_.unanswered(b.target.provider)) {
            log_info("provider %s left an INVITE unanswered: down", b.target.provider.c_str());
        }
        if (better_failure(408, cc.best_status)) {
            cc.best_status = 408;
            cc.best_reason = std::string(reason_phrase(408));
        }
        give_up_branch(cc, i);
        group_over(cc);
    });
}

void b2bua::give_up_branch(call& c, size_t i, std::string_view reason) {
    release_channel(c, i);  // cancelled: the channel is free for the next call
    call::branch& br = c.branches[i];
    timers_.cancel(br.timer);
    br.timer = 0;
    timers_.cancel(br.response_timer);
    br.response_timer = 0;
    if (br.st == call::branch::state::delayed) {
        br.st = call::branch::state::done;  // never sent
        return;
    }
    if (br.st != call::branch::state::ringing) {
        return;
    }
    br.st = call::branch::state::given_up;
    tl_.cancel(br.tx, reason);  // now, or on its first provisional response
}

void b2bua::give_up_branches(call& c, int except, std::string_view reason) {
    for (size_t i = 0; i < c.branches.size(); ++i) {
        if (static_cast<int>(i) != except) {
            give_up_branch(c, i, reason);
        }
    }
}

void b2bua::on_branch_response(uint64_t call_id, size_t i, const inbound& in) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) {
        on_orphan_response(in);  // the call ended while this branch was still out
        return;
    }
    call& c = *it->second;
    call::branch& br = c.branches[i];
    const sip::message& m = *in.msg;
    const unsigned status = m.status;
    if (br.response_timer != 0) {
        timers_.cancel(br.response_timer);  // it answers: no failover for this one
        br.response_timer = 0;
    }
    if (!br.target.provider.empty() && health_.answered(br.target.provider)) {
        log_info("provider %s answers again: up", br.target.provider.c_str());
    }
    if (status < 200) {
        if (status == 100 || br.st != call::branch::state::ringing || c.st == call::state::cancelling) {
            return;  // 100 is hop-by-hop: leg A already got our own
        }
        if (!m.to.tag.empty()) {
            br.l.remote_tag = std::string(m.to.tag);
        }
        br.l.route_set = record_route_of(m, true);  // the early dialog's route set (RFC 3261 12.1.2)
        if (const sip::header* rseq = m.find(sip::hdr::rseq); rseq != nullptr && requires_100rel(m)) {
            // RFC 3262: PRACK each reliable provisional response once, in its early dialog;
            // its retransmissions are absorbed here (the PRACK transaction retransmits itself).
            uint32_t n = 0;
            std::from_chars(rseq->value.data(), rseq->value.data() + rseq->value.size(), n);
            if (n != 0 && n <= br.last_rseq) {
                return;
            }
            br.last_rseq = n;
            send_prack(c, i, m);
        }
        c.st = call::state::early;
        std::string body;
        sdp::session desc;
        // An offerless INVITE gets its offer in the 2xx: an offer in a reliable 18x, answered in
        // A's PRACK, is not done here, so the 18x goes on without SDP.
        if (!c.offerless && is_sdp(m) && sdp::parse(m.body, desc) == sdp::parse_error::ok) {
            // Early media: the bridge's B side follows the branch that sent the latest SDP.
            media_.apply_remote(c.media, true, desc, c.early_media_branch >= 0 &&
                                                         c.early_media_branch != static_cast<int>(i));
            c.early_media_branch = static_cast<int>(i);
            c.b.media = br.l.media;  // what A hears of it goes through its co=, as after the answer
            c.b_remote_sdp = std::string(m.body);
            body = rewrite_sdp(c, false, m.body);
        }
        const std::string extra =
            "Contact: " + c.a.contact + "\r\n" + c.a_record_route + connected_identity(c, br.target, m);
        send_a_provisional(c, status, m.reason, extra, body);  // reliably if A asked (b2bua_reliable.cc)
        return;
    }
    if (status < 300) {
        if (br.st != call::branch::state::ringing || c.answered_branch >= 0 || c.st == call::state::cancelling) {
            // Too late: another branch won, this one was given up, or A is gone (the 2xx
            // crossed our CANCEL). The dialog exists now, so it is ACKed and ended.
            hang_up_branch(c, i, in);
            if (c.st == call::state::cancelling && !branches_unsettled(c)) {
                end_call(c, "caller");
            }
            return;
        }
        answer_from_branch(c, i, in);
        return;
    }
    // 3xx-6xx: the client transaction ACKed it. A redirect is followed where the dial string
    // asked (rd=). Otherwise it is no answer the caller can use (its Contact would leak leg B's
    // topology and is not passed on, and a 3xx without one says nothing): the destination
    // counts as unavailable, 480, so that a real answer of another branch (busy) wins over it.
    if (status < 400) {
        if (!follow_redirect(c, i, m)) {
            finish_branch(c, i, 480, reason_phrase(480));
        }
        return;
    }
    if ((status == 401 || status == 407) && retry_with_credentials(c, i, m)) {
        return;
    }
    if (status == 401 || status == 407) {
        // A's caller cannot answer a challenge for leg B's realm: the provider refused us.
        log_info("call %llu: %s asked for credentials we do not have (or refused them)",
                 static_cast<unsigned long long>(c.id), br.request_uri.c_str());
        finish_branch(c, i, 503, reason_phrase(503));
        return;
    }
    finish_branch(c, i, status, m.reason);
}

bool b2bua::follow_redirect(call& c, size_t i, const sip::message& m) {
    call::branch& br = c.branches[i];
    if (br.target.redirects == 0 || br.st != call::branch::state::ringing || c.answered_branch >= 0 ||
        c.st == call::state::cancelling) {
        return false;
    }
    // Every Contact (each line may list several), highest q first (RFC 3261 8.1.3.4, 16.5). Only
    // sip: URIs at an IPv4 address on this call's realm: the appliance resolves no names, and the
    // destinations of a call share its realm (its B half of the media bridge is anchored there).
    struct redirect_contact {
        double q;
        dial_target t;
    };
    std::vector<redirect_contact> found;
    for (unsigned h = 0; h < m.n_headers; ++h) {
        if (m.headers[h].id != sip::hdr::contact) {
            continue;
        }
        std::string_view rest = m.headers[h].value;
        sip::name_addr na;
        for (unsigned n = 0; n < 32 && !rest.empty() && sip::parse_name_addr(rest, na, &rest); ++n) {
            sip::uri u;
            uint32_t addr = 0;
            if (!sip::parse_uri(na.uri, u) || !iequals_ascii(u.scheme, "sip") || !sip::parse_ipv4(u.host, addr) ||
                route(addr) != static_cast<int>(br.l.realm)) {
                continue;
            }
            bool has_q = false;
            const std::string_view q_text = sip::find_param(na.params, "q", &has_q);
            double q = 1.0;
            if (has_q) {
                std::from_chars(q_text.data(), q_text.data() + q_text.size(), q);
            }
            dial_target t = br.target;  // its options (From, ring time, transfer mode...) go along
            t.user = std::string(u.user);
            t.host = ipv4_to_string(addr);
            t.port = u.port != 0 ? u.port : uint16_t{5060};
            // The Contact is the Request-URI (its parameters too: a number portability answer's
            // ;rn= and ;npdi), without any ?headers, which a Request-URI may not carry.
            t.contact_uri = std::string(na.uri.substr(0, na.uri.find('?')));
            t.provider.clear();
            const provider_config* trunk = accounts_.provider_by_address(addr, t.port);
            t.trusted = trunk != nullptr && trunk->trust_identity;  // trust is the new host's, not the redirector's
            t.realm = static_cast<int>(br.l.realm);
            t.media_realm = static_cast<int>(br.l.media_realm);
            t.delay_s = 0;
            t.redirected = true;
            t.redirects = 0;  // one level only: two redirectors cannot send a call round for ever
            found.push_back({q, std::move(t)});
        }
    }
    if (found.empty()) {
        return false;  // nothing we may dial: the 3xx is this destination's failure
    }
    std::stable_sort(found.begin(), found.end(),
                     [](const redirect_contact& x, const redirect_contact& y) { return x.q > y.q; });
    if (found.size() > br.target.redirects) {
        found.resize(br.target.redirects);
    }
    // They are dialled next, one after the other, before the rest of the dial string.
    const unsigned k = static_cast<unsigned>(found.size());
    for (dial_target& t : c.plan) {
        if (t.group > c.group) {
            t.group += k;
        }
    }
    for (unsigned j = 0; j < k; ++j) {
        found[j].t.group = c.group + 1 + j;
        c.plan.push_back(std::move(found[j].t));
    }
    // The redirecting destination is done; its 3xx is no failure the caller should hear.
    release_channel(c, i);
    timers_.cancel(br.timer);
    br.timer = 0;
    br.st = call::branch::state::done;
    br.status = m.status;
    by_call_id_.erase(br.l.call_id);
    ++stats_.redirects_followed;
    log_info("call %llu: %s redirected (%u), trying %u of its contacts", static_cast<unsigned long long>(c.id),
             br.request_uri.c_str(), m.status, k);
    group_over(c);
    return true;
}

void b2bua::send_prack(call& c, size_t i, const sip::message& reliable) {
    call::branch& br = c.branches[i];
    leg l = br.l;  // the early dialog: remote tag, route set; its target is the 18x's Contact
    if (const sip::header* contact = reliable.find(sip::hdr::contact)) {
        uri_endpoint(contact->value, l.target, &l.target_uri);
    }
    route_next_hop(l);
    ++br.pracks;
    const std::string rack = "RAck: " + std::string(reliable.find(sip::hdr::rseq)->value) + " " +
                             std::to_string(reliable.cseq) + " INVITE\r\n";
    const std::string branch = "z9hG4bK" + random_token(20);
    tl_.send_request(sip::method::prack, branch, l.realm, l.target,
                     in_dialog_request(l, "PRACK", l.local_cseq + br.pracks, branch, false, rack), nullptr, nullptr);
    ++stats_.pracks_sent;
}

std::string b2bua::provider_credentials(const call& c, const std::string& provider, const sip::message& challenge,
                                        const std::string& request_uri) {
    const provider_config* p = provider.empty() ? nullptr : accounts_.provider(provider);
    if (p == nullptr || p->username.empty()) {
        return "";
    }
    const bool proxy = challenge.status == 407;
    std::vector<std::string_view> values;
    for (unsigned h = 0; h < challenge.n_headers; ++h) {
        if (challenge.headers[h].id == (proxy ? sip::hdr::proxy_authenticate : sip::hdr::www_authenticate)) {
            values.push_back(challenge.headers[h].value);
        }
    }
    std::string credentials;
    if (const char* why = digest_client_.authorize(std::span<const std::string_view>(values), "INVITE", request_uri,
                                                   p->username, p->password, credentials)) {
        log_info("call %llu: cannot answer %s's challenge: %s", static_cast<unsigned long long>(c.id),
                 p->name.c_str(), why);
        return "";
    }
    return std::string(proxy ? "Proxy-Authorization: " : "Authorization: ") + credentials + "\r\n";
}

bool b2bua::retry_with_credentials(call& c, size_t i, const sip::message& challenge) {
    call::branch& br = c.branches[i];
    if (br.auth_tried || br.st != call::branch::state::ringing) {
        return false;
    }
    std::string line = provider_credentials(c, br.target.provider, challenge, br.request_uri);
    if (line.empty()) {
        return false;
    }
    br.auth_tried = true;
    br.auth_header = std::move(line);
    br.l.local_cseq += 1;
    br.l.remote_tag.clear();
    br.via_branch = "z9hG4bK" + random_token(20);
    tl_.detach_client(br.tx);  // that transaction is over (it ACKed the challenge)
    ++stats_.provider_auth_retries;
    send_branch_invite(c, i);
    return true;
}

void b2bua::on_branch_timeout(uint64_t call_id, size_t i) {
    auto it = calls_.find(call_id);
    if (it != calls_.end()) {
        const std::string& provider = it->second->branches[i].target.provider;
        if (!provider.empty() && health_.unanswered(provider)) {
            log_info("provider %s left an INVITE unanswered: down", provider.c_str());
        }
        finish_branch(*it->second, i, 408, reason_phrase(408));
    }
}

void b2bua::finish_branch(call& c, size_t i, unsigned status, std::string_view reason) {
    release_channel(c, i);
    call::branch& br = c.branches[i];
    const bool counted = br.st == call::branch::state::ringing;  // a given-up branch's 487 decides nothing
    timers_.cancel(br.timer);
    br.timer = 0;
    timers_.cancel(br.response_timer);
    br.response_timer = 0;
    br.st = call::branch::state::done;
    br.status = status;
    by_call_id_.erase(br.l.call_id);
    if (c.st == call::state::cancelling) {
        if (!branches_unsettled(c)) {
            end_call(c, "caller");
        }
        return;
    }
    if (!counted || c.answered_branch >= 0) {
        return;
    }
    if (better_failure(status, c.best_status)) {
        c.best_status = status;
        c.best_reason = std::string(reason);
    }
    if (status >= 600) {
        give_up_branches(c, -1);  // a global failure: nobody else is tried (RFC 3261 16.7)
        c.plan.clear();
    }
    group_over(c);
}

void b2bua::group_over(call& c) {
    if (branches_pending(c) || c.answered_branch >= 0 || c.st == call::state::cancelling) {
        return;
    }
    const bool more = std::any_of(c.plan.begin(), c.plan.end(), [&](const dial_target& t) {
        return t.group > c.group;
    });
    if (more) {
        start_group(c, c.group + 1);
        return;
    }
    ++stats_.calls_failed;
    const unsigned status = c.best_status != 0 ? c.best_status : 480;
    send_a_final(c, status, c.best_status != 0 ? std::string_view(c.best_reason) : reason_phrase(480));
    // Branches given up that have not sent their final response yet keep nothing alive:
    // their transactions are detached with the call.
    end_call(c, "none");
}

void b2bua::answer_from_branch(call& c, size_t i, const inbound& in) {
    const sip::message& m = *in.msg;
    call::branch& br = c.branches[i];
    sdp::session desc;
    const bool has_sdp = is_sdp(m) && sdp::parse(m.body, desc) == sdp::parse_error::ok;
    if (c.offerless) {
        // The 2xx carries the offer: the bridge is anchored now, with B's remotes from it.
        const char* why = !has_sdp ? "the answer to an offerless INVITE carried no SDP offer"
                          : !media_.open(c.media, c.a.media_realm, c.b.media_realm, desc, true) ? "no relay ports left"
                                                                                    : nullptr;
        if (why == nullptr) {
            media_.label(c.media, c.id);
        } else {
            log_info("call %llu: %s", static_cast<unsigned long long>(c.id), why);
            hang_up_branch(c, i, in);
            const unsigned status = has_sdp ? 503 : 502;
            if (better_failure(status, c.best_status)) {
                c.best_status = status;
                c.best_reason = std::string(reason_phrase(status));
            }
            group_over(c);
            return;
        }
    }
    timers_.cancel(br.timer);
    br.timer = 0;
    br.st = call::branch::state::done;
    br.status = m.status;
    c.answered_branch = static_cast<int>(i);
    if (std::exchange(br.holds_channel, false)) {
        c.channel[1] = br.target.provider;  // the answered destination's channel is leg B's now
    }
    give_up_branches(c, static_cast<int>(i), answered_elsewhere);
    for (const call::branch& other : c.branches) {
        if (&other != &br) {
            by_call_id_.erase(other.l.call_id);  // their late responses go to their transactions only
        }
    }
    // The branch's dialog is leg B from here on (its SDP origin is the one every branch offered).
    const uint64_t sdp_version = c.b.sdp_version;
    c.b = br.l;
    c.b.sdp_version = sdp_version;
    c.b.remote_tag = std::string(m.to.tag);
    if (const sip::header* contact = m.find(sip::hdr::contact)) {
        uri_endpoint(contact->value, c.b.target, &c.b.target_uri);
    }
    c.b.route_set = record_route_of(m, true);  // the 2xx's route set is the dialog's (RFC 3261 12.1.2)
    route_next_hop(c.b);
    learn_answering_party(c.b, br.target, m);
    c.a.transfer_mode = br.target.transfer_mode;
    c.continuous_media = br.target.continuous_media;
    c.tag = br.target.from_user;
    c.rec.b_call_id = c.b.call_id;
    c.rec.callee = to_string(br.dest);
    c.rec.provider = br.target.provider;
    if (!c.offerless) {
        send_ack(c, true, c.b.local_cseq, {});  // offerless: B's ACK waits for A's, which holds the answer
    }
    if (has_sdp) {
        if (!c.offerless) {
            media_.apply_remote(c.media, true, desc,
                                c.early_media_branch >= 0 && c.early_media_branch != static_cast<int>(i));
            release_removed_streams(c, desc);  // the streams B declined
        }
        c.b_remote_sdp = std::string(m.body);
    }
    // An offerless INVITE's 2xx is the offer to A: in the order of A's codec list.
    const std::string body = has_sdp ? rewrite_sdp(c, false, m.body, c.offerless) : std::string();
    negotiate_timer_b(c, m);
    std::string extra = "Contact: " + c.a.contact + "\r\n";
    extra += allow_header;
    extra += timer_headers_for_a(c);
    extra += c.a_record_route;
    extra += connected_identity(c, br.target, m);
    c.st = call::state::answered;
    c.rec.answer = std::chrono::system_clock::now();
    c.rec.result = m.status;
    c.rec.reason = std::string(m.reason);
    ++stats_.calls_answered;
    if (br.target.max_duration_s != 0) {
        arm_duration_limit(c, br.target.max_duration_s);
    }
    watch_media(c);
    // Now, or once A PRACKed our reliable 18x (RFC 3262 3); then retransmitted until A's ACK.
    answer_a(c, m.status, m.reason, std::move(extra), body);
    // The ACK carries the INVITE's CSeq; later requests in B's dialog come after its PRACKs'.
    c.b.local_cseq += br.pracks;
}

void b2bua::hang_up_branch(call& c, size_t i, const inbound& in) {
    const sip::message& m = *in.msg;
    call::branch& br = c.branches[i];
    timers_.cancel(br.timer);
    br.timer = 0;
    br.st = call::branch::state::done;
    br.status = m.status;
    leg l = br.l;
    l.remote_tag = std::string(m.to.tag);
    if (const sip::header* contact = m.find(sip::hdr::contact)) {
        uri_endpoint(contact->value, l.target, &l.target_uri);
    }
    l.route_set = record_route_of(m, true);
    route_next_hop(l);
    // The ACK carries the INVITE's CSeq (2 after an authentication retry), the BYE the next.
    send_(l.realm, l.target, in_dialog_request(l, "ACK", l.local_cseq, "z9hG4bK" + random_token(20)));
    const std::string branch = "z9hG4bK" + random_token(20);
    tl_.send_request(sip::method::bye, branch, l.realm, l.target, in_dialog_request(l, "BYE", l.local_cseq + 1, branch), nullptr,
                     nullptr);
    by_call_id_.erase(br.l.call_id);
}

void b2bua::arm_duration_limit(call& c, unsigned seconds) {
    const uint64_t id = c.id;
    c.duration_timer = timers_.add(now_() + 1000ull * seconds, [this, id, seconds] {
        auto it = calls_.find(id);
        if (it == calls_.end()) {
            return;
        }
        call& cc = *it->second;
        cc.duration_timer = 0;
        log_info("call %llu: duration limit of %u s reached, hanging up both legs",
                 static_cast<unsigned long long>(id), seconds);
        send_bye(cc, true);
        send_bye(cc, false);
        end_call(cc, "limit");
    });
}

}  // namespace sf::control
