#!/usr/bin/env python3
"""sipferry lab: providers (trunks) that demand digest authentication (a mixin for tests/lab/run).

The trunk is tests/lab/sip_trunk.py on 198.51.100.40, an address the tests add to carol0 in
sf-carol and remove afterwards; configs/lab.conf declares it as [provider.lab-trunk].

  provider_outbound_auth   alice calls `trunk-bob`; the lab dialplan dials bob@lab-trunk; the trunk
                    answers the INVITE 407 (SHA-256 and MD5 offered); the appliance sends it again
                    with Proxy-Authorization (SHA-256, the strongest offered), which the trunk checks
                    itself and answers 200; the From of that INVITE has the provider's from_host;
                    alice's RTP is echoed by the trunk and all of it comes back through the appliance
  provider_registration    the staged config turns `register = true` on for lab-trunk and is
                    reloaded: the appliance REGISTERs (401, then with credentials the trunk accepts,
                    Expires 120, Contact sip:sipferry-lab@198.51.100.1:5060); stats show the
                    provider registered; the config is restored and reloaded: the binding is removed
                    with an authenticated Expires: 0
  transfer_to_provider     alice calls bob; `sipferryctl transfer CALL carol-then-trunk-bob --keep a`
                    runs the lab transfer dialplan: carol@198.51.100.30|bob@lab-trunk. carol is busy
                    (486), so the next destination is tried: the new leg goes to the trunk with its
                    From host, answers its 407 with the credentials, and once the trunk answers alice
                    is re-INVITEd and bob BYEd; alice's RTP is then echoed by the trunk
"""
import json
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TRUNK = os.path.join(HERE, "sip_trunk.py")
TRUNK_IP = "198.51.100.40"
TRUNK_IF = "carol0"
TRUNK_USER, TRUNK_PASSWORD, TRUNK_FROM_HOST = "sipferry-lab", "trunk-lab-secret", "trunk.lab.example"
STAGED_CONFIG = "/run/sipferry-lab/stage/configs/lab.conf"
TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token

PROVIDER_TESTS = ["provider_outbound_auth", "provider_registration", "transfer_to_provider"]


