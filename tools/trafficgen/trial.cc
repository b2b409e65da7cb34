#include "trial.hh"

#include <algorithm>
#include <cmath>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

namespace sf::gen {

namespace {

constexpr unsigned rx_burst = 64;

// Per-stream receive state: a bitmap of the sequence numbers seen, for exact loss and duplicates.
struct stream_rx {
    std::vector<uint64_t> seen;
    uint64_t expected_max = 0;  ///< sequence numbers planned for this stream
    int64_t highest = -1;
};

struct receiver {
    gen_context& ctx;
    uint32_t trial_id;
    trial_result& res;
    std::vector<stream_rx> rx;
    double ns_per_tsc;

    void on_probe(const probe& p, uint64_t now_tsc) {
        if (p.trial != trial_id) {
            ++res.stale;
            return;
        }
        if (p.stream >= rx.size() || p.seq >= rx[p.stream].expected_max) {
            ++res.bad_probe;
            return;
        }
        stream_rx& s = rx[p.stream];
        stream_result& r = res.per_stream[p.stream];
        uint64_t& word = s.seen[p.seq / 64];
        const uint64_t bit = uint64_t{1} << (p.seq % 64);
        if (word & bit) {
            ++r.duplicates;
            ++res.duplicates;
            return;
        }
        word |= bit;
        ++r.received;
        ++res.received;
        if (static_cast<int64_t>(p.seq) < s.highest) {
            ++r.reordered;
            ++res.reordered;
        } else {
            s.highest = p.seq;
        }
        const uint64_t d = now_tsc > p.tsc ? now_tsc - p.tsc : 0;
        res.latency_ns.add(static_cast<uint64_t>(static_cast<double>(d) * ns_per_tsc));
    }

