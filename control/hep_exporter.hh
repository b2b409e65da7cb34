#pragma once
/// @file
/// Sends a copy of every SIP message the appliance sends or receives to a HEP collector
/// ([hep] collector: Homer, Kamailio's sipcapture, sngrep -L), as Kamailio's siptrace and
/// rtpengine do, so the carrier's Homer shows the appliance's legs beside its other boxes'.
///
/// The control thread queues copies as it goes (one HEPv3 packet each, control/hep_encoding.hh)
/// and flush() sends what is queued with one sendmmsg() per poll of the control loop. The socket
/// is a kernel UDP socket (the management network, not the dataplane) and never blocks: what the
/// socket buffer has no room for is dropped and counted, never waited for. SIP itself never
/// waits for its copy.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config.hh"
#include "hep_encoding.hh"
#include "sip_types.hh"

namespace sf::control {

/// Microseconds since the Unix epoch (what HEP's time chunks carry).
uint64_t wall_clock_us();

struct hep_stats {
    uint64_t queued = 0;         ///< packets made (one per SIP message or RTCP report)
    uint64_t rtcp = 0;           ///< of those, RTCP reports ([hep] rtcp)
    uint64_t sent = 0;           ///< taken by the kernel
    uint64_t dropped_busy = 0;   ///< the socket buffer was full (EAGAIN)
    uint64_t dropped_error = 0;  ///< refused by sendmmsg for another reason (no route, ...)
    uint64_t too_big = 0;        ///< a message larger than a HEP packet carries (never queued)
};

class hep_exporter {
public:
    /// Packets queued before a flush is forced (and the most one sendmmsg sends).
    static constexpr size_t batch = 64;

    /// Opens the socket when `cfg` names a collector. Throws std::runtime_error when it cannot.
    explicit hep_exporter(const hep_config& cfg);
    ~hep_exporter();
    hep_exporter(const hep_exporter&) = delete;
    hep_exporter& operator=(const hep_exporter&) = delete;

    /// A changed [hep] (reload): what is queued goes to the old collector first.
    void reconfigure(const hep_config& cfg);
    bool enabled() const { return fd_ >= 0; }
    const hep_config& config() const { return cfg_; }

    /// Room for a copy of a SIP message of `len` octets from `from` to `to`, stamped now: the
    /// caller writes the message at the pointer, then calls commit() once it really went (or
    /// came). nullptr when off or too big. An uncommitted copy is overwritten by the next one.
    char* begin(sip_addr from, sip_addr to, size_t len);
    void commit();
    /// begin(), the bytes of `msg`, commit().
    void copy(sip_addr from, sip_addr to, std::string_view msg);
    /// An RTCP report as Homer's capture agents send one: HEP type 5, the report as JSON
    /// (hep_rtcp.hh), linked to its leg's SIP by `correlation` (that leg's Call-ID; "": none),
    /// stamped `time_us` (when it arrived, microseconds since the Unix epoch).
    void copy_rtcp(sip_addr from, sip_addr to, uint64_t time_us, std::string_view correlation,
                   std::string_view json);

    /// Sends what is queued (a copy begun and not committed is forgotten). Returns the packets
    /// the kernel took.
    size_t flush();

    const hep_stats& stats() const { return stats_; }
    size_t queued() const { return used_; }

private:
    void close_socket();
    /// begin() for any datagram: its chunks as `d` says, room for `len` payload octets.
    char* begin_packet(hep_datagram& d, size_t len);

    hep_config cfg_;
    int fd_ = -1;
    std::vector<std::string> slots_;  ///< packets; slots_[0, used_) are committed
    size_t used_ = 0;
    bool staged_ = false;  ///< slots_[used_] holds a packet begin() made
    hep_stats stats_;
};

}  // namespace sf::control
