"""The benchmark's phases (run.py), one function each: a relay, or the wire, given what it needs
of the kernel (drop rules, addresses), started, measured (trials.py) and stopped again whatever
happens; the net_memif pair (io forwarding, the relay, then the two alternating on one lcore);
the net_ring phase (bench_ring_io) with its address-translation probe. Each returns its raw figures for summary.py."""
import json
import os
import shutil
import subprocess

from lab import (DUT_CPU, MEMIF_HUGE_MB, NS_DUT, PORT_DROPS, RING_HUGE_MB, dut_kernel_addresses, hugepages_free_mb,
                 kernel_drop, memif_setup, nice, say, sh)
from relays import memif_relay, rtpengine_relay, sipferry_relay
from summary import bench_medians
from trials import measure, measure_fixed, measure_veth


def run_memif(a, logdir, info):
    """(c): zero-loss rate through net_memif of io forwarding and of sipferry's worker loop
    (lookup + rewrite + counters) on the same devices, same generator. `info` gets the set-up
    (memif_setup: zero copy, ring size, which memory)."""
    if not a.memif_fwd:
        say("memif_fwd not built: memif figures skipped")
        return None
    free_mb = hugepages_free_mb()
    a.memif = memif_setup(a.memif_zero_copy == "on",
                          a.huge == "on" or (a.huge == "auto" and free_mb >= MEMIF_HUGE_MB), a.memif_ring_size)
    info.update({k: a.memif[k] for k in ("zero_copy", "hugepages", "ring_size")})
    say(f"net_memif: sfgen {'zero-copy' if a.memif['zero_copy'] else 'copy-mode'} client, rings of "
        f"{a.memif['ring_size']}, {'hugepages' if a.memif['hugepages'] else '4k pages'} "
        f"({free_mb} MB of hugepages free)")
    out = {}
    for mode in ("io", "relay"):
        r = memif_relay(a, mode, logdir)
        try:
            r.start()
            out[mode] = (measure_fixed(a, r, a.memif_fixed_rates) if a.memif_fixed_rates else
                         measure(a, r, search_min=a.memif_search_min, search_max=a.memif_search_max))
        finally:
            r.stop()
    rates = alternate_rates(a, out["relay"])
    if rates:
        r = memif_relay(a, "alternate", logdir)
        try:
            r.start()
            out["alternate"] = measure_fixed(a, r, rates)
        finally:
            r.stop()
    return out


def alternate_rates(a, relay):
    """The rates of the alternating trials (memif_fwd --mode alternate: the relay's worker loop and
    io forwarding in turns of 10 ms on the lcore): --memif-fixed-rates, or half the relay's
    zero-loss rate and that rate itself (both forwarders keep up there: io is the faster). None
    when the relay's search found no rate."""
    if a.memif_fixed_rates:
        return a.memif_fixed_rates
    zero_loss = ((relay or {}).get("search") or {}).get("zero_loss_pps")
    return [zero_loss / 2, zero_loss] if zero_loss else None


def run_wire(a, logdir, also_at=None):
    """The veth path's own floor: plain io forwarding (memif_fwd) between net_af_packet ports on
    the relays' veth ends, polling without sleep, the same search and latency trials. What a
    relay adds to the one-way latency is its figure less this one at the same rate."""
    if not a.memif_fwd:
        say("memif_fwd not built: the veth wire skipped")
        return None
    r = memif_relay(a, "io", logdir, veth=True)
    if a.kernel_drop:
        kernel_drop(NS_DUT, PORT_DROPS, True)
    try:
        r.start()
        return measure_veth(a, r, also_at)
    finally:
        r.stop()
        if a.kernel_drop:
            kernel_drop(NS_DUT, PORT_DROPS, False)


def run_sipferry(a, logdir, pmd, also_at=None):
    r = sipferry_relay(a, pmd, logdir)
    if a.kernel_drop:
        kernel_drop(NS_DUT, PORT_DROPS, True)  # sipferry owns every frame on its ports
    try:
        r.start()
        rep = measure_veth(a, r, also_at)
        stats = r.ctl("stats")
        rep["dut_stats"] = json.loads(stats.stdout) if stats.returncode == 0 else None
        return rep
    finally:
        r.stop()
        if a.kernel_drop:
            kernel_drop(NS_DUT, PORT_DROPS, False)


