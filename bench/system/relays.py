"""The relays under test (run.py), one class each: sipferry (real SIP calls through its B2BUA),
rtpengine (sessions over its ng protocol) and memif_fwd (io forwarding or sipferry's worker loop
on net_memif, or io forwarding on the veth ends: the wire). Each starts in its namespace with its
streams set up, gives its CPU threads and load counters to the trials (trials.py), restarts after
a failing trial and stops by PID (lab.started)."""
import json
import os
import subprocess
import time

from lab import (CALLEE, CALLER, DUT_ACC, DUT_CORE, DUT_CPU, GEN_CPU, HERE, MEDIA_SRC, NG_ADDR, NS_DUT, NS_GEN,
                 RUN_DIR, SINK, SINK_PORT, SMALL_PAGES_EAL, SRC_PORT, garp, nice, say, sh, started, stop_pid,
                 timer_slack, veth_vdev, wait_until, xdp_detach)
from trials import LOAD_KEYS, OPTIONAL_LOAD_KEYS, cpu_sample


class relay_under_test:
    """A relay process in sfb-dut with its N streams set up; start/stop/restart by PID."""

    def __init__(self, a, name, logdir):
        self.a, self.name, self.logdir = a, name, logdir
        self.proc = None
        self.log = None
        self.streams = []
        self.streams_file = os.path.join(logdir, f"{name}.streams")
        self.restarts = 0
        self.crashes = []  # the relay process found dead between trials (exit status, trial)
        self.memif = False
        self.dst_mac = None  # sfgen sends here without ARP (a forwarder that answers none)
        self.pmd = None  # sipferry's veth PMD; rtpengine: kernel sockets
        self.stats_at_restarts = []  # the relay's counters just before each restart (where the loss was)
        self.idle_cpu_rate = {}  # CPU seconds per second of each cpu_threads() entry with no traffic

    def cpu_threads(self):
        """{label: (pid, tid or None)} whose CPU time is recorded over each trial."""
        if self.proc is None or self.proc.poll() is not None:
            return {}
        return {"process": (self.proc.pid, None)}

    def measure_idle(self, seconds=2.0):
        """The relay's CPU rate with its streams set up and no traffic (sipferry's worker wakes
        every idle_sleep_us; rtpengine sleeps in epoll), subtracted for the idle part of a trial."""
        c0 = cpu_sample(self)
        time.sleep(seconds)
        c1 = cpu_sample(self)
        dt = c1["t"] - c0["t"]
        self.idle_cpu_rate = {k: (v - c0["threads"][k]) / dt for k, v in c1["threads"].items()
                              if v is not None and c0["threads"].get(k) is not None}
        say(f"{self.name}: idle CPU " + ", ".join(f"{k} {v * 100:.1f}%" for k, v in self.idle_cpu_rate.items()))

    def launch(self, argv):
        self.log = open(os.path.join(self.logdir, f"{self.name}.log"), "a")
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS_DUT] + nice(self.a) + argv, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started.append(self.proc)

    def write_streams(self):
        with open(self.streams_file, "w") as f:
            for s in self.streams:
                f.write(f"{s['src']} {s['relay_addr']}:{s['relay_port']}\n")

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, self.name)
            if self.proc in started:
                started.remove(self.proc)
            self.proc = None
        if self.log:
            self.log.close()
            self.log = None

    def counters(self):
        """The relay's own counters, if it has any to give (sipferry: sipferryctl stats)."""
        return None

    def load_sample(self):
        """The forwarding lcore's cumulative load counters {LOAD_KEYS..., tsc_hz}, or None when
        the relay has none (rtpengine) or cannot give them now."""
        return None

    def restart(self):
        self.restarts += 1
        self.stats_at_restarts.append(self.counters())
        say(f"{self.name}: restarting after a failed trial")
        self.stop()
        time.sleep(0.5)
        self.start()


