"""The figures of the system benchmark's results JSON (run.py), from the trials: each relay's
search summarised, medians over rounds, the fixed rates per rate, what each relay adds to the
wire's p99, the ratios' helpers, the --fixed-rates parser and Google Benchmark's medians. Pure
functions, no I/O (tests/bench/system_run_test.py)."""


def latency_us(t):
    lat = (t or {}).get("latency_ns")
    return {k: lat.get(k, 0) / 1e3 for k in ("p50", "p99", "p99_9", "max")} if lat else None


def cpu_summary(t):
    """The relay's CPU over one trial: process (all threads) and, for sipferry, the worker
    thread; pps_per_cpu_s = packets relayed (warm-up + trial) per CPU second in the traffic
    window (the relay's idle rate taken off the rest of the sfgen run), *_whole_run without
    that correction. The sending CPU's softirq work for the relay's receive leg is in neither."""
    c = (t or {}).get("cpu")
    if not c:
        return None
    out = {"rate_pps": t.get("rate_pps"), "wall_s": c["wall_s"], "traffic_s": c["traffic_s"],
           "relayed_packets": c["relayed_packets"]}
    for k in ("process", "worker"):
        if c.get(k):
            out[k] = {"cpu_s": c[k]["cpu_s"], "traffic_cpu_s": c[k]["traffic_cpu_s"],
                      "pps_per_cpu_s": c[k]["pps_per_traffic_cpu_s"],
                      "pps_per_cpu_s_whole_run": c[k]["pps_per_cpu_s"]}
    g = c.get("generator")
    out["generator_cpu_s"] = g["user_s"] + g["system_s"] if g else None
    out["box_cpus"] = c.get("cpus")
    return out


def zero_loss_trial(rep):
    """The passing trial at the zero-loss rate (the last one at that rate)."""
    best = (rep.get("search") or {}).get("zero_loss_pps")
    hits = [t for t in rep.get("trials", []) if best and abs(t.get("rate_pps", 0) - best) < 1 and t.get("lost") == 0]
    return hits[-1] if hits else None


def summary(rep):
    if rep is None:
        return None
    s = rep.get("search", {})
    half = rep.get("latency_at_half") or {}
    lat = half.get("latency_ns", {})
    common = rep.get("latency_at_common_rate")
    return {"pmd": rep.get("pmd"), "loadavg_1min": rep.get("loadavg_1min"),
            "at_rtpengine_half_load": {"rate_pps": common["rate_pps"], "lost": common["lost"],
                                       "latency_us": latency_us(common)} if common else None,
            "zero_loss_pps": s.get("zero_loss_pps", 0), "trials": s.get("trials_run"),
            "bracket_pps": s.get("bracket"), "half_load_pps": half.get("rate_pps"),
            "half_load_lost": half.get("lost"),
            "latency_us": {k: lat.get(k, 0) / 1e3 for k in ("p50", "p99", "p99_9", "max")} if lat else None,
            "idle_cpu_rate": rep.get("idle_cpu_rate"),
            "cpu_at_zero_loss": cpu_summary(zero_loss_trial(rep)), "cpu_at_half_load": cpu_summary(half),
            "load_at_zero_loss": (zero_loss_trial(rep) or {}).get("worker_load"),
            "load_at_half_load": half.get("worker_load")}


def same_rate_load(x, y):
    """Busy ns per packet of two forwarders (x over y: the relay over io forwarding on memif) at the
    highest rate at which both had a passing trial with load counters: the same offered load, so
    the same bursts to amortise a poll over. None when they share no such rate."""
    def by_rate(rep):
        return {round(t["rate_pps"]): t["worker_load"] for t in (rep or {}).get("trials", [])
                if t.get("passed") and (t.get("worker_load") or {}).get("busy_ns_per_packet")}
    bx, by = by_rate(x), by_rate(y)
    common = sorted(set(bx) & set(by))
    if not common:
        return None
    r = common[-1]
    nx, ny = bx[r]["busy_ns_per_packet"], by[r]["busy_ns_per_packet"]
    return {"rate_pps": r, "busy_ns_per_packet": [nx, ny], "ratio": nx / ny,
            "busy_share_of_traffic": [bx[r]["busy_share_of_traffic"], by[r]["busy_share_of_traffic"]]}


