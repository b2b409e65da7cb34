// Units for the control plane's timing wheel (timer_queue.hh): order, ties,
// cancel, re-entrant callbacks, far and past deadlines, clock jumps, scale, and
// a randomized comparison with the ordered-map implementation it replaced.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <unordered_map>
#include <vector>

#include "map_timer_queue.hh"
#include "timer_queue.hh"

using namespace sf::control;

namespace {

constexpr ms_t day = 24ull * 3600 * 1000;

using map_queue = map_timer_queue;  // the reference semantics (control/map_timer_queue.hh)

struct recorder {
    std::vector<int> fired;
    std::function<void()> mark(int tag) {
        return [this, tag] { fired.push_back(tag); };
    }
};

}  // namespace

TEST(timer_queue, fires_in_deadline_order_up_to_now) {
    timer_queue q;
    recorder r;
    q.add(30, r.mark(3));
    q.add(10, r.mark(1));
    q.add(20, r.mark(2));
    q.add(40, r.mark(4));
    EXPECT_EQ(q.run(9), 0u);
    EXPECT_EQ(q.run(30), 3u);
    EXPECT_EQ(r.fired, (std::vector<int>{1, 2, 3}));
    EXPECT_EQ(q.size(), 1u);
    EXPECT_EQ(q.run(39), 0u);
    EXPECT_EQ(q.run(40), 1u);
    EXPECT_EQ(r.fired, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(q.size(), 0u);
}

TEST(timer_queue, ties_fire_in_insertion_order_across_levels) {
    timer_queue q;
    recorder r;
    // Same deadline, added while it was far (high level), nearer (lower level), and due now.
    q.add(5000, r.mark(1));
    q.add(300, r.mark(0));
    q.add(5000, r.mark(2));
    q.run(100);
    q.add(5000, r.mark(3));
    q.run(4990);
    q.add(5000, r.mark(4));
    q.run(4999);
    q.add(5000, r.mark(5));
    q.run(5000);
    EXPECT_EQ(r.fired, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(timer_queue, ids_are_nonzero_and_never_reused) {
    timer_queue q;
    std::vector<timer_queue::id> ids;
    for (int i = 0; i < 1000; ++i) {
        const auto t = q.add(static_cast<ms_t>(i % 7), [] {});
        EXPECT_NE(t, 0u);
        if (i % 2 == 0) {
            q.cancel(t);
        }
        if (i % 10 == 0) {
            q.run(static_cast<ms_t>(i));
        }
        ids.push_back(t);
    }
    for (size_t i = 1; i < ids.size(); ++i) {
        EXPECT_GT(ids[i], ids[i - 1]);
    }
}

TEST(timer_queue, cancel_before_firing) {
    timer_queue q;
    recorder r;
    const auto a = q.add(10, r.mark(1));
    q.add(10, r.mark(2));
    const auto c = q.add(100 * day, r.mark(3));  // in the overflow-free far levels
    q.cancel(a);
    q.cancel(c);
    EXPECT_EQ(q.size(), 1u);
    EXPECT_EQ(q.run(200 * day), 1u);
    EXPECT_EQ(r.fired, (std::vector<int>{2}));
}

TEST(timer_queue, cancel_during_run_of_a_timer_due_in_the_same_run) {
    timer_queue q;
    recorder r;
    timer_queue::id later = 0, same_ms = 0;
    q.add(10, [&] {
        r.fired.push_back(1);
        q.cancel(same_ms);
        q.cancel(later);
    });
    same_ms = q.add(10, r.mark(2));
    later = q.add(20, r.mark(3));
    q.add(20, r.mark(4));
    EXPECT_EQ(q.run(50), 2u);
    EXPECT_EQ(r.fired, (std::vector<int>{1, 4}));
    EXPECT_EQ(q.size(), 0u);
}

TEST(timer_queue, cancel_of_itself_or_after_firing_is_a_noop) {
    timer_queue q;
    recorder r;
    timer_queue::id self = 0;
    self = q.add(5, [&] {
        q.cancel(self);
        r.fired.push_back(1);
    });
    const auto other = q.add(6, r.mark(2));
    q.add(7, r.mark(3));
    EXPECT_EQ(q.run(6), 2u);
    q.cancel(self);
    q.cancel(other);
    q.cancel(0);
    q.cancel(123456789);
    EXPECT_EQ(q.size(), 1u);
    EXPECT_EQ(q.run(7), 1u);
    EXPECT_EQ(r.fired, (std::vector<int>{1, 2, 3}));
}

// A callback's captures may own things whose destructors touch the queue (a call
// object cancelling its other timers): cancel() and run() survive that.
TEST(timer_queue, destroying_a_callback_may_add_and_cancel_timers) {
    timer_queue q;
    recorder r;
    struct on_destroy {
        std::function<void()> f;
        ~on_destroy() {
            if (f) {
                f();
            }
        }
    };
    const auto victim = q.add(50, r.mark(9));
    auto guard = std::make_shared<on_destroy>();
    guard->f = [&] {
        q.cancel(victim);
        for (int i = 0; i < 100; ++i) {  // enough to grow the node slab
            q.add(40, r.mark(i == 0 ? 2 : 3));
        }
    };
    const auto owner = q.add(30, [guard] {});
    q.add(20, r.mark(1));
    guard.reset();
    q.cancel(owner);  // destroys the captured guard: cancels `victim`, adds 100 timers
    EXPECT_EQ(q.size(), 101u);
    EXPECT_EQ(q.run(100), 101u);
    EXPECT_EQ(r.fired.size(), 101u);
    EXPECT_EQ(r.fired[0], 1);
    EXPECT_EQ(r.fired[1], 2);
    EXPECT_EQ(r.fired.back(), 3);
}

TEST(timer_queue, callbacks_add_timers_that_fire_in_order_in_the_same_run) {
    timer_queue q;
    recorder r;
    q.add(10, [&] {
        r.fired.push_back(1);
        q.add(15, r.mark(3));   // between two pending ones
        q.add(10, r.mark(2));   // same millisecond: after the ones already due then
        q.add(500, r.mark(6));  // beyond now: next run
    });
    q.add(20, [&] {
        r.fired.push_back(4);
        q.add(3, r.mark(5));  // already past: fires next, before anything later
    });
    q.add(30, r.mark(7));
    q.add(30, [&] { r.fired.push_back(8); });
    EXPECT_EQ(q.run(30), 7u);
    EXPECT_EQ(r.fired, (std::vector<int>{1, 2, 3, 4, 5, 7, 8}));
    EXPECT_EQ(q.run(500), 1u);
    EXPECT_EQ(r.fired.back(), 6);
}

TEST(timer_queue, callback_rearming_itself_at_now_runs_until_max) {
    timer_queue q;
    unsigned count = 0;
    std::function<void()> again = [&] {
        ++count;
        q.add(100, again);
    };
    q.add(100, again);
    EXPECT_EQ(q.run(100, 50), 50u);
    EXPECT_EQ(count, 50u);
    EXPECT_EQ(q.size(), 1u);
}

TEST(timer_queue, max_stops_the_run_and_the_next_run_resumes_in_order) {
    timer_queue q;
    recorder r;
    for (int i = 0; i < 10; ++i) {
        q.add(static_cast<ms_t>(100 + i / 2), r.mark(i));
    }
    EXPECT_EQ(q.run(1000, 3), 3u);
    q.add(101, r.mark(10));  // due at the millisecond where the run stopped: after its elders
    q.add(50, r.mark(11));   // past: first
    EXPECT_EQ(q.run(1000, 1024), 9u);
    EXPECT_EQ(r.fired, (std::vector<int>{0, 1, 2, 11, 3, 10, 4, 5, 6, 7, 8, 9}));
}

TEST(timer_queue, past_deadlines_fire_on_the_next_run_in_deadline_order) {
    timer_queue q;
    recorder r;
    q.run(10'000);
    q.add(9'000, r.mark(3));
    q.add(5'000, r.mark(1));
    q.add(10'000, r.mark(4));
    q.add(5'000, r.mark(2));
    q.add(0, r.mark(0));
    q.add(10'001, r.mark(5));
    EXPECT_EQ(q.run(10'000), 5u);
    EXPECT_EQ(r.fired, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(q.run(10'001), 1u);
}

TEST(timer_queue, a_clock_that_goes_back_fires_nothing_early) {
    timer_queue q;
    recorder r;
    q.run(10'000);
    q.add(9'000, r.mark(1));  // past for the wheel, but not yet for run(8'000)
    q.add(10'500, r.mark(2));
    EXPECT_EQ(q.run(8'000), 0u);
    EXPECT_EQ(q.run(9'000), 1u);
    EXPECT_EQ(q.run(10'499), 0u);
    EXPECT_EQ(q.run(10'500), 1u);
    EXPECT_EQ(r.fired, (std::vector<int>{1, 2}));
}

TEST(timer_queue, far_future_deadlines_days_and_years) {
    timer_queue q;
    recorder r;
    const ms_t t0 = 1'700'000'000'000ull;  // wall-clock-like milliseconds: beyond the wheel at first
    q.run(t0);
    q.add(t0 + 3 * 365 * day, r.mark(5));  // past the wheel's 2^36 ms: overflow list
    q.add(t0 + day, r.mark(2));
    q.add(t0 + 1800 * 1000, r.mark(1));  // a session timer
    q.add(t0 + 20 * day, r.mark(4));
    q.add(t0 + 2 * day, r.mark(3));
    q.add(UINT64_MAX - 5, r.mark(6));
    EXPECT_EQ(q.run(t0 + 1800 * 1000 - 1), 0u);
    EXPECT_EQ(q.run(t0 + 1800 * 1000), 1u);
    EXPECT_EQ(q.run(t0 + day - 1), 0u);
    EXPECT_EQ(q.run(t0 + day), 1u);
    EXPECT_EQ(q.run(t0 + 30 * day), 2u);
    EXPECT_EQ(q.run(t0 + 3 * 365 * day - 1), 0u);
    EXPECT_EQ(q.run(t0 + 3 * 365 * day), 1u);
    EXPECT_EQ(q.run(UINT64_MAX - 6), 0u);
    EXPECT_EQ(q.run(UINT64_MAX - 5), 1u);
    EXPECT_EQ(r.fired, (std::vector<int>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(q.size(), 0u);
}

TEST(timer_queue, a_clock_jump_fires_everything_due_in_order) {
    timer_queue q;
    std::mt19937_64 rng(7);
    const ms_t t0 = 123'456'789;
    q.run(t0);
    std::multimap<ms_t, uint64_t> expected;  // deadline -> tag, ties in insertion order
    std::vector<uint64_t> fired;
    for (uint64_t i = 0; i < 20'000; ++i) {
        const ms_t when = t0 + 1 + rng() % (7 * day);
        expected.emplace(when, i);
        q.add(when, [&fired, i] { fired.push_back(i); });
    }
    q.add(t0 + 8 * day, [] {});
    EXPECT_EQ(q.run(t0 + 7 * day, 1'000'000), 20'000u);
    ASSERT_EQ(fired.size(), expected.size());
    size_t k = 0;
    for (const auto& [when, tag] : expected) {
        ASSERT_EQ(fired[k++], tag) << "at deadline " << when;
    }
    EXPECT_EQ(q.size(), 1u);
}

TEST(timer_queue, a_million_timers_added_and_cancelled_stay_bounded) {
    timer_queue q;
    constexpr size_t n = 1'000'000;
    std::vector<timer_queue::id> ids(n);
    std::mt19937_64 rng(1);
    for (size_t i = 0; i < n; ++i) {
        ids[i] = q.add(1000 + rng() % (2 * day), [] { FAIL() << "a cancelled timer fired"; });
    }
    EXPECT_EQ(q.size(), n);
    const size_t peak = q.capacity();
    EXPECT_EQ(peak, n);
    std::shuffle(ids.begin(), ids.end(), rng);
    for (auto t : ids) {
        q.cancel(t);
    }
    EXPECT_EQ(q.size(), 0u);
    // Again: the nodes are reused, nothing grows.
    for (size_t i = 0; i < n; ++i) {
        ids[i] = q.add(1000 + rng() % (2 * day), [] { FAIL() << "a cancelled timer fired"; });
    }
    for (auto t : ids) {
        q.cancel(t);
    }
    EXPECT_EQ(q.capacity(), peak);
    // Churn with few outstanding: memory follows the outstanding count, not the adds.
    timer_queue small;
    ms_t now = 0;
    std::vector<timer_queue::id> live;
    for (size_t i = 0; i < n; ++i) {
        live.push_back(small.add(now + 1 + rng() % 64'000, [] {}));
        if (live.size() > 16) {
            small.cancel(live.front());
            live.erase(live.begin());
        }
        if (i % 1000 == 0) {
            small.run(now += 10);
        }
    }
    EXPECT_LE(small.capacity(), 17u);
    EXPECT_EQ(q.run(3 * day), 0u);
}

TEST(timer_queue, a_million_timers_fire_in_order) {
    timer_queue q;
    constexpr uint64_t n = 1'000'000;
    std::mt19937_64 rng(3);
    std::vector<std::pair<ms_t, uint64_t>> expected;
    expected.reserve(n);
    std::vector<uint64_t> fired;
    fired.reserve(n);
    for (uint64_t i = 0; i < n; ++i) {
        const ms_t when = rng() % (10 * 60 * 1000);
        expected.emplace_back(when, i);
        q.add(when, [&fired, i] { fired.push_back(i); });
    }
    std::stable_sort(expected.begin(), expected.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (ms_t now = 0; now < 10 * 60 * 1000 + 997; now += 997) {  // the last run is past every deadline
        while (q.run(now) == 1024) {
        }
    }
    ASSERT_EQ(fired.size(), n);
    for (uint64_t k = 0; k < n; ++k) {
        ASSERT_EQ(fired[k], expected[k].second) << k;
    }
    EXPECT_EQ(q.size(), 0u);
}

// The same random script of adds, cancels (from outside and from callbacks),
// re-entrant adds (future, same millisecond, past), run limits and clock jumps,
// played on the wheel and on the map: the same timers fire in the same order.
TEST(timer_queue, behaves_like_the_ordered_map) {
    for (uint64_t seed = 1; seed <= 20; ++seed) {
        timer_queue wheel;
        map_queue ref;
        std::vector<uint64_t> fired_w, fired_r;
        std::vector<timer_queue::id> ids_w, ids_r;
        std::mt19937_64 rng_w(seed * 1000), rng_r(seed * 1000);  // callbacks' own randomness, in step
        ms_t now = seed % 2 ? 0 : (1ull << 36) - 5000;           // also across the 2^36 boundary

        std::function<void(uint64_t, ms_t)> add_w, add_r;
        auto delay = [](std::mt19937_64& g) -> ms_t {
            switch (g() % 6) {
            case 0: return g() % 64;
            case 1: return g() % 5000;
            case 2: return g() % 300'000;
            case 3: return g() % (2 * day);
            case 4: return g() % (1ull << 37);
            default: return 0;
            }
        };
        // Each callback records its tag, then maybe cancels one id and adds up to two timers.
        add_w = [&](uint64_t tag, ms_t when) {
            ids_w.push_back(wheel.add(when, [&, tag] {
                fired_w.push_back(tag);
                const ms_t t = now;
                if (rng_w() % 3 == 0 && !ids_w.empty()) {
                    wheel.cancel(ids_w[rng_w() % ids_w.size()]);
                }
                for (unsigned k = rng_w() % 3; k > 0; --k) {
                    const ms_t d = delay(rng_w);
                    add_w(tag * 4 + k, rng_w() % 4 == 0 && t > d ? t - d : t + d % 1000);
                }
            }));
        };
        add_r = [&](uint64_t tag, ms_t when) {
            ids_r.push_back(ref.add(when, [&, tag] {
                fired_r.push_back(tag);
                const ms_t t = now;
                if (rng_r() % 3 == 0 && !ids_r.empty()) {
                    ref.cancel(ids_r[rng_r() % ids_r.size()]);
                }
                for (unsigned k = rng_r() % 3; k > 0; --k) {
                    const ms_t d = delay(rng_r);
                    add_r(tag * 4 + k, rng_r() % 4 == 0 && t > d ? t - d : t + d % 1000);
                }
            }));
        };

        std::mt19937_64 rng(seed);
        uint64_t next_tag = 1;
        for (int step = 0; step < 3000; ++step) {
            switch (rng() % 8) {
            case 0:
            case 1:
            case 2: {
                const ms_t d = delay(rng);
                const ms_t when = rng() % 5 == 0 && now > d ? now - d : now + d;
                add_w(next_tag, when);
                add_r(next_tag, when);
                ++next_tag;
                break;
            }
            case 3:
                if (!ids_w.empty()) {
                    const size_t i = rng() % ids_w.size();
                    wheel.cancel(ids_w[i]);
                    ref.cancel(ids_r[i]);
                }
                break;
            default: {
                switch (rng() % 4) {
                case 0: now += rng() % 3; break;
                case 1: now += rng() % 2000; break;
                case 2: now += rng() % (3 * day); break;
                default: break;  // same time again (or earlier: see below)
                }
                const ms_t at = rng() % 10 == 0 && now > 100 ? now - 100 : now;
                const unsigned max = rng() % 4 == 0 ? 1 + rng() % 8 : 1024;
                ASSERT_EQ(wheel.run(at, max), ref.run(at, max)) << "seed " << seed << " step " << step;
                break;
            }
            }
            ASSERT_EQ(wheel.size(), ref.size()) << "seed " << seed << " step " << step;
            ASSERT_EQ(ids_w, ids_r);
        }
        ASSERT_EQ(fired_w, fired_r) << "seed " << seed;
        EXPECT_GT(fired_w.size(), 500u);
    }
}
