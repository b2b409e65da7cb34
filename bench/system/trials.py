"""Trials and the searches made of them (run.py): one sfgen run against a relay's streams, with
the relay's and the box's CPU time over it (/proc) and the forwarding lcore's load counters
(load_delta), then the rate search (RFC 2544-style, with retries) or the fixed rates. A relay
here is any relays.relay_under_test; the namespaces are lab.py's."""
import json
import os
import subprocess
import tempfile
import time

from lab import DUT_CPU, GEN_CPU, say, sfgen_argv, stop_pid, veth_drops
from report import fmt

# ---- CPU accounting ---------------------------------------------------------------------
# utime + stime from /proc (tick-sampled: CONFIG_TICK_CPU_ACCOUNTING charges each 4 ms tick to
# the task that was running, softirq work done in that task's context included).

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, tid=None):
    """utime + stime of a process (all its threads) or of one thread, in seconds; None if gone."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    try:
        with open(path) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_stat(cpus):
    """Per-CPU user/system/softirq/busy seconds from /proc/stat (the whole box, not one process)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            w = line.split()
            if w[0].startswith("cpu") and w[0][3:].isdigit() and int(w[0][3:]) in cpus:
                v = [int(x) / CLK_TCK for x in w[1:]]
                # user nice system idle iowait irq softirq steal
                out[int(w[0][3:])] = {"user_s": v[0] + v[1], "system_s": v[2], "softirq_s": v[6],
                                      "busy_s": sum(v[:8]) - v[3] - v[4]}
    return out


def cpu_sample(relay):
    return {"t": time.monotonic(), "threads": {k: cpu_seconds(*pt) for k, pt in relay.cpu_threads().items()},
            "cpus": cpu_stat((GEN_CPU, DUT_CPU))}


def cpu_delta(before, after, idle_rate, traffic_s, relayed):
    """The relay's CPU time over one sfgen run (process and, for sipferry, the worker thread).
    cpu_s counts the whole run, sfgen's own start-up (EAL init, ARP) included, where the relay
    is idle (sipferry's worker still wakes every idle_sleep_us); traffic_cpu_s takes away the
    relay's idle rate (measured before its search) for the part of the run outside the
    traffic window (warm-up + trial + drain)."""
    wall = after["t"] - before["t"]
    out = {"wall_s": wall, "traffic_s": traffic_s, "relayed_packets": relayed}
    for k, v in after["threads"].items():
        b = before["threads"].get(k)
        if v is None or b is None:
            continue
        cpu = v - b
        busy = max(cpu - idle_rate.get(k, 0.0) * max(wall - traffic_s, 0.0), 0.0)
        out[k] = {"cpu_s": cpu, "traffic_cpu_s": busy, "utilisation": cpu / wall if wall else None,
                  "pps_per_cpu_s": relayed / cpu if cpu else None,
                  "pps_per_traffic_cpu_s": relayed / busy if busy else None}
    out["cpus"] = {c: {k: after["cpus"][c][k] - before["cpus"][c][k] for k in after["cpus"][c]}
                   for c in after["cpus"] if c in before["cpus"]}
    return out


def run_sfgen(argv, err, timeout):
    """sfgen to completion; returns (returncode, stdout, its rusage): os.wait4 gives the CPU
    time of the generator itself (user, and system with the kernel work of its own sends)."""
    with tempfile.TemporaryFile(mode="w+") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True)
        end = time.monotonic() + timeout
        ru = None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > end:
                stop_pid(p.pid, "sfgen", grace=2.0)
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = -9
                break
            time.sleep(0.02)
        out.seek(0)
        return p.returncode, out.read(), ru


