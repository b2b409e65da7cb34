#pragma once
/// @file
/// SIP over the dataplane: turns the B2BUA's messages (mbuf chains, sip_wire) into
/// Ethernet frames for a worker to send without copying their bytes, and keeps the neighbour table (IPv4 -> MAC per realm) that
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
#include "packet.hh"
#include "sip_types.hh"
#include "timer_queue.hh"

namespace sf::control {

class hep_exporter;

struct transport_stats {
    uint64_t sent = 0;
    uint64_t sent_in_place = 0;         ///< headers written into the message's own headroom (nobody else held it)
    uint64_t sent_cloned = 0;           ///< a header mbuf chained to an indirect clone (the message is kept)
    uint64_t linearized = 0;            ///< frames copied into one mbuf for a port without chained TX
    uint64_t queued_for_arp = 0;
    uint64_t dropped_no_neighbour = 0;  ///< ARP never answered
    uint64_t dropped_too_big = 0;       ///< larger than a UDP datagram can be
    uint64_t fragmented = 0;            ///< sent as IP fragments (larger than the port MTU)
    uint64_t dropped_no_route = 0;
    uint64_t dropped_no_mbuf = 0;       ///< no header/clone mbuf, or the frame ring was full
    uint64_t dropped_unbuilt = 0;       ///< an empty handle: its build ran out of message mbufs
    uint64_t arp_requests = 0;
    uint64_t arp_announced = 0;         ///< gratuitous ARPs sent (announce())
    uint64_t neighbours_learnt = 0;
};

/// Where frames get their extra mbufs.
struct frame_pools {
    rte_mempool* headers = nullptr;  ///< direct mbufs with the packet_meta area (frame heads)
    rte_mempool* clones = nullptr;   ///< indirect mbufs (data room 0)
};

/// How a message left (or why not).
enum class frame_outcome : uint8_t { in_place, cloned, fragmented, no_mbuf, too_big };

/// Builds the Ethernet frames that carry `msg` over `route` on a port of `mtu` (IP MTU):
/// - one frame when it fits: a message nobody else holds (msg.unique()) takes its headers in
///   its own headroom; otherwise a header mbuf leads an indirect clone (rte_pktmbuf_clone),
///   so a retransmission sends the same bytes again without copying them;
/// - IPv4 fragments (rte_ipv4_fragment_packet: each a header mbuf and indirect pieces of
///   the message) when it does not fit;
/// - frames of several segments are copied into one mbuf when `multi_seg` is false.
/// Returns the frame count put in `out` (0 on failure, nothing kept; `outcome` says why).
/// `linearized` counts frames copied for want of chained TX.
unsigned build_sip_frames(sip_wire msg, const dp::udp_route& route, uint16_t mtu, uint16_t ip_id, bool multi_seg,
                          const frame_pools& pools, rte_mbuf** out, unsigned max_out, frame_outcome& outcome,
                          uint64_t& linearized);

/// The realms of the dataplane's ports, in port order (realm i is port i).
std::vector<realm_info> realms_of(const dp::dataplane& dp);

class sip_transport {
public:
    sip_transport(dp::dataplane& dp, std::vector<realm_info> realms, uint16_t sip_port);

    /// Sends `msg` from our address on `realm` to `to`; waits (bounded) for ARP if needed.
    /// The handle is kept (shared) while it waits; an empty handle is counted, not sent.
    void send(unsigned realm, sip_addr to, sip_wire msg);
    /// Records addr -> mac on the realm of DPDK port `port_id`; flushes datagrams waiting for it.
    void learn_on_port(uint16_t port_id, uint32_t addr, const rte_ether_addr& mac);
    /// Next-hop MAC towards `addr` on `realm` (the gateway's when not on-link).
    std::optional<rte_ether_addr> next_hop_mac(unsigned realm, uint32_t addr) const;
    /// Announces every address of every port, its own and its media addresses, by gratuitous
    /// ARP: so switches and the neighbours' ARP caches point at this box after a start, a move
    /// of the addresses or a replaced NIC. Twice, 2 s apart (as RFC 5227 2.3 announces), at most
    /// announce_per_tick frames per tick() (a port may have 1024 media addresses; the frame ring
    /// and the SIP traffic sharing it come first). Returns the frames of the first round; a call
    /// while a round is under way starts over.
    size_t announce(ms_t now);
    /// Sends an ARP request for the next hop towards `addr` on `realm` (media next hops the
    /// neighbour table lacks); nothing when it is unroutable.
    void resolve(unsigned realm, uint32_t addr);
    /// Re-sends ARP requests for waiting datagrams and drops those waiting too long.
    void tick(ms_t now);

    /// Where a copy of every message that leaves goes ([hep]); nullptr: nowhere.
    void set_hep(hep_exporter* hep) { hep_ = hep; }

    const transport_stats& stats() const { return stats_; }
    size_t neighbours() const { return table_.size(); }
    /// The realm of DPDK port `port_id`, or -1.
    int realm_of_port(uint16_t port_id) const;

private:
    struct pending {
        unsigned realm;
        sip_addr to;
        uint32_t next_hop;
        sip_wire msg;
        ms_t since;
    };
    uint32_t next_hop(unsigned realm, uint32_t addr) const;
    void transmit(unsigned realm, sip_addr to, const rte_ether_addr& mac, sip_wire msg);
    /// False when no mbuf or no room in the frame ring (counted in dropped_no_mbuf).
    bool send_arp_request(unsigned realm, uint32_t sender, uint32_t target);
    /// Fills announcing_ with every address of every realm.
    void queue_announcements();
    /// Sends what the announcement round still owes, up to announce_per_tick frames, and
    /// starts the second round when it is due.
    void announce_some(ms_t now);
    static uint64_t key(unsigned realm, uint32_t addr) { return (uint64_t{realm} << 32) | addr; }

    dp::dataplane& dp_;
    std::vector<realm_info> realms_;
    uint16_t sip_port_;
    std::unordered_map<uint64_t, rte_ether_addr> table_;
    std::deque<pending> pending_;
    ms_t last_arp_ = 0;
    ms_t last_retry_ = 0;
    /// (realm, address) still to announce in this round, in order.
    std::deque<std::pair<unsigned, uint32_t>> announcing_;
    ms_t announce_again_at_ = 0;  ///< when the second round starts (0: not scheduled)
    bool second_round_due_ = false;  ///< the round under way is the first
    uint16_t ip_id_ = 0;  ///< IPv4 identification of fragmented datagrams
    hep_exporter* hep_ = nullptr;
    transport_stats stats_;
};

}  // namespace sf::control
