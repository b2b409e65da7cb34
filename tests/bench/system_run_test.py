#!/usr/bin/env python3
"""Units of the system benchmark's (bench/system/) pure parts: the --fixed-rates parser, the per-rate
summary of trials and the per-rate comparison of the relays and the wire, the alternating memif
trials' ratios, Google Benchmark's medians (summary.py), the memif phase's ports and memory
(lab.py) and the rates of its alternating trials (phases.py), the search's step at one rate and
the forwarding lcore's load over a trial (trials.py). No namespaces, no traffic: the trials
are what sfgen reports, made up here. The argument: the bench/system folder (or its run.py)."""
import importlib.util
import os
import sys
import unittest

BENCH = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "system")
BENCH = os.path.abspath(BENCH if os.path.isdir(BENCH) else os.path.dirname(BENCH))
sys.path.insert(0, BENCH)  # the harness's modules import each other by name
import lab  # noqa: E402
import phases  # noqa: E402
import summary  # noqa: E402
import trials  # noqa: E402

# The entry point (tools/bench runs it as a script) loads with its siblings.
spec = importlib.util.spec_from_file_location("system_run", os.path.join(BENCH, "run.py"))
spec.loader.exec_module(importlib.util.module_from_spec(spec))

def trial(rate, p99_us, passed=True, lost=0, sent=1000, p50_us=3.0, cpu_s=None):
    t = {"rate_pps": rate, "sent": sent, "lost": lost, "passed": passed,
         "latency_ns": {"p50": p50_us * 1e3, "p99": p99_us * 1e3, "p99_9": 2 * p99_us * 1e3, "max": 4 * p99_us * 1e3}}
    if cpu_s is not None:
        t["cpu"] = {"process": {"cpu_s": cpu_s}}
    return t


class ParseRates(unittest.TestCase):
    def test_plain_and_k_suffix_in_order(self):
        self.assertEqual(summary.parse_rates("150k, 50000,300K"), [150000.0, 50000.0, 300000.0])

    def test_m_suffix_for_millions(self):
        self.assertEqual(summary.parse_rates("2M,3.5M"), [2e6, 3.5e6])

    def test_empty_parts_are_ignored(self):
        self.assertEqual(summary.parse_rates(",1000,,"), [1000.0])

    def test_bad_input_is_refused_with_the_reason(self):
        for text, why in [("", "no rate"), (",", "no rate"), ("abc", "not a rate"), ("10k,x", "not a rate"),
                          ("0", "1 to 10M"), ("-5", "1 to 10M"), ("20000k", "1 to 10M"), ("11M", "1 to 10M"),
                          ("nan", "1 to 10M"), ("1k,1000", "twice")]:
            with self.subTest(text=text):
                with self.assertRaises(ValueError) as e:
                    summary.parse_rates(text)
                self.assertIn(why, str(e.exception))


class BenchMedians(unittest.TestCase):
    def test_only_the_medians_by_run_name(self):
        report = {"benchmarks": [
            {"run_name": "BM_a", "aggregate_name": "mean", "items_per_second": 1.0},
            {"run_name": "BM_a", "aggregate_name": "median", "items_per_second": 2.0e6},
            {"run_name": "BM_b/spread:1", "aggregate_name": "median", "items_per_second": 5.0e7},
            {"run_name": "BM_c", "items_per_second": 9.0}]}
        self.assertEqual(summary.bench_medians(report), {"BM_a": 2.0e6, "BM_b/spread:1": 5.0e7})
        self.assertEqual(summary.bench_medians({}), {})

    def test_a_failed_benchmark_is_an_error_naming_it(self):
        report = {"benchmarks": [{"run_name": "BM_ring_relay_1M", "aggregate_name": "median",
                                  "error_occurred": True, "error_message": "frames lost"}]}
        with self.assertRaises(RuntimeError) as e:
            summary.bench_medians(report)
        self.assertIn("BM_ring_relay_1M: frames lost", str(e.exception))


