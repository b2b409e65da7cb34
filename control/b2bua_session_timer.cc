// Session timers (RFC 4028), per leg: each of the call's two dialogs negotiates its own
// interval and refresher, and the appliance keeps each alive or ends the call when one dies.
//
// Leg A (the appliance is its UAS): a Session-Expires in the caller's INVITE below our Min-SE
// gets 422; otherwise the 2xx carries Session-Expires with the refresher the caller asked for
// (uac when it supports timers and did not say, uas when it does not support them) and, with
// refresher=uac, Require: timer. Leg B (the appliance is its UAC): our INVITE offers
// Session-Expires and Min-SE with Supported: timer; the 2xx says who refreshes.
// When the appliance refreshes a leg, it re-INVITEs it at half the interval with the SDP it
// last sent there (no change, RFC 4028 10). When the peer refreshes, a refresh that changes
// nothing (an UPDATE without SDP, a re-INVITE repeating its last SDP) is answered here, not
// relayed: the other leg has its own timer. No refresh by interval - min(32, interval/3):
// both legs get a BYE (hangup "session_timer").

#include <algorithm>

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "log.hh"
#include "message_builder.hh"
#include "sip_header_values.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

using namespace b2bua_detail;

namespace {

bool supports_timer(const sip::message& m) {
    return lists_option_tag(m, sip::hdr::supported, sip::hdr::require, "timer");
}

/// delta-seconds of a Session-Expires or Min-SE value ("1800;refresher=uac"); 0 if absent or bad.
unsigned delta_seconds(const sip::header* h, std::string* refresher = nullptr) {
    session_expires_value v;
    if (h == nullptr || !parse_session_expires(h->value, v)) {
        return 0;
    }
    if (refresher != nullptr) {
        *refresher = std::string(v.refresher);
    }
    return v.seconds;
}

}  // namespace

bool b2bua::negotiate_timer_a(leg_timer& t, const sip::message& invite, uint64_t stx) {
    if (cfg_.session_expires_s == 0) {
        return true;  // session timers off
    }
    std::string refresher;
    const unsigned asked = delta_seconds(invite.find(sip::hdr::session_expires), &refresher);
    if (asked == 0) {
        return true;  // the caller asked for none: the appliance imposes none on its dialog
    }
    if (asked < cfg_.min_se_s) {
        // RFC 4028 8.1: too small for us; the caller may retry with our Min-SE.
        ++stats_.calls_failed;
        tl_.respond(stx, 422, reason_phrase(422), random_token(16), "Min-SE: " + std::to_string(cfg_.min_se_s) + "\r\n");
        return false;
    }
    t.interval_s = asked;
    // The caller refreshes when it supports timers (and did not hand the job to us).
    t.we_refresh = !supports_timer(invite) || refresher == "uas";
    return true;
}

std::string b2bua::timer_headers_for_a(const call& c) const {
    const leg_timer& t = c.session[0];
    if (t.interval_s == 0) {
        return {};
    }
    std::string h = "Session-Expires: " + std::to_string(t.interval_s) + ";refresher=" + (t.we_refresh ? "uas" : "uac") +
                    "\r\n";
    if (!t.we_refresh) {
        h += "Require: timer\r\n";  // RFC 4028 9: refresher=uac needs the caller's support
    }
    return h;
}

std::string b2bua::timer_headers_for_b() const {
    if (cfg_.session_expires_s == 0) {
        return {};
    }
    return "Session-Expires: " + std::to_string(cfg_.session_expires_s) + "\r\nMin-SE: " +
           std::to_string(cfg_.min_se_s) + "\r\n";
}

void b2bua::negotiate_timer_b(call& c, const sip::message& answer) {
    std::string refresher;
    const unsigned granted = delta_seconds(answer.find(sip::hdr::session_expires), &refresher);
    leg_timer& t = c.session[1];
    if (granted == 0 || cfg_.session_expires_s == 0) {
        t = leg_timer{};
        return;  // the callee does not do session timers
    }
    t.interval_s = granted;
    t.we_refresh = refresher != "uas";  // we are the UAC: "uac" (or no say) is us
}

