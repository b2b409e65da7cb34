"""The lab of the system benchmark (run.py): the topology's names and addresses, the two network
namespaces and their veth pairs (built here, and torn down again by PID whatever happens), the
kernel's drop rules, the DPDK vdev and EAL arguments of the veth and memif ports, how sfgen is
started on them, and small helpers for processes and the machine. Everything that changes the
machine lives here; nothing here measures (trials.py) or decides what runs (run.py)."""
import json
import os
import shutil
import signal
import subprocess
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

# Popen objects of the daemons this run started (stopped by PID in teardown). One list for the
# whole run: relays.py imports it by name, so it is changed in place and never rebound.
started = []


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
    for d in ("/var/run/dpdk/sfb-dut", "/var/run/dpdk/sfb-memif", "/var/run/dpdk/sfb-wire"):
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


# ---- processes and the machine ----------------------------------------------------------


def wait_until(pred, seconds, proc=None, what=""):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode} while starting")
        if pred():
            return
        time.sleep(0.25)
    raise RuntimeError(f"{what} not ready after {seconds} s")


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


def nice(a):
    return ["nice", "-n", str(a.nice)] if a.nice else []


def hugepages_free_mb():
    """Free hugepage memory of the default size, in MB (0 when the machine has none reserved)."""
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            info[k] = v.split()
    return int(info.get("HugePages_Free", ["0"])[0]) * int(info.get("Hugepagesize", ["0"])[0]) // 1024
