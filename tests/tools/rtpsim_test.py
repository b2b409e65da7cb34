#!/usr/bin/env python3
"""Correctness of rtpsim's RTCP (RFC 3550) and impairments: two rtpsims on 127.0.0.1 talk to each
other, RTCP on separate ports (--rtcp port) and multiplexed on the RTP port (--rtcp mux), one of
them leaving out every 10th packet (--drop-every 10). Checks, from both JSON reports:

  - each side sent at least 2 SRs and received at least 2 RTCP packets (and no more than were sent);
    RTCP counts nowhere in the RTP figures (received <= the peer's sent; with mux no RTCP payload
    type in per_pt, nothing in non_rtp);
  - the loss the lossy sender's receiver reports is exact: every report block's cumulative_lost is
    the number of sequence numbers left out up to its highest_seq, fraction_lost is
    256 * lost / expected over the interval between blocks (so about 256/10 while media flows);
    the other direction reports no loss;
  - LSR of every block is the NTP middle of an SR the peer sent; round-trip times exist and are
    0 <= rtt < 50 ms on loopback (a correctness bound: no timing assertion beyond it);
  - the blocks one side received are the ones the other sent, in order; an SR's RTP timestamp is the
    one of its NTP time on the sender's media clock; the CNAME arrives;
  - --jitter-ms: the receiver's jitter grows, nothing is reordered or lost;
  - rtcp.received_log (port, mux, xr pairs): one entry per RTCP packet of each compound (SR|RR,
    SDES[, XR]: one t/rtp_received/seq_count per datagram), each naming the peer's SSRC; SR entries'
    NTP middles are the peer's SRs and the last one last_received_sr; the blocks (ssrc, highest_seq)
    are the peer's sent blocks in order, their rtt_ms the rtt_ms list; every block's highest_seq is
    one we had sent by then (within seq_count); t, rtp_received, seq_count ascend within range; an
    SR's heard_ssrc/heard_ts is one of the peer's packets and rtp_ts is within 400 units (50 ms) of
    heard_ts + heard_age * 8000; seq_count/last_seq are the sequence numbers used;
  - the source change (mux, receive only): per_ssrc first_n is 1 for the first sender and its
    packets + 1 for the second, first_t and the transition's n/t agree; the second sender's SRs
    come after its first RTP packet by rtp_received; each sender's SRs heard with its own stream
    agree with it within 50 ms;
  - --rtcp off (the default): no rtcp object, nothing dropped, every packet arrives;
  - --xr (RFC 3611 VoIP metrics), both sides, one dropping every 10th packet: SR/RR parsing goes on
    as before (all of the above); each side sent >= 2 XR, one per report block; every XR block is
    about the peer, its loss rate is round(256 * lost / expected) of the report block sent with it
    (20..32 after the first), the clean direction has loss 0 and a better MOS-CQ; R factor and MOS
    are the E-model of the block's own loss rate and round trip; MOS-CQ <= MOS-LQ, MOS 10..50; the
    XR blocks one side received are the ones the other sent, in order;
  - --xr on the wire: a plain socket talks to an rtpsim (--rtcp mux --xr), leaves out 3 of its RTP
    packets and answers the first SR with an RR that makes the RTT about 400 ms; every compound it
    gets is parsed here byte by byte (lengths add up, XR last after the SDES, every fixed field of
    RFC 3611 4.7 as specified), the loss rate matches the report block in the same datagram and the
    round trip is about 400 ms once measured. One XR compound is printed in hex.

  rtpsim_test.py PATH/TO/rtpsim
"""
import json
import math
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

FAILS = []
HOST = "127.0.0.1"
COUNT = 400  # packets per side, 5 ms apart: 2 s of media
INTERVAL = 0.005
TS_STEP = 40  # 5 ms at 8000 Hz: the media clock matches the pacing
PAYLOAD = 160
START_DELAY = 0.3
DROP_EVERY = 10
RTCP_MUX_TYPES = {str(pt) for pt in range(72, 77)}
LIST_MAX = 16  # rtpsim's bound of its report lists (sent_sr_ntp_middle, rtt_ms, ...)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)


def free_port_pairs(n):
    """n ports p on 127.0.0.1 with p and p + 1 both free (held while choosing, so all distinct)."""
    held, ports = [], []
    try:
        for _ in range(200):
            if len(ports) == n:
                break
            s1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s1.bind((HOST, 0))
            p = s1.getsockname()[1]
            held.append(s1)
            if p >= 65535:
                continue
            s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s2.bind((HOST, p + 1))
            except OSError:
                s2.close()
                continue
            held.append(s2)
            ports.append(p)
    finally:
        for s in held:
            s.close()
    if len(ports) != n:
        raise SystemExit("FAIL no free port pairs on 127.0.0.1")
    return ports


def run_sims(exe, tmp, name, sides):
    """sides: {side: [args]}, run together (each bounded by --max-seconds and a wait timeout);
    returns {side: report} or None when one is missing."""
    procs = []
    for side, args in sides.items():
        cmd = [sys.executable, exe, "--interval", str(INTERVAL), "--ts-step", str(TS_STEP),
               "--payload-size", str(PAYLOAD), "--max-seconds", "15",
               "--report", os.path.join(tmp, f"{name}-{side}.json"), "--quiet"] + args
        procs.append(subprocess.Popen(cmd))
    for p in procs:
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()  # our own child, by its PID
            p.wait(timeout=10)
            rc = "timeout"
        check(rc == 0, f"{name}: rtpsim pid {p.pid} exit status 0 (got {rc})")
    reps = {}
    for side in sides:
        try:
            with open(os.path.join(tmp, f"{name}-{side}.json")) as f:
                reps[side] = json.load(f)
        except (OSError, ValueError) as e:
            check(False, f"{name}: report of side {side} ({e})")
            return None
    return reps


