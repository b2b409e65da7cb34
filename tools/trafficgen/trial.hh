#pragma once
/// @file
/// One trial: N streams paced at a total rate for a fixed time from the TX port, received
/// and matched on the RX port, in one thread (one TSC clock for send and receive stamps).

#include <cstdint>
#include <string>
#include <vector>

#include "frames.hh"
#include "histogram.hh"
#include "ports.hh"
#include "streams.hh"

struct rte_mempool;

namespace sf::gen {

/// What the trial loop needs; built once by main.
struct gen_context {
    rte_mempool* pool = nullptr;
    gen_port tx;
    gen_port rx;
    arp_agent* arp = nullptr;
    std::vector<stream> streams;
    std::vector<frame_template> templates;  ///< one per stream, next-hop MAC resolved
    bool payload_frames = false;  ///< the templates are whole frames (--payload-file): no probes
    /// --flood-file: whole frames sent at flood_pps beside the probes in measured trials.
    std::vector<frame_template> flood_templates;
    double flood_pps = 0;
    unsigned burst = 32;
    uint64_t deadline_tsc = 0;  ///< nothing runs past this
    unsigned idle_sleep_us = 0;  ///< sleep this long when idle (0: pure polling)
    uint64_t idle_sleep_tsc = 0;
};

/// Figures of one stream in one trial.
struct stream_result {
    uint64_t sent = 0;
    uint64_t received = 0;  ///< distinct sequence numbers
    uint64_t duplicates = 0;
    uint64_t reordered = 0;  ///< arrived after a higher sequence number of the same stream
    uint64_t lost() const { return sent > received ? sent - received : 0; }
};

struct trial_result {
    uint32_t trial = 0;
    double rate_pps = 0;      ///< asked for
    double duration_s = 0;    ///< asked for
    double send_time_s = 0;   ///< first to last packet sent
    uint64_t planned = 0;
    uint64_t sent = 0;
    uint64_t received = 0;    ///< distinct (stream, seq) of this trial
    uint64_t duplicates = 0;
    uint64_t reordered = 0;
    uint64_t stale = 0;       ///< probes of another trial (late arrivals)
    uint64_t rx_other = 0;    ///< frames that are neither ARP nor our probes
    uint64_t bad_probe = 0;   ///< our magic, but stream or sequence out of range
    uint64_t tx_full = 0;     ///< tx_burst calls that took fewer frames than offered
    uint64_t alloc_fail = 0;
    uint64_t flood_planned = 0;  ///< flood frames due in the trial (0: no flood)
    uint64_t flood_sent = 0;
    uint64_t flood_tx_full = 0;  ///< flood tx_burst calls that took fewer frames than offered
    double max_lag_ms = 0;    ///< worst backlog of the pacer behind its schedule
    bool generator_limited = false;  ///< the generator could not keep its own schedule
    bool hit_deadline = false;
    histogram latency_ns;
    std::vector<stream_result> per_stream;

    uint64_t lost() const { return sent > received ? sent - received : 0; }
    double loss_ratio() const { return sent ? static_cast<double>(lost()) / static_cast<double>(sent) : 0.0; }
};

/// Runs one trial. `trial_id` 0 is the warm-up (same code, results thrown away by the caller).
trial_result run_trial(gen_context& ctx, uint32_t trial_id, double rate_pps, double duration_s, double drain_s);

/// Sends and receives nothing but ARP on both ports for `seconds` (answers the relay's
/// questions while it sets up).
void serve_arp(gen_context& ctx, double seconds);

}  // namespace sf::gen
