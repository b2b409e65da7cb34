#pragma once
/// @file
/// One relay port of the appliance (a `media_side`) and the rules for changing it while
/// workers relay through it.
///
/// A call's media is two sides bridged by their peers: a packet that arrives at side A (from
/// A's remote) leaves from side B's local address to B's remote. The worker that relays it
/// should touch one cache line of the side, not also the peer's: at a million entries each is a
/// DRAM miss. So each side keeps, in its first line, a copy of the headers its packets leave
/// with (the peer's local MAC, address and port, the peer's remote and next hop: the
/// "departure"), and the truth those copies are made of sits in the second line, which the
/// relay reads only on the rare paths (latching, drops, non-RTP packets).
///
/// Keeping the copies right is this file's job. Every change of what a side's packets depend
/// on goes through bridge() (the side's peer), set_remote() and set_remote_mac() (the side's
/// own remote, which its peer's copy holds) or latch() (the worker's version of set_remote).
/// The copy is guarded by a sequence lock in the copying side's first line: writers (the
/// control thread, and a worker latching the peer) take it with a bounded compare-and-swap,
/// readers retry a bounded number of times and drop the packet if a writer is mid-change, so a
/// packet never leaves with half of an old and half of a new departure (a transfer's switch
/// moves all of it at once, as the single peer-pointer store did before the copy existed).
///
/// Why a copy is always current: a writer that changes side S's remote stores it first, then
/// locks the side F that sends to S (S's peer, when F's own peer is S) and recopies S's
/// remote into F under the lock, re-reading it there. bridge() copies under the same lock. So
/// whichever of two racing writers takes F's lock second sees the other's truth.
///
/// One copy is not kept current: during a transfer, the new party's side sends to the kept
/// side before the kept side sends back (open_replacement, then switch_over); a change of the
/// kept side's remote in between reaches the old party's copy only, and the new party's copy
/// is refreshed by the switch-over's bridge().
///
/// Continuity (bridge() with a stream_position): after a transfer the party that stays would
/// hear a new RTP stream (the new party's SSRC, sequence numbers and timestamps) where the old
/// one stopped. A side bridged with the position its peer's remote last heard rewrites every
/// RTP packet it relays into that stream: the old SSRC, sequence numbers and timestamps going
/// on from there by fixed offsets, the marker bit set on the seam (RFC 3551 4.1: receivers
/// re-anchor their playout there). The offsets are fixed by the first RTP packet after the
/// bridge (the side is "armed" until then) and again whenever the sender restarts (a new SSRC
/// or a jump): the receiver never sees a second SSRC nor a jump in sequence numbers. Such a
/// side's departure carries the `departure::continuing` bit, so the relay's one existing
/// "is this departure usable" branch also finds these packets, and plain sides pay nothing.
///
/// RTCP (dataplane/sip/rtcp_rewrite.hh): reports name the streams by SSRC, sequence number and
/// timestamp, so they are renamed with the RTP. The RTCP arriving at a side belongs with an RTP
/// side: the side itself (rtcp-mux, and every even port) or, at an RTCP port (odd: RTP on the
/// even port below it), the RTP side of port - 1, its neighbour in the relay table's page.
/// What the reporter sends was renamed by that RTP side's continuity; what it hears, by its
/// peer's. Each side whose
/// RTCP needs that (bridged continuing, or marked `continuity::reports` by the control thread
/// when the stream it reports on continues) carries the `continuing` bit, so plain RTCP, like
/// plain RTP, never looks further.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <rte_config.h>
#include <rte_ether.h>
#include <rte_pause.h>

