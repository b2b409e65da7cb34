#pragma once
/// @file
/// A capture request as the management API receives it (`POST /v1/capture`, a JSON object),
/// read and checked against `[capture]` (control/capture_api.hh has the API). No DPDK, no
/// libpcap: the filter is checked when the capture starts.

#include <cstdint>
#include <string>

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

/// Reads `body` (empty: all defaults) into `out`; "" or why not, starting with the key at
/// fault ("seconds: expected 1..600 ...") or "expected a JSON object" when it is not one.
std::string parse_capture_request(const std::string& body, const capture_config& cfg, capture_ask& out);

/// A capture file's name as requests may give it: letters, digits, '.', '-', '_', not starting
/// with '.', at most 128 characters (so it stays in [capture] dir).
bool valid_capture_file_name(const std::string& name);

}  // namespace sf::control
