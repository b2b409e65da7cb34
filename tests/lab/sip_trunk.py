#!/usr/bin/env python3
"""A scripted provider trunk for the lab: it challenges the appliance with digest authentication
(RFC 3261 22, RFC 8760: SHA-256 and MD5 offered, qop=auth) and checks the answers itself, as a
carrier's trunk would. Run inside a lab namespace; every wait is bounded.

  sip_trunk.py --ip IP --user U --password P --realm R --report FILE [--timeout S] [--until bye|unregistered]

REGISTER: unauthenticated ones get 401; authenticated ones with a right digest get 200 with the
Contact and ;expires= the request asked for (403 for a wrong digest). INVITE: 407 first; with right
credentials 200 with SDP (media at IP:7000, where every RTP packet is echoed back to its sender),
then the ACK and the BYE are answered. Stops when --until happened (the BYE answered, or an
authenticated REGISTER with Expires: 0 answered) or at --timeout. Writes a JSON report of every
request: method, whether it carried credentials, the verdict, Expires, Contact, From, the answer,
when it arrived.
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
from sip_ua import parse, hget, response  # noqa: E402  (the shared SIP text helpers)

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


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
    a = ap.parse_args()

    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind((a.ip, 5060))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((a.ip, 7000))
    end = time.monotonic() + a.timeout
    nonces = set()
    report = {"requests": [], "rtp_echoed": 0, "done": False}
    answered = {}  # (Call-ID, CSeq) -> the final response, for retransmissions

    def challenge_values():
        nonce = secrets.token_hex(16)
        nonces.add(nonce)
        return [f'Digest realm="{a.realm}", nonce="{nonce}", qop="auth", algorithm={alg}'
                for alg in ("SHA-256", "MD5")]

    def write():
        with open(a.report, "w") as f:
            json.dump(report, f, indent=1)

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
               "uri": start.split(" ")[1] if " " in start else "", "time": time.time()}
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
                else:
                    sdp = (f"v=0\r\no=trunk 1 1 IN IP4 {a.ip}\r\ns=-\r\nc=IN IP4 {a.ip}\r\nt=0 0\r\n"
                           f"m=audio 7000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
                    out = response(headers, 200, "OK", "trunktag", f"Contact: <sip:trunk@{a.ip}:5060>",
                                   sdp, "application/sdp")
        elif method == "ACK":
            row["answer"] = None
            report["requests"].append(row)
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
    # After the BYE, RTP may still be in flight: keep echoing briefly (bounded).
    linger = time.monotonic() + 1.0
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
