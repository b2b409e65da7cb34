"""The tables the system benchmark (run.py) prints from its results: the veth phases' search or
fixed-rate table, the net_memif and net_ring tables, and fmt for their figures."""
from lab import DUT_CPU, GEN_CPU
from summary import per_cpu, ratio


def fmt(v, f="{:.0f}"):
    """A figure for the tables, '-' when there is none."""
    return "-" if v is None else f.format(v)


def print_table(out):
    if out.get("fixed_rates"):
        print_fixed_table(out)
    elif out.get("rtpengine") or out.get("wire") or any(out["sipferry_by_pmd"].values()):
        print_search_table(out)  # (not when every veth phase was skipped)
    print_in_process_tables(out)


def print_fixed_table(out):
    fx = out["fixed_rates"]
    pmds = out["veth_pmd"]["sipferry"]
    print()
    print(f"System benchmark at fixed rates, {out['streams']} G.711-like streams, {fx['repeats']} trial(s) of "
          f"{out['trial_s']} s per rate, the rates in turn; relays' scheduling {out['relay_scheduling']['policy']}")
    print(f"{'relay (veth)':<22} {'rate pps':>10} {'failed':>7} {'lost':>8} {'p50 us':>8} {'p99 us':>8} "
          f"{'p99.9 us':>8}   each trial's p99 us")
    rows = [(f"sipferry ({p})", fx["sipferry"].get(p)) for p in pmds] + [("rtpengine", fx.get("rtpengine")),
                                                                         ("wire (io fwd, af_packet)", fx.get("wire"))]
    for name, per_rate in rows:
        for row in per_rate or []:
            lat = row["latency_us"] or {}
            each = " ".join(f"{x:.0f}" for x in row["p99_us_each"])
            print(f"{name:<22} {row['rate_pps']:>10.0f} {row['failed']:>4}/{row['trials']:<2} {row['lost']:>8} "
                  f"{lat.get('p50', 0):>8.1f} {lat.get('p99', 0):>8.1f} {lat.get('p99_9', 0):>8.1f}   {each}")
    for x in fx.get("ratios") or []:
        add = x["added_p99_us"]
        print(f"at {x['rate_pps']:.0f} pps: rtpengine / sipferry ({pmds[0]}) p99 "
              f"{fmt(x['p99_rtpengine_over_sipferry'], '{:.2f}x')}; added to the wire's p99: sipferry "
              f"{fmt(add['sipferry'], '{:.1f} us')}, rtpengine {fmt(add['rtpengine'], '{:.1f} us')}"
              + "".join(f"; {who} failed {n} trial(s)" for who, n in x["failed_trials"].items() if n))
    print("(medians over each rate's trials, failed ones included: a rate beyond a relay's capacity shows as "
          "failed trials and queueing; '-': not measured, or no more than the wire)")


