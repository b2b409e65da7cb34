/// @file
/// sfgen: a DPDK RTP generator and sink for measuring a relay. Streams leave on one port,
/// come back relayed on the other, and are matched by the id, sequence number and send TSC
/// they carry; both ports are polled by one thread, so send and receive stamps share a clock.
///
///   sfgen [EAL args] -- --range N,SRC:PORT,DST:PORT --tx-ip ... --rx-ip ... [--search ...]
///
/// Prints one JSON object on stdout (EAL's log goes to stderr). Exit status: 0 when the run
/// completed (whatever the loss: the report says), 1 on a set-up error, 2 on a bad command line.

#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include "options.hh"
#include "report.hh"
#include "streams.hh"
#include "trial.hh"

using namespace sf::gen;

namespace {

// Resolves the next hop of each of `streams` by ARP on the TX port; throws when one does not answer.
void resolve_next_hops(gen_context& ctx, const options& o, const std::vector<stream>& streams) {
    std::set<uint32_t> hops;
    for (const auto& s : streams) {
        hops.insert(o.gateway ? o.gateway : s.dst_ip);
    }
    const uint64_t hz = rte_get_tsc_hz();
    const uint64_t end = std::min(ctx.deadline_tsc, rte_rdtsc() + static_cast<uint64_t>(o.arp_timeout_s * hz));
    for (unsigned round = 0; round < 1000 && rte_rdtsc() < end; ++round) {
        bool missing = false;
        for (uint32_t h : hops) {
            if (!ctx.arp->lookup(h)) {
                missing = true;
                ctx.arp->request(ctx.tx, h);
            }
        }
        if (!missing) {
            return;
        }
        serve_arp(ctx, 0.2);
    }
    for (uint32_t h : hops) {
        if (!ctx.arp->lookup(h)) {
            throw std::runtime_error("no ARP answer from next hop " + ipv4_text(h));
        }
    }
}

// A UDP payload from a file: 1..max_payload_len bytes, else throws naming `opt`.
std::string read_payload(const char* opt, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string payload(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>{});
    if (!in.good() && !in.eof()) {
        throw std::runtime_error(std::string(opt) + ": cannot read " + path);
    }
    if (payload.empty() || payload.size() > max_payload_len) {
        throw std::runtime_error(std::string(opt) + ": 1.." + std::to_string(max_payload_len) + " bytes, " + path +
                                 " has " + std::to_string(payload.size()));
    }
    return payload;
}

// The --flood-file frames, one per --flood-streams line, to the destination's next hop
// (resolved by ARP here unless --dst-mac or a gateway's MAC is already known).
void build_flood(gen_context& ctx, const options& o, const std::vector<stream>& sources) {
    const std::string payload = read_payload("--flood-file", o.flood_file);
    if (!o.dst_mac) {
        resolve_next_hops(ctx, o, sources);
    }
    ctx.flood_templates.resize(sources.size());
    for (size_t i = 0; i < sources.size(); ++i) {
        const stream& s = sources[i];
        const rte_ether_addr dst = o.dst_mac ? *o.dst_mac : *ctx.arp->lookup(o.gateway ? o.gateway : s.dst_ip);
        build_payload_template(ctx.flood_templates[i], ctx.tx.mac, dst, s.src_ip, s.src_port, s.dst_ip, s.dst_port,
                               payload);
    }
    ctx.flood_pps = o.flood_pps;
}

bool passed(const trial_result& r, const options& o) {
    return !r.generator_limited && !r.hit_deadline && r.loss_ratio() <= o.loss_tolerance && r.duplicates == 0;
}

int run(int argc, char** argv) {
    // EAL logs to stdout by default; the report owns stdout.
    rte_openlog_stream(stderr);
    const int consumed = rte_eal_init(argc, argv);
    if (consumed < 0) {
        std::cerr << "sfgen: rte_eal_init failed\n";
        return 1;
    }
    argc -= consumed;
    argv += consumed;
    options o;
    try {
        o = parse_options(argc - 1, argv + 1);
    } catch (const std::exception& e) {
        std::cerr << "sfgen: " << e.what() << "\n";
        return 2;
    }
    // Backstop beyond the cooperative deadline: a stuck driver call cannot keep us alive.
    alarm(static_cast<unsigned>(o.deadline_s) + 10);

    gen_context ctx;
    arp_agent arp(nullptr);
    std::vector<stream> flood_sources;  // --flood-streams
    try {
        ctx.streams = o.garp_only ? std::vector<stream>{} : (o.range.empty() ? read_streams_file(o.streams_file)
                                                                             : streams_from_range(o.range));
        if (!o.flood_streams.empty()) {
            flood_sources = read_streams_file(o.flood_streams);
        }
        ctx.pool = rte_pktmbuf_pool_create("sfgen_pool", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                           static_cast<int>(rte_socket_id()));
        if (ctx.pool == nullptr) {
            throw std::runtime_error("mbuf pool");
        }
        arp = arp_agent(ctx.pool);
        ctx.arp = &arp;
        ctx.burst = o.burst;
        ctx.idle_sleep_us = o.idle_sleep_us;
        ctx.idle_sleep_tsc = static_cast<uint64_t>(o.idle_sleep_us) * rte_get_tsc_hz() / 1000000;
        if (o.idle_sleep_us != 0) {
            prctl(PR_SET_TIMERSLACK, 1000UL);  // 1 us: the default 50 us slack would dominate the sleep
        }
        ctx.deadline_tsc = rte_rdtsc() + static_cast<uint64_t>(o.deadline_s * rte_get_tsc_hz());
        if (o.ring_cable) {
            std::tie(o.tx_port, o.rx_port) = make_ring_cable();
        }
        start_port(o.tx_port, ctx.pool);
        if (o.rx_port != o.tx_port) {
            start_port(o.rx_port, ctx.pool);
        }
        ctx.tx.id = o.tx_port;
        ctx.rx.id = o.rx_port;
        rte_eth_macaddr_get(ctx.tx.id, &ctx.tx.mac);
        rte_eth_macaddr_get(ctx.rx.id, &ctx.rx.mac);
        ctx.tx.ips = o.tx_ips;
        if (ctx.tx.ips.empty()) {
            std::set<uint32_t> srcs;
            for (const auto& s : ctx.streams) {
                srcs.insert(s.src_ip);
            }
            for (const auto& s : flood_sources) {
                srcs.insert(s.src_ip);  // the flood's answers find their way back (and are not lost in ARP)
            }
            ctx.tx.ips.assign(srcs.begin(), srcs.end());
        }
        ctx.rx.ips = o.rx_ips;

        arp.announce(ctx.tx);
        arp.announce(ctx.rx);
        if (o.garp_only) {
            serve_arp(ctx, 0.3);
            arp.announce(ctx.tx);
            arp.announce(ctx.rx);
            serve_arp(ctx, 0.3);
            std::cout << "{\"tool\":\"sfgen\",\"garp\":true,\"tx_mac\":\"";
            char buf[RTE_ETHER_ADDR_FMT_SIZE];
            rte_ether_format_addr(buf, sizeof(buf), &ctx.tx.mac);
            std::cout << buf << "\",\"rx_mac\":\"";
            rte_ether_format_addr(buf, sizeof(buf), &ctx.rx.mac);
            std::cout << buf << "\"}\n";
            std::cout.flush();
            // Close the ports as after a trial: net_af_xdp takes its XDP program off the
            // interface only when its port is closed (rte_eal_cleanup).
            for (uint16_t p : {ctx.tx.id, ctx.rx.id}) {
                rte_eth_dev_stop(p);
            }
            rte_eal_cleanup();
            return 0;
        }
        if (!o.dst_mac) {
            resolve_next_hops(ctx, o, ctx.streams);
        }
        std::string payload;
        if (!o.payload_file.empty()) {
            payload = read_payload("--payload-file", o.payload_file);
            ctx.payload_frames = true;
        }
        if (!flood_sources.empty()) {
            build_flood(ctx, o, flood_sources);
        }
        ctx.templates.resize(ctx.streams.size());
        for (size_t i = 0; i < ctx.streams.size(); ++i) {
            const stream& s = ctx.streams[i];
            const rte_ether_addr dst = o.dst_mac ? *o.dst_mac : *arp.lookup(o.gateway ? o.gateway : s.dst_ip);
            if (ctx.payload_frames) {
                build_payload_template(ctx.templates[i], ctx.tx.mac, dst, s.src_ip, s.src_port, s.dst_ip, s.dst_port,
                                       payload);
            } else {
                build_template(ctx.templates[i], ctx.tx.mac, dst, s.src_ip, s.src_port, s.dst_ip, s.dst_port,
                               0x5f000000u + static_cast<uint32_t>(i));
            }
        }
    } catch (const std::exception& e) {
        std::cerr << "sfgen: " << e.what() << "\n";
        return 1;
    }

    const double n = static_cast<double>(ctx.streams.size());
    const double nominal = 50.0 * n;  // G.711 at 20 ms packetisation
    std::ostringstream out;
    out << "{\"tool\":\"sfgen\",\"streams\":" << ctx.streams.size() << ",\"cpu\":" << sched_getcpu()
        << ",\"tsc_hz\":" << rte_get_tsc_hz() << ",\"nominal_pps\":" << nominal;

    // Warm-up: the relay latches each stream's source and resolves the sink before anything counts.
    if (o.warmup_s > 0) {
        const double warm_rate = std::min(nominal, o.search ? o.search_min_pps : (o.rate_pps > 0 ? o.rate_pps : nominal));
        const trial_result w = run_trial(ctx, 0, warm_rate, o.warmup_s, o.drain_s);
        out << ",\"warmup\":{\"rate_pps\":" << warm_rate << ",\"sent\":" << w.sent << ",\"received\":" << w.received
            << ",\"arp_replies_sent\":" << arp.replies_sent() << "}";
    }

    std::vector<trial_result> trials;
    uint32_t next_id = 1;
    if (!o.search) {
        trials.push_back(run_trial(ctx, next_id++, o.rate_pps > 0 ? o.rate_pps : nominal, o.duration_s, o.drain_s));
    } else {
        // RFC 2544 26.1-style search for the highest rate without loss, bounded by
        // --search-trials. Not from the top down: a relay flooded far beyond its capacity
        // (rtpengine's socket queues) takes seconds to recover and spoils the next trials.
        // So: double from the floor until a trial fails (or the ceiling passes), then bisect
        // between the last pass and the first failure, with a quiet pause between trials.
        double lo = 0, hi = o.search_max_pps, rate = o.search_min_pps, best = 0;
        bool ramping = true;
        for (unsigned t = 0; t < o.search_trials && rte_rdtsc() < ctx.deadline_tsc; ++t) {
            if (t > 0) {
                serve_arp(ctx, o.pause_s);
            }
            trials.push_back(run_trial(ctx, next_id++, rate, o.duration_s, o.drain_s));
            if (passed(trials.back(), o)) {
                best = std::max(best, rate);
                lo = rate;
                if (rate >= o.search_max_pps) {
                    break;
                }
            } else {
                hi = rate;
                ramping = false;
                if (lo == 0) {
                    break;  // even the floor loses
                }
            }
            if (!ramping && (hi - lo) / hi < o.search_precision) {
                break;
            }
            rate = ramping ? std::min(rate * 2, o.search_max_pps) : (lo + hi) / 2;
        }
        out << ",\"search\":{\"zero_loss_pps\":" << best << ",\"min_pps\":" << o.search_min_pps
            << ",\"max_pps\":" << o.search_max_pps << ",\"loss_tolerance\":" << o.loss_tolerance
            << ",\"trials_run\":" << trials.size() << ",\"trial_duration_s\":" << o.duration_s
            << ",\"bracket\":[" << lo << "," << hi << "]}";
        if (o.latency_at_half && best > 0 && rte_rdtsc() < ctx.deadline_tsc) {
            serve_arp(ctx, o.pause_s);
            const trial_result half = run_trial(ctx, next_id++, best / 2, o.duration_s, o.drain_s);
            out << ",\"latency_at_half\":" << trial_json(half, ctx.streams, o.per_stream);
        }
    }
    out << ",\"trials\":[";
    for (size_t i = 0; i < trials.size(); ++i) {
        out << (i ? "," : "") << trial_json(trials[i], ctx.streams, o.per_stream && !o.search);
    }
    // The ports' own counters: loss at sfgen's sink (af_packet ring overruns show as imissed)
    // is told apart from loss in the relay.
    out << "],\"ports\":{";
    const std::pair<const char*, uint16_t> ports[] = {{"tx", ctx.tx.id}, {"rx", ctx.rx.id}};
    for (size_t i = 0; i < 2; ++i) {
        rte_eth_stats st{};
        rte_eth_stats_get(ports[i].second, &st);
        out << (i ? "," : "") << "\"" << ports[i].first << "\":{\"ipackets\":" << st.ipackets
            << ",\"opackets\":" << st.opackets << ",\"imissed\":" << st.imissed << ",\"ierrors\":" << st.ierrors
            << ",\"oerrors\":" << st.oerrors << "}";
    }
    out << "},\"deadline_hit\":" << (rte_rdtsc() >= ctx.deadline_tsc ? "true" : "false") << "}\n";
    std::cout << out.str();
    std::cout.flush();
    for (uint16_t p : {ctx.tx.id, ctx.rx.id}) {
        rte_eth_dev_stop(p);
    }
    rte_eal_cleanup();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return run(argc, argv);
}
