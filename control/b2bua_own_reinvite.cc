// The appliance's own re-INVITEs: the leg that stays after a transfer gets the new party's SDP,
// a session timer we refresh sends one per interval (b2bua_transfer.cc, b2bua_replaces.cc,
// b2bua_session_timer.cc ask for them through reinvite_leg).
//
// RFC 3261 14.1 and 14.2 allow one INVITE transaction in progress per dialog and direction, and
// a B2BUA relays re-INVITEs between its two legs too, so the rules here keep ours out of every
// other: at most one of our own per leg (a second one wanted meanwhile goes after it, with the
// latest SDP); none while a relayed re-INVITE is pending (it involves both legs) or while the
// leg has not ACKed our 2xx (an offer would cross it); a relayed re-INVITE or UPDATE offer that
// arrives while one of ours is pending gets 491 (b2bua_in_dialog.cc). A 491 to ours is retried
// after the section 14.1 back-off (2.1-4 s when we chose the leg's Call-ID, 0-2 s when the peer
// did), eight sends at most; one that must wait looks again every second, for 64*T1 at most;
// one the peer rings on is CANCELled after [sip] max_ring, as a relayed one is.

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "log.hh"
#include "sip/sdp.hh"

namespace sf::control {

using namespace b2bua_detail;

namespace {

constexpr unsigned max_sends = 8;  ///< of one re-INVITE refused with 491 each time
constexpr ms_t blocked_retry_ms = 1000;

}  // namespace

void b2bua::reinvite_leg(call& c, bool to_b, const std::string& sdp, std::string_view extra) {
    call::own_invite& o = c.own_reinvite[to_b ? 1 : 0];
    o.sdp = sdp;
    o.extra = std::string(extra);
    if (o.tx != 0) {
        o.queued = true;  // after the one in progress, with this SDP
        return;
    }
    timers_.cancel(o.timer);
    o.timer = 0;
    o.sends = 0;
    o.waiting_since = 0;
    send_own_reinvite(c, to_b);
}

bool b2bua::own_reinvite_pending(const call& c) const {
    return c.own_reinvite[0].tx != 0 || c.own_reinvite[1].tx != 0;
}

void b2bua::retry_own_reinvite(call& c, bool to_b, ms_t after) {
    call::own_invite& o = c.own_reinvite[to_b ? 1 : 0];
    const uint64_t id = c.id;
    o.timer = timers_.add(now_() + after, [this, id, to_b] {
        auto it = calls_.find(id);
        if (it != calls_.end()) {
            it->second->own_reinvite[to_b ? 1 : 0].timer = 0;
            send_own_reinvite(*it->second, to_b);
        }
    });
}

void b2bua::send_own_reinvite(call& c, bool to_b) {
    call::own_invite& o = c.own_reinvite[to_b ? 1 : 0];
    const bool crossing = c.reinvite.active || c.update_offer_out[0] || c.update_offer_out[1] || c.waiting_ack[to_b ? 1 : 0].active;
    if (c.st != call::state::confirmed || crossing) {
        const ms_t now = now_();
        if (o.waiting_since == 0) {
            o.waiting_since = now;
        }
        if (now - o.waiting_since >= 64ull * cfg_.timers.t1_ms) {
            log_info("call %llu: giving up the re-INVITE of leg %c: another INVITE kept it waiting %llu ms",
                     static_cast<unsigned long long>(c.id), to_b ? 'B' : 'A',
                     static_cast<unsigned long long>(now - o.waiting_since));
            o.waiting_since = 0;
            return;
        }
        retry_own_reinvite(c, to_b, blocked_retry_ms);
        return;
    }
    o.waiting_since = 0;
    ++o.sends;
    leg& l = to_b ? c.b : c.a;
    const std::string branch = "z9hG4bK" + random_token(20);
    const uint32_t cseq = ++l.local_cseq;
    const std::string headers = std::string(allow_header) + o.extra;
    sip_wire request = in_dialog_request(l, "INVITE", cseq, branch, true, headers, "application/sdp", o.sdp);
    const uint64_t id = c.id;
    o.cancelled = false;
    o.tx = tl_.send_request(
        sip::method::invite, branch, l.realm, l.target, std::move(request),
        [this, id, to_b, cseq](const inbound& resp) { on_own_reinvite_response(id, to_b, cseq, resp); },
        [this, id, to_b] {
            auto it = calls_.find(id);
            if (it == calls_.end()) {
                return;
            }
            call::own_invite& oo = it->second->own_reinvite[to_b ? 1 : 0];
            timers_.cancel(oo.timer);
            oo.timer = 0;
            if (oo.cancelled) {
                end_own_reinvite(*it->second, to_b);  // CANCELled and never answered: it only failed
                return;
            }
            oo.tx = 0;
            dialog_gone(*it->second, to_b, 0);  // no answer at all
        });
    if (cfg_.max_ring_s != 0) {
        o.timer = timers_.add(now_() + 1000ull * cfg_.max_ring_s, [this, id, to_b] {
            auto it = calls_.find(id);
            if (it == calls_.end()) {
                return;
            }
            call::own_invite& oo = it->second->own_reinvite[to_b ? 1 : 0];
            oo.timer = 0;
            if (oo.tx != 0) {
                log_info("call %llu: leg %c gave our re-INVITE no final response within %u s: CANCELled",
                         static_cast<unsigned long long>(id), to_b ? 'B' : 'A', cfg_.max_ring_s);
                oo.cancelled = true;
                tl_.cancel(oo.tx);
            }
        });
    }
}

void b2bua::on_own_reinvite_response(uint64_t call_id, bool to_b, uint32_t cseq, const inbound& resp) {
    auto it = calls_.find(call_id);
    const unsigned status = resp.msg->status;
    if (it == calls_.end() || status < 200) {
        return;
    }
    call& c = *it->second;
    call::own_invite& o = c.own_reinvite[to_b ? 1 : 0];
    timers_.cancel(o.timer);  // max_ring: it has its final response
    o.timer = 0;
    if (status == 491) {
        o.tx = 0;
        ++stats_.own_reinvite_491;
        if (o.sends >= max_sends) {
            log_info("call %llu: giving up the re-INVITE of leg %c after %u refusals with 491",
                     static_cast<unsigned long long>(call_id), to_b ? 'B' : 'A', o.sends);
            end_own_reinvite(c, to_b);
            return;
        }
        const leg& l = to_b ? c.b : c.a;
        const ms_t back_off = l.owns_call_id ? 2100 + random_u64() % 1901 : random_u64() % 2001;
        retry_own_reinvite(c, to_b, back_off / 10 * 10);  // in units of 10 ms
        return;
    }
    if ((status == 481 || status == 408) && !o.cancelled) {
        o.tx = 0;
        dialog_gone(c, to_b, status);  // RFC 3261 14.1, RFC 4028 10 for a refresh
        return;
    }
    if (status >= 300) {
        // A refused re-INVITE leaves the anchored media as they are: they still flow.
        log_info("call %llu: leg %c refused our re-INVITE with %u", static_cast<unsigned long long>(call_id),
                 to_b ? 'B' : 'A', status);
        end_own_reinvite(c, to_b);
        return;
    }
    sdp::session desc;
    if (is_sdp(*resp.msg) && sdp::parse(resp.msg->body, desc) == sdp::parse_error::ok && media_.fits(c.media, desc)) {
        media_.apply_remote(c.media, to_b, desc, true);
        // The answer stays here: a stream goes only when the other party has it at port 0 too
        // (after a transfer: the new party declined it, and now the kept one has).
        if (sdp::session other; sdp::parse(to_b ? c.a_remote_sdp : c.b_remote_sdp, other) == sdp::parse_error::ok) {
            release_removed_streams(c, desc, &other);
        }
        (to_b ? c.b_remote_sdp : c.a_remote_sdp) = std::string(resp.msg->body);
    }
    send_ack(c, to_b, cseq, {});
    end_own_reinvite(c, to_b);
}

void b2bua::end_own_reinvite(call& c, bool to_b) {
    call::own_invite& o = c.own_reinvite[to_b ? 1 : 0];
    o.tx = 0;
    o.sends = 0;
    if (o.queued) {
        o.queued = false;
        send_own_reinvite(c, to_b);
    }
}

void b2bua::forget_own_reinvites(call& c) {
    for (call::own_invite& o : c.own_reinvite) {
        timers_.cancel(o.timer);
        o.timer = 0;
        if (o.tx != 0) {
            tl_.detach_client(o.tx);
            o.tx = 0;
        }
    }
}

}  // namespace sf::control
