#!/usr/bin/env python3
"""memif_fwd (bench/system/memif_fwd.cc), the system benchmark's memif DUT, in each mode on two
net_ring ports with no traffic (--no-huge, as CI has): it starts, takes its turns (alternate: the
relay's worker loop and io forwarding each get the lcore, in turns of 1 ms here, hundreds of
them), writes its load file (alternate: io's counters under "io") and ends by itself after
--duration with its counters on stdout. Refuses a bad mode or turn length. The figures it
measures are the harness's business (docs/benchmarks.md); this checks that the mode switching
neither hangs nor crashes, nor its teardown. The argument: the memif_fwd binary."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

MEMIF_FWD = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else None


def run(*opts, prefix="sf_mfwd"):
    """memif_fwd with its own EAL runtime prefix (removed after), two net_ring ports, lcores 0 and 1."""
    prefix = f"{prefix}_{os.getpid()}"
    eal = ["-l", "0,1", "--no-huge", "--no-shconf", "-m", "256", "--no-pci", f"--file-prefix={prefix}",
           "--log-level=*:error", "--vdev=net_ring0", "--vdev=net_ring1"]
    try:
        return subprocess.run([MEMIF_FWD] + eal + ["--"] + list(opts), capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)


@unittest.skipUnless(MEMIF_FWD and os.access(MEMIF_FWD, os.X_OK), "memif_fwd not built")
class MemifFwd(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sf-mfwd-")
        self.load_file = os.path.join(self.dir, "load.json")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def run_mode(self, mode, *extra):
        r = run("--mode", mode, "--streams", "16", "--duration", "0.5", "--load-file", self.load_file, *extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        counters = json.loads(r.stdout.strip().splitlines()[-1])
        with open(self.load_file) as f:
            load = json.load(f)
        return counters, load

    def test_alternate_gives_both_forwarders_turns_and_counts_each_apart(self):
        counters, load = self.run_mode("alternate", "--slice-ms", "1")
        self.assertEqual(counters["mode"], "alternate")
        self.assertGreater(load["loop_cycles"], 0)  # the relay's worker loop had turns
        self.assertGreater(load["io"]["loop_cycles"], 0)  # and io forwarding had its own
        self.assertEqual(load["io"]["tsc_hz"], load["tsc_hz"])
        for who in (load, load["io"]):
            self.assertEqual((who["rx_packets"], who["busy_cycles"], who["busy_polls"]), (0, 0, 0))  # no traffic

    def test_relay_and_io_alone_write_one_set_of_counters(self):
        for mode in ("relay", "io"):
            counters, load = self.run_mode(mode)
            self.assertEqual(counters["mode"], mode)
            self.assertGreater(load["loop_cycles"], 0)
            self.assertNotIn("io", load)

    def test_a_bad_mode_or_turn_length_is_refused(self):
        for opts in (["--mode", "alternating"], ["--mode", "alternate", "--slice-ms", "0"],
                     ["--mode", "alternate", "--slice-ms", "1001"]):
            r = run(*opts, "--streams", "4", "--duration", "0.2")
            self.assertEqual(r.returncode, 1, opts)
            self.assertIn("--mode io|relay|alternate", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=1)
