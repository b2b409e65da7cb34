// Call transfer on the appliance (RFC 3515 REFER, RFC 5589 call-control transfer).
//
// A leg's transfer mode comes from its dial string (tr=n|p|c). With mode c the
// appliance accepts the REFER itself: the Refer-To goes through the owning
// account's `transfer` dialplan, a new leg is placed to where it says, and when
// that party answers the transferee's media is switched to it with one atomic
// store per relay side (make-before-break), the transferee is re-INVITEd so its
// SDP names the new party's codecs, the transferor gets the final NOTIFY and a
// BYE. If the new party fails, the transferor is told and the call stays as it was.

#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <utility>

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "config.hh"
#include "diversion.hh"
#include "json_writer.hh"
#include "log.hh"
#include "message_builder.hh"
#include "sip_header_values.hh"
#include "sip/sdp.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

using namespace b2bua_detail;

namespace {
/// Why a transfer step rang nobody: the providers of all its destinations are down.
constexpr std::string_view providers_down =
    "the providers of every destination of the step are down or have no channel free";
/// Why a transfer step rang nobody: every destination's co= leaves no audio codec of the party
/// that stays.
constexpr std::string_view no_common_codec = "the party that stays offers none of the codecs or media types co= and mt= allow";
}  // namespace

void b2bua::on_refer(const inbound& in, call& c, bool from_a, uint64_t stx) {
    const sip::message& m = *in.msg;
    const leg& transferor = from_a ? c.a : c.b;
    auto refuse = [&](unsigned status, std::string_view why) {
        ++stats_.transfers_refused;
        log_info("REFER in call %llu refused with %u: %.*s", static_cast<unsigned long long>(c.id), status,
                 static_cast<int>(why.size()), why.data());
        tl_.respond(stx, status, reason_phrase(status), {}, why.empty() ? "" : warning_header(why));
    };
    if (transferor.transfer_mode != 'n' && cfg_.transfer.challenge_refer && !cfg_.accounts.empty()) {
        // Policy: a REFER must prove it comes from the account the call belongs to (407 first).
        const identity who = identify(in, stx, true);
        if (who.what == identity::kind::answered) {
            return;
        }
        // A provider's trunk is known by its address (we hold no credentials of its own).
        if (who.what != identity::kind::provider && (who.account == nullptr || who.account->name != c.account)) {
            return refuse(403, "the REFER's credentials are not the call's account's");
        }
    }
    if (transferor.transfer_mode == 'p' && c.st == call::state::confirmed && !c.transfer.active) {
        // Attended transfers are joined here even in pass-through mode: their Replaces names
        // dialogs of this appliance, which the other peer could not use.
        sip::name_addr na;
        sip::uri u;
        if (m.count(sip::hdr::refer_to) == 1 && sip::parse_name_addr(m.find(sip::hdr::refer_to)->value, na) &&
            sip::parse_uri(na.uri, u) && try_attended(c, from_a, stx, m.cseq, uri_header_replaces(u.headers))) {
            return;
        }
        // Pass-through: the other peer carries the transfer out itself (its INVITE to the
        // target comes back through this appliance and its dialplan).
        ++stats_.refer_passed;
        relay_in_dialog(in, c, from_a, stx);
        return;
    }
    if (transferor.transfer_mode != 'c') {
        // n (the default) declines. Never relay an unhandled REFER: it can ping-pong
        // between B2BUAs.
        ++stats_.refer_declined;
        tl_.respond(stx, 603, reason_phrase(603), {}, {});
        return;
    }
    if (c.st != call::state::confirmed || c.transfer.active || c.reinvite.active) {
        return refuse(491, "a transfer or offer is already in progress");
    }
    if (m.count(sip::hdr::refer_to) != 1) {
        return refuse(400, "exactly one Refer-To is required");  // RFC 3515 2.4.1
    }
    sip::name_addr target_na;
    sip::uri target;
    if (!sip::parse_name_addr(m.find(sip::hdr::refer_to)->value, target_na) ||
        !sip::parse_uri(target_na.uri, target)) {
        return refuse(400, "bad Refer-To");
    }
    if (!iequals_ascii(target.scheme, "sip") && !iequals_ascii(target.scheme, "sips") && !iequals_ascii(target.scheme, "tel")) {
        return refuse(403, "only sip, sips and tel targets are transferred");
    }
    bool has_method = false;
    const std::string_view method = sip::find_param(target.params, "method", &has_method);
    if (has_method && method != "INVITE") {
        return refuse(403, "only INVITE transfers are allowed");
    }
    // Attended transfer: Replaces names the transferor's other call (RFC 3891). When it
    // cannot be honoured the transfer goes on as a blind one (RFC 5589 7.3's fallback).
    const std::string replaces = uri_header_replaces(target.headers);
    if (!replaces.empty() && try_attended(c, from_a, stx, m.cseq, replaces)) {
        return;
    }
    transfer_request tr;
    // A dialog elsewhere (the transferor consulted the target through another system): the new
    // party's INVITE carries the Replaces, rewritten from its parts. Other URI headers are
    // dropped: they would be sent on to the new party unchecked.
    if (replaces_value rv; !replaces.empty() && parse_replaces(replaces, rv)) {
        tr.replaces = replaces_header_value(rv);
    }
    tr.target_user = std::string(target.user);
    tr.target_host = std::string(target.host);
    sip::uri from_uri;
    if (sip::parse_uri(m.from.uri, from_uri)) {
        tr.from_user = std::string(from_uri.user);
    }
    tr.source_ip = ipv4_to_string(in.source.addr);
    tr.source_port = in.source.port;
    tr.realm = realm(in.realm).name;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        tr.headers.emplace_back(std::string(m.headers[i].name), std::string(m.headers[i].value));
    }
    const sip::header* rb = m.find(sip::hdr::referred_by);
    tr.referred_by = rb != nullptr ? std::string(rb->value) : transferor.remote_uri;
    tr.refer_cseq = m.cseq;
    // RFC 4488: "Refer-Sub: false" asks for no implicit subscription; honoured, and echoed so
    // the transferor knows no NOTIFY will come.
    const sip::header* refer_sub = m.find(sip::hdr::refer_sub);
    tr.subscription = refer_sub == nullptr || !iequals_ascii(refer_sub->value, "false");
    const transfer_outcome out = start_transfer(c, from_a, tr, [&] {
        // RFC 3515: 202, then NOTIFY with the sipfrag of the new leg's progress.
        std::string extra = "Contact: " + transferor.contact + "\r\nSupported: norefersub\r\n";
        if (!tr.subscription) {
            extra += "Refer-Sub: false\r\n";
        }
        tl_.respond(stx, cfg_.transfer.accept_status, reason_phrase(cfg_.transfer.accept_status), {}, extra);
    });
    if (out.status != 0) {
        refuse(out.status, out.reason);
    }
}

