#!/usr/bin/env python3
"""A scripted provider trunk for the lab: it challenges the appliance with digest authentication
(RFC 3261 22, RFC 8760: SHA-256 and MD5 offered, qop=auth) and checks the answers itself, as a
carrier's trunk would. Run inside a lab namespace; every wait is bounded.

  sip_trunk.py --ip IP --user U --password P --realm R --report FILE [--timeout S]
               [--until bye|unregistered] [--invite-status N]

REGISTER: unauthenticated ones get 401; authenticated ones with a right digest get 200 with the
Contact and ;expires= the request asked for (403 for a wrong digest). INVITE: 407 first; with right
credentials 200 with SDP (media at IP:7000, where every RTP packet is echoed back to its sender),
then the ACK and the BYE are answered. With --invite-status N (300..699; default 200) an
authenticated INVITE is answered with that final status instead (no SDP, a To tag), e.g. 486 Busy
Here, and the ACK for it is recorded. Stops when --until happened or at --timeout: `bye` is the
end of the call, the BYE answered (200) or, with a non-2xx --invite-status, the ACK of that answer
arrived (not the ACK of the 407); `unregistered` an authenticated REGISTER with Expires: 0
answered. Writes a JSON report of every request: method, whether it carried credentials, the
verdict, Expires, Contact, From, the answer, when it arrived, and its identity headers: `pai` (every
P-Asserted-Identity value, a list: a header line with several comma-separated values counts each),
`ppi` (the same for P-Preferred-Identity), `privacy` (the Privacy header's value, several lines
joined by ";", or ""), `identity` (the first STIR/SHAKEN Identity header's value, or "") and
`identities` (every Identity header's value, in order, a list: one per header line, as RFC 8224's
grammar has no comma-separated list; a SHAKEN PASSporT and the "div" ones of RFC 8946 after it).
"""
import argparse
import hashlib
import json
import os
import re
import secrets
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sip_ua import parse, hget, hall, response  # noqa: E402  (the shared SIP text helpers)

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
REASONS = {200: "OK", 403: "Forbidden", 404: "Not Found", 480: "Temporarily Unavailable", 486: "Busy Here",
           487: "Request Terminated", 488: "Not Acceptable Here", 503: "Service Unavailable", 603: "Decline"}


def split_values(value):
    """The comma-separated values of one header line (RFC 3261 7.3.1), commas inside quoted strings
    and <...> kept: '"A, B" <sip:1@h>, <tel:2>' -> ['"A, B" <sip:1@h>', '<tel:2>']."""
    out, cur, quoted, angle, i = [], "", False, False, 0
    while i < len(value):
        c = value[i]
        if quoted and c == "\\" and i + 1 < len(value):
            cur += value[i:i + 2]
            i += 2
            continue
        if c == '"' and not angle:
            quoted = not quoted
        elif c == "<" and not quoted:
            angle = True
        elif c == ">" and not quoted:
            angle = False
        elif c == "," and not quoted and not angle:
            out.append(cur.strip())
            cur = ""
            i += 1
            continue
        cur += c
        i += 1
    if cur.strip():
        out.append(cur.strip())
    return [v for v in out if v]


def header_values(lines):
    """Every value of the given header lines (a list of line values), split at top-level commas."""
    return [v for line in lines for v in split_values(line)]


def digest_params(value):
    """Parameters of a Digest credentials value (quoted or token values)."""
    if not value.lower().startswith("digest "):
        return None
    return {k.lower(): v1 if v1 != "" or v2 == "" else v2
            for k, v1, v2 in re.findall(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))', value[7:])}


