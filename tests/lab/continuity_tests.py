#!/usr/bin/env python3
"""sipferry lab: one continuous RTP stream for the party that stays across a transfer (dial option
cm=1, the lab dialplan's `X-trc-cm`).

A mixin for the lab runner (tests/lab/run), beside TransferTests and MoreTransferTests, whose
helpers it uses (_run_blind_transfer, _check_transferor_told, _check_transferred_sources,
_check_bob_stopped, _run_attended_transfer, _check_attended_sip, _check_attended_cdrs,
_rtp_from_only, _report, _wait_cdrs, _fail, _progress, _c):

  blind_transfer_continuous_stream  test_blind_transfer's flow with alice calling `bob-trc-cm`:
                    after bob's REFER and carol's answer alice hears carol in bob's stream: bob's
                    SSRC only, sequence numbers and timestamps going on from bob's last packet, the
                    marker bit on the seam, carol's payload type (PCMU, bob's PCMA) unchanged;
                    the RTCP of both renamed to match (below)
  attended_transfer_continuous_stream  test_attended_transfer's flow with alice calling
                    `bob-trc-cm` (call 1 has cm=1, call 2, bob -> carol, has not): after the join
                    alice hears carol in bob's call-1 stream as above, while carol hears bob's
                    call-2 SSRC and then alice's own (the decision is per call); the RTCP
                    between alice and carol renamed to match (below)

Which packet is whose comes from the payload types (rtpsim's report: per_pt, transitions,
markers, seq_steps, pt_ts_steps; tools/rtpsim). carol's rtpsim runs with --no-first-marker, so a
marker bit on the seam can only be the appliance's.

RTCP continuity (dataplane/sip/rtcp_rewrite.hh): every party's rtpsim sends RTCP on RTP port + 1
(`--rtcp port --rtcp-interval 0.5`: an SR or RR and an SDES every ~0.5 s), and both tests check,
from rtcp.received_log of the reports (one entry per RTCP packet received, placed among the RTP
arrivals by rtp_received):
  (a) at alice, every RTCP packet after the seam (read after the RTP arrival that is carol's first
      packet in bob's stream) names as sender bob's call-1 SSRC, the one alice hears, never
      carol's own; >= 2 SRs among them;
  (b) at alice, each such SR's RTP timestamp is the stream's clock as she hears it:
      |rtp_ts - (heard_ts + heard_age * 8000)| <= 1600 (200 ms; heard_ts: the last RTP timestamp
      she heard before the SR, heard_age: how long before); unshifted it would be off by the
      difference of carol's and bob's random timestamp bases;
  (c) at carol, the report blocks she gets from 0.25 s after her first packet of alice's on
      (RTCP_GRACE: until carol's first RTP packet after the switch the appliance does not know
      her SSRC and passes alice's reports as they came: continuity `armed`, dataplane/relay.cc;
      carol may hear alice a little before that) never name bob's call-1 SSRC; >= 2 of them, in
      alice's RTCP (her own SSRC as sender), name carol's own SSRC, and every block naming it has
      a highest_seq (low 16 bits) within what carol had sent when it arrived: first_seq - 4 ..
      first_seq + seq_count - 1 + 4 (mod 2^16);
  (d) at carol, the round trip of the last such block from alice (A - LSR - DLSR, rtpsim's
      rtt_ms) is 0..100 ms.
The figures (counts, the worst SR timestamp error, the RTT) go to progress lines.
"""
import json
import os

from transfer_tests import read_trace, _is_request  # sipp -trace_msg parsing

