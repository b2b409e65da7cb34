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
sfgen as memif client, same search) and on net_ring (bench_ring_io). docs/benchmarks.md.

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
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

NS_GEN, NS_DUT = "sfb-gen", "sfb-dut"
LINKS = (("gacc", "dacc"), ("gcore", "dcore"))
CALLER, CALLEE = "203.0.113.10", "203.0.113.140"        # kernel addresses of the SIP UAs (sfb-gen)
MEDIA_SRC, SINK = "203.0.113.20", "203.0.113.150"      # sfgen's own addresses
DUT_ACC, DUT_CORE = "203.0.113.1", "203.0.113.129"
SRC_PORT, SINK_PORT = 30000, 40000
RUN_DIR = "/run/sfb-bench"
# Hugepage memory the net_ring phase needs to run on hugepages: the 1M-entry table of random ports
# (~516 MB of 32 KB pages) and the mbufs, with room to spare.
RING_HUGE_MB = 1024
# ... and the memif phase's: sfgen's 300 MB and memif_fwd's 256 MB, both running at once.
MEMIF_HUGE_MB = 600
NG_ADDR = "127.0.0.1:2223"
GEN_CPU, DUT_CPU = 0, 1
# EAL memory of every DPDK process here that runs without hugepages (as CI has none).
SMALL_PAGES_EAL = ["--no-huge", "--no-shconf", "-m", "512"]

started = []  # Popen objects of the daemons this run started (stopped by PID in cleanup)


class interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise interrupted(f"signal {signum}")


def sh(argv, timeout=30, check=True, capture=True, ns=None):
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    r = subprocess.run(argv, capture_output=capture, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {(r.stderr or '')[-1500:]}")
    return r


def say(msg):
    print(f"[system] {msg}", flush=True)


# ---- namespaces -------------------------------------------------------------------------

def ns_list():
    r = sh(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in (r.stdout or "").splitlines() if line.strip()]


def stop_pid(pid, name, grace=5.0):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + grace
    while time.monotonic() < end:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.1)
    say(f"{name} (pid {pid}) still alive after {grace:.0f} s: SIGKILL")
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def teardown():
    """Stops what this run started, then anything left inside our own sfb-* namespaces (a crashed
    earlier run of this harness), deletes the namespaces and our DPDK runtime dirs. Idempotent."""
    while started:
        p = started.pop()
        if p.poll() is None:
            stop_pid(p.pid, p.args[0] if isinstance(p.args, list) else "process")
    for ns in (NS_GEN, NS_DUT):
        if ns not in ns_list():
            continue
        r = sh(["ip", "netns", "pids", ns], check=False)
        for pid in (r.stdout or "").split()[:64]:
            stop_pid(int(pid), f"process in {ns}", grace=3.0)
        sh(["ip", "netns", "del", ns], check=False)
    for d in ("/var/run/dpdk/sfb-dut", "/var/run/dpdk/sfb-memif"):
        shutil.rmtree(d, ignore_errors=True)
    if os.path.isdir("/var/run/dpdk"):
        for d in os.listdir("/var/run/dpdk"):
            if d.startswith("sfb-gen-"):
                shutil.rmtree(os.path.join("/var/run/dpdk", d), ignore_errors=True)


def setup_namespaces():
    for ns in (NS_GEN, NS_DUT):
        sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "set", "lo", "up"], ns=ns)
        for key in ("all", "default"):
            sh(["sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"], ns=ns)
        # Answer ARP only for addresses of the interface asked on: sfgen owns the others.
        sh(["sysctl", "-qw", "net.ipv4.conf.all.arp_ignore=1"], ns=ns)
    for gen_if, dut_if in LINKS:
        # One queue per end: veth now gets one RX/TX queue per CPU by default, and an af_xdp port
        # binds one queue (0); frames the kernel's SIP UAs send could land on another queue and
        # pass the XDP program to the (address-less) kernel stack instead of the relay.
        one_q = ["numtxqueues", "1", "numrxqueues", "1"]
        sh(["ip", "link", "add", gen_if, "netns", NS_GEN] + one_q + ["type", "veth", "peer", "name", dut_if,
                                                                    "netns", NS_DUT] + one_q)
        for ns, ifc in ((NS_GEN, gen_if), (NS_DUT, dut_if)):
            sh(["sysctl", "-qw", f"net.ipv6.conf.{ifc}.disable_ipv6=1"], ns=ns, check=False)
            # Complete checksums on the wire: af_packet hands frames over as the kernel built them.
            sh(["ethtool", "-K", ifc, "tx", "off"], ns=ns, check=False)
            sh(["ip", "link", "set", ifc, "up"], ns=ns)
    sh(["ip", "addr", "add", f"{CALLER}/25", "dev", "gacc"], ns=NS_GEN)
    sh(["ip", "addr", "add", f"{CALLEE}/25", "dev", "gcore"], ns=NS_GEN)


