#pragma once
/// @file
/// A capture request as the management API receives it (`POST /v1/capture`, a JSON object),
/// read and checked against `[capture]` (control/capture_api.hh has the API). No DPDK, no
/// libpcap: the filter is checked when the capture starts.

#include <cstdint>
#include <string>
#include <vector>

#include "config.hh"

namespace sf::control {

/// What a request asks for, defaults filled in.
struct capture_ask {
    std::string filter;      ///< tcpdump syntax, not yet compiled; empty: every frame
    std::string call;        ///< a call (id, Call-ID or tag): its frames only (and the filter's)
    std::string file;        ///< a valid_capture_file_name(), or empty: the caller names it
    uint64_t seconds = 0;    ///< 1..max_seconds (default min(60, max_seconds))
    uint64_t packets = 0;    ///< 1..max_packets (default max_packets)
    uint32_t snaplen = 0;    ///< 0 (whole frames) or 64..65535
};

/// One part of a call's capture filter: a SIP peer (`addr` set: "(host A and port P)") or its
/// relay ports ("port P", or "portrange P-L" with the RTCP port above). Numbers, so that the
/// control loop can compare a call's filter before each message it sends without making text.
struct capture_term {
    uint32_t addr = 0;   ///< the peer's IPv4 address (host order); 0: relay ports
    uint16_t port = 0;   ///< the peer's port, or the first relay port
    uint16_t last = 0;   ///< relay ports: the last one (== port: just that one)

    bool operator==(const capture_term&) const = default;
    std::string text() const;
};

/// What the B2BUA answers for a call a capture is to follow (b2bua::capture_filter): `status`
/// 200 with the terms that take its frames as the call stands (each once, in the order they
/// came: text() ORs them) and its numeric id, or 404/409 with the error JSON in `error`.
struct call_filter {
    int status = 0;
    std::vector<capture_term> terms;
    std::string error;
    uint64_t call_id = 0;

    /// `terms` as one tcpdump filter: "udp and (T1 or T2 ...)".
    static std::string text(const std::vector<capture_term>& terms);
    std::string text() const { return text(terms); }
};

/// Reads `body` (empty: all defaults) into `out`; "" or why not, starting with the key at
/// fault ("seconds: expected 1..600 ...") or "expected a JSON object" when it is not one.
std::string parse_capture_request(const std::string& body, const capture_config& cfg, capture_ask& out);

/// A capture file's name as requests may give it: letters, digits, '.', '-', '_', not starting
/// with '.', at most 128 characters (so it stays in [capture] dir).
bool valid_capture_file_name(const std::string& name);

}  // namespace sf::control
