#!/usr/bin/env python3
"""sipferry lab: the caller's identity (RFC 3325 P-Asserted-Identity, RFC 3323 Privacy).

A mixin for the lab runner (tests/lab/run), beside TransferTests, SipTests and ProviderTests, whose
helpers it uses (_c, _start_uas, _sipp_problems, _wait_cdrs, _fail, _progress, _second_address,
_trunk_address):

  identity_asserted_and_withheld  six calls, each ending busy (486). A caller of account
                    lab-identity (192.0.2.15: identity +15550100, may present +155501*) calls the
                    trunk (sip_trunk.py --invite-status 486, trusted: trust_identity) with a
                    P-Preferred-Identity it may not present (the trunk gets PAI +15550100), then
                    with one it may and Privacy: id (PAI "Alice Desk" +15550177 and Privacy: id,
                    From kept: the trunk is trusted); then calls bob (untrusted) with Privacy: id:
                    anonymous From, no PAI, no PPI, no Privacy. The trunk's address calls alice with
                    a PAI tel: URI (trusted: alice gets it as a sip: URI at 192.0.2.1); carol (an
                    account without identity) calls alice with a forged PAI: alice gets none. Six
                    CDR lines with `identity` and `privacy`. STIR/SHAKEN (lab-trunk has
                    sign_identity, [stir] the lab's published key): the first call goes to
                    trunk-15551234 and both its INVITEs (the 407'd one and the retry) carry an
                    Identity header whose ES256 signature openssl verifies with the key's public
                    half (`openssl dgst -sha256 -verify`), header {alg ES256, ppt shaken, typ
                    passport, x5u}, claims attest A (the account's own number), orig 15550100, dest
                    [15551234], iat within the call, one origid for both; info=<x5u>;alg=ES256;
                    ppt=shaken after it. The second (to trunk-bob: no telephone number) has none.
                    A sixth call, from the trusted trunk's address (port 5062) to trunk-15551234
                    with an Identity header of its own carrier: the trunk gets exactly that one on
                    both INVITEs (passed on, not re-signed). lab-trunk also has verify_identity:
                    call 4 (no Identity) gives alice PAI <sip:+15557777;verstat=No-TN-Validation@
                    192.0.2.1> (her From, user alice, none); call 6's Identity fails verification,
                    and the trunk, a provider, gets no verstat.

  identity_verified STIR/SHAKEN verification (STI-VS: RFC 8224, ATIS-1000074) of calls from lab-trunk
                    (verify_identity; [stir] ca and x5u_tls_ca configs/lab-stir-ca.pem, max_age 60).
                    The certificate repository is tests/lab/x5u_server.py in sf-sbc on
                    https://127.0.0.1:8443/identity-verified-<run>.pem (a path of its own each run),
                    serving configs/lab-stir-cert.pem (configs/lab-stir.key's SHAKEN certificate,
                    TNAuthList, issued by the lab CA) with a TLS certificate for IP 127.0.0.1 from the
                    same CA; also at .../identity-verified-<run>-cdp.pem and -revoked.pem the
                    certificates lab-stir-cert-cdp.pem and lab-stir-cert-revoked.pem (the same key,
                    naming the CRL https://127.0.0.1:8443/lab-stir.crl), and there
                    configs/lab-stir.crl as DER (it lists the -revoked one); stopped by PID also on
                    failure. The test signs PASSporTs itself (ES256 with the lab key by `openssl dgst
                    -sha256 -sign`, DER turned into r||s; header {alg, ppt shaken, typ passport, x5u},
                    claims {attest A, dest {tn [15557001]}, iat, orig {tn 15550123}, origid}, keys
                    sorted, no spaces; checked against openssl first).
                    Eight calls from the trunk's address (198.51.100.40, From +15550123) to 15557001,
                    which the lab dialplan routes to alice (uas_busy.xml: 486), each with the verstat
                    alice's INVITE shows in the user part of From and P-Asserted-Identity and the exact
                    growth of `sipferryctl stats` stir: (a) a valid Identity (PAI +15550123):
                    TN-Validation-Passed, verify.passed +1, certificates.fetched +1, one GET; (b) a
                    second valid one without PAI: Passed, no new fetch (cached); (c) the orig changed
                    after signing: TN-Validation-Failed, failures.bad_signature +1; (d) iat 600 s old:
                    Failed, failures.stale +1; (e) no Identity: No-TN-Validation, no_validation +1; (f)
                    the x5u under https://cert.lab.invalid/: Failed, failures.certificate_unavailable
                    +1, certificates.fetch_failed +1, nothing new at the server; diverted calls (RFC
                    8946), two Identity headers and no PAI: (g) a valid SHAKEN PASSporT for dest
                    [15557999] and a valid "div" PASSporT (header {alg, ppt div, typ, x5u}, claims
                    {dest {tn [15557001]}, div {tn 15557999}, iat, orig {tn 15550123}}, the same key
                    and x5u; ;ppt=div): Passed, verify.passed +1, nothing fetched; (h) the same, the
                    div's signature that of other claims (orig 15550999): Failed, bad_signature +1.
                    (i) The appliance as the retargeting entity: the trunk's address (port 5062) calls
                    15557009 with a valid SHAKEN PASSporT for it (and PAI); the lab dialplan forwards
                    it (dv=unconditional) to 15551234 at lab-trunk (sip_trunk.py: 407, then 486),
                    whose two INVITEs carry exactly the caller's Identity as it came, then a div
                    PASSporT openssl verifies with the lab key: header {alg ES256, ppt div, typ
                    passport, x5u [stir] x5u}, claims exactly {dest {tn [15551234]}, div {tn
                    15557009}, iat within the call, orig {tn 15550123}} (keys sorted, no white
                    space), ;info=<x5u>;alg=ES256;ppt=div; verify.passed +1, stir.passed_on +2,
                    stir.div_signed +2. CRLs (RFC 5280 CRL Distribution Points; [stir] check_crl
                    defaults to true), as (a) to alice: (j) a valid Identity whose x5u is the -cdp
                    URL: Passed, verify.passed +1, certificates.fetched +1, crls_fetched +1, one GET of
                    the -cdp path and one of /lab-stir.crl; (k) the same with the -revoked URL:
                    Failed, failures.certificate_revoked +1, certificates.fetched +1, one GET of the
                    -revoked path and no CRL GET (cached). (A daemon that ran the test before has the
                    CRL already: then (j) fetches none.) In all, the server saw exactly one GET of each
                    certificate path and one of the CRL, nothing else, no TLS failure. The calls that
                    failed go on, and their caller gets RFC 9410's `Reason: STIR;cause=N;text=...;
                    ppi="..sig"` once, on its first response after 100: (c) 438, (d) 403, (f) 436,
                    (h) 438 with the div's signature, (k) 437 Unsupported Credential. sipferryctl stir
                    then lists the -cdp URL valid, the -revoked one revoked and, in
                    revocation_lists, the CRL valid with revoked 1. Eleven CDR lines, (a)..(i), (j),
                    (k): verstat as alice saw it ((i): Passed); attest A, signer_spc 1234 (the
                    certificate's TNAuthList) and the origid of the SHAKEN PASSporT for (a), (b),
                    (g), (i), (j), "" for the rest; diverted_from 15557999 for (g), "" for the rest;
                    result 486. lab.conf has [stir] verify_threads = 1: stir.signatures.pooled + 7
                    (the signatures of a, b, c, g, h, i, j checked on the pool's thread; d to f and k
                    settled before any signature).

  identity_refused  lab-trunk switched to `verify_identity = require` in the staged lab.conf and
                    reloaded (restored and reloaded after, also on failure). Four calls from the
                    trunk's address to 15557001: (a) a PASSporT 600 s old: 403 Stale Date; (b) no
                    Identity: 428 Use Identity Header; (c) a valid PASSporT whose x5u is under
                    .invalid: 436 Bad Identity Info (uac_identity_refused.xml reads the refusal);
                    (d) a valid one (x5u_server.py as above): routed to alice, 486, verstat Passed.
                    stir.verify.rejected +2, rejected_unsigned +1; one CDR line (d), none for (a)-(c).
"""
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

