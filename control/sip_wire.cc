#include "sip_wire.hh"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "packet.hh"
#include "rings.hh"

namespace sf::control {

// The first segment's headroom must take the frame headers when a message is sent in place.
static_assert(RTE_PKTMBUF_HEADROOM >= dp::l2_l3_l4_len, "mbuf headroom cannot hold Ethernet+IPv4+UDP");

// ------------------------------------------------------------------ message_pool

message_pool::message_pool(const char* name, unsigned count, uint16_t data_room, int socket) : owned_(true) {
    // A per-lcore cache only where the pool is large enough for one to make sense
    // (DPDK wants count >= 1.5 * cache); workers free sent messages into it too.
    const unsigned cache = std::min(256u, count / 4);
    mp_ = rte_pktmbuf_pool_create(name, count, cache, dp::packet_meta_priv_size,
                                  static_cast<uint16_t>(data_room + RTE_PKTMBUF_HEADROOM), socket);
    if (mp_ == nullptr) {
        throw std::runtime_error(std::string("cannot create the SIP message pool ") + name);
    }
}

message_pool::message_pool(rte_mempool* borrowed) : mp_(borrowed), owned_(false) {}

message_pool::~message_pool() {
    if (owned_) {
        rte_mempool_free(mp_);
    }
}

unsigned message_pool::available() const {
    return rte_mempool_avail_count(mp_);
}

// ------------------------------------------------------------------ sip_wire

sip_wire::sip_wire(const sip_wire& o) noexcept : m_(o.m_) {
    if (m_ != nullptr) {
        rte_pktmbuf_refcnt_update(m_, 1);  // every segment: rte_pktmbuf_free drops one from each
    }
}

sip_wire& sip_wire::operator=(const sip_wire& o) noexcept {
    if (this != &o) {
        sip_wire copy(o);
        *this = std::move(copy);
    }
    return *this;
}

sip_wire& sip_wire::operator=(sip_wire&& o) noexcept {
    if (this != &o) {
        reset();
        m_ = o.m_;
        o.m_ = nullptr;
    }
    return *this;
}

sip_wire::~sip_wire() {
    reset();
}

void sip_wire::reset() noexcept {
    if (m_ != nullptr) {
        rte_pktmbuf_free(m_);
        m_ = nullptr;
    }
}

size_t sip_wire::size() const {
    return m_ == nullptr ? 0 : rte_pktmbuf_pkt_len(m_);
}

unsigned sip_wire::segments() const {
    return m_ == nullptr ? 0 : m_->nb_segs;
}

std::string_view sip_wire::contiguous() const {
    if (m_ == nullptr || m_->next != nullptr) {
        return {};
    }
    return {rte_pktmbuf_mtod(m_, const char*), rte_pktmbuf_data_len(m_)};
}

size_t sip_wire::copy_to(char* out, size_t max, size_t off) const {
    size_t done = 0;
    for (const rte_mbuf* seg = m_; seg != nullptr && done < max; seg = seg->next) {
        const size_t len = rte_pktmbuf_data_len(seg);
        if (off >= len) {
            off -= len;
            continue;
        }
        const size_t n = std::min(len - off, max - done);
        std::memcpy(out + done, rte_pktmbuf_mtod_offset(seg, const char*, off), n);
        done += n;
        off = 0;
    }
    return done;
}

bool sip_wire::starts_with(std::string_view prefix) const {
    if (size() < prefix.size()) {
        return false;
    }
    char buf[64];
    size_t checked = 0;
    while (checked < prefix.size()) {
        const size_t n = copy_to(buf, std::min(sizeof(buf), prefix.size() - checked), checked);
        if (n == 0 || std::memcmp(buf, prefix.data() + checked, n) != 0) {
            return false;
        }
        checked += n;
    }
    return true;
}

std::string sip_wire::to_string() const {
    std::string out(size(), '\0');
    out.resize(copy_to(out.data(), out.size()));
    return out;
}

bool sip_wire::unique() const {
    // Every handle holds a reference on every segment, and a clone holds one on each segment
    // it covers: a head referenced once belongs to this handle alone.
    return m_ != nullptr && rte_mbuf_refcnt_read(m_) == 1;
}

// ------------------------------------------------------------------ sip_writer

sip_writer::sip_writer(message_pool& pool) : pool_(pool) {}

sip_writer::~sip_writer() {
    if (head_ != nullptr) {
        rte_pktmbuf_free(head_);  // never finished: nothing was handed out
    }
}

bool sip_writer::grow() {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_.mempool());
    if (m == nullptr) {
        failed_ = true;
        ++pool_.stats().alloc_failures;
        if (head_ != nullptr) {
            rte_pktmbuf_free(head_);
            head_ = tail_ = nullptr;
        }
        return false;
    }
    if (head_ == nullptr) {
        head_ = tail_ = m;  // keeps the default headroom for the frame headers
        return true;
    }
    // Later segments hold text only: their whole buffer is for it.
    m->data_off = 0;
    tail_->next = m;
    tail_ = m;
    ++head_->nb_segs;
    ++pool_.stats().segments_chained;
    return true;
}

sip_writer& sip_writer::append(std::string_view s) {
    // Bounded: every pass copies at least one byte or stops (failure).
    while (!s.empty() && !failed_) {
        if (tail_ == nullptr || rte_pktmbuf_tailroom(tail_) == 0) {
            if (!grow()) {
                break;
            }
        }
        const size_t n = std::min<size_t>(rte_pktmbuf_tailroom(tail_), s.size());
        std::memcpy(rte_pktmbuf_mtod_offset(tail_, char*, rte_pktmbuf_data_len(tail_)), s.data(), n);
        tail_->data_len = static_cast<uint16_t>(tail_->data_len + n);
        head_->pkt_len += static_cast<uint32_t>(n);
        size_ += n;
        s.remove_prefix(n);
    }
    return *this;
}

sip_writer& sip_writer::append_uint(uint64_t v) {
    char buf[20];
    size_t n = 0;
    do {
        buf[sizeof(buf) - 1 - n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return append(std::string_view(buf + sizeof(buf) - n, n));
}

sip_wire sip_writer::finish() {
    if (failed_) {
        failed_ = false;
        size_ = 0;
        return {};
    }
    if (head_ == nullptr && !grow()) {
        size_ = 0;
        failed_ = false;
        return {};  // an empty message still needs its mbuf
    }
    rte_mbuf* m = head_;
    head_ = tail_ = nullptr;
    size_ = 0;
    ++pool_.stats().messages_built;
    return sip_wire(m);
}

}  // namespace sf::control