CONTINUITY_TESTS = ["blind_transfer_continuous_stream", "attended_transfer_continuous_stream"]
SERVICE = "bob-trc-cm"  # lua/dialplans/lab_default.lua: bob with [tr=c,cm=1]
SEAM_TS = 160  # the appliance's timestamp step at the seam (one 20 ms packet at 8 kHz)
LEAST = 100  # of carol's packets alice must hear in bob's stream (and carol of alice's)
MAX_LOST = 5  # lost packets in alice's stream, all told
MAX_STEP = 3  # largest forward sequence step in alice's stream
RTCP_OPTS = "--rtcp port --rtcp-interval 0.5"  # every party's rtpsim: RTCP on RTP port + 1, ~0.5 s
CLOCK = 8000  # the RTP clock of the lab's G.711 streams (Hz)
MAX_SR_TS_ERR = 1600  # (b): an SR's timestamp vs the stream alice hears, timestamp units (200 ms)
LEAST_SRS = 2  # (a): SRs alice gets after the seam
LEAST_BLOCKS = 2  # (c): blocks from alice naming carol's SSRC
SEQ_TOL = 4  # (c): packets a block's highest_seq may lie outside what carol had sent by then
RTCP_GRACE = 0.25  # (c): seconds after carol's first packet of alice's before her blocks are checked
MAX_RTT_MS = 100.0  # (d)


def _pkt(p):
    return f"seq {p['seq']} ts {p['ts']} pt {p['pt']} ssrc {p['ssrc']:#x} marker {p['marker']} (arrival #{p['n']})"


def _s32(x):
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _s16(x):
    return ((x + 0x8000) & 0xFFFF) - 0x8000


def _hex(x):
    return "none" if x is None else f"{x:#x}"


def _rtcp(e):
    """One rtcp.received_log entry, as a failure message shows it."""
    out = f"t {e['t']:.3f} s after RTP #{e['rtp_received']}: pt {e['pt']} ssrc {_hex(e['ssrc'])}"
    if e["pt"] == 200:
        out += f" rtp_ts {e['rtp_ts']} heard {_hex(e['heard_ssrc'])} ts {e['heard_ts']} age {e['heard_age']}"
    if e["blocks"]:
        out += " blocks " + ", ".join(f"{_hex(b['ssrc'])} seq {b['highest_seq']} rtt {b['rtt_ms']}" for b in e["blocks"])
    return out


def _sr_ts_error(e):
    """An SR entry's RTP timestamp minus the media clock it should be on, as heard: timestamp units."""
    return _s32(e["rtp_ts"] - (e["heard_ts"] + round(e["heard_age"] * CLOCK)))


