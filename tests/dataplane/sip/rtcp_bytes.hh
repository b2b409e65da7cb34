#pragma once
/// @file
/// Byte-level helpers for the RTCP tests and fuzz targets: building packets word by word in
/// network order, and a reference ones' complement sum (RFC 1071, written here rather than taken
/// from the dataplane, so the rename's checksum is never checked against its own arithmetic).
/// DPDK-free, like the code under test.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace sf::rtcp::test {

using bytes = std::vector<uint8_t>;

inline void put16(bytes& b, uint32_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}

inline void put32(bytes& b, uint32_t v) {
    put16(b, v >> 16);
    put16(b, v);
}

/// RFC 1071 over 16-bit words loaded in memory order (memcpy), an odd last byte padded with zero;
/// not folded.
inline uint64_t ones_sum(const uint8_t* p, size_t len) {
    uint64_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint16_t w;
        std::memcpy(&w, p + i, 2);
        sum += w;
    }
    if (len % 2 != 0) {
        const uint8_t last[2] = {p[len - 1], 0};
        uint16_t w;
        std::memcpy(&w, last, 2);
        sum += w;
    }
    return sum;
}

/// A sum folded to 16 bits (0x0000 and 0xffff are one ones' complement number).
inline uint16_t fold(uint64_t sum) {
    while (sum >> 16 != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(sum);
}

}  // namespace sf::rtcp::test
