#!/usr/bin/env python3
"""sipferry lab: copies of the SIP to a HEP collector (a mixin for the lab runner, tests/lab/run).

  hep_copies_of_a_call  The collector is a real one: Kamailio with its sipcapture module (what
                    Homer 5 used as its capture server), started by the test in sf-sbc on
                    127.0.0.1:9060. Its event_route[sipcapture:request] logs, for every HEPv3
                    packet it decodes, the version, IP family and protocol, source and destination
                    address and port, time, protocol type, capture id, auth key, correlation id and the payload
                    (base64). configs/lab.conf has [hep] off (collector empty): `sipferryctl stats`
                    says hep enabled false; the test sets `collector = 127.0.0.1:9060` and
                    `rtcp = true` in the staged copy of lab.conf (tools/lab up) and reloads:
                    enabled true. Then alice calls bob (uac_call / uas_answer, 50 RTP packets each
                    way, RTCP every ~0.5 s from port 6001). Every packet: HEP version 3, family 2
                    (IPv4), protocol 17 (UDP), type 1 (SIP) or 5 (RTCP), capture id 2001 and key
                    "sipferry-lab-hep" (lab.conf), a time within the test's wall-clock window
                    (+- 1 s). The copies with the call's two Call-IDs (alice's, and the one bob got
                    on leg B) are exactly the messages of alice's and bob's sipp traces, each once
                    (as multisets): what a phone sent from its address and port to the appliance's
                    address of that side (192.0.2.1 or 198.51.100.1, port 5060), what it received
                    the other way round; start line, headers and body the same. Causality on the
                    copies' clock: the INVITE relayed to bob no earlier than alice's, the 200
                    relayed to alice no earlier than bob's, the BYE relayed no earlier than the one
                    that came in. The RTCP copies (_check_rtcp_copies): each phone's reports, from
                    its RTCP address, correlation id (logged too) its leg's Call-ID, Homer's JSON,
                    each one a report the other phone received. `stats` hep: sent grew by at least
                    the copies seen, rtcp by the RTCP copies, no drops.
                    Then the staged lab.conf is restored and reloaded (also on failure): enabled
                    false, and an OPTIONS from alice answered 200 meanwhile reaches the collector,
                    still running, with no copy. Kamailio is stopped by PID also on failure. Prints
                    the copies per leg and their time against the phones' traces. About 7 s.
"""
import base64
import json
import os
import re
import shutil
import subprocess
import time

from transfer_tests import parse_sip, read_trace, _h, _is_request  # sipp -trace_msg parsing

HEP_TESTS = ["hep_copies_of_a_call"]
HEP_COLLECTOR = ("127.0.0.1", 9060)  # where the test points [hep] collector (sf-sbc's loopback)
STAGED_CONF = "/run/sipferry-lab/stage/configs/lab.conf"  # what the daemon reloads (tools/lab up)
TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token (public, lab only)
HEP_CAPTURE_ID = 2001  # configs/lab.conf [hep] capture_id
HEP_PASSWORD = "sipferry-lab-hep"  # configs/lab.conf [hep] password
HEP_RTP_COUNT = 50
HEP_WINDOW_SLACK = 1.0  # seconds: copies' times against the test's wall-clock window
HEP_SETTLE = 0.5  # seconds after the call for the last copies to reach the collector

# Kamailio as the collector: sipcapture decodes HEP; the event route logs it on one line and drops
# it (no database: sipcapture is given a db_text directory it never writes to).
KAMAILIO_CFG = """#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:{addr}:{port}
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "db_text.so"
loadmodule "sipcapture.so"
modparam("xlog", "buf_size", 65536)
modparam("sipcapture", "db_url", "text://{db}")
modparam("sipcapture", "hep_capture_on", 1)
modparam("sipcapture", "nonsip_hook", 1)
event_route[sipcapture:request] {{
    xlog("L_ALERT", "SFHEP v=$hep(version) fam=$hep(0x001) proto=$hep(0x002) src=$hep(0x003) sport=$hep(0x007) dst=$hep(0x004) dport=$hep(0x008) sec=$hep(0x009) usec=$hep(0x00a) type=$hep(0x00b) id=$hep(0x00c) key=$hep(0x00e) cid=$hep(0x011) payload=$(hep(0x00f){{s.encode.base64}})\\n");
    drop;
}}
request_route {{
    drop;
}}
"""
_HEP_LINE = re.compile(r"SFHEP v=(\S*) fam=(\S*) proto=(\S*) src=(\S*) sport=(\S*) dst=(\S*) dport=(\S*) "
                       r"sec=(\S*) usec=(\S*) type=(\S*) id=(\S*) key=(\S*) cid=(\S*) payload=(\S*)")


