// Requests inside a call's two dialogs: BYE, ACK, and the INVITE, UPDATE and INFO
// that one leg sends and the B2BUA relays to the other, each leg with its own
// Call-ID, tags, CSeq space, Contact and SDP origin.

#include <algorithm>

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "log.hh"
#include "message_builder.hh"
#include "sip/sdp.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

using namespace b2bua_detail;

void b2bua::on_in_dialog(const inbound& in, call& c, bool from_a) {
    const sip::message& m = *in.msg;
    leg& l = from_a ? c.a : c.b;
    if (m.to.tag != l.local_tag) {
        ++stats_.in_dialog_481;
        answer_locally(in, 481);
        return;
    }
    const uint64_t stx = tl_.create_server(in);
    switch (m.req_method) {
    case sip::method::bye: {
        tl_.respond(stx, 200, "OK", {}, {});
        if (c.transfer.active && c.transfer.transferor_is_a == from_a) {
            // The transferor may leave once its REFER was accepted (RFC 5589): the transfer goes on.
            c.transfer.transferor_gone = true;
            return;
        }
        if (c.st == call::state::answered || c.st == call::state::confirmed) {
            // A transfer under way ends first: the transferor gets its final NOTIFY while its
            // dialog still exists, then the BYE.
            abort_transfer(c);
            send_bye(c, from_a);
        } else if (from_a) {
            // A ended its early dialog (RFC 3261 15.1.2 lets a UAC do that): its INVITE still gets
            // its final response, and B, still ringing, is CANCELled rather than BYEd.
            if (c.st != call::state::cancelling) {
                abandon(c);
            }
            return;
        } else {
            // B left its early dialog: leg A gets a failure.
            send_a_final(c, 480, "Temporarily Unavailable");
        }
        end_call(c, from_a ? "caller" : "callee");
        return;
    }
    case sip::method::options:
        tl_.respond(stx, 200, "OK", {}, allow_header);
        return;
    case sip::method::refer:
        on_refer(in, c, from_a, stx);
        return;
    case sip::method::prack:
        on_prack(in, c, from_a, stx);  // RFC 3262, our reliable 18x to A (b2bua_reliable.cc)
        return;
    case sip::method::invite:
        if (c.st != call::state::confirmed || c.awaiting_ack()) {
            // Our 2xx is not ACKed yet on some leg: an offer now would cross it.
            ++stats_.glare_491;
            tl_.respond(stx, 491, reason_phrase(491), {}, {});
            return;
        }
        if (own_reinvite_pending(c)) {
            // Ours is on its way to one of the legs: this one, relayed, would cross it.
            ++stats_.glare_491;
            tl_.respond(stx, 491, reason_phrase(491), {}, {});
            return;
        }
        if (refuse_crossing_offer(c, from_a, stx)) {
            return;
        }
        if (answer_refresh_locally(in, c, from_a, stx)) {
            return;  // a session refresh that changes nothing stays on its leg (RFC 4028)
        }
        relay_in_dialog(in, c, from_a, stx);
        return;
    case sip::method::notify:
        // NOTIFYs of a passed-through REFER's subscription go back the way the REFER came.
        if (c.st != call::state::confirmed) {
            tl_.respond(stx, 481, reason_phrase(481), {}, {});
            return;
        }
        relay_in_dialog(in, c, from_a, stx);
        return;
    case sip::method::update:
    case sip::method::info:
        if (c.st != call::state::confirmed && c.st != call::state::answered) {
            tl_.respond(stx, 491, reason_phrase(491), {}, {});
            return;
        }
        if (m.req_method == sip::method::update && is_sdp(m)) {
            if (own_reinvite_pending(c)) {
                ++stats_.glare_491;
                tl_.respond(stx, 491, reason_phrase(491), {}, {});  // RFC 3311 5.2: ours is outstanding
                return;
            }
            if (refuse_crossing_offer(c, from_a, stx)) {
                return;
            }
        }
        if (m.req_method == sip::method::update && answer_refresh_locally(in, c, from_a, stx)) {
            return;
        }
        relay_in_dialog(in, c, from_a, stx);
        return;
    default:
        tl_.respond(stx, 501, reason_phrase(501), {}, allow_header);
        return;
    }
}

