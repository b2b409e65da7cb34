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
  call_quality_from_rtcp
                    alice calls bob, both rtpsims with RTCP on RTP port + 1 every ~0.5 s, 150 RTP
                    packets each way; alice's rtpsim leaves out every tenth (--drop-every 10, 151
                    sequence numbers so that her last packet is sent: a trailing loss is invisible
                    to sequence numbers). The call record: caller_to_callee lost == alice's dropped
                    (15); caller_to_callee.rtcp (bob's report blocks read by the appliance): reports
                    >= 3 and within bob's sent blocks - 2 .. bob's sent blocks, loss_pct 5..20;
                    callee_to_caller.rtcp loss_pct < 1; per direction loss_pct and jitter_ms equal
                    (to 0.01) the means of the reporter's first `reports` blocks (alice's rtpsim also
                    sends with up to 8 ms of jitter); both directions jitter_ms 0..30 and rtt_ms
                    0..100 (sanity bounds on a quiet lab, printed), mos in 1..4.5, callee_to_caller's
                    >= 4.0 and above caller_to_callee's; codec PCMU. `sipferryctl stats` rtcp: read
                    grew by >= 6, lost by 0; calls.directions_rated by 2 and directions_poor by the
                    record's directions with a MOS below 3.6. Prints the figures.
