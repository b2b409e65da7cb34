#pragma once
/// @file
/// Network-order (big-endian) fields read and written byte by byte: no alignment needed, no
/// aliasing questions, and compilers turn each into one load or store and a byte swap. Shared
/// by the RTCP reader and rename and by the relay's RTP header rewrite.

#include <cstdint>

namespace sf {

inline uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t load_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) { p[0] = static_cast<uint8_t>(v >> 8), p[1] = static_cast<uint8_t>(v); }
inline void store_be32(uint8_t* p, uint32_t v) {
    store_be16(p, static_cast<uint16_t>(v >> 16));
    store_be16(p + 2, static_cast<uint16_t>(v));
}

}  // namespace sf
