#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_icmp.h>
#include <rte_ip_frag.h>
#include <rte_ip.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_udp.h>

#include "packet.hh"
#include "relay.hh"
#include "rings.hh"
#include "worker.hh"

namespace sf::dp {

namespace {

inline void drop(worker& w, rte_mbuf* m, drop_reason r) {
    bump(w.stats.drops[static_cast<unsigned>(r)]);
    rte_pktmbuf_free(m);
}

// A TX buffer that filled while a burst was handled goes to the driver at once (a whole burst,
// as rte_eth_tx_buffer would send it); its cycles are the driver's, kept out of the handling
// cycles (stats.hh). Out of line: once per whole TX burst.
__attribute__((noinline)) void send_full_buffer(worker& w, uint16_t port_id, rte_eth_dev_tx_buffer* tx) {
    const uint64_t start = rte_rdtsc();
    rte_eth_tx_buffer_flush(port_id, w.queue, tx);
    w.tx_cycles_in_handling += rte_rdtsc() - start;
}

// rte_eth_tx_buffer's own test and store, with the full buffer's send timed apart.
inline void send(worker& w, uint16_t port_id, rte_mbuf* m) {
    worker_port& wp = w.ports[port_id];
    bump(w.stats.tx_packets[wp.index]);
    rte_eth_dev_tx_buffer* tx = wp.tx;
    tx->pkts[tx->length++] = m;
    if (unlikely(tx->length >= tx->size)) {
        send_full_buffer(w, port_id, tx);
    }
}

void tell_neighbour(worker& w, uint16_t port_id, const rte_arp_hdr* arp) {
    neighbour_event ev{};
    ev.addr = rte_be_to_cpu_32(arp->arp_data.arp_sip);
    ev.port_id = port_id;
    memcpy(ev.mac, arp->arp_data.arp_sha.addr_bytes, RTE_ETHER_ADDR_LEN);
    // A full ring only delays learning: the peer ARPs again, or its next packet latches.
    rte_ring_enqueue_elem(w.neighbours, &ev, sizeof(ev));
}

void handle_arp(worker& w, uint16_t port_id, rte_mbuf* m, rte_ether_hdr* eth) {
    const worker_port& wp = w.ports[port_id];
    if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
        return drop(w, m, drop_reason::arp_other);
    }
    auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
    if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
        arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
        arp->arp_plen != 4) {
        return drop(w, m, drop_reason::arp_other);
    }
    const uint16_t op = rte_be_to_cpu_16(arp->arp_opcode);
    const uint32_t target = rte_be_to_cpu_32(arp->arp_data.arp_tip);
    const uint32_t sender = rte_be_to_cpu_32(arp->arp_data.arp_sip);
    // Learn from requests for us, replies and gratuitous ARPs of our subnet.
    if (sender != 0 && !wp.owns(sender) && (wp.owns(target) || op == RTE_ARP_OP_REPLY || sender == target)) {
        tell_neighbour(w, port_id, arp);
    }
    if (op == RTE_ARP_OP_REQUEST && wp.owns(target) && sender != target) {
        make_arp_reply(eth, arp, wp.mac);
        bump(w.stats.arp_replies);
        return send(w, port_id, m);
    }
    if (op == RTE_ARP_OP_REQUEST && sender != target) {
        return drop(w, m, drop_reason::arp_other);  // asks for someone else
    }
    bump(w.stats.arp_absorbed);
    rte_pktmbuf_free(m);  // replies and gratuitous ARPs: learnt above, nothing to answer
}

// Relays the collected packets and sends or frees each.
// The burst's RTCP reports, stamped with its clock, to the control plane. Out of line: most
// bursts carry none, and the relay loop's code stays as small as it was.
__attribute__((noinline, cold)) void hand_rtcp(worker& w, unsigned n, uint64_t now_tsc) {
    for (unsigned i = 0; i < n; ++i) {
        w.rtcp.events[i].tsc = now_tsc;
    }
    // Reports only: a full ring loses them, the packets were relayed all the same.
    const unsigned queued = rte_ring_sp_enqueue_burst_elem(w.rtcp_out, w.rtcp.events, sizeof(rtcp_event), n, nullptr);
    bump(w.stats.rtcp_reports, queued);
    if (queued != n) {
        bump(w.stats.rtcp_reports_lost, n - queued);
    }
}

