// Call quality: the RTCP figures' arithmetic and the E-model (ITU-T G.107) estimate, against
// values worked out by hand from the formulas in call_quality.hh.

#include "call_quality.hh"

#include <gtest/gtest.h>

using namespace sf::control;

namespace {

const codec_impairment g711 = *impairment_of("PCMU");

// `reports` blocks with `fraction` (1/256) and `jitter_us` each, `rtt_us` per sample.
rtcp_figures reported(uint64_t reports, uint64_t fraction, uint64_t jitter_us, uint64_t rtt_samples = 0,
                      uint64_t rtt_us = 0) {
    return {reports, reports * fraction, reports * jitter_us, rtt_samples, rtt_samples * rtt_us};
}

}  // namespace

TEST(call_quality, figures_are_means_over_reports_and_samples) {
    const rtcp_figures f{4, 4 * 64, 4 * 20'000, 2, 2 * 30'000};
    EXPECT_DOUBLE_EQ(*f.loss_pct(), 25.0);
    EXPECT_DOUBLE_EQ(*f.jitter_ms(), 20.0);
    EXPECT_DOUBLE_EQ(*f.rtt_ms(), 30.0);
    const rtcp_figures none;
    EXPECT_FALSE(none.loss_pct());
    EXPECT_FALSE(none.jitter_ms());
    EXPECT_FALSE(none.rtt_ms());
    EXPECT_FALSE(reported(3, 0, 0).rtt_ms()) << "reports without a round-trip sample";
}

TEST(call_quality, a_segment_is_the_difference_of_two_readings) {
    rtcp_figures total = reported(2, 10, 1000, 1, 5000);
    const rtcp_figures at_transfer = total;
    total += reported(3, 20, 2000, 2, 7000);
    const rtcp_figures segment = total - at_transfer;
    EXPECT_EQ(segment.reports, 3u);
    EXPECT_EQ(segment.fraction_sum, 60u);
    EXPECT_EQ(segment.jitter_sum_us, 6000u);
    EXPECT_EQ(segment.rtt_samples, 2u);
    EXPECT_EQ(segment.rtt_sum_us, 14000u);
}

TEST(call_quality, codecs_are_rated_by_name_case_aside) {
    EXPECT_DOUBLE_EQ(impairment_of("pcma")->ie, 0.0);
    EXPECT_DOUBLE_EQ(impairment_of("PCMA")->bpl, 25.1);
    EXPECT_DOUBLE_EQ(impairment_of("G729")->ie, 11.0);
    EXPECT_DOUBLE_EQ(impairment_of("g723")->bpl, 16.1);
    EXPECT_FALSE(impairment_of("opus")) << "wideband: another scale";
    EXPECT_FALSE(impairment_of("G722"));
    EXPECT_FALSE(impairment_of(""));
    EXPECT_FALSE(impairment_of("PCMU2"));
}

TEST(call_quality, r_factor_follows_g107_with_its_defaults) {
    EXPECT_DOUBLE_EQ(r_factor(g711, 0, 0), 93.2);
    // Delay: 0.024 d below 177.3 ms, plus 0.11 (d - 177.3) above.
    EXPECT_NEAR(r_factor(g711, 0, 100), 93.2 - 2.4, 1e-9);
    EXPECT_NEAR(r_factor(g711, 0, 200), 93.2 - 4.8 - 0.11 * 22.7, 1e-9);
    // Loss: Ie_eff = Ie + (95 - Ie) Ppl / (Ppl + Bpl).
    EXPECT_NEAR(r_factor(g711, 1, 0), 93.2 - 95.0 / 26.1, 1e-9);
    EXPECT_NEAR(r_factor(*impairment_of("G729"), 0, 0), 82.2, 1e-9);
    EXPECT_NEAR(r_factor(*impairment_of("G729"), 5, 0), 93.2 - 11 - 84.0 * 5 / 24.0, 1e-9);
    EXPECT_NEAR(r_factor(g711, 100, 0), 93.2 - 95.0 * 100 / 125.1, 1e-9);
    EXPECT_DOUBLE_EQ(r_factor(g711, -3, -5), 93.2) << "negative inputs are clamped";
}

TEST(call_quality, mos_of_r_is_g107_annex_b) {
    EXPECT_DOUBLE_EQ(mos_of(-10), 1.0);
    EXPECT_DOUBLE_EQ(mos_of(0), 1.0);
    EXPECT_DOUBLE_EQ(mos_of(100), 4.5);
    EXPECT_DOUBLE_EQ(mos_of(120), 4.5);
    EXPECT_NEAR(mos_of(93.2), 1 + 0.035 * 93.2 + 93.2 * 33.2 * 6.8 * 7e-6, 1e-12);
    EXPECT_NEAR(mos_of(93.2), 4.41, 0.005);
    EXPECT_NEAR(mos_of(50), 2.58, 0.005);
    EXPECT_DOUBLE_EQ(mos_of(3), 1.0) << "the cubic dips below 1 there; MOS does not";
    double last = 1.0;
    for (int r = 1; r < 100; ++r) {
        EXPECT_GE(mos_of(r), last) << "R " << r;
        last = mos_of(r);
    }
}

TEST(call_quality, a_directions_mos_uses_its_receivers_reports_and_both_legs_round_trips) {
    const rtcp_figures clean = reported(5, 0, 0);
    // No loss, no jitter, no round trip known: one 20 ms packet of delay.
    EXPECT_NEAR(*estimate_mos("PCMU", clean, {}), mos_of(93.2 - 0.024 * 20), 1e-12);
    // 12.5 % loss (32/256), 5 ms jitter, round trips of 40 and 80 ms: d = 60 + 10 + 20 = 90 ms.
    const rtcp_figures lossy = {4, 4 * 32, 4 * 5000, 2, 2 * 40'000};
    const rtcp_figures other = reported(1, 0, 0, 1, 80'000);
    const double r = 93.2 - 0.024 * 90 - 95.0 * 12.5 / (12.5 + 25.1);
    EXPECT_NEAR(*estimate_mos("pcma", lossy, other), mos_of(r), 1e-9);
    EXPECT_LT(*estimate_mos("PCMA", lossy, other), *estimate_mos("PCMA", clean, other));
    EXPECT_FALSE(estimate_mos("PCMU", {}, other)) << "the receiver reported nothing";
    EXPECT_FALSE(estimate_mos("opus", lossy, other)) << "not rated";
    EXPECT_FALSE(estimate_mos("", lossy, other));
}
