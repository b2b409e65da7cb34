#!/usr/bin/env python3
"""sipferry lab: transfer tests (REFER handled on the appliance, transfer modes c and n).

A mixin for the lab runner (tests/lab/run): `class Runner(TransferTests): ...` adds

  blind_transfer            alice calls bob-trc, bob REFERs her to carol: NOTIFYs, BYE to bob,
                            re-INVITE to alice, media alice <-> carol, two linked CDR segments
  transfer_to_busy_target   the same REFER, carol is busy: NOTIFY 486, bob keeps the call
  refer_declined_trn        alice calls bob-trn (mode n): bob's REFER gets 603, the call goes on

The tests only use the runner's helpers (sipp, wait_listening, wait_sipp, wait_pidfile_exit,
sipp_excerpt, cdr_lines, wait_new_cdr) and its module-level TestFailure / progress / constants, which
they look up at run time in the module that defines the runner class (so this file does not import
tests/lab/run, which imports this file).

Standalone, for development (root; waits until no other lab exists, then lab up, the three tests,
lab down, always):

  python3 tests/lab/transfer_tests.py [--keep-logs] [--budget S] [TEST ...]
"""
import datetime
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Fallbacks, identical to tests/lab/run; the runner's own values win when it has them.
_DEFAULTS = {
    "RTPSIM": os.path.join(ROOT, "tools", "rtpsim"),
    "CDR_FILE": "/run/sipferry-lab/cdr.jsonl",
    "ALICE": ("sf-alice", "192.0.2.10"),
    "BOB": ("sf-bob", "198.51.100.20"),
    "CAROL": ("sf-carol", "198.51.100.30"),
    "SBC_ACC": "192.0.2.1",
    "SBC_CORE": "198.51.100.1",
    "SIPP_TIMEOUT": 25,
}

TRANSFER_TESTS = ["blind_transfer", "transfer_to_busy_target", "refer_declined_trn"]

# SSRCs the scenarios send with (rtpsim --ssrc): uas_transferor*.xml / uas_refer_declined.xml use
# 0xB0B0B for bob, uas_answer.xml 0xB0B (carol here), uac_*.xml 0xA11CE (alice).
SSRC_BOB = 0xB0B0B
SSRC_CAROL = 0xB0B
SSRC_ALICE = 0xA11CE

# bob's Refer-To in a plain blind transfer (uas_transferor.xml's refer_to key).
BLIND_REFER_TO = "sip:carol@198.51.100.1"


# Sane bounds for the transferee's media gap (first packet of the new party minus last packet of
# the transferor, at alice). Not a performance target: they only catch a long silence or a long
# double feed. The figure itself is reported (progress line), never asserted tightly.
GAP_BOUNDS_MS = (-500.0, 1000.0)


class _LocalFailure(Exception):
    pass


def media_gap(report, old_ssrc, new_ssrc, interval=0.02, new_sender=None):
    """The media gap the receiver of `report` (an rtpsim report with per_ssrc) saw when the stream
    `old_ssrc` was replaced by `new_ssrc`: a dict with
      gap_ms        first arrival of new_ssrc - last arrival of old_ssrc (negative: overlap)
      silent_slots  packet times (interval) with nothing between the two, max(0, gap/interval - 1)
      overlap       packets of old_ssrc that arrived after the first of new_ssrc: 0 is exact; a
                    positive figure is estimated from the sender's pacing (the report keeps only
                    first/last arrival per SSRC), flagged by overlap_estimated
      old, new      the per_ssrc entries {count, first, last}
      sender_late_ms  (with new_sender, the new party's own rtpsim report) when its first packet
                    left it, after the old party's last arrival: the part of the gap that is the
                    new party's start-up (sipp starts its rtpsim on the ACK), not the appliance's
    or None when either SSRC is missing."""
    per = (report or {}).get("per_ssrc") or {}
    old, new = per.get(str(old_ssrc)), per.get(str(new_ssrc))
    if not old or not new:
        return None
    gap = new["first"] - old["last"]
    if gap >= 0:
        overlap, estimated = 0, False
    else:
        overlap, estimated = min(old["count"], int(-gap / interval) + 1), True
    g = {"gap_ms": round(gap * 1000.0, 1), "silent_slots": max(0, round(gap / interval) - 1),
         "overlap": overlap, "overlap_estimated": estimated, "old": old, "new": new}
    if new_sender and new_sender.get("send_start"):
        g["sender_late_ms"] = round((new_sender["send_start"] - old["last"]) * 1000.0, 1)
    return g


def describe_gap(g, old_name="bob", new_name="carol"):
    if g is None:
        return "no gap figure (an SSRC is missing)"
    ov = f"~{g['overlap']} (estimated from 20 ms pacing)" if g["overlap_estimated"] else str(g["overlap"])
    return (f"media gap at alice: {g['gap_ms']:.1f} ms between {old_name}'s last packet and "
            f"{new_name}'s first (~{g['silent_slots']} silent 20 ms slots); {old_name}'s packets after "
            f"{new_name}'s first: {ov}; {old_name} {g['old']['count']} pkts, {new_name} {g['new']['count']} pkts" +
            (f"; {new_name}'s first packet was sent {g['sender_late_ms']:.1f} ms after {old_name}'s last "
             f"arrived (rtpsim start-up on the ACK)" if "sender_late_ms" in g else ""))