def read_collector_log(path):
    """Kamailio's log -> [{v, fam, proto, src, dst (addr:port), time (epoch s), type, id, key, cid (the
    correlation id), raw (the payload), msg (it parsed as SIP)}]."""
    out = []
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return out
    for m in _HEP_LINE.finditer(text):
        v, fam, proto, src, sport, dst, dport, sec, usec, typ, capture_id, key, corr, payload = m.groups()
        try:
            raw = base64.b64decode(payload).decode("utf-8", "replace")
            t = int(sec) + int(usec) / 1e6
        except ValueError:
            raw, t = "", None
        out.append({"v": v, "fam": fam, "proto": proto, "src": f"{src}:{sport}", "dst": f"{dst}:{dport}",
                    "time": t, "type": typ, "id": capture_id, "key": key, "cid": corr, "raw": raw,
                    "msg": parse_sip(raw)})
    return out


def _key(m):
    """What must match between a copy and a phone's trace entry: start line, every header, body."""
    return (m["start"], tuple(sorted((k, tuple(v)) for k, v in m["headers"].items())), m["body"])


class HepTests:
    def _check_rtcp_copies(self, tdir, rtcp_copies, legs, errs):
        """[hep] rtcp: each phone's RTCP reports reach the collector as HEP type 5, from the phone's
        RTCP address (port 6001) to the appliance's relay address of its side (an odd port), with
        its leg's Call-ID as correlation id and Homer's JSON (type 200/201, ssrc, report_blocks
        with highest_seq_no, an SR's sender_information), each one a report the other phone
        received (the reports are relayed unchanged: its rtpsim's received_log), at least one per
        leg and at most one missing (a report in flight as the call ended)."""
        reports = {"A": self._report(tdir, "alice"), "B": self._report(tdir, "bob")}
        summary = []
        for call_id, _, phone, sbc, leg in legs:
            phone_ip, sbc_ip = phone.split(":")[0], sbc.split(":")[0]
            other = reports["B" if leg == "A" else "A"]
            received = [e for e in ((other.get("rtcp") or {}).get("received_log") or []) if e.get("pt") in (200, 201)]
            pool = [(e["pt"], e["ssrc"], tuple(b["highest_seq"] for b in (e.get("blocks") or [])[:1])) for e in received]
            mine = [c for c in rtcp_copies if c["src"].split(":")[0] == phone_ip]
            for c in mine:
                where = f"leg {leg} RTCP copy {c['src']} -> {c['dst']}"
                if c["src"] != f"{phone_ip}:6001" or c["dst"].split(":")[0] != sbc_ip or int(c["dst"].split(":")[1]) % 2 != 1:
                    errs.append(f"{where}: wanted from {phone_ip}:6001 to an odd port of {sbc_ip}")
                if c["cid"] != call_id:
                    errs.append(f"{where}: correlation id {c['cid']!r}, wanted the leg's Call-ID {call_id!r}")
                try:
                    j = json.loads(c["raw"])
                except ValueError:
                    errs.append(f"{where}: the payload is not JSON: {c['raw'][:200]!r}")
                    continue
                blocks = j.get("report_blocks")
                if j.get("type") not in (200, 201) or not isinstance(blocks, list) or len(blocks) > 1 or \
                        (j.get("type") == 200) != isinstance(j.get("sender_information"), dict):
                    errs.append(f"{where}: JSON {c['raw'][:300]}")
                    continue
                if j["type"] == 200 and not 0 < j["sender_information"].get("packets", -1) <= HEP_RTP_COUNT:
                    errs.append(f"{where}: an SR counting {j['sender_information'].get('packets')} packets sent, "
                                f"the phone sent {HEP_RTP_COUNT}")
                key = (j["type"], j.get("ssrc"), tuple(b.get("highest_seq_no") for b in blocks))
                if key in pool:
                    pool.remove(key)
                else:
                    errs.append(f"{where}: (type, ssrc, highest_seq_no) {key} is no report the other phone received "
                                f"(left: {pool[:4]})")
            if not mine or len(pool) > 1:
                errs.append(f"leg {leg}: {len(mine)} RTCP copies from {phone_ip} for {len(received)} reports the other "
                            f"phone received ({len(pool)} without a copy)")
            summary.append(f"leg {leg}: {len(mine)} RTCP copies, {len(received)} reports relayed")
        self._progress("[hep] rtcp: " + "; ".join(summary))

    def test_hep_copies_of_a_call(self, tdir):
        # The runner's constants and reporting (TransferTests' _c, _fail, _progress: in the runner's MRO).
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        SBC_ACC, SBC_CORE, RTPSIM = self._c("SBC_ACC"), self._c("SBC_CORE"), self._c("RTPSIM")
        kamailio = shutil.which("kamailio") or "/usr/sbin/kamailio"
        if not os.access(kamailio, os.X_OK):
            self._fail("kamailio not installed (tools/bootstrap installs Debian's kamailio: the lab's "
                       "HEP collector)")
        db = os.path.join(tdir, "db")
        os.makedirs(db, exist_ok=True)
        with open(os.path.join(db, "sip_capture"), "w") as f:
            f.write("id(int,auto) date(int) micro_ts(int)\n")
        cfg = os.path.join(tdir, "collector.cfg")
        with open(cfg, "w") as f:
            f.write(KAMAILIO_CFG.format(addr=HEP_COLLECTOR[0], port=HEP_COLLECTOR[1], db=db))
        chk = self.run([kamailio, "-c", "-f", cfg], timeout=15)
        if chk.returncode != 0:
            self._fail(f"kamailio -c refused the collector's config:\n{(chk.stdout + chk.stderr)[-1500:]}")
        if not os.path.isfile(STAGED_CONF):
            self._fail(f"{STAGED_CONF} missing: tools/lab up stages the config only when SIPFERRY_LAB_CONFIG is unset")
        original = open(STAGED_CONF).read()
        if not re.search(r"^\[hep\]\ncollector =[ \t]*$", re.sub(r"(?m)^#.*\n", "", original), re.M):
            self._fail("configs/lab.conf: expected [hep] with an empty `collector =` as its first key")
        if self.stats().get("hep", {}).get("enabled") is not False:
            self._fail(f"sipferryctl stats: hep should be off with configs/lab.conf ({self.stats().get('hep')})")
        log_path = os.path.join(tdir, "collector.log")
        rundir = os.path.join(tdir, "kamailio-run")
        os.makedirs(rundir, exist_ok=True)
        log = open(log_path, "w")
        collector = subprocess.Popen(["ip", "netns", "exec", "sf-sbc", kamailio, "-DD", "-E", "-f", cfg,
                                      "-Y", rundir, "-m", "32", "-M", "4"],
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append(collector)
        errs = []
        try:
            if not self.wait_listening("sf-sbc", HEP_COLLECTOR[1], timeout=5.0):
                self._fail("the collector (kamailio) did not start listening on "
                           f"{HEP_COLLECTOR[0]}:{HEP_COLLECTOR[1]} in sf-sbc\n" + open(log_path).read()[-1500:])
            try:
                with open(STAGED_CONF, "w") as f:
                    f.write(re.sub(r"(?m)^collector =[ \t]*$",
                                   f"collector = {HEP_COLLECTOR[0]}:{HEP_COLLECTOR[1]}\nrtcp = true", original, count=1))
                r = self._ctl(["reload"], token=TOKEN)
                hep_before = self.stats().get("hep", {})
                if r.returncode != 0 or not hep_before.get("enabled"):
                    self._fail(f"reload with [hep] collector set: exit {r.returncode} "
                               f"{(r.stdout + r.stderr)[:300]}; stats hep {hep_before}")
                t0 = time.time()
                # Both phones send RTCP on port 6001 (RTCP reports to the collector: [hep] rtcp).
                keys = {"rtpsim": f"{RTPSIM} --rtcp port --rtcp-interval 0.5", "reportdir": tdir, "rtp_port": 6000,
                        "rtp_count": HEP_RTP_COUNT, "rtp_delay": 0.5}
                self.call_pair(tdir, BOB, "uas_answer.xml", "uac_call.xml", "bob",
                               keys_uas=dict(keys, name="bob"), keys_uac=keys)
                for who in ("alice", "bob"):
                    self.wait_pidfile_exit(os.path.join(tdir, f"{who}.pid"), timeout=10)
                time.sleep(HEP_SETTLE)
                t1 = time.time()
                hep_after = self.stats().get("hep", {})
            finally:
                with open(STAGED_CONF, "w") as f:
                    f.write(original)
                r = self._ctl(["reload"], token=TOKEN)
                hep_off = self.stats().get("hep", {})
                if r.returncode != 0 or hep_off.get("enabled") is not False:
                    errs.append(f"reload of the original lab.conf: exit {r.returncode}; stats hep {hep_off}")
            # Off again: SIP still answered, nothing copied.
            p = self.probe(tdir, "options_after", ALICE, ["options", "--to", f"{SBC_ACC}:5060", "--expect", "200",
                                                         "--timeout", "3"])
            if p.returncode != 0:
                errs.append(f"OPTIONS from alice with [hep] off again: {(p.stdout + p.stderr).strip()[:200]}")
            time.sleep(HEP_SETTLE)
        finally:
            self.kill_proc(collector)
            if collector in self.procs:
                self.procs.remove(collector)
        copies = read_collector_log(log_path)
        late = [c for c in copies if c["src"].startswith(ALICE[1] + ":") and c["msg"]["start"].startswith("OPTIONS ")]
        if late:
            errs.append(f"{len(late)} copies of alice's OPTIONS sent after [hep] was turned off again")
        copies = [c for c in copies if c not in late]
        rtcp_copies = [c for c in copies if c["type"] == "5"]
        for c in copies:
            want = {"v": "3", "fam": "2", "proto": "17", "type": "5" if c in rtcp_copies else "1",
                    "id": str(HEP_CAPTURE_ID), "key": HEP_PASSWORD}
            bad = {k: c[k] for k, v in want.items() if c[k] != v}
            if bad:
                errs.append(f"copy {c['src']} -> {c['dst']} {c['msg']['start']!r}: {bad}, wanted {want}")
            if c["time"] is None or not t0 - HEP_WINDOW_SLACK <= c["time"] <= t1 + HEP_WINDOW_SLACK:
                errs.append(f"copy {c['msg']['start']!r} stamped {c['time']}, outside the test's window "
                            f"[{t0:.3f}, {t1:.3f}] +- {HEP_WINDOW_SLACK} s")
        if errs:
            self._fail("; ".join(errs[:5]))
        copies = [c for c in copies if c not in rtcp_copies]

        alice_trace = read_trace(os.path.join(tdir, "uac.msg"))
        bob_trace = read_trace(os.path.join(tdir, "uas.msg"))
        inv_a = next((m for m in alice_trace if m["dir"] == "out" and _is_request(m, "INVITE")), None)
        inv_b = next((m for m in bob_trace if m["dir"] == "in" and _is_request(m, "INVITE")), None)
        if not inv_a or not inv_b:
            self._fail("no INVITE in alice's or bob's sipp trace")
        legs = ((_h(inv_a, "Call-ID"), alice_trace, f"{ALICE[1]}:5060", f"{SBC_ACC}:5060", "A"),
                (_h(inv_b, "Call-ID"), bob_trace, f"{BOB[1]}:5060", f"{SBC_CORE}:5060", "B"))
        report = []
        for call_id, trace, phone, sbc, leg in legs:
            expected = []
            for m in trace:
                if _h(m, "Call-ID") != call_id:
                    continue
                src, dst = (phone, sbc) if m["dir"] == "out" else (sbc, phone)
                expected.append((src, dst) + _key(m))
            got = [(c["src"], c["dst"]) + _key(c["msg"]) for c in copies if _h(c["msg"], "Call-ID") == call_id]
            missing, extra = list(expected), []
            for g in got:
                if g in missing:
                    missing.remove(g)
                else:
                    extra.append(g)
            for what, items in (("missing", missing), ("extra", extra)):
                for i in items[:3]:
                    errs.append(f"leg {leg} ({call_id}): {what} copy {i[0]} -> {i[1]} {i[2]!r}")
            # The copy's time against the phone's trace time, per direction (sipp stamps what it
            # sent before the appliance gets it, and what it received after the appliance sent it).
            deltas = {"out": [], "in": []}
            for m in trace:
                if _h(m, "Call-ID") != call_id or m["time"] is None:
                    continue
                src, dst = (phone, sbc) if m["dir"] == "out" else (sbc, phone)
                c = next((c for c in copies if (c["src"], c["dst"]) == (src, dst) and _key(c["msg"]) == _key(m)), None)
                if c:
                    deltas[m["dir"]].append((c["time"] - m["time"]) * 1e6)
            spans = []
            for d, name in (("out", "to the appliance"), ("in", "from it")):
                v = sorted(deltas[d])
                if v:
                    spans.append(f"{name} median {v[len(v) // 2]:+.0f} us (n={len(v)})")
            report.append(f"leg {leg}: {len(got)} copies for {len(expected)} messages in the trace; copy time - "
                          f"phone's trace time: " + ", ".join(spans))
        self._progress("; ".join(report) + f"; {len(copies)} HEP packets in all")

        # Causality on the copies' own clock.
        def first(method, src, dst, response=False):
            for c in copies:
                if (c["src"], c["dst"]) != (src, dst):
                    continue
                start = c["msg"]["start"]
                cseq = (_h(c["msg"], "CSeq") or "").split()
                if response and start.startswith("SIP/2.0 200") and cseq[-1:] == [method]:
                    return c["time"]
                if not response and start.startswith(method + " "):
                    return c["time"]
            return None
        a, sa, b, sb = f"{ALICE[1]}:5060", f"{SBC_ACC}:5060", f"{BOB[1]}:5060", f"{SBC_CORE}:5060"
        pairs = [("INVITE in from alice", first("INVITE", a, sa), "INVITE out to bob", first("INVITE", sb, b)),
                 ("200 in from bob", first("INVITE", b, sb, True), "200 out to alice", first("INVITE", sa, a, True))]
        bye_a, bye_b = first("BYE", a, sa), first("BYE", b, sb)
        if bye_a is not None:
            pairs.append(("BYE in from alice", bye_a, "BYE out to bob", first("BYE", sb, b)))
        elif bye_b is not None:
            pairs.append(("BYE in from bob", bye_b, "BYE out to alice", first("BYE", sa, a)))
        else:
            errs.append("no BYE copied from either phone")
        for name_in, t_in, name_out, t_out in pairs:
            if t_in is None or t_out is None:
                errs.append(f"no copy of the {name_in if t_in is None else name_out}")
            elif t_out < t_in:
                errs.append(f"the {name_out} is stamped {(t_in - t_out) * 1e6:.0f} us before the {name_in}")

        self._check_rtcp_copies(tdir, rtcp_copies, legs, errs)
        sent = hep_after.get("sent", 0) - hep_before.get("sent", 0)
        if sent < len(copies) + len(rtcp_copies):
            errs.append(f"stats: hep sent grew by {sent}, the collector got {len(copies) + len(rtcp_copies)}")
        if hep_after.get("rtcp", 0) - hep_before.get("rtcp", 0) != len(rtcp_copies):
            errs.append(f"stats: hep rtcp {hep_before.get('rtcp')} -> {hep_after.get('rtcp')}, the collector got "
                        f"{len(rtcp_copies)} RTCP copies")
        for k in ("dropped_busy", "dropped_error", "too_big"):
            if hep_after.get(k, 0) != hep_before.get(k, 0):
                errs.append(f"stats: hep {k} {hep_before.get(k)} -> {hep_after.get(k)}")
        if errs:
            self._fail("; ".join(errs[:8]))