class sipferry_relay(relay_under_test):
    def __init__(self, a, pmd, logdir):
        super().__init__(a, f"sipferry-{pmd}", logdir)
        self.pmd = pmd
        self.worker_tid = None

    def cpu_threads(self):
        out = super().cpu_threads()
        if out and self.worker_tid:
            out["worker"] = (self.proc.pid, self.worker_tid)
        return out

    def find_worker(self):
        """The worker lcore's thread (DPDK 22.11 names it rte-worker-N, later lcore-worker-N); None if not found."""
        try:
            for tid in sorted(os.listdir(f"/proc/{self.proc.pid}/task"), key=int):
                with open(f"/proc/{self.proc.pid}/task/{tid}/comm") as f:
                    if f.read().strip().startswith(("lcore-worker", "rte-worker")):
                        return int(tid)
        except OSError:
            pass
        return None

    def ctl(self, *words, timeout=20):
        return subprocess.run(["ip", "netns", "exec", NS_DUT, self.a.sipferryctl, "--api", "127.0.0.1:8080",
                               "--timeout", "2"] + list(words), capture_output=True, text=True, timeout=timeout)

    def counters(self):
        r = self.ctl("stats")
        if r.returncode != 0:
            return None
        st = json.loads(r.stdout)
        return {"ports": st.get("ports"), "drops": st.get("drops"), "relay": st.get("relay")}

    def load_sample(self):
        r = self.ctl("stats", timeout=10)
        if r.returncode != 0:
            return None
        st = json.loads(r.stdout)
        workers = list((st.get("workers") or {}).values())
        if not workers:
            return None
        sample = {k: sum(w[k] for w in workers) for k in LOAD_KEYS + OPTIONAL_LOAD_KEYS if all(k in w for w in workers)}
        return sample | {"tsc_hz": st.get("worker_clock_hz")} if all(k in sample for k in LOAD_KEYS) else None

    def config(self):
        """sipferry-bench.conf with the worker's idle sleep of this run (0: pure polling) and
        absolute paths, written to the run directory."""
        src = os.path.join(HERE, "sipferry-bench.conf")
        lines = []
        with open(src) as f:
            for line in f:
                key = line.split("=", 1)[0].strip()
                if key == "idle_sleep_us":
                    line = f"idle_sleep_us = {self.a.idle_sleep_us}\n"
                    if self.a.relay_scheduling != "normal":
                        line += (f"worker_scheduling = {self.a.relay_scheduling}\n"
                                 f"worker_priority = {self.a.relay_priority}\n")
                elif key == "device":
                    # The conf names net_af_packet devices; --veth-pmd picks the driver.
                    spec = line.split("=", 1)[1].strip()
                    ifc = next(p.split("=", 1)[1] for p in spec.split(",") if p.startswith("iface="))
                    index = spec.split(",", 1)[0][-1]
                    line = f"device = {veth_vdev(self.pmd, index, ifc)}\n"
                elif key in ("default", "transfer") and line.strip().endswith(".lua"):
                    line = f"{key} = {os.path.join(HERE, line.split('=', 1)[1].strip())}\n"
                lines.append(line)
        path = os.path.join(RUN_DIR, "sipferry.conf")
        with open(path, "w") as f:
            f.writelines(lines)
        return path

    def start(self):
        self.launch([self.a.sipferry, "--config", self.config()])
        wait_until(lambda: self.ctl("stats", timeout=10).returncode == 0, 30, self.proc, "sipferry")
        self.worker_tid = self.find_worker()
        if self.a.idle_sleep_us:
            timer_slack(self.proc.pid)
        garp(self.a)
        r = sh(["python3", os.path.join(HERE, "sip_calls.py"), "--calls", str(self.a.streams), "--caller", CALLER,
                "--callee", CALLEE, "--dut", DUT_ACC, "--media-src", f"{MEDIA_SRC}:{SRC_PORT}",
                "--sink", f"{SINK}:{SINK_PORT}", "--budget", "120"], ns=NS_GEN, timeout=180)
        calls = json.loads(r.stdout)
        # The relay ports as the appliance reports them (GET /v1/calls), matched by our Call-ID.
        for attempt in range(3):  # a loaded box can keep the answer (100 calls) past 2 s
            api = self.ctl("calls")
            if api.returncode == 0:
                break
            time.sleep(1.0)
        if api.returncode != 0:
            raise RuntimeError(f"sipferryctl calls: {api.stderr[-500:]}")
        by_call_id = {c["a"]["call_id"]: c for c in json.loads(api.stdout)}
        self.streams = []
        for c in calls:
            entry = by_call_id.get(c["call_id"])
            if entry is None or not entry.get("media"):
                raise RuntimeError(f"call {c['call_id']} not in GET /v1/calls")
            port = entry["media"][0]["a_port"]
            if port != c["relay_port"] or c["relay_addr"] != DUT_ACC:
                raise RuntimeError(f"call {c['call_id']}: API a_port {port}, SDP {c['relay_addr']}:{c['relay_port']}")
            self.streams.append(dict(c, relay_port=port, b_port=entry["media"][0]["b_port"]))
        self.write_streams()
        say(f"sipferry (pid {self.proc.pid}, {self.pmd} ports, worker lcore on CPU {DUT_CPU}, thread "
            f"{self.worker_tid}): {len(self.streams)} SIP calls confirmed, relay ports from GET /v1/calls")

    def stop(self):
        super().stop()
        # A killed sipferry cannot close its af_xdp ports: take their program off the veth ends
        # (rtpengine's phase needs the kernel path; the next sipferry attaches its own).
        if self.pmd == "af_xdp":
            xdp_detach(NS_DUT, ("dacc", "dcore"))