bool b2bua::refuse_crossing_offer(call& c, bool from_a, uint64_t stx) {
    if (c.offer_out(from_a)) {
        // RFC 3261 14.2 and RFC 3311 5.2: a second offer before the sender's first was answered.
        ++stats_.pending_500;
        const std::string retry = "Retry-After: " + std::to_string(random_u64() % 10) + "\r\n";
        tl_.respond(stx, 500, reason_phrase(500), {}, retry);
        return true;
    }
    if (c.offer_out(!from_a)) {
        // Glare: the other leg's offer (re-INVITE or UPDATE) is on its way to this one
        // (RFC 3261 14.1, RFC 3311 5.2).
        ++stats_.glare_491;
        tl_.respond(stx, 491, reason_phrase(491), {}, {});
        return true;
    }
    return false;
}

void b2bua::relay_in_dialog(const inbound& in, call& c, bool from_a, uint64_t stx) {
    const sip::message& m = *in.msg;
    leg& other = from_a ? c.b : c.a;
    std::string body;
    std::string content_type;
    offer_undo undo;
    if (is_sdp(m)) {
        sdp::session desc;
        if (sdp::parse(m.body, desc) != sdp::parse_error::ok) {
            tl_.respond(stx, 488, reason_phrase(488), {}, {});
            return;
        }
        const bool offer = m.req_method == sip::method::invite || m.req_method == sip::method::update;
        bool no_codec = false;
        if (offer && (c.a.media.restricts() || c.b.media.restricts())) {
            allowed_media(m.body, c.a.media, c.b.media, &no_codec);
        }
        if (no_codec) {
            // An offer whose every audio stream would reach the other leg without a codec the
            // legs' co= allow, or with no stream of a type their mt= allow: refused as that leg
            // would refuse it (RFC 3264 6), nothing changed.
            ++stats_.codec_offers_refused;
            tl_.respond(stx, 488, reason_phrase(488), {}, {});
            return;
        }
        if (const unsigned refused = anchor_added_streams(c, from_a, desc, &undo.added); refused != 0) {
            tl_.respond(stx, refused, reason_phrase(refused), {}, {});
            return;
        }
        // The sender may have moved its media (a new phone after a transfer, resume from hold).
        media_.apply_remote(c.media, !from_a, desc, true);
        std::string& remote_sdp = from_a ? c.a_remote_sdp : c.b_remote_sdp;
        undo.sdp = true;
        undo.offerer_sdp = std::move(remote_sdp);
        undo.answerer_last_sdp = from_a ? c.b_last_sdp : c.a_last_sdp;
        remote_sdp = std::string(m.body);
        body = rewrite_sdp(c, from_a, m.body, offer);  // it goes to the other leg: B when A sent it
        content_type = "application/sdp";
    } else if (!m.body.empty()) {
        // INFO payloads (DTMF relay and the like) pass unchanged with their type.
        const sip::header* ct = m.find(sip::hdr::content_type);
        if (ct == nullptr) {
            tl_.respond(stx, 400, reason_phrase(400), {}, {});
            return;
        }
        body = std::string(m.body);
        content_type = std::string(ct->value);
    }

    std::string extra;
    if (!relay_headers(m, other, extra)) {
        tl_.respond(stx, 400, reason_phrase(400), {}, warning_header("bad Refer-To"));
        return;
    }
    const uint32_t cseq = ++other.local_cseq;
    if (m.req_method == sip::method::refer) {
        // Its NOTIFYs will name it by this dialog's CSeq; the sender knows it by its own.
        c.passed_refers.push_back({from_a, m.cseq, cseq});
        if (c.passed_refers.size() > 8) {
            c.passed_refers.erase(c.passed_refers.begin());
        }
    } else if (m.req_method == sip::method::notify) {
        translate_refer_event(c, from_a, extra);
    }
    const std::string branch = "z9hG4bK" + random_token(20);
    // RFC 3261 and RFC 6665: target-refresh requests and the requests of a subscription carry
    // a Contact (ours on that leg).
    const bool with_contact = m.req_method == sip::method::invite || m.req_method == sip::method::update ||
                              m.req_method == sip::method::notify || m.req_method == sip::method::refer;
    sip_wire request = in_dialog_request(other, m.method_name, cseq, branch, with_contact,
                                                  extra, content_type, body);
    if (m.req_method == sip::method::invite) {
        c.reinvite = call::relayed_invite{};
        c.reinvite.active = true;
        c.reinvite.from_a = from_a;
        c.reinvite.offerless = body.empty();
        c.reinvite.server_tx = stx;
        c.reinvite.reply_to = response_address(in);
        c.reinvite.cseq = m.cseq;
    }
    // An UPDATE's offer is outstanding until its final response (RFC 3311 5.2).
    const bool update_offer = m.req_method == sip::method::update && content_type == "application/sdp";
    if (update_offer) {
        c.update_offer_out[from_a ? 0 : 1] = true;
    }
    ++stats_.relayed_in_dialog;
    const uint64_t id = c.id;
    const sip::method method = m.req_method;
    const uint64_t ctx = tl_.send_request(
        method, branch, other.realm, other.target, std::move(request),
        [this, id, from_a, stx, method, undo, update_offer](const inbound& resp) {
            if (update_offer && resp.msg->status >= 200) {
                answered_update_offer(id, from_a);
            }
            on_relayed_response(id, from_a, stx, method, undo, resp);
        },
        [this, id, from_a, stx, method, undo, update_offer] {
            if (update_offer) {
                answered_update_offer(id, from_a);
            }
            // No final response: timer B/F, or 64*T1 after our CANCEL. A CANCELled re-INVITE
            // ends as its sender asked (487); an unanswered one as a timeout.
            auto it = calls_.find(id);
            const bool invite = it != calls_.end() && method == sip::method::invite;
            const bool cancelled = invite && it->second->reinvite.cancelled;
            const unsigned status = cancelled ? 487 : 408;
            tl_.respond(stx, status, reason_phrase(status), {}, {});
            if (it == calls_.end()) {
                return;
            }
            if (invite) {
                end_reinvite(*it->second);
            }
            if ((invite || method == sip::method::update) && !cancelled) {
                dialog_gone(*it->second, from_a, 0);  // the other leg (B when A sent it) is silent
                return;
            }
            undo_offer(*it->second, from_a, undo);
        });
    if (m.req_method == sip::method::invite) {
        c.reinvite.client_tx = ctx;
        // A re-INVITE may ring (RFC 6141) but not for ever: RFC 3261's Timer C for proxies,
        // with our ring limit (the ICT itself has no timer once a provisional came).
        if (cfg_.max_ring_s != 0) {
            c.reinvite.timer = timers_.add(now_() + 1000ull * cfg_.max_ring_s, [this, id] {
                auto it = calls_.find(id);
                if (it != calls_.end() && it->second->reinvite.active) {
                    it->second->reinvite.timer = 0;
                    cancel_reinvite(*it->second, false);
                }
            });
        }
    }
}