void flush_relay(worker& w, rte_mbuf** relay_pkts, const media_side* const* relay_slots, unsigned n_relay,
                 uint64_t now_tsc) {
    uint16_t egress[64];
    const relay_burst_result r = relay_burst(*w.relay, relay_pkts, n_relay, egress, w.tx_cksum_offload,
                                             w.rtcp_out != nullptr ? &w.rtcp : nullptr, relay_slots);
    if (unlikely(r.rtcp_reports != 0)) {
        hand_rtcp(w, r.rtcp_reports, now_tsc);
    }
    if (r.miss) {
        bump(w.stats.drops[static_cast<unsigned>(drop_reason::relay_miss)], r.miss);
    }
    if (r.no_target) {
        bump(w.stats.drops[static_cast<unsigned>(drop_reason::relay_no_target)], r.no_target);
    }
    uint64_t relayed = 0;
    for (unsigned i = 0; i < n_relay; ++i) {
        if (egress[i] == relay_drop) {
            rte_pktmbuf_free(relay_pkts[i]);
        } else if (egress[i] >= RTE_MAX_ETHPORTS || !w.ports[egress[i]].used) {
            drop(w, relay_pkts[i], drop_reason::tx_failed);  // a side on a port this worker does not own
        } else {
            send(w, egress[i], relay_pkts[i]);
            ++relayed;
        }
    }
    bump(w.stats.relayed, relayed);
}

}  // namespace

