#!/usr/bin/env python3
"""A scripted fax call over UDP for the lab: a call set up with audio, switched to T.38 by the
callee (a fax gateway) with a re-INVITE, UDPTL packets both ways through the media relay, then
the caller's BYE. Run each role inside its lab namespace; every wait is bounded, the whole run by
--timeout (default 20 s).

  t38_ua.py callee --ip IP --variant append|replace --packets N --report FILE [--timeout S] [--sip-port P]
      answers the first INVITE with 200 (+SDP, audio at IP:8000) until its ACK; 0.5 s after the
      ACK re-INVITEs in that dialog with a T.38 offer (image at IP:8100): `append` keeps the audio
      stream as "m=audio 0" before the image line, `replace` has the image line only. ACKs the
      answer, exchanges UDPTL (below), answers the caller's BYE and lingers 1 s for retransmissions.
  t38_ua.py caller --ip IP --to HOST:PORT --user USER --packets N --report FILE [--timeout S] [--sip-port P]
      INVITEs sip:USER@HOST:PORT (audio at IP:7000) and ACKs the 200; answers the re-INVITE with
      200 and an SDP that mirrors the offer's m-lines (its image line at IP:7100, any other one
      rejected with port 0; 488 for an offer without an image line); exchanges UDPTL once that 200
      is ACKed, then sends BYE.

SIP is bound on IP:P (--sip-port, default 5060). UDPTL: each side sends N packets 20 ms apart from
its image port (bound at the start, before any SDP names it) to the c= address and image port of
the other side's SDP as received (in the lab: the appliance's relay). Packet k (0..N-1) is k as 2
bytes big-endian (UDPTL's seq_number), then "t38 ROLE kkkkk " repeated, 60 bytes in all. Meanwhile
it counts what arrives on that port, then listens up to 1.5 s more unless all N arrived.

Report (JSON, written even on errors, timeouts and SIGTERM):
  role        "caller" or "callee"
  setup       the caller: the INVITE's final status; the callee: 200 once its 200 was ACKed
  reinvite    the callee: the final status its re-INVITE got; the caller: the status it answered
  t38_media   the m-lines of the SDP received for the T.38 change (the caller: the re-INVITE's
              offer; the callee: the answer in the 200) as [type, port], in order
  t38_conn    that SDP's address for the image stream (the image line's c=, else the session's)
  sent        UDPTL packets sent
  received    distinct packets (by seq_number) equal to exactly what the other role sends
  duplicates  further copies of those
  corrupt     anything else that arrived on the image port
  sources     the sorted distinct "ip:port" sources of all that arrived on the image port
  bye         the caller: its BYE's final status; the callee: true once the BYE came
  error       (only when something went wrong) the first thing that did
Unset values are null. Exit status 0 without "error", 1 with.
"""
import argparse
import json
import os
import random
import re
import select
import signal
import socket
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sip_ua import parse, hget, hall, response, uri_of, hostport  # noqa: E402  (the shared SIP text helpers)

PEER = {"caller": "callee", "callee": "caller"}
AUDIO_PORT = {"caller": 7000, "callee": 8000}
IMAGE_PORT = {"caller": 7100, "callee": 8100}
T38_ATTRS = ["a=T38FaxVersion:0", "a=T38MaxBitRate:14400", "a=T38FaxRateManagement:transferredTCF",
             "a=T38FaxMaxDatagram:400", "a=T38FaxUdpEC:t38UDPRedundancy"]
T1, T2 = 0.5, 4.0   # RFC 3261's retransmission intervals: start at T1, double up to T2
TRIES = 7           # sends of a request, or of a 2xx waiting for its ACK, before giving up
PACE = 0.02         # seconds between UDPTL packets
PAYLOAD_LEN = 60


class Stopped(Exception):
    """SIGTERM or SIGINT: unwinds to main(), which still writes the report."""