b2bua::transfer_outcome b2bua::start_transfer(call& c, bool from_a, const transfer_request& tr,
                                              const std::function<void()>& accepted) {
    auto refuse = [&](unsigned status, std::string why) { return transfer_outcome{status, std::move(why)}; };
    // The account that placed the call decides with its own transfer dialplan (none: refused);
    // a call of no account (no accounts configured, or a trunk's) uses `transfer`.
    const account_config* owner = c.account.empty() ? nullptr : accounts_.account(c.account);
    const std::string plan_name = owner != nullptr ? owner->transfer_dialplan : std::string("transfer");
    dialplan_engine& plans = c.plans ? *c.plans : *dialplans_;  // the call's own, even after a reload
    if (plan_name.empty() || !plans.has(plan_name)) {
        return refuse(603, "no transfer dialplan");  // before any 202: never leave the transferor waiting
    }
    route_request rq;
    rq.uri_user = tr.target_user;
    rq.uri_host = tr.target_host;
    rq.from_user = tr.from_user;
    rq.source_ip = tr.source_ip;
    rq.source_port = tr.source_port;
    rq.realm = tr.realm;
    rq.headers = tr.headers;
    rq.account = c.account;
    const route_result rr = plans.run(plan_name, rq);
    log_dialplan(plan_name.c_str(), rr);
    if (rr.what == route_result::kind::respond) {
        return refuse(static_cast<unsigned>(rr.code), rr.reason);
    }
    // Config policy on top of the dialplan: deny-lists, per-call depth, REFER storms.
    if (const char* why = transfer_policy_.check(tr.target_user, c.transfers, now_())) {
        return refuse(403, std::string("transfer policy: ") + why + " ('" + tr.target_user + "')");
    }
    if (rr.what == route_result::kind::dial && !account_transfer_allowed(c.account, now_())) {
        return refuse(403, "transfer policy: the account's transfers per minute are used up");
    }
    if (rr.what != route_result::kind::dial) {
        if (rr.what == route_result::kind::error) {
            ++stats_.dialplan_errors;
        }
        return refuse(603, "the transfer dialplan did not route it");
    }
    // Providers and registered users resolve as for a call (an unregistered one drops out; one
    // registered from several places rings at each, in parallel).
    std::vector<dial_target> resolved = rr.targets;
    unsigned unresolved = 0;
    if (std::string why = resolve_targets(resolved, unresolved); !why.empty()) {
        return refuse(unresolved, why);
    }
    std::vector<std::vector<dial_target>> steps;
    for (dial_target& r : resolved) {
        if (steps.empty() || steps.back().back().group != r.group) {
            steps.emplace_back();
        }
        steps.back().push_back(std::move(r));
    }
    // The transferee's offer, as its phone made it, for the new party.
    const bool keep_a = !from_a;
    sdp::session offer;
    if (sdp::parse(keep_a ? c.a_remote_sdp : c.b_remote_sdp, offer) != sdp::parse_error::ok) {
        return refuse(488, "no usable SDP for the transferee");
    }
    call::transfer_state& t = c.transfer;
    t = call::transfer_state{};
    t.transferor_is_a = from_a;
    t.steps = std::move(steps);
    std::string why;
    while (t.step < t.steps.size() && !(why = open_transfer_step(c)).empty()) {
        log_info("call %llu: transfer step %zu of %zu skipped: %s", static_cast<unsigned long long>(c.id), t.step + 1,
                 t.steps.size(), why.c_str());
        ++t.step;
    }
    if (t.step == t.steps.size()) {
        t = call::transfer_state{};
        // Out of ports or of live providers is a passing condition (503), no codec in common
        // 488 (as the new party would have answered); the rest a policy (603).
        return refuse(why == no_common_codec            ? 488
                      : why == "no relay ports left" || why == providers_down ? 503
                                                                               : 603,
                      why);
    }
    t.active = true;
    t.refer_cseq = tr.refer_cseq;
    t.referred_by = tr.referred_by;
    t.transferor_user = tr.from_user;
    t.replaces = tr.replaces;
    t.notify_stopped = !tr.subscription;  // a transfer started by the API has no subscription
    ++stats_.transfers_started;
    accepted();
    notify_transferor(c, 100, "Trying", false);
    dial_transfer_step(c);
    return {};
}

bool b2bua::continuous_media(const call& c) const {
    return c.continuous_media >= 0 ? c.continuous_media == 1 : cfg_.transfer.continuous_media;
}

