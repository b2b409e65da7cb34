// libFuzzer target: SDP parse and the relay rewrite. Invariant checked: the
// rewrite of any body that parses is itself a body that parses, with the
// same number of streams, all pointing at the relay.

#include "sip/sdp.hh"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace sf::sdp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    session s;
    parse_error e = parse(in, s);

    rewrite_spec spec;
    spec.address = "192.0.2.1";
    spec.origin_sess_id = 1;
    spec.origin_sess_version = 2;
    for (unsigned i = 0; i < session::max_media; ++i) {
        spec.ports[i] = static_cast<uint16_t>(i == 3 ? 0 : 20000 + 2 * i);
    }
    std::string out = rewrite(in, spec);
    if (e != parse_error::ok) {
        if (!out.empty()) {
            __builtin_trap();
        }
        return 0;
    }
    if (s.n_media > session::max_media) {
        __builtin_trap();
    }
    session again;
    if (out.empty() || parse(out, again) != parse_error::ok || again.n_media != s.n_media) {
        __builtin_trap();
    }
    for (unsigned i = 0; i < again.n_media; ++i) {
        if (again.streams[i].port != 0 && again.streams[i].conn_addr != "192.0.2.1") {
            __builtin_trap();
        }
    }
    return 0;
}
