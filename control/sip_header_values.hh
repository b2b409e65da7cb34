#pragma once
/// @file
/// The values of SIP headers the control plane reads from its peers beyond what the message
/// parser (dataplane/sip) splits: Expires and Contact (registrar), RAck (100rel),
/// Session-Expires / Min-SE (session timers), Replaces (attended transfer),
/// P-Asserted-Identity / P-Preferred-Identity (RFC 3325) and Privacy (RFC 3323). Each is a pure
/// function of the header text, so one fuzz target (tests/fuzz/fuzz_sip_header_values.cc)
/// covers them all; the views they return point into the text they were given.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sf::control {

/// delta-seconds (RFC 3261 25.1: 1*DIGIT, surrounding whitespace allowed); values beyond
/// 2^32-1 saturate to it (20.19). False for anything else, the empty text included.
bool parse_delta_seconds(std::string_view text, uint64_t& out);

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 3261 25.1), as thousandths
/// (0..1000).
bool parse_qvalue(std::string_view text, uint16_t& out);

/// One element of a Contact header: a name-addr or addr-spec with its parameters, or "*".
struct contact_value {
    bool star = false;
    std::string_view uri;     ///< the URI text (not validated beyond the name-addr syntax)
    std::string_view params;  ///< header params after the URI, after the first ';'
    bool has_q = false;
    uint16_t q = 1000;  ///< thousandths; 1000 when absent
    bool has_expires = false;
    uint64_t expires = 0;
};

/// One Contact header line: "*" or a comma-separated list of name-addrs (RFC 3261 20.10),
/// appended to `out`. Returns nullptr, or why the line is malformed (the reason phrase a
/// registrar answers 400 with); `out` may then hold the elements before the bad one.
const char* parse_contact_list(std::string_view value, std::vector<contact_value>& out);

/// "RAck: response-num CSeq-num Method" (RFC 3262 7.2).
struct rack_value {
    uint32_t rseq = 0;
    uint32_t cseq = 0;
    std::string_view method;
};

/// Parses a RAck header value; false if it is not three tokens with two numbers.
bool parse_rack(std::string_view value, rack_value& out);

/// Session-Expires or Min-SE: delta-seconds [;refresher=uac|uas] *(;param) (RFC 4028 4, 5).
struct session_expires_value {
    uint32_t seconds = 0;
    std::string_view refresher;  ///< the refresher parameter's value, empty when absent
};

/// Parses a Session-Expires or Min-SE value. Lenient as the session timers have always been
/// with peers: leading spaces are skipped and whatever follows the digits is only searched
/// for a refresher. False when there are no digits or they exceed 2^32-1.
bool parse_session_expires(std::string_view value, session_expires_value& out);

/// A URI header's value with its %XX escapes decoded (RFC 3261 19.1.1: a Refer-To's
/// `?Replaces=callid%3Bto-tag%3D...`); a '%' not followed by two hex digits stays as it is.
std::string percent_decoded(std::string_view text);

/// Replaces = callid *(SEMI replaces-param) (RFC 3891 6.1).
struct replaces_value {
    std::string_view call_id, to_tag, from_tag;
    bool early_only = false;
};

/// Parses a Replaces value; false unless it has a Call-ID and both to-tag and from-tag.
bool parse_replaces(std::string_view value, replaces_value& out);

/// The first Replaces among a URI's headers (`name=value` pairs joined by '&', RFC 3261
/// 19.1.1: a Refer-To's `?Replaces=callid%3Bto-tag%3D...`), %-decoded; "" when there is none.
std::string uri_header_replaces(std::string_view uri_headers);

/// `rv` written as a Replaces header value, `callid;to-tag=T;from-tag=F[;early-only]`, or ""
/// when a part is empty, too long (Call-ID 256 bytes, tags 128) or holds a byte that a Call-ID
/// (RFC 3261 25.1 word ["@" word]) or a tag (token) may not: a Replaces taken from a REFER is
/// sent on only in this form, so it carries nothing else.
std::string replaces_header_value(const replaces_value& rv);

/// One value of a P-Asserted-Identity or P-Preferred-Identity line (RFC 3325 9.1, 9.2).
struct identity_value {
    std::string_view display;  ///< display name without quotes, may be empty
    std::string_view scheme;   ///< "sip", "sips" or "tel", as written
    std::string_view user;     ///< the URI's user (tel: the number), never empty
};

/// One P-Asserted-Identity / P-Preferred-Identity line: a comma list of name-addr or
/// addr-spec. Appends each value whose URI is a sip:, sips: or tel: URI with a user; others
/// (a URI without user, another scheme) are skipped. False when the line is malformed (no
/// value, a value that is not a name-addr, a URI that does not parse); `out` may then hold
/// the values before the bad one.
bool parse_identity_list(std::string_view value, std::vector<identity_value>& out);

/// The privacy a Privacy line asks for (RFC 3323 4.2: priv-value *(";" priv-value)).
struct privacy_request {
    bool none = false;      ///< "none": no privacy (wins over the rest, RFC 3323 4.2)
    bool header = false;    ///< hide headers that reveal the sender (Via, Contact, Record-Route...)
    bool session = false;   ///< hide the sender's media addresses
    bool history = false;   ///< RFC 7044 10.1.2: no History-Info of the request beyond the trust domain
    bool user = false;      ///< user-level privacy: an anonymous From
    bool id = false;        ///< RFC 3325: no P-Asserted-Identity beyond the trust domain
    bool critical = false;  ///< fail the request when any level cannot be given
    bool unknown = false;   ///< a value of none of these (a token this code does not know)

    /// Privacy of the caller's identity was asked for: id, user or header, and not none.
    bool withholds_identity() const { return !none && (id || user || header); }
    /// Any value other than none (and not overruled by none).
    bool any() const { return !none && (header || session || user || id || history || critical || unknown); }
    /// The request's History-Info may not leave the trust domain: history, or header (RFC 7044
    /// 10.1.2: header privacy covers History-Info too), and not none.
    bool withholds_history() const { return !none && (history || header); }
};

/// Adds the values of one Privacy line to `out` (several lines accumulate), case-insensitively.
/// False when the line is malformed (an empty value, a byte no token holds); `out` is then
/// unchanged.
bool parse_privacy(std::string_view value, privacy_request& out);

/// The known values of `p` in canonical order ("id;header;user;session;history;critical"), "" for none.
std::string to_string(const privacy_request& p);

}  // namespace sf::control
