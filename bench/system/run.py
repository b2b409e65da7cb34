#!/usr/bin/env python3
"""The system benchmark (tools/bench --system): sipferry and rtpengine (userspace) relaying the
same RTP streams through veth pairs in the same run, measured by the same generator (sfgen),
plus the relay's per-lcore cost on in-process net_ring ports against plain io forwarding.

Topology (namespaces sfb-gen and sfb-dut, built here and always deleted again; TEST-NET-3 only):

  sfb-gen                                              sfb-dut
   gacc  203.0.113.10/25 (kernel: SIP caller)   <===>   dacc   203.0.113.1/25
         203.0.113.20    (sfgen: stream sources)                (sipferry DPDK af_packet or af_xdp port,
   gcore 203.0.113.140/25 (kernel: SIP callee)  <===>   dcore  203.0.113.129/25  or rtpengine's kernel addresses)
         203.0.113.150   (sfgen: the sink)

sipferry's veth driver is --veth-pmd (af_packet, the default and faster here, af_xdp, or both:
one sipferry search each per round); sfgen's is --gen-pmd (default the first of --veth-pmd), the
same for every relay of the run, except on its sending end (gacc), which is --gen-tx-pmd (default
af_xdp: it sends about 1.5x what af_packet's TX ring can into veth).

sfgen (CPU 0) sends N streams from 203.0.113.20:30000+2i to the relay's access address and
port of stream i, the relay forwards them from its core address to 203.0.113.150:40000+2i,
where sfgen receives them. The relay's worker gets CPU 1 (sipferry: EAL lcore 1; rtpengine:
taskset -c 1, --num-threads=1). sipferry's calls are real SIP calls through its B2BUA
(sip_calls.py; relay ports read back from GET /v1/calls); rtpengine's sessions are created
with its ng protocol (ng_client.py). Each relay: an RFC 2544-style search for the highest
zero-loss rate, then one trial at half that rate for the added one-way latency (rtpengine runs
first; sipferry also runs a trial at rtpengine's half-load rate). Between them, the wire: plain
io forwarding (memif_fwd) on net_af_packet ports on the same veth ends, the same search and a
trial at rtpengine's half-load rate, for the latency the path itself has (what each relay adds is
its p99 less the wire's at the same rate). Over every trial the relay's
CPU time (process, and sipferry's worker thread) is read from /proc. Then, without the kernel:
sipferry's worker loop vs plain io forwarding on the same two net_memif ports (memif_fwd.cc,
sfgen as memif client, same search), then the two in turns of 10 ms on the one lcore, each
counting its own busy time (trials at half the relay's zero-loss rate and at that rate, or at
--memif-fixed-rates): their ratio per packet, free of the host's drift between separate trials;
and on net_ring (bench_ring_io). docs/benchmarks.md.

With --fixed-rates R1,R2,... the veth phases (rtpengine, the wire, sipferry) skip the search and
run --fixed-repeats trials at each of those total rates instead, the rates taken in turn: the
one-way latency of each relay against offered load, for the rates a capacity plan names.

  tools/bench --system [--build-dir DIR] [--streams N] [--trial S] [--search-trials N]
                       [--search-max PPS] [--veth-pmd af_packet|af_xdp|af_packet,af_xdp]
                       [--gen-pmd af_packet|af_xdp] [--rounds N] [--skip-sipferry] [--skip-rtpengine]
                       [--skip-ring] [--skip-memif] [--skip-wire] [--huge auto|on|off] [--memif-zero-copy on|off]
                       [--memif-ring-size LOG2] [--memif-fixed-rates PPS,PPS,...]
                       [--idle-sleep-us N] [--nice N]
                       [--relay-scheduling normal|fifo|rr] [--relay-priority N] [--keep-logs]
                       [--fixed-rates PPS,PPS,... [--fixed-repeats N]]

Needs root (ip netns). Writes results/system-<date>.json.
"""
# The harness's parts, one responsibility each, in this folder: lab.py (the namespaces, the veth and
# memif ports, the processes, teardown), trials.py (a trial, CPU and load accounting, the rate
# search), relays.py (the relays under test), phases.py (each relay's phase, the net_ring phase),
# summary.py (the trials into the results' figures), report.py (the printed tables). This file:
# the options, and the order of the phases, set-up to teardown.
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the siblings, also when loaded by path