def print_search_table(out):
    def kpps(v):
        return fmt(v and v / 1e3, "{:.0f}k")

    pmds = out["veth_pmd"]["sipferry"]
    rows = [(f"sipferry ({p})", out["sipferry_by_pmd"].get(p)) for p in pmds] + [("rtpengine", out.get("rtpengine")),
                                                                                 ("wire (io fwd, af_packet)", out.get("wire"))]
    print()
    print(f"System benchmark, {out['streams']} G.711-like streams (172-byte RTP), trial {out['trial_s']} s; "
          f"generator CPU {GEN_CPU} (sfgen on {out['veth_pmd']['generator']}, sending on "
          f"{out['veth_pmd']['generator_tx']}), relay worker CPU {DUT_CPU}, relays' scheduling "
          f"{out['relay_scheduling']['policy']}"
          f"{'' if out['relay_scheduling']['priority'] is None else ' ' + str(out['relay_scheduling']['priority'])}")
    print(f"{'relay (veth)':<22} {'zero-loss pps':>13} {'half-load pps':>13} {'p50 us':>8} {'p99 us':>8} "
          f"{'p99.9 us':>8} {'cpu s':>6} {'pkt/cpu-s':>9} {'worker':>8}")
    for name, s in rows:
        if not s:
            print(f"{name:<22} {'-':>13}")
            continue
        lat = s["latency_us"] or {}
        c = s.get("cpu_at_zero_loss") or {}
        print(f"{name:<22} {fmt(s['zero_loss_pps']):>13} {fmt(s['half_load_pps']):>13} {fmt(lat.get('p50'), '{:.1f}'):>8} "
              f"{fmt(lat.get('p99'), '{:.1f}'):>8} {fmt(lat.get('p99_9'), '{:.1f}'):>8} "
              f"{fmt((c.get('process') or {}).get('cpu_s'), '{:.2f}'):>6} {kpps(per_cpu(s)):>9} "
              f"{kpps(per_cpu(s, who='worker')):>8}")
    for who, x in [(f"sipferry {p}", out["sipferry_by_pmd"].get(p)) for p in pmds] + [("the wire", out.get("wire"))]:
        same = (x or {}).get("at_rtpengine_half_load")
        if same and same["latency_us"]:
            lat = same["latency_us"]
            print(f"{'  at rtpengine half':<22} {'':>13} {fmt(same['rate_pps']):>13} {lat['p50']:>8.1f} "
                  f"{lat['p99']:>8.1f} {lat['p99_9']:>8.1f}   ({who})")
    print("(cpu s: the relay process's CPU time over the zero-loss trial's sfgen run; pkt/cpu-s: packets relayed "
          "per CPU second in the traffic window; worker: sipferry's worker thread alone)")
    for name, x in rows:
        wl, wh = (x or {}).get("load_at_zero_loss"), (x or {}).get("load_at_half_load")
        if wl and wl.get("busy_ns_per_packet"):
            print(f"{name}: busy {wl['busy_ns_per_packet']:.0f} ns per packet at zero loss "
                  f"({fmt(wl.get('busy_share_of_traffic'), '{:.0%}')} of the traffic's time busy, "
                  f"{fmt(wl.get('packets_per_busy_poll'), '{:.1f}')} packets per busy poll), "
                  f"{fmt((wh or {}).get('busy_ns_per_packet'), '{:.0f}')} at half load "
                  f"(the lcore's loop counters: its TX system calls included, its receive leg's softirq not)")
    if len(out.get("rounds", [])) > 1:
        print("(medians of the rounds; each round:)")
        for k, rnd in enumerate(out["rounds"]):
            parts = []
            for name, x in [(f"sipferry {p}", rnd["sipferry_by_pmd"].get(p)) for p in pmds] + \
                           [("rtpengine", rnd.get("rtpengine"))]:
                if x:
                    lat = x["latency_us"] or {}
                    parts.append(f"{name} {fmt(x['zero_loss_pps'])} pps p99 {fmt(lat.get('p99'), '{:.0f}')} us "
                                 f"{kpps(per_cpu(x))} pkt/cpu-s (load {fmt((x.get('loadavg_1min') or [None])[0], '{:.1f}')})")
            print(f"  round {k + 1}: " + "; ".join(parts))
    r = out["ratios"]
    for p in pmds:
        print(f"sipferry ({p}) / rtpengine: zero-loss pps {fmt(r.get(f'zero_loss_pps_sipferry_{p}_over_rtpengine'), '{:.2f}x')}, "
              f"per CPU second {fmt(r.get(f'pps_per_cpu_s_sipferry_{p}_over_rtpengine'), '{:.2f}x')}; "
              f"rtpengine / sipferry p99 at own half load {fmt(r.get(f'p99_latency_rtpengine_over_sipferry_{p}'), '{:.2f}x')}")
    print(f"headline (sipferry {pmds[0]}): rtpengine / sipferry p99 at the same load "
          f"{fmt(r['p99_latency_same_load_rtpengine_over_sipferry'], '{:.2f}x')}; per CPU second, sipferry's worker "
          f"thread alone / rtpengine {fmt(r['pps_per_cpu_s_sipferry_worker_over_rtpengine'], '{:.2f}x')}")
    add = out.get("added_p99_us_at_rtpengine_half_load") or {}
    print(f"added to the wire's p99 ({fmt(add.get('wire_p99_us'), '{:.1f}')} us) at rtpengine's half load: sipferry "
          f"{fmt(add.get('sipferry'), '{:.1f}')} us, rtpengine {fmt(add.get('rtpengine'), '{:.1f}')} us "
          f"(rtpengine / sipferry {fmt(r.get('p99_added_same_load_rtpengine_over_sipferry'), '{:.2f}x')}; "
          f"'-': no more than the wire)")


def print_memif_fixed_table(out):
    """--memif-fixed-rates: per rate and mode, the trials that failed and each trial's busy ns per
    packet, the relay's own work in it, and the packets it found per busy poll (a slow core at ~1
    packet per poll, a queue at ~32)."""
    print(f"\n{'net_memif, one lcore (CPU 1), fixed rates':<44} {'failed':>8}   busy ns per packet/of it own work "
          f"(packets per busy poll), each trial")
    for mode, rows in out["memif"].items():
        for r in rows or []:
            own = r.get("handling_ns_per_packet_each") or [None] * len(r["busy_ns_per_packet_each"])
            each = ", ".join(f"{fmt(ns, '{:.0f}')}{'/' + fmt(h, '{:.0f}') if h is not None else ''} ({fmt(pp, '{:.1f}')})"
                             for ns, h, pp in zip(r["busy_ns_per_packet_each"], own, r["packets_per_busy_poll_each"]))
            print(f"{mode + ' at ' + fmt(r['rate_pps'] / 1e6, '{:.2f}') + ' Mpps':<44} "
                  f"{str(r['failed']) + '/' + str(r['trials']):>8}   {each}")


