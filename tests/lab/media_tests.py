#!/usr/bin/env python3
"""sipferry lab: what the relay records about media (a mixin for the lab runner, tests/lab/run).

  rtp_loss_recorded  alice calls bob with 150 RTP packets each way; in sf-alice an iptables rule
                    drops every tenth of alice's RTP packets (the 6th, 16th, ... 146th: 15, never the
                    first or the last) before they reach the appliance; bob receives 135; the call
                    record says caller_to_callee packets 135, lost 15 (from the RTP sequence numbers
                    the relay follows), callee_to_caller packets 150, lost 0. The rule is removed
                    also on failure.
"""
import json

MEDIA_TESTS = ["rtp_loss_recorded"]
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
