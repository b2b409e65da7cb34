#include "relay_table.hh"

#include <rte_branch_prediction.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_memzone.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace sf::dp {

namespace {

// What a key whose address or page does not exist reads: a side that is never live.
const media_side no_side;

// Removed sides freed per insert/remove when their grace period is over: keeps the control
// thread's per-operation cost bounded while the FIFO drains at the rate it fills.
constexpr size_t lazy_reclaim = 16;

}  // namespace

relay_table::relay_table(const char* name, uint32_t capacity, unsigned readers, int socket_id,
                         uint32_t max_addresses)
    : socket_id_(socket_id), capacity_(capacity), max_addresses_(max_addresses == 0 ? 1 : max_addresses) {
    // At most half full, so that probes for absent addresses stay short.
    uint32_t bits = 1;
    while ((uint32_t{1} << bits) < 2 * max_addresses_) {
        ++bits;
    }
    slot_mask_ = (uint32_t{1} << bits) - 1;
    hash_shift_ = 32 - bits;
    // A memzone rather than rte_malloc: its name is unique, so two live tables cannot share one.
    const std::string mz_name = std::string("RT_") + name;
    mz_ = rte_memzone_reserve_aligned(mz_name.c_str(), sizeof(addr_slot) * (slot_mask_ + 1), socket_id, 0,
                                      RTE_CACHE_LINE_SIZE);
    if (mz_ == nullptr) {
        throw std::runtime_error(std::string("relay table: cannot reserve memzone ") + mz_name + ": " +
                                 rte_strerror(rte_errno));
    }
    slots_ = static_cast<addr_slot*>(mz_->addr);
    for (uint32_t i = 0; i <= slot_mask_; ++i) {
        new (&slots_[i]) addr_slot();
    }

    const unsigned n = readers == 0 ? 1 : readers;
    const size_t sz = rte_rcu_qsbr_get_memsize(n);
    rcu_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc_socket("relay_rcu", sz, RTE_CACHE_LINE_SIZE, socket_id));
    if (rcu_ == nullptr || rte_rcu_qsbr_init(rcu_, n) != 0) {
        rte_free(rcu_);
        rte_memzone_free(mz_);
        throw std::runtime_error("relay table: cannot set up RCU");
    }
}

relay_table::~relay_table() {
    // Workers are stopped by now. Sides live in the pages (trivially destructible): freeing
    // the pages frees published, made and retiring sides alike.
    for (uint32_t i = 0; i <= slot_mask_; ++i) {
        directory* d = slots_[i].dir.load(std::memory_order_relaxed);
        if (d == nullptr) {
            continue;
        }
        for (auto& pg : d->pages) {
            rte_free(pg.load(std::memory_order_relaxed));
        }
        rte_free(d);
    }
    rte_free(rcu_);
    rte_memzone_free(mz_);
}

relay_table::directory* relay_table::dir_of(uint32_t addr) const {
    uint32_t i = (addr * 0x9e3779b1u) >> hash_shift_;
    for (uint32_t probes = 0; probes <= slot_mask_; ++probes, i = (i + 1) & slot_mask_) {
        const uint32_t a = slots_[i].addr.load(std::memory_order_acquire);
        if (a == addr) {
            // addr 0 matches an empty slot, whose dir is nullptr: a miss, as it should be.
            return slots_[i].dir.load(std::memory_order_acquire);
        }
        if (a == 0) {
            return nullptr;
        }
    }
    return nullptr;
}

media_side* relay_table::slot_of(uint32_t addr, uint16_t port) const {
    directory* d = dir_of(addr);
    if (d == nullptr) {
        return nullptr;
    }
    page* p = d->pages[port / page_ports].load(std::memory_order_acquire);
    if (p == nullptr) {
        return nullptr;
    }
    return &p->sides[port % page_ports];
}

void relay_table::reclaim(size_t limit) {
    while (limit-- > 0 && !pending_.empty()) {
        if (rte_rcu_qsbr_check(rcu_, pending_.front().token, false) != 1) {
            return;  // tokens are in order: later ones cannot be done either
        }
        pending_.front().side->entry.store(slot_state::free, std::memory_order_relaxed);
        pending_.pop_front();
    }
}

