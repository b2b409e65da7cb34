#pragma once
/// @file
/// The control shard's timers (SIP transaction timers A-K, 2xx retransmission,
/// session timers, call duration limits, housekeeping): a hierarchical timing
/// wheel with millisecond resolution, cancellable by id.
///
/// Why a wheel: a shard carries 100k+ calls, each with several live timers
/// (two per transaction, session timers, ring and duration limits), and most
/// of them are cancelled before they fire. An ordered map costs O(log n) and
/// an allocation per add and per cancel, plus a hash map for cancel by id; the
/// wheel adds and cancels in O(1) with no allocation (nodes come from a slab
/// with a free list; only a callback too big for std::function's inline
/// buffer allocates), and run() costs the timers that fire plus the occupied
/// slots the clock passes.
///
/// Design:
/// - Six levels of 64 slots; level L slot s holds timers whose deadline
///   agrees with the cursor on every 6-bit group above L and has group L = s
///   (the Varghese-Lauck/Linux placement by the highest differing bit group).
///   Level 0 slots are single milliseconds; the six levels span 2^36 ms
///   (~795 days). Deadlines further away wait in an overflow list that is
///   re-placed when the cursor crosses a 2^36 ms boundary.
/// - A 64-bit occupancy bitmap per level finds the next occupied slot in
///   O(1), so run() jumps over empty time (a clock jump of days is cheap).
///   When the cursor enters a higher-level slot, that slot cascades: its
///   timers move down to where they belong; a timer moves at most six times.
/// - Every list is FIFO and cascades keep list order, so all timers with one
///   deadline are always in one list in insertion order: ties fire in the
///   order they were added, as with the map this replaced.
/// - Deadlines before the cursor (already past when added) go to a small
///   list kept sorted by (deadline, id); it is drained before the wheel, so
///   they fire first on the next run, in deadline order. Adding one is O(1)
///   when its deadline is the latest of the overdue ones (the usual case,
///   "now + 0"), O(overdue) otherwise.
/// - Ids come from a 64-bit counter (never reused; 0 is never an id); an
///   open-addressing hash table (linear probing, backward-shift delete, no
///   per-entry allocation) maps an id to its node for cancel.
/// Memory is bounded by the peak number of outstanding timers: one node
/// (~64 bytes) and at most four hash entries (16 bytes each) per timer.

#include <bit>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace sf::control {

using ms_t = uint64_t;

class timer_queue {
public:
    using id = uint64_t;

    timer_queue();
    timer_queue(const timer_queue&) = delete;
    timer_queue& operator=(const timer_queue&) = delete;
    timer_queue(timer_queue&&) = default;
    timer_queue& operator=(timer_queue&&) = default;

    /// Calls `fn` from the first run(now) with now >= `when` (on the next run if
    /// `when` is already past). Ids are never 0 and never reused.
    id add(ms_t when, std::function<void()> fn) {
        const id t = ++last_id_;
        const uint32_t n = alloc_node();
        node& x = nodes_[n];
        x.fn = std::move(fn);
        x.when = when;
        x.tid = t;
        if (when < cur_) {
            insert_overdue(n);
        } else {
            place(n);
        }
        index_insert(t, n);
        ++size_;
        return t;
    }

    /// Drops timer `t` (no-op if it fired, was cancelled, or never existed).
    void cancel(id t) {
        const uint32_t n = index_erase(t);
        if (n == nil) {
            return;
        }
        unlink(n);
        // The callback's captures are destroyed last, once the queue is consistent again
        // (their destructors may add or cancel timers).
        std::function<void()> dead = std::move(nodes_[n].fn);
        free_node(n);
        --size_;
    }

    /// Runs the timers due at `now` in (deadline, insertion) order, at most `max`
    /// of them; callbacks may add and cancel timers, and ones they add that are
    /// due at `now` run in this call too. Returns how many ran.
    unsigned run(ms_t now, unsigned max = 1024);

    /// Outstanding timers.
    size_t size() const { return size_; }
    /// Nodes allocated (outstanding plus free): the peak of size(), for tests.
    size_t capacity() const { return nodes_.size(); }

private:
    static constexpr unsigned bits = 6;
    static constexpr unsigned slots = 1u << bits;
    static constexpr unsigned levels = 6;
    static constexpr unsigned wheel_lists = levels * slots;
    static constexpr uint16_t overflow_list = wheel_lists;  ///< beyond 2^36 ms from the cursor
    static constexpr uint16_t overdue_list = wheel_lists + 1;  ///< before the cursor, sorted
    static constexpr uint16_t no_list = wheel_lists + 2;  ///< free node
    static constexpr uint32_t nil = UINT32_MAX;

