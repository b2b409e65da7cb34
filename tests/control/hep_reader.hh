#pragma once
// A HEPv3 reader for the tests (the appliance only writes HEP): checks the framing and gives
// the chunks in the order they came; and a UDP collector on loopback that receives packets.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sf::test {

struct hep_read {
    std::vector<uint16_t> order;             ///< chunk types as they came
    std::map<uint16_t, std::string> chunks;  ///< type -> value (vendor 0 only)

    uint32_t u32(uint16_t type) const {
        const std::string& v = chunks.at(type);
        uint32_t x = 0;
        for (const char c : v) {
            x = (x << 8) | static_cast<unsigned char>(c);
        }
        return x;
    }
    bool has(uint16_t type) const { return chunks.count(type) != 0; }
};

/// The chunks of `packet`, or nothing when it is not one well-formed HEPv3 packet: "HEP3", a
/// total length equal to its size, chunks of at least 6 octets that end exactly at the end,
/// vendor 0, no type twice.
inline std::optional<hep_read> read_hep(std::string_view packet) {
    const auto u16 = [&](size_t at) {
        return static_cast<uint16_t>((static_cast<unsigned char>(packet[at]) << 8) | static_cast<unsigned char>(packet[at + 1]));
    };
    if (packet.size() < 6 || packet.substr(0, 4) != "HEP3" || u16(4) != packet.size()) {
        return std::nullopt;
    }
    hep_read out;
    size_t at = 6;
    while (at < packet.size()) {
        if (packet.size() - at < 6) {
            return std::nullopt;
        }
        const uint16_t vendor = u16(at), type = u16(at + 2), len = u16(at + 4);
        if (vendor != 0 || len < 6 || len > packet.size() - at || out.chunks.count(type) != 0) {
            return std::nullopt;
        }
        out.order.push_back(type);
        out.chunks[type] = std::string(packet.substr(at + 6, len - 6));
        at += len;
    }
    return out;
}

/// A collector for the tests: a UDP socket on 127.0.0.1, an ephemeral port.
class udp_collector {
public:
    udp_collector() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const int rcvbuf = 8 << 20;
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ~udp_collector() { ::close(fd_); }
    uint16_t port() const { return port_; }

    /// What arrives within `ms` of quiet (bounded: at most `max` datagrams).
    std::vector<std::string> take(int ms = 200, size_t max = 10'000) {
        std::vector<std::string> got;
        std::vector<char> buf(65536);
        while (got.size() < max) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, ms) <= 0) {
                break;
            }
            const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
            if (n < 0) {
                break;
            }
            got.emplace_back(buf.data(), static_cast<size_t>(n));
        }
        return got;
    }

private:
    int fd_ = -1;
    uint16_t port_ = 0;
};

}  // namespace sf::test
