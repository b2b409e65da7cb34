#pragma once
/// @file
/// The RTP/RTCP relay table: one entry (a `media_side`) per appliance relay port, kept in the
/// table's own memory.
///
/// Written only by the control thread, read lock-free by every worker lcore. A removed entry's
/// slot is made again only after an RCU grace period (rte_rcu_qsbr), so a worker that found an
/// entry may keep using it until its next quiescent report.
///
/// Layout: a direct port index rather than a hash of the whole key. The key is (appliance
/// address, relay port); the appliance owns few addresses (each port's address plus its
/// `media_addresses` range) and 64k ports per address. So:
///   - an address directory: a small open-addressing array of (address, directory) slots
///     (multiplicative hash, linear probe; address 0 marks an empty slot), sized for
///     `max_addresses` and hot in L1/L2;
///   - per address, a directory of 256 page pointers (2 KB, also cache-resident);
///   - a page: the 256 media_sides of 256 consecutive ports (32 KB), allocated on the table's
///     socket (hugepages where the EAL has them) the first time one of its ports is made.
/// The key computes its side's address from cache-resident data, so a lookup costs the one line
/// the relay reads anyway: the side's line 0, whose `entry` says whether the slot is published.
/// The relay prefetches each side a few packets before its turn (locate_bulk). Before (pages of pointers
/// to heap-allocated sides) the page line holding the pointer came first, a dependent second
/// line; before that, rte_hash touched three lines per key (buckets and key slot; at 1M entries
/// ~48-63 ns/key against ~12-17 ns at 1k, with or without hugepages). Addresses, directories and
/// pages are never removed while the table lives (a page whose ports are all removed stays:
/// ports are reused, and 32 KB per 256 ports is the price of the direct index).
///
/// Slot states (media_side::entry): free -> made (make) -> live (insert) -> retiring (remove)
/// -> free (grace period over); made -> free (remove before insert). Only make() resets a slot,
/// and only a free one, which no worker can hold.
///
/// Publication order (release stores, read with acquire loads): a side is fully initialised
/// before it is live; a new page (all slots free) before its directory entry; a new directory
/// before its address slot.
///
/// Removal rule for the control thread: before removing side B, make sure no other side
/// forwards to B (bridge() it elsewhere or to nothing); the grace period then covers workers
/// that found B before the change.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>

#include "media_side.hh"

struct rte_memzone;
struct rte_rcu_qsbr;

namespace sf::dp {

/// Lookup key: an appliance address and relay port (host byte order).
/// 8 bytes, 8-aligned: one word per key in the workers' bursts.
struct alignas(8) relay_key {
    uint32_t addr = 0;
    uint16_t port = 0;
    uint16_t zero = 0;  ///< keeps the 8-byte key free of padding garbage
};
static_assert(sizeof(relay_key) == 8);

class relay_table {
public:
    /// `readers`: number of worker lcores (RCU reader ids 0..readers-1).
    /// `max_addresses`: distinct appliance addresses the table can hold (each costs a 2 KB
    /// directory plus its pages); a make() for a new address beyond it fails.
    /// `name` must be unique among live tables (it names the table's memzone).
    relay_table(const char* name, uint32_t capacity, unsigned readers, int socket_id,
                uint32_t max_addresses = 4096);
    ~relay_table();
    relay_table(const relay_table&) = delete;
    relay_table& operator=(const relay_table&) = delete;

    // --- control thread only ---
    /// The side of (addr, port), reset, in the table's memory; lookups do not find it yet.
    /// Fill in what the caller owns (port_id, local_mac, remote, peer), then insert() it, or
    /// remove() it to give it back. nullptr if the key is taken (published, made, or removed
    /// and still in its grace period), the table is full (published, made and grace-period
    /// entries reach capacity), the address is 0, or new with max_addresses in use, or memory
    /// for a page runs out.
    media_side* make(uint32_t addr, uint16_t port);
    /// Publishes a side from make(): workers find it from now on. False for anything else
    /// (published already, removed, not the table's).
    bool insert(media_side* side);
    /// Unpublishes the side at (addr, port); its slot can be made again once every worker has
    /// passed a quiescent state, never inside this call (the control thread may still read
    /// the side until its next make or remove). A side made but never inserted is given back
    /// at once. Reclaims up to 16 earlier removals whose grace period is over.
    bool remove(uint32_t addr, uint16_t port);
    /// The published side at (addr, port) or nullptr.
    media_side* find(uint32_t addr, uint16_t port) const;
    /// Published entries (not those made, nor those waiting for their grace period).
    uint32_t size() const { return published_; }
    uint32_t capacity() const { return capacity_; }
    uint32_t max_addresses() const { return max_addresses_; }
    /// Distinct addresses that ever held an entry (they stay until the table is destroyed).
    uint32_t addresses() const { return addresses_; }
    /// Removed sides still waiting for their grace period.
    uint32_t pending() const { return static_cast<uint32_t>(pending_.size()); }
    /// The workers' RCU variable: they report quiescent between bursts, outside every driver
    /// call, so its grace period also covers the ports they poll (unmap_grace.hh).
    rte_rcu_qsbr* readers() const { return rcu_; }

