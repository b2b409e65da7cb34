#!/usr/bin/env python3
"""sipferry lab: dialling several destinations (dial strings with & and |).

A mixin for the lab runner (tests/lab/run), next to TransferTests, whose helpers it uses
(_c, _start_uas, _rtp_keys, _report, _wait_rtpsims, _sipp_problems, _wait_cdrs, _fail, _progress):

  parallel_fork     alice calls bob+carol: both ring; bob answers, carol (ringing) gets a CANCEL
                    with Reason: SIP;cause=200 (RFC 3326: her phone logs no missed call);
                    alice <-> bob media relayed by the appliance, the CDR names bob
  sequential_fork   alice calls carol-then-bob: carol rings 4 s (rt=4) and is CANCELled, then bob
                    is called and answers; bob's INVITE leaves only after carol's CANCEL, and
                    says whom the call was for in its Diversion and History-Info (dv=no-answer,
                    dh=both), carol's in neither
  redirect_followed alice calls bob-rd (rd=2): bob answers 302 with carol's Contact (and ;rn= ;npdi
                    parameters, uas_redirect.xml); the appliance ACKs it and INVITEs carol with that
                    Contact as Request-URI; carol answers, alice never sees the 302; RTP both ways,
                    the CDR names carol; stats sip.redirects_followed + 1
"""
import json
import os

from transfer_tests import read_trace, _is_request  # sipp -trace_msg parsing

FORK_TESTS = ["parallel_fork", "sequential_fork", "redirect_followed"]
RING_TIME_S = 4.0  # lua/dialplans/lab_default.lua: "X-then-Y" rings X with rt=4


