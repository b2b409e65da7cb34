#include "sip_transport.hh"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "config.hh"
#include "hep_exporter.hh"
#include "packet.hh"

namespace sf::control {

std::vector<realm_info> realms_of(const dp::dataplane& dp) {
    std::vector<realm_info> out;
    for (const auto& p : dp.ports()) {
        realm_info r;
        r.name = p.name;
        r.addr = p.addr;
        r.addr_text = ipv4_to_string(p.addr);
        r.prefix = p.prefix;
        r.gateway = p.gateway;
        r.port_id = p.port_id;
        r.mac = p.mac;
        r.media_first = p.media_first;
        r.media_count = p.media_count;
        out.push_back(r);
    }
    return out;
}

namespace {

constexpr size_t max_pending = 1024;  // datagrams waiting for ARP, all realms together
constexpr ms_t arp_wait_ms = 3000;    // then they are dropped and counted
constexpr ms_t arp_retry_ms = 1000;
// Gratuitous ARP (announce()): frames per tick, so 1024 media addresses never crowd out SIP in
// the frame ring; and the gap before the second round (RFC 5227 2.3's ANNOUNCE_INTERVAL).
constexpr unsigned announce_per_tick = 64;
constexpr ms_t announce_interval_ms = 2000;
constexpr size_t l4_overhead = sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
constexpr size_t max_udp_payload = 65507;  // 65535 - IPv4 and UDP headers

}  // namespace

sip_transport::sip_transport(dp::dataplane& dp, std::vector<realm_info> realms, uint16_t sip_port)
    : dp_(dp), realms_(std::move(realms)), sip_port_(sip_port) {}

int sip_transport::realm_of_port(uint16_t port_id) const {
    for (unsigned i = 0; i < realms_.size(); ++i) {
        if (realms_[i].port_id == port_id) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

uint32_t sip_transport::next_hop(unsigned realm, uint32_t addr) const {
    const realm_info& r = realms_[realm];
    if (r.on_link(addr)) {
        return addr;
    }
    return r.gateway;  // 0 when there is none: unroutable
}

std::optional<rte_ether_addr> sip_transport::next_hop_mac(unsigned realm, uint32_t addr) const {
    if (realm >= realms_.size()) {
        return std::nullopt;
    }
    const uint32_t hop = next_hop(realm, addr);
    auto it = table_.find(key(realm, hop));
    if (hop == 0 || it == table_.end()) {
        return std::nullopt;
    }
    return it->second;
}

namespace {

/// Copies a chained frame into one mbuf of `pool`, for a port that cannot send chains.
/// nullptr when no mbuf is free or the frame does not fit one.
rte_mbuf* linearize(const rte_mbuf* frame, rte_mempool* pool) {
    rte_mbuf* flat = rte_pktmbuf_alloc(pool);
    if (flat == nullptr) {
        return nullptr;
    }
    const uint32_t len = rte_pktmbuf_pkt_len(frame);
    char* data = len > UINT16_MAX ? nullptr : rte_pktmbuf_append(flat, static_cast<uint16_t>(len));
    if (data == nullptr) {
        rte_pktmbuf_free(flat);
        return nullptr;
    }
    for (const rte_mbuf* seg = frame; seg != nullptr; seg = seg->next) {
        std::memcpy(data, rte_pktmbuf_mtod(seg, const char*), rte_pktmbuf_data_len(seg));
        data += rte_pktmbuf_data_len(seg);
    }
    flat->l2_len = frame->l2_len;
    flat->l3_len = frame->l3_len;
    return flat;
}

/// A header mbuf (empty, full headroom) chained to an indirect clone of `msg`.
rte_mbuf* header_and_clone(const sip_wire& msg, const frame_pools& pools) {
    rte_mbuf* hdr = rte_pktmbuf_alloc(pools.headers);
    if (hdr == nullptr) {
        return nullptr;
    }
    // rte_pktmbuf_clone only takes references on the message's segments; it writes nothing there.
    rte_mbuf* clone = rte_pktmbuf_clone(const_cast<rte_mbuf*>(msg.head()), pools.clones);
    if (clone == nullptr) {
        rte_pktmbuf_free(hdr);
        return nullptr;
    }
    if (rte_pktmbuf_chain(hdr, clone) != 0) {
        rte_pktmbuf_free(hdr);
        rte_pktmbuf_free(clone);
        return nullptr;
    }
    return hdr;
}

}  // namespace

unsigned build_sip_frames(sip_wire msg, const dp::udp_route& route, uint16_t mtu, uint16_t ip_id, bool multi_seg,
                          const frame_pools& pools, rte_mbuf** out, unsigned max_out, frame_outcome& outcome,
                          uint64_t& linearized) {
    if (msg.empty() || max_out == 0) {
        outcome = frame_outcome::no_mbuf;
        return 0;
    }
    // A port without chained TX gets each frame of several segments as one copy.
    auto finish = [&](rte_mbuf*& frame) {
        if (multi_seg || frame->nb_segs == 1) {
            return true;
        }
        rte_mbuf* flat = linearize(frame, pools.headers);
        rte_pktmbuf_free(frame);
        frame = flat;
        ++linearized;
        return flat != nullptr;
    };
    if (msg.size() + l4_overhead <= mtu) {
        rte_mbuf* frame = nullptr;
        if (msg.unique()) {
            // Nobody keeps this message (no retransmission will follow): its headroom takes the headers.
            frame = msg.release();
            outcome = frame_outcome::in_place;
        } else {
            frame = header_and_clone(msg, pools);
            outcome = frame_outcome::cloned;
            if (frame == nullptr) {
                outcome = frame_outcome::no_mbuf;
                return 0;
            }
        }
        if (!dp::prepend_udp_headers(frame, route)) {
            rte_pktmbuf_free(frame);
            outcome = frame_outcome::too_big;
            return 0;
        }
        if (!finish(frame)) {
            outcome = frame_outcome::no_mbuf;
            return 0;
        }
        out[0] = frame;
        return 1;
    }
    // Larger than the link: IP fragments (RFC 3261 18.1.1 lets UDP carry it; the peer reassembles).
    // The UDP checksum covers the whole datagram, so it is computed before the split.
    rte_mbuf* whole = header_and_clone(msg, pools);
    if (whole == nullptr) {
        outcome = frame_outcome::no_mbuf;
        return 0;
    }
    if (!dp::prepend_ipv4_udp_headers(whole, route, ip_id)) {
        rte_pktmbuf_free(whole);
        outcome = frame_outcome::too_big;
        return 0;
    }
    const int32_t n = rte_ipv4_fragment_packet(whole, out, static_cast<uint16_t>(std::min(max_out, 64u)), mtu,
                                               pools.headers, pools.clones);
    rte_pktmbuf_free(whole);  // the fragments hold their own references on the bytes
    if (n <= 0) {
        outcome = n == -ENOMEM ? frame_outcome::no_mbuf : frame_outcome::too_big;
        return 0;
    }
    for (int32_t i = 0; i < n; ++i) {
        auto* ip = rte_pktmbuf_mtod(out[i], rte_ipv4_hdr*);
        ip->hdr_checksum = rte_ipv4_cksum(ip);  // the library leaves it 0
        if (!dp::prepend_ethernet(out[i], route) || !finish(out[i])) {
            for (int32_t j = 0; j < n; ++j) {
                if (out[j] != nullptr) {
                    rte_pktmbuf_free(out[j]);
                }
            }
            outcome = frame_outcome::no_mbuf;
            return 0;
        }
        out[i]->l3_len = sizeof(rte_ipv4_hdr);
    }
    outcome = frame_outcome::fragmented;
    return static_cast<unsigned>(n);
}

void sip_transport::transmit(unsigned realm, sip_addr to, const rte_ether_addr& mac, sip_wire msg) {
    const realm_info& r = realms_[realm];
    const dp::port_info& port = dp_.ports()[realm];
    const dp::udp_route route{r.mac, mac, r.addr, to.addr, sip_port_, to.port};
    // The HEP copy is read before the frames are built (they take the message), and kept only
    // once every frame is on its way.
    if (hep_ != nullptr) {
        const size_t len = msg.size();
        if (char* copy = hep_->begin(sip_addr{r.addr, sip_port_}, to, len)) {
            msg.copy_to(copy, len);
        }
    }
    rte_mbuf* frames[64];
    frame_outcome how = frame_outcome::no_mbuf;
    const unsigned n = build_sip_frames(std::move(msg), route, port.mtu, static_cast<uint16_t>(ip_id_ + 1),
                                        port.tx_multi_seg, frame_pools{dp_.packet_pool(), dp_.clone_pool()}, frames,
                                        64, how, stats_.linearized);
    if (n == 0) {
        ++(how == frame_outcome::too_big ? stats_.dropped_too_big : stats_.dropped_no_mbuf);
        return;
    }
    for (unsigned i = 0; i < n; ++i) {
        dp::meta_of(frames[i])->port_id = r.port_id;
        if (!dp_.send_frame(frames[i])) {
            rte_pktmbuf_free_bulk(frames + i, n - i);
            ++stats_.dropped_no_mbuf;
            return;
        }
    }
    ++stats_.sent;
    if (hep_ != nullptr) {
        hep_->commit();
    }
    switch (how) {
    case frame_outcome::in_place: ++stats_.sent_in_place; break;
    case frame_outcome::cloned: ++stats_.sent_cloned; break;
    case frame_outcome::fragmented:
        ++stats_.fragmented;
        ++ip_id_;
        break;
    default: break;
    }
}

void sip_transport::send(unsigned realm, sip_addr to, sip_wire msg) {
    if (msg.empty()) {
        ++stats_.dropped_unbuilt;  // its build found no mbuf (counted there too)
        return;
    }
    if (realm >= realms_.size()) {
        ++stats_.dropped_no_route;
        return;
    }
    if (msg.size() > max_udp_payload) {
        ++stats_.dropped_too_big;
        return;
    }
    const uint32_t hop = next_hop(realm, to.addr);
    if (hop == 0) {
        ++stats_.dropped_no_route;
        return;
    }
    auto it = table_.find(key(realm, hop));
    if (it != table_.end()) {
        transmit(realm, to, it->second, std::move(msg));
        return;
    }
    if (pending_.size() >= max_pending) {
        ++stats_.dropped_no_neighbour;
        return;
    }
    const bool first = std::none_of(pending_.begin(), pending_.end(),
                                    [&](const pending& p) { return p.realm == realm && p.next_hop == hop; });
    pending_.push_back(pending{realm, to, hop, std::move(msg), last_arp_});
    ++stats_.queued_for_arp;
    if (first) {
        send_arp_request(realm, realms_[realm].addr, hop);
    }
}

void sip_transport::learn_on_port(uint16_t port_id, uint32_t addr, const rte_ether_addr& mac) {
    const int realm = realm_of_port(port_id);
    if (realm < 0 || addr == 0 || !realms_[realm].on_link(addr)) {
        return;
    }
    auto [it, inserted] = table_.insert_or_assign(key(static_cast<unsigned>(realm), addr), mac);
    if (inserted) {
        ++stats_.neighbours_learnt;
    }
    for (auto p = pending_.begin(); p != pending_.end();) {
        if (p->realm == static_cast<unsigned>(realm) && p->next_hop == addr) {
            transmit(p->realm, p->to, mac, std::move(p->msg));
            p = pending_.erase(p);
        } else {
            ++p;
        }
    }
}

bool sip_transport::send_arp_request(unsigned realm, uint32_t sender, uint32_t target) {
    const realm_info& r = realms_[realm];
    rte_mbuf* m = dp_.alloc_mbuf();
    if (m == nullptr) {
        ++stats_.dropped_no_mbuf;
        return false;
    }
    if (!dp::build_arp_request(m, r.mac, sender, target)) {
        rte_pktmbuf_free(m);
        return false;
    }
    dp::meta_of(m)->port_id = r.port_id;
    if (!dp_.send_frame(m)) {
        rte_pktmbuf_free(m);
        ++stats_.dropped_no_mbuf;
        return false;
    }
    ++(sender == target ? stats_.arp_announced : stats_.arp_requests);
    return true;
}

void sip_transport::queue_announcements() {
    announcing_.clear();
    for (unsigned i = 0; i < realms_.size(); ++i) {
        for (const uint32_t a : realms_[i].addresses()) {
            announcing_.emplace_back(i, a);
        }
    }
}

size_t sip_transport::announce(ms_t now) {
    queue_announcements();
    const size_t round = announcing_.size();
    second_round_due_ = true;
    announce_again_at_ = 0;
    announce_some(now);
    return round;
}

void sip_transport::announce_some(ms_t now) {
    if (announce_again_at_ != 0 && now >= announce_again_at_) {
        announce_again_at_ = 0;
        queue_announcements();
    }
    for (unsigned sent = 0; sent < announce_per_tick && !announcing_.empty(); ++sent) {
        const auto [realm, addr] = announcing_.front();
        if (!send_arp_request(realm, addr, addr)) {  // sender == target: gratuitous
            return;  // no mbuf or a full frame ring: the rest on a later tick
        }
        announcing_.pop_front();
    }
    if (announcing_.empty() && second_round_due_) {
        second_round_due_ = false;
        announce_again_at_ = now + announce_interval_ms;
    }
}

void sip_transport::resolve(unsigned realm, uint32_t addr) {
    if (realm >= realms_.size()) {
        return;
    }
    if (const uint32_t hop = next_hop(realm, addr); hop != 0) {
        send_arp_request(realm, realms_[realm].addr, hop);
    }
}

void sip_transport::tick(ms_t now) {
    last_arp_ = now;
    announce_some(now);
    for (auto p = pending_.begin(); p != pending_.end();) {
        if (p->since == 0) {
            p->since = now;
        }
        if (now - p->since > arp_wait_ms) {
            ++stats_.dropped_no_neighbour;
            p = pending_.erase(p);
        } else {
            ++p;
        }
    }
    if (!pending_.empty() && now - last_retry_ >= arp_retry_ms) {
        last_retry_ = now;
        std::vector<uint64_t> asked;
        for (const auto& p : pending_) {
            const uint64_t k = key(p.realm, p.next_hop);
            if (std::find(asked.begin(), asked.end(), k) == asked.end()) {
                asked.push_back(k);
                send_arp_request(p.realm, realms_[p.realm].addr, p.next_hop);
            }
        }
    }
}

}  // namespace sf::control