namespace sf::dp {

/// Packs an IPv4 endpoint into one atomic word; bit 48 marks it valid.
constexpr uint64_t pack_endpoint(uint32_t addr, uint16_t port) {
    return (uint64_t{1} << 48) | (uint64_t{addr} << 16) | port;
}
constexpr bool endpoint_valid(uint64_t e) { return (e >> 48) & 1; }
constexpr uint32_t endpoint_addr(uint64_t e) { return static_cast<uint32_t>(e >> 16); }
constexpr uint16_t endpoint_port(uint64_t e) { return static_cast<uint16_t>(e); }

/// Packs a MAC into one atomic word; bit 48 marks it valid.
uint64_t pack_mac(const rte_ether_addr& mac);
inline bool mac_valid(uint64_t m) { return (m >> 48) & 1; }
void unpack_mac(uint64_t packed, rte_ether_addr& out);

/// The headers a packet arriving at a side leaves with, in wire order and network byte order,
/// so the rewrite is three word stores.
struct departure {
    static constexpr uint16_t nowhere = UINT16_MAX;  ///< no peer, or the peer has no remote/next hop yet
    /// Set in `port` (never with `nowhere`) when the side continues a stream (the file
    /// comment): `port >= continuing` is the relay's one test for "not a plain departure".
    static constexpr uint16_t continuing = 0x8000;
    uint64_t eth = 0;        ///< Ethernet bytes 0..7: destination MAC, first 2 bytes of the source MAC
    uint64_t eth_ports = 0;  ///< Ethernet bytes 8..11 (rest of the source MAC), then UDP source, destination port
    uint64_t addrs = 0;      ///< IPv4 source, destination address
    uint16_t port = nowhere;  ///< DPDK port to send on

    uint32_t src_addr_be() const { return word32(addrs, 0); }
    uint32_t dst_addr_be() const { return word32(addrs, 4); }
    uint16_t src_port_be() const { return static_cast<uint16_t>(word32(eth_ports, 4)); }
    uint16_t dst_port_be() const { return static_cast<uint16_t>(word32(eth_ports, 4) >> 16); }

private:
    static uint32_t word32(uint64_t w, unsigned byte) {
        uint32_t v;
        std::memcpy(&v, reinterpret_cast<const uint8_t*>(&w) + byte, sizeof v);
        return v;
    }
};

/// Where an RTP stream a receiver hears stands: the SSRC it knows and the sequence number and
/// timestamp its next packet should carry (a packet after the last one heard).
struct stream_position {
    uint32_t ssrc = 0;
    uint16_t next_seq = 0;
    uint32_t next_ts = 0;
};

/// A continuing side's state (the file comment): off, armed (the offsets wait for the first RTP
/// packet; `cont_seq`/`cont_ts` hold the position to continue from), active (they hold the
/// offsets added to the sender's sequence numbers and timestamps), or reports: no RTP rewritten
/// here, but the RTCP arriving here names a continued stream (see "RTCP" in the file comment).
/// Armed and active sides rename the RTCP arriving at them too.
enum class continuity : uint8_t { off, armed, active, reports };

/// Timestamp units between the last packet heard and the first one of the continued stream:
/// one 20 ms packet at the 8 kHz RTP clock of telephony codecs (G.711, G.729, G.722). The real
/// silence at the seam is longer; the marker bit tells the receiver to re-anchor its playout.
constexpr uint32_t continuity_seam_ts = 160;

/// Symmetric latching: a side follows the first packet's source as its remote, unless off.
enum class latching : uint8_t { waiting, latched, off };

/// A side's state in the relay table (its slot): only `live` sides are found by lookups.
/// free -> made (make) -> live (insert) -> retiring (remove) -> free (grace period over);
/// made -> free (remove before insert).
enum class slot_state : uint8_t { free, made, live, retiring };

/// One relay port of the appliance and the remote endpoint that talks to it. 128 bytes.
///
/// The members ending in `_` are the departure copy and its truth: read them through the
/// accessors and read_departure(), write them only through the functions below the struct
/// (they are public so the struct stays standard-layout and its lines can be checked).
struct alignas(64) media_side {
    /// read_departure()'s tries: 16 pauses are ~0.1-1 us, depending on the CPU's pause.
    static constexpr unsigned read_attempts = 16;

    media_side() = default;
    media_side(const media_side&) = delete;
    media_side& operator=(const media_side&) = delete;