def per_cpu(s, where="cpu_at_zero_loss", who="process"):
    c = (s or {}).get(where) or {}
    return (c.get(who) or {}).get("pps_per_cpu_s")


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def median_summary(items):
    """Field-wise median of the rounds' summaries (each figure on its own)."""
    items = [x for x in items if x]
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    lat = [x["latency_us"] for x in items if x.get("latency_us")]
    same = [x["at_rtpengine_half_load"] for x in items if x.get("at_rtpengine_half_load")]

    def cpu_median(where):
        got = [x[where] for x in items if x.get(where)]
        if not got:
            return None
        out = {k: median([g.get(k) for g in got]) for k in ("rate_pps", "relayed_packets", "generator_cpu_s")}
        for who in ("process", "worker"):
            parts = [g[who] for g in got if g.get(who)]
            if parts:
                out[who] = {k: median([p[k] for p in parts]) for k in parts[0]}
        return out

    def load_median(where):
        got = [x[where] for x in items if x.get(where)]
        return {k: median([g.get(k) for g in got]) for k in got[0]} if got else None

    return {"rounds": len(items), "pmd": items[0].get("pmd"),
            "load_at_zero_loss": load_median("load_at_zero_loss"), "load_at_half_load": load_median("load_at_half_load"),
            "zero_loss_pps": median([x["zero_loss_pps"] for x in items]),
            "cpu_at_zero_loss": cpu_median("cpu_at_zero_loss"), "cpu_at_half_load": cpu_median("cpu_at_half_load"),
            "half_load_pps": median([x["half_load_pps"] for x in items]),
            "latency_us": {k: median([l[k] for l in lat]) for k in ("p50", "p99", "p99_9", "max")} if lat else None,
            "at_rtpengine_half_load": {
                "rate_pps": median([x["rate_pps"] for x in same]),
                "latency_us": {k: median([x["latency_us"][k] for x in same if x["latency_us"]])
                               for k in ("p50", "p99", "p99_9", "max")}} if same else None}


def ratio(x, y):
    return x / y if x and y else None


def parse_rates(text):
    """--fixed-rates, --memif-fixed-rates: comma-separated total rates in pps, a k or M suffix
    for thousands or millions (1 to 10M each, no repeats), in the order given. ValueError says
    what is wrong."""
    scale = {"k": 1e3, "K": 1e3, "M": 1e6}
    rates = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            r = float(part[:-1]) * scale[part[-1]] if part[-1] in scale else float(part)
        except ValueError:
            raise ValueError(f"not a rate: {part!r}") from None
        if not 1 <= r <= 10e6:
            raise ValueError(f"{part}: a rate is 1 to 10M pps")
        if r in rates:
            raise ValueError(f"{part}: given twice")
        rates.append(r)
    if not rates:
        raise ValueError("no rate given")
    return rates


def trials_by_rate(rep):
    """A fixed-rate report's trials by rate, the rates in the order first run."""
    by_rate = {}
    for t in rep["fixed"]:
        by_rate.setdefault(t["rate_pps"], []).append(t)
    return by_rate


def fixed_summary(rep):
    """Per rate (in the order first run): the trials, how many failed (loss, duplicates, a
    limited generator or a standing queue), packets sent and lost, and the median of the trials'
    p50, p99, p99.9 and max in us, with each trial's p99 (their spread is the noise to read the
    medians by) and the relay process's median CPU seconds per trial."""
    if not rep or "fixed" not in rep:
        return None
    out = []
    for rate, ts in trials_by_rate(rep).items():
        lats = [latency_us(t) for t in ts if latency_us(t)]
        cpu = [((t.get("cpu") or {}).get("process") or {}).get("cpu_s") for t in ts]
        out.append({"rate_pps": rate, "trials": len(ts), "failed": sum(1 for t in ts if not t.get("passed")),
                    "sent": sum(t.get("sent", 0) for t in ts), "lost": sum(t.get("lost", 0) for t in ts),
                    "latency_us": {k: median([x[k] for x in lats]) for k in ("p50", "p99", "p99_9", "max")}
                    if lats else None,
                    "p99_us_each": [x["p99"] for x in lats], "process_cpu_s": median(cpu),
                    # The forwarding lcore's cost per packet in each trial (where it counts it).
                    "busy_ns_per_packet_each": [(t.get("worker_load") or {}).get("busy_ns_per_packet") for t in ts],
                    "packets_per_busy_poll_each": [(t.get("worker_load") or {}).get("packets_per_busy_poll")
                                                   for t in ts],
                    # ... and of it, sipferry's own packet work (None where not counted).
                    "handling_ns_per_packet_each": [(t.get("worker_load") or {}).get("handling_ns_per_packet")
                                                    for t in ts]})
    return out


