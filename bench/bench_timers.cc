// Cost of the control shard's timers (issue 3: a timer wheel per shard) with 100k outstanding
// timers, the load of tens of thousands of calls each with a few live timers: the timing
// wheel (control/timer_queue.hh) against the std::map + unordered_map queue it replaced,
// kept here as the baseline and measured in the same run.
//   BM_add_cancel_100k*: one add and one cancel per iteration (most SIP timers are cancelled:
//     a response stops timer A/E, the ACK stops G/H, a refresh re-arms a session timer).
//   BM_add_fire_100k*: one add per iteration and the clock moves 1 ms, firing one timer on
//     average (random delays of 1 ms to 200 s, so ~100k stay outstanding).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include "map_timer_queue.hh"
#include "timer_queue.hh"

using namespace sf::control;

namespace {

constexpr size_t outstanding = 100'000;
constexpr ms_t max_delay = 200'000;

/// Delays of 1 ms .. 200 s, drawn up front so the loop measures the queue, not the generator.
std::vector<ms_t> delays() {
    std::mt19937_64 rng(42);
    std::vector<ms_t> d(1 << 16);
    for (auto& x : d) {
        x = 1 + rng() % max_delay;
    }
    return d;
}

template <class Q>
void add_cancel(benchmark::State& state) {
    const auto d = delays();
    Q q;
    ms_t now = 1'000'000;
    uint64_t fired = 0;
    std::vector<typename Q::id> ids(outstanding);
    for (size_t i = 0; i < outstanding; ++i) {
        ids[i] = q.add(now + d[i & (d.size() - 1)], [&fired] { ++fired; });
    }
    size_t i = 0, k = 0;
    for (auto _ : state) {
        q.cancel(ids[i]);
        ids[i] = q.add(now + d[k++ & (d.size() - 1)], [&fired] { ++fired; });
        // The victim is not the oldest: cancel in a scattered order, as calls end at random.
        i = (i + 7919) % outstanding;
    }
    benchmark::DoNotOptimize(fired);
    if (q.size() != outstanding) {
        state.SkipWithError("timer count drifted");
    }
    state.SetItemsProcessed(state.iterations());
}

template <class Q>
void add_fire(benchmark::State& state) {
    const auto d = delays();
    Q q;
    ms_t now = 1'000'000;
    uint64_t fired = 0;
    size_t k = 0;
    // Warm up to the steady state: one add per ms with a mean delay of 100 s keeps ~100k outstanding.
    for (ms_t end = now + 2 * max_delay; now < end;) {
        q.add(now + d[k++ & (d.size() - 1)], [&fired] { ++fired; });
        q.run(++now);
    }
    const uint64_t fired_before = fired;
    for (auto _ : state) {
        q.add(now + d[k++ & (d.size() - 1)], [&fired] { ++fired; });
        q.run(++now);
    }
    benchmark::DoNotOptimize(fired);
    if (q.size() < outstanding / 2 || q.size() > outstanding * 3 / 2) {
        state.SkipWithError("not ~100k outstanding");
    }
    state.counters["outstanding"] = static_cast<double>(q.size());
    state.counters["fired_per_iter"] =
        static_cast<double>(fired - fired_before) / static_cast<double>(std::max<uint64_t>(state.iterations(), 1));
    state.SetItemsProcessed(state.iterations());
}

void BM_add_cancel_100k(benchmark::State& state) { add_cancel<timer_queue>(state); }
void BM_add_cancel_100k_baseline(benchmark::State& state) { add_cancel<map_timer_queue>(state); }
void BM_add_fire_100k(benchmark::State& state) { add_fire<timer_queue>(state); }
void BM_add_fire_100k_baseline(benchmark::State& state) { add_fire<map_timer_queue>(state); }

}  // namespace

BENCHMARK(BM_add_cancel_100k);
BENCHMARK(BM_add_cancel_100k_baseline);
BENCHMARK(BM_add_fire_100k);
BENCHMARK(BM_add_fire_100k_baseline);
BENCHMARK_MAIN();
