#!/usr/bin/env python3
"""sipferry lab: packet capture over the management API (a mixin for the lab runner, tests/lab/run).

  capture_of_a_call  `sipferryctl capture start` is refused before anything runs: a filter that does
                    not compile (`udp port`) gets HTTP 400 with an error starting "filter:", a file
                    name with a '/' 400, a request without the token 401. Then a capture with the
                    filter `udp and (port 5060 or portrange 20000-29999)` (SIP and configs/lab.conf's
                    [media] relay ports) runs while alice calls bob (uac_call / uas_answer, 150 RTP
                    packets each way); a second start meanwhile gets 409; `capture stop` ends it
                    (ended_by "request"). The file, read by the pcapng reader below (stdlib only):
                    one section, an IDB per DPDK port (acc = interface 0, core = 1, flood = 2; if_name
                    the kernel interface af_packet sits on or dpdk:N, if_hardware the device), as many EPBs as
                    the status's `written` (dropped 0, matched >= written), every frame one the
                    filter takes, on acc or core only, each with an epb_flags direction that agrees
                    with its addresses (to the appliance: inbound, from it: outbound). SIP: the
                    INVITE, ACK and BYE inbound on acc from alice to 192.0.2.1 and outbound on core
                    from 198.51.100.1 to bob, the 200s for INVITE and BYE inbound on core from bob
                    and outbound on acc to alice; a relayed INVITE, 200 for INVITE and BYE no earlier
                    than the inbound one that caused it (the B2BUA ACKs bob's 200 and answers alice's
                    BYE itself: no order for those). RTP, per direction: every packet received inbound on one interface
                    and once outbound on the other with the same UDP payload (RTP header and
                    payload: only Ethernet/IPv4/UDP headers are rewritten), from the appliance's
                    address and MAC to the phone's, 150 each (rtpsim's reports) and as many as the
                    call record (`sipferryctl cdrs`, the new record) says were relayed. Every frame
                    has a valid IPv4 header checksum and a valid, non-zero UDP checksum (a relayed
                    frame holding only the pseudo-header sum, the TX offload value, is named as
                    such). Timestamps (if_tsresol as the IDB says) lie within the test's wall-clock
                    window (time.time() before start and after stop, +- 1 s); a relayed RTP frame's
                    outbound timestamp is >= its inbound original's. Then a 1-s capture of an idle
                    port (`udp port 5999 --seconds 1`) ends by itself (ended_by "time", written 0, a
                    file of SHB and IDBs only), and re-using the first file's name gets 409. The
                    files the test made are removed also on failure (a copy of the call's capture
                    stays in the test's log dir). Prints the relay latency (outbound - inbound
                    timestamps) and the capture's clock against rtpsim's send and receive times.
                    About 7 s.
"""
import json
import os
import re
import shutil
import struct
import time

CAPTURE_TESTS = ["capture_of_a_call"]
TOKEN = "sipferry-lab-call-control"  # configs/lab.conf [api] token (public, lab only)
CAPTURE_DIR = "/run/sipferry-lab/captures"  # configs/lab.conf [capture] dir
RELAY_PORTS = (20000, 29999)  # configs/lab.conf [media] port_min, port_max
SIP_PORT = 5060
CALL_FILTER = f"udp and (port {SIP_PORT} or portrange {RELAY_PORTS[0]}-{RELAY_PORTS[1]})"
IDLE_FILTER = "udp port 5999"  # nothing in the lab uses it: the 1-s capture writes no frame
CAPTURE_RTP_COUNT = 150
PORT_ACC, PORT_CORE = 0, 1  # DPDK port ids = pcapng interface ids (configs/lab.conf order)
# configs/lab.conf's ports by DPDK port id: (device, the name rte_pcapng gives the interface)
LAB_PORTS = (("net_af_packet0", "acc"), ("net_af_packet1", "core"), ("net_memif0", "dpdk:2"))
SSRC_ALICE, SSRC_BOB = 0xA11CE, 0xB0B  # uac_call.xml / uas_answer.xml rtpsim --ssrc
WINDOW_SLACK_NS = 1_000_000_000  # timestamps: the test's wall-clock window +- 1 s
STATUS_WAIT = 5.0  # seconds for the 1-s capture to end by itself


# ---- pcapng (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html) -------------------
class PcapngError(Exception):
    pass


SHB_TYPE, IDB_TYPE, EPB_TYPE = 0x0A0D0D0A, 1, 6
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT, OPT_IF_NAME, OPT_IF_TSRESOL, OPT_IF_TSOFFSET, OPT_IF_HARDWARE, OPT_EPB_FLAGS = 0, 2, 9, 14, 15, 2
DIR_NAMES = {0: "unknown", 1: "inbound", 2: "outbound", 3: "invalid(3)"}


