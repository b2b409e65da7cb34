#include "media_anchor.hh"

#include <algorithm>
#include <string_view>
#include <tuple>

#include "config.hh"
#include "log.hh"
#include "sip/ascii.hh"

namespace sf::control {

media_anchor::media_anchor(dp::relay_table& table, std::vector<realm_info> realms, uint16_t port_min,
                           uint16_t port_max, neighbour_fn neighbours, resolve_fn resolve)
    : table_(table), realms_(std::move(realms)), neighbours_(std::move(neighbours)), resolve_(std::move(resolve)) {
    for (const realm_info& r : realms_) {
        std::vector<address_pool> pools;
        for (const uint32_t a : r.addresses()) {  // the port's own address first: pool() relies on it
            pools.push_back(address_pool{a, media_ports(port_min, port_max)});
        }
        pools_.push_back(std::move(pools));
        cursor_.push_back(0);
    }
}

uint32_t media_anchor::pick_address(unsigned realm, unsigned pairs) {
    std::vector<address_pool>& pools = pools_[realm];
    for (size_t tried = 0; tried < pools.size(); ++tried) {
        address_pool& p = pools[cursor_[realm]];
        cursor_[realm] = static_cast<unsigned>((cursor_[realm] + 1) % pools.size());
        if (p.ports.capacity() - p.ports.in_use() >= pairs) {
            return p.addr;
        }
    }
    return 0;
}

media_anchor::address_pool& media_anchor::pool(unsigned realm, uint32_t addr) {
    // The realm's own address is [0]; media addresses follow in order: no search.
    const realm_info& r = realms_[realm];
    return pools_[realm][addr == r.addr ? 0 : 1 + (addr - r.media_first)];
}

void media_anchor::release(unsigned realm, uint32_t addr, uint16_t port) {
    if (port != 0 && addr != 0) {
        pool(realm, addr).ports.release(port);
    }
}

unsigned media_anchor::pairs_in_use(unsigned realm) const {
    unsigned n = 0;
    for (const address_pool& p : pools_[realm]) {
        n += p.ports.in_use();
    }
    return n;
}

unsigned media_anchor::pairs_capacity(unsigned realm) const {
    unsigned n = 0;
    for (const address_pool& p : pools_[realm]) {
        n += p.ports.capacity();
    }
    return n;
}

std::string media_anchor::address_of(const media_bridge& b, bool leg_b) const {
    const uint32_t a = leg_b ? b.b_addr : b.a_addr;
    return ipv4_to_string(a != 0 ? a : realms_[leg_b ? b.b_realm : b.a_realm].addr);
}

dp::media_side* media_anchor::make_side(unsigned realm, uint32_t addr, uint16_t port) {
    dp::media_side* s = table_.make(addr, port);  // the table's memory, not yet found by workers
    if (s != nullptr) {
        s->port_id = static_cast<uint8_t>(realms_[realm].port_id);
        s->local_mac = realms_[realm].mac;
        rtcp_[side_key(addr, port)] = side_rtcp{};
    }
    return s;
}

void media_anchor::set_remote(dp::media_side* s, unsigned realm, std::string_view addr_text, uint16_t port,
                              uint64_t& last_sdp, bool renegotiate) {
    if (s == nullptr) {
        return;
    }
    uint32_t addr = 0;
    if (!parse_ipv4_text(std::string(addr_text), addr) || port == 0 || addr == 0) {
        return;  // 0.0.0.0 (hold) or an IPv6/FQDN address: keep what we have, wait for latching
    }
    const uint64_t ep = dp::pack_endpoint(addr, port);
    if (renegotiate) {
        if (ep == last_sdp) {
            return;  // same endpoint as before: the latched address (NAT) stays right
        }
        // The peer moved its media: follow the SDP, and latch again on its first packet.
        if (s->latch.load(std::memory_order_acquire) != dp::latching::off) {
            s->latch.store(dp::latching::waiting, std::memory_order_release);
        }
    } else if (s->latched()) {
        last_sdp = ep;
        return;  // the first packet told us better than any SDP
    }
    last_sdp = ep;
    forget_waiting(s);
    const std::optional<rte_ether_addr> mac = neighbours_(realm, addr);
    if (!dp::set_remote(*s, ep, mac ? dp::pack_mac(*mac) : 0)) {
        log_info("media: %s:%u: a worker held the side's peer for a second; its copy of the remote is stale",
                 ipv4_to_string(s->local_addr).c_str(), s->local_port);
    }
    if (!mac) {
        // Not in the neighbour table (a media address other than the peer's SIP address, say):
        // without a MAC the side cannot send, so find it now rather than wait for latching.
        waiting_.push_back(waiting_side{s, realm, addr});
        if (resolve_) {
            resolve_(realm, addr);
        }
    }
}

void media_anchor::forget_waiting(const dp::media_side* s) {
    std::erase_if(waiting_, [s](const waiting_side& w) { return w.side == s; });
}

void media_anchor::unpublish(dp::media_side* s) {
    forget_waiting(s);
    rtcp_.erase(side_key(s->local_addr, s->local_port));
    opaque_.erase(side_key(s->local_addr, s->local_port));
    table_.remove(s->local_addr, s->local_port);
}

void media_anchor::retry_neighbours(ms_t now, bool learnt) {
    if (waiting_.empty()) {
        return;
    }
    const bool ask = now - last_retry_ >= 1000;
    if (!ask && !learnt) {
        return;
    }
    if (ask) {
        last_retry_ = now;
    }
    std::vector<uint64_t> asked;  // one ARP per next hop and round
    std::erase_if(waiting_, [&](const waiting_side& w) {
        if (dp::mac_valid(w.side->remote_mac())) {
            return true;  // latched from the remote's own first packet meanwhile
        }
        if (auto mac = neighbours_(w.realm, w.addr)) {
            dp::set_remote_mac(*w.side, dp::pack_mac(*mac));
            return true;
        }
        const uint64_t k = (uint64_t{w.realm} << 32) | w.addr;
        if (ask && resolve_ && std::find(asked.begin(), asked.end(), k) == asked.end()) {
            asked.push_back(k);
            resolve_(w.realm, w.addr);
        }
        return false;
    });
}

namespace {

using sip::iequals_ascii;

// Plain RTP (RTP/AVP, RTP/AVPF): headers and RTCP in the clear, unlike SRTP's profiles.
bool plain_rtp(const sdp::media& m) {
    return iequals_ascii(m.proto, "RTP/AVP") || iequals_ascii(m.proto, "RTP/AVPF");
}

// media_bridge::stream::continuable of an m-line.
bool continuable(const sdp::media& m) {
    return iequals_ascii(m.type, "audio") && plain_rtp(m);
}

// Unbridges `old_source` (the side whose packets the receiver heard until now) and says where
// its stream stands; false when the receiver heard nothing from it.
bool stop_and_locate(dp::media_side* old_source, dp::stream_position& where) {
    if (old_source == nullptr) {
        return false;
    }
    dp::bridge(*old_source, nullptr);
    return dp::heard_from(*old_source, where);
}

}  // namespace

bool media_anchor::open(media_bridge& b, unsigned a_realm, unsigned b_realm, const sdp::session& offer,
                        bool offer_from_b) {
    b.a_realm = a_realm;
    b.b_realm = b_realm;
    b.generation = ++generations_;
    b.streams.assign(offer.n_media, {});
    unsigned active = 0;
    for (unsigned i = 0; i < offer.n_media; ++i) {
        active += offer.streams[i].port != 0;
    }
    b.a_addr = pick_address(a_realm, active);
    b.b_addr = pick_address(b_realm, active);
    if (b.a_addr == 0 || b.b_addr == 0) {
        b.a_addr = b.b_addr = 0;
        return false;  // every relay address of a realm is full
    }
    for (unsigned i = 0; i < offer.n_media; ++i) {
        // A disabled stream stays disabled (port 0 on both legs) until a re-offer enables it.
        if (offer.streams[i].port != 0 && !anchor_stream(b, i, offer.streams[i], offer_from_b)) {
            close(b);
            return false;
        }
    }
    b.open = true;
    return true;
}

bool media_anchor::anchor_stream(media_bridge& b, unsigned i, const sdp::media& m, bool offer_from_b) {
    media_bridge::stream& st = b.streams[i];
    // A transfer whose new party had the stream disabled leaves only the kept half: the
    // missing half is made, the kept one stays as it is.
    const bool had[2] = {st.a_rtp != nullptr, st.b_rtp != nullptr};
    if (!had[0] && !had[1]) {
        st.continuable = continuable(m);
        // UDPTL (T.38 fax) and other non-RTP transports have no RTCP beside them.
        st.rtcp = !m.rtcp_mux && sdp::carries_rtp(m);  // RTCP beside RTP; UDPTL has none
    }
    bool made = true;
    for (const bool leg_b : {false, true}) {
        if (made && !had[leg_b]) {
            made = make_half(b, st, leg_b);
        }
    }
    if (!made) {
        drop_halves(b, st, !had[0], !had[1]);  // gives back what was made
        return false;
    }
    dp::bridge(*st.a_rtp, st.b_rtp);
    dp::bridge(*st.b_rtp, st.a_rtp);
    if (st.a_rtcp != nullptr && st.b_rtcp != nullptr) {
        dp::bridge(*st.a_rtcp, st.b_rtcp);
        dp::bridge(*st.b_rtcp, st.a_rtcp);
    }
    if (!had[offer_from_b]) {  // a kept half gets the offer from apply_remote, as a re-offer
        const unsigned offer_realm = offer_from_b ? b.b_realm : b.a_realm;
        set_remote(offer_from_b ? st.b_rtp : st.a_rtp, offer_realm, m.conn_addr, m.port,
                   st.sdp_remote[offer_from_b ? 1 : 0], false);
        set_remote(offer_from_b ? st.b_rtcp : st.a_rtcp, offer_realm, m.conn_addr,
                   m.rtcp_port ? m.rtcp_port : static_cast<uint16_t>(m.port + 1),
                   st.sdp_remote[offer_from_b ? 3 : 2], false);
    }
    for (dp::media_side* s : {had[0] ? nullptr : st.a_rtp, had[1] ? nullptr : st.b_rtp,
                              had[0] ? nullptr : st.a_rtcp, had[1] ? nullptr : st.b_rtcp}) {
        if (s != nullptr && !table_.insert(s)) {  // cannot fail for a side just made
            drop_halves(b, st, !had[0], !had[1]);
            return false;
        }
    }
    describe(b, i, m);
    return true;
}

bool media_anchor::make_half(const media_bridge& b, media_bridge::stream& st, bool leg_b) {
    const unsigned realm = leg_b ? b.b_realm : b.a_realm;
    const uint32_t addr = leg_b ? b.b_addr : b.a_addr;
    uint16_t& port = leg_b ? st.b_port : st.a_port;
    dp::media_side*& rtp = leg_b ? st.b_rtp : st.a_rtp;
    dp::media_side*& rtcp = leg_b ? st.b_rtcp : st.a_rtcp;
    port = pool(realm, addr).ports.allocate();
    if (port == 0) {
        return false;
    }
    rtp = make_side(realm, addr, port);
    if (rtp != nullptr && st.rtcp) {
        rtcp = make_side(realm, addr, static_cast<uint16_t>(port + 1));
        return rtcp != nullptr;
    }
    return rtp != nullptr;
}

void media_anchor::drop_halves(const media_bridge& b, media_bridge::stream& st, bool a, bool b_half) {
    if (!a && !b_half) {
        return;
    }
    if (a && b_half) {
        drop_stream(b, st);
        return;
    }
    // One half: it is unbridged and gone; the other (kept) half relays to nobody again.
    retire_leg(b, st, b_half);
    (b_half ? st.b_rtp : st.a_rtp) = nullptr;
    (b_half ? st.b_rtcp : st.a_rtcp) = nullptr;
    (b_half ? st.b_port : st.a_port) = 0;
    for (dp::media_side* kept : {b_half ? st.a_rtp : st.b_rtp, b_half ? st.a_rtcp : st.b_rtcp}) {
        if (kept != nullptr) {
            dp::bridge(*kept, nullptr);
        }
    }
}

bool media_anchor::adds_streams(const media_bridge& b, const sdp::session& desc) const {
    for (unsigned i = 0; i < desc.n_media; ++i) {
        if (desc.streams[i].port != 0 &&
            (i >= b.streams.size() || b.streams[i].a_rtp == nullptr || b.streams[i].b_rtp == nullptr)) {
            return true;
        }
    }
    return false;
}

bool media_anchor::add_streams(media_bridge& b, const sdp::session& offer, bool offer_from_b,
                               added_streams* record) {
    if (!b.open) {
        return false;
    }
    const size_t had = b.streams.size();
    const bool had_t38 = b.t38;
    if (offer.n_media > had) {
        b.streams.resize(offer.n_media);
    }
    struct added_halves {
        unsigned i;
        bool a, b;
    };
    std::vector<added_halves> added;
    for (unsigned i = 0; i < offer.n_media; ++i) {
        media_bridge::stream& st = b.streams[i];
        if (offer.streams[i].port == 0 || (st.a_rtp != nullptr && st.b_rtp != nullptr)) {
            continue;
        }
        const added_halves halves{i, st.a_rtp == nullptr, st.b_rtp == nullptr};
        if (!anchor_stream(b, i, offer.streams[i], offer_from_b)) {
            // All or nothing: the offer is refused, so the bridge stays as it was.
            for (const added_halves& h : added) {
                drop_halves(b, b.streams[h.i], h.a, h.b);
            }
            b.streams.resize(had);
            return false;
        }
        added.push_back(halves);
    }
    if (record != nullptr) {
        record->generation = b.generation;
        record->had = had;
        record->t38 = had_t38;
        record->streams.clear();
        for (const added_halves& h : added) {
            const media_bridge::stream& st = b.streams[h.i];
            record->streams.push_back({h.i, h.a ? st.a_rtp : nullptr, h.b ? st.b_rtp : nullptr});
        }
    }
    return true;
}

unsigned media_anchor::take_back(media_bridge& b, const added_streams& added) {
    if (!b.open || b.generation != added.generation || added.empty()) {
        return 0;
    }
    unsigned taken = 0;
    for (const added_streams::halves& h : added.streams) {
        if (h.index >= b.streams.size()) {
            continue;
        }
        media_bridge::stream& st = b.streams[h.index];
        // A half an answer removed since (release_removed) or that was never made is left alone.
        const bool a = h.a_rtp != nullptr && st.a_rtp == h.a_rtp;
        const bool b_half = h.b_rtp != nullptr && st.b_rtp == h.b_rtp;
        if (!a && !b_half) {
            continue;
        }
        // What the sides relayed is kept like a removed stream's (the counters go with the
        // sides). Of one half, only what it forwarded: the receiver's reports stay at the kept one.
        if (a && b_half) {
            b.removed_a_to_b += stream_counts(st, false);
            b.removed_b_to_a += stream_counts(st, true);
        } else {
            (a ? b.removed_a_to_b : b.removed_b_to_a) += forwarded(a ? st.a_rtp : st.b_rtp);
        }
        drop_halves(b, st, a, b_half);
        ++taken;
    }
    // The m-lines the offer appended go with it: the session has the ones it had.
    while (b.streams.size() > added.had && b.streams.back().a_rtp == nullptr && b.streams.back().b_rtp == nullptr) {
        b.streams.pop_back();
    }
    b.t38 = added.t38;
    return taken;
}

void media_anchor::apply_remote(media_bridge& b, bool leg_b, const sdp::session& desc, bool renegotiate) {
    const unsigned realm = leg_b ? b.b_realm : b.a_realm;
    for (unsigned i = 0; i < desc.n_media && i < b.streams.size(); ++i) {
        const sdp::media& m = desc.streams[i];
        media_bridge::stream& st = b.streams[i];
        set_remote(leg_b ? st.b_rtp : st.a_rtp, realm, m.conn_addr, m.port, st.sdp_remote[leg_b ? 1 : 0],
                   renegotiate);
        set_remote(leg_b ? st.b_rtcp : st.a_rtcp, realm, m.conn_addr,
                   m.rtcp_port ? m.rtcp_port : static_cast<uint16_t>(m.port + 1), st.sdp_remote[leg_b ? 3 : 2],
                   renegotiate);
        describe(b, i, m);
    }
}

void media_anchor::close(media_bridge& b) {
    // Bridges never cross streams (each side's peer is its stream's other side), so each
    // stream unbridged before it is unpublished is enough: no worker reaches a side through a
    // peer pointer once it is gone; the grace period covers those that already did.
    for (auto& st : b.streams) {
        drop_stream(b, st);
    }
    b.open = false;
}

void media_anchor::drop_stream(const media_bridge& b, media_bridge::stream& st) {
    for (dp::media_side* s : {st.a_rtp, st.b_rtp, st.a_rtcp, st.b_rtcp}) {
        if (s != nullptr) {
            dp::bridge(*s, nullptr);
        }
    }
    for (dp::media_side* s : {st.a_rtp, st.b_rtp, st.a_rtcp, st.b_rtcp}) {
        if (s != nullptr) {
            unpublish(s);
        }
    }
    release(b.a_realm, b.a_addr, st.a_port);
    release(b.b_realm, b.b_addr, st.b_port);
    st = {};
}

unsigned media_anchor::release_removed(media_bridge& b, const sdp::session& answer, const sdp::session* other) {
    unsigned removed = 0;
    for (unsigned i = 0; i < answer.n_media && i < b.streams.size(); ++i) {
        media_bridge::stream& st = b.streams[i];
        const bool other_active = other != nullptr && i < other->n_media && other->streams[i].port != 0;
        if (answer.streams[i].port != 0 || other_active || (st.a_rtp == nullptr && st.b_rtp == nullptr)) {
            continue;
        }
        // Counted before the sides go: their counters and RTCP figures go with them.
        b.removed_a_to_b += stream_counts(st, false);
        b.removed_b_to_a += stream_counts(st, true);
        drop_stream(b, st);
        ++removed;
    }
    return removed;
}

bool media_anchor::open_replacement(media_bridge& next, const media_bridge& current, bool keep_a,
                                    unsigned new_realm, const sdp::session& offer, bool continuity) {
    next = media_bridge{};
    next.a_realm = keep_a ? current.a_realm : new_realm;
    next.b_realm = keep_a ? new_realm : current.b_realm;
    unsigned active = 0;
    for (unsigned i = 0; i < current.streams.size() && i < offer.n_media; ++i) {
        const media_bridge::stream& cur = current.streams[i];
        active += (keep_a ? cur.a_rtp : cur.b_rtp) != nullptr && offer.streams[i].port != 0;
    }
    const uint32_t new_addr = pick_address(new_realm, active);
    if (new_addr == 0) {
        next = media_bridge{};
        return false;
    }
    next.a_addr = keep_a ? current.a_addr : new_addr;
    next.b_addr = keep_a ? new_addr : current.b_addr;
    next.codec = current.codec;
    next.streams.assign(current.streams.size(), {});
    for (unsigned i = 0; i < current.streams.size(); ++i) {
        const media_bridge::stream& cur = current.streams[i];
        media_bridge::stream& st = next.streams[i];
        // The kept leg's half is shared, not copied: its sides stay published.
        if (keep_a) {
            st.a_port = cur.a_port, st.a_rtp = cur.a_rtp, st.a_rtcp = cur.a_rtcp;
            st.sdp_remote[0] = cur.sdp_remote[0], st.sdp_remote[2] = cur.sdp_remote[2];
        } else {
            st.b_port = cur.b_port, st.b_rtp = cur.b_rtp, st.b_rtcp = cur.b_rtcp;
            st.sdp_remote[1] = cur.sdp_remote[1], st.sdp_remote[3] = cur.sdp_remote[3];
        }
        dp::media_side* kept_rtp = keep_a ? cur.a_rtp : cur.b_rtp;
        dp::media_side* kept_rtcp = keep_a ? cur.a_rtcp : cur.b_rtcp;
        if (kept_rtp == nullptr || i >= offer.n_media || offer.streams[i].port == 0) {
            continue;
        }
        const uint16_t port = pool(new_realm, new_addr).ports.allocate();
        if (port == 0) {
            close_replacement(next, keep_a);
            return false;
        }
        (keep_a ? st.b_port : st.a_port) = port;
        st.rtcp = cur.rtcp;
        st.continuable = cur.continuable && continuable(offer.streams[i]);
        st.continue_at_switch = continuity && st.continuable;
        dp::media_side* rtp = make_side(new_realm, new_addr, port);
        dp::media_side* rtcp =
            kept_rtcp != nullptr ? make_side(new_realm, new_addr, static_cast<uint16_t>(port + 1)) : nullptr;
        (keep_a ? st.b_rtp : st.a_rtp) = rtp;
        (keep_a ? st.b_rtcp : st.a_rtcp) = rtcp;
        if (rtp == nullptr || (kept_rtcp != nullptr && rtcp == nullptr)) {
            close_replacement(next, keep_a);  // gives back what was made
            return false;
        }
        // Continuing: the new party is heard from the switch on, its reports with it (renamed
        // then, like its RTP).
        dp::bridge(*rtp, st.continue_at_switch ? nullptr : kept_rtp);
        if (rtcp != nullptr) {
            dp::bridge(*rtcp, st.continue_at_switch ? nullptr : kept_rtcp);
        }
        for (dp::media_side* side : {rtp, rtcp}) {
            if (side != nullptr && !table_.insert(side)) {  // cannot fail for a side just made
                close_replacement(next, keep_a);
                return false;
            }
        }
        describe(next, i, offer.streams[i]);
    }
    next.open = true;
    return true;
}

void media_anchor::retire(dp::media_side* s) {
    if (s != nullptr) {
        dp::bridge(*s, nullptr);  // unbridged before unpublished: see close()
        unpublish(s);
    }
}

void media_anchor::retire_leg(const media_bridge& b, const media_bridge::stream& st, bool leg_b) {
    retire(leg_b ? st.b_rtp : st.a_rtp);
    retire(leg_b ? st.b_rtcp : st.a_rtcp);
    release(leg_b ? b.b_realm : b.a_realm, leg_b ? b.b_addr : b.a_addr, leg_b ? st.b_port : st.a_port);
}

void media_anchor::switch_over(media_bridge& current, media_bridge& next, bool keep_a) {
    for (unsigned i = 0; i < current.streams.size() && i < next.streams.size(); ++i) {
        media_bridge::stream& cur = current.streams[i];
        media_bridge::stream& nx = next.streams[i];
        dp::media_side* kept_rtp = keep_a ? cur.a_rtp : cur.b_rtp;
        dp::media_side* kept_rtcp = keep_a ? cur.a_rtcp : cur.b_rtcp;
        // Continuity: the old party stops reaching the kept one first, so the position its
        // stream stands at is final when the new party's packets take it up.
        dp::stream_position heard;
        const bool continues = nx.continue_at_switch && stop_and_locate(keep_a ? cur.b_rtp : cur.a_rtp, heard);
        // The switch itself: one departure change per side; workers see the old or the new one.
        // Then the new sides copy the kept ones again: a kept side's remote that changed since
        // open_replacement (re-latched, re-offered) reached only the old party's copy.
        // Continuing, both parties' reports are renamed: at the RTCP sides, or (rtcp-mux) at the
        // kept RTP side too (the new one is bridged continuing, which renames them anyway).
        const bool muxed = kept_rtcp == nullptr;
        for (auto [kept, fresh, position, reports] :
             {std::tuple{kept_rtp, keep_a ? nx.b_rtp : nx.a_rtp, continues ? &heard : nullptr, continues && muxed},
              std::tuple{kept_rtcp, keep_a ? nx.b_rtcp : nx.a_rtcp, static_cast<dp::stream_position*>(nullptr),
                         continues}}) {
            if (kept != nullptr) {
                dp::bridge(*kept, fresh, nullptr, reports);
                if (fresh != nullptr) {
                    dp::bridge(*fresh, kept, position, reports);
                }
            }
        }
        nx.continue_at_switch = false;
        retire_leg(current, cur, keep_a);  // the replaced leg
    }
    current = next;
    current.generation = ++generations_;
    next = media_bridge{};
}

void media_anchor::close_replacement(media_bridge& next, bool keep_a) {
    for (auto& st : next.streams) {
        retire_leg(next, st, keep_a);  // the new party's leg
    }
    next = media_bridge{};  // the kept sides were only borrowed
}

void media_anchor::splice(media_bridge& first, bool keep_a_first, media_bridge& second, bool keep_a_second,
                          bool continuity_first, bool continuity_second) {
    media_bridge joined;
    joined.a_realm = keep_a_first ? first.a_realm : first.b_realm;
    joined.b_realm = keep_a_second ? second.a_realm : second.b_realm;
    joined.a_addr = keep_a_first ? first.a_addr : first.b_addr;
    joined.b_addr = keep_a_second ? second.a_addr : second.b_addr;
    joined.codec = first.codec;
    const size_t n = std::max(first.streams.size(), second.streams.size());
    joined.streams.resize(n);
    for (size_t i = 0; i < n; ++i) {
        media_bridge::stream none;
        media_bridge::stream& f = i < first.streams.size() ? first.streams[i] : none;
        media_bridge::stream& g = i < second.streams.size() ? second.streams[i] : none;
        media_bridge::stream& j = joined.streams[i];
        // The kept halves, as leg A (from `first`) and leg B (from `second`).
        j.a_port = keep_a_first ? f.a_port : f.b_port;
        j.a_rtp = keep_a_first ? f.a_rtp : f.b_rtp;
        j.a_rtcp = keep_a_first ? f.a_rtcp : f.b_rtcp;
        j.sdp_remote[0] = f.sdp_remote[keep_a_first ? 0 : 1];
        j.sdp_remote[2] = f.sdp_remote[keep_a_first ? 2 : 3];
        j.b_port = keep_a_second ? g.a_port : g.b_port;
        j.b_rtp = keep_a_second ? g.a_rtp : g.b_rtp;
        j.b_rtcp = keep_a_second ? g.a_rtcp : g.b_rtcp;
        j.sdp_remote[1] = g.sdp_remote[keep_a_second ? 0 : 1];
        j.sdp_remote[3] = g.sdp_remote[keep_a_second ? 2 : 3];
        j.rtcp = j.a_rtcp != nullptr && j.b_rtcp != nullptr;
        j.continuable = f.continuable && g.continuable;
        // Cross-link: each kept side now sends to the other call's kept side. With continuity
        // each kept party goes on hearing the stream it heard from the party that leaves, and
        // the reports of both are renamed (either party's reports name a continued stream).
        const bool muxed = !j.rtcp;
        bool renamed = false;
        if (j.a_rtp != nullptr && j.b_rtp != nullptr) {
            dp::stream_position first_heard, second_heard;
            const bool first_continues = continuity_first && j.continuable &&
                                         stop_and_locate(keep_a_first ? f.b_rtp : f.a_rtp, first_heard);
            const bool second_continues = continuity_second && j.continuable &&
                                          stop_and_locate(keep_a_second ? g.b_rtp : g.a_rtp, second_heard);
            renamed = first_continues || second_continues;
            dp::bridge(*j.a_rtp, j.b_rtp, second_continues ? &second_heard : nullptr, renamed && muxed);
            dp::bridge(*j.b_rtp, j.a_rtp, first_continues ? &first_heard : nullptr, renamed && muxed);
        } else {
            for (dp::media_side* s : {j.a_rtp, j.b_rtp}) {
                if (s != nullptr) {
                    dp::bridge(*s, nullptr);
                }
            }
        }
        if (j.rtcp) {
            dp::bridge(*j.a_rtcp, j.b_rtcp, nullptr, renamed);
            dp::bridge(*j.b_rtcp, j.a_rtcp, nullptr, renamed);
        }
        // The halves that go: unbridged, unpublished, ports back to the pool.
        retire_leg(first, f, keep_a_first);
        retire_leg(second, g, keep_a_second);
        // A kept RTCP side without a partner has nothing to relay to.
        if (!j.rtcp) {
            retire(j.a_rtcp);
            retire(j.b_rtcp);
            j.a_rtcp = nullptr;
            j.b_rtcp = nullptr;
        }
    }
    joined.open = true;
    joined.generation = ++generations_;
    first = joined;
    second = media_bridge{};
}

void media_anchor::ports_of(const media_bridge& b, bool leg_b, uint16_t (&out)[sdp::session::max_media]) const {
    for (unsigned i = 0; i < sdp::session::max_media; ++i) {
        out[i] = i < b.streams.size() ? (leg_b ? b.streams[i].b_port : b.streams[i].a_port) : 0;
    }
}

rtp_counts media_anchor::forwarded(const dp::media_side* s) const {
    rtp_counts c;
    if (s == nullptr) {
        return c;
    }
    c.packets = s->fwd_packets();
    c.bytes = s->rx_bytes.load(std::memory_order_relaxed);
    c.rtp_expected = s->rtp_expected.load(std::memory_order_relaxed);
    c.rtp_received = s->rtp_received();
    if (opaque_.empty()) {
        return c;
    }
    if (const auto it = opaque_.find(side_key(s->local_addr, s->local_port)); it != opaque_.end()) {
        const opaque_span& o = it->second;
        if (o.opaque) {
            c.rtp_expected = o.frozen_expected;
            c.rtp_received = o.frozen_received;
        }
        c.rtp_expected -= o.skip_expected;
        c.rtp_received -= o.skip_received;
    }
    return c;
}

void media_anchor::set_opaque(const dp::media_side* s, bool opaque) {
    if (s == nullptr || (!opaque && opaque_.empty())) {
        return;
    }
    const uint64_t key = side_key(s->local_addr, s->local_port);
    const auto it = opaque_.find(key);
    if (!opaque && it == opaque_.end()) {
        return;  // RTP all along
    }
    opaque_span& o = it != opaque_.end() ? it->second : opaque_[key];
    if (o.opaque == opaque) {
        return;
    }
    const uint64_t expected = s->rtp_expected.load(std::memory_order_relaxed);
    const uint64_t received = s->rtp_received();
    if (opaque) {
        o.frozen_expected = expected;
        o.frozen_received = received;
    } else {
        o.skip_expected += expected - o.frozen_expected;
        o.skip_received += received - o.frozen_received;
    }
    o.opaque = opaque;
}

rtcp_figures media_anchor::heard_at(const dp::media_side* s) const {
    if (s == nullptr) {
        return {};
    }
    const auto it = rtcp_.find(side_key(s->local_addr, s->local_port));
    return it == rtcp_.end() ? rtcp_figures{} : it->second.heard;
}

rtp_counts media_anchor::stream_counts(const media_bridge::stream& st, bool from_b) const {
    rtp_counts c = forwarded(from_b ? st.b_rtp : st.a_rtp);
    // The receiver's reports arrive at its own sides (the RTCP one, or the RTP one with
    // rtcp-mux). Audio only: the quality is the call's voice (a MOS), not video's.
    if (st.audio) {
        c.receiver += heard_at(from_b ? st.a_rtp : st.b_rtp);
        c.receiver += heard_at(from_b ? st.a_rtcp : st.b_rtcp);
    }
    return c;
}

rtp_counts media_anchor::a_to_b(const media_bridge& b) const {
    rtp_counts c = b.removed_a_to_b;
    for (const auto& st : b.streams) {
        c += stream_counts(st, false);
    }
    return c;
}

rtp_counts media_anchor::b_to_a(const media_bridge& b) const {
    rtp_counts c = b.removed_b_to_a;
    for (const auto& st : b.streams) {
        c += stream_counts(st, true);
    }
    return c;
}

void media_anchor::describe(media_bridge& b, unsigned i, const sdp::media& m) {
    media_bridge::stream& st = b.streams[i];
    if (m.port == 0) {
        return;  // disabled (or put on hold by port 0): keep what the stream had
    }
    if (st.continuable && !continuable(m)) {
        // No longer plain RTP audio (a fax switch to T.38 in the audio's place): a stream a
        // transfer continued stops being rewritten, its packets (UDPTL's are not RTP) leave as
        // they came. A bridge without a stream position does that.
        for (dp::media_side* s : {st.a_rtp, st.b_rtp, st.a_rtcp, st.b_rtcp}) {
            if (s != nullptr) {
                dp::bridge(*s, s->peer());
            }
        }
    }
    st.continuable = continuable(m);  // what a later transfer may continue
    for (const dp::media_side* s : {st.a_rtp, st.b_rtp}) {
        set_opaque(s, !sdp::carries_rtp(m));  // UDPTL: its RTP-looking packets are no RTP loss
    }
    const sdp::codec codec = sdp::first_codec(m);
    st.reads_rtcp = plain_rtp(m) && codec.clock_hz != 0;
    st.audio = iequals_ascii(m.type, "audio");
    st.type = std::string(m.type);
    b.t38 = b.t38 || (iequals_ascii(m.type, "image") && iequals_ascii(m.proto, "udptl"));
    if (st.audio && std::none_of(b.streams.begin(), b.streams.begin() + i,
                                 [](const media_bridge::stream& s) { return s.audio; })) {
        b.codec = std::string(codec.name);
    }
    for (const dp::media_side* s : {st.a_rtp, st.b_rtp, st.a_rtcp, st.b_rtcp}) {
        if (s != nullptr) {
            const auto it = rtcp_.find(side_key(s->local_addr, s->local_port));
            if (it != rtcp_.end()) {
                it->second.clock_hz = st.reads_rtcp ? codec.clock_hz : 0;
            }
        }
    }
}

void media_anchor::label(const media_bridge& b, uint64_t owner) {
    auto set = [this, owner](const dp::media_side* s, bool leg_b) {
        if (s == nullptr) {
            return;
        }
        if (const auto it = rtcp_.find(side_key(s->local_addr, s->local_port)); it != rtcp_.end()) {
            it->second.owner = owner;
            it->second.leg_b = leg_b;
        }
    };
    for (const media_bridge::stream& st : b.streams) {
        set(st.a_rtp, false);
        set(st.a_rtcp, false);
        set(st.b_rtp, true);
        set(st.b_rtcp, true);
    }
}

std::optional<media_anchor::rtcp_origin> media_anchor::origin_of(const dp::rtcp_event& ev) const {
    const auto it = rtcp_.find(side_key(ev.addr, ev.port));
    if (it == rtcp_.end() || it->second.clock_hz == 0) {
        return std::nullopt;  // as note_rtcp: gone, SRTCP or no clock
    }
    const dp::media_side* side = table_.find(ev.addr, ev.port);
    if (side == nullptr) {
        return std::nullopt;
    }
    const uint64_t remote = side->remote();
    return rtcp_origin{sip_addr{dp::endpoint_addr(remote), dp::endpoint_port(remote)}, sip_addr{ev.addr, ev.port},
                       it->second.owner, it->second.leg_b};
}

void media_anchor::note_rtcp(const dp::rtcp_event& ev, uint64_t arrival_us) {
    const auto it = rtcp_.find(side_key(ev.addr, ev.port));
    if (it == rtcp_.end() || it->second.clock_hz == 0) {
        ++rtcp_ignored_;  // the side is gone (the report was in flight), or SRTCP, or no clock
        return;
    }
    ++rtcp_read_;
    side_rtcp& side = it->second;
    const rtcp::report& r = ev.report;
    if (r.sender_report) {
        side.srs[side.sr_next] = {r.sr_ntp_middle, arrival_us};
        side.sr_next = static_cast<uint8_t>((side.sr_next + 1) % side.srs.size());
    }
    if (r.has_voip_metrics) {
        // The phone's conversational MOS, else its listening one; x 10, 10..50 (RFC 3611 4.7.5).
        const uint8_t mos = r.xr_mos_cq != rtcp::xr_unavailable ? r.xr_mos_cq : r.xr_mos_lq;
        if (mos >= 10 && mos <= 50) {
            side.heard.phone_reports += 1;
            side.heard.phone_mos_sum += mos;
        }
    }
    if (!r.has_block) {
        return;
    }
    // A jitter beyond 10 s is a broken reporter, not a call: it would swamp the mean.
    constexpr uint64_t jitter_cap_us = 10'000'000;
    side.heard.reports += 1;
    side.heard.fraction_sum += r.fraction_lost;
    side.heard.jitter_sum_us += std::min(uint64_t{r.jitter} * 1'000'000 / side.clock_hz, jitter_cap_us);
    if (r.lsr == 0) {
        return;  // the reporter has heard no SR yet
    }
    // The SR this block answers came from the other party, through this side's peer, and was
    // relayed to the reporter on arrival.
    const dp::media_side* self = table_.find(ev.addr, ev.port);
    const dp::media_side* peer = self != nullptr ? self->peer() : nullptr;
    if (peer == nullptr) {
        return;
    }
    const auto other = rtcp_.find(side_key(peer->local_addr, peer->local_port));
    if (other == rtcp_.end()) {
        return;
    }
    const auto& srs = other->second.srs;
    const auto sr = std::find_if(srs.begin(), srs.end(), [&r](const side_rtcp::sr_seen& s) {
        return s.arrival_us != 0 && s.ntp_middle == r.lsr;
    });
    if (sr == srs.end()) {
        return;  // an SR older than the last few relayed, or one from a party no longer bridged
    }
    const uint64_t dlsr_us = uint64_t{r.dlsr} * 1'000'000 / 65536;
    if (arrival_us < sr->arrival_us) {
        return;
    }
    const uint64_t since_sr_us = arrival_us - sr->arrival_us;
    // The reporter's clock measured DLSR, the workers' TSC the time since the SR: a TSC rate
    // off by 0.1% (a guest's calibration) is 0.5 ms over a DLSR of 500 ms, more than a LAN's
    // round trip. So a round trip short of zero by a little (1 ms and 1% of DLSR: DLSR's
    // 15 us units and the clocks) is a round trip of about zero, not a broken report; with
    // those dropped, a call on a LAN had no round trip at all in some runs.
    constexpr uint64_t rtt_cap_us = 60'000'000;  // beyond a minute: clocks or reporter broken
    const uint64_t slack_us = 1000 + dlsr_us / 100;
    if (since_sr_us + slack_us >= dlsr_us && since_sr_us < dlsr_us + rtt_cap_us) {
        side.heard.rtt_samples += 1;
        side.heard.rtt_sum_us += since_sr_us > dlsr_us ? since_sr_us - dlsr_us : 0;
    }
}

}  // namespace sf::control
