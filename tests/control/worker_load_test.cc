/// @file
/// sipferryctl load's arithmetic: each worker's load between two stats answers, and every
/// kind of answer it must refuse rather than print a wrong figure for.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "worker_load.hh"

namespace sf::control {
namespace {

// A stats answer with the workers' counters (the keys control_loop.cc writes), as JSON.
std::string stats(const std::string& workers, const std::string& clock = "2000000000") {
    return R"({"relay": {"entries": 4, "relayed": 1}, "workers": {)" + workers +
           R"(}, "worker_clock_hz": )" + clock + "}";
}

// `handling` < 0: the key left out, as an appliance from before 7 December 2026 answers.
std::string worker(const char* id, unsigned lcore, uint64_t loop, uint64_t busy, uint64_t polls, uint64_t rx,
                   int64_t handling = -1) {
    return std::string("\"") + id + "\": {\"lcore\": " + std::to_string(lcore) +
           ", \"loop_cycles\": " + std::to_string(loop) + ", \"busy_cycles\": " + std::to_string(busy) +
           ", \"busy_polls\": " + std::to_string(polls) + ", \"rx_packets\": " + std::to_string(rx) +
           (handling >= 0 ? ", \"handling_cycles\": " + std::to_string(handling) : std::string()) + "}";
}

TEST(worker_load, figures_between_two_samples) {
    // Worker 0 over 2 s at 2 GHz: 4e9 loop cycles, 1e9 of them busy, 500k packets in 50k busy
    // polls. Worker 1 polled and received nothing.
    const std::string before = stats(worker("0", 1, 1000, 100, 7, 30) + "," + worker("1", 2, 5000, 0, 0, 0));
    const std::string after = stats(worker("0", 1, 1000 + 4'000'000'000ull, 100 + 1'000'000'000ull, 7 + 50'000,
                                           30 + 500'000) +
                                    "," + worker("1", 2, 5000 + 4'000'000'000ull, 0, 0, 0));
    const auto rows = worker_load(before, after, 2.0);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].worker, "0");
    EXPECT_EQ(rows[0].lcore, 1u);
    EXPECT_DOUBLE_EQ(rows[0].busy_fraction, 0.25);
    EXPECT_DOUBLE_EQ(rows[0].rx_pps, 250'000.0);
    EXPECT_DOUBLE_EQ(rows[0].packets_per_busy_poll, 10.0);
    EXPECT_DOUBLE_EQ(rows[0].busy_ns_per_packet, 1000.0);  // 1e9 cycles = 0.5 s over 500k packets
    EXPECT_EQ(rows[1].lcore, 2u);
    EXPECT_DOUBLE_EQ(rows[1].busy_fraction, 0.0);
    EXPECT_DOUBLE_EQ(rows[1].rx_pps, 0.0);
    EXPECT_DOUBLE_EQ(rows[1].packets_per_busy_poll, 0.0);
    EXPECT_LT(rows[1].busy_ns_per_packet, 0.0);  // no packet: no cost to give

    const std::string table = format_worker_load(rows);
    // An id that is not a number (not the appliance's) is shown printable, on its line.
    worker_load_row odd = rows[1];
    odd.worker = "a\nb";
    const std::string shown = format_worker_load({odd});
    EXPECT_NE(shown.find("   a?b  "), std::string::npos) << shown;
    EXPECT_EQ(std::count(shown.begin(), shown.end(), '\n'), 2) << shown;
    EXPECT_NE(table.find("busy %"), std::string::npos);
    EXPECT_NE(table.find("     0      1    25.0      250000            10.0         1000          -\n"), std::string::npos)
        << table;
    EXPECT_NE(table.find("     1      2     0.0           0             0.0            -          -\n"), std::string::npos)
        << table;
}

TEST(worker_load, own_work_is_the_handling_part_of_a_packets_busy_time) {
    // 1e9 busy cycles at 2 GHz over 500k packets: 1000 ns each; 1.5e8 of them handling: 150 ns.
    const std::string before = stats(worker("0", 1, 1000, 100, 7, 30, 40));
    const std::string after = stats(worker("0", 1, 1000 + 4'000'000'000ull, 100 + 1'000'000'000ull, 7 + 50'000,
                                           30 + 500'000, 40 + 150'000'000));
    auto rows = worker_load(before, after, 2.0);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_DOUBLE_EQ(rows[0].busy_ns_per_packet, 1000.0);
    EXPECT_DOUBLE_EQ(rows[0].own_ns_per_packet, 150.0);
    EXPECT_NE(format_worker_load(rows).find("         1000        150\n"), std::string::npos) << format_worker_load(rows);

    // Read after busy_cycles, handling can hold a burst more: never more than the busy time.
    rows = worker_load(stats(worker("0", 1, 1000, 100, 7, 30, 40)), stats(worker("0", 1, 2000, 200, 8, 40, 400)), 1.0);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_DOUBLE_EQ(rows[0].own_ns_per_packet, rows[0].busy_ns_per_packet);

    // Only one sample counts it (an appliance upgraded between them), or no packet came: none.
    rows = worker_load(stats(worker("0", 1, 1000, 100, 7, 30)), stats(worker("0", 1, 2000, 200, 8, 40, 50)), 1.0);
    EXPECT_LT(rows.at(0).own_ns_per_packet, 0.0);
    rows = worker_load(stats(worker("0", 1, 1000, 100, 7, 30, 5)), stats(worker("0", 1, 2000, 100, 7, 30, 5)), 1.0);
    EXPECT_LT(rows.at(0).own_ns_per_packet, 0.0);
}

TEST(worker_load, a_busy_share_is_never_above_one) {
    // The control thread reads the counters one after the other while the worker runs.
    const auto rows = worker_load(stats(worker("0", 1, 1000, 100, 7, 30)),
                                  stats(worker("0", 1, 1100, 250, 9, 40)), 1.0);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_DOUBLE_EQ(rows[0].busy_fraction, 1.0);
}

TEST(worker_load, a_loop_that_did_not_run_is_no_load) {
    const std::string s = stats(worker("0", 1, 10, 5, 1, 3));
    const auto rows = worker_load(s, s, 1.0);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_DOUBLE_EQ(rows[0].busy_fraction, 0.0);
    EXPECT_FALSE(std::isnan(rows[0].packets_per_busy_poll));
}

TEST(worker_load, refuses_what_is_not_two_samples_of_one_run) {
    const std::string good = stats(worker("0", 1, 1000, 100, 7, 30));
    const std::string later = stats(worker("0", 1, 2000, 200, 8, 40));
    struct bad_case {
        const char* what;
        std::string before, after;
        double seconds;
    };
    const bad_case cases[] = {
        {"not JSON", "{", later, 1.0},
        {"not JSON after", good, "nonsense", 1.0},
        {"no workers (an older appliance)", R"({"relay": {"entries": 1}})", later, 1.0},
        {"no workers in the second", good, R"({"workers": {}, "worker_clock_hz": 2000000000})", 1.0},
        {"no clock", good, R"({"workers": {"0": {"lcore": 1}}})", 1.0},
        {"a zero clock", good, stats(worker("0", 1, 2000, 200, 8, 40), "0"), 1.0},
        {"a clock of 1 Hz", good, stats(worker("0", 1, 2000, 200, 8, 40), "1"), 1.0},
        {"a clock that is text", good, stats(worker("0", 1, 2000, 200, 8, 40), "\"fast\""), 1.0},
        {"a worker only in the second", good, stats(worker("0", 1, 2000, 200, 8, 40) + "," + worker("1", 2, 1, 0, 0, 0)),
         1.0},
        {"a counter missing", good, stats(R"("0": {"lcore": 1, "loop_cycles": 2000})"), 1.0},
        {"a counter that is text", good,
         stats(R"("0": {"lcore": 1, "loop_cycles": "x", "busy_cycles": 1, "busy_polls": 1, "rx_packets": 1})"), 1.0},
        {"a counter gone back (restart)", later, good, 1.0},
        {"handling cycles gone back (restart)", stats(worker("0", 1, 1000, 100, 7, 30, 90)),
         stats(worker("0", 1, 2000, 200, 8, 40, 10)), 1.0},
        {"handling cycles that are text", stats(worker("0", 1, 1000, 100, 7, 30, 90)),
         stats(R"("0": {"lcore": 1, "loop_cycles": 2000, "busy_cycles": 200, "busy_polls": 8, "rx_packets": 40, "handling_cycles": "x"})"),
         1.0},
        {"a zero interval", good, later, 0.0},
        {"a negative interval", good, later, -1.0},
        {"a NaN interval", good, later, std::nan("")},
    };
    for (const bad_case& c : cases) {
        EXPECT_THROW(worker_load(c.before, c.after, c.seconds), std::invalid_argument) << c.what;
    }
}

}  // namespace
}  // namespace sf::control