    // Polls one port once; probes count only on the RX port (the TX port sees ARP).
    unsigned poll(const gen_port& port, bool sink) {
        rte_mbuf* pkts[rx_burst];
        const uint16_t n = rte_eth_rx_burst(port.id, 0, pkts, rx_burst);
        if (n == 0) {
            return 0;
        }
        const uint64_t now = rte_rdtsc();
        for (uint16_t i = 0; i < n; ++i) {
            if (ctx.arp->handle(port, pkts[i])) {
                continue;
            }
            auto p = sink ? read_probe(pkts[i]) : std::nullopt;
            if (p) {
                on_probe(*p, now);
            } else {
                ++res.rx_other;
            }
            rte_pktmbuf_free(pkts[i]);
        }
        return n;
    }
};

}  // namespace

trial_result run_trial(gen_context& ctx, uint32_t trial_id, double rate_pps, double duration_s, double drain_s) {
    trial_result res;
    res.trial = trial_id;
    res.rate_pps = rate_pps;
    res.duration_s = duration_s;
    const size_t n_streams = ctx.streams.size();
    const uint64_t hz = rte_get_tsc_hz();
    res.planned = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(rate_pps * duration_s)));
    res.per_stream.assign(n_streams, {});

    receiver rcv{ctx, trial_id, res, std::vector<stream_rx>(n_streams), 1e9 / static_cast<double>(hz)};
    const uint64_t per_stream_max = (res.planned + n_streams - 1) / n_streams;
    for (auto& s : rcv.rx) {
        s.expected_max = per_stream_max;
        s.seen.assign((per_stream_max + 63) / 64, 0);
    }

    // Packet k of the trial goes at t0 + k/rate to stream k % N with sequence k / N: streams
    // interleave evenly, each at rate/N.
    const uint64_t t0 = rte_rdtsc() + hz / 1000;
    // Sending may overrun its schedule a little (10% + 100 ms) before the generator is
    // declared the bottleneck; the drain follows whatever the sending took.
    const uint64_t send_limit = t0 + static_cast<uint64_t>((duration_s * 1.1 + 0.1) * static_cast<double>(hz));
    const double tsc_per_pkt = static_cast<double>(hz) / rate_pps;
    uint64_t next_k = 0;
    uint64_t first_tx = 0, last_tx = 0;
    uint64_t max_lag = 0;
    rte_mbuf* out[64];
    // The flood (measured trials only): frame j at t0 + j/flood_pps, sources in turn. It is
    // sent after the probes due in the same pass, so a flood the generator cannot keep up with
    // delays no probe by more than one burst; what it could not send is reported, not retried late.
    const bool flooding = trial_id != 0 && ctx.flood_pps > 0 && !ctx.flood_templates.empty();
    res.flood_planned = flooding ? std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(ctx.flood_pps * duration_s))) : 0;
    const double tsc_per_flood = flooding ? static_cast<double>(hz) / ctx.flood_pps : 0.0;
    const size_t n_flood = ctx.flood_templates.size();
    auto send_flood = [&](uint64_t now_tsc) {
        const uint64_t due = std::min<uint64_t>(
            res.flood_planned, static_cast<uint64_t>(static_cast<double>(now_tsc - t0) / tsc_per_flood) + 1);
        if (due <= res.flood_sent) {
            return;
        }
        const unsigned want = static_cast<unsigned>(std::min<uint64_t>(due - res.flood_sent, ctx.burst));
        if (rte_pktmbuf_alloc_bulk(ctx.pool, out, want) != 0) {
            ++res.alloc_fail;
            return;
        }
        for (unsigned i = 0; i < want; ++i) {
            fill_copy(out[i], ctx.flood_templates[(res.flood_sent + i) % n_flood]);
        }
        const uint16_t sent = rte_eth_tx_burst(ctx.tx.id, 0, out, static_cast<uint16_t>(want));
        if (sent < want) {
            ++res.flood_tx_full;
            rte_pktmbuf_free_bulk(out + sent, want - sent);
        }
        res.flood_sent += sent;
    };
    uint64_t now = rte_rdtsc();
    while ((next_k < res.planned || res.flood_sent < res.flood_planned) && now < send_limit && now < ctx.deadline_tsc) {
        if (now >= t0 && next_k < res.planned) {
            const uint64_t due = std::min<uint64_t>(
                res.planned, static_cast<uint64_t>(static_cast<double>(now - t0) / tsc_per_pkt) + 1);
            if (due > next_k) {
                // How late the oldest unsent packet is against its slot.
                const uint64_t slot = t0 + static_cast<uint64_t>(static_cast<double>(next_k) * tsc_per_pkt);
                max_lag = std::max(max_lag, now > slot ? now - slot : 0);
                const unsigned want = static_cast<unsigned>(std::min<uint64_t>(due - next_k, ctx.burst));
                if (rte_pktmbuf_alloc_bulk(ctx.pool, out, want) != 0) {
                    ++res.alloc_fail;
                } else {
                    const uint64_t stamp = rte_rdtsc();
                    for (unsigned i = 0; i < want; ++i) {
                        const uint64_t k = next_k + i;
                        const auto s = static_cast<uint32_t>(k % n_streams);
                        const probe p{trial_id, s, static_cast<uint32_t>(k / n_streams), stamp};
                        if (ctx.payload_frames) {
                            fill_copy(out[i], ctx.templates[s]);
                        } else {
                            fill_probe(out[i], ctx.templates[s], p);
                        }
                    }
                    const uint16_t sent = rte_eth_tx_burst(ctx.tx.id, 0, out, static_cast<uint16_t>(want));
                    if (sent < want) {
                        // Not sent: freed and built again (with a fresh stamp) on the next pass.
                        ++res.tx_full;
                        rte_pktmbuf_free_bulk(out + sent, want - sent);
                    }
                    for (unsigned i = 0; i < sent; ++i) {
                        ++res.per_stream[(next_k + i) % n_streams].sent;
                    }
                    if (sent > 0) {
                        if (first_tx == 0) {
                            first_tx = stamp;
                        }
                        last_tx = stamp;
                    }
                    next_k += sent;
                }
            }
        }
        if (flooding && now >= t0) {
            send_flood(now);
        }
        unsigned got = rcv.poll(ctx.rx, true);
        if (ctx.tx.id != ctx.rx.id) {
            got += rcv.poll(ctx.tx, false);
        }
        now = rte_rdtsc();
        // On a shared box a thread that never sleeps only gets its CFS share, in slices of
        // milliseconds; one that sleeps when idle is woken ahead of the others. Sleep only
        // when nothing arrived and the next packet is not due within the sleep.
        if (got == 0 && ctx.idle_sleep_tsc != 0 && now >= t0 && !flooding) {
            const uint64_t slot = t0 + static_cast<uint64_t>(static_cast<double>(next_k) * tsc_per_pkt);
            if (slot > now + 2 * ctx.idle_sleep_tsc) {
                rte_delay_us_sleep(ctx.idle_sleep_us);
                now = rte_rdtsc();
            }
        }
    }
    res.sent = next_k;
    res.send_time_s = last_tx > first_tx ? static_cast<double>(last_tx - first_tx) / static_cast<double>(hz) : 0.0;
    res.max_lag_ms = static_cast<double>(max_lag) * 1e3 / static_cast<double>(hz);
    // The pacer could not send everything, or finished more than 2% (+20 ms) late: what was
    // measured is then the generator's limit, not the relay's. A single scheduling hiccup
    // (a shared 2-core box) only shows in max_lag_ms.
    const double end_s = last_tx > t0 ? static_cast<double>(last_tx - t0) / static_cast<double>(hz) : 0.0;
    res.generator_limited = next_k < res.planned || end_s > duration_s * 1.02 + 0.02;
    res.hit_deadline = now >= ctx.deadline_tsc;

    const uint64_t drain_end =
        std::min(ctx.deadline_tsc, rte_rdtsc() + static_cast<uint64_t>(drain_s * static_cast<double>(hz)));
    while (rte_rdtsc() < drain_end) {
        const unsigned got = rcv.poll(ctx.rx, true);
        if (ctx.tx.id != ctx.rx.id) {
            rcv.poll(ctx.tx, false);
        }
        if (got == 0) {
            if (ctx.idle_sleep_us != 0) {
                rte_delay_us_sleep(ctx.idle_sleep_us);
            } else {
                rte_pause();
            }
        }
    }
    return res;
}

void serve_arp(gen_context& ctx, double seconds) {
    trial_result scratch;
    receiver rcv{ctx, UINT32_MAX, scratch, {}, 0.0};
    const uint64_t end =
        std::min(ctx.deadline_tsc, rte_rdtsc() + static_cast<uint64_t>(seconds * static_cast<double>(rte_get_tsc_hz())));
    while (rte_rdtsc() < end) {
        rcv.poll(ctx.rx, true);
        if (ctx.tx.id != ctx.rx.id) {
            rcv.poll(ctx.tx, false);
        }
        rte_delay_us_block(100);
    }
}

}  // namespace sf::gen
