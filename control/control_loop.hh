#pragma once
/// @file
/// The control shard's thread: drains the dataplane's SIP and neighbour rings,
/// runs the SIP stack and its timers, and serves the management API, all on one
/// thread (the EAL main lcore), so none of it needs a lock.

#include <atomic>
#include <memory>

#include "config.hh"
#include "dataplane.hh"

namespace sf::control {

class control_loop {
public:
    /// Builds the SIP stack, loads the dialplans and opens the API; throws on failure.
    control_loop(const config& cfg, dp::dataplane& dp);
    ~control_loop();

    /// Runs until `stop` becomes true; reloads the config and dialplans whenever `reload`
    /// (set by SIGHUP) becomes true.
    void run(const std::atomic<bool>& stop, std::atomic<bool>* reload = nullptr);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sf::control