    // --- line 0: all a packet arriving at this side touches ---
    // The departure copy, written under dep_seq_ (odd while a writer holds it; 16 bits: a
    // reader's few loads never span 32768 writes).
    std::atomic<uint64_t> dep_eth_{0};
    std::atomic<uint64_t> dep_eth_ports_{0};
    std::atomic<uint64_t> dep_addrs_{0};
    std::atomic<uint16_t> dep_seq_{0};
    std::atomic<uint16_t> dep_port_{departure::nowhere};
    // The rest of line 0 is written only by the worker that receives this side's flow (the
    // control thread reads the RTP state: continuity's stream_position).
    /// Timestamp of the packet with the highest sequence number (rtp_max_seq).
    std::atomic<uint32_t> rtp_last_ts{0};
    std::atomic<uint64_t> rx_packets{0};  ///< arrived at this side
    std::atomic<uint64_t> rx_bytes{0};    ///< UDP payload bytes arrived
    /// RTP packets the sender sent to this side by their sequence numbers (first to highest, over
    /// every SSRC it used); rtp_received() of them arrived, expected - received is the loss between
    /// the sender and the appliance. RTCP (also when muxed, RFC 5761) and non-RTP are not counted.
    /// 0 until the first RTP packet (so no flag says "started").
    std::atomic<uint64_t> rtp_expected{0};
    // RTP sequence state (RFC 3550 A.1, simplified): SSRC followed, highest seq.
    std::atomic<uint32_t> rtp_ssrc{0};
    std::atomic<uint16_t> rtp_max_seq{0};
    std::atomic<latching> latch{latching::waiting};
    /// The relay table's (relay_table.hh): read by every lookup of this slot, so it sits in the
    /// line the relay reads anyway.
    std::atomic<slot_state> entry{slot_state::free};

    // --- line 1: what the copies are made of; read and written on rare paths only ---
    // Set before the side is published; immutable afterwards.
    alignas(64) uint32_t local_addr = 0;
    uint16_t local_port = 0;
    uint8_t port_id = 0;  ///< DPDK port this side sends and receives on (RTE_MAX_ETHPORTS <= 255)
    /// Continuity (file comment): written by bridge() before the departure that flags it, then
    /// by the worker relaying the side (the offsets); the control thread reads them for
    /// heard_from(). Only packets flagged `departure::continuing` touch them.
    std::atomic<continuity> cont_state{continuity::off};
    rte_ether_addr local_mac{};
    std::atomic<uint16_t> cont_seq{0};  ///< armed: the next sequence number; active: the offset
    /// Arrived but not forwardable (no peer, or the peer has no remote yet).
    std::atomic<uint64_t> drops{0};
    /// Arrived but not RTP (RTCP, muxed or not, and anything else).
    std::atomic<uint64_t> non_rtp{0};
    std::atomic<media_side*> peer_{nullptr};
    std::atomic<uint64_t> remote_{0};
    std::atomic<uint64_t> remote_mac_{0};
    std::atomic<uint32_t> cont_ssrc{0};  ///< the SSRC the receiver hears
    std::atomic<uint32_t> cont_ts{0};    ///< armed: the next timestamp; active: the offset

