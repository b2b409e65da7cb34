#pragma once
/// @file
/// Small types shared by the control plane's SIP layers.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "sip/sip_message.hh"
#include "sip_wire.hh"

namespace sf::control {

/// An IPv4 UDP endpoint, host byte order.
struct sip_addr {
    uint32_t addr = 0;
    uint16_t port = 0;
    bool operator==(const sip_addr&) const = default;
};

std::string to_string(const sip_addr& a);

/// A datagram the dataplane handed up, parsed.
struct inbound {
    unsigned realm = 0;    ///< index of the port it arrived on
    sip_addr source;       ///< where it came from
    const sip::message* msg = nullptr;
    std::string_view raw;  ///< the whole datagram
};

/// Sends one SIP datagram from the appliance's address on `realm` to `to`. The message is
/// shared, not copied (a handle copy is a reference); an empty handle (its build ran out of
/// mbufs) is not sent.
using sip_send_fn = std::function<void(unsigned realm, sip_addr to, sip_wire msg)>;

/// Where a response to `in` goes (RFC 3261 18.2.2 and RFC 3581 rport): the source
/// address, and the source port if rport was asked for, else the Via port or 5060.
sip_addr response_address(const inbound& in);

/// Random token for tags, branches and Call-IDs (hex, `len` chars).
std::string random_token(unsigned len);
uint64_t random_u64();

}  // namespace sf::control