class rtpengine_relay(relay_under_test):
    def start(self):
        self.launch(["taskset", "-c", str(DUT_CPU), "rtpengine", "--config-file=none", "--foreground",
                     "--log-stderr", "--table=-1", f"--interface=acc/{DUT_ACC}", f"--interface=core/{DUT_CORE}",
                     f"--listen-ng={NG_ADDR}", "--port-min=30000", "--port-max=39999", "--num-threads=1",
                     "--timeout=600", "--log-level=5", f"--pidfile={RUN_DIR}/rtpengine.pid"] +
                    relay_scheduling_args(self.a))
        ng = ["python3", os.path.join(HERE, "ng_client.py"), "--ng", NG_ADDR]
        wait_until(lambda: sh(ng + ["--ping", "--calls", "0", "--media-src", "0.0.0.0:1", "--sink", "0.0.0.0:1",
                                    "--timeout", "0.5"], ns=NS_DUT, check=False).returncode == 0, 30, self.proc,
                   "rtpengine")
        r = sh(ng + ["--calls", str(self.a.streams), "--media-src", f"{MEDIA_SRC}:{SRC_PORT}",
                     "--sink", f"{SINK}:{SINK_PORT}", "--from-if", "acc", "--to-if", "core"], ns=NS_DUT, timeout=180)
        self.streams = json.loads(r.stdout)
        for s in self.streams:
            if s["relay_addr"] != DUT_ACC:
                raise RuntimeError(f"rtpengine answered {s['relay_addr']} for the caller, expected {DUT_ACC}")
        self.write_streams()
        say(f"rtpengine (pid {self.proc.pid}, userspace --table=-1, taskset CPU {DUT_CPU}, --num-threads=1): "
            f"{len(self.streams)} sessions (ng offer + answer)")


class memif_relay(relay_under_test):
    """memif_fwd (bench/system/memif_fwd.cc) as the memif server: `io` forwarding or sipferry's
    worker loop with one relay call per stream, forwarding lcore on CPU 1. With veth=True, io
    forwarding between net_af_packet ports on dacc and dcore in sfb-dut instead, the wire that
    the veth relays' latency is measured against."""

    def __init__(self, a, mode, logdir, veth=False):
        super().__init__(a, f"{'veth' if veth else 'memif'}-{mode}", logdir)
        self.mode = mode
        self.veth = veth
        self.memif = not veth
        self.pmd = "af_packet" if veth else None

    def load_file(self):
        return os.path.join(RUN_DIR, f"{self.name}.load")

    def load_sample(self):
        """What memif_fwd last wrote to its --load-file (every 100 ms; the trial's drain of 0.5 s
        is longer, so a sample after a trial has all of its packets)."""
        try:
            with open(self.load_file()) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def launch(self, argv):
        self.log = open(os.path.join(self.logdir, f"{self.name}.log"), "a")
        prefix = ["ip", "netns", "exec", NS_DUT] if self.veth else []
        self.proc = subprocess.Popen(prefix + nice(self.a) + argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        started.append(self.proc)

    def start(self):
        if self.veth:
            eal = SMALL_PAGES_EAL + [f"--vdev={veth_vdev('af_packet', i, ifc)}"
                                                               for i, ifc in ((0, "dacc"), (1, "dcore"))]
            # Frames go to dacc's own MAC (no ARP answered): the kernel on gcore then sees them as
            # another host's and drops them before routing, as it does the relays' to the sink.
            link = json.loads(sh(["ip", "-j", "link", "show", "dacc"], ns=NS_DUT).stdout)
            self.dst_mac = link[0]["address"]
        else:
            eal = self.a.memif["server_eal"]
            for i in (0, 1):
                try:
                    os.unlink(f"{RUN_DIR}/memif{i}.sock")  # a previous instance's
                except FileNotFoundError:
                    pass
        try:
            os.unlink(self.load_file())  # a previous instance's
        except FileNotFoundError:
            pass
        self.launch([self.a.memif_fwd, "-l", f"{GEN_CPU},{DUT_CPU}", "--no-pci",
                     f"--file-prefix=sfb-{'wire' if self.veth else 'memif'}", "--log-level=*:error"] +
                    eal + ["--", "--mode", self.mode, "--streams", str(self.a.streams), "--duration", "900",
                           "--load-file", self.load_file()])
        log_path = os.path.join(self.logdir, f"{self.name}.log")
        if self.veth:
            wait_until(lambda: "forwarding on lcore" in open(log_path).read(), 20, self.proc, "memif_fwd")
        else:
            wait_until(lambda: all(os.path.exists(f"{RUN_DIR}/memif{i}.sock") for i in (0, 1)), 20, self.proc,
                       "memif_fwd")
            time.sleep(0.5)  # the socket file exists from bind(), before listen()
        self.streams = [{"src": f"{MEDIA_SRC}:{SRC_PORT + 2 * i}", "relay_addr": DUT_ACC,
                         "relay_port": 20000 + 2 * i} for i in range(self.a.streams)]
        self.write_streams()
        say(f"{self.name} (pid {self.proc.pid}): forwarding lcore on CPU {DUT_CPU}")


def relay_scheduling_args(a):
    """rtpengine's own options for the scheduling class sipferry's worker gets from its config
    (worker_scheduling, worker_priority): both relays' forwarding threads in the same class."""
    if a.relay_scheduling == "normal":
        return []
    return [f"--scheduling={a.relay_scheduling}", f"--priority={a.relay_priority}"]
