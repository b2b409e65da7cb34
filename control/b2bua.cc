#include "b2bua.hh"
#include "b2bua_call.hh"

#include <algorithm>
#include <charconv>

#include "config.hh"
#include "json_writer.hh"
#include "log.hh"
#include "message_builder.hh"
#include "sip/sdp.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

using namespace b2bua_detail;

void b2bua_detail::log_dialplan(const char* which, const route_result& rr) {
    for (const auto& line : rr.logs) {
        log_info("dialplan %s: %s", which, line.c_str());
    }
    if (rr.what == route_result::kind::error) {
        log_info("dialplan %s failed: %s", which, rr.error.c_str());
    }
}

b2bua::b2bua(b2bua_config cfg, transaction_layer& tl, timer_queue& timers, media_anchor& media,
             dialplan_engine& dialplans, cdr_writer& cdrs, sip_send_fn send, clock_fn now)
    : cfg_(std::move(cfg)), tl_(tl), timers_(timers), media_(media), dialplans_(&dialplans, [](dialplan_engine*) {}), cdrs_(cdrs),
      send_(std::move(send)), now_(std::move(now)), transfer_policy_(cfg_.transfer) {
    tl_.set_server_header(cfg_.user_agent);
    setup_accounts();
}

b2bua::~b2bua() {
    for (auto& [id, c] : calls_) {
        timers_.cancel(c->waiting_ack[0].timer);
        timers_.cancel(c->waiting_ack[1].timer);
        timers_.cancel(c->linger_timer);
        timers_.cancel(c->duration_timer);
        timers_.cancel(c->media_timer);
        timers_.cancel(c->session[0].timer);
        timers_.cancel(c->session[1].timer);
        timers_.cancel(c->a_reliable.timer);
        for (const call::transfer_branch& br : c->transfer.ringing) {
            timers_.cancel(br.ring_timer);
        }
        timers_.cancel(c->reinvite.timer);
        timers_.cancel(c->own_reinvite[0].timer);
        timers_.cancel(c->own_reinvite[1].timer);
        for (const call::branch& br : c->branches) {
            timers_.cancel(br.timer);
        }
        if (c->transfer.active) {
            // The new party's half exists only in the transfer's bridge (found by fuzz_b2bua).
            media_.close_replacement(c->transfer.media, !c->transfer.transferor_is_a);
        }
        media_.close(c->media);
    }
    timers_.cancel(housekeeping_timer_);
    for (auto& [call_id, o] : orphans_) {
        timers_.cancel(o.timer);
    }
}

b2bua::call* b2bua::find_call(std::string_view call_id, bool* is_a) {
    auto it = by_call_id_.find(std::string(call_id));
    if (it == by_call_id_.end()) {
        return nullptr;
    }
    auto c = calls_.find(it->second);
    if (c == calls_.end()) {
        return nullptr;
    }
    if (is_a != nullptr) {
        *is_a = c->second->a.call_id == call_id;
    }
    return c->second.get();
}