    struct node {
        std::function<void()> fn;
        ms_t when = 0;
        id tid = 0;
        uint32_t prev = nil, next = nil;
        uint16_t list = no_list;
    };
    struct list_head {
        uint32_t head = nil, tail = nil;
    };
    struct index_entry {
        id tid = 0;  ///< 0: empty
        uint32_t node = nil;
    };

    uint32_t alloc_node() {
        if (free_ != nil) {
            const uint32_t n = free_;
            free_ = nodes_[n].next;
            return n;
        }
        nodes_.emplace_back();
        return static_cast<uint32_t>(nodes_.size() - 1);
    }
    void free_node(uint32_t n) {
        node& x = nodes_[n];
        x.fn = nullptr;  // already moved out by cancel() and run()
        x.tid = 0;
        x.list = no_list;
        x.prev = nil;
        x.next = free_;
        free_ = n;
    }

    void push_back(uint16_t l, uint32_t n) {
        node& x = nodes_[n];
        list_head& h = lists_[l];
        x.list = l;
        x.next = nil;
        x.prev = h.tail;
        if (h.tail == nil) {
            h.head = n;
            if (l < wheel_lists) {
                bitmap_[l / slots] |= uint64_t{1} << (l % slots);
            }
        } else {
            nodes_[h.tail].next = n;
        }
        h.tail = n;
    }
    void unlink(uint32_t n) {
        node& x = nodes_[n];
        list_head& h = lists_[x.list];
        (x.prev == nil ? h.head : nodes_[x.prev].next) = x.next;
        (x.next == nil ? h.tail : nodes_[x.next].prev) = x.prev;
        if (h.head == nil && x.list < wheel_lists) {
            bitmap_[x.list / slots] &= ~(uint64_t{1} << (x.list % slots));
        }
        x.prev = x.next = nil;
    }
    /// Puts node `n` (when >= cur_) in its wheel slot or the overflow list.
    void place(uint32_t n) {
        const ms_t when = nodes_[n].when;
        const uint64_t diff = when ^ cur_;
        const unsigned level = diff == 0 ? 0 : (63u - static_cast<unsigned>(std::countl_zero(diff))) / bits;
        if (level >= levels) {
            push_back(overflow_list, n);
            if (when < overflow_min_) {
                overflow_min_ = when;
            }
            return;
        }
        push_back(static_cast<uint16_t>(level * slots + ((when >> (level * bits)) & (slots - 1))), n);
    }
    void insert_overdue(uint32_t n);
    void advance_to(ms_t c);
    void cascade(uint16_t l);

    static size_t hash(id t, unsigned shift) { return static_cast<size_t>((t * 0x9E3779B97F4A7C15ull) >> shift); }
    void index_insert(id t, uint32_t n) {
        if (2 * (size_ + 1) > index_.size()) {
            index_grow();
        }
        const size_t mask = index_.size() - 1;
        size_t i = hash(t, index_shift_);
        while (index_[i].tid != 0) {
            i = (i + 1) & mask;
        }
        index_[i] = index_entry{t, n};
    }
    /// Removes `t` from the index and returns its node, nil if absent.
    uint32_t index_erase(id t) {
        if (t == 0) {
            return nil;
        }
        const size_t mask = index_.size() - 1;
        size_t i = hash(t, index_shift_);
        while (index_[i].tid != t) {
            if (index_[i].tid == 0) {
                return nil;
            }
            i = (i + 1) & mask;
        }
        const uint32_t n = index_[i].node;
        // Backward-shift deletion: pull later entries of the probe run into the hole.
        size_t hole = i;
        for (size_t j = (i + 1) & mask; index_[j].tid != 0; j = (j + 1) & mask) {
            const size_t home = hash(index_[j].tid, index_shift_);
            // Movable if its home is not in the cyclic range (hole, j].
            if (((j - home) & mask) >= ((j - hole) & mask)) {
                index_[hole] = index_[j];
                hole = j;
            }
        }
        index_[hole] = index_entry{};
        return n;
    }
    void index_grow();

    std::vector<node> nodes_;
    uint32_t free_ = nil;
    list_head lists_[wheel_lists + 2];
    uint64_t bitmap_[levels] = {};
    ms_t overflow_min_ = UINT64_MAX;  ///< <= every deadline in the overflow list
    std::vector<index_entry> index_;
    unsigned index_shift_ = 64;
    ms_t cur_ = 0;  ///< every millisecond before this one has been run
    size_t size_ = 0;
    id last_id_ = 0;
};

}  // namespace sf::control