    // --- workers ---
    /// Looks up n keys (n <= 64); out[i] is the published side or nullptr. Returns the hit
    /// count. First computes every key's side address and prefetches its line 0 (no load that
    /// can miss on the way: address slots and directories are cache-resident), then reads them.
    unsigned lookup_bulk(const relay_key* const* keys, unsigned n, media_side** out) const;
    /// lookup_bulk's first half, for a caller with work to do per key: where[i] is the slot of
    /// keys[i] (a never-live stand-in when its address or page does not exist); nothing is read
    /// from it or prefetched yet. The caller prefetches each slot's line 0 (the one line that
    /// may miss) a few keys ahead of its use, no more than the core's misses in flight (10-16
    /// L1 fill buffers on Intel server cores, more on AMD's): a prefetch that finds every fill
    /// buffer taken waits for one and stalls the core, so prefetching a whole burst at once
    /// serialises the misses instead of overlapping them with the work on the keys before.
    /// Then live_side() on each in turn. Any n.
    void locate_bulk(const relay_key* const* keys, unsigned n, const media_side** where) const;
    /// locate_bulk for one key (host byte order), for a caller that meets its keys one at a time:
    /// the worker, as it classifies a burst (relay.hh, relay_burst's `located`). It prefetches
    /// each slot as it finds it: one packet's classification apart, the misses overlap without
    /// queueing for fill buffers as a whole burst asked at once would.
    const media_side* locate(uint32_t addr, uint16_t port) const;
    /// The published side of port - 1 at the address of `odd` (a side of this table on an odd
    /// port: an RTCP port, whose RTP port is the even one below), else nullptr. No lookup: a page
    /// holds 256 consecutive ports from a multiple of 256, so the two are neighbours in one
    /// page's array. The relay's RTCP rename uses it on its rare path, without the table.
    static media_side* even_neighbour(const media_side* odd) { return live_side(odd - 1); }
    /// The side if it is published (a slot from locate_bulk), else nullptr.
    static media_side* live_side(const media_side* slot) {
        return slot->entry.load(std::memory_order_acquire) == slot_state::live ? const_cast<media_side*>(slot)
                                                                               : nullptr;
    }
    rte_rcu_qsbr* rcu() const { return rcu_; }
    /// Worker `id` takes part in grace periods (call once on the worker).
    void reader_register(unsigned id);
    /// Worker `id` holds no entry pointers now (call once per loop).
    void reader_quiescent(unsigned id);
    /// Worker `id` goes to sleep / wakes up (its absence does not hold up frees).
    void reader_offline(unsigned id);
    void reader_online(unsigned id);

    static constexpr unsigned page_ports = 256;  ///< sides per page (32 KB)
    static constexpr unsigned dir_pages = 65536 / page_ports;

    struct page {
        media_side sides[page_ports];
    };
    struct directory {
        std::atomic<page*> pages[dir_pages];
    };
    struct alignas(16) addr_slot {
        std::atomic<uint32_t> addr{0};  ///< 0: empty; written last (release)
        std::atomic<directory*> dir{nullptr};
    };

private:
    /// The address's directory or nullptr (readers and control).
    directory* dir_of(uint32_t addr) const;
    /// The slot of (addr, port) in any state, or nullptr when its address or page does not exist.
    media_side* slot_of(uint32_t addr, uint16_t port) const;
    /// Frees the slots of removed sides whose grace period is over, at most `limit` of them.
    void reclaim(size_t limit);

    struct pending_free {
        uint64_t token;
        media_side* side;
    };

    const rte_memzone* mz_ = nullptr;  ///< the address slots (and the table's unique name)
    addr_slot* slots_ = nullptr;
    uint32_t slot_mask_ = 0;
    uint32_t hash_shift_ = 0;
    rte_rcu_qsbr* rcu_ = nullptr;
    int socket_id_ = 0;
    uint32_t capacity_ = 0;
    uint32_t max_addresses_ = 0;
    uint32_t addresses_ = 0;
    uint32_t published_ = 0;
    uint32_t made_ = 0;                 ///< made, not yet inserted
    std::deque<pending_free> pending_;  ///< FIFO in token order (control thread only)
};

}  // namespace sf::dp