std::string b2bua::open_transfer_step(call& c) {
    call::transfer_state& t = c.transfer;
    const std::vector<dial_target>& step = t.steps[t.step];
    std::vector<call::transfer_branch> ringing;
    std::unordered_map<std::string, unsigned> wanted;  // channels this step's destinations take
    const bool keep_a = !t.transferor_is_a;
    const leg& stays = keep_a ? c.a : c.b;
    const std::string& stays_sdp = keep_a ? c.a_remote_sdp : c.b_remote_sdp;
    bool codecs_refused = false;
    for (const dial_target& dt : step) {
        bool no_codec = false;
        allowed_media(stays_sdp, stays.media, dt.media, &no_codec);
        if (no_codec) {
            // The new party could only answer 488: what stays offers none of its co= codecs (or
            // no stream of a type its mt= allows).
            ++stats_.codec_offers_refused;
            codecs_refused = true;
            continue;
        }
        if (!dt.provider.empty() && !health_.up(dt.provider)) {
            ++stats_.providers_skipped_down;  // its probes find it dead: not worth a ring
            continue;
        }
        const provider_config* p = dt.provider.empty() ? nullptr : accounts_.provider(dt.provider);
        const bool counted = p != nullptr && p->max_calls != 0;
        if (counted && provider_calls(p->name) + wanted[p->name] >= p->max_calls) {
            ++stats_.providers_skipped_full;  // every channel in use: as a call's destination would be
            continue;
        }
        uint32_t target_addr = 0;
        if (!parse_ipv4_text(dt.host, target_addr)) {
            return "only IPv4 transfer targets and configured providers are routed ('" + dt.host + "')";
        }
        const int new_realm = dt.realm >= 0 ? dt.realm : route(target_addr);
        if (new_realm < 0) {
            return "no route to the transfer target " + dt.host;
        }
        call::transfer_branch br;
        br.target = dt;
        if (counted) {
            br.holds_channel = true;  // taken below, once the step is sure to ring
            ++wanted[p->name];
        }
        br.target_uri = dt.contact_uri.empty() ? "sip:" + dt.user + "@" + dt.host + ":" + std::to_string(dt.port)
                                               : dt.contact_uri;
        br.next.realm = static_cast<unsigned>(new_realm);
        br.next.media_realm = static_cast<unsigned>(dt.media_realm >= 0 ? dt.media_realm : new_realm);
        br.next.target = sip_addr{target_addr, dt.port};
        br.invite_dest = br.next.target;
        // Every destination of the step is offered the same relay sides, as a call's parallel
        // branches are: whoever answers, the new half of the bridge is already in place.
        if (!ringing.empty() && (br.next.realm != ringing.front().next.realm ||
                                 br.next.media_realm != ringing.front().next.media_realm)) {
            return "parallel transfer destinations must share a realm and a media realm";
        }
        ringing.push_back(std::move(br));
    }
    if (ringing.empty()) {
        return std::string(codecs_refused ? no_common_codec : providers_down);
    }
    sdp::session offer;
    sdp::parse(keep_a ? c.a_remote_sdp : c.b_remote_sdp, offer);  // parsed once already in start_transfer
    if (!media_.open_replacement(t.media, c.media, keep_a, ringing.front().next.media_realm, offer,
                                 continuous_media(c))) {
        return "no relay ports left";
    }
    for (const auto& [provider, n] : wanted) {
        provider_calls_[provider] += n;
    }
    t.ringing = std::move(ringing);
    t.best_status = 0;
    t.best_reason.clear();
    t.target_uri.clear();
    for (const call::transfer_branch& br : t.ringing) {
        t.target_uri += (t.target_uri.empty() ? "" : " & ") + br.target_uri;
    }
    return "";
}

void b2bua::dial_transfer_step(call& c) {
    call::transfer_state& t = c.transfer;
    const bool keep_a = !t.transferor_is_a;
    const leg& stays = keep_a ? c.a : c.b;
    std::string caller_user = "anonymous";
    sip::name_addr stays_na;
    sip::uri stays_uri;
    if (sip::parse_name_addr(stays.remote_uri, stays_na) && sip::parse_uri(stays_na.uri, stays_uri) &&
        !stays_uri.user.empty()) {
        caller_user = std::string(stays_uri.user);
    }
    // One SDP for the whole step: the transferee's offer on the new half's relay address, off hold.
    const uint64_t sess_id = random_u64() >> 2;
    sdp::rewrite_spec spec;
    const std::string media_addr = media_.address_of(t.media, keep_a);  // the new leg's relay address
    spec.address = media_addr;
    spec.origin_sess_id = sess_id;
    spec.origin_sess_version = 1;
    media_.ports_of(t.media, keep_a, spec.ports);
    t.offer = off_hold(sdp::rewrite(keep_a ? c.a_remote_sdp : c.b_remote_sdp, spec));
    const uint64_t id = c.id;
    for (size_t i = 0; i < t.ringing.size(); ++i) {
        call::transfer_branch& br = t.ringing[i];
        const dial_target& dt = br.target;
        // The new leg: a dialog of its own, showing nothing of the others.
        leg& n = br.next;
        n.target_uri = br.target_uri;
        n.call_id = random_token(32);
        n.owns_call_id = true;
        n.local_tag = random_token(16);
        const std::string& n_addr = realm(n.realm).addr_text;
        // The dial string's From options as for any destination (a provider's From host included);
        // a caller who withholds itself stays anonymous beyond the trust domain (RFC 3323).
        n.local_uri = keep_a && c.privacy.withholds_identity() && !dt.trusted
                          ? std::string(anonymous_from)
                          : from_name_addr(dt, caller_user, "", n_addr);
        n.remote_uri = "<" + br.target_uri + ">";
        n.contact = "<sip:sipferry@" + n_addr + ":" + std::to_string(cfg_.sip_port) + ">";
        n.transfer_mode = dt.transfer_mode;
        n.media = dt.media;
        n.sdp_sess_id = sess_id;
        n.sdp_version = 1;
        n.local_cseq = 1;
        br.via_branch = "z9hG4bK" + random_token(20);
        by_call_id_[n.call_id] = id;
        send_transfer_invite(c, i);
        // A new party that rings and never answers is CANCELled like any destination; its 487 then
        // fails it. One that has not even sent a provisional response gets its CANCEL on the
        // first (RFC 3261 9.1), and Timer B ends its INVITE within 64*T1 anyway.
        const unsigned ring_s = dt.ring_time_s != 0 ? dt.ring_time_s : cfg_.max_ring_s;
        if (ring_s == 0) {
            continue;
        }
        const std::string call_id = n.call_id;
        br.ring_timer = timers_.add(now_() + 1000ull * ring_s, [this, id, i, call_id, ring_s] {
            auto it = calls_.find(id);
            if (it == calls_.end()) {
                return;
            }
            call::transfer_state& tt = it->second->transfer;
            if (!tt.active || i >= tt.ringing.size() || tt.ringing[i].next.call_id != call_id) {
                return;
            }
            tt.ringing[i].ring_timer = 0;
            log_info("call %llu: transfer target %s did not answer within %u s", static_cast<unsigned long long>(id),
                     tt.ringing[i].target_uri.c_str(), ring_s);
            tl_.cancel(tt.ringing[i].invite_tx);
        });
    }
}

