#!/usr/bin/env python3
"""sipferry lab: accounts, digest authentication and the registrar (issue 4).

A mixin for the lab runner (tests/lab/run), next to TransferTests, whose helpers it uses
(_c, _rtp_keys, _start_uas, _report, _wait_rtpsims, _sipp_problems, _wait_cdrs, _fail, _progress)
together with the runner's own (sipp, wait_sipp, wait_listening, cdr_lines, stats, stat, run, procs).

The lab's accounts (configs/lab.conf): lab-access trusts alice (192.0.2.10/32), lab-core the core
network (198.51.100.0/24), so every other lab test is unchallenged; dave (password, register = true,
users 2001) trusts nothing. His phone is a sipp in sf-alice on a second address, DAVE_IP, that each
test adds to alice0 and removes again (also on failure). The lab dialplan routes users 2000..2999 to
`user@local` (registered users).

  register_and_call_registered_user  dave's phone REGISTERs 2001 (401, SHA-256 credentials, 200 with
                                     its Contact and expires; stats show the binding); bob calls 2001:
                                     the INVITE reaches the phone over the registered flow; RTP both
                                     ways through the appliance; CDR; the phone unregisters, and
                                     a call to 2001 then gets 480
  inbound_auth                       dave calls bob: 407, the INVITE again with MD5 credentials, the
                                     call goes through with RTP; the CDR is billed to dave
  inbound_auth_wrong_password        dave with a wrong password, then an unknown user: 403 after the
                                     challenge, the same status line both times; no INVITE reaches
                                     bob; accounts.auth_failures + 2

sipp 3.6.1 cannot answer the appliance's challenges itself: [authentication] (and -au/-ap) take the
first WWW-/Proxy-Authenticate, which is the algorithm=SHA-256 one, and it computes MD5 only
("createAuthHeader: authentication must use MD5 or AKAv1-MD5"). The scenarios therefore capture the
nonce and realm and run this file as a helper (`account_tests.py digest ...`, below) that writes the
credentials header line, which sipp puts into the repeated request with [file name=...].

Also a tiny UDP listener (`account_tests.py listen ...`) that stands in for bob where no INVITE may
arrive.
"""
import argparse
import hashlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time

from transfer_tests import read_trace, _h, _is_request, _is_response_to

ACCOUNT_TESTS = ["register_and_call_registered_user", "inbound_auth", "inbound_auth_wrong_password"]

HERE = os.path.abspath(__file__)
DAVE_IP = "192.0.2.11"         # TEST-NET-1, inside sf-alice: not in any account's networks
DAVE_IF = "alice0"             # alice's veth end in sf-alice (tools/lab)
DAVE_PORT = 5062               # the phone's SIP port (alice's sipp uses 5060)
DAVE_ACCOUNT = "dave"          # configs/lab.conf [account.dave]: the digest user name
DAVE_PASSWORD = "dave-lab-secret"
DAVE_EXT = "2001"              # [account.dave] users: the AOR the phone registers
REALM = "sipferry"             # [sip] domain is unset: the digest realm is "sipferry"
REG_EXPIRES = 300
CHALLENGE_PHRASES = {401: "Unauthorized", 407: "Proxy Authentication Required"}  # RFC 3261 21.4
SSRC_DAVE = 0xDA7E             # uac_auth_call.xml (dave calling); as callee he runs uas_answer.xml (0xB0B)


# ---- helpers run by sipp / in a namespace (no runner) ------------------------------------------------
def digest_header(user, password, realm, nonce, method, uri, alg, header, nc=1, cnonce=None):
    """One credentials header line (RFC 7616 / RFC 8760, qop=auth)."""
    def hx(s):
        h = hashlib.sha256() if alg.upper() == "SHA-256" else hashlib.md5()
        h.update(s.encode())
        return h.hexdigest()
    cnonce = cnonce or secrets.token_hex(8)
    ncs = f"{nc:08x}"
    ha1 = hx(f"{user}:{realm}:{password}")
    ha2 = hx(f"{method}:{uri}")
    resp = hx(f"{ha1}:{nonce}:{ncs}:{cnonce}:auth:{ha2}")
    return (f'{header}: Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{resp}", algorithm={alg}, cnonce="{cnonce}", qop=auth, nc={ncs}')