def _options(buf, e, where):
    """A block's options -> [(code, value bytes)]: code and length (16 bits each), the value padded
    to 32 bits, until opt_endofopt or the end of the block."""
    out, i = [], 0
    while i + 4 <= len(buf):
        code, length = struct.unpack_from(e + "HH", buf, i)
        i += 4
        if code == OPT_ENDOFOPT:
            break
        if i + length > len(buf):
            raise PcapngError(f"{where}: option {code} of {length} octets runs past its block")
        out.append((code, bytes(buf[i:i + length])))
        i += (length + 3) & ~3
    return out


def _units_per_second(tsresol):
    """if_tsresol -> timestamp units per second (MSB clear: 10^-v s, set: 2^-v s)."""
    return 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol


def read_pcapng(data):
    """Parses a whole pcapng file: {"sections", "shb_options", "interfaces": [{linktype, snaplen,
    name, hardware, tsresol (None: absent, 6 applies), units, tsoffset, options}], "packets": [{n, iface,
    ts_ns (wall clock, ns since the epoch), caplen, origlen, frame, flags (None: no epb_flags),
    direction (flags & 3, None without flags), options}], "other_blocks": {type: count}}.
    Raises PcapngError for anything malformed."""
    pos, e, sections = 0, None, 0
    ifaces, packets, other, shb_options = [], [], {}, []
    while pos < len(data):
        if len(data) - pos < 12:
            raise PcapngError(f"{len(data) - pos} stray octets at offset {pos}")
        if struct.unpack_from("<I", data, pos)[0] == SHB_TYPE:  # palindromic: either byte order
            bom = data[pos + 8:pos + 12]
            if bom == struct.pack("<I", BYTE_ORDER_MAGIC):
                e = "<"
            elif bom == struct.pack(">I", BYTE_ORDER_MAGIC):
                e = ">"
            else:
                raise PcapngError(f"SHB at {pos}: byte-order magic {bom.hex()}")
        elif e is None:
            raise PcapngError(f"the file starts with block type {struct.unpack_from('<I', data, 0)[0]:#x}, "
                              f"not a Section Header Block")
        btype, blen = struct.unpack_from(e + "II", data, pos)
        if blen < 12 or blen % 4 or pos + blen > len(data):
            raise PcapngError(f"block type {btype:#x} at {pos}: total length {blen} (file {len(data)} octets)")
        if struct.unpack_from(e + "I", data, pos + blen - 4)[0] != blen:
            raise PcapngError(f"block type {btype:#x} at {pos}: trailing length differs from {blen}")
        body = data[pos + 8:pos + blen - 4]
        where = f"block type {btype:#x} at {pos}"
        if btype == SHB_TYPE:
            if len(body) < 16:
                raise PcapngError(f"{where}: SHB body of {len(body)} octets")
            major, minor = struct.unpack_from(e + "HH", body, 4)
            if major != 1:
                raise PcapngError(f"{where}: pcapng version {major}.{minor}")
            sections += 1
            ifaces = []  # interface ids are per section
            shb_options = _options(body[16:], e, where)
        elif btype == IDB_TYPE:
            if len(body) < 8:
                raise PcapngError(f"{where}: IDB body of {len(body)} octets")
            linktype, _reserved, snaplen = struct.unpack_from(e + "HHI", body, 0)
            opts = _options(body[8:], e, where)
            name, hardware, tsresol, tsoffset = None, None, None, 0
            for code, v in opts:
                if code == OPT_IF_NAME and name is None:
                    name = v.decode("utf-8", "replace").rstrip("\0")
                elif code == OPT_IF_HARDWARE and hardware is None:
                    hardware = v.decode("utf-8", "replace").rstrip("\0")
                elif code == OPT_IF_TSRESOL:
                    if len(v) != 1:
                        raise PcapngError(f"{where}: if_tsresol of {len(v)} octets")
                    tsresol = v[0]
                elif code == OPT_IF_TSOFFSET:
                    if len(v) != 8:
                        raise PcapngError(f"{where}: if_tsoffset of {len(v)} octets")
                    tsoffset = struct.unpack(e + "q", v)[0]
            ifaces.append({"id": len(ifaces), "linktype": linktype, "snaplen": snaplen, "name": name, "hardware": hardware,
                           "tsresol": tsresol, "units": _units_per_second(6 if tsresol is None else tsresol),
                           "tsoffset": tsoffset, "options": opts})
        elif btype == EPB_TYPE:
            if len(body) < 20:
                raise PcapngError(f"{where}: EPB body of {len(body)} octets")
            iid, ts_hi, ts_lo, caplen, origlen = struct.unpack_from(e + "IIIII", body, 0)
            if iid >= len(ifaces):
                raise PcapngError(f"{where}: EPB of interface {iid}, the section has {len(ifaces)} IDBs")
            padded = (caplen + 3) & ~3
            if 20 + padded > len(body):
                raise PcapngError(f"{where}: captured length {caplen} runs past the block")
            if caplen > origlen:
                raise PcapngError(f"{where}: captured length {caplen} > original length {origlen}")
            opts = _options(body[20 + padded:], e, where)
            flags = None
            for code, v in opts:
                if code == OPT_EPB_FLAGS:
                    if len(v) != 4:
                        raise PcapngError(f"{where}: epb_flags of {len(v)} octets")
                    flags = struct.unpack(e + "I", v)[0]
            ifc = ifaces[iid]
            raw = (ts_hi << 32) | ts_lo
            packets.append({"n": len(packets) + 1, "iface": iid, "ts_raw": raw,
                            "ts_ns": raw * 1_000_000_000 // ifc["units"] + ifc["tsoffset"] * 1_000_000_000,
                            "caplen": caplen, "origlen": origlen, "frame": bytes(body[20:20 + caplen]),
                            "flags": flags, "direction": None if flags is None else flags & 3,
                            "options": opts, "block_len": blen})
        else:
            other[btype] = other.get(btype, 0) + 1
        pos += blen
    if sections == 0:
        raise PcapngError("empty file")
    return {"sections": sections, "shb_options": shb_options, "interfaces": ifaces, "packets": packets,
            "other_blocks": other}