void b2bua::arm_session_timer(call& c, bool leg_b) {
    leg_timer& t = c.session[leg_b ? 1 : 0];
    timers_.cancel(t.timer);
    t.timer = 0;
    if (t.interval_s == 0) {
        return;
    }
    const ms_t interval = 1000ull * t.interval_s;
    // We refresh at half the interval; the peer must have refreshed by interval - min(32 s, interval/3).
    const ms_t after = t.we_refresh ? interval / 2 : interval - std::min<ms_t>(32000, interval / 3);
    const uint64_t id = c.id;
    t.timer = timers_.add(now_() + after, [this, id, leg_b] {
        auto it = calls_.find(id);
        if (it == calls_.end()) {
            return;
        }
        call& cc = *it->second;
        leg_timer& lt = cc.session[leg_b ? 1 : 0];
        lt.timer = 0;
        if (lt.we_refresh) {
            session_refresh(cc, leg_b);
            return;
        }
        log_info("call %llu: leg %c did not refresh its session within %u s: ending the call",
                 static_cast<unsigned long long>(id), leg_b ? 'B' : 'A', lt.interval_s);
        ++stats_.session_timer_expiries;
        send_bye(cc, true);
        send_bye(cc, false);
        end_call(cc, "session_timer");
    });
}

void b2bua::session_refresh(call& c, bool leg_b) {
    leg_timer& t = c.session[leg_b ? 1 : 0];
    if ((leg_b ? c.b_last_sdp : c.a_last_sdp).empty() || c.st != call::state::confirmed) {
        arm_session_timer(c, leg_b);  // nothing to refresh with right now: try again later
        return;
    }
    // The same SDP as last time: nothing changes but the session's lease (RFC 4028 10).
    ++stats_.session_refreshes_sent;
    // In our own refresh we are the UAC, and the refresher.
    const std::string extra = "Supported: timer\r\nSession-Expires: " + std::to_string(t.interval_s) +
                              ";refresher=uac\r\n";
    reinvite_leg(c, leg_b, last_sdp_again(c, leg_b), extra);
    arm_session_timer(c, leg_b);
}

bool b2bua::answer_refresh_locally(const inbound& in, call& c, bool from_a, uint64_t stx) {
    const sip::message& m = *in.msg;
    leg_timer& t = c.session[from_a ? 0 : 1];
    if (t.interval_s == 0) {
        return false;
    }
    const std::string& last_from_peer = from_a ? c.a_remote_sdp : c.b_remote_sdp;
    const bool same_offer = is_sdp(m) && m.body == last_from_peer;
    const bool bare_update = m.req_method == sip::method::update && m.body.empty();
    if (!same_offer && !bare_update) {
        return false;  // a real change: relayed, and the timer restarts when it succeeds
    }
    std::string refresher;
    const unsigned asked = delta_seconds(m.find(sip::hdr::session_expires), &refresher);
    if (asked != 0 && asked >= cfg_.min_se_s) {
        t.interval_s = asked;
    }
    const std::string extra = "Session-Expires: " + std::to_string(t.interval_s) + ";refresher=" +
                              (t.we_refresh ? "uas" : "uac") + "\r\nRequire: timer\r\n" + "Contact: " +
                              (from_a ? c.a.contact : c.b.contact) + "\r\n";
    ++stats_.session_refreshes_answered;
    arm_session_timer(c, !from_a);
    if (bare_update) {
        tl_.respond(stx, 200, "OK", {}, extra);
        return true;
    }
    // A re-INVITE: answered with the SDP this leg last got from us, unchanged, then its ACK.
    const std::string& ours = last_sdp_again(c, !from_a);
    sip_wire sent = tl_.respond(stx, 200, "OK", {}, extra, "application/sdp", ours);
    wait_for_ack(c, from_a, m.cseq, std::move(sent), response_address(in));
    return true;
}

}  // namespace sf::control