# Frames that an af_packet socket takes (sfgen's sink on gcore; sipferry's ports, whose kernel
# interfaces have no address) also go up the kernel's IPv4 stack, which routes each one, finds no
# route, allocates a dst to say so and frees it after an RCU grace period: about 9% of each CPU at
# 220k pps (perf, 2026-12-06). A raw-table DROP ends them at the PREROUTING hook, after the
# af_packet taps have copied them (the default; --no-kernel-drop leaves them to the stack).
SINK_DROP = ["-i", "gcore", "-d", SINK]
PORT_DROPS = (["-i", "dacc"], ["-i", "dcore"])


def kernel_drop(ns, rules, on):
    for rule in rules:
        sh(["iptables", "-t", "raw", "-I" if on else "-D", "PREROUTING"] + rule + ["-j", "DROP"], ns=ns, check=on)


def dut_kernel_addresses(on):
    for ifc, addr in (("dacc", DUT_ACC), ("dcore", DUT_CORE)):
        if on:
            sh(["ip", "addr", "add", f"{addr}/25", "dev", ifc], ns=NS_DUT)
        else:
            sh(["ip", "addr", "flush", "dev", ifc], ns=NS_DUT, check=False)


# ---- the generator ----------------------------------------------------------------------

VETH_PMDS = ("af_packet", "af_xdp")


def veth_vdev(pmd, index, ifc):
    """The DPDK vdev spec of one veth end. af_xdp: one XSK on the veth's only queue (queue 0);
    the PMD attaches libxdp's default program (redirect queue 0 to the socket) in native
    (driver) mode and removes it on close; veth has no zero-copy, so the kernel copies each
    frame into the UMEM (the mbuf pool itself). af_packet: a 64 MB TPACKET ring (32768 frames
    of 2048 bytes), deep enough for a relay descheduled for tens of ms on a shared box."""
    if pmd == "af_xdp":
        # busy_budget=0: no SO_PREFER_BUSY_POLL. With the PMD's default (64) the veth's NAPI is
        # left to the socket owner's recvfrom() (one syscall per empty rx_burst); here that
        # made closing a port take ~2.5 s and the sfgen runs 2-4x longer, with stalls of
        # hundreds of ms. Without it the veth's NAPI runs in softirq on the sending CPU.
        return f"net_af_xdp{index},iface={ifc},start_queue=0,queue_count=1,busy_budget=0"
    return f"net_af_packet{index},iface={ifc},qpairs=1,blocksz=4096,framesz=2048,framecnt=32768"


def xdp_detach(ns, ifaces):
    """Removes any XDP program left on our veth ends (a relay or sfgen killed before it closed
    its af_xdp port leaves libxdp's program attached; the kernel stack then still gets the
    frames, XDP_PASS, but the next phase should start from a clean interface)."""
    for ifc in ifaces:
        sh(["ip", "link", "set", "dev", ifc, "xdp", "off"], ns=ns, check=False)


def memif_setup(zero_copy, huge, ring_log2=None):
    """The memif phase's EAL memory arguments and ports, for memif_fwd (the server) and sfgen
    (the client).

    zero_copy: sfgen hands memif_fwd its own mbufs (net_memif `zero-copy=yes`, which needs
    --single-file-segments so the server can map sfgen's memory) instead of copying every frame
    into the shared region and back out (~45% of its core in copy mode, ~33% with zero copy). The
    server copies in either mode (a memif server always does), so io forwarding and the relay pay
    the same I/O.

    Rings of 2^12 with zero copy (2^14 in copy mode, whose rings hold no mbufs): a zero-copy
    client fills each RX ring with its own mbufs up front and its TX ring holds each frame until
    the server took it, so its rings must fit sfgen's 16383-mbuf pool. 2^14 with a pool of 65535
    was tried and was worse here (io forwarding 6.5 Mpps at most, p99 5 ms; 2^12: 10 Mpps): the
    frames in flight spread over 150 MB instead of 40. The price of the shallower ring: a stall of
    the forwarder longer than 4096 frames' time (1.3 ms at 3 Mpps) loses a burst.

    huge: both on hugepages (--in-memory: no files left behind), as production runs; else 4 KiB
    pages as CI. ring_log2 (--memif-ring-size): another ring size than those, 2^10..2^14 (with
    zero copy at most 2^12, for sfgen's pool)."""
    def mem(mb):
        return ["--in-memory", "-m", str(mb)] if huge else SMALL_PAGES_EAL
    rsize = ring_log2 or (12 if zero_copy else 14)
    port = f"socket-abstract=no,id=0,rsize={rsize}"
    return {"zero_copy": zero_copy, "hugepages": huge, "ring_size": 1 << rsize,
            "server_eal": mem(256) + [f"--vdev=net_memif{i},role=server,socket={RUN_DIR}/memif{i}.sock,{port}"
                                      for i in (0, 1)],
            "client_eal": mem(300) + (["--single-file-segments"] if zero_copy else []) +
                          [f"--vdev=net_memif{i},role=client,socket={RUN_DIR}/memif{i}.sock,{port}"
                           f"{',zero-copy=yes' if zero_copy else ''}" for i in (0, 1)]}