# ---- Ethernet / IPv4 / UDP ----------------------------------------------------------------------
def _ones_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _ip(a):
    return ".".join(str(x) for x in a)


def _mac(a):
    return ":".join(f"{x:02x}" for x in a)


def parse_frame(frame):
    """An Ethernet II / IPv4 / UDP frame -> dict (addresses, ports, payload, checksum verdicts), or
    None for anything else (the reason under "why")."""
    if len(frame) < 14 + 20:
        return {"udp": False, "why": f"{len(frame)} octets"}
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype != 0x0800:
        return {"udp": False, "why": f"ethertype {ethertype:#06x}"}
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    frag = struct.unpack_from("!H", ip, 6)[0] & 0x3FFF
    if ip[0] >> 4 != 4 or ihl < 20 or total < ihl or total > len(ip):
        return {"udp": False, "why": f"IPv4 header {ip[:20].hex()} in {len(ip)} octets"}
    if ip[9] != 17:
        return {"udp": False, "why": f"IP protocol {ip[9]}"}
    if frag:
        return {"udp": False, "why": "an IP fragment"}
    src, dst = ip[12:16], ip[16:20]
    udp = ip[ihl:total]
    if len(udp) < 8:
        return {"udp": False, "why": f"UDP of {len(udp)} octets"}
    sport, dport, ulen, cksum = struct.unpack_from("!HHHH", udp, 0)
    if ulen < 8 or ulen > len(udp):
        return {"udp": False, "why": f"UDP length {ulen} in {len(udp)} octets"}
    udp = udp[:ulen]
    ip_ok = _ones_sum(ip[:ihl]) == 0xFFFF
    pseudo = src + dst + b"\0\x11" + struct.pack("!H", ulen)
    if cksum == 0:
        udp_ck = "none (0)"
    elif _ones_sum(pseudo + udp) == 0xFFFF:
        udp_ck = "ok"
    else:
        want = (~_ones_sum(pseudo + udp[:6] + b"\0\0" + udp[8:])) & 0xFFFF or 0xFFFF
        if cksum == _ones_sum(pseudo):
            udp_ck = f"pseudo-header sum only ({cksum:#06x}: the TX offload value; the full one is {want:#06x})"
        else:
            udp_ck = f"bad ({cksum:#06x}, wanted {want:#06x})"
    return {"udp": True, "eth_dst": frame[0:6], "eth_src": frame[6:12], "src": _ip(src), "dst": _ip(dst),
            "ttl": ip[8], "sport": sport, "dport": dport, "payload": bytes(udp[8:]),
            "ip_ck": "ok" if ip_ok else f"bad (header {ip[:ihl].hex()})", "udp_ck": udp_ck}


def _in_range(port):
    return RELAY_PORTS[0] <= port <= RELAY_PORTS[1]