class ContinuityTests:
    """Lab tests of continuous media across transfers; mixed into the runner class of tests/lab/run."""

    def test_blind_transfer_continuous_stream(self, tdir):
        """alice -> bob-trc-cm; bob REFERs alice to carol; alice hears one stream, bob's then carol's."""
        CAROL = self._c("CAROL")
        cdr_before = len(self.cdr_lines())
        rtpsim = f"{self._c('RTPSIM')} {RTCP_OPTS}"
        problems, excerpts = self._run_blind_transfer(tdir, service=SERVICE, carol_rtpsim=f"{rtpsim} --no-first-marker",
                                                      rtpsim=rtpsim)
        errs = []
        # 1. SIP: as blind_transfer, lighter (bob's 202 and NOTIFYs, alice's re-INVITE).
        self._check_transferor_told(tdir, errs)
        if not any(m["dir"] == "in" and _is_request(m, "INVITE") for m in read_trace(os.path.join(tdir, "alice.msg"))):
            errs.append("alice got no re-INVITE from the appliance after the transfer")
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)

        ra, rb, rc = self._report(tdir, "alice"), self._report(tdir, "bob"), self._report(tdir, "carol")
        self._show_reports((("alice", ra), ("bob", rb), ("carol", rc)))
        # 2.-4. One stream at alice, bob's, with carol's packets in it and one seam.
        seam = self._check_one_stream(ra, rb, rc, errs)
        # 5. The media gap at alice: reported, never checked.
        self._report_seam(tdir, seam, carol_starts=rc)
        # 6. carol hears alice (her own SSRC, only from the appliance); bob stops at the switch.
        from_alice = (rc.get("per_ssrc") or {}).get(str(ra["ssrc"]), {}).get("count", 0)
        if from_alice < LEAST or rc["ssrcs"] != [ra["ssrc"]]:
            errs.append(f"carol got {from_alice} of alice's packets (SSRCs {[hex(s) for s in rc['ssrcs']]}), "
                        f"wanted >= {LEAST}, all in alice's own {ra['ssrc']:#x}")
        self._check_transferred_sources(ra, rc, errs)
        self._check_bob_stopped(rb, rc, errs)
        # 7. RTCP renamed with the RTP: (a)-(d) of the module comment.
        self._check_rtcp(ra, rb, rc, seam, errs)

        # CDRs: alice-bob ended by the transfer, then alice-carol.
        new = self._wait_cdrs(cdr_before, 2)
        for line in new:
            self._progress(f"cdr: {line}")
        try:
            recs = [json.loads(line) for line in new]
            if len(recs) != 2 or recs[0].get("hangup") != "transfer" or recs[1].get("callee") != f"{CAROL[1]}:5060":
                errs.append(f"{len(recs)} new CDR line(s) (hangup/callee "
                            f"{[(r.get('hangup'), r.get('callee')) for r in recs]}), wanted 2: alice-bob with hangup "
                            f"transfer, then alice-carol (callee {CAROL[1]}:5060)")
        except ValueError as e:
            errs.append(f"CDR line is not JSON ({e}): {new}")
        if errs:
            self._fail("; ".join(errs))

    def test_attended_transfer_continuous_stream(self, tdir):
        """bob: call 1 from alice (bob-trc-cm, cm=1), call 2 to carol (no cm); REFER with Replaces joins
        alice and carol: alice hears carol in bob's call-1 stream, carol hears alice's own SSRC."""
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        cdr_before = len(self.cdr_lines())
        # carol's rtpsim runs with --no-first-marker. Here she sends from her answer of call 2, long
        # before the join, so her own first-packet marker goes to bob in call 2 and would never reach
        # alice anyway; without it, still, none of the packets she sends has the marker bit, so a
        # marker on carol's payload type at alice can only be the appliance's (the seam), whatever
        # the timing of her rtpsim.
        rtpsim = f"{self._c('RTPSIM')} {RTCP_OPTS}"
        problems, excerpts = self._run_attended_transfer(tdir, service=SERVICE,
                                                         carol_rtpsim=f"{rtpsim} --no-first-marker", rtpsim=rtpsim)
        errs = []
        # 1. SIP: as attended_transfer (bob's 202, one NOTIFY 200, BYEs in both calls, re-INVITEs).
        self._check_attended_sip(tdir, errs)
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)

        ra, rc = self._report(tdir, "alice"), self._report(tdir, "carol")
        rb, rb2 = self._report(tdir, "bob"), self._report(tdir, "bob2")
        self._show_reports((("alice", ra), ("bob (call 1)", rb), ("bob (call 2)", rb2), ("carol", rc)))
        # 2. alice (call 1, cm=1): one stream, bob's call-1 SSRC, carol's packets in it, one seam.
        seam = self._check_one_stream(ra, rb, rc, errs)
        self._rtp_from_only("alice", ra, SBC_ACC, errs)
        # 4. The media gap at alice: reported, never checked. carol has been sending since call 2
        # was answered, so her send start says nothing about the seam.
        self._report_seam(tdir, seam)
        # 3. carol (call 2, no cm): bob's call-2 SSRC, then alice's own, only from the appliance.
        per = rc.get("per_ssrc") or {}
        b2, a = per.get(str(rb2["ssrc"]), {}), per.get(str(ra["ssrc"]), {})
        if (sorted(rc["ssrcs"]) != sorted([rb2["ssrc"], ra["ssrc"]]) or not b2.get("count")
                or a.get("count", 0) < LEAST or b2["first"] > a["first"]):
            errs.append(f"carol heard SSRCs {[hex(s) for s in rc['ssrcs']]} ({b2.get('count', 0)} of bob's call-2 "
                        f"{rb2['ssrc']:#x}, {a.get('count', 0)} of alice's {ra['ssrc']:#x}), wanted bob's and then "
                        f">= {LEAST} in alice's own SSRC (call 2 has no cm: no rewriting towards carol)")
        self._rtp_from_only("carol", rc, SBC_CORE, errs)
        # 5. RTCP renamed with the RTP (call 1's continuity): (a)-(d) of the module comment.
        self._check_rtcp(ra, rb, rc, seam, errs)
        # CDRs: as attended_transfer (call 1 and call 2 with hangup transfer, then alice-carol).
        self._check_attended_cdrs(cdr_before, errs)
        if errs:
            self._fail("; ".join(errs))

    def _show_reports(self, reports):
        """One progress line per (who, rtpsim report)."""
        for who, r in reports:
            self._progress(f"rtp {who}: sent {r['sent']} (ssrc {r['ssrc']:#x} pt {r['pt']}) received {r['received']} "
                           f"from {r['received_from']} ssrcs {[hex(s) for s in r['ssrcs']]} per_pt {r['per_pt']}")

    def _check_one_stream(self, ra, rb, rc, errs):
        """alice (her report ra) heard one stream: bob's SSRC (his report rb) only, none of carol's
        (rc), >= LEAST of carol's packets in it (by payload type), and _check_stream's continuity.
        Fails at once when bob and carol send one payload type. Returns the seam or None."""
        bob_ssrc, bob_pt, carol_pt = rb["ssrc"], rb["pt"], rc["pt"]
        if bob_pt == carol_pt:
            self._fail(f"bob and carol both send payload type {bob_pt}: alice's report cannot tell their "
                       f"packets apart")
        # One stream at alice: bob's SSRC, none of carol's.
        if ra["ssrcs"] != [bob_ssrc]:
            errs.append(f"alice heard SSRCs {[hex(s) for s in ra['ssrcs']]}, wanted only bob's {bob_ssrc:#x} "
                        f"(one continuous stream)" +
                        (f"; carol's own {rc['ssrc']:#x} among them: her packets were not rewritten"
                         if rc["ssrc"] in ra["ssrcs"] else ""))
        # carol's packets in it, by their payload type.
        carol_n = ra["per_pt"].get(str(carol_pt), 0)
        if carol_n < LEAST:
            errs.append(f"alice got {carol_n} packets of carol's payload type {carol_pt}, wanted >= {LEAST}")
        if not ra["per_pt"].get(str(bob_pt)):
            errs.append(f"alice got none of bob's packets (payload type {bob_pt}) before the transfer")
        # Continuity: sequence numbers, the seam, timestamps, markers.
        return self._check_stream(ra, rb, rc, errs)

    def _report_seam(self, tdir, seam, carol_starts=None):
        """Prints (never checks) the seam at alice and the media gap there (the seam's arrival minus
        bob's last packet's) and writes them to continuity.json. carol_starts: carol's report when
        her rtpsim's send start is the seam's cause (blind transfer: she starts at her answer)."""
        if seam is None:
            return
        last, first = seam["from"], seam["to"]
        figures = {"gap_ms": round((first["time"] - last["time"]) * 1000.0, 1),
                   "seq_step": (first["seq"] - last["seq"]) & 0xFFFF,
                   "ts_step": (first["ts"] - last["ts"]) & 0xFFFFFFFF, "bob_last": last, "seam": first}
        if carol_starts and carol_starts.get("send_start"):
            figures["carol_late_ms"] = round((carol_starts["send_start"] - last["time"]) * 1000.0, 1)
        with open(os.path.join(tdir, "continuity.json"), "w") as f:
            json.dump(figures, f)
        self._progress(f"seam at alice: bob's last {_pkt(last)} -> carol's first {_pkt(first)}: seq "
                       f"+{figures['seq_step']}, ts +{figures['ts_step']}; media gap {figures['gap_ms']:.1f} ms"
                       + (f" (carol's first packet left her {figures['carol_late_ms']:.1f} ms after bob's last "
                          f"arrived)" if "carol_late_ms" in figures else ""))

    def _check_stream(self, ra, rb, rc, errs):
        """Check 4 on alice's report `ra` (bob's rb, carol's rc): her stream has no sequence jump, one
        seam from bob's payload type to carol's whose sequence number and timestamp go on from bob's
        last packet, the marker bit there and on bob's first packet only, and timestamps stepping by
        each sender's own step. Returns the seam ({from, to}) or None."""
        bob_ssrc, bob_pt, carol_pt = rb["ssrc"], rb["pt"], rc["pt"]
        steps = (ra.get("seq_steps") or {}).get(str(bob_ssrc))
        if steps is None:
            errs.append(f"alice heard nothing in bob's SSRC {bob_ssrc:#x}")
            return None
        if steps["lost"] > MAX_LOST or steps["max_forward"] > MAX_STEP:
            errs.append(f"alice's stream {bob_ssrc:#x} lost {steps['lost']} packets (<= {MAX_LOST} allowed), largest "
                        f"sequence step {steps['max_forward']} (<= {MAX_STEP} allowed), {steps['jumps']} jump(s)")
        if steps["backward"] or steps["duplicates"]:
            errs.append(f"alice's stream {bob_ssrc:#x} went back {steps['backward']} time(s) ({steps['duplicates']} "
                        f"duplicate sequence numbers): packets of both parties interleaved or repeated")
        # Timestamps step by the sender's own step within each party's part (the seam is apart).
        for who, pt, step in (("bob", bob_pt, rb["ts_step"]), ("carol", carol_pt, rc["ts_step"])):
            seen = (ra.get("pt_ts_steps") or {}).get(str(pt), {})
            if set(seen) - {str(step)}:
                errs.append(f"{who}'s packets (payload type {pt}) at alice stepped their timestamps by {seen} per "
                            f"sequence number, wanted only {step}")
        # The seam: the one change of payload type (or SSRC) in alice's arrivals.
        trs = ra.get("transitions") or []
        seams = [t for t in trs if t["from"]["pt"] == bob_pt and t["to"]["pt"] == carol_pt]
        if ra.get("transitions_total", 0) != 1 or len(seams) != 1:
            errs.append(f"alice's packets changed payload type or SSRC {ra.get('transitions_total', 0)} time(s), "
                        f"wanted exactly once, bob's ({bob_pt}) to carol's ({carol_pt}): " +
                        ("; ".join(f"{_pkt(t['from'])} -> {_pkt(t['to'])}" for t in trs[:4]) or "none"))
        if not seams:
            return None
        seam = seams[0]
        last, first = seam["from"], seam["to"]
        k = (first["seq"] - last["seq"]) & 0xFFFF
        dts = (first["ts"] - last["ts"]) & 0xFFFFFFFF
        if first["ssrc"] != bob_ssrc or last["ssrc"] != bob_ssrc:
            errs.append(f"seam: bob's last {_pkt(last)} -> carol's first {_pkt(first)}: not in bob's SSRC {bob_ssrc:#x}")
        elif not 1 <= k <= MAX_STEP:
            errs.append(f"seam: carol's first packet has seq {first['seq']}, bob's last {last['seq']}: step {k}, "
                        f"wanted +1 (+2/+3 with a packet lost right there)")
        else:
            # +1: exactly the appliance's seam step; +k: bob's packets skipped at the seam, each his step.
            want = SEAM_TS + (k - 1) * rb["ts_step"]
            if k > 1:
                self._progress(f"seam: seq +{k}: {k - 1} of bob's packets lost right at the seam (allowed)")
            if dts != want:
                errs.append(f"seam: carol's first packet has ts {first['ts']}, bob's last {last['ts']}: step {dts}, "
                            f"wanted {want} (seq step {k})")
        if not first["marker"]:
            errs.append(f"seam: carol's first packet at alice ({_pkt(first)}) has no marker bit")
        # Markers: bob's own first packet (if his rtpsim marks it) and the seam, nothing else.
        marks = ra.get("markers") or []
        bob_marks = [m for m in marks if m["pt"] == bob_pt]
        carol_marks = [m for m in marks if m["pt"] == carol_pt]
        want_bob = [1] if rb["first_marker"] else []
        if (ra.get("markers_total", 0) != len(bob_marks) + len(carol_marks) or [m["n"] for m in carol_marks] != [first["n"]]
                or [m["n"] for m in bob_marks] not in (want_bob, [])):
            errs.append(f"alice got {ra.get('markers_total', 0)} packet(s) with the marker bit: "
                        f"{'; '.join(_pkt(m) for m in marks[:6])}; wanted the seam only"
                        + (" and bob's first packet (arrival #1)" if want_bob else ""))
        return seam

    def _check_rtcp(self, ra, rb, rc, seam, errs):
        """RTCP continuity, (a)-(d) of the module comment, on the rtpsim reports of alice (ra), bob (rb:
        his call-1 SSRC is the stream alice hears) and carol (rc); `seam`: _check_stream's {from, to}
        or None. Prints the figures."""
        bob_ssrc, carol_ssrc, alice_ssrc = rb["ssrc"], rc["ssrc"], ra["ssrc"]
        la, lc = ra.get("rtcp") or {}, rc.get("rtcp") or {}
        if "received_log" not in la or "received_log" not in lc:
            errs.append("RTCP: alice's or carol's rtpsim report has no rtcp.received_log (rtpsim ran without --rtcp?)")
            return
        for who, r in (("alice", la), ("carol", lc)):
            if r["received_log_total"] > len(r["received_log"]):
                self._progress(f"rtcp {who}: received_log holds the first {len(r['received_log'])} of "
                               f"{r['received_log_total']} RTCP packets; the checks see those only")
        # (a), (b): alice, from the seam on (the RTCP read after carol's first packet in bob's stream).
        if seam is None:
            errs.append("RTCP at alice: no seam in her stream (above), nothing to tell her RTCP before and after it by")
        else:
            n0 = seam["to"]["n"]
            log = la["received_log"]
            pre = [e for e in log if e["rtp_received"] < n0]
            post = [e for e in log if e["rtp_received"] >= n0]
            foreign = [e for e in post if e["ssrc"] != bob_ssrc]
            srs = [e for e in post if e["pt"] == 200]
            timed = [(e, _sr_ts_error(e)) for e in srs if e["heard_ts"] is not None]
            off = [(e, d) for e, d in timed if abs(d) > MAX_SR_TS_ERR]
            worst = max((d for _, d in timed), key=abs, default=None)
            early = [e for e in pre if e["ssrc"] == carol_ssrc]
            self._progress(f"rtcp alice: seam at RTP arrival #{n0} (t {seam['to'].get('t')} s); RTCP packets before "
                           f"it {len(pre)} (naming carol's own {carol_ssrc:#x}: {len(early)}), after it {len(post)} "
                           f"({len(srs)} SR), senders after it {sorted({_hex(e['ssrc']) for e in post})}; worst SR "
                           f"timestamp error after it " + (f"{worst} units ({worst * 1000.0 / CLOCK:.1f} ms)"
                                                          if worst is not None else "none (no SR)"))
            if foreign:
                errs.append(f"RTCP at alice after the seam (RTP arrival #{n0}): {len(foreign)} of {len(post)} packets name "
                            f"as sender another SSRC than bob's {bob_ssrc:#x}, the one she hears" +
                            (f" (carol's own {carol_ssrc:#x}: not renamed)" if any(e["ssrc"] == carol_ssrc for e in foreign)
                             else "") + ": " + "; ".join(_rtcp(e) for e in foreign[:4]))
            if len(srs) < LEAST_SRS:
                errs.append(f"RTCP at alice: {len(srs)} SR(s) after the seam (RTP arrival #{n0}), wanted >= {LEAST_SRS} "
                            f"(carol's, renamed); after it: " + ("; ".join(_rtcp(e) for e in post[:6]) or "nothing"))
            if off:
                errs.append(f"RTCP at alice: {len(off)} of {len(timed)} SR(s) after the seam have an RTP timestamp more "
                            f"than {MAX_SR_TS_ERR} units ({MAX_SR_TS_ERR * 1000 // CLOCK} ms) off the stream she hears "
                            f"(rtp_ts - (heard_ts + heard_age * {CLOCK})), not shifted like carol's RTP?: " +
                            "; ".join(f"{_rtcp(e)}: off by {d}" for e, d in off[:4]))
        # (c), (d): carol, from RTCP_GRACE after her first packet of alice's on.
        first = (rc.get("per_ssrc") or {}).get(str(alice_ssrc)) or {}
        if first.get("first_t") is None:
            errs.append(f"RTCP at carol: she heard none of alice's RTP ({alice_ssrc:#x}), no reports of alice's to check")
            return
        t0 = round(first["first_t"] + RTCP_GRACE, 3)
        log = lc["received_log"]
        post = [e for e in log if e["t"] >= t0]
        blocks = [(e, b) for e in post for b in e["blocks"]]
        bobs = [(e, b) for e, b in blocks if b["ssrc"] == bob_ssrc]
        own = [(e, b) for e, b in blocks if b["ssrc"] == carol_ssrc]
        from_alice = [(e, b) for e, b in own if e["ssrc"] == alice_ssrc]
        offsets, outside = [], []
        for e, b in own:
            d = _s16(b["highest_seq"] - rc["first_seq"])
            offsets.append(d)
            if not -SEQ_TOL <= d <= e["seq_count"] - 1 + SEQ_TOL:
                outside.append((e, d))
        grace = [(e, b) for e in log if first["first_t"] <= e["t"] < t0 for b in e["blocks"] if b["ssrc"] == bob_ssrc]
        rtts = [b["rtt_ms"] for _, b in from_alice if b["rtt_ms"] is not None]
        self._progress(f"rtcp carol: alice's first packet at RTP arrival #{first.get('first_n')} (t {first['first_t']} s); "
                       f"from t {t0} s {len(post)} RTCP packets (senders {sorted({_hex(e['ssrc']) for e in post})}), "
                       f"{len(blocks)} report blocks: {len(own)} naming carol's {carol_ssrc:#x} ({len(from_alice)} from "
                       f"alice), {len(bobs)} naming bob's {bob_ssrc:#x}" +
                       (f" ({len(grace)} more within the first {RTCP_GRACE} s, allowed)" if grace else "") +
                       f"; highest_seq - carol's first_seq {min(offsets) if offsets else '-'}.."
                       f"{max(offsets) if offsets else '-'} (she used {rc.get('seq_count')}); RTT from alice's blocks "
                       f"{rtts[-4:]} ms (rtt_ms: {lc.get('rtt_ms', [])[-3:]}, {lc.get('rtt_total')} in all)")
        if bobs:
            errs.append(f"RTCP at carol: {len(bobs)} report block(s) from t {t0} s on name bob's {bob_ssrc:#x} (the "
                        f"stream as alice hears it, not renamed back to carol's {carol_ssrc:#x}): " +
                        "; ".join(_rtcp(e) for e, _ in bobs[:4]))
        if len(from_alice) < LEAST_BLOCKS:
            errs.append(f"RTCP at carol: {len(from_alice)} report block(s) in alice's RTCP ({alice_ssrc:#x}) name carol's "
                        f"{carol_ssrc:#x} from t {t0} s on, wanted >= {LEAST_BLOCKS}; from then: " +
                        ("; ".join(_rtcp(e) for e in post[:6]) or "nothing"))
        if outside:
            errs.append(f"RTCP at carol: {len(outside)} block(s) naming her {carol_ssrc:#x} have a highest_seq outside what "
                        f"she had sent by then (first_seq {rc['first_seq']} - {SEQ_TOL} .. + seq_count - 1 + {SEQ_TOL}, "
                        f"mod 2^16; sequence numbers not shifted back?): " +
                        "; ".join(f"{_rtcp(e)}: {d:+d} from her first_seq, she had used {e['seq_count']}"
                                  for e, d in outside[:4]))
        if not rtts:
            errs.append(f"RTCP at carol: no round trip from alice's blocks naming her (" +
                        (f"LSR 0 in all {len(from_alice)})" if from_alice else "there are none)"))
        elif not 0 <= rtts[-1] <= MAX_RTT_MS:
            errs.append(f"RTCP at carol: the round trip of alice's last block naming her is {rtts[-1]} ms, wanted "
                        f"0..{MAX_RTT_MS:.0f} (A - LSR - DLSR; the last ones: {rtts[-4:]})")