def run_rtpengine(a, logdir):
    if shutil.which("rtpengine") is None:
        say("rtpengine not installed: apt-get install -y rtpengine-daemon")
        sh(["apt-get", "install", "-y", "rtpengine-daemon"], timeout=900, capture=False)
    dut_kernel_addresses(True)
    r = rtpengine_relay(a, "rtpengine", logdir)
    try:
        r.start()
        return measure_veth(a, r)
    finally:
        r.stop()
        dut_kernel_addresses(False)


def run_ring(a, logdir, info):
    """bench_ring_io on CPU 1: io forwarding vs the relay (lookup + rewrite + counters) vs the
    worker's whole per-burst path, through the same two net_ring ports, zero loss checked.
    On hugepages when the machine has enough free (--huge auto), as in production; `info` gets
    which memory it ran on."""
    exe = os.path.join(a.build_dir, "bench", "bench_ring_io")
    if not os.access(exe, os.X_OK):
        say(f"{exe} not built: ring figures skipped")
        return None
    argv = nice(a) + ["taskset", "-c", str(DUT_CPU), exe,
                      "--benchmark_filter=BM_ring_io_forward_baseline|BM_ring_relay_1k|BM_ring_relay_1M|BM_ring_worker_1k|BM_ring_worker_1M",
                      # 1k and 1M repetitions interleaved at random, so the box's drift (samples of one
                      # benchmark spread by +-20% here) hits both alike and their ratio is steadier.
                      "--benchmark_repetitions=9", "--benchmark_enable_random_interleaving=true",
                      "--benchmark_report_aggregates_only=true", "--benchmark_format=json"]
    env = dict(os.environ)
    env.pop("SIPFERRY_BENCH_HUGE", None)
    free_mb = hugepages_free_mb()
    if a.huge == "on" or (a.huge == "auto" and free_mb >= RING_HUGE_MB):
        env["SIPFERRY_BENCH_HUGE"] = "1"
    say(f"net_ring: bench_ring_io on CPU {DUT_CPU} (io forward baseline, relay and worker path at 1k/1M entries; "
        f"{'hugepages' if 'SIPFERRY_BENCH_HUGE' in env else '4k pages'}, {free_mb} MB of hugepages free)")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL, env=env)
    with open(os.path.join(logdir, "ring.json"), "w") as f:
        f.write(r.stdout)
    if r.returncode != 0:
        raise RuntimeError(f"bench_ring_io exited {r.returncode}: {r.stderr[-1500:]}")
    report = json.loads(r.stdout)
    info["eal_memory"] = report.get("context", {}).get("eal_memory")
    out = {name: ips / 1e6 for name, ips in bench_medians(report).items()}
    info["translation_ns"] = translation_probe(a, env, logdir)
    return out


def translation_probe(a, env, logdir):
    """What an address translation costs a random line on the same memory (bench_relay's
    BM_memory_translation: the same 64k lines packed into 4 MB or one per 4 KiB page over 256 MB;
    ns per dependent load, medians of 5). For reading the 1M-over-1k ratios: on bare metal's
    hugepages `per_line` is about 0; a guest whose host backs them with small pages pays it on
    every 1M-table line. None when bench_relay is not built or the probe fails (the ring figures
    stand without it)."""
    exe = os.path.join(a.build_dir, "bench", "bench_relay")
    if not os.access(exe, os.X_OK):
        return None
    argv = nice(a) + ["taskset", "-c", str(DUT_CPU), exe, "--benchmark_filter=BM_memory_translation",
                      "--benchmark_repetitions=5", "--benchmark_report_aggregates_only=true",
                      "--benchmark_format=json"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, env=env)
    with open(os.path.join(logdir, "translation.json"), "w") as f:
        f.write(r.stdout)
    if r.returncode != 0:
        say(f"translation probe: bench_relay exited {r.returncode}; skipped")
        return None
    try:
        medians = bench_medians(json.loads(r.stdout))
    except (RuntimeError, ValueError) as e:
        say(f"translation probe: {e}; skipped")
        return None
    ns = {("spread" if name.endswith("spread:1") else "packed"): 1e9 / ips for name, ips in medians.items() if ips}
    if len(ns) != 2:
        return None
    ns["per_line"] = ns["spread"] - ns["packed"]
    return ns
