// libFuzzer target: the dial-string parser (control/dial_string.cc) on arbitrary bytes.
// A string that parses must format to a dial string that parses to the same destinations, unless
// the %-escapes of the formatted text take it beyond max_dial_string_bytes (found by this target:
// a 16-destination string full of '&' in values), which only a log line or the API ever shows.

#include "dial_string.hh"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

using namespace sf::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    std::vector<dial_target> first;
    if (!parse_dial_string(in, first).empty()) {
        if (!first.empty()) {
            __builtin_trap();  // a failed parse leaves the output untouched
        }
        return 0;
    }
    if (first.empty() || first.size() > max_dial_targets) {
        __builtin_trap();
    }
    std::vector<dial_target> second;
    const std::string formatted = format_dial_string(first);
    if (formatted.size() > max_dial_string_bytes) {
        return 0;
    }
    if (!parse_dial_string(formatted, second).empty() || second.size() != first.size()) {
        __builtin_trap();
    }
    for (size_t i = 0; i < first.size(); ++i) {
        const dial_target &a = first[i], &b = second[i];
        if (a.user != b.user || a.host != b.host || a.port != b.port || a.group != b.group ||
            a.transfer_mode != b.transfer_mode || a.from_user != b.from_user || a.from_display != b.from_display ||
            a.ring_time_s != b.ring_time_s || a.headers != b.headers || a.asserted_user != b.asserted_user ||
            a.connected_user != b.connected_user ||
            a.diversion != b.diversion || a.diversion_via != b.diversion_via || a.media != b.media ||
            a.media_realm_name != b.media_realm_name ||
            a.continuous_media != b.continuous_media || a.delay_s != b.delay_s || a.max_duration_s != b.max_duration_s ||
            a.redirects != b.redirects || a.from_host != b.from_host) {
            __builtin_trap();
        }
    }
    return 0;
}
