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
  sip_ua.py call-burst --ip IP --to HOST:PORT --user USER --waves N,N --pause S --report FILE [--timeout S]
      sends waves of new INVITEs (each with its own Call-ID and an SDP offer) to USER at HOST:PORT,
      every INVITE of a wave at once, waves PAUSE seconds apart; ACKs each final response (>= 300;
      a 2xx is ACKed and BYEd). Report (JSON): per wave the final status of each call (in the order
      sent; null when none came) and the Retry-After values seen.
  sip_ua.py glare --role caller --ip IP --to HOST:PORT --user USER --at EPOCH --report FILE [--timeout S]
  sip_ua.py glare --role callee --ip IP --at EPOCH --report FILE [--timeout S]
      one call (the caller INVITEs USER at HOST:PORT, the callee answers 200 + SDP), then at
      wall-clock time EPOCH each side sends a re-INVITE with a new SDP version. A re-INVITE that
      arrives while its own is pending gets 491 (RFC 3261 14.2); one that arrives before its own
      went out makes its own go at once (the two crossed on the wire: the glare is certain however
      the two clocks' wake-ups differ), then gets 491. After a 491 a side ACKs it and retries after
      the RFC 3261 14.1 back-off (owner of the Call-ID, the caller: 2.1-4 s; the callee: 0-2 s),
      at most 3 attempts. The caller sends BYE 1 s after its own re-INVITE succeeded (and not
      before EPOCH + 5 s, when the callee's retry is long over). Report (JSON): setup status,
      final status of each own re-INVITE attempt, the back-off waited, the answers it gave to
      the re-INVITEs it received, BYE status (caller) or whether the BYE came (callee).
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


def glare(a):
    import random
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.ip, 5060))
    end = time.monotonic() + a.timeout
    caller = a.role == "caller"
    report = {"role": a.role, "setup": None, "attempts": [], "backoff": [], "answered": [], "bye": None}
    tag = f"{a.role}{random.randrange(1 << 30):x}"
    sdp_version = [1]

    def sdp():
        sdp_version[0] += 1
        return (f"v=0\r\no={a.role} 4242 {sdp_version[0]} IN IP4 {a.ip}\r\ns=-\r\nc=IN IP4 {a.ip}\r\nt=0 0\r\n"
                f"m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")

    def recv(deadline):
        # Short waits: the loop below also has timers to run (the re-INVITE at --at, retries).
        s.settimeout(max(0.005, min(0.01, deadline - time.monotonic())))
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            return None, None, None, None
        start, headers, body = parse(data)
        return start, headers, body, src

    def branch():
        return f"z9hG4bK{a.role}{random.randrange(1 << 40):x}"

    def request(method, cseq, br, body="", cseq_method=None):
        out = [f"{method} {dlg['target']} SIP/2.0", f"Via: SIP/2.0/UDP {a.ip}:5060;branch={br};rport",
               "Max-Forwards: 70", f"From: {dlg['local']}", f"To: {dlg['remote']}", f"Call-ID: {dlg['call_id']}",
               f"CSeq: {cseq} {cseq_method or method}", f"Contact: <sip:{a.role}@{a.ip}:5060>"]
        if body:
            out.append("Content-Type: application/sdp")
        out.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(out) + "\r\n\r\n" + body).encode()

    # ---- the call ------------------------------------------------------------------------------
    dlg = {}
    if caller:
        host, port = a.to.split(":")
        appliance = (host, int(port))
        dlg = {"target": f"sip:{a.user}@{host}:{port}", "local": f"<sip:alice@{a.ip}>;tag={tag}",
               "remote": f"<sip:{a.user}@{host}:{port}>", "call_id": f"glare{random.randrange(1 << 40):x}@{a.ip}",
               "cseq": 1, "dest": appliance}
        br = branch()
        invite = request("INVITE", 1, br, sdp())
        next_send, tries = 0.0, 0
        while report["setup"] is None and time.monotonic() < end:
            if time.monotonic() >= next_send and tries < 7:
                s.sendto(invite, appliance)
                tries += 1
                next_send = time.monotonic() + 0.5 * (2 ** min(tries, 3))
            start, h, _, _ = recv(end)
            if not start or not start.startswith("SIP/2.0 ") or hget(h, "cseq") != "1 INVITE":
                continue
            code = int(start.split()[1])
            if code < 200:
                next_send = float("inf")  # a provisional response stops the retransmissions
                continue
            report["setup"] = code
            if code >= 300:
                return report
            dlg["remote"] = hget(h, "to")
            dlg["target"] = uri_of(hget(h, "contact")) or dlg["target"]
            dlg["dest"] = hostport(dlg["target"]) or appliance
        if report["setup"] is None:
            report["error"] = "no answer to the INVITE"
            return report
        ack = request("ACK", 1, branch())
        s.sendto(ack, dlg["dest"])
    else:
        inv = None
        while inv is None and time.monotonic() < end:
            start, h, _, src = recv(end)
            if start and start.startswith("INVITE "):
                inv = (h, src)
        if inv is None:
            report["error"] = "no INVITE"
            return report
        h, src = inv
        dlg = {"target": uri_of(hget(h, "contact")), "local": f"{hget(h, 'to')};tag={tag}",
               "remote": hget(h, "from"), "call_id": hget(h, "call-id"), "cseq": 0}
        dlg["dest"] = hostport(dlg["target"]) or src
        ok = response(h, 200, "OK", tag, f"Contact: <sip:{a.role}@{a.ip}:5060>", sdp(), "application/sdp")
        acked = False
        for k in range(7):
            s.sendto(ok, src)
            t = time.monotonic() + 0.5 * (2 ** min(k, 3))
            while time.monotonic() < t and not acked:
                start, h2, _, _ = recv(t)
                acked = bool(start and start.startswith("ACK "))
            if acked:
                break
        if not acked:
            report["error"] = "no ACK for the 200"
            return report
        report["setup"] = 200

    # ---- the re-INVITEs ------------------------------------------------------------------------
    at_mono = time.monotonic() + (a.at - time.time())
    own = None            # our re-INVITE in progress: cseq, branch, text, next_send, tries
    retry_at = None       # monotonic time of the retry after a 491
    last_ack = {}         # cseq -> our ACK, re-sent on a retransmitted final response
    answered = {}         # branch -> our response to a re-INVITE we received (for its retransmissions)
    ok_wait = None        # our 2xx to a received re-INVITE, retransmitted until its ACK
    bye_at = None
    bye = None            # our BYE in progress (caller)
    done = False
    first_sent = False

    def send_own():
        nonlocal own, first_sent
        first_sent = True
        dlg["cseq"] += 1
        br = branch()
        own = {"cseq": dlg["cseq"], "branch": br, "text": request("INVITE", dlg["cseq"], br, sdp()),
               "next": time.monotonic() + 0.5, "tries": 1}
        s.sendto(own["text"], dlg["dest"])

    while not done and time.monotonic() < end:
        now = time.monotonic()
        if now >= at_mono and not first_sent:
            send_own()
        if retry_at is not None and now >= retry_at and own is None:
            retry_at = None
            send_own()
        if own is not None and now >= own["next"] and own["tries"] < 6:
            s.sendto(own["text"], dlg["dest"])
            own["tries"] += 1
            own["next"] = now + 0.5 * (2 ** own["tries"])
        if ok_wait is not None and now >= ok_wait["next"]:
            if ok_wait["tries"] >= 7:
                report["error"] = "no ACK for our 200 to a re-INVITE"
                ok_wait = None
            else:
                s.sendto(ok_wait["text"], ok_wait["to"])
                ok_wait["tries"] += 1
                ok_wait["next"] = now + 0.5 * (2 ** min(ok_wait["tries"], 3))
        if caller and bye_at is not None and now >= bye_at and bye is None and own is None and ok_wait is None:
            dlg["cseq"] += 1
            bye = {"cseq": dlg["cseq"], "text": request("BYE", dlg["cseq"], branch()), "next": now + 0.5, "tries": 1}
            s.sendto(bye["text"], dlg["dest"])
        if bye is not None and now >= bye["next"] and bye["tries"] < 6:
            s.sendto(bye["text"], dlg["dest"])
            bye["tries"] += 1
            bye["next"] = now + 0.5 * (2 ** bye["tries"])
        start, h, body, src = recv(end)
        if not start:
            continue
        cseq = hget(h, "cseq").split()
        if start.startswith("SIP/2.0 "):
            code = int(start.split()[1])
            if cseq[1:] == ["BYE"] and bye is not None and int(cseq[0]) == bye["cseq"] and code >= 200:
                report["bye"] = code
                done = True
            elif cseq[1:] == ["INVITE"]:
                n = int(cseq[0])
                if own is not None and n == own["cseq"]:
                    if code < 200:
                        own["next"] = float("inf")
                        continue
                    # ACK: the same branch for a failure (hop by hop), a new one for a 2xx.
                    saved = dlg["remote"]
                    dlg["remote"] = hget(h, "to") or saved
                    ack = request("ACK", n, own["branch"] if code >= 300 else branch(), cseq_method="ACK")
                    dlg["remote"] = saved
                    last_ack[n] = ack
                    s.sendto(ack, dlg["dest"])
                    report["attempts"].append(code)
                    own = None
                    if code == 491 and len(report["attempts"]) < 3:
                        # RFC 3261 14.1: the Call-ID's owner waits 2.1-4 s, the other side 0-2 s.
                        wait = random.uniform(2.1, 4.0) if caller else random.uniform(0.0, 2.0)
                        report["backoff"].append(round(wait, 3))
                        retry_at = time.monotonic() + wait
                    elif code < 300 and caller:
                        bye_at = max(time.monotonic() + 1.0, at_mono + 5.0)
                elif n in last_ack and code >= 200:
                    s.sendto(last_ack[n], dlg["dest"])  # a retransmitted final response
            continue
        if start.startswith("ACK "):
            if ok_wait is not None and cseq and int(cseq[0]) == ok_wait["cseq"]:
                ok_wait = None
            continue
        via_branch = re.search(r"branch=([^;,\s]+)", hget(h, "via"))
        vb = via_branch.group(1) if via_branch else ""
        if vb in answered:
            s.sendto(answered[vb], src)  # a retransmitted request: the same answer again
            continue
        if start.startswith("BYE "):
            resp = response(h, 200, "OK")
            answered[vb] = resp
            s.sendto(resp, src)
            report["bye"] = True
            if not caller:
                # Linger a little for a retransmitted BYE (our 200 may be lost), then stop.
                linger = time.monotonic() + 1.0
                while time.monotonic() < linger:
                    st2, h2, _, src2 = recv(linger)
                    if st2 and st2.startswith("BYE "):
                        s.sendto(resp, src2)
                done = True
            continue
        if start.startswith("INVITE "):
            if not first_sent:
                send_own()  # ours is due at the same moment: it crossed this one on the wire
            if own is not None:
                resp = response(h, 491, "Request Pending")
                report["answered"].append(491)
            else:
                resp = response(h, 200, "OK", None, f"Contact: <sip:{a.role}@{a.ip}:5060>", sdp(), "application/sdp")
                report["answered"].append(200)
                ok_wait = {"cseq": int(cseq[0]) if cseq else 0, "text": resp, "to": src,
                           "next": time.monotonic() + 0.5, "tries": 1}
            answered[vb] = resp
            s.sendto(resp, src)
            continue
        s.sendto(response(h, 501, "Not Implemented"), src)
    if not done and "error" not in report:
        report["error"] = "timed out before the call ended"
    return report


