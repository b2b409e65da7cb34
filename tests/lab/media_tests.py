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
                    >= 4.0 and above caller_to_callee's; codec PCMU; bob's rtpsim also sends RTCP XR
                    VoIP Metrics (--xr): caller_to_callee.rtcp.phone_mos is the mean MOS-CQ of his
                    first XR blocks, callee_to_caller's is null. `sipferryctl stats` rtcp: read
                    grew by >= 6, lost by 0; calls.directions_rated by 2 and directions_poor by the
                    record's directions with a MOS below 3.6. Prints the figures.
  quality_routes_around_a_poor_trunk
                    the lab dialplan routes `qroute-X` to X@lab-pbx, or to host X directly while
                    sys.Quality("lab-pbx").RecentMOS < 3.6. (1) carol (lab-pbx's address, uas_answer)
                    answers alice's call to `pbxfirst-bob`, both rtpsims with RTCP (port, ~0.5 s) and
                    --drop-every 3 (a third lost both ways), 100 RTP packets each way: the record
                    names provider lab-pbx, both directions' mos < 3.6; providers.quality.lab-pbx
                    rated and poor grow by 2, mean_mos and recent_mos are those of the record's MOS
                    (recent: each new direction weighs 1/16, the first all), recent_mos < 3.6.
                    (Skipped when lab-pbx is already that poor: a rerun in the same daemon.)
                    (2) alice calls `qroute-bob` while carol's sipp also waits: bob answers, carol gets
                    no INVITE; the record's callee is 198.51.100.20:5060, provider ""; lab-pbx's tally
                    is unchanged. Prints the figures and the dialplan's log line (qroute: ...).
  t38_fax_switch     bob, a fax gateway (tests/lab/t38_ua.py callee), answers alice's call (t38_ua.py
                    caller) with audio, then re-INVITEs it to T.38, twice: `append` (m=audio 0 plus
                    an appended m=image udptl t38: a stream the call had no relay ports for) and
                    `replace` (the image line in the audio's place). Each time the re-INVITE gets
                    200; the offer alice got and the answer bob got have the same m-lines as sent,
                    the image line on a relay port of the appliance's address on that side
                    (192.0.2.1 for alice, 198.51.100.1 for bob), the disabled audio with port 0;
                    100 UDPTL packets each way arrive all, byte for byte, from exactly that relay
                    address and port; alice's BYE gets 200; sip.streams_added grows by 1 for
                    `append`, by 0 for `replace`; sip.streams_removed too (`append`: the answer
                    ended the disabled audio, its relay ports went back); relay.port_pairs in
                    use are as before the call once it ended; the call record: result 200, hangup
                    caller, t38 true, codec PCMU, packets 100 each way (the phones send no RTP),
                    lost 0 (UDPTL is not RTP).
  codec_filter       alice (uac_call: PCMU, PCMA, telephone-event) calls `bob-alaw`, which the lab
                    dialplan dials with co=PCMA/telephone-event; bob (uas_answer_pcma) answers PCMA.
                    The INVITE bob got offers `8 101` only, with no PCMU rtpmap; the 200 alice got
                    answers `8 101`; 150 RTP packets each way arrive; the record says codec PCMA.
                    Then alice (uac_not_acceptable: PCMU and telephone-event only) calls bob-alaw
                    again: 488, bob gets no INVITE, sip.codec_offers_refused grows by 1.
  declined_video_gives_its_ports_back
                    alice (uac_call_video: audio and H.264 video) calls bob (uas_answer_no_video),
                    who must be offered the video on a relay port and answers it at port 0
                    (RFC 3264 6); alice's 200 must say port 0 too. While the call is up (five
                    samples, 1.5-3.5 s after alice starts), relay.port_pairs in use on each port
                    are one more than before the call (the audio's; the video's went back with the
                    answer); after it, as before. 150 RTP packets each way arrive;
                    sip.streams_removed grows by 1.
  video_disabled_for_a_destination_without_it
                    as declined_video_gives_its_ports_back, but alice calls `bob-novideo` (the lab
                    dialplan: mt=audio/image): bob's INVITE has the video at port 0, the audio
                    passes (150 RTP packets each way, codec_offers_refused unchanged), and the
                    pairs in use are the audio's only, during and after as before.
  codec_preference_orders_the_offer
                    alice (uac_call: PCMU, PCMA, telephone-event, in that order) calls
                    `bob-alawfirst`, which the lab dialplan dials with co=PCMA/PCMU/telephone-event;
                    bob (uas_answer) answers PCMU. The INVITE bob got must list `8 0 101` (co='s
                    order: RFC 3264 5.1, formats in order of preference), the 200 alice got `0 101`
                    (an answer keeps the answerer's order, so both send PCMU); 150 RTP packets each
                    way arrive; the record says codec PCMU.
  refused_video_gives_its_ports_back
                    alice (uac_reinvite_video_refused) calls bob (uas_refuse_reinvite): audio, then
                    1 s after her ACK a re-INVITE that appends H.264 video. bob must be offered the
                    video on a relay port (the appliance anchored it) and answers 488; alice must
                    get the 488 (and ACKs it). The refused offer leaves the session as it was
                    (RFC 3264 8): five samples 2-4 s after alice starts show relay.port_pairs in
                    use one more than before the call on each port (the audio's; the video's went
                    back with the 488), as before after the call; sip.streams_added and
                    sip.streams_taken_back grow by 1; 150 RTP packets each way arrive.
"""
import json
import os
import re

from transfer_tests import read_trace, _is_request  # sipp -trace_msg parsing

MEDIA_TESTS = ["rtp_loss_recorded", "media_timeout_hangs_up_a_silent_call", "call_quality_from_rtcp",
               "quality_routes_around_a_poor_trunk", "t38_fax_switch", "codec_filter",
               "declined_video_gives_its_ports_back", "video_disabled_for_a_destination_without_it",
               "refused_video_gives_its_ports_back", "codec_preference_orders_the_offer"]
T38_UA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "t38_ua.py")
T38_PACKETS = 100
STAGED_CONFIG = "/run/sipferry-lab/stage/configs/lab.conf"
TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token (public, lab only)
LOSS_CHAIN = "SF_RTP_LOSS"
RTP_PORT = 6000
PBX = "lab-pbx"  # configs/lab.conf [provider.lab-pbx]: carol's address, max_calls = 1
POOR_MOS = 3.6  # a record direction below it is poor; the lab dialplan's qroute-X threshold


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

    def _finished_call(self, tdir, caller, callee, cdr_before, what):
        """Waits (bounded) for the caller's and the callee's sipp ((process, name) each) and their
        rtpsims; fails the test, naming `what`, when a sipp failed or no call record came. Returns
        (the caller's and the callee's rtpsim reports, the new call record)."""
        (p_caller, n_caller), (p_callee, n_callee) = caller, callee
        rc_caller = self.wait_sipp(p_caller)
        rc_callee = self.wait_sipp(p_callee, timeout=8 if rc_caller == 0 else 3)
        self._wait_rtpsims(tdir, (n_caller, n_callee))
        problems, excerpts = self._sipp_problems([(p_caller, rc_caller), (p_callee, rc_callee)])
        if problems:
            self._fail(f"{what}: " + "; ".join(problems) + "\n" + excerpts)
        reports = (self._report(tdir, n_caller), self._report(tdir, n_callee))
        lines = self._wait_cdrs(cdr_before, 1)
        if not lines:
            self._fail(f"{what}: no call record")
        try:
            return reports, json.loads(lines[-1])
        except ValueError:
            self._fail(f"{what}: call record is not JSON: {lines[-1][:300]}")

    def test_call_quality_from_rtcp(self, tdir):
        count, every = 150, 10
        alice_count = count + 1  # 151 sequence numbers, the 10th ... 150th left out: 15, the last one sent
        rtcp = "--rtcp port --rtcp-interval 0.5"
        rtpsim = self._c("RTPSIM")
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        st_before = self._rtcp_stats()
        cdr_before = len(self.cdr_lines())
        bob = self._start_uas(tdir, "bob", BOB, "uas_answer.xml",
                              self._rtp_keys(tdir, rtpsim=f"{rtpsim} {rtcp} --xr", name="bob",
                                             rtp_port=RTP_PORT, rtp_count=count, rtp_delay=0.5))
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service="bob",
                          keys=self._rtp_keys(tdir, rtpsim=f"{rtpsim} {rtcp} --drop-every {every} --jitter-ms 8",
                                              caller="alice",
                                              rtp_port=RTP_PORT, rtp_count=alice_count, rtp_delay=0.5))
        (ra, rb), rec = self._finished_call(tdir, (alice, "alice"), (bob, "bob"), cdr_before, "the call")
        st_after = self._rtcp_stats()
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
        # bob's phone also reports its own MOS (RTCP XR VoIP Metrics): the record's phone_mos is the
        # mean of the MOS-CQs of his first XR blocks (those the appliance relayed); alice sends none.
        xr = [b["mos_cq"] / 10.0 for b in (rb.get("rtcp") or {}).get("sent_xr_blocks") or []]
        pm_ab = q_ab.get("phone_mos") if isinstance(q_ab, dict) else None
        pm_ba = q_ba.get("phone_mos") if isinstance(q_ba, dict) else "missing"
        self._progress(f"phone_mos: caller_to_callee {pm_ab} (bob's XR MOS-CQ {xr}), callee_to_caller {pm_ba}")
        means = [sum(xr[:m]) / m for m in range(1, len(xr) + 1)]
        if not isinstance(pm_ab, (int, float)) or not any(abs(pm_ab - m) < 0.005 for m in means):
            errs.append(f"caller_to_callee.rtcp.phone_mos {pm_ab!r}, wanted the mean of bob's first XR MOS-CQs "
                        f"(any of {[round(m, 3) for m in means]})")
        if pm_ba is not None:
            errs.append(f"callee_to_caller.rtcp.phone_mos {pm_ba!r}, wanted null (alice sends no XR)")
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

    # ---- quality_routes_around_a_poor_trunk -------------------------------------------------------
    def _pbx_quality(self):
        """providers.quality.lab-pbx of `sipferryctl stats` ({rated, poor, mean_mos, recent_mos}) or
        None when no call to it was rated; and the whole providers.quality object."""
        quality = self._failover_providers().get("quality")  # FailoverTests: the `providers` object
        if not isinstance(quality, dict):
            self._fail(f"sipferryctl stats: providers.quality is {quality!r}, wanted an object")
        q = quality.get(PBX)
        if q is not None and not (isinstance(q, dict) and all(isinstance(q.get(k), (int, float)) for k in
                                                             ("rated", "poor", "mean_mos", "recent_mos"))):
            self._fail(f"providers.quality.{PBX} is {q!r}, wanted {{rated, poor, mean_mos, recent_mos}}")
        return q, quality

    def _daemon_log_from(self, offset):
        log = self._rt().DAEMON_LOG
        try:
            with open(log, errors="replace") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return ""

    def test_quality_routes_around_a_poor_trunk(self, tdir):
        count, every = 100, 3  # 100 % 3 != 0: the last packet is sent (a trailing loss is invisible)
        rtpsim = self._c("RTPSIM")
        lossy = f"{rtpsim} --rtcp port --rtcp-interval 0.5 --drop-every {every}"
        ALICE, BOB, CAROL = self._c("ALICE"), self._c("BOB"), self._c("CAROL")
        sbc = f"{self._c('SBC_ACC')}:5060"
        errs = []
        q0, _ = self._pbx_quality()
        self._progress(f"0. before: providers.quality.{PBX} {q0}")
        started = []
        try:
            if q0 is not None and q0["recent_mos"] < POOR_MOS:
                self._progress(f"1. {PBX} is already poor (recent_mos {q0['recent_mos']} < {POOR_MOS}: a rerun in "
                               f"this daemon): call 1 skipped")
                q1 = q0
            else:
                q1 = self._poor_pbx_call(tdir, count, lossy, q0, started, errs)
            if errs:
                self._fail("; ".join(errs))  # call 2's expectation rests on call 1's figures

            # 2. qroute-bob: lab-pbx sounds bad, so the dialplan dials bob directly; carol waits in vain.
            log = self._rt().DAEMON_LOG
            log_at = os.path.getsize(log) if os.path.exists(log) else 0
            cdr_before = len(self.cdr_lines())
            bob = self._start_uas(tdir, "bob", BOB, "uas_answer.xml",
                                  self._rtp_keys(tdir, name="bob", rtp_count=50, rtp_delay=0.5))
            started.append(bob)
            carol2 = self._start_uas(tdir, "carol2", CAROL, "uas_answer.xml",
                                     self._rtp_keys(tdir, name="carol2", rtp_count=50, rtp_delay=0.5))
            started.append(carol2)
            alice2 = self.sipp(tdir, "alice2", ALICE, "uac_call.xml", remote=sbc, service="qroute-bob",
                               keys=self._rtp_keys(tdir, caller="alice2", rtp_count=50))
            started.append(alice2)
            rc_alice2 = self.wait_sipp(alice2, timeout=15)
            rc_bob = self.wait_sipp(bob, timeout=8 if rc_alice2 == 0 else 3)
            self.kill_proc(carol2)  # she waits for an INVITE that must not come: stop her now
            self._wait_rtpsims(tdir, ("alice2", "bob"), timeout=8)
            lines = self._wait_cdrs(cdr_before, 1)
            q2, quality2 = self._pbx_quality()
            decision = [l.strip() for l in self._daemon_log_from(log_at).splitlines() if "qroute:" in l]
            self._progress(f"2. qroute-bob: dialplan log {decision or '(no qroute line in the daemon log)'}")
            problems, excerpts = self._sipp_problems([(alice2, rc_alice2), (bob, rc_bob)])
            if problems:
                errs.append("call 2 (qroute-bob): " + "; ".join(problems) + "\n" + excerpts)
            b_inv = [m["start"] for m in read_trace(os.path.join(tdir, "bob.msg"))
                     if m["dir"] == "in" and _is_request(m, "INVITE")]
            c_inv = [m["start"] for m in read_trace(os.path.join(tdir, "carol2.msg"))
                     if m["dir"] == "in" and _is_request(m, "INVITE")]
            self._progress(f"2. bob got INVITE(s) {b_inv}, carol (lab-pbx) {c_inv}")
            if len(b_inv) != 1 or not b_inv[0].startswith(f"INVITE sip:bob@{BOB[1]}"):
                errs.append(f"call 2: bob's INVITEs {b_inv}, wanted exactly one for sip:bob@{BOB[1]}:5060")
            if c_inv:
                errs.append(f"call 2: carol (lab-pbx) got INVITEs {c_inv}, wanted none ({PBX} is poor: routed around)")
            if not lines:
                errs.append("call 2: no call record")
            else:
                try:
                    rec = json.loads(lines[-1])
                except ValueError:
                    rec = {}
                    errs.append(f"call 2: call record is not JSON: {lines[-1][:300]}")
                self._progress(f"2. cdr: callee {rec.get('callee')!r} provider {rec.get('provider')!r} "
                               f"result {rec.get('result')!r}")
                if rec.get("callee") != f"{BOB[1]}:5060" or rec.get("provider") != "" or rec.get("result") != 200:
                    errs.append(f"call 2 record: callee {rec.get('callee')!r} provider {rec.get('provider')!r} result "
                                f"{rec.get('result')!r}, wanted {BOB[1]}:5060, '' and 200 (bob dialled directly)")
            self._progress(f"2. after: providers.quality {quality2}")
            if q2 != q1:
                errs.append(f"providers.quality.{PBX} changed by call 2 (not placed to it): {q1} -> {q2}")
            if "" in quality2:
                errs.append(f"providers.quality has an entry for no provider: {quality2}")
        finally:
            for p in started:  # the runner's cleanup would too; stop ours here, also on failure
                self.kill_proc(p)
                if p in self.procs:
                    self.procs.remove(p)
            for who in ("alice", "carol", "alice2", "bob", "carol2"):
                self.kill_pidfile(os.path.join(tdir, f"{who}.pid"))
        if errs:
            self._fail("; ".join(errs))

    def _poor_pbx_call(self, tdir, count, lossy, q0, started, errs):
        """Call 1 of quality_routes_around_a_poor_trunk: alice -> pbxfirst-bob -> bob@lab-pbx, carol
        answers, a third of the RTP lost both ways (RTCP on). Checks the record and lab-pbx's tally
        (errors into errs); returns providers.quality.lab-pbx afterwards."""
        ALICE, CAROL = self._c("ALICE"), self._c("CAROL")
        cdr_before = len(self.cdr_lines())
        carol = self._start_uas(tdir, "carol", CAROL, "uas_answer.xml",
                                self._rtp_keys(tdir, rtpsim=lossy, name="carol", rtp_port=RTP_PORT,
                                               rtp_count=count, rtp_delay=0.5))
        started.append(carol)
        alice = self.sipp(tdir, "alice", ALICE, "uac_call.xml", remote=f"{self._c('SBC_ACC')}:5060",
                          service="pbxfirst-bob",
                          keys=self._rtp_keys(tdir, rtpsim=lossy, caller="alice", rtp_port=RTP_PORT,
                                              rtp_count=count))
        started.append(alice)
        (ra, rc), rec = self._finished_call(tdir, (alice, "alice"), (carol, "carol"), cdr_before,
                                            "call 1 (pbxfirst-bob)")
        q1, _ = self._pbx_quality()
        rtp = rec.get("rtp") or {}
        ab, ba = rtp.get("caller_to_callee") or {}, rtp.get("callee_to_caller") or {}
        m_ab, m_ba = ab.get("mos"), ba.get("mos")
        self._progress(f"1. pbxfirst-bob: alice sent {ra.get('sent')} dropped {ra.get('dropped')} received "
                       f"{ra.get('received')}, carol sent {rc.get('sent')} dropped {rc.get('dropped')} received "
                       f"{rc.get('received')}")
        self._progress(f"1. cdr: callee {rec.get('callee')!r} provider {rec.get('provider')!r} result "
                       f"{rec.get('result')!r}; caller_to_callee lost {ab.get('lost')} rtcp {ab.get('rtcp')} mos {m_ab}; "
                       f"callee_to_caller lost {ba.get('lost')} rtcp {ba.get('rtcp')} mos {m_ba}")
        self._progress(f"1. after: providers.quality.{PBX} {q1}")
        if rec.get("provider") != PBX or rec.get("callee") != f"{CAROL[1]}:5060" or rec.get("result") != 200:
            errs.append(f"call 1 record: provider {rec.get('provider')!r} callee {rec.get('callee')!r} result "
                        f"{rec.get('result')!r}, wanted {PBX!r}, {CAROL[1]}:5060 and 200 (carol answering bob@{PBX})")
        mos = [m for m in (m_ab, m_ba) if isinstance(m, (int, float))]
        if len(mos) != 2 or not all(m < POOR_MOS for m in mos):
            errs.append(f"call 1 record: mos caller_to_callee {m_ab!r}, callee_to_caller {m_ba!r}; wanted both "
                        f"< {POOR_MOS} (a third of the packets lost both ways)")
        rated0, poor0 = (q0["rated"], q0["poor"]) if q0 else (0, 0)
        if q1 is None:
            errs.append(f"providers.quality.{PBX} missing after a rated call to it")
            return None
        if q1["rated"] - rated0 != 2 or q1["poor"] - poor0 != 2:
            errs.append(f"providers.quality.{PBX} rated/poor grew by {q1['rated'] - rated0}/{q1['poor'] - poor0}, "
                        f"wanted 2/2")
        if len(mos) == 2:
            # The tally takes the record's directions in order, caller_to_callee first.
            recent, total, n = (q0["recent_mos"], q0["mean_mos"] * q0["rated"], q0["rated"]) if q0 else (None, 0.0, 0)
            for m in mos:
                n += 1
                total += m
                recent = m if n == 1 else recent + (m - recent) / 16
            if abs(q1["recent_mos"] - recent) > 0.01 or abs(q1["mean_mos"] - total / n) > 0.01:
                errs.append(f"providers.quality.{PBX} recent_mos {q1['recent_mos']} mean_mos {q1['mean_mos']}, wanted "
                            f"{recent:.3f} and {total / n:.3f} (from {q0} and the record's MOS {mos})")
        if not q1["recent_mos"] < POOR_MOS:
            errs.append(f"providers.quality.{PBX}.recent_mos {q1['recent_mos']}, wanted < {POOR_MOS}")
        return q1

    def _port_pairs_in_use(self):
        """`sipferryctl stats` -> {port: relay.port_pairs.<port>.in_use}."""
        r = self._ctl(["stats"])
        try:
            pairs = json.loads(r.stdout)["relay"]["port_pairs"]
            return {name: p["in_use"] for name, p in pairs.items()}
        except (ValueError, KeyError, TypeError) as e:
            self._fail(f"sipferryctl stats: no relay.port_pairs ({e}): {(r.stdout + r.stderr)[:200]}")

    def test_t38_fax_switch(self, tdir):
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        acc, core = self._c("SBC_ACC"), self._c("SBC_CORE")
        errs = []
        for variant in ("append", "replace"):
            cdr_before = len(self.cdr_lines())
            added_before = self._sip_stat("streams_added")
            removed_before = self._sip_stat("streams_removed")
            pairs_before = self._port_pairs_in_use()
            common = ["--packets", str(T38_PACKETS), "--timeout", "20"]
            reports = self.run_scripted_uas(tdir, T38_UA, [
                (f"{variant}-bob", BOB[0], ["callee", "--ip", BOB[1], "--variant", variant] + common, True),
                (f"{variant}-alice", ALICE[0],
                 ["caller", "--ip", ALICE[1], "--to", f"{acc}:5060", "--user", "bob"] + common, False)])
            reports = {"alice": reports[f"{variant}-alice"], "bob": reports[f"{variant}-bob"]}
            a, b = reports["alice"], reports["bob"]
            self._progress(f"{variant}: alice got {a.get('t38_media')} at {a.get('t38_conn')}, received "
                           f"{a.get('received')}/{T38_PACKETS} from {a.get('sources')}; bob got {b.get('t38_media')} "
                           f"at {b.get('t38_conn')}, received {b.get('received')}/{T38_PACKETS} from {b.get('sources')}")
            errs += [f"{variant}: {who}: {r['error']}" for who, r in (("alice", a), ("bob", b)) if r.get("error")]
            if a.get("setup") != 200 or b.get("reinvite") != 200:
                errs.append(f"{variant}: setup {a.get('setup')}, bob's re-INVITE got {b.get('reinvite')}")
            for who, r, addr in (("alice", a, acc), ("bob", b, core)):
                media = r.get("t38_media") or []
                kinds = [m[0] for m in media]
                want = ["audio", "image"] if variant == "append" else ["image"]
                if kinds != want:
                    errs.append(f"{variant}: {who}'s SDP for the fax has m-lines {media}, wanted types {want}")
                    continue
                if variant == "append" and media[0][1] != 0:
                    errs.append(f"{variant}: {who}'s disabled audio came with port {media[0][1]}, wanted 0")
                port = media[-1][1]
                if not port or r.get("t38_conn") != addr:
                    errs.append(f"{variant}: {who}'s image stream at {r.get('t38_conn')}:{port}, wanted the "
                                f"appliance's {addr} and a relay port")
                    continue
                if r.get("received") != T38_PACKETS or r.get("corrupt") or r.get("duplicates"):
                    errs.append(f"{variant}: {who} received {r.get('received')}/{T38_PACKETS} UDPTL packets intact, "
                                f"{r.get('corrupt')} corrupt, {r.get('duplicates')} duplicates")
                if r.get("sources") != [f"{addr}:{port}"]:
                    errs.append(f"{variant}: {who}'s UDPTL came from {r.get('sources')}, wanted the relay port "
                                f"its SDP named, {addr}:{port}")
            if a.get("bye") != 200 or b.get("bye") is not True:
                errs.append(f"{variant}: alice's BYE got {a.get('bye')}, bob got it: {b.get('bye')}")
            added = self._sip_stat("streams_added") - added_before
            if added != (1 if variant == "append" else 0):
                errs.append(f"{variant}: sip.streams_added grew by {added}, wanted {1 if variant == 'append' else 0}")
            # append: alice's answer ended the disabled audio (RFC 3264 8.2), whose relay ports went
            # back then; replace: the image took the audio's ports, nothing was removed.
            removed = self._sip_stat("streams_removed") - removed_before
            if removed != (1 if variant == "append" else 0):
                errs.append(f"{variant}: sip.streams_removed grew by {removed}, "
                            f"wanted {1 if variant == 'append' else 0}")
            line = self.wait_new_cdr(cdr_before)
            pairs_after = self._port_pairs_in_use()
            if pairs_after != pairs_before:
                errs.append(f"{variant}: relay port pairs in use {pairs_before} before the call, "
                            f"{pairs_after} after it")
            if line is None:
                errs.append(f"{variant}: no new CDR line")
                continue
            rec = json.loads(line)
            rtp = rec.get("rtp") or {}
            self._progress(f"{variant}: cdr t38 {rec.get('t38')} codec {rec.get('codec')} result {rec.get('result')} "
                           f"hangup {rec.get('hangup')} rtp " + json.dumps(
                               {d: {k: (rtp.get(d) or {}).get(k) for k in ("packets", "lost")} for d in rtp}))
            if rec.get("t38") is not True or rec.get("codec") != "PCMU":
                errs.append(f"{variant}: the record says t38 {rec.get('t38')}, codec {rec.get('codec')}")
            if rec.get("result") != 200 or rec.get("hangup") != "caller":
                errs.append(f"{variant}: the record's result {rec.get('result')}, hangup {rec.get('hangup')}")
            for d in ("caller_to_callee", "callee_to_caller"):
                got = rtp.get(d) or {}
                if got.get("packets") != T38_PACKETS or got.get("lost") != 0:
                    errs.append(f"{variant}: the record's {d} packets {got.get('packets')}, lost {got.get('lost')}; "
                                f"wanted {T38_PACKETS} UDPTL packets, 0 lost")
        if errs:
            self._fail("; ".join(errs))

    def _video_call(self, tdir, service, count, alice_scenario="uac_call_video.xml",
                    bob_scenario="uas_answer_no_video.xml", sample_from=1.5):
        """alice (alice_scenario) calls `service`, which reaches bob (bob_scenario), while
        relay.port_pairs are sampled five times, 0.5 s apart from `sample_from` s after she starts
        (the call is up; its audio ends ~5 s after she starts).
        Fails the test when a sipp fails; returns the errors: RTP short of `count` each way, samples with more
        than the audio's pairs, and pairs in use after the call not back to where they were."""
        import threading
        import time
        before = self._port_pairs_in_use()
        result = {}

        def call():
            result["call"] = self._alice_calls_bob(tdir, count, bob_scenario=bob_scenario,
                                                   alice_scenario=alice_scenario, service=service)
        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        try:
            time.sleep(sample_from)  # the call is answered within a few hundred ms, and lasts ~5 s
            during = []
            for _ in range(5):
                during.append(self._port_pairs_in_use())
                time.sleep(0.5)
        finally:
            caller.join(timeout=30)
        if caller.is_alive() or "call" not in result:
            self._fail("alice's call did not end within 30 s")
        problems, excerpts = result["call"]
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        want = dict(before, acc=before.get("acc", 0) + 1, core=before.get("core", 0) + 1)
        self._progress(f"relay port pairs in use: {before} before, {during} during the call")
        for sample in during:
            if sample != want:
                errs.append(f"relay port pairs in use {sample} during the call, wanted {want}: the audio's only")
                break
        got_bob, got_alice = self._report(tdir, "bob")["received"], self._report(tdir, "alice")["received"]
        self._progress(f"RTP: bob got {got_bob}/{count}, alice {got_alice}/{count}")
        if (got_bob, got_alice) != (count, count):
            errs.append(f"RTP: bob got {got_bob}, alice {got_alice}, wanted {count} each")
        deadline = time.monotonic() + 5
        after = self._port_pairs_in_use()
        while after != before and time.monotonic() < deadline:
            time.sleep(0.2)
            after = self._port_pairs_in_use()
        if after != before:
            errs.append(f"relay port pairs in use {after} after the call, {before} before it")
        return errs

    def _video_port_offered_to_bob(self, tdir, invite=0):
        """The port of the m=video line of the `invite`th INVITE bob got (None: no such INVITE or
        no video)."""
        invites = [m for m in read_trace(os.path.join(tdir, "bob.msg")) if m["dir"] == "in" and _is_request(m, "INVITE")]
        found = re.search(r"m=video (\d+) ", invites[invite]["body"]) if len(invites) > invite else None
        return int(found.group(1)) if found else None

    def test_declined_video_gives_its_ports_back(self, tdir):
        removed_before = self._sip_stat("streams_removed")
        errs = self._video_call(tdir, "bob", 150)
        offered = self._video_port_offered_to_bob(tdir)
        self._progress(f"bob was offered the video on port {offered}")
        if not offered:
            errs.append(f"bob was offered the video on port {offered}, wanted a relay port")
        removed = self._sip_stat("streams_removed") - removed_before
        if removed != 1:
            errs.append(f"sip.streams_removed grew by {removed}, wanted 1")
        if errs:
            self._fail("; ".join(errs))

    def test_video_disabled_for_a_destination_without_it(self, tdir):
        refused = self._sip_stat("codec_offers_refused")
        errs = self._video_call(tdir, "bob-novideo", 150)
        offered = self._video_port_offered_to_bob(tdir)
        self._progress(f"bob-novideo (mt=audio/image) was offered the video on port {offered}")
        if offered != 0:
            errs.append(f"bob was offered the video on port {offered}, wanted 0 (mt=audio/image)")
        if self._sip_stat("codec_offers_refused") != refused:
            errs.append("sip.codec_offers_refused grew: the audio should have passed")
        if errs:
            self._fail("; ".join(errs))

    def test_codec_preference_orders_the_offer(self, tdir):
        _, offered, answered, errs = self._codec_call(tdir, "bob-alawfirst", "PCMU")
        if offered != "8 0 101":
            errs.append(f"bob's INVITE offered {offered!r}, wanted '8 0 101' (co=PCMA/PCMU/telephone-event's order)")
        if answered != "0 101":
            errs.append(f"alice's 200 answered {answered!r}, wanted bob's own '0 101'")
        if errs:
            self._fail("; ".join(errs))

    def test_refused_video_gives_its_ports_back(self, tdir):
        added_before, taken_before = self._sip_stat("streams_added"), self._sip_stat("streams_taken_back")
        errs = self._video_call(tdir, "bob", 150, alice_scenario="uac_reinvite_video_refused.xml",
                                bob_scenario="uas_refuse_reinvite.xml", sample_from=2.0)
        offered = self._video_port_offered_to_bob(tdir, invite=1)
        self._progress(f"bob's re-INVITE offered the video on port {offered}")
        if not offered:
            errs.append(f"bob's re-INVITE offered the video on port {offered}, wanted a relay port")
        refusals = [m for m in read_trace(os.path.join(tdir, "alice.msg"))
                    if m["dir"] == "in" and m["start"].startswith("SIP/2.0 488")]
        if not refusals:
            errs.append("alice got no 488 for her re-INVITE")
        added = self._sip_stat("streams_added") - added_before
        taken = self._sip_stat("streams_taken_back") - taken_before
        self._progress(f"sip.streams_added +{added}, sip.streams_taken_back +{taken}")
        if (added, taken) != (1, 1):
            errs.append(f"sip.streams_added grew by {added}, streams_taken_back by {taken}; wanted 1 and 1")
        if errs:
            self._fail("; ".join(errs))

    @staticmethod
    def _audio_formats(body):
        """The formats of an SDP body's first m=audio line, or None."""
        m = re.search(r"^m=audio \d+ RTP/AVP ([^\n]*)$", body or "", re.M)
        return m.group(1).strip() if m else None

    def _codec_call(self, tdir, service, codec, bob_scenario="uas_answer.xml", count=150):
        """alice (uac_call: 0 8 101) calls `service`, which reaches bob (bob_scenario), `count` RTP
        packets each way. Fails the test when a sipp fails; returns (the body of the INVITE bob
        got, "" if none; its audio formats; those of the 200 alice got; errors: RTP short of
        `count` either way, a call record whose codec is not `codec`)."""
        before = len(self.cdr_lines())
        problems, excerpts = self._alice_calls_bob(tdir, count, bob_scenario=bob_scenario, service=service)
        if problems:
            self._fail("; ".join(problems) + "\n" + excerpts)
        errs = []
        bob_invites = [m for m in read_trace(os.path.join(tdir, "bob.msg"))
                       if m["dir"] == "in" and _is_request(m, "INVITE")]
        alice_oks = [m for m in read_trace(os.path.join(tdir, "alice.msg"))
                     if m["dir"] == "in" and m["start"].startswith("SIP/2.0 200") and "m=audio" in m["body"]]
        body = bob_invites[0]["body"] if bob_invites else ""
        offered = self._audio_formats(body) if bob_invites else None
        answered = self._audio_formats(alice_oks[0]["body"]) if alice_oks else None
        self._progress(f"alice offered 0 8 101; bob was offered {offered!r}; alice was answered {answered!r}")
        got_bob, got_alice = self._report(tdir, "bob")["received"], self._report(tdir, "alice")["received"]
        self._progress(f"RTP: bob got {got_bob}/{count}, alice {got_alice}/{count}")
        if (got_bob, got_alice) != (count, count):
            errs.append(f"RTP: bob got {got_bob}, alice {got_alice}, wanted {count} each")
        lines = self._wait_cdrs(before, 1)
        rec = json.loads(lines[-1]) if lines else {}
        self._progress(f"cdr: result {rec.get('result')} codec {rec.get('codec')}")
        if rec.get("codec") != codec:
            errs.append(f"the call record says codec {rec.get('codec')!r}, wanted {codec}")
        return body, offered, answered, errs

    def test_codec_filter(self, tdir):
        body, offered, answered, errs = self._codec_call(tdir, "bob-alaw", "PCMA", bob_scenario="uas_answer_pcma.xml")
        if offered != "8 101" or "PCMU" in body:
            errs.append(f"bob's INVITE offered {offered!r} (wanted '8 101', no PCMU rtpmap)")
        if answered != "8 101":
            errs.append(f"alice's 200 answered {answered!r}, wanted '8 101'")

        # An offer with no codec bob-alaw allows: 488 from the appliance, nobody rung.
        refused = self._sip_stat("codec_offers_refused")
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        bob2 = self._start_uas(tdir, "bob2", BOB, "uas_answer_pcma.xml",
                               self._rtp_keys(tdir, name="bob2", rtp_count=1, rtp_delay=0.5))
        try:
            alice2 = self.sipp(tdir, "alice2", ALICE, "uac_not_acceptable.xml", remote=f"{self._c('SBC_ACC')}:5060",
                               service="bob-alaw", keys={"rtp_port": 6000})
            rc = self.wait_sipp(alice2, timeout=8)
        finally:
            self.kill_proc(bob2)
        refused_after = self._sip_stat("codec_offers_refused")
        rung = [m for m in read_trace(os.path.join(tdir, "bob2.msg")) if m["dir"] == "in" and _is_request(m, "INVITE")]
        self._progress(f"PCMU-only offer: alice's sipp exit {rc}; bob got {len(rung)} INVITE(s); "
                       f"sip.codec_offers_refused {refused} -> {refused_after}")
        if rc != 0:
            errs.append(f"alice's PCMU-only call did not end with 488 (sipp exit {rc})\n" + self.sipp_excerpt(alice2))
        if rung:
            errs.append(f"bob was rung {len(rung)} time(s) for an offer his co= cannot take")
        if refused_after - refused != 1:
            errs.append(f"sip.codec_offers_refused grew by {refused_after - refused}, wanted 1")
        if errs:
            self._fail("; ".join(errs))
