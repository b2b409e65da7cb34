#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_frames (tests/fuzz/corpus/fuzz_frames/): one input per path
of the worker's receive code, in fuzz_frames.cc's input format and against its relay table
(192.0.2.1 and 192.0.2.64-67 on port 0, 198.51.100.1 on port 1, relay sides at 20000-20017;
20014 continues a stream, 20015-20017 rename its reports).

Run it again after changing either; the seeds are committed so a run needs nothing but them."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_frames")

MAC0 = bytes([0x02, 0x00, 0x5E, 0x10, 0x00, 0x01])
MAC1 = bytes([0x02, 0x00, 0x5E, 0x10, 0x00, 0x02])
PEER = bytes([0x02, 0x00, 0x5E, 0x10, 0x00, 0xA0])
BCAST = b"\xff" * 6


def ip(s):
    return bytes(int(x) for x in s.split("."))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src, dst, proto, payload, frag=0, ident=0x1234):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0, ip(src), ip(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def udp(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, 17, length)
    c = csum(pseudo + struct.pack("!HHHH", sport, dport, length, 0) + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, c) + payload


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def udp_frame(src, dst, sport, dport, payload, dmac=MAC0):
    return eth(dmac, PEER, 0x0800, ipv4(src, dst, 17, udp(src, dst, sport, dport, payload)))


def rtp(seq, ssrc=0x11223344):
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, ssrc) + bytes(160)