unsigned b2bua::anchor_added_streams(call& c, bool offer_from_a, const sdp::session& desc, added_streams* added) {
    if (!media_.adds_streams(c.media, desc)) {
        return 0;
    }
    if (!c.media.open) {
        return 488;  // an early offer before any media was anchored: nothing to add to
    }
    if (c.transfer.active) {
        // The new party's half is built on the streams as they are (open_replacement): a
        // stream added now would have no half there. The sender retries after the transfer.
        ++stats_.stream_offers_refused;
        return 491;
    }
    const auto anchored = [&c] {
        return std::count_if(c.media.streams.begin(), c.media.streams.end(),
                             [](const media_bridge::stream& st) { return st.a_rtp != nullptr && st.b_rtp != nullptr; });
    };
    const auto before = anchored();
    if (!media_.add_streams(c.media, desc, !offer_from_a, added)) {
        ++stats_.stream_offers_refused;
        log_info("call %llu: no relay ports for the streams a re-offer from %c adds: 503",
                 static_cast<unsigned long long>(c.id), offer_from_a ? 'A' : 'B');
        return 503;
    }
    stats_.streams_added += static_cast<uint64_t>(anchored() - before);
    media_.label(c.media, c.id);
    log_info("call %llu: a re-offer from %c added streams: %zu anchored now",
             static_cast<unsigned long long>(c.id), offer_from_a ? 'A' : 'B', static_cast<size_t>(anchored()));
    return 0;
}

