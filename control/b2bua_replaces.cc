// An INVITE with Replaces arriving at the appliance (RFC 3891): a new party takes the place
// of one leg of a call in progress (attended transfer completed by the transferee's phone,
// call pickup of an answered call). The Replaces names the dialog as its sender saw it:
// the Call-ID and tags of that leg, which this appliance owns on that leg's realm only.
//
// Answers, per RFC 3891 section 3, with the appliance's policy on top:
//   400  more than one Replaces, or one without both tags;
//   481  no such dialog, or the caller's early dialog (the appliance is its UAS: RFC 3891 3);
//   486  the dialog is confirmed but the Replaces says early-only, or the call is in the
//        middle of another change (a transfer, a re-INVITE, a 2xx waiting for its ACK);
//   603  the leg's transfer mode is n: nothing may take its place (deny by default);
//   403  the INVITE came from another realm than the leg it would replace.
// Otherwise the new party is answered with the other party's media description, its relay
// sides are built before the switch (make-before-break), the replaced leg gets a BYE, the
// other party is re-INVITEd with the new party's SDP, and the call record starts a segment.
// A Replaces naming a destination that still rings is a pickup (b2bua_pickup.cc).

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "log.hh"
#include "message_builder.hh"
#include "sip_header_values.hh"
#include "sip/sdp.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

using namespace b2bua_detail;

