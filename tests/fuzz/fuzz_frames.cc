/// @file
/// libFuzzer target for the worker's receive path: worker_handle_burst (dataplane/lcore_loop.cc)
/// and everything it calls on a frame off the wire (Ethernet/IPv4/UDP classification, ARP,
/// ICMP echo, IPv4 reassembly, the per-source SIP limiter and the hand-off to control, the RTP
/// relay with latching and header rewrite, and the RTP header rewrite of a side that continues
/// a stream after a transfer, with the RTCP renamed to match). Every byte a peer sends reaches
/// this code first.
///
/// Real DPDK underneath: EAL without hugepages or PCI, a real mbuf pool, two net_ring ports
/// (each loops its TX queue into its RX queue, so what the worker sends is read back), a real
/// relay table, rte_ip_frag table and SIP limiter, made fresh for every input so an input always
/// does the same thing.
///
/// Input: byte 0 picks the checksum path (bit 0: TX offload flags instead of software
/// checksums). Then up to 64 records: [flags][length, 2 bytes big-endian][frame bytes]
///   flags bit 0     the port it arrives on (0 or 1)
///   flags bit 1     fix it up first: IPv4 total length from the frame, header checksum, and for
///                   an unfragmented UDP or ICMP packet the UDP length and the L4 checksum, so
///                   the fuzzer reaches the paths behind those checks
///   flags bit 2     start a new burst with this frame
///   flags bits 3-4  clock step before it: 1 us, 10 ms, 3 s (past the reassembly timeout), none
/// Frames are cut to 1514 bytes (one Ethernet frame at MTU 1500).
///
/// Checked for every input, besides ASan and UBSan:
///   - every mbuf comes back: after the bursts, the TX rings, the SIP and neighbour rings read
///     and the reassembly table expired, the pool has as many in use as before;
///   - the counters add up: frames received = drops + relayed + SIP handed over + ARP replies +
///     ARP absorbed + echo replies + fragments taken - datagrams reassembled, and TX never fails;
///   - every frame sent is one segment of at most 1514 bytes; an IPv4 one has a valid header
///     checksum and a total length that fills the frame, is UDP from a relay port or an ICMP
///     echo reply, and leaves with a bad L4 checksum no more often than such packets came in;
///     an ARP one is a reply from the port's MAC;
///   - every SIP datagram handed to control is UDP to the SIP port of the port's own address,
///     one the pool's data can hold, with its payload inside the packet;
///   - every RTCP report queued for control names a relay side that exists, and the queued
///     ones are those counted (a full ring's losses counted apart).

#include <rte_arp.h>
#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../dataplane/ref_checksum.hh"
#include "../test_eal.hh"
#include "media_side.hh"
#include "relay_table.hh"
#include "rings.hh"
#include "sip_limiter.hh"
#include "worker.hh"

namespace {

using namespace sf::dp;
using sf::dp::test::ref_ipv4_ok;
using sf::dp::test::ref_pseudo_sum;
using sf::dp::test::ref_sum;

constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

// The layout the seeds (tests/fuzz/make_frames_seeds.py) are written against.
constexpr uint32_t port0_addr = ipv4(192, 0, 2, 1);
constexpr uint32_t port0_media = ipv4(192, 0, 2, 64);  // 192.0.2.64-67 are relay addresses too
constexpr uint32_t port1_addr = ipv4(198, 51, 100, 1);
constexpr uint16_t sip_port = 5060;
constexpr uint16_t relay_min = 20000, relay_max = 29999;
constexpr uint16_t foreign_port_id = 7;  // a port this worker does not own
constexpr unsigned max_frames = 64;
constexpr uint16_t max_frame_len = RTE_ETHER_HDR_LEN + RTE_ETHER_MTU;

rte_ether_addr mac(uint8_t last) { return rte_ether_addr{{0x02, 0x00, 0x5e, 0x10, 0x00, last}}; }

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_frames: %s\n", what);
    std::abort();
}

