// Connected identity (RFC 3325 9.1): who a party talks to. At the start of a call the caller
// hears it from a trusted callee's 18x and 2xx. When the other party changes mid-call (a
// transfer handled here, a Replaces, a pickup, two calls joined), the party that stays would
// otherwise go on showing whom it called or who called it: the request or response that connects
// it to its new party (our re-INVITE, the pickup's 200) names that party in a
// P-Asserted-Identity, as PBXs' connected-line updates do.
//
// What is known of a party is kept on its dialog (leg::peer_*) and moves with it:
//   - a caller (leg A, a Replaces, a pickup): the identity the appliance asserts for its calls
//     (asserted_identity.hh: a trusted provider's own assertion, an account's number);
//   - a party we dialled: its destination's ci= (the operator's dialplan names it), else a
//     trusted provider's assertion in its 2xx, else a registered user's account number; and the
//     user it was dialled as, which `[transfer] connected_identity = dialled` tells when nothing
//     is asserted. `asserted` (the default) tells only assertions; `none` tells nothing.
// The privacy a party asks for (its INVITE's or 2xx's Privacy) holds as for a caller: beyond the
// trust domain, `id`, `user` or `header` withhold it (identity_for_destination).
//
// Only the P-Asserted-Identity carries it: RFC 4916's From change is left alone (few phones
// offer `from-change`, and PAI is what they display).

#include "b2bua.hh"
#include "b2bua_call.hh"

namespace sf::control {

std::string b2bua::connected_identity(const call& c, const dial_target& callee, const sip::message& m) const {
    asserted_identity who;
    if (!callee.connected_user.empty()) {
        who.user = callee.connected_user;  // ci=: the operator's dialplan names it
    } else if (callee.trusted) {
        who = identity_of_call(m, true, nullptr);
    } else {
        return {};  // a callee outside the trust domain asserts nothing (RFC 3325 5)
    }
    if (who.empty()) {
        return {};
    }
    return identity_for_destination(who, privacy_of(m), c.a.peer_trusted, realm(c.a.realm).addr_text).header_lines;
}

void b2bua::learn_answering_party(leg& l, const dial_target& t, const sip::message& answer) const {
    l.peer_trusted = t.trusted;
    if (!t.connected_user.empty()) {
        l.peer_identity = asserted_identity{t.connected_user, {}};
    } else if (t.trusted) {
        // Only a trusted destination's assertion is believed (RFC 3325 5); a 2xx's From is the caller.
        l.peer_identity = identity_of_call(answer, true, nullptr);
    } else if (const account_config* a = t.account.empty() ? nullptr : accounts_.account(t.account)) {
        // A registered user: the number the appliance asserts for its account's calls.
        l.peer_identity = asserted_identity{a->identity, {}};
    } else {
        l.peer_identity = {};
    }
    l.peer_dialled = valid_identity_user(t.user) ? t.user : std::string();
    l.peer_privacy = privacy_of(answer);
}

void b2bua::learn_calling_party(leg& l, const provider_config* trunk, const account_config* account,
                                const sip::message& invite) const {
    l.peer_trusted = trunk != nullptr && trunk->trust_identity;
    l.peer_identity = identity_of_call(invite, l.peer_trusted, account);
    l.peer_dialled.clear();
    l.peer_privacy = privacy_of(invite);
}

std::string b2bua::connected_party_lines(const leg& to, const leg& about) const {
    const connected_identity_mode mode = cfg_.transfer.connected_identity;
    if (mode == connected_identity_mode::none) {
        return {};
    }
    asserted_identity who = about.peer_identity;
    if (who.empty() && mode == connected_identity_mode::dialled) {
        who.user = about.peer_dialled;
    }
    if (who.empty()) {
        return {};  // nothing to tell: a Privacy line alone would name nobody
    }
    return identity_for_destination(who, about.peer_privacy, to.peer_trusted, realm(to.realm).addr_text).header_lines;
}

}  // namespace sf::control
