#!/usr/bin/env python3
"""sipferry lab: SIP features between two plain calls (session timers, RFC 4028).

A mixin for the lab runner (tests/lab/run), beside TransferTests (whose helpers it uses):

  session_refresh   alice's INVITE asks for Session-Expires: 90 with Supported: timer; the 200
                    names her the refresher (Require: timer); her refresh re-INVITE, repeating
                    her SDP, is answered by the appliance itself: bob (uas_answer.xml) never sees it
  reliable_ringing  bob rings reliably (180 with Require: 100rel, RSeq 1; uas_100rel.xml): the
                    appliance PRACKs it once in his early dialog, then the call completes with RTP
  reload_during_call `sipferryctl reload` in the middle of a call with RTP: refused without the
                    token, done with it (stats calls.reloads + 1), and the call loses nothing
  refer_storm_rate_limited  a caller of account lab-storm (2 transfers a minute) calls bob-trc; bob
                    (tests/lab/sip_ua.py) REFERs it to carol 4 times in a row, carol is busy: the first
                    two get 202 and a final NOTIFY 486, the other two 403 before any 202; the call
                    goes on to the caller's BYE; stats transfers.refused + 2
"""
import os
import sys

from transfer_tests import read_trace, _is_request  # sipp -trace_msg parsing

SIP_TESTS = ["session_refresh", "reliable_ringing", "reload_during_call", "refer_storm_rate_limited"]
SIP_UA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sip_ua.py")
STORM_IP = "192.0.2.13"  # TEST-NET-1 in sf-alice: configs/lab.conf [account.lab-storm] (2 transfers a minute)


class SipTests:
    """Lab tests of SIP features; mixed into the runner class of tests/lab/run."""

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
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        count = 100
        bob = self._start_uas(tdir, "bob", BOB, "uas_100rel.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=count, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service="bob", keys=self._rtp_keys(tdir, caller="alice", rtp_count=count, rtp_delay=0.5))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice == 0 else 3)
        self._wait_rtpsims(tdir, ("alice", "bob"))
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])
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

    def test_refer_storm_rate_limited(self, tdir):
        import json
        import subprocess
        ALICE = self._c("ALICE")
        BOB, CAROL = self._c("BOB"), self._c("CAROL")
        ns = ALICE[0]
        subprocess.run(["ip", "netns", "exec", ns, "ip", "addr", "add", f"{STORM_IP}/24", "dev", "alice0"],
                       capture_output=True, timeout=10)
        try:
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
        finally:
            subprocess.run(["ip", "netns", "exec", ns, "ip", "addr", "del", f"{STORM_IP}/24", "dev", "alice0"],
                           capture_output=True, timeout=10)