def trial(a, relay, rate, n):
    """One sfgen trial at `rate` total pps against the relay's current streams, with the
    relay's and the generator's CPU time over it."""
    before = {} if relay.memif else veth_drops()
    warmup, drain = 0.5, 0.5
    extra = ["--streams", relay.streams_file, "--rate", f"{rate:.0f}", "--duration", str(a.trial),
             "--drain", str(drain), "--warmup", str(warmup), "--deadline", str(int(a.trial * 2 + 30)),
             "--idle-sleep-us", str(a.idle_sleep_us)]
    err_path = os.path.join(relay.logdir, f"{relay.name}.trial{n}.err")
    for attempt in range(4):
        load0 = relay.load_sample()  # outside the CPU window: sipferry answers it on its control thread
        cpu0 = cpu_sample(relay)
        with open(err_path, "a") as err:
            rc, stdout, ru = run_sfgen(sfgen_argv(a, extra, memif=relay.memif, dst_mac=relay.dst_mac), err, a.trial * 2 + 90)
        cpu1 = cpu_sample(relay)
        load1 = relay.load_sample()
        # A relay that died is no rate's failure: it is started again, recorded, and the trial
        # repeated. memif_fwd was seen to die twice (SIGSEGV inside DPDK 22.11's net_memif on its
        # forwarding lcore as a trial's sfgen client disconnected, at 1.6 Mpps; its socket goes
        # with it, so the next sfgen could not connect). The cause: 22.11's disconnect handler unmaps
        # the rings with no handshake with the polling lcore; memif_fwd now makes that unmap wait
        # (dataplane/unmap_grace.hh), and this stays for whatever else ends a relay.
        if relay.proc is not None and relay.proc.poll() is not None:
            say(f"{relay.name}: the relay exited ({relay.proc.returncode}) during trial {n}: starting it "
                f"again, the trial repeated")
            relay.crashes.append({"trial": n, "rate_pps": rate, "exit": relay.proc.returncode})
            relay.restart()
            continue
        # Exit 1 is a set-up failure (a memif server not listening yet): up to three more tries.
        if rc != 1:
            break
        say(f"{relay.name}: sfgen could not set up (attempt {attempt + 1}; see {err_path})")
        time.sleep(float(1 << attempt))
    with open(os.path.join(relay.logdir, f"{relay.name}.trial{n}.json"), "w") as f:
        f.write(stdout)
    if rc != 0:
        raise RuntimeError(f"sfgen exited {rc} (see {err_path})")
    rep = json.loads(stdout)
    t = rep["trials"][0]
    t["sfgen_ports"] = rep.get("ports")
    relayed = t["received"] + (rep.get("warmup") or {}).get("received", 0)
    t["cpu"] = cpu_delta(cpu0, cpu1, relay.idle_cpu_rate, warmup + a.trial + drain, relayed)
    t["cpu"]["generator"] = {"user_s": ru.ru_utime, "system_s": ru.ru_stime} if ru else None
    t["worker_load"] = load_delta(load0, load1, warmup + a.trial)
    if isinstance((load0 or {}).get("io"), dict) and isinstance((load1 or {}).get("io"), dict):
        # memif_fwd --mode alternate: io forwarding's turns, counted apart, in the same trial
        t["io_load"] = load_delta(load0["io"], load1["io"], warmup + a.trial)
    if not relay.memif:
        after = veth_drops()
        t["veth_drops"] = {k: {c: v[c] - before.get(k, {}).get(c, 0) for c in v} for k, v in after.items()
                           if any(v[c] - before.get(k, {}).get(c, 0) for c in v)}
    sink_missed = (rep.get("ports") or {}).get("rx", {}).get("imissed", 0)
    # Zero loss only counts when the relay kept up: with deep buffers (64 MB af_packet rings,
    # rtpengine's socket buffer per stream) a rate above capacity can lose nothing in a few
    # seconds by queueing. A standing queue shows in the median (p50 of 80-300 ms was seen);
    # the p99 is no test, since other work on a shared box stalls either relay for 50-250 ms
    # now and then even at 1000 pps.
    queued = t["latency_ns"]["p50"] > a.max_p50_ms * 1e6
    ok = (t["lost"] <= a.loss_tolerance * t["sent"] and t["duplicates"] == 0 and not t["generator_limited"]
          and not queued)
    t["passed"] = ok
    veth_note = f" veth drops: {t['veth_drops']}" if t.get("veth_drops") else ""
    wl = t["worker_load"]
    own = f", own work {wl['handling_ns_per_packet']:.0f}" if wl and wl.get("handling_ns_per_packet") is not None else ""
    load_note = (f"  busy {wl['busy_ns_per_packet']:.0f} ns/pkt{own} ({fmt(wl['busy_share_of_traffic'], '{:.0%}')} of the "
                 f"traffic's time, {fmt(wl['packets_per_busy_poll'], '{:.1f}')} pkt/poll)"
                 if wl and wl["busy_ns_per_packet"] else "")
    io = t.get("io_load")
    if load_note and io and io["busy_ns_per_packet"]:
        load_note += (f"; io forwarding's turns {io['busy_ns_per_packet']:.0f} ns/pkt: relay / io "
                      f"{wl['busy_ns_per_packet'] / io['busy_ns_per_packet']:.2f}")
    pc = t["cpu"].get("process")
    cpu_note = (f"  cpu {pc['cpu_s']:.2f} s ({pc['pps_per_traffic_cpu_s'] / 1e3:.0f}k pkt/cpu-s)"
                if pc and pc.get("pps_per_traffic_cpu_s") else "")
    say(f"  {relay.name} trial {n:2d}: {rate:>9.0f} pps  sent {t['sent']:>8d}  lost {t['lost']:>7d}  "
        f"p50 {t['latency_ns']['p50'] / 1e3:8.1f} us  p99 {t['latency_ns']['p99'] / 1e3:8.1f} us"
        f"{'  (generator-limited)' if t['generator_limited'] else ''}{'  (queueing)' if queued else ''}"
        f"{'' if ok else '  FAIL'}"
        f"{f' (sfgen sink ring overruns: {sink_missed})' if sink_missed else ''}"
        f"{cpu_note}{load_note}{veth_note}")
    return ok, t