from lab import (DUT_CPU, GEN_CPU, MEMIF_HUGE_MB, NS_DUT, NS_GEN, RING_HUGE_MB, ROOT, RUN_DIR,  # noqa: E402
                 SINK_DROP, VETH_PMDS, interrupted, kernel_drop, on_signal, say, setup_namespaces, teardown)
from phases import run_memif, run_ring, run_rtpengine, run_sipferry, run_wire  # noqa: E402
from report import print_table  # noqa: E402
from summary import (added, alternate_summary, fixed_ratios, fixed_summary, median, median_summary,  # noqa: E402
                     parse_rates, per_cpu, ratio, same_load_p99, same_rate_load, summary)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--streams", type=int, default=100, help="calls / RTP streams (default 100)")
    ap.add_argument("--trial", type=float, default=3.0, help="seconds per trial (default 3)")
    ap.add_argument("--search-trials", type=int, default=16, help="rates a search tries at most (default 16)")
    ap.add_argument("--search-retries", type=int, default=0,
                    help="a failing rate is tried again up to N times, after the relay's restart, and passes if "
                         "any trial does (default 0: RFC 2544's one trial per rate; 1 on a shared box, where one "
                         "stalled trial ends the doubling)")
    ap.add_argument("--search-min", type=float, default=1000.0, help="first rate of the ramp (doubles until loss)")
    ap.add_argument("--search-max", type=float, default=1000000.0)
    ap.add_argument("--precision", type=float, default=0.02)
    ap.add_argument("--loss-tolerance", type=float, default=0.0, help="fraction (RFC 2544: 0)")
    ap.add_argument("--max-p50-ms", type=float, default=20.0,
                    help="a trial whose median latency exceeds this did not keep up (it queued), default 20")
    ap.add_argument("--veth-pmd", default="af_packet",
                    help="sipferry's DPDK driver on the veth ends: af_packet (default) or af_xdp, or both as a "
                         "comma list (af_packet,af_xdp): each gets its own sipferry search in every round; the "
                         "first is the headline figure and also the generator's driver")
    ap.add_argument("--gen-pmd", choices=VETH_PMDS, default=None,
                    help="sfgen's driver on the veth ends (default: the first of --veth-pmd), the same for every relay")
    ap.add_argument("--gen-tx-pmd", choices=VETH_PMDS, default="af_xdp",
                    help="sfgen's driver on its sending end (gacc) only (default af_xdp: af_packet's TX ring "
                         "hands veth page fragments it must copy, a page per frame, and capped sfgen near 530k pps)")
    ap.add_argument("--skip-sipferry", action="store_true")
    ap.add_argument("--skip-rtpengine", action="store_true")
    ap.add_argument("--skip-ring", action="store_true")
    ap.add_argument("--skip-memif", action="store_true")
    ap.add_argument("--skip-wire", action="store_true",
                    help="no veth wire (io forwarding on af_packet in sfb-dut): the floor the relays' added "
                         "latency is taken from")
    ap.add_argument("--huge", choices=("auto", "on", "off"), default="auto",
                    help=f"net_ring and memif phases on hugepages: auto (when {RING_HUGE_MB} and {MEMIF_HUGE_MB} MB "
                         "are free, as in production), on, off (4 KiB pages, --no-huge, as CI)")
    ap.add_argument("--memif-zero-copy", choices=("on", "off"), default="off",
                    help="sfgen as a zero-copy memif client: its memif share of CPU 0 fell from ~45%% to ~33%%, for "
                         "a host where sfgen's copies are what limits the memif phase (default off: no difference "
                         "measured on the development VM, whose memif figures swing 2x with the host)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the veth pair (rtpengine, sipferry) N times; medians reported (default 1)")
    ap.add_argument("--memif-ring-size", type=int, default=None, metavar="LOG2",
                    help="memif descriptors per ring as a power of two, 10..14 (default 14 in copy mode, 12 "
                         "with --memif-zero-copy on, at most 12 there)")
    ap.add_argument("--memif-fixed-rates", default=None, metavar="PPS,PPS,...",
                    help="no search on memif: --fixed-repeats trials at these rates (e.g. 2M,4M), io forwarding, "
                         "the relay and the two alternating alike; each trial's busy ns per packet tells a slow "
                         "core from a queue")
    ap.add_argument("--memif-search-min", type=float, default=100000.0)
    ap.add_argument("--memif-search-max", type=float, default=50000000.0)
    ap.add_argument("--keep-logs", action="store_true")
    ap.add_argument("--no-kernel-drop", dest="kernel_drop", action="store_false",
                    help="let the kernel route (and drop) the frames af_packet sockets own, as before 2026-12-06 "
                         "(default: a raw-table DROP at PREROUTING ends them after the sockets copied them)")
    ap.add_argument("--idle-sleep-us", type=int, default=0,
                    help="sipferry's worker and sfgen sleep this long when idle (default 0: pure polling, "
                         "production's setting; 10 on a box that other work shares, where a thread that never "
                         "sleeps gets its CPU in millisecond slices, at the price of a wake-up, ~20 us, in "
                         "every latency)")
    ap.add_argument("--nice", type=int, default=-10,
                    help="nice value of sfgen and the relays (default -10: the box is shared; 0: off)")
    ap.add_argument("--relay-scheduling", choices=("normal", "fifo", "rr"), default="normal",
                    help="scheduling class of the relays' forwarding threads: sipferry's worker lcore "
                         "([dataplane] worker_scheduling) and rtpengine's poller (--scheduling); default normal "
                         "(each relay's own default). fifo takes the wake-up waits out of both relays' tails "
                         "but costs both zero-loss rate here (RT throttling, starved helper threads); sfgen "
                         "and the wire always stay normal")
    ap.add_argument("--relay-priority", type=int, default=10,
                    help="their real-time priority, 1..98 (default 10)")
    ap.add_argument("--fixed-rates", default=None, metavar="PPS,PPS,...",
                    help="no search on veth: trials at these total rates (e.g. 50k,150k,300k), each relay and "
                         "the wire alike; latency against offered load")
    ap.add_argument("--fixed-repeats", type=int, default=3,
                    help="trials per rate with --fixed-rates (default 3; medians reported)")
    return ap.parse_args()


