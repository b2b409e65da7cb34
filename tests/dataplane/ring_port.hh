#pragma once
/// @file
/// A net_ring ethdev for dataplane tests: N queue pairs over rings the test owns
/// (rte_eth_from_rings), so the test plays the NIC by filling the RX rings and reads what was
/// sent from the TX rings. Needs the net_ring driver's library (rte_net_ring) at link time.

#include <gtest/gtest.h>

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include <string>

namespace sf::dp::test {

template <unsigned N>
struct ring_port {
    uint16_t id = 0;
    rte_ring* rx[N] = {};
    rte_ring* tx[N] = {};
    rte_ether_addr mac{};
};

/// Makes the rings (`rx_depth`, `tx_depth` slots per queue), the port over them, configures
/// `descs` descriptors per queue from `pool` and starts it. Fails the test on any error.
template <unsigned N>
void make_ring_port(const std::string& name, ring_port<N>& p, unsigned rx_depth, unsigned tx_depth, uint16_t descs,
                    rte_mempool* pool) {
    for (unsigned q = 0; q < N; ++q) {
        p.rx[q] = rte_ring_create((name + "_rx" + std::to_string(q)).c_str(), rx_depth, rte_socket_id(),
                                  RING_F_SP_ENQ | RING_F_SC_DEQ);
        p.tx[q] = rte_ring_create((name + "_tx" + std::to_string(q)).c_str(), tx_depth, rte_socket_id(),
                                  RING_F_SP_ENQ | RING_F_SC_DEQ);
        ASSERT_NE(p.rx[q], nullptr);
        ASSERT_NE(p.tx[q], nullptr);
    }
    const int id = rte_eth_from_rings(name.c_str(), p.rx, N, p.tx, N, rte_socket_id());
    ASSERT_GE(id, 0) << "rte_eth_from_rings: " << rte_strerror(rte_errno);
    p.id = static_cast<uint16_t>(id);
    rte_eth_conf conf{};
    ASSERT_EQ(rte_eth_dev_configure(p.id, N, N, &conf), 0);
    for (uint16_t q = 0; q < N; ++q) {
        ASSERT_EQ(rte_eth_rx_queue_setup(p.id, q, descs, 0, nullptr, pool), 0);
        ASSERT_EQ(rte_eth_tx_queue_setup(p.id, q, descs, 0, nullptr), 0);
    }
    ASSERT_EQ(rte_eth_dev_start(p.id), 0);
    ASSERT_EQ(rte_eth_macaddr_get(p.id, &p.mac), 0);
}

}  // namespace sf::dp::test