class FixedSummary(unittest.TestCase):
    def test_medians_per_rate_in_the_order_run(self):
        rep = {"fixed": [trial(100000, 40, cpu_s=1.0), trial(50000, 20), trial(100000, 60, cpu_s=3.0),
                         trial(50000, 10), trial(100000, 50, cpu_s=2.0), trial(50000, 30)]}
        rows = summary.fixed_summary(rep)
        self.assertEqual([r["rate_pps"] for r in rows], [100000, 50000])
        hi, lo = rows
        self.assertEqual(hi["trials"], 3)
        self.assertEqual(hi["latency_us"]["p99"], 50.0)
        self.assertEqual(hi["latency_us"]["p99_9"], 100.0)
        self.assertEqual(hi["p99_us_each"], [40.0, 60.0, 50.0])
        self.assertEqual(hi["process_cpu_s"], 2.0)
        self.assertEqual(lo["latency_us"]["p99"], 20.0)
        self.assertIsNone(lo["process_cpu_s"])

    def test_failed_trials_are_counted_and_kept(self):
        rep = {"fixed": [trial(900000, 5000, passed=False, lost=70, sent=900), trial(900000, 7000, passed=False,
                                                                                   lost=30, sent=900)]}
        (row,) = summary.fixed_summary(rep)
        self.assertEqual((row["failed"], row["trials"], row["lost"], row["sent"]), (2, 2, 100, 1800))
        self.assertEqual(row["latency_us"]["p99"], 6000.0)  # median of two: their mean

    def test_each_trials_cost_per_packet_in_the_order_run(self):
        ts = [trial(2e6, 10), trial(2e6, 10), trial(2e6, 10)]
        ts[0]["worker_load"] = {"busy_ns_per_packet": 120.0, "packets_per_busy_poll": 1.1}
        ts[2]["worker_load"] = {"busy_ns_per_packet": 250.0, "packets_per_busy_poll": 31.8}
        (row,) = summary.fixed_summary({"fixed": ts})  # the second trial had no counters (a restart)
        self.assertEqual(row["busy_ns_per_packet_each"], [120.0, None, 250.0])
        self.assertEqual(row["packets_per_busy_poll_each"], [1.1, None, 31.8])

    def test_a_search_report_or_none_has_no_fixed_summary(self):
        self.assertIsNone(summary.fixed_summary(None))
        self.assertIsNone(summary.fixed_summary({"search": {"zero_loss_pps": 1000}, "trials": []}))


class FixedRatios(unittest.TestCase):
    def rows(self, *pairs):
        return summary.fixed_summary({"fixed": [trial(rate, p99) for rate, p99 in pairs]})

    def test_ratio_and_added_over_the_wire_per_rate(self):
        s = self.rows((50000, 30), (150000, 45))
        r = self.rows((50000, 300), (150000, 900))
        w = self.rows((50000, 25), (150000, 50))
        lo, hi = summary.fixed_ratios(s, r, w)
        self.assertEqual(lo["rate_pps"], 50000)
        self.assertAlmostEqual(lo["p99_rtpengine_over_sipferry"], 10.0)
        self.assertEqual(lo["added_p99_us"], {"sipferry": 5.0, "rtpengine": 275.0})
        # sipferry at or under the wire adds nothing measurable: None, never a negative figure
        self.assertIsNone(hi["added_p99_us"]["sipferry"])
        self.assertEqual(hi["added_p99_us"]["rtpengine"], 850.0)
        self.assertEqual(lo["failed_trials"], {"sipferry": 0, "rtpengine": 0, "wire": 0})

    def test_failed_trials_are_told_per_relay(self):
        s = self.rows((300000, 100))
        r = summary.fixed_summary({"fixed": [trial(300000, 20000, passed=False, lost=5000),
                                             trial(300000, 30000, passed=False, lost=9000)]})
        (x,) = summary.fixed_ratios(s, r, None)
        self.assertEqual(x["failed_trials"], {"sipferry": 0, "rtpengine": 2, "wire": None})
        self.assertAlmostEqual(x["p99_rtpengine_over_sipferry"], 250.0)

    def test_missing_relay_or_wire_gives_none_not_an_error(self):
        s = self.rows((50000, 30))
        (x,) = summary.fixed_ratios(s, None, None)
        self.assertIsNone(x["p99_rtpengine_over_sipferry"])
        self.assertIsNone(x["wire_p99_us"])
        self.assertEqual(x["added_p99_us"], {"sipferry": None, "rtpengine": None})
        self.assertEqual(summary.fixed_ratios(None, s, s), [])


