#!/usr/bin/env python3
"""Creates N relay sessions in rtpengine over its ng control protocol (bencode over UDP),
for the system benchmark: per stream an offer (the generator's source as caller media,
direction caller interface -> callee interface) and an answer (the sink as callee media).
Run inside the namespace where rtpengine's --listen-ng address is (sfb-dut).

Prints JSON: [{"call_id", "relay_addr", "relay_port", "src", "sink"}], relay_* from the SDP
rtpengine returned with the answer (where the caller must send). Bounded: one request at a
time, --timeout per request, 3 attempts.

  ng_client.py --ng 127.0.0.1:2223 --calls N --media-src 203.0.113.20:30000 \
               --sink 203.0.113.150:40000 --from-if acc --to-if core
"""
import argparse
import json
import os
import re
import socket
import sys


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        return b"d" + b"".join(bencode(k) + bencode(v[k]) for k in sorted(v)) + b"e"
    raise TypeError(type(v))


def bdecode(data, i=0):
    """Returns (value, next index); strings come back as str (rtpengine speaks UTF-8/ASCII)."""
    c = data[i:i + 1]
    if c == b"i":
        j = data.index(b"e", i)
        return int(data[i + 1:j]), j + 1
    if c == b"l":
        i += 1
        out = []
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        i += 1
        out = {}
        while data[i:i + 1] != b"e":
            k, i = bdecode(data, i)
            v, i = bdecode(data, i)
            out[k] = v
        return out, i + 1
    j = data.index(b":", i)
    n = int(data[i:j])
    return data[j + 1:j + 1 + n].decode(errors="replace"), j + 1 + n


class ng:
    def __init__(self, addr, timeout):
        self.addr = addr
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(timeout)
        self.seq = 0

    def request(self, msg):
        self.seq += 1
        cookie = f"{os.getpid()}_{self.seq}".encode()
        for _ in range(3):
            self.sock.sendto(cookie + b" " + bencode(msg), self.addr)
            try:
                while True:
                    data, _ = self.sock.recvfrom(65535)
                    c, _, body = data.partition(b" ")
                    if c == cookie:
                        reply, _ = bdecode(body)
                        return reply
            except socket.timeout:
                continue
        raise RuntimeError(f"no answer from rtpengine at {self.addr} to {msg.get('command')}")


def sdp(addr, port, sess):
    return (f"v=0\r\no=- {sess} 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n")


def media_of(body):
    c = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    m = re.search(r"^m=audio (\d+)", body, re.M)
    return (c.group(1) if c else None), (int(m.group(1)) if m else None)


def endpoint(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ng", required=True, help="rtpengine's --listen-ng IP:PORT")
    ap.add_argument("--calls", type=int, required=True)
    ap.add_argument("--media-src", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--from-if", default="acc")
    ap.add_argument("--to-if", default="core")
    ap.add_argument("--timeout", type=float, default=2.0)
    ap.add_argument("--ping", action="store_true", help="only check that rtpengine answers")
    a = ap.parse_args()

    client = ng(endpoint(a.ng), a.timeout)
    if a.ping:
        r = client.request({"command": "ping"})
        print(json.dumps(r))
        return 0 if r.get("result") == "pong" else 1
    src_ip, src_port = endpoint(a.media_src)
    sink_ip, sink_port = endpoint(a.sink)
    out = []
    for i in range(a.calls):
        call_id = f"sfb-ng-{os.getpid()}-{i}"
        offer = client.request({
            "command": "offer", "call-id": call_id, "from-tag": f"a{i}",
            "sdp": sdp(src_ip, src_port + 2 * i, 1000 + i),
            "direction": [a.from_if, a.to_if], "replace": ["origin", "session-connection"],
            "ICE": "remove"})
        if offer.get("result") != "ok":
            print(f"ng_client: offer {i}: {offer}", file=sys.stderr)
            return 1
        answer = client.request({
            "command": "answer", "call-id": call_id, "from-tag": f"a{i}", "to-tag": f"b{i}",
            "sdp": sdp(sink_ip, sink_port + 2 * i, 2000 + i),
            "replace": ["origin", "session-connection"], "ICE": "remove"})
        if answer.get("result") != "ok":
            print(f"ng_client: answer {i}: {answer}", file=sys.stderr)
            return 1
        addr, port = media_of(answer["sdp"])
        out.append({"call_id": call_id, "relay_addr": addr, "relay_port": port,
                    "callee_side": "%s:%s" % media_of(offer["sdp"]),
                    "src": f"{src_ip}:{src_port + 2 * i}", "sink": f"{sink_ip}:{sink_port + 2 * i}"})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
