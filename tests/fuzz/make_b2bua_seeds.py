#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_b2bua (tests/fuzz/corpus/fuzz_b2bua/): whole call flows in
fuzz_b2bua.cc's input format, one per B2BUA feature, with the $-names it replaces by what the
appliance last sent to the peer (so each answer matches the request it answers).

Run it again after changing the input format; the seeds are committed."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "fuzz_b2bua")

ALICE, BOB, CAROL, DAVE = 0, 1, 2, 3
# Time steps (fuzz_b2bua.cc): index -> 0, 20 ms, 250 ms, 1 s, 4 s, 33 s, 200 s, 1900 s.
T0, T20MS, T250MS, T1S, T4S, T33S, T200S, T1900S = range(8)

ADDR = {ALICE: "192.0.2.10", BOB: "198.51.100.20", CAROL: "198.51.100.30", DAVE: "192.0.2.11"}
NAME = {ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave"}


def sdp(who, port, version=1):
    a = ADDR[who]
    return (f"v=0\r\no={NAME[who]} 1000 {version} IN IP4 {a}\r\ns=-\r\nc=IN IP4 {a}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            "a=sendrecv\r\n")


def codecs_sdp(who, port, formats="0 8 101", version=1):
    """`who`'s audio offer or answer with these formats (PCMU, PCMA, G.729, telephone-event)."""
    a = ADDR[who]
    names = {"0": "PCMU/8000", "8": "PCMA/8000", "18": "G729/8000", "101": "telephone-event/8000"}
    maps = "".join(f"a=rtpmap:{f} {names[f]}\r\n" for f in formats.split())
    return (f"v=0\r\no={NAME[who]} 1000 {version} IN IP4 {a}\r\ns=-\r\nc=IN IP4 {a}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP {formats}\r\n{maps}a=sendrecv\r\n")


def fax_sdp(who, port, version, append=True):
    """`who` switches to T.38: the audio disabled and an image line appended, or the image alone."""
    a = ADDR[who]
    audio = "m=audio 0 RTP/AVP 0\r\n" if append else ""
    return (f"v=0\r\no={NAME[who]} 1000 {version} IN IP4 {a}\r\ns=-\r\nc=IN IP4 {a}\r\nt=0 0\r\n{audio}"
            f"m=image {port} udptl t38\r\na=T38FaxVersion:0\r\na=T38FaxRateManagement:transferredTCF\r\n")


def two_law_sdp(who, port, version=1):
    """`who`'s audio offering PCMU, PCMA and telephone-event, in that order."""
    return sdp(who, port, version).replace("RTP/AVP 0 101\r\n", "RTP/AVP 0 8 101\r\na=rtpmap:8 PCMA/8000\r\n")


def video_sdp(who, port, video_port, version=1):
    """`who`'s audio and H.264 video; `video_port` 0 declines or removes the video."""
    return sdp(who, port, version) + f"m=video {video_port} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"


def body_part(body, extra=""):
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    return f"{extra}{ctype}Content-Length: {len(body)}\r\n\r\n{body}"


def invite(who, user, call_id="c1@a", branch="z9hG4bKa1", body=None, extra=""):
    a = ADDR[who]
    body = sdp(who, 40000) if body is None else body
    return (f"INVITE sip:{user}@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP {a}:5060;branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{NAME[who]}@{a}>;tag={NAME[who]}tag\r\nTo: <sip:{user}@192.0.2.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{NAME[who]}@{a}:5060>\r\n" + body_part(body, extra))


def caller_request(who, method, cseq, branch, call_id="c1@a", user="bob", extra="", body="", cseq_method=None):
    """A request of the caller (alice or dave) in her dialog with the appliance ($g: our tag)."""
    a = ADDR[who]
    return (f"{method} sip:sipferry@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {a}:5060;branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:{NAME[who]}@{a}>;tag={NAME[who]}tag\r\n"
            f"To: <sip:{user}@192.0.2.1>;tag=$g\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {cseq_method or method}\r\n"
            + body_part(body, extra))


def response(who, status, reason, of_invite=False, body="", extra="", tag=True):
    """`who`'s answer to the last request (or INVITE) the appliance sent it."""
    v, f, t, c, s = ("$V", "$F", "$T", "$C", "$S") if of_invite else ("$v", "$f", "$t", "$c", "$s")
    to_tag = f";tag={NAME[who]}tag" if tag else ""
    contact = f"Contact: <sip:{NAME[who]}@{ADDR[who]}:5060>\r\n" if 100 < status < 300 else ""
    return (f"SIP/2.0 {status} {reason}\r\n{v}From: {f}\r\nTo: {t}{to_tag}\r\nCall-ID: {c}\r\nCSeq: {s}\r\n"
            + contact + body_part(body, extra))


def reply(who, status, reason, body="", extra=""):
    """`who`'s answer to an in-dialog request whose To already carries its tag."""
    contact = f"Contact: <sip:{NAME[who]}@{ADDR[who]}:5060>\r\n" if 100 < status < 300 else ""
    return f"SIP/2.0 {status} {reason}\r\n$vFrom: $f\r\nTo: $t\r\nCall-ID: $c\r\nCSeq: $s\r\n" + contact + \
        body_part(body, extra)


def callee_request(who, method, cseq, branch, extra="", body=""):
    """A request of the callee (bob or carol) in the dialog the appliance's INVITE made."""
    a = ADDR[who]
    return (f"{method} sip:sipferry@198.51.100.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {a}:5060;branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: $T;tag={NAME[who]}tag\r\nTo: $F\r\nCall-ID: $C\r\nCSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{NAME[who]}@{a}:5060>\r\n" + body_part(body, extra))


def rec(who, text, step=T20MS, twice=False, rtcp=False):
    """One record; with `rtcp` the relay sides then get RTCP reports (fuzz_b2bua.cc, flags bit 6)."""
    data = text.encode()
    return struct.pack("!BH", who | (step << 2) | (0x20 if twice else 0) | (0x40 if rtcp else 0), len(data)) + data


def bob_refers(target, referred_by=True):
    """bob's REFER of alice to `target` (user@host), a second after the call's last record."""
    extra = f"Refer-To: <sip:{target}>\r\n" + ("Referred-By: <sip:bob@198.51.100.20>\r\n" if referred_by else "")
    return rec(BOB, callee_request(BOB, "REFER", 2, "z9hG4bKref", extra=extra), T1S)


def answered(callee=BOB, user="bob", caller=ALICE, call_id="c1@a"):
    return [rec(caller, invite(caller, user, call_id=call_id), T0),
            rec(callee, response(callee, 100, "Trying", of_invite=True, tag=False)),
            rec(callee, response(callee, 180, "Ringing", of_invite=True)),
            rec(callee, response(callee, 200, "OK", of_invite=True, body=sdp(callee, 30000))),
            rec(caller, caller_request(caller, "ACK", 1, "z9hG4bKack1", call_id=call_id, user=user))]


def transferred_to_carol():
    """After carol answered a transfer: alice's re-INVITE answered, bob's NOTIFY and BYE
    answered, then carol hangs up."""
    return [rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40000, 2))),  # the re-INVITE
            rec(BOB, reply(BOB, 200, "OK")),
            rec(BOB, reply(BOB, 200, "OK")),
            rec(CAROL, callee_request(CAROL, "BYE", 2, "z9hG4bKcbye"), T4S),
            rec(ALICE, reply(ALICE, 200, "OK"))]