void b2bua::release_removed_streams(call& c, const sdp::session& answer, const sdp::session* other) {
    if (!c.transfer.media.streams.empty()) {
        return;  // the new party's half borrows the kept sides (open_replacement)
    }
    const unsigned removed = media_.release_removed(c.media, answer, other);
    if (removed == 0) {
        return;
    }
    stats_.streams_removed += removed;
    // The last SDP each leg got named the removed streams' old ports (the offer that the
    // answer declined): rewritten with the ports as they are now (0 for those), so that a
    // session refresh repeating it offers them disabled. Its version moves on by one (RFC 3264
    // 8), once however often this happens before it is sent: l.sdp_version stays until then
    // (leg::last_sdp_ahead), so a new SDP the leg gets first takes that same version.
    for (const bool for_b : {false, true}) {
        if (const std::string& last = for_b ? c.b_last_sdp : c.a_last_sdp; !last.empty()) {
            replace_last_sdp(c, for_b, last);
        }
    }
    log_info("call %llu: an answer removed %u stream(s): their relay ports went back",
             static_cast<unsigned long long>(c.id), removed);
}

const std::string& b2bua::last_sdp_again(call& c, bool leg_b) {
    leg& l = leg_b ? c.b : c.a;
    if (l.last_sdp_ahead) {
        ++l.sdp_version;
        l.last_sdp_ahead = false;
    }
    return leg_b ? c.b_last_sdp : c.a_last_sdp;
}

void b2bua::answered_update_offer(uint64_t call_id, bool from_a) {
    auto it = calls_.find(call_id);
    if (it != calls_.end()) {
        it->second->update_offer_out[from_a ? 0 : 1] = false;
    }
}

void b2bua::cancel_reinvite(call& c, bool by_sender) {
    call::relayed_invite& r = c.reinvite;
    if (!r.active || r.cancelled) {
        return;
    }
    r.cancelled = true;
    if (by_sender) {
        ++stats_.reinvites_cancelled;
    } else {
        ++stats_.reinvites_unanswered;
        log_info("call %llu: re-INVITE from %s had no final response within %u s: CANCELled",
                 static_cast<unsigned long long>(c.id), r.from_a ? "A" : "B", cfg_.max_ring_s);
    }
    tl_.cancel(r.client_tx);
}

void b2bua::dialog_gone(call& c, bool leg_b, unsigned status) {
    log_info("call %llu: leg %c %s a re-INVITE/UPDATE: its dialog is gone, ending the call",
             static_cast<unsigned long long>(c.id), leg_b ? 'B' : 'A',
             status == 0 ? "did not answer" : status == 481 ? "answered 481 to" : "answered 408 to");
    ++stats_.dialogs_gone;
    if (status != 481) {
        send_bye(c, leg_b);
    }
    send_bye(c, !leg_b);
    end_call(c, "dialog_gone");
}

void b2bua::end_reinvite(call& c) {
    timers_.cancel(c.reinvite.timer);
    c.reinvite.timer = 0;
    c.reinvite.active = false;
}

void b2bua::replace_last_sdp(call& c, bool for_b, std::string_view source) {
    std::string& last = for_b ? c.b_last_sdp : c.a_last_sdp;
    leg& l = for_b ? c.b : c.a;
    std::string now = rewrite_for_leg(c, for_b, source, l.sdp_version + (l.last_sdp_ahead ? 1 : 0));
    if (now == last) {
        return;
    }
    if (!l.last_sdp_ahead) {
        now = rewrite_for_leg(c, for_b, source, l.sdp_version + 1);
        l.last_sdp_ahead = true;
    }
    last = std::move(now);
}

void b2bua::undo_offer(call& c, bool from_a, const offer_undo& undo) {
    if (!undo.sdp) {
        return;  // the request carried no SDP
    }
    // The streams first: the SDPs below are rewritten with the ports as they are after.
    // While a transfer's new party borrows the call's sides they stay (its half is built on
    // them); a transfer or pickup since has replaced them (take_back checks).
    if (c.transfer.media.streams.empty()) {
        if (const unsigned taken = media_.take_back(c.media, undo.added); taken != 0) {
            stats_.streams_taken_back += taken;
            log_info("call %llu: a refused re-offer from %c gave back the relay ports of %u streams",
                     static_cast<unsigned long long>(c.id), from_a ? 'A' : 'B', taken);
        }
    }
    if (!undo.offerer_sdp.empty()) {
        std::string& remote_sdp = from_a ? c.a_remote_sdp : c.b_remote_sdp;
        remote_sdp = undo.offerer_sdp;
        sdp::session desc;
        if (sdp::parse(remote_sdp, desc) == sdp::parse_error::ok && media_.fits(c.media, desc)) {
            media_.apply_remote(c.media, !from_a, desc, true);
        }
    }
    // The other leg refused the offer it got: what it last got from us before is the session
    // it has (a session refresh repeating the refused offer would make it the session).
    if (undo.answerer_last_sdp.empty()) {
        (from_a ? c.b_last_sdp : c.a_last_sdp).clear();
        (from_a ? c.b : c.a).last_sdp_ahead = false;
    } else {
        replace_last_sdp(c, from_a, undo.answerer_last_sdp);
    }
}

