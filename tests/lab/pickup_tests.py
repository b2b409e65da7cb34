#!/usr/bin/env python3
"""sipferry lab: call pickup (an INVITE with Replaces naming a ringing destination, RFC 3891 7.1).

A mixin for the lab runner (tests/lab/run), next to TransferTests, whose helpers it uses
(_c, _start_uas, _rtp_keys, _report, _wait_rtpsims, _wait_cdrs, _sipp_problems, _fail, _progress):

  call_pickup  alice calls bob-trc; bob's phone rings (uas_ring_dialog.xml) and writes its early
               dialog; carol's phone sends an INVITE with Replaces naming it (uac_pickup.xml): carol
               gets 200 with the appliance's core address, alice gets 200 with its access address,
               bob gets a CANCEL (and no BYE); alice <-> carol RTP relayed both ways; alice's BYE
               reaches carol; transfers.pickups + 1; one CDR: callee carol, picked_up bob, result 200
  confirmed_leg_replaced
               the same INVITE with Replaces once bob has answered (uas_answer_dialog.xml writes
               his confirmed dialog): carol takes his place (RFC 3891), bob gets a BYE (no CANCEL),
               alice a re-INVITE with carol's media on her own relay port (uac_transferee.xml
               checks it); alice <-> carol RTP; transfers.replaces_accepted + 1; two CDR lines:
               alice-bob with hangup replaced, then alice-carol with the first as parent
"""
import json
import os
import time

from transfer_tests import read_trace, sdp_fields, _is_request

PICKUP_TESTS = ["call_pickup", "confirmed_leg_replaced"]
SSRC_CAROL_PICKUP = 0xCA201  # uac_pickup.xml's rtpsim