def print_memif_alternate_table(rows):
    """memif_fwd --mode alternate: per rate, each trial's busy ns per packet of the relay's turns
    (of it own work) and of io forwarding's, and their ratio, with its median."""
    print(f"\n{'net_memif, one lcore, relay and io in turns of 10 ms':<52} {'failed':>6} {'relay / io':>10}   "
          f"each trial: relay busy ns/of it own work, io busy ns (ratio)")
    for r in rows:
        each = ", ".join(f"{fmt(x, '{:.0f}')}/{fmt(h, '{:.0f}')}, {fmt(y, '{:.0f}')} "
                         f"({fmt(ratio(x, y) if x and y else None, '{:.2f}')})"
                         for x, h, y in zip(r["relay_busy_ns_per_packet_each"], r["relay_handling_ns_per_packet_each"],
                                            r["io_busy_ns_per_packet_each"]))
        print(f"{'at ' + fmt(r['rate_pps'] / 1e6, '{:.2f}') + ' Mpps':<52} "
              f"{str(r['failed']) + '/' + str(r['trials']):>6} {fmt(r['relay_over_io'], '{:.2f}x'):>10}   {each}")


def print_in_process_tables(out):
    memif = out.get("memif")
    if memif and any(isinstance(v, list) for v in memif.values()):
        print_memif_fixed_table(out)
    elif memif:
        st = out.get("memif_setup") or {}
        how = (f"   (sfgen {'zero-copy' if st.get('zero_copy') else 'copy-mode'}, rings of {st.get('ring_size')}, "
               f"{'hugepages' if st.get('hugepages') else '4k pages'})" if st else "")
        print(f"\n{'net_memif, one lcore (CPU 1)':<34} {'zero-loss Mpps':>14} {'vs io forward':>14} "
              f"{'busy ns/pkt':>12} {'own work':>9} {'busy share':>11} {'pkt/poll':>9}{how}")
        base = memif.get("io") and memif["io"]["zero_loss_pps"]
        for k, v in memif.items():
            wl = v.get("load_at_zero_loss") or {}
            print(f"{k:<34} {v['zero_loss_pps'] / 1e6:>14.3f} {fmt(ratio(v['zero_loss_pps'], base), '{:.2f}x'):>14} "
                  f"{fmt(wl.get('busy_ns_per_packet'), '{:.1f}'):>12} {fmt(wl.get('handling_ns_per_packet'), '{:.1f}'):>9} "
                  f"{fmt(wl.get('busy_share_of_traffic'), '{:.0%}'):>11} {fmt(wl.get('packets_per_busy_poll'), '{:.1f}'):>9}")
        same = out.get("memif_load_same_rate")
        if same:
            print(f"(busy: the forwarding lcore's loop in iterations that found packets, at the zero-loss trial; "
                  f"at {same['rate_pps'] / 1e6:.2f} Mpps, the highest rate both passed, a packet cost the relay "
                  f"{same['busy_ns_per_packet'][0]:.1f} ns and io forwarding {same['busy_ns_per_packet'][1]:.1f} ns: "
                  f"{same['ratio']:.2f}x)")
    if out.get("memif_alternate"):
        print_memif_alternate_table(out["memif_alternate"])
    ring = out.get("ring_mpps_per_lcore")
    if ring:
        print(f"\n{'net_ring, one lcore (CPU 1)':<34} {'Mpps':>8} {'vs io forward':>14}   "
              f"({out.get('ring_eal_memory') or '?'})")
        base = ring.get("BM_ring_io_forward_baseline")
        for k, v in sorted(ring.items(), key=lambda kv: (kv[0] != "BM_ring_io_forward_baseline", kv[0])):
            print(f"{k:<34} {v:>8.2f} {fmt(ratio(v, base), '{:.2f}x'):>14}")
        print("per packet, 1M entries over 1k (goal <= 1.5x): relay " +
              fmt(ratio(ring.get("BM_ring_relay_1k"), ring.get("BM_ring_relay_1M")), "{:.2f}x") + ", worker " +
              fmt(ratio(ring.get("BM_ring_worker_1k"), ring.get("BM_ring_worker_1M")), "{:.2f}x"))
        tr = out.get("ring_translation_ns")
        if tr:
            extra = [1e3 / ring[k] - 1e3 / ring[k.replace("1M", "1k")] for k in ("BM_ring_relay_1M", "BM_ring_worker_1M")
                     if ring.get(k) and ring.get(k.replace("1M", "1k"))]
            print(f"address translation on these pages: {tr['per_line']:.1f} ns per random line "
                  f"({tr['packed']:.1f} ns a load packed in 4 MB, {tr['spread']:.1f} spread over 256 MB; about 0 "
                  f"on bare metal's hugepages); the 1M table's extra per packet: "
                  + ", ".join(f"{x:.1f} ns" for x in extra) + " (relay, worker)")
