#pragma once
/// @file
/// Per-source SIP rate limiting in the worker, before the control ring: a SIP
/// flood from a few sources must not fill the control thread's ring, and must
/// never make the worker (and the RTP it relays) wait.
///
/// One limiter per worker, used by that worker only (no locks, no atomics). Each
/// IPv4 source has a token bucket of `burst` messages refilled at `rate` per
/// second, kept as a GCRA "theoretical arrival time" (one 64-bit word per
/// source: a message passes when at most burst - 1 messages' worth of time is
/// already booked ahead of now), so the path has no division and no syscall:
/// the clock is the TSC value the worker read for the burst.
///
/// The sources live in an rte_hash (4-byte key, jhash with a random seed, sized
/// twice the tracked count so cuckoo inserts succeed and a lookup touches at most
/// two buckets) whose data is an index into a dense slot array. When `sources`
/// are tracked, a new source replaces one chosen by a bounded CLOCK sweep (second
/// chance, at most 32 slots looked at): a slot whose bucket is full again (its
/// source was quiet long enough to refill, so forgetting it changes nothing) or
/// that was not seen since the hand last passed. An evicted source that comes
/// back starts with a full bucket.

#include <cstdint>
#include <memory>

struct rte_hash;

namespace sf::dp {

class sip_limiter {
public:
    /// `rate` messages per second (> 0) with bursts of `burst` (>= 1) per source,
    /// up to `sources` (>= 8) sources tracked; `tsc_hz` is what now_tsc counts in.
    /// Throws std::runtime_error when the table cannot be allocated.
    sip_limiter(const char* name, uint32_t rate, uint32_t burst, uint32_t sources, uint64_t tsc_hz, int socket_id);
    ~sip_limiter();
    sip_limiter(const sip_limiter&) = delete;
    sip_limiter& operator=(const sip_limiter&) = delete;

    /// True when a message from `src` (IPv4) may pass at `now_tsc`, taking one token.
    /// False when the source is over its rate (or, never in practice, cannot be tracked).
    bool allow(uint32_t src, uint64_t now_tsc);

    /// Distinct sources in the table (a gauge; grows up to `capacity()` and stays there).
    uint32_t tracked() const { return tracked_; }
    uint32_t capacity() const { return capacity_; }
    /// Sources replaced to make room for new ones.
    uint64_t evictions() const { return evictions_; }

private:
    struct slot {
        uint64_t tat;  ///< theoretical arrival time: the bucket is full when tat <= now
        uint32_t key;  ///< the source address (to delete it on eviction)
        uint8_t seen;  ///< CLOCK reference bit
    };
    /// A slot for a source not in the table yet (nullptr: cannot track it).
    slot* admit(uint32_t src, uint64_t now_tsc);

    rte_hash* hash_ = nullptr;
    slot* slots_ = nullptr;
    uint32_t capacity_ = 0;
    uint32_t tracked_ = 0;
    uint32_t hand_ = 0;
    uint64_t evictions_ = 0;
    uint64_t interval_ = 1;   ///< TSC cycles per token (tsc_hz / rate)
    uint64_t tolerance_ = 0;  ///< (burst - 1) * interval_
};

/// The limiter for a worker, or nullptr when `rate` is 0 (unlimited: the worker skips it).
std::unique_ptr<sip_limiter> make_sip_limiter(const char* name, uint32_t rate, uint32_t burst, uint32_t sources,
                                              uint64_t tsc_hz, int socket_id);

}  // namespace sf::dp