class ProviderTests:
    """Lab tests of provider trunks; mixed into the runner class of tests/lab/run."""

    def _core_address(self, ip, add):
        """Adds (add=True) or removes `ip`/24 on carol's veth: a host of its own on the core side
        (the trunk, a dead provider brought back). Removing first makes adding idempotent."""
        ns = self._c("CAROL")[0]
        self.run(["ip", "-n", ns, "addr", "del", f"{ip}/24", "dev", TRUNK_IF], timeout=10)
        if add:
            r = self.run(["ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", TRUNK_IF], timeout=10)
            if r.returncode != 0:
                self._fail(f"cannot add {ip}/24 to {TRUNK_IF} in {ns}: {(r.stdout + r.stderr).strip()}")

    def _trunk_address(self, add):
        self._core_address(TRUNK_IP, add)

    def _start_trunk(self, tdir, until, timeout):
        ns = self._c("CAROL")[0]
        report = os.path.join(tdir, f"trunk-{until}.json")
        log = open(os.path.join(tdir, f"trunk-{until}.log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", ns, "python3", TRUNK, "--ip", TRUNK_IP, "--user", TRUNK_USER,
                              "--password", TRUNK_PASSWORD, "--realm", TRUNK_FROM_HOST, "--report", report,
                              "--timeout", str(timeout), "--until", until], cwd=tdir, stdout=log, stderr=log)
        self.procs.append(p)  # the runner kills what is left at the end of the test
        if not self.wait_listening(ns, 5060):
            self.kill_proc(p)
            self._fail("the scripted trunk did not start listening")
        return p, report

    def _trunk_report(self, p, report, timeout):
        try:
            rc = p.wait(timeout=timeout)
        except Exception:
            self.kill_proc(p)
            rc = None
        try:
            return rc, json.load(open(report))
        except (OSError, ValueError) as e:
            self._fail(f"no report from the trunk ({e}), exit {rc}")

    def _stats(self):
        r = self._ctl(["stats"])
        try:
            return json.loads(r.stdout)
        except ValueError:
            self._fail(f"sipferryctl stats: {(r.stdout + r.stderr)[:300]}")

    def test_provider_outbound_auth(self, tdir):
        ALICE = self._c("ALICE")
        count = 50
        self._trunk_address(True)
        try:
            trunk, report = self._start_trunk(tdir, "bye", timeout=20)
            alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                              service="trunk-bob",
                              keys=self._rtp_keys(tdir, caller="alice", rtp_count=count, rtp_delay=0.5))
            rc_alice = self.wait_sipp(alice)
            self._wait_rtpsims(tdir, ("alice",))
            rc_trunk, rep = self._trunk_report(trunk, report, timeout=10)
        finally:
            self._trunk_address(False)
        problems, excerpts = self._sipp_problems([(alice, rc_alice)])
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts + json.dumps(rep)[:800])
        errs = []
        invites = [r for r in rep["requests"] if r["method"] == "INVITE"]
        self._progress("trunk saw INVITEs: " + ", ".join(
            f"credentials={r['credentials']} {r.get('algorithm', '')} {r.get('verdict', '')} -> {r['answer']}"
            for r in invites))
        self._check_trunk_invites(invites, rep, rc_trunk, errs)
        if len(invites) == 2 and invites[1].get("algorithm", "").upper() != "SHA-256":
            errs.append(f"the appliance answered with {invites[1].get('algorithm')}, not SHA-256 (offered first)")
        got = self._report(tdir, "alice")["received"]
        self._progress(f"RTP: alice sent {count}, the trunk echoed {rep['rtp_echoed']}, alice got {got} back")
        if got != count:
            errs.append(f"alice got {got}/{count} RTP packets back through the trunk's echo")
        if errs:
            self._fail("; ".join(errs))

    def test_transfer_to_provider(self, tdir):
        from transfer_tests import read_trace, _is_request, SSRC_ALICE, SSRC_BOB
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        cdr_before = len(self.cdr_lines())
        self._trunk_address(True)
        try:
            trunk, report = self._start_trunk(tdir, "bye", timeout=25)
            carol = self._start_uas(tdir, "carol", CAROL, "uas_busy.xml")
            bob = self._start_uas(tdir, "bob", BOB, "uas_answer_pcma.xml",
                                  self._rtp_keys(tdir, name="bob", rtp_count=150, rtp_delay=0.5))
            alice = self.sipp(tdir, "alice", ALICE, "uac_transferee.xml", remote=f"{self._c('SBC_ACC')}:5060",
                              service="bob", keys=self._rtp_keys(tdir, caller="alice", rtp_count=300))
            call = self._confirmed_call(ALICE[1], BOB[1], alice)
            if call is None:
                self._fail("no confirmed call alice -> bob in `sipferryctl calls` within 6 s\n" + self.sipp_excerpt(alice))
            time.sleep(1.5)  # alice and bob talk, then the call manager sends alice on to the trunk
            before = self._stats()["transfers"]
            r = self._ctl(["transfer", str(call["id"]), "carol-then-trunk-bob", "--keep", "a"], token=TOKEN)
            self._progress(f"sipferryctl transfer {call['id']} carol-then-trunk-bob --keep a: exit {r.returncode}: "
                           f"{(r.stdout + r.stderr).strip()}")
            rc_alice = self.wait_sipp(alice, timeout=16)
            rc_bob = self.wait_sipp(bob, timeout=3)
            rc_carol = self.wait_sipp(carol, timeout=3)
            self._wait_rtpsims(tdir, ("alice", "bob"), timeout=8)
            rc_trunk, rep = self._trunk_report(trunk, report, timeout=10)
        finally:
            self._trunk_address(False)
        after = self._stats()["transfers"]
        errs = []
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])
        if problems:
            errs.append("; ".join(problems) + "\n" + excerpts)
        if r.returncode != 0:
            errs.append(f"the API refused the transfer: {(r.stdout + r.stderr).strip()!r}")
        d = {k: v - before.get(k, 0) for k, v in after.items() if isinstance(v, (int, float))}
        self._progress(f"transfers stats delta {d}")
        if d.get("started") != 1 or d.get("completed") != 1 or d.get("fallbacks") != 1:
            errs.append(f"transfers.started +{d.get('started')} completed +{d.get('completed')} fallbacks "
                        f"+{d.get('fallbacks')}, wanted +1 each")
        invites = [x for x in rep["requests"] if x["method"] == "INVITE"]
        self._progress("trunk saw INVITEs: " + ", ".join(
            f"credentials={x['credentials']} {x.get('verdict', '')} -> {x['answer']}" for x in invites))
        self._check_trunk_invites(invites, rep, rc_trunk, errs)
        btrace, atrace = read_trace(os.path.join(tdir, "bob.msg")), read_trace(os.path.join(tdir, "alice.msg"))
        ctrace = read_trace(os.path.join(tdir, "carol.msg"))
        c_inv = [m for m in ctrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        c_486 = [m for m in ctrace if m["dir"] == "out" and m["start"].startswith("SIP/2.0 486")]
        first_trunk = min((x.get("time", 0) for x in invites), default=0)
        self._progress(f"carol: {len(c_inv)} INVITE, {len(c_486)} 486 sent")
        if len(c_inv) != 1 or not c_486:
            errs.append(f"carol (the first destination) got {len(c_inv)} INVITEs and sent {len(c_486)} 486s, wanted 1 and 1")
        elif first_trunk and first_trunk < c_486[0]["time"]:
            errs.append("the trunk was INVITEd before carol said busy: the destinations are tried in parallel")
        if not any(m["dir"] == "in" and _is_request(m, "BYE") for m in btrace):
            errs.append("bob got no BYE after the transfer")
        if not any(m["dir"] == "in" and _is_request(m, "INVITE") for m in atrace):
            errs.append("alice got no re-INVITE after the transfer")
        ra = self._report(tdir, "alice")
        per = ra.get("per_ssrc") or {}
        echoed = per.get(str(SSRC_ALICE), {}).get("count", 0)
        self._progress(f"alice heard bob {per.get(str(SSRC_BOB), {}).get('count', 0)} packets, then her own "
                       f"{echoed} echoed by the trunk ({rep['rtp_echoed']} echoed in all)")
        if echoed < 100:
            errs.append(f"alice got {echoed} of her own packets back through the trunk's echo, wanted >= 100")
        # Two call records: alice-bob (no provider), then alice and the trunk (provider lab-trunk).
        recs = [json.loads(line) for line in self._wait_cdrs(cdr_before, 2)]
        for rec in recs:
            self._progress(f"cdr: segment {rec.get('segment')} callee {rec.get('callee')} provider "
                           f"{rec.get('provider')!r} hangup {rec.get('hangup')}")
        if [(r.get("provider"), r.get("hangup")) for r in recs] != [("", "transfer"), ("lab-trunk", "caller")]:
            errs.append(f"call records {[(r.get('provider'), r.get('hangup')) for r in recs]}, wanted "
                        f"[('', 'transfer'), ('lab-trunk', 'caller')]")
        if errs:
            self._fail("; ".join(errs))

    @staticmethod
    def _check_trunk_invites(invites, rep, rc_trunk, errs):
        """The trunk's INVITEs: 407, then with credentials 200, From host and Request-URI of the
        provider; and the call ended with a BYE there."""
        if [(x["credentials"], x["answer"]) for x in invites] != [
                (False, "SIP/2.0 407 Proxy Authentication Required"), (True, "SIP/2.0 200 OK")]:
            errs.append(f"wanted INVITE -> 407, INVITE with credentials -> 200 at the trunk; got {invites}")
        if invites and f"@{TRUNK_FROM_HOST}>" not in invites[-1]["from"]:
            errs.append(f"From {invites[-1]['from']!r} lacks the provider's from_host {TRUNK_FROM_HOST}")
        if invites and not invites[-1]["uri"].startswith(f"sip:bob@{TRUNK_IP}"):
            errs.append(f"Request-URI {invites[-1]['uri']!r}, wanted sip:bob@{TRUNK_IP}...")
        if not rep["done"] or rc_trunk != 0:
            errs.append(f"the trunk did not see the call end with a BYE (exit {rc_trunk})")

    def _reload(self, what):
        r = self._ctl(["reload"], token=TOKEN)
        if r.returncode != 0:
            self._fail(f"reload ({what}) failed: {(r.stdout + r.stderr)[:300]}")

    def test_provider_registration(self, tdir):
        if not os.path.isfile(STAGED_CONFIG):
            self._fail(f"{STAGED_CONFIG} missing (tools/lab up stages the config when SIPFERRY_LAB_CONFIG is unset)")
        original = open(STAGED_CONFIG).read()
        section = original.index("[provider.lab-trunk]")
        off = original.index("register = false", section)
        registering = original[:off] + "register = true" + original[off + len("register = false"):]
        errs = []
        state = None
        self._trunk_address(True)
        try:
            trunk, report = self._start_trunk(tdir, "unregistered", timeout=20)
            with open(STAGED_CONFIG, "w") as f:
                f.write(registering)
            self._reload("register = true")
            end = time.monotonic() + 10
            while time.monotonic() < end:
                regs = self._stats().get("provider_registrations", {})
                state = regs.get("lab-trunk", {})
                if state.get("state") == "registered":
                    break
                time.sleep(0.2)
            self._progress(f"after the reload: {state}")
            if state.get("state") != "registered" or state.get("expires_s") != 120:
                errs.append(f"lab-trunk not registered for 120 s: {state}")
            if state.get("contact") != f"sip:{TRUNK_USER}@{self._c('SBC_CORE')}:5060":
                errs.append(f"contact {state.get('contact')!r}")
        finally:
            with open(STAGED_CONFIG, "w") as f:
                f.write(original)
        try:
            self._reload("register = false")
            rc_trunk, rep = self._trunk_report(trunk, report, timeout=10)
        finally:
            self._trunk_address(False)
        rows = [(r["method"], r["expires"], r["credentials"], r.get("verdict", ""), r["answer"])
                for r in rep["requests"]]
        self._progress("trunk saw: " + "; ".join(" ".join(str(x) for x in row if x != "") for row in rows))
        want = [("REGISTER", "120", False, "", "SIP/2.0 401 Unauthorized"),
                ("REGISTER", "120", True, "ok", "SIP/2.0 200 OK"),
                ("REGISTER", "0", False, "", "SIP/2.0 401 Unauthorized"),
                ("REGISTER", "0", True, "ok", "SIP/2.0 200 OK")]
        if rows != want:
            errs.append(f"REGISTER sequence {rows}, wanted {want}")
        regs = [r for r in rep["requests"] if r["method"] == "REGISTER"]
        if regs and (f"sip:{TRUNK_USER}@{TRUNK_FROM_HOST}" not in regs[0]["from"] or
                     regs[0]["uri"] != f"sip:{TRUNK_FROM_HOST}"):
            errs.append(f"AOR/Request-URI: From {regs[0]['from']!r}, URI {regs[0]['uri']!r}")
        after = self._stats()
        if "lab-trunk" in after.get("provider_registrations", {}):
            errs.append("lab-trunk still listed after register = false")
        pr = after.get("provider_registration", {})
        if pr.get("registered", 0) < 1 or pr.get("unregistered", 0) < 1:
            errs.append(f"stats provider_registration {pr}")
        if errs:
            self._fail("; ".join(errs))
