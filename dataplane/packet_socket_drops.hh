#pragma once
/// @file
/// The kernel's receive drops on a net_af_packet port: DPDK 22.11's af_packet driver reports no
/// `imissed`, yet the kernel drops every frame that finds the socket's RX ring full (a worker
/// that fell behind, or was off its CPU). Those frames never reach the appliance, RTP among
/// them, and nothing else counts them.

#include <cstdint>
#include <string>

namespace sf::dp {

/// The running total of those drops for this process's AF_PACKET sockets bound to one
/// interface (a port may have one per queue). PACKET_STATISTICS resets the kernel's counts on
/// every read, so each read is added to the total here: one owner reads (the control thread,
/// through dataplane::stats()).
class packet_socket_drops {
public:
    /// `ifname`: the interface the port's sockets are bound to (its `iface=` devarg), in the
    /// process's network namespace. An unknown name counts nothing.
    explicit packet_socket_drops(const std::string& ifname);

    /// Reads every such socket's drops since the last call and returns the total so far.
    uint64_t total();

    unsigned ifindex() const { return ifindex_; }

private:
    unsigned ifindex_ = 0;
    uint64_t total_ = 0;
};

/// The `iface=` devarg of a net_af_packet device spec ("net_af_packet0,iface=acc,..."), or
/// "" when `device` is not an af_packet device or names no interface.
std::string af_packet_iface(const std::string& device);

}  // namespace sf::dp
