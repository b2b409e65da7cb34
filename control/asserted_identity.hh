#pragma once
/// @file
/// Who the caller is, as the appliance asserts it (RFC 3325), and the privacy the caller asked
/// for (RFC 3323). Pure policy over a parsed INVITE and the config: no call state, no I/O.
///
/// The appliance is the edge of a trust domain ("Spec(T)", RFC 3325 2.4): providers with
/// `trust_identity = true` are inside it, everything else outside. It takes a
/// P-Asserted-Identity only from inside, makes one for the accounts it authenticated (from
/// what their P-Preferred-Identity, P-Asserted-Identity or From ask for, within what the
/// account may present), and drops every other. Outgoing, it asserts the identity to the
/// trusted and, unless the caller asked for privacy, to the rest; with privacy, the rest get an
/// anonymous From and nothing that names the caller.

#include <string>
#include <string_view>

#include "accounts.hh"
#include "sip/sip_message.hh"
#include "sip_header_values.hh"

namespace sf::control {

/// The identity of a call's caller: a SIP user (an E.164 number for most carriers) and
/// optionally a display name. Empty: the appliance asserts nothing for the call.
struct asserted_identity {
    std::string user;
    std::string display;
    bool empty() const { return user.empty(); }
};

/// True when `user` may travel as an asserted identity: 1..64 bytes of a URI's user part
/// (letters, digits, -_.!~*'()&=+$,;?/%#), so that a peer's header can never inject text.
bool valid_identity_user(std::string_view user);

/// True when an account may present `user`: its `identity`, or one of its `identities`
/// (an exact user, or a prefix ending in '*').
bool may_present(const account_config& account, std::string_view user);

/// The identity a new call carries (see the file comment). `trusted_source`: the INVITE came
/// from a provider with trust_identity. `account`: the account the call was attributed to,
/// nullptr when none. Malformed identity headers are ignored, as if absent.
asserted_identity identity_of_call(const sip::message& invite, bool trusted_source, const account_config* account);

/// The privacy asked for by every Privacy line of `m` (none when there is no line; a malformed
/// line counts as absent).
privacy_request privacy_of(const sip::message& m);

/// The privacy levels the appliance provides: all of RFC 3323's (id, header, user; session,
/// since the media of every call is anchored on the appliance). False only when `critical`
/// asks for a value it does not know: RFC 3323 5.1 wants such a request failed (500).
inline bool privacy_can_be_given(const privacy_request& p) { return p.none || !(p.critical && p.unknown); }

/// The From that a caller who withholds its identity shows beyond the trust domain
/// (RFC 3323 4.1.1.3), without tag.
inline constexpr std::string_view anonymous_from = "\"Anonymous\" <sip:anonymous@anonymous.invalid>";

/// What an outgoing INVITE carries about the caller.
struct identity_on_leg {
    bool anonymous_from = false;  ///< the From is `anonymous_from`
    std::string header_lines;     ///< P-Asserted-Identity / Privacy lines ("Name: value\r\n"), or ""
};

/// Identity headers of an INVITE towards a destination: `trusted_destination` is a provider
/// with trust_identity; `from_host` the host of that INVITE's From (the asserted URI's host).
identity_on_leg identity_for_destination(const asserted_identity& who, const privacy_request& privacy,
                                         bool trusted_destination, std::string_view from_host);

}  // namespace sf::control
