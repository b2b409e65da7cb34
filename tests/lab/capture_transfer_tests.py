#!/usr/bin/env python3
"""sipferry lab: a capture of one call follows it through a blind transfer (a mixin for the lab
runner, tests/lab/run; the pcapng reader and frame checks are capture_tests.py's).

  capture_follows_a_transfer  alice calls bob-trc (transfer mode c) and bob REFERs her to carol
                    (transfer_tests' blind transfer flow: uac_transferee / uas_transferor /
                    uas_answer). Once `sipferryctl calls` shows alice's call confirmed,
                    `capture call <its id> --seconds 60`: its filter then names alice, bob and the
                    call's relay ports, not carol. The transfer runs to its end, then `capture
                    stop`. The status: `call` the id, `filter_changes` >= 1, the final filter holds
                    every term of the first (a filter only grows) and carol's `(host 198.51.100.30
                    and port 5060)`. The file, checked as capture_of_a_call's (dropped 0, written ==
                    EPBs; every frame on acc or core, taken by the final filter, direction,
                    checksums, timestamps): the INVITE to carol (her trace's Call-ID) outbound on
                    core, which the first filter does not take, her 200 inbound and the ACK to her;
                    the re-INVITE to alice outbound on acc and the BYE to bob on core. Every RTP
                    packet carol sent is in it inbound on core (as many as her rtpsim's `sent`),
                    every one alice received in carol's SSRC outbound on acc (her report's count for
                    it), and every one relayed to carol outbound on core (her call record segment's
                    caller_to_callee packets; her rtpsim stops listening before alice stops). Capture
                    files, sipps and rtpsims cleaned up also on failure. About 9 s.
"""
import os
import re
import time

from capture_tests import (CAPTURE_DIR, CONFIRM_WAIT, PORT_ACC, PORT_CORE, SIP_PORT, _call_id, _describe, _is_rtp,
                           _sip_start)
from transfer_tests import SSRC_CAROL, read_trace, _h, _is_request, _is_response_to

CAPTURE_TRANSFER_TESTS = ["capture_follows_a_transfer"]
RTP_PORT = 6000  # every phone's rtpsim (TransferTests._rtp_keys)

_TERM = re.compile(r"\(host ([\d.]+) and port (\d+)\)|portrange (\d+)-(\d+)|\bport (\d+)")


def filter_terms(text):
    """The terms of a call's capture filter, "udp and (T or T ...)" (control/capture_request.hh):
    [("peer", host, port) | ("ports", low, high)] in order."""
    out = []
    for m in _TERM.finditer(text or ""):
        if m.group(1):
            out.append(("peer", m.group(1), int(m.group(2))))
        elif m.group(3):
            out.append(("ports", int(m.group(3)), int(m.group(4))))
        else:
            out.append(("ports", int(m.group(5)), int(m.group(5))))
    return out


def filter_takes(text):
    """What such a filter takes, for a parsed UDP frame (pcap's `host H and port P`: either end)."""
    terms = filter_terms(text)

    def takes(u):
        for t in terms:
            if t[0] == "peer" and t[1] in (u["src"], u["dst"]) and t[2] in (u["sport"], u["dport"]):
                return True
            if t[0] == "ports" and (t[1] <= u["sport"] <= t[2] or t[1] <= u["dport"] <= t[2]):
                return True
        return False
    return takes


def _ssrc(payload):
    return int.from_bytes(payload[8:12], "big")