def call_burst(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.ip, 5060))
    host, _, port = a.to.partition(":")
    dest = (host, int(port or 5060))
    end = time.monotonic() + a.timeout
    report = {"waves": [], "retry_after": []}
    sdp = (f"v=0\r\no=burst 1 1 IN IP4 {a.ip}\r\ns=-\r\nc=IN IP4 {a.ip}\r\nt=0 0\r\n"
           f"m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
    stamp = int(time.time() * 1000)
    for w, count in enumerate(int(n) for n in a.waves.split(",")):
        if w > 0:
            time.sleep(a.pause)
        calls = {}  # Call-ID -> (INVITE text, branch, final status)
        for k in range(count):
            call_id = f"burst-{stamp}-{w}-{k}@{a.ip}"
            branch = f"z9hG4bKburst{stamp}w{w}k{k}"
            inv = (f"INVITE sip:{a.user}@{host} SIP/2.0\r\nVia: SIP/2.0/UDP {a.ip}:5060;branch={branch};rport\r\n"
                   f"Max-Forwards: 70\r\nFrom: <sip:burst@{a.ip}>;tag=b{w}x{k}\r\nTo: <sip:{a.user}@{host}>\r\n"
                   f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:burst@{a.ip}:5060>\r\n"
                   f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}")
            calls[call_id] = {"invite": inv.encode(), "branch": branch, "status": None, "heard": False}
        for c in calls.values():
            s.sendto(c["invite"], dest)
        resend = time.monotonic() + 0.5
        wave_end = min(end, time.monotonic() + 8)
        while time.monotonic() < wave_end and any(c["status"] is None for c in calls.values()):
            if time.monotonic() >= resend:  # UDP: INVITEs nobody answered yet go again (Timer A)
                for c in calls.values():
                    if not c["heard"]:
                        s.sendto(c["invite"], dest)
                resend = time.monotonic() + 0.5
            s.settimeout(max(0.01, min(0.2, wave_end - time.monotonic())))
            try:
                data, src = s.recvfrom(65535)
            except socket.timeout:
                continue
            start, h, _ = parse(data)
            c = calls.get(hget(h, "call-id"))
            if c is None or not start.startswith("SIP/2.0 ") or not hget(h, "cseq").endswith("INVITE"):
                continue
            c["heard"] = True
            code = int(start.split()[1])
            if code < 200:
                continue
            if c["status"] is None and hget(h, "retry-after"):
                report["retry_after"].append(hget(h, "retry-after"))
            c["status"] = c["status"] or code
            # ACK the final response (a non-2xx one in its transaction, a 2xx end to end), and
            # end a call that was answered after all.
            to = hget(h, "to")
            ack_branch = c["branch"] if code >= 300 else c["branch"] + "a"
            common = (f"Max-Forwards: 70\r\nFrom: {hget(h, 'from')}\r\nTo: {to}\r\n"
                      f"Call-ID: {hget(h, 'call-id')}\r\n")
            s.sendto((f"ACK sip:{a.user}@{host} SIP/2.0\r\nVia: SIP/2.0/UDP {a.ip}:5060;branch={ack_branch};rport\r\n"
                      + common + "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n").encode(), src)
            if code < 300:
                s.sendto((f"BYE sip:{a.user}@{host} SIP/2.0\r\nVia: SIP/2.0/UDP {a.ip}:5060;branch={ack_branch}b;rport\r\n"
                          + common + "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n").encode(), src)
        report["waves"].append([c["status"] for c in calls.values()])
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
    gl = sub.add_parser("glare")
    gl.add_argument("--role", choices=["caller", "callee"], required=True)
    gl.add_argument("--ip", required=True)
    gl.add_argument("--to", default="", help="caller: the appliance, HOST:PORT")
    gl.add_argument("--user", default="bob", help="caller: the user to call")
    gl.add_argument("--at", type=float, required=True, help="epoch seconds of the re-INVITE")
    gl.add_argument("--report", required=True)
    gl.add_argument("--timeout", type=float, default=20.0)
    cb = sub.add_parser("call-burst")
    cb.add_argument("--ip", required=True)
    cb.add_argument("--to", required=True, help="the appliance, HOST:PORT")
    cb.add_argument("--user", default="nobody")
    cb.add_argument("--waves", default="5,2", help="INVITEs per wave, comma-separated")
    cb.add_argument("--pause", type=float, default=1.2, help="seconds between waves")
    cb.add_argument("--report", required=True)
    cb.add_argument("--timeout", type=float, default=20.0)
    a = ap.parse_args()
    modes = {"refer-storm": refer_storm, "busy": busy, "glare": glare, "call-burst": call_burst}
    report = modes[a.mode](a)
    with open(a.report, "w") as f:
        json.dump(report, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