media_side* relay_table::make(uint32_t addr, uint16_t port) {
    if (addr == 0) {
        return nullptr;  // 0 marks an empty address slot
    }
    reclaim(lazy_reclaim);
    if (published_ + made_ + pending_.size() >= capacity_) {
        // Full: free whatever has finished its grace period (never waits for readers).
        reclaim(pending_.size());
        if (published_ + made_ + pending_.size() >= capacity_) {
            return nullptr;
        }
    }

    // The address's directory, created if the address is new (published below, once its
    // page exists: a reader that sees the address finds a directory, all of its slots free).
    uint32_t i = (addr * 0x9e3779b1u) >> hash_shift_;
    addr_slot* slot = nullptr;
    for (uint32_t probes = 0; probes <= slot_mask_; ++probes, i = (i + 1) & slot_mask_) {
        const uint32_t a = slots_[i].addr.load(std::memory_order_relaxed);
        if (a == addr || a == 0) {
            slot = &slots_[i];
            break;
        }
    }
    if (slot == nullptr) {
        return nullptr;  // cannot happen: the array is twice max_addresses
    }
    directory* d = slot->dir.load(std::memory_order_relaxed);
    const bool new_addr = d == nullptr;
    if (new_addr) {
        if (addresses_ >= max_addresses_) {
            return nullptr;
        }
        d = static_cast<directory*>(rte_zmalloc_socket("relay_dir", sizeof(directory), RTE_CACHE_LINE_SIZE,
                                                       socket_id_));
        if (d == nullptr) {
            return nullptr;
        }
    }
    std::atomic<page*>& pg = d->pages[port / page_ports];
    page* p = pg.load(std::memory_order_relaxed);
    if (p == nullptr) {
        p = static_cast<page*>(rte_malloc_socket("relay_page", sizeof(page), RTE_CACHE_LINE_SIZE, socket_id_));
        if (p == nullptr) {
            if (new_addr) {
                rte_free(d);
            }
            return nullptr;
        }
        for (media_side& s : p->sides) {
            new (&s) media_side();  // every slot free
        }
        pg.store(p, std::memory_order_release);  // page before its directory entry
    }
    if (new_addr) {
        // Directory before its address: a reader that sees the address sees its directory.
        slot->dir.store(d, std::memory_order_release);
        slot->addr.store(addr, std::memory_order_release);
        ++addresses_;
    }
    media_side& s = p->sides[port % page_ports];
    if (s.entry.load(std::memory_order_relaxed) == slot_state::retiring) {
        reclaim(pending_.size());  // removed a while ago, perhaps: its grace period may be over
    }
    if (s.entry.load(std::memory_order_relaxed) != slot_state::free) {
        return nullptr;  // the key is taken
    }
    // Free means no worker can hold it (never published, or past its grace period).
    s.reset();
    s.local_addr = addr;
    s.local_port = port;
    s.entry.store(slot_state::made, std::memory_order_relaxed);
    ++made_;
    return &s;
}

bool relay_table::insert(media_side* side) {
    if (side == nullptr || side->entry.load(std::memory_order_relaxed) != slot_state::made ||
        slot_of(side->local_addr, side->local_port) != side) {
        return false;
    }
    side->entry.store(slot_state::live, std::memory_order_release);  // the side's fields before
    --made_;
    ++published_;
    return true;
}

bool relay_table::remove(uint32_t addr, uint16_t port) {
    media_side* s = slot_of(addr, port);
    if (s == nullptr) {
        return false;
    }
    switch (s->entry.load(std::memory_order_relaxed)) {
        case slot_state::made:  // never found by a worker: free at once
            s->entry.store(slot_state::free, std::memory_order_relaxed);
            --made_;
            return true;
        case slot_state::live:
            break;
        default:
            return false;
    }
    // Reclaim older removals first: the side removed now is never freed inside this call (with
    // every reader offline its grace period would be over at once), so the control thread may
    // still read it after the call, until its next make or remove.
    reclaim(lazy_reclaim);
    s->entry.store(slot_state::retiring, std::memory_order_release);
    // Readers that found it before the store report quiescence after this token.
    pending_.push_back(pending_free{rte_rcu_qsbr_start(rcu_), s});
    --published_;
    return true;
}

media_side* relay_table::find(uint32_t addr, uint16_t port) const {
    media_side* s = slot_of(addr, port);
    return s != nullptr && s->entry.load(std::memory_order_acquire) == slot_state::live ? s : nullptr;
}

const media_side* relay_table::locate(uint32_t addr, uint16_t port) const {
    // Address slots and directories are cache-resident: the side's address is arithmetic from there.
    const media_side* s = slot_of(addr, port);
    return s == nullptr ? &no_side : s;
}

void relay_table::locate_bulk(const relay_key* const* keys, unsigned n, const media_side** where) const {
    for (unsigned i = 0; i < n; ++i) {
        where[i] = locate(keys[i]->addr, keys[i]->port);
    }
}

unsigned relay_table::lookup_bulk(const relay_key* const* keys, unsigned n, media_side** out) const {
    // Every key's line 0 is asked for before any is read (at a million entries each is a
    // miss: they overlap instead of queueing); then each side's state.
    constexpr unsigned max_n = 64;
    if (n > max_n) {  // outside the contract: the rest in further calls rather than past `where`
        return lookup_bulk(keys, max_n, out) + lookup_bulk(keys + max_n, n - max_n, out + max_n);
    }
    const media_side* where[max_n];
    locate_bulk(keys, n, where);
    for (unsigned i = 0; i < n; ++i) {
        rte_prefetch0(where[i]);  // nothing to overlap here: all at once
    }
    unsigned hits = 0;
    for (unsigned i = 0; i < n; ++i) {
        out[i] = live_side(where[i]);
        hits += out[i] != nullptr;
    }
    return hits;
}

void relay_table::reader_register(unsigned id) {
    rte_rcu_qsbr_thread_register(rcu_, id);
    rte_rcu_qsbr_thread_online(rcu_, id);
}

void relay_table::reader_quiescent(unsigned id) {
    rte_rcu_qsbr_quiescent(rcu_, id);
}

void relay_table::reader_offline(unsigned id) {
    rte_rcu_qsbr_thread_offline(rcu_, id);
}

void relay_table::reader_online(unsigned id) {
    rte_rcu_qsbr_thread_online(rcu_, id);
}

}  // namespace sf::dp
