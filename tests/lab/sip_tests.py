#!/usr/bin/env python3
"""sipferry lab: SIP features between two plain calls (session timers, RFC 4028).

A mixin for the lab runner (tests/lab/run), beside TransferTests (whose helpers it uses):

  session_refresh   alice's INVITE asks for Session-Expires: 90 with Supported: timer; the 200
                    names her the refresher (Require: timer); her refresh re-INVITE, repeating
                    her SDP, is answered by the appliance itself: bob (uas_answer.xml) never sees it
  reliable_ringing  bob rings reliably (180 with Require: 100rel, RSeq 1; uas_100rel.xml): the
                    appliance PRACKs it once in his early dialog, then the call completes with RTP
  reliable_ringing_to_caller  alice requires 100rel (uac_100rel.xml): her 180 comes reliably
                    (Require: 100rel, RSeq, retransmitted while she waits 1 s before her PRACK), the
                    PRACK gets 200, and the 200 for the INVITE, which bob sent at once, is held until
                    then; bob sees no PRACK; RTP both ways; CDR result 200
  reinvite_glare    alice and bob (tests/lab/sip_ua.py glare) re-INVITE each other at the same moment:
                    the appliance relays the first and answers the other 491, the UA that got the
                    relayed one answers 491 too; each retries after the RFC 3261 14.1 back-off and
                    succeeds; alice's BYE ends the call; CDR result 200, hangup caller
  reinvite_cancelled alice (uac_reinvite_cancel.xml) puts bob on hold with a re-INVITE, bob
                    (uas_reinvite_ring.xml) rings on it, alice CANCELs it: the CANCEL reaches bob
                    for his re-INVITE (its branch and CSeq), bob's 487 reaches alice, the call and
                    its RTP go on untouched to alice's BYE; stats sip.reinvites_cancelled + 1;
                    CDR result 200, hangup caller
  reinvite_481_ends_the_call bob (uas_reinvite_481.xml) answers alice's re-INVITE 481: his dialog is
                    gone, so the call ends: alice (uac_reinvite_dialog_gone.xml) gets the 481 and a
                    BYE, bob nothing more; stats sip.dialogs_gone + 1; CDR hangup dialog_gone
  reload_during_call `sipferryctl reload` in the middle of a call with RTP: refused without the
                    token, done with it (stats calls.reloads + 1), and the call loses nothing
  refer_storm_rate_limited  a caller of account lab-storm (2 transfers a minute) calls bob-trc; bob
                    (tests/lab/sip_ua.py) REFERs it to carol 4 times in a row, carol is busy: the first
                    two get 202 and a final NOTIFY 486, the other two 403 before any 202; the call
                    goes on to the caller's BYE; stats transfers.refused + 2
  call_burst_rate_limited  a caller of account lab-burst (2 new calls a second) sends 5 INVITEs at
                    once (tests/lab/sip_ua.py call-burst, to user "nobody"): 2 reach the dialplan
                    (404), 3 get 503 with Retry-After: 1; 1.2 s later 2 more both reach it;
                    stats accounts.call_rate_refusals + 3
"""
import contextlib
import os
import subprocess
import sys

from transfer_tests import read_trace, _is_request  # sipp -trace_msg parsing

SIP_TESTS = ["session_refresh", "reliable_ringing", "reliable_ringing_to_caller", "reinvite_glare",
             "reinvite_cancelled", "reinvite_481_ends_the_call", "reload_during_call", "refer_storm_rate_limited",
             "call_burst_rate_limited"]
SIP_UA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sip_ua.py")
STORM_IP = "192.0.2.13"  # TEST-NET-1 in sf-alice: configs/lab.conf [account.lab-storm] (2 transfers a minute)
BURST_IP = "192.0.2.12"  # TEST-NET-1 in sf-alice: configs/lab.conf [account.lab-burst] (2 new calls a second)