# ---- sipp message traces (-trace_msg) --------------------------------------------------------------
_TRACE_SPLIT = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)\n", re.M)


def read_trace(path):
    """Parses a sipp -trace_msg file into a list of dicts: time (epoch s), dir ('in'|'out'),
    start (first line), headers {lower-case name: [values]}, body."""
    try:
        text = open(path, errors="replace").read().replace("\r", "")
    except OSError:
        return []
    parts = _TRACE_SPLIT.split(text)
    out = []
    for i in range(1, len(parts) - 1, 2):
        stamp, chunk = parts[i], parts[i + 1]
        lines = chunk.split("\n")
        if not lines:
            continue
        direction = "in" if "received" in lines[0] else "out"
        try:
            t = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
        except ValueError:
            t = None
        out.append(dict(parse_sip("\n".join(lines[1:]).lstrip("\n")), time=t, dir=direction))
    return out


def parse_sip(text):
    """A SIP message's text -> {start (first line), headers {lower-case name: [values]}, body}."""
    head, _, body = text.replace("\r", "").partition("\n\n")
    hl = head.split("\n")
    headers = {}
    for h in hl[1:]:
        name, sep, value = h.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return {"start": hl[0].strip(), "headers": headers, "body": body.strip("\n")}


def _h(m, name):
    v = m["headers"].get(name.lower())
    return v[0] if v else None


def _is_request(m, method):
    return m["start"].startswith(method + " ")


def _is_response_to(m, method):
    cseq = _h(m, "CSeq") or ""
    return m["start"].startswith("SIP/2.0 ") and cseq.split()[-1:] == [method]


def describe_notifies(trace):
    """One line per NOTIFY bob received: sipfrag, Subscription-State, Event, Content-Type."""
    rows = []
    for m in trace:
        if m["dir"] == "in" and _is_request(m, "NOTIFY"):
            rows.append(f"NOTIFY sipfrag={m['body'].splitlines()[0] if m['body'] else ''!r} "
                        f"Subscription-State={_h(m, 'Subscription-State')!r} Event={_h(m, 'Event')!r} "
                        f"Content-Type={_h(m, 'Content-Type')!r}")
    return rows


def sdp_fields(body):
    f = {}
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("c=IN IP4 "):
            f.setdefault("c", line[9:].strip())
        elif line.startswith("m=audio "):
            f.setdefault("m", line.split()[1])
            f.setdefault("fmts", " ".join(line.split()[3:]))
        elif line.startswith("o="):
            p = line[2:].split()
            if len(p) >= 3:
                f["o_id"], f["o_ver"] = p[1], p[2]
        elif line in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            f["dir"] = line[2:]
    return f