void b2bua::translate_refer_event(const call& c, bool from_a, std::string& extra) const {
    // RFC 3515 2.4.6: a NOTIFY's "Event: refer;id=N" is the CSeq of the REFER in the dialog
    // the NOTIFY travels in. A passed-through REFER has one CSeq per leg.
    const size_t at = extra.find("Event: ");
    if (at == std::string::npos) {
        return;
    }
    const size_t end = extra.find("\r\n", at);
    const std::string value = extra.substr(at + 7, end - at - 7);
    const std::string_view type = std::string_view(value).substr(0, value.find(';'));
    bool has_id = false;
    const std::string_view id = sip::find_param(std::string_view(value).substr(type.size()), "id", &has_id);
    if (!iequals_ascii(type, "refer") || !has_id) {
        return;
    }
    for (const auto& r : c.passed_refers) {
        // The REFER went to the NOTIFY's sender: it came from the other leg.
        if (r.from_a != from_a && std::to_string(r.relayed_cseq) == id) {
            extra.replace(at, end - at, "Event: refer;id=" + std::to_string(r.original_cseq));
            return;
        }
    }
}

void b2bua::on_relayed_response(uint64_t call_id, bool from_a, uint64_t stx, sip::method method,
                                const offer_undo& undo, const inbound& in) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) {
        // The call ended while this request was out: its sender still gets the final answer
        // (a re-INVITE's had its 487 from end_call already: a second one is ignored).
        if (in.msg->status >= 200) {
            tl_.respond(stx, in.msg->status, in.msg->reason, {}, {});
        }
        return;
    }
    call& c = *it->second;
    const sip::message& m = *in.msg;
    const unsigned status = m.status;
    leg& origin = from_a ? c.a : c.b;
    leg& other = from_a ? c.b : c.a;
    if (status == 100) {
        return;
    }
    if (status < 200) {
        tl_.respond(stx, status, m.reason, {}, {});
        return;
    }
    const bool invite = method == sip::method::invite;
    if (status >= 300) {
        tl_.respond(stx, status, m.reason, {}, {});
        const bool cancelled = invite && c.reinvite.cancelled;
        if (invite) {
            end_reinvite(c);
        }
        if ((invite || method == sip::method::update) && (status == 481 || status == 408) && !cancelled) {
            dialog_gone(c, from_a, status);  // the other leg (B when A sent it) answered
            return;
        }
        undo_offer(c, from_a, undo);
        return;
    }

    // 2xx: both legs' sessions were just refreshed (RFC 4028: any successful re-INVITE or UPDATE).
    if (invite || method == sip::method::update) {
        arm_session_timer(c, false);
        arm_session_timer(c, true);
    }
    // The answer (or, for an offerless re-INVITE, the offer) goes back rewritten.
    std::string body;
    if (is_sdp(m)) {
        sdp::session desc;
        if (sdp::parse(m.body, desc) == sdp::parse_error::ok) {
            // An offerless re-INVITE's 2xx carries the offer, which cannot be refused: the streams
            // it adds get relay ports, or go on with port 0, declined, which its answer will
            // repeat (RFC 3264 6).
            const bool offer = invite && c.reinvite.offerless;
            if (offer && anchor_added_streams(c, !from_a, desc) != 0) {
                log_info("call %llu: the streams a re-INVITE's 2xx offers could not be anchored: sent as declined",
                         static_cast<unsigned long long>(c.id));
            }
            if (offer || media_.fits(c.media, desc)) {
                media_.apply_remote(c.media, from_a, desc, true);
                if (!offer) {
                    release_removed_streams(c, desc);
                }
                (from_a ? c.b_remote_sdp : c.a_remote_sdp) = std::string(m.body);
                body = rewrite_sdp(c, !from_a, m.body, offer);
            }
        }
    }
    if (const sip::header* contact = m.find(sip::hdr::contact); contact != nullptr && invite) {
        uri_endpoint(contact->value, other.target, &other.target_uri);  // target refresh (RFC 3261 12.2.1.2)
        route_next_hop(other);  // the route set stays: requests still go through its first hop
    }
    std::string extra;
    if (invite || method == sip::method::update) {
        extra = "Contact: " + origin.contact + "\r\n";
    }
    sip_wire sent = tl_.respond(stx, status, m.reason, {}, extra, body.empty() ? "" : "application/sdp", body);
    if (!invite) {
        return;
    }
    const bool offerless = c.reinvite.offerless;
    end_reinvite(c);
    // With the offer in the INVITE, the other leg's 2xx can be ACKed at once; an offerless
    // re-INVITE's ACK must wait for the originator's, which carries the answer (RFC 3264).
    if (!offerless) {
        send_ack(c, from_a, other.local_cseq, {});  // to the other leg: B when A re-INVITEd
    }
    wait_for_ack(c, from_a, c.reinvite.cseq, std::move(sent), c.reinvite.reply_to);
    call::ack_wait& w = c.waiting_ack[from_a ? 0 : 1];
    w.forward_ack = offerless;
    w.other_cseq = other.local_cseq;
}

