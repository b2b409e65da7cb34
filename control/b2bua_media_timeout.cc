// Media timeout: an answered call through which no RTP is relayed in either direction for
// `[media] timeout` seconds is hung up (BYE to both legs, hangup "media_timeout"), as rtpengine's
// timeout does. Two endpoints that vanish without a BYE (a crash, a lost link) and negotiated no
// session timer would otherwise hold the call and its relay ports for good. A call a leg has put
// on hold (its last SDP is sendonly, recvonly or inactive) may be silent legitimately: it gets
// `hold_timeout` instead.
//
// One timer per answered call, never a sweep over all calls: it fires four times per limit,
// reads the relayed-packet count (the relay's per-side counters, no packet is touched) and hangs
// up once the count has not moved for the limit, so a call goes between 1 and 1.25 limits after
// its last packet.

#include <algorithm>

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "log.hh"

namespace sf::control {

namespace {

bool holds(const std::string& sdp) {
    return sdp.find("a=sendonly") != std::string::npos || sdp.find("a=recvonly") != std::string::npos ||
           sdp.find("a=inactive") != std::string::npos;
}

}  // namespace

void b2bua::watch_media(call& c) {
    timers_.cancel(c.media_timer);
    c.media_timer = 0;
    c.media_packets = media_.a_to_b(c.media).packets + media_.b_to_a(c.media).packets;
    c.media_changed_at = now_();
    if (cfg_.media_timeout_s == 0 && cfg_.media_hold_timeout_s == 0) {
        return;
    }
    const unsigned first = cfg_.media_timeout_s != 0 ? cfg_.media_timeout_s : cfg_.media_hold_timeout_s;
    const uint64_t id = c.id;
    c.media_timer = timers_.add(c.media_changed_at + std::max<ms_t>(1000, 250ull * first), [this, id] { check_media(id); });
}

void b2bua::check_media(uint64_t call_id) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) {
        return;
    }
    call& c = *it->second;
    c.media_timer = 0;
    const ms_t now = now_();
    const uint64_t packets = media_.a_to_b(c.media).packets + media_.b_to_a(c.media).packets;
    if (packets != c.media_packets) {
        c.media_packets = packets;  // a transfer's new bridge counts from zero: a change too
        c.media_changed_at = now;
    }
    // Read at every check: a reload may have changed the limits, a re-INVITE the hold.
    const bool on_hold = holds(c.a_remote_sdp) || holds(c.b_remote_sdp);
    const unsigned limit_s = on_hold ? cfg_.media_hold_timeout_s : cfg_.media_timeout_s;
    if (limit_s != 0 && now - c.media_changed_at >= 1000ull * limit_s && c.st == call::state::confirmed) {
        log_info("call %llu: no RTP relayed for %u s%s, hanging up both legs",
                 static_cast<unsigned long long>(call_id), limit_s, on_hold ? " (on hold)" : "");
        ++stats_.media_timeouts;
        send_bye(c, true);
        send_bye(c, false);
        end_call(c, "media_timeout");
        return;
    }
    // Looked at four times per limit, so a call goes between 1 and 1.25 limits after its last
    // packet (a change is only seen at a check).
    const unsigned other_s = on_hold ? cfg_.media_timeout_s : cfg_.media_hold_timeout_s;
    const unsigned period_s = limit_s != 0 ? limit_s : (other_s != 0 ? other_s : 60);
    c.media_timer = timers_.add(now + std::max<ms_t>(1000, 250ull * period_s), [this, call_id] { check_media(call_id); });
}

}  // namespace sf::control
