#!/usr/bin/env python3
"""sipferry lab: what the relay records about media (a mixin for the lab runner, tests/lab/run).

  rtp_loss_recorded  alice calls bob with 150 RTP packets each way; in sf-alice an iptables rule
                    drops every tenth of alice's RTP packets (the 6th, 16th, ... 146th: 15, never the
                    first or the last) before they reach the appliance; bob receives 135; the call
                    record says caller_to_callee packets 135, lost 15 (from the RTP sequence numbers
                    the relay follows), callee_to_caller packets 150, lost 0. The rule is removed
                    also on failure.
  media_timeout_hangs_up_a_silent_call
                    [media] timeout set to 3 s in the staged config and reloaded; alice calls bob,
                    both send 25 RTP packets (0.5 s) and go silent; the appliance BYEs both (each
                    sipp waits 20 s at most for it and answers 200), sip.media_timeouts grows by
                    one, the call record's hangup is media_timeout. The config is put back and
                    reloaded also on failure.
"""
import json
import os

MEDIA_TESTS = ["rtp_loss_recorded", "media_timeout_hangs_up_a_silent_call"]
STAGED_CONFIG = "/run/sipferry-lab/stage/configs/lab.conf"
TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token (public, lab only)
LOSS_CHAIN = "SF_RTP_LOSS"
RTP_PORT = 6000


class MediaTests:
    """Lab tests of the relay's media accounting; mixed into the runner class of tests/lab/run."""

    def _loss_rule(self, add):
        ns = self._c("ALICE")[0]
        rt_iptables = self.iptables  # the runner's bounded iptables in a namespace
        rt_iptables(ns, ["-D", "OUTPUT", "-p", "udp", "--sport", str(RTP_PORT), "-j", LOSS_CHAIN], check=False)
        rt_iptables(ns, ["-F", LOSS_CHAIN], check=False)
        rt_iptables(ns, ["-X", LOSS_CHAIN], check=False)
        if add:
            rt_iptables(ns, ["-N", LOSS_CHAIN])
            # nth every 10, packet 5: drops the 6th, 16th, ... 146th of 150 (RTP only: its source port).
            rt_iptables(ns, ["-A", LOSS_CHAIN, "-m", "statistic", "--mode", "nth", "--every", "10",
                             "--packet", "5", "-j", "DROP"])
            rt_iptables(ns, ["-I", "OUTPUT", "-p", "udp", "--sport", str(RTP_PORT), "-j", LOSS_CHAIN])

    def test_rtp_loss_recorded(self, tdir):
        count, dropped = 150, 15
        before = len(self.cdr_lines())
        self._loss_rule(True)
        try:
            problems, excerpts = self._alice_calls_bob(tdir, count)
        finally:
            self._loss_rule(False)
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        got_bob = self._report(tdir, "bob")["received"]
        got_alice = self._report(tdir, "alice")["received"]
        if got_bob != count - dropped or got_alice != count:
            errs.append(f"bob received {got_bob} (wanted {count - dropped}), alice {got_alice} (wanted {count})")
        lines = self._wait_cdrs(before, 1)
        if not lines:
            self._fail("no call record for the call")
        rec = json.loads(lines[-1])
        rtp = rec.get("rtp", {})
        self._progress(f"cdr rtp: {rtp}")
        ab, ba = rtp.get("caller_to_callee", {}), rtp.get("callee_to_caller", {})
        if (ab.get("packets"), ab.get("lost")) != (count - dropped, dropped):
            errs.append(f"caller_to_callee {ab}, wanted packets {count - dropped} lost {dropped}")
        if (ba.get("packets"), ba.get("lost")) != (count, 0):
            errs.append(f"callee_to_caller {ba}, wanted packets {count} lost 0")
        if errs:
            self._fail("; ".join(errs))

    def _media_timeouts(self):
        return self._sip_stat("media_timeouts")  # SipTests (tests/lab/sip_tests.py)

    def _reload_config(self, text, what):
        with open(STAGED_CONFIG, "w") as f:
            f.write(text)
        r = self._ctl(["reload"], token=TOKEN)
        if r.returncode != 0 or '"reloaded":true' not in r.stdout.replace(" ", ""):
            self._fail(f"reload ({what}) failed: {(r.stdout + r.stderr)[:300]}")

    def test_media_timeout_hangs_up_a_silent_call(self, tdir):
        if not os.path.isfile(STAGED_CONFIG):
            self._fail(f"{STAGED_CONFIG} missing (tools/lab up stages the config when SIPFERRY_LAB_CONFIG is unset)")
        original = open(STAGED_CONFIG).read()
        media = original.index("[media]")
        line = original.index("\ntimeout = ", media) + 1
        short = original[:line] + "timeout = 3" + original[original.index("\n", line):]
        before = self._media_timeouts()
        cdr_before = len(self.cdr_lines())
        count = 25
        keys = self._rtp_keys(tdir, rtp_port=RTP_PORT, rtp_count=count, rtp_delay=0.5)
        try:
            self._reload_config(short, "timeout = 3")
            self.call_pair(tdir, self._c("BOB"), "uas_answer.xml", "uac_silent.xml", "bob",
                           keys_uas=dict(keys, name="bob"), keys_uac=keys)
        finally:
            self._reload_config(original, "the lab's own config")
        self._wait_rtpsims(tdir, ("alice", "bob"))
        errs = []
        after = self._media_timeouts()
        self._progress(f"sip.media_timeouts {before} -> {after}")
        if after != before + 1:
            errs.append(f"sip.media_timeouts went from {before} to {after}, wanted one more")
        lines = self._wait_cdrs(cdr_before, 1)
        if not lines:
            errs.append("no call record for the call")
        else:
            rec = json.loads(lines[-1])
            self._progress(f"cdr hangup {rec.get('hangup')!r}, rtp {rec.get('rtp')}")
            if rec.get("hangup") != "media_timeout":
                errs.append(f"call record hangup {rec.get('hangup')!r}, wanted 'media_timeout'")
        if errs:
            self._fail("; ".join(errs))