void worker_handle_burst(worker& w, uint16_t port_id, rte_mbuf** pkts, unsigned n, uint64_t now_tsc) {
    rte_mbuf* relay_pkts[64];
    const media_side* relay_slots[64];  // where each relayed packet's side is, prefetched
    unsigned n_relay = 0;
    const worker_port& wp = w.ports[port_id];
    bump(w.stats.rx_packets[wp.index], n);

    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (i + 3 < n) {
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 3], void*));
        }
        if (m->nb_segs != 1) {
            drop(w, m, drop_reason::multi_segment);
            continue;
        }
        const uint32_t len = rte_pktmbuf_data_len(m);
        if (len < sizeof(rte_ether_hdr)) {
            drop(w, m, drop_reason::ethertype);
            continue;
        }
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
            handle_arp(w, port_id, m, eth);
            continue;
        }
        if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
            drop(w, m, drop_reason::ethertype);
            continue;
        }
        if (len < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) {
            drop(w, m, drop_reason::ip_malformed);
            continue;
        }
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
        uint32_t ihl = rte_ipv4_hdr_len(ip);
        uint32_t total = rte_be_to_cpu_16(ip->total_length);
        if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(rte_ipv4_hdr) || total < ihl ||
            total > len - sizeof(rte_ether_hdr)) {
            drop(w, m, drop_reason::ip_malformed);
            continue;
        }
        const uint32_t dst_addr = rte_be_to_cpu_32(ip->dst_addr);
        if (!wp.owns(dst_addr)) {
            drop(w, m, drop_reason::not_for_us);
            continue;
        }
        // Ethernet pads short frames: the IP total length is the truth.
        rte_pktmbuf_trim(m, static_cast<uint16_t>(len - sizeof(rte_ether_hdr) - total));
        if (rte_ipv4_frag_pkt_is_fragmented(ip)) {
            // A large SIP message (INVITE with a big SDP, many Vias) arrives in pieces. The
            // reassembly table holds them (bounded, with a timeout) until the datagram is whole.
            if (w.frag_tbl == nullptr) {
                drop(w, m, drop_reason::ip_fragment);
                continue;
            }
            bump(w.stats.fragments_in);
            m->l2_len = sizeof(rte_ether_hdr);
            m->l3_len = static_cast<uint16_t>(ihl);
            m = rte_ipv4_frag_reassemble_packet(w.frag_tbl, &w.death_row, m, now_tsc, ip);
            if (m == nullptr) {
                continue;  // kept until the other fragments come (or freed by the death row)
            }
            bump(w.stats.reassembled);
            eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
            ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
            ihl = rte_ipv4_hdr_len(ip);
            total = rte_be_to_cpu_16(ip->total_length);
            if (rte_pktmbuf_data_len(m) < sizeof(rte_ether_hdr) + ihl + sizeof(rte_udp_hdr)) {
                drop(w, m, drop_reason::ip_fragment);  // headers must sit in the first fragment
                continue;
            }
            // Only SIP is expected in pieces, and only here is it asked (no branch on the
            // unfragmented path): RTP never comes fragmented, and an echo reply to a reassembled
            // ping would leave as one chained frame larger than the MTU (found by fuzz_frames).
            const auto* whole_udp = reinterpret_cast<const rte_udp_hdr*>(reinterpret_cast<const uint8_t*>(ip) + ihl);
            if (ip->next_proto_id != IPPROTO_UDP || rte_be_to_cpu_16(whole_udp->dst_port) != w.sip_port) {
                drop(w, m, drop_reason::ip_fragment);
                continue;
            }
        }
        if (ip->next_proto_id == IPPROTO_ICMP) {
            auto* icmp = reinterpret_cast<rte_icmp_hdr*>(reinterpret_cast<uint8_t*>(ip) + ihl);
            // total > mtu: a ping the kernel reassembled for an af_packet port (PACKET_FANOUT_FLAG_DEFRAG);
            // its reply could not leave in one frame.
            if (total < ihl + sizeof(rte_icmp_hdr) || total > wp.mtu || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST ||
                icmp->icmp_code != 0) {
                drop(w, m, drop_reason::icmp_other);
                continue;
            }
            make_icmp_echo_reply(eth, ip, wp.mac);
            bump(w.stats.icmp_replies);
            send(w, port_id, m);
            continue;
        }
        if (ip->next_proto_id != IPPROTO_UDP) {
            drop(w, m, drop_reason::ip_proto);
            continue;
        }
        auto* udp = reinterpret_cast<rte_udp_hdr*>(reinterpret_cast<uint8_t*>(ip) + ihl);
        const uint32_t udp_len = rte_be_to_cpu_16(udp->dgram_len);
        if (total < ihl + sizeof(rte_udp_hdr) || udp_len < sizeof(rte_udp_hdr) || udp_len > total - ihl) {
            drop(w, m, drop_reason::udp_malformed);
            continue;
        }
        const uint16_t dport = rte_be_to_cpu_16(udp->dst_port);
        if (dport >= w.relay_min && dport <= w.relay_max) {
            // Its side's line (at a million entries a cache miss) is asked for now: the rest of
            // the burst's classification overlaps the miss (relay.hh, `located`).
            relay_slots[n_relay] = w.relay->locate(dst_addr, dport);
            rte_prefetch0(relay_slots[n_relay]);
            relay_pkts[n_relay++] = m;
            if (n_relay == 64) {
                flush_relay(w, relay_pkts, relay_slots, n_relay, now_tsc);
                n_relay = 0;
            }
            continue;
        }
        if (dport != w.sip_port || dst_addr != wp.addr) {
            drop(w, m, drop_reason::udp_port);  // SIP is served on the port's own address only
            continue;
        }
        // SIP only (RTP took the branch above): per-source rate limit before the control ring,
        // once per datagram (fragments were reassembled above).
        const uint32_t src_addr = rte_be_to_cpu_32(ip->src_addr);
        if (w.sip_limit != nullptr) {
            const bool ok = w.sip_limit->allow(src_addr, now_tsc);
            w.stats.sip_sources.store(w.sip_limit->tracked(), std::memory_order_relaxed);
            if (!ok) {
                drop(w, m, drop_reason::sip_rate_limited);
                continue;
            }
        }
        packet_meta* meta = meta_of(m);
        meta->kind = meta_kind::sip_in;
        meta->port_id = port_id;
        meta->src_addr = src_addr;
        meta->dst_addr = wp.addr;
        meta->src_port = rte_be_to_cpu_16(udp->src_port);
        meta->dst_port = dport;
        meta->payload_off = static_cast<uint16_t>(sizeof(rte_ether_hdr) + ihl + sizeof(rte_udp_hdr));
        meta->payload_len = static_cast<uint16_t>(udp_len - sizeof(rte_udp_hdr));
        rte_ether_addr_copy(&eth->src_addr, &meta->src_mac);
        if (rte_ring_sp_enqueue(w.sip_in, m) != 0) {
            drop(w, m, drop_reason::sip_ring_full);
            continue;
        }
        bump(w.stats.sip_in);
    }

    if (n_relay != 0) {
        flush_relay(w, relay_pkts, relay_slots, n_relay, now_tsc);
    }
    if (w.frag_tbl != nullptr) {
        rte_ip_frag_free_death_row(&w.death_row, 3);
    }
}

