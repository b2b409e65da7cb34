#!/usr/bin/env python3
"""sipferry lab: the remaining transfer tests of issue 5 (pass-through, attended, fraud, API).

A mixin for the lab runner (tests/lab/run), next to TransferTests, whose helpers it uses
(_c, _start_uas, _rtp_keys, _report, _wait_rtpsims, _wait_cdrs, _sipp_problems, _refer_outcome,
_fail, _progress) together with the runner's own (sipp, wait_sipp, cdr_lines, stats, stat, run):

  refer_passed_trp             alice calls bob-trp (mode p); bob's blind REFER reaches alice translated
                               into her dialog, her NOTIFYs reach bob translated into his; then alice
                               calls the Refer-To she got (carol, through the appliance)
  attended_transfer            bob has alice (call 1, bob-trc) and carol (call 2, bob calls carol); he
                               REFERs alice with Replaces naming call 2: the appliance joins alice and
                               carol (one NOTIFY 200, BYE to bob in both calls, both re-INVITEd)
  transfer_to_premium_refused  bob (bob-trc) REFERs alice to 0900123456: 403, no NOTIFY, no new leg,
                               the call goes on, transfers.refused + 1
  api_transfer                 sipferryctl transfer (call-manager API) moves alice from bob to carol;
                               without the token the API answers 401
  transfer_reinvite_491_retried  the blind transfer of alice from bob-trc to carol, but alice answers
                               the appliance's first re-INVITE 491 (uac_transferee_491.xml): a second
                               one comes within the RFC 3261 14.1 back-off with the next CSeq and the
                               same SDP, alice then hears carol; stats sip.own_reinvite_491 + 1

A REFER storm is not run in the lab: the rate limit ([transfer] max_per_minute) is unit-tested in
tests/control/transfer_policy_test.cc.
"""
import json
import os
import re
import subprocess
import time
import urllib.parse

from transfer_tests import (read_trace, sdp_fields, media_gap, describe_gap, _h, _is_request,
                            _is_response_to, _TRACE_SPLIT, SSRC_ALICE, SSRC_BOB, SSRC_CAROL,
                            GAP_BOUNDS_MS, BLIND_REFER_TO)

MORE_TRANSFER_TESTS = ["refer_passed_trp", "attended_transfer", "transfer_to_premium_refused", "api_transfer",
                       "transfer_reinvite_491_retried", "replaces_for_a_dialog_elsewhere"]

# A dialog the appliance never saw (bob consulted carol through another system), %-encoded as a
# Refer-To's URI header carries it, and as the new party's Replaces header must name it.
ELSEWHERE_REPLACES = "pbx-7%40198.51.100.30%3Bto-tag%3Dcarol7%3Bfrom-tag%3Dbob7"
ELSEWHERE_DIALOG = "pbx-7@198.51.100.30;to-tag=carol7;from-tag=bob7"

# SSRCs of the scenarios of this file (rtpsim --ssrc): uac_consult.xml (bob's call 2) 0xB0B02,
# uas_reinvited.xml (carol in the attended transfer) 0xCA201; uas_attended_transferor.xml,
# uas_refer_pass.xml, uas_refer_refused.xml and uas_answer_pcma.xml send as bob (0xB0B0B).
SSRC_BOB_CALL2 = 0xB0B02
SSRC_CAROL_ATT = 0xCA201
API_TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token (public lab token)
PREMIUM = "0900123456"


def _tag(value):
    m = re.search(r";\s*tag=([^;>\s]+)", value or "")
    return m.group(1) if m else None


def _received_raw(path):
    """The messages a sipp received, as raw text (start line, headers, body), from its -trace_msg."""
    try:
        text = open(path, errors="replace").read().replace("\r", "")
    except OSError:
        return []
    parts = _TRACE_SPLIT.split(text)
    out = []
    for i in range(1, len(parts) - 1, 2):
        chunk = parts[i + 1]
        first, _, rest = chunk.partition("\n")
        if "received" in first:
            out.append(rest.strip("\n"))
    return out


def _leaks(path, needle):
    """Lines of received messages that contain `needle` (topology that must not show)."""
    rows = []
    for raw in _received_raw(path):
        start = raw.split("\n", 1)[0]
        for line in raw.split("\n"):
            if needle in line:
                rows.append(f"{start[:40]!r}: {line.strip()[:120]!r}")
    return rows


def _uri_parts(name_addr):
    """(scheme, user, host, params, headers) of a name-addr or bare URI; None when unreadable."""
    v = (name_addr or "").strip()
    m = re.search(r"<([^>]*)>", v)
    uri = m.group(1) if m else v.split(";")[0]
    m = re.match(r"^([a-zA-Z]+):(?:([^@]*)@)?([^;?]*)((?:;[^?]*)?)(?:\?(.*))?$", uri)
    if not m:
        return None
    return m.group(1), m.group(2) or "", m.group(3), m.group(4), m.group(5)