def check_options(a):
    """What argparse does not check: exit status 2 with the reason on stderr, else None. Sets
    the rates of --fixed-rates and --memif-fixed-rates, a.veth_pmds and a.gen_pmd."""
    for opt in ("fixed_rates", "memif_fixed_rates"):
        if getattr(a, opt) is not None:
            try:
                setattr(a, opt, parse_rates(getattr(a, opt)))
            except ValueError as e:
                print(f"--{opt.replace('_', '-')}: {e}", file=sys.stderr)
                return 2
    if (a.fixed_rates or a.memif_fixed_rates) and not 1 <= a.fixed_repeats <= 50:
        print("--fixed-repeats: 1..50", file=sys.stderr)
        return 2
    if a.fixed_rates and a.rounds != 1:
        print("--rounds with --fixed-rates: use --fixed-repeats", file=sys.stderr)
        return 2
    if a.memif_ring_size is not None and not 10 <= a.memif_ring_size <= (12 if a.memif_zero_copy == "on" else 14):
        print("--memif-ring-size: 10..14 (10..12 with --memif-zero-copy on)", file=sys.stderr)
        return 2
    if not 0 <= a.search_retries <= 5:
        print("--search-retries: 0..5", file=sys.stderr)
        return 2
    if not 1 <= a.relay_priority <= 98:
        print("--relay-priority: 1..98", file=sys.stderr)
        return 2
    a.veth_pmds = [x.strip() for x in a.veth_pmd.split(",") if x.strip()]
    if not a.veth_pmds or any(x not in VETH_PMDS for x in a.veth_pmds) or len(set(a.veth_pmds)) != len(a.veth_pmds):
        print(f"--veth-pmd: one or more of {', '.join(VETH_PMDS)}, comma-separated", file=sys.stderr)
        return 2
    a.gen_pmd = a.gen_pmd or a.veth_pmds[0]