def _sip_start(payload):
    """(start line, CSeq method) of a SIP message, or (None, None)."""
    line = payload.split(b"\r\n", 1)[0].decode("latin-1")
    if not (line.startswith("SIP/2.0 ") or line.endswith(" SIP/2.0")):
        return None, None
    m = re.search(rb"(?im)^CSeq:[ \t]*\d+[ \t]+([A-Za-z]+)", payload)
    return line, m.group(1).decode() if m else None


def _is_rtp(payload):
    return len(payload) >= 12 and payload[0] >> 6 == 2 and not 72 <= (payload[1] & 0x7F) <= 76


class CaptureTests:
    """Packet capture over the management API; mixed into the runner class of tests/lab/run (uses
    MoreTransferTests._ctl, TransferTests._alice_calls_bob, _report, _wait_cdrs and the runner's
    _c, _fail, _progress, cdr_lines)."""

    # ---- the API ------------------------------------------------------------------------------
    def _capture(self, args, token=TOKEN):
        """`sipferryctl capture ARGS` -> (exit code, HTTP status or None, JSON body or None, output)."""
        r = self._ctl(["capture"] + list(args), token=token)
        m = re.search(r"HTTP (\d{3})", r.stderr)
        try:
            body = json.loads(r.stdout)
        except ValueError:
            body = None
        code = int(m.group(1)) if m else (200 if r.returncode == 0 else None)
        return r.returncode, code, body, (r.stdout + r.stderr).strip()

    def _capture_status(self):
        rc, _, st, out = self._capture(["status"], token=None)
        if rc != 0 or not isinstance(st, dict):
            self._fail(f"sipferryctl capture status: exit {rc}: {out[:300]}")
        return st

    def _expect_refused(self, what, args, status, errs, error_prefix=None, token=TOKEN):
        """A `capture start` that must be refused with HTTP `status` (sipferryctl exit 1)."""
        rc, code, body, out = self._capture(["start"] + list(args), token=token)
        err = body.get("error") if isinstance(body, dict) else None
        self._progress(f"{what}: exit {rc}, HTTP {code}, {out[:200]!r}")
        if rc != 1 or code != status:
            errs.append(f"{what}: exit {rc} HTTP {code}, wanted exit 1 HTTP {status}: {out[:300]}")
        elif not isinstance(err, str) or (error_prefix and not err.startswith(error_prefix)):
            errs.append(f"{what}: error {err!r}, wanted a text" +
                        (f" starting {error_prefix!r}" if error_prefix else ""))

    # ---- the file -----------------------------------------------------------------------------
    def _read_capture(self, path, tdir=None):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            self._fail(f"capture file unreadable: {e}")
        if tdir:
            shutil.copy(path, os.path.join(tdir, os.path.basename(path)))
        try:
            return read_pcapng(data), len(data)
        except PcapngError as e:
            self._fail(f"{path} is no valid pcapng: {e}")

    def _check_interfaces(self, cap, errs, what):
        ifs = cap["interfaces"]
        desc = [(i["id"], i["name"], i["hardware"], i["linktype"], i["tsresol"]) for i in ifs]
        if cap["sections"] != 1:
            errs.append(f"{what}: {cap['sections']} sections, wanted 1")
        if len(ifs) != len(LAB_PORTS):
            errs.append(f"{what}: interfaces {desc}, wanted one per DPDK port: {LAB_PORTS}")
            if len(ifs) < 2:
                return desc
        for i in ifs:
            if i["linktype"] != 1:
                errs.append(f"{what}: interface {i['id']} ({i['name']}) link type {i['linktype']}, wanted 1 (Ethernet)")
        # rte_pcapng names an interface after the kernel's interface the device sits on where it has
        # one (af_packet: iface=acc), else dpdk:PORT; the device's own name goes into if_hardware
        # (vdev-net_af_packet0).
        for pid, (dev, ifname) in enumerate(LAB_PORTS):
            if pid >= len(ifs):
                break
            hw = ifs[pid]["hardware"] or ""
            if ifs[pid]["name"] not in (dev, ifname) and dev not in hw:
                errs.append(f"{what}: interface {pid} is named {ifs[pid]['name']!r} (if_hardware {hw!r}), "
                            f"wanted DPDK port {pid}: {dev} ({ifname})")
        return desc

    # ---- the test -----------------------------------------------------------------------------
    def test_capture_of_a_call(self, tdir):
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        tag = f"{os.getpid()}-{int(time.time() * 1000)}"
        name, idle, other = (f"lab-{k}-{tag}.pcapng" for k in ("call", "idle", "other"))
        mine = [os.path.join(CAPTURE_DIR, n) for n in (name, idle, other)]
        existing = [p for p in mine if os.path.exists(p)]
        if existing:
            self._fail(f"capture files exist before the test: {existing}")
        path = os.path.join(CAPTURE_DIR, name)
        errs = []
        try:
            st = self._capture_status()
            if st.get("running"):
                self._fail(f"a capture runs before the test: {st}")

            # 1. Refused before anything runs (nothing may start).
            self._expect_refused("a filter that does not compile", ["udp", "port", "--file", other], 400, errs,
                                 error_prefix="filter:")
            self._expect_refused("a file name with '/'", [CALL_FILTER, "--file", f"sub/{other}"], 400, errs)
            self._expect_refused("no token", [CALL_FILTER, "--file", other], 401, errs, token=None)
            if os.path.exists(os.path.join(CAPTURE_DIR, other)) or self._capture_status().get("running"):
                errs.append("a refused request started a capture")

            # 2. The capture of a call.
            cdr_before = len(self.cdr_lines())
            t0 = time.time()
            rc, code, st, out = self._capture(["start", CALL_FILTER, "--seconds", "60", "--file", name])
            if rc != 0 or not isinstance(st, dict) or not st.get("running") or st.get("file") != path:
                self._fail(f"capture start: exit {rc} HTTP {code}: {out[:300]} (wanted running, file {path})")
            self._progress(f"started: {out}")
            self._expect_refused("a second capture while one runs", ["udp", "--file", other], 409, errs)
            problems, excerpts = self._alice_calls_bob(tdir, CAPTURE_RTP_COUNT)
            rc, code, st, out = self._capture(["stop"])
            t1 = time.time()
            self._progress(f"stopped: {out}")
            if problems:
                self._fail("; ".join(problems) + "\n" + excerpts)
            if rc != 0 or not isinstance(st, dict):
                self._fail(f"capture stop: exit {rc} HTTP {code}: {out[:300]}")
            lines = self._wait_cdrs(cdr_before, 1)
            if not lines:
                self._fail("no call record for the call")
            try:
                file_rec = json.loads(lines[-1])
            except ValueError:
                self._fail(f"the call record is not JSON: {lines[-1][:300]}")
            rec = self._ctl_last_cdr(file_rec, errs)
            cap, size = self._read_capture(path, tdir)
            firsts = self._check_call_capture(cap, size, st, rec, (t0, t1), errs, (ALICE[1], BOB[1], SBC_ACC, SBC_CORE))
            # The capture's clock against the phones' (same host, wall clock): printed, not checked.
            ra, rb = self._report(tdir, "alice"), self._report(tdir, "bob")
            for label, sender, receiver in (("alice -> bob", ra, rb), ("bob -> alice", rb, ra)):
                fi, fo = firsts.get(label, (None, None))
                if fi is not None and fo is not None and sender.get("send_start") and receiver.get("first_rx_time"):
                    self._progress(f"RTP {label}: first packet sent by rtpsim at {sender['send_start']:.6f}, captured "
                                   f"inbound {(fi / 1e9 - sender['send_start']) * 1e3:+.3f} ms later, outbound "
                                   f"{(fo / 1e9 - sender['send_start']) * 1e3:+.3f} ms, received by rtpsim "
                                   f"{(receiver['first_rx_time'] - sender['send_start']) * 1e3:+.3f} ms")

            # 3. A capture that ends by its time, then the first file's name again.
            self._idle_capture(idle, errs)
            self._expect_refused("the finished file's name again", ["udp", "--file", name], 409, errs)
            st = self._capture_status()
            if st.get("running") or st.get("file") != os.path.join(CAPTURE_DIR, idle):
                errs.append(f"after the refused re-use the status is {st}, wanted the idle capture's (not running)")
        finally:
            try:
                st = self._capture_status()
                if st.get("running") and st.get("file") in mine:
                    self._capture(["stop"])
            finally:
                for p in mine:
                    try:
                        os.unlink(p)
                    except FileNotFoundError:
                        pass
        if errs:
            self._fail("; ".join(errs))

    def _ctl_last_cdr(self, file_rec, errs):
        """`sipferryctl cdrs`'s last record, which must be the one just written to the CDR file."""
        r = self._ctl(["cdrs"])
        try:
            recs = json.loads(r.stdout)
            rec = recs[-1]
        except (ValueError, IndexError, TypeError) as e:
            self._fail(f"sipferryctl cdrs: no last record ({e!r}): {(r.stdout + r.stderr)[-300:]}")
        if rec != file_rec:
            errs.append(f"sipferryctl cdrs' last record differs from the CDR file's new line: {rec} vs {file_rec}")
        self._progress(f"cdr rtp: {json.dumps(rec.get('rtp'))}")
        return rec

    def _idle_capture(self, idle, errs):
        """A 1-s capture of a port nobody uses: it ends by its time, and its file has no EPB."""
        t0 = time.time()
        rc, code, st, out = self._capture(["start", IDLE_FILTER, "--seconds", "1", "--file", idle])
        if rc != 0:
            errs.append(f"1-s capture start: exit {rc} HTTP {code}: {out[:300]}")
            return
        end = time.monotonic() + STATUS_WAIT
        while st.get("running") and time.monotonic() < end:
            time.sleep(0.2)
            st = self._capture_status()
        waited = time.time() - t0
        self._progress(f"1-s capture: {json.dumps(st)} (ended within {waited:.1f} s)")
        if st.get("running"):
            errs.append(f"the 1-s capture still runs after {STATUS_WAIT} s: {st}")
            return
        if st.get("ended_by") != "time" or st.get("written") != 0 or st.get("dropped") != 0 or \
                not 1.0 <= (st.get("seconds") or 0) <= 2.5:
            errs.append(f"the 1-s capture ended {st}, wanted ended_by time, written 0, dropped 0, seconds 1..2.5")
        cap, _ = self._read_capture(os.path.join(CAPTURE_DIR, idle))
        self._check_interfaces(cap, errs, "the 1-s capture")
        if cap["packets"] or cap["other_blocks"]:
            errs.append(f"the 1-s capture's file has {len(cap['packets'])} EPBs and other blocks "
                        f"{cap['other_blocks']}, wanted SHB and IDBs only")

    def _check_call_capture(self, cap, size, st, rec, window, errs, addrs):
        alice, bob, sbc_acc, sbc_core = addrs
        t0, t1 = window
        pk = cap["packets"]
        desc = self._check_interfaces(cap, errs, "the call's capture")
        epb_bytes = sum(p["block_len"] for p in pk)
        self._progress(f"file: {size} octets, interfaces (id, if_name, if_hardware, linktype, if_tsresol) {desc}, {len(pk)} EPBs "
                       f"({epb_bytes} octets), other blocks {cap['other_blocks']}")
        # Status against the file.
        if st.get("running") is not False or st.get("ended_by") != "request":
            errs.append(f"status after stop {st}: wanted running false, ended_by request")
        if st.get("written") != len(pk):
            errs.append(f"status written {st.get('written')}, the file has {len(pk)} EPBs")
        if st.get("dropped") != 0:
            errs.append(f"status dropped {st.get('dropped')}, wanted 0")
        if not isinstance(st.get("matched"), int) or st["matched"] < len(pk):
            errs.append(f"status matched {st.get('matched')}, wanted >= written ({len(pk)})")
        if st.get("bytes") not in (epb_bytes, size):
            errs.append(f"status bytes {st.get('bytes')}: neither the EPBs' {epb_bytes} nor the file's {size} octets")
        if not 0 < (st.get("seconds") or 0) <= t1 - t0 + 1:
            errs.append(f"status seconds {st.get('seconds')}, the capture ran within {t1 - t0:.1f} s")

        # Every frame: on acc or core, one the filter takes, with a direction that fits its
        # addresses, good checksums and a timestamp in the window.
        lo, hi = int(t0 * 1e9) - WINDOW_SLACK_NS, int(t1 * 1e9) + WINDOW_SLACK_NS
        own = {PORT_ACC: sbc_acc, PORT_CORE: sbc_core}
        bad = []
        backwards = 0
        for i, p in enumerate(pk):
            u = parse_frame(p["frame"])
            p["u"] = u
            what = f"frame {p['n']} (interface {p['iface']}, {DIR_NAMES.get(p['direction'], p['direction'])}"
            if u["udp"]:
                what += f", {u['src']}:{u['sport']} -> {u['dst']}:{u['dport']}, {len(u['payload'])} octets of payload"
            what += ")"
            if i and p["ts_ns"] < pk[i - 1]["ts_ns"]:
                backwards += 1
            if p["caplen"] != p["origlen"]:
                bad.append(f"{what}: captured {p['caplen']} of {p['origlen']} octets (snaplen 0: whole frames)")
            if not lo <= p["ts_ns"] <= hi:
                bad.append(f"{what}: timestamp {p['ts_ns'] / 1e9:.6f} (raw {p['ts_raw']}) outside the test's "
                           f"window {t0:.3f} .. {t1:.3f} +- 1 s")
            if p["iface"] not in own:
                bad.append(f"{what}: on interface {p['iface']} ({cap['interfaces'][p['iface']]['name']}), "
                           f"only acc and core carry the call")
                continue
            if not u["udp"]:
                bad.append(f"{what}: not IPv4/UDP ({u['why']}), the filter takes UDP only")
                continue
            if not ({u["sport"], u["dport"]} & {SIP_PORT} or _in_range(u["sport"]) or _in_range(u["dport"])):
                bad.append(f"{what}: the filter {CALL_FILTER!r} does not take it")
            addr = own[p["iface"]]
            want = 1 if u["dst"] == addr else 2 if u["src"] == addr else None
            if want is None:
                bad.append(f"{what}: neither from nor to the appliance's {addr} on this interface")
            elif p["direction"] != want:
                bad.append(f"{what}: epb_flags {p['flags']!r} (direction {DIR_NAMES.get(p['direction'], p['direction'])}), "
                           f"wanted {DIR_NAMES[want]}")
            if u["ip_ck"] != "ok" or u["udp_ck"] != "ok":
                bad.append(f"{what}: IPv4 header checksum {u['ip_ck']}, UDP checksum {u['udp_ck']}")
        if bad:
            errs.append(f"{len(bad)} frames wrong: " + "; ".join(bad[:8]) + ("; ..." if len(bad) > 8 else ""))
        if backwards:
            self._progress(f"note: {backwards} frames have a timestamp earlier than the frame before them in the file")
        udp = [p for p in pk if p["iface"] in own and p["u"]["udp"]]

        # SIP: each message inbound on its caller's side and outbound on the other.
        def sip(kind, method, iface, direction, src, dst):
            out = []
            for p in udp:
                u = p["u"]
                if p["iface"] != iface or p["direction"] != direction or SIP_PORT not in (u["sport"], u["dport"]):
                    continue
                if (u["src"], u["dst"]) != (src, dst):
                    continue
                line, cseq = _sip_start(u["payload"])
                if line is None or cseq != method:
                    continue
                if (kind == "request" and line.startswith(method + " ")) or (kind != "request" and line.startswith(f"SIP/2.0 {kind} ")):
                    out.append(p)
            return out
        a_in = (PORT_ACC, 1, alice, sbc_acc)
        a_out = (PORT_ACC, 2, sbc_acc, alice)
        c_in = (PORT_CORE, 1, bob, sbc_core)
        c_out = (PORT_CORE, 2, sbc_core, bob)
        seen = []
        # (caused: the outbound one is sent because the inbound one came; the B2BUA ACKs bob's 200
        # and answers alice's BYE itself, so those two pairs have no order.)
        for label, kind, method, first, then, caused in (("INVITE", "request", "INVITE", a_in, c_out, True),
                                                         ("200 for INVITE", "200", "INVITE", c_in, a_out, True),
                                                         ("ACK", "request", "ACK", a_in, c_out, False),
                                                         ("BYE", "request", "BYE", a_in, c_out, True),
                                                         ("200 for BYE", "200", "BYE", c_in, a_out, False)):
            got_in, got_out = sip(kind, method, *first), sip(kind, method, *then)
            seen.append(f"{label} {len(got_in)}/{len(got_out)}")
            names = {PORT_ACC: "acc", PORT_CORE: "core"}
            if not got_in:
                errs.append(f"no {label} inbound on {names[first[0]]} from {first[2]} to {first[3]}")
            if not got_out:
                errs.append(f"no {label} outbound on {names[then[0]]} from {then[2]} to {then[3]}")
            if caused and got_in and got_out and got_out[0]["ts_ns"] < got_in[0]["ts_ns"]:
                errs.append(f"{label}: outbound at {got_out[0]['ts_ns']} before it came in at {got_in[0]['ts_ns']}")
        self._progress("SIP inbound/outbound: " + ", ".join(seen))

        # RTP, per direction: received on one side, relayed unchanged but for the headers on the other.
        rtp = rec.get("rtp") or {}
        latencies = []
        firsts = {}  # label: (timestamp of the first inbound frame, of the first outbound one), ns
        for label, ssrc, (i_if, i_src, i_dst), (o_if, o_src, o_dst), cdr_key in (
                ("alice -> bob", SSRC_ALICE, (PORT_ACC, alice, sbc_acc), (PORT_CORE, sbc_core, bob), "caller_to_callee"),
                ("bob -> alice", SSRC_BOB, (PORT_CORE, bob, sbc_core), (PORT_ACC, sbc_acc, alice), "callee_to_caller")):
            def media(iface, direction, src, dst):
                return [p for p in udp if p["iface"] == iface and p["direction"] == direction
                        and p["u"]["src"] == src and p["u"]["dst"] == dst and SIP_PORT not in (p["u"]["sport"], p["u"]["dport"])
                        and _is_rtp(p["u"]["payload"])]
            ins, outs = media(i_if, 1, i_src, i_dst), media(o_if, 2, o_src, o_dst)
            firsts[label] = (ins[0]["ts_ns"] if ins else None, outs[0]["ts_ns"] if outs else None)
            relayed = (rtp.get(cdr_key) or {}).get("packets")
            self._progress(f"RTP {label}: {len(ins)} inbound, {len(outs)} outbound; call record {cdr_key}.packets {relayed}")
            by_payload = {}
            for p in ins:
                if p["u"]["payload"] in by_payload:
                    errs.append(f"RTP {label}: frame {p['n']} repeats the payload of frame {by_payload[p['u']['payload']]['n']}")
                by_payload[p["u"]["payload"]] = p
            if len(ins) != CAPTURE_RTP_COUNT or len(outs) != CAPTURE_RTP_COUNT or relayed != len(outs):
                errs.append(f"RTP {label}: {len(ins)} frames inbound, {len(outs)} outbound, call record "
                            f"{cdr_key}.packets {relayed}; wanted {CAPTURE_RTP_COUNT} each (rtpsim's)")
            wrong_ssrc = [p["n"] for p in ins if struct.unpack_from("!I", p["u"]["payload"], 8)[0] != ssrc]
            if wrong_ssrc:
                errs.append(f"RTP {label}: frames {wrong_ssrc[:5]} are not of SSRC {ssrc:#x}")
            # The appliance's MAC on the outbound side is the one the phone's frames went to, and the
            # phone's MAC the one they came from (from the inbound frames of the other direction).
            back = [p for p in udp if p["iface"] == o_if and p["direction"] == 1 and p["u"]["src"] == o_dst]
            macs = {(p["u"]["eth_dst"], p["u"]["eth_src"]) for p in back}
            unmatched, dup, early, mac_bad, port_bad = [], set(), [], [], []
            for p in outs:
                u = p["u"]
                q = by_payload.get(u["payload"])
                if q is None:
                    unmatched.append(p)
                    continue
                if id(q) in dup:
                    errs.append(f"RTP {label}: frame {p['n']} relays frame {q['n']} a second time")
                dup.add(id(q))
                latencies.append(p["ts_ns"] - q["ts_ns"])
                if p["ts_ns"] < q["ts_ns"]:
                    early.append(f"frame {p['n']} at {p['ts_ns']} relays frame {q['n']} of {q['ts_ns']}")
                if macs and (u["eth_src"], u["eth_dst"]) not in macs:
                    mac_bad.append(f"frame {p['n']} {_mac(u['eth_src'])} -> {_mac(u['eth_dst'])}")
                if not _in_range(u["sport"]) or not _in_range(q["u"]["dport"]):
                    port_bad.append(f"frame {p['n']} from port {u['sport']}, its original to {q['u']['dport']}")
            if unmatched:
                p = unmatched[0]
                errs.append(f"RTP {label}: {len(unmatched)} outbound frames carry a UDP payload no inbound frame had, "
                            f"e.g. frame {p['n']}: {p['u']['payload'][:16].hex()}...")
            if len(dup) != len(ins):
                missing = [p["n"] for p in ins if id(p) not in dup]
                errs.append(f"RTP {label}: {len(missing)} inbound frames never went out, e.g. {missing[:5]}")
            if early:
                errs.append(f"RTP {label}: {len(early)} relayed frames stamped before their original: {early[:3]}")
            if not macs:
                errs.append(f"RTP {label}: no inbound frame from {o_dst} to learn the MACs from")
            if mac_bad:
                errs.append(f"RTP {label}: outbound frames not between the appliance's and {o_dst}'s MAC "
                            f"{[(_mac(a), _mac(b)) for a, b in macs]}: {mac_bad[:3]}")
            if port_bad:
                errs.append(f"RTP {label}: relay ports outside {RELAY_PORTS}: {port_bad[:3]}")
        if latencies:
            latencies.sort()
            self._progress(f"relay latency (outbound - inbound timestamp): min {latencies[0] / 1e3:.0f} us, "
                           f"median {latencies[len(latencies) // 2] / 1e3:.0f} us, max {latencies[-1] / 1e3:.0f} us")
        return firsts