class SipTests:
    """Lab tests of SIP features; mixed into the runner class of tests/lab/run."""

    def _sip_stat(self, key):
        """`sipferryctl stats` -> sip.<key> (fails the test when it is missing)."""
        import json
        r = self._ctl(["stats"])
        try:
            return json.loads(r.stdout)["sip"][key]
        except (ValueError, KeyError) as e:
            self._fail(f"sipferryctl stats: no sip.{key} ({e}): {(r.stdout + r.stderr)[:200]}")

    def _check_new_cdr(self, cdr_before, errs, hangup="caller", result=200):
        """The CDR line written since `cdr_before` lines has `result` and `hangup`; the parsed
        record, or None (the problem appended to `errs`)."""
        import json
        line = self.wait_new_cdr(cdr_before)
        if line is None:
            errs.append("no new CDR line")
            return None
        self._progress(f"cdr: {line}")
        cdr = json.loads(line)
        if cdr.get("result") != result or cdr.get("hangup") != hangup:
            errs.append(f"CDR result {cdr.get('result')} hangup {cdr.get('hangup')}, wanted {result} {hangup}")
        return cdr

    def test_session_refresh(self, tdir):
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        bob = self._start_uas(tdir, "bob", BOB, "uas_answer.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=20, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_session_refresh.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service="bob", keys=self._rtp_keys(tdir, caller="alice", rtp_count=20))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice == 0 else 3)
        self._wait_rtpsims(tdir, ("bob",))
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        oks = [m for m in atrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")
               and "INVITE" in (m["headers"].get("cseq") or [""])[0]]
        ses = [(m["headers"].get("session-expires") or [""])[0] for m in oks]
        self._progress(f"alice's 200s for INVITE: Session-Expires {ses}")
        if len(oks) < 2 or any(not s.startswith("90;refresher=uac") for s in ses):
            errs.append(f"wanted two 200s with Session-Expires 90;refresher=uac, got {ses}")
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        invites = [m for m in btrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        self._progress(f"INVITEs at bob: {len(invites)}")
        if len(invites) != 1:
            errs.append(f"bob got {len(invites)} INVITEs: the refresh must be answered on alice's leg")
        if errs:
            self._fail("; ".join(errs))

    def test_reliable_ringing(self, tdir):
        count = 100
        problems, excerpts = self._alice_calls_bob(tdir, count, bob_scenario="uas_100rel.xml")
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        pracks = [m for m in btrace if m["dir"] == "in" and _is_request(m, "PRACK")]
        rack = [(m["headers"].get("rack") or [""])[0] for m in pracks]
        self._progress(f"PRACKs at bob: {len(pracks)} RAck {rack}")
        if len(pracks) != 1 or not rack[0].startswith("1 "):
            errs.append(f"wanted one PRACK with RAck 1 ..., got {rack}")
        for who in ("alice", "bob"):
            r = self._report(tdir, who)
            if r["received"] != count:
                errs.append(f"{who} received {r['received']}/{count} RTP packets")
        if errs:
            self._fail("; ".join(errs))

    def test_reliable_ringing_to_caller(self, tdir):
        count = 100
        cdr_before = len(self.cdr_lines())
        # bob (uas_answer.xml) answers right after his 180, while alice still holds back her PRACK:
        # his RTP starts 2 s after his ACK so that it reaches alice once her 200 has come and her
        # rtpsim listens (it lingers 2.5 s after sending for the same reason).
        problems, excerpts = self._alice_calls_bob(tdir, count, alice_scenario="uac_100rel.xml", bob_rtp_delay=2.0)
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        atrace = read_trace(os.path.join(tdir, "alice.msg"))

        def first(h, name):
            return (h.get(name) or [""])[0]
        ringing = [(i, m) for i, m in enumerate(atrace) if m["dir"] == "in" and m["start"].startswith("SIP/2.0 180")]
        rseqs = sorted({first(m["headers"], "rseq") for _, m in ringing})
        requires = sorted({first(m["headers"], "require") for _, m in ringing})
        trying = [m for m in atrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 100")]
        prack = [i for i, m in enumerate(atrace) if m["dir"] == "out" and _is_request(m, "PRACK")]
        prack_ok = [i for i, m in enumerate(atrace) if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")
                    and first(m["headers"], "cseq").endswith("PRACK")]
        invite_ok = [i for i, m in enumerate(atrace) if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")
                     and first(m["headers"], "cseq").endswith("INVITE")]
        self._progress(f"alice: {len(ringing)} copies of the 180 (Require {requires}, RSeq {rseqs}), "
                       f"PRACK at message {prack}, its 200 at {prack_ok}, the INVITE's 200 at {invite_ok}")
        if not ringing or requires != ["100rel"] or len(rseqs) != 1 or not rseqs[0].isdigit():
            errs.append(f"the 180s to alice must all carry Require: 100rel and one RSeq, got {requires} {rseqs}")
        if len(ringing) < 2:
            errs.append("the 180 was not retransmitted while alice held back her PRACK for 1 s (T1 = 500 ms)")
        if any(first(m["headers"], "rseq") or first(m["headers"], "require") for m in trying):
            errs.append("100 Trying must never be reliable")
        if len(prack) != 1 or len(prack_ok) != 1:
            errs.append(f"wanted one PRACK and one 200 for it, got {len(prack)} and {len(prack_ok)}")
        elif not invite_ok or invite_ok[0] < prack[0]:
            errs.append("the 200 for the INVITE reached alice before her PRACK: it must be held until then")
        elif ringing and max(i for i, _ in ringing) > prack[0]:
            errs.append("the 180 was still retransmitted after the PRACK")
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        if any(m["dir"] == "in" and _is_request(m, "PRACK") for m in btrace):
            errs.append("bob got a PRACK: alice's PRACK is hop by hop")
        for who in ("alice", "bob"):
            r = self._report(tdir, who)
            if r["received"] != count:
                errs.append(f"{who} received {r['received']}/{count} RTP packets")
        self._check_new_cdr(cdr_before, errs)
        if errs:
            self._fail("; ".join(errs))

    def test_reinvite_glare(self, tdir):
        import json
        import time
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        cdr_before = len(self.cdr_lines())
        # Both re-INVITE at this wall-clock moment (the call is up well before it).
        at = time.time() + 4.0
        common = ["glare", "--at", f"{at:.3f}", "--timeout", "20"]
        reports = self.run_scripted_uas(tdir, SIP_UA, [
            ("bob", BOB[0], common + ["--ip", BOB[1], "--role", "callee"], True),
            ("alice", ALICE[0], common + ["--ip", ALICE[1], "--role", "caller", "--to", f"{self._c('SBC_ACC')}:5060",
                                          "--user", "bob"], False)])
        a, b = reports["alice"], reports["bob"]
        self._progress(f"alice: setup {a.get('setup')}, her re-INVITEs {a.get('attempts')} (back-off "
                       f"{a.get('backoff')} s), she answered {a.get('answered')}, BYE {a.get('bye')}; "
                       f"bob: his re-INVITEs {b.get('attempts')} (back-off {b.get('backoff')} s), he answered "
                       f"{b.get('answered')}, BYE {b.get('bye')}")
        errs = []
        for who, r in (("alice", a), ("bob", b)):
            if r.get("error"):
                errs.append(f"{who}: {r['error']}")
            att = r.get("attempts") or []
            if not att or att[-1] != 200:
                errs.append(f"{who}'s re-INVITE never succeeded: {att}")
            elif any(x != 491 for x in att[:-1]):
                errs.append(f"{who}'s re-INVITE attempts {att}: only 491 may come before the 200")
            if len(r.get("backoff") or []) != att.count(491):
                errs.append(f"{who} did not retry after each 491 (back-offs {r.get('backoff')}, attempts {att})")
        if 491 not in (a.get("attempts") or []) + (b.get("attempts") or []):
            errs.append("nobody got a 491: the re-INVITEs did not collide")
        if a.get("setup") != 200:
            errs.append(f"the call was not set up (alice's INVITE got {a.get('setup')})")
        if a.get("bye") != 200 or b.get("bye") is not True:
            errs.append(f"the call did not end with alice's BYE (her BYE got {a.get('bye')}, bob got it: {b.get('bye')})")
        line = self.wait_new_cdr(cdr_before)
        if line is None:
            errs.append("no new CDR line")
        else:
            self._progress(f"cdr: {line}")
            cdr = json.loads(line)
            if cdr.get("result") != 200 or cdr.get("hangup") != "caller" or not cdr.get("b_call_id"):
                errs.append(f"CDR result {cdr.get('result')} hangup {cdr.get('hangup')} b_call_id "
                            f"{cdr.get('b_call_id')!r}, wanted 200, caller and bob's leg")
        if errs:
            self._fail("; ".join(errs))

    def test_reinvite_cancelled(self, tdir):
        count = 150

        before = self._sip_stat("reinvites_cancelled")
        cdr_before = len(self.cdr_lines())
        problems, excerpts = self._alice_calls_bob(tdir, count, bob_scenario="uas_reinvite_ring.xml",
                                                   alice_scenario="uac_reinvite_cancel.xml")
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        invites = [m for m in btrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        cancels = [m for m in btrace if m["dir"] == "in" and _is_request(m, "CANCEL")]

        def first(m, name):
            return (m["headers"].get(name) or [""])[0]

        def branch(m):
            return first(m, "via").split("branch=")[-1].split(";")[0].strip()
        if len(invites) < 2 or not cancels:
            errs.append(f"bob got {len(invites)} INVITEs and {len(cancels)} CANCELs, wanted a re-INVITE and its CANCEL")
        else:
            reinv, cancel = invites[-1], cancels[0]
            self._progress(f"bob's re-INVITE: CSeq {first(reinv, 'cseq')!r} branch {branch(reinv)}; "
                           f"the CANCEL: CSeq {first(cancel, 'cseq')!r} branch {branch(cancel)}")
            if branch(cancel) != branch(reinv) or first(cancel, "cseq").split()[0] != first(reinv, "cseq").split()[0]:
                errs.append("the CANCEL bob got does not match his re-INVITE (branch and CSeq number)")
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        finals = [m["start"].split()[1] for m in atrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 ")
                  and first(m, "cseq").replace(" ", "") == "2INVITE" and not m["start"].startswith("SIP/2.0 1")]
        self._progress(f"alice's final responses to her re-INVITE: {finals}")
        if not finals or set(finals) != {"487"}:
            errs.append(f"alice's re-INVITE ended with {finals}, wanted 487")
        for who in ("alice", "bob"):
            r = self._report(tdir, who)
            if r["received"] != count:
                errs.append(f"{who} received {r['received']}/{count} RTP packets")
        after = self._sip_stat("reinvites_cancelled")
        self._progress(f"sip.reinvites_cancelled {before} -> {after}")
        if after != before + 1:
            errs.append(f"sip.reinvites_cancelled went {before} -> {after}, wanted +1")
        self._check_new_cdr(cdr_before, errs)
        if errs:
            self._fail("; ".join(errs))

    def test_reinvite_481_ends_the_call(self, tdir):

        before = self._sip_stat("dialogs_gone")
        cdr_before = len(self.cdr_lines())
        problems, excerpts = self._alice_calls_bob(tdir, 150, bob_scenario="uas_reinvite_481.xml",
                                                   alice_scenario="uac_reinvite_dialog_gone.xml")
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        after = self._sip_stat("dialogs_gone")
        self._progress(f"sip.dialogs_gone {before} -> {after}")
        if after != before + 1:
            errs.append(f"sip.dialogs_gone went {before} -> {after}, wanted +1")
        self._check_new_cdr(cdr_before, errs, hangup="dialog_gone")
        if errs:
            self._fail("; ".join(errs))

    def test_reload_during_call(self, tdir):
        import json
        import threading
        import time
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        count = 150

        def reloads():
            r = self._ctl(["stats"])
            return json.loads(r.stdout)["calls"]["reloads"]

        before = reloads()
        bob = self._start_uas(tdir, "bob", BOB, "uas_answer.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=count, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service="bob", keys=self._rtp_keys(tdir, caller="alice", rtp_count=count, rtp_delay=0.5))
        outcome = {}

        def reload_midway():
            time.sleep(2.0)  # the call is up and its RTP flowing (it lasts ~4.5 s)
            outcome["no_token"] = self._ctl(["reload"])
            outcome["token"] = self._ctl(["reload"], token="sipferry-lab-call-control")
        t = threading.Thread(target=reload_midway)
        t.start()
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice == 0 else 3)
        t.join(timeout=15)
        self._wait_rtpsims(tdir, ("alice", "bob"))
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        nt, wt = outcome.get("no_token"), outcome.get("token")
        if nt is None or wt is None:
            errs.append("the reload commands did not run")
        else:
            self._progress(f"reload without token: exit {nt.returncode} {(nt.stdout + nt.stderr).strip()[:120]}")
            self._progress(f"reload with token: exit {wt.returncode} {wt.stdout.strip()[:120]}")
            if nt.returncode == 0:
                errs.append("reload without the token was accepted")
            if wt.returncode != 0 or '"reloaded":true' not in wt.stdout.replace(" ", ""):
                errs.append(f"reload with the token failed: {(wt.stdout + wt.stderr)[:300]}")
        after = reloads()
        if after != before + 1:
            errs.append(f"calls.reloads went {before} -> {after}, wanted +1")
        for who in ("alice", "bob"):
            r = self._report(tdir, who)
            if r["received"] != count:
                errs.append(f"{who} received {r['received']}/{count} RTP packets across the reload")
        if errs:
            self._fail("; ".join(errs))

    @contextlib.contextmanager
    def _second_address(self, ns, ip, dev="alice0"):
        """Gives the namespace's veth `ip` for the test's time: a caller of its own account
        (configs/lab.conf); removed again afterwards, also on failure."""
        subprocess.run(["ip", "netns", "exec", ns, "ip", "addr", "add", f"{ip}/24", "dev", dev],
                       capture_output=True, timeout=10)
        try:
            yield
        finally:
            subprocess.run(["ip", "netns", "exec", ns, "ip", "addr", "del", f"{ip}/24", "dev", dev],
                           capture_output=True, timeout=10)

    def test_refer_storm_rate_limited(self, tdir):
        import json
        ALICE = self._c("ALICE")
        BOB, CAROL = self._c("BOB"), self._c("CAROL")
        ns = ALICE[0]
        with self._second_address(ns, STORM_IP):
            def stats():
                return json.loads(self._ctl(["stats"]).stdout)["transfers"]
            before = stats()
            procs = []
            for who, side, args in (("carol", CAROL, ["busy", "--ip", CAROL[1], "--timeout", "8"]),
                                    ("bob", BOB, ["refer-storm", "--ip", BOB[1], "--count", "4", "--target", "carol",
                                                  "--timeout", "25"])):
                argv = ["ip", "netns", "exec", side[0], sys.executable, SIP_UA] + args + \
                       ["--report", os.path.join(tdir, f"{who}.json")]
                p = subprocess.Popen(argv, cwd=tdir, stdout=open(os.path.join(tdir, f"{who}.out"), "w"),
                                     stderr=subprocess.STDOUT)
                self.procs.append(p)
                procs.append(p)
            if not self.wait_listening(BOB[0], 5060) or not self.wait_listening(CAROL[0], 5060):
                self._fail("the scripted bob or carol did not start listening")
            alice = self.sipp(tdir, "alice", (ns, STORM_IP), "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                              service="bob-trc", keys=self._rtp_keys(tdir, caller="alice", rtp_count=50))
            rc_alice = self.wait_sipp(alice)
            for p in procs:
                try:
                    p.wait(timeout=25)
                except subprocess.TimeoutExpired:
                    self.kill_proc(p)
                if p in self.procs:
                    self.procs.remove(p)
            self._wait_rtpsims(tdir, ("alice",))
            errs = []
            if rc_alice != 0:
                errs.append(f"the caller's sipp exit {rc_alice} (the call must survive the storm)\n" +
                            self.sipp_excerpt(alice))
            try:
                bob = json.load(open(os.path.join(tdir, "bob.json")))
                carol = json.load(open(os.path.join(tdir, "carol.json")))
            except (OSError, ValueError) as e:
                self._fail(f"no report from the scripted peers ({e})")
            after = stats()
            self._progress(f"REFER answers {bob.get('refers')}, final NOTIFYs {bob.get('finals')}, "
                           f"INVITEs at carol {carol.get('invites')}, BYE to bob {bob.get('bye')}; "
                           f"refused +{after['refused'] - before['refused']}")
            if bob.get("refers") != [202, 202, 403, 403]:
                errs.append(f"REFER answers {bob.get('refers')}, wanted [202, 202, 403, 403] "
                            f"(account lab-storm: 2 transfers a minute)")
            finals = [f for f in bob.get("finals", [])[:2]]
            if finals != ["SIP/2.0 486 Busy Here", "SIP/2.0 486 Busy Here"]:
                errs.append(f"final NOTIFYs of the accepted REFERs {finals}, wanted carol's 486 twice")
            if carol.get("invites") != 2:
                errs.append(f"carol got {carol.get('invites')} INVITEs, wanted 2 (refused REFERs place no leg)")
            if not bob.get("bye"):
                errs.append("bob got no BYE at the end: the call did not go on to the caller's hang-up")
            if after["refused"] - before["refused"] != 2:
                errs.append(f"transfers.refused grew by {after['refused'] - before['refused']}, wanted 2")
            if errs:
                self._fail("; ".join(errs))

    def test_call_burst_rate_limited(self, tdir):
        import json
        ns = self._c("ALICE")[0]
        with self._second_address(ns, BURST_IP):
            def refusals():
                return json.loads(self._ctl(["stats"]).stdout)["accounts"].get("call_rate_refusals", 0)
            before = refusals()
            report = os.path.join(tdir, "burst.json")
            argv = ["ip", "netns", "exec", ns, sys.executable, SIP_UA, "call-burst", "--ip", BURST_IP,
                    "--to", f"{self._c('SBC_ACC')}:5060", "--user", "nobody", "--waves", "5,2", "--pause", "1.2",
                    "--report", report, "--timeout", "20"]
            r = self.run(argv, timeout=30)
            try:
                rep = json.load(open(report))
            except (OSError, ValueError) as e:
                self._fail(f"no report from sip_ua.py call-burst ({e}): {(r.stdout + r.stderr).strip()[-500:]}")
            after = refusals()
            waves = rep.get("waves") or []
            self._progress(f"final statuses per wave {waves}, Retry-After {rep.get('retry_after')}; "
                           f"accounts.call_rate_refusals +{after - before}")
            errs = []
            if len(waves) != 2:
                errs.append(f"{len(waves)} waves reported, wanted 2")
            else:
                first, second = sorted(waves[0], key=str), sorted(waves[1], key=str)
                if first != [404, 404, 503, 503, 503]:
                    errs.append(f"first wave {waves[0]}: wanted 2 calls routed (404 from the dialplan) and 3 "
                                f"refused with 503 (2 calls a second)")
                if second != [404, 404]:
                    errs.append(f"second wave {waves[1]}: wanted both routed after the bucket refilled")
            if rep.get("retry_after") != ["1", "1", "1"]:
                errs.append(f"Retry-After values {rep.get('retry_after')}, wanted 1 on each 503")
            if after - before != 3:
                errs.append(f"accounts.call_rate_refusals grew by {after - before}, wanted 3")
            if errs:
                self._fail("; ".join(errs))