void b2bua::give_up_transfer_branches(call& c, int except, std::string_view reason) {
    call::transfer_state& t = c.transfer;
    for (size_t i = 0; i < t.ringing.size(); ++i) {
        call::transfer_branch& br = t.ringing[i];
        by_call_id_.erase(br.next.call_id);
        if (static_cast<int>(i) == except) {
            continue;
        }
        release_transfer_channel(c, i);
        if (br.done) {
            continue;
        }
        br.done = true;
        timers_.cancel(br.ring_timer);
        br.ring_timer = 0;
        timers_.cancel(br.response_timer);
        br.response_timer = 0;
        // Cancelled now or on its first provisional response, or ACKed and BYEd if it answers
        // anyway (b2bua_orphans.cc).
        adopt_orphan(br.next, br.invite_tx, reason);
    }
}

void b2bua::transfer_branch_failed(call& c, size_t i, unsigned status, std::string_view reason, bool still_pending) {
    call::transfer_state& t = c.transfer;
    call::transfer_branch& br = t.ringing[i];
    br.done = true;
    release_transfer_channel(c, i);
    timers_.cancel(br.ring_timer);
    br.ring_timer = 0;
    timers_.cancel(br.response_timer);
    br.response_timer = 0;
    by_call_id_.erase(br.next.call_id);
    if (still_pending) {
        adopt_orphan(br.next, br.invite_tx);  // CANCELled on its first provisional, a late 2xx BYEd
    } else {
        tl_.detach_client(br.invite_tx);  // its transaction is over (it ACKed a failure, or timed out)
    }
    log_info("call %llu: transfer target %s failed with %u", static_cast<unsigned long long>(c.id),
             br.target_uri.c_str(), status);
    if (better_failure(status, t.best_status)) {
        t.best_status = status;
        t.best_reason = std::string(reason);
    }
    if (status >= 600) {
        // The party's answer for everywhere (RFC 3261 16.7 step 6): the others of the step are
        // cancelled and no further step is dialled.
        give_up_transfer_branches(c, -1);
        fail_transfer(c, t.best_status, t.best_reason);
        return;
    }
    if (std::any_of(t.ringing.begin(), t.ringing.end(), [](const call::transfer_branch& b) { return !b.done; })) {
        return;  // the step goes on while one of its destinations still rings
    }
    transfer_step_failed(c);
}

void b2bua::transfer_step_failed(call& c) {
    call::transfer_state& t = c.transfer;
    const bool keep_a = !t.transferor_is_a;
    const unsigned status = t.best_status;
    const std::string reason = t.best_reason;
    while (t.step + 1 < t.steps.size()) {
        log_info("call %llu: transfer to %s failed with %u, trying the next destination",
                 static_cast<unsigned long long>(c.id), t.target_uri.c_str(), status);
        media_.close_replacement(t.media, keep_a);
        for (size_t i = 0; i < t.ringing.size(); ++i) {
            release_transfer_channel(c, i);  // every one failed already: nothing should be left
        }
        t.ringing.clear();
        ++t.step;
        if (const std::string why = open_transfer_step(c); !why.empty()) {
            log_info("call %llu: transfer step %zu skipped: %s", static_cast<unsigned long long>(c.id), t.step + 1,
                     why.c_str());
            continue;
        }
        ++stats_.transfer_fallbacks;
        dial_transfer_step(c);
        return;
    }
    fail_transfer(c, status, reason);
}