def sfgen_argv(a, extra, memif=False, dst_mac=None):
    """sfgen on CPU 0: on the veth ends in sfb-gen (--gen-pmd: af_xdp or af_packet; --gen-tx-pmd
    for the sending end, gacc), or as the memif client of memif_fwd (a.memif, memif_setup). dst_mac:
    send there without ARP (a forwarder that answers none)."""
    if memif:
        ports = a.memif["client_eal"]
        prefix = []
        extra = extra + ["--dst-mac", "02:00:00:00:00:01"]  # io forwarding answers no ARP
    else:
        ports = SMALL_PAGES_EAL + [f"--vdev={veth_vdev(a.gen_tx_pmd, 0, 'gacc')}",
                                   f"--vdev={veth_vdev(a.gen_pmd, 1, 'gcore')}"]
        prefix = ["ip", "netns", "exec", NS_GEN]
        extra = extra + (["--dst-mac", dst_mac] if dst_mac else [])
    eal = ["-l", str(GEN_CPU), "--no-pci", f"--file-prefix=sfb-gen-{os.getpid()}", "--log-level=*:error"] + ports
    return (prefix + nice(a) + [a.sfgen] + eal +
            ["--", "--tx-port", "0", "--rx-port", "1", "--tx-ip", MEDIA_SRC, "--rx-ip", SINK] + extra)


def garp(a):
    """Announces the sink's address, so that sipferry's neighbour table has its MAC when the
    callee's SDP names it (it learns from gratuitous ARP; nothing else tells it before RTP flows)."""
    r = subprocess.run(sfgen_argv(a, ["--garp-only", "--deadline", "10"]), capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"sfgen --garp-only: {r.stderr[-1500:]}")
    if "af_xdp" in (a.gen_pmd, a.gen_tx_pmd):
        xdp_detach(NS_GEN, ("gacc", "gcore"))  # sfgen closes its ports; this is for an older sfgen


def veth_drops():
    """Drop counters of our veth ends (kernel view), to tell where a trial's loss happened."""
    out = {}
    for ns in (NS_GEN, NS_DUT):
        r = sh(["ip", "-s", "-j", "link", "show"], ns=ns, check=False)
        try:
            for link in json.loads(r.stdout or "[]"):
                st = link.get("stats64") or link.get("stats") or {}
                if link.get("ifname") != "lo":
                    out[link["ifname"]] = {"rx_dropped": st.get("rx", {}).get("dropped", 0),
                                           "tx_dropped": st.get("tx", {}).get("dropped", 0)}
        except ValueError:
            pass
    return out


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
    load_note = (f"  busy {wl['busy_ns_per_packet']:.0f} ns/pkt ({fmt(wl['busy_share_of_traffic'], '{:.0%}')} of the "
                 f"traffic's time, {fmt(wl['packets_per_busy_poll'], '{:.1f}')} pkt/poll)"
                 if wl and wl["busy_ns_per_packet"] else "")
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


def load_delta(before, after, traffic_s):
    """The forwarding lcore's load over one trial, from its counters (dataplane/stats.hh,
    charge_iteration) read before and after the sfgen run: busy ns per packet it received,
    packets per busy poll (32, the burst: it was at its limit), and its busy time over the
    traffic window (warm-up + trial). None without counters (rtpengine) or across a restart."""
    if not before or not after or not after.get("tsc_hz"):
        return None
    d = {k: after[k] - before[k] for k in LOAD_KEYS}
    if any(v < 0 for v in d.values()):
        return None
    busy_s = d["busy_cycles"] / after["tsc_hz"]
    return {"rx_packets": d["rx_packets"], "busy_polls": d["busy_polls"], "busy_s": busy_s,
            "busy_ns_per_packet": busy_s * 1e9 / d["rx_packets"] if d["rx_packets"] else None,
            "packets_per_busy_poll": d["rx_packets"] / d["busy_polls"] if d["busy_polls"] else None,
            "busy_share_of_traffic": busy_s / traffic_s if traffic_s > 0 else None}


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


