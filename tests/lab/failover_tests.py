#!/usr/bin/env python3
"""sipferry lab: provider failover (`ping` and `response_timeout`, docs/accounts.md "Failover").

A mixin for the lab runner (tests/lab/run), beside TransferTests (whose helpers it uses: _c,
_start_uas, _sipp_problems, _fail, _progress) and the runner's stats():

  provider_failover  configs/lab.conf has two providers nobody answers for: lab-dead
                    (198.51.100.41, ping = 2, response_timeout = 1), which goes down a few seconds
                    after start, and lab-silent (198.51.100.42, response_timeout = 1, no ping), which is
                    never marked down. (1) the stats show lab-dead down; (2) alice calls `deadfirst-bob`
                    (lab dialplan: bob@lab-dead|bob@198.51.100.20:5060): lab-dead is skipped at once,
                    bob (busy) gets exactly one INVITE, alice his 486; providers.skipped_down + 1,
                    response_timeouts + 0; (3) alice calls `silentfirst-bob`: the INVITE to lab-silent
                    gets no answer, after 1 s that destination fails (408) and bob gets one INVITE,
                    alice his 486; response_timeouts + 1, skipped_down + 0, lab-silent not in
                    providers.probed; (4) carol0 gets 198.51.100.41 and sip_trunk.py there answers
                    the OPTIONS probes 200: lab-dead comes up (downs >= 1). The address is removed and
                    the trunk stopped afterwards, also on failure
  provider_channels_overflow  configs/lab.conf has lab-pbx, a PBX on carol's address with one channel
                    (max_calls = 1); the lab dialplan routes `pbxfirst-X` to X@lab-pbx|X@<host of X>.
                    (1) carol answers (uas_answer.xml) alice's call to `pbxfirst-bob` (uac_call.xml,
                    BYE after ~4.5 s): while it is up providers.channels.lab-pbx is calls 1, max 1;
                    (2) a second alice sipp (port 5062, uac_busy.xml) calls `pbxfirst-bob`: lab-pbx is
                    full, so that destination is skipped at once and bob (uas_busy.xml) gets the
                    INVITE, the caller his 486; carol gets no second INVITE, providers.skipped_full + 1;
                    (3) after call 1's BYE the channel is free again (calls 0)
"""
import json
import os
import subprocess
import time

from transfer_tests import read_trace, _is_request  # sipp -trace_msg parsing
from provider_tests import TRUNK  # tests/lab/sip_trunk.py: answers OPTIONS (anything but REGISTER/INVITE) 200

FAILOVER_TESTS = ["provider_failover", "provider_channels_overflow"]
DEAD, SILENT = "lab-dead", "lab-silent"  # configs/lab.conf [provider.lab-dead], [provider.lab-silent]
DEAD_IP = "198.51.100.41"
PBX = "lab-pbx"  # configs/lab.conf [provider.lab-pbx]: carol's address, max_calls = 1
PBX_WAIT = 5.0  # seconds: bound of every wait on lab-pbx's channel count
SECOND_PORT, SECOND_MP = 5062, 16100  # the second caller: another sipp in sf-alice (_sipp_mp)
WAIT = 10.0  # seconds: bound of every wait on the provider's state
POLL = 0.5  # seconds between two stats reads while waiting
CALL_WAIT = 10  # seconds a caller may take to its 486 (silentfirst: ~1 s of response_timeout)


def _providers_of(st):
    """The `providers` object of `sipferryctl stats` (beside `provider_registrations`), wherever it
    sits; {} when there is none."""
    if isinstance(st, dict):
        if isinstance(st.get("providers"), dict) and "provider_registrations" in st:
            return st["providers"]
        for v in st.values():
            found = _providers_of(v)
            if found:
                return found
    return {}


