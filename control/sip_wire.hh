#pragma once
/// @file
/// SIP messages built straight into mbufs: the pool they come from, the writer that
/// appends text into an mbuf chain, and the reference-counted handle the transaction
/// layer and the B2BUA keep for retransmissions and the transport sends without
/// copying (it chains an indirect clone behind a header mbuf).
///
/// Every segment leaves the default headroom free (at least Ethernet + IPv4 + UDP)
/// in its first segment, so that a message nobody else holds can take its headers in
/// place. Allocation failure is defined: the writer stops, the handle is empty, the
/// pool counts it, and an empty handle is never sent (the transport counts that too);
/// the transaction layer then behaves as if the datagram had been lost.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

struct rte_mbuf;
struct rte_mempool;

namespace sf::control {

/// Counters of a message pool (control thread only).
struct message_pool_stats {
    uint64_t messages_built = 0;   ///< handles finished with their bytes
    uint64_t alloc_failures = 0;   ///< messages not built: the pool was empty (not sent, counted)
    uint64_t segments_chained = 0; ///< segments after the first (messages larger than one segment)
};

/// The mbufs SIP messages are written into (one per control shard). Segments carry the
/// dataplane's packet_meta private area, so a message can itself be the head of a frame.
class message_pool {
public:
    /// Creates a pktmbuf pool of `count` segments of `data_room` bytes (plus headroom).
    /// Start-up only: throws std::runtime_error when DPDK cannot create it.
    message_pool(const char* name, unsigned count, uint16_t data_room, int socket);
    /// Uses an existing pktmbuf pool (tests, benchmarks); not freed by this object.
    explicit message_pool(rte_mempool* borrowed);
    ~message_pool();
    message_pool(const message_pool&) = delete;
    message_pool& operator=(const message_pool&) = delete;

    rte_mempool* mempool() const { return mp_; }
    /// Segments currently free in the pool (tests check that handles give theirs back).
    unsigned available() const;
    const message_pool_stats& stats() const { return stats_; }
    message_pool_stats& stats() { return stats_; }

private:
    rte_mempool* mp_ = nullptr;
    bool owned_ = false;
    message_pool_stats stats_;
};

/// A finished SIP message: owns one reference on every segment of an mbuf chain.
/// Copies share the chain (reference count +1 on each segment, no bytes copied); the
/// last owner frees it. An empty handle (default, or a failed build) holds nothing.
/// Not thread-safe itself, but the references it holds are DPDK's atomic ones, so a
/// worker may free a clone of the same data at any time.
class sip_wire {
public:
    sip_wire() = default;
    /// Adopts `chain` (its reference is now this handle's); nullptr gives an empty handle.
    explicit sip_wire(rte_mbuf* chain) noexcept : m_(chain) {}
    sip_wire(const sip_wire& o) noexcept;
    sip_wire(sip_wire&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
    sip_wire& operator=(const sip_wire& o) noexcept;
    sip_wire& operator=(sip_wire&& o) noexcept;
    ~sip_wire();

    bool empty() const { return m_ == nullptr; }
    explicit operator bool() const { return m_ != nullptr; }
    /// Bytes of the message (0 when empty).
    size_t size() const;
    /// Segments in the chain (0 when empty).
    unsigned segments() const;
    /// The bytes as one view when they sit in one segment; empty otherwise (use copy_to).
    std::string_view contiguous() const;
    /// Copies up to `max` bytes from offset `off` into `out`; returns how many were copied.
    size_t copy_to(char* out, size_t max, size_t off = 0) const;
    /// True if the message begins with `prefix` (across segments).
    bool starts_with(std::string_view prefix) const;
    /// The bytes as a string: for tests and logging only, never on a production path.
    std::string to_string() const;

    /// The head of the chain (still owned by the handle); nullptr when empty.
    const rte_mbuf* head() const { return m_; }
    /// True if no other handle shares the chain and no clone of it is in flight.
    bool unique() const;
    /// Gives the chain's reference to the caller; the handle becomes empty.
    rte_mbuf* release() noexcept {
        rte_mbuf* m = m_;
        m_ = nullptr;
        return m;
    }
    void reset() noexcept;

private:
    rte_mbuf* m_ = nullptr;
};

/// Appends text to an mbuf chain from a message_pool: the first segment keeps the
/// default headroom; when a segment is full the next one is chained (and uses its whole
/// buffer). After an allocation failure every append is ignored and finish() returns an
/// empty handle (counted once in the pool's alloc_failures).
class sip_writer {
public:
    explicit sip_writer(message_pool& pool);
    ~sip_writer();
    sip_writer(const sip_writer&) = delete;
    sip_writer& operator=(const sip_writer&) = delete;

    sip_writer& append(std::string_view s);
    sip_writer& append(char c) { return append(std::string_view(&c, 1)); }
    /// Decimal digits of `v`, without a temporary string.
    sip_writer& append_uint(uint64_t v);
    /// `name: value\r\n`
    sip_writer& header(std::string_view name, std::string_view value) {
        return append(name).append(": ").append(value).append("\r\n");
    }

    bool failed() const { return failed_; }
    size_t size() const { return size_; }
    /// The message written so far; the writer is empty afterwards.
    sip_wire finish();

private:
    bool grow();

    message_pool& pool_;
    rte_mbuf* head_ = nullptr;
    rte_mbuf* tail_ = nullptr;
    size_t size_ = 0;
    bool failed_ = false;
};

}  // namespace sf::control