"""
import json
import os

MEDIA_TESTS = ["rtp_loss_recorded", "media_timeout_hangs_up_a_silent_call", "call_quality_from_rtcp"]
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

    # ---- call quality from RTCP -----------------------------------------------------------------
    def _rtcp_stats(self):
        """`sipferryctl stats` -> its rtcp object (fails the test when there is none)."""
        r = self._ctl(["stats"])
        try:
            full = json.loads(r.stdout)
            st = dict(full["rtcp"])
            st["rated"] = full["calls"]["directions_rated"]
            st["poor"] = full["calls"]["directions_poor"]
        except (ValueError, KeyError, TypeError) as e:
            self._fail(f"sipferryctl stats: no rtcp object ({e!r}): {(r.stdout + r.stderr)[:300]}")
        if not isinstance(st, dict):
            self._fail(f"sipferryctl stats: rtcp is {st!r}, wanted an object")
        return st

    @staticmethod
    def _rtcp_summary(rep):
        """The figures of an rtpsim report's rtcp object worth a progress line."""
        rt = rep.get("rtcp") or {}
        blocks = rt.get("sent_blocks") or []
        fracs = [b.get("fraction_lost", 0) for b in blocks]
        return {"sent_sr": rt.get("sent_sr"), "sent_rr": rt.get("sent_rr"), "received": rt.get("received"),
                "received_sr": rt.get("received_sr"), "received_rr": rt.get("received_rr"),
                "malformed": rt.get("malformed"), "received_from": rt.get("received_from"),
                "sent_blocks_total": rt.get("sent_blocks_total"), "sent_fraction_lost": fracs,
                "sent_jitter": [b.get("jitter") for b in blocks],
                "received_blocks_total": rt.get("received_blocks_total"), "rtt_ms": rt.get("rtt_ms")}

    def test_call_quality_from_rtcp(self, tdir):
        count, every = 150, 10
        alice_count = count + 1  # 151 sequence numbers, the 10th ... 150th left out: 15, the last one sent
        rtcp = "--rtcp port --rtcp-interval 0.5"
        rtpsim = self._c("RTPSIM")
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        st_before = self._rtcp_stats()
        cdr_before = len(self.cdr_lines())
        bob = self._start_uas(tdir, "bob", BOB, "uas_answer.xml",
                              self._rtp_keys(tdir, rtpsim=f"{rtpsim} {rtcp}", name="bob",
                                             rtp_port=RTP_PORT, rtp_count=count, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service="bob",
                          keys=self._rtp_keys(tdir, rtpsim=f"{rtpsim} {rtcp} --drop-every {every} --jitter-ms 8",
                                              caller="alice",
                                              rtp_port=RTP_PORT, rtp_count=alice_count, rtp_delay=0.5))
        rc_alice = self.wait_sipp(alice)
        rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice == 0 else 3)
        self._wait_rtpsims(tdir, ("alice", "bob"))
        problems, excerpts = self._sipp_problems([(alice, rc_alice), (bob, rc_bob)])
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        ra, rb = self._report(tdir, "alice"), self._report(tdir, "bob")
        lines = self._wait_cdrs(cdr_before, 1)
        st_after = self._rtcp_stats()
        if not lines:
            self._fail("no call record for the call")
        try:
            rec = json.loads(lines[-1])
        except ValueError:
            self._fail(f"call record is not JSON: {lines[-1][:300]}")
        rtp = rec.get("rtp") or {}
        ab, ba = rtp.get("caller_to_callee") or {}, rtp.get("callee_to_caller") or {}
        sum_a, sum_b = self._rtcp_summary(ra), self._rtcp_summary(rb)
        self._progress(f"cdr rtp: {json.dumps(rtp)} codec {rec.get('codec')!r}")
        self._progress(f"alice rtpsim: sent {ra.get('sent')} dropped {ra.get('dropped')} received "
                       f"{ra.get('received')}; rtcp {json.dumps(sum_a)}")
        self._progress(f"bob rtpsim: sent {rb.get('sent')} dropped {rb.get('dropped')} received "
                       f"{rb.get('received')}; rtcp {json.dumps(sum_b)}")
        delta = {k: st_after.get(k, 0) - st_before.get(k, 0)
                 for k in ("reports", "lost", "read", "ignored", "rated", "poor")}
        self._progress(f"stats rtcp before {st_before} after {st_after} delta {delta}")

        errs = []
        # Packet loss before the appliance (RTP sequence numbers).
        if ra.get("dropped") != count // every:
            errs.append(f"alice's rtpsim dropped {ra.get('dropped')}, wanted {count // every}")
        if ab.get("lost") != ra.get("dropped"):
            errs.append(f"caller_to_callee lost {ab.get('lost')}, alice's rtpsim dropped {ra.get('dropped')}")
        # Bob's report blocks (about alice's stream) against what the appliance read of them.
        b_blocks = (rb.get("rtcp") or {}).get("sent_blocks") or []
        b_total = (rb.get("rtcp") or {}).get("sent_blocks_total")
        b_total = b_total if isinstance(b_total, int) else len(b_blocks)
        b_mean = sum(b["fraction_lost"] * 100.0 / 256 for b in b_blocks) / len(b_blocks) if b_blocks else None
        fig = {}
        for name, d in (("caller_to_callee", ab), ("callee_to_caller", ba)):
            q = d.get("rtcp")
            if not isinstance(q, dict):
                errs.append(f"{name}.rtcp is {q!r}, wanted the receiver's report figures")
                fig[name] = None
                continue
            fig[name] = {k: q.get(k) for k in ("reports", "loss_pct", "jitter_ms", "rtt_ms")}
            fig[name]["mos"] = d.get("mos")
            j, rtt = q.get("jitter_ms"), q.get("rtt_ms")
            if not isinstance(j, (int, float)) or not 0 <= j < 30:
                errs.append(f"{name}.rtcp.jitter_ms {j!r}, wanted 0 <= jitter < 30 ms")
            if not isinstance(rtt, (int, float)) or not 0 <= rtt < 100:
                errs.append(f"{name}.rtcp.rtt_ms {rtt!r}, wanted 0 <= rtt < 100 ms")
            m = d.get("mos")
            if not isinstance(m, (int, float)) or not 1 <= m <= 4.5:
                errs.append(f"{name}.mos {m!r}, wanted 1 <= mos <= 4.5")
        self._progress(f"figures: {json.dumps(fig)}; bob's sent blocks {b_total}, their mean loss "
                       f"{None if b_mean is None else round(b_mean, 2)} %")
        q_ab, q_ba = ab.get("rtcp"), ba.get("rtcp")
        if isinstance(q_ab, dict):
            n, lp = q_ab.get("reports"), q_ab.get("loss_pct")
            if not isinstance(n, int) or n < 3 or not b_total - 2 <= n <= b_total:
                errs.append(f"caller_to_callee.rtcp.reports {n!r}, wanted >= 3 and within "
                            f"{b_total - 2}..{b_total} (bob's rtpsim sent {b_total} report blocks)")
            # 10 % left out; an interval at the stream's end can report more (its last packets).
            if not isinstance(lp, (int, float)) or not 5 <= lp <= 20:
                errs.append(f"caller_to_callee.rtcp.loss_pct {lp!r}, wanted 5..20 (alice leaves out 10 %)")
        # The appliance read the reporters' blocks in order (the last ones may come after the call's
        # sides are gone): its means are those of each reporter's first `reports` blocks, exactly.
        for name, q, rep, who in (("caller_to_callee", q_ab, rb, "bob"), ("callee_to_caller", q_ba, ra, "alice")):
            blocks = (rep.get("rtcp") or {}).get("sent_blocks") or []
            n = q.get("reports") if isinstance(q, dict) else None
            if not isinstance(n, int) or not 0 < n <= len(blocks):
                continue  # reported above (or the bounded list is shorter: nothing to compare)
            want_loss = sum(b["fraction_lost"] for b in blocks[:n]) * 100.0 / 256 / n
            want_jitter = sum(b["jitter"] for b in blocks[:n]) / 8.0 / n  # PCMU: 8 units per ms
            for key, want in (("loss_pct", want_loss), ("jitter_ms", want_jitter)):
                got = q.get(key)
                if not isinstance(got, (int, float)) or abs(got - want) > 0.01:
                    errs.append(f"{name}.rtcp.{key} {got!r}, wanted {want:.3f} (the mean of {who}'s first {n} "
                                f"report blocks)")
        if isinstance(q_ba, dict):
            lp = q_ba.get("loss_pct")
            if not isinstance(lp, (int, float)) or not lp < 1:
                errs.append(f"callee_to_caller.rtcp.loss_pct {lp!r}, wanted < 1 (bob's stream loses nothing)")
        m_ab, m_ba = ab.get("mos"), ba.get("mos")
        if isinstance(m_ab, (int, float)) and isinstance(m_ba, (int, float)):
            if not m_ba > m_ab:
                errs.append(f"mos callee_to_caller {m_ba} not above caller_to_callee {m_ab} (the lossy one)")
            if m_ba < 4.0:
                errs.append(f"mos callee_to_caller {m_ba}, wanted >= 4.0 (no loss, tiny delay)")
        if rec.get("codec") != "PCMU":
            errs.append(f"codec {rec.get('codec')!r}, wanted 'PCMU' (payload type 0)")
        if delta["read"] < 6:
            errs.append(f"stats rtcp.read grew by {delta['read']}, wanted >= 6")
        if delta["lost"] != 0:
            errs.append(f"stats rtcp.lost grew by {delta['lost']}, wanted 0")
        # The record's two rated directions are counted, the poor ones (MOS < 3.6) apart.
        mos_values = [m for m in (m_ab, m_ba) if isinstance(m, (int, float))]
        if delta["rated"] != len(mos_values) or delta["poor"] != sum(m < 3.6 for m in mos_values):
            errs.append(f"stats calls.directions_rated/poor grew by {delta['rated']}/{delta['poor']}, wanted "
                        f"{len(mos_values)}/{sum(m < 3.6 for m in mos_values)} (the record's MOS {mos_values})")
        if errs:
            self._fail("; ".join(errs))