class FailoverTests:
    """Lab tests of provider failover; mixed into the runner class of tests/lab/run."""

    def _failover_providers(self):
        prov = _providers_of(self.stats())
        if not prov:
            self._fail("sipferryctl stats has no `providers` object beside `provider_registrations`")
        return prov

    def _wait_dead_provider(self, up, label):
        """Polls (every POLL s, at most WAIT s) until providers.probed[lab-dead].up == up (and, for
        up, downs >= 1); returns the last `providers` object read."""
        end = time.monotonic() + WAIT
        t0 = time.monotonic()
        while True:
            prov = self._failover_providers()
            state = prov.get("probed", {}).get(DEAD)
            if isinstance(state, dict) and state.get("up") is up and (not up or state.get("downs", 0) >= 1):
                self._progress(f"{label}: {DEAD} {state} after {time.monotonic() - t0:.1f} s")
                return prov
            if time.monotonic() >= end:
                self._fail(f"{label}: {DEAD} not {'up (with downs >= 1)' if up else 'down'} within {WAIT:.0f} s; "
                           f"stats providers: {json.dumps(prov)}")
            time.sleep(POLL)

    def _dead_address(self, add):
        self._core_address(DEAD_IP, add)  # ProviderTests: on carol's veth, like the trunk's

    def _failover_call(self, tdir, tag, service):
        """alice (uac_busy.xml) calls `service`; bob (uas_busy.xml) answers 486. Returns (stats
        `providers` before, after, bob's INVITEs, alice's final responses, seconds from alice's INVITE
        to bob's)."""
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        before = self._failover_providers()
        bob = self._start_uas(tdir, f"{tag}-bob", BOB, "uas_busy.xml")
        alice = self.sipp(tdir, f"{tag}-alice", ALICE, "uac_busy.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service=service)
        rc_alice = self.wait_sipp(alice, timeout=CALL_WAIT)
        rc_bob = self.wait_sipp(bob, timeout=3)
        after = self._failover_providers()
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])
        btrace = read_trace(os.path.join(tdir, f"{tag}-bob.msg"))
        atrace = read_trace(os.path.join(tdir, f"{tag}-alice.msg"))
        invites = [m for m in btrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        finals = [m["start"] for m in atrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 ")
                  and not m["start"].startswith("SIP/2.0 1")]
        sent = next((m["time"] for m in atrace if m["dir"] == "out" and _is_request(m, "INVITE")), None)
        lag = invites[0]["time"] - sent if invites and sent else None
        if problems:
            self._fail(f"{tag} ({service}): " + "; ".join(problems) + "\n" + excerpts +
                       f"stats providers before {json.dumps(before)} after {json.dumps(after)}")
        return before, after, invites, finals, lag

    def test_provider_failover(self, tdir):
        errs = []
        # 1. lab-dead has left a probe unanswered: down.
        prov = self._wait_dead_provider(False, "1. probes unanswered")
        self._progress(f"stats providers: {json.dumps(prov)}")

        # 2. deadfirst-bob: the down provider is skipped at once, bob rings.
        before, after, invites, finals, lag = self._failover_call(tdir, "dead", "deadfirst-bob")
        d_skip = after.get("skipped_down", 0) - before.get("skipped_down", 0)
        d_rt = after.get("response_timeouts", 0) - before.get("response_timeouts", 0)
        self._progress(f"2. deadfirst-bob: bob got {len(invites)} INVITE(s)"
                       f"{f' {lag:.3f} s after alice sent hers' if lag is not None else ''}, alice got {finals}; "
                       f"skipped_down +{d_skip}, response_timeouts +{d_rt}; {DEAD} {after.get('probed', {}).get(DEAD)}")
        if len(invites) != 1:
            errs.append(f"deadfirst-bob: bob got {len(invites)} INVITEs, wanted exactly 1")
        if not finals or not finals[-1].startswith("SIP/2.0 486"):
            errs.append(f"deadfirst-bob: alice's final responses {finals}, wanted bob's 486")
        if d_skip != 1 or d_rt != 0:
            errs.append(f"deadfirst-bob: providers.skipped_down +{d_skip}, response_timeouts +{d_rt}; wanted +1 and +0 "
                        f"({DEAD} is down: skipped at once, not timed out)")

        # 3. silentfirst-bob: lab-silent never answers; after its response_timeout bob rings.
        before, after, invites, finals, lag = self._failover_call(tdir, "silent", "silentfirst-bob")
        d_skip = after.get("skipped_down", 0) - before.get("skipped_down", 0)
        d_rt = after.get("response_timeouts", 0) - before.get("response_timeouts", 0)
        probed = after.get("probed", {})
        self._progress(f"3. silentfirst-bob: bob got {len(invites)} INVITE(s)"
                       f"{f' {lag:.3f} s after alice sent hers' if lag is not None else ''} (response_timeout 1 s), "
                       f"alice got {finals}; response_timeouts +{d_rt}, skipped_down +{d_skip}; "
                       f"probed {sorted(probed)}")
        if len(invites) != 1:
            errs.append(f"silentfirst-bob: bob got {len(invites)} INVITEs, wanted exactly 1")
        if not finals or not finals[-1].startswith("SIP/2.0 486"):
            errs.append(f"silentfirst-bob: alice's final responses {finals}, wanted bob's 486")
        if d_rt != 1 or d_skip != 0:
            errs.append(f"silentfirst-bob: providers.response_timeouts +{d_rt}, skipped_down +{d_skip}; wanted +1 "
                        f"and +0 ({SILENT} has no ping: never marked down, its INVITE times out)")
        if SILENT in probed:
            errs.append(f"providers.probed lists {SILENT} ({probed[SILENT]}): it has no ping, it is not probed")

        # 4. Recovery: something answers the probes at lab-dead's address.
        ns = self._c("CAROL")[0]
        report = os.path.join(tdir, "dead-trunk.json")
        rep = None
        self._dead_address(True)
        try:
            with open(os.path.join(tdir, "dead-trunk.log"), "w") as log:
                trunk = subprocess.Popen(["ip", "netns", "exec", ns, "python3", TRUNK, "--ip", DEAD_IP,
                                          "--user", "lab-dead", "--password", "unused", "--realm", "lab-dead",
                                          "--report", report, "--timeout", str(int(WAIT) + 2)],
                                         cwd=tdir, stdout=log, stderr=log)
            self.procs.append(trunk)  # the runner kills what is left at the end of the test
            try:
                if not self.wait_listening(ns, 5060):
                    self._fail(f"sip_trunk.py on {DEAD_IP} did not start listening")
                self._wait_dead_provider(True, "4. probes answered")
            finally:
                self.kill_proc(trunk)  # the process we started (ip netns exec execs python3: same PID)
                if trunk in self.procs:
                    self.procs.remove(trunk)
        finally:
            self._dead_address(False)
        try:
            rep = json.load(open(report))
        except (OSError, ValueError) as e:
            errs.append(f"no report from sip_trunk.py on {DEAD_IP} ({e})")
        if rep is not None:
            rows = [(r["method"], r.get("uri"), r.get("answer")) for r in rep["requests"]]
            self._progress(f"4. sip_trunk.py on {DEAD_IP} answered: {rows}")
            if not any(m == "OPTIONS" and (a or "").startswith("SIP/2.0 200") for m, _, a in rows):
                errs.append(f"sip_trunk.py on {DEAD_IP} answered no OPTIONS with 200: {rows}")
            bad = [u for m, u, _ in rows if m == "OPTIONS" and u != f"sip:{DEAD_IP}:5060"]
            if bad:
                errs.append(f"probe Request-URIs {bad}, wanted sip:{DEAD_IP}:5060")
        if errs:
            self._fail("; ".join(errs))

    # ---- provider_channels_overflow ---------------------------------------------------------------
    def _pbx_channel(self, prov):
        """providers.channels[lab-pbx] ({"calls": in use, "max": N}) or None."""
        ch = prov.get("channels")
        return ch.get(PBX) if isinstance(ch, dict) else None

    def _wait_pbx_calls(self, want, label):
        """Polls (every 0.1 s, at most PBX_WAIT s) until providers.channels[lab-pbx].calls == want;
        returns the last `providers` object read."""
        end = time.monotonic() + PBX_WAIT
        t0 = time.monotonic()
        while True:
            prov = self._failover_providers()
            ch = self._pbx_channel(prov)
            if isinstance(ch, dict) and ch.get("calls") == want:
                self._progress(f"{label}: channels.{PBX} {ch} after {time.monotonic() - t0:.1f} s")
                return prov
            if time.monotonic() >= end:
                self._fail(f"{label}: providers.channels.{PBX} is {ch}, not calls {want} within {PBX_WAIT:.0f} s; "
                           f"stats providers: {json.dumps(prov)}")
            time.sleep(0.1)

    def test_provider_channels_overflow(self, tdir):
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        sbc = f"{self._c('SBC_ACC')}:5060"
        errs = []
        prov = self._failover_providers()
        ch = self._pbx_channel(prov)
        self._progress(f"0. before: channels.{PBX} {ch}, skipped_full {prov.get('skipped_full')}")
        if not isinstance(ch, dict) or ch.get("max") != 1 or ch.get("calls") != 0:
            self._fail(f"providers.channels.{PBX} is {ch}, wanted {{'calls': 0, 'max': 1}} "
                       f"(configs/lab.conf max_calls = 1); stats providers: {json.dumps(prov)}")
        started = []
        try:
            # 1. Call 1: alice -> pbxfirst-bob -> bob@lab-pbx: carol (lab-pbx's address) answers.
            carol = self._start_uas(tdir, "carol", CAROL, "uas_answer.xml",
                                    self._rtp_keys(tdir, name="carol", rtp_count=50, rtp_delay=0.5))
            started.append(carol)
            alice1 = self.sipp(tdir, "alice1", ALICE, "uac_call.xml", remote=sbc, service="pbxfirst-bob",
                               keys=self._rtp_keys(tdir, caller="alice", rtp_count=50))
            started.append(alice1)
            call = self._confirmed_call(ALICE[1], CAROL[1], alice1)
            if call is None:
                self._fail("no confirmed call alice -> carol (lab-pbx) in `sipferryctl calls` within 6 s\n"
                           + self.sipp_excerpt(alice1) + self.sipp_excerpt(carol))
            prov = self._wait_pbx_calls(1, "1. call 1 answered by lab-pbx")
            if self._pbx_channel(prov).get("max") != 1:
                errs.append(f"providers.channels.{PBX} is {self._pbx_channel(prov)} during call 1, wanted max 1")

            # 2. Call 2 while call 1 holds lab-pbx's only channel: skipped at once, bob rings.
            before = prov
            bob = self._start_uas(tdir, "bob", BOB, "uas_busy.xml")
            started.append(bob)
            alice2 = self._sipp_mp(tdir, "alice2", ALICE, "uac_busy.xml", SECOND_PORT, SECOND_MP, remote=sbc,
                                   service="pbxfirst-bob")
            started.append(alice2)
            rc_alice2 = self.wait_sipp(alice2, timeout=10)
            rc_bob = self.wait_sipp(bob, timeout=3)
            after = self._failover_providers()
            if alice1.poll() is not None:
                errs.append(f"call 1 (alice1 sipp, exit {alice1.returncode}) ended before call 2 did: "
                            f"lab-pbx's channel was not proven busy")
            problems, excerpts = self._sipp_problems([(alice2, rc_alice2), (bob, rc_bob)])
            if problems:
                errs.append("call 2: " + "; ".join(problems) + "\n" + excerpts)
            btrace = read_trace(os.path.join(tdir, "bob.msg"))
            a2trace = read_trace(os.path.join(tdir, "alice2.msg"))
            b_inv = [m for m in btrace if m["dir"] == "in" and _is_request(m, "INVITE")]
            finals = [m["start"] for m in a2trace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 ")
                      and not m["start"].startswith("SIP/2.0 1")]
            d_full = after.get("skipped_full", 0) - before.get("skipped_full", 0)
            d_down = after.get("skipped_down", 0) - before.get("skipped_down", 0)
            self._progress(f"2. call 2 (pbxfirst-bob from port {SECOND_PORT}): bob got {len(b_inv)} INVITE(s) "
                           f"{[m['start'] for m in b_inv]}, the caller got {finals}; skipped_full +{d_full}, "
                           f"skipped_down +{d_down}; channels.{PBX} {self._pbx_channel(after)}")
            if len(b_inv) != 1:
                errs.append(f"call 2: bob got {len(b_inv)} INVITEs, wanted exactly 1 (lab-pbx full: skipped)")
            if not finals or not finals[-1].startswith("SIP/2.0 486"):
                errs.append(f"call 2: the caller's final responses {finals}, wanted bob's 486")
            if d_full != 1 or d_down != 0:
                errs.append(f"providers.skipped_full +{d_full}, skipped_down +{d_down}; wanted +1 and +0")
            ch = self._pbx_channel(after)
            if not isinstance(ch, dict) or ch.get("calls") != 1:
                errs.append(f"providers.channels.{PBX} is {ch} after call 2 (call 1 still up), wanted calls 1")

            # 3. Call 1 ends (alice's BYE): its channel comes back.
            rc_alice1 = self.wait_sipp(alice1, timeout=15)
            rc_carol = self.wait_sipp(carol, timeout=5)
            self._wait_rtpsims(tdir, ("alice", "carol"), timeout=5)
            problems, excerpts = self._sipp_problems([(alice1, rc_alice1), (carol, rc_carol)])
            if problems:
                errs.append("call 1: " + "; ".join(problems) + "\n" + excerpts)
            ctrace = read_trace(os.path.join(tdir, "carol.msg"))
            c_inv = [m for m in ctrace if m["dir"] == "in" and _is_request(m, "INVITE")]
            self._progress(f"3. call 1 over: carol got {len(c_inv)} INVITE(s) {[m['start'] for m in c_inv]}")
            if len(c_inv) != 1:
                errs.append(f"carol (lab-pbx) got {len(c_inv)} INVITEs, wanted exactly 1 (call 2 must not reach her)")
            elif not c_inv[0]["start"].startswith(f"INVITE sip:bob@{CAROL[1]}"):
                errs.append(f"carol's INVITE {c_inv[0]['start']!r}: wanted sip:bob@{CAROL[1]}:5060 (bob@lab-pbx)")
            try:
                self._wait_pbx_calls(0, "3. channel freed after call 1's BYE")
            except Exception as e:
                errs.append(str(e))
        finally:
            for p in started:  # the runner's cleanup would too; stop ours here, also on failure
                self.kill_proc(p)
                if p in self.procs:
                    self.procs.remove(p)
        if errs:
            self._fail("; ".join(errs))
