#!/usr/bin/env python3
"""A minimal scripted SIP UA over UDP for lab flows sipp cannot express (loops of in-dialog
requests with branching on the answer). Run inside a lab namespace; every wait is bounded.

  sip_ua.py refer-storm --ip IP --count N --target USER --report FILE [--timeout S]
      answers the first INVITE with 200 (+SDP), waits for its ACK, then sends N REFERs in that
      dialog one after the other (Refer-To sip:USER@<the appliance>); after each 202 it answers
      NOTIFYs until the terminating one; answers a BYE at the end. Report (JSON): the final status
      of each REFER, the final sipfrag of each accepted one, whether the BYE came.
  sip_ua.py busy --ip IP --report FILE [--timeout S]
      answers every INVITE with 486 Busy Here (and its retransmissions again) until the timeout.
"""
import argparse
import json
import re
import socket
import sys
import time


def parse(data):
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower(), value.strip()))
    return lines[0], headers, body


def hget(headers, name, default=""):
    for n, v in headers:
        if n == name:
            return v
    return default


def hall(headers, name):
    return [v for n, v in headers if n == name]


def response(headers, status, reason, to_tag=None, extra="", body="", ctype=""):
    out = [f"SIP/2.0 {status} {reason}"]
    out += [f"Via: {v}" for v in hall(headers, "via")]
    out.append(f"From: {hget(headers, 'from')}")
    to = hget(headers, "to")
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    out.append(f"To: {to}")
    out.append(f"Call-ID: {hget(headers, 'call-id')}")
    out.append(f"CSeq: {hget(headers, 'cseq')}")
    if extra:
        out.append(extra.rstrip("\r\n"))
    if ctype:
        out.append(f"Content-Type: {ctype}")
    out.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(out) + "\r\n\r\n" + body).encode()


def uri_of(name_addr):
    m = re.search(r"<([^>]+)>", name_addr)
    return m.group(1) if m else name_addr.split(";")[0]


def hostport(uri):
    m = re.match(r"sips?:(?:[^@]+@)?([0-9.]+)(?::(\d+))?", uri)
    return (m.group(1), int(m.group(2) or 5060)) if m else None


def refer_storm(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.ip, 5060))
    end = time.monotonic() + a.timeout
    report = {"refers": [], "finals": [], "bye": False}

    def recv(deadline):
        s.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            return None, None, None, None
        start, headers, body = parse(data)
        return start, headers, body, src

    # The INVITE, our 200 until the ACK.
    inv = None
    while inv is None and time.monotonic() < end:
        start, headers, body, src = recv(end)
        if start and start.startswith("INVITE "):
            inv = (headers, src)
    if inv is None:
        report["error"] = "no INVITE"
        return report
    headers, peer = inv
    sdp = (f"v=0\r\no=bob 1 1 IN IP4 {a.ip}\r\ns=-\r\nc=IN IP4 {a.ip}\r\nt=0 0\r\n"
           f"m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    ok = response(headers, 200, "OK", "stormtag", f"Contact: <sip:bob@{a.ip}:5060>", sdp, "application/sdp")
    acked = False
    for _ in range(8):
        s.sendto(ok, peer)
        t = time.monotonic() + 0.5
        while time.monotonic() < t:
            start, h2, _, _ = recv(t)
            if start and start.startswith("ACK "):
                acked = True
                break
        if acked:
            break
    if not acked:
        report["error"] = "no ACK"
        return report
    target = uri_of(hget(headers, "contact"))
    dest = hostport(target) or peer
    our = f"{hget(headers, 'to')};tag=stormtag"
    theirs = hget(headers, "from")
    call_id = hget(headers, "call-id")
    appliance = dest[0]

    def answer_in_dialog(start, h):
        if start.startswith("NOTIFY ") or start.startswith("BYE "):
            s.sendto(response(h, 200, "OK"), dest)
            if start.startswith("BYE "):
                report["bye"] = True

    for k in range(a.count):
        cseq = k + 2
        req = (f"REFER {target} SIP/2.0\r\nVia: SIP/2.0/UDP {a.ip}:5060;branch=z9hG4bKstorm{k}x{int(time.time())};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: {our}\r\nTo: {theirs}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REFER\r\n"
               f"Contact: <sip:bob@{a.ip}:5060>\r\nRefer-To: <sip:{a.target}@{appliance}>\r\nContent-Length: 0\r\n\r\n")
        status = None
        final_frag = None
        deadline = min(end, time.monotonic() + 10)
        next_send = 0.0
        tries = 0
        while time.monotonic() < deadline:
            if status is None and time.monotonic() >= next_send and tries < 8:
                s.sendto(req.encode(), dest)
                tries += 1
                next_send = time.monotonic() + 0.5
            start, h, body, _ = recv(deadline)
            if not start:
                continue
            cs = hget(h, "cseq").split()
            if start.startswith("SIP/2.0 ") and cs == [str(cseq), "REFER"]:
                code = int(start.split()[1])
                if code >= 200:
                    status = code
                    if code != 202 and code != 200:
                        break
                continue
            answer_in_dialog(start, h)
            if start.startswith("NOTIFY ") and "terminated" in hget(h, "subscription-state"):
                final_frag = body.strip().splitlines()[0] if body.strip() else ""
                if status is not None:
                    break
        report["refers"].append(status)
        report["finals"].append(final_frag)
    # The call ends with the caller's BYE.
    while not report["bye"] and time.monotonic() < end:
        start, h, _, _ = recv(end)
        if start:
            answer_in_dialog(start, h)
    return report


def busy(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.ip, 5060))
    end = time.monotonic() + a.timeout
    report = {"invites": 0}
    seen = set()
    while time.monotonic() < end:
        s.settimeout(max(0.01, min(0.5, end - time.monotonic())))
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            continue
        start, headers, _ = parse(data)
        if start.startswith("INVITE "):
            key = hget(headers, "call-id")
            if key not in seen:
                seen.add(key)
                report["invites"] += 1
            s.sendto(response(headers, 486, "Busy Here", "busytag"), src)
        with open(a.report, "w") as f:
            json.dump(report, f)
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    st = sub.add_parser("refer-storm")
    st.add_argument("--ip", required=True)
    st.add_argument("--count", type=int, default=4)
    st.add_argument("--target", default="carol")
    st.add_argument("--report", required=True)
    st.add_argument("--timeout", type=float, default=25.0)
    bz = sub.add_parser("busy")
    bz.add_argument("--ip", required=True)
    bz.add_argument("--report", required=True)
    bz.add_argument("--timeout", type=float, default=20.0)
    a = ap.parse_args()
    report = refer_storm(a) if a.mode == "refer-storm" else busy(a)
    with open(a.report, "w") as f:
        json.dump(report, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
