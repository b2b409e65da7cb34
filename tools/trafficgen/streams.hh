#pragma once
/// @file
/// The streams sfgen sends: each from its own source address:port to a destination address:port.

#include <cstdint>
#include <string>
#include <vector>

namespace sf::gen {

/// One RTP stream. Host byte order.
struct stream {
    uint32_t src_ip = 0;
    uint16_t src_port = 0;
    uint32_t dst_ip = 0;
    uint16_t dst_port = 0;
};

/// Reads "SRC_IP:PORT DST_IP:PORT" lines ('#' comments and blank lines skipped).
/// Throws std::runtime_error naming the line.
std::vector<stream> read_streams_file(const std::string& path);

/// "N,SRC_IP:PORT,DST_IP:PORT": N streams whose source and destination ports both step by 2
/// (RTP ports are even). Throws std::runtime_error.
std::vector<stream> streams_from_range(const std::string& spec);

}  // namespace sf::gen
