#!/usr/bin/env python3
"""sipferry lab: a transfer whose new leg rings several phones at once ("a&b" in the transfer dialplan).

A mixin for the lab runner (tests/lab/run), next to TransferTests and MoreTransferTests, whose helpers
it uses (_c, _start_uas, _rtp_keys, _report, _wait_rtpsims, _wait_cdrs, _sipp_problems, _fail,
_progress; _confirmed_call, _ctl, _sipp_mp, _transfer_stats, _first):

  transfer_rings_in_parallel  alice talks to bob; the call manager transfers alice to "carol+desk"
                              (lua/dialplans/lab_transfer.lua): carol (198.51.100.30:5060) and the desk
                              phone (a second sipp on carol's host, port 5062) get INVITEs with the
                              same offer at once; carol answers, the desk is CANCELled (never BYEd),
                              alice is re-INVITEd and hears carol; one transfer started and completed
"""
import os
import time

from transfer_tests import read_trace, sdp_fields, _is_request, SSRC_CAROL

TRANSFER_FORK_TESTS = ["transfer_rings_in_parallel"]
API_TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token (public lab token)
DESK_PORT = 5062


class TransferForkTests:
    """Lab tests for parallel transfer destinations; mixed into the runner class of tests/lab/run."""

    def test_transfer_rings_in_parallel(self, tdir):
        """alice -> bob; sipferryctl transfer CALL carol+desk --keep a: carol answers, the desk is cancelled."""
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        cdr_before = len(self.cdr_lines())
        carol = self._start_uas(tdir, "carol", CAROL, "uas_answer.xml",
                                self._rtp_keys(tdir, name="carol", rtp_count=150, rtp_delay=0))
        desk = self._sipp_mp(tdir, "desk", CAROL, "uas_ring.xml", DESK_PORT, 16100)
        if not self.wait_listening(CAROL[0], DESK_PORT):
            self._fail("the desk phone's sipp did not start listening\n" + self.sipp_excerpt(desk))
        bob = self._start_uas(tdir, "bob", BOB, "uas_answer_pcma.xml",
                              self._rtp_keys(tdir, name="bob", rtp_count=150, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_transferee.xml", remote=f"{SBC_ACC}:5060", service="bob",
                          keys=self._rtp_keys(tdir, caller="alice", rtp_count=300))
        call = self._confirmed_call(ALICE[1], BOB[1], alice)
        if call is None:
            self._fail("no confirmed call alice -> bob in `sipferryctl calls` within 6 s\n" + self.sipp_excerpt(alice))
        time.sleep(1.5)  # alice and bob talk, then the call manager sends alice on
        before = self._transfer_stats()
        r = self._ctl(["transfer", str(call["id"]), "carol+desk", "--keep", "a"], token=API_TOKEN)
        self._progress(f"sipferryctl transfer {call['id']} carol+desk --keep a: exit {r.returncode}: "
                       f"{(r.stdout + r.stderr).strip()}")
        rc_alice = self.wait_sipp(alice, timeout=16)
        rc_bob = self.wait_sipp(bob, timeout=3)
        rc_carol = self.wait_sipp(carol, timeout=5 if rc_alice == 0 else 2)
        rc_desk = self.wait_sipp(desk, timeout=3)
        self._wait_rtpsims(tdir, ("alice", "bob", "carol"), timeout=8)
        after = self._transfer_stats()
        errs = []
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob), (carol, rc_carol),
                                                  (desk, rc_desk)])
        if problems:
            self._fail(", ".join(problems) + "\n" + excerpts)
        if r.returncode != 0:
            errs.append(f"the API refused the transfer: {(r.stdout + r.stderr).strip()!r}")
        d = {k: after[k] - before[k] for k in after}
        self._progress(f"transfers stats delta {d}")
        if d["started"] != 1 or d["completed"] != 1 or d["failed"] != 0:
            errs.append(f"transfers.started +{d['started']} completed +{d['completed']} failed +{d['failed']}, "
                        f"wanted +1, +1, +0")

        ctrace = read_trace(os.path.join(tdir, "carol.msg"))
        dtrace = read_trace(os.path.join(tdir, "desk.msg"))
        c_inv = self._first(ctrace, "in", lambda m: _is_request(m, "INVITE"))
        d_inv = self._first(dtrace, "in", lambda m: _is_request(m, "INVITE"))
        d_cancel = self._first(dtrace, "in", lambda m: _is_request(m, "CANCEL"))
        if c_inv is None or d_inv is None:
            errs.append(f"INVITEs: carol {'yes' if c_inv else 'no'}, desk {'yes' if d_inv else 'no'}; wanted both")
        else:
            apart = abs(c_inv["time"] - d_inv["time"]) * 1000.0
            fc, fd = sdp_fields(c_inv["body"]), sdp_fields(d_inv["body"])
            self._progress(f"carol's and the desk's INVITEs {apart:.1f} ms apart; offers c={fc.get('c')} "
                           f"m={fc.get('m')} / c={fd.get('c')} m={fd.get('m')}")
            if apart > 1000.0:
                errs.append(f"the INVITEs were {apart:.0f} ms apart: not in parallel")
            if (fc.get("c"), fc.get("m")) != (fd.get("c"), fd.get("m")) or fc.get("c") != SBC_CORE:
                errs.append(f"the offers differ or do not name the appliance: {fc} / {fd}")
        if d_cancel is None:
            errs.append("the desk phone got no CANCEL after carol answered")
        if any(m["dir"] == "in" and _is_request(m, "BYE") for m in dtrace):
            errs.append("the desk phone got a BYE: it never answered")

        # RTP: alice hears carol (after bob), carol hears alice, each only from the appliance.
        self._alice_and_carol_talk(tdir, SSRC_CAROL, errs)

        new = self._wait_cdrs(cdr_before, 2)
        for line in new:
            self._progress(f"cdr: {line}")
        if len(new) != 2 or f'"callee":"{CAROL[1]}:5060"' not in new[-1] or '"segment":2' not in new[-1]:
            errs.append(f"CDRs: {len(new)} new lines, wanted 2 with the second (segment 2) answered by carol")
        if errs:
            self._fail("; ".join(errs))