from transfer_tests import read_trace, _is_request  # sipp -trace_msg parsing
from provider_tests import TRUNK, TRUNK_IP, TRUNK_USER, TRUNK_PASSWORD, TRUNK_FROM_HOST
from sip_trunk import split_values
from dialplan_tests import TOKEN  # configs/lab.conf [api] token (reload)

IDENTITY_TESTS = ["identity_asserted_and_withheld", "identity_verified", "identity_refused"]
STAGED_CONF = "/run/sipferry-lab/stage/configs/lab.conf"  # what the daemon reloads (tools/lab up)
IDENTITY_IP = "192.0.2.15"  # TEST-NET-1 in sf-alice: configs/lab.conf [account.lab-identity]
NO_HEADER = "X-Lab-Note: none"  # uac_identity.xml needs both keys: this stands in for an unused one
CALL_WAIT = 10  # seconds a caller may take to its 486 (a busy call takes well under 1 s)
ANONYMOUS_FROM = re.compile(r'^"Anonymous" <sip:anonymous@anonymous\.invalid>;tag=\S+$')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STIR_KEY = os.path.join(ROOT, "configs", "lab-stir.key")  # configs/lab.conf [stir] key
STIR_X5U = "https://cert.lab.invalid/sipferry-lab.pem"     # configs/lab.conf [stir] x5u
# identity_verified: the lab's certificate repository (tests/lab/x5u_server.py) in sf-sbc, on the
# appliance's kernel loopback; its TLS certificate (IP SAN 127.0.0.1) and the SHAKEN certificate it
# serves chain to configs/lab-stir-ca.pem ([stir] ca and x5u_tls_ca).
X5U_SERVER = os.path.join(ROOT, "tests", "lab", "x5u_server.py")
X5U_PORT = 8443
STIR_CERT = os.path.join(ROOT, "configs", "lab-stir-cert.pem")  # names no CRL
# identity_verified (j), (k): two more certificates of the lab key that name a CRL (CRL Distribution
# Points, tools/lab-stir-certs), one on it and one not, and that CRL, served by the same server at
# the fixed path the certificates name (so unlike the x5u paths it is the same every run).
STIR_CERT_CDP = os.path.join(ROOT, "configs", "lab-stir-cert-cdp.pem")
STIR_CERT_REVOKED = os.path.join(ROOT, "configs", "lab-stir-cert-revoked.pem")
STIR_CRL = os.path.join(ROOT, "configs", "lab-stir.crl")
CRL_PATH = "/lab-stir.crl"
CRL_URL = f"https://127.0.0.1:{X5U_PORT}{CRL_PATH}"
STIR_MAX_AGE = 60  # configs/lab.conf [stir] max_age
VERIFY_ORIG = "+15550123"  # the trunk's caller (From user, and P-Asserted-Identity where sent)
VERIFY_DEST = "15557001"   # the lab dialplan routes it to alice (lua/dialplans/lab_default.lua)
DIVERTED = "15557999"      # identity_verified (g), (h): the number the carrier signed for, diverted to VERIFY_DEST
FORWARDED = "15557009"     # the lab dialplan forwards it (dv=unconditional) to FORWARD_TO at lab-trunk
FORWARD_TO = "15551234"
VERSTAT_PASSED, VERSTAT_FAILED, VERSTAT_NONE = "TN-Validation-Passed", "TN-Validation-Failed", "No-TN-Validation"
FAILURE_REASONS = ("stale", "orig_mismatch", "dest_mismatch", "bad_signature", "certificate", "malformed",
                   "x5u_mismatch", "certificate_unavailable", "certificate_revoked", "tn_not_covered")
LAB_SPC = "1234"  # the TNAuthList of configs/lab-stir-cert.pem (tools/lab-stir-certs)
_URI_USER = re.compile(r"<sips?:([^@>]*)@[^>]*>")


def _b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _der_integer(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def verify_identity(value, key=STIR_KEY):
    """An Identity header value (RFC 8224: JWS;params) checked as a verifier would, with the openssl
    command and the public half of `key`: (JOSE header, claims, params, error or "")."""
    jws, _, params = value.partition(";")
    parts = jws.split(".")
    if len(parts) != 3:
        return None, None, ";" + params, f"not a compact JWS: {value[:120]!r}"
    try:
        header, claims, sig = json.loads(_b64url(parts[0])), json.loads(_b64url(parts[1])), _b64url(parts[2])
    except ValueError as e:
        return None, None, ";" + params, f"undecodable ({e}): {value[:120]!r}"
    if len(sig) != 64:
        return header, claims, ";" + params, f"an ES256 signature has 64 octets, this one {len(sig)}"
    seq = _der_integer(sig[:32]) + _der_integer(sig[32:])  # JWS's r||s as the DER openssl reads
    with tempfile.TemporaryDirectory() as d:
        pub, data, der = (os.path.join(d, n) for n in ("pub.pem", "data", "sig.der"))
        with open(data, "wb") as f:
            f.write((parts[0] + "." + parts[1]).encode())
        with open(der, "wb") as f:
            f.write(b"\x30" + bytes([len(seq)]) + seq)
        r = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], capture_output=True, timeout=10)
        if r.returncode != 0:
            return header, claims, ";" + params, f"openssl pkey: {r.stderr.decode(errors='replace')[:200]}"
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", der, data],
                           capture_output=True, timeout=10)
        if r.returncode != 0 or b"Verified OK" not in r.stdout:
            return header, claims, ";" + params, f"openssl dgst -verify: {(r.stdout + r.stderr).decode(errors='replace')[:200]}"
    return header, claims, ";" + params, ""


def _b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _der_ecdsa_to_raw(der):
    """An ECDSA signature as openssl writes it (DER SEQUENCE of INTEGER r, s) -> JWS's r || s, 32
    octets each (RFC 7518 3.4)."""
    def integer(b, i):
        if b[i] != 0x02:
            raise ValueError("not an INTEGER")
        n = b[i + 1]
        return b[i + 2:i + 2 + n], i + 2 + n
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        raise ValueError(f"not a DER ECDSA signature: {der.hex()}")
    r, i = integer(der, 2)
    s_, i = integer(der, i)
    if i != len(der) or len(r.lstrip(b"\0")) > 32 or len(s_.lstrip(b"\0")) > 32:
        raise ValueError(f"not a P-256 ECDSA signature: {der.hex()}")
    return r.lstrip(b"\0").rjust(32, b"\0") + s_.lstrip(b"\0").rjust(32, b"\0")


def passport_part(obj):
    """A PASSporT's JSON as RFC 8225 9 serializes it (keys sorted, no white space), base64url."""
    return _b64url_encode(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode())


def sign_passport(header, claims, key=STIR_KEY):
    """The compact JWS of a SHAKEN PASSporT, signed ES256 with `key` by the openssl command
    (`dgst -sha256 -sign`, DER, turned into r || s): "HEADER.PAYLOAD.SIGNATURE"."""
    signing_input = passport_part(header) + "." + passport_part(claims)
    r = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                       capture_output=True, timeout=10)
    if r.returncode != 0:
        raise RuntimeError(f"openssl dgst -sign: {r.stderr.decode(errors='replace')[:200]}")
    return signing_input + "." + _b64url_encode(_der_ecdsa_to_raw(r.stdout))


def identity_value(jws, x5u, ppt="shaken"):
    """An Identity header value in its full form (RFC 8224 4.1): SHAKEN, or ppt="div" (RFC 8946)."""
    return f"{jws};info=<{x5u}>;alg=ES256;ppt={ppt}"


def shaken_claims(orig, dest, iat, attest="A"):
    return {"attest": attest, "dest": {"tn": [dest]}, "iat": iat, "orig": {"tn": orig},
            "origid": str(uuid.uuid4())}


def shaken_header(x5u):
    return {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u}


def div_claims(orig, dest, diverted, iat):
    """A "div" PASSporT's claims (RFC 8946 3): the call from `orig`, first for `diverted`, now to `dest`."""
    return {"dest": {"tn": [dest]}, "div": {"tn": diverted}, "iat": iat, "orig": {"tn": orig}}


def div_header(x5u):
    return {"alg": "ES256", "ppt": "div", "typ": "passport", "x5u": x5u}