def verify(value, method, user, password, realm, nonces):
    """'ok', or why the credentials are not right."""
    p = digest_params(value)
    if p is None:
        return "not digest"
    alg = p.get("algorithm", "MD5").upper()
    h = HASHES.get(alg)
    if h is None:
        return f"algorithm {alg} not offered"
    if p.get("username") != user or p.get("realm") != realm:
        return f"username/realm {p.get('username')}/{p.get('realm')}"
    if p.get("nonce") not in nonces:
        return "unknown nonce"

    def H(s):
        return h(s.encode()).hexdigest()
    ha1 = H(f"{user}:{realm}:{password}")
    ha2 = H(f"{method}:{p.get('uri', '')}")
    if p.get("qop") == "auth":
        want = H(f"{ha1}:{p['nonce']}:{p.get('nc', '')}:{p.get('cnonce', '')}:auth:{ha2}")
    else:
        want = H(f"{ha1}:{p['nonce']}:{ha2}")
    return "ok" if p.get("response") == want else "wrong response"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ip", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--realm", required=True)
    ap.add_argument("--report", required=True)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--until", choices=["bye", "unregistered"], default="bye")
    ap.add_argument("--invite-status", type=int, default=200,
                    help="final status for an authenticated INVITE: 200 (with SDP, the default) or 300..699")
    a = ap.parse_args()
    if a.invite_status != 200 and not 300 <= a.invite_status <= 699:
        ap.error(f"--invite-status {a.invite_status}: 200 or 300..699")

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind((a.ip, 5060))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((a.ip, 7000))
    end = time.monotonic() + a.timeout
    nonces = set()
    report = {"requests": [], "rtp_echoed": 0, "done": False}
    answered = {}  # (Call-ID, CSeq) -> the final response, for retransmissions
    rejected = set()  # (Call-ID, CSeq number) of authenticated INVITEs answered --invite-status (non-2xx)

    def challenge_values():
        nonce = secrets.token_hex(16)
        nonces.add(nonce)
        return [f'Digest realm="{a.realm}", nonce="{nonce}", qop="auth", algorithm={alg}'
                for alg in ("SHA-256", "MD5")]

    def write():
        # Whole or not at all: the tests stop this process with SIGTERM whenever they are done with
        # it, and a report truncated by open("w") and cut off there read as empty JSON.
        tmp = a.report + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=1)
        os.replace(tmp, a.report)

    while time.monotonic() < end and not report["done"]:
        r, _, _ = select.select([sip, rtp], [], [], max(0.01, min(0.5, end - time.monotonic())))
        if rtp in r:
            data, src = rtp.recvfrom(65535)
            rtp.sendto(data, src)  # echo: the caller hears itself through the appliance
            report["rtp_echoed"] += 1
        if sip not in r:
            continue
        data, src = sip.recvfrom(65535)
        start, headers, _ = parse(data)
        if start.startswith("SIP/2.0"):
            continue  # responses to nothing we sent
        method = start.split(" ", 1)[0]
        key = (hget(headers, "call-id"), hget(headers, "cseq"))
        if key in answered:
            sip.sendto(answered[key], src)  # a retransmission: the same answer again
            continue
        row = {"method": method, "cseq": key[1], "from": hget(headers, "from"),
               "contact": hget(headers, "contact"), "expires": hget(headers, "expires"),
               "uri": start.split(" ")[1] if " " in start else "", "time": time.time(),
               "pai": header_values(hall(headers, "p-asserted-identity")),
               "ppi": header_values(hall(headers, "p-preferred-identity")),
               "privacy": ";".join(hall(headers, "privacy")),
               "identity": hget(headers, "identity") or "", "identities": hall(headers, "identity")}
        out = None
        if method in ("REGISTER", "INVITE"):
            cred_header = "authorization" if method == "REGISTER" else "proxy-authorization"
            cred = hget(headers, cred_header)
            row["credentials"] = bool(cred)
            if not cred:
                status, reason = (401, "Unauthorized") if method == "REGISTER" else (407, "Proxy Authentication Required")
                name = "WWW-Authenticate" if method == "REGISTER" else "Proxy-Authenticate"
                extra = "\r\n".join(f"{name}: {v}" for v in challenge_values())
                out = response(headers, status, reason, "trunktag", extra)
            else:
                verdict = verify(cred, method, a.user, a.password, a.realm, nonces)
                row["verdict"] = verdict
                row["algorithm"] = (digest_params(cred) or {}).get("algorithm", "MD5")
                if verdict != "ok":
                    out = response(headers, 403, "Forbidden", "trunktag")
                elif method == "REGISTER":
                    expires = hget(headers, "expires", "3600")
                    contact = hget(headers, "contact")
                    out = response(headers, 200, "OK", "trunktag",
                                   f"Contact: {contact};expires={expires}" if expires != "0" else "")
                    if expires == "0" and a.until == "unregistered":
                        report["done"] = True
                elif a.invite_status != 200:
                    out = response(headers, a.invite_status, REASONS.get(a.invite_status, "Rejected"), "trunktag")
                    rejected.add((key[0], key[1].split(" ")[0]))
                else:
                    sdp = (f"v=0\r\no=trunk 1 1 IN IP4 {a.ip}\r\ns=-\r\nc=IN IP4 {a.ip}\r\nt=0 0\r\n"
                           f"m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
                    out = response(headers, 200, "OK", "trunktag", f"Contact: <sip:trunk@{a.ip}:5060>",
                                   sdp, "application/sdp")
        elif method == "ACK":
            row["answer"] = None
            report["requests"].append(row)
            if a.until == "bye" and (key[0], key[1].split(" ")[0]) in rejected:
                report["done"] = True  # the call ended with our non-2xx answer
            write()
            continue
        elif method == "BYE":
            out = response(headers, 200, "OK")
            if a.until == "bye":
                report["done"] = True
        else:
            out = response(headers, 200, "OK")
        row["answer"] = out.split(b"\r\n", 1)[0].decode()
        report["requests"].append(row)
        answered[key] = out
        sip.sendto(out, src)
        write()
    # After the BYE, RTP may still be in flight: keep echoing briefly (bounded). A call that was
    # never answered had no media.
    linger = time.monotonic() + (1.0 if a.invite_status == 200 else 0.0)
    while time.monotonic() < linger:
        r, _, _ = select.select([rtp], [], [], 0.1)
        if r:
            data, src = rtp.recvfrom(65535)
            rtp.sendto(data, src)
            report["rtp_echoed"] += 1
    write()
    return 0 if report["done"] else 1


if __name__ == "__main__":
    sys.exit(main())
