#pragma once
/// @file
/// How loaded each worker lcore is, from two `GET /v1/stats` answers (`sipferryctl load`).
///
/// A poll-mode worker shows 100% CPU in top at any load. Each worker counts instead the TSC
/// cycles of its loop and of the iterations that found work (dataplane/stats.hh,
/// charge_iteration). Between two samples they give VPP's `show runtime` figures for the core:
/// the busy share, the packets it received, how many it found per busy poll (near the burst
/// size: it is close to its limit) and the busy cycles each packet cost, and of those the part
/// that was sipferry's own work on the packet (the rest is the driver's RX and TX: on a NIC
/// what io forwarding would cost, on af_packet mostly the kernel's send path).

#include <string>
#include <vector>

namespace sf::control {

/// One worker over the interval between two samples.
struct worker_load_row {
    std::string worker;                 ///< its id (the stats' key)
    unsigned lcore = 0;
    double busy_fraction = 0;           ///< busy cycles / loop cycles, at most 1 (0: its loop did not run)
    double rx_pps = 0;                  ///< packets received per second of the interval
    double packets_per_busy_poll = 0;   ///< 0 when no iteration was busy
    double busy_ns_per_packet = -1;     ///< busy time per packet received; -1 when none was
    /// ... of it, handling the packet (classification, relay, rewrite, hand-offs); -1 when none
    /// was received or the appliance does not count it
    double own_ns_per_packet = -1;
};

/// The load of every worker in `after` between the two stats answers, taken `seconds` apart.
/// Throws std::invalid_argument with the reason when either is not the stats JSON, has no
/// workers, no clock or one outside 1 MHz..100 GHz, a worker of `after` is missing in `before`,
/// or a counter went back (the appliance restarted between the samples), or `seconds` is not
/// positive.
std::vector<worker_load_row> worker_load(const std::string& before, const std::string& after, double seconds);

/// The rows as a table for an operator's terminal, one line per worker under a header.
std::string format_worker_load(const std::vector<worker_load_row>& rows);

}  // namespace sf::control