namespace {

// Frames the control thread built (SIP out, ARP requests): send as they are.
unsigned drain_frames_out(worker& w) {
    if (w.frames_out == nullptr) {
        return 0;
    }
    rte_mbuf* frames[64];
    const unsigned n = rte_ring_sc_dequeue_burst(w.frames_out, reinterpret_cast<void**>(frames), 64, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        const uint16_t port_id = meta_of(frames[i])->port_id;
        if (port_id >= RTE_MAX_ETHPORTS || !w.ports[port_id].used) {
            drop(w, frames[i], drop_reason::tx_failed);
            continue;
        }
        bump(w.stats.sip_out);
        send(w, port_id, frames[i]);
    }
    return n;
}

void tx_dropped(rte_mbuf** unsent, uint16_t count, void* userdata) {
    auto* w = static_cast<worker*>(userdata);
    bump(w->stats.drops[static_cast<unsigned>(drop_reason::tx_failed)], count);
    rte_pktmbuf_free_bulk(unsent, count);
}

}  // namespace

int worker_main(void* arg) {
    worker& w = *static_cast<worker*>(arg);
    for (unsigned i = 0; i < w.n_ports; ++i) {
        rte_eth_tx_buffer_set_err_callback(w.ports[w.port_ids[i]].tx, tx_dropped, &w);
    }
    w.relay->reader_register(w.id);

    // TX is buffered and drained at least every 100 us (DPDK l3fwd's BURST_TX_DRAIN_US).
    const uint64_t drain_tsc = (rte_get_tsc_hz() + 9999) / 10000;
    uint64_t last_drain = rte_rdtsc();
    unsigned empty_polls = 0;
    rte_mbuf* pkts[64];
    const unsigned burst = w.burst > 64 ? 64 : w.burst;
    uint64_t iteration_start = rte_rdtsc();
    bool worked = false;  // the iteration before received, or sent what was buffered

    while (!w.stop->load(std::memory_order_relaxed)) {
        const uint64_t now = rte_rdtsc();
        charge_iteration(w.stats, now - iteration_start, worked);
        iteration_start = now;
        unsigned got = 0;
        bool backlog = false;  // a port gave a whole burst: more wait behind it
        for (unsigned i = 0; i < w.n_ports; ++i) {
            const uint16_t port_id = w.port_ids[i];
            const uint16_t n = rte_eth_rx_burst(port_id, w.queue, pkts, static_cast<uint16_t>(burst));
            if (n != 0) {
                // Two clock reads per burst received: under load bursts fill and the cost per
                // packet shrinks with them; with few packets per poll the core has time to spare.
                const uint64_t handling_start = rte_rdtsc();
                w.tx_cycles_in_handling = 0;
                worker_handle_burst(w, port_id, pkts, n, now);
                bump(w.stats.handling_cycles, rte_rdtsc() - handling_start - w.tx_cycles_in_handling);
                got += n;
                backlog = backlog || n == burst;
            }
        }
        got += drain_frames_out(w);

        // TX is sent once the worker has caught up with its RX queues (no port gave a whole
        // burst), so a packet leaves in the iteration that took it in; under a backlog the
        // buffers fill to whole bursts (rte_eth_tx_buffer sends each full one) and the rest waits
        // at most drain_tsc. A flush is work (on af_packet/af_xdp a system call, the kernel's
        // send path): an iteration that sent anything is charged busy.
        unsigned flushed = 0;
        if (!backlog || now - last_drain > drain_tsc) {
            for (unsigned i = 0; i < w.n_ports; ++i) {
                rte_eth_dev_tx_buffer* tx = w.ports[w.port_ids[i]].tx;
                flushed += tx->length;
                rte_eth_tx_buffer_flush(w.port_ids[i], w.queue, tx);
            }
            last_drain = now;
        }
        worked = got + flushed != 0;
        w.relay->reader_quiescent(w.id);
        if (got == 0 && w.frag_tbl != nullptr) {
            // Idle: drop reassemblies whose other fragments never came.
            rte_ip_frag_table_del_expired_entries(w.frag_tbl, &w.death_row, now);
            rte_ip_frag_free_death_row(&w.death_row, 0);
        }

        // Adaptive idle: a box that shares its cores (the lab, CI) must not spin.
        if (got == 0 && w.idle_sleep_us != 0) {
            if (++empty_polls >= w.idle_polls) {
                w.relay->reader_offline(w.id);
                rte_delay_us_sleep(w.idle_sleep_us);
                w.relay->reader_online(w.id);
                bump(w.stats.idle_sleeps);
            }
        } else {
            empty_polls = 0;
        }
    }
    for (unsigned i = 0; i < w.n_ports; ++i) {
        rte_eth_tx_buffer_flush(w.port_ids[i], w.queue, w.ports[w.port_ids[i]].tx);
    }
    charge_iteration(w.stats, rte_rdtsc() - iteration_start, worked);
    w.relay->reader_offline(w.id);
    return 0;
}

}  // namespace sf::dp
