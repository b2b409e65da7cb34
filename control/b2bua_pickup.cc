// Call pickup: an INVITE with Replaces naming the early dialog of a destination that still
// rings (RFC 3891 3 and 7.1, "replacing an early dialog at the originator"). The appliance is
// the UAC of every branch it placed, so it may accept: the new party answers the call in the
// ringing party's place. carol, say, saw bob's phone ring (through the dialog event package
// of bob's network) and picks the call up from hers.
//
// What happens, in one step:
//   - every branch still out is CANCELled, the picked one too (the early dialog it replaces
//     ends as RFC 3891 3 asks of the dialog's originator);
//   - the new party's relay sides are built on its media realm and the B side of the bridge
//     switches to them (make-before-break, as for a confirmed leg);
//   - the new party gets 200 with the caller's media, the caller gets 200 with the new
//     party's; each 2xx waits for its own ACK, and the call is confirmed when both came.
// Answers besides 200 (RFC 3891 3 and the appliance's policy, as for a confirmed leg):
//   481  no such early dialog: tags not matching, no tag yet (no 18x came), the branch ended;
//   603  the destination's transfer mode is n (deny by default: nothing may take its place);
//   403  the INVITE came from another realm than the ringing destination's;
//   486  the caller's INVITE had no offer, which the new party's 2xx would have to answer;
//   503  no relay ports left.

#include <chrono>

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "log.hh"
#include "message_builder.hh"
#include "sip_header_values.hh"
#include "sip/sdp.hh"

namespace sf::control {

using namespace b2bua_detail;

void b2bua::on_pickup(const inbound& in, uint64_t stx, const sdp::session& offer, const account_config* account,
                      call& c, const replaces_value& rv) {
    const sip::message& m = *in.msg;
    size_t picked = c.branches.size();
    for (size_t i = 0; i < c.branches.size(); ++i) {
        if (c.branches[i].l.call_id == rv.call_id) {
            picked = i;
        }
    }
    if (picked == c.branches.size()) {
        return refuse_replacing(in, stx, 481, "no such dialog");
    }
    call::branch& br = c.branches[picked];
    // RFC 3891: to-tag is the receiver's (our From tag on the branch), from-tag the ringing
    // party's (the To tag of its 18x); lenient about peers that swap them.
    const leg& l = br.l;
    const bool tags_match = !l.remote_tag.empty() && ((l.local_tag == rv.to_tag && l.remote_tag == rv.from_tag) ||
                                                      (l.local_tag == rv.from_tag && l.remote_tag == rv.to_tag));
    if (!tags_match || br.st != call::branch::state::ringing || c.answered_branch >= 0 ||
        c.st != call::state::early) {
        return refuse_replacing(in, stx, 481, "no such early dialog");
    }
    if (br.target.transfer_mode == 'n') {
        return refuse_replacing(in, stx, 603, "this destination's transfer mode does not allow a pickup");
    }
    if (in.realm != l.realm) {
        return refuse_replacing(in, stx, 403, "a ringing destination is picked up only from its own realm");
    }
    if (c.offerless) {
        return refuse_replacing(in, stx, 486, "the caller made no offer that the pickup's answer could carry");
    }
    // The new party's media on its account's media network, as for a call it places.
    const unsigned media_realm =
        account != nullptr && account->media_realm >= 0 ? static_cast<unsigned>(account->media_realm) : in.realm;
    media_bridge next;
    if (!media_.open_replacement(next, c.media, true, media_realm, offer)) {
        return refuse_replacing(in, stx, 503, "no relay ports left");
    }
    media_.apply_remote(next, true, offer);

    // The search is over: nobody else is dialled, and nothing of the branches reaches A now.
    const std::string ringing = to_string(br.dest);
    const dial_target target = br.target;
    c.answered_branch = static_cast<int>(picked);
    give_up_branches(c, -1, answered_elsewhere);  // phones ringing for it log no missed call
    for (const call::branch& other : c.branches) {
        by_call_id_.erase(other.l.call_id);  // their late responses go to their transactions only
    }
    c.plan.clear();

    // The new party's dialog is leg B: our tag, our Contact on its realm.
    leg n = uas_leg(in);
    n.media_realm = media_realm;
    n.transfer_mode = target.transfer_mode;
    n.media = target.media;
    learn_calling_party(n, accounts_.provider_by_address(in.source.addr), account, m);
    const sip_addr reply_to = response_address(in);
    c.b = n;
    by_call_id_[n.call_id] = c.id;
    media_.switch_over(c.media, next, true);
    media_.label(c.media, c.id);
    c.b_remote_sdp = std::string(m.body);
    c.b_last_sdp.clear();
    c.a.transfer_mode = target.transfer_mode;
    c.continuous_media = target.continuous_media;
    c.tag = target.from_user;

    c.rec.b_call_id = n.call_id;
    c.rec.callee = to_string(in.source);
    c.rec.provider.clear();  // the new party came to us
    c.rec.picked_up = ringing;
    c.rec.answer = std::chrono::system_clock::now();
    c.rec.result = 200;
    c.rec.reason = "OK";
    c.st = call::state::answered;
    ++stats_.replaces_accepted;
    ++stats_.pickups;
    ++stats_.calls_answered;
    if (target.max_duration_s != 0) {
        arm_duration_limit(c, target.max_duration_s);
    }
    watch_media(c);

    // The new party hears the caller (B side ports), the caller the new party (A side ports).
    const std::string to_new = rewrite_sdp(c, true, c.a_remote_sdp);
    // Each is told who the other is (connected identity: b2bua_connected_identity.cc).
    const std::string extra_b = "Contact: " + n.contact + "\r\n" + std::string(allow_header) + record_route_lines(m) +
                                connected_party_lines(n, c.a);
    sip_wire sent = tl_.respond(stx, 200, "OK", n.local_tag, extra_b, "application/sdp", to_new);
    wait_for_ack(c, false, m.cseq, std::move(sent), reply_to);
    std::string extra_a = "Contact: " + c.a.contact + "\r\n";
    extra_a += allow_header;
    extra_a += timer_headers_for_a(c);
    extra_a += c.a_record_route;
    extra_a += connected_party_lines(c.a, n);
    answer_a(c, 200, "OK", std::move(extra_a), rewrite_sdp(c, false, m.body));
    log_info("call %llu: %s ringing, picked up by %s (RFC 3891)", static_cast<unsigned long long>(c.id),
             ringing.c_str(), to_string(in.source).c_str());
}

}  // namespace sf::control
