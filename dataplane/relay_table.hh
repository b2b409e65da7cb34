#pragma once
/// @file
/// The RTP/RTCP relay table: one entry (a `media_side`) per appliance relay port.
///
/// Written only by the control thread, read lock-free by every worker lcore
/// (rte_hash with RW_CONCURRENCY_LF). Deleted entries are freed after an RCU
/// grace period (rte_rcu_qsbr, the hash's defer queue), so a worker that found an
/// entry may keep using it until its next quiescent report.
///
/// A call's media is two sides bridged by their `peer` pointers: a packet that
/// arrives at side A (from A's remote) leaves from side B's local address to B's
/// remote. Moving media after a transfer is one atomic store of A's `peer`
/// (make-before-break: the new side is installed first).
///
/// Removal rule for the control thread: before removing side B, make sure no
/// other side's `peer` still points to B (clear or swap it); the grace period then
/// covers workers that loaded B through a peer pointer before the change.

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <rte_ether.h>

struct rte_hash;
struct rte_rcu_qsbr;

namespace sf::dp {

/// Hash key: an appliance address and relay port (host byte order).
/// 8-aligned: rte_hash's CRC reads the key as one 64-bit word (UBSan flags a 4-aligned key).
struct alignas(8) relay_key {
    uint32_t addr = 0;
    uint16_t port = 0;
    uint16_t zero = 0;  ///< keeps the 8-byte key free of padding garbage
};
static_assert(sizeof(relay_key) == 8);

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

/// One relay port of the appliance and the remote endpoint that talks to it.
///
/// Two cache lines, split by who reads them: a packet arriving at this side touches only
/// line 0 (its peer pointer, counters, RTP sequence state), a packet leaving from this side
/// (arriving at the peer) only line 1 (addresses and next hop). At a million entries each
/// line is a cache miss, so a relayed packet costs two of them rather than three.
struct alignas(64) media_side {
    // --- line 0: the arrival path, written only by the worker that receives this side's flow ---
    /// Where packets arriving here are sent: the other side of the bridge.
    std::atomic<media_side*> peer{nullptr};
    std::atomic<uint64_t> rx_packets{0};     ///< arrived at this side
    std::atomic<uint64_t> rx_bytes{0};       ///< UDP payload bytes arrived
    std::atomic<uint64_t> last_seen_tsc{0};
    /// RTP packets the sender sent to this side by their sequence numbers (first to highest, over
    /// every SSRC it used) and those that arrived; expected - received is the loss between the
    /// sender and the appliance. RTCP (also when muxed, RFC 5761) and non-RTP are not counted.
    std::atomic<uint64_t> rtp_expected{0};
    std::atomic<uint64_t> rtp_received{0};
    // RTP sequence state of what arrives here (worker-private; RFC 3550 A.1, simplified): the
    // SSRC followed and the highest sequence number seen.
    uint32_t rtp_ssrc = 0;
    uint16_t rtp_max_seq = 0;
    bool rtp_started = false;
    bool latch_enabled = true;  ///< symmetric latching: follow the first packet's source (set before publishing)
    std::atomic<bool> latched{false};

    // --- line 1: the departure path (read when this side is a packet's way out) ---
    // Set by control before the side is published; immutable afterwards.
    alignas(64) uint32_t local_addr = 0;
    uint16_t local_port = 0;
    uint16_t port_id = 0;  ///< DPDK port this side sends and receives on
    rte_ether_addr local_mac{};
    // The remote endpoint (from SDP, then latched from the first packet: a rare write).
    std::atomic<uint64_t> remote{0};      ///< pack_endpoint()
    std::atomic<uint64_t> remote_mac{0};  ///< pack_mac(): next hop towards remote
    /// Arrived but not forwardable (no peer/remote yet); rare, so kept off line 0.
    std::atomic<uint64_t> drops{0};

    /// Forwarded to the peer's remote: every arrival is either forwarded or dropped, so this is
    /// derived rather than counted (one store less per packet). A reader racing the worker may
    /// see the two counters one packet apart.
    uint64_t fwd_packets() const {
        return rx_packets.load(std::memory_order_relaxed) - drops.load(std::memory_order_relaxed);
    }
};
static_assert(sizeof(media_side) <= 128, "media state per stream stays within two cache lines");
static_assert(offsetof(media_side, latched) < 64 && offsetof(media_side, local_addr) == 64,
              "arrival fields in line 0, departure fields in line 1");

class relay_table {
public:
    /// `readers`: number of worker lcores (RCU reader ids 0..readers-1).
    relay_table(const char* name, uint32_t capacity, unsigned readers, int socket_id);
    ~relay_table();
    relay_table(const relay_table&) = delete;
    relay_table& operator=(const relay_table&) = delete;

    // --- control thread only ---
    /// Publishes a fully initialised side. False if the key exists or the table is full.
    bool insert(media_side* side);
    /// Unpublishes the side at (addr, port); it is freed after the grace period.
    bool remove(uint32_t addr, uint16_t port);
    /// The side at (addr, port) or nullptr.
    media_side* find(uint32_t addr, uint16_t port) const;
    uint32_t size() const;
    uint32_t capacity() const { return capacity_; }

    // --- workers ---
    /// Looks up n keys (n <= 64, RTE_HASH_LOOKUP_BULK_MAX); out[i] is the side or nullptr. Returns the hit count.
    unsigned lookup_bulk(const relay_key* const* keys, unsigned n, media_side** out) const;
    rte_rcu_qsbr* rcu() const { return rcu_; }
    /// Worker `id` takes part in grace periods (call once on the worker).
    void reader_register(unsigned id);
    /// Worker `id` holds no entry pointers now (call once per loop).
    void reader_quiescent(unsigned id);
    /// Worker `id` goes to sleep / wakes up (its absence does not hold up frees).
    void reader_offline(unsigned id);
    void reader_online(unsigned id);

private:
    rte_hash* hash_ = nullptr;
    rte_rcu_qsbr* rcu_ = nullptr;
    uint32_t capacity_ = 0;
    uint32_t published_ = 0;  ///< rte_hash_count() also counts slots still in their grace period
};

}  // namespace sf::dp
