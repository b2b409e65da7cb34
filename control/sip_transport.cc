#include "sip_transport.hh"

#include <algorithm>
#include <cstring>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "packet.hh"

namespace sf::control {

namespace {

constexpr size_t max_pending = 1024;  // datagrams waiting for ARP, all realms together
constexpr ms_t arp_wait_ms = 3000;    // then they are dropped and counted
constexpr ms_t arp_retry_ms = 1000;
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

void sip_transport::transmit(unsigned realm, sip_addr to, const rte_ether_addr& mac, const std::string& payload) {
    const realm_info& r = realms_[realm];
    const uint16_t mtu = dp_.ports()[realm].mtu;
    if (payload.size() + l4_overhead > mtu) {
        // Larger than the link: IP fragments (RFC 3261 18.1.1 lets UDP carry it; the peer reassembles).
        rte_mbuf* frames[64];
        dp::udp_route route{r.mac, mac, r.addr, to.addr, sip_port_, to.port};
        const unsigned n = dp::build_udp_fragments(
            route, payload.data(), payload.size(), mtu, ++ip_id_,
            [](void* ctx) { return static_cast<dp::dataplane*>(ctx)->alloc_mbuf(); }, &dp_, frames, 64);
        if (n == 0) {
            ++stats_.dropped_too_big;
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
        ++stats_.fragmented;
        return;
    }
    rte_mbuf* m = dp_.alloc_mbuf();
    if (m == nullptr) {
        ++stats_.dropped_no_mbuf;
        return;
    }
    char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(payload.size()));
    dp::udp_route route{r.mac, mac, r.addr, to.addr, sip_port_, to.port};
    if (data == nullptr) {
        rte_pktmbuf_free(m);
        ++stats_.dropped_too_big;
        return;
    }
    std::memcpy(data, payload.data(), payload.size());
    if (!dp::prepend_udp_headers(m, route)) {
        rte_pktmbuf_free(m);
        ++stats_.dropped_too_big;
        return;
    }
    dp::meta_of(m)->port_id = r.port_id;
    if (!dp_.send_frame(m)) {
        rte_pktmbuf_free(m);
        ++stats_.dropped_no_mbuf;
        return;
    }
    ++stats_.sent;
}

void sip_transport::send(unsigned realm, sip_addr to, std::string payload) {
    if (realm >= realms_.size()) {
        ++stats_.dropped_no_route;
        return;
    }
    if (payload.size() > max_udp_payload) {
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
        transmit(realm, to, it->second, payload);
        return;
    }
    if (pending_.size() >= max_pending) {
        ++stats_.dropped_no_neighbour;
        return;
    }
    const bool first = std::none_of(pending_.begin(), pending_.end(),
                                    [&](const pending& p) { return p.realm == realm && p.next_hop == hop; });
    pending_.push_back(pending{realm, to, hop, std::move(payload), last_arp_});
    ++stats_.queued_for_arp;
    if (first) {
        send_arp_request(realm, hop);
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
            transmit(p->realm, p->to, mac, p->payload);
            p = pending_.erase(p);
        } else {
            ++p;
        }
    }
}

void sip_transport::send_arp_request(unsigned realm, uint32_t target) {
    const realm_info& r = realms_[realm];
    rte_mbuf* m = dp_.alloc_mbuf();
    if (m == nullptr) {
        ++stats_.dropped_no_mbuf;
        return;
    }
    if (!dp::build_arp_request(m, r.mac, r.addr, target)) {
        rte_pktmbuf_free(m);
        return;
    }
    dp::meta_of(m)->port_id = r.port_id;
    if (!dp_.send_frame(m)) {
        rte_pktmbuf_free(m);
        return;
    }
    ++stats_.arp_requests;
}

void sip_transport::announce() {
    for (unsigned i = 0; i < realms_.size(); ++i) {
        send_arp_request(i, realms_[i].addr);  // target == sender: gratuitous
    }
}

void sip_transport::tick(ms_t now) {
    last_arp_ = now;
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
                send_arp_request(p.realm, p.next_hop);
            }
        }
    }
}

}  // namespace sf::control