def _uri_user(value):
    """The user part of the first <sip:...> URI in a header value ("" when there is none)."""
    m = _URI_USER.search(value or "")
    return m.group(1) if m else ""


def _verify_counts(st):
    """sipferryctl stats' stir verification counters, flat: verify.{passed, failed, no_validation,
    rejected, rejected_unsigned, reasons_sent}, failures.<every reason>, certificates.{fetched,
    fetch_failed, crls_fetched, crl_fetches_failed} (certificates' other numbers, such as the INVITEs
    held, are not compared); None when the stats have no `stir.verify`."""
    stir = st.get("stir") if isinstance(st, dict) else None
    if not isinstance(stir, dict) or not isinstance(stir.get("verify"), dict):
        return None
    out = {}
    failures = stir.get("failures") if isinstance(stir.get("failures"), dict) else {}
    for group, names in (("verify", ("passed", "failed", "no_validation", "rejected", "rejected_unsigned",
                                     "reasons_sent")),
                         ("failures", set(FAILURE_REASONS) | set(failures)),
                         ("certificates", ("fetched", "fetch_failed", "crls_fetched", "crl_fetches_failed"))):
        obj = stir.get(group) if isinstance(stir.get(group), dict) else {}
        for name in names:
            v = obj.get(name, 0)
            out[f"{group}.{name}"] = v if isinstance(v, int) else 0
    return out


SIGN_COUNTERS = ("signed", "passed_on", "unsigned", "div_signed")


def _sign_counts(st):
    """sipferryctl stats' counts of the INVITEs to providers with sign_identity, flat: stir.{signed,
    passed_on, unsigned, div_signed} (div_signed: those that carried a "div" PASSporT, RFC 8946, the
    appliance signed as the retargeting entity); a counter the stats lack counts 0."""
    stir = st.get("stir") if isinstance(st, dict) else None
    stir = stir if isinstance(stir, dict) else {}
    return {f"stir.{n}": stir[n] if isinstance(stir.get(n), int) else 0 for n in SIGN_COUNTERS}


def _stir_counts(st):
    """_verify_counts and _sign_counts together (verification counters {} when there are none)."""
    return dict(_verify_counts(st) or {}, **_sign_counts(st))


def _values(m, name):
    """Every value of header `name` in a read_trace message (comma-separated values split)."""
    return [v for line in m["headers"].get(name, []) for v in split_values(line)]


def _from(m):
    return (m["headers"].get("from") or m["headers"].get("f") or [""])[0]


