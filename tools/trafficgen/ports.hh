#pragma once
/// @file
/// sfgen's two ports and what it answers on them: ARP for its own addresses, and the ARP
/// resolution of the next hops its streams go to.

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include <rte_ether.h>

struct rte_mbuf;
struct rte_mempool;

namespace sf::gen {

/// One started port and the addresses sfgen owns on it.
struct gen_port {
    uint16_t id = 0;
    rte_ether_addr mac{};
    std::vector<uint32_t> ips;  ///< host byte order

    bool owns(uint32_t ip) const;
};

/// Creates two net_ring ports whose TX rings are each other's RX rings (a cable between
/// them, in this process). Returns their ids. Throws std::runtime_error.
std::pair<uint16_t, uint16_t> make_ring_cable();

/// Configures one RX and one TX queue on an ethdev and starts it (promiscuous where the
/// driver has it: the relay under test may address the sink by any MAC it learnt).
/// Throws std::runtime_error.
void start_port(uint16_t id, rte_mempool* pool);

/// ARP on both ports: answers requests for our addresses, learns replies, resolves next hops.
class arp_agent {
public:
    explicit arp_agent(rte_mempool* pool) : pool_(pool) {}

    /// Handles an ARP frame received on `port` (answers or learns) and frees it; false (m
    /// untouched) when m is not ARP.
    bool handle(const gen_port& port, rte_mbuf* m);

    /// Broadcasts a request for `ip` from our first address on `port`.
    void request(const gen_port& port, uint32_t ip);

    /// Gratuitous ARP for each of our addresses on `port`, so that a relay learns the sink's
    /// MAC before any packet is sent to it.
    void announce(const gen_port& port);

    std::optional<rte_ether_addr> lookup(uint32_t ip) const;

    uint64_t replies_sent() const { return replies_sent_; }

private:
    void send(const gen_port& port, uint16_t op, uint32_t sender_ip, const rte_ether_addr& target_mac,
              uint32_t target_ip);

    rte_mempool* pool_;
    std::unordered_map<uint32_t, rte_ether_addr> table_;
    uint64_t replies_sent_ = 0;
};

}  // namespace sf::gen
