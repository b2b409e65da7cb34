#pragma once
/// @file
/// Dialplans tried offline: `sipferry --config FILE --route REQUESTS` runs the config's
/// dialplans (and, for a REFER, the transfer policy) on described requests and prints what the
/// appliance would decide, without a dataplane, a call or a packet. Operators test a dialplan
/// change before `reload`, and replay the REFERs of a fraud report against a new policy.
///
/// REQUESTS is JSON lines, one request per line ('#' lines and blank lines skipped):
///   {"uri": "sip:1234@192.0.2.1", "from": "sip:alice@192.0.2.10", "source": "192.0.2.10:5060",
///    "from_display": "Alice", "to": "sip:1234@192.0.2.1", "realm": "acc", "account": "acme",
///    "plan": "wholesale", "headers": {"X-Route": "gold"}, "refer_to": "sip:0900123@192.0.2.1"}
/// Only "uri" (or "refer_to", which makes it a REFER handled on the appliance) is required. The
/// account is the one whose networks hold the source unless "account" names one; the plan is the
/// account's (`dialplan`, or `transfer_dialplan` for a REFER), else `default` / `transfer`; the
/// realm is the port whose network holds the source. Each line gets one JSON line back: the
/// decision ("dial" with the formatted dial string and its destinations, "respond" with code and
/// reason, "none", "error"), the script's log lines and, for a REFER, the transfer policy's verdict.

#include <iosfwd>
#include <string>

#include "config.hh"
#include "dialplan.hh"

namespace sf::control {

/// Every declared dialplan of `c` into `engine` (`default`, `transfer`, `[dialplans]`) and its
/// tables. Returns "" or the first error ("dialplan NAME: file:line: ...").
std::string load_dialplans(dialplan_engine& engine, const config& c);

/// The limits of `c`'s [dialplan] section for a dialplan_engine.
dialplan_limits limits_of(const dialplan_config& c);

/// Runs every request of `in` (see the file comment) and writes one JSON line per request to
/// `out`. Returns the number of lines that could not be read (malformed JSON, no "uri").
unsigned check_routes(const config& c, dialplan_engine& engine, std::istream& in, std::ostream& out);

}  // namespace sf::control
