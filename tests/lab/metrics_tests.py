#!/usr/bin/env python3
"""sipferry lab: Prometheus metrics (a mixin for the lab runner, tests/lab/run).

  prometheus_metrics_match_the_stats  A scrape as a Prometheus server makes it: HTTP GET
                    http://127.0.0.1:8080/metrics in sf-sbc (the [api] listen address), read by the
                    Prometheus client library's own parser (Debian's python3-prometheus-client,
                    prometheus_client.parser; run by /usr/bin/python3, whose packages those are).
                    Status 200, Content-Type text/plain; version=0.0.4. `sipferryctl stats` before
                    and after the scrape: every number and boolean of the stats (the lab is idle)
                    is one sample of the metrics and no sample is anything else: the path a.b.c as
                    sipferry_a_b_c (counters with _total), the names under ports, workers, drops,
                    providers.*, transfers.refusals and stir.failures as labels (port, reason,
                    provider, worker), booleans 1/0; a counter's or gauge's value between its
                    stats before and after (gauges the providers' probes move, transactions and
                    message mbufs, only present).
                    Types: counter, except the gauges the test lists (calls.active, relay.entries,
                    ...). `sipferryctl metrics` prints the same text. About 1 s.
  sipferryctl_load_reports_each_worker  `sipferryctl load --seconds 1` in sf-sbc: a header and one
                    row per worker of the stats (its id and lcore as the stats give them), busy %
                    within 0..100, received pps and packets per busy poll not negative, busy ns per
                    packet a positive number or "-" (nothing received); its packets over the second
                    at most what the worker's rx_packets grew by around the command. A bad
                    interval (--seconds 0) exits 2. About 1.5 s.
"""
import json
import os
import time

METRICS_TESTS = ["prometheus_metrics_match_the_stats", "sipferryctl_load_reports_each_worker"]
API = "http://127.0.0.1:8080"  # configs/lab.conf [api] listen (in sf-sbc)
DEBIAN_PYTHON = "/usr/bin/python3"  # python3-prometheus-client's interpreter
# Label levels and gauges as control/prometheus_metrics.cc maps them (checked independently here).
LABEL_MAPS = {"ports": "port", "relay.port_pairs": "port", "workers": "worker", "drops": "reason", "transfers.refusals": "reason",
              "stir.failures": "reason", "providers.channels": "provider", "providers.quality": "provider",
              "providers.probed": "provider", "provider_registrations": "provider"}
GAUGES = {"relay.entries", "relay.port_pairs.in_use", "relay.port_pairs.capacity", "workers.lcore", "worker_clock_hz", "capture.running", "hep.enabled",
          "sip.rate_limited_sources", "sip.transactions", "sip.message_mbufs_free", "neighbours.entries",
          "accounts.registered_users", "accounts.bindings", "calls.active", "stir.certificates.held_now",
          "stir.certificates.cached", "stir.certificates.crls_cached", "stir.signatures.threads",
          "stir.signatures.in_pool",
          "providers.channels.calls", "providers.channels.max", "providers.quality.mean_mos",
          "providers.quality.recent_mos", "providers.probed.up", "provider_registrations.expires_s",
          "provider_registrations.expires_in_s", "provider_registrations.last_status",
          "provider_registrations.failures"}

# Gauges that move up and down more than once a second even in an idle lab (the providers' health
# probes build, send and free messages and transactions): only their presence and type are checked.
VOLATILE_GAUGES = {"sip.transactions", "sip.message_mbufs_free", "sip.rate_limited_sources"}

# Runs in sf-sbc under Debian's python: scrape, parse with prometheus_client, print JSON.
SCRAPE = r"""
import json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
r = urllib.request.urlopen(sys.argv[1] + "/metrics", timeout=5)
text = r.read().decode()
out = {"status": r.status, "content_type": r.headers.get("Content-Type"), "text": text, "families": []}
for f in text_string_to_metric_families(text):
    out["families"].append({"name": f.name, "type": f.type,
                            "samples": [[s.name, s.labels, s.value] for s in f.samples]})
print(json.dumps(out))
"""


def expected_samples(stats):
    """The stats as the mapping says they become samples: {(name, frozenset(labels)): (path, value)}."""
    out = {}

    def leaf(path, labels, v):
        if isinstance(v, bool):
            v = 1.0 if v else 0.0
        elif not isinstance(v, (int, float)):
            if path == "provider_registrations.state":
                out[("sipferry_provider_registrations_state", frozenset(dict(labels, state=v).items()))] = (path, 1.0)
            return
        name = "sipferry_" + path.replace(".", "_") + ("" if path in GAUGES else "_total")
        out[(name, frozenset(labels.items()))] = (path, float(v))

    def walk(node, path, labels):
        for k, v in node.items():
            here = f"{path}.{k}" if path else k
            if here in LABEL_MAPS:
                for name, child in v.items():
                    lab = dict(labels, **{LABEL_MAPS[here]: name})
                    if isinstance(child, dict):
                        walk(child, here, lab)
                    else:
                        leaf(here, lab, child)
            elif isinstance(v, dict):
                walk(v, here, labels)
            else:
                leaf(here, labels, v)
    walk(stats, "", {})
    return out


