// Reliable provisional responses to the caller (RFC 3262, the appliance as the UAS of leg A).
//
// Towards callees the appliance is a UAC and only PRACKs (b2bua_fork.cc); towards the caller
// it is the UAS, and this file makes its 18x reliable when the caller asks for it:
// - Require: 100rel in the INVITE: every 18x goes reliably (RFC 3262 3, MUST; 100 never does).
//   Supported: 100rel only: b2bua_config::reliable_to_caller decides; by default an 18x with
//   SDP goes reliably (early media: its SDP is then the answer, which it cannot be in an
//   unreliable 18x), ringing without SDP does not.
// - A reliable 18x carries Require: 100rel and RSeq (random start, +1 each) and is
//   retransmitted at T1, 2T1, 4T1... (no T2 cap) until a PRACK with a matching RAck; the PRACK
//   gets 200, one matching nothing 481. After 64*T1 without it the INVITE is rejected with 504
//   (RFC 3262 3: 5xx) and the call torn down on both legs.
// - One unacknowledged reliable 18x at a time (RFC 3262 3): later ones wait, collapsed into
//   the latest (keeping an SDP an earlier waiting one had). The 2xx waits too: RFC 3262 3
//   forbids it before the PRACK of a reliable 18x with SDP; holding it for any outstanding
//   one is the simple rule that is always right, and it is bounded by the 64*T1 timer.
// - Once a reliable 18x gave the caller the answer to its offer, every later SDP on that
//   INVITE (18x or 2xx) repeats it (RFC 3261 13.2.1): a different one would be a second answer.
// Everything runs on the call's timer queue; per call, state in call::a_reliable.

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "log.hh"
#include "message_builder.hh"

namespace sf::control {

using namespace b2bua_detail;

namespace {

/// A body for the caller after its answer was settled by a reliable 18x: that answer again.
void settle_answer(const reliable_uas& r, uint64_t call_id, std::string& body) {
    if (!r.answer_sdp.empty() && !body.empty() && body != r.answer_sdp) {
        log_info("call %llu: the callee's SDP changed after a reliable provisional response answered the "
                 "caller; the caller keeps that answer",
                 static_cast<unsigned long long>(call_id));
        body = r.answer_sdp;
    }
}

}  // namespace

void b2bua::setup_reliable_a(call& c, const sip::message& invite) {
    reliable_uas& r = c.a_reliable;
    r = reliable_uas{};
    r.required = requires_100rel(invite);
    r.supported = r.required || lists_option_tag(invite, sip::hdr::supported, sip::hdr::supported, "100rel");
    r.next_rseq = first_rseq();
}

void b2bua::send_a_provisional(call& c, unsigned status, std::string_view reason, std::string_view extra,
                               std::string_view body) {
    reliable_uas& r = c.a_reliable;
    if (r.held) {
        return;  // the 2xx is decided and only waits for a PRACK: an 18x now would be stale
    }
    pending_response p{status, std::string(reason), std::string(extra), std::string(body)};
    settle_answer(r, c.id, p.body);
    if (!r.wants_reliable(cfg_.reliable_to_caller, !p.body.empty())) {
        tl_.respond(c.a_invite_tx, p.status, p.reason, c.a.local_tag, p.extra,
                    p.body.empty() ? "" : "application/sdp", p.body);
        return;
    }
    if (r.outstanding) {
        // RFC 3262 3: no second reliable provisional response before the first is PRACKed.
        if (r.queued && p.body.empty()) {
            p.body = std::move(r.next.body);  // the waiting one's SDP is not lost by collapsing
        }
        r.next = std::move(p);
        r.queued = true;
        return;
    }
    send_reliable_a(c, std::move(p));
}

void b2bua::send_reliable_a(call& c, pending_response p) {
    reliable_uas& r = c.a_reliable;
    const uint32_t rseq = r.next_rseq;
    const std::string extra = p.extra + "Require: 100rel\r\nRSeq: " + std::to_string(rseq) + "\r\n";
    sip_wire text = tl_.respond(c.a_invite_tx, p.status, p.reason, c.a.local_tag, extra,
                                   p.body.empty() ? "" : "application/sdp", p.body);
    if (text.empty()) {
        return;  // the INVITE has its final response already
    }
    ++r.next_rseq;
    ++stats_.reliable_sent;
    if (!p.body.empty() && r.answer_sdp.empty()) {
        r.answer_sdp = p.body;  // a reliable 18x with SDP answers A's offer (RFC 3262 5)
    }
    r.outstanding = true;
    r.rseq = rseq;
    r.text = std::move(text);
    const ms_t now = now_();
    r.interval = cfg_.timers.t1_ms;
    r.deadline = now + 64ull * cfg_.timers.t1_ms;
    const uint64_t id = c.id;
    r.timer = timers_.add(now + r.interval, [this, id] { retransmit_reliable_a(id); });
}

void b2bua::retransmit_reliable_a(uint64_t call_id) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) {
        return;
    }
    call& c = *it->second;
    reliable_uas& r = c.a_reliable;
    r.timer = 0;
    if (!r.outstanding) {
        return;
    }
    const ms_t now = now_();
    if (now >= r.deadline) {
        reliable_timed_out(c);
        return;
    }
    send_(c.a.realm, c.a_reply_to, r.text);
    ++stats_.reliable_retransmitted;
    // RFC 3262 3: the interval doubles each time, without RFC 3261's T2 cap.
    r.interval *= 2;
    r.timer = timers_.add(std::min<ms_t>(now + r.interval, r.deadline),
                          [this, call_id] { retransmit_reliable_a(call_id); });
}

