// packet_socket_drops on a real AF_PACKET socket: a TPACKET_V2 RX ring of 4 frames bound to the
// loopback interface, never read, with UDP datagrams sent to 127.0.0.1 (loopback only): the
// kernel drops what does not fit, and the count must come out of PACKET_STATISTICS, add up
// across reads (the kernel resets it on each), and include no other interface's socket.

#include "packet_socket_drops.hh"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

using sf::dp::af_packet_iface;
using sf::dp::packet_socket_drops;

namespace {

// An AF_PACKET socket with a 4-frame RX ring on `ifname`; -1 without CAP_NET_RAW.
int ring_socket(const char* ifname) {
    const int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) {
        return -1;
    }
    const int v2 = TPACKET_V2;
    tpacket_req req{};
    req.tp_block_size = 4096;
    req.tp_block_nr = 2;
    req.tp_frame_size = 2048;
    req.tp_frame_nr = 4;
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2)) != 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) != 0 ||
        bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// `n` UDP datagrams to the discard port on 127.0.0.1: each crosses lo (where the ring sees it).
void send_on_loopback(unsigned n) {
    const int u = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(u, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const char payload[64] = {};
    for (unsigned i = 0; i < n; ++i) {
        sendto(u, payload, sizeof(payload), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
    }
    close(u);
}

}  // namespace

TEST(packet_socket_drops, counts_what_a_full_ring_dropped_and_keeps_the_total) {
    const int fd = ring_socket("lo");
    if (fd < 0) {
        GTEST_SKIP() << "no AF_PACKET socket (needs CAP_NET_RAW)";
    }
    packet_socket_drops drops("lo");
    ASSERT_NE(drops.ifindex(), 0u);
    const uint64_t start = drops.total();  // whatever the ring dropped while it was set up
    send_on_loopback(200);
    // 200 datagrams seen on lo (each at least once), 4 ring frames, nobody reading: at least
    // 196 dropped.
    const uint64_t first = drops.total();
    EXPECT_GE(first - start, 196u);
    // The kernel reset its count on that read; the total must not go back.
    EXPECT_EQ(drops.total(), first);
    send_on_loopback(100);
    EXPECT_GE(drops.total(), first + 100);
    close(fd);
}

TEST(packet_socket_drops, an_unknown_interface_counts_nothing) {
    const int fd = ring_socket("lo");
    if (fd < 0) {
        GTEST_SKIP() << "no AF_PACKET socket (needs CAP_NET_RAW)";
    }
    packet_socket_drops elsewhere("no-such-if0");
    EXPECT_EQ(elsewhere.ifindex(), 0u);
    send_on_loopback(50);
    EXPECT_EQ(elsewhere.total(), 0u);
    close(fd);
}

TEST(af_packet_iface, names_the_iface_devarg_of_af_packet_devices_only) {
    EXPECT_EQ(af_packet_iface("net_af_packet0,iface=acc,qpairs=1,blocksz=16384"), "acc");
    EXPECT_EQ(af_packet_iface("net_af_packet1,qpairs=1,iface=core"), "core");
    EXPECT_EQ(af_packet_iface("net_af_packet0"), "");
    EXPECT_EQ(af_packet_iface("net_memif0,role=server,iface=x"), "");
    EXPECT_EQ(af_packet_iface("0000:03:00.0"), "");
}
