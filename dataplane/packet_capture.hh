#pragma once
/// @file
/// Packet capture on the appliance: what tcpdump would show, for ports the kernel never sees.
///
/// With kernel bypass no tcpdump on the host sees a frame of a call, so the appliance captures
/// itself: a tcpdump filter expression (libpcap's pcap_compile, converted to eBPF by DPDK's
/// rte_bpf_convert and run JIT-compiled where the CPU allows), every port and queue, both
/// directions, into a pcapng file (rte_pcapng: one interface per DPDK port, each packet with
/// its direction and a nanosecond timestamp) that Wireshark and tcpdump read as they are.
///
/// Where it taps: ethdev RX and TX callbacks (rte_eth_add_rx_callback/_tx_callback), the hooks
/// DPDK's own pdump uses. They are installed only while a capture runs, so with none running
/// the workers pay nothing beyond the callback-list test rte_eth_rx_burst/tx_burst make anyway:
/// no per-packet branch in sipferry's code for a feature used while troubleshooting. RX frames
/// are taken as they arrived; TX frames as the worker hands them to the device, after the
/// relay's rewrite (SIP the control thread sends goes out through worker 0, so it is there
/// too). With TX checksum offload the UDP checksum of a relayed frame is the device's job and
/// the captured frame holds only the pseudo-header's sum (Wireshark calls it wrong).
///
/// The workers never wait for it: a matching frame is copied (rte_pcapng_copy) into a pool of
/// its own and put on a multi-producer ring; when the pool or the ring is full the copy is
/// dropped and counted. A writer thread (not an lcore: it only does file I/O) takes the ring
/// and appends to the file. Ending a capture (its time or packet budget used up, or stop())
/// removes the callbacks, waits one RCU grace period of the relay table's readers (every worker
/// reports a quiescent state once per loop, and sleeps offline), so no worker can be in a
/// callback any more, then drains the ring, closes the file and frees the filter.
///
/// A running capture's filter can be replaced (refilter(): a call it follows grew a leg): the
/// workers read it through one atomic pointer per burst, and the old one is freed once a grace
/// period has passed (checked without waiting in poll()).
///
/// One capture at a time; start(), refilter(), stop() and poll() on one thread (the control thread).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct rte_mempool;
struct rte_ring;
struct rte_rcu_qsbr;

namespace sf::dp {

/// What to capture, where to, and for how long.
struct capture_request {
    std::string filter;           ///< tcpdump syntax; empty: every frame
    std::string path;             ///< the pcapng file; must not exist (never overwritten)
    uint32_t snaplen = 0;         ///< bytes kept of each frame; 0: all of it
    uint64_t max_packets = 0;     ///< frames written at most; 0: no limit but the time
    uint64_t max_ms = 0;          ///< how long, in milliseconds of the poll() clock; 0: until stop()
    /// Ends the capture at the poll() that finds this many bytes written; 0: no limit. The file
    /// may pass it by what the ring held then (at most pool_frames frames).
    uint64_t max_bytes = 0;
    std::string comment;          ///< written into the file's section header (who asked, why)
};

/// A capture's figures; while it runs and, after it ended, as it ended.
struct capture_status {
    bool running = false;
    std::string path, filter, ended_by, error;
    uint64_t matched = 0;       ///< frames the filter took (within the packet budget)
    uint64_t written = 0;       ///< frames in the file
    uint64_t bytes = 0;         ///< bytes written to the file
    uint64_t dropped = 0;       ///< matched but lost: the copy pool or the ring was full, or the file
    uint64_t filter_changes = 0;  ///< refilter()s that took effect
    uint64_t started_ms = 0, ended_ms = 0;
};

class packet_capture {
public:
    /// `ports`: the DPDK ports to tap; `queues`: RX and TX queues per port (one per worker);
    /// `rcu`: the QSBR variable every worker reports to (relay_table::rcu()); `pool_frames`:
    /// frames in flight between the workers and the file (the copy pool and the ring).
    packet_capture(std::vector<uint16_t> ports, uint16_t queues, rte_rcu_qsbr* rcu, unsigned pool_frames = 8191);
    ~packet_capture();
    packet_capture(const packet_capture&) = delete;
    packet_capture& operator=(const packet_capture&) = delete;

    /// Starts a capture at `now_ms`; "" or why not (a capture runs already, the filter does not
    /// compile (libpcap's message), the file exists or cannot be made, no memory).
    std::string start(const capture_request& req, uint64_t now_ms);
    /// Gives the running capture `filter` ("" = every frame) from the next burst on; "" or why
    /// not (none runs, libpcap's message): the filter it had stays then. The same filter again
    /// changes nothing.
    std::string refilter(const std::string& filter);
    /// Ends the running capture (if any), `why` recorded as how it ended.
    void stop(const std::string& why, uint64_t now_ms);
    /// Ends the running capture when its time or packet budget is used up, and frees filters
    /// replaced a grace period ago (cheap: call it often).
    void poll(uint64_t now_ms);

    capture_status status() const;
    bool running() const { return live_ != nullptr; }
    /// Filters refilter() replaced that still wait for their grace period (tests, leak checks).
    size_t replaced_filters_held() const;

    /// Whether `filter` compiles (libpcap's message if not), without capturing.
    static std::string check_filter(const std::string& filter);

    struct session;  // what the callbacks see (packet_capture.cc)
    struct compiled_filter;  // a filter as the workers run it

private:
    std::vector<uint16_t> ports_;
    uint16_t queues_;
    rte_rcu_qsbr* rcu_;
    unsigned pool_frames_;
    rte_mempool* pool_ = nullptr;  // made at the first start, kept: no capture frees it under a worker
    rte_ring* ring_ = nullptr;
    std::unique_ptr<session> live_;
    capture_status last_;  // the last capture's, once it ended
};

}  // namespace sf::dp