def rtcp_compound(sr, sender=0xa11ce, source=0xb0b):
    """An SR (or RR) with one report block, then an SDES: what a phone sends every few seconds."""
    block = struct.pack("!IB3sIIII", source, 26, b"\x00\x00\x05", 70000, 80, 0x12345678, 65536)
    if sr:
        body = struct.pack("!IIIIII", sender, 0xe0001234, 0x56780000, 160000, 1000, 160000) + block
    else:
        body = struct.pack("!I", sender) + block
    head = struct.pack("!BBH", 0x81, 200 if sr else 201, (4 + len(body)) // 4 - 1)
    return head + body + struct.pack("!BBHI", 0x81, 202, 2, sender) + bytes(4)


def rtcp_feedback(sender, source):
    """A generic NACK (RFC 4585) for two packets, then an XR with a DLRR and a VoIP Metrics block."""
    nack = struct.pack("!BBHIIHH", 0x81, 205, 3, sender, source, 65531, 0x0001)
    dlrr = struct.pack("!BBHIII", 5, 0, 3, source, 0x12345678, 65536)
    voip = struct.pack("!BBHI", 7, 0, 8, source) + bytes(28)
    xr = struct.pack("!BBHI", 0x80, 207, (8 + len(dlrr) + len(voip)) // 4 - 1, sender) + dlrr + voip
    return nack + xr


def icmp_echo(data):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + data
    return body[:2] + struct.pack("!H", csum(body)) + body[4:]


def arp(op, sha, spa, tha, tpa, dmac=BCAST):
    return eth(dmac, sha, 0x0806, struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, ip(spa), tha, ip(tpa)))


def record(frame, port=0, fix=False, new_burst=False, step=0):
    flags = port | (2 if fix else 0) | (4 if new_burst else 0) | (step << 3)
    return struct.pack("!BH", flags, len(frame)) + frame


SIP = (b"OPTIONS sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n"
       b"From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:192.0.2.1>\r\nCall-ID: 1@192.0.2.10\r\n"
       b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def fragments(src, dst, proto, l4, size=1480, ident=0x4321):
    out = []
    for off in range(0, len(l4), size):
        more = 0x2000 if off + size < len(l4) else 0
        out.append(eth(MAC0, PEER, 0x0800, ipv4(src, dst, proto, l4[off:off + size], more | (off // 8), ident)))
    return out


def seeds():
    a, b = "192.0.2.10", "198.51.100.20"
    yield "rtp_both_ways", [record(udp_frame(a, "192.0.2.1", 6000, 20000, rtp(i))) for i in range(1, 4)] + \
        [record(udp_frame(b, "198.51.100.1", 6000, 20002, rtp(i), MAC1), port=1) for i in range(1, 4)]
    yield "rtp_continued", [record(udp_frame("192.0.2.13", "192.0.2.1", 6006, 20014, rtp(i, 0xca201)))
                            for i in (7, 8, 10, 9)] + \
        [record(udp_frame("192.0.2.13", "192.0.2.1", 6006, 20014, rtp(40000, 0x5eed)), new_burst=True),
         record(udp_frame("192.0.2.13", "192.0.2.1", 6006, 20014, b"\x81\xc8" + bytes(26)))]  # RTCP SR
    # carol (0xca201) continues bob's stream 0xb0b0b at 20014: her reports (muxed, and on 20015)
    # leave as bob's; alice's (on 20016 muxed and 20017) about 0xb0b0b reach carol as about her.
    h, i = "192.0.2.13", "198.51.100.23"
    yield "rtcp_continued", [record(udp_frame(h, "192.0.2.1", 6006, 20014, rtp(7, 0xca201))),
                             record(udp_frame(h, "192.0.2.1", 6006, 20014, rtcp_compound(True, 0xca201, 0xa11ce))),
                             record(udp_frame(h, "192.0.2.1", 6007, 20015, rtcp_compound(True, 0xca201, 0xa11ce))),
                             record(udp_frame(h, "192.0.2.1", 6007, 20015, rtcp_feedback(0xca201, 0xa11ce))),
                             record(udp_frame(i, "198.51.100.1", 7004, 20016, rtcp_compound(False, 0xa11ce, 0xb0b0b),
                                              MAC1), port=1),
                             record(udp_frame(i, "198.51.100.1", 7005, 20017, rtcp_feedback(0xa11ce, 0xb0b0b),
                                              MAC1), port=1)]
    yield "rtcp_reports", [record(udp_frame(a, "192.0.2.1", 6000, 20000, rtp(1))),
                           record(udp_frame(a, "192.0.2.1", 6000, 20000, rtcp_compound(True))),
                           record(udp_frame(b, "198.51.100.1", 6000, 20002, rtcp_compound(False), MAC1), port=1)] + \
        [record(udp_frame(a, "192.0.2.1", 6000, 20000, rtcp_compound(False))) for _ in range(9)]  # fills the ring
    yield "rtp_latches", [record(udp_frame("203.0.113.7", "192.0.2.65", 4000, 20004, rtp(i))) for i in range(1, 3)]
    yield "rtp_miss_no_target_foreign", [
        record(udp_frame(a, "192.0.2.1", 6000, 20100, rtp(1))),
        record(udp_frame(a, "192.0.2.1", 6000, 20008, rtp(1))),
        record(udp_frame(a, "192.0.2.1", 6000, 20010, rtp(1))),
        record(udp_frame(a, "192.0.2.1", 6000, 20000, b"\x81\xc8" + bytes(26))),  # RTCP SR
    ]
    yield "rtp_no_udp_checksum", [record(udp_frame(a, "192.0.2.1", 6000, 20000, rtp(1))[:40] + b"\0\0" +
                                         udp_frame(a, "192.0.2.1", 6000, 20000, rtp(1))[42:])]
    yield "sip_options", [record(udp_frame(a, "192.0.2.1", 5060, 5060, SIP))]
    yield "sip_over_rate", [record(udp_frame(a, "192.0.2.1", 5060, 5060, SIP)) for _ in range(8)]
    yield "sip_to_media_address", [record(udp_frame(a, "192.0.2.64", 5060, 5060, SIP))]
    big_sip = SIP.replace(b"Content-Length: 0", b"X-Pad: " + b"p" * 2600 + b"\r\nContent-Length: 0")
    yield "sip_fragmented", [record(f) for f in fragments(a, "192.0.2.1", 17, udp(a, "192.0.2.1", 5060, 5060, big_sip))]
    yield "sip_fragment_alone_then_timeout", [
        record(fragments(a, "192.0.2.1", 17, udp(a, "192.0.2.1", 5060, 5060, big_sip))[0]),
        record(fragments(a, "192.0.2.1", 17, udp(a, "192.0.2.1", 5060, 5060, big_sip))[1], step=2)]
    yield "rtp_fragmented", [record(f) for f in fragments(a, "192.0.2.1", 17, udp(a, "192.0.2.1", 6000, 20000,
                                                                                   rtp(1) * 12))]
    yield "ping", [record(eth(MAC0, PEER, 0x0800, ipv4(a, "192.0.2.1", 1, icmp_echo(b"abcdefgh" * 8))))]
    yield "ping_broadcast", [record(eth(BCAST, PEER, 0x0800, ipv4(a, "192.0.2.66", 1, icmp_echo(b"x" * 56))))]
    yield "ping_fragmented", [record(f) for f in fragments(a, "192.0.2.1", 1, icmp_echo(b"z" * 3000))]
    yield "arp", [
        record(arp(1, PEER, a, bytes(6), "192.0.2.1")),
        record(arp(1, PEER, a, bytes(6), "192.0.2.67")),
        record(arp(1, PEER, a, bytes(6), "192.0.2.99")),
        record(arp(2, PEER, a, MAC0, "192.0.2.1", MAC0)),
        record(arp(1, PEER, a, bytes(6), a)),  # gratuitous
        record(arp(1, MAC0, "192.0.2.1", bytes(6), "192.0.2.1")),  # our own address from elsewhere
    ]
    yield "other_ethertypes_and_protocols", [
        record(eth(MAC0, PEER, 0x86DD, bytes(60))),
        record(eth(MAC0, PEER, 0x8100, bytes(60))),
        record(eth(MAC0, PEER, 0x0800, ipv4(a, "192.0.2.1", 6, bytes(20)))),
        record(eth(MAC0, PEER, 0x0800, ipv4(a, "192.0.2.1", 1, struct.pack("!BBHI", 13, 0, 0, 0)))),
        record(udp_frame(a, "192.0.2.2", 6000, 20000, rtp(1))),
        record(udp_frame(a, "192.0.2.1", 6000, 40000, rtp(1))),
        record(b"\x01\x02"),
    ]
    yield "fix_up_needed", [record(udp_frame(a, "192.0.2.1", 6000, 20000, rtp(5))[:-20], fix=True),
                            record(udp_frame(a, "192.0.2.1", 5060, 5060, SIP)[:-4], fix=True, new_burst=True)]


def main():
    os.makedirs(OUT, exist_ok=True)
    # Only this script's own seeds are replaced: inputs the fuzzer found (named by their hash)
    # and regression seeds stay.
    for name in os.listdir(OUT):
        if name.endswith(("_soft", "_offload")):
            os.remove(os.path.join(OUT, name))
    for name, records in seeds():
        for offload in (0, 1):
            with open(os.path.join(OUT, f"{name}_{'offload' if offload else 'soft'}"), "wb") as f:
                f.write(bytes([offload]) + b"".join(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