    /// Reads the departure into `out`; false while a writer holds it (after a few tries: the
    /// caller drops the packet rather than wait for it). The tries, a pause apart, outlast a
    /// writer that is running (a handful of stores, tens of ns), so only a preempted one costs
    /// packets; four back-to-back tries did not: a worker's latch of the other direction made
    /// a new call's first packets drop (multi_worker_test, on a shared core).
    bool read_departure(departure& out) const {
        return read_departure_once(out) || read_departure_retrying(out);
    }
    /// One try: false when a writer held the lock or changed the copy meanwhile.
    bool read_departure_once(departure& out) const {
        const uint32_t seq = dep_seq_.load(std::memory_order_acquire);
        if (seq & 1) {
            return false;
        }
        out.eth = dep_eth_.load(std::memory_order_relaxed);
        out.eth_ports = dep_eth_ports_.load(std::memory_order_relaxed);
        out.addrs = dep_addrs_.load(std::memory_order_relaxed);
        out.port = dep_port_.load(std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_acquire);
        return dep_seq_.load(std::memory_order_relaxed) == seq;
    }
    /// The rest of the tries, a pause apart: out of line, so the relay's loop carries one try.
    __attribute__((noinline, cold)) bool read_departure_retrying(departure& out) const {
        for (unsigned attempt = 1; attempt < read_attempts; ++attempt) {
            rte_pause();
            if (read_departure_once(out)) {
                return true;
            }
        }
        return false;
    }
    /// Forwarded to the peer's remote: every arrival is either forwarded or dropped, so this is
    /// derived rather than counted (one store less per packet). A reader racing the worker may
    /// see the counters one packet apart.
    uint64_t fwd_packets() const {
        return rx_packets.load(std::memory_order_relaxed) - drops.load(std::memory_order_relaxed);
    }
    /// RTP packets arrived: derived the same way.
    uint64_t rtp_received() const {
        return rx_packets.load(std::memory_order_relaxed) - non_rtp.load(std::memory_order_relaxed);
    }
    /// Where packets arriving here are sent: the other side of the bridge.
    media_side* peer() const { return peer_.load(std::memory_order_acquire); }
    /// The remote endpoint (pack_endpoint) and its next hop (pack_mac): from SDP, then latched.
    uint64_t remote() const { return remote_.load(std::memory_order_acquire); }
    uint64_t remote_mac() const { return remote_mac_.load(std::memory_order_acquire); }
    bool latched() const { return latch.load(std::memory_order_acquire) == latching::latched; }

    /// Everything but `entry` back to a new side's values: the table reuses a slot this way once
    /// its grace period is over (no worker can hold it then).
    void reset();
};
static_assert(sizeof(media_side) == 128, "media state per stream stays within two cache lines");
static_assert(RTE_MAX_ETHPORTS < departure::continuing && RTE_MAX_ETHPORTS <= UINT8_MAX,
              "a DPDK port id fits port_id and leaves the departure's flag bit free");
static_assert(offsetof(media_side, entry) < 64 && offsetof(media_side, local_addr) == 64,
              "all a relayed packet touches in line 0, the rest in line 1");

// --- the writers (see the file comment for who may call them) ---

/// Control thread: packets arriving at `from` leave from `to` (nullptr: they are dropped), and
/// `from`'s departure becomes `to`'s. One step for the workers: a packet leaves with the old
/// or the new departure, never a mix. False if a worker held the lock for over a second
/// (a preempted worker; the departure is then unchanged).
/// With `continue_from` (`to`'s remote heard a stream up to there) `from`'s RTP continues that
/// stream (the file comment); without it `from`'s packets leave as they came, but for the RTCP
/// renamed when `rename_reports` (continuity::reports: the stream its reports are about, or the
/// one its RTP side sends, continues). To nullptr the continuity state is kept: heard_from()
/// reads it after the unbridge.
bool bridge(media_side& from, media_side* to, const stream_position* continue_from = nullptr,
            bool rename_reports = false);
/// Control thread: where the stream stands that `source`'s packets made for their receiver
/// (its peer's remote): what a bridge to that receiver should continue. Nothing when no RTP
/// arrived at `source` (the receiver heard nothing from it). Call it once `source` is
/// unbridged: a packet still in a worker's hands may then be skipped over, never repeated.
bool heard_from(const media_side& source, stream_position& out);
/// Control thread: `s`'s remote endpoint and next hop (mac 0: not known yet, so nothing is sent
/// to it); the side that sends to `s` follows.
bool set_remote(media_side& s, uint64_t endpoint, uint64_t mac);
/// Control thread: only the next hop (the neighbour table learnt it).
bool set_remote_mac(media_side& s, uint64_t mac);
/// The worker that receives `s`'s flow, on a packet arriving while `s` waits to latch: `s`'s
/// remote becomes the packet's source. Never waits: false (still waiting, the next packet tries
/// again) when another writer holds the peer's departure. A source that is the remote already
/// (no NAT in between, the usual case), with the copy made from it, only marks `s` latched:
/// nothing to recopy, no lock.
bool latch(media_side& s, uint64_t endpoint, uint64_t mac);

}  // namespace sf::dp