class IdentityTests:
    """Lab tests of caller identity and privacy; mixed into the runner class of tests/lab/run."""

    def _identity_caller(self, tdir, tag, side, service, hdr1, hdr2, appliance, port=5060, from_user="alice"):
        return self.sipp(tdir, tag, side, "uac_identity.xml", port=port, remote=f"{appliance}:5060", service=service,
                         keys={"hdr1": hdr1, "hdr2": hdr2, "from_user": from_user})

    def _identity_trunk_call(self, tdir, tag, hdr1, hdr2=NO_HEADER, service="trunk-bob", caller=None,
                             from_user="alice"):
        """The lab-identity caller (or `caller`: (namespace, address, port, the appliance's address
        it calls)), From user `from_user`, calls `service` (trunk-X: X@lab-trunk, or a number the
        lab dialplan sends there); the trunk (on TRUNK_IP, added by the caller of this) answers 407,
        then 486. Returns the INVITE rows of the trunk's report."""
        ns = self._c("CAROL")[0]
        report = os.path.join(tdir, f"{tag}-trunk.json")
        with open(os.path.join(tdir, f"{tag}-trunk.log"), "w") as log:
            trunk = subprocess.Popen(["ip", "netns", "exec", ns, "python3", TRUNK, "--ip", TRUNK_IP,
                                      "--user", TRUNK_USER, "--password", TRUNK_PASSWORD, "--realm", TRUNK_FROM_HOST,
                                      "--report", report, "--timeout", str(CALL_WAIT + 2), "--until", "bye",
                                      "--invite-status", "486"], cwd=tdir, stdout=log, stderr=log)
        self.procs.append(trunk)  # the runner kills what is left at the end of the test
        if not self.wait_listening(ns, 5060):
            self.kill_proc(trunk)
            self._fail("the scripted trunk did not start listening")
        ns_c, ip_c, port_c, sbc = caller or (self._c("ALICE")[0], IDENTITY_IP, 5060, self._c("SBC_ACC"))
        caller = self._identity_caller(tdir, tag, (ns_c, ip_c), service, hdr1, hdr2, sbc, port=port_c,
                                       from_user=from_user)
        rc = self.wait_sipp(caller, timeout=CALL_WAIT)
        try:
            rc_trunk = trunk.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill_proc(trunk)
            rc_trunk = "killed (timeout)"
        if trunk in self.procs:
            self.procs.remove(trunk)
        try:
            rep = json.load(open(report))
        except (OSError, ValueError) as e:
            rep = {"requests": [], "done": False, "error": str(e)}
        if rc != 0:
            self._fail(f"{tag}: caller sipp exit {rc} (wanted the trunk's 486)\n" + self.sipp_excerpt(caller) +
                       json.dumps(rep)[:800])
        invites = [r for r in rep["requests"] if r["method"] == "INVITE"]
        self._progress(f"{tag}: the trunk saw " + "; ".join(
            f"INVITE credentials={r['credentials']} -> {r['answer']}: PAI {r['pai']} PPI {r['ppi']} "
            f"Privacy {r['privacy']!r} From {r['from']!r}" for r in invites) + f" (trunk exit {rc_trunk})")
        if [(r["credentials"], r["answer"]) for r in invites] != [
                (False, "SIP/2.0 407 Proxy Authentication Required"), (True, "SIP/2.0 486 Busy Here")]:
            self._fail(f"{tag}: wanted INVITE -> 407, INVITE with credentials -> 486 at the trunk; got "
                       f"{[(r['credentials'], r['answer'], r.get('verdict')) for r in invites]}")
        if not rep["done"] or rc_trunk != 0:
            self._fail(f"{tag}: the trunk did not get the ACK of its 486 (exit {rc_trunk})")
        return invites

    def _identity_phone_call(self, tdir, tag, caller_side, appliance, callee, callee_side, hdr1, hdr2=NO_HEADER,
                             service=None, from_user="alice"):
        """caller_side calls `service` (default: `callee`), which reaches `callee` (a busy sipp,
        uas_busy.xml, on callee_side); returns the INVITE the callee received (read from its message
        trace)."""
        uas = self._start_uas(tdir, f"{tag}-{callee}", callee_side, "uas_busy.xml")
        caller = self._identity_caller(tdir, tag, caller_side, service or callee, hdr1, hdr2, appliance,
                                       from_user=from_user)
        rc = self.wait_sipp(caller, timeout=CALL_WAIT)
        rc_uas = self.wait_sipp(uas, timeout=3)
        problems, excerpts = self._sipp_problems([(caller, rc), (uas, rc_uas)])
        if problems:
            self._fail(f"{tag}: " + "; ".join(problems) + "\n" + excerpts)
        invites = [m for m in read_trace(os.path.join(tdir, f"{tag}-{callee}.msg"))
                   if m["dir"] == "in" and _is_request(m, "INVITE")]
        if not invites:
            self._fail(f"{tag}: {callee} got no INVITE")
        inv = invites[0]
        self._progress(f"{tag}: {callee}'s INVITE: From {_from(inv)!r} PAI {_values(inv, 'p-asserted-identity')} "
                       f"PPI {_values(inv, 'p-preferred-identity')} Privacy {inv['headers'].get('privacy')}")
        return inv

    def _check_signed(self, invites, window, errs):
        """Every INVITE the trunk got (rows of its report) carries a STIR/SHAKEN Identity that verifies
        with the lab key: attestation A, the account's number to 15551234, issued within `window`,
        one origid for the call."""
        t0, t1 = window
        origids = set()
        for k, r in enumerate(invites, 1):
            value = r.get("identity") or ""
            if not value:
                errs.append(f"call 1: INVITE {k} to the trunk has no Identity header (lab-trunk has sign_identity)")
                continue
            header, claims, params, err = verify_identity(value)
            self._progress(f"call 1: INVITE {k} Identity: header {header}, claims {claims}, {params}: "
                           f"{err or 'signature verified by openssl'}")
            if err:
                errs.append(f"call 1: INVITE {k}'s Identity: {err}")
                continue
            want_header = {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": STIR_X5U}
            if header != want_header:
                errs.append(f"call 1: INVITE {k}'s PASSporT header {header}, wanted {want_header}")
            if params != f";info=<{STIR_X5U}>;alg=ES256;ppt=shaken":
                errs.append(f"call 1: INVITE {k}'s Identity parameters {params!r}")
            want = {"attest": "A", "orig": {"tn": "15550100"}, "dest": {"tn": ["15551234"]}}
            if {key: claims.get(key) for key in want} != want:
                errs.append(f"call 1: INVITE {k}'s claims {claims}, wanted {want} (the account's own number)")
            if not isinstance(claims.get("iat"), int) or not t0 - 1 <= claims["iat"] <= t1 + 1:
                errs.append(f"call 1: INVITE {k}'s iat {claims.get('iat')!r}, the call ran {t0:.0f}..{t1:.0f}")
            origids.add(claims.get("origid"))
        if len(origids) > 1:
            errs.append(f"call 1: its INVITEs name several origids {sorted(map(str, origids))}: one call, one origid")

    def test_identity_asserted_and_withheld(self, tdir):
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        sbc_acc, sbc_core = self._c("SBC_ACC"), self._c("SBC_CORE")
        cdr_before = len(self.cdr_lines())
        errs = []
        trunk_from = f"<sip:alice@{TRUNK_FROM_HOST}>"
        self._trunk_address(True)
        try:
            with self._second_address(ALICE[0], IDENTITY_IP):
                # 1. A P-Preferred-Identity the account may not present: its own identity is asserted
                # (and signed: STIR/SHAKEN, attestation A).
                t0 = time.time()
                inv = self._identity_trunk_call(tdir, "call1", f"P-Preferred-Identity: <sip:+15559999@{IDENTITY_IP}>",
                                                service="trunk-15551234")
                self._check_signed(inv, (t0, time.time()), errs)
                got = inv[-1]
                want = [f"<sip:+15550100@{TRUNK_FROM_HOST}>"]
                if got["pai"] != want or got["privacy"] != "":
                    errs.append(f"call 1 (PPI +15559999, not the account's): the trunk got PAI {got['pai']} "
                                f"Privacy {got['privacy']!r}, wanted PAI {want} and no Privacy")
                if any(r["ppi"] for r in inv):
                    errs.append(f"call 1: the trunk got P-Preferred-Identity {[r['ppi'] for r in inv]}")

                # 2. One it may present, with Privacy: id: the trusted trunk gets it and the Privacy.
                inv = self._identity_trunk_call(tdir, "call2",
                                                f'P-Preferred-Identity: "Alice Desk" <sip:+15550177@{IDENTITY_IP}>',
                                                "Privacy: id")
                got = inv[-1]
                want = [f'"Alice Desk" <sip:+15550177@{TRUNK_FROM_HOST}>']
                if got["pai"] != want or got["privacy"] != "id":
                    errs.append(f"call 2 (PPI \"Alice Desk\" +15550177, Privacy: id): the trunk got PAI "
                                f"{got['pai']} Privacy {got['privacy']!r}, wanted PAI {want} and Privacy 'id'")
                if trunk_from not in got["from"] or "anonymous" in got["from"].lower():
                    errs.append(f"call 2: the trunk's From {got['from']!r}, wanted alice's ({trunk_from}): a "
                                f"trusted destination gets the real From with Privacy")
                if any(r["ppi"] for r in inv):
                    errs.append(f"call 2: the trunk got P-Preferred-Identity {[r['ppi'] for r in inv]}")
                if any(r.get("identity") for r in inv):
                    errs.append(f"call 2 (to trunk-bob, no telephone number): the trunk got an Identity header "
                                f"{inv[0].get('identity', '')[:80]!r}...: nothing to sign")

                # 3. The same to bob, who is not trusted: withheld.
                inv = self._identity_phone_call(tdir, "call3", (ALICE[0], IDENTITY_IP), sbc_acc, "bob", BOB,
                                                f"P-Preferred-Identity: <sip:+15550177@{IDENTITY_IP}>", "Privacy: id")
                leaked = {h: inv["headers"][h] for h in ("p-asserted-identity", "p-preferred-identity", "privacy")
                          if h in inv["headers"]}
                if not ANONYMOUS_FROM.match(_from(inv)) or leaked:
                    errs.append(f"call 3 (Privacy: id to untrusted bob): From {_from(inv)!r} and {leaked}, wanted "
                                f"From \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=... and no "
                                f"P-Asserted-Identity, P-Preferred-Identity or Privacy")

            # 4. The trusted trunk's address calls alice with a tel: PAI: alice gets it as a sip: URI.
            # lab-trunk has verify_identity and the call no Identity: the PAI's user part says
            # verstat=No-TN-Validation (ATIS-1000074); the From user (alice) is no telephone number.
            inv = self._identity_phone_call(tdir, "call4", (CAROL[0], TRUNK_IP), sbc_core, "alice", ALICE,
                                            'P-Asserted-Identity: "Carrier" <tel:+15557777>')
            want = [f'"Carrier" <sip:+15557777;verstat={VERSTAT_NONE}@{sbc_acc}>']
            pai = _values(inv, "p-asserted-identity")
            if pai != want or "privacy" in inv["headers"] or "p-preferred-identity" in inv["headers"]:
                errs.append(f"call 4 (PAI tel:+15557777 from the trusted trunk): alice got PAI {pai}, Privacy "
                            f"{inv['headers'].get('privacy')}, PPI {inv['headers'].get('p-preferred-identity')}; "
                            f"wanted PAI {want} only")
            if "anonymous" in _from(inv).lower():
                errs.append(f"call 4: alice's From {_from(inv)!r} is anonymous, nobody asked for privacy")
            if "verstat" in _from(inv):
                errs.append(f"call 4: alice's From {_from(inv)!r} has a verstat: its user (alice) is no "
                            f"telephone number")

            # 6. The trusted trunk's address (from port 5062) calls trunk-15551234 with the Identity
            # its carrier signed: the trunk gets that one on both INVITEs, not one of the appliance's.
            theirs = ("eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0In0.eyJhdHRlc3QiOiJBIn0.c2ln"
                      ";info=<https://cert.carrier.invalid/a.pem>;alg=ES256;ppt=shaken")
            inv = self._identity_trunk_call(tdir, "call6", f"Identity: {theirs}", service="trunk-15551234",
                                            caller=(CAROL[0], TRUNK_IP, 5062, sbc_core))
            got = [r.get("identity") for r in inv]
            self._progress(f"call 6: the trunk's INVITEs carried Identity {got}")
            if got != [theirs, theirs]:
                errs.append(f"call 6 (a trusted carrier's Identity): the trunk got {got}, wanted the caller's "
                            f"{theirs!r} on both INVITEs (passed on, not signed again)")
            # Verified on the way in (lab-trunk has verify_identity; this one fails), but a provider
            # is told no verstat: only phones are.
            marked = [(r["from"], r["pai"]) for r in inv if "verstat" in r["from"] + " ".join(r["pai"])]
            if marked:
                errs.append(f"call 6: the trunk (a provider) got a verstat in From / PAI {marked}")
        finally:
            self._trunk_address(False)

        # 5. carol (no identity of her account, not a trusted source) forges a PAI: it is dropped.
        inv = self._identity_phone_call(tdir, "call5", CAROL, sbc_core, "alice", ALICE,
                                        f"P-Asserted-Identity: <sip:+15557777@{CAROL[1]}>")
        leaked = {h: inv["headers"][h] for h in ("p-asserted-identity", "p-preferred-identity", "privacy")
                  if h in inv["headers"]}
        if leaked:
            errs.append(f"call 5 (carol's forged PAI): alice got {leaked}, wanted no identity headers")

        lines = self._wait_cdrs(cdr_before, 6)
        recs = []
        for line in lines:
            try:
                recs.append(json.loads(line))
            except ValueError:
                errs.append(f"CDR line is not JSON: {line[:200]}")
        for r in recs:
            self._progress(f"cdr: caller {r.get('caller')} callee {r.get('callee')} result {r.get('result')} "
                           f"identity {r.get('identity')!r} privacy {r.get('privacy')!r}")
        got = [(r.get("identity"), r.get("privacy"), r.get("result")) for r in recs]
        want = [("+15550100", "", 486), ("+15550177", "id", 486), ("+15550177", "id", 486),
                ("+15557777", "", 486), ("", "", 486), ("", "", 486)]  # call 6 (no PAI) ends before call 5
        if got != want:
            errs.append(f"CDR (identity, privacy, result) {got}, wanted {want}")
        if errs:
            self._fail("; ".join(errs))

    # ---- identity_verified -------------------------------------------------------------------
    def _x5u_server(self, tdir, path, also=(), crls=()):
        """Starts tests/lab/x5u_server.py in sf-sbc on 127.0.0.1:X5U_PORT, serving
        configs/lab-stir-cert.pem at `path`, and each (path, PEM file) of `also` (certificates) and
        `crls` (a CRL, served as DER); returns (its Popen, its report's path) once it listens (it
        writes the report then). The caller stops it (kill_proc, by PID) also on failure."""
        report = os.path.join(tdir, "x5u.json")
        extra = [a for p, f in also for a in ("--also", f"{p}={f}")] + \
            [a for p, f in crls for a in ("--crl", f"{p}={f}")]
        with open(os.path.join(tdir, "x5u.log"), "w") as log:
            server = subprocess.Popen(["ip", "netns", "exec", "sf-sbc", sys.executable, X5U_SERVER,
                                       "--bind", "127.0.0.1", "--port", str(X5U_PORT), "--path", path,
                                       "--file", STIR_CERT] + extra + ["--report", report, "--max-seconds", "180"],
                                      cwd=tdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(server)  # the runner kills what is left at the end of the test
        end = time.monotonic() + 5
        while time.monotonic() < end and server.poll() is None and not os.path.exists(report):
            time.sleep(0.05)
        return server, report

    def _stop_x5u_server(self, server):
        """Stops what _x5u_server started (by its PID; None: nothing was)."""
        if server is not None:
            self.kill_proc(server)
            if server in self.procs:
                self.procs.remove(server)

    @staticmethod
    def _x5u_report(report):
        try:
            with open(report) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _check_stir_reason(self, tdir, tag, what, identity, cause, errs):
        """RFC 9410: a call whose Identity failed and that goes on tells its signer why, in a Reason
        header on the first response after 100 its caller (sipp `tag`, read from its message
        trace) gets: `STIR;cause=N;text="...";ppi="..<the Identity's signature>"`, once; a call
        that passed or had no Identity, never."""
        responses = [m for m in read_trace(os.path.join(tdir, f"{tag}.msg"))
                     if m["dir"] == "in" and m["start"].startswith("SIP/2.0 ")
                     and not m["start"].startswith("SIP/2.0 100 ")]
        reasons = [(m["start"], v) for m in responses for v in m["headers"].get("reason", [])
                   if v.strip().upper().startswith("STIR")]
        self._progress(f"{tag}: the caller got {[m['start'] for m in responses]}, STIR Reasons {reasons}")
        if cause is None:
            if reasons:
                errs.append(f"{tag} ({what}): the caller got STIR Reasons {reasons}, wanted none")
            return
        signature = identity.split(";")[0].split(".")[2]
        want = f'STIR;cause={cause[0]};text="{cause[1]}";ppi="..{signature}"'
        first = responses[0] if responses else None
        if not first or [v for s, v in reasons] != [want] or reasons[0][0] != first["start"]:
            errs.append(f"{tag} ({what}): the caller's responses {[m['start'] for m in responses]} carried STIR "
                        f"Reasons {reasons}; wanted one, {want!r}, on the first")

    def _forwarded_signed_call(self, tdir, x5u, rep, report, errs):
        """identity_verified (i), RFC 8946 4 (the appliance as the retargeting entity): the trunk's
        address (port 5062) calls FORWARDED with a valid SHAKEN PASSporT for it (x5u cached by (a));
        the lab dialplan forwards it (dv=unconditional) to FORWARD_TO at lab-trunk, whose scripted
        trunk (sip_trunk.py) answers 407, then 486. Both INVITEs there carry the caller's Identity as
        it came and after it one "div" PASSporT of the appliance's, FORWARDED -> FORWARD_TO, signed
        with [stir] key. Returns the caller's Identity value."""
        CAROL, sbc_core = self._c("CAROL"), self._c("SBC_CORE")
        orig = VERIFY_ORIG.lstrip("+")
        what = f"a valid SHAKEN PASSporT for {FORWARDED}, forwarded to {FORWARD_TO} at lab-trunk"
        passed = identity_value(sign_passport(shaken_header(x5u), shaken_claims(orig, FORWARDED, int(time.time()))),
                                x5u)
        before, seen_before = _stir_counts(self.stats()), rep.get("requests", 0)
        t0 = time.time()
        invites = self._identity_trunk_call(tdir, "vi", f"Identity: {passed}",
                                            f"P-Asserted-Identity: <sip:{VERIFY_ORIG}@{TRUNK_IP}>",
                                            service=FORWARDED, caller=(CAROL[0], TRUNK_IP, 5062, sbc_core),
                                            from_user=VERIFY_ORIG)
        t1 = time.time()
        after = _stir_counts(self.stats())
        got = {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(before) | set(after))}
        got = {k: v for k, v in got.items() if v}
        fetched = self._x5u_report(report).get("requests", 0) - seen_before
        self._progress(f"vi ({what}): the trunk's INVITEs {[r.get('uri') for r in invites]} carried "
                       f"{[len(r.get('identities') or []) for r in invites]} Identity headers; stats +{got}; "
                       f"x5u server {fetched} new requests")
        want = {"verify.passed": 1, "stir.passed_on": 2, "stir.div_signed": 2}
        if got != want:
            errs.append(f"vi ({what}): stats stir grew by {got}, wanted exactly {want} (verified on the way in; "
                        f"both INVITEs to the trunk, the 407'd one and its retry, passed on with a div)")
        if fetched:
            errs.append(f"vi ({what}): the x5u server got {fetched} requests, wanted none (cached)")
        self._check_stir_reason(tdir, "vi", what, None, None, errs)
        self._check_div_signed(invites, passed, (t0, t1), errs)
        return passed

    def _check_div_signed(self, invites, passed, window, errs):
        """Each INVITE the trunk got (rows of its report) carries exactly two Identity headers: the
        caller's `passed` as it came, then a div PASSporT (RFC 8946) that openssl verifies with the
        lab key: header {alg ES256, ppt div, typ passport, x5u [stir] x5u}, claims exactly dest
        [FORWARD_TO], div FORWARDED, orig the passed PASSporT's, iat within `window`, serialized as
        RFC 8225 9 says (keys sorted, no white space); ;info=<x5u>;alg=ES256;ppt=div after it."""
        t0, t1 = window
        orig = verify_identity(passed)[1]["orig"]
        for k, r in enumerate(invites, 1):
            if not re.match(rf"^sips?:{FORWARD_TO}@", r.get("uri") or ""):
                errs.append(f"vi: INVITE {k} at the trunk is for {r.get('uri')!r}, wanted {FORWARD_TO} (the forward)")
            got = r.get("identities") or []
            if len(got) != 2 or got[0] != passed:
                errs.append(f"vi: INVITE {k} to the trunk carried the Identity headers {got}, wanted the caller's "
                            f"{passed!r} as it came, then one div PASSporT of the appliance's")
            div = next((v for v in got[1:] if v != passed), None) if got[:1] == [passed] else None
            if div is None:
                continue
            header, claims, params, err = verify_identity(div)
            self._progress(f"vi: INVITE {k}'s div: header {header}, claims {claims}, {params}: "
                           f"{err or 'signature verified by openssl'}")
            if err:
                errs.append(f"vi: INVITE {k}'s div Identity: {err}")
                continue
            if header != div_header(STIR_X5U):
                errs.append(f"vi: INVITE {k}'s div PASSporT header {header}, wanted {div_header(STIR_X5U)}")
            if params != f";info=<{STIR_X5U}>;alg=ES256;ppt=div":
                errs.append(f"vi: INVITE {k}'s div Identity parameters {params!r}, wanted "
                            f"';info=<{STIR_X5U}>;alg=ES256;ppt=div'")
            want = div_claims(orig["tn"], FORWARD_TO, FORWARDED, claims.get("iat"))
            if claims != want:
                errs.append(f"vi: INVITE {k}'s div claims {claims}, wanted exactly {want}")
            if not isinstance(claims.get("iat"), int) or not t0 - 1 <= claims["iat"] <= t1 + 1:
                errs.append(f"vi: INVITE {k}'s div iat {claims.get('iat')!r}, the call ran {t0:.0f}..{t1:.0f}")
            h, p, _ = div.split(";")[0].split(".")
            if (h, p) != (passport_part(header), passport_part(claims)):
                errs.append(f"vi: INVITE {k}'s div PASSporT {h}.{p} is not serialized as RFC 8225 9 says (keys "
                            f"sorted, no white space): {passport_part(header)}.{passport_part(claims)}")

    def test_identity_verified(self, tdir):
        """STIR/SHAKEN verification (RFC 8224, ATIS-1000074) of calls from lab-trunk (verify_identity):
        the trunk's address calls 15557001 (alice) with PASSporTs this test signs, diverted ones (RFC
        8946 div chains) among them; alice's From and P-Asserted-Identity carry the verstat, the stats
        count it, the x5u is fetched once. Then a call forwarded to lab-trunk gets a div PASSporT of
        the appliance's after the caller's. Last, two calls whose certificates name a CRL (RFC 5280
        CRL Distribution Points): the CRL is fetched once; the certificate it does not list passes,
        the one it lists fails (certificate_revoked, 437)."""
        ALICE, CAROL = self._c("ALICE"), self._c("CAROL")
        sbc_core = self._c("SBC_CORE")
        if _verify_counts(self.stats()) is None:
            self._fail(f"sipferryctl stats has no stir.verify (stir: {json.dumps(self.stats().get('stir'))[:300]})")
        run = uuid.uuid4().hex[:12]  # this run's own URLs: nothing cached from an earlier run
        path = f"/identity-verified-{run}.pem"
        x5u = f"https://127.0.0.1:{X5U_PORT}{path}"
        cdp_path, revoked_path = f"/identity-verified-{run}-cdp.pem", f"/identity-verified-{run}-revoked.pem"
        cdp_x5u, revoked_x5u = f"https://127.0.0.1:{X5U_PORT}{cdp_path}", f"https://127.0.0.1:{X5U_PORT}{revoked_path}"
        unreachable = f"https://cert.lab.invalid/identity-verified-{run}.pem"
        orig = VERIFY_ORIG.lstrip("+")  # canonical TN (RFC 8224 8.3)
        pai = f"P-Asserted-Identity: <sip:{VERIFY_ORIG}@{TRUNK_IP}>"

        def valid(url=x5u, iat_offset=0):
            claims = shaken_claims(orig, VERIFY_DEST, int(time.time()) + iat_offset)
            return identity_value(sign_passport(shaken_header(url), claims), url)

        def tampered():
            # Signed with another orig, then the orig the INVITE shows put in: the claims the
            # verifier compares with From / PAI agree, the signature does not.
            claims = shaken_claims("15550999", VERIFY_DEST, int(time.time()))
            h, _, s = sign_passport(shaken_header(x5u), claims).split(".")
            return identity_value(".".join((h, passport_part(dict(claims, orig={"tn": orig})), s)), x5u)

        def diverted(broken=False):
            # RFC 8946: the carrier signed the call for DIVERTED, which was forwarded to VERIFY_DEST
            # (a "div" PASSporT from DIVERTED to VERIFY_DEST, the same orig, signed by the same
            # lab key as the retargeting entity). broken: the div's signature is that of other claims
            # (orig 15550999, like tampered()): a valid-looking ES256 signature, not of these claims,
            # and not the SHAKEN PASSporT's either (the Reason's ppi must name the div's).
            now = int(time.time())
            shaken = identity_value(sign_passport(shaken_header(x5u), shaken_claims(orig, DIVERTED, now)), x5u)
            claims = div_claims(orig, VERIFY_DEST, DIVERTED, now)
            if not broken:
                return shaken, identity_value(sign_passport(div_header(x5u), claims), x5u, "div")
            h, _, sig = sign_passport(div_header(x5u), dict(claims, orig={"tn": "15550999"})).split(".")
            return shaken, identity_value(".".join((h, passport_part(claims), sig)), x5u, "div")

        # The test's own signer against openssl (so a failure below is the appliance's).
        for value, ok in ((valid(), True), (tampered(), False), (diverted()[0], True), (diverted()[1], True),
                          (diverted(True)[1], False)):
            err = verify_identity(value)[3]
            if bool(err) == ok:
                self._fail(f"the test's PASSporT signer: openssl says {err or 'verified'} for {value[:100]}..., "
                           f"wanted {'verified' if ok else 'a bad signature'}")

        # The CRL's URL is the one the certificates name, the same every run: a daemon that ran this
        # test before (within the day it keeps a CRL) has it already and does not fetch it again.
        crl_known = any(c.get("url") == CRL_URL and c.get("state") == "valid"
                        for c in self._stir_listing()[1].get("revocation_lists") or [] if isinstance(c, dict))
        if crl_known:
            self._progress(f"sipferryctl stir lists {CRL_URL} valid already (an earlier run): (j) fetches no CRL")
        crl_fetched = {} if crl_known else {"certificates.crls_fetched": 1}
        crl_get = {} if crl_known else {CRL_PATH: 1}

        # (tag, what, hdr1, the Identity (a function: signed just before its call, iat fresh; it gives
        #  one value, or two: then they are hdr1 and hdr2, and the case's hdr1 is NO_HEADER) or None,
        #  verstat alice must see, exact stats deltas, the GETs the call may add at the x5u server
        #  ({path: count}; and no other request), the RFC 9410 Reason cause and text the trunk's
        #  caller must get on its first response after 100 (its ppi the last Identity's signature:
        #  the only one, or the div's), or None)
        told = {"verify.failed": 1, "verify.reasons_sent": 1}
        cases = [
            ("va", "a valid Identity", pai, valid, VERSTAT_PASSED,
             {"verify.passed": 1, "certificates.fetched": 1}, {path: 1}, None),
            ("vb", "a second valid one, From only (no PAI): the certificate from the cache", NO_HEADER, valid,
             VERSTAT_PASSED, {"verify.passed": 1}, {}, None),
            ("vc", "orig changed after signing", pai, tampered, VERSTAT_FAILED,
             dict(told, **{"failures.bad_signature": 1}), {}, (438, "Invalid Identity Header")),
            ("vd", f"iat 600 s old ([stir] max_age {STIR_MAX_AGE})", pai, lambda: valid(iat_offset=-600),
             VERSTAT_FAILED, dict(told, **{"failures.stale": 1}), {}, (403, "Stale Date")),
            ("ve", "no Identity", pai, None, VERSTAT_NONE, {"verify.no_validation": 1}, {}, None),
            ("vf", "an x5u under .invalid (never looked up)", pai, lambda: valid(url=unreachable), VERSTAT_FAILED,
             dict(told, **{"failures.certificate_unavailable": 1, "certificates.fetch_failed": 1}), {},
             (436, "Bad Identity Info")),
            ("vg", f"SHAKEN dest [{DIVERTED}] and a div PASSporT {DIVERTED} -> {VERIFY_DEST} (RFC 8946), From only",
             NO_HEADER, diverted, VERSTAT_PASSED, {"verify.passed": 1}, {}, None),
            ("vh", "the same, the div's signature that of other claims", NO_HEADER, lambda: diverted(True),
             VERSTAT_FAILED, dict(told, **{"failures.bad_signature": 1}), {}, (438, "Invalid Identity Header")),
        ]
        # After (i): certificates naming the CRL at CRL_URL (CRL Distribution Points). (j)'s is on no
        # CRL: its chain and then the CRL are fetched (the INVITE held for both), and it passes; (k)'s
        # is on that CRL, known by then: the chain is fetched (it verifies: certificates.fetched),
        # the CRL is not, and the Identity fails as revoked (RFC 8224 437 Unsupported Credential).
        crl_cases = [
            ("vj", "a valid Identity, its certificate naming a CRL that does not list it", pai,
             lambda: valid(url=cdp_x5u), VERSTAT_PASSED,
             dict({"verify.passed": 1, "certificates.fetched": 1}, **crl_fetched), dict({cdp_path: 1}, **crl_get),
             None),
            ("vk", "a valid Identity, its certificate on that CRL (revoked)", pai, lambda: valid(url=revoked_x5u),
             VERSTAT_FAILED, dict(told, **{"failures.certificate_revoked": 1, "certificates.fetched": 1}),
             {revoked_path: 1}, (437, "Unsupported Credential")),
        ]
        cdr_diverted = {"vg": DIVERTED}  # the CDR's diverted_from: the number first signed for ("" otherwise)
        errs = []
        identities = []  # each call's Identity values (a tuple; () for none), (a)..(h) then (j), (k)
        server, report = None, os.path.join(tdir, "x5u.json")
        cdr_before = len(self.cdr_lines())
        signatures_before = (self.stats().get("stir") or {}).get("signatures") or {}

        def verified_call(case):
            """One call of `cases` or `crl_cases` to alice, checked as its row says."""
            tag, what, hdr1, make, verstat, deltas, fetches, cause = case
            made = make() if make else ()
            values = (made,) if isinstance(made, str) else tuple(made)
            identities.append(values)
            if len(values) == 2:  # two Identity header lines (no PAI: the orig from From)
                lines = [f"Identity: {v}" for v in values]
            else:
                lines = [hdr1, f"Identity: {values[0]}" if values else NO_HEADER]
            before, seen_before = _stir_counts(self.stats()), self._x5u_report(report)
            inv = self._identity_phone_call(tdir, tag, (CAROL[0], TRUNK_IP), sbc_core, "alice", ALICE, *lines,
                                            service=VERIFY_DEST, from_user=VERIFY_ORIG)
            st = self.stats()
            after = _stir_counts(st)
            seen = self._x5u_report(report)
            got = {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(before) | set(after))}
            got = {k: v for k, v in got.items() if v}
            gets_before = seen_before.get("gets_by_path") or {}
            gets = {p: n - gets_before.get(p, 0) for p, n in (seen.get("gets_by_path") or {}).items()}
            gets = {p: n for p, n in gets.items() if n}
            requests = seen.get("requests", 0) - seen_before.get("requests", 0)
            from_user = _uri_user(_from(inv))
            pais = _values(inv, "p-asserted-identity")
            self._progress(f"{tag} ({what}): alice's INVITE {inv['start']!r}, From {_from(inv)!r}, PAI {pais}; "
                           f"stats +{got}; x5u server {requests} new requests, GETs {gets}; "
                           f"stir.certificates now {(st.get('stir') or {}).get('certificates')}")
            want_user = f"{VERIFY_ORIG};verstat={verstat}"
            if from_user != want_user:
                errs.append(f"{tag} ({what}): alice's From {_from(inv)!r}, wanted the user {want_user!r}")
            if hdr1 != NO_HEADER and [_uri_user(v) for v in pais] != [want_user]:
                errs.append(f"{tag} ({what}): alice's P-Asserted-Identity {pais}, wanted one <sip:{want_user}@...>")
            if hdr1 == NO_HEADER and any(_uri_user(v) != want_user for v in pais):
                errs.append(f"{tag} ({what}): alice's P-Asserted-Identity {pais}: each wanted "
                            f"<sip:{want_user}@...>")
            if got != deltas:
                errs.append(f"{tag} ({what}): stats stir grew by {got}, wanted exactly {deltas}")
            self._check_stir_reason(tdir, tag, what, values[-1] if values else None, cause, errs)
            if gets != fetches or requests != sum(fetches.values()):
                errs.append(f"{tag} ({what}): the x5u server got {requests} requests, GETs {gets}; wanted exactly "
                            f"the GETs {fetches}: {seen.get('log', [])[-3:]}")

        self._trunk_address(True)
        try:
            server, report = self._x5u_server(tdir, path, also=((cdp_path, STIR_CERT_CDP),
                                                                (revoked_path, STIR_CERT_REVOKED)),
                                              crls=((CRL_PATH, STIR_CRL),))
            rep = self._x5u_report(report)
            if server.poll() is not None or not rep:
                self._fail(f"x5u_server.py did not start in sf-sbc on 127.0.0.1:{X5U_PORT} (exit {server.poll()}):\n"
                           + open(os.path.join(tdir, "x5u.log"), errors="replace").read()[-1000:])
            for case in cases:
                verified_call(case)
            forwarded = self._forwarded_signed_call(tdir, x5u, self._x5u_report(report), report, errs)
            for case in crl_cases:
                verified_call(case)
        finally:
            self._stop_x5u_server(server)
            self._trunk_address(False)
        # What the operator sees of the certificates and CRLs (sipferryctl stir: GET
        # /v1/stir/certificates).
        rc, listing = self._stir_listing()
        listed = {c.get("url"): c for c in listing.get("certificates") or [] if isinstance(c, dict)}
        crls = {c.get("url"): c for c in listing.get("revocation_lists") or [] if isinstance(c, dict)}
        self._progress(f"sipferryctl stir: exit {rc}, "
                       f"{json.dumps([listed.get(u) for u in (x5u, unreachable, cdp_x5u, revoked_x5u)])}, "
                       f"revocation_lists {json.dumps(list(crls.values()))}")
        lab_cert, down = listed.get(x5u) or {}, listed.get(unreachable) or {}
        if (lab_cert.get("state"), lab_cert.get("spc"), down.get("state")) != ("valid", [LAB_SPC], "unavailable") or \
                not 0 < (lab_cert.get("expires_in_s") or 0) <= 86400 or not 0 < (down.get("expires_in_s") or 0) <= 30:
            errs.append(f"sipferryctl stir: {x5u} {lab_cert}, {unreachable} {down}; wanted the first valid with spc "
                        f"[{LAB_SPC}] for at most a day, the second unavailable for at most 30 s")
        good, revoked = listed.get(cdp_x5u) or {}, listed.get(revoked_x5u) or {}
        if (good.get("state"), good.get("spc"), revoked.get("state")) != ("valid", [LAB_SPC], "revoked"):
            errs.append(f"sipferryctl stir: {cdp_x5u} {good}, {revoked_x5u} {revoked}; wanted the first valid with "
                        f"spc [{LAB_SPC}] (its CRL does not list it), the second revoked")
        crl = crls.get(CRL_URL) or {}
        if (crl.get("state"), crl.get("revoked")) != ("valid", 1) or not 0 < (crl.get("expires_in_s") or 0) <= 86400:
            errs.append(f"sipferryctl stir: revocation_lists {list(crls.values())}; wanted {CRL_URL} valid with "
                        f"revoked 1 (configs/lab-stir.crl) for at most a day")
        # [stir] verify_threads = 1: the signatures of (a), (b), (c), (g), (h), (i) and (j) (one
        # verification each, a div chain's signatures with its SHAKEN one's) were checked on the
        # pool's thread; (d) to (f) and (k) (its certificate revoked) were settled before any
        # signature.
        signatures = (self.stats().get("stir") or {}).get("signatures") or {}
        pooled = signatures.get("pooled", 0) - signatures_before.get("pooled", 0)
        self._progress(f"stir.signatures {signatures}: pooled +{pooled}")
        if signatures.get("threads") != 1 or pooled != 7 or signatures.get("pool_full") != signatures_before.get("pool_full"):
            errs.append(f"stir.signatures {signatures} (before {signatures_before}): wanted threads 1, pooled +7 "
                        f"(calls a, b, c, g, h, i, j), pool_full unchanged")
        # The call records: each call's verstat, and of the PASSporTs that passed the attestation,
        # the signer's SPC (its certificate's TNAuthList) and the origid (the SHAKEN PASSporT's);
        # diverted_from the number a passed div chain started from. In the order of the calls:
        # (a)..(h), (i) (verified, passed on), (j), (k).
        recs = self._new_cdr_records(cdr_before, len(cases) + 1 + len(crl_cases), errs)
        got = [(r.get("verstat"), r.get("attest"), r.get("signer_spc"), r.get("origid"), r.get("diverted_from"),
                r.get("result")) for r in recs]

        def cdr(c, v):
            if c[4] != VERSTAT_PASSED:
                return c[4], "", "", "", "", 486
            return c[4], "A", LAB_SPC, verify_identity(v[0])[1].get("origid"), cdr_diverted.get(c[0], ""), 486
        want = [cdr(c, v) for c, v in zip(cases, identities)]
        want.append((VERSTAT_PASSED, "A", LAB_SPC, verify_identity(forwarded)[1].get("origid"), "", 486))
        want += [cdr(c, v) for c, v in zip(crl_cases, identities[len(cases):])]
        if got != want:
            errs.append(f"CDR (verstat, attest, signer_spc, origid, diverted_from, result) {got}, wanted {want}")
        rep = self._x5u_report(report)
        want_gets = {path: 1, cdp_path: 1, revoked_path: 1, CRL_PATH: 0 if crl_known else 1}
        self._progress(f"x5u server: {rep.get('gets')} GETs of {path}, GETs {rep.get('gets_by_path')}, "
                       f"{rep.get('requests')} requests, {rep.get('tls_failures')} TLS failures: {rep.get('log')}")
        if (rep.get("gets"), rep.get("gets_by_path"), rep.get("requests"), rep.get("tls_failures")) != \
                (1, want_gets, sum(want_gets.values()), 0):
            errs.append(f"the x5u server: {rep.get('gets')} GETs of {path}, GETs {rep.get('gets_by_path')} of "
                        f"{rep.get('requests')} requests, {rep.get('tls_failures')} TLS failures; wanted {want_gets}: "
                        f"each certificate fetched once for every call (cached), the CRL once, and nothing else")
        if errs:
            self._fail("; ".join(errs))

    def _stir_listing(self):
        """sipferryctl stir (GET /v1/stir/certificates): (its exit status, its JSON object; {} when
        it printed none)."""
        r = self._ctl(["stir"])
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            doc = {}
        return r.returncode, doc if isinstance(doc, dict) else {}

    def _refused_call(self, tdir, tag, appliance, identity):
        """The trunk's address calls VERIFY_DEST with `identity` (None: no Identity header) and
        expects a refusal (uac_identity_refused.xml); returns its status line ("" when none)."""
        caller = self.sipp(tdir, tag, (self._c("CAROL")[0], TRUNK_IP), "uac_identity_refused.xml",
                           remote=f"{appliance}:5060", service=VERIFY_DEST,
                           keys={"hdr1": f"P-Asserted-Identity: <sip:{VERIFY_ORIG}@{TRUNK_IP}>",
                                 "hdr2": f"Identity: {identity}" if identity else NO_HEADER,
                                 "from_user": VERIFY_ORIG})
        rc = self.wait_sipp(caller, timeout=CALL_WAIT)
        finals = [m["start"] for m in read_trace(os.path.join(tdir, f"{tag}.msg"))
                  if m["dir"] == "in" and m["start"].startswith("SIP/2.0 ")
                  and not m["start"].startswith("SIP/2.0 1")]
        self._progress(f"{tag}: sipp exit {rc}, final responses {finals}")
        return finals[0] if finals else ""

    def test_identity_refused(self, tdir):
        """verify_identity = require on lab-trunk (RFC 8224 6.2.2): a failed verification is refused
        with its 4xx, a call without a PASSporT with 428, a valid one is routed."""
        ALICE, sbc_core = self._c("ALICE"), self._c("SBC_CORE")
        if not os.path.isfile(STAGED_CONF):
            self._fail(f"{STAGED_CONF} missing: tools/lab up stages the config only when SIPFERRY_LAB_CONFIG is unset")
        original = open(STAGED_CONF).read()
        if original.count("\nverify_identity = true\n") != 1:
            self._fail("the staged lab.conf should have one 'verify_identity = true' line (lab-trunk's)")
        run = uuid.uuid4().hex[:12]
        path = f"/identity-refused-{run}.pem"
        x5u = f"https://127.0.0.1:{X5U_PORT}{path}"
        unreachable = f"https://cert.lab.invalid/identity-refused-{run}.pem"
        orig = VERIFY_ORIG.lstrip("+")

        def signed(url, iat_offset=0):
            claims = shaken_claims(orig, VERIFY_DEST, int(time.time()) + iat_offset)
            return identity_value(sign_passport(shaken_header(url), claims), url)

        errs = []
        server = None
        before = _verify_counts(self.stats()) or {}
        cdr_before = len(self.cdr_lines())
        self._trunk_address(True)
        try:
            with open(STAGED_CONF, "w") as f:
                f.write(original.replace("\nverify_identity = true\n", "\nverify_identity = require\n"))
            r = self._ctl(["reload"], token=TOKEN)
            self._progress(f"reload with verify_identity = require: exit {r.returncode} {(r.stdout + r.stderr)[:200]}")
            if r.returncode != 0:
                self._fail(f"the reload with verify_identity = require failed: {(r.stdout + r.stderr)[:300]}")
            for tag, what, identity, want in (
                    ("ra", "a PASSporT 600 s old", signed(unreachable, -600), "SIP/2.0 403 Stale Date"),
                    ("rb", "no Identity", None, "SIP/2.0 428 Use Identity Header"),
                    ("rc", "an x5u under .invalid", signed(unreachable), "SIP/2.0 436 Bad Identity Info")):
                got = self._refused_call(tdir, tag, sbc_core, identity)
                if got != want:
                    errs.append(f"{tag} ({what}): the caller got {got!r}, wanted {want!r}")
            server, report = self._x5u_server(tdir, path)
            inv = self._identity_phone_call(tdir, "rd", (self._c("CAROL")[0], TRUNK_IP), sbc_core, "alice", ALICE,
                                            f"P-Asserted-Identity: <sip:{VERIFY_ORIG}@{TRUNK_IP}>",
                                            f"Identity: {signed(x5u)}", service=VERIFY_DEST, from_user=VERIFY_ORIG)
            if _uri_user(_from(inv)) != f"{VERIFY_ORIG};verstat={VERSTAT_PASSED}":
                errs.append(f"rd (a valid PASSporT): alice's From {_from(inv)!r}, wanted the verstat {VERSTAT_PASSED}")
        finally:
            self._stop_x5u_server(server)
            self._trunk_address(False)
            with open(STAGED_CONF, "w") as f:
                f.write(original)
            r = self._ctl(["reload"], token=TOKEN)
            self._progress(f"reload of the original lab.conf: exit {r.returncode}")
            if r.returncode != 0:
                errs.append(f"the original lab.conf did not reload: {(r.stdout + r.stderr)[:300]}")
        after = _verify_counts(self.stats()) or {}
        got = {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(before) | set(after))}
        got = {k: v for k, v in got.items() if v}
        want = {"verify.failed": 2, "verify.rejected": 2, "verify.no_validation": 1, "verify.rejected_unsigned": 1,
                "verify.passed": 1, "failures.stale": 1, "failures.certificate_unavailable": 1,
                "certificates.fetch_failed": 1, "certificates.fetched": 1}
        self._progress(f"stats stir grew by {got}")
        if got != want:
            errs.append(f"stats stir grew by {got}, wanted exactly {want}")
        recs = self._new_cdr_records(cdr_before, 1, errs)
        if [(r.get("verstat"), r.get("result")) for r in recs] != [(VERSTAT_PASSED, 486)]:
            errs.append(f"CDR lines {[(r.get('verstat'), r.get('result')) for r in recs]}, wanted one: "
                        f"({VERSTAT_PASSED}, 486) for the call that was routed")
        if errs:
            self._fail("; ".join(errs))