class MetricsTests:
    def test_prometheus_metrics_match_the_stats(self, tdir):
        if not os.access(DEBIAN_PYTHON, os.X_OK):
            self._fail(f"{DEBIAN_PYTHON} missing (Debian's python3; tools/bootstrap)")
        before = self.stats()
        r = self.run(["ip", "netns", "exec", "sf-sbc", DEBIAN_PYTHON, "-c", SCRAPE, API], timeout=15)
        after = self.stats()
        if r.returncode != 0:
            self._fail(f"the scrape failed (exit {r.returncode}; python3-prometheus-client is installed by "
                       f"tools/bootstrap): {(r.stdout + r.stderr)[-800:]}")
        got = json.loads(r.stdout)
        with open(os.path.join(tdir, "metrics.txt"), "w") as f:
            f.write(got["text"])
        errs = []
        if got["status"] != 200 or not (got["content_type"] or "").startswith("text/plain; version=0.0.4"):
            errs.append(f"GET /metrics: {got['status']} {got['content_type']!r}")
        exp_before, exp_after = expected_samples(before), expected_samples(after)
        samples = {}
        for fam in got["families"]:
            for name, labels, value in fam["samples"]:
                key = (name, frozenset(labels.items()))
                if key in samples:
                    errs.append(f"series twice: {name}{labels}")
                samples[key] = (fam["type"], value)
        for key, (typ, value) in samples.items():
            name, labels = key[0], dict(key[1])
            e0, e1 = exp_before.get(key), exp_after.get(key)
            if e0 is None and e1 is None:
                errs.append(f"{name}{labels} = {value}: no such number in the stats")
                continue
            path = (e1 or e0)[0]
            want_type = "gauge" if path in GAUGES or path == "provider_registrations.state" else "counter"
            if typ != want_type:
                errs.append(f"{name}: type {typ}, wanted {want_type} ({path})")
            lo = min(e[1] for e in (e0, e1) if e)
            hi = max(e[1] for e in (e0, e1) if e)
            if want_type == "counter" and not lo <= value <= hi:
                errs.append(f"{name}{labels} = {value}, stats said {lo} then {hi}")
            if want_type == "gauge" and path not in VOLATILE_GAUGES and not lo <= value <= hi:
                errs.append(f"{name}{labels} = {value}, stats said {lo} / {hi}")
        missing = [k for k in exp_before if k not in samples and k in exp_after]
        for name, labels in missing[:5]:
            errs.append(f"stats {exp_before[(name, labels)][0]} has no sample {name}{dict(labels)}")
        ctl = self._rt().find_bin("sipferryctl")
        c = self.run(["ip", "netns", "exec", "sf-sbc", ctl, "metrics"], timeout=10)
        if c.returncode != 0 or "# TYPE sipferry_calls_active gauge" not in c.stdout:
            errs.append(f"sipferryctl metrics: exit {c.returncode}: {(c.stdout + c.stderr)[:200]}")
        self._progress(f"{len(got['families'])} families, {len(samples)} samples for {len(exp_after)} stats numbers; "
                       f"e.g. " + ", ".join(f"{n}{dict(l)}={samples[(n, l)][1]:g}" for n, l in list(samples)[:3]))
        if errs:
            self._fail("; ".join(errs[:8]))

    def test_sipferryctl_load_reports_each_worker(self, tdir):
        ctl = self._rt().find_bin("sipferryctl")
        before = self.stats()
        t0 = time.monotonic()
        r = self.run(["ip", "netns", "exec", "sf-sbc", ctl, "load", "--seconds", "1"], timeout=15)
        elapsed = time.monotonic() - t0
        after = self.stats()
        with open(os.path.join(tdir, "load.txt"), "w") as f:
            f.write(r.stdout + r.stderr)
        if r.returncode != 0:
            self._fail(f"sipferryctl load: exit {r.returncode}: {(r.stdout + r.stderr)[-400:]}")
        lines = r.stdout.splitlines()
        errs = []
        if not lines or lines[0].split()[:4] != ["worker", "lcore", "busy", "%"]:
            errs.append(f"no header: {lines[:1]}")
        rows = {}
        for line in lines[1:]:
            f = line.split()
            if len(f) != 7:
                errs.append(f"row of {len(f)} fields: {line!r}")
                continue
            rows[f[0]] = f
        workers = after.get("workers") or {}
        if not workers:
            errs.append("the stats have no workers")
        if set(rows) != set(workers):
            errs.append(f"rows for workers {sorted(rows)}, the stats have {sorted(workers)}")
        for wid, w in workers.items():
            f = rows.get(wid)
            if f is None:
                continue
            lcore, busy, pps, per_poll, ns, own = int(f[1]), float(f[2]), float(f[3]), float(f[4]), f[5], f[6]
            if lcore != w["lcore"]:
                errs.append(f"worker {wid}: lcore {lcore}, the stats say {w['lcore']}")
            if not 0.0 <= busy <= 100.0 or pps < 0 or per_poll < 0:
                errs.append(f"worker {wid}: out of range: {f}")
            if ns != "-" and not float(ns) > 0:
                errs.append(f"worker {wid}: busy ns per packet {ns}")
            grew = w["rx_packets"] - before["workers"][wid]["rx_packets"]
            # Its samples lie inside ours and at least 1 s apart: pps x 1 s <= what ours saw.
            if pps > grew + 1:
                errs.append(f"worker {wid}: {pps:g} pps, but rx_packets grew by {grew} in {elapsed:.1f} s around it")
            if ns == "-" and pps != 0:
                errs.append(f"worker {wid}: {pps:g} pps and no busy ns per packet")
            # Own work (handling the packets) is part of their busy time, there whenever it is.
            if (own == "-") != (ns == "-") or (own != "-" and not 0 < float(own) <= float(ns)):
                errs.append(f"worker {wid}: own ns per packet {own} against busy {ns}")
        bad = self.run(["ip", "netns", "exec", "sf-sbc", ctl, "load", "--seconds", "0"], timeout=10)
        if bad.returncode != 2:
            errs.append(f"--seconds 0: exit {bad.returncode}, wanted 2")
        self._progress("sipferryctl load: " + " | ".join(lines[1:3]))
        if errs:
            self._fail("; ".join(errs[:8]))
