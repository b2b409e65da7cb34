#include "sip_limiter.hh"

#include <rte_branch_prediction.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace sf::dp {

namespace {

// jhash with a secret seed: unlike CRC (linear, so collisions do not depend on the
// seed) a sender cannot pick addresses that all land in the same buckets.
uint32_t hash_source(const void* key, uint32_t, uint32_t init) {
    uint32_t v;
    std::memcpy(&v, key, sizeof(v));
    return rte_jhash_1word(v, init);
}

constexpr unsigned clock_probes = 32;  // slots the CLOCK hand looks at per eviction, at most (512 bytes)

}  // namespace

sip_limiter::sip_limiter(const char* name, uint32_t rate, uint32_t burst, uint32_t sources, uint64_t tsc_hz,
                         int socket_id)
    : capacity_(sources) {
    if (rate == 0 || burst == 0 || sources < 8) {
        throw std::runtime_error("sip limiter: rate and burst must be positive and at least 8 sources tracked");
    }
    interval_ = tsc_hz / rate;
    if (interval_ == 0) {
        interval_ = 1;
    }
    tolerance_ = uint64_t{burst - 1} * interval_;

    rte_hash_parameters params{};
    params.name = name;
    params.entries = 2 * sources;  // half full at most: cuckoo inserts do not fail, lookups stay O(1)
    params.key_len = sizeof(uint32_t);
    params.hash_func = hash_source;
    params.hash_func_init_val = static_cast<uint32_t>(rte_rand());
    params.socket_id = socket_id;
    params.extra_flag = 0;  // one thread (the worker) reads and writes: no locks
    hash_ = rte_hash_create(&params);
    if (hash_ == nullptr) {
        throw std::runtime_error(std::string("sip limiter: rte_hash_create failed: ") + rte_strerror(rte_errno));
    }
    slots_ = static_cast<slot*>(rte_zmalloc_socket("sf_sip_limiter", sizeof(slot) * sources, RTE_CACHE_LINE_SIZE,
                                                   socket_id));
    if (slots_ == nullptr) {
        rte_hash_free(hash_);
        throw std::runtime_error("sip limiter: cannot allocate " + std::to_string(sources) + " source slots");
    }
}

sip_limiter::~sip_limiter() {
    rte_hash_free(hash_);
    rte_free(slots_);
}

sip_limiter::slot* sip_limiter::admit(uint32_t src, uint64_t now_tsc) {
    uint32_t idx = tracked_;
    const bool full = tracked_ == capacity_;
    if (full) {
        // CLOCK with a bounded sweep: a full bucket (nothing to forget) or a second chance used up.
        for (unsigned probe = 0; probe < clock_probes; ++probe) {
            idx = hand_;
            hand_ = hand_ + 1 == capacity_ ? 0 : hand_ + 1;
            slot& s = slots_[idx];
            if (s.tat <= now_tsc || s.seen == 0) {
                break;
            }
            s.seen = 0;
        }
    }
    // The new key goes in before the victim leaves: on failure nothing changed.
    if (rte_hash_add_key_data(hash_, &src, reinterpret_cast<void*>(uintptr_t{idx})) != 0) {
        return nullptr;
    }
    if (full) {
        rte_hash_del_key(hash_, &slots_[idx].key);
        ++evictions_;
    } else {
        ++tracked_;
    }
    slot& s = slots_[idx];
    s.tat = now_tsc;  // a full bucket
    s.key = src;
    s.seen = 0;
    return &s;
}

bool sip_limiter::allow(uint32_t src, uint64_t now_tsc) {
    void* data = nullptr;
    slot* s;
    if (likely(rte_hash_lookup_data(hash_, &src, &data) >= 0)) {
        s = &slots_[reinterpret_cast<uintptr_t>(data)];
    } else {
        s = admit(src, now_tsc);
        if (unlikely(s == nullptr)) {
            return false;  // cannot be tracked: limited like an over-rate source (fail closed)
        }
    }
    s->seen = 1;
    // GCRA: tat is when the bucket would be full again; a message passes when at most
    // burst - 1 intervals are booked ahead of now, and books one more.
    const uint64_t tat = s->tat > now_tsc ? s->tat : now_tsc;
    if (tat - now_tsc > tolerance_) {
        return false;
    }
    s->tat = tat + interval_;
    return true;
}

std::unique_ptr<sip_limiter> make_sip_limiter(const char* name, uint32_t rate, uint32_t burst, uint32_t sources,
                                              uint64_t tsc_hz, int socket_id) {
    if (rate == 0) {
        return nullptr;
    }
    return std::make_unique<sip_limiter>(name, rate, burst, sources, tsc_hz, socket_id);
}

}  // namespace sf::dp
