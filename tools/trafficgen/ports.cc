#include "ports.hh"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <rte_arp.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "frames.hh"

namespace sf::gen {

namespace {

constexpr uint16_t ring_desc = 1024;

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + rte_strerror(rte_errno));
}

}  // namespace

bool gen_port::owns(uint32_t ip) const {
    return std::find(ips.begin(), ips.end(), ip) != ips.end();
}

std::pair<uint16_t, uint16_t> make_ring_cable() {
    const unsigned socket = rte_socket_id();
    rte_ring* a_to_b = rte_ring_create("sfgen_a2b", 4096, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* b_to_a = rte_ring_create("sfgen_b2a", 4096, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (a_to_b == nullptr || b_to_a == nullptr) {
        fail("ring cable: rte_ring_create");
    }
    const int a = rte_eth_from_rings("net_ring_sfgen_a", &b_to_a, 1, &a_to_b, 1, socket);
    const int b = rte_eth_from_rings("net_ring_sfgen_b", &a_to_b, 1, &b_to_a, 1, socket);
    if (a < 0 || b < 0) {
        fail("ring cable: rte_eth_from_rings");
    }
    return {static_cast<uint16_t>(a), static_cast<uint16_t>(b)};
}

void start_port(uint16_t id, rte_mempool* pool) {
    if (!rte_eth_dev_is_valid_port(id)) {
        throw std::runtime_error("port " + std::to_string(id) + " does not exist (give EAL --vdev arguments)");
    }
    rte_eth_conf conf{};
    uint16_t rxd = ring_desc, txd = ring_desc;
    if (rte_eth_dev_configure(id, 1, 1, &conf) != 0 || rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd) != 0 ||
        rte_eth_rx_queue_setup(id, 0, rxd, rte_socket_id(), nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(id, 0, txd, rte_socket_id(), nullptr) != 0 || rte_eth_dev_start(id) != 0) {
        fail("port " + std::to_string(id) + ": set-up");
    }
    rte_eth_promiscuous_enable(id);  // best effort: af_packet sees every frame anyway
}

bool arp_agent::handle(const gen_port& port, rte_mbuf* m) {
    const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) || eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
        return false;
    }
    if (rte_pktmbuf_data_len(m) >= sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
        const auto* arp = reinterpret_cast<const rte_arp_hdr*>(eth + 1);
        const uint16_t op = rte_be_to_cpu_16(arp->arp_opcode);
        const uint32_t sender = rte_be_to_cpu_32(arp->arp_data.arp_sip);
        const uint32_t target = rte_be_to_cpu_32(arp->arp_data.arp_tip);
        const rte_ether_addr sha = arp->arp_data.arp_sha;
        if (sender != 0 && !port.owns(sender)) {
            table_[sender] = sha;  // replies and requests both tell us the sender's MAC
        }
        if (op == RTE_ARP_OP_REQUEST && port.owns(target) && sender != target) {
            send(port, RTE_ARP_OP_REPLY, target, sha, sender);
            ++replies_sent_;
        }
    }
    rte_pktmbuf_free(m);
    return true;
}

void arp_agent::request(const gen_port& port, uint32_t ip) {
    if (!port.ips.empty()) {
        send(port, RTE_ARP_OP_REQUEST, port.ips.front(), rte_ether_addr{}, ip);
    }
}

void arp_agent::announce(const gen_port& port) {
    for (uint32_t ip : port.ips) {
        send(port, RTE_ARP_OP_REQUEST, ip, rte_ether_addr{}, ip);
    }
}

std::optional<rte_ether_addr> arp_agent::lookup(uint32_t ip) const {
    auto it = table_.find(ip);
    if (it == table_.end()) {
        return std::nullopt;
    }
    return it->second;
}

void arp_agent::send(const gen_port& port, uint16_t op, uint32_t sender_ip, const rte_ether_addr& target_mac,
                     uint32_t target_ip) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (m == nullptr) {
        return;  // the requester asks again
    }
    if (!fill_arp(m, op, port.mac, sender_ip, target_mac, target_ip) || rte_eth_tx_burst(port.id, 0, &m, 1) != 1) {
        rte_pktmbuf_free(m);
    }
}

}  // namespace sf::gen