class MemifSetup(unittest.TestCase):
    def vdevs(self, eal):
        return [x for x in eal if x.startswith("--vdev=")]

    def test_zero_copy_client_maps_one_file_and_its_rings_fit_its_pool(self):
        m = lab.memif_setup(zero_copy=True, huge=False)
        # two RX rings filled up front and a full TX ring in flight, within sfgen's 16383 mbufs
        self.assertEqual(m["ring_size"], 4096)
        self.assertLess(3 * m["ring_size"], 16383)
        self.assertIn("--single-file-segments", m["client_eal"])
        self.assertNotIn("--single-file-segments", m["server_eal"])
        client, server = self.vdevs(m["client_eal"]), self.vdevs(m["server_eal"])
        self.assertEqual(len(client), 2)
        self.assertEqual(len(server), 2)
        for c, s in zip(client, server):
            self.assertIn("role=client", c)
            self.assertIn("zero-copy=yes", c)
            self.assertIn("rsize=12", c)
            self.assertIn("role=server", s)
            self.assertNotIn("zero-copy", s)  # a server always copies; the option is the client's
            self.assertIn("rsize=12", s)
            # the two ends of a port meet on the same socket
            self.assertEqual(c.split("socket=")[1].split(",")[0], s.split("socket=")[1].split(",")[0])

    def test_copy_mode_keeps_sfgen_as_it_was(self):
        m = lab.memif_setup(zero_copy=False, huge=False)
        self.assertEqual(m["ring_size"], 16384)
        self.assertNotIn("--single-file-segments", m["client_eal"])
        self.assertFalse(any("zero-copy" in x for x in m["client_eal"]))

    def test_memory_follows_hugepages(self):
        small = lab.memif_setup(zero_copy=True, huge=False)
        for eal in (small["client_eal"], small["server_eal"]):
            self.assertIn("--no-huge", eal)
            self.assertNotIn("--in-memory", eal)
        huge = lab.memif_setup(zero_copy=True, huge=True)
        for eal, mb in ((huge["client_eal"], 300), (huge["server_eal"], 256)):
            self.assertNotIn("--no-huge", eal)
            self.assertIn("--in-memory", eal)  # no hugepage files left behind
            self.assertEqual(eal[eal.index("-m") + 1], str(mb))
        self.assertLessEqual(300 + 256, lab.MEMIF_HUGE_MB)


class RatePasses(unittest.TestCase):
    """The search's step at one rate, with sfgen's trials made up: pass/fail in turn."""

    class Relay:
        def __init__(self):
            self.restarts = 0

        def restart(self):
            self.restarts += 1

    def run_step(self, outcomes, retries):
        a = type("args", (), {"search_retries": retries})()
        given = iter(outcomes)
        seen = []

        def fake_trial(_a, _relay, rate, n):
            seen.append(n)
            return next(given), {"rate_pps": rate}

        real, trials.trial = trials.trial, fake_trial
        try:
            relay, ts = self.Relay(), [{"rate_pps": 1}]  # one trial of an earlier rate
            passed = trials.rate_passes(a, relay, 5000, ts)
        finally:
            trials.trial = real
        return passed, ts[1:], relay.restarts, seen

    def test_one_trial_per_rate_without_retries(self):
        self.assertEqual(self.run_step([True], 0)[0:3], (True, [{"rate_pps": 5000, "attempt": 1}], 0))
        passed, trials, restarts, seen = self.run_step([False, True], 0)
        self.assertFalse(passed)
        self.assertEqual((len(trials), restarts, seen), (1, 1, [2]))

    def test_a_retry_after_the_restart_can_pass_the_rate(self):
        passed, trials, restarts, seen = self.run_step([False, True], 1)
        self.assertTrue(passed)
        self.assertEqual([t["attempt"] for t in trials], [1, 2])
        self.assertEqual((restarts, seen), (1, [2, 3]))  # trial numbers go on from the earlier ones

    def test_every_attempt_failing_fails_the_rate_and_restarts_each_time(self):
        passed, trials, restarts, _ = self.run_step([False, False, False, True], 2)
        self.assertFalse(passed)
        self.assertEqual((len(trials), restarts), (3, 3))


def counters(loop, busy, polls, rx, hz=2_000_000_000):
    return {"loop_cycles": loop, "busy_cycles": busy, "busy_polls": polls, "rx_packets": rx, "tsc_hz": hz}