class CaptureTransferTests:
    """Mixed into the runner class of tests/lab/run; uses CaptureTests' (_capture, _capture_files,
    _drop_captures, _read_capture, _check_final_status, _check_frames, _confirmed_calls,
    _end_rtpsims), TransferTests' (_run_blind_transfer, _report) and the runner's helpers."""

    def test_capture_follows_a_transfer(self, tdir):
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        mine = self._capture_files("transfer")
        path = mine[0]
        errs = []
        seen = {}  # what `during` found: the call, the capture's first status, the start time

        def during(procs):
            found, calls = self._confirmed_calls([f"{ALICE[1]}:{SIP_PORT}"], f"{BOB[1]}:{SIP_PORT}", procs,
                                                 timeout=CONFIRM_WAIT)
            if found is None:
                seen["error"] = f"no confirmed call alice -> bob in `sipferryctl calls`: {str(calls)[:400]}"
                return
            call = found[0]
            seen["call"], seen["t0"] = call, time.time()
            rc, code, st, out = self._capture(["call", str(call["id"]), "--seconds", "60",
                                               "--file", os.path.basename(path)])
            if rc != 0 or not isinstance(st, dict) or not st.get("running"):
                seen["error"] = f"capture call {call['id']}: exit {rc} HTTP {code}: {out[:300]}"
                return
            seen["start"] = st
            self._progress(f"capture of call {call['id']} started (bob's REFER comes 2.5 s after the answer): "
                           f"filter {st.get('filter')!r}")

        cdr_before = len(self.cdr_lines())
        try:
            problems, excerpts = self._run_blind_transfer(tdir, during=during)
            rc, code, st, out = self._capture(["stop"])
            t1 = time.time()
            self._end_rtpsims(tdir)
            if "error" in seen:
                self._fail(seen["error"])
            if problems:
                self._fail("the blind transfer: " + ", ".join(problems) + "\n" + excerpts)
            if rc != 0 or not isinstance(st, dict):
                self._fail(f"capture stop: exit {rc} HTTP {code}: {out[:300]}")
            self._progress(f"stopped: {out[:600]}")
            call, first = seen["call"], seen["start"]
            carol_peer = ("peer", CAROL[1], SIP_PORT)

            # The status: the same call, a filter that grew and kept what it had.
            if st.get("call") != call["id"]:
                errs.append(f"status call {st.get('call')!r}, wanted {call['id']}")
            if not isinstance(st.get("filter_changes"), int) or st["filter_changes"] < 1:
                errs.append(f"status filter_changes {st.get('filter_changes')!r}, wanted >= 1 (carol's leg)")
            start_terms, end_terms = filter_terms(first.get("filter")), filter_terms(st.get("filter"))
            if carol_peer in start_terms:
                errs.append(f"the first filter {first.get('filter')!r} names carol already: nothing to follow")
            if carol_peer not in end_terms:
                errs.append(f"the final filter {st.get('filter')!r} does not name carol's {CAROL[1]}:{SIP_PORT}")
            lost = [t for t in start_terms if t not in end_terms]
            if lost:
                errs.append(f"the final filter lost terms of the first: {lost} (a call's filter only grows)")

            cap, size = self._read_capture(path, tdir)
            self._check_final_status(cap, size, st, (seen["t0"], t1), errs, "the transfer's capture")
            own = {PORT_ACC: SBC_ACC, PORT_CORE: SBC_CORE}
            udp = self._check_frames(cap, (seen["t0"], t1), own, filter_takes(st.get("filter")), st.get("filter"), errs)
            records = self._new_cdr_records(cdr_before, 2, errs)
            self._check_followed_frames(tdir, udp, first.get("filter"), records[-1] if records else {}, errs)
        finally:
            self._drop_captures(mine)
        if errs:
            self._fail("; ".join(errs))

    def _check_followed_frames(self, tdir, udp, first_filter, carol_record, errs):
        """carol's SIP and RTP, the re-INVITE to alice and the BYE to bob are in the file; every RTP
        packet of carol's leg, counted against the rtpsims' reports and carol's call record segment."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        ctrace = read_trace(os.path.join(tdir, "carol.msg"))
        invite = next((m for m in ctrace if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        if invite is None:
            errs.append("carol's trace has no INVITE")
            return
        carol_cid = _h(invite, "Call-ID")
        ok = next((m for m in ctrace if m["dir"] == "out" and m["start"].startswith("SIP/2.0 200")
                   and _is_response_to(m, "INVITE")), None)
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        alice_cid = next((_h(m, "Call-ID") for m in atrace if m["dir"] == "out" and _is_request(m, "INVITE")), None)

        def sip(iface, direction, src, dst, start, cseq_method, cid):
            return [p for p in udp
                    if p["iface"] == iface and p["direction"] == direction
                    and (p["u"]["src"], p["u"]["sport"]) == src and (p["u"]["dst"], p["u"]["dport"]) == dst
                    and (_sip_start(p["u"]["payload"])[0] or "").startswith(start)
                    and _sip_start(p["u"]["payload"])[1] == cseq_method
                    and (cid is None or _call_id(p["u"]["payload"]) == cid)]

        core, carol, bob = (SBC_CORE, SIP_PORT), (CAROL[1], SIP_PORT), (BOB[1], SIP_PORT)
        acc, alice = (SBC_ACC, SIP_PORT), (ALICE[1], SIP_PORT)
        rows = (("the INVITE to carol", sip(PORT_CORE, 2, core, carol, "INVITE ", "INVITE", carol_cid)),
                ("carol's 200 for it", sip(PORT_CORE, 1, carol, core, "SIP/2.0 200", "INVITE", carol_cid)),
                ("the ACK to carol", sip(PORT_CORE, 2, core, carol, "ACK ", "ACK", carol_cid)),
                ("the re-INVITE to alice", sip(PORT_ACC, 2, acc, alice, "INVITE ", "INVITE", alice_cid)),
                ("the BYE to bob", sip(PORT_CORE, 2, core, bob, "BYE ", "BYE", None)))
        for what, frames in rows:
            if not frames:
                errs.append(f"{what} is not in the file")
        self._progress("SIP in the file: " + ", ".join(f"{what} x{len(frames)}" for what, frames in rows))
        first_takes = filter_takes(first_filter)
        taken_first = [p for p in rows[0][1] if first_takes(p["u"])]
        if taken_first:
            errs.append(f"the first filter {first_filter!r} takes the INVITE to carol ({_describe(taken_first[0])}): "
                        f"the test shows nothing")

        # carol's RTP: every packet she sent arrived (inbound on core), each relayed to alice in her
        # SSRC (outbound on acc); and every packet of alice's relayed to carol (outbound on core) as
        # her segment's record counts them (her rtpsim stops listening before alice stops sending).
        ra, rc = self._report(tdir, "alice"), self._report(tdir, "carol")
        carol_sdp_port = None
        if ok is not None:
            m = re.search(r"(?m)^m=audio (\d+)", ok["body"])
            carol_sdp_port = int(m.group(1)) if m else None
        carol_rtp = carol[0], carol_sdp_port or RTP_PORT
        inbound = [p for p in udp if p["iface"] == PORT_CORE and p["direction"] == 1 and _is_rtp(p["u"]["payload"])
                   and (p["u"]["src"], p["u"]["sport"]) == carol_rtp]
        to_alice = [p for p in udp if p["iface"] == PORT_ACC and p["direction"] == 2 and _is_rtp(p["u"]["payload"])
                    and (p["u"]["dst"], p["u"]["dport"]) == (ALICE[1], RTP_PORT)
                    and _ssrc(p["u"]["payload"]) == SSRC_CAROL]
        to_carol = [p for p in udp if p["iface"] == PORT_CORE and p["direction"] == 2 and _is_rtp(p["u"]["payload"])
                    and (p["u"]["dst"], p["u"]["dport"]) == carol_rtp]
        alice_heard = ((ra.get("per_ssrc") or {}).get(str(SSRC_CAROL)) or {}).get("count")
        relayed = (((carol_record.get("rtp") or {}).get("caller_to_callee")) or {}).get("packets")
        self._progress(f"carol's RTP in the file: {len(inbound)} in (she sent {rc.get('sent')}), {len(to_alice)} "
                       f"relayed to alice (she heard {alice_heard} in carol's SSRC), {len(to_carol)} to carol "
                       f"(her segment's record: {relayed} relayed; she received {rc.get('received')})")
        if carol_record.get("callee") != f"{CAROL[1]}:{SIP_PORT}":
            errs.append(f"the last new call record is not carol's segment: callee {carol_record.get('callee')!r}")
        for what, got, want, source in (
                ("RTP from carol inbound on core", len(inbound), rc.get("sent"), "carol's rtpsim sent"),
                ("RTP in carol's SSRC outbound to alice", len(to_alice), alice_heard, "alice's rtpsim heard"),
                ("RTP outbound to carol", len(to_carol), relayed, "carol's call record segment counts")):
            if not want or got != want:
                errs.append(f"{what}: {got} frames in the file, wanted {want} ({source})")