int b2bua::route(uint32_t addr) const {
    for (unsigned i = 0; i < media_.realm_count(); ++i) {
        if (realm(i).on_link(addr)) {
            return static_cast<int>(i);
        }
    }
    for (unsigned i = 0; i < media_.realm_count(); ++i) {
        if (realm(i).gateway != 0) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

int b2bua::realm_named(std::string_view name) const {
    for (unsigned i = 0; i < media_.realm_count(); ++i) {
        if (realm(i).name == name) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

// ------------------------------------------------------------------ entry

void b2bua::on_datagram(unsigned realm_index, sip_addr source, std::string_view raw) {
    sip::message msg;
    const sip::parse_error err = sip::parse(raw, msg);
    if (err != sip::parse_error::ok) {
        // Answer 400 where a response can be formed; anything else is counted and dropped.
        sip_wire resp = build_bad_request(tl_.pool(), raw, sip::to_string(err), cfg_.user_agent,
                                             err == sip::parse_error::bad_version ? 505 : 400);
        if (!resp.empty()) {
            ++stats_.bad_requests;
            send_(realm_index, source, std::move(resp));
        } else {
            ++stats_.unparsable_dropped;
        }
        return;
    }
    inbound in{realm_index, source, &msg, raw};
    if (msg.is_request) {
        ++stats_.requests_in;
        on_request(in);
    } else {
        ++stats_.responses_in;
        on_response(in);
    }
}

void b2bua::answer_locally(const inbound& in, unsigned status, std::string_view extra) {
    const uint64_t tx = tl_.create_server(in);
    tl_.respond(tx, status, reason_phrase(status), in.msg->to.tag.empty() ? random_token(16) : std::string(),
                extra);
}

void b2bua::on_request(const inbound& in) {
    const sip::message& m = *in.msg;
    if (tl_.absorb_request(in)) {
        return;
    }
    switch (m.req_method) {
    case sip::method::ack:
        on_ack(in);
        return;
    case sip::method::cancel:
        on_cancel(in);
        return;
    default:
        break;
    }
    // RFC 3261 8.2.2.1: a Request-URI scheme we do not speak gets 416.
    const std::string_view scheme = m.request_uri.substr(0, m.request_uri.find(':'));
    if (!iequals_ascii(scheme, "sip") && !iequals_ascii(scheme, "sips") && !iequals_ascii(scheme, "tel")) {
        answer_locally(in, 416);
        return;
    }
    // RFC 3261 8.2.2.3: extensions the request requires and we do not support get 420.
    // A dialog-creating INVITE may require 100rel: its 18x then go reliably (b2bua_reliable.cc);
    // re-INVITEs' provisional responses are relayed as they come, so they may not.
    if (m.req_method != sip::method::options) {
        std::string unsupported;
        for (unsigned i = 0; i < m.n_headers; ++i) {
            if (m.headers[i].id != sip::hdr::require) {
                continue;
            }
            for (std::string_view rest = m.headers[i].value; !rest.empty();) {
                const size_t comma = rest.find(',');
                std::string_view tag = rest.substr(0, comma);
                rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
                while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) {
                    tag.remove_prefix(1);
                }
                while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) {
                    tag.remove_suffix(1);
                }
                if (tag.empty() ||
                    (m.req_method == sip::method::invite && m.to.tag.empty() && iequals_ascii(tag, "100rel"))) {
                    continue;
                }
                unsupported += unsupported.empty() ? "" : ", ";
                unsupported += std::string(tag);
            }
        }
        if (!unsupported.empty()) {
            answer_locally(in, 420, "Unsupported: " + unsupported + "\r\n");
            return;
        }
    }
    if (!m.to.tag.empty()) {
        bool from_a = false;
        call* c = find_call(m.call_id, &from_a);
        // Before the answer, only leg A has a dialog here: a branch's early-dialog requests
        // (and a loser's) are not taken.
        if (c == nullptr || (!from_a && c->b.call_id != m.call_id)) {
            ++stats_.in_dialog_481;
            answer_locally(in, 481);
            return;
        }
        on_in_dialog(in, *c, from_a);
        return;
    }
    switch (m.req_method) {
    case sip::method::invite:
        on_invite(in);
        return;
    case sip::method::options:
        answer_locally(in, 200, allow_header);
        return;
    case sip::method::register_:
        on_register(in);
        return;
    case sip::method::bye:
        answer_locally(in, 481);
        return;
    default:
        // REGISTER, SUBSCRIBE, MESSAGE, REFER outside a dialog...: not offered here.
        answer_locally(in, 501, allow_header);
        return;
    }
}

void b2bua::on_response(const inbound& in) {
    if (tl_.on_response(in)) {
        return;
    }
    // A 2xx retransmitted after its client transaction ended: re-send our ACK (RFC 3261 13.2.2.4).
    const sip::message& m = *in.msg;
    if (m.cseq_method == sip::method::invite && m.status >= 200 && m.status < 300) {
        bool is_a = true;
        call* c = find_call(m.call_id, &is_a);
        if (c != nullptr && !c->last_ack[is_a ? 0 : 1].empty()) {
            const leg& l = is_a ? c->a : c->b;
            send_(l.realm, l.target, c->last_ack[is_a ? 0 : 1]);
            ++stats_.absorbed_2xx;
        }
    }
}

std::string_view b2bua::leg_call_id(uint64_t owner, bool leg_b) const {
    const auto it = calls_.find(owner);
    if (it == calls_.end()) {
        return {};
    }
    return leg_b ? it->second->b.call_id : it->second->a.call_id;
}

// ------------------------------------------------------------------ new calls

void b2bua::on_invite(const inbound& in) {
    const sip::message& m = *in.msg;

    // An INVITE retransmitted after our 2xx ended its server transaction: repeat the 2xx.
    // (Leg B too: a new party that replaced it with an INVITE of its own, RFC 3891.)
    bool existing_is_a = false;
    if (call* existing = find_call(m.call_id, &existing_is_a)) {
        const leg& l = existing_is_a ? existing->a : existing->b;
        const call::ack_wait& w = existing->waiting_ack[existing_is_a ? 0 : 1];
        if (l.remote_tag == m.from.tag && w.active) {
            send_(l.realm, response_address(in), w.text);
        }
        return;
    }
    std::optional<prepared_verification> prepared;  // made once, taken by verify_caller below
    if (hold_for_verification(in, prepared)) {
        return;  // its STIR/SHAKEN certificate is fetched or its signatures checked: handled after
    }

    const uint64_t stx = tl_.create_server(in);
    auto refuse = [&](unsigned status, std::string_view why = {}) {
        ++stats_.calls_failed;
        tl_.respond(stx, status, reason_phrase(status), random_token(16), why.empty() ? "" : warning_header(why));
    };
    if (m.max_forwards == 0) {
        return refuse(483);
    }
    sdp::session offer;
    if (!m.body.empty() && !is_sdp(m)) {
        // RFC 3261 21.4.13: a body we cannot read gets 415 with what we accept.
        ++stats_.calls_failed;
        tl_.respond(stx, 415, reason_phrase(415), random_token(16), "Accept: application/sdp\r\n");
        return;
    }
    // No body: an offerless INVITE (RFC 3264: the offer comes in the 2xx, the answer in the ACK).
    const bool offerless = m.body.empty();
    if (!offerless && sdp::parse(m.body, offer) != sdp::parse_error::ok) {
        return refuse(488, "the SDP offer cannot be read");
    }
    sip::uri ruri;
    if (!sip::parse_uri(m.request_uri, ruri) || ruri.scheme.empty()) {
        return refuse(416, "unsupported Request-URI");
    }

    leg_timer timer_a;
    if (!negotiate_timer_a(timer_a, m, stx)) {
        return;  // 422: the caller's Session-Expires is below our Min-SE
    }
    const identity who = identify(in, stx, true);
    if (who.what == identity::kind::answered) {
        return;  // challenged or refused
    }
    const account_config* account = who.account;
    // Taking over a leg is authenticated like any call (who knows a dialog's ids is not enough).
    if (m.find(sip::hdr::replaces) != nullptr) {
        if (offerless) {
            return refuse(488, "an SDP offer is required to replace a leg");
        }
        return on_replacing_invite(in, stx, offer, account);  // a leg of a call in progress is taken over
    }
    if (account != nullptr && account->max_calls != 0 && account_calls_[account->name] >= account->max_calls) {
        ++stats_.account_limit_refusals;
        return refuse(503, "the account's call limit is reached");
    }
    if (account != nullptr && !account_call_allowed(*account, now_())) {
        // Calls per second: a burst beyond the account's rate, told when to come back (RFC 3261 21.5.4).
        ++stats_.account_rate_refusals;
        ++stats_.calls_failed;
        tl_.respond(stx, 503, reason_phrase(503), random_token(16),
                    "Retry-After: 1\r\n" + warning_header("the account's calls per second are used up"));
        return;
    }

    // Who the caller is and what it withholds (asserted_identity.hh): a trusted provider's
    // assertion, or what its account may present; never an assertion from outside.
    const privacy_request privacy = privacy_of(m);
    if (!privacy_can_be_given(privacy)) {
        return refuse(500, "the Privacy header asks for a level this appliance does not know (critical)");
    }
    const provider_config* trunk = accounts_.provider_by_address(in.source.addr);
    if (trunk != nullptr && trunk->max_calls != 0 && provider_calls(trunk->name) >= trunk->max_calls) {
        // A trunk's channels carry both directions: one more call from it is beyond its contract.
        // 503 without Retry-After: the provider routes this call elsewhere, not all of them.
        ++stats_.providers_refused_full;
        return refuse(503, "the provider's channels (max_calls) are all in use");
    }
    const asserted_identity caller_identity =
        identity_of_call(m, trunk != nullptr && trunk->trust_identity, account);
    const verification verified = verify_caller(m, trunk, prepared);
    if (!answer_verification(stx, trunk, verified)) {
        return;  // refused: verify_identity = reject or require
    }

    route_request rq;
    rq.account = account != nullptr ? account->name : "";
    rq.identity_user = caller_identity.user;
    rq.identity_display = caller_identity.display;
    rq.privacy = to_string(privacy);
    rq.verstat = std::string(to_string(verified.status));
    rq.attest = verified.attest != 0 ? std::string(1, verified.attest) : std::string();
    rq.signer_spc = verified.spc;
    rq.origid = verified.origid;
    rq.diverted_from = verified.diverted_from;
    rq.uri_user = std::string(ruri.user);
    rq.uri_host = std::string(ruri.host);
    sip::uri from_uri;
    if (sip::parse_uri(m.from.uri, from_uri)) {
        rq.from_user = std::string(from_uri.user);
    }
    rq.from_display = std::string(m.from.display);
    sip::uri to_uri;
    if (sip::parse_uri(m.to.uri, to_uri)) {
        rq.to_user = std::string(to_uri.user);
    }
    rq.source_ip = ipv4_to_string(in.source.addr);
    rq.source_port = in.source.port;
    rq.realm = realm(in.realm).name;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        rq.headers.emplace_back(std::string(m.headers[i].name), std::string(m.headers[i].value));
    }
    const std::string& plan_name = account != nullptr ? account->dialplan : std::string("default");
    route_result rr = dialplans_->run(plan_name, rq);
    log_dialplan(plan_name.c_str(), rr);
    switch (rr.what) {
    case route_result::kind::respond:
        return refuse(static_cast<unsigned>(rr.code), rr.reason);
    case route_result::kind::none:
        return refuse(404, "the dialplan did not route the call");
    case route_result::kind::error:
        ++stats_.dialplan_errors;
        return refuse(500, "dialplan error");
    case route_result::kind::dial:
        break;
    }
    // Every destination must be routable, and on one realm: the B half of the media bridge is
    // anchored there before the first INVITE goes out, and every branch offers the same ports.
    unsigned unresolved = 0;
    if (std::string why = resolve_targets(rr.targets, unresolved); !why.empty()) {
        return refuse(unresolved, why);
    }
    int b_realm = -1, b_media_realm = -1;
    for (const dial_target& t : rr.targets) {
        uint32_t addr = 0;
        if (!parse_ipv4_text(t.host, addr)) {
            return refuse(502, "only IPv4 destinations and configured providers are routed ('" + t.host + "')");
        }
        const int r = t.realm >= 0 ? t.realm : route(addr);
        if (r < 0) {
            return refuse(502, "no route to " + t.host);
        }
        const int mr = t.media_realm >= 0 ? t.media_realm : r;
        if (b_realm >= 0 && (r != b_realm || mr != b_media_realm)) {
            return refuse(502, "the destinations of one dial string must be on one realm, their media on one");
        }
        b_realm = r;
        b_media_realm = mr;
    }

    auto c = std::make_unique<call>();
    c->id = ++last_call_id_;
    c->a_invite = response_base::from_request(m);
    c->a_invite_tx = stx;
    c->a_invite_cseq = m.cseq;
    setup_reliable_a(*c, m);
    // Leg A: the caller's dialog, with our tag and our Contact on its realm.
    c->a = uas_leg(in);
    leg& a = c->a;
    if (account != nullptr && account->media_realm >= 0) {
        a.media_realm = static_cast<unsigned>(account->media_realm);  // the customer's media network
    }
    if (account != nullptr) {
        a.media = account->media;  // what the customer's phones may use, whoever they call
    }
    c->a_reply_to = response_address(in);
    c->a_record_route = record_route_lines(m);
    a.transfer_mode = rr.targets.front().transfer_mode;  // the answering destination's, once one answers
    a.sdp_sess_id = random_u64() >> 2;
    // Leg B's realm and SDP origin; its dialog is the answering branch's (b2bua_fork.cc).
    c->b.realm = static_cast<unsigned>(b_realm);
    c->b.media_realm = static_cast<unsigned>(b_media_realm);
    c->b.sdp_sess_id = random_u64() >> 2;
    c->plan = rr.targets;
    c->caller_user = rq.from_user.empty() ? "anonymous" : rq.from_user;
    c->caller_display = std::string(m.from.display);
    c->identity = caller_identity;
    c->attest = account == nullptr ? 'C' : !account->identity.empty() && !caller_identity.empty() ? 'A' : 'B';
    c->origid = random_uuid();
    c->privacy = privacy;
    a.peer_trusted = trunk != nullptr && trunk->trust_identity;
    a.peer_identity = caller_identity;
    a.peer_privacy = privacy;
    c->verstat = rq.verstat;
    c->called_user = rq.uri_user;
    if (a.peer_trusted) {
        // Earlier diversions of the call, for the voicemail at the end of it; only from inside the
        // trust domain (a forged Diversion opens someone else's mailbox).
        for (unsigned i = 0, kept = 0; i < m.n_headers && kept < 8; ++i) {
            const sip::header& h = m.headers[i];
            if (h.id == sip::hdr::other && iequals_ascii(h.name, "Diversion") &&
                h.value.find_first_of("\r\n") == std::string_view::npos) {
                c->inbound_diversions += "Diversion: " + std::string(h.value) + "\r\n";
                ++kept;
            }
        }
        for (unsigned i = 0, kept = 0; i < m.n_headers && kept < 4; ++i) {
            const sip::header& h = m.headers[i];
            if (h.id == sip::hdr::other && (iequals_ascii(h.name, "Identity") || iequals_ascii(h.name, "y")) &&
                passable_identity(h.value)) {
                c->inbound_identity += "Identity: " + std::string(h.value) + "\r\n";
                parsed_identity p;
                if (c->inbound_orig_tn.empty() && parse_identity(h.value, p).empty() &&
                    (p.ppt_param == "shaken" || p.ppt == "shaken")) {
                    c->inbound_orig_tn = p.orig_tn;
                }
                ++kept;
            }
        }
        // The call's history so far (RFC 7044), passed on whole or not at all: an entry added
        // for a diversion here must fit under its last one.
        std::vector<std::string_view> history;
        for (unsigned i = 0; i < m.n_headers; ++i) {
            const sip::header& h = m.headers[i];
            if (h.id == sip::hdr::other && iequals_ascii(h.name, "History-Info") &&
                h.value.find_first_of("\r\n") == std::string_view::npos) {
                history.push_back(h.value);
            }
        }
        c->inbound_history_index = last_history_index(history);
        if (!c->inbound_history_index.empty()) {
            for (const std::string_view v : history) {
                c->inbound_history += "History-Info: " + std::string(v) + "\r\n";
            }
        }
    }
    c->b_max_forwards = std::min<unsigned>(m.max_forwards < 0 ? 70 : m.max_forwards - 1, cfg_.max_forwards);

    c->session[0] = timer_a;
    c->account = rq.account;
    c->plans = dialplans_;
    c->rec.billed_account = rq.account;
    c->rec.call_id = a.call_id;
    c->rec.from = std::string(m.from.uri);
    c->rec.to = std::string(m.request_uri);
    c->rec.caller = to_string(in.source);
    c->rec.identity = caller_identity.user;
    c->rec.privacy = rq.privacy;
    c->rec.verstat = rq.verstat;
    c->rec.signer_spc = rq.signer_spc;
    c->rec.diverted_from = rq.diverted_from;
    c->rec.origid = rq.origid;
    c->rec.attest = rq.attest;
    c->rec.start = std::chrono::system_clock::now();

    c->a_remote_sdp = std::string(m.body);
    c->offerless = offerless;
    if (!offerless) {
        if (!media_.open(c->media, a.media_realm, c->b.media_realm, offer)) {
            return refuse(503, "no relay ports left");
        }
        media_.label(c->media, c->id);
        c->b_offer = rewrite_sdp(*c, true, m.body);
    }
    // Offerless: the relay ports are allocated when the answering branch's 2xx brings the offer.
    const uint64_t id = c->id;
    by_call_id_[a.call_id] = id;
    ++stats_.calls_total;
    if (!c->account.empty()) {
        ++account_calls_[c->account];
    }
    if (trunk != nullptr && trunk->max_calls != 0) {
        ++provider_calls_[trunk->name];
        c->channel[0] = trunk->name;
    }
    call& cr = *c;
    calls_.emplace(id, std::move(c));
    start_group(cr, 0);
}

std::string b2bua::rewrite_for_leg(const call& c, bool for_b, std::string_view source, uint64_t version) const {
    sdp::rewrite_spec spec;
    const std::string media_addr = media_.address_of(c.media, for_b);  // one of the realm's relay addresses
    spec.address = media_addr;
    spec.origin_sess_id = (for_b ? c.b : c.a).sdp_sess_id;
    spec.origin_sess_version = version;
    media_.ports_of(c.media, for_b, spec.ports);
    return sdp::rewrite(source, spec);
}

std::string b2bua::rewrite_sdp(call& c, bool for_b, std::string_view body, bool offer) {
    leg& l = for_b ? c.b : c.a;
    std::string& last = for_b ? c.b_last_sdp : c.a_last_sdp;
    // Filtered before the rewrite, which keeps a disabled stream disabled: once, whatever the
    // version. An answer holds only what its offer did, which was filtered on its way: nothing
    // goes from it, unless a party answers with a codec nobody offered (that stream goes declined).
    const bool filtered = c.a.media.restricts() || c.b.media.restricts();
    const std::string allowed =
        filtered ? allowed_media(body, c.a.media, c.b.media, nullptr, offer ? l.media.codecs : sdp::name_list{})
                 : std::string();
    const std::string_view source = filtered ? std::string_view(allowed) : body;
    // The version moves only when the description changes (RFC 3264 8).
    std::string out = rewrite_for_leg(c, for_b, source, l.sdp_version);
    if (out != last) {
        out = rewrite_for_leg(c, for_b, source, ++l.sdp_version);
        last = out;
        l.last_sdp_ahead = false;
    }
    return out;
}

std::string b2bua::allowed_media(std::string_view sdp, const media_policy& x, const media_policy& y, bool* refused,
                                 sdp::name_list prefer) {
    // Both parties' lists in one pass: a name passes when each party that has a list allows it.
    const sdp::name_list codecs[2] = {x.codecs, y.codecs};
    const sdp::name_list types[2] = {x.types, y.types};
    sdp::media_filter_result r = sdp::filter_media(sdp, codecs, types, prefer);
    if (refused != nullptr) {
        const bool by_codecs = !x.codecs.empty() || !y.codecs.empty();
        const bool by_types = !x.types.empty() || !y.types.empty();
        *refused = (by_codecs && r.audio_active > 0 && r.audio_kept == 0) || (by_types && r.active > 0 && r.kept == 0);
    }
    return std::move(r.body);
}

void b2bua::send_a_final(call& c, unsigned status, std::string_view reason) {
    stop_reliable_a(c);  // a final response ends the INVITE's reliable provisionals (RFC 3262 3)
    tl_.respond(c.a_invite_tx, status, reason, c.a.local_tag, {});
    c.rec.result = status;
    c.rec.reason = std::string(reason);
}

void b2bua::on_cancel(const inbound& in) {
    const uint64_t ist = tl_.find_invite_server(in);
    if (ist == 0 && cancel_held_invite(in)) {
        return;  // it waited for its STIR/SHAKEN certificate: answered 487 without ever routing
    }
    const uint64_t cancel_tx = tl_.create_server(in);
    if (ist == 0) {
        tl_.respond(cancel_tx, 481, reason_phrase(481), {}, {});
        return;
    }
    tl_.respond(cancel_tx, 200, "OK", {}, {});
    bool is_a = false;
    call* c = find_call(in.msg->call_id, &is_a);
    if (c != nullptr && c->reinvite.active && c->reinvite.server_tx == ist) {
        cancel_reinvite(*c, true);  // a re-INVITE we relayed: the other leg's answer comes back
        return;
    }
    if (c != nullptr && is_a && cancel_held_answer_a(*c)) {
        return;  // B had answered but A's 2xx still waited for a PRACK: A was not answered yet
    }
    if (c == nullptr || !is_a || (c->st != call::state::routing && c->st != call::state::early)) {
        return;  // already answered or failed: the CANCEL has no effect (RFC 3261 9.2)
    }
    abandon(*c);
}

void b2bua::abandon(call& c, unsigned status, const char* hangup) {
    send_a_final(c, status, reason_phrase(status));
    c.st = call::state::cancelling;
    ++cancelling_;
    // The caller is gone: its record is final and its relay ports are free now; only leg B's
    // INVITE transaction is left to finish.
    write_record(c, hangup);
    media_.close(c.media);
    give_up_branches(c, -1);
    // A branch with no provisional response yet gets its CANCEL on the first (RFC 3261 9.1).
    // Stay until every branch's INVITE transaction ends, but never longer than 64*T1.
    const uint64_t id = c.id;
    c.linger_timer = timers_.add(now_() + 64ull * cfg_.timers.t1_ms + 1000, [this, id, hangup] {
        auto it = calls_.find(id);
        if (it != calls_.end()) {
            it->second->linger_timer = 0;
            end_call(*it->second, hangup);
        }
    });
}

// ------------------------------------------------------------------ end

leg b2bua::uas_leg(const inbound& in) const {
    const sip::message& m = *in.msg;
    leg l;
    l.realm = in.realm;
    l.media_realm = in.realm;
    l.call_id = std::string(m.call_id);
    l.remote_tag = std::string(m.from.tag);
    l.local_tag = random_token(16);
    l.remote_uri = strip_tag(m.find(sip::hdr::from)->value);
    l.local_uri = strip_tag(m.find(sip::hdr::to)->value);
    const sip::header* contact = m.find(sip::hdr::contact);
    if (contact == nullptr || !uri_endpoint(contact->value, l.target, &l.target_uri)) {
        l.target = response_address(in);
        l.target_uri = "sip:" + to_string(l.target);
    }
    l.contact = "<sip:sipferry@" + realm(in.realm).addr_text + ":" + std::to_string(cfg_.sip_port) + ">";
    l.sdp_sess_id = random_u64() >> 2;
    l.route_set = record_route_of(m, false);  // a UAS takes the Record-Route in order (RFC 3261 12.1.1)
    route_next_hop(l);
    return l;
}

call_record b2bua::ended_segment(const call& c, const char* hangup) const {
    call_record done = c.rec;
    done.end = std::chrono::system_clock::now();
    done.hangup = hangup;
    const rtp_counts ab = media_.a_to_b(c.media), ba = media_.b_to_a(c.media);
    done.caller_to_callee = ab - c.segment_base_a_to_b;
    done.callee_to_caller = ba - c.segment_base_b_to_a;
    done.codec = c.media.codec;
    done.t38 = c.media.t38;
    return done;
}

void b2bua::start_segment_after_switch(call& c, bool keep_a) const {
    const rtp_counts ab = media_.a_to_b(c.media), ba = media_.b_to_a(c.media);
    // Each direction: its sender's counts and its receiver's reports, from where the kept
    // party's sides stand, zero for the new party's.
    const rtp_counts& from_kept = keep_a ? ab : ba;  // sent by the kept party, reported by the new
    const rtp_counts& to_kept = keep_a ? ba : ab;    // sent by the new party, reported by the kept
    rtp_counts kept_sent = from_kept;
    kept_sent.receiver = {};
    rtp_counts kept_reported;
    kept_reported.receiver = to_kept.receiver;
    c.segment_base_a_to_b = keep_a ? kept_sent : kept_reported;
    c.segment_base_b_to_a = keep_a ? kept_reported : kept_sent;
}

void b2bua::write_record(call& c, const char* hangup) {
    if (!c.record_written) {
        // This segment's packets: what the sides counted since it began (a transfer starts a segment).
        c.rec = ended_segment(c, c.rec.answer ? hangup : "none");
        if (c.rec.result == 0) {
            c.rec.result = 487;
            c.rec.reason = std::string(reason_phrase(487));
        }
        cdrs_.write(c.rec);
        c.record_written = true;
    }
}

void b2bua::end_call(call& c, const char* hangup) {
    abort_transfer(c);
    stop_reliable_a(c);
    if (c.reinvite.active) {
        // RFC 3261 15.1.2: a request pending in a dialog that ends gets 487. The INVITE relayed
        // to the other leg is left to its transaction (which gives it 64*T1 at most now).
        tl_.respond(c.reinvite.server_tx, 487, reason_phrase(487), {}, {});
        tl_.detach_client(c.reinvite.client_tx);
        timers_.cancel(c.reinvite.timer);
        c.reinvite.active = false;
    }
    forget_own_reinvites(c);
    timers_.cancel(c.waiting_ack[0].timer);
    timers_.cancel(c.waiting_ack[1].timer);
    timers_.cancel(c.linger_timer);
    timers_.cancel(c.duration_timer);
    timers_.cancel(c.media_timer);
    timers_.cancel(c.session[0].timer);
    timers_.cancel(c.session[1].timer);
    if (c.st == call::state::cancelling) {
        --cancelling_;
    }
    write_record(c, hangup);
    media_.close(c.media);
    for (size_t i = 0; i < c.branches.size(); ++i) {
        release_channel(c, i);  // the answered destination's channel, and any not given back yet
        call::branch& br = c.branches[i];
        timers_.cancel(br.timer);
        by_call_id_.erase(br.l.call_id);
        if (br.st == call::branch::state::ringing || br.st == call::branch::state::given_up) {
            // Still waiting for its final response: it gets its CANCEL (or ACK and BYE) anyway.
            adopt_orphan(br.l, br.tx);
        } else {
            tl_.detach_client(br.tx);
        }
    }
    by_call_id_.erase(c.a.call_id);
    by_call_id_.erase(c.b.call_id);
    forget_account_call(c.account);
    release_leg_channel(c, false);
    release_leg_channel(c, true);
    calls_.erase(c.id);  // `c` is gone from here on
}

b2bua::call* b2bua::call_by_ref(const std::string& call_ref, std::pair<int, std::string>& refusal) {
    call* c = find_call(call_ref);
    if (c == nullptr) {
        uint64_t id = 0;
        auto [p, ec] = std::from_chars(call_ref.data(), call_ref.data() + call_ref.size(), id);
        auto it = ec == std::errc{} && p == call_ref.data() + call_ref.size() ? calls_.find(id) : calls_.end();
        c = it == calls_.end() ? nullptr : it->second.get();
    }
    if (c == nullptr && !call_ref.empty()) {
        // A tag the dialplan set (the fu= From user of the answering destination), as
        // sipsorcery's call manager found calls for Tropo applications. It must name one call.
        for (auto& [id, k] : calls_) {
            if (k->tag == call_ref) {
                if (c != nullptr) {
                    refusal = {409, R"({"error":"the tag names more than one call: use the call id"})"};
                    return nullptr;
                }
                c = k.get();
            }
        }
    }
    if (c == nullptr) {
        refusal = {404, R"({"error":"no such call"})"};
    }
    return c;
}

call_filter b2bua::capture_filter(const std::string& call_ref) {
    std::pair<int, std::string> refusal;
    const call* c = call_by_ref(call_ref, refusal);
    if (c == nullptr) {
        return {refusal.first, {}, refusal.second, 0};
    }
    return filter_of(*c);
}

call_filter b2bua::capture_filter(uint64_t call_id) {
    const auto it = calls_.find(call_id);
    if (it == calls_.end()) {
        return {404, {}, R"({"error":"no such call"})", 0};
    }
    return filter_of(*it->second);
}

call_filter b2bua::filter_of(const call& c) const {
    // Each SIP peer the call has talked to or is calling (the appliance's SIP port on its realm
    // talks to it) and every relay port of its media, RTP and the RTCP port above it; each term
    // once, the legs first. No text: a capture following the call compares these before every
    // message the appliance sends.
    call_filter f{200, {}, {}, c.id};
    f.terms.reserve(8);
    auto add = [&](capture_term t) {
        if (std::find(f.terms.begin(), f.terms.end(), t) == f.terms.end()) {
            f.terms.push_back(t);
        }
    };
    auto add_peer = [&](sip_addr a) {
        if (a.addr != 0) {
            add({a.addr, a.port, a.port});
        }
    };
    auto add_media = [&](const media_bridge& m) {
        for (const auto& st : m.streams) {
            for (const uint16_t port : {st.a_port, st.b_port}) {
                // A number once: both sides often have the same one (on two addresses).
                if (port != 0) {
                    add({0, port, static_cast<uint16_t>(st.rtcp ? port + 1 : port)});
                }
            }
        }
    };
    add_peer(c.a.target);
    add_peer(c.b.target);
    for (const call::branch& br : c.branches) {  // forked or sequential destinations
        add_peer(br.dest);
    }
    if (c.transfer.active) {  // a transfer's new leg, ringing: its peers and relay ports
        for (const call::transfer_branch& br : c.transfer.ringing) {
            add_peer(br.next.target);
        }
    }
    add_media(c.media);
    if (c.transfer.active) {
        add_media(c.transfer.media);
    }
    if (f.terms.empty()) {
        return {409, {}, R"({"error":"the call has no peer or media to capture yet"})", 0};
    }
    return f;
}

std::string b2bua::calls_json() const {
    static const char* names[] = {"routing", "early", "answered", "confirmed", "cancelling"};
    json_writer j;
    j.begin_array();
    for (const auto& [id, c] : calls_) {
        j.begin_object();
        j.key("id").value(id);
        j.key("state").value(names[static_cast<unsigned>(c->st)]);
        j.key("tag").value(c->tag).key("account").value(c->account);
        j.key("continuous_media").value(continuous_media(*c));
        j.key("verstat").value(c->verstat).key("attest").value(c->rec.attest);
        j.key("signer_spc").value(c->rec.signer_spc).key("origid").value(c->rec.origid);
        j.key("diverted_from").value(c->rec.diverted_from);
        // Channels at providers (max_calls) each leg holds ("" = none).
        j.key("channels").begin_array().value(c->channel[0]).value(c->channel[1]).end_array();
        for (const bool leg_b : {false, true}) {
            const leg& l = leg_b ? c->b : c->a;
            j.key(leg_b ? "b" : "a").begin_object();
            j.key("call_id").value(l.call_id).key("realm").value(realm(l.realm).name);
            j.key("media_realm").value(realm(l.media_realm).name);
            j.key("peer").value(to_string(l.target)).key("transfer_mode").value(std::string(1, l.transfer_mode));
            // Who the peer is as the other party may be told (connected identity, leg::peer_*).
            j.key("identity").value(l.peer_identity.user).key("dialled").value(l.peer_dialled);
            j.key("trusted").value(l.peer_trusted);
            // Its co= and mt= (empty: any).
            for (const auto& [key, names] : {std::pair{"codecs", &l.media.codecs}, std::pair{"media_types", &l.media.types}}) {
                j.key(key).begin_array();
                for (const std::string& name : *names) {
                    j.value(name);
                }
                j.end_array();
            }
            j.end_object();
        }
        // The destinations dialled so far (one per INVITE placed; the answering one is leg B).
        static const char* branch_states[] = {"delayed", "ringing", "given_up", "done"};
        j.key("branches").begin_array();
        for (const call::branch& br : c->branches) {
            j.begin_object();
            j.key("call_id").value(br.l.call_id).key("peer").value(to_string(br.dest));
            j.key("group").value(unsigned{br.target.group});
            j.key("state").value(branch_states[static_cast<unsigned>(br.st)]).key("status").value(unsigned{br.status});
            j.end_object();
        }
        j.end_array();
        j.key("media").begin_array();
        for (const auto& st : c->media.streams) {
            j.begin_object();
            j.key("type").value(st.type);
            j.key("a_port").value(unsigned{st.a_port}).key("b_port").value(unsigned{st.b_port});
            j.key("rtcp").value(st.rtcp);
            j.end_object();
        }
        j.end_array();
        const rtp_counts ab = media_.a_to_b(c->media), ba = media_.b_to_a(c->media);
        j.key("rtp").begin_object();
        // What the sides now in the call counted since they were made (a replaced party's went
        // with its sides: its segment's record has them).
        write_direction(j, "caller_to_callee", ab, ba, c->media.codec);
        write_direction(j, "callee_to_caller", ba, ab, c->media.codec);
        j.end_object();
        j.key("codec").value(c->media.codec);
        j.key("t38").value(c->media.t38);
        j.end_object();
    }
    j.end_array();
    return j.take();
}

}  // namespace sf::control