class ForkTests:
    """Lab tests for forking; mixed into the runner class of tests/lab/run."""

    def _fork_call(self, tdir, service):
        """carol rings until cancelled, bob answers with RTP, alice calls `service` with RTP.
        Returns (errors, traces by name)."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        count = 150
        carol = self._start_uas(tdir, "carol", CAROL, "uas_ring.xml")
        bob = self._start_uas(tdir, "bob", BOB, "uas_answer.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=count, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service=service, keys=self._rtp_keys(tdir, caller="alice", rtp_count=count, rtp_delay=0.5))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice == 0 else 3)
        rc_carol = self.wait_sipp(carol, timeout=3)
        self._wait_rtpsims(tdir, ("alice", "bob"))
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        for who, appliance in (("alice", self._c("SBC_ACC")), ("bob", self._c("SBC_CORE"))):
            r = self._report(tdir, who)
            self._progress(f"rtp: {who} sent {r['sent']} received {r['received']} from {r['received_from']}")
            if r["received"] != count:
                errs.append(f"{who} received {r['received']}/{count} RTP packets")
            bad = [k for k in r["received_from"] if not k.startswith(appliance + ":")]
            if bad:
                errs.append(f"{who} got RTP from {bad}, not only from the appliance {appliance}")
        traces = {who: read_trace(os.path.join(tdir, f"{who}.msg")) for who in ("alice", "bob", "carol")}
        cinv = next((m for m in traces["carol"] if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        ccancel = next((m for m in traces["carol"] if m["dir"] == "in" and _is_request(m, "CANCEL")), None)
        if cinv is None or ccancel is None:
            errs.append("carol did not get an INVITE and then a CANCEL")
        elif (cinv["headers"].get("call-id") or [None])[0] != (ccancel["headers"].get("call-id") or [""])[0]:
            errs.append("carol's CANCEL does not carry her INVITE's Call-ID")
        return errs, traces

    def _check_fork_cdr(self, before, errs):
        lines = self._wait_cdrs(before, 1)
        if not lines:
            errs.append("no new CDR line")
            return
        cdr = json.loads(lines[-1])
        self._progress(f"cdr: result {cdr.get('result')} callee {cdr.get('callee')} hangup {cdr.get('hangup')}")
        if cdr.get("result") != 200 or not str(cdr.get("callee", "")).startswith(self._c("BOB")[1] + ":"):
            errs.append(f"CDR does not show the call answered by bob: {lines[-1][:300]}")

    def test_parallel_fork(self, tdir):
        before = len(self.cdr_lines())
        errs, traces = self._fork_call(tdir, "bob+carol")
        binv = next((m for m in traces["bob"] if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        cinv = next((m for m in traces["carol"] if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        if binv and cinv:
            apart = abs(binv["time"] - cinv["time"]) * 1000.0
            self._progress(f"bob's and carol's INVITEs arrived {apart:.1f} ms apart")
            if apart > 1000.0:
                errs.append(f"the parallel INVITEs were {apart:.0f} ms apart: not in parallel")
        ccancel = next((m for m in traces["carol"] if m["dir"] == "in" and _is_request(m, "CANCEL")), None)
        reason = (ccancel["headers"].get("reason") or [""])[0] if ccancel else ""
        if ccancel is not None and "cause=200" not in reason:
            errs.append(f"carol's CANCEL has Reason {reason!r}, wanted SIP;cause=200 (RFC 3326: completed elsewhere)")
        self._check_fork_cdr(before, errs)
        if errs:
            self._fail("; ".join(errs))

    def test_sequential_fork(self, tdir):
        before = len(self.cdr_lines())
        errs, traces = self._fork_call(tdir, "carol-then-bob")
        cinv = next((m for m in traces["carol"] if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        ccancel = next((m for m in traces["carol"] if m["dir"] == "in" and _is_request(m, "CANCEL")), None)
        binv = next((m for m in traces["bob"] if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        if cinv and ccancel and binv:
            rang = ccancel["time"] - cinv["time"]
            self._progress(f"carol rang {rang:.2f} s (rt={RING_TIME_S:g}); bob's INVITE came "
                           f"{(binv['time'] - ccancel['time']) * 1000.0:.1f} ms after carol's CANCEL")
            if not RING_TIME_S - 0.5 <= rang <= RING_TIME_S + 1.5:
                errs.append(f"carol rang {rang:.2f} s, wanted about {RING_TIME_S:g} s")
            if binv["time"] < ccancel["time"] - 0.05:
                errs.append("bob was called before carol's ring time ran out")
        elif binv is None:
            errs.append("bob never got an INVITE")
        # RFC 5806: the dialplan forwards on no answer (dv=no-answer): bob hears whom it was for.
        want = f"<sip:carol-then-bob@{self._c('SBC_CORE')}>;reason=no-answer;counter=1"
        if binv is not None and binv["headers"].get("diversion") != [want]:
            errs.append(f"bob's Diversion is {binv['headers'].get('diversion')}, wanted [{want!r}]")
        # RFC 7044 too (dh=both): the dialled party at index 1, bob's Request-URI at 1.1 with the
        # RFC 4458 cause RFC 7544 gives no-answer.
        want_hi = (f"<sip:carol-then-bob@{self._c('SBC_CORE')}>;index=1, "
                   f"<sip:bob@{self._c('BOB')[1]}:5060;cause=408>;index=1.1;mp=1")
        if binv is not None and binv["headers"].get("history-info") != [want_hi]:
            errs.append(f"bob's History-Info is {binv['headers'].get('history-info')}, wanted [{want_hi!r}]")
        for h in ("diversion", "history-info"):
            if cinv is not None and h in cinv["headers"]:
                errs.append(f"carol, the first destination, got a {h}: {cinv['headers'][h]}")
        self._check_fork_cdr(before, errs)
        if errs:
            self._fail("; ".join(errs))

    def test_redirect_followed(self, tdir):
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        before = len(self.cdr_lines())
        followed = self.stat(self.stats(), "sip.redirects_followed")
        count = 150
        bob = self._start_uas(tdir, "bob", BOB, "uas_redirect.xml")
        carol = self._start_uas(tdir, "carol", CAROL, "uas_answer.xml",
                                self._rtp_keys(tdir, name="carol", rtp_count=count, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service="bob-rd", keys=self._rtp_keys(tdir, caller="alice", rtp_count=count))
        rc_alice = self.wait_sipp(alice)
        rc_carol = self.wait_sipp(carol, timeout=8 if rc_alice == 0 else 3)
        rc_bob = self.wait_sipp(bob, timeout=3)
        self._wait_rtpsims(tdir, ("alice", "carol"))
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        traces = {who: read_trace(os.path.join(tdir, f"{who}.msg")) for who in ("alice", "carol")}
        cinv = next((m for m in traces["carol"] if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        if cinv is None:
            errs.append("carol got no INVITE after bob's 302")
        else:
            self._progress(f"carol's INVITE: {cinv['start']!r}")
            if cinv["start"] != "INVITE sip:carol@198.51.100.30:5060;rn=+15550100;npdi SIP/2.0":
                errs.append(f"carol's Request-URI is {cinv['start']!r}, wanted the 302's Contact with its parameters")
            want = f"<sip:bob-rd@{self._c('SBC_CORE')}>;reason=deflection;counter=1"
            if cinv["headers"].get("diversion") != [want]:
                errs.append(f"carol's Diversion is {cinv['headers'].get('diversion')}, wanted [{want!r}] (bob deflected)")
        if any(m["dir"] == "in" and m["start"].startswith("SIP/2.0 3") for m in traces["alice"]):
            errs.append("alice got the 3xx: the appliance must follow it, not pass it on")
        for who, appliance in (("alice", self._c("SBC_ACC")), ("carol", self._c("SBC_CORE"))):
            r = self._report(tdir, who)
            self._progress(f"rtp: {who} sent {r['sent']} received {r['received']} from {r['received_from']}")
            if r["received"] != count:
                errs.append(f"{who} received {r['received']}/{count} RTP packets")
            if any(not k.startswith(appliance + ":") for k in r["received_from"]):
                errs.append(f"{who} got RTP from {list(r['received_from'])}, not only from the appliance {appliance}")
        grew = self.stat(self.stats(), "sip.redirects_followed") - followed
        if grew != 1:
            errs.append(f"sip.redirects_followed grew by {grew}, wanted 1")
        lines = self._wait_cdrs(before, 1)
        cdr = json.loads(lines[-1]) if lines else {}
        self._progress(f"cdr: result {cdr.get('result')} callee {cdr.get('callee')}")
        if cdr.get("result") != 200 or cdr.get("callee") != f"{CAROL[1]}:5060":
            errs.append(f"CDR does not show the call answered by carol: {lines[-1][:300] if lines else 'none'}")
        if errs:
            self._fail("; ".join(errs))