# ---- the relays -------------------------------------------------------------------------

def wait_until(pred, seconds, proc=None, what=""):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode} while starting")
        if pred():
            return
        time.sleep(0.25)
    raise RuntimeError(f"{what} not ready after {seconds} s")


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
        return dict({k: sum(w[k] for w in workers) for k in LOAD_KEYS}, tsc_hz=st.get("worker_clock_hz"))

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
    return out


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


def timer_slack(pid):
    """1 us timer slack for every thread of pid: the default 50 us would stretch each idle
    sleep of the worker (rte_delay_us_sleep) far beyond what was asked."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            # Only /proc/TID has the file (not /proc/PID/task/TID); it sets that one thread.
            with open(f"/proc/{tid}/timerslack_ns", "w") as f:
                f.write("1000")
    except OSError as e:
        say(f"timer slack of pid {pid} not set: {e}")


def relay_scheduling_args(a):
    """rtpengine's own options for the scheduling class sipferry's worker gets from its config
    (worker_scheduling, worker_priority): both relays' forwarding threads in the same class."""
    if a.relay_scheduling == "normal":
        return []
    return [f"--scheduling={a.relay_scheduling}", f"--priority={a.relay_priority}"]


def nice(a):
    return ["nice", "-n", str(a.nice)] if a.nice else []


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


def hugepages_free_mb():
    """Free hugepage memory of the default size, in MB (0 when the machine has none reserved)."""
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            info[k] = v.split()
    return int(info.get("HugePages_Free", ["0"])[0]) * int(info.get("Hugepagesize", ["0"])[0]) // 1024


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


# ---- report -----------------------------------------------------------------------------

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


def fixed_summary(rep):
    """Per rate (in the order first run): the trials, how many failed (loss, duplicates, a
    limited generator or a standing queue), packets sent and lost, and the median of the trials'
    p50, p99, p99.9 and max in us, with each trial's p99 (their spread is the noise to read the
    medians by) and the relay process's median CPU seconds per trial."""
    if not rep or "fixed" not in rep:
        return None
    by_rate = {}
    for t in rep["fixed"]:
        by_rate.setdefault(t["rate_pps"], []).append(t)
    out = []
    for rate, ts in by_rate.items():
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
                                                   for t in ts]})
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


