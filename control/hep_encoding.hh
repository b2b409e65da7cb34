#pragma once
/// @file
/// HEPv3 (the Homer Encapsulation Protocol, also called EEP): one captured datagram, its
/// addresses, ports and time, carried to a capture collector (Homer's heplify-server, Kamailio's
/// sipcapture, sngrep -L). A packet is "HEP3", a 16-bit total length, then chunks of
/// (vendor 16, type 16, length 16 including these 6 octets, value), all in network order.
///
/// The chunks are written in the order Kamailio's siptrace and captagent write them
/// (family, protocol, ports, time, type, capture id, then the addresses, the auth key, the
/// payload): some receivers (sngrep 1.x) read them by position rather than by type.
///
/// Pure: no sockets (control/hep_exporter.hh sends), no DPDK.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sf::control {

/// HEP protocol types (chunk 0x000b) this appliance sends.
constexpr uint8_t hep_proto_sip = 1;
constexpr uint8_t hep_proto_rtcp = 5;  ///< an RTCP report as JSON (Homer's captagent and heplify)

/// Chunk types (vendor 0x0000, the generic ones) this appliance writes.
enum class hep_chunk : uint16_t {
    ip_family = 0x0001,
    ip_protocol = 0x0002,
    ipv4_src = 0x0003,
    ipv4_dst = 0x0004,
    src_port = 0x0007,
    dst_port = 0x0008,
    time_sec = 0x0009,
    time_usec = 0x000a,
    proto_type = 0x000b,
    capture_id = 0x000c,
    auth_key = 0x000e,
    payload = 0x000f,
    correlation_id = 0x0011,
};

/// What a HEP packet says about the datagram it carries (UDP over IPv4).
struct hep_datagram {
    uint32_t src_addr = 0;  ///< IPv4, host order
    uint32_t dst_addr = 0;
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint64_t time_us = 0;  ///< when it was sent or received: microseconds since the Unix epoch
    uint8_t proto_type = hep_proto_sip;
    uint32_t capture_id = 0;          ///< this appliance, as the collector knows it
    std::string_view auth_key;        ///< the collector's password; empty: no chunk
    std::string_view correlation_id;  ///< links it to a call (e.g. its Call-ID); empty: no chunk
};

/// The most payload one HEP packet carries for `d`: its total length field is 16 bits.
size_t hep_max_payload(const hep_datagram& d);

/// Appends the packet's header and every chunk but the payload's value to `out`, sized for a
/// payload of `payload_len` octets that the caller appends next (so a payload kept in an mbuf
/// chain is copied once). False, `out` untouched, when it does not fit (hep_max_payload).
bool hep_encode_head(const hep_datagram& d, size_t payload_len, std::string& out);

/// The whole packet: hep_encode_head() and then `payload`.
bool hep_encode(const hep_datagram& d, std::string_view payload, std::string& out);

}  // namespace sf::control
