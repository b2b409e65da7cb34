#pragma once
/// @file
/// Zero-copy SIP message parser (RFC 3261 section 7 and 25).
///
/// A parsed message is a set of string_views into the caller's buffer: the
/// buffer must outlive the message. Headers land in a fixed array (no
/// allocation per header). The start line, the top Via, Call-ID, CSeq,
/// From/To (with tags), Max-Forwards, Content-Length and the body are parsed
/// eagerly because every message needs them for transaction matching; other
/// headers are located by name and parsed on demand with the helpers below.

#include <cstdint>
#include <string_view>

namespace sf::sip {

/// Request methods the appliance knows; anything else is `other`.
enum class method : uint8_t {
    other = 0, invite, ack, bye, cancel, options, register_, refer, notify, subscribe,
    info, update, prack, message,
};

/// Method from its token (case-sensitive, as RFC 3261 says); `other` if unknown.
method method_from_token(std::string_view token) noexcept;
/// Canonical token of a method; "" for `other`.
std::string_view method_token(method m) noexcept;

/// Header names the stack looks up; compact forms (RFC 3261 7.3.3) map to the same id.
enum class hdr : uint8_t {
    other = 0, via, from, to, call_id, cseq, contact, max_forwards, content_length, content_type,
    route, record_route, allow, supported, require, user_agent, server, expires, refer_to,
    referred_by, replaces, event, subscription_state, refer_sub, authorization,
    www_authenticate, proxy_authorization, proxy_authenticate, retry_after, session_expires,
    min_se, rseq, rack, accept, reason, unsupported,
    count_,
};

/// Header id from its name, case-insensitively, including compact forms
/// (v, f, t, i, m, l, c, k, r, b, o, x, e, s, u, y).
hdr header_from_name(std::string_view name) noexcept;

/// One header line: the name as written and the value with surrounding
/// whitespace removed. Folded lines (RFC 3261 7.3.1) keep their CRLF+WSP
/// inside `value`; helpers treat any LWS run as one space.
struct header {
    hdr id = hdr::other;
    std::string_view name;
    std::string_view value;
};

/// A parsed `sent-by` and parameters of one Via value.
struct via {
    std::string_view transport;   ///< "UDP", "TCP", ... (from SIP/2.0/UDP)
    std::string_view host;        ///< host, IPv6 reference keeps its brackets
    uint16_t port = 0;            ///< 0 when absent
    std::string_view branch;      ///< value of ;branch=
    std::string_view received;    ///< value of ;received=
    bool has_rport = false;       ///< ;rport present (with or without value)
    uint16_t rport = 0;           ///< value of ;rport=N, 0 if no value
    std::string_view raw;         ///< the whole via-parm text
};

/// Parses the first via-parm of `value` (a Via header value may carry several,
/// comma separated). `rest` receives what follows the first comma, or "".
bool parse_via(std::string_view value, via& out, std::string_view* rest = nullptr) noexcept;

/// name-addr or addr-spec (From, To, Contact, Route, Refer-To...).
struct name_addr {
    std::string_view display;  ///< display name without quotes, may be empty
    std::string_view uri;      ///< the URI text without angle brackets
    std::string_view params;   ///< header params after the URI, starting after the first ';'
    std::string_view tag;      ///< value of ;tag= among params
    std::string_view raw;      ///< the whole element
};

/// Parses the first element of a name-addr list; `rest` receives the text after
/// the separating comma (for Contact/Route lists), or "".
bool parse_name_addr(std::string_view value, name_addr& out, std::string_view* rest = nullptr) noexcept;

/// Returns the value of parameter `name` (case-insensitive) in a `;a=b;c` list,
/// "" if present without value, and sets *found. Accepts a leading ';'.
std::string_view find_param(std::string_view params, std::string_view name, bool* found = nullptr) noexcept;

/// Why a message did not parse. Everything except `ok` is a bad message.
enum class parse_error : uint8_t {
    ok = 0,
    empty,
    bad_start_line,
    bad_version,
    bad_status,
    bad_header,            ///< a header line without a colon or with an empty name
    too_many_headers,
    missing_via,
    missing_call_id,
    missing_cseq,
    bad_cseq,
    missing_from,
    missing_to,
    bad_from_to,
    bad_via,
    bad_max_forwards,
    bad_content_length,    ///< not a number, or larger than the bytes that follow
    no_header_end,         ///< no empty line that ends the headers
    cseq_method_mismatch,  ///< request whose CSeq method differs from the request method
    count_,
};

const char* to_string(parse_error e) noexcept;

/// A parsed SIP message. All views point into the parsed buffer.
struct message {
    static constexpr unsigned max_headers = 64;

    bool is_request = false;
    // Request line.
    method req_method = method::other;
    std::string_view method_name;
    std::string_view request_uri;
    // Status line.
    uint16_t status = 0;
    std::string_view reason;

    header headers[max_headers];
    uint8_t n_headers = 0;

    // Eagerly parsed, always valid when parse() returned ok.
    via top_via;
    std::string_view call_id;
    uint32_t cseq = 0;
    method cseq_method = method::other;
    std::string_view cseq_method_name;
    name_addr from;
    name_addr to;
    int max_forwards = -1;       ///< -1 when absent
    int content_length = -1;     ///< -1 when absent (UDP: body is the rest of the datagram)
    std::string_view body;       ///< Content-Length bytes after the empty line (or the rest)

    /// First header with this id, or nullptr.
    const header* find(hdr id) const noexcept;
    /// First header with this name (case-insensitive, for unknown headers), or nullptr.
    const header* find(std::string_view name) const noexcept;
    /// Number of header lines with this id.
    unsigned count(hdr id) const noexcept;
};

/// Parses one SIP message from a UDP datagram (RFC 3261 18.3: with UDP, a
/// Content-Length larger than the datagram is an error, a shorter one truncates
/// the body; a missing one means the body is the rest of the datagram).
parse_error parse(std::string_view datagram, message& out) noexcept;

}  // namespace sf::sip