class TransferTests:
    """Lab tests for transfers; mixed into the runner class of tests/lab/run."""

    # ---- access to the runner's module (TestFailure, progress, constants) -------------------------
    def _rt(self):
        for cls in type(self).__mro__:
            mod = sys.modules.get(cls.__module__)
            if mod is not None and hasattr(mod, "TestFailure") and hasattr(mod, "Runner"):
                return mod
        return None

    def _c(self, name):
        mod = self._rt()
        return getattr(mod, name, _DEFAULTS[name]) if mod is not None else _DEFAULTS[name]

    def _fail(self, msg):
        mod = self._rt()
        exc = getattr(mod, "TestFailure", _LocalFailure) if mod is not None else _LocalFailure
        raise exc(msg)

    def _progress(self, msg):
        mod = self._rt()
        if mod is not None and hasattr(mod, "progress"):
            mod.progress(msg)
        else:
            print(f"  .. {msg}", flush=True)

    # ---- shared pieces ----------------------------------------------------------------------------
    def _alice_and_carol_talk(self, tdir, carol_ssrc, errs, least=100):
        """Checks alice's and carol's RTP reports: each got >= `least` of the other's packets (alice's
        SSRC, `carol_ssrc`), and only from the appliance's address on its own realm."""
        ra, rc = self._report(tdir, "alice"), self._report(tdir, "carol")
        a_from_c = (ra.get("per_ssrc") or {}).get(str(carol_ssrc), {}).get("count", 0)
        c_from_a = (rc.get("per_ssrc") or {}).get(str(SSRC_ALICE), {}).get("count", 0)
        self._progress(f"rtp: alice received {a_from_c} of carol's from {list(ra.get('received_from') or {})}; "
                       f"carol received {c_from_a} of alice's from {list(rc.get('received_from') or {})}")
        if a_from_c < least or c_from_a < least:
            errs.append(f"alice got {a_from_c} of carol's packets and carol {c_from_a} of alice's, "
                        f"wanted >= {least} each")
        for who, rep, addr in (("alice", ra, self._c("SBC_ACC")), ("carol", rc, self._c("SBC_CORE"))):
            frm = list(rep.get("received_from") or {})
            if not frm or any(not k.startswith(addr + ":") for k in frm):
                errs.append(f"{who} got RTP from {frm}, wanted only the appliance {addr}")

    def _rtp_keys(self, tdir, **kw):
        k = {"rtpsim": self._c("RTPSIM"), "reportdir": tdir, "rtp_port": 6000}
        k.update(kw)
        return k

    def _start_uas(self, tdir, tag, side, scenario, keys=None):
        p = self.sipp(tdir, tag, side, scenario, keys=keys)
        if not self.wait_listening(side[0], 5060):
            self.kill_proc(p)
            self._fail(f"{tag} sipp did not start listening\n{self.sipp_excerpt(p)}")
        return p

    def _report(self, tdir, who):
        path = os.path.join(tdir, f"{who}.json")
        try:
            return json.load(open(path))
        except (OSError, ValueError) as e:
            log = os.path.join(tdir, f"{who}.rtpsim.log")
            extra = open(log, errors="replace").read()[-500:] if os.path.exists(log) else ""
            self._fail(f"no RTP report from {who} ({e}){chr(10) + extra if extra else ''}")

    def _wait_rtpsims(self, tdir, names, timeout=15):
        end = time.monotonic() + timeout
        for who in names:
            self.wait_pidfile_exit(os.path.join(tdir, f"{who}.pid"), timeout=max(1.0, end - time.monotonic()))

    def _wait_cdrs(self, before, n, timeout=6.0):
        """Waits (bounded) until n new CDR lines exist; returns the new lines (maybe fewer)."""
        end = time.monotonic() + timeout
        while True:
            lines = self.cdr_lines()
            if len(lines) >= before + n or time.monotonic() >= end:
                return lines[before:]
            time.sleep(0.1)

    def _new_cdr_records(self, before, n, errs):
        """_wait_cdrs, each new line printed and parsed; lines that are not JSON give an error in
        `errs` and no records."""
        new = self._wait_cdrs(before, n)
        for line in new:
            self._progress(f"cdr: {line}")
        try:
            return [json.loads(line) for line in new]
        except ValueError:
            errs.append(f"CDR lines are not JSON: {new}")
            return []

    def _alice_calls_bob(self, tdir, count, bob_scenario="uas_answer.xml", alice_scenario="uac_call.xml",
                         bob_rtp_delay=0.5, service="bob"):
        """alice (alice_scenario) calls user `service` (lab dialplan: bob, bob-alaw...), which
        reaches bob (bob_scenario), `count` RTP packets each way with rtpsim, both sipps and
        rtpsims waited for (bounded); returns (problems, excerpts) as _sipp_problems does."""
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        bob = self._start_uas(tdir, "bob", BOB, bob_scenario,
                              self._rtp_keys(tdir, name="bob", rtp_count=count, rtp_delay=bob_rtp_delay))
        alice = self.sipp(tdir, "alice", ALICE, alice_scenario, remote=f"{self._c('SBC_ACC')}:5060",
                          service=service, keys=self._rtp_keys(tdir, caller="alice", rtp_count=count, rtp_delay=0.5))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice == 0 else 3)
        self._wait_rtpsims(tdir, ("alice", "bob"))
        return self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])

    def _sipp_problems(self, procs_rcs):
        problems, excerpts = [], ""
        for p, rc in procs_rcs:
            if rc != 0:
                problems.append(f"{p.sf_tag} sipp exit {rc}")
                excerpts += self.sipp_excerpt(p)
        return problems, excerpts

    def _refer_outcome(self, trace):
        """(final status of bob's REFER or None, NOTIFY rows, time of the first BYE bob received)."""
        status = None
        for m in trace:
            if m["dir"] == "in" and _is_response_to(m, "REFER"):
                code = int(m["start"].split()[1])
                if code >= 200:
                    status = code
        notifies = describe_notifies(trace)
        bye_t = next((m["time"] for m in trace if m["dir"] == "in" and _is_request(m, "BYE")), None)
        return status, notifies, bye_t

    def _check_notifies(self, trace, final_frag, final_state_prefix, errs):
        """NOTIFY 1 is 100 active, then at most one 18x active, then the final one."""
        notes = [m for m in trace if m["dir"] == "in" and _is_request(m, "NOTIFY")]
        if not notes:
            errs.append("bob got no NOTIFY after the 202 (wanted 100 Trying, then the final sipfrag)")
            return None
        seen = []
        for m in notes:
            frag = m["body"].splitlines()[0].strip() if m["body"] else ""
            state = (_h(m, "Subscription-State") or "").replace(" ", "")
            seen.append((frag, state, m))
            ev = (_h(m, "Event") or "").split(";")[0].strip().lower()
            if ev != "refer":
                errs.append(f"NOTIFY with Event {_h(m, 'Event')!r}, wanted refer")
            if not (_h(m, "Content-Type") or "").lower().startswith("message/sipfrag"):
                errs.append(f"NOTIFY with Content-Type {_h(m, 'Content-Type')!r}, wanted message/sipfrag")
        frag0, state0, _ = seen[0]
        if not frag0.startswith("SIP/2.0 100 ") or not state0.startswith("active"):
            errs.append(f"first NOTIFY: sipfrag {frag0!r} Subscription-State {state0!r}, "
                        f"wanted 'SIP/2.0 100 Trying' and active")
        middle = seen[1:-1]
        for frag, state, _ in middle:
            if not re.match(r"SIP/2\.0 18\d ", frag) or not state.startswith("active"):
                errs.append(f"intermediate NOTIFY: sipfrag {frag!r} Subscription-State {state!r}, wanted 18x, active")
        if len(middle) > 1:
            errs.append(f"{len(middle)} provisional NOTIFYs between the 100 and the final one (at most 1 wanted)")
        fragN, stateN, mN = seen[-1]
        if len(seen) < 2:
            errs.append(f"only one NOTIFY ({frag0!r}); the final one ({final_frag!r}) never came")
            return None
        if fragN != final_frag or not stateN.startswith(final_state_prefix):
            errs.append(f"final NOTIFY: sipfrag {fragN!r} Subscription-State {stateN!r}, wanted "
                        f"{final_frag!r} and {final_state_prefix}")
        return mN["time"]

    def _run_blind_transfer(self, tdir, service="bob-trc", carol_rtpsim=None, rtpsim=None, during=None,
                            carol_scenario="uas_answer.xml", refer_to=BLIND_REFER_TO):
        """The blind transfer's call flow: carol answers (uas_answer.xml), bob answers alice's call to
        `service` (uas_transferor.xml) and after 2.5 s REFERs her to carol, alice (uac_transferee.xml)
        takes the re-INVITE; every sipp and rtpsim waited for (bounded). `carol_rtpsim`: the rtpsim
        command carol's scenario runs, options included (default the runner's RTPSIM); `rtpsim`: the
        same for alice's and bob's (default the runner's RTPSIM); `during`: called with the three sipps
        (alice, bob, carol) once alice's has started, before they are waited for (it must not raise).
        `carol_scenario` and `refer_to` (bob's Refer-To) vary the flow.
        Returns (problems, excerpts) as _sipp_problems does."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        # carol sends from the moment she answers (rtp_delay 0) and bob is still sending when the
        # appliance BYEs him (250 packets, 5 s, REFER after 2.5 s): alice's report then shows the
        # media gap of the switch itself.
        carol_keys = self._rtp_keys(tdir, name="carol", rtp_count=150, rtp_delay=0)
        if carol_rtpsim:
            carol_keys["rtpsim"] = carol_rtpsim
        carol = self._start_uas(tdir, "carol", CAROL, carol_scenario, carol_keys)
        own = {"rtpsim": rtpsim} if rtpsim else {}
        bob = self._start_uas(tdir, "bob", BOB, "uas_transferor.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=250, refer_to=refer_to, **own))
        alice = self.sipp(tdir, "alice", ALICE, "uac_transferee.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service=service, keys=self._rtp_keys(tdir, caller="alice", rtp_count=400, **own))
        if during is not None:
            during((alice, bob, carol))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=5)
        rc_carol = self.wait_sipp(carol, timeout=8 if rc_alice == 0 else 3)
        self._wait_rtpsims(tdir, ("alice", "bob", "carol"))
        return self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])

    def _check_transferor_told(self, tdir, errs):
        """bob's side of a blind transfer that worked (bob.msg): 202 for his REFER, NOTIFY 100, at
        most one 18x, NOTIFY 200 OK (terminated), then the appliance's BYE."""
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        status, notifies, bye_t = self._refer_outcome(btrace)
        self._progress(f"bob's REFER: {status}; " + ("; ".join(notifies) or "no NOTIFY") +
                       f"; BYE to bob: {'yes' if bye_t else 'no'}")
        if status != 202:
            errs.append(f"bob's REFER got {status or 'no final response'}, wanted 202 Accepted")
        else:
            self._check_notifies(btrace, "SIP/2.0 200 OK", "terminated;reason=noresource", errs)
            if bye_t is None:
                errs.append("the appliance did not BYE bob (the transferor) after the final NOTIFY")

    def _check_bob_stopped(self, rb, rc, errs):
        """bob (his rtpsim report rb) stops getting alice's RTP at the switch, well before his rtpsim
        stops listening, and not after it started reaching carol (rc); only from the appliance."""
        SBC_CORE = self._c("SBC_CORE")
        bob_end = rb["run_start"] + rb["run_seconds"]
        if rb["last_rx_time"] is None:
            errs.append("bob received no RTP at all before the transfer")
        else:
            if rb["last_rx_time"] > bob_end - 1.0:
                errs.append(f"bob still received RTP {bob_end - rb['last_rx_time']:.2f} s before his rtpsim "
                            f"ended ({rb['received']} packets): the appliance did not stop relaying to him")
            if rc["first_rx_time"] is not None and rb["last_rx_time"] > rc["first_rx_time"] + 0.1:
                errs.append(f"alice's RTP reached bob {rb['last_rx_time'] - rc['first_rx_time']:.2f} s after it "
                            f"started reaching carol (one switch, no fork, wanted)")
        if rb["received_from"] and any(not k.startswith(SBC_CORE + ":") for k in rb["received_from"]):
            errs.append(f"bob got RTP from {list(rb['received_from'])}, wanted only the appliance {SBC_CORE}")

    def _check_transferred_sources(self, ra, rc, errs):
        """After a transfer to carol (rtpsim reports of alice, ra, and carol, rc): carol received > 100
        packets, each side only from one port of the appliance's address on its realm (alice's relay
        port does not change with the transfer)."""
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        if rc["received"] <= 100:
            errs.append(f"carol received {rc['received']} RTP packets from alice, wanted > 100")
        if not rc["received_from"] or any(not k.startswith(SBC_CORE + ":") for k in rc["received_from"]):
            errs.append(f"carol got RTP from {list(rc['received_from'])}, wanted only the appliance {SBC_CORE}")
        elif len(rc["received_from"]) > 1:
            errs.append(f"carol got RTP from several appliance ports {list(rc['received_from'])}")
        if not ra["received_from"] or any(not k.startswith(SBC_ACC + ":") for k in ra["received_from"]):
            errs.append(f"alice got RTP from {list(ra['received_from'])}, wanted only the appliance {SBC_ACC}")
        elif len(ra["received_from"]) > 1:
            errs.append(f"alice got RTP from several appliance ports {list(ra['received_from'])}: "
                        f"her relay port should not change with the transfer")

    # ---- tests ------------------------------------------------------------------------------------
    def test_blind_transfer(self, tdir):
        """alice -> bob-trc; bob REFERs alice to carol; the appliance (mode c) does the rest."""
        BOB, CAROL, SBC_ACC = self._c("BOB"), self._c("CAROL"), self._c("SBC_ACC")
        cdr_before = len(self.cdr_lines())
        problems, excerpts = self._run_blind_transfer(tdir)
        errs = []

        # What the appliance told bob, and what it sent alice (from the sipp traces).
        self._check_transferor_told(tdir, errs)
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        ok200 = next((m for m in atrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")
                      and _is_response_to(m, "INVITE")), None)
        reinv = next((m for m in atrace if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        if reinv is None:
            errs.append("alice got no re-INVITE from the appliance after the transfer")
        elif ok200 is not None:
            a, b = sdp_fields(ok200["body"]), sdp_fields(reinv["body"])
            self._progress(f"alice: 200 SDP {a}; re-INVITE SDP {b}")
            want = []
            if b.get("c") != SBC_ACC or b.get("c") != a.get("c"):
                want.append(f"c= {b.get('c')} (200 had {a.get('c')}, wanted {SBC_ACC})")
            if b.get("m") != a.get("m"):
                want.append(f"m=audio {b.get('m')} (200 had {a.get('m')}: the relay port must stay)")
            if b.get("o_id") != a.get("o_id"):
                want.append(f"o= session id {b.get('o_id')} (200 had {a.get('o_id')})")
            try:
                if int(b.get("o_ver", "x")) != int(a.get("o_ver", "x")) + 1:
                    want.append(f"o= version {b.get('o_ver')} (200 had {a.get('o_ver')}, wanted +1)")
            except ValueError:
                want.append(f"o= version unreadable ({a.get('o_ver')!r} / {b.get('o_ver')!r})")
            # bob answered PCMA (8 101), carol PCMU (0 101): alice must now be told carol's codecs.
            ctrace = read_trace(os.path.join(tdir, "carol.msg"))
            c200 = next((m for m in ctrace if m["dir"] == "out" and m["start"].startswith("SIP/2.0 200")
                         and _is_response_to(m, "INVITE")), None)
            if c200 is not None and b.get("fmts") != sdp_fields(c200["body"]).get("fmts"):
                want.append(f"m= formats {b.get('fmts')!r} (carol answered {sdp_fields(c200['body']).get('fmts')!r}, "
                            f"the 200 to alice had {a.get('fmts')!r})")
            if b.get("dir", "sendrecv") != "sendrecv":
                want.append(f"a={b.get('dir')} (wanted sendrecv)")
            if want:
                errs.append("alice's re-INVITE SDP: " + ", ".join(want))
            # Connected identity ([transfer] connected_identity = dialled): alice is told carol.
            pai = _h(reinv, "P-Asserted-Identity")
            if pai != f"<sip:carol@{SBC_ACC}>":
                errs.append(f"alice's re-INVITE P-Asserted-Identity {pai!r}, wanted '<sip:carol@{SBC_ACC}>' "
                            f"(the user the transfer dialled)")
        if problems:
            raise_msg = ", ".join(problems) + ("; " + "; ".join(errs) if errs else "")
            self._fail(raise_msg + "\n" + excerpts)

        # RTP.
        ra, rb, rc = self._report(tdir, "alice"), self._report(tdir, "bob"), self._report(tdir, "carol")
        for who, r in (("alice", ra), ("bob", rb), ("carol", rc)):
            self._progress(f"rtp {who}: sent {r['sent']} received {r['received']} from {r['received_from']} "
                           f"ssrcs {[hex(s) for s in r['ssrcs']]} first/last rx {r['first_rx_time']}/{r['last_rx_time']}")
        self._check_transferred_sources(ra, rc, errs)
        missing = [hex(s) for s in (SSRC_BOB, SSRC_CAROL) if s not in ra["ssrcs"]]
        if missing:
            errs.append(f"alice's RTP lacks SSRC {missing} (has {[hex(s) for s in ra['ssrcs']]}): "
                        f"wanted bob's {hex(SSRC_BOB)} then carol's {hex(SSRC_CAROL)}")
        # The media gap seen by the transferee: reported; only a sane bound is checked.
        gap = media_gap(ra, SSRC_BOB, SSRC_CAROL, new_sender=rc)
        self._progress(describe_gap(gap))
        if gap is not None:
            with open(os.path.join(tdir, "gap.json"), "w") as f:
                json.dump(gap, f)
            lo, hi = GAP_BOUNDS_MS
            if not lo < gap["gap_ms"] < hi:
                errs.append(f"media gap at alice {gap['gap_ms']:.0f} ms, outside the sane bounds "
                            f"({lo:.0f}, {hi:.0f}) ms: a long silence or a long double feed at the switch")
        # bob stops getting alice's RTP at the switch, well before his rtpsim stops listening.
        self._check_bob_stopped(rb, rc, errs)

        # CDRs: two segments.
        new = self._wait_cdrs(cdr_before, 2)
        for line in new:
            self._progress(f"cdr: {line}")
        if len(new) < 2:
            errs.append(f"{len(new)} new CDR line(s), wanted 2 (alice-bob with hangup transfer, alice-carol)")
        else:
            try:
                first, second = json.loads(new[0]), json.loads(new[1])
                if first.get("hangup") != "transfer":
                    errs.append(f"first CDR hangup {first.get('hangup')!r}, wanted 'transfer'")
                if first.get("callee") != f"{BOB[1]}:5060":
                    errs.append(f"first CDR callee {first.get('callee')!r}, wanted {BOB[1]}:5060")
                if not first.get("b_call_id") or second.get("parent") != first.get("b_call_id"):
                    errs.append(f"second CDR parent {second.get('parent')!r}, wanted the first's b_call_id "
                                f"{first.get('b_call_id')!r}")
                if "bob" not in str(second.get("transferred_by") or ""):
                    errs.append(f"second CDR transferred_by {second.get('transferred_by')!r}, wanted bob's URI")
                if second.get("callee") != f"{CAROL[1]}:5060":
                    errs.append(f"second CDR callee {second.get('callee')!r}, wanted {CAROL[1]}:5060")
                if second.get("result") != 200:
                    errs.append(f"second CDR result {second.get('result')!r}, wanted 200")
                # RTP accounting across the two segments (a packet or two may be in flight at the switch).
                s1, s2 = first["rtp"], second["rtp"]
                if abs(s1["caller_to_callee"]["packets"] - rb["received"]) > 2:
                    errs.append(f"first CDR rtp.caller_to_callee.packets={s1['caller_to_callee']['packets']}, "
                                f"bob received {rb['received']}")
                counted = s1["caller_to_callee"]["packets"] + s2["caller_to_callee"]["packets"]
                if not ra["sent"] - 3 <= counted <= ra["sent"]:
                    errs.append(f"CDR caller_to_callee packets {s1['caller_to_callee']['packets']} + "
                                f"{s2['caller_to_callee']['packets']} = {counted}, alice sent {ra['sent']}")
                heard = s1["callee_to_caller"]["packets"] + s2["callee_to_caller"]["packets"]
                if abs(heard - ra["received"]) > 2:
                    errs.append(f"CDR callee_to_caller packets {s1['callee_to_caller']['packets']} + "
                                f"{s2['callee_to_caller']['packets']} = {heard}, alice received {ra['received']}")
                # Loss per segment: nothing is dropped on the lab's veths, so every segment says 0
                # (rtp_loss_recorded checks a lossy path); the key must be there in each.
                for n, seg in (("first", s1), ("second", s2)):
                    for d in ("caller_to_callee", "callee_to_caller"):
                        if seg[d].get("lost") != 0:
                            errs.append(f"{n} CDR rtp.{d}.lost={seg[d].get('lost')!r}, wanted 0")
                if second.get("call_id") != first.get("call_id"):
                    errs.append(f"second CDR call_id {second.get('call_id')!r} differs from the first's "
                                f"{first.get('call_id')!r} (alice's dialog did not change)")
            except (ValueError, AttributeError, KeyError, TypeError) as e:
                errs.append(f"CDR lines unusable ({e!r}): {new[:2]}")
        if errs:
            self._fail("; ".join(errs))

    def test_transfer_to_busy_target(self, tdir):
        """bob REFERs alice to carol, who is busy: NOTIFY 486, no BYE to bob, no re-INVITE to alice."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        cdr_before = len(self.cdr_lines())
        carol = self._start_uas(tdir, "carol", CAROL, "uas_busy.xml")
        bob = self._start_uas(tdir, "bob", BOB, "uas_transferor_fail.xml", self._rtp_keys(tdir, name="bob", rtp_count=100))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{SBC_ACC}:5060", service="bob-trc",
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=150))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice == 0 else 3)
        rc_carol = self.wait_sipp(carol, timeout=3)
        self._wait_rtpsims(tdir, ("alice", "bob"))
        errs = []
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        status, notifies, bye_t = self._refer_outcome(btrace)
        self._progress(f"bob's REFER: {status}; " + ("; ".join(notifies) or "no NOTIFY") +
                       f"; BYE to bob (alice's, relayed, expected): {'yes' if bye_t else 'no'}")
        if status != 202:
            errs.append(f"bob's REFER got {status or 'no final response'}, wanted 202 Accepted")
        else:
            final_t = self._check_notifies(btrace, "SIP/2.0 486 Busy Here", "terminated", errs)
            # The only BYE bob may get is alice's, relayed when uac_call.xml hangs up (4.5 s after
            # its ACK, ~2 s after the final NOTIFY); one right after the NOTIFY is the appliance's own.
            if final_t is not None and bye_t is not None and bye_t - final_t < 1.0:
                errs.append(f"bob got a BYE {bye_t - final_t:.2f} s after the final NOTIFY: the appliance "
                            f"hung up on the transferor although the transfer failed")
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        if any(m["dir"] == "in" and _is_request(m, "INVITE") for m in atrace):
            errs.append("alice got a re-INVITE although the transfer failed")
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)
        ra, rb = self._report(tdir, "alice"), self._report(tdir, "bob")
        for who, r in (("alice", ra), ("bob", rb)):
            self._progress(f"rtp {who}: sent {r['sent']} received {r['received']} from {r['received_from']} "
                           f"ssrcs {[hex(s) for s in r['ssrcs']]}")
        if rb["received"] != ra["sent"]:
            errs.append(f"bob received {rb['received']}/{ra['sent']} of alice's RTP packets (her media must stay with him)")
        if ra["received"] != rb["sent"]:
            errs.append(f"alice received {ra['received']}/{rb['sent']} of bob's RTP packets")
        if any(s != SSRC_BOB for s in ra["ssrcs"]):
            errs.append(f"alice heard SSRCs {[hex(s) for s in ra['ssrcs']]}, wanted only bob's {hex(SSRC_BOB)}")
        if any(not k.startswith(SBC_ACC + ":") for k in ra["received_from"]):
            errs.append(f"alice got RTP from {list(ra['received_from'])}, wanted only {SBC_ACC}")
        if any(not k.startswith(SBC_CORE + ":") for k in rb["received_from"]):
            errs.append(f"bob got RTP from {list(rb['received_from'])}, wanted only {SBC_CORE}")
        self._wait_cdrs(cdr_before, 1)
        time.sleep(0.3)  # a second (wrong) record would come at once
        new = self.cdr_lines()[cdr_before:]
        for line in new:
            self._progress(f"cdr: {line}")
        answered = []
        for line in new:
            try:
                answered.append(json.loads(line))
            except ValueError:
                errs.append(f"CDR line is not JSON: {line[:200]}")
        main_rec = [r for r in answered if r.get("callee") == f"{BOB[1]}:5060"]
        if not main_rec:
            errs.append(f"no CDR for alice -> bob among {len(new)} new line(s)")
        else:
            r = main_rec[-1]
            if r.get("result") != 200 or r.get("hangup") != "caller":
                errs.append(f"alice-bob CDR result {r.get('result')!r} hangup {r.get('hangup')!r}, wanted 200 / caller")
            if r.get("parent") or r.get("transferred_by"):
                errs.append(f"alice-bob CDR has parent {r.get('parent')!r} transferred_by "
                            f"{r.get('transferred_by')!r}: no transfer happened")
        if any(r.get("hangup") == "transfer" for r in answered):
            errs.append("a CDR says hangup 'transfer' although the transfer failed")
        if errs:
            self._fail("; ".join(errs))

    def test_refer_declined_trn(self, tdir):
        """alice -> bob-trn (transfer mode n): bob's REFER gets 603, no NOTIFY, the call goes on."""
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        SBC_ACC = self._c("SBC_ACC")
        cdr_before = len(self.cdr_lines())
        bob = self._start_uas(tdir, "bob", BOB, "uas_refer_declined.xml", self._rtp_keys(tdir, name="bob", rtp_count=150))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{SBC_ACC}:5060", service="bob-trn",
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=150))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice == 0 else 3)
        self._wait_rtpsims(tdir, ("alice", "bob"))
        errs = []
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        status, notifies, _ = self._refer_outcome(btrace)
        self._progress(f"bob's REFER: {status}; " + ("; ".join(notifies) or "no NOTIFY"))
        if status != 603:
            errs.append(f"bob's REFER got {status or 'no final response'}, wanted 603 Decline (transfer mode n)")
        if notifies:
            errs.append(f"bob got {len(notifies)} NOTIFY after a declined REFER: {notifies}")
        if problems:
            self._fail(", ".join(problems) + ("; " + "; ".join(errs) if errs else "") + "\n" + excerpts)
        ra, rb = self._report(tdir, "alice"), self._report(tdir, "bob")
        for who, r in (("alice", ra), ("bob", rb)):
            self._progress(f"rtp {who}: sent {r['sent']} received {r['received']} from {r['received_from']}")
        if rb["received"] != ra["sent"] or ra["received"] != rb["sent"]:
            errs.append(f"RTP after the declined REFER: bob received {rb['received']}/{ra['sent']}, "
                        f"alice received {ra['received']}/{rb['sent']}")
        line = self.wait_new_cdr(cdr_before)
        if line is None:
            errs.append("no new CDR line")
        else:
            self._progress(f"cdr: {line}")
            try:
                r = json.loads(line)
                if r.get("result") != 200 or r.get("hangup") != "caller":
                    errs.append(f"CDR result {r.get('result')!r} hangup {r.get('hangup')!r}, wanted 200 / caller")
            except ValueError:
                errs.append(f"CDR line is not JSON: {line[:200]}")
        if errs:
            self._fail("; ".join(errs))


