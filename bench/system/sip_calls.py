#!/usr/bin/env python3
"""Sets up N calls through sipferry's B2BUA for the system benchmark, with a scripted caller
and callee in one process (run inside the namespace sfb-gen, where both have an address).

Call i offers the generator's stream i as caller media (MEDIA_SRC:src_port+2i) and answers
with the sink's (SINK:sink_port+2i). The caller sends INVITE to the appliance, the callee
answers 200 with SDP, the caller ACKs; the calls stay up (the harness stops the daemon).
Prints JSON: [{"call_id", "relay_addr", "relay_port", "src", "sink"}], relay_* from the SDP of
the 200 the caller got. Every wait is bounded (--timeout per call, --budget overall).

  sip_calls.py --calls N --caller 203.0.113.10 --callee 203.0.113.140 --dut 203.0.113.1 \
               --media-src 203.0.113.20:30000 --sink 203.0.113.150:40000
"""
import argparse
import json
import os
import re
import select
import socket
import sys
import time


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def sdp(addr, port, sess):
    return (f"v=0\r\no=- {sess} 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n")


def message(first_line, headers, body=""):
    lines = [first_line] + headers
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def parse(data):
    text = data.decode(errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = []
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers, body


def header(headers, name, short=None):
    for n, v in headers:
        if n.lower() == name.lower() or (short and n.lower() == short):
            return v
    return None


def media_of(body):
    c = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    m = re.search(r"^m=audio (\d+)", body, re.M)
    return (c.group(1) if c else None), (int(m.group(1)) if m else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, required=True)
    ap.add_argument("--caller", required=True, help="caller's SIP address (port 5060)")
    ap.add_argument("--callee", required=True, help="callee's SIP address (port 5060)")
    ap.add_argument("--dut", required=True, help="the appliance's address on the caller's side")
    ap.add_argument("--media-src", required=True, help="first stream's source IP:PORT (ports step by 2)")
    ap.add_argument("--sink", required=True, help="first stream's sink IP:PORT (ports step by 2)")
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds per call")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds for all calls")
    a = ap.parse_args()

    src_ip, src_port = endpoint(a.media_src)
    sink_ip, sink_port = endpoint(a.sink)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind((a.caller, 5060))
    callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    callee.bind((a.callee, 5060))
    out = []
    tag = f"{os.getpid()}"
    end_all = time.monotonic() + a.budget
    for i in range(a.calls):
        call_id = f"sfb-{tag}-{i}@{a.caller}"
        invite = message(
            f"INVITE sip:sink{i}@{a.dut} SIP/2.0",
            [f"Via: SIP/2.0/UDP {a.caller}:5060;branch=z9hG4bK-sfb{tag}-{i};rport", "Max-Forwards: 70",
             f"From: <sip:gen@{a.caller}>;tag=a{i}", f"To: <sip:sink{i}@{a.dut}>", f"Call-ID: {call_id}",
             "CSeq: 1 INVITE", f"Contact: <sip:gen@{a.caller}:5060>"],
            sdp(src_ip, src_port + 2 * i, 1000 + i))
        caller.sendto(invite, (a.dut, 5060))
        sent_at = time.monotonic()
        deadline = min(end_all, sent_at + a.timeout)
        relay = None
        acked_b = False
        b_call_id = None  # leg B's Call-ID (the appliance's own): the first INVITE of this call
        retransmits = 0
        while time.monotonic() < deadline and not (relay and acked_b):
            r, _, _ = select.select([caller, callee], [], [], 0.1)
            if not r and relay is None and time.monotonic() - sent_at > 0.5 * (retransmits + 1) and retransmits < 4:
                caller.sendto(invite, (a.dut, 5060))  # Timer A, coarse
                retransmits += 1
            for s in r:
                data, peer = s.recvfrom(65535)
                first, hdrs, body = parse(data)
                if s is callee:
                    if first.startswith("INVITE ") and b_call_id in (None, header(hdrs, "Call-ID", "i")):
                        # Answer (again, for a retransmission) with the sink as media.
                        b_call_id = header(hdrs, "Call-ID", "i")
                        vias = [f"Via: {v}" for n, v in hdrs if n.lower() in ("via", "v")]
                        answer = message("SIP/2.0 200 OK", vias + [
                            f"From: {header(hdrs, 'From', 'f')}", f"To: {header(hdrs, 'To', 't')};tag=b{i}",
                            f"Call-ID: {header(hdrs, 'Call-ID', 'i')}", f"CSeq: {header(hdrs, 'CSeq')}",
                            f"Contact: <sip:sink@{a.callee}:5060>"], sdp(sink_ip, sink_port + 2 * i, 2000 + i))
                        callee.sendto(answer, peer)
                    elif first.startswith("ACK ") and header(hdrs, "Call-ID", "i") == b_call_id:
                        acked_b = True
                    elif first.startswith(("BYE ", "OPTIONS ", "CANCEL ")):
                        vias = [f"Via: {v}" for n, v in hdrs if n.lower() in ("via", "v")]
                        callee.sendto(message("SIP/2.0 200 OK", vias + [
                            f"From: {header(hdrs, 'From', 'f')}", f"To: {header(hdrs, 'To', 't')}",
                            f"Call-ID: {header(hdrs, 'Call-ID', 'i')}", f"CSeq: {header(hdrs, 'CSeq')}"]), peer)
                else:
                    m = re.match(r"SIP/2.0 (\d{3})", first)
                    if not m or header(hdrs, "Call-ID", "i") != call_id:
                        continue
                    code = int(m.group(1))
                    if code >= 300:
                        print(f"sip_calls: call {i}: {first}", file=sys.stderr)
                        return 1
                    if code >= 200:
                        contact = re.search(r"<([^>]+)>", header(hdrs, "Contact", "m") or "")
                        ruri = contact.group(1) if contact else f"sip:sink{i}@{a.dut}"
                        caller.sendto(message(
                            f"ACK {ruri} SIP/2.0",
                            [f"Via: SIP/2.0/UDP {a.caller}:5060;branch=z9hG4bK-sfback{tag}-{i};rport",
                             "Max-Forwards: 70", f"From: <sip:gen@{a.caller}>;tag=a{i}",
                             f"To: {header(hdrs, 'To', 't')}", f"Call-ID: {call_id}", "CSeq: 1 ACK"]), peer)
                        relay = media_of(body)
        if not relay or relay[1] is None:
            print(f"sip_calls: call {i}: no 200 with SDP within {a.timeout} s", file=sys.stderr)
            return 1
        if not acked_b:
            print(f"sip_calls: call {i}: the callee got no ACK (continuing)", file=sys.stderr)
        out.append({"call_id": call_id, "relay_addr": relay[0], "relay_port": relay[1],
                    "src": f"{src_ip}:{src_port + 2 * i}", "sink": f"{sink_ip}:{sink_port + 2 * i}"})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