void b2bua::reliable_timed_out(call& c) {
    reliable_uas& r = c.a_reliable;
    log_info("call %llu: the caller did not PRACK our reliable provisional response (RSeq %u) within 64*T1: 504",
             static_cast<unsigned long long>(c.id), r.rseq);
    ++stats_.reliable_timeouts;
    ++stats_.calls_failed;
    r.outstanding = false;
    if (c.st == call::state::answered && r.held) {
        // B answered and its 2xx waited for the PRACK: A gets the failure, B's dialog a BYE.
        r.held = false;
        c.rec.answer.reset();  // the caller never got the 2xx
        send_a_final(c, 504, reason_phrase(504));
        if (c.offerless) {
            send_ack(c, true, r.held_other_cseq, {});  // B's 2xx is ACKed before the BYE, without an answer
        }
        send_bye(c, true);
        end_call(c, "appliance");
        return;
    }
    if (c.st == call::state::routing || c.st == call::state::early) {
        abandon(c, 504, "appliance");  // A gets the 504, every ringing branch its CANCEL
    }
}

void b2bua::on_prack(const inbound& in, call& c, bool from_a, uint64_t stx) {
    const sip::message& m = *in.msg;
    reliable_uas& r = c.a_reliable;
    const sip::header* h = m.find(sip::hdr::rack);
    rack_value rack;
    if (h == nullptr || !parse_rack(h->value, rack)) {
        tl_.respond(stx, 400, reason_phrase(400), {}, warning_header("missing or malformed RAck"));
        return;
    }
    // RFC 3262 3: it must name the unacknowledged response: its RSeq, the INVITE's CSeq and method.
    if (!from_a || !r.outstanding || rack.rseq != r.rseq || rack.cseq != c.a_invite_cseq ||
        !iequals_ascii(rack.method, "INVITE")) {
        ++stats_.pracks_unmatched;
        tl_.respond(stx, 481, reason_phrase(481), {}, {});
        return;
    }
    timers_.cancel(r.timer);
    r.timer = 0;
    r.outstanding = false;
    r.text.reset();
    ++stats_.pracks_received;
    if (!m.body.empty()) {
        // Our 18x never carries an offer, so an SDP here would be a new offer; it would need the
        // callee's answer, which this PRACK (hop by hop) cannot get. The 18x counts as PRACKed.
        tl_.respond(stx, 488, reason_phrase(488), {}, warning_header("no offer in PRACK, please"));
    } else {
        tl_.respond(stx, 200, "OK", {}, {});
    }
    if (r.queued) {
        r.queued = false;
        pending_response p = std::move(r.next);
        send_a_provisional(c, p.status, p.reason, p.extra, p.body);
        return;
    }
    if (r.held) {
        deliver_answer_a(c);
    }
}

void b2bua::answer_a(call& c, unsigned status, std::string_view reason, std::string extra, std::string body) {
    reliable_uas& r = c.a_reliable;
    settle_answer(r, c.id, body);
    r.final_response = pending_response{status, std::string(reason), std::move(extra), std::move(body)};
    r.held_other_cseq = c.b.local_cseq;  // B's INVITE: an offerless call's ACK to B carries it
    r.queued = false;                    // the 2xx supersedes any 18x still waiting
    if (r.outstanding) {
        r.held = true;  // RFC 3262 3: not before the PRACK (bounded by the 64*T1 timer)
        return;
    }
    deliver_answer_a(c);
}

void b2bua::deliver_answer_a(call& c) {
    reliable_uas& r = c.a_reliable;
    r.held = false;
    const pending_response& f = r.final_response;
    sip_wire sent = tl_.respond(c.a_invite_tx, f.status, f.reason, c.a.local_tag, f.extra,
                                   f.body.empty() ? "" : "application/sdp", f.body);
    wait_for_ack(c, true, c.a_invite_cseq, std::move(sent), c.a_reply_to);
    if (c.offerless) {
        c.waiting_ack[0].forward_ack = true;  // on_ack: A's answer goes on to B in B's ACK
        c.waiting_ack[0].other_cseq = r.held_other_cseq;
    }
}

void b2bua::stop_reliable_a(call& c) {
    reliable_uas& r = c.a_reliable;
    timers_.cancel(r.timer);
    r.timer = 0;
    r.outstanding = false;
    r.queued = false;
    r.text.reset();
    if (r.held) {
        // The call ends while its 2xx waited for a PRACK: the INVITE still gets its final
        // response (RFC 3261 15.1.2: 487 after a BYE in the early dialog); the record says what
        // the caller got.
        r.held = false;
        c.rec.answer.reset();
        c.rec.result = 487;
        c.rec.reason = std::string(reason_phrase(487));
        tl_.respond(c.a_invite_tx, 487, reason_phrase(487), c.a.local_tag, {});
    }
}

bool b2bua::cancel_held_answer_a(call& c) {
    if (!c.a_reliable.held) {
        return false;
    }
    // RFC 3261 9.2: the INVITE has no final response yet, so the CANCEL takes effect: 487 to A
    // (stop_reliable_a), and B, whose 2xx was ACKed already (offerless: not yet), a BYE.
    stop_reliable_a(c);
    if (c.offerless) {
        send_ack(c, true, c.a_reliable.held_other_cseq, {});
    }
    send_bye(c, true);
    end_call(c, "caller");
    return true;
}

}  // namespace sf::control
