#pragma once
/// @file
/// Relay port allocation per realm: even ports for RTP, the odd port above for RTCP.

#include <cstdint>
#include <vector>

namespace sf::control {

class media_ports {
public:
    /// Manages [min, max]; min must be even.
    media_ports(uint16_t min, uint16_t max);
    /// An even port whose pair (port, port+1) is free, or 0 when exhausted.
    uint16_t allocate();
    /// Returns a pair to the pool (ignored if not allocated).
    void release(uint16_t port);
    unsigned in_use() const { return in_use_; }
    unsigned capacity() const { return static_cast<unsigned>(used_.size()); }

private:
    uint16_t min_;
    std::vector<bool> used_;  ///< one flag per pair
    unsigned next_ = 0;       ///< round-robin cursor: a freed port is not reused at once
    unsigned in_use_ = 0;
};

}  // namespace sf::control