def run_pair(exe, tmp, name, a_extra, b_extra):
    """Side a and side b against each other; returns their reports (None when one is missing)."""
    pa, pb = free_port_pairs(2)
    common = ["--count", str(COUNT), "--start-delay", str(START_DELAY), "--linger", "0.8"]
    reps = run_sims(exe, tmp, name, {"a": ["--bind", f"{HOST}:{pa}", "--to", f"{HOST}:{pb}"] + common + a_extra,
                                     "b": ["--bind", f"{HOST}:{pb}", "--to", f"{HOST}:{pa}"] + common + b_extra})
    return (reps["a"], reps["b"], pa, pb) if reps else (None, None, pa, pb)


def drops_upto(idx, every=DROP_EVERY):
    """Sequence numbers left out by --drop-every among the sender's packets 0..idx."""
    return (idx + 1) // every


def check_rtp_clean(name, rx, tx, mode, tx_port):
    """RTCP counts nowhere in rx's RTP figures (tx: the peer's report)."""
    check(rx["received"] <= tx["sent"], f"{name}: {rx['bind']} received RTP {rx['received']} <= peer's sent {tx['sent']}")
    check(rx["received"] >= tx["sent"] * 9 // 10, f"{name}: {rx['bind']} received most of the peer's RTP ({rx['received']})")
    check(set(rx["per_pt"]) == {"0"} and not (set(rx["per_pt"]) & RTCP_MUX_TYPES),
          f"{name}: {rx['bind']} per_pt only PT 0, no RTCP types ({rx['per_pt']})")
    check(rx["non_rtp"] == 0, f"{name}: {rx['bind']} non_rtp == 0 (got {rx['non_rtp']})")
    check(rx["ssrcs"] == [tx["ssrc"]], f"{name}: {rx['bind']} RTP from the peer's SSRC only")
    check(set(rx["received_from"]) == {f"{HOST}:{tx_port}"}, f"{name}: {rx['bind']} RTP from {HOST}:{tx_port} only")
    r = rx["rtcp"]
    rtcp_port = tx_port if mode == "mux" else tx_port + 1
    check(set(r["received_from"]) == {f"{HOST}:{rtcp_port}"}, f"{name}: {rx['bind']} RTCP from {HOST}:{rtcp_port} only "
          f"({r['received_from']})")


def check_rtcp_side(name, me, peer):
    r, pr = me["rtcp"], peer["rtcp"]
    who = f"{name}: {me['bind']}"
    check(r["sent_sr"] >= 2, f"{who} sent >= 2 SRs ({r['sent_sr']})")
    check(r["received"] >= 2, f"{who} received >= 2 RTCP packets ({r['received']})")
    check(r["received_sr"] >= 2, f"{who} received >= 2 SRs ({r['received_sr']})")
    check(r["received"] <= pr["sent_sr"] + pr["sent_rr"], f"{who} received no more RTCP than the peer sent")
    check(r["malformed"] == 0 and r["send_errors"] == 0, f"{who} no malformed RTCP, no RTCP send errors")
    check(r["received_sr"] + r["received_rr"] == r["received"], f"{who} each RTCP packet an SR or an RR")
    check(r["peer_cname"] == f"rtpsim@{HOST}", f"{who} peer CNAME rtpsim@{HOST} ({r['peer_cname']})")
    check(r["received_blocks"] == pr["sent_blocks"][:len(r["received_blocks"])] and r["received_blocks"],
          f"{who} received blocks are the peer's sent blocks, in order ({len(r['received_blocks'])})")
    check(r["received_blocks_total"] <= pr["sent_blocks_total"], f"{who} received no more blocks than the peer sent")
    # LSR: the middle 32 bits of one of our SRs (the blocks the peer sent are about us).
    lsrs = [b["lsr"] for b in pr["sent_blocks"] if b["lsr"] != 0]
    check(lsrs and all(x in r["sent_sr_ntp_middle"] for x in lsrs),
          f"{who} LSR of the peer's blocks ({len(lsrs)}) are NTP middles of our SRs")
    check(all(b["source_ssrc"] == me["ssrc"] for b in pr["sent_blocks"]), f"{who} the peer's blocks are about our SSRC")
    rtt = r["rtt_ms"]
    check(rtt and all(0 <= x < 50 for x in rtt), f"{who} round-trip times 0 <= rtt < 50 ms ({rtt})")
    # The SR our peer received last: its counts and its RTP timestamp on our media clock.
    sr = pr["last_received_sr"]
    check(sr is not None and sr["ssrc"] == me["ssrc"], f"{who} our last SR reached the peer")
    if sr:
        check(sr["packet_count"] <= me["sent"] and sr["octet_count"] == sr["packet_count"] * PAYLOAD,
              f"{who} SR counts: {sr['packet_count']} packets, {sr['octet_count']} octets")
        ws = int((me["run_start"] + 2208988800) * 65536) & 0xFFFFFFFF  # NTP middle at our start
        elapsed = ((sr["ntp_middle"] - ws) & 0xFFFFFFFF) / 65536.0 - START_DELAY  # since packet 0 was due
        want = (me["first_ts"] + round(elapsed * TS_STEP / INTERVAL)) & 0xFFFFFFFF
        diff = ((sr["rtp_ts"] - want + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        check(abs(diff) <= 2, f"{who} SR RTP timestamp is the one of its NTP time (off by {diff})")


def s32(x):
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def sr_ts_error(e):
    """An SR entry of rtcp.received_log: its RTP timestamp minus the media clock it implies from the
    stream heard (heard_ts + heard_age * 8000), in timestamp units."""
    return s32(e["rtp_ts"] - (e["heard_ts"] + round(e["heard_age"] * 8000)))


def check_seq_range(name, me):
    """seq_count and last_seq: the sequence numbers used (sent or left out), first_seq .. last_seq."""
    check(me["seq_count"] == COUNT == me["sent"] + me["dropped"]
          and me["last_seq"] == (me["first_seq"] + COUNT - 1) & 0xFFFF,
          f"{name}: {me['bind']} seq_count {me['seq_count']} == sent + dropped, last_seq {me['last_seq']} == "
          f"first_seq {me['first_seq']} + {COUNT - 1}")


def check_received_log(name, me, peer, per_compound=2):
    """me's rtcp.received_log against what the peer sent (a pair on loopback, nothing lost): one
    entry per packet of each compound (SR/RR, SDES[, XR]), all naming the peer's SSRC; SR NTP
    middles are the peer's SRs in order; the blocks (SSRC, highest_seq) the peer's sent blocks in
    order, their rtt_ms the rtt_ms list; highest_seq within what we had sent by then; t,
    rtp_received, seq_count in order and in range; an SR's heard_* the peer's packet heard last,
    its timestamp the SR's media clock within 50 ms."""
    r, pr = me["rtcp"], peer["rtcp"]
    who = f"{name}: {me['bind']} received_log"
    log = r["received_log"]
    check(r["received_log_total"] == len(log) and len(log) >= 2 * per_compound,
          f"{who} has every packet ({len(log)} of {r['received_log_total']})")
    # One compound per datagram: SR or RR first, then the SDES, then (--xr, with a block) an XR.
    groups, cur = [], None
    for e in log:
        if e["pt"] in (200, 201):
            cur = [e]
            groups.append(cur)
        elif cur is not None:
            cur.append(e)
    shape_ok = (len(groups) == r["received"] and sum(len(g) for g in groups) == len(log)
                and all([e["pt"] for e in g][1:] in ([202], [202, 207]) for g in groups)
                and all(len({(e["t"], e["rtp_received"], e["seq_count"]) for e in g}) == 1 for g in groups))
    check(shape_ok, f"{who}: one group per datagram ({len(groups)} of {r['received']}), SR|RR then SDES [XR], "
          f"one t/rtp_received/seq_count per group ({[e['pt'] for e in log][:12]})")
    check(all(e["ssrc"] == peer["ssrc"] for e in log), f"{who}: every packet's sender SSRC is the peer's "
          f"({sorted({hex(e['ssrc'] or 0) for e in log})})")
    srs = [e for e in log if e["pt"] == 200]
    check(len(srs) == r["received_sr"] and sum(e["pt"] == 201 for e in log) == r["received_rr"],
          f"{who}: {len(srs)} SR and {r['received_rr']} RR entries, as counted")
    ntps = [e["ntp_middle"] for e in srs]
    check(ntps and ntps[:LIST_MAX] == pr["sent_sr_ntp_middle"][:len(ntps[:LIST_MAX])],
          f"{who}: SR NTP middles are the peer's SRs, in order")
    lr = r["last_received_sr"]
    check(srs and lr and (srs[-1]["ssrc"], srs[-1]["rtp_ts"], srs[-1]["ntp_middle"]) ==
          (lr["ssrc"], lr["rtp_ts"], lr["ntp_middle"]), f"{who}: the last SR entry is last_received_sr")
    blocks = [(b, e) for e in log for b in e["blocks"]]
    mine = [(b["ssrc"], b["highest_seq"]) for b, _ in blocks]
    sent = [(b["source_ssrc"], b["highest_seq"]) for b in pr["sent_blocks"]]
    n = min(len(mine), len(sent))
    check(n >= 2 and mine[:n] == sent[:n] and len(mine) == r["received_blocks_total"]
          and [(b["source_ssrc"], b["highest_seq"]) for b in r["received_blocks"]] == mine[:len(r["received_blocks"])],
          f"{who}: blocks (ssrc, highest_seq) are the peer's sent blocks and received_blocks, in order ({n})")
    rtts = [b["rtt_ms"] for b, _ in blocks if b["rtt_ms"] is not None]
    check(rtts and rtts[:LIST_MAX] == r["rtt_ms"] and len(rtts) == r["rtt_total"],
          f"{who}: block rtt_ms are rtt_ms, in order ({len(rtts)} of {r['rtt_total']})")
    # A block's highest_seq (low 16 bits) is one we had sent when its packet arrived.
    window = [((b["highest_seq"] - me["first_seq"]) & 0xFFFF, e["seq_count"]) for b, e in blocks]
    check(all(b["ssrc"] == me["ssrc"] for b, _ in blocks) and all(0 <= d < c for d, c in window),
          f"{who}: blocks about us, highest_seq - first_seq within the seq_count of then ({window[:6]})")
    ts = [e["t"] for e in log]
    rx = [e["rtp_received"] for e in log]
    tx = [e["seq_count"] for e in log]
    check(ts == sorted(ts) and 0 <= ts[0] and ts[-1] <= me["run_seconds"] and rx == sorted(rx)
          and rx[-1] <= me["received"] and tx == sorted(tx) and tx[-1] <= me["seq_count"],
          f"{who}: t (0..{me['run_seconds']}), rtp_received (<= {me['received']}), seq_count (<= {me['seq_count']}) "
          f"in order")
    heard_ok = True
    for e in srs:
        if e["rtp_received"] == 0:
            heard_ok &= e["heard_ssrc"] is None and e["heard_ts"] is None and e["heard_age"] is None
            continue
        k = ((e["heard_ts"] - peer["first_ts"]) & 0xFFFFFFFF)
        heard_ok &= (e["heard_ssrc"] == peer["ssrc"] and k % TS_STEP == 0 and k // TS_STEP < peer["seq_count"]
                     and 0 <= e["heard_age"] <= e["t"])
    check(heard_ok, f"{who}: SR heard_ssrc/heard_ts are a packet of the peer's, heard_age >= 0")
    errs = [sr_ts_error(e) for e in srs if e["heard_ts"] is not None]
    check(errs and all(abs(x) <= 400 for x in errs),
          f"{who}: SR rtp_ts - (heard_ts + heard_age * 8000) within 400 units (50 ms) ({errs})")


def check_loss(name, rx, tx, lossy):
    """rx's blocks about tx: exact cumulative and interval loss (tx drops every 10th when lossy)."""
    r = rx["rtcp"]
    who = f"{name}: {rx['bind']} about {'lossy' if lossy else 'lossless'} {tx['bind']}"
    check(tx["dropped"] == (COUNT // DROP_EVERY if lossy else 0) and tx["sent"] == COUNT - tx["dropped"],
          f"{who}: sender dropped {tx['dropped']}, sent {tx['sent']}")
    first = rx["seq_steps"].get(str(tx["ssrc"]), {}).get("first_seq")
    check(first == tx["first_seq"], f"{who}: the receiver heard the sender's first packet")
    blocks = r["sent_blocks"]
    check(len(blocks) >= 3 and r["sent_blocks_total"] >= len(blocks), f"{who}: >= 3 blocks ({len(blocks)})")
    prev_idx = prev_cum = 0  # A.1: the statistics start at packet 1 (packet 0 is the probation)
    exact_cum = exact_frac = True
    flowing = []
    for b in blocks:
        idx = (b["highest_seq"] - tx["first_seq"]) & 0xFFFF
        want_cum = drops_upto(idx) if lossy else 0
        exact_cum &= b["cumulative_lost"] == want_cum
        exp_i, lost_i = idx - prev_idx, b["cumulative_lost"] - prev_cum
        want_frac = (lost_i * 256) // exp_i if exp_i > 0 and lost_i > 0 else 0
        exact_frac &= b["fraction_lost"] == want_frac
        if b is not blocks[0] and exp_i >= 30:
            flowing.append(b["fraction_lost"])
        prev_idx, prev_cum = idx, b["cumulative_lost"]
    check(exact_cum, f"{who}: cumulative_lost == drops up to highest_seq in every block "
          f"({[b['cumulative_lost'] for b in blocks]})")
    check(exact_frac, f"{who}: fraction_lost == 256 * lost / expected per interval "
          f"({[b['fraction_lost'] for b in blocks]})")
    if lossy:
        check(flowing and all(15 <= f <= 40 for f in flowing), f"{who}: fraction_lost about 256/10 while media flows ({flowing})")
    else:
        check(all(b["fraction_lost"] == 0 and b["cumulative_lost"] == 0 for b in blocks), f"{who}: no loss reported")
    last = r["last_sent_block"]
    idx = (last["highest_seq"] - tx["first_seq"]) & 0xFFFF
    check(idx == COUNT - 1 - (1 if lossy and COUNT % DROP_EVERY == 0 else 0),
          f"{who}: the last block's highest_seq is the sender's last packet sent")
    check(last["cumulative_lost"] == (drops_upto(idx) if lossy else 0) == rx["lost_estimate"],
          f"{who}: last block cumulative_lost {last['cumulative_lost']} == dropped up to it == lost_estimate")
    check(0 <= tx["dropped"] - last["cumulative_lost"] <= 1, f"{who}: last block cumulative_lost within 1 of dropped")


def half_up(x):
    return math.floor(x + 0.5)


def emodel(loss_rate, rtt_ms):
    """(R factor, MOS-LQ x 10, MOS-CQ x 10): the E-model for G.711 with PLC, as rtpsim's docstring has it."""
    ppl = loss_rate * 100.0 / 256.0
    ie_eff = 95.0 * ppl / (ppl + 25.1)

    def r_of(d):
        return min(100.0, max(0.0, 93.2 - (0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)) - ie_eff))

    def mos(r):
        return min(4.5, max(1.0, 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)))

    r_cq = r_of(rtt_ms / 2.0 + 20.0)
    return half_up(r_cq), half_up(mos(r_of(0.0)) * 10.0), half_up(mos(r_cq) * 10.0)


def xr_block_ok(x):
    """The derived fields of one XR block are the E-model of its own loss rate and round trip."""
    return ((x["r_factor"], x["mos_lq"], x["mos_cq"]) == emodel(x["loss_rate"], x["round_trip_ms"])
            and 10 <= x["mos_cq"] <= x["mos_lq"] <= 50)


def check_xr_side(name, me, peer):
    """me's XR: one per report block, about the peer, E-model consistent; received == the peer's sent."""
    r, pr = me["rtcp"], peer["rtcp"]
    who = f"{name}: {me['bind']}"
    check(r["sent_xr"] >= 2 and r["sent_xr"] == r["sent_xr_blocks_total"] == r["sent_blocks_total"],
          f"{who} sent >= 2 XR, one VoIP metrics block with each report block ({r['sent_xr']})")
    xs = r["sent_xr_blocks"]
    check(all(x["source_ssrc"] == peer["ssrc"] for x in xs), f"{who} XR blocks are about the peer's SSRC")
    check(all(xr_block_ok(x) for x in xs), f"{who} XR R factor/MOS-LQ/MOS-CQ are the E-model of loss rate and "
          f"round trip, 10 <= MOS-CQ <= MOS-LQ <= 50 ({[(x['loss_rate'], x['round_trip_ms'], x['r_factor'], x['mos_lq'], x['mos_cq']) for x in xs]})")
    rtts = {0} | {min(0xFFFF, max(0, half_up(x))) for x in r["rtt_ms"]}
    check(r["rtt_total"] > len(r["rtt_ms"]) or all(x["round_trip_ms"] in rtts for x in xs),
          f"{who} XR round trip is 0 or one of the RTTs measured ({[x['round_trip_ms'] for x in xs]})")
    check(r["received_xr"] >= 2 and r["received_xr"] <= pr["sent_xr"], f"{who} received >= 2 XR ({r['received_xr']})")
    got = r["received_xr_blocks"]
    check(got and got == pr["sent_xr_blocks"][:len(got)] and r["received_xr_blocks_total"] <= pr["sent_xr_blocks_total"],
          f"{who} received XR blocks are the peer's sent XR blocks, in order ({len(got)})")


def check_xr_loss(name, rx, tx, lossy):
    """rx's XR blocks about tx: the loss rate of the report block sent at the same instant."""
    r = rx["rtcp"]
    who = f"{name}: {rx['bind']} about {'lossy' if lossy else 'lossless'} {tx['bind']}"
    pairs = list(zip(r["sent_blocks"], r["sent_xr_blocks"]))
    exact = True
    for b, x in pairs:
        expected = (b["highest_seq"] - tx["first_seq"]) & 0xFFFF  # A.1: from packet 1 to highest_seq
        want = min(255, (512 * b["cumulative_lost"] + expected) // (2 * expected)) if expected > 0 else 0
        exact &= x["loss_rate"] == want
    rates = [x["loss_rate"] for _, x in pairs]
    check(pairs and exact, f"{who}: XR loss rate == round(256 * cumulative_lost / expected) of the same-instant "
          f"report block ({rates})")
    if lossy:
        check(len(rates) >= 2 and all(20 <= v <= 32 for v in rates[1:]), f"{who}: XR loss rate about 256/10 ({rates})")
    else:
        check(all(v == 0 for v in rates), f"{who}: XR loss rate 0 ({rates})")


def xr_on_the_wire(exe, tmp):
    """A plain socket (SSRC 0xABCD) against rtpsim --rtcp mux --xr (SSRC 0x5151); returns one hex dump."""
    pr, pt = free_port_pairs(2)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, pt))
    rep = os.path.join(tmp, "wire.json")
    proc = subprocess.Popen([sys.executable, exe, "--bind", f"{HOST}:{pr}", "--to", f"{HOST}:{pt}", "--count", "120",
                             "--interval", "0.01", "--rtcp", "mux", "--xr", "--rtcp-interval", "0.2", "--linger", "0.4",
                             "--ssrc", "0x5151", "--max-seconds", "10", "--report", rep, "--quiet"])
    skip = {5, 6, 20}  # our packets left out (packet 0 is A.1's probation)
    n_send, seq0 = 70, 1000
    compounds = []
    sent_i, next_tx, rr_sent_at = 0, None, None
    deadline = time.monotonic() + 8
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            now = time.monotonic()
            if next_tx is not None and sent_i < n_send and now >= next_tx:
                if sent_i not in skip:
                    sock.sendto(struct.pack("!BBHII", 0x80, 0, seq0 + sent_i, 5000 + 80 * sent_i, 0xABCD) + bytes(80),
                                (HOST, pr))
                sent_i += 1
                next_tx += 0.01
            r, _, _ = select.select([sock], [], [], 0.002)
            if not r:
                continue
            data, _ = sock.recvfrom(2048)
            if next_tx is None:
                next_tx = time.monotonic()  # rtpsim is up: our stream starts
            if not (len(data) >= 8 and 72 <= (data[1] & 0x7F) <= 76):
                continue  # its RTP
            compounds.append((time.monotonic(), data))
            if rr_sent_at is None and data[1] == 200:
                # An RR about 0x5151 whose LSR is the SR's NTP middle less 0.4 s, DLSR 0: RTT about 400 ms.
                ntp_sec, ntp_frac = struct.unpack_from("!II", data, 8)
                lsr = ((((ntp_sec & 0xFFFF) << 16) | (ntp_frac >> 16)) - int(0.4 * 65536)) & 0xFFFFFFFF
                sock.sendto(struct.pack("!BBHI", 0x81, 201, 7, 0xABCD)
                            + struct.pack("!IIIIII", 0x5151, 0, 0, 0, lsr, 0), (HOST, pr))
                rr_sent_at = time.monotonic()
        rc = proc.wait(timeout=10)
        sock.setblocking(False)
        while True:  # what it sent before it ended
            try:
                data, _ = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                break
            if len(data) >= 8 and 72 <= (data[1] & 0x7F) <= 76:
                compounds.append((time.monotonic(), data))
    except subprocess.TimeoutExpired:
        proc.kill()  # our own child, by its PID
        proc.wait(timeout=10)
        rc = "timeout"
    finally:
        sock.close()
    check(rc == 0, f"wire: rtpsim exit status 0 (got {rc})")
    dump = None
    xrs = []  # (arrival, report block or None, xr fields)
    layout_ok, problems = True, []
    for arrival, data in compounds:
        off, kinds, rb, xr = 0, [], None, None
        while off + 4 <= len(data):
            b0, ptype, length = struct.unpack_from("!BBH", data, off)
            plen = (length + 1) * 4
            kinds.append(ptype)
            if ptype in (200, 201) and b0 & 0x1F:
                bo = off + (28 if ptype == 200 else 8)
                src, _, lost3, high = struct.unpack_from("!IB3sI", data, bo)
                rb = {"source_ssrc": src, "cumulative_lost": int.from_bytes(lost3, "big"), "highest_seq": high}
            if ptype == 207:
                xr = data[off:off + plen]
            off += plen
        if off != len(data):
            layout_ok = False
            problems.append(f"lengths add up to {off}, datagram {len(data)}")
            continue
        if xr is None:
            if rb is not None:
                layout_ok = False
                problems.append("a report block without an XR")
            continue
        if kinds[-1] != 207 or kinds[-2] != 202 or len(xr) != 44:
            layout_ok = False
            problems.append(f"packet types {kinds}, XR {len(xr)} octets")
            continue
        (b0, ptype, length, sender, bt, tsf, blen, src, loss, discard, bden, gden, bdur, gdur, rtt, esd, sig,
         noise, rerl, gmin, rfac, extr, moslq, moscq, rxc, resv, jbn, jbm, jba) = struct.unpack(
            "!BBHI" "BBHI" "BBBB" "HH" "HH" "BBBB" "BBBB" "BBH" "HH", xr)
        fixed = (b0, ptype, length, sender, bt, tsf, blen, discard, bden, gden, bdur, gdur, esd, sig, noise, rerl,
                 gmin, extr, rxc, resv, jbn, jbm, jba)
        want = (0x80, 207, 10, 0x5151, 7, 0, 8, 0, 0, 0, 0, 0, 0, 127, 127, 127, 16, 127, 0, 0, 0, 0, 0)
        if fixed != want or rb is None or src != 0xABCD or rb["source_ssrc"] != 0xABCD:
            layout_ok = False
            problems.append(f"fields {fixed}, source {src:#x}, report block {rb}")
            continue
        xrs.append((arrival, rb, {"loss_rate": loss, "round_trip_ms": rtt, "r_factor": rfac, "mos_lq": moslq,
                                  "mos_cq": moscq}))
        if rtt and dump is None:
            dump = data.hex()
    check(layout_ok and len(xrs) >= 2, f"wire: {len(compounds)} compounds, {len(xrs)} with XR; lengths add up, XR "
          f"(44 octets) last after the SDES, every fixed field as specified {problems[:3]}")
    exact = all(x["loss_rate"] == (512 * rb["cumulative_lost"] + ((rb["highest_seq"] - seq0) & 0xFFFF))
                // (2 * ((rb["highest_seq"] - seq0) & 0xFFFF)) for _, rb, x in xrs)
    check(exact and any(rb["cumulative_lost"] == len(skip) for _, rb, _ in xrs),
          f"wire: loss rate == round(256 * lost / expected) of the report block in the same datagram "
          f"({[(rb['cumulative_lost'], x['loss_rate']) for _, rb, x in xrs]})")
    check(all(xr_block_ok(x) for _, _, x in xrs), "wire: R factor, MOS-LQ, MOS-CQ are the E-model of the fields sent")
    after = [x for t, _, x in xrs if rr_sent_at is not None and t > rr_sent_at + 0.05]
    check(after and all(400 <= x["round_trip_ms"] <= 450 and x["mos_cq"] < x["mos_lq"] for x in after),
          f"wire: once measured, round trip about 400 ms and MOS-CQ < MOS-LQ "
          f"({[(x['round_trip_ms'], x['r_factor'], x['mos_lq'], x['mos_cq']) for x in after]})")
    try:
        with open(rep) as f:
            wr = json.load(f)["rtcp"]
        check(wr["malformed"] == 0 and wr["received_rr"] >= 1 and wr["sent_xr"] == len(xrs)
              and wr["received_xr"] == 0, f"wire: rtpsim parsed our RR, sent {wr['sent_xr']} XR")
    except (OSError, ValueError, KeyError) as e:
        check(False, f"wire: report ({e})")
    return dump


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else "tools/rtpsim"
    with tempfile.TemporaryDirectory(prefix="rtpsim-test-") as tmp:
        # 1. --rtcp port: a drops every 10th packet, b sends 0..8 ms late (--jitter-ms).
        rtcp = ["--rtcp-interval", "0.5"]
        a, b, pa, pb = run_pair(exe, tmp, "port", ["--rtcp", "port", "--drop-every", str(DROP_EVERY)] + rtcp,
                                ["--rtcp", "port", "--jitter-ms", "8"] + rtcp)
        if a and b:
            check(a["rtcp"]["mode"] == "port" and b["rtcp"]["mode"] == "port", "port: mode port")
            check_rtp_clean("port", a, b, "port", pb)
            check_rtp_clean("port", b, a, "port", pa)
            check_rtcp_side("port", a, b)
            check_rtcp_side("port", b, a)
            check_loss("port", b, a, lossy=True)
            check_loss("port", a, b, lossy=False)
            check(a["out_of_order"] == 0 and a["duplicates"] == 0, "port: --jitter-ms reorders nothing")
            check(a["rtcp"]["jitter_now"] >= 2.0 and a["rtcp"]["last_sent_block"]["jitter"] >= 2,
                  f"port: jitter of the --jitter-ms stream >= 2 units ({a['rtcp']['jitter_now']:.1f})")
            check_received_log("port", a, b)
            check_received_log("port", b, a)
            check_seq_range("port", a)
            check_seq_range("port", b)
        # 2. --rtcp mux: RTCP on the RTP sockets; b drops every 10th packet.
        a, b, pa, pb = run_pair(exe, tmp, "mux", ["--rtcp", "mux"] + rtcp,
                                ["--rtcp", "mux", "--drop-every", str(DROP_EVERY)] + rtcp)
        if a and b:
            check(a["rtcp"]["mode"] == "mux" and b["rtcp"]["mode"] == "mux", "mux: mode mux")
            check_rtp_clean("mux", a, b, "mux", pb)
            check_rtp_clean("mux", b, a, "mux", pa)
            check_rtcp_side("mux", a, b)
            check_rtcp_side("mux", b, a)
            check_loss("mux", a, b, lossy=True)
            check_loss("mux", b, a, lossy=False)
            check_received_log("mux", a, b)
            check_received_log("mux", b, a)
        # 3. The source changes (as in a transfer), --rtcp mux: a receive-only rtpsim (no --to: its
        # RTCP goes back to the media's source) hears s1 (SSRC 0x1111, drops every 5th) and then s2
        # (0x2222, from another port, lossless). Its statistics start over with s2: nothing of
        # s1's loss or interval carries over; each sender gets blocks about itself.
        pr, p1, p2 = free_port_pairs(3)
        n = 100
        send = ["--count", str(n), "--to", f"{HOST}:{pr}", "--rtcp", "mux", "--rtcp-interval", "0.3", "--linger", "0.5"]
        reps = run_sims(exe, tmp, "change", {
            "r": ["--bind", f"{HOST}:{pr}", "--count", "0", "--linger", "1.0", "--rtcp", "mux", "--rtcp-interval", "0.3"],
            "s1": ["--bind", f"{HOST}:{p1}", "--ssrc", "0x1111", "--drop-every", "5", "--start-delay", "0.3"] + send,
            "s2": ["--bind", f"{HOST}:{p2}", "--ssrc", "0x2222", "--start-delay", "1.2"] + send})
        if reps:
            r, s1, s2 = reps["r"], reps["s1"], reps["s2"]
            rr = r["rtcp"]
            check(r["received"] == s1["sent"] + s2["sent"] == n - n // 5 + n and r["non_rtp"] == 0
                  and set(r["per_pt"]) == {"0"}, f"change: receiver got all RTP of both, no RTCP among it ({r['per_pt']})")
            check(rr["sent_sr"] == 0 and rr["sent_rr"] >= 3, f"change: the receive-only side sent RRs only ({rr['sent_rr']})")
            order = [b["source_ssrc"] for b in rr["sent_blocks"]]
            check(order and order[0] == 0x1111 and order[-1] == 0x2222 and order == sorted(order),
                  f"change: blocks about 0x1111, then only about 0x2222 ({[hex(x) for x in order]})")
            b1 = [b for b in rr["sent_blocks"] if b["source_ssrc"] == 0x1111]
            b2 = [b for b in rr["sent_blocks"] if b["source_ssrc"] == 0x2222]
            if b1 and b2:
                idx1 = (b1[-1]["highest_seq"] - s1["first_seq"]) & 0xFFFF
                check(b1[-1]["cumulative_lost"] == drops_upto(idx1, 5) and b1[-1]["cumulative_lost"] > 0,
                      f"change: s1's loss reported ({b1[-1]['cumulative_lost']})")
                idx2 = (b2[-1]["highest_seq"] - s2["first_seq"]) & 0xFFFF
                check(all(b["cumulative_lost"] == 0 and b["fraction_lost"] == 0 for b in b2) and idx2 == n - 1,
                      f"change: s2's blocks start over: no loss, highest_seq its last packet "
                      f"({[(b['cumulative_lost'], b['fraction_lost']) for b in b2]})")
                check(rr["last_sent_block"]["source_ssrc"] == 0x2222 and rr["source_ssrc"] == 0x2222,
                      "change: the last block is about 0x2222")
                check(b2[0]["lsr"] in s2["rtcp"]["sent_sr_ntp_middle"] or b2[0]["lsr"] in s1["rtcp"]["sent_sr_ntp_middle"],
                      "change: LSR is from an SR one of the senders sent")
            for s, ssrc in ((s1, 0x1111), (s2, 0x2222)):
                got = s["rtcp"]["received_blocks"]
                check(got and all(b["source_ssrc"] == ssrc for b in got) and s["rtcp"]["received_rr"] >= 1,
                      f"change: {hex(ssrc)} got RRs about itself back from the receive-only side ({len(got)})")
            # Where the second source starts (a transfer's seam): per_ssrc first_n/first_t, the
            # transition's n/t, and received_log entries placed by rtp_received.
            p1, p2 = r["per_ssrc"].get(str(0x1111), {}), r["per_ssrc"].get(str(0x2222), {})
            trs = r["transitions"]
            check(p1.get("first_n") == 1 and p2.get("first_n") == s1["sent"] + 1 and len(trs) == 1
                  and trs[0]["to"]["n"] == p2["first_n"] and trs[0]["from"]["n"] == p2["first_n"] - 1
                  and trs[0]["to"]["t"] == p2["first_t"] and trs[0]["from"]["t"] <= p2["first_t"]
                  and 0 <= p1["first_t"] < p2["first_t"] <= r["run_seconds"],
                  f"change: first_n {p1.get('first_n')}, {p2.get('first_n')} (wanted 1, {s1['sent'] + 1}), first_t "
                  f"{p1.get('first_t')}, {p2.get('first_t')} and the transition's n/t "
                  f"{[(t['from']['n'], t['from']['t'], t['to']['n'], t['to']['t']) for t in trs]}")
            log = rr["received_log"]
            after = [e["rtp_received"] for e in log if e["ssrc"] == 0x2222 and e["pt"] == 200]
            check(log and {e["ssrc"] for e in log} == {0x1111, 0x2222} and len(log) == rr["received_log_total"]
                  and after and all(n >= p2["first_n"] for n in after),
                  f"change: RTCP from both senders in received_log; 0x2222's SRs after its first RTP packet "
                  f"(#{p2.get('first_n')}: {after})")
            for s, ssrc in ((s1, 0x1111), (s2, 0x2222)):
                own = [sr_ts_error(e) for e in log if e["pt"] == 200 and e["ssrc"] == ssrc and e["heard_ssrc"] == ssrc]
                check(own and all(abs(x) <= 400 for x in own),
                      f"change: {hex(ssrc)}'s SRs heard with its own stream: rtp_ts within 400 units (50 ms) of "
                      f"heard_ts + heard_age * 8000 ({own})")
        # 4. --xr, --rtcp port: a drops every 10th packet; SR/RR as before, plus VoIP metrics.
        a, b, pa, pb = run_pair(exe, tmp, "xr", ["--rtcp", "port", "--xr", "--drop-every", str(DROP_EVERY)] + rtcp,
                                ["--rtcp", "port", "--xr"] + rtcp)
        if a and b:
            check_rtp_clean("xr", a, b, "port", pb)
            check_rtp_clean("xr", b, a, "port", pa)
            check_rtcp_side("xr", a, b)
            check_rtcp_side("xr", b, a)
            check_loss("xr", b, a, lossy=True)
            check_loss("xr", a, b, lossy=False)
            check_xr_side("xr", a, b)
            check_xr_side("xr", b, a)
            check_xr_loss("xr", b, a, lossy=True)
            check_xr_loss("xr", a, b, lossy=False)
            check_received_log("xr", a, b, per_compound=3)
            check_received_log("xr", b, a, per_compound=3)
            lossy_cq = [x["mos_cq"] for x in b["rtcp"]["sent_xr_blocks"][1:]]
            clean_cq = [x["mos_cq"] for x in a["rtcp"]["sent_xr_blocks"][1:]]
            check(lossy_cq and clean_cq and max(lossy_cq) < min(clean_cq),
                  f"xr: MOS-CQ about the lossy stream {lossy_cq} < about the clean one {clean_cq}")
        # 5. --xr on the wire, parsed here byte by byte.
        dump = xr_on_the_wire(exe, tmp)
        if dump:
            print(f"info wire: an RTCP compound with XR (hex): {dump}")
        # 6. The default (--rtcp off): the report as before, every packet sent and received.
        a, b, pa, pb = run_pair(exe, tmp, "off", [], [])
        if a and b:
            for me, peer in ((a, b), (b, a)):
                check("rtcp" not in me and me["dropped"] == 0 and me["sent"] == COUNT,
                      f"off: {me['bind']} no rtcp object, nothing dropped, sent {me['sent']}")
                check(me["received"] == peer["sent"] and me["lost_estimate"] == 0,
                      f"off: {me['bind']} received all {me['received']}")
                check_seq_range("off", me)
    print(f"{'FAILED' if FAILS else 'PASSED'}: {len(FAILS)} check(s) failed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