class LoadDelta(unittest.TestCase):
    def test_busy_time_per_packet_per_poll_and_share_of_the_traffic(self):
        # 2 GHz: 3e9 busy cycles = 1.5 s for 1M packets in 50k polls over a 3-s traffic window.
        d = trials.load_delta(counters(10, 5, 1, 7),
                              counters(10 + 8_000_000_000, 5 + 3_000_000_000, 50_001, 1_000_007), 3.0)
        self.assertEqual((d["rx_packets"], d["busy_polls"]), (1_000_000, 50_000))
        self.assertAlmostEqual(d["busy_s"], 1.5)
        self.assertAlmostEqual(d["busy_ns_per_packet"], 1500.0)
        self.assertAlmostEqual(d["packets_per_busy_poll"], 20.0)
        self.assertAlmostEqual(d["busy_share_of_traffic"], 0.5)

    def test_no_packets_give_no_cost_per_packet(self):
        d = trials.load_delta(counters(1, 0, 0, 0), counters(100, 0, 0, 0), 3.0)
        self.assertIsNone(d["busy_ns_per_packet"])
        self.assertIsNone(d["packets_per_busy_poll"])

    def test_no_counters_or_a_restart_between_give_none(self):
        c = counters(100, 50, 5, 40)
        self.assertIsNone(trials.load_delta(None, c, 3.0))  # rtpengine: no counters
        self.assertIsNone(trials.load_delta(c, None, 3.0))
        self.assertIsNone(trials.load_delta(c, counters(10, 5, 1, 4), 3.0))  # a new process: counters went back
        self.assertIsNone(trials.load_delta(c, dict(c, tsc_hz=0), 3.0))

    def test_own_work_and_the_drivers_part_of_a_packets_busy_time(self):
        # 1.5 s busy for 1M packets (1500 ns each), 0.2 s of it handling: 200 ns own, 1300 the driver's.
        d = trials.load_delta(dict(counters(10, 5, 1, 7), handling_cycles=3),
                              dict(counters(10 + 8_000_000_000, 5 + 3_000_000_000, 50_001, 1_000_007),
                                   handling_cycles=3 + 400_000_000), 3.0)
        self.assertAlmostEqual(d["handling_ns_per_packet"], 200.0)
        self.assertAlmostEqual(d["driver_ns_per_packet"], 1300.0)
        # Read after busy_cycles, handling can hold a burst more: never above the busy time.
        d = trials.load_delta(dict(counters(0, 0, 0, 0), handling_cycles=0),
                              dict(counters(100, 50, 5, 40), handling_cycles=60), 3.0)
        self.assertAlmostEqual(d["handling_ns_per_packet"], d["busy_ns_per_packet"])
        self.assertEqual(d["driver_ns_per_packet"], 0.0)
        # A binary without the counter (old side of an A/B run), in either sample: no split.
        d = trials.load_delta(counters(0, 0, 0, 0), dict(counters(100, 50, 5, 40), handling_cycles=10), 3.0)
        self.assertNotIn("handling_ns_per_packet", d)
        self.assertIsNotNone(d["busy_ns_per_packet"])
        # Gone back with the rest (a restart): no figures at all.
        self.assertIsNone(trials.load_delta(dict(counters(0, 0, 0, 0), handling_cycles=50),
                                            dict(counters(100, 50, 5, 40), handling_cycles=10), 3.0))


def searched(*trials):
    return {"trials": [{"rate_pps": r, "lost": lost, "passed": lost == 0, "worker_load": None if ns is None else
                        {"busy_ns_per_packet": ns, "busy_share_of_traffic": ns / 1000}} for r, lost, ns in trials]}


class SameRateLoad(unittest.TestCase):
    def test_the_highest_rate_both_passed(self):
        relay = searched((1e6, 0, 120.0), (2e6, 0, 100.0), (4e6, 0, 90.0), (8e6, 5, 80.0))
        io = searched((1e6, 0, 70.0), (2e6, 0, 60.0), (4e6, 3, 55.0), (8e6, 0, 50.0))
        got = summary.same_rate_load(relay, io)
        self.assertEqual(got["rate_pps"], 2_000_000)
        self.assertEqual(got["busy_ns_per_packet"], [100.0, 60.0])
        self.assertAlmostEqual(got["ratio"], 100.0 / 60.0)
        self.assertEqual(got["busy_share_of_traffic"], [0.1, 0.06])

    def test_a_failed_trial_without_loss_does_not_count(self):
        relay = searched((1e6, 0, 120.0), (2e6, 0, 100.0))
        relay["trials"][1]["passed"] = False  # generator-limited, or queueing: no loss, no pass
        io = searched((1e6, 0, 70.0), (2e6, 0, 60.0))
        self.assertEqual(summary.same_rate_load(relay, io)["rate_pps"], 1_000_000)

    def test_trials_without_counters_do_not_count(self):
        relay = searched((1e6, 0, 120.0), (2e6, 0, None))
        io = searched((1e6, 0, 70.0), (2e6, 0, 60.0))
        self.assertEqual(summary.same_rate_load(relay, io)["rate_pps"], 1_000_000)

    def test_no_common_passing_rate_or_no_report_gives_none(self):
        self.assertIsNone(summary.same_rate_load(searched((1e6, 0, 120.0)), searched((2e6, 0, 60.0))))
        self.assertIsNone(summary.same_rate_load(None, searched((2e6, 0, 60.0))))
        self.assertIsNone(summary.same_rate_load(searched((1e6, 1, 120.0)), searched((1e6, 0, 60.0))))