void b2bua::send_transfer_invite(call& c, size_t i) {
    call::transfer_state& t = c.transfer;
    call::transfer_branch& br = t.ringing[i];
    const leg& n = br.next;
    std::string extra = "Referred-By: " + t.referred_by + "\r\n" + std::string(allow_header);
    for (const auto& [name, value] : br.target.headers) {
        extra += name + ": " + value + "\r\n";
    }
    // A new party hears of an asserted identity only from the transfer dialplan's pai=: the
    // transferee's identity is not the transferor's to pass on.
    const std::string& n_addr = realm(n.realm).addr_text;
    const std::string_view from_host = from_host_of(br.target, n_addr);
    extra += identity_for_destination(leg_identity({}, br.target), {}, br.target.trusted, from_host).header_lines;
    // A transfer's new leg presents a number only through the transfer dialplan's pai=: signed
    // as a gateway's ('C'), the appliance cannot vouch that number placed this leg.
    extra += identity_line(br.target, {}, br.target.asserted_user, 'C', c.origid, false);
    if (!br.target.diversion.empty() && !t.transferor_user.empty()) {
        // dv= in the transfer dialplan: the new party learns who passed the call on (RFC 5806,
        // RFC 7044 as dh= or the provider says). A new call: its history starts here.
        if (writes_diversion(br.target.diversion_via)) {
            extra += diversion_line(t.transferor_user, from_host, br.target.diversion);
        }
        if (writes_history_info(br.target.diversion_via)) {
            extra += history_info_line({}, t.transferor_user, from_host, n.target_uri, br.target.diversion);
        }
    }
    if (!t.replaces.empty() && !br.without_replaces) {
        // RFC 5589 7.1 as the transferee's UA would send it. No Require: a UA that does not
        // know Replaces rings as for a blind transfer; one that knows no such dialog says 481.
        extra += "Replaces: " + t.replaces + "\r\n";
        ++stats_.replaces_passed_on;
    }
    extra += br.auth_header;
    request_spec rs;
    const std::string from = n.from_value();
    rs.method = "INVITE";
    rs.request_uri = n.target_uri;
    rs.via_host = realm(n.realm).addr_text;
    rs.via_port = cfg_.sip_port;
    rs.branch = br.via_branch;
    rs.max_forwards = cfg_.max_forwards;
    rs.from = from;
    rs.to = n.remote_uri;
    rs.call_id = n.call_id;
    rs.cseq = n.local_cseq;
    rs.contact = n.contact;
    rs.extra = extra;
    rs.user_agent = cfg_.user_agent;
    // The two that will talk; the new party's co= orders the codecs it is offered.
    const std::string offer =
        allowed_media(t.offer, (t.transferor_is_a ? c.b : c.a).media, n.media, nullptr, n.media.codecs);
    rs.content_type = "application/sdp";
    rs.body = offer;
    const uint64_t id = c.id;
    const std::string call_id = n.call_id;
    br.invite_tx = tl_.send_request(
        sip::method::invite, br.via_branch, n.realm, n.target, build_request(tl_.pool(), rs),
        [this, id, i](const inbound& resp) { on_transfer_response(id, i, resp); },
        [this, id, i, call_id] {
            auto it = calls_.find(id);
            if (it == calls_.end()) {
                return;
            }
            call::transfer_state& tt = it->second->transfer;
            if (tt.active && i < tt.ringing.size() && tt.ringing[i].next.call_id == call_id && !tt.ringing[i].done) {
                const std::string& provider = tt.ringing[i].target.provider;
                if (!provider.empty() && health_.unanswered(provider)) {
                    log_info("provider %s left an INVITE unanswered: down", provider.c_str());
                }
                transfer_branch_failed(*it->second, i, 408, reason_phrase(408));
            }
        });
    arm_transfer_response_timeout(c, i);
}

void b2bua::arm_transfer_response_timeout(call& c, size_t i) {
    call::transfer_branch& br = c.transfer.ringing[i];
    timers_.cancel(br.response_timer);
    br.response_timer = 0;
    const provider_config* p = br.target.provider.empty() ? nullptr : accounts_.provider(br.target.provider);
    if (p == nullptr || p->response_timeout_s == 0) {
        return;
    }
    const uint64_t id = c.id;
    const std::string call_id = br.next.call_id;
    br.response_timer = timers_.add(now_() + 1000ull * p->response_timeout_s, [this, id, i, call_id] {
        auto it = calls_.find(id);
        if (it == calls_.end()) {
            return;
        }
        call::transfer_state& tt = it->second->transfer;
        if (!tt.active || i >= tt.ringing.size() || tt.ringing[i].next.call_id != call_id || tt.ringing[i].done) {
            return;
        }
        tt.ringing[i].response_timer = 0;
        // Not even a 100, as for a call's destination (b2bua_fork.cc): the next destination rings
        // now; this INVITE is left to its transaction (CANCELled on a provisional, a 2xx BYEd).
        ++stats_.provider_response_timeouts;
        const std::string& provider = tt.ringing[i].target.provider;
        log_info("call %llu: provider %s did not respond to the transfer's INVITE", static_cast<unsigned long long>(id),
                 provider.c_str());
        if (health_.unanswered(provider)) {
            log_info("provider %s left an INVITE unanswered: down", provider.c_str());
        }
        transfer_branch_failed(*it->second, i, 408, reason_phrase(408), true);
    });
}

bool b2bua::retry_transfer_with_credentials(call& c, size_t i, const sip::message& challenge) {
    call::transfer_branch& br = c.transfer.ringing[i];
    if (br.auth_tried) {
        return false;
    }
    std::string line = provider_credentials(c, br.target.provider, challenge, br.target_uri);
    if (line.empty()) {
        return false;
    }
    br.auth_tried = true;
    br.auth_header = std::move(line);
    ++stats_.provider_auth_retries;
    resend_transfer_invite(c, i);
    return true;
}

void b2bua::resend_transfer_invite(call& c, size_t i) {
    call::transfer_branch& br = c.transfer.ringing[i];
    br.next.local_cseq += 1;
    br.via_branch = "z9hG4bK" + random_token(20);
    tl_.detach_client(br.invite_tx);  // that transaction is over (it ACKed the final response)
    send_transfer_invite(c, i);  // the ring timer started with the first INVITE goes on
}