void b2bua::on_replacing_invite(const inbound& in, uint64_t stx, const sdp::session& offer,
                                const account_config* account) {
    const sip::message& m = *in.msg;
    auto refuse = [&](unsigned status, std::string_view why) { refuse_replacing(in, stx, status, why); };
    replaces_value rv;
    if (m.count(sip::hdr::replaces) != 1 || !parse_replaces(m.find(sip::hdr::replaces)->value, rv)) {
        return refuse(400, "exactly one Replaces with call-id, to-tag and from-tag is required");
    }
    bool is_a = false;
    call* found = find_call(rv.call_id, &is_a);
    if (found == nullptr) {
        return refuse(481, "no such dialog");
    }
    if (!is_a && found->b.call_id != rv.call_id) {
        return on_pickup(in, stx, offer, account, *found, rv);  // a destination's early dialog (b2bua_pickup.cc)
    }
    call& c = *found;
    leg& replaced = is_a ? c.a : c.b;
    // RFC 3891: to-tag is the local tag of the UA that receives the Replaces (this appliance);
    // lenient about peers that swap them, as for REFER's Replaces.
    const bool tags_match = (replaced.local_tag == rv.to_tag && replaced.remote_tag == rv.from_tag) ||
                            (replaced.local_tag == rv.from_tag && replaced.remote_tag == rv.to_tag);
    if (!tags_match || c.st == call::state::cancelling) {
        return refuse(481, "no such dialog");
    }
    if (c.st != call::state::confirmed && c.st != call::state::answered) {
        return refuse(481, "an early dialog of the caller's is not replaced");  // we are its UAS (RFC 3891 3)
    }
    if (rv.early_only) {
        return refuse(486, "the dialog is confirmed and the Replaces is early-only");
    }
    if (replaced.transfer_mode == 'n') {
        return refuse(603, "this call's transfer mode does not allow replacing a leg");
    }
    if (in.realm != replaced.realm) {
        return refuse(403, "a leg is replaced only from its own realm");
    }
    if (c.st != call::state::confirmed || c.transfer.active || c.reinvite.active || c.awaiting_ack()) {
        return refuse(486, "the call is in the middle of another change");
    }

    // Make-before-break: the new party's relay sides exist, pointed at it, before the switch.
    const bool keep_a = !is_a;
    // The new party's media on its account's media network, as for a call it places.
    const unsigned media_realm =
        account != nullptr && account->media_realm >= 0 ? static_cast<unsigned>(account->media_realm) : in.realm;
    media_bridge next;
    if (!media_.open_replacement(next, c.media, keep_a, media_realm, offer, continuous_media(c))) {
        return refuse(503, "no relay ports left");
    }
    media_.apply_remote(next, keep_a, offer);

    // The segment that ends: its record, with the counters up to the switch.
    const call_record done = ended_segment(c, "replaced");
    const auto now = done.end;
    cdrs_.write(done);

    // The replaced party leaves (RFC 3891: BYE once the new dialog is accepted).
    send_bye(c, !is_a);
    by_call_id_.erase(replaced.call_id);
    release_leg_channel(c, !is_a);  // its channel at a provider, if it held one
    const std::string replaced_peer = replaced.remote_uri;

    // The new party's dialog takes the replaced leg's place: our tag, our Contact on its realm.
    leg n = uas_leg(in);
    n.media_realm = media_realm;
    const sip_addr reply_to = response_address(in);
    n.transfer_mode = replaced.transfer_mode;
    n.media = replaced.media;  // what the replaced party's destination allowed holds for its successor
    learn_calling_party(n, accounts_.provider_by_address(in.source.addr), account, m);
    replaced = n;
    timers_.cancel(c.session[is_a ? 0 : 1].timer);
    c.session[is_a ? 0 : 1] = {};  // the new dialog negotiated no session timer
    by_call_id_[n.call_id] = c.id;
    media_.switch_over(c.media, next, keep_a);
    media_.label(c.media, c.id);
    start_segment_after_switch(c, keep_a);
    (is_a ? c.a_remote_sdp : c.b_remote_sdp) = std::string(m.body);
    (is_a ? c.a_last_sdp : c.b_last_sdp).clear();

    // The next segment's record, linked to the one that ended.
    c.rec.parent = c.rec.b_call_id;
    c.rec.segment += 1;
    c.rec.transferred_by = replaced_peer;
    if (is_a) {
        c.rec.call_id = n.call_id;
        c.rec.caller = to_string(in.source);
        c.rec.from = std::string(m.from.uri);
    } else {
        c.rec.b_call_id = n.call_id;
        c.rec.callee = to_string(in.source);
        c.rec.provider.clear();  // the new party came to us
    }
    c.rec.start = now;
    c.rec.answer = now;
    c.rec.result = 200;
    c.rec.reason = "OK";
    ++c.transfers;
    ++stats_.replaces_accepted;

    // Answer the new party with the kept party's media (its relay ports on the new realm),
    // then tell the kept party who it talks to now; each hears who the other is.
    const leg& kept = keep_a ? c.a : c.b;
    const std::string kept_sdp = keep_a ? c.a_remote_sdp : c.b_remote_sdp;
    const std::string answer = rewrite_sdp(c, keep_a, off_hold(kept_sdp));  // the new party is leg B when A stays
    const std::string extra = "Contact: " + n.contact + "\r\n" + std::string(allow_header) + record_route_lines(m) +
                              connected_party_lines(n, kept);
    sip_wire sent = tl_.respond(stx, 200, "OK", n.local_tag, extra, "application/sdp", answer);
    wait_for_ack(c, is_a, m.cseq, std::move(sent), reply_to);
    // The kept party is B when A was replaced.
    reinvite_leg(c, is_a, rewrite_sdp(c, is_a, off_hold(std::string(m.body)), true), connected_party_lines(kept, n));
    log_info("call %llu: %s replaced by %s (RFC 3891)", static_cast<unsigned long long>(c.id), replaced_peer.c_str(),
             to_string(in.source).c_str());
}

void b2bua::refuse_replacing(const inbound& in, uint64_t stx, unsigned status, std::string_view why) {
    ++stats_.replaces_refused;
    log_info("INVITE with Replaces from %s refused with %u: %.*s", to_string(in.source).c_str(), status,
             static_cast<int>(why.size()), why.data());
    tl_.respond(stx, status, reason_phrase(status), random_token(16), warning_header(why));
}

}  // namespace sf::control