void b2bua::wait_for_ack(call& c, bool on_a, uint32_t cseq, sip_wire text, sip_addr to) {
    call::ack_wait& w = c.waiting_ack[on_a ? 0 : 1];
    timers_.cancel(w.timer);
    w = call::ack_wait{};
    w.active = true;
    w.cseq = cseq;
    w.text = std::move(text);
    w.to = to;
    // RFC 3261 13.3.1.4: from T1, doubling up to T2, for 64*T1.
    w.deadline = now_() + 64ull * cfg_.timers.t1_ms;
    const uint64_t id = c.id;
    const unsigned t1 = cfg_.timers.t1_ms;
    w.timer = timers_.add(now_() + t1, [this, id, on_a, t1] { retransmit_2xx(id, on_a, t1); });
}

void b2bua::retransmit_2xx(uint64_t call_id, bool on_a, unsigned interval) {
    auto it = calls_.find(call_id);
    if (it == calls_.end()) {
        return;
    }
    call& c = *it->second;
    call::ack_wait& w = c.waiting_ack[on_a ? 0 : 1];
    w.timer = 0;
    if (!w.active) {
        return;
    }
    if (now_() >= w.deadline) {
        // No ACK: the peer never learnt of our 2xx; the session ends (RFC 3261 13.3.1.4).
        w.active = false;
        send_bye(c, false);
        send_bye(c, true);
        end_call(c, "appliance");
        return;
    }
    const leg& l = on_a ? c.a : c.b;
    send_(l.realm, w.to, w.text);
    ++stats_.retransmitted_2xx;
    const unsigned next = std::min(interval * 2, cfg_.timers.t2_ms);
    w.timer = timers_.add(now_() + next, [this, call_id, on_a, next] { retransmit_2xx(call_id, on_a, next); });
}

void b2bua::on_ack(const inbound& in) {
    const sip::message& m = *in.msg;
    bool is_a = false;
    call* c = find_call(m.call_id, &is_a);
    if (c == nullptr || !c->waiting_ack[is_a ? 0 : 1].active || c->waiting_ack[is_a ? 0 : 1].cseq != m.cseq) {
        return;  // a stray ACK is never answered
    }
    call::ack_wait& w = c->waiting_ack[is_a ? 0 : 1];
    timers_.cancel(w.timer);
    w.active = false;
    if (c->st == call::state::answered && !c->awaiting_ack()) {
        c->st = call::state::confirmed;
        arm_session_timer(*c, false);  // both dialogs are up: their session timers run
        arm_session_timer(*c, true);
    }
    if (w.forward_ack) {
        // Offerless re-INVITE: this ACK holds the answer the other leg is waiting for. Its
        // m-lines are the offer's, streams that could not be anchored among them (declined
        // with port 0 in the offer, so in the answer too).
        std::string body;
        sdp::session desc;
        if (is_sdp(m) && sdp::parse(m.body, desc) == sdp::parse_error::ok) {
            media_.apply_remote(c->media, !is_a, desc, true);
            release_removed_streams(*c, desc);
            (is_a ? c->a_remote_sdp : c->b_remote_sdp) = std::string(m.body);
            body = rewrite_sdp(*c, is_a, m.body);
        }
        send_ack(*c, is_a, w.other_cseq, body);
    }
}

