#pragma once
/// @file
/// SIP over the dataplane: turns the B2BUA's datagrams into Ethernet frames for
/// a worker to send, and keeps the neighbour table (IPv4 -> MAC per realm) that
/// both SIP and the relay entries need. Workers report what ARP tells them;
/// the control thread owns the table, so the fast path never asks.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dataplane.hh"
#include "media_anchor.hh"
#include "sip_types.hh"
#include "timer_queue.hh"

namespace sf::control {

struct transport_stats {
    uint64_t sent = 0;
    uint64_t queued_for_arp = 0;
    uint64_t dropped_no_neighbour = 0;  ///< ARP never answered
    uint64_t dropped_too_big = 0;       ///< larger than a UDP datagram can be
    uint64_t fragmented = 0;            ///< sent as IP fragments (larger than the port MTU)
    uint64_t dropped_no_route = 0;
    uint64_t dropped_no_mbuf = 0;
    uint64_t arp_requests = 0;
    uint64_t neighbours_learnt = 0;
};

class sip_transport {
public:
    sip_transport(dp::dataplane& dp, std::vector<realm_info> realms, uint16_t sip_port);

    /// Sends `payload` from our address on `realm` to `to`; waits (bounded) for ARP if needed.
    void send(unsigned realm, sip_addr to, std::string payload);
    /// Records addr -> mac on the realm of DPDK port `port_id`; flushes datagrams waiting for it.
    void learn_on_port(uint16_t port_id, uint32_t addr, const rte_ether_addr& mac);
    /// Next-hop MAC towards `addr` on `realm` (the gateway's when not on-link).
    std::optional<rte_ether_addr> next_hop_mac(unsigned realm, uint32_t addr) const;
    /// Announces every port's address (gratuitous ARP), at start.
    void announce();
    /// Re-sends ARP requests for waiting datagrams and drops those waiting too long.
    void tick(ms_t now);

    const transport_stats& stats() const { return stats_; }
    size_t neighbours() const { return table_.size(); }
    /// The realm of DPDK port `port_id`, or -1.
    int realm_of_port(uint16_t port_id) const;

private:
    struct pending {
        unsigned realm;
        sip_addr to;
        uint32_t next_hop;
        std::string payload;
        ms_t since;
    };
    uint32_t next_hop(unsigned realm, uint32_t addr) const;
    void transmit(unsigned realm, sip_addr to, const rte_ether_addr& mac, const std::string& payload);
    void send_arp_request(unsigned realm, uint32_t target);
    static uint64_t key(unsigned realm, uint32_t addr) { return (uint64_t{realm} << 32) | addr; }

    dp::dataplane& dp_;
    std::vector<realm_info> realms_;
    uint16_t sip_port_;
    std::unordered_map<uint64_t, rte_ether_addr> table_;
    std::deque<pending> pending_;
    ms_t last_arp_ = 0;
    ms_t last_retry_ = 0;
    uint16_t ip_id_ = 0;  ///< IPv4 identification of fragmented datagrams
    transport_stats stats_;
};

}  // namespace sf::control
