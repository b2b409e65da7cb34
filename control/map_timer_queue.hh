#pragma once
/// @file
/// The control plane's timer queue before the timing wheel: an ordered map by (deadline, id).
/// Not used by the appliance; kept as the reference semantics the wheel is tested against
/// (tests/control/timer_queue_test.cc) and as the baseline bench/bench_timers.cc measures.

#include <cstdint>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

#include "timer_queue.hh"

namespace sf::control {

class map_timer_queue {
public:
    using id = uint64_t;

    id add(ms_t when, std::function<void()> fn) {
        const id t = ++last_id_;
        by_time_.emplace(std::pair{when, t}, std::move(fn));
        deadline_.emplace(t, when);
        return t;
    }

    void cancel(id t) {
        auto it = deadline_.find(t);
        if (it == deadline_.end()) {
            return;
        }
        by_time_.erase(std::pair{it->second, t});
        deadline_.erase(it);
    }

    unsigned run(ms_t now, unsigned max = 1024) {
        unsigned n = 0;
        while (n < max && !by_time_.empty() && by_time_.begin()->first.first <= now) {
            auto it = by_time_.begin();
            auto fn = std::move(it->second);
            deadline_.erase(it->first.second);
            by_time_.erase(it);
            fn();
            ++n;
        }
        return n;
    }

    size_t size() const { return by_time_.size(); }

private:
    std::map<std::pair<ms_t, id>, std::function<void()>> by_time_;
    std::unordered_map<id, ms_t> deadline_;
    id last_id_ = 0;
};

}  // namespace sf::control
