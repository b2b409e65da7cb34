#include "media_side.hh"

#include <chrono>
#include <thread>

#include <rte_byteorder.h>
#include <rte_pause.h>

namespace sf::dp {

uint64_t pack_mac(const rte_ether_addr& mac) {
    uint64_t v = 0;
    std::memcpy(&v, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    return v | (uint64_t{1} << 48);
}

void unpack_mac(uint64_t packed, rte_ether_addr& out) {
    std::memcpy(out.addr_bytes, &packed, RTE_ETHER_ADDR_LEN);
}

void media_side::reset() {
    constexpr auto relaxed = std::memory_order_relaxed;
    dep_eth_.store(0, relaxed);
    dep_eth_ports_.store(0, relaxed);
    dep_addrs_.store(0, relaxed);
    dep_seq_.store(0, relaxed);
    dep_port_.store(departure::nowhere, relaxed);
    rtp_last_ts.store(0, relaxed);
    rx_packets.store(0, relaxed);
    rx_bytes.store(0, relaxed);
    rtp_expected.store(0, relaxed);
    rtp_ssrc.store(0, relaxed);
    rtp_max_seq.store(0, relaxed);
    latch.store(latching::waiting, relaxed);
    local_addr = 0;
    local_port = 0;
    port_id = 0;
    cont_state.store(continuity::off, relaxed);
    local_mac = rte_ether_addr{};
    cont_seq.store(0, relaxed);
    cont_ssrc.store(0, relaxed);
    cont_ts.store(0, relaxed);
    drops.store(0, relaxed);
    non_rtp.store(0, relaxed);
    peer_.store(nullptr, relaxed);
    remote_.store(0, relaxed);
    remote_mac_.store(0, relaxed);
}

namespace {

// A worker holds a departure lock for a handful of stores; only a preempted one holds it
// longer. Workers never wait for it (latching retries on the next packet); the control thread
// waits up to a second, yielding, which outlasts any preemption.
constexpr unsigned worker_spins = 16;
constexpr unsigned control_spins = 1024;
constexpr auto control_patience = std::chrono::seconds(1);

bool try_lock(media_side& f, unsigned spins) {
    for (unsigned i = 0; i < spins; ++i) {
        uint16_t seq = f.dep_seq_.load(std::memory_order_relaxed);
        if ((seq & 1) == 0 &&
            f.dep_seq_.compare_exchange_weak(seq, static_cast<uint16_t>(seq + 1), std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
            // The odd sequence number is visible before any of the copy's stores.
            std::atomic_thread_fence(std::memory_order_release);
            return true;
        }
        rte_pause();
    }
    return false;
}

bool lock_for_control(media_side& f) {
    const auto give_up = std::chrono::steady_clock::now() + control_patience;
    do {
        if (try_lock(f, control_spins)) {
            return true;
        }
        std::this_thread::yield();
    } while (std::chrono::steady_clock::now() < give_up);
    return false;
}

void unlock(media_side& f) {
    f.dep_seq_.store(static_cast<uint16_t>(f.dep_seq_.load(std::memory_order_relaxed) + 1), std::memory_order_release);
}

// The departure towards `to`'s truth (nowhere without a remote and next hop). The truth is read
// sequentially consistent: see latch() for why.
departure departure_to(const media_side* to) {
    departure d;
    if (to != nullptr) {
        const uint64_t remote = to->remote_.load(std::memory_order_seq_cst);
        const uint64_t mac = to->remote_mac_.load(std::memory_order_seq_cst);
        if (endpoint_valid(remote) && mac_valid(mac)) {
            uint8_t eth[16];  // destination MAC, source MAC, UDP source and destination port
            std::memcpy(eth, &mac, RTE_ETHER_ADDR_LEN);
            std::memcpy(eth + 6, to->local_mac.addr_bytes, RTE_ETHER_ADDR_LEN);
            const uint16_t ports[2] = {rte_cpu_to_be_16(to->local_port), rte_cpu_to_be_16(endpoint_port(remote))};
            std::memcpy(eth + 12, ports, sizeof ports);
            std::memcpy(&d.eth, eth, 8);
            std::memcpy(&d.eth_ports, eth + 8, 8);
            const uint32_t addrs[2] = {rte_cpu_to_be_32(to->local_addr), rte_cpu_to_be_32(endpoint_addr(remote))};
            std::memcpy(&d.addrs, addrs, sizeof addrs);
            d.port = to->port_id;
        }
    }
    return d;
}

// f's departure towards `to`, flagged when f continues a stream (and has somewhere to send).
departure departure_for(const media_side& f, const media_side* to) {
    departure d = departure_to(to);
    if (d.port != departure::nowhere && f.cont_state.load(std::memory_order_relaxed) != continuity::off) {
        d.port |= departure::continuing;
    }
    return d;
}

// Under f's lock: f's departure made from `to`'s truth.
void copy_departure(media_side& f, const media_side* to) {
    const departure d = departure_for(f, to);
    f.dep_eth_.store(d.eth, std::memory_order_relaxed);
    f.dep_eth_ports_.store(d.eth_ports, std::memory_order_relaxed);
    f.dep_addrs_.store(d.addrs, std::memory_order_relaxed);
    f.dep_port_.store(d.port, std::memory_order_relaxed);
}

// Whether latching s on (endpoint, mac) would change nothing: s's truth is that already and
// so is the copy in the side that sends to s (a copy is stale while a writer that changed the
// truth could not take its lock: a latch that gave up, or the control thread's second ran out).
bool latch_is_a_no_op(const media_side& s, uint64_t endpoint, uint64_t mac) {
    if (s.remote_.load(std::memory_order_seq_cst) != endpoint || s.remote_mac_.load(std::memory_order_seq_cst) != mac) {
        return false;
    }
    const media_side* f = s.peer_.load(std::memory_order_seq_cst);
    if (f == nullptr || f->peer_.load(std::memory_order_relaxed) != &s) {
        return true;  // nobody's copy is made from s's truth
    }
    departure now;
    if (!f->read_departure(now)) {
        return false;  // mid-change: take the lock and copy, as for a real change
    }
    const departure want = departure_for(*f, &s);
    return now.eth == want.eth && now.eth_ports == want.eth_ports && now.addrs == want.addrs && now.port == want.port;
}

// s's truth changed: the side that sends to s (s's peer, if its own peer is s) recopies it.
bool propagate(media_side& s, bool worker) {
    media_side* f = s.peer_.load(std::memory_order_seq_cst);
    if (f == nullptr) {
        return true;
    }
    if (!(worker ? try_lock(*f, worker_spins) : lock_for_control(*f))) {
        return false;
    }
    if (f->peer_.load(std::memory_order_relaxed) == &s) {
        copy_departure(*f, &s);
    }
    unlock(*f);
    return true;
}

}  // namespace

bool bridge(media_side& from, media_side* to, const stream_position* continue_from, bool rename_reports) {
    const bool locked = lock_for_control(from);
    // The pointer is what keeps memory safe (a side is removed only once nothing points to it),
    // so it changes even when the copy cannot (a worker stuck holding the lock).
    from.peer_.store(to, std::memory_order_seq_cst);
    // Continuity before the copy that flags it: a worker that sees the flag (acquiring the
    // departure's sequence number) sees the armed position too.
    if (to == nullptr) {
        // Unbridged, nothing leaves: the state stays, as the record of what the receiver heard
        // last (heard_from, when the next transfer continues it). Turning it off here made a
        // second continued transfer start from the new party's own stream, not the one heard.
    } else if (continue_from != nullptr) {
        from.cont_ssrc.store(continue_from->ssrc, std::memory_order_relaxed);
        from.cont_seq.store(continue_from->next_seq, std::memory_order_relaxed);
        from.cont_ts.store(continue_from->next_ts, std::memory_order_relaxed);
        from.cont_state.store(continuity::armed, std::memory_order_release);
    } else {
        from.cont_state.store(rename_reports ? continuity::reports : continuity::off, std::memory_order_release);
    }
    if (!locked) {
        return false;
    }
    copy_departure(from, to);
    unlock(from);
    return true;
}

bool heard_from(const media_side& source, stream_position& out) {
    constexpr auto relaxed = std::memory_order_relaxed;
    switch (source.cont_state.load(std::memory_order_acquire)) {
    case continuity::armed:  // nothing relayed since the bridge: the position it was given
        out = {source.cont_ssrc.load(relaxed), source.cont_seq.load(relaxed), source.cont_ts.load(relaxed)};
        return true;
    case continuity::active:  // the sender's last packet as it left, one packet on
        out.ssrc = source.cont_ssrc.load(relaxed);
        out.next_seq = static_cast<uint16_t>(source.rtp_max_seq.load(relaxed) + source.cont_seq.load(relaxed) + 1);
        out.next_ts = source.rtp_last_ts.load(relaxed) + source.cont_ts.load(relaxed) + continuity_seam_ts;
        return true;
    case continuity::off:
    case continuity::reports:  // its RTP leaves as it came
        break;
    }
    if (source.rtp_expected.load(relaxed) == 0) {
        return false;  // no RTP arrived: its receiver heard nothing to continue
    }
    out.ssrc = source.rtp_ssrc.load(relaxed);
    out.next_seq = static_cast<uint16_t>(source.rtp_max_seq.load(relaxed) + 1);
    out.next_ts = source.rtp_last_ts.load(relaxed) + continuity_seam_ts;
    return true;
}

bool set_remote(media_side& s, uint64_t endpoint, uint64_t mac) {
    s.remote_mac_.store(mac, std::memory_order_seq_cst);
    s.remote_.store(endpoint, std::memory_order_seq_cst);
    return propagate(s, false);
}

bool set_remote_mac(media_side& s, uint64_t mac) {
    s.remote_mac_.store(mac, std::memory_order_seq_cst);
    return propagate(s, false);
}

bool latch(media_side& s, uint64_t endpoint, uint64_t mac) {
    // Racing bridge(f, &s) on the control thread: either this worker's load of s.peer_ sees f
    // (and recopies into f under f's lock, after the control's copy or before it with the
    // control then reading this truth), or the control's later seq_cst read of the truth sees
    // these stores. Both are sequentially consistent, so one of the two must happen.
    if (latch_is_a_no_op(s, endpoint, mac)) {
        // The packet confirms what the truth and the copy say (a racing writer that changes
        // the truth copies it itself): locking the copy would only make its packets wait.
        s.latch.store(latching::latched, std::memory_order_release);
        return true;
    }
    s.remote_mac_.store(mac, std::memory_order_seq_cst);
    s.remote_.store(endpoint, std::memory_order_seq_cst);
    if (!propagate(s, true)) {
        return false;
    }
    s.latch.store(latching::latched, std::memory_order_release);
    return true;
}

}  // namespace sf::dp