class MoreTransferTests:
    """The remaining lab tests of issue 5; mixed into the runner class of tests/lab/run."""

    # ---- helpers ------------------------------------------------------------------------------
    def _confirmed_call(self, a_addr, b_addr, caller, timeout=6.0):
        """The confirmed call from a_addr to b_addr in `sipferryctl calls` (waits, bounded, while
        the caller's sipp runs); None when none shows up."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and caller.poll() is None:
            try:
                calls = json.loads(self._ctl(["calls"]).stdout)
            except ValueError:
                calls = []
            call = next((c for c in calls if c.get("state") == "confirmed"
                         and str(c.get("a", {}).get("peer", "")).startswith(a_addr + ":")
                         and str(c.get("b", {}).get("peer", "")).startswith(b_addr + ":")), None)
            if call is not None:
                return call
            time.sleep(0.1)
        return None

    def _ctl(self, args, token=None, timeout=10):
        """sipferryctl in sf-sbc (the API listens on 127.0.0.1:8080 there), as test_stats_api."""
        ctl = self._rt().find_bin("sipferryctl")
        if not ctl:
            self._fail("sipferryctl not built (build/sipferryctl or build/control/sipferryctl)")
        argv = ["ip", "netns", "exec", "sf-sbc", ctl] + (["--token", token] if token else []) + list(args)
        env = {k: v for k, v in os.environ.items() if k != "SIPFERRY_API_TOKEN"}
        return self.run(argv, timeout=timeout, env=env)

    def _sipp_mp(self, tdir, tag, side, scenario, port, media_port, remote=None, service=None, keys=None):
        """As the runner's sipp(), for a second sipp in the same namespace: its own SIP port and its
        own RTP echo port (-mp; sipp 3.6.1 binds it at start and exits when it is taken: errno 98)."""
        rt = self._rt()
        ns, ip = side
        argv = ["ip", "netns", "exec", ns, "sipp", "-sf", os.path.join(rt.SCEN, scenario),
                "-i", ip, "-p", str(port), "-m", "1", "-mp", str(media_port), "-nostdin",
                "-timeout", f"{rt.SIPP_TIMEOUT}s", "-timeout_error", "-max_retrans", "5",
                "-trace_msg", "-message_file", os.path.join(tdir, f"{tag}.msg"),
                "-trace_err", "-error_file", os.path.join(tdir, f"{tag}.err")]
        if service:
            argv += ["-s", service]
        for k, v in (keys or {}).items():
            argv += ["-key", k, str(v)]
        if remote:
            argv.append(remote)
        with open(os.path.join(tdir, f"{tag}.out"), "w") as out:
            p = subprocess.Popen(argv, cwd=tdir, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        p.sf_tag = tag
        p.sf_dir = tdir
        self.procs.append(p)
        return p

    def _transfer_stats(self):
        st = self.stats()
        return {k: self.stat(st, f"transfers.{k}") for k in ("started", "completed", "failed", "refused")}

    def _rtp_from_only(self, who, report, appliance, errs, one_port=True):
        frm = list(report.get("received_from") or {})
        if not frm or any(not k.startswith(appliance + ":") for k in frm):
            errs.append(f"{who} got RTP from {frm}, wanted only the appliance {appliance}")
        elif one_port and len(frm) > 1:
            errs.append(f"{who} got RTP from several appliance ports {frm}")

    def _show_rtp(self, who, r):
        per = {hex(int(k)): v["count"] for k, v in (r.get("per_ssrc") or {}).items()}
        self._progress(f"rtp {who}: sent {r['sent']} received {r['received']} from {r['received_from']} per ssrc {per}")

    def _first(self, trace, direction, pred):
        return next((m for m in trace if m["dir"] == direction and pred(m)), None)

    # ---- refer_passed_trp ------------------------------------------------------------------------
    def test_refer_passed_trp(self, tdir):
        """alice -> bob-trp (transfer mode p): bob's REFER and alice's NOTIFYs are relayed, translated."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        count = 75  # 1.5 s from 0.5 s after the ACK: over before bob's REFER (2.5 s) and BYE
        cdr_before = len(self.cdr_lines())
        bob = self._start_uas(tdir, "bob", BOB, "uas_refer_pass.xml", self._rtp_keys(tdir, name="bob", rtp_count=count))
        alice = self.sipp(tdir, "alice", ALICE, "uac_refer_pass.xml", remote=f"{SBC_ACC}:5060", service="bob-trp",
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=count))
        rc_alice = self.wait_sipp(alice, timeout=15)
        rc_bob = self.wait_sipp(bob, timeout=5 if rc_alice == 0 else 2)
        self._wait_rtpsims(tdir, ("alice", "bob"), timeout=6)
        errs = []
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])

        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        # alice's dialog: her INVITE's Call-ID and From tag, the appliance's tag from her 200.
        a_inv = self._first(atrace, "out", lambda m: _is_request(m, "INVITE"))
        a_200 = self._first(atrace, "in", lambda m: m["start"].startswith("SIP/2.0 200") and _is_response_to(m, "INVITE"))
        a_callid = _h(a_inv, "Call-ID") if a_inv else None
        a_tag = _tag(_h(a_inv, "From")) if a_inv else None
        a_sbc_tag = _tag(_h(a_200, "To")) if a_200 else None
        refer = self._first(atrace, "in", lambda m: _is_request(m, "REFER"))
        if refer is None:
            errs.append("alice got no REFER (bob's, passed through in mode p)")
        else:
            self._progress(f"REFER at alice: {refer['start']!r} Refer-To {_h(refer, 'Refer-To')!r} "
                           f"Referred-By {_h(refer, 'Referred-By')!r} Event {_h(refer, 'Event')!r}")
            if _h(refer, "Call-ID") != a_callid:
                errs.append(f"REFER at alice has Call-ID {_h(refer, 'Call-ID')!r}, wanted hers {a_callid!r}")
            if _tag(_h(refer, "To")) != a_tag or _tag(_h(refer, "From")) != a_sbc_tag:
                errs.append(f"REFER at alice has From tag {_tag(_h(refer, 'From'))!r} / To tag "
                            f"{_tag(_h(refer, 'To'))!r}, wanted her dialog's {a_sbc_tag!r} / {a_tag!r}")
            if not refer["start"].startswith(f"REFER sip:alice@{ALICE[1]}"):
                errs.append(f"REFER at alice has Request-URI {refer['start']!r}, wanted her Contact")
            rt = refer["headers"].get("refer-to") or []
            parts = _uri_parts(rt[0]) if len(rt) == 1 else None
            if parts is None:
                errs.append(f"REFER at alice has Refer-To {rt!r}, wanted exactly one readable URI")
            else:
                scheme, user, host, params, headers = parts
                if (scheme.lower(), user, host.split(":")[0]) != ("sip", "carol", SBC_ACC):
                    errs.append(f"Refer-To at alice {rt[0]!r}: wanted sip:carol@{SBC_ACC} (the appliance's access address)")
                if headers is not None:
                    errs.append(f"Refer-To at alice {rt[0]!r} keeps URI headers ({headers!r}); wanted none")
            rb = _h(refer, "Referred-By")
            if rb is not None:
                p = _uri_parts(rb)
                if p is None or p[2].split(":")[0] != SBC_ACC:
                    errs.append(f"Referred-By at alice {rb!r}: wanted the appliance's access address {SBC_ACC}")
        leaks = _leaks(os.path.join(tdir, "alice.msg"), "198.51.100.")
        if leaks:
            errs.append(f"alice received core-realm addresses (198.51.100.x) in {len(leaks)} line(s): " + "; ".join(leaks[:4]))
        leaks = _leaks(os.path.join(tdir, "bob.msg"), "192.0.2.")
        if leaks:
            errs.append(f"bob received access-realm addresses (192.0.2.x) in {len(leaks)} line(s): " + "; ".join(leaks[:4]))

        # bob's side: 202 (alice's, relayed) and her two NOTIFYs in his dialog.
        status, notifies, _ = self._refer_outcome(btrace)
        self._progress(f"bob's REFER: {status}; " + ("; ".join(notifies) or "no NOTIFY"))
        b_inv = self._first(btrace, "in", lambda m: _is_request(m, "INVITE"))
        b_200 = self._first(btrace, "out", lambda m: m["start"].startswith("SIP/2.0 200") and _is_response_to(m, "INVITE"))
        b_refer = self._first(btrace, "out", lambda m: _is_request(m, "REFER"))
        b_callid = _h(b_inv, "Call-ID") if b_inv else None
        b_sbc_tag = _tag(_h(b_inv, "From")) if b_inv else None
        b_tag = _tag(_h(b_200, "To")) if b_200 else None
        b_refer_cseq = (_h(b_refer, "CSeq") or "").split()[0] if b_refer else None
        if status != 202:
            errs.append(f"bob's REFER got {status or 'no final response'}, wanted 202 (alice's, relayed)")
        nots = [m for m in btrace if m["dir"] == "in" and _is_request(m, "NOTIFY")]
        want = [("SIP/2.0 100 Trying", "active"), ("SIP/2.0 200 OK", "terminated")]
        if len(nots) != 2:
            errs.append(f"bob got {len(nots)} NOTIFY, wanted alice's 2 (100 Trying, 200 OK)")
        for i, (m, (frag, state)) in enumerate(zip(nots, want), 1):
            got = m["body"].splitlines()[0].strip() if m["body"] else ""
            ss = (_h(m, "Subscription-State") or "").replace(" ", "")
            ev = (_h(m, "Event") or "").replace(" ", "")
            if got != frag or not ss.startswith(state):
                errs.append(f"NOTIFY at bob: sipfrag {got!r} Subscription-State {ss!r}, wanted {frag!r} / {state}")
            if not (_h(m, "Content-Type") or "").lower().startswith("message/sipfrag"):
                errs.append(f"NOTIFY at bob has Content-Type {_h(m, 'Content-Type')!r}")
            if _h(m, "Call-ID") != b_callid or _tag(_h(m, "From")) != b_sbc_tag or _tag(_h(m, "To")) != b_tag:
                errs.append(f"NOTIFY at bob not in his dialog: Call-ID {_h(m, 'Call-ID')!r} From tag "
                            f"{_tag(_h(m, 'From'))!r} To tag {_tag(_h(m, 'To'))!r} (wanted {b_callid!r}, "
                            f"{b_sbc_tag!r}, {b_tag!r})")
            # RFC 3515 2.4.6: the Event id is the REFER's CSeq, in the dialog the NOTIFY travels in.
            evm = re.match(r"(?i)refer(?:;id=(\d+))?", ev)
            if not evm:
                errs.append(f"NOTIFY at bob has Event {_h(m, 'Event')!r}, wanted refer")
            elif evm.group(1) is not None and evm.group(1) != b_refer_cseq:
                errs.append(f"NOTIFY {i} at bob has Event {_h(m, 'Event')!r}: the id is not his REFER's CSeq "
                            f"{b_refer_cseq} (RFC 3515 2.4.6) but alice's REFER's, copied untranslated")
        a_not_ok = [m for m in atrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")
                    and _is_response_to(m, "NOTIFY")]
        if len(a_not_ok) < 2:
            errs.append(f"alice got {len(a_not_ok)} 200 for her 2 NOTIFYs (bob's, relayed)")
        if self._first(atrace, "in", lambda m: _is_request(m, "BYE")) is None:
            errs.append("alice did not get bob's BYE after the transfer")
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)

        ra, rb = self._report(tdir, "alice"), self._report(tdir, "bob")
        for who, r in (("alice", ra), ("bob", rb)):
            self._show_rtp(who, r)
        if rb["received"] != ra["sent"] or ra["received"] != rb["sent"]:
            errs.append(f"RTP alice <-> bob: bob received {rb['received']}/{ra['sent']}, alice {ra['received']}/{rb['sent']}")
        self._rtp_from_only("alice", ra, SBC_ACC, errs)
        self._rtp_from_only("bob", rb, SBC_CORE, errs)
        new = self._wait_cdrs(cdr_before, 1)
        for line in new:
            self._progress(f"cdr: {line}")
        recs = [json.loads(l) for l in new if l.startswith("{")]
        if len(recs) != 1 or recs[0].get("result") != 200 or recs[0].get("hangup") != "callee":
            errs.append(f"wanted one CDR, result 200, hangup callee (bob left after the NOTIFY): {new}")
        elif recs[0].get("parent") or recs[0].get("transferred_by"):
            errs.append("the CDR of a passed-through transfer names a parent/transferred_by (nothing was transferred here)")
        target = _uri_parts(_h(refer, "Refer-To")) if refer is not None else None
        if target is None or not target[1] or not target[2]:
            self._fail("; ".join(errs))

        # alice now calls the Refer-To she got, as a transferee does (through the appliance).
        _, user, host, _, _ = target
        carol = self._start_uas(tdir, "carol", CAROL, "uas_answer.xml",
                                self._rtp_keys(tdir, name="carol", rtp_count=50, rtp_delay=0.5))
        alice2 = self.sipp(tdir, "alice2", ALICE, "uac_call.xml", remote=f"{host.split(':')[0]}:5060", service=user,
                           keys=self._rtp_keys(tdir, caller="alice2", rtp_count=50))
        rc_a2 = self.wait_sipp(alice2, timeout=12)
        rc_c = self.wait_sipp(carol, timeout=5 if rc_a2 == 0 else 2)
        self._wait_rtpsims(tdir, ("alice2", "carol"), timeout=5)
        problems, excerpts = self._sipp_problems([(alice2, rc_a2), (carol, rc_c)])
        if problems:
            self._fail("; ".join(errs + [f"alice's call to the Refer-To {user}@{host}: " + ", ".join(problems)])
                       + "\n" + excerpts)
        ra2, rc = self._report(tdir, "alice2"), self._report(tdir, "carol")
        self._show_rtp("alice (call to the Refer-To)", ra2)
        self._show_rtp("carol", rc)
        if rc["received"] != ra2["sent"] or ra2["received"] != rc["sent"]:
            errs.append(f"RTP alice <-> carol: carol received {rc['received']}/{ra2['sent']}, "
                        f"alice {ra2['received']}/{rc['sent']}")
        self._rtp_from_only("carol", rc, SBC_CORE, errs)
        if errs:
            self._fail("; ".join(errs))

    # ---- attended_transfer -------------------------------------------------------------------------
    def _run_attended_transfer(self, tdir, service="bob-trc", carol_rtpsim=None, rtpsim=None):
        """The attended transfer's call flow: carol answers call 2 from bob (uac_consult.xml, port
        5062) and sends at once (uas_reinvited.xml); bob answers alice's call to `service`
        (uas_attended_transferor.xml) and REFERs her with Replaces naming call 2; alice
        (uac_transferee.xml) takes the re-INVITE; every sipp and rtpsim waited for (bounded).
        `carol_rtpsim`: the rtpsim command carol's scenario runs, options included (default the
        runner's RTPSIM); `rtpsim`: the same for alice's, bob's and bob2's (default the runner's
        RTPSIM). Returns (problems, excerpts) as _sipp_problems does."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        # carol sends from the moment she answers call 2 (rtp_delay 0) until after alice's BYE.
        carol_keys = self._rtp_keys(tdir, name="carol", rtp_count=400, rtp_delay=0)
        if carol_rtpsim:
            carol_keys["rtpsim"] = carol_rtpsim
        carol = self._start_uas(tdir, "carol", CAROL, "uas_reinvited.xml", carol_keys)
        own = {"rtpsim": rtpsim} if rtpsim else {}
        # Call 2: bob (port 5062, RTP 6002) calls user carol at the appliance's core address; the
        # lab dialplan routes it to carol on the same realm.
        bob2 = self._sipp_mp(tdir, "bob2", BOB, "uac_consult.xml", 5062, 16100, remote=f"{SBC_CORE}:5060",
                             service="carol", keys=self._rtp_keys(tdir, name="bob2", rtp_port=6002, rtp_count=150,
                                                                  **own))
        dialog_file = os.path.join(tdir, "bob2.dialog")
        end = time.monotonic() + 6.0
        while not os.path.exists(dialog_file) and time.monotonic() < end and bob2.poll() is None:
            time.sleep(0.05)
        try:
            call_id, bob_tag, sbc_tag = open(dialog_file).read().split()
        except (OSError, ValueError):
            rc = self.wait_sipp(bob2, timeout=1)
            rcc = self.wait_sipp(carol, timeout=1)
            self._fail(f"call 2 (bob -> carol through {SBC_CORE}) was not confirmed within 6 s "
                       f"(bob2 sipp {rc}, carol sipp {rcc})\n" + self.sipp_excerpt(bob2) + self.sipp_excerpt(carol))
        q = lambda s_: urllib.parse.quote(s_, safe="")  # noqa: E731  ('@' of the Call-ID: %40)
        replaces = f"{q(call_id)}%3Bto-tag%3D{q(sbc_tag)}%3Bfrom-tag%3D{q(bob_tag)}"
        self._progress(f"call 2 confirmed: Call-ID {call_id} bob's tag {bob_tag} appliance's tag {sbc_tag}; "
                       f"Replaces={replaces}")
        # Call 1: alice -> `service`; bob REFERs 2 s after the ACK.
        bob = self._start_uas(tdir, "bob", BOB, "uas_attended_transferor.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=150, replaces=replaces, **own))
        alice = self.sipp(tdir, "alice", ALICE, "uac_transferee.xml", remote=f"{SBC_ACC}:5060", service=service,
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=350, **own))
        rc_alice = self.wait_sipp(alice, timeout=16)
        rc_bob = self.wait_sipp(bob, timeout=3)
        rc_bob2 = self.wait_sipp(bob2, timeout=3)
        rc_carol = self.wait_sipp(carol, timeout=5 if rc_alice == 0 else 2)
        self._wait_rtpsims(tdir, ("alice", "bob", "bob2", "carol"), timeout=6)
        return self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (bob2, rc_bob2), (carol, rc_carol)])

    def _check_attended_sip(self, tdir, errs):
        """bob's side of an attended transfer that worked (bob.msg, bob2.msg): 202 for his REFER,
        exactly one NOTIFY (200 OK, terminated: no blind fallback), a BYE in both calls; alice and
        carol re-INVITEd (relay ports kept, each told the other's codecs). Returns the times of
        bob's BYEs (call 1, call 2; None when missing)."""
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        b2trace = read_trace(os.path.join(tdir, "bob2.msg"))
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        ctrace = read_trace(os.path.join(tdir, "carol.msg"))
        status, notifies, bye1_t = self._refer_outcome(btrace)
        bye2 = self._first(b2trace, "in", lambda m: _is_request(m, "BYE"))
        bye2_t = bye2["time"] if bye2 else None
        self._progress(f"bob's REFER (Replaces): {status}; " + ("; ".join(notifies) or "no NOTIFY") +
                       f"; BYE to bob in call 1: {'yes' if bye1_t else 'no'}, in call 2: {'yes' if bye2_t else 'no'}")
        if status != 202:
            errs.append(f"bob's REFER got {status or 'no final response'}, wanted 202")
        nots = [m for m in btrace if m["dir"] == "in" and _is_request(m, "NOTIFY")]
        if len(nots) != 1:
            errs.append(f"bob got {len(nots)} NOTIFY ({notifies}), wanted one: 200 OK, terminated "
                        f"(a '100 Trying' means the Replaces was not honoured: blind fallback)")
        elif (not nots[0]["body"].startswith("SIP/2.0 200")
              or not (_h(nots[0], "Subscription-State") or "").replace(" ", "").startswith("terminated")):
            errs.append(f"bob's NOTIFY: {notifies[0]}, wanted SIP/2.0 200 OK, terminated")
        if bye1_t is None:
            errs.append("bob got no BYE in call 1 (alice's)")
        if bye2_t is None:
            errs.append("bob got no BYE in call 2 (carol's)")
        # Re-INVITEs: alice is told carol's codecs, carol alice's; neither relay port moves.
        a_200 = self._first(atrace, "in", lambda m: m["start"].startswith("SIP/2.0 200") and _is_response_to(m, "INVITE"))
        a_re = self._first(atrace, "in", lambda m: _is_request(m, "INVITE"))
        c_invs = [m for m in ctrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        c_200 = self._first(ctrace, "out", lambda m: m["start"].startswith("SIP/2.0 200") and _is_response_to(m, "INVITE"))
        if a_re is None:
            errs.append("alice got no re-INVITE after the attended transfer")
        elif a_200 is not None:
            a, b = sdp_fields(a_200["body"]), sdp_fields(a_re["body"])
            self._progress(f"alice: 200 SDP {a}; re-INVITE SDP {b}")
            if b.get("c") != SBC_ACC or b.get("m") != a.get("m"):
                errs.append(f"alice's re-INVITE SDP c={b.get('c')} m={b.get('m')}, wanted {SBC_ACC} and her relay port {a.get('m')}")
            if c_200 is not None and b.get("fmts") != sdp_fields(c_200["body"]).get("fmts"):
                errs.append(f"alice's re-INVITE names formats {b.get('fmts')!r}, carol answered "
                            f"{sdp_fields(c_200['body']).get('fmts')!r}")
        # Connected identity: alice is told carol, as call 2 dialled her; carol is told nothing,
        # since alice's account (lab-access) has no number the appliance could assert.
        if a_re is not None and _h(a_re, "P-Asserted-Identity") != f"<sip:carol@{SBC_ACC}>":
            errs.append(f"alice's re-INVITE P-Asserted-Identity {_h(a_re, 'P-Asserted-Identity')!r}, "
                        f"wanted '<sip:carol@{SBC_ACC}>'")
        if len(c_invs) != 2:
            errs.append(f"carol got {len(c_invs)} INVITEs, wanted 2 (call 2, then the re-INVITE); "
                        f"a third is a blind fallback")
        else:
            first, re_ = c_invs
            if _h(re_, "P-Asserted-Identity") is not None:
                errs.append(f"carol's re-INVITE asserts {_h(re_, 'P-Asserted-Identity')!r}: alice has no number to assert")
            if _h(first, "Call-ID") != _h(re_, "Call-ID") or _tag(_h(re_, "To")) is None:
                errs.append("carol's second INVITE is not a re-INVITE in her call-2 dialog")
            f1, f2 = sdp_fields(first["body"]), sdp_fields(re_["body"])
            self._progress(f"carol: INVITE SDP {f1}; re-INVITE SDP {f2}")
            if f2.get("c") != SBC_CORE or f2.get("m") != f1.get("m"):
                errs.append(f"carol's re-INVITE SDP c={f2.get('c')} m={f2.get('m')}, wanted {SBC_CORE} and port {f1.get('m')}")
        return bye1_t, bye2_t

    def _check_attended_cdrs(self, cdr_before, errs):
        """Three new CDR lines: call 1 (alice-bob) and call 2 (bob-carol) with hangup transfer, then
        alice-carol with call 1 as parent, transferred by bob, alice's Call-ID."""
        BOB, CAROL = self._c("BOB"), self._c("CAROL")
        # CDRs: both calls' segments end with hangup transfer, the joined call is a new segment.
        recs = self._new_cdr_records(cdr_before, 3, errs)
        c1 = next((r for r in recs if r.get("hangup") == "transfer" and r.get("callee") == f"{BOB[1]}:5060"), None)
        c2 = next((r for r in recs if r.get("hangup") == "transfer" and r.get("callee") == f"{CAROL[1]}:5060"), None)
        joined = next((r for r in recs if r.get("parent")), None)
        if len(recs) != 3 or c1 is None or c2 is None or joined is None:
            errs.append(f"{len(recs)} new CDR lines, wanted 3: call 1 (alice-bob) and call 2 (bob-carol) with hangup "
                        f"transfer, then alice-carol with a parent")
        else:
            if joined.get("parent") != c1.get("b_call_id"):
                errs.append(f"joined CDR parent {joined.get('parent')!r}, wanted call 1's b_call_id {c1.get('b_call_id')!r}")
            if "bob" not in str(joined.get("transferred_by") or ""):
                errs.append(f"joined CDR transferred_by {joined.get('transferred_by')!r}, wanted bob's URI")
            if joined.get("callee") != f"{CAROL[1]}:5060" or joined.get("call_id") != c1.get("call_id"):
                errs.append(f"joined CDR callee {joined.get('callee')!r} call_id {joined.get('call_id')!r}, wanted carol "
                            f"and alice's Call-ID {c1.get('call_id')!r}")

    def test_attended_transfer(self, tdir):
        """bob: call 1 from alice (bob-trc), call 2 to carol; REFER with Replaces joins alice and carol."""
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        cdr_before = len(self.cdr_lines())
        problems, excerpts = self._run_attended_transfer(tdir)
        errs = []
        bye1_t, bye2_t = self._check_attended_sip(tdir, errs)
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)

        # RTP: alice <-> carol through the appliance after the join; bob hears nothing after his BYEs.
        ra, rc = self._report(tdir, "alice"), self._report(tdir, "carol")
        rb1, rb2 = self._report(tdir, "bob"), self._report(tdir, "bob2")
        for who, r in (("alice", ra), ("carol", rc), ("bob (call 1)", rb1), ("bob (call 2)", rb2)):
            self._show_rtp(who, r)
        a_from_c = (ra.get("per_ssrc") or {}).get(str(SSRC_CAROL_ATT), {}).get("count", 0)
        c_from_a = (rc.get("per_ssrc") or {}).get(str(SSRC_ALICE), {}).get("count", 0)
        if a_from_c < 100:
            errs.append(f"alice received {a_from_c} of carol's packets (SSRC {hex(SSRC_CAROL_ATT)}), wanted >= 100")
        if c_from_a < 100:
            errs.append(f"carol received {c_from_a} of alice's packets (SSRC {hex(SSRC_ALICE)}), wanted >= 100")
        self._rtp_from_only("alice", ra, SBC_ACC, errs)
        self._rtp_from_only("carol", rc, SBC_CORE, errs)
        if SSRC_BOB not in ra["ssrcs"]:
            errs.append(f"alice never heard bob ({hex(SSRC_BOB)}) before the transfer")
        for who, r, bye_t in (("bob (call 1)", rb1, bye1_t), ("bob (call 2)", rb2, bye2_t)):
            if r.get("last_rx_time") and bye_t and r["last_rx_time"] > bye_t + 0.2:
                errs.append(f"{who} still received RTP {r['last_rx_time'] - bye_t:.2f} s after the appliance's BYE")
        gap_a = media_gap(ra, SSRC_BOB, SSRC_CAROL_ATT)
        gap_c = media_gap(rc, SSRC_BOB_CALL2, SSRC_ALICE)
        self._progress("alice: " + describe_gap(gap_a, "bob", "carol"))
        self._progress("carol (gap at carol, not alice): " + describe_gap(gap_c, "bob", "alice").replace("at alice", "at carol"))
        with open(os.path.join(tdir, "gap.json"), "w") as f:
            json.dump({"alice": gap_a, "carol": gap_c}, f)
        lo, hi = GAP_BOUNDS_MS
        for who, g in (("alice", gap_a), ("carol", gap_c)):
            if g is not None and not lo < g["gap_ms"] < hi:
                errs.append(f"media gap at {who} {g['gap_ms']:.0f} ms outside ({lo:.0f}, {hi:.0f}) ms")

        self._check_attended_cdrs(cdr_before, errs)
        if errs:
            self._fail("; ".join(errs))

    # ---- replaces_for_a_dialog_elsewhere -----------------------------------------------------------
    def test_replaces_for_a_dialog_elsewhere(self, tdir):
        """bob REFERs alice with a Replaces naming no dialog of the appliance's: carol's INVITE carries
        it (RFC 5589 7.1); she holds no such dialog (481), is called again without it and answers."""
        before = self._transfer_stats()
        st = self.stats()
        passed0 = self.stat(st, "transfers.replaces_passed_on")
        refused0 = self.stat(st, "transfers.replaces_passed_refused")
        problems, excerpts = self._run_blind_transfer(
            tdir, carol_scenario="uas_replaces_unknown.xml",
            refer_to=f"sip:carol@198.51.100.1?Replaces={ELSEWHERE_REPLACES}")
        errs = []
        self._check_transferor_told(tdir, errs)
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)
        ctrace = read_trace(os.path.join(tdir, "carol.msg"))
        invs = [m for m in ctrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        self._progress("carol's INVITEs: " + "; ".join(f"CSeq {_h(m, 'CSeq')!r} Replaces {_h(m, 'Replaces')!r}"
                                                       for m in invs))
        if len(invs) != 2:
            errs.append(f"carol got {len(invs)} INVITE(s), wanted 2 (with the Replaces, then without)")
        else:
            first, second = invs
            if _h(first, "Replaces") != ELSEWHERE_DIALOG:
                errs.append(f"carol's first INVITE has Replaces {_h(first, 'Replaces')!r}, wanted {ELSEWHERE_DIALOG!r}")
            if _h(first, "Require"):
                errs.append(f"carol's first INVITE requires {_h(first, 'Require')!r}: a UA without Replaces would refuse it")
            if _h(second, "Replaces") is not None:
                errs.append(f"carol's second INVITE still has Replaces {_h(second, 'Replaces')!r}")
            c1, c2 = (_h(first, "CSeq") or "").split(), (_h(second, "CSeq") or "").split()
            if _h(first, "Call-ID") != _h(second, "Call-ID") or not c1 or not c2 or int(c2[0]) != int(c1[0]) + 1:
                errs.append(f"carol's second INVITE: Call-ID/CSeq {_h(second, 'Call-ID')}/{c2}, wanted the first's "
                            f"Call-ID {_h(first, 'Call-ID')} and CSeq {c1[:1]} + 1")
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        if not any(m["dir"] == "in" and _is_request(m, "INVITE") for m in atrace):
            errs.append("alice got no re-INVITE after the transfer")
        rc = self._report(tdir, "carol")
        from_alice = (rc.get("per_ssrc") or {}).get(str(SSRC_ALICE), {}).get("count", 0)
        self._show_rtp("carol", rc)
        if from_alice < 50:
            errs.append(f"carol received {from_alice} of alice's packets, wanted >= 50")
        after = self._transfer_stats()
        st = self.stats()
        d = {k: after[k] - before[k] for k in after}
        d["replaces_passed_on"] = self.stat(st, "transfers.replaces_passed_on") - passed0
        d["replaces_passed_refused"] = self.stat(st, "transfers.replaces_passed_refused") - refused0
        self._progress(f"transfers stats delta {d}")
        want = {"started": 1, "completed": 1, "failed": 0, "replaces_passed_on": 1, "replaces_passed_refused": 1}
        if any(d[k] != v for k, v in want.items()):
            errs.append(f"transfers stats grew by {d}, wanted {want}")
        if errs:
            self._fail("; ".join(errs))

    # ---- transfer_to_premium_refused ---------------------------------------------------------------
    def test_transfer_to_premium_refused(self, tdir):
        """alice -> bob-trc; bob REFERs her to a premium number: refused before any 202, call goes on."""
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        count = 150
        cdr_before = len(self.cdr_lines())
        before = self._transfer_stats()
        log = self._rt().DAEMON_LOG
        log_at = os.path.getsize(log) if os.path.exists(log) else 0
        bob = self._start_uas(tdir, "bob", BOB, "uas_refer_refused.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=count, refer_user=PREMIUM))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{SBC_ACC}:5060", service="bob-trc",
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=count))
        rc_alice = self.wait_sipp(alice, timeout=12)
        rc_bob = self.wait_sipp(bob, timeout=5 if rc_alice == 0 else 2)
        self._wait_rtpsims(tdir, ("alice", "bob"), timeout=8)
        after = self._transfer_stats()
        errs = []
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        status, notifies, _ = self._refer_outcome(btrace)
        refer_resp = [m["start"] for m in btrace if m["dir"] == "in" and _is_response_to(m, "REFER")]
        self._progress(f"bob's REFER to {PREMIUM}: {refer_resp or 'no answer'}; " + ("; ".join(notifies) or "no NOTIFY"))
        if status not in (403, 603):
            errs.append(f"bob's REFER to {PREMIUM} got {status or 'no final response'}, wanted 403 (or 603)")
        if any(r.startswith("SIP/2.0 202") for r in refer_resp):
            errs.append("the REFER to a premium number was accepted (202) before being refused")
        if notifies:
            errs.append(f"bob got {len(notifies)} NOTIFY after a refused REFER: {notifies}")
        invs_bob = [m for m in btrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        reqs_alice = [m["start"] for m in atrace if m["dir"] == "in" and not m["start"].startswith("SIP/2.0")]
        if len(invs_bob) != 1 or reqs_alice:
            errs.append(f"requests after the refusal: bob got {len(invs_bob)} INVITE(s) (wanted 1), alice got {reqs_alice}")
        d = {k: after[k] - before[k] for k in after}
        self._progress(f"transfers stats delta {d}")
        if d["refused"] != 1:
            errs.append(f"transfers.refused grew by {d['refused']}, wanted 1")
        if d["started"] != 0:
            errs.append(f"transfers.started grew by {d['started']}: a new leg was placed for {PREMIUM}")
        try:
            with open(log, errors="replace") as f:
                f.seek(log_at)
                why = [l.strip() for l in f if PREMIUM in l]
            if why:
                self._progress("daemon log: " + " | ".join(why[-3:]))
        except OSError:
            pass
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)
        ra, rb = self._report(tdir, "alice"), self._report(tdir, "bob")
        for who, r in (("alice", ra), ("bob", rb)):
            self._show_rtp(who, r)
        if rb["received"] != ra["sent"] or ra["received"] != rb["sent"]:
            errs.append(f"RTP after the refused REFER: bob received {rb['received']}/{ra['sent']}, "
                        f"alice received {ra['received']}/{rb['sent']}")
        self._rtp_from_only("alice", ra, SBC_ACC, errs)
        self._rtp_from_only("bob", rb, SBC_CORE, errs)
        new = self._wait_cdrs(cdr_before, 1)
        time.sleep(0.3)  # a second (wrong) record would come at once
        new = self.cdr_lines()[cdr_before:]
        for line in new:
            self._progress(f"cdr: {line}")
        recs = [json.loads(l) for l in new if l.startswith("{")]
        if len(recs) != 1 or recs[0].get("result") != 200 or recs[0].get("hangup") != "caller" \
                or recs[0].get("parent") or recs[0].get("transferred_by"):
            errs.append(f"wanted one CDR, result 200, hangup caller, no transfer fields: {new}")
        if errs:
            self._fail("; ".join(errs))

    # ---- api_transfer ------------------------------------------------------------------------------
    def test_api_transfer(self, tdir):
        """alice -> bob; sipferryctl transfer CALL carol --keep a: carol answers, alice re-INVITEd, bob BYEd."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        cdr_before = len(self.cdr_lines())
        carol = self._start_uas(tdir, "carol", CAROL, "uas_answer.xml",
                                self._rtp_keys(tdir, name="carol", rtp_count=150, rtp_delay=0))
        bob = self._start_uas(tdir, "bob", BOB, "uas_answer_pcma.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=150, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_transferee.xml", remote=f"{SBC_ACC}:5060", service="bob",
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=300))
        # The call's id, from the API (GET /v1/calls), once it is confirmed.
        call = self._confirmed_call(ALICE[1], BOB[1], alice)
        if call is None:
            self._fail("no confirmed call alice -> bob in `sipferryctl calls` within 6 s\n" + self.sipp_excerpt(alice))
        confirmed_t = time.monotonic()
        with open(os.path.join(tdir, "calls.json"), "w") as f:
            json.dump(call, f, indent=1)
        cid = str(call["id"])
        errs = []
        # Without the token the API refuses to touch the call (control/mgmt_api.cc: 401).
        before = self._transfer_stats()
        r = self._ctl(["transfer", cid, "carol", "--keep", "a"])
        self._progress(f"without token: exit {r.returncode}: {(r.stdout + r.stderr).strip()}")
        if r.returncode == 0 or "HTTP 401" not in r.stderr:
            errs.append(f"sipferryctl transfer without the token: exit {r.returncode}, {r.stderr.strip()!r}; wanted HTTP 401")
        if self._transfer_stats()["started"] != before["started"]:
            errs.append("a transfer started although the API request had no token")
        # Let alice and bob talk 1.5 s, then transfer with the token.
        time.sleep(max(0.0, confirmed_t + 1.5 - time.monotonic()))
        t_api = time.time()
        r = self._ctl(["transfer", cid, "carol", "--keep", "a"], token=API_TOKEN)
        self._progress(f"with token: exit {r.returncode}: {(r.stdout + r.stderr).strip()}")
        try:
            ok = r.returncode == 0 and json.loads(r.stdout).get("transfer") == "started"
        except ValueError:
            ok = False
        if not ok:
            errs.append(f"sipferryctl --token ... transfer {cid} carol --keep a: exit {r.returncode}, "
                        f"{(r.stdout + r.stderr).strip()!r}; wanted 202 and transfer started")
        rc_alice = self.wait_sipp(alice, timeout=16)
        rc_bob = self.wait_sipp(bob, timeout=3)
        rc_carol = self.wait_sipp(carol, timeout=5 if rc_alice == 0 else 2)
        self._wait_rtpsims(tdir, ("alice", "bob", "carol"), timeout=8)
        after = self._transfer_stats()
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])
        d = {k: after[k] - before[k] for k in after}
        self._progress(f"transfers stats delta {d}")
        if d["started"] != 1 or d["completed"] != 1:
            errs.append(f"transfers.started +{d['started']} completed +{d['completed']}, wanted +1 each")

        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        ctrace = read_trace(os.path.join(tdir, "carol.msg"))
        bye = self._first(btrace, "in", lambda m: _is_request(m, "BYE"))
        if bye is None:
            errs.append("bob got no BYE after the API transfer")
        else:
            self._progress(f"bob's BYE {bye['time'] - t_api:.3f} s after the API call")
        other = [m["start"] for m in btrace if m["dir"] == "in" and _is_request(m, "NOTIFY")]
        if other:
            errs.append(f"bob got NOTIFYs although he REFERred nothing: {other}")
        c_inv = self._first(ctrace, "in", lambda m: _is_request(m, "INVITE"))
        if c_inv is None:
            errs.append("carol got no INVITE")
        else:
            self._progress(f"carol's INVITE {c_inv['time'] - t_api:.3f} s after the API call: {c_inv['start']!r} "
                           f"Referred-By {_h(c_inv, 'Referred-By')!r}")
        a_200 = self._first(atrace, "in", lambda m: m["start"].startswith("SIP/2.0 200") and _is_response_to(m, "INVITE"))
        a_re = self._first(atrace, "in", lambda m: _is_request(m, "INVITE"))
        c_200 = self._first(ctrace, "out", lambda m: m["start"].startswith("SIP/2.0 200") and _is_response_to(m, "INVITE"))
        if a_re is None:
            errs.append("alice got no re-INVITE after the API transfer")
        elif a_200 is not None and c_200 is not None:
            a, b = sdp_fields(a_200["body"]), sdp_fields(a_re["body"])
            self._progress(f"alice: 200 SDP {a}; re-INVITE SDP {b}")
            if b.get("fmts") != sdp_fields(c_200["body"]).get("fmts"):
                errs.append(f"alice's re-INVITE names {b.get('fmts')!r}, carol answered {sdp_fields(c_200['body']).get('fmts')!r}")
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)

        ra, rb, rc = self._report(tdir, "alice"), self._report(tdir, "bob"), self._report(tdir, "carol")
        for who, r in (("alice", ra), ("bob", rb), ("carol", rc)):
            self._show_rtp(who, r)
        c_from_a = (rc.get("per_ssrc") or {}).get(str(SSRC_ALICE), {}).get("count", 0)
        if c_from_a < 100:
            errs.append(f"carol received {c_from_a} of alice's packets, wanted >= 100")
        self._rtp_from_only("carol", rc, SBC_CORE, errs)
        self._rtp_from_only("alice", ra, SBC_ACC, errs)
        missing = [hex(s) for s in (SSRC_BOB, SSRC_CAROL) if s not in ra["ssrcs"]]
        if missing:
            errs.append(f"alice's RTP lacks SSRC {missing}: wanted bob's then carol's")
        if rb.get("last_rx_time") and bye is not None and rb["last_rx_time"] > bye["time"] + 0.2:
            errs.append(f"bob still received RTP {rb['last_rx_time'] - bye['time']:.2f} s after his BYE")
        gap = media_gap(ra, SSRC_BOB, SSRC_CAROL, new_sender=rc)
        self._progress(describe_gap(gap))
        if gap is not None:
            with open(os.path.join(tdir, "gap.json"), "w") as f:
                json.dump(gap, f)
            lo, hi = GAP_BOUNDS_MS
            if not lo < gap["gap_ms"] < hi:
                errs.append(f"media gap at alice {gap['gap_ms']:.0f} ms outside ({lo:.0f}, {hi:.0f}) ms")

        recs = self._new_cdr_records(cdr_before, 2, errs)
        if len(recs) != 2:
            errs.append(f"{len(recs)} new CDR lines, wanted 2 (alice-bob hangup transfer, alice-carol with parent)")
        else:
            first, second = recs
            if first.get("hangup") != "transfer" or first.get("callee") != f"{BOB[1]}:5060":
                errs.append(f"first CDR hangup {first.get('hangup')!r} callee {first.get('callee')!r}, wanted transfer / bob")
            if not first.get("b_call_id") or second.get("parent") != first.get("b_call_id"):
                errs.append(f"second CDR parent {second.get('parent')!r}, wanted {first.get('b_call_id')!r}")
            if second.get("callee") != f"{CAROL[1]}:5060" or second.get("result") != 200:
                errs.append(f"second CDR callee {second.get('callee')!r} result {second.get('result')!r}, wanted carol / 200")
            if not second.get("transferred_by"):
                errs.append("second CDR has no transferred_by (the call manager)")
            if (second.get("segment") or 0) <= (first.get("segment") or 0):
                errs.append(f"CDR segments {first.get('segment')!r} then {second.get('segment')!r}, wanted increasing")
        if errs:
            self._fail("; ".join(errs))

    def test_transfer_reinvite_491_retried(self, tdir):
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC = self._c("SBC_ACC")

        before = self._sip_stat("own_reinvite_491")  # SipTests (tests/lab/sip_tests.py)
        carol = self._start_uas(tdir, "carol", CAROL, "uas_answer.xml",
                                self._rtp_keys(tdir, name="carol", rtp_count=150, rtp_delay=0))
        bob = self._start_uas(tdir, "bob", BOB, "uas_transferor.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=250, refer_to=BLIND_REFER_TO))
        alice = self.sipp(tdir, "alice", ALICE, "uac_transferee_491.xml", remote=f"{SBC_ACC}:5060",
                          service="bob-trc", keys=self._rtp_keys(tdir, caller="alice", rtp_count=400))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=5)
        rc_carol = self.wait_sipp(carol, timeout=8 if rc_alice == 0 else 3)
        self._wait_rtpsims(tdir, ("alice", "bob", "carol"))
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        reinvites = [m for m in atrace if m["dir"] == "in" and _is_request(m, "INVITE")]
        seqs = []
        for m in reinvites:
            try:
                seqs.append(int((_h(m, "CSeq") or "").split()[0]))
            except (IndexError, ValueError):
                seqs.append(None)
        self._progress(f"re-INVITEs at alice: CSeq {seqs}, at {[round(m['time'], 3) for m in reinvites]}")
        if len(reinvites) < 2 or len(set(seqs)) < 2:
            errs.append(f"alice got {len(set(seqs))} distinct re-INVITEs (CSeq {seqs}), wanted the refused one "
                        f"and its retry")
        else:
            first = [m for m, q in zip(reinvites, seqs) if q == seqs[0]][0]
            retry = [m for m, q in zip(reinvites, seqs) if q != seqs[0]][0]
            wait = retry["time"] - first["time"]
            self._progress(f"retry {wait:.3f} s after the first")
            if seqs[-1] != seqs[0] + 1:
                errs.append(f"the retry's CSeq {seqs[-1]}, wanted {seqs[0] + 1}")
            if not 0 <= wait <= 3.0:
                errs.append(f"the retry came {wait:.3f} s after the first, wanted within the 0-2 s back-off")
            if sdp_fields(retry["body"]) != sdp_fields(first["body"]):
                errs.append("the retry's SDP differs from the first's")
        after = self._sip_stat("own_reinvite_491")
        self._progress(f"sip.own_reinvite_491 {before} -> {after}")
        if after != before + 1:
            errs.append(f"sip.own_reinvite_491 went {before} -> {after}, wanted +1")
        ra = self._report(tdir, "alice")
        if SSRC_CAROL not in ra["ssrcs"]:
            errs.append(f"alice never heard carol (SSRCs {[hex(x) for x in ra['ssrcs']]})")
        if errs:
            self._fail("; ".join(errs))
