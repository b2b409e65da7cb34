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
  capture_of_a_call_in_progress  `sipferryctl capture call CALL` (POST /v1/capture {"call": CALL}):
                    `capture call no-such-call` gets HTTP 404 {"error":"no such call"} (exit 1) and
                    starts nothing (no file, the status as before). Then two calls alice -> bob at once
                    (uac_call.xml from two sipps in sf-alice, SIP ports 5062 and 5064, RTP 6000 and
                    6002; one bob sipp, uas_answer.xml -m 2, answers both: its two rtpsims share port
                    6000, so bob.json is one of them; 150 RTP packets each way per call, BYE after ~4.5
                    s). Neither caller uses 5060: with the appliance's own SIP port there, `host
                    192.0.2.10 and port 5060` would take both callers' SIP. Once `sipferryctl calls`
                    shows both confirmed, `capture call <call 1's Call-ID as alice sent it (checked
                    against her trace)> --seconds 60`; the calls run to their end, then `capture
                    stop`. The filter (start and final status) is exactly the one built from call 1
                    as `sipferryctl calls` shows it: `udp and ((host 192.0.2.10 and port 5062) or
                    (host 198.51.100.20 and port 5060) or portrange A-A+1 or portrange B-B+1)` (A, B:
                    media[].a_port, b_port, each once; `port P` with rtcp-mux), naming call 1's relay ports and
                    none of call 2's (the test stops if the two calls' port numbers overlap: no
                    port filter could separate them). The file, checked as capture_of_a_call's
                    (status against the file: dropped 0, written == EPBs; every frame on acc or
                    core, one the filter takes, direction, checksums, timestamps): every frame is
                    call 1's, SIP between the appliance's port 5060 and that side's peer (alice's
                    5062 on acc, bob's 5060 on core) with call 1's Call-ID of that leg, or media on
                    call 1's relay ports of that side. bob's SIP peer is both calls' leg B peer, so
                    call 2's SIP with bob (its BYE and 200, leg B Call-ID) is in the file too: shown,
                    allowed only there; no frame carries call 2's Call-ID (alice's) and none is on
                    call 2's relay ports. Call 1's BYE inbound from alice and outbound to bob (no
                    earlier), the 200s for it inbound from bob and outbound to alice, each with its
                    leg's Call-ID; no frame of its INVITE transaction (the capture began after it).
                    RTP of call 1 per direction: inbound from the phone's 6000 to the relay port of
                    its side, outbound from the other side's relay port to the other phone, each
                    inbound frame relayed once with the same UDP payload, stamped no earlier,
                    between the right MACs, SSRC as rtpsim's. What went by before the capture began
                    is missing, so the RTP sequence numbers (from the stream's first: alice1.json's
                    first_seq, and the first of bob's she received) run without a gap from the first
                    captured to the last the call record counts (`packets`), and an outbound frame
                    without its original in the file may only be a packet from before the capture.
                    Files and every sipp and rtpsim (by PID) are cleaned up also on failure. About 6 s.
"""
import json
import os
import re
import shutil
import signal
import struct
import time

from transfer_tests import read_trace, _h, _is_request  # sipp -trace_msg parsing

CAPTURE_TESTS = ["capture_of_a_call", "capture_of_a_call_in_progress"]
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
# capture_of_a_call_in_progress: two callers in sf-alice, each a sipp of its own (SIP port, sipp's
# -mp media port, rtpsim's RTP port). Neither on 5060: with the appliance's own SIP port there the
# call filter's `host 192.0.2.10 and port 5060` would take every SIP message of alice's address.
CALLERS = ((5062, 16100, 6000), (5064, 16200, 6002))
BOB_RTP_PORT = 6000  # both bob rtpsims (one sipp answers both calls; the keys are the sipp's)
CONFIRM_WAIT = 6.0  # seconds for both calls to show up confirmed in `sipferryctl calls`
RTPSIM_WAIT = 8.0  # seconds for the test's rtpsims to end after the calls (then SIGKILL by PID)


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


def _call_id(payload):
    """The Call-ID (or compact i) header's value of a SIP message, or None."""
    m = re.search(rb"(?im)^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)", payload)
    return m.group(1).decode("latin-1") if m else None


def _sip_frames(udp, kind, method, side):
    """The SIP frames of `udp` (parsed frames, see _check_frames) that are `kind` ("request" or a
    response status such as "200") of `method` (the CSeq method), on side = (interface, direction,
    source address, destination address, Call-ID or None for any), SIP_PORT on one end."""
    iface, direction, src, dst, call_id = side
    out = []
    for p in udp:
        u = p["u"]
        if p["iface"] != iface or p["direction"] != direction or SIP_PORT not in (u["sport"], u["dport"]):
            continue
        if (u["src"], u["dst"]) != (src, dst):
            continue
        line, cseq = _sip_start(u["payload"])
        if line is None or cseq != method or (call_id is not None and _call_id(u["payload"]) != call_id):
            continue
        if (kind == "request" and line.startswith(method + " ")) or (kind != "request" and line.startswith(f"SIP/2.0 {kind} ")):
            out.append(p)
    return out


def _match_relayed(ins, outs):
    """Pairs relayed RTP frames with their originals by UDP payload (only Ethernet/IPv4/UDP headers
    are rewritten): -> (pairs [(inbound, outbound)], outbound frames no inbound frame had the payload
    of, inbound frames never relayed, problems [text]: a repeated inbound payload, a second relay)."""
    by_payload, problems = {}, []
    for p in ins:
        if p["u"]["payload"] in by_payload:
            problems.append(f"frame {p['n']} repeats the payload of frame {by_payload[p['u']['payload']]['n']}")
        by_payload[p["u"]["payload"]] = p
    pairs, unmatched, used = [], [], set()
    for p in outs:
        q = by_payload.get(p["u"]["payload"])
        if q is None:
            unmatched.append(p)
            continue
        if id(q) in used:
            problems.append(f"frame {p['n']} relays frame {q['n']} a second time")
        used.add(id(q))
        pairs.append((q, p))
    return pairs, unmatched, [p for p in ins if id(p) not in used], problems


def _rtp_seq(p):
    return struct.unpack_from("!H", p["u"]["payload"], 2)[0]


def _rtp_ssrc(p):
    return struct.unpack_from("!I", p["u"]["payload"], 8)[0]


def _describe(p):
    """A frame for messages: number, interface, direction and (UDP) its addresses and ports."""
    u = p.get("u") or {}
    what = f"frame {p['n']} (interface {p['iface']}, {DIR_NAMES.get(p['direction'], p['direction'])}"
    if u.get("udp"):
        what += f", {u['src']}:{u['sport']} -> {u['dst']}:{u['dport']}, {len(u['payload'])} octets of payload"
    return what + ")"


# ---- a call as `sipferryctl calls` shows it -----------------------------------------------------
def _peer(call, leg):
    """(address, port) of a leg's SIP peer from its "peer" ("ip:port")."""
    host, _, port = str(call.get(leg, {}).get("peer", "")).rpartition(":")
    return host, int(port) if port.isdigit() else 0


def _relay_ports(call, side):
    """The relay ports (RTP, and RTCP above it unless rtcp-mux) of a call's media on one side
    ("a_port": the caller's realm, "b_port": the callee's)."""
    ports = set()
    for m in call.get("media") or []:
        if m.get(side):
            ports.add(m[side])
            if m.get("rtcp"):
                ports.add(m[side] + 1)
    return ports


def _expected_call_filter(call):
    """The filter `capture call` must build from the call as `sipferryctl calls` shows it: each leg's
    SIP peer, then every relay port once (a portrange with the RTCP port, a plain port with
    rtcp-mux; both sides often have the same port number on their two addresses)."""
    terms = []
    for leg in ("a", "b"):
        host, port = _peer(call, leg)
        if host and host != "0.0.0.0":
            terms.append(f"(host {host} and port {port})")
    seen = set()
    for m in call.get("media") or []:
        for port in (m.get("a_port"), m.get("b_port")):
            if port and port not in seen:
                seen.add(port)
                terms.append(f"portrange {port}-{port + 1}" if m.get("rtcp") else f"port {port}")
    return "udp and (" + " or ".join(terms) + ")"


def _call_takes(call):
    """What that filter takes, for a parsed UDP frame (as pcap reads `host H and port P`: either end)."""
    peers = [_peer(call, leg) for leg in ("a", "b")]
    ports = _relay_ports(call, "a_port") | _relay_ports(call, "b_port")
    return lambda u: (any(h in (u["src"], u["dst"]) and p in (u["sport"], u["dport"]) for h, p in peers)
                      or u["sport"] in ports or u["dport"] in ports)


def _rtpsims_of(tdir):
    """PIDs of the rtpsims sipp started for a test (their command line names its log dir), zombies
    left out."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
            state = open(f"/proc/{d}/stat", "rb").read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != b"Z" and any(os.path.basename(a) == b"rtpsim" for a in cmd[:2]) and \
                any(tdir.encode() in a for a in cmd):
            pids.append(int(d))
    return pids


class CaptureTests:
    """Packet capture over the management API; mixed into the runner class of tests/lab/run (uses
    MoreTransferTests._ctl, _sipp_mp, TransferTests._alice_calls_bob, _report, _wait_cdrs,
    _new_cdr_records, _rtp_keys, _sipp_problems, _c, _fail, _progress and the runner's sipp,
    wait_listening, wait_sipp, kill_proc, sipp_excerpt, procs, cdr_lines)."""

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

    def _expect_refused(self, what, args, status, errs, error_prefix=None, token=TOKEN, command="start", body=None):
        """A `capture start` (or `capture call`: command) that must be refused with HTTP `status`
        (sipferryctl exit 1) and a JSON error text (starting with error_prefix if given; the whole
        JSON body equal to `body` if given)."""
        rc, code, got, out = self._capture([command] + list(args), token=token)
        err = got.get("error") if isinstance(got, dict) else None
        self._progress(f"{what}: exit {rc}, HTTP {code}, {out[:200]!r}")
        if rc != 1 or code != status:
            errs.append(f"{what}: exit {rc} HTTP {code}, wanted exit 1 HTTP {status}: {out[:300]}")
        elif not isinstance(err, str) or (error_prefix and not err.startswith(error_prefix)):
            errs.append(f"{what}: error {err!r}, wanted a text" +
                        (f" starting {error_prefix!r}" if error_prefix else ""))
        elif body is not None and got != body:
            errs.append(f"{what}: body {got}, wanted {body}")

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

    # ---- the tests ----------------------------------------------------------------------------
    def _capture_files(self, *kinds):
        """Paths of new capture files for this test, one per kind (none may exist yet)."""
        tag = f"{os.getpid()}-{int(time.time() * 1000)}"
        mine = [os.path.join(CAPTURE_DIR, f"lab-{k}-{tag}.pcapng") for k in kinds]
        existing = [p for p in mine if os.path.exists(p)]
        if existing:
            self._fail(f"capture files exist before the test: {existing}")
        return mine

    def _drop_captures(self, mine):
        """Stops a capture that still runs into one of `mine`, then removes those files."""
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

    def test_capture_of_a_call(self, tdir):
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        mine = self._capture_files("call", "idle", "other")
        path = mine[0]
        name, idle, other = (os.path.basename(p) for p in mine)
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
            running = (self.stats() or {}).get("capture", {})
            if running.get("running") is not True:
                errs.append(f"sipferryctl stats does not show the capture running: capture = {running}")
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
            after = (self.stats() or {}).get("capture", {})
            if after != {"running": False, "written": 0, "dropped": 0}:
                errs.append(f"sipferryctl stats after the idle capture: capture = {after}, wanted not running, 0, 0")
        finally:
            self._drop_captures(mine)
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

    def _check_final_status(self, cap, size, st, window, errs, what):
        """The status after `capture stop` against the file: running false, ended_by request,
        written == the EPBs, dropped 0, matched >= written, bytes, seconds. Prints the file's outline."""
        t0, t1 = window
        pk = cap["packets"]
        desc = self._check_interfaces(cap, errs, what)
        epb_bytes = sum(p["block_len"] for p in pk)
        self._progress(f"file: {size} octets, interfaces (id, if_name, if_hardware, linktype, if_tsresol) {desc}, {len(pk)} EPBs "
                       f"({epb_bytes} octets), other blocks {cap['other_blocks']}")
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

    def _check_frames(self, cap, window, own, takes, filter_text, errs):
        """Every frame: on acc or core (own: interface -> the appliance's address there), IPv4/UDP,
        one the filter takes (takes(parsed frame)), with a direction that fits its addresses, good
        checksums, whole, and a timestamp in the window. Sets each packet's "u" (parse_frame);
        returns the UDP frames on acc and core."""
        t0, t1 = window
        pk = cap["packets"]
        lo, hi = int(t0 * 1e9) - WINDOW_SLACK_NS, int(t1 * 1e9) + WINDOW_SLACK_NS
        bad = []
        backwards = 0
        for i, p in enumerate(pk):
            u = parse_frame(p["frame"])
            p["u"] = u
            what = _describe(p)
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
            if not takes(u):
                bad.append(f"{what}: the filter {filter_text!r} does not take it")
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
        return [p for p in pk if p["iface"] in own and p["u"]["udp"]]

    def _check_sip_relayed(self, udp, rows, errs):
        """SIP messages each inbound on one side and outbound on the other. rows: (label, kind,
        method, inbound side, outbound side, caused: the outbound one is sent because the inbound one
        came, so it is no earlier), sides as _sip_frames takes them. Returns "label in/out" counts."""
        names = {PORT_ACC: "acc", PORT_CORE: "core"}
        seen = []
        for label, kind, method, first, then, caused in rows:
            got_in, got_out = _sip_frames(udp, kind, method, first), _sip_frames(udp, kind, method, then)
            seen.append(f"{label} {len(got_in)}/{len(got_out)}")
            if not got_in:
                errs.append(f"no {label} inbound on {names[first[0]]} from {first[2]} to {first[3]}" +
                            (f" (Call-ID {first[4]})" if first[4] else ""))
            if not got_out:
                errs.append(f"no {label} outbound on {names[then[0]]} from {then[2]} to {then[3]}" +
                            (f" (Call-ID {then[4]})" if then[4] else ""))
            if caused and got_in and got_out and got_out[0]["ts_ns"] < got_in[0]["ts_ns"]:
                errs.append(f"{label}: outbound at {got_out[0]['ts_ns']} before it came in at {got_in[0]['ts_ns']}")
        return seen

    def _check_relayed_pairs(self, label, pairs, udp, o_if, o_dst, errs):
        """Relayed RTP frames against their originals (pairs from _match_relayed): stamped no earlier,
        between the appliance's and the phone's MAC on the outbound side (learnt from the phone's
        inbound frames there), relay ports in [media]'s range. Returns the latencies, ns."""
        # The appliance's MAC on the outbound side is the one the phone's frames went to, and the
        # phone's MAC the one they came from (from the inbound frames of the other direction).
        back = [p for p in udp if p["iface"] == o_if and p["direction"] == 1 and p["u"]["src"] == o_dst]
        macs = {(p["u"]["eth_dst"], p["u"]["eth_src"]) for p in back}
        latencies, early, mac_bad, port_bad = [], [], [], []
        for q, p in pairs:
            u = p["u"]
            latencies.append(p["ts_ns"] - q["ts_ns"])
            if p["ts_ns"] < q["ts_ns"]:
                early.append(f"frame {p['n']} at {p['ts_ns']} relays frame {q['n']} of {q['ts_ns']}")
            if macs and (u["eth_src"], u["eth_dst"]) not in macs:
                mac_bad.append(f"frame {p['n']} {_mac(u['eth_src'])} -> {_mac(u['eth_dst'])}")
            if not _in_range(u["sport"]) or not _in_range(q["u"]["dport"]):
                port_bad.append(f"frame {p['n']} from port {u['sport']}, its original to {q['u']['dport']}")
        if early:
            errs.append(f"RTP {label}: {len(early)} relayed frames stamped before their original: {early[:3]}")
        if not macs:
            errs.append(f"RTP {label}: no inbound frame from {o_dst} to learn the MACs from")
        if mac_bad:
            errs.append(f"RTP {label}: outbound frames not between the appliance's and {o_dst}'s MAC "
                        f"{[(_mac(a), _mac(b)) for a, b in macs]}: {mac_bad[:3]}")
        if port_bad:
            errs.append(f"RTP {label}: relay ports outside {RELAY_PORTS}: {port_bad[:3]}")
        return latencies

    def _progress_latency(self, latencies):
        if latencies:
            latencies = sorted(latencies)
            self._progress(f"relay latency (outbound - inbound timestamp): min {latencies[0] / 1e3:.0f} us, "
                           f"median {latencies[len(latencies) // 2] / 1e3:.0f} us, max {latencies[-1] / 1e3:.0f} us")

    def _check_call_capture(self, cap, size, st, rec, window, errs, addrs):
        alice, bob, sbc_acc, sbc_core = addrs
        self._check_final_status(cap, size, st, window, errs, "the call's capture")
        own = {PORT_ACC: sbc_acc, PORT_CORE: sbc_core}
        udp = self._check_frames(
            cap, window, own,
            lambda u: {u["sport"], u["dport"]} & {SIP_PORT} or _in_range(u["sport"]) or _in_range(u["dport"]),
            CALL_FILTER, errs)

        # SIP: each message inbound on its caller's side and outbound on the other.
        a_in = (PORT_ACC, 1, alice, sbc_acc, None)
        a_out = (PORT_ACC, 2, sbc_acc, alice, None)
        c_in = (PORT_CORE, 1, bob, sbc_core, None)
        c_out = (PORT_CORE, 2, sbc_core, bob, None)
        # (the B2BUA ACKs bob's 200 and answers alice's BYE itself, so those two pairs have no order.)
        seen = self._check_sip_relayed(udp, (("INVITE", "request", "INVITE", a_in, c_out, True),
                                             ("200 for INVITE", "200", "INVITE", c_in, a_out, True),
                                             ("ACK", "request", "ACK", a_in, c_out, False),
                                             ("BYE", "request", "BYE", a_in, c_out, True),
                                             ("200 for BYE", "200", "BYE", c_in, a_out, False)), errs)
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
            pairs, unmatched, never, problems = _match_relayed(ins, outs)
            errs.extend(f"RTP {label}: {x}" for x in problems)
            if len(ins) != CAPTURE_RTP_COUNT or len(outs) != CAPTURE_RTP_COUNT or relayed != len(outs):
                errs.append(f"RTP {label}: {len(ins)} frames inbound, {len(outs)} outbound, call record "
                            f"{cdr_key}.packets {relayed}; wanted {CAPTURE_RTP_COUNT} each (rtpsim's)")
            wrong_ssrc = [p["n"] for p in ins if _rtp_ssrc(p) != ssrc]
            if wrong_ssrc:
                errs.append(f"RTP {label}: frames {wrong_ssrc[:5]} are not of SSRC {ssrc:#x}")
            latencies += self._check_relayed_pairs(label, pairs, udp, o_if, o_dst, errs)
            if unmatched:
                p = unmatched[0]
                errs.append(f"RTP {label}: {len(unmatched)} outbound frames carry a UDP payload no inbound frame had, "
                            f"e.g. frame {p['n']}: {p['u']['payload'][:16].hex()}...")
            if never:
                errs.append(f"RTP {label}: {len(never)} inbound frames never went out, e.g. {[p['n'] for p in never[:5]]}")
        self._progress_latency(latencies)
        return firsts

    # ---- capture_of_a_call_in_progress --------------------------------------------------------
    def _confirmed_calls(self, a_peers, b_peer, procs, timeout=CONFIRM_WAIT):
        """Polls `sipferryctl calls` (every 0.1 s, at most `timeout` s, while every sipp of procs
        runs) until each leg-A peer of a_peers ("ip:port") has a confirmed call to b_peer. Returns
        (those calls in a_peers' order or None, the last `calls` read)."""
        end = time.monotonic() + timeout
        calls = []
        while time.monotonic() < end and all(p.poll() is None for p in procs):
            try:
                calls = json.loads(self._ctl(["calls"]).stdout)
            except ValueError:
                calls = []
            if not isinstance(calls, list):
                calls = []
            found = [next((c for c in calls if isinstance(c, dict) and c.get("state") == "confirmed"
                           and c.get("a", {}).get("peer") == a and c.get("b", {}).get("peer") == b_peer), None)
                     for a in a_peers]
            if all(found):
                return found, calls
            time.sleep(0.1)
        return None, calls

    def _end_rtpsims(self, tdir, timeout=RTPSIM_WAIT):
        """Waits (bounded) for the rtpsims sipp started for this test to end, then kills what is left
        by PID. (bob's two share bob.pid: one sipp answers both calls, so the runner's pid-file
        clean-up alone would miss the first.) Returns the PIDs that had to be killed."""
        end = time.monotonic() + timeout
        while _rtpsims_of(tdir) and time.monotonic() < end:
            time.sleep(0.1)
        killed = _rtpsims_of(tdir)
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return killed

    def test_capture_of_a_call_in_progress(self, tdir):
        ALICE, BOB = self._c("ALICE"), self._c("BOB")
        SBC_ACC, SBC_CORE = self._c("SBC_ACC"), self._c("SBC_CORE")
        mine = self._capture_files("inprogress", "nocall")
        path, nocall = mine
        name = os.path.basename(path)
        errs = []
        started = []
        try:
            before = self._capture_status()
            if before.get("running"):
                self._fail(f"a capture runs before the test: {before}")

            # 1. An unknown call: 404, nothing starts.
            self._expect_refused("capture call of an unknown call",
                                 ["no-such-call", "--seconds", "5", "--file", os.path.basename(nocall)], 404, errs,
                                 command="call", body={"error": "no such call"})
            st = self._capture_status()
            if os.path.exists(nocall) or st != before:
                errs.append(f"capture call of an unknown call left {'a file' if os.path.exists(nocall) else 'no file'} "
                            f"and the status {st} (before: {before}): it must start nothing")

            # 2. Two calls alice -> bob at once; one sipp of bob's answers both.
            cdr_before = len(self.cdr_lines())
            bob = self.sipp(tdir, "bob", BOB, "uas_answer.xml", calls=2,
                            keys=self._rtp_keys(tdir, name="bob", rtp_port=BOB_RTP_PORT, rtp_count=CAPTURE_RTP_COUNT,
                                                rtp_delay=0.5))
            started.append(bob)
            if not self.wait_listening(BOB[0], SIP_PORT):
                self._fail("bob's sipp did not start listening\n" + self.sipp_excerpt(bob))
            alices = []
            for i, (port, mp, rtp_port) in enumerate(CALLERS, 1):
                a = self._sipp_mp(tdir, f"alice{i}", ALICE, "uac_call.xml", port, mp, remote=f"{SBC_ACC}:{SIP_PORT}",
                                  service="bob", keys=self._rtp_keys(tdir, caller=f"alice{i}", rtp_port=rtp_port,
                                                                     rtp_count=CAPTURE_RTP_COUNT))
                started.append(a)
                alices.append(a)
            peers = [f"{ALICE[1]}:{port}" for port, _, _ in CALLERS]
            found, calls = self._confirmed_calls(peers, f"{BOB[1]}:{SIP_PORT}", started)
            if found is None:
                self._fail(f"no two confirmed calls from {peers} to bob in `sipferryctl calls` within {CONFIRM_WAIT:.0f} s: "
                           f"{json.dumps(calls)[:600]}\n" + "".join(self.sipp_excerpt(p) for p in started))
            c1, c2 = found
            self._progress(f"call 1: id {c1['id']}, Call-IDs {c1['a']['call_id']} / {c1['b']['call_id']}, media {c1['media']}; "
                           f"call 2: id {c2['id']}, Call-IDs {c2['a']['call_id']} / {c2['b']['call_id']}, media {c2['media']}")
            want = _expected_call_filter(c1)
            ports1 = {PORT_ACC: _relay_ports(c1, "a_port"), PORT_CORE: _relay_ports(c1, "b_port")}
            ports2 = {PORT_ACC: _relay_ports(c2, "a_port"), PORT_CORE: _relay_ports(c2, "b_port")}
            if not all(ports1.values()) or not all(ports2.values()):
                self._fail(f"`sipferryctl calls` shows no relay ports for a call: call 1 {c1['media']}, call 2 {c2['media']}")
            if (ports1[PORT_ACC] | ports1[PORT_CORE]) & (ports2[PORT_ACC] | ports2[PORT_CORE]):
                self._fail(f"the calls' relay port numbers overlap (call 1 {c1['media']}, call 2 {c2['media']}): "
                           f"a filter of port numbers cannot tell their RTP apart")

            # 3. The capture of call 1, named by the Call-ID alice sent.
            t0 = time.time()
            rc, code, st, out = self._capture(["call", c1["a"]["call_id"], "--seconds", "60", "--file", name])
            if rc != 0 or not isinstance(st, dict) or not st.get("running") or st.get("file") != path:
                self._fail(f"capture call {c1['a']['call_id']}: exit {rc} HTTP {code}: {out[:300]} "
                           f"(wanted running, file {path})")
            self._progress(f"started: {out}")
            self._check_call_filter(st.get("filter"), want, c1, c2, "the capture's start", errs)

            # The calls run to their end (alice's BYE after ~4.5 s), then the capture stops.
            rcs = [(a, self.wait_sipp(a)) for a in alices]
            rcs.append((bob, self.wait_sipp(bob, timeout=8 if all(rc == 0 for _, rc in rcs) else 3)))
            killed = self._end_rtpsims(tdir)
            if killed:
                self._progress(f"note: rtpsims {killed} outlived {RTPSIM_WAIT:.0f} s after the calls and were killed")
            rc, code, st, out = self._capture(["stop"])
            t1 = time.time()
            self._progress(f"stopped: {out}")
            problems, excerpts = self._sipp_problems(rcs)
            if problems:
                self._fail("; ".join(problems) + "\n" + excerpts)
            if rc != 0 or not isinstance(st, dict):
                self._fail(f"capture stop: exit {rc} HTTP {code}: {out[:300]}")
            self._check_call_filter(st.get("filter"), want, c1, c2, "the status after stop", errs)

            # What alice sent (her trace), the call record and her RTP report.
            sent = [m for m in read_trace(os.path.join(tdir, "alice1.msg")) if m["dir"] == "out" and _is_request(m, "INVITE")]
            if not sent or _h(sent[0], "Call-ID") != c1["a"]["call_id"]:
                errs.append(f"alice1's INVITE has Call-ID {_h(sent[0], 'Call-ID') if sent else None!r}, "
                            f"`sipferryctl calls` leg A {c1['a']['call_id']!r}")
            recs = self._new_cdr_records(cdr_before, 2, errs)
            rec = next((r for r in recs if r.get("call_id") == c1["a"]["call_id"]), None)
            if rec is None:
                self._fail(f"no call record of call 1 ({c1['a']['call_id']}) among the new ones")
            cap, size = self._read_capture(path, tdir)
            self._check_in_progress_capture(cap, size, st, rec, self._report(tdir, "alice1"), (t0, t1), errs,
                                            (c1, c2, ports1, ports2), (ALICE[1], BOB[1], SBC_ACC, SBC_CORE))
        finally:
            try:
                self._drop_captures(mine)
            finally:
                for p in started:  # the runner's clean-up would too; ours end here, also on failure
                    self.kill_proc(p)
                    if p in self.procs:
                        self.procs.remove(p)
                self._end_rtpsims(tdir, timeout=0)
        if errs:
            self._fail("; ".join(errs))

    def _check_call_filter(self, got, want, c1, c2, what, errs):
        """The filter the status shows: the one built from call 1 as `sipferryctl calls` showed it,
        naming call 1's relay ports and none of call 2's."""
        if got != want:
            errs.append(f"{what}: filter {got!r}, wanted {want!r} (from `sipferryctl calls`: call 1's peers and media "
                        f"{c1['media']})")
        named = {int(x) for x in re.findall(r"\b(?:port|portrange)\s+(\d+)", got or "")}
        p1 = {m[k] for m in c1["media"] for k in ("a_port", "b_port")}
        p2 = {m[k] for m in c2["media"] for k in ("a_port", "b_port")}
        if not p1 <= named or named & p2:
            errs.append(f"{what}: the filter names the ports {sorted(named)}: wanted call 1's relay ports {sorted(p1)} "
                        f"and none of call 2's {sorted(p2)}")

    def _check_in_progress_capture(self, cap, size, st, rec, ra, window, errs, calls, addrs):
        c1, c2, ports1, ports2 = calls
        alice, bob, sbc_acc, sbc_core = addrs
        own = {PORT_ACC: sbc_acc, PORT_CORE: sbc_core}
        self._check_final_status(cap, size, st, window, errs, "the call's capture")
        udp = self._check_frames(cap, window, own, _call_takes(c1), _expected_call_filter(c1), errs)
        a1_ip, a1_port = _peer(c1, "a")
        b_ip, b_port = _peer(c1, "b")
        sip_peer = {PORT_ACC: (a1_ip, a1_port), PORT_CORE: (b_ip, b_port)}
        c1_ids = {PORT_ACC: c1["a"]["call_id"], PORT_CORE: c1["b"]["call_id"]}
        c2_a, c2_b = c2["a"]["call_id"], c2["b"]["call_id"]

        # Every frame is call 1's: SIP between the appliance's SIP port and that side's peer, carrying
        # call 1's Call-ID of that leg, or media on call 1's relay ports of that side. bob's SIP peer
        # (198.51.100.20:5060) is both calls' leg B peer, so the filter takes call 2's SIP with bob too:
        # counted and shown, allowed only there.
        stray, call2_rtp, call2_a, call2_b, sip1 = [], [], [], [], []
        for p in udp:
            u, iface = p["u"], p["iface"]
            if u["dst"] == own[iface]:
                mine_port, far = u["dport"], (u["src"], u["sport"])
            elif u["src"] == own[iface]:
                mine_port, far = u["sport"], (u["dst"], u["dport"])
            else:
                continue  # _check_frames said so
            if {u["sport"], u["dport"]} & ports2[iface]:
                call2_rtp.append(p)
            cid = _call_id(u["payload"]) if _sip_start(u["payload"])[0] else None
            if c2_a.encode() in u["payload"]:
                call2_a.append(p)
            if mine_port == SIP_PORT and far == sip_peer[iface] and cid is not None:
                if cid == c1_ids[iface]:
                    sip1.append(p)
                elif iface == PORT_CORE and cid == c2_b:
                    call2_b.append(p)
                else:
                    stray.append(f"{_describe(p)}: SIP of Call-ID {cid!r}, neither call 1's leg "
                                 f"{'A' if iface == PORT_ACC else 'B'} ({c1_ids[iface]}) nor call 2's with bob")
            elif mine_port not in ports1[iface]:
                stray.append(f"{_describe(p)}: neither SIP with {sip_peer[iface][0]}:{sip_peer[iface][1]} nor "
                             f"call 1's relay ports {sorted(ports1[iface])} on this side")
        self._progress(f"frames: {len(udp)} UDP; call 1's SIP {len(sip1)}: "
                       f"{[_sip_start(p['u']['payload'])[0] for p in sip1]}; call 2's SIP with bob (the shared leg B peer) "
                       f"{len(call2_b)}: {[_sip_start(p['u']['payload'])[0] for p in call2_b]}")
        if stray:
            errs.append(f"{len(stray)} frames are not call 1's: " + "; ".join(stray[:5]) + ("; ..." if len(stray) > 5 else ""))
        if call2_rtp:
            errs.append(f"{len(call2_rtp)} frames on call 2's relay ports {[sorted(v) for v in ports2.values()]}, "
                        f"e.g. {_describe(call2_rtp[0])}")
        if call2_a:
            errs.append(f"{len(call2_a)} frames carry call 2's Call-ID {c2_a} (alice's second call), e.g. {_describe(call2_a[0])}")
        bad_b = [p for p in call2_b if p["iface"] != PORT_CORE]
        if bad_b:
            errs.append(f"call 2's leg B Call-ID outside core: {_describe(bad_b[0])}")

        # SIP of call 1: the BYE in from alice and out to bob, the 200s for it back; no INVITE (the
        # capture started after it).
        a_in = (PORT_ACC, 1, alice, sbc_acc, c1_ids[PORT_ACC])
        a_out = (PORT_ACC, 2, sbc_acc, alice, c1_ids[PORT_ACC])
        c_in = (PORT_CORE, 1, bob, sbc_core, c1_ids[PORT_CORE])
        c_out = (PORT_CORE, 2, sbc_core, bob, c1_ids[PORT_CORE])
        seen = self._check_sip_relayed(udp, (("BYE", "request", "BYE", a_in, c_out, True),
                                             ("200 for BYE", "200", "BYE", c_in, a_out, False)), errs)
        invites = [p for p in sip1 if _sip_start(p["u"]["payload"])[1] == "INVITE"]
        if invites:
            errs.append(f"{len(invites)} frames of call 1's INVITE transaction, the capture started after it: "
                        f"{[(_describe(p), _sip_start(p['u']['payload'])[0]) for p in invites[:3]]}")
        self._progress("call 1 SIP inbound/outbound: " + ", ".join(seen))

        # RTP of call 1, per direction: inbound to its relay port on one side, relayed from its relay
        # port on the other, the same UDP payload. The capture began while the call ran, so what was
        # relayed before it is missing: from the first captured frame on, every one is there (RTP
        # sequence numbers without a gap, up to the last the call record counts), and an outbound
        # frame without its inbound original may only be one that arrived before the capture began.
        rtp = rec.get("rtp") or {}
        bob_seqs = (ra.get("seq_steps") or {}).get(str(SSRC_BOB)) or {}
        latencies, first_rtp = [], []
        a_rtp_port, b_rtp_port = c1["media"][0]["a_port"], c1["media"][0]["b_port"]  # one stream: audio
        a_phone = (alice, CALLERS[0][2])
        b_phone = (bob, BOB_RTP_PORT)
        for label, ssrc, first_seq, i_side, o_side, cdr_key in (
                ("alice -> bob", SSRC_ALICE, ra.get("first_seq"), (PORT_ACC, a_phone, (sbc_acc, a_rtp_port)),
                 (PORT_CORE, (sbc_core, b_rtp_port), b_phone), "caller_to_callee"),
                ("bob -> alice", SSRC_BOB, bob_seqs.get("first_seq"), (PORT_CORE, b_phone, (sbc_core, b_rtp_port)),
                 (PORT_ACC, (sbc_acc, a_rtp_port), a_phone), "callee_to_caller")):
            def media(side, direction):
                iface, src, dst = side
                return [p for p in udp if p["iface"] == iface and p["direction"] == direction
                        and (p["u"]["src"], p["u"]["sport"]) == src and (p["u"]["dst"], p["u"]["dport"]) == dst
                        and _is_rtp(p["u"]["payload"])]
            ins, outs = media(i_side, 1), media(o_side, 2)
            first_rtp += [p["ts_ns"] for p in ins[:1]]
            relayed = (rtp.get(cdr_key) or {}).get("packets")
            pairs, unmatched, never, problems = _match_relayed(ins, outs)
            errs.extend(f"RTP {label}: {x}" for x in problems)
            if not ins or not outs:
                errs.append(f"RTP {label}: {len(ins)} frames inbound to {i_side[2][0]}:{i_side[2][1]}, {len(outs)} outbound "
                            f"from {o_side[1][0]}:{o_side[1][1]}: wanted both")
                continue
            if not isinstance(first_seq, int) or not isinstance(relayed, int):
                errs.append(f"RTP {label}: no first sequence number ({first_seq!r}, alice1's report) or call record "
                            f"{cdr_key}.packets ({relayed!r})")
                continue
            offs = [(_rtp_seq(p) - first_seq) & 0xFFFF for p in ins]
            k = offs[0]
            if offs != list(range(k, k + len(ins))) or k + len(ins) != relayed:
                gaps = [(a, b) for a, b in zip(offs, offs[1:]) if b != a + 1]
                errs.append(f"RTP {label}: the inbound frames are the stream's packets {offs[0]}..{offs[-1]} (from its first, "
                            f"sequence number {first_seq}) with {len(gaps)} steps other than +1 {gaps[:3]}; wanted "
                            f"every one from the first captured to the last relayed, {relayed - 1} (call record "
                            f"{cdr_key}.packets {relayed})")
            wrong_ssrc = [p["n"] for p in ins if _rtp_ssrc(p) != ssrc]
            if wrong_ssrc:
                errs.append(f"RTP {label}: frames {wrong_ssrc[:5]} are not of SSRC {ssrc:#x}")
            early = [p for p in unmatched if (_rtp_seq(p) - first_seq) & 0xFFFF < k and _rtp_ssrc(p) == ssrc]
            late = [p for p in unmatched if p not in early]
            if late:
                p = late[0]
                errs.append(f"RTP {label}: {len(late)} outbound frames carry a UDP payload no inbound frame had and are "
                            f"no packet that came before the capture began, e.g. {_describe(p)}: "
                            f"{p['u']['payload'][:16].hex()}...")
            if never:
                errs.append(f"RTP {label}: {len(never)} inbound frames never went out, e.g. {[p['n'] for p in never[:5]]}")
            latencies += self._check_relayed_pairs(label, pairs, udp, o_side[0], o_side[2][0], errs)
            self._progress(f"RTP {label}: {len(ins)} inbound, {len(outs)} outbound ({len(pairs)} pairs, {len(early)} relaying "
                           f"packets that came before the capture); {k} of the call record's {relayed} "
                           f"({cdr_key}.packets) were relayed before the capture began")
        if first_rtp:
            self._progress(f"call 1's first captured RTP frame: {(min(first_rtp) / 1e9 - window[0]) * 1e3:.0f} ms after "
                           f"`capture call` was run")
        self._progress_latency(latencies)