bool b2bua::relay_headers(const sip::message& m, const leg& other, std::string& extra) const {
    // Headers that carry meaning for the other peer pass; anything naming this leg's
    // topology is rewritten to the appliance's address on the other leg's realm.
    for (const char* name : {"Info-Package", "Event", "Subscription-State", "Refer-Sub"}) {
        if (const sip::header* h = m.find(name)) {
            extra.append(name).append(": ").append(h->value).append("\r\n");
        }
    }
    if (m.req_method != sip::method::refer) {
        return true;
    }
    const std::string& here = realm(other.realm).addr_text;
    auto translate = [&](std::string_view value, bool strip_headers, std::string& out) {
        sip::name_addr na;
        sip::uri u;
        if (!sip::parse_name_addr(value, na) || !sip::parse_uri(na.uri, u)) {
            return false;
        }
        // Only the user survives: the other peer reaches the target through the appliance,
        // whose dialplan routes it. URI headers (Replaces) would name this leg's dialogs.
        out = "<" + std::string(u.scheme) + ":" + std::string(u.user) + (u.user.empty() ? "" : "@") + here;
        if (!strip_headers && !u.headers.empty()) {
            out += "?" + std::string(u.headers);
        }
        out += ">";
        return true;
    };
    if (m.count(sip::hdr::refer_to) != 1) {
        return false;
    }
    std::string refer_to;
    if (!translate(m.find(sip::hdr::refer_to)->value, true, refer_to)) {
        return false;
    }
    extra += "Refer-To: " + refer_to + "\r\n";
    if (const sip::header* rb = m.find(sip::hdr::referred_by)) {
        std::string referred_by;
        if (translate(rb->value, true, referred_by)) {
            extra += "Referred-By: " + referred_by + "\r\n";
        }
    }
    return true;
}

sip_wire b2bua::in_dialog_request(const leg& l, std::string_view method, uint32_t cseq, std::string_view branch,
                                     bool with_contact, std::string_view extra, std::string_view content_type,
                                     std::string_view body) const {
    request_spec rs;
    const std::string from = l.from_value();
    const std::string to = l.to_value();
    rs.method = method;
    rs.request_uri = l.target_uri;
    // The route set: Route headers, loose routing (RFC 3261 12.2.1.1); a strict router first
    // gets the Request-URI and the remote target goes last.
    std::string routes;
    std::string strict_uri;
    if (!l.route_set.empty()) {
        sip::uri first_route;
        bool loose = false;
        if (sip::parse_uri(l.route_set.front(), first_route)) {
            sip::find_param(first_route.params, "lr", &loose);
        }
        size_t first = 0;
        if (!loose) {
            strict_uri = l.route_set.front();
            rs.request_uri = strict_uri;
            first = 1;
        }
        for (size_t i = first; i < l.route_set.size(); ++i) {
            routes += "Route: <" + l.route_set[i] + ">\r\n";
        }
        if (!loose) {
            routes += "Route: <" + l.target_uri + ">\r\n";
        }
    }
    const std::string extra_all = routes + std::string(extra);
    rs.via_host = realm(l.realm).addr_text;
    rs.via_port = cfg_.sip_port;
    rs.branch = branch;
    rs.max_forwards = cfg_.max_forwards;
    rs.from = from;
    rs.to = to;
    rs.call_id = l.call_id;
    rs.cseq = cseq;
    if (with_contact) {
        rs.contact = l.contact;
    }
    rs.extra = extra_all;
    rs.user_agent = cfg_.user_agent;
    rs.content_type = content_type;
    rs.body = body;
    return build_request(tl_.pool(), rs);
}

void b2bua::send_ack(call& c, bool to_b, uint32_t cseq, std::string_view sdp) {
    const leg& l = to_b ? c.b : c.a;
    sip_wire& last = c.last_ack[to_b ? 1 : 0];
    last = in_dialog_request(l, "ACK", cseq, "z9hG4bK" + random_token(20), false, {},
                             sdp.empty() ? std::string_view() : "application/sdp", sdp);
    send_(l.realm, l.target, last);
}

void b2bua::send_bye(call& c, bool to_b) {
    leg& l = to_b ? c.b : c.a;
    const std::string branch = "z9hG4bK" + random_token(20);
    tl_.send_request(sip::method::bye, branch, l.realm, l.target, in_dialog_request(l, "BYE", ++l.local_cseq, branch),
                     nullptr, nullptr);
}

}  // namespace sf::control