LOAD_KEYS = ("loop_cycles", "busy_cycles", "busy_polls", "rx_packets")
OPTIONAL_LOAD_KEYS = ("handling_cycles",)  # not in binaries before 7 December 2026 (A/B runs)


def load_delta(before, after, traffic_s):
    """The forwarding lcore's load over one trial, from its counters (dataplane/stats.hh,
    charge_iteration) read before and after the sfgen run: busy ns per packet it received,
    packets per busy poll (32, the burst: it was at its limit), and its busy time over the
    traffic window (warm-up + trial). Where the lcore counts its handling cycles (sipferry's own
    packet work, the rest of busy being the driver's RX and TX and the loop): handling and
    driver ns per packet, the two parts of busy ns per packet, measured in the same trial.
    None without counters (rtpengine) or across a restart."""
    if not before or not after or not after.get("tsc_hz"):
        return None
    keys = LOAD_KEYS + tuple(k for k in OPTIONAL_LOAD_KEYS if k in before and k in after)
    d = {k: after[k] - before[k] for k in keys}
    if any(v < 0 for v in d.values()):
        return None
    hz, rx = after["tsc_hz"], d["rx_packets"]
    busy_s = d["busy_cycles"] / hz
    out = {"rx_packets": rx, "busy_polls": d["busy_polls"], "busy_s": busy_s,
           "busy_ns_per_packet": busy_s * 1e9 / rx if rx else None,
           "packets_per_busy_poll": rx / d["busy_polls"] if d["busy_polls"] else None,
           "busy_share_of_traffic": busy_s / traffic_s if traffic_s > 0 else None}
    if "handling_cycles" in d and rx:
        handling = min(d["handling_cycles"], d["busy_cycles"])  # two counters, read one after the other
        out["handling_ns_per_packet"] = handling / hz * 1e9 / rx
        out["driver_ns_per_packet"] = (d["busy_cycles"] - handling) / hz * 1e9 / rx
    return out


def rate_passes(a, relay, rate, trials):
    """Up to 1 + --search-retries trials at `rate`, appended to `trials`: the rate passes at the
    first trial that passes. Every failing trial restarts the relay (see measure). With retries
    the search finds the highest rate at which at least one of those trials had zero loss
    (MLRsearch's goal exceed ratio of 50% with one retry, draft-ietf-bmwg-mlrsearch), for a
    shared box where one stalled trial would otherwise end the doubling at that rate."""
    for attempt in range(1 + a.search_retries):
        ok, t = trial(a, relay, rate, len(trials) + 1)
        t["attempt"] = attempt + 1
        trials.append(t)
        if ok:
            return True
        relay.restart()
    return False