def check_prerequisites(a):
    """Root, the build's programs (their paths set in `a`; memif_fwd None when not built) and a
    --streams that sipferry's media range holds: exit status 1 with the reason on stderr, else None."""
    if os.geteuid() != 0:
        print("tools/bench --system needs root (network namespaces)", file=sys.stderr)
        return 1
    a.build_dir = os.path.abspath(a.build_dir)
    a.sfgen = os.path.join(a.build_dir, "tools", "trafficgen", "sfgen")
    a.sipferry = next((p for p in (os.path.join(a.build_dir, "sipferry"), os.path.join(a.build_dir, "control", "sipferry"))
                       if os.access(p, os.X_OK)), None)
    a.sipferryctl = next((p for p in (os.path.join(a.build_dir, "sipferryctl"),
                                      os.path.join(a.build_dir, "control", "sipferryctl")) if os.access(p, os.X_OK)), None)
    a.memif_fwd = os.path.join(a.build_dir, "bench", "memif_fwd")
    a.memif_fwd = a.memif_fwd if os.access(a.memif_fwd, os.X_OK) else None
    if not os.access(a.sfgen, os.X_OK) or not a.sipferry or not a.sipferryctl:
        print(f"build first: ninja -C {a.build_dir} (need sfgen, sipferry, sipferryctl)", file=sys.stderr)
        return 1
    if not 1 <= a.streams <= 4000:
        print("--streams: 1..4000 (sipferry's [media] range holds 5000 port pairs)", file=sys.stderr)
        return 1


def describe_run(a, stamp):
    """The results' account of the run: the host, the options, the topology (the figures follow)."""
    out = {"date": stamp, "host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
           "streams": a.streams, "rtp_payload_bytes": 172, "trial_s": a.trial,
           "cpus_used": {"generator": GEN_CPU, "relay_worker": DUT_CPU,
                         "note": "sipferry: control thread on CPU 0 (idle during traffic), worker lcore on CPU 1; "
                                 "rtpengine: whole process on CPU 1 (--num-threads=1); sfgen: CPU 0; "
                                 "veth/af_packet/af_xdp kernel work runs on the sending CPU"},
           "veth_pmd": {"sipferry": a.veth_pmds, "generator": a.gen_pmd, "generator_tx": a.gen_tx_pmd, "headline": a.veth_pmds[0]},
           "cpu_accounting": "utime+stime from /proc/PID/stat (process) and /proc/PID/task/TID/stat (sipferry's "
                             "worker lcore thread) over each sfgen run, tick-sampled (HZ ticks charged to the running "
                             "task, softirq work done in its context included); each relay is charged the kernel "
                             "work of its own sends (the veth peer's receive softirq runs on its CPU) but not that "
                             "of its receive leg (runs on sfgen's CPU 0, charged to sfgen or ksoftirqd)",
           "nice": a.nice, "relay_scheduling": {"policy": a.relay_scheduling,
                   "priority": a.relay_priority if a.relay_scheduling != "normal" else None},
           "kernel_drop": a.kernel_drop, "idle_sleep_us": a.idle_sleep_us, "loadavg_before": os.getloadavg(), "search": {"min_pps": a.search_min, "max_pps": a.search_max, "max_trials": a.search_trials,
                                      "precision": a.precision, "loss_tolerance": a.loss_tolerance,
                                      "retries": a.search_retries,
                                      "max_p50_ms": a.max_p50_ms},
           "topology": {"namespaces": [NS_GEN, NS_DUT], "access": "203.0.113.0/25", "core": "203.0.113.128/25"}}
    return out