def alternate_summary(rep):
    """memif_fwd --mode alternate (the relay's worker loop and io forwarding taking turns of 10 ms
    on one lcore, each counting its own load): per rate, in the order first run, each trial's busy
    ns per packet of the two, the relay's own work, and their ratio (relay over io: what the relay
    costs a packet over the I/O path, on the same host at the same moment), with the median
    ratio. Failed trials count: each turn's counters are as true as in a passing trial."""
    if not rep or "fixed" not in rep:
        return None

    def ns(load, key="busy_ns_per_packet"):
        return (load or {}).get(key)

    out = []
    for rate, ts in trials_by_rate(rep).items():
        ratios = [ns(t.get("worker_load")) / ns(t.get("io_load")) for t in ts
                  if ns(t.get("worker_load")) and ns(t.get("io_load"))]
        out.append({"rate_pps": rate, "trials": len(ts), "failed": sum(1 for t in ts if not t.get("passed")),
                    "io_busy_ns_per_packet_each": [ns(t.get("io_load")) for t in ts],
                    "relay_busy_ns_per_packet_each": [ns(t.get("worker_load")) for t in ts],
                    "relay_handling_ns_per_packet_each": [ns(t.get("worker_load"), "handling_ns_per_packet")
                                                          for t in ts],
                    "relay_over_io_each": ratios, "relay_over_io": median(ratios)})
    return out


def fixed_ratios(sipferry, rtpengine, wire):
    """Per rate both relays ran: rtpengine's median p99 over sipferry's, and what each adds to the
    wire's median p99 at that rate (us; None where a relay measured no more than the wire)."""
    def at(rows):
        return {r["rate_pps"]: r for r in rows or [] if r.get("latency_us")}

    s, r, w = at(sipferry), at(rtpengine), at(wire)
    out = []
    for rate, srow in s.items():
        rrow, wrow = r.get(rate), w.get(rate)
        wire_p99 = wrow and wrow["latency_us"]["p99"]
        out.append({"rate_pps": rate,
                    "p99_rtpengine_over_sipferry": ratio(rrow and rrow["latency_us"]["p99"], srow["latency_us"]["p99"]),
                    "p50_rtpengine_over_sipferry": ratio(rrow and rrow["latency_us"]["p50"], srow["latency_us"]["p50"]),
                    "failed_trials": {"sipferry": srow["failed"], "rtpengine": rrow and rrow["failed"],
                                      "wire": wrow and wrow["failed"]},
                    "wire_p99_us": wire_p99,
                    "added_p99_us": {"sipferry": added(srow["latency_us"]["p99"], wire_p99),
                                     "rtpengine": added(rrow and rrow["latency_us"]["p99"], wire_p99)}})
    return out


def added(x, floor):
    """x less the wire's figure, when both are known and x is the larger."""
    return x - floor if x is not None and floor is not None and x > floor else None


def same_load_p99(s):
    """p99 (us) of a summary's trial at rtpengine's half-load rate."""
    same = s and s.get("at_rtpengine_half_load")
    return same["latency_us"]["p99"] if same and same.get("latency_us") else None


def bench_medians(report):
    """A Google Benchmark JSON report's medians: run name -> items per second. RuntimeError
    names a benchmark that failed."""
    out = {}
    for b in report.get("benchmarks", []):
        if b.get("aggregate_name") == "median":
            if b.get("error_occurred"):
                raise RuntimeError(f"{b['run_name']}: {b.get('error_message')}")
            out[b["run_name"]] = b.get("items_per_second", 0.0)
    return out
