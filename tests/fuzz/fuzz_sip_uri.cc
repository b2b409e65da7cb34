// libFuzzer target: the standalone grammar helpers (URI, IPv4, Via,
// name-addr, parameters) fed directly with arbitrary bytes.

#include "sip/sip_message.hh"
#include "sip/sip_uri.hh"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace sf::sip;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    auto inside = [in](std::string_view v) {
        if (!v.empty() && (v.data() < in.data() || v.data() + v.size() > in.data() + in.size())) {
            __builtin_trap();
        }
    };

    uri u;
    if (parse_uri(in, u)) {
        inside(u.scheme);
        inside(u.user);
        inside(u.password);
        inside(u.host);
        inside(u.params);
        inside(u.headers);
        find_param(u.params, "transport");
        if (u.host.empty() && u.user.empty()) {
            __builtin_trap();
        }
    }
    uint32_t addr = 0;
    parse_ipv4(in, addr);

    via v;
    std::string_view rest;
    if (parse_via(in, v, &rest)) {
        inside(v.transport);
        inside(v.host);
        inside(v.branch);
        inside(v.received);
        inside(v.raw);
        inside(rest);
    }
    name_addr na;
    if (parse_name_addr(in, na, &rest)) {
        inside(na.display);
        inside(na.uri);
        inside(na.params);
        inside(na.tag);
        inside(na.raw);
        inside(rest);
    }
    bool found = false;
    inside(find_param(in, "tag", &found));
    inside(find_param(in, "", &found));
    header_from_name(in);
    method_from_token(in);
    return 0;
}