def set_up(a, logdir):
    """Whatever an earlier run left, then the two namespaces, and the sink's kernel drop rule."""
    teardown()
    setup_namespaces()
    if a.kernel_drop:
        kernel_drop(NS_GEN, [SINK_DROP], True)  # sfgen reads the sink's frames itself, every relay alike
    say(f"namespaces {NS_GEN}, {NS_DUT} up; logs in {logdir}")


def run_phase(errors, name, fn, *args, **kw):
    """A phase that fails is reported (errors[name]) and the others still run: one run, all figures
    it can get. An interruption (SIGINT, SIGTERM, SIGHUP) ends the run."""
    try:
        return fn(*args, **kw)
    except (interrupted, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001
        say(f"{name} phase failed: {e}")
        errors[name] = str(e)
        return None


def run_veth_rounds(a, logdir, errors):
    """The veth phases, --rounds times: rtpengine, the wire, sipferry on each --veth-pmd. Their raw
    reports per round."""
    # rtpengine first: sipferry then also runs one trial at rtpengine's half-load rate, so
    # that the latencies are compared at the same offered load as well.
    # The box is shared: what else runs changes from minute to minute. --rounds N repeats the
    # pair (rtpengine, then sipferry) N times and reports each round and the medians.
    rounds = []
    for k in range(a.rounds):
        if a.rounds > 1:
            say(f"round {k + 1} of {a.rounds}")
        rtpe = None if a.skip_rtpengine else run_phase(errors, f"rtpengine[{k}]", run_rtpengine, a, logdir)
        # (with --fixed-rates every veth phase runs the same rates and there is no search)
        rtpe_half = rtpe and "search" in rtpe and rtpe["search"]["zero_loss_pps"] / 2
        wire = None if a.skip_wire else run_phase(errors, f"wire[{k}]", run_wire, a, logdir, also_at=rtpe_half or None)
        sips = {}
        # With several PMDs, each round starts with the next one (drift of the box's load
        # over the run does not favour one driver).
        for pmd in a.veth_pmds[k % len(a.veth_pmds):] + a.veth_pmds[:k % len(a.veth_pmds)]:
            sips[pmd] = None if a.skip_sipferry else run_phase(errors, f"sipferry-{pmd}[{k}]", run_sipferry,
                                                               a, logdir, pmd, also_at=rtpe_half or None)
        rounds.append({"sipferry": {p: sips.get(p) for p in a.veth_pmds}, "rtpengine": rtpe, "wire": wire})
    return rounds


def run_in_process(a, logdir, errors):
    """net_ring, then net_memif (no kernel in the path): their raw figures, and what each ran on."""
    ring_info = {}
    ring = None if a.skip_ring else run_phase(errors, "ring", run_ring, a, logdir, ring_info)
    memif_info = {}
    memif = None if a.skip_memif else run_phase(errors, "memif", run_memif, a, logdir, memif_info)
    return ring, ring_info, memif, memif_info


def summarise_veth(a, out, rounds):
    """The veth phases' figures into `out`: each round's summaries, the fixed rates, the medians."""
    head = a.veth_pmds[0]
    # With fixed rates there is no search to summarise: those figures are in out["fixed_rates"].
    summ = (lambda _rep: None) if a.fixed_rates else summary
    out["rounds"] = [{"sipferry": summ(r["sipferry"][head]), "rtpengine": summ(r["rtpengine"]),
                      "wire": summ(r["wire"]), "sipferry_by_pmd": {p: summ(r["sipferry"][p]) for p in a.veth_pmds}} for r in rounds]
    out["fixed_rates"] = None
    if a.fixed_rates:
        fx = {"rates_pps": a.fixed_rates, "repeats": a.fixed_repeats,
              "sipferry": {p: fixed_summary(rounds[0]["sipferry"][p]) for p in a.veth_pmds},
              "rtpengine": fixed_summary(rounds[0]["rtpengine"]), "wire": fixed_summary(rounds[0]["wire"])}
        fx["ratios"] = fixed_ratios(fx["sipferry"][head], fx["rtpengine"], fx["wire"])
        out["fixed_rates"] = fx
    out["sipferry"] = median_summary([r["sipferry"] for r in out["rounds"]])
    out["sipferry_by_pmd"] = {p: median_summary([r["sipferry_by_pmd"][p] for r in out["rounds"]])
                              for p in a.veth_pmds}
    out["rtpengine"] = median_summary([r["rtpengine"] for r in out["rounds"]])
    out["wire"] = median_summary([r["wire"] for r in out["rounds"]])
    out["raw"] = {"rounds": rounds}


def summarise_in_process(a, out, ring, ring_info, memif, memif_info):
    """The net_ring and net_memif figures into `out`."""
    out["ring_mpps_per_lcore"] = ring
    out["ring_eal_memory"] = ring_info.get("eal_memory")
    out["ring_translation_ns"] = ring_info.get("translation_ns")
    memif_summ = fixed_summary if a.memif_fixed_rates else summary
    out["memif"] = {m: memif_summ(memif[m]) for m in ("io", "relay")} if memif else None
    out["memif_alternate"] = alternate_summary(memif.get("alternate")) if memif else None
    out["memif_setup"] = memif_info or None
    out["memif_load_same_rate"] = same_rate_load(memif["relay"], memif["io"]) if memif else None
    out["raw"]["memif"] = memif


def compare(a, out, ring, memif):
    """What each relay adds to the wire, and the ratios between the relays and to io forwarding."""
    s, r, w = out["sipferry"], out["rtpengine"], out["wire"]
    # What each relay adds to the path's own p99 at rtpengine's half-load rate, in microseconds:
    # the figure to read (their ratio divides by a small difference of noisy quantiles).
    wire_same = same_load_p99(w)
    out["added_p99_us_at_rtpengine_half_load"] = {
        "wire_p99_us": wire_same,
        "sipferry": added(same_load_p99(s), wire_same) if wire_same is not None else None,
        "rtpengine": added(r and r["latency_us"] and r["latency_us"]["p99"], wire_same)
        if wire_same is not None else None}
    out["ratios"] = {
        "zero_loss_pps_sipferry_over_rtpengine": ratio(s and s["zero_loss_pps"], r and r["zero_loss_pps"]),
        "p99_latency_rtpengine_over_sipferry": ratio(r and r["latency_us"] and r["latency_us"]["p99"],
                                                     s and s["latency_us"] and s["latency_us"]["p99"]),
        "p50_latency_rtpengine_over_sipferry": ratio(r and r["latency_us"] and r["latency_us"]["p50"],
                                                     s and s["latency_us"] and s["latency_us"]["p50"]),
        "p99_latency_same_load_rtpengine_over_sipferry": ratio(
            r and r["latency_us"] and r["latency_us"]["p99"],
            s and s["at_rtpengine_half_load"] and s["at_rtpengine_half_load"]["latency_us"]["p99"]),
        # What each relay adds to the wire's p99 at rtpengine's half-load rate (both relays and
        # the wire run a trial there): p99 less p99, an estimate (quantiles do not subtract
        # exactly), None when a relay measured no more than the wire.
        "p99_added_same_load_rtpengine_over_sipferry": ratio(
            added(r and r["latency_us"] and r["latency_us"]["p99"], same_load_p99(w)),
            added(same_load_p99(s), same_load_p99(w))),
        # Per core: packets relayed per CPU second of the relay process at its zero-loss
        # rate (sipferry's process includes its mostly idle control thread on CPU 0).
        "pps_per_cpu_s_sipferry_over_rtpengine": ratio(per_cpu(s), per_cpu(r)),
        "pps_per_cpu_s_sipferry_worker_over_rtpengine": ratio(per_cpu(s, who="worker"), per_cpu(r)),
        "memif_relay_over_io_forward": ratio(memif and memif["relay"].get("search", {}).get("zero_loss_pps"),
                                             memif and memif["io"].get("search", {}).get("zero_loss_pps")),
        # What a packet costs the lcore (busy cycles), the relay over io forwarding, at one rate.
        "memif_busy_ns_per_packet_relay_over_io": (out["memif_load_same_rate"] or {}).get("ratio"),
        # The same, the two taking turns of 10 ms on the lcore in the same trials: the median
        # over every alternating trial, free of the host's drift between separate trials.
        "memif_busy_ns_per_packet_relay_over_io_alternating": median(
            [x for row in out.get("memif_alternate") or [] for x in row["relay_over_io_each"]]),
        "ring_relay_1k_over_io_forward": ratio(ring and ring.get("BM_ring_relay_1k"),
                                               ring and ring.get("BM_ring_io_forward_baseline")),
        "ring_worker_1k_over_io_forward": ratio(ring and ring.get("BM_ring_worker_1k"),
                                                ring and ring.get("BM_ring_io_forward_baseline")),
        # Flatness: per-packet time at 1M entries over 1k (Mpps at 1k over Mpps at 1M).
        "ring_relay_per_packet_1m_over_1k": ratio(ring and ring.get("BM_ring_relay_1k"),
                                                  ring and ring.get("BM_ring_relay_1M")),
        "ring_worker_per_packet_1m_over_1k": ratio(ring and ring.get("BM_ring_worker_1k"),
                                                   ring and ring.get("BM_ring_worker_1M")),
    }
    for p in a.veth_pmds:
        sp = out["sipferry_by_pmd"][p]
        out["ratios"][f"zero_loss_pps_sipferry_{p}_over_rtpengine"] = ratio(sp and sp["zero_loss_pps"],
                                                                           r and r["zero_loss_pps"])
        out["ratios"][f"pps_per_cpu_s_sipferry_{p}_over_rtpengine"] = ratio(per_cpu(sp), per_cpu(r))
        out["ratios"][f"p99_latency_rtpengine_over_sipferry_{p}"] = ratio(
            r and r["latency_us"] and r["latency_us"]["p99"], sp and sp["latency_us"] and sp["latency_us"]["p99"])
    if len(a.veth_pmds) > 1:
        x, y = (out["sipferry_by_pmd"][p] for p in a.veth_pmds[:2])
        out["ratios"][f"zero_loss_pps_sipferry_{a.veth_pmds[0]}_over_{a.veth_pmds[1]}"] = ratio(
            x and x["zero_loss_pps"], y and y["zero_loss_pps"])


def write_results(out, stamp):
    """results/system-<date>.json."""
    rdir = os.path.join(ROOT, "results")
    os.makedirs(rdir, exist_ok=True)
    path = os.path.join(rdir, f"system-{stamp}.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
    print(f"\nwritten {os.path.relpath(path, ROOT)}")


def main():
    a = parse_args()
    rc = check_options(a) or check_prerequisites(a)
    if rc:
        return rc

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = tempfile.mkdtemp(prefix="sfb-system-")
    os.makedirs(RUN_DIR, exist_ok=True)
    out = describe_run(a, stamp)
    rc = 0
    try:
        set_up(a, logdir)
        errors = {}
        rounds = run_veth_rounds(a, logdir, errors)
        ring, ring_info, memif, memif_info = run_in_process(a, logdir, errors)
        out["errors"] = errors
        if errors:
            rc = 1
        summarise_veth(a, out, rounds)
        summarise_in_process(a, out, ring, ring_info, memif, memif_info)
        compare(a, out, ring, memif)
        print_table(out)
        write_results(out, stamp)
    except (interrupted, KeyboardInterrupt) as e:
        print(f"[system] interrupted ({e}): tearing down", file=sys.stderr)
        rc = 130
    except Exception as e:  # noqa: BLE001 - report, tear down, fail
        print(f"[system] error: {e}", file=sys.stderr)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        teardown()
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        if rc == 0 and not a.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            print(f"[system] logs kept in {logdir}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
