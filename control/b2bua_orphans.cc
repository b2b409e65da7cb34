// INVITEs the appliance sent and no longer wants: a branch still ringing when its call ended,
// the new leg of a transfer whose transferee hung up. Their client transactions live on, so
// their responses still arrive; without this, a callee that answers after the call is gone
// would retransmit its 2xx unACKed and keep a dead dialog up, and one that had not rung yet
// when the call ended would never get its CANCEL (RFC 3261 9.1 lets it go only after a
// provisional response).

#include "b2bua.hh"
#include "b2bua_call.hh"
#include "log.hh"

namespace sf::control {

void b2bua::adopt_orphan(const leg& l, uint64_t invite_tx, std::string_view reason) {
    orphan_invite o;
    o.l = l;
    tl_.cancel(invite_tx, reason);  // now, or on its first provisional response (the transaction layer)
    // The INVITE transaction ends by Timer B (64*T1) at the latest; after that nothing comes.
    const std::string call_id = l.call_id;
    o.timer = timers_.add(now_() + 64ull * cfg_.timers.t1_ms + 1000, [this, call_id] {
        auto it = orphans_.find(call_id);
        if (it != orphans_.end()) {
            it->second.timer = 0;
            orphans_.erase(it);
        }
    });
    auto [it, fresh] = orphans_.emplace(call_id, std::move(o));
    if (!fresh) {
        timers_.cancel(o.timer);  // already adopted (o was not moved from)
    }
    ++stats_.orphan_invites;
}

void b2bua::on_orphan_response(const inbound& in) {
    const sip::message& m = *in.msg;
    auto it = orphans_.find(std::string(m.call_id));
    if (it == orphans_.end()) {
        return;
    }
    orphan_invite& o = it->second;
    if (m.status < 200) {
        return;  // its CANCEL went, or goes now, from the transaction layer
    }
    if (m.status < 300) {
        // It answered anyway: the dialog exists, so it is ACKed and ended at once.
        leg l = o.l;
        l.remote_tag = std::string(m.to.tag);
        if (const sip::header* contact = m.find(sip::hdr::contact)) {
            b2bua_detail::uri_endpoint(contact->value, l.target, &l.target_uri);
        }
        l.route_set = b2bua_detail::record_route_of(m, true);
        b2bua_detail::route_next_hop(l);
        send_(l.realm, l.target, in_dialog_request(l, "ACK", l.local_cseq, "z9hG4bK" + random_token(20)));
        const std::string branch = "z9hG4bK" + random_token(20);
        tl_.send_request(sip::method::bye, branch, l.realm, l.target, in_dialog_request(l, "BYE", l.local_cseq + 1, branch),
                         nullptr, nullptr);
        log_info("a late 2xx from %s for an INVITE nobody wants: ACKed and BYEd", to_string(l.target).c_str());
        ++stats_.orphan_answers_hung_up;
    }
    // A final response ends the INVITE transaction (a non-2xx one was ACKed by it).
    timers_.cancel(o.timer);
    orphans_.erase(it);
}

}  // namespace sf::control