def payload(role, k):
    # k as UDPTL's 2-byte seq_number, then text that says who sent which packet (easy to read in a capture).
    text = f"t38 {role} {k:05d} "
    body_len = PAYLOAD_LEN - 2
    return k.to_bytes(2, "big") + (text * (body_len // len(text) + 1)).encode()[:body_len]


def status_of(start):
    m = re.match(r"SIP/2\.0 (\d{3})\b", start)
    return int(m.group(1)) if m else None


def cseq_of(headers):
    m = re.match(r"(\d+)\s+([A-Za-z]+)$", hget(headers, "cseq"))
    return (int(m.group(1)), m.group(2).upper()) if m else None


def top_branch(headers):
    vias = hall(headers, "via")
    m = re.search(r"branch=([^;,\s]+)", vias[0]) if vias else None
    return m.group(1) if m else ""


def audio(port):
    return [f"m=audio {port} RTP/AVP 0", "a=rtpmap:0 PCMU/8000", "a=sendrecv"]


def image(port):
    return [f"m=image {port} udptl t38"] + T38_ATTRS


def sdp(role, ip, version, sections):
    # The same session id in every version: only the version goes up on a change (RFC 3264 8).
    lines = ["v=0", f"o={role} 4242 {version} IN IP4 {ip}", "s=-", f"c=IN IP4 {ip}", "t=0 0"]
    for section in sections:
        lines += section
    return "\r\n".join(lines) + "\r\n"


def sdp_media(body):
    """The m-lines of an SDP body as [type, port, rest of the line] (port None when unreadable) and
    the address of the first image stream: its own c= if it has one (RFC 4566 5.7), else the
    session-level one."""
    media, session_c, image_c, image_at = [], None, None, None
    for line in body.splitlines():
        line = line.strip()
        if line.startswith("m="):
            f = line[2:].split(None, 2)
            port = f[1].split("/")[0] if len(f) > 1 else ""
            media.append([f[0] if f else "", int(port) if port.isdigit() else None, f[2] if len(f) > 2 else ""])
            if media[-1][0] == "image" and image_at is None:
                image_at = len(media) - 1
        elif line.startswith("c="):
            f = line[2:].split()
            addr = f[2].split("/")[0] if len(f) > 2 else None
            if not media:
                session_c = addr
            elif len(media) - 1 == image_at and image_c is None:
                image_c = addr
    return media, image_c or session_c


def image_dest(media, conn):
    """Where UDPTL goes by an SDP: (address, port) of its first image stream, or None."""
    port = next((p for t, p, _ in media if t == "image"), None)
    if not port or port > 65535 or not conn or not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", conn) or conn == "0.0.0.0":
        return None
    return conn, port


class Leg:
    """One UA's sockets and dialog, and the work that must go on whatever its script waits for:
    our 2xx retransmitted until its ACK, our ACK or answer repeated when what it answers comes
    again, stray requests answered, UDPTL packets counted."""

    def __init__(self, a, report):
        self.a, self.report, self.role = a, report, a.mode
        self.end = time.monotonic() + a.timeout
        self.tag = f"{self.role}{random.randrange(1 << 30):x}"
        self.contact = f"Contact: <sip:{self.role}@{a.ip}:{a.sip_port}>"
        self.dlg = {}          # target (URI), dest (host, port), local, remote (From/To values), call_id
        self.answered = {}     # Via branch of a request we answered -> our answer, for its retransmissions
        self.unacked = {}      # CSeq of an INVITE we answered 2xx -> that 2xx, where to, retransmission timer
        self.acked = set()     # CSeqs of INVITEs whose 2xx got its ACK
        self.acks = {}         # CSeq of an INVITE of ours -> (our ACK, where to), for a repeated final response
        self.inviting = False  # an INVITE of ours waits for its final response
        self.bye_in = False    # the other side sent BYE
        self.expect = [payload(PEER[self.role], k) for k in range(a.packets)]
        self.got, self.sources = set(), set()
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((a.ip, a.sip_port))
        # Bound before any SDP names it, so the first packet from the relay finds it listening.
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind((a.ip, IMAGE_PORT[self.role]))

    def fail(self, what):
        self.report.setdefault("error", what)  # only the first thing that went wrong

    def send(self, data, dest, sock=None):
        try:
            (sock or self.sip).sendto(data, dest)
        except OSError as e:
            self.fail(f"sending to {dest[0]}:{dest[1]}: {e}")

    def branch(self):
        return f"z9hG4bK{self.role}{random.randrange(1 << 40):x}"

    def request(self, method, cseq, br, body=""):
        d = self.dlg
        out = [f"{method} {d['target']} SIP/2.0", f"Via: SIP/2.0/UDP {self.a.ip}:{self.a.sip_port};branch={br};rport",
               "Max-Forwards: 70", f"From: {d['local']}", f"To: {d['remote']}", f"Call-ID: {d['call_id']}",
               f"CSeq: {cseq} {method}", self.contact]
        if body:
            out.append("Content-Type: application/sdp")
        out.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(out) + "\r\n\r\n" + body).encode()

    def answer(self, headers, src, text, cseq=None):
        """Sends our answer to a request and keeps it for the request's retransmissions; with `cseq`
        (a 2xx to an INVITE) it also goes again, T1 doubling, until its ACK (RFC 3261 13.3.1.4)."""
        self.answered[top_branch(headers)] = text
        self.send(text, src)
        if cseq is not None:
            self.unacked[cseq] = {"text": text, "dest": src, "sends": 1, "next": time.monotonic() + T1}

    def ack(self, cseq, br, code, headers):
        """ACKs a final response to our INVITE: a 2xx end to end with a new branch (and the dialog
        takes its To tag and Contact as the remote target), a failure in the INVITE's transaction
        (same branch, RFC 3261 17.1.1.3)."""
        saved = dict(self.dlg)
        self.dlg["remote"] = hget(headers, "to") or self.dlg["remote"]
        if code < 300:
            target = uri_of(hget(headers, "contact"))
            if target:
                self.dlg["target"], self.dlg["dest"] = target, hostport(target) or self.dlg["dest"]
            text = self.request("ACK", cseq, self.branch())
        else:
            text = self.request("ACK", cseq, br)
            self.dlg = saved
        self.acks[cseq] = (text, self.dlg["dest"])
        self.send(text, self.dlg["dest"])

    def poll(self, deadline, invites=False):
        """Runs the timers, then waits until `deadline` (at most) for one datagram. Handles what it
        can itself; returns (start line, headers, body, source) of a response, or of a new INVITE when
        `invites` (the caller of poll then answers it), else None."""
        now = time.monotonic()
        for n, u in list(self.unacked.items()):
            if now >= u["next"]:
                if u["sends"] >= TRIES:
                    del self.unacked[n]
                    self.fail(f"no ACK for our 200 to the INVITE with CSeq {n}")
                    continue
                self.send(u["text"], u["dest"])
                u["sends"] += 1
                u["next"] = now + min(T1 * 2 ** (u["sends"] - 1), T2)
        wait = min([deadline, self.end] + [u["next"] for u in self.unacked.values()]) - now
        ready, _, _ = select.select([self.sip, self.media], [], [], max(0.0, wait))
        if self.media in ready:
            try:
                data, src = self.media.recvfrom(65535)
                self.on_media(data, src)
            except OSError:
                pass
        if self.sip in ready:
            try:
                data, src = self.sip.recvfrom(65535)
            except OSError:
                return None
            return self.on_sip(data, src, invites)
        return None

    def wait(self, until, done=lambda: False):
        """Polls until `done()` or `until` (never past the end of the run); what poll returns nobody waits for."""
        until = min(until, self.end)
        while not done() and time.monotonic() < until:
            self.poll(until)

    def on_media(self, data, src):
        r = self.report
        k = int.from_bytes(data[:2], "big") if len(data) >= 2 else -1
        if 0 <= k < len(self.expect) and data == self.expect[k]:
            if k in self.got:
                r["duplicates"] += 1
            else:
                self.got.add(k)
                r["received"] = len(self.got)
        else:
            r["corrupt"] += 1
        source = f"{src[0]}:{src[1]}"
        if source not in self.sources:
            self.sources.add(source)
            r["sources"] = sorted(self.sources)

    def on_sip(self, data, src, invites):
        start, h, body = parse(data)
        cs = cseq_of(h)
        if cs is None:
            return None  # garbled or not SIP
        ours = not self.dlg or hget(h, "call-id") == self.dlg.get("call_id")
        code = status_of(start)
        if code is not None:
            if code >= 200 and ours and cs[1] == "INVITE" and cs[0] in self.acks:
                self.send(*self.acks[cs[0]])  # a final response again: our ACK was lost
                return None
            return start, h, body, src
        m = re.match(r"([A-Z]+) \S+ SIP/2\.0$", start)
        if not m:
            return None
        method = m.group(1)
        if method == "ACK":
            if ours and self.unacked.pop(cs[0], None) is not None:
                self.acked.add(cs[0])
            return None
        vb = top_branch(h)
        if vb and vb in self.answered:
            self.send(self.answered[vb], src)  # a retransmitted request: the same answer again
            return None
        if method == "INVITE" and invites and ours:
            return start, h, body, src
        if method == "INVITE":
            if not ours:
                resp = response(h, 486, "Busy Here", self.tag)  # another call while we are on this one
            elif self.inviting:
                resp = response(h, 491, "Request Pending")  # RFC 3261 14.2
            else:
                resp = response(h, 500, "Server Internal Error", None, "Retry-After: 1")
        elif method == "BYE" and self.dlg and ours:
            resp = response(h, 200, "OK")
            self.bye_in = True
        elif method == "BYE":
            resp = response(h, 481, "Call/Transaction Does Not Exist")  # not our call, or none yet
        elif method == "OPTIONS":
            resp = response(h, 200, "OK")
        else:
            resp = response(h, 501, "Not Implemented")
        self.answer(h, src, resp)
        return None

    def transact(self, method, cseq, body="", until=None):
        """Sends a request of ours in the dialog until its final response (T1 doubling up to T2, at
        most TRIES sends; for an INVITE a provisional response stops them) and returns (status,
        headers, body, branch); status None when none came by `until`."""
        until = min(until or self.end, self.end)
        br = self.branch()
        text = self.request(method, cseq, br, body)
        self.inviting = method == "INVITE"
        sends, next_send = 0, time.monotonic()
        try:
            while time.monotonic() < until:
                if time.monotonic() >= next_send:
                    if sends >= TRIES:
                        break
                    self.send(text, self.dlg["dest"])
                    sends += 1
                    next_send = time.monotonic() + min(T1 * 2 ** (sends - 1), T2)
                ev = self.poll(min(next_send, until))
                if ev is None:
                    continue
                start, h, rbody, _ = ev
                code = status_of(start)
                if code is None or cseq_of(h) != (cseq, method) or hget(h, "call-id") != self.dlg["call_id"]:
                    continue
                if code < 200:
                    if method == "INVITE":
                        next_send = float("inf")
                    continue
                return code, h, rbody, br
        finally:
            self.inviting = False
        return None, None, "", br


def record_t38(leg, body):
    """Records the SDP of the T.38 change as received; returns its m-lines and where our UDPTL goes
    (None without a usable image stream)."""
    media, conn = sdp_media(body)
    leg.report["t38_media"] = [[t, p] for t, p, _ in media]
    leg.report["t38_conn"] = conn
    return media, image_dest(media, conn)


def exchange(leg, dest, until):
    """The UDPTL exchange: N packets PACE apart from our image port to `dest`, counting what arrives
    meanwhile (poll does), then up to 1.5 s more unless all N came. Stops early if the call ended."""
    r, n = leg.report, leg.a.packets
    until = min(until, leg.end)
    t0 = time.monotonic()
    while r["sent"] < n and not leg.bye_in and time.monotonic() < until:
        due = t0 + PACE * r["sent"]  # on a fixed grid: a late poll does not stretch the pacing
        if time.monotonic() >= due:
            leg.send(payload(leg.role, r["sent"]), dest, leg.media)
            r["sent"] += 1
        else:
            leg.poll(due)
    leg.wait(min(until, time.monotonic() + 1.5), lambda: len(leg.got) >= n or leg.bye_in)
    if r["sent"] < n:
        leg.fail(f"sent only {r['sent']} of {n} UDPTL packets")
    if r["received"] < n:
        leg.fail(f"received {r['received']} of {n} UDPTL packets")
    if r["corrupt"]:
        leg.fail(f"{r['corrupt']} corrupt UDPTL packets")


def caller(leg):
    a, r = leg.a, leg.report
    host, _, port = a.to.partition(":")
    appliance = (host, int(port or 5060))
    uri = f"sip:{a.user}@{host}:{appliance[1]}"
    leg.dlg = {"target": uri, "dest": appliance, "local": f"<sip:caller@{a.ip}>;tag={leg.tag}",
               "remote": f"<{uri}>", "call_id": f"t38-{random.randrange(1 << 40):x}@{a.ip}"}

    # ---- the call ------------------------------------------------------------------------------
    code, h, _, br = leg.transact("INVITE", 1, sdp("caller", a.ip, 1, [audio(AUDIO_PORT["caller"])]))
    r["setup"] = code
    if code is None:
        return leg.fail("no answer to the INVITE")
    leg.ack(1, br, code, h)
    if code >= 300:
        return leg.fail(f"the INVITE got {code}")

    # ---- the switch to T.38 and UDPTL: leave time for the BYE at the end --------------------------
    bye_by = leg.end - min(2.0, a.timeout / 5)
    inv = None
    while inv is None and not leg.bye_in and time.monotonic() < bye_by:
        ev = leg.poll(bye_by, invites=True)
        inv = ev if ev and ev[0].startswith("INVITE ") else None
    if inv is None:
        leg.fail("no re-INVITE")
    else:
        _, h, body, src = inv
        n = cseq_of(h)[0]
        target = uri_of(hget(h, "contact"))  # a re-INVITE refreshes the remote target (RFC 3261 12.2.2)
        if target:
            leg.dlg["target"], leg.dlg["dest"] = target, hostport(target) or src
        media, dest = record_t38(leg, body)
        if dest is None:
            r["reinvite"] = 488
            leg.answer(h, src, response(h, 488, "Not Acceptable Here"))
            leg.fail("the re-INVITE offered no usable image stream")
        else:
            # Mirror the offer's m-lines (RFC 3264 6): the first image stream taken, the rest refused.
            image_at = next(i for i, (t, p, _) in enumerate(media) if t == "image")
            sections = [image(IMAGE_PORT["caller"]) if i == image_at else [f"m={t} 0 {rest}".rstrip()]
                        for i, (t, _, rest) in enumerate(media)]
            r["reinvite"] = 200
            leg.answer(h, src, response(h, 200, "OK", None, leg.contact, sdp("caller", a.ip, 2, sections),
                                        "application/sdp"), n)
            # UDPTL only once the ACK shows the answer went through the appliance: its relay is set.
            leg.wait(bye_by, lambda: n not in leg.unacked)
            if n in leg.acked:
                exchange(leg, dest, bye_by)
            else:
                leg.fail("no ACK for our 200 to the re-INVITE")

    # ---- the end of the call -------------------------------------------------------------------
    if leg.bye_in:
        return leg.fail("the callee ended the call")
    code, _, _, _ = leg.transact("BYE", 2)
    r["bye"] = code
    if code is None:
        leg.fail("no answer to the BYE")


def callee(leg):
    a, r = leg.a, leg.report

    # ---- the call ------------------------------------------------------------------------------
    inv = None
    while inv is None and time.monotonic() < leg.end:
        ev = leg.poll(leg.end, invites=True)
        inv = ev if ev and ev[0].startswith("INVITE ") else None
    if inv is None:
        return leg.fail("no INVITE")
    _, h, _, src = inv
    n = cseq_of(h)[0]
    leg.dlg = {"target": uri_of(hget(h, "contact")), "local": f"{hget(h, 'to')};tag={leg.tag}",
               "remote": hget(h, "from"), "call_id": hget(h, "call-id")}
    leg.dlg["dest"] = hostport(leg.dlg["target"]) or src
    ok = response(h, 200, "OK", leg.tag, leg.contact, sdp("callee", a.ip, 1, [audio(AUDIO_PORT["callee"])]),
                  "application/sdp")
    leg.answer(h, src, ok, n)
    leg.wait(leg.end, lambda: n not in leg.unacked)
    if n not in leg.acked:
        return leg.fail("no ACK for the 200")
    r["setup"] = 200

    # ---- the switch to T.38 and UDPTL ----------------------------------------------------------
    leg.wait(time.monotonic() + 0.5)
    sections = ([["m=audio 0 RTP/AVP 0"]] if a.variant == "append" else []) + [image(IMAGE_PORT["callee"])]
    # Our own CSeq space may start anywhere (RFC 3261 8.1.1.5); one above the INVITE's reads well in traces.
    mine = n + 1
    code, h, body, br = leg.transact("INVITE", mine, sdp("callee", a.ip, 2, sections))
    r["reinvite"] = code
    if code is None:
        leg.fail("no answer to the re-INVITE")
    else:
        leg.ack(mine, br, code, h)
        if code >= 300:
            leg.fail(f"the re-INVITE got {code}")
        else:
            _, dest = record_t38(leg, body)
            if dest is None:
                leg.fail("the answer to the re-INVITE has no usable image stream")
            else:
                exchange(leg, dest, leg.end)

    # ---- the end of the call: the caller's BYE ---------------------------------------------------
    leg.wait(leg.end, lambda: leg.bye_in)
    if not leg.bye_in:
        return leg.fail("no BYE")
    r["bye"] = True
    leg.wait(time.monotonic() + 1.0)  # linger: our 200 may be lost and the BYE come again


def packets(text):
    n = int(text)
    if not 0 <= n <= 65536:
        raise argparse.ArgumentTypeError("0..65536 (the sequence number has 2 bytes)")
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    for role in ("callee", "caller"):
        p = sub.add_parser(role)
        p.add_argument("--ip", required=True)
        if role == "callee":
            p.add_argument("--variant", choices=["append", "replace"], required=True,
                           help="the T.38 offer: m=audio 0 then m=image, or m=image only")
        else:
            p.add_argument("--to", required=True, help="where the INVITE goes (the appliance), HOST:PORT")
            p.add_argument("--user", required=True, help="the user to call")
        p.add_argument("--packets", type=packets, required=True, help="UDPTL packets to send")
        p.add_argument("--report", required=True)
        p.add_argument("--timeout", type=float, default=20.0, help="bound of the whole run, seconds")
        p.add_argument("--sip-port", type=int, default=5060)
    a = ap.parse_args()
    report = {"role": a.mode, "setup": None, "reinvite": None, "t38_media": None, "t38_conn": None,
              "sent": 0, "received": 0, "duplicates": 0, "corrupt": 0, "sources": [], "bye": None}

    def stop(signum, _frame):
        raise Stopped(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        {"caller": caller, "callee": callee}[a.mode](Leg(a, report))
    except Stopped as e:
        report.setdefault("error", str(e))
    except Exception as e:
        report.setdefault("error", f"{type(e).__name__}: {e}")
        traceback.print_exc()
    finally:
        with open(a.report, "w") as f:
            json.dump(report, f)
    return 1 if "error" in report else 0


if __name__ == "__main__":
    sys.exit(main())