def alternating(rate, relay_ns, io_ns, own_ns=None, passed=True):
    t = trial(rate, 10, passed=passed)
    t["worker_load"] = {"busy_ns_per_packet": relay_ns, "handling_ns_per_packet": own_ns} if relay_ns else None
    t["io_load"] = {"busy_ns_per_packet": io_ns} if io_ns else None
    return t


class AlternateSummary(unittest.TestCase):
    def test_each_trials_ratio_and_their_median_per_rate_in_the_order_run(self):
        rep = {"fixed": [alternating(2e6, 300.0, 200.0, 60.0), alternating(3.5e6, 240.0, 200.0, 40.0),
                         alternating(2e6, 440.0, 400.0, 62.0), alternating(3.5e6, 260.0, 200.0, 41.0),
                         alternating(2e6, 280.0, 200.0, 66.0)]}
        lo, hi = summary.alternate_summary(rep)
        self.assertEqual((lo["rate_pps"], hi["rate_pps"]), (2e6, 3.5e6))
        self.assertEqual(lo["relay_busy_ns_per_packet_each"], [300.0, 440.0, 280.0])
        self.assertEqual(lo["io_busy_ns_per_packet_each"], [200.0, 400.0, 200.0])
        self.assertEqual(lo["relay_handling_ns_per_packet_each"], [60.0, 62.0, 66.0])
        self.assertEqual(lo["relay_over_io_each"], [1.5, 1.1, 1.4])
        self.assertAlmostEqual(lo["relay_over_io"], 1.4)
        self.assertAlmostEqual(hi["relay_over_io"], (1.2 + 1.3) / 2)

    def test_failed_trials_count_and_keep_their_ratio(self):
        (row,) = summary.alternate_summary({"fixed": [alternating(3.5e6, 250.0, 200.0, passed=False)]})
        self.assertEqual((row["failed"], row["trials"], row["relay_over_io_each"]), (1, 1, [1.25]))

    def test_a_trial_without_either_count_has_no_ratio(self):
        rep = {"fixed": [alternating(2e6, 300.0, None), alternating(2e6, None, 200.0), alternating(2e6, 330.0, 300.0)]}
        (row,) = summary.alternate_summary(rep)
        self.assertEqual(row["io_busy_ns_per_packet_each"], [None, 200.0, 300.0])
        self.assertEqual(row["relay_busy_ns_per_packet_each"], [300.0, None, 330.0])
        self.assertEqual(row["relay_over_io_each"], [1.1])
        self.assertAlmostEqual(row["relay_over_io"], 1.1)

    def test_no_ratio_at_all_gives_none_and_no_report_no_summary(self):
        (row,) = summary.alternate_summary({"fixed": [alternating(2e6, None, 200.0)]})
        self.assertIsNone(row["relay_over_io"])
        self.assertIsNone(summary.alternate_summary(None))
        self.assertIsNone(summary.alternate_summary({"search": {"zero_loss_pps": 1e6}, "trials": []}))


class AlternateRates(unittest.TestCase):
    class Args:
        memif_fixed_rates = None

    def test_the_fixed_rates_when_given(self):
        a = self.Args()
        a.memif_fixed_rates = [2e6, 3.5e6]
        self.assertEqual(phases.alternate_rates(a, {"search": {"zero_loss_pps": 4e6}}), [2e6, 3.5e6])

    def test_half_the_relays_zero_loss_rate_and_that_rate(self):
        self.assertEqual(phases.alternate_rates(self.Args(), {"search": {"zero_loss_pps": 4e6}}), [2e6, 4e6])

    def test_no_rate_found_or_no_relay_report_runs_none(self):
        self.assertIsNone(phases.alternate_rates(self.Args(), {"search": {"zero_loss_pps": None}}))
        self.assertIsNone(phases.alternate_rates(self.Args(), None))


if __name__ == "__main__":
    unittest.main(verbosity=1)
