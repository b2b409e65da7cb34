#pragma once
/// @file
/// A token bucket refilled continuously: the rate limits of the control plane (transfers per
/// minute for the appliance and per account, new calls per second per account). Time is the
/// caller's clock in milliseconds, so tests move it by hand.

#include <algorithm>
#include <cstdint>

namespace sf::control {

class token_bucket {
public:
    /// `per_period` tokens every `period_ms`; the bucket holds at most `per_period` (a quiet
    /// source may spend one period's worth at once) and starts full.
    token_bucket(double per_period, uint64_t period_ms) : capacity_(per_period), rate_(per_period / period_ms) {}

    /// Takes one token at `now` if there is one.
    bool take(uint64_t now) {
        if (!started_) {
            tokens_ = capacity_;
            started_ = true;
        } else if (now > last_) {
            tokens_ = std::min(capacity_, tokens_ + static_cast<double>(now - last_) * rate_);
        }
        last_ = std::max(last_, now);
        if (tokens_ < 1.0) {
            return false;
        }
        tokens_ -= 1.0;
        return true;
    }

    /// A new rate (a reload), keeping what is in the bucket up to the new capacity.
    void set_rate(double per_period, uint64_t period_ms) {
        capacity_ = per_period;
        rate_ = per_period / period_ms;
        tokens_ = std::min(tokens_, capacity_);
    }

private:
    double capacity_;
    double rate_;  ///< tokens per millisecond
    double tokens_ = 0;
    uint64_t last_ = 0;
    bool started_ = false;
};

}  // namespace sf::control