def seeds():
    yield "call_caller_hangs_up", answered() + [
        rec(ALICE, caller_request(ALICE, "BYE", 2, "z9hG4bKbye1"), T4S),
        rec(BOB, reply(BOB, 200, "OK"))]
    yield "call_callee_hangs_up", answered() + [
        rec(BOB, callee_request(BOB, "BYE", 2, "z9hG4bKbbye"), T4S),
        rec(ALICE, reply(ALICE, 200, "OK"))]
    yield "call_cancelled", [
        rec(ALICE, invite(ALICE, "bob"), T0),
        rec(BOB, response(BOB, 180, "Ringing", of_invite=True)),
        rec(ALICE, invite(ALICE, "bob").replace("INVITE sip", "CANCEL sip").replace("1 INVITE", "1 CANCEL")
            .split("Content-Type")[0].split("Contact:")[0] + "Content-Length: 0\r\n\r\n", T1S),
        rec(BOB, reply(BOB, 200, "OK")),
        rec(BOB, response(BOB, 487, "Request Terminated", of_invite=True)),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKa1", cseq_method="ACK"))]
    yield "call_busy", [
        rec(ALICE, invite(ALICE, "bob"), T0),
        rec(BOB, response(BOB, 486, "Busy Here", of_invite=True)),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKa1"))]
    yield "call_unanswered_times_out", [rec(ALICE, invite(ALICE, "bob"), T0), rec(ALICE, "", T200S)]
    yield "reinvite_both_ways", answered() + [
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKre1", body=sdp(ALICE, 40002, 2)), T1S),
        rec(BOB, reply(BOB, 200, "OK", body=sdp(BOB, 30002, 2))),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKreack"), T20MS),
        rec(BOB, callee_request(BOB, "INVITE", 2, "z9hG4bKbre", body=sdp(BOB, 30004, 3)), T1S),
        rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40004, 3))),
        rec(BOB, callee_request(BOB, "ACK", 2, "z9hG4bKbreack"))]
    # Re-offers that add a stream (RFC 3264 8.1): bob's fax gateway appends T.38, in a re-INVITE and
    # in the 2xx of an offerless one; then the audio again; alice re-offers with the image in place.
    yield "reinvite_adds_t38", answered() + [
        rec(BOB, callee_request(BOB, "INVITE", 2, "z9hG4bKbfax", body=fax_sdp(BOB, 31000, 2)), T1S),
        rec(ALICE, reply(ALICE, 200, "OK", body=fax_sdp(ALICE, 41000, 2)), rtcp=True),
        rec(BOB, callee_request(BOB, "ACK", 2, "z9hG4bKbfaxack")),
        rec(BOB, callee_request(BOB, "INVITE", 3, "z9hG4bKbnooffer"), T4S),
        rec(ALICE, reply(ALICE, 200, "OK", body=fax_sdp(ALICE, 41002, 3))),
        rec(BOB, callee_request(BOB, "ACK", 3, "z9hG4bKbnoofferack", body=fax_sdp(BOB, 31002, 3))),
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKafax", body=fax_sdp(ALICE, 41004, 4, append=False)),
            T1S),
        rec(BOB, reply(BOB, 200, "OK", body=fax_sdp(BOB, 31004, 4, append=False))),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKafaxack")),
        rec(BOB, callee_request(BOB, "BYE", 4, "z9hG4bKbbye"), T4S),
        rec(ALICE, reply(ALICE, 200, "OK"))]
    # co= (the lab dialplan's bob-alaw-trc: PCMA and DTMF events on bob's leg): bob's PCMU re-offer
    # gets 488, then bob hands alice to carol-ulaw (the transfer dialplan: co=PCMU/telephone-event).
    yield "codecs_filtered", [
        rec(ALICE, invite(ALICE, "bob-alaw-trc", body=codecs_sdp(ALICE, 40000)), T0),
        rec(BOB, response(BOB, 200, "OK", of_invite=True, body=codecs_sdp(BOB, 30000, "8 101"))),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob-alaw-trc")),
        rec(BOB, callee_request(BOB, "INVITE", 2, "z9hG4bKbre", body=codecs_sdp(BOB, 30000, "0 101", 2)), T1S),
        rec(BOB, callee_request(BOB, "ACK", 2, "z9hG4bKbre")),
        bob_refers("carol-ulaw@198.51.100.1"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
    ] + transferred_to_carol()
    # alice offers PCMU only: bob-alaw is not dialled, carol (the next group) answers.
    yield "codecs_next_destination", [
        rec(ALICE, invite(ALICE, "bob-alaw-or-carol"), T0),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob-alaw-or-carol")),
        rec(ALICE, caller_request(ALICE, "BYE", 2, "z9hG4bKbye1", user="bob-alaw-or-carol"), T4S),
        rec(CAROL, reply(CAROL, 200, "OK"))]
    # Removed streams give their ports back (RFC 3264 8.2): bob declines alice's video, alice
    # enables it again and bob takes it, then bob hands alice to carol, who declines it; alice's
    # answer to the appliance's re-INVITE declines it too, and the stream goes.
    yield "video_declined_enabled_removed", [
        rec(ALICE, invite(ALICE, "bob-trc", body=video_sdp(ALICE, 40000, 40002)), T0),
        rec(BOB, response(BOB, 200, "OK", of_invite=True, body=video_sdp(BOB, 30000, 0))),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob-trc")),
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKavid", user="bob-trc",
                                  body=video_sdp(ALICE, 40000, 40004, 2)), T1S),
        rec(BOB, reply(BOB, 200, "OK", body=video_sdp(BOB, 30000, 30004, 2)), rtcp=True),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKavidack", user="bob-trc")),
        bob_refers("carol@198.51.100.30"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=video_sdp(CAROL, 32000, 0))),
        rec(ALICE, reply(ALICE, 200, "OK", body=video_sdp(ALICE, 40000, 0, 3))),  # the re-INVITE
        rec(BOB, reply(BOB, 200, "OK")),
        rec(BOB, reply(BOB, 200, "OK")),
        rec(CAROL, callee_request(CAROL, "BYE", 2, "z9hG4bKcbye"), T33S),
        rec(ALICE, reply(ALICE, 200, "OK"))]
    # A refused re-offer leaves the session as it was (RFC 3264 8): alice adds video, bob
    # refuses it and the video's ports go back; her retry is anchored again and taken. Then she
    # appends T.38 beside them, bob refuses that too; then bob hands her to carol.
    yield "reoffer_refused_takes_back", [
        rec(ALICE, invite(ALICE, "bob-trc", body=sdp(ALICE, 40000)), T0),
        rec(BOB, response(BOB, 200, "OK", of_invite=True, body=sdp(BOB, 30000))),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob-trc")),
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKavid", user="bob-trc",
                                  body=video_sdp(ALICE, 40000, 40002, 2)), T1S),
        rec(BOB, reply(BOB, 488, "Not Acceptable Here")),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKavid", user="bob-trc")),
        rec(ALICE, caller_request(ALICE, "INVITE", 3, "z9hG4bKavid2", user="bob-trc",
                                  body=video_sdp(ALICE, 40000, 40002, 3)), T1S),
        rec(BOB, reply(BOB, 200, "OK", body=video_sdp(BOB, 30000, 30002, 2))),
        rec(ALICE, caller_request(ALICE, "ACK", 3, "z9hG4bKavid2ack", user="bob-trc")),
        rec(ALICE, caller_request(ALICE, "INVITE", 4, "z9hG4bKafax", user="bob-trc",
                                  body=video_sdp(ALICE, 40000, 40002, 4) + "m=image 41000 udptl t38\r\n"), T1S),
        rec(BOB, reply(BOB, 488, "Not Acceptable Here")),
        rec(ALICE, caller_request(ALICE, "ACK", 4, "z9hG4bKafax", user="bob-trc")),
        bob_refers("carol@198.51.100.30"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
        rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40000, 5))),  # the re-INVITE
        rec(BOB, reply(BOB, 200, "OK")),
        rec(BOB, reply(BOB, 200, "OK")),
        rec(CAROL, callee_request(CAROL, "BYE", 2, "z9hG4bKcbye"), T33S),
        rec(ALICE, reply(ALICE, 200, "OK"))]
    # Connected identity: bob hands alice to the trusted trunk (carol), whose 200 asserts a
    # number and withholds it; alice's re-INVITE names whom she talks to now, or not.
    yield "transfer_connected_identity", answered(user="bob-trc") + [
        bob_refers("trunk-carol@198.51.100.1"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000),
                            extra="P-Asserted-Identity: \"Desk\" <sip:+15551111@198.51.100.30>\r\nPrivacy: id\r\n")),
    ] + transferred_to_carol()
    # bob consulted carol elsewhere: his Refer-To's Replaces names a dialog not ours. carol's
    # INVITE carries it; her 481 makes it go again without, and she answers that.
    yield "transfer_replaces_passed_on", answered(user="bob-trc") + [
        bob_refers("carol@198.51.100.30?Replaces=pbx-7%40198.51.100.30%3Bto-tag%3Da%3Bfrom-tag%3Db"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 481, "Call/Transaction Does Not Exist", of_invite=True)),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
    ] + transferred_to_carol()
    # co= as a preference (the lab dialplan's bob-alawfirst: PCMA, PCMU, telephone-event): bob
    # is offered alice's 0 8 101 as 8 0 101 and answers PCMU; alice re-offers, bob re-offers back.
    yield "codec_preference", [
        rec(ALICE, invite(ALICE, "bob-alawfirst", body=two_law_sdp(ALICE, 40000)), T0),
        rec(BOB, response(BOB, 200, "OK", of_invite=True, body=sdp(BOB, 30000))),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob-alawfirst")),
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKare", user="bob-alawfirst",
                                  body=two_law_sdp(ALICE, 40000, 2)), T1S),
        rec(BOB, reply(BOB, 200, "OK", body=two_law_sdp(BOB, 30000, 2))),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKareack", user="bob-alawfirst")),
        rec(BOB, callee_request(BOB, "INVITE", 2, "z9hG4bKbre", body=two_law_sdp(BOB, 30000, 3)), T1S),
        rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40000, 3))),
        rec(BOB, callee_request(BOB, "ACK", 2, "z9hG4bKbreack")),
        rec(ALICE, caller_request(ALICE, "BYE", 3, "z9hG4bKbye1", user="bob-alawfirst"), T4S),
        rec(BOB, reply(BOB, 200, "OK"))]
    # mt= (the lab dialplan's bob-novideo: audio and image): bob is offered alice's video
    # disabled and declines it; alice's re-offer of video alone gets 488.
    yield "media_types_novideo", [
        rec(ALICE, invite(ALICE, "bob-novideo", body=video_sdp(ALICE, 40000, 40002)), T0),
        rec(BOB, response(BOB, 200, "OK", of_invite=True, body=video_sdp(BOB, 30000, 0))),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob-novideo")),
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKavid", user="bob-novideo",
                                  body=video_sdp(ALICE, 0, 40004, 2)), T1S),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKavid", user="bob-novideo")),
        rec(ALICE, caller_request(ALICE, "BYE", 3, "z9hG4bKbye1", user="bob-novideo"), T4S),
        rec(BOB, reply(BOB, 200, "OK"))]
    # While the transfer rings carol, alice's offer to add T.38 gets 491; then the transfer completes.
    yield "transfer_ringing_refuses_added_stream", answered(user="bob-trc") + [
        bob_refers("carol@198.51.100.30"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 180, "Ringing", of_invite=True)),
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKafax", user="bob-trc", body=fax_sdp(ALICE, 41000, 2))),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKafax", user="bob-trc")),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
        rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40000, 3))),  # the re-INVITE
        rec(BOB, reply(BOB, 200, "OK")),
        rec(BOB, reply(BOB, 200, "OK")),
        rec(CAROL, callee_request(CAROL, "BYE", 2, "z9hG4bKcbye"), T4S),
        rec(ALICE, reply(ALICE, 200, "OK"))]
    yield "reinvite_481_dialog_gone", answered() + [
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKre1", body=sdp(ALICE, 40002, 2)), T1S),
        rec(BOB, reply(BOB, 481, "Call/Transaction Does Not Exist")),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKre1")),
        rec(ALICE, reply(ALICE, 200, "OK"))]  # the BYE
    yield "reinvite_glare", answered() + [
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKre1", body=sdp(ALICE, 40002, 2)), T1S),
        rec(BOB, callee_request(BOB, "INVITE", 2, "z9hG4bKbre", body=sdp(BOB, 30004, 3)), T0),
        rec(BOB, reply(BOB, 491, "Request Pending"))]
    yield "reinvite_cancelled", answered() + [
        rec(ALICE, caller_request(ALICE, "INVITE", 2, "z9hG4bKre1", body=sdp(ALICE, 40002, 2)), T1S),
        rec(BOB, reply(BOB, 180, "Ringing")),
        rec(ALICE, caller_request(ALICE, "CANCEL", 2, "z9hG4bKre1")),
        rec(BOB, reply(BOB, 200, "OK")),  # the CANCEL
        rec(BOB, response(BOB, 487, "Request Terminated", of_invite=True, tag=False)),
        rec(ALICE, caller_request(ALICE, "ACK", 2, "z9hG4bKre1")),
        rec(ALICE, caller_request(ALICE, "BYE", 3, "z9hG4bKbye3"), T1S),
        rec(BOB, reply(BOB, 200, "OK"))]
    # A hold (sendonly): the media timeout is then an hour, and max_ring's CANCEL comes first.
    yield "reinvite_left_ringing", answered() + [
        rec(BOB, callee_request(BOB, "INVITE", 2, "z9hG4bKbre",
                                body=sdp(BOB, 30004, 3).replace("sendrecv", "sendonly")), T1S),
        rec(ALICE, reply(ALICE, 180, "Ringing")),
        rec(ALICE, "", T200S),
        rec(ALICE, reply(ALICE, 200, "OK")),  # the CANCEL
        rec(ALICE, "", T33S)]
    yield "blind_transfer_on_appliance", answered(user="bob-trc") + [
        bob_refers("carol@198.51.100.30"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 180, "Ringing", of_invite=True)),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
        rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40000, 2))),  # the re-INVITE
        rec(BOB, reply(BOB, 200, "OK")),  # the final NOTIFY or the BYE
        rec(BOB, reply(BOB, 200, "OK")),
        rec(CAROL, callee_request(CAROL, "BYE", 2, "z9hG4bKcbye"), T4S),
        rec(ALICE, reply(ALICE, 200, "OK"))]
    # The same with RTCP reports from every side before and after the transfer (call quality).
    yield "call_quality_across_a_transfer", answered(user="bob-trc") + [
        rec(ALICE, "", T1S, rtcp=True),
        rec(ALICE, "", T1S, rtcp=True),
        bob_refers("carol@198.51.100.30"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000)), rtcp=True),
        rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40000, 2)), rtcp=True),  # the re-INVITE
        rec(BOB, reply(BOB, 200, "OK")),
        rec(BOB, reply(BOB, 200, "OK")),
        rec(ALICE, "", T1S, rtcp=True),
        rec(CAROL, callee_request(CAROL, "BYE", 2, "z9hG4bKcbye"), T4S),
        rec(ALICE, reply(ALICE, 200, "OK"))]
    # The provider lab-trunk of fuzz_b2bua.cc is carol, with credentials and its media on acc: a
    # call to it and a transfer to it, each answered 407 first (a fixed challenge), then 200.
    challenge = ('Proxy-Authenticate: Digest realm="trunk.example", nonce="fuzznonce1", qop="auth", '
                 'algorithm=MD5\r\n')
    yield "call_to_trunk_challenged", [
        rec(ALICE, invite(ALICE, "trunk-x"), T0),
        rec(CAROL, response(CAROL, 407, "Proxy Authentication Required", of_invite=True, extra=challenge)),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="trunk-x")),
        rec(ALICE, caller_request(ALICE, "BYE", 2, "z9hG4bKbye1", user="trunk-x"), T4S),
        rec(CAROL, reply(CAROL, 200, "OK"))]
    yield "transfer_to_trunk_challenged", answered(user="bob-trc") + [
        bob_refers("trunk-x@198.51.100.1"),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 407, "Proxy Authentication Required", of_invite=True, extra=challenge)),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
    ] + transferred_to_carol()
    yield "transfer_falls_back_to_trunk", answered(user="bob-trc") + [
        bob_refers("carol-then-trunk-x@198.51.100.1", referred_by=False),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 486, "Busy Here", of_invite=True)),
        rec(CAROL, response(CAROL, 407, "Proxy Authentication Required", of_invite=True, extra=challenge)),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
    ] + transferred_to_carol()
    # carol and the desk phone (carol's host, port 5062) ring at once; the desk answers first.
    yield "transfer_rings_in_parallel", answered(user="bob-trc") + [
        bob_refers("carol+desk@198.51.100.1", referred_by=False),
        rec(BOB, reply(BOB, 200, "OK")),  # the NOTIFY
        rec(CAROL, response(CAROL, 180, "Ringing", of_invite=True)),  # the desk's (the last INVITE there)
        rec(BOB, reply(BOB, 200, "OK")),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
    ] + transferred_to_carol()
    # alice's UPDATE offer is on its way to bob when his UPDATE and re-INVITE cross it (491 each),
    # she offers again before the answer (500), then bob answers and his next UPDATE passes.
    yield "update_offers_crossing", answered() + [
        rec(ALICE, caller_request(ALICE, "UPDATE", 2, "z9hG4bKu1", body=sdp(ALICE, 40002, 2)), T1S),
        rec(BOB, callee_request(BOB, "UPDATE", 2, "z9hG4bKbu1", body=sdp(BOB, 30002, 2))),
        rec(BOB, callee_request(BOB, "INVITE", 3, "z9hG4bKbi1", body=sdp(BOB, 30002, 2))),
        rec(BOB, callee_request(BOB, "ACK", 3, "z9hG4bKbi1")),
        rec(ALICE, caller_request(ALICE, "UPDATE", 3, "z9hG4bKu2", body=sdp(ALICE, 40004, 3))),
        rec(BOB, reply(BOB, 200, "OK", body=sdp(BOB, 30000, 2))),
        rec(BOB, callee_request(BOB, "UPDATE", 4, "z9hG4bKbu2", body=sdp(BOB, 30004, 3))),
        rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40000, 3)))]
    # bob (rd=2) redirects to carol (and to a name, which is skipped); carol answers.
    yield "call_redirected", [
        rec(ALICE, invite(ALICE, "bob-rd"), T0),
        rec(BOB, response(BOB, 302, "Moved Temporarily",
                          of_invite=True, extra="Contact: <sip:carol@198.51.100.30;rn=+15550100;npdi>;q=0.7, "
                                                "<sip:x@gw.example.net>\r\n")),
        rec(CAROL, response(CAROL, 180, "Ringing", of_invite=True)),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob-rd")),
        rec(ALICE, caller_request(ALICE, "BYE", 2, "z9hG4bKbye1", user="bob-rd"), T4S),
        rec(CAROL, reply(CAROL, 200, "OK"))]
    # The trunk (carol, trusted) asserts who calls alice, who must not learn it (Privacy: id);
    # alice withholds herself on a call to the trunk, which hears her Privacy.
    yield "identity_withheld_from_the_callee", [
        rec(CAROL, invite(CAROL, "alice", extra="P-Asserted-Identity: \"Carrier\" <tel:+15557777>, "
                                                "<sip:+15557777@trunk.example>\r\nPrivacy: id;critical\r\n"), T0),
        rec(ALICE, response(ALICE, 486, "Busy Here", of_invite=True))]
    # The trunk (trusted) brings a call that was diverted before: alice hears its Diversion.
    yield "diverted_call_from_the_trunk", [
        rec(CAROL, invite(CAROL, "alice", extra="Diversion: <sip:+15550001@trunk.example>;reason=user-busy;counter=1,"
                                                " <sip:+15550002@trunk.example>;reason=no-answer\r\n"), T0),
        rec(ALICE, response(ALICE, 180, "Ringing", of_invite=True)),
        rec(ALICE, response(ALICE, 200, "OK", of_invite=True, body=sdp(ALICE, 40000))),
        rec(CAROL, caller_request(CAROL, "ACK", 1, "z9hG4bKack", user="alice"), T1S)]
    yield "identity_to_a_trusted_trunk", [
        rec(ALICE, invite(ALICE, "trunk-5551234", extra="P-Preferred-Identity: <sip:+15550100@192.0.2.10>\r\n"
                                                        "Privacy: user; header\r\n"), T0),
        rec(CAROL, response(CAROL, 180, "Ringing", of_invite=True)),
        rec(ALICE, caller_request(ALICE, "CANCEL", 1, "z9hG4bKa1", user="trunk-5551234", cseq_method="CANCEL"))]
    yield "call_media_on_unknown_port", [rec(ALICE, invite(ALICE, "bob-mflood"), T0),
                                         rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKa1"))]
    yield "transfer_passed_through", answered(user="bob-trp") + [
        bob_refers("carol@198.51.100.30", referred_by=False),
        rec(ALICE, reply(ALICE, 202, "Accepted")),
        rec(ALICE, caller_request(ALICE, "NOTIFY", 2, "z9hG4bKnot",
                                  extra="Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n"
                                        "Content-Type: message/sipfrag\r\n", body="SIP/2.0 200 OK\r\n"))]
    yield "transfer_declined", answered() + [
        bob_refers("900123@198.51.100.99", referred_by=False)]
    for name, replaces in (("attended_transfer_replaces_a_leg", "c1@a;to-tag=$0g;from-tag=alicetag"),
                           ("attended_transfer_replaces_b_leg", "$1C;to-tag=bobtag;from-tag=$1g"),
                           ("attended_transfer_replaces_b_leg_swapped", "$1C;to-tag=$1g;from-tag=bobtag")):
        yield name, answered(user="bob-trc") + [
            rec(DAVE, invite(DAVE, "bob", call_id="c2@d", branch="z9hG4bKd1", extra=f"Replaces: {replaces}\r\n"), T1S),
            rec(ALICE, reply(ALICE, 200, "OK", body=sdp(ALICE, 40000, 2))),
            rec(BOB, reply(BOB, 200, "OK")),
            rec(DAVE, caller_request(DAVE, "ACK", 1, "z9hG4bKdack", call_id="c2@d")),
            rec(DAVE, caller_request(DAVE, "BYE", 2, "z9hG4bKdbye", call_id="c2@d"), T4S)]
    # carol picks up the call ringing at bob (RFC 3891 7.1): bob is CANCELled, both 2xx ACKed.
    yield "call_picked_up", [
        rec(ALICE, invite(ALICE, "bob-trc"), T0),
        rec(BOB, response(BOB, 180, "Ringing", of_invite=True)),
        rec(CAROL, invite(CAROL, "bob", call_id="c2@c", branch="z9hG4bKc1",
                          extra="Replaces: $1C;to-tag=$1G;from-tag=bobtag\r\n"), T1S),
        rec(BOB, reply(BOB, 200, "OK")),  # the CANCEL
        rec(BOB, response(BOB, 487, "Request Terminated", of_invite=True)),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob-trc")),
        rec(CAROL, caller_request(CAROL, "ACK", 1, "z9hG4bKcack", call_id="c2@c")),
        rec(ALICE, caller_request(ALICE, "BYE", 2, "z9hG4bKbye1", user="bob-trc"), T4S),
        rec(CAROL, reply(CAROL, 200, "OK"))]
    yield "forked_call", [
        rec(ALICE, invite(ALICE, "bob+carol"), T0),
        rec(BOB, response(BOB, 180, "Ringing", of_invite=True)),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000))),
        rec(BOB, reply(BOB, 200, "OK")),  # the CANCEL
        rec(BOB, response(BOB, 487, "Request Terminated", of_invite=True)),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1", user="bob+carol"))]
    yield "sequential_call", [
        rec(ALICE, invite(ALICE, "bob-then-carol"), T0),
        rec(BOB, response(BOB, 180, "Ringing", of_invite=True)),
        rec(CAROL, response(CAROL, 200, "OK", of_invite=True, body=sdp(CAROL, 32000)), T4S)]
    yield "reliable_ringing", [
        rec(ALICE, invite(ALICE, "bob", extra="Supported: 100rel, timer\r\n"), T0),
        rec(BOB, response(BOB, 183, "Session Progress", of_invite=True, body=sdp(BOB, 30000),
                          extra="Require: 100rel\r\nRSeq: 1\r\n")),
        rec(BOB, reply(BOB, 200, "OK")),  # the PRACK
        rec(ALICE, caller_request(ALICE, "PRACK", 2, "z9hG4bKpr", extra="RAck: $r 1 INVITE\r\n")),
        rec(BOB, response(BOB, 200, "OK", of_invite=True, body=sdp(BOB, 30000),
                          extra="Session-Expires: 90;refresher=uac\r\nRequire: timer\r\n"))]
    yield "session_timer_expires", answered() + [rec(ALICE, "", T1900S)]
    # We refresh bob (refresher=uac in his 200) at 45 s; he answers 491 once, then 200. His SDP
    # holds the call (sendonly), so the hour-long hold timeout, not the media timeout, applies.
    yield "own_refresh_491_retried", [
        rec(ALICE, invite(ALICE, "bob"), T0),
        rec(BOB, response(BOB, 200, "OK", of_invite=True, body=sdp(BOB, 30000).replace("sendrecv", "sendonly"),
                          extra="Session-Expires: 90;refresher=uac\r\nRequire: timer\r\n")),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKack1")),
        rec(ALICE, "", T33S),
        rec(BOB, reply(BOB, 491, "Request Pending"), T33S),
        rec(BOB, reply(BOB, 200, "OK", body=sdp(BOB, 30000, 2)), T4S),
        rec(ALICE, caller_request(ALICE, "BYE", 2, "z9hG4bKbye1"), T1S),
        rec(BOB, reply(BOB, 200, "OK"))]
    yield "out_of_dialog", [
        rec(ALICE, "OPTIONS sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKo\r\n"
                   "From: <sip:a@192.0.2.10>;tag=1\r\nTo: <sip:192.0.2.1>\r\nCall-ID: o@a\r\nCSeq: 1 OPTIONS\r\n"
                   "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", T0, twice=True),
        rec(DAVE, "REGISTER sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKr\r\n"
                  "From: <sip:dave@192.0.2.1>;tag=2\r\nTo: <sip:dave@192.0.2.1>\r\nCall-ID: r@d\r\nCSeq: 1 REGISTER\r\n"
                  "Contact: <sip:2001@192.0.2.11>\r\nExpires: 60\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"),
        rec(BOB, caller_request(BOB, "BYE", 1, "z9hG4bKstray", call_id="nope@b")),
        rec(ALICE, invite(ALICE, "nobody-here"), T1S),
        rec(ALICE, caller_request(ALICE, "ACK", 1, "z9hG4bKa1"))]


# Seeds of the STIR/SHAKEN flows, written with their features and not made here: kept as they are.
KEPT = ("signed_call_to_the_trunk", "trusted_trunk_identity_passed_on", "verified_call_waits_for_its_certificate")


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        # regress_*: inputs the fuzzer found a defect with, kept as they are; so are KEPT.
        if not name.startswith("regress_") and name not in KEPT:
            os.remove(os.path.join(OUT, name))
    for name, records in seeds():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(b"".join(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