class PickupTests:
    """Lab tests for call pickup; mixed into the runner class of tests/lab/run."""

    def _bobs_dialog(self, tdir, alice, bob, what):
        """The Replaces value naming the dialog bob's scenario wrote to bob.dialog (waited for, 6 s
        at most; `what` says what failed when it never comes, and the test fails)."""
        dialog_file = os.path.join(tdir, "bob.dialog")
        end = time.monotonic() + 6.0
        while not os.path.exists(dialog_file) and time.monotonic() < end and bob.poll() is None:
            time.sleep(0.05)
        try:
            call_id, bob_tag, sbc_tag = open(dialog_file).read().split()
        except (OSError, ValueError):
            rc_alice = self.wait_sipp(alice, timeout=1)
            rc_bob = self.wait_sipp(bob, timeout=1)
            self._fail(f"{what} within 6 s (alice sipp {rc_alice}, bob sipp {rc_bob})\n"
                       + self.sipp_excerpt(alice) + self.sipp_excerpt(bob))
        # RFC 3891: to-tag is the tag of whoever gets the Replaces (the appliance's in bob's dialog).
        return f"{call_id};to-tag={sbc_tag};from-tag={bob_tag}"

    def test_confirmed_leg_replaced(self, tdir):
        """alice talks to bob; carol's INVITE with Replaces naming bob's dialog takes his place."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        cdr_before = len(self.cdr_lines())
        accepted_before = self.stat(self.stats(), "transfers.replaces_accepted")
        bob = self._start_uas(tdir, "bob", BOB, "uas_answer_dialog.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=100, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_transferee.xml", remote=f"{SBC_ACC}:5060", service="bob-trc",
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=400))
        replaces = self._bobs_dialog(tdir, alice, bob, "bob did not answer")
        self._progress(f"bob answered: Replaces: {replaces}")
        time.sleep(1.0)  # alice and bob talk a while
        carol = self.sipp(tdir, "carol", CAROL, "uac_pickup.xml", remote=f"{SBC_CORE}:5060", service="bob",
                          keys=self._rtp_keys(tdir, name="carol", rtp_count=200, replaces=replaces))
        rc_alice = self.wait_sipp(alice, timeout=20)
        rc_carol = self.wait_sipp(carol, timeout=5 if rc_alice == 0 else 2)
        rc_bob = self.wait_sipp(bob, timeout=3)
        self._wait_rtpsims(tdir, ("alice", "bob", "carol"), timeout=6)
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])
        if problems:
            self._fail(", ".join(problems) + "\n" + excerpts)

        errs = []
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        ctrace = read_trace(os.path.join(tdir, "carol.msg"))
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        if not any(m["dir"] == "in" and _is_request(m, "BYE") for m in btrace):
            errs.append("bob got no BYE: the replaced party is hung up on (RFC 3891)")
        if any(m["dir"] == "in" and _is_request(m, "CANCEL") for m in btrace):
            errs.append("bob got a CANCEL: his dialog was confirmed")
        c_200 = next((m for m in ctrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")), None)
        if c_200 is None or sdp_fields(c_200["body"]).get("c") != SBC_CORE:
            errs.append(f"carol's 200 SDP c={sdp_fields(c_200['body']).get('c') if c_200 else None}, "
                        f"wanted the appliance's {SBC_CORE}")
        reinv = next((m for m in atrace if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        if reinv is None or CAROL[1] in reinv["body"]:
            errs.append("alice got no re-INVITE, or one naming carol's own address")
        self._alice_and_carol_talk(tdir, SSRC_CAROL_PICKUP, errs)

        accepted = self.stat(self.stats(), "transfers.replaces_accepted") - accepted_before
        if accepted != 1:
            errs.append(f"transfers.replaces_accepted grew by {accepted}, wanted 1")
        recs = self._new_cdr_records(cdr_before, 2, errs)
        if len(recs) != 2:
            errs.append(f"{len(recs)} new CDR lines, wanted 2")
        else:
            first, second = recs
            want = [{"hangup": "replaced", "callee": f"{BOB[1]}:5060"},
                    {"hangup": "caller", "callee": f"{CAROL[1]}:5060", "parent": first.get("b_call_id")}]
            got = [{k: r.get(k) for k in w} for r, w in zip(recs, want)]
            if got != want or not first.get("b_call_id"):
                errs.append(f"CDRs {got}, wanted {want}")
        if errs:
            self._fail("; ".join(errs))

    def test_call_pickup(self, tdir):
        """bob rings for alice; carol picks the call up with Replaces; alice talks to carol."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        cdr_before = len(self.cdr_lines())
        pickups_before = self.stat(self.stats(), "transfers.pickups")
        count = 150
        bob = self._start_uas(tdir, "bob", BOB, "uas_ring_dialog.xml", {"reportdir": tdir, "name": "bob"})
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{SBC_ACC}:5060", service="bob-trc",
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=count))
        replaces = self._bobs_dialog(tdir, alice, bob, "bob's phone did not ring")
        self._progress(f"bob rings: Replaces: {replaces}")
        carol = self.sipp(tdir, "carol", CAROL, "uac_pickup.xml", remote=f"{SBC_CORE}:5060", service="bob",
                          keys=self._rtp_keys(tdir, name="carol", rtp_count=200, replaces=replaces))
        rc_alice = self.wait_sipp(alice, timeout=16)
        rc_carol = self.wait_sipp(carol, timeout=5 if rc_alice == 0 else 2)
        rc_bob = self.wait_sipp(bob, timeout=3)
        self._wait_rtpsims(tdir, ("alice", "carol"), timeout=6)
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol)])
        if problems:
            self._fail(", ".join(problems) + "\n" + excerpts)

        errs = []
        atrace = read_trace(os.path.join(tdir, "alice.msg"))
        btrace = read_trace(os.path.join(tdir, "bob.msg"))
        ctrace = read_trace(os.path.join(tdir, "carol.msg"))
        a_200 = next((m for m in atrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")), None)
        c_200 = next((m for m in ctrace if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200")), None)
        for who, msg, addr in (("alice", a_200, SBC_ACC), ("carol", c_200, SBC_CORE)):
            if msg is None:
                errs.append(f"{who} got no 200")
                continue
            f = sdp_fields(msg["body"])
            self._progress(f"{who}'s 200: SDP {f}")
            if f.get("c") != addr:
                errs.append(f"{who}'s 200 SDP c={f.get('c')}, wanted the appliance's {addr}")
        if a_200 is not None and CAROL[1] in a_200["body"] + json.dumps(a_200["headers"]):
            errs.append("alice's 200 names carol's address: topology leaked")
        bcancel = next((m for m in btrace if m["dir"] == "in" and _is_request(m, "CANCEL")), None)
        if bcancel is None:
            errs.append("bob got no CANCEL")
        elif "cause=200" not in (bcancel["headers"].get("reason") or [""])[0]:
            errs.append(f"bob's CANCEL has Reason {bcancel['headers'].get('reason')}, wanted SIP;cause=200 "
                        f"(RFC 3326: completed elsewhere)")
        if any(m["dir"] == "in" and _is_request(m, "BYE") for m in btrace):
            errs.append("bob got a BYE: his early dialog is CANCELled, never BYEd")
        if not any(m["dir"] == "in" and _is_request(m, "BYE") for m in ctrace):
            errs.append("alice's BYE did not reach carol")

        # RTP: alice <-> carol through the appliance, each only from the appliance's address.
        self._alice_and_carol_talk(tdir, SSRC_CAROL_PICKUP, errs)

        pickups = self.stat(self.stats(), "transfers.pickups") - pickups_before
        if pickups != 1:
            errs.append(f"transfers.pickups grew by {pickups}, wanted 1")
        recs = self._new_cdr_records(cdr_before, 1, errs)
        if len(recs) != 1:
            errs.append(f"{len(recs)} new CDR lines, wanted 1")
        else:
            r = recs[0]
            want = {"result": 200, "callee": f"{CAROL[1]}:5060", "picked_up": f"{BOB[1]}:5060", "hangup": "caller"}
            got = {k: r.get(k) for k in want}
            if got != want:
                errs.append(f"CDR {got}, wanted {want}")
        if errs:
            self._fail("; ".join(errs))
