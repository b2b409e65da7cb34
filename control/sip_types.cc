#include "sip_types.hh"

#include <random>

#include "config.hh"

namespace sf::control {

std::string to_string(const sip_addr& a) {
    return ipv4_to_string(a.addr) + ":" + std::to_string(a.port);
}

sip_addr response_address(const inbound& in) {
    const sip::via& v = in.msg->top_via;
    if (v.has_rport) {
        return in.source;
    }
    return sip_addr{in.source.addr, v.port != 0 ? v.port : uint16_t{5060}};
}

namespace {

std::mt19937_64& rng() {
    static std::mt19937_64 r{std::random_device{}()};
    return r;
}

}  // namespace

uint64_t random_u64() {
    return rng()();
}

std::string random_token(unsigned len) {
    static const char hex[] = "0123456789abcdef";
    std::string s;
    s.reserve(len);
    uint64_t bits = 0;
    for (unsigned i = 0; i < len; ++i) {
        if (i % 16 == 0) {
            bits = random_u64();
        }
        s.push_back(hex[bits & 0xf]);
        bits >>= 4;
    }
    return s;
}

}  // namespace sf::control