bool b2bua::try_attended(call& c, bool from_a, uint64_t stx, uint32_t refer_cseq, std::string_view replaces) {
    replaces_value rv;
    if (replaces.empty() || !parse_replaces(replaces, rv)) {
        return false;  // names no dialog: blind
    }
    const std::string_view to_tag = rv.to_tag, from_tag = rv.from_tag;
    bool other_is_a = false;
    call* other = find_call(rv.call_id, &other_is_a);
    if (other == nullptr || other == &c) {
        return false;  // not one of our dialogs: blind
    }
    // The dialog is the transferor's own leg of the other call. RFC 3891 has to-tag as
    // the local tag of whoever receives the Replaces (this appliance); be lenient about
    // peers that swap them.
    const leg& replaced = other_is_a ? other->a : other->b;
    const bool tags_match = (replaced.local_tag == to_tag && replaced.remote_tag == from_tag) ||
                            (replaced.local_tag == from_tag && replaced.remote_tag == to_tag);
    if (!tags_match) {
        return false;
    }
    if (other->st == call::state::routing || other->st == call::state::early) {
        if (!other_is_a) {
            return false;  // the transferor is being called in that dialog: nothing to join yet
        }
        // Semi-attended: the target still rings. Cancel that attempt; the blind transfer that
        // follows calls the target again for the transferee (RFC 5589 7.2).
        abandon(*other);
        return false;
    }
    if (other->st != call::state::confirmed || other->transfer.active || other->reinvite.active ||
        c.transfer.active || c.reinvite.active) {
        return false;
    }

    // Nobody new is dialled, so the destination lists do not apply; depth and rate do (per call,
    // for the whole appliance and for the account of the call the REFER came in, as for blind
    // ones). A refusal is final: falling back to blind would dodge it.
    const char* why = transfer_policy_.check_rate(std::max(c.transfers, other->transfers), now_());
    if (why == nullptr && !account_transfer_allowed(c.account, now_())) {
        why = "the account's transfers per minute are used up";
    }
    if (why != nullptr) {
        ++stats_.transfers_refused;
        log_info("attended REFER in call %llu refused with 403: transfer policy: %s",
                 static_cast<unsigned long long>(c.id), why);
        tl_.respond(stx, 403, reason_phrase(403), {}, warning_header(std::string("transfer policy: ") + why));
        return true;
    }
    const bool keep_a1 = !from_a;        // the transferee in this call
    const bool keep_a2 = !other_is_a;    // the transfer target in the other call
    // Joined, each is re-INVITEd with the other's SDP through both legs' co=: refused (488, as
    // either would answer) when that leaves one of them no codec, before anything is torn down.
    const leg& transferee = keep_a1 ? c.a : c.b;
    const leg& target = keep_a2 ? other->a : other->b;
    bool no_codec1 = false, no_codec2 = false;
    allowed_media(keep_a1 ? c.a_remote_sdp : c.b_remote_sdp, transferee.media, target.media, &no_codec1);
    allowed_media(keep_a2 ? other->a_remote_sdp : other->b_remote_sdp, transferee.media, target.media, &no_codec2);
    if (no_codec1 || no_codec2) {
        ++stats_.codec_offers_refused;
        log_info("attended REFER in call %llu refused with 488: no codec or media both parties' co=, mt= allow",
                 static_cast<unsigned long long>(c.id));
        tl_.respond(stx, 488, reason_phrase(488), {}, warning_header("no codec or media both parties may use"));
        return true;
    }
    ++stats_.transfers_started;
    ++stats_.transfers_completed;
    tl_.respond(stx, cfg_.transfer.accept_status, reason_phrase(cfg_.transfer.accept_status), {},
                "Contact: " + (from_a ? c.a : c.b).contact + "\r\n");
    c.transfer = call::transfer_state{};
    c.transfer.transferor_is_a = from_a;
    c.transfer.refer_cseq = refer_cseq;
    notify_transferor(c, 200, "OK", true);

    // Both calls' segments end here.
    const auto now = std::chrono::system_clock::now();
    for (call* k : {&c, other}) {
        call_record done = ended_segment(*k, "transfer");
        done.end = now;
        cdrs_.write(done);
        k->record_written = true;
    }
    // The transferor leaves both calls.
    send_bye(c, !from_a);
    send_bye(*other, !other_is_a);
    by_call_id_.erase((from_a ? c.a : c.b).call_id);
    by_call_id_.erase(replaced.call_id);

    // One atomic store per side and direction joins the transferee and the target.
    media_.splice(c.media, keep_a1, other->media, keep_a2, continuous_media(c), continuous_media(*other));
    media_.label(c.media, c.id);
    const leg kept1 = keep_a1 ? c.a : c.b;
    const leg kept2 = keep_a2 ? other->a : other->b;
    const std::string sdp1 = keep_a1 ? c.a_remote_sdp : c.b_remote_sdp;
    const std::string sdp2 = keep_a2 ? other->a_remote_sdp : other->b_remote_sdp;
    const std::string last1 = keep_a1 ? c.a_last_sdp : c.b_last_sdp;
    const std::string last2 = keep_a2 ? other->a_last_sdp : other->b_last_sdp;
    const std::string parent = c.rec.b_call_id;
    const std::string transferor_uri = (from_a ? c.a : c.b).remote_uri;
    c.a = kept1;
    c.b = kept2;
    // The channels go with the legs: the transferor's are given back, the kept ones move here.
    release_leg_channel(c, keep_a1);
    release_leg_channel(*other, keep_a2);
    std::string kept_channel1 = std::exchange(c.channel[keep_a1 ? 0 : 1], {});
    std::string kept_channel2 = std::exchange(other->channel[keep_a2 ? 0 : 1], {});
    c.channel[0] = std::move(kept_channel1);
    c.channel[1] = std::move(kept_channel2);
    c.a_remote_sdp = sdp1;
    c.b_remote_sdp = sdp2;
    c.a_last_sdp = last1;
    c.b_last_sdp = last2;
    c.segment_base_a_to_b = media_.a_to_b(c.media);
    c.segment_base_b_to_a = media_.b_to_a(c.media);
    by_call_id_[c.b.call_id] = c.id;
    c.rec.segment += 1;
    c.rec.parent = parent;
    c.rec.transferred_by = transferor_uri;
    c.rec.b_call_id = c.b.call_id;
    c.rec.callee = to_string(c.b.target);
    c.rec.provider = keep_a2 ? std::string() : other->rec.provider;  // leg B of the other call, if kept
    c.rec.start = now;
    c.rec.answer = now;
    c.rec.result = 200;
    c.rec.reason = "OK";
    c.record_written = false;
    c.transfers = std::max(c.transfers, other->transfers) + 1;  // the joined call carries the longer chain

    // The other call is gone: its state moved here (one call of its account fewer).
    forget_account_call(other->account);
    timers_.cancel(other->waiting_ack[0].timer);
    timers_.cancel(other->waiting_ack[1].timer);
    timers_.cancel(other->linger_timer);
    if (on_join_) {
        on_join_(other->id, c.id);  // a capture following the other call follows this one
    }
    calls_.erase(other->id);

    // Each side's SDP must now describe the other party, and each is told who that is:
    // re-INVITE both, relay ports unchanged.
    if (!sdp2.empty()) {
        reinvite_leg(c, false, rewrite_sdp(c, false, off_hold(sdp2), true), connected_party_lines(c.a, c.b));
    }
    if (!sdp1.empty()) {
        reinvite_leg(c, true, rewrite_sdp(c, true, off_hold(sdp1), true), connected_party_lines(c.b, c.a));
    }
    log_info("attended transfer: call %llu now joins %s and %s", static_cast<unsigned long long>(c.id),
             to_string(c.a.target).c_str(), to_string(c.b.target).c_str());
    return true;
}

