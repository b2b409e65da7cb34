#pragma once
/// @file
/// Latency histogram with bounded relative error: log2 buckets split into 64 linear
/// sub-buckets (~1.6% error), constant memory whatever the packet count.

#include <array>
#include <bit>
#include <cstdint>

namespace sf::gen {

class histogram {
public:
    void add(uint64_t v) {
        ++counts_[index(v)];
        ++n_;
        sum_ += v;
        if (v > max_) {
            max_ = v;
        }
        if (v < min_) {
            min_ = v;
        }
    }

    uint64_t count() const { return n_; }
    uint64_t max() const { return n_ ? max_ : 0; }
    uint64_t min() const { return n_ ? min_ : 0; }
    double mean() const { return n_ ? static_cast<double>(sum_) / static_cast<double>(n_) : 0.0; }

    /// The value below which a fraction q of the samples lie (upper edge of its bucket,
    /// capped at the maximum seen).
    uint64_t quantile(double q) const {
        if (n_ == 0) {
            return 0;
        }
        const auto rank = static_cast<uint64_t>(q * static_cast<double>(n_ - 1)) + 1;
        uint64_t seen = 0;
        for (unsigned i = 0; i < buckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                const uint64_t edge = upper(i);
                return edge < max_ ? edge : max_;
            }
        }
        return max_;
    }

private:
    static constexpr unsigned sub_bits = 6;
    static constexpr unsigned sub = 1u << sub_bits;
    static constexpr unsigned buckets = (64 - sub_bits + 1) * sub;

    // Values below `sub` map one to one; above, the top sub_bits+1 bits pick the bucket.
    static unsigned index(uint64_t v) {
        if (v < sub) {
            return static_cast<unsigned>(v);
        }
        const unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
        const unsigned shift = msb - sub_bits;
        return (shift + 1) * sub + static_cast<unsigned>((v >> shift) & (sub - 1));
    }

    static uint64_t upper(unsigned i) {
        if (i < sub) {
            return i;
        }
        const unsigned shift = i / sub - 1;
        const uint64_t mant = sub + (i % sub);
        return ((mant + 1) << shift) - 1;
    }

    std::array<uint64_t, buckets> counts_{};
    uint64_t n_ = 0;
    uint64_t sum_ = 0;
    uint64_t max_ = 0;
    uint64_t min_ = UINT64_MAX;
};

}  // namespace sf::gen
