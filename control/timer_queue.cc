// The timing wheel's slow paths: run(), cascades, overdue inserts, index growth.
// The design is described in timer_queue.hh.
#include "timer_queue.hh"

#include <algorithm>
#include <bit>
#include <cassert>

namespace sf::control {

timer_queue::timer_queue() : index_(64), index_shift_(64 - 6) {}

void timer_queue::insert_overdue(uint32_t n) {
    node& x = nodes_[n];
    list_head& h = lists_[overdue_list];
    // Sorted by (deadline, id); ids only grow, so a new one goes after its equals.
    uint32_t p = h.tail;
    while (p != nil && nodes_[p].when > x.when) {
        p = nodes_[p].prev;
    }
    x.list = overdue_list;
    x.prev = p;
    x.next = p == nil ? h.head : nodes_[p].next;
    (p == nil ? h.head : nodes_[p].next) = n;
    (x.next == nil ? h.tail : nodes_[x.next].prev) = n;
}

void timer_queue::cascade(uint16_t l) {
    uint32_t x = lists_[l].head;
    lists_[l] = list_head{};
    if (l < wheel_lists) {
        bitmap_[l / slots] &= ~(uint64_t{1} << (l % slots));
    } else {
        overflow_min_ = UINT64_MAX;
    }
    while (x != nil) {
        const uint32_t next = nodes_[x].next;
        assert(nodes_[x].when >= cur_);
        place(x);  // lands in a lower level, never in a slot still to cascade at this cursor
        x = next;
    }
}

void timer_queue::advance_to(ms_t c) {
    const ms_t old = cur_;
    cur_ = c;
    if ((old >> (levels * bits)) != (c >> (levels * bits)) && lists_[overflow_list].head != nil) {
        cascade(overflow_list);
    }
    for (unsigned level = levels - 1; level >= 1; --level) {
        const unsigned shift = level * bits;
        if ((old >> shift) != (c >> shift)) {
            const auto l = static_cast<uint16_t>(level * slots + ((c >> shift) & (slots - 1)));
            if (lists_[l].head != nil) {
                cascade(l);
            }
        }
    }
}

unsigned timer_queue::run(ms_t now, unsigned max) {
    if (now == UINT64_MAX) {
        now = UINT64_MAX - 1;  // the cursor must stay representable; UINT64_MAX means never
    }
    unsigned n = 0;
    while (n < max) {
        uint32_t x = lists_[overdue_list].head;
        if (x == nil && cur_ <= now) {
            x = lists_[cur_ & (slots - 1)].head;  // level 0: the timers due exactly at cur_
        }
        if (x != nil) {
            node& t = nodes_[x];
            if (t.when > now) {
                return n;  // an overdue timer not yet due: the clock went back
            }
            index_erase(t.tid);
            unlink(x);
            std::function<void()> fn = std::move(t.fn);
            free_node(x);
            --size_;
            ++n;
            fn();
            continue;
        }
        if (cur_ > now) {
            return n;
        }
        // Nothing at cur_: jump to the start of the next occupied slot (the lowest
        // occupied level has the earliest one) or to now + 1, whichever comes first.
        ms_t next = now + 1;
        bool found = false;
        for (unsigned level = 0; level < levels; ++level) {
            if (bitmap_[level] != 0) {
                const unsigned span = (level + 1) * bits;
                const ms_t base = (cur_ >> span) << span;
                const ms_t at = base | (ms_t{static_cast<unsigned>(std::countr_zero(bitmap_[level]))} << (level * bits));
                assert(at > cur_);
                next = std::min(next, at);
                found = true;
                break;
            }
        }
        if (!found && lists_[overflow_list].head != nil) {
            constexpr unsigned span = levels * bits;
            const ms_t block = ((cur_ >> span) + 1) << span;  // every overflow deadline is at or after it
            const ms_t at = std::max(block, (overflow_min_ >> span) << span);
            next = std::min(next, at);
        }
        advance_to(next);
        if (next > now) {
            return n;
        }
    }
    return n;
}

void timer_queue::index_grow() {
    std::vector<index_entry> old = std::move(index_);
    index_.assign(old.size() * 2, index_entry{});
    --index_shift_;
    const size_t mask = index_.size() - 1;
    for (const index_entry& e : old) {
        if (e.tid != 0) {
            size_t i = hash(e.tid, index_shift_);
            while (index_[i].tid != 0) {
                i = (i + 1) & mask;
            }
            index_[i] = e;
        }
    }
}

}  // namespace sf::control