std::pair<int, std::string> b2bua::api_transfer(const std::string& call_ref, const std::string& keep,
                                                const std::string& target_user) {
    std::pair<int, std::string> refusal;
    call* c = call_by_ref(call_ref, refusal);
    if (c == nullptr) {
        return refusal;
    }
    for (char ch : target_user) {
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || std::string_view("+-_.*#").find(ch) != std::string_view::npos)) {
            return {400, R"js({"error":"to must be a user part: digits, letters, + - _ . * #"})js"};
        }
    }
    if (c->st != call::state::confirmed || c->transfer.active || c->reinvite.active) {
        return {409, R"({"error":"the call is not in a state to transfer"})"};
    }
    // As if the leg that goes had sent a REFER: same dialplan, same policy.
    const bool transferor_is_a = keep == "b";
    const leg& going = transferor_is_a ? c->a : c->b;
    transfer_request tr;
    tr.target_user = target_user;
    tr.target_host = realm(going.realm).addr_text;
    tr.source_ip = "127.0.0.1";
    tr.realm = "api";
    tr.referred_by = "<sip:call-manager@" + realm(going.realm).addr_text + ">";
    tr.subscription = false;
    const transfer_outcome out = start_transfer(*c, transferor_is_a, tr, [] {});
    if (out.status != 0) {
        ++stats_.transfers_refused;
        log_info("API transfer of call %llu refused with %u: %s", static_cast<unsigned long long>(c->id), out.status,
                 out.reason.c_str());
        return {403, "{\"error\":" + json_quote(out.reason) + ",\"sip_status\":" + std::to_string(out.status) + "}"};
    }
    return {202, "{\"call\":" + std::to_string(c->id) + ",\"transfer\":\"started\",\"to\":" +
                     json_quote(c->transfer.target_uri) + "}"};
}

void b2bua::on_transfer_response(uint64_t call_id, size_t i, const inbound& in) {
    auto it = calls_.find(call_id);
    const sip::message& m = *in.msg;
    // Only a destination of the transfer under way counts; anything else belongs to an INVITE
    // given up before (a loser of the step, a transfer abandoned or done since).
    call::transfer_state* t = it == calls_.end() ? nullptr : &it->second->transfer;
    if (t == nullptr || !t->active || i >= t->ringing.size() || t->ringing[i].done ||
        t->ringing[i].next.call_id != m.call_id) {
        on_orphan_response(in);
        return;
    }
    call& c = *it->second;
    call::transfer_branch& br = t->ringing[i];
    timers_.cancel(br.response_timer);  // it responds: no failover for this one
    br.response_timer = 0;
    if (!br.target.provider.empty() && health_.answered(br.target.provider)) {
        log_info("provider %s answers again: up", br.target.provider.c_str());
    }
    if (m.status < 200) {
        if (m.status > 100) {
            notify_transferor(c, m.status, m.reason, false);
        }
        return;
    }
    if ((m.status == 401 || m.status == 407) && retry_transfer_with_credentials(c, i, m)) {
        return;
    }
    if (m.status == 481 && !t->replaces.empty() && !br.without_replaces) {
        // The target holds no such dialog (the consultation ended, or the dialplan routed
        // elsewhere): it is called as for a blind transfer.
        ++stats_.replaces_passed_refused;
        br.without_replaces = true;
        resend_transfer_invite(c, i);
        return;
    }
    if (m.status == 401 || m.status == 407) {
        // The transferor cannot answer a challenge for the new party's realm: as for a call,
        // the provider refused us.
        log_info("call %llu: transfer target %s asked for credentials we do not have (or refused them)",
                 static_cast<unsigned long long>(call_id), br.target_uri.c_str());
        transfer_branch_failed(c, i, 503, reason_phrase(503));
        return;
    }
    if (m.status >= 400) {
        transfer_branch_failed(c, i, m.status, m.reason);
        return;
    }
    if (m.status >= 300) {
        // A redirect is not followed for a transfer: as for a call's destination, unavailable.
        transfer_branch_failed(c, i, 480, reason_phrase(480));
        return;
    }
    complete_transfer(c, i, in);
}

