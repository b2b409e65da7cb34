#!/usr/bin/env python3
"""sipferry lab: one continuous RTP stream for the party that stays across a transfer (dial option
cm=1, the lab dialplan's `X-trc-cm`).

A mixin for the lab runner (tests/lab/run), beside TransferTests, whose helpers it uses
(_run_blind_transfer, _check_transferor_told, _check_transferred_sources, _check_bob_stopped,
_report, _wait_cdrs, _fail, _progress, _c):

  blind_transfer_continuous_stream  test_blind_transfer's flow with alice calling `bob-trc-cm`:
                    after bob's REFER and carol's answer alice hears carol in bob's stream: bob's
                    SSRC only, sequence numbers and timestamps going on from bob's last packet, the
                    marker bit on the seam, carol's payload type (PCMU, bob's PCMA) unchanged

Which packet is whose comes from the payload types (rtpsim's report: per_pt, transitions,
markers, seq_steps, pt_ts_steps; tools/rtpsim). carol's rtpsim runs with --no-first-marker, so a
marker bit on the seam can only be the appliance's.
"""
import json
import os

from transfer_tests import read_trace, _is_request  # sipp -trace_msg parsing

CONTINUITY_TESTS = ["blind_transfer_continuous_stream"]
SERVICE = "bob-trc-cm"  # lua/dialplans/lab_default.lua: bob with [tr=c,cm=1]
SEAM_TS = 160  # the appliance's timestamp step at the seam (one 20 ms packet at 8 kHz)
LEAST = 100  # of carol's packets alice must hear in bob's stream (and carol of alice's)
MAX_LOST = 5  # lost packets in alice's stream, all told
MAX_STEP = 3  # largest forward sequence step in alice's stream


def _pkt(p):
    return f"seq {p['seq']} ts {p['ts']} pt {p['pt']} ssrc {p['ssrc']:#x} marker {p['marker']} (arrival #{p['n']})"


class ContinuityTests:
    """Lab tests of continuous media across transfers; mixed into the runner class of tests/lab/run."""

    def test_blind_transfer_continuous_stream(self, tdir):
        """alice -> bob-trc-cm; bob REFERs alice to carol; alice hears one stream, bob's then carol's."""
        CAROL = self._c("CAROL")
        cdr_before = len(self.cdr_lines())
        problems, excerpts = self._run_blind_transfer(tdir, service=SERVICE,
                                                      carol_rtpsim=f"{self._c('RTPSIM')} --no-first-marker")
        errs = []
        # 1. SIP: as blind_transfer, lighter (bob's 202 and NOTIFYs, alice's re-INVITE).
        self._check_transferor_told(tdir, errs)
        if not any(m["dir"] == "in" and _is_request(m, "INVITE") for m in read_trace(os.path.join(tdir, "alice.msg"))):
            errs.append("alice got no re-INVITE from the appliance after the transfer")
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)

        ra, rb, rc = self._report(tdir, "alice"), self._report(tdir, "bob"), self._report(tdir, "carol")
        for who, r in (("alice", ra), ("bob", rb), ("carol", rc)):
            self._progress(f"rtp {who}: sent {r['sent']} (ssrc {r['ssrc']:#x} pt {r['pt']}) received {r['received']} "
                           f"from {r['received_from']} ssrcs {[hex(s) for s in r['ssrcs']]} per_pt {r['per_pt']}")
        bob_ssrc, bob_pt, carol_pt = rb["ssrc"], rb["pt"], rc["pt"]
        if bob_pt == carol_pt:
            self._fail(f"bob and carol both send payload type {bob_pt}: alice's report cannot tell their "
                       f"packets apart (uas_transferor.xml sends PCMA, uas_answer.xml PCMU)")

        # 2. One stream at alice: bob's SSRC, none of carol's.
        if ra["ssrcs"] != [bob_ssrc]:
            errs.append(f"alice heard SSRCs {[hex(s) for s in ra['ssrcs']]}, wanted only bob's {bob_ssrc:#x} "
                        f"(one continuous stream)" +
                        (f"; carol's own {rc['ssrc']:#x} among them: her packets were not rewritten"
                         if rc["ssrc"] in ra["ssrcs"] else ""))
        # 3. carol's packets in it, by their payload type.
        carol_n = ra["per_pt"].get(str(carol_pt), 0)
        if carol_n < LEAST:
            errs.append(f"alice got {carol_n} packets of carol's payload type {carol_pt}, wanted >= {LEAST}")
        if not ra["per_pt"].get(str(bob_pt)):
            errs.append(f"alice got none of bob's packets (payload type {bob_pt}) before the transfer")
        # 4. Continuity: sequence numbers, the seam, timestamps, markers.
        seam = self._check_stream(ra, rb, rc, errs)
        # 5. The media gap at alice: reported, never checked.
        if seam is not None:
            last, first = seam["from"], seam["to"]
            figures = {"gap_ms": round((first["time"] - last["time"]) * 1000.0, 1),
                       "seq_step": (first["seq"] - last["seq"]) & 0xFFFF,
                       "ts_step": (first["ts"] - last["ts"]) & 0xFFFFFFFF, "bob_last": last, "seam": first}
            if rc.get("send_start"):
                figures["carol_late_ms"] = round((rc["send_start"] - last["time"]) * 1000.0, 1)
            with open(os.path.join(tdir, "continuity.json"), "w") as f:
                json.dump(figures, f)
            self._progress(f"seam at alice: bob's last {_pkt(last)} -> carol's first {_pkt(first)}: seq "
                           f"+{figures['seq_step']}, ts +{figures['ts_step']}; media gap {figures['gap_ms']:.1f} ms"
                           + (f" (carol's first packet left her {figures['carol_late_ms']:.1f} ms after bob's last "
                              f"arrived)" if "carol_late_ms" in figures else ""))
        # 6. carol hears alice (her own SSRC, only from the appliance); bob stops at the switch.
        from_alice = (rc.get("per_ssrc") or {}).get(str(ra["ssrc"]), {}).get("count", 0)
        if from_alice < LEAST or rc["ssrcs"] != [ra["ssrc"]]:
            errs.append(f"carol got {from_alice} of alice's packets (SSRCs {[hex(s) for s in rc['ssrcs']]}), "
                        f"wanted >= {LEAST}, all in alice's own {ra['ssrc']:#x}")
        self._check_transferred_sources(ra, rc, errs)
        self._check_bob_stopped(rb, rc, errs)

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