def _cli_digest(a):
    line = digest_header(a.user, a.password, a.realm, a.nonce, a.method, a.uri, a.alg, a.header, nc=a.nc)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(line)  # no line end: sipp's scenario line after [file ...] supplies the CRLF
    os.rename(tmp, a.out)  # sipp never reads half a file
    return 0


def _cli_listen(a):
    """Receives UDP datagrams on --bind for --seconds; one JSON line per datagram in --out."""
    ip, port = a.bind.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, int(port)))
    end = time.monotonic() + a.seconds
    with open(a.out, "w") as f:
        f.write(json.dumps({"listening": a.bind}) + "\n")
        f.flush()
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                break
            text = data.decode(errors="replace")
            f.write(json.dumps({"time": time.time(), "from": f"{src[0]}:{src[1]}",
                                "start": text.split("\r\n", 1)[0]}) + "\n")
            f.flush()
    return 0


def _headers_named(m, name):
    return m["headers"].get(name.lower()) or []


class AccountTests:
    """Lab tests for accounts, digest authentication and the registrar; mixed into the runner class."""

    # ---- helpers --------------------------------------------------------------------------------
    def _dave(self):
        return (self._c("ALICE")[0], DAVE_IP)

    def _dave_address(self, add):
        """Adds (or removes) dave's address on alice's veth in sf-alice."""
        ns = self._c("ALICE")[0]
        if add:
            self._dave_address(False)
            r = self.run(["ip", "-n", ns, "addr", "add", f"{DAVE_IP}/24", "dev", DAVE_IF], timeout=10)
            if r.returncode != 0:
                self._fail(f"cannot add {DAVE_IP}/24 to {DAVE_IF} in {ns}: {(r.stdout + r.stderr).strip()}")
        else:
            self.run(["ip", "-n", ns, "addr", "del", f"{DAVE_IP}/24", "dev", DAVE_IF], timeout=10)

    def _auth_keys(self, tdir, tag, auth_user=DAVE_ACCOUNT, password=DAVE_PASSWORD, alg="MD5"):
        path = os.path.join(tdir, f"{tag}.auth")
        for p in (path, path + ".tmp"):
            if os.path.exists(p):
                os.unlink(p)
        return {"authhelper": HERE, "authfile": path, "auth_user": auth_user, "password": password, "alg": alg}

    def _account_stats(self):
        st = self.stats()
        acc = st.get("accounts")
        if not isinstance(acc, dict):
            self._fail(f"sipferryctl stats has no 'accounts' object (keys {sorted(st)})")
        return acc

    def _register(self, tdir, tag, expires, alg):
        """dave's phone REGISTERs (digest); returns its message trace. The sipp must exit 0."""
        DAVE = self._dave()
        p = self.sipp(tdir, tag, DAVE, "uac_register.xml", port=DAVE_PORT,
                      remote=f"{self._c('SBC_ACC')}:5060", service=DAVE_EXT,
                      keys=dict(self._auth_keys(tdir, tag, alg=alg), expires=expires))
        rc = self.wait_sipp(p, timeout=10)
        if rc != 0:
            self._fail(f"{tag}: REGISTER sipp exit {rc}\n{self.sipp_excerpt(p)}{self._auth_log(tdir, tag)}")
        return read_trace(os.path.join(tdir, f"{tag}.msg"))

    def _auth_log(self, tdir, tag):
        log = os.path.join(tdir, f"{tag}.auth.log")
        if os.path.exists(log) and os.path.getsize(log):
            return f"---- {tag}.auth.log ----\n" + open(log, errors="replace").read()[-800:]
        return ""

    def _check_challenge(self, trace, code, header, errs, who, phrase=False):
        """The first response `code` in `trace`: two challenges, SHA-256 then MD5, same nonce, realm
        "sipferry", qop auth; with `phrase`, also RFC 3261's reason phrase for the code (21.4.2:
        401 Unauthorized, 21.4.8: 407 Proxy Authentication Required). Returns the response or None."""
        ch = next((m for m in trace if m["dir"] == "in" and m["start"].startswith(f"SIP/2.0 {code} ")), None)
        if ch is None:
            errs.append(f"{who}: no {code} challenge")
            return None
        want = CHALLENGE_PHRASES[code]
        if phrase and ch["start"] != f"SIP/2.0 {code} {want}":
            errs.append(f"{who}: the challenge's status line is {ch['start']!r}, wanted 'SIP/2.0 {code} {want}' "
                        f"(control/message_builder.cc reason_phrase() has no entry for {code})")
        values = _headers_named(ch, header)
        algs = [re.search(r"algorithm=([A-Za-z0-9-]+)", v).group(1) if re.search(r"algorithm=([A-Za-z0-9-]+)", v)
                else None for v in values]
        nonces = {re.search(r'nonce="([^"]*)"', v).group(1) for v in values if re.search(r'nonce="([^"]*)"', v)}
        self._progress(f"{who}: {ch['start']!r} with {len(values)} {header}: algorithms {algs}")
        if algs != ["SHA-256", "MD5"]:
            errs.append(f"{who}: {code} offers algorithms {algs}, wanted SHA-256 then MD5 ({values})")
        if len(nonces) != 1:
            errs.append(f"{who}: {code} challenges carry {len(nonces)} nonces, wanted one shared nonce")
        for v in values:
            if f'realm="{REALM}"' not in v or 'qop="auth"' not in v:
                errs.append(f"{who}: challenge {v!r} lacks realm=\"{REALM}\" or qop=\"auth\"")
        return ch

    def _rtp_both_ways(self, tdir, names_sides, count, errs):
        for who, appliance in names_sides:
            r = self._report(tdir, who)
            self._progress(f"rtp {who}: sent {r['sent']} received {r['received']} from {r['received_from']} "
                           f"(lost~{r['lost_estimate']})")
            if r["sent"] != count:
                errs.append(f"{who} sent {r['sent']}/{count} RTP packets")
            if r["received"] != count:
                errs.append(f"{who} received {r['received']}/{count} RTP packets")
            bad = [k for k in r["received_from"] if not k.startswith(appliance + ":")]
            if bad or not r["received_from"]:
                errs.append(f"{who} got RTP from {list(r['received_from'])}, wanted only the appliance {appliance}")

    # ---- register_and_call_registered_user ------------------------------------------------------
    def test_register_and_call_registered_user(self, tdir):
        """dave's phone (untrusted) registers 2001 with digest credentials; bob calls 2001: the INVITE
        goes to the registered flow, the call has RTP both ways through the appliance; unregister."""
        BOB, SBC_ACC, SBC_CORE = self._c("BOB"), self._c("SBC_ACC"), self._c("SBC_CORE")
        DAVE = self._dave()
        count = 150
        errs = []
        self._dave_address(True)
        try:
            before = self._account_stats()
            if "bindings" not in before:
                self._fail(f"stats accounts has no registrar figures ({before}): are accounts configured?")
            # 1. REGISTER: 401, then 200 with the binding (SHA-256 credentials).
            reg = self._register(tdir, "dave_reg", REG_EXPIRES, "SHA-256")
            self._check_challenge(reg, 401, "WWW-Authenticate", errs, "REGISTER", phrase=True)
            sent = [m for m in reg if m["dir"] == "out" and _is_request(m, "REGISTER")]
            if len(sent) < 2 or not (_h(sent[-1], "Authorization") or "").startswith("Digest "):
                errs.append("the phone's second REGISTER carries no Authorization")
            else:
                self._progress(f"REGISTER credentials: {_h(sent[-1], 'Authorization')[:90]}...")
            ok = next((m for m in reg if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")), None)
            want_contact = f"sip:{DAVE_EXT}@{DAVE_IP}:{DAVE_PORT}"
            contacts = _headers_named(ok, "Contact") if ok else []
            self._progress(f"REGISTER answer: {ok['start'] if ok else None!r} Contact {contacts}")
            if ok is None:
                self._fail("the authenticated REGISTER got no 200")
            m = re.search(r"expires=(\d+)", contacts[0]) if len(contacts) == 1 else None
            if len(contacts) != 1 or f"<{want_contact}>" not in contacts[0] or m is None:
                errs.append(f"200 to the REGISTER has Contact {contacts}, wanted exactly <{want_contact}>;expires=N")
            elif not 0 < int(m.group(1)) <= REG_EXPIRES:
                errs.append(f"the binding expires in {m.group(1)} s, wanted 1..{REG_EXPIRES}")
            after_reg = self._account_stats()
            self._progress(f"stats accounts after REGISTER: {after_reg}")
            if after_reg.get("bindings", 0) != before.get("bindings", 0) + 1 or \
                    after_reg.get("registered_users", 0) != before.get("registered_users", 0) + 1:
                errs.append(f"stats accounts.bindings {before.get('bindings')} -> {after_reg.get('bindings')}, "
                            f"registered_users {before.get('registered_users')} -> {after_reg.get('registered_users')}: "
                            f"wanted + 1 each")
            if after_reg.get("auth_challenges", 0) < before.get("auth_challenges", 0) + 1:
                errs.append("stats accounts.auth_challenges did not grow with the 401")

            # 2. bob calls 2001; the phone answers on the port it registered from.
            cdr_before = len(self.cdr_lines())
            dave = self.sipp(tdir, "dave", DAVE, "uas_answer.xml", port=DAVE_PORT,
                             keys=self._rtp_keys(tdir, name="dave", rtp_count=count, rtp_delay=0.5))
            if not self.wait_listening(DAVE[0], DAVE_PORT):
                self._fail(f"dave's sipp did not start listening\n{self.sipp_excerpt(dave)}")
            bob = self.sipp(tdir, "bob", BOB, "uac_call.xml", remote=f"{SBC_CORE}:5060", service=DAVE_EXT,
                            keys=self._rtp_keys(tdir, caller="bob", rtp_count=count))
            rc_bob = self.wait_sipp(bob, timeout=15)
            rc_dave = self.wait_sipp(dave, timeout=5 if rc_bob == 0 else 2)
            self._wait_rtpsims(tdir, ("bob", "dave"), timeout=6)
            problems, excerpts = self._sipp_problems([(bob, rc_bob), (dave, rc_dave)])
            if problems:
                self._fail("; ".join(problems) + "\n" + excerpts)
            dtrace = read_trace(os.path.join(tdir, "dave.msg"))
            inv = next((m for m in dtrace if m["dir"] == "in" and _is_request(m, "INVITE")), None)
            if inv is None:
                errs.append("dave's phone got no INVITE")
            else:
                via = _h(inv, "Via") or ""
                self._progress(f"INVITE at the phone: {inv['start']!r} Via {via!r} From {_h(inv, 'From')!r}")
                if inv["start"] != f"INVITE {want_contact} SIP/2.0":
                    errs.append(f"INVITE at the phone has {inv['start']!r}, wanted the registered Contact {want_contact}")
                if not re.match(rf"SIP/2\.0/UDP {re.escape(SBC_ACC)}(:5060)?;", via):
                    errs.append(f"INVITE at the phone has Via {via!r}, wanted the appliance's {SBC_ACC}:5060")
                leaks = [l for m in dtrace if m["dir"] == "in" for l in (m["start"], *sum(m["headers"].values(), []))
                         if "198.51.100." in l]
                if leaks:
                    errs.append(f"the phone received core-realm addresses: {leaks[:3]}")
            self._rtp_both_ways(tdir, (("bob", SBC_CORE), ("dave", SBC_ACC)), count, errs)
            lines = self._wait_cdrs(cdr_before, 1)
            if not lines:
                errs.append("no new CDR line")
            else:
                cdr = json.loads(lines[-1])
                self._progress(f"cdr: result {cdr.get('result')} caller {cdr.get('caller')} callee {cdr.get('callee')} "
                               f"hangup {cdr.get('hangup')} billed_account {cdr.get('billed_account')!r} rtp {cdr.get('rtp')}")
                if cdr.get("result") != 200 or cdr.get("hangup") != "caller":
                    errs.append(f"CDR result {cdr.get('result')} hangup {cdr.get('hangup')}, wanted 200 and caller")
                if cdr.get("callee") != f"{DAVE_IP}:{DAVE_PORT}":
                    errs.append(f"CDR callee {cdr.get('callee')!r}, wanted the registered flow {DAVE_IP}:{DAVE_PORT}")
                if not str(cdr.get("caller", "")).startswith(BOB[1] + ":"):
                    errs.append(f"CDR caller {cdr.get('caller')!r}, wanted bob {BOB[1]}")
                if cdr.get("billed_account") != "lab-core":
                    errs.append(f"CDR billed_account {cdr.get('billed_account')!r}, wanted 'lab-core' (bob's network)")
                rtp = cdr.get("rtp") or {}
                if (rtp.get("caller_to_callee") or {}).get("packets") != count or \
                        (rtp.get("callee_to_caller") or {}).get("packets") != count:
                    errs.append(f"CDR rtp {rtp}, wanted {count} packets each way")

            # 3. The phone unregisters (Expires: 0, a fresh challenge, MD5 this time).
            unreg = self._register(tdir, "dave_unreg", 0, "MD5")
            ok = next((m for m in unreg if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")), None)
            if ok is None or _headers_named(ok, "Contact"):
                errs.append(f"unregistering got {ok['start'] if ok else None!r} with Contact "
                            f"{_headers_named(ok, 'Contact') if ok else None}, wanted 200 without bindings")
            after = self._account_stats()
            self._progress(f"stats accounts after unregistering: {after}")
            if after.get("bindings") != before.get("bindings"):
                errs.append(f"stats accounts.bindings is {after.get('bindings')} after unregistering, "
                            f"wanted {before.get('bindings')}")
            # 4. Nobody is registered as 2001 now: bob's call gets 480 (nothing rings).
            bob2 = self.sipp(tdir, "bob_480", BOB, "uac_unavailable.xml", remote=f"{SBC_CORE}:5060",
                             service=DAVE_EXT, keys={"rtp_port": 6000})
            rc = self.wait_sipp(bob2, timeout=8)
            t480 = read_trace(os.path.join(tdir, "bob_480.msg"))
            fin = next((m["start"] for m in t480 if m["dir"] == "in" and _is_response_to(m, "INVITE")
                        and int(m["start"].split()[1]) >= 200), None)
            self._progress(f"bob calls {DAVE_EXT} after the unregistration: {fin!r}")
            if rc != 0:
                errs.append(f"bob's call to {DAVE_EXT} after the unregistration: {fin!r}, wanted 480 "
                            f"(sipp exit {rc})\n" + self.sipp_excerpt(bob2))
        finally:
            self._dave_address(False)
        if errs:
            self._fail("; ".join(errs))

    # ---- inbound_auth ---------------------------------------------------------------------------
    def test_inbound_auth(self, tdir):
        """dave (untrusted) calls bob: 407, the INVITE again with MD5 credentials, RTP, CDR billed to dave."""
        BOB, SBC_ACC, SBC_CORE = self._c("BOB"), self._c("SBC_ACC"), self._c("SBC_CORE")
        DAVE = self._dave()
        count = 150
        errs = []
        self._dave_address(True)
        try:
            before = self._account_stats()
            cdr_before = len(self.cdr_lines())
            bob = self._start_uas(tdir, "bob", BOB, "uas_answer.xml",
                                  self._rtp_keys(tdir, name="bob", rtp_count=count, rtp_delay=0.5))
            dave = self.sipp(tdir, "dave", DAVE, "uac_auth_call.xml", port=DAVE_PORT, remote=f"{SBC_ACC}:5060",
                             service="bob", keys=dict(self._auth_keys(tdir, "dave", alg="MD5"),
                                                      **self._rtp_keys(tdir, caller="dave", rtp_count=count)))
            rc_dave = self.wait_sipp(dave, timeout=15)
            rc_bob = self.wait_sipp(bob, timeout=5 if rc_dave == 0 else 2)
            self._wait_rtpsims(tdir, ("bob", "dave"), timeout=6)
            problems, excerpts = self._sipp_problems([(dave, rc_dave), (bob, rc_bob)])
            if problems:
                self._fail("; ".join(problems) + "\n" + excerpts + self._auth_log(tdir, "dave"))
            after = self._account_stats()
        finally:
            self._dave_address(False)
        dtrace = read_trace(os.path.join(tdir, "dave.msg"))
        self._check_challenge(dtrace, 407, "Proxy-Authenticate", errs, "INVITE", phrase=True)
        invites = [m for m in dtrace if m["dir"] == "out" and _is_request(m, "INVITE")]
        if len(invites) < 2 or not (_h(invites[-1], "Proxy-Authorization") or "").startswith("Digest "):
            errs.append("dave's second INVITE carries no Proxy-Authorization")
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        binv = [m for m in btrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        if len(binv) != 1:
            errs.append(f"bob got {len(binv)} INVITEs, wanted 1 (the authenticated one only)")
        elif _h(binv[0], "Proxy-Authorization") or _h(binv[0], "Authorization"):
            errs.append("the INVITE to bob carries dave's credentials")
        self._rtp_both_ways(tdir, (("dave", SBC_ACC), ("bob", SBC_CORE)), count, errs)
        ssrcs = sorted(int(k) for k in (self._report(tdir, "bob").get("per_ssrc") or {}))
        if ssrcs != [SSRC_DAVE]:
            errs.append(f"bob heard SSRCs {[hex(x) for x in ssrcs]}, wanted only dave's {hex(SSRC_DAVE)}")
        d_ch = after.get("auth_challenges", 0) - before.get("auth_challenges", 0)
        d_fail = after.get("auth_failures", 0) - before.get("auth_failures", 0)
        self._progress(f"stats accounts: auth_challenges +{d_ch}, auth_failures +{d_fail}")
        if d_ch != 1 or d_fail != 0:
            errs.append(f"auth_challenges +{d_ch}, auth_failures +{d_fail}: wanted +1 and +0")
        lines = self._wait_cdrs(cdr_before, 1)
        if not lines:
            errs.append("no new CDR line")
        else:
            cdr = json.loads(lines[-1])
            self._progress(f"cdr: result {cdr.get('result')} caller {cdr.get('caller')} callee {cdr.get('callee')} "
                           f"hangup {cdr.get('hangup')} billed_account {cdr.get('billed_account')!r}")
            if cdr.get("result") != 200 or cdr.get("hangup") != "caller":
                errs.append(f"CDR result {cdr.get('result')} hangup {cdr.get('hangup')}, wanted 200 and caller")
            if cdr.get("billed_account") != DAVE_ACCOUNT:
                errs.append(f"CDR billed_account {cdr.get('billed_account')!r}, wanted {DAVE_ACCOUNT!r}")
            if cdr.get("caller") != f"{DAVE_IP}:{DAVE_PORT}":
                errs.append(f"CDR caller {cdr.get('caller')!r}, wanted {DAVE_IP}:{DAVE_PORT}")
            if not str(cdr.get("callee", "")).startswith(BOB[1] + ":"):
                errs.append(f"CDR callee {cdr.get('callee')!r}, wanted bob")
        if errs:
            self._fail("; ".join(errs))

    # ---- inbound_auth_wrong_password ------------------------------------------------------------
    def test_inbound_auth_wrong_password(self, tdir):
        """A wrong password and an unknown user both get 403 after the challenge, alike; nothing reaches
        bob; accounts.auth_failures + 2."""
        BOB, SBC_ACC = self._c("BOB"), self._c("SBC_ACC")
        DAVE = self._dave()
        errs = []
        self._dave_address(True)
        listener = None
        try:
            before = self._account_stats()
            cdr_before = len(self.cdr_lines())
            # bob's SIP port: a listener that records whatever arrives (nothing should).
            heard = os.path.join(tdir, "bob_listener.jsonl")
            listener = subprocess.Popen(["ip", "netns", "exec", BOB[0], sys.executable, HERE, "listen",
                                         "--bind", f"{BOB[1]}:5060", "--seconds", "8", "--out", heard],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.procs.append(listener)
            if not self.wait_listening(BOB[0], 5060):
                self._fail("the listener on bob's SIP port did not start")
            finals = {}
            for tag, user, password in (("wrong", DAVE_ACCOUNT, "not-" + DAVE_PASSWORD),
                                        ("unknown", "nobody", DAVE_PASSWORD)):
                p = self.sipp(tdir, tag, DAVE, "uac_auth_refused.xml", port=DAVE_PORT, remote=f"{SBC_ACC}:5060",
                              service="bob", keys=dict(self._auth_keys(tdir, tag, auth_user=user, password=password),
                                                       rtp_port=6000))
                rc = self.wait_sipp(p, timeout=10)
                trace = read_trace(os.path.join(tdir, f"{tag}.msg"))
                self._check_challenge(trace, 407, "Proxy-Authenticate", errs, f"{tag} ({user})")
                invites = [m for m in trace if m["dir"] == "out" and _is_request(m, "INVITE")]
                final = [m for m in trace if m["dir"] == "in" and _is_response_to(m, "INVITE")
                         and int(m["start"].split()[1]) >= 200 and (_h(m, "CSeq") or "").startswith("2 ")]
                finals[tag] = final[-1] if final else None
                self._progress(f"{tag} ({user}): credentials {'sent' if len(invites) == 2 and _h(invites[-1], 'Proxy-Authorization') else 'MISSING'}; "
                               f"answer {finals[tag]['start'] if finals[tag] else None!r}; sipp exit {rc}")
                if rc != 0:
                    errs.append(f"{tag} ({user}): sipp exit {rc} (wanted 407, then 403)\n" + self.sipp_excerpt(p)
                                + self._auth_log(tdir, tag))
            time.sleep(0.5)  # anything the appliance would still send bob
            after = self._account_stats()
        finally:
            if listener is not None:
                self.kill_proc(listener)
                if listener in self.procs:
                    self.procs.remove(listener)
            self._dave_address(False)
        w, u = finals.get("wrong"), finals.get("unknown")
        if w is None or u is None:
            errs.append(f"final answers: wrong password {w['start'] if w else None!r}, unknown user "
                        f"{u['start'] if u else None!r}; wanted 403 for both")
        else:
            if not w["start"].startswith("SIP/2.0 403 ") or w["start"] != u["start"]:
                errs.append(f"wrong password got {w['start']!r}, unknown user {u['start']!r}: wanted the same 403")
            hw = sorted(k for k in w["headers"] if k not in ("via", "from", "to", "call-id", "cseq"))
            hu = sorted(k for k in u["headers"] if k not in ("via", "from", "to", "call-id", "cseq"))
            if hw != hu or _h(w, "Warning") != _h(u, "Warning"):
                errs.append(f"the two 403s differ: headers {hw} / {hu}, Warning {_h(w, 'Warning')!r} / "
                            f"{_h(u, 'Warning')!r} (they must not tell whether the user exists)")
        try:
            rows = [json.loads(l) for l in open(heard) if l.strip()][1:]
        except (OSError, ValueError):
            rows = None
        if rows is None:
            errs.append("the listener on bob's port left no record")
        elif rows:
            errs.append(f"bob's SIP port received {len(rows)} datagram(s): {[r['start'] for r in rows][:3]}")
        d_fail = after.get("auth_failures", 0) - before.get("auth_failures", 0)
        d_ch = after.get("auth_challenges", 0) - before.get("auth_challenges", 0)
        self._progress(f"stats accounts: auth_challenges +{d_ch}, auth_failures +{d_fail}; "
                       f"bob's port received {len(rows) if rows is not None else '?'} datagrams")
        if d_fail != 2:
            errs.append(f"accounts.auth_failures grew by {d_fail}, wanted 2")
        if d_ch != 2:
            errs.append(f"accounts.auth_challenges grew by {d_ch}, wanted 2")
        new = self.cdr_lines()[cdr_before:]
        if new:
            errs.append(f"{len(new)} CDR line(s) for refused calls: {new[-1][:200]}")
        if errs:
            self._fail("; ".join(errs))


def main():
    ap = argparse.ArgumentParser(description="helpers of the account lab tests (run by sipp / in a namespace)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("digest", help="write a digest credentials header line to --out")
    d.add_argument("--user", required=True)
    d.add_argument("--password", required=True)
    d.add_argument("--realm", required=True)
    d.add_argument("--nonce", required=True)
    d.add_argument("--method", required=True)
    d.add_argument("--uri", required=True)
    d.add_argument("--alg", default="MD5", choices=["MD5", "SHA-256"])
    d.add_argument("--header", default="Authorization", choices=["Authorization", "Proxy-Authorization"])
    d.add_argument("--nc", type=int, default=1)
    d.add_argument("--out", required=True)
    li = sub.add_parser("listen", help="record the UDP datagrams that arrive on --bind")
    li.add_argument("--bind", required=True)
    li.add_argument("--seconds", type=float, default=8.0)
    li.add_argument("--out", required=True)
    a = ap.parse_args()
    return _cli_digest(a) if a.cmd == "digest" else _cli_listen(a)


if __name__ == "__main__":
    sys.exit(main())