#define CHECK(cond)                    \
    do {                               \
        if (!(cond)) {                 \
            fail("check failed: " #cond); \
        }                              \
    } while (0)

struct environment {
    rte_mempool* pool = nullptr;
    uint16_t ports[2] = {};
    uint64_t hz = 0;
    uint64_t clock = 0;  ///< advances by an hour between inputs: every limiter bucket is full again
    uint64_t tx_failed = 0;  ///< rte_eth_tx_buffer_count_callback counts in a uint64_t
    std::unique_ptr<sip_limiter> limiter;
};

environment* env = nullptr;

uint16_t start_ring_port(const char* name) {
    uint16_t id = 0;
    if (rte_vdev_init(name, nullptr) != 0 || rte_eth_dev_get_port_by_name(name, &id) != 0) {
        fail("cannot create a net_ring port");
    }
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(id, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(id, 0, 1024, 0, nullptr, env->pool) != 0 ||
        rte_eth_tx_queue_setup(id, 0, 1024, 0, nullptr) != 0 || rte_eth_dev_start(id) != 0) {
        fail("cannot start a net_ring port");
    }
    return id;
}

void init_eal() {
    if (!sf::test::init_test_eal("sf_fuzz_", {"-m", "256", "-l", "0"})) {
        std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        std::exit(1);
    }
}

// One input's world: a worker as dataplane::dataplane sets up worker 0, a relay table with one
// side for each relay path, a reassembly table.
struct world {
    std::unique_ptr<relay_table> table;
    std::unique_ptr<worker> w = std::make_unique<worker>();

    // Fixed names: each input's objects are freed before the next one makes them again.
    explicit world(bool offload) {
        table = std::make_unique<relay_table>("fz_rt", 64, 1,
                                              static_cast<int>(rte_socket_id()), 8);
        w->sip_port = sip_port;
        w->relay_min = relay_min;
        w->relay_max = relay_max;
        w->relay = table.get();
        w->tx_cksum_offload = offload;
        w->sip_in = rte_ring_create("fz_sip", 256, rte_socket_id(),
                                    RING_F_SP_ENQ | RING_F_SC_DEQ);
        w->neighbours = rte_ring_create_elem("fz_nb", sizeof(neighbour_event),
                                             256, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
        // Small: a few reports fill it, so the "ring full" path is walked too.
        w->rtcp_out = rte_ring_create_elem("fz_rtcp", sizeof(rtcp_event), 8, rte_socket_id(),
                                           RING_F_SP_ENQ | RING_F_SC_DEQ);
        w->frag_tbl = rte_ip_frag_table_create(64, 16, 256, env->hz * 2, static_cast<int>(rte_socket_id()));
        if (w->sip_in == nullptr || w->neighbours == nullptr || w->rtcp_out == nullptr || w->frag_tbl == nullptr) {
            fail("cannot create the worker's rings or reassembly table");
        }
        add_port(env->ports[0], port0_addr, port0_media, 4, mac(0x01));
        add_port(env->ports[1], port1_addr, 0, 0, mac(0x02));
        add_sides();
    }

    ~world() {
        rte_ring_free(w->sip_in);
        rte_ring_free(w->neighbours);
        rte_ring_free(w->rtcp_out);
        rte_ip_frag_table_destroy(w->frag_tbl);
        for (unsigned i = 0; i < w->n_ports; ++i) {
            rte_free(w->ports[w->port_ids[i]].tx);
        }
    }

    void add_port(uint16_t id, uint32_t addr, uint32_t media_first, uint32_t media_count, const rte_ether_addr& m) {
        worker_port& wp = w->ports[id];
        wp.used = true;
        wp.index = static_cast<uint8_t>(w->n_ports);
        wp.addr = addr;
        wp.media_first = media_first;
        wp.media_count = media_count;
        wp.mac = m;
        wp.mtu = RTE_ETHER_MTU;
        wp.tx = static_cast<rte_eth_dev_tx_buffer*>(
            rte_zmalloc("fz_txbuf", RTE_ETH_TX_BUFFER_SIZE(32), RTE_CACHE_LINE_SIZE));
        if (wp.tx == nullptr) {
            fail("cannot allocate a TX buffer");
        }
        rte_eth_tx_buffer_init(wp.tx, 32);
        rte_eth_tx_buffer_set_err_callback(wp.tx, rte_eth_tx_buffer_count_callback, &env->tx_failed);
        w->port_ids[w->n_ports++] = id;
    }

    media_side* side(uint32_t addr, uint16_t port, uint16_t port_id, uint32_t remote, uint16_t rport, uint8_t rmac) {
        media_side* s = table->make(addr, port);
        if (s == nullptr) {
            fail("relay_table::make");
        }
        s->port_id = port_id;
        s->local_mac = port_id == env->ports[1] ? mac(0x02) : mac(0x01);
        if (remote != 0) {
            set_remote(*s, pack_endpoint(remote, rport), pack_mac(mac(rmac)));
        }
        return s;
    }

    void add_sides() {
        const uint16_t p0 = env->ports[0], p1 = env->ports[1];
        // A call: 192.0.2.1:20000 (port 0) <-> 198.51.100.1:20002 (port 1), remotes from SDP.
        media_side* a = side(port0_addr, 20000, p0, ipv4(192, 0, 2, 10), 6000, 0xa0);
        media_side* b = side(port1_addr, 20002, p1, ipv4(198, 51, 100, 20), 6000, 0xb0);
        // A call on a media address whose caller has no remote yet: it latches the first source.
        media_side* c = side(port0_media + 1, 20004, p0, 0, 0, 0);
        media_side* d = side(port1_addr, 20006, p1, ipv4(198, 51, 100, 21), 7000, 0xb1);
        // A side without a peer (relay_no_target), and one whose peer is on a port the worker
        // does not own (tx_failed).
        media_side* e = side(port0_addr, 20008, p0, ipv4(192, 0, 2, 11), 6002, 0xa1);
        media_side* f = side(port0_addr, 20010, p0, ipv4(192, 0, 2, 12), 6004, 0xa2);
        media_side* g = side(port1_addr, 20012, foreign_port_id, ipv4(198, 51, 100, 22), 7002, 0xb2);
        // A transferred call with continuity: h's packets continue the stream i's remote heard
        // (armed: the first RTP packet fixes the offsets, later SSRCs and jumps re-seam).
        media_side* h = side(port0_addr, 20014, p0, ipv4(192, 0, 2, 13), 6006, 0xa3);
        media_side* i = side(port1_addr, 20016, p1, ipv4(198, 51, 100, 23), 7004, 0xb3);
        // Their reports are renamed (continuity::reports): muxed on i, and on the RTCP ports
        // above both (each finds its RTP side, port - 1, in the table).
        media_side* h_rtcp = side(port0_addr, 20015, p0, ipv4(192, 0, 2, 13), 6007, 0xa3);
        media_side* i_rtcp = side(port1_addr, 20017, p1, ipv4(198, 51, 100, 23), 7005, 0xb3);
        const stream_position heard{0xb0b0b, 65530, 0xffffff00};
        bridge(*h, i, &heard);
        bridge(*i, h, nullptr, true);
        bridge(*h_rtcp, i_rtcp, nullptr, true);
        bridge(*i_rtcp, h_rtcp, nullptr, true);
        bridge(*a, b);
        bridge(*b, a);
        bridge(*c, d);
        bridge(*d, c);
        bridge(*f, g);
        bridge(*g, f);
        for (media_side* s : {a, b, c, d, e, f, g, h, i, h_rtcp, i_rtcp}) {
            if (!table->insert(s)) {
                fail("relay_table::insert");
            }
        }
    }
};

// Lengths and checksums made right, so the fuzzer gets past the checks that guard them.
void fix_up(uint8_t* p, uint16_t len) {
    if (len < RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr)) {
        return;
    }
    auto* eth = reinterpret_cast<rte_ether_hdr*>(p);
    if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
        return;
    }
    auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
    ip->version_ihl = static_cast<uint8_t>(0x40 | (ip->version_ihl & 0x0f));
    uint16_t ihl = rte_ipv4_hdr_len(ip);
    if (ihl < sizeof(rte_ipv4_hdr) || RTE_ETHER_HDR_LEN + ihl > len) {
        ip->version_ihl = 0x45;
        ihl = sizeof(rte_ipv4_hdr);
    }
    const auto total = static_cast<uint16_t>(len - RTE_ETHER_HDR_LEN);
    ip->total_length = rte_cpu_to_be_16(total);
    ip->hdr_checksum = 0;
    ip->hdr_checksum = static_cast<uint16_t>(~ref_sum(ip, ihl));
    const bool fragment = (rte_be_to_cpu_16(ip->fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0;
    uint8_t* l4 = reinterpret_cast<uint8_t*>(ip) + ihl;
    const auto l4_len = static_cast<uint16_t>(total - ihl);
    if (fragment) {
        return;
    }
    if (ip->next_proto_id == IPPROTO_UDP && l4_len >= sizeof(rte_udp_hdr)) {
        auto* udp = reinterpret_cast<rte_udp_hdr*>(l4);
        udp->dgram_len = rte_cpu_to_be_16(l4_len);
        if (udp->dgram_cksum != 0) {  // zero: "no checksum", a case of its own
            udp->dgram_cksum = 0;
            const auto c = static_cast<uint16_t>(~ref_sum(udp, l4_len, ref_pseudo_sum(ip, l4_len)));
            udp->dgram_cksum = c == 0 ? 0xffff : c;
        }
    } else if (ip->next_proto_id == IPPROTO_ICMP && l4_len >= sizeof(rte_icmp_hdr)) {
        auto* icmp = reinterpret_cast<rte_icmp_hdr*>(l4);
        icmp->icmp_cksum = 0;
        icmp->icmp_cksum = static_cast<uint16_t>(~ref_sum(icmp, l4_len));
    }
}

// Whether an unfragmented IPv4 UDP (non-zero checksum) or ICMP frame carries a bad L4 checksum:
// the relay and the echo reply update checksums incrementally, so they keep a bad one bad and
// must never make one bad.
bool bad_l4_checksum(const uint8_t* p, uint16_t len) {
    if (len < RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr)) {
        return false;
    }
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(p + RTE_ETHER_HDR_LEN);
    const uint16_t ihl = rte_ipv4_hdr_len(ip);
    const uint16_t total = rte_be_to_cpu_16(ip->total_length);
    if (ihl < sizeof(rte_ipv4_hdr) || total < ihl || RTE_ETHER_HDR_LEN + total > len) {
        return false;
    }
    const uint8_t* l4 = reinterpret_cast<const uint8_t*>(ip) + ihl;
    const auto l4_len = static_cast<uint16_t>(total - ihl);
    if (ip->next_proto_id == IPPROTO_UDP && l4_len >= sizeof(rte_udp_hdr)) {
        const auto* udp = reinterpret_cast<const rte_udp_hdr*>(l4);
        const uint16_t ulen = rte_be_to_cpu_16(udp->dgram_len);
        if (udp->dgram_cksum == 0 || ulen < sizeof(rte_udp_hdr) || ulen > l4_len) {
            return false;
        }
        return ref_sum(udp, ulen, ref_pseudo_sum(ip, ulen)) != 0xffff;
    }
    if (ip->next_proto_id == IPPROTO_ICMP && l4_len >= sizeof(rte_icmp_hdr)) {
        return ref_sum(l4, l4_len) != 0xffff;
    }
    return false;
}

// Checks one frame the worker sent on port `id` (the world's port `index`).
void check_sent(const world& wd, unsigned index, rte_mbuf* m, bool offload, unsigned& bad_l4_out) {
    CHECK(m->nb_segs == 1);
    const uint16_t len = rte_pktmbuf_data_len(m);
    CHECK(len <= max_frame_len && len >= RTE_ETHER_HDR_LEN);
    const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
    const auto* eth = reinterpret_cast<const rte_ether_hdr*>(p);
    const rte_ether_addr port_mac = index == 0 ? mac(0x01) : mac(0x02);
    CHECK(rte_is_same_ether_addr(&eth->src_addr, &port_mac));
    if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
        CHECK(len >= RTE_ETHER_HDR_LEN + sizeof(rte_arp_hdr));
        const auto* arp = reinterpret_cast<const rte_arp_hdr*>(eth + 1);
        CHECK(arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
        CHECK(rte_is_same_ether_addr(&arp->arp_data.arp_sha, &port_mac));
        CHECK(wd.w->ports[env->ports[index]].owns(rte_be_to_cpu_32(arp->arp_data.arp_sip)));
        return;
    }
    CHECK(eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
    CHECK(len >= RTE_ETHER_HDR_LEN + sizeof(rte_ipv4_hdr));
    const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(eth + 1);
    const uint16_t ihl = rte_ipv4_hdr_len(ip);
    CHECK(RTE_ETHER_HDR_LEN + rte_be_to_cpu_16(ip->total_length) == len);
    if (ip->next_proto_id == IPPROTO_UDP) {
        const auto* udp = reinterpret_cast<const rte_udp_hdr*>(reinterpret_cast<const uint8_t*>(ip) + ihl);
        CHECK(rte_be_to_cpu_16(udp->src_port) >= relay_min && rte_be_to_cpu_16(udp->src_port) <= relay_max);
        if (offload) {
            // The device would fill in both: the worker leaves the IPv4 checksum zero and the
            // pseudo-header sum in the UDP one, with the flags that ask for it.
            CHECK(ip->hdr_checksum == 0);
            CHECK(m->ol_flags & RTE_MBUF_F_TX_IP_CKSUM);
            CHECK(m->l2_len == RTE_ETHER_HDR_LEN && m->l3_len == ihl);
            return;
        }
    } else {
        CHECK(ip->next_proto_id == IPPROTO_ICMP);
        const auto* icmp = reinterpret_cast<const rte_icmp_hdr*>(reinterpret_cast<const uint8_t*>(ip) + ihl);
        CHECK(icmp->icmp_type == RTE_IP_ICMP_ECHO_REPLY);
    }
    CHECK(ref_ipv4_ok(ip));
    bad_l4_out += bad_l4_checksum(p, len) ? 1 : 0;
}

uint64_t counted_outcomes(const worker_stats& s) {
    uint64_t n = s.relayed.load() + s.sip_in.load() + s.arp_replies.load() + s.arp_absorbed.load() +
                 s.icmp_replies.load() + s.fragments_in.load() - s.reassembled.load();
    for (const auto& d : s.drops) {
        n += d.load();
    }
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    env = new environment;
    init_eal();
    env->hz = rte_get_tsc_hz();
    env->pool = rte_pktmbuf_pool_create("fz_pool", 4095, 0, packet_meta_priv_size, RTE_MBUF_DEFAULT_BUF_SIZE,
                                        static_cast<int>(rte_socket_id()));
    if (env->pool == nullptr) {
        fail("cannot create the mbuf pool");
    }
    env->ports[0] = start_ring_port("net_ring_fz0");
    env->ports[1] = start_ring_port("net_ring_fz1");
    // 50 messages a second, bursts of 4, 8 sources: small enough for inputs to reach the limit
    // and the replacement of sources.
    env->limiter = std::make_unique<sip_limiter>("fz_sipl", 50, 4, 8, env->hz, static_cast<int>(rte_socket_id()));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) {
        return 0;
    }
    env->clock += 3600 * env->hz;
    env->tx_failed = 0;
    const bool offload = data[0] & 1;
    const unsigned pool_in_use = rte_mempool_in_use_count(env->pool);
    unsigned bad_l4_in = 0;
    unsigned bad_l4_out = 0;
    {
        world wd(offload);
        wd.w->sip_limit.reset(env->limiter.release());
        size_t at = 1;
        rte_mbuf* burst[max_frames];
        unsigned n = 0;
        unsigned frames = 0;
        uint16_t burst_port = 0;
        auto flush_burst = [&] {
            if (n != 0) {
                worker_handle_burst(*wd.w, env->ports[burst_port], burst, n, env->clock);
                n = 0;
            }
        };
        while (at + 3 <= size && frames < max_frames) {
            const uint8_t flags = data[at];
            auto len = static_cast<uint16_t>((data[at + 1] << 8) | data[at + 2]);
            at += 3;
            len = static_cast<uint16_t>(std::min<size_t>({len, size - at, max_frame_len}));
            const uint16_t port = flags & 1;
            if ((flags & 4) || port != burst_port || n == 32) {
                flush_burst();
            }
            burst_port = port;
            static constexpr uint64_t steps_us[4] = {1, 10'000, 3'000'000, 0};
            env->clock += steps_us[(flags >> 3) & 3] * env->hz / 1'000'000;
            rte_mbuf* m = rte_pktmbuf_alloc(env->pool);
            CHECK(m != nullptr);
            auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, len));
            CHECK(p != nullptr || len == 0);
            if (len != 0) {
                std::memcpy(p, data + at, len);
            }
            at += len;
            if (flags & 2) {
                fix_up(p, len);
            }
            bad_l4_in += bad_l4_checksum(p, len) ? 1 : 0;
            burst[n++] = m;
            ++frames;
        }
        flush_burst();
        for (unsigned i = 0; i < wd.w->n_ports; ++i) {
            const uint16_t id = wd.w->port_ids[i];
            rte_eth_tx_buffer_flush(id, 0, wd.w->ports[id].tx);
        }
        CHECK(env->tx_failed == 0);

        // What went out on either port.
        uint64_t sent = 0;
        for (unsigned i = 0; i < 2; ++i) {
            rte_mbuf* out[64];
            uint16_t got;
            unsigned bounded = 0;
            while ((got = rte_eth_rx_burst(env->ports[i], 0, out, 64)) != 0 && bounded++ < 64) {
                for (uint16_t k = 0; k < got; ++k) {
                    check_sent(wd, i, out[k], offload, bad_l4_out);
                }
                sent += got;
                rte_pktmbuf_free_bulk(out, got);
            }
        }
        const worker_stats& st = wd.w->stats;
        CHECK(sent == st.tx_packets[0].load() + st.tx_packets[1].load());
        CHECK(sent == st.relayed.load() + st.arp_replies.load() + st.icmp_replies.load());
        CHECK(bad_l4_out <= bad_l4_in);
        CHECK(st.rx_packets[0].load() + st.rx_packets[1].load() == frames);
        CHECK(counted_outcomes(st) == frames);

        // What went to control.
        rte_mbuf* m = nullptr;
        unsigned handed = 0;
        while (rte_ring_dequeue(wd.w->sip_in, reinterpret_cast<void**>(&m)) == 0) {
            const packet_meta* meta = meta_of(m);
            CHECK(meta->kind == meta_kind::sip_in);
            CHECK(meta->dst_port == sip_port);
            CHECK(meta->port_id == env->ports[0] || meta->port_id == env->ports[1]);
            CHECK(meta->dst_addr == wd.w->ports[meta->port_id].addr);
            CHECK(uint32_t{meta->payload_off} + meta->payload_len <= rte_pktmbuf_pkt_len(m));
            static uint8_t copy[65536];
            CHECK(rte_pktmbuf_read(m, meta->payload_off, meta->payload_len, copy) != nullptr);
            rte_pktmbuf_free(m);
            ++handed;
        }
        CHECK(handed == st.sip_in.load());
        neighbour_event ev;
        while (rte_ring_dequeue_elem(wd.w->neighbours, &ev, sizeof(ev)) == 0) {
            CHECK(ev.addr != 0);
        }
        // RTCP reports: each from a relay side that exists, at most the packets that reached
        // sides; the queued ones and the lost ones are the ones read.
        rtcp_event rep;
        uint64_t reports = 0;
        while (rte_ring_dequeue_elem(wd.w->rtcp_out, &rep, sizeof(rep)) == 0) {
            CHECK(wd.table->find(rep.addr, rep.port) != nullptr);
            ++reports;
        }
        CHECK(reports == st.rtcp_reports.load());
        CHECK(st.rtcp_reports.load() + st.rtcp_reports_lost.load() <= frames);

        // Fragments still waiting for the rest: expired and freed, as the idle worker does.
        for (unsigned i = 0; i < 64; ++i) {
            rte_ip_frag_table_del_expired_entries(wd.w->frag_tbl, &wd.w->death_row, env->clock + 10 * env->hz);
            rte_ip_frag_free_death_row(&wd.w->death_row, 0);
        }
        env->limiter.reset(wd.w->sip_limit.release());
    }
    CHECK(rte_mempool_in_use_count(env->pool) == pool_in_use);
    return 0;
}