def measure(a, relay, also_at=None, search_min=None, search_max=None):
    """RFC 2544 26.1-style search for the highest zero-loss rate: double from --search-min until a
    rate loses, then bisect between the last pass and the first failure (--precision), at most
    --search-trials rates (each one trial, or up to 1 + --search-retries: rate_passes). A relay is
    restarted (fresh process, calls set up again) after every failing trial: rtpengine 10.5 flooded
    beyond its capacity stops forwarding those streams for good ("UDP receive queue exceeded"),
    which would fail every later trial. Then one trial at half the found rate for the added
    latency. sfgen runs once per trial, on CPU 0."""
    trials = []
    load_start = os.getloadavg()[0]
    relay.measure_idle()
    search_min = search_min or a.search_min
    search_max = search_max or a.search_max
    lo, hi, rate, best, ramping = 0.0, search_max, search_min, 0.0, True
    say(f"{relay.name}: search over {len(relay.streams)} streams, trial {a.trial} s, up to {a.search_trials} "
        f"rates from {search_min:g} pps (doubling, then bisecting to {a.precision:.0%})"
        f"{f', a failing rate tried up to {1 + a.search_retries} times' if a.search_retries else ''}")
    for _ in range(a.search_trials):
        if rate_passes(a, relay, rate, trials):
            best, lo = max(best, rate), rate
            if rate >= search_max:
                break
        else:
            hi, ramping = rate, False
            if lo == 0:
                break
        if not ramping and (hi - lo) / hi < a.precision:
            break
        rate = min(rate * 2, search_max) if ramping else (lo + hi) / 2
    half = None
    if best > 0:
        _, half = trial(a, relay, best / 2, len(trials) + 1)
    # The other relay's half-load rate: latency of both at the same offered load.
    common = None
    if also_at:
        _, common = trial(a, relay, also_at, len(trials) + 2)
    return {"search": {"zero_loss_pps": best, "bracket": [lo, hi], "trials_run": len(trials),
                       "retries": a.search_retries},
            "trials": trials, "latency_at_half": half, "latency_at_common_rate": common,
            "loadavg_1min": [load_start, os.getloadavg()[0]], "restarts": relay.restarts, "crashes": relay.crashes,
            "idle_cpu_rate": relay.idle_cpu_rate, "pmd": relay.pmd,
            "relay_counters_at_restarts": relay.stats_at_restarts}


def measure_fixed(a, relay, rates=None):
    """--fixed-rates (or `rates`: --memif-fixed-rates): no search. --fixed-repeats trials at each rate, the rates in turn (r1 r2 r3
    r1 r2 r3 ...), so that the box's drift over the run reaches every rate alike. A trial that
    fails restarts the relay, as in the search (an overrun rtpengine stops forwarding those
    streams), and stays in the record, marked: a rate beyond capacity is an answer too."""
    rates = rates or a.fixed_rates
    trials = []
    load_start = os.getloadavg()[0]
    relay.measure_idle()
    say(f"{relay.name}: {a.fixed_repeats} trial(s) at each of {', '.join(f'{r:g}' for r in rates)} pps "
        f"over {len(relay.streams)} streams, trial {a.trial} s, after one unrecorded at the lowest")
    # The first trial after a relay starts had a p99 several times its repeats' (the wire and
    # sipferry 406-532 us against 40-64 at 50k pps): it warms up, and is not reported.
    ok, warmup = trial(a, relay, min(rates), 0)
    if not ok:
        relay.restart()
    for _ in range(a.fixed_repeats):
        for rate in rates:
            ok, t = trial(a, relay, rate, len(trials) + 1)
            t["passed"] = ok
            trials.append(t)
            if not ok:
                relay.restart()
    return {"fixed": trials, "warmup": warmup, "loadavg_1min": [load_start, os.getloadavg()[0]], "restarts": relay.restarts,
            "crashes": relay.crashes, "idle_cpu_rate": relay.idle_cpu_rate, "pmd": relay.pmd}


def measure_veth(a, relay, also_at=None):
    """A veth relay's figures: the search, or the fixed rates when asked for."""
    return measure_fixed(a, relay) if a.fixed_rates else measure(a, relay, also_at)