def main():
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
                    help="no search on memif: --fixed-repeats trials at these rates (e.g. 2M,4M), io forwarding "
                         "and the relay alike; each trial's busy ns per packet tells a slow core from a queue")
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
    a = ap.parse_args()
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

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = tempfile.mkdtemp(prefix="sfb-system-")
    os.makedirs(RUN_DIR, exist_ok=True)
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
    rc = 0
    try:
        teardown()
        setup_namespaces()
        if a.kernel_drop:
            kernel_drop(NS_GEN, [SINK_DROP], True)  # sfgen reads the sink's frames itself, every relay alike
        say(f"namespaces {NS_GEN}, {NS_DUT} up; logs in {logdir}")
        # rtpengine first: sipferry then also runs one trial at rtpengine's half-load rate, so
        # that the latencies are compared at the same offered load as well.
        errors = {}

        def phase(name, fn, *args, **kw):
            # A phase that fails is reported and the others still run: one run, all figures it can get.
            try:
                return fn(*args, **kw)
            except (interrupted, KeyboardInterrupt):
                raise
            except Exception as e:  # noqa: BLE001
                say(f"{name} phase failed: {e}")
                errors[name] = str(e)
                return None

        # The box is shared: what else runs changes from minute to minute. --rounds N repeats the
        # pair (rtpengine, then sipferry) N times and reports each round and the medians.
        rounds = []
        for k in range(a.rounds):
            if a.rounds > 1:
                say(f"round {k + 1} of {a.rounds}")
            rtpe = None if a.skip_rtpengine else phase(f"rtpengine[{k}]", run_rtpengine, a, logdir)
            # (with --fixed-rates every veth phase runs the same rates and there is no search)
            rtpe_half = rtpe and "search" in rtpe and rtpe["search"]["zero_loss_pps"] / 2
            wire = None if a.skip_wire else phase(f"wire[{k}]", run_wire, a, logdir, also_at=rtpe_half or None)
            sips = {}
            # With several PMDs, each round starts with the next one (drift of the box's load
            # over the run does not favour one driver).
            for pmd in a.veth_pmds[k % len(a.veth_pmds):] + a.veth_pmds[:k % len(a.veth_pmds)]:
                sips[pmd] = None if a.skip_sipferry else phase(f"sipferry-{pmd}[{k}]", run_sipferry, a, logdir,
                                                               pmd, also_at=rtpe_half or None)
            rounds.append({"sipferry": {p: sips.get(p) for p in a.veth_pmds}, "rtpengine": rtpe, "wire": wire})
        ring_info = {}
        ring = None if a.skip_ring else phase("ring", run_ring, a, logdir, ring_info)
        memif_info = {}
        memif = None if a.skip_memif else phase("memif", run_memif, a, logdir, memif_info)
        out["errors"] = errors
        if errors:
            rc = 1
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
        out["ring_mpps_per_lcore"] = ring
        out["ring_eal_memory"] = ring_info.get("eal_memory")
        out["ring_translation_ns"] = ring_info.get("translation_ns")
        memif_summ = fixed_summary if a.memif_fixed_rates else summary
        out["memif"] = {m: memif_summ(memif[m]) for m in memif} if memif else None
        out["memif_setup"] = memif_info or None
        out["memif_load_same_rate"] = same_rate_load(memif["relay"], memif["io"]) if memif else None
        out["raw"]["memif"] = memif
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
        print_table(out)
        rdir = os.path.join(ROOT, "results")
        os.makedirs(rdir, exist_ok=True)
        path = os.path.join(rdir, f"system-{stamp}.json")
        with open(path, "w") as f:
            json.dump(out, f, indent=2)
        print(f"\nwritten {os.path.relpath(path, ROOT)}")
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
    packet with the packets it found per busy poll (a slow core at ~1 packet per poll, a queue at
    ~32)."""
    print(f"\n{'net_memif, one lcore (CPU 1), fixed rates':<44} {'failed':>8}   busy ns per packet (packets per busy poll), "
          f"each trial")
    for mode, rows in out["memif"].items():
        for r in rows or []:
            each = ", ".join(f"{fmt(ns, '{:.0f}')} ({fmt(pp, '{:.1f}')})"
                             for ns, pp in zip(r["busy_ns_per_packet_each"], r["packets_per_busy_poll_each"]))
            print(f"{mode + ' at ' + fmt(r['rate_pps'] / 1e6, '{:.2f}') + ' Mpps':<44} "
                  f"{str(r['failed']) + '/' + str(r['trials']):>8}   {each}")


def print_in_process_tables(out):
    memif = out.get("memif")
    if memif and any(isinstance(v, list) for v in memif.values()):
        print_memif_fixed_table(out)
    elif memif:
        st = out.get("memif_setup") or {}
        how = (f"   (sfgen {'zero-copy' if st.get('zero_copy') else 'copy-mode'}, rings of {st.get('ring_size')}, "
               f"{'hugepages' if st.get('hugepages') else '4k pages'})" if st else "")
        print(f"\n{'net_memif, one lcore (CPU 1)':<34} {'zero-loss Mpps':>14} {'vs io forward':>14} "
              f"{'busy ns/pkt':>12} {'busy share':>11} {'pkt/poll':>9}{how}")
        base = memif.get("io") and memif["io"]["zero_loss_pps"]
        for k, v in memif.items():
            wl = v.get("load_at_zero_loss") or {}
            print(f"{k:<34} {v['zero_loss_pps'] / 1e6:>14.3f} {fmt(ratio(v['zero_loss_pps'], base), '{:.2f}x'):>14} "
                  f"{fmt(wl.get('busy_ns_per_packet'), '{:.1f}'):>12} {fmt(wl.get('busy_share_of_traffic'), '{:.0%}'):>11} "
                  f"{fmt(wl.get('packets_per_busy_poll'), '{:.1f}'):>9}")
        same = out.get("memif_load_same_rate")
        if same:
            print(f"(busy: the forwarding lcore's loop in iterations that found packets, at the zero-loss trial; "
                  f"at {same['rate_pps'] / 1e6:.2f} Mpps, the highest rate both passed, a packet cost the relay "
                  f"{same['busy_ns_per_packet'][0]:.1f} ns and io forwarding {same['busy_ns_per_packet'][1]:.1f} ns: "
                  f"{same['ratio']:.2f}x)")
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


if __name__ == "__main__":
    sys.exit(main())