# ---- standalone ------------------------------------------------------------------------------------
def _other_lab_present():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return [l.split()[0] for l in r.stdout.splitlines() if l.startswith("sf-")]


_LAB_GUARD = """#!/bin/sh
# tools/lab wrapper of transfer_tests.py (standalone): 'down' only for the lab our 'up' started.
PIDFILE=/run/sipferry-lab/sipferry.pid
case "$1" in
  up)
    "{real}" "$@"; rc=$?
    [ "$rc" = 0 ] && cat "$PIDFILE" > "{state}" 2>/dev/null
    exit $rc ;;
  down)
    if [ -s "{state}" ] && [ "$(cat "$PIDFILE" 2>/dev/null)" = "$(cat "{state}")" ]; then
      exec "{real}" down
    fi
    if ip netns list | grep -q '^sf-'; then
      echo "lab: NOT tearing down: the lab that is up now is not the one this run brought up" >&2
    fi
    exit 0 ;;
  *) exec "{real}" "$@" ;;
esac
"""


def _standalone():
    from importlib.machinery import SourceFileLoader
    import importlib.util

    wait_s = float(os.environ.get("SIPFERRY_LAB_WAIT", "600"))
    end = time.monotonic() + wait_s
    while True:
        ns = _other_lab_present()
        if not ns:
            break
        if time.monotonic() >= end:
            print(f"transfer_tests: another lab is up ({' '.join(ns)}) after {wait_s:.0f} s; not touching it", flush=True)
            return 1
        print(f"transfer_tests: another lab is up ({' '.join(ns)}); waiting", flush=True)
        time.sleep(20)

    path = os.path.join(HERE, "run")
    loader = SourceFileLoader("sipferry_lab_run", path)
    spec = importlib.util.spec_from_loader("sipferry_lab_run", loader)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sipferry_lab_run"] = mod
    loader.exec_module(mod)

    # The lab has fixed names and other people run it too: tear down only the lab this run brought
    # up (the daemon PID that our "up" started is still the lab's daemon), never someone else's.
    import tempfile
    guard_dir = tempfile.mkdtemp(prefix="sf-transfer-guard-")
    guard = os.path.join(guard_dir, "lab")
    with open(guard, "w") as f:
        f.write(_LAB_GUARD.format(real=mod.LAB, state=os.path.join(guard_dir, "owned.pid")))
    os.chmod(guard, 0o755)
    mod.LAB = guard

    base = mod.Runner
    if not issubclass(base, TransferTests):
        # Defined in the runner's module so that TransferTests._rt() finds TestFailure there.
        mod.Runner = type("Runner", (TransferTests, base), {"__module__": mod.__name__})
    for t in TRANSFER_TESTS:
        if t not in mod.ALL_TESTS:
            mod.ALL_TESTS.append(t)
    args = sys.argv[1:]
    if not [a for a in args if not a.startswith("-") and not a.replace(".", "").isdigit()]:
        args += TRANSFER_TESTS
    sys.argv = [path] + args
    return mod.main()  # lab up, the tests, lab down in its finally (also on failure and signals)


if __name__ == "__main__":
    sys.exit(_standalone())