void b2bua::complete_transfer(call& c, size_t i, const inbound& answer) {
    const sip::message& m = *answer.msg;
    call::transfer_state& t = c.transfer;
    // The first answer wins: the step's other destinations are cancelled (RFC 3261 16.7 as a
    // forking proxy does it), and only the winner's dialog is kept.
    give_up_transfer_branches(c, static_cast<int>(i), answered_elsewhere);
    call::transfer_branch& won = t.ringing[i];
    won.done = true;
    timers_.cancel(won.ring_timer);
    won.ring_timer = 0;
    timers_.cancel(won.response_timer);
    won.response_timer = 0;
    const bool keep_a = !t.transferor_is_a;
    leg& n = won.next;
    n.remote_tag = std::string(m.to.tag);
    if (const sip::header* contact = m.find(sip::hdr::contact)) {
        uri_endpoint(contact->value, n.target, &n.target_uri);
    }
    n.route_set = record_route_of(m, true);
    route_next_hop(n);
    learn_answering_party(n, won.target, m);
    // ACK the new party's 2xx (end to end, our own transaction).
    sip_wire& ack = c.last_ack[keep_a ? 1 : 0];
    ack = in_dialog_request(n, "ACK", n.local_cseq, "z9hG4bK" + random_token(20));
    send_(n.realm, n.target, ack);
    sdp::session desc;
    const bool has_sdp = is_sdp(m) && sdp::parse(m.body, desc) == sdp::parse_error::ok;
    if (has_sdp) {
        media_.apply_remote(t.media, keep_a, desc);
    }

    // The segment that ends: its record, with the counters up to the switch.
    const call_record done = ended_segment(c, "transfer");

    // Make-before-break: the new party's sides exist and already send to the transferee;
    // now the transferee's sides switch to them, and the transferor's are retired.
    leg old = keep_a ? c.b : c.a;
    media_.switch_over(c.media, t.media, keep_a);
    media_.label(c.media, c.id);
    start_segment_after_switch(c, keep_a);
    cdrs_.write(done);

    // The transferor: final NOTIFY (RFC 3515 with RFC 6665 terminated;reason=noresource), then BYE.
    notify_transferor(c, m.status, m.reason, true);
    if (!t.transferor_gone) {
        send_bye(c, keep_a);  // the transferor is B when A stays
    }
    by_call_id_.erase(old.call_id);
    by_call_id_[n.call_id] = c.id;
    (keep_a ? c.b : c.a) = n;
    release_leg_channel(c, keep_a);  // the transferor's leg (perhaps at a provider) has gone
    if (std::exchange(won.holds_channel, false)) {
        c.channel[keep_a ? 1 : 0] = won.target.provider;  // the new party's channel is its leg's now
    }
    if (won.target.continuous_media >= 0) {
        c.continuous_media = won.target.continuous_media;  // its cm= decides the call's next transfers
    }
    timers_.cancel(c.session[keep_a ? 1 : 0].timer);
    c.session[keep_a ? 1 : 0] = {};  // the new party's dialog negotiated no session timer
    (keep_a ? c.b_remote_sdp : c.a_remote_sdp) = has_sdp ? std::string(m.body) : std::string();
    (keep_a ? c.b_last_sdp : c.a_last_sdp).clear();

    // The next segment's record: billed to the transferor's account, linked to the last one.
    c.rec.parent = c.rec.b_call_id;
    c.rec.segment += 1;
    c.rec.transferred_by = t.referred_by;
    c.rec.billed_account = c.account;  // the new leg is paid by the account the call belongs to
    c.rec.b_call_id = n.call_id;
    c.rec.callee = to_string(won.invite_dest);
    c.rec.provider = won.target.provider;
    c.rec.start = done.end;
    c.rec.answer = done.end;
    c.rec.result = m.status;
    c.rec.reason = std::string(m.reason);
    ++c.transfers;
    ++stats_.transfers_completed;
    t.active = false;
    if (won.target.max_duration_s != 0) {
        // cd= on the transfer's destination limits the call from this answer on (a limit the
        // call had before is replaced; without cd= it keeps running).
        timers_.cancel(c.duration_timer);
        arm_duration_limit(c, won.target.max_duration_s);
    }

    // The transferee's SDP must now describe the new party (codecs, off hold): re-INVITE it
    // with its own o= session id, version bumped, its relay port unchanged; and say who that is.
    if (has_sdp) {
        const leg& stays = keep_a ? c.a : c.b;
        reinvite_leg(c, !keep_a, rewrite_sdp(c, !keep_a, off_hold(std::string(m.body)), true),
                     connected_party_lines(stays, keep_a ? c.b : c.a));
    }
}

void b2bua::fail_transfer(call& c, unsigned status, std::string_view reason) {
    call::transfer_state& t = c.transfer;
    const bool keep_a = !t.transferor_is_a;
    give_up_transfer_branches(c, -1);  // none rings any more when a step ends; a 6xx gives up the rest
    ++stats_.transfers_failed;
    notify_transferor(c, status, reason, true);
    media_.close_replacement(t.media, keep_a);
    t.active = false;
    if (t.transferor_gone) {
        // Nobody to go back to (RFC 5589 7): the transferee is told the call is over.
        send_bye(c, t.transferor_is_a ? true : false);
        end_call(c, "transfer");
    }
    // Otherwise the media never moved: the transferee is still bridged to the transferor.
}

void b2bua::abort_transfer(call& c) {
    call::transfer_state& t = c.transfer;
    if (!t.active) {
        return;
    }
    const bool keep_a = !t.transferor_is_a;
    t.active = false;
    // The transferee hung up mid-transfer: every new party still ringing is cancelled now or on
    // its first provisional response, or ACKed and BYEd if it answers anyway (b2bua_orphans.cc).
    give_up_transfer_branches(c, -1);
    notify_transferor(c, 487, reason_phrase(487), true);
    media_.close_replacement(t.media, keep_a);
}

void b2bua::notify_transferor(call& c, unsigned status, std::string_view reason, bool final) {
    call::transfer_state& t = c.transfer;
    if (t.transferor_gone || t.notify_stopped) {
        return;
    }
    leg& l = t.transferor_is_a ? c.a : c.b;
    const std::string frag = "SIP/2.0 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    std::string extra = "Event: refer;id=" + std::to_string(t.refer_cseq) + "\r\n";
    extra += final ? "Subscription-State: terminated;reason=noresource\r\n"
                   : "Subscription-State: active;expires=60\r\n";
    const std::string branch = "z9hG4bK" + random_token(20);
    sip_wire request = in_dialog_request(l, "NOTIFY", ++l.local_cseq, branch, true, extra,
                                                  "message/sipfrag;version=2.0", frag);
    const uint64_t id = c.id;
    tl_.send_request(
        sip::method::notify, branch, l.realm, l.target, std::move(request),
        [this, id](const inbound& resp) {
            // RFC 6665 4.1.2.4: a 481 ends the subscription; send no more NOTIFYs.
            auto it = calls_.find(id);
            if (it != calls_.end() && resp.msg->status == 481) {
                it->second->transfer.notify_stopped = true;
            }
        },
        [this, id] {
            // No answer at all (timer F): the subscriber is gone; stop notifying it.
            auto it = calls_.find(id);
            if (it != calls_.end()) {
                it->second->transfer.notify_stopped = true;
            }
        });
}

}  // namespace sf::control
