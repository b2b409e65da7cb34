// SDP parser and relay rewrite tests.

#include "sip/sdp.hh"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace sf::sdp;

namespace {

const std::string offer =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.1\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=rtcp:49171 IN IP4 198.51.100.1\r\n"
    "a=sendrecv\r\n"
    "m=video 51372 RTP/AVP 99\r\n"
    "c=IN IP4 198.51.100.2\r\n"
    "a=rtpmap:99 H264/90000\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp:51372\r\n"
    "a=recvonly\r\n";

rewrite_spec spec_for(std::string_view addr) {
    rewrite_spec s;
    s.address = addr;
    s.origin_sess_id = 42;
    s.origin_sess_version = 7;
    s.ports[0] = 20000;
    s.ports[1] = 20002;
    s.ports[2] = 20004;
    return s;
}

}  // namespace

TEST(sdp, parse_offer) {
    session s;
    ASSERT_EQ(parse(offer, s), parse_error::ok);
    EXPECT_EQ(s.origin_user, "alice");
    EXPECT_EQ(s.origin_sess_id, "2890844526");
    EXPECT_EQ(s.origin_sess_version, "2890844526");
    EXPECT_EQ(s.origin_addr, "198.51.100.1");
    EXPECT_EQ(s.conn_addr, "198.51.100.1");
    ASSERT_EQ(s.n_media, 2);

    const media& a = s.streams[0];
    EXPECT_EQ(a.type, "audio");
    EXPECT_EQ(a.port, 49170);
    EXPECT_EQ(a.proto, "RTP/AVP");
    EXPECT_EQ(a.formats, "0 8 101");
    EXPECT_EQ(a.conn_addr, "198.51.100.1");
    EXPECT_EQ(a.rtcp_port, 49171);
    EXPECT_FALSE(a.rtcp_mux);
    EXPECT_EQ(a.dir, direction::sendrecv);

    const media& v = s.streams[1];
    EXPECT_EQ(v.type, "video");
    EXPECT_EQ(v.port, 51372);
    EXPECT_EQ(v.formats, "99");
    EXPECT_EQ(v.conn_addr, "198.51.100.2");
    EXPECT_TRUE(v.rtcp_mux);
    EXPECT_EQ(v.rtcp_port, 51372);
    EXPECT_EQ(v.dir, direction::recvonly);
}

TEST(sdp, lf_only_ipv6_and_multicast) {
    std::string body =
        "v=0\n"
        "o=- 1 1 IN IP6 2001:db8::1\n"
        "s=-\n"
        "c=IN IP6 2001:db8::2\n"
        "t=0 0\n"
        "m=audio 5004/2 RTP/AVP 0\n"
        "c=IN IP4 233.252.0.1/127/2\n";
    session s;
    ASSERT_EQ(parse(body, s), parse_error::ok);
    EXPECT_EQ(s.origin_addr, "2001:db8::1");
    EXPECT_EQ(s.conn_addr, "2001:db8::2");
    ASSERT_EQ(s.n_media, 1);
    EXPECT_EQ(s.streams[0].port, 5004);
    EXPECT_EQ(s.streams[0].conn_addr, "233.252.0.1");
}

TEST(sdp, directions) {
    // Session-level direction is the default; media-level overrides it.
    std::string body =
        "v=0\r\n"
        "o=- 1 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "a=sendonly\r\n"
        "m=audio 1000 RTP/AVP 0\r\n"
        "m=audio 1002 RTP/AVP 0\r\n"
        "a=inactive\r\n"
        "m=audio 1004 RTP/AVP 0\r\n"
        "a=recvonly\r\n"
        "m=audio 1006 RTP/AVP 0\r\n"
        "a=sendrecv\r\n";
    session s;
    ASSERT_EQ(parse(body, s), parse_error::ok);
    ASSERT_EQ(s.n_media, 4);
    EXPECT_EQ(s.streams[0].dir, direction::sendonly);
    EXPECT_EQ(s.streams[1].dir, direction::inactive);
    EXPECT_EQ(s.streams[2].dir, direction::recvonly);
    EXPECT_EQ(s.streams[3].dir, direction::sendrecv);
}

TEST(sdp, disabled_stream_needs_no_connection) {
    std::string body =
        "v=0\r\n"
        "o=- 1 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "m=video 0 RTP/AVP 31\r\n"
        "m=audio 3000 RTP/AVP 0\r\n"
        "c=IN IP4 192.0.2.9\r\n";
    session s;
    ASSERT_EQ(parse(body, s), parse_error::ok);
    EXPECT_EQ(s.streams[0].port, 0);
    EXPECT_EQ(s.streams[0].conn_addr, "");
    EXPECT_EQ(s.streams[1].conn_addr, "192.0.2.9");
}

TEST(sdp, errors) {
    session s;
    EXPECT_EQ(parse("", s), parse_error::empty);
    EXPECT_EQ(parse("\r\n\r\n", s), parse_error::empty);
    EXPECT_EQ(parse("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", s), parse_error::no_version);
    EXPECT_EQ(parse("x", s), parse_error::no_version);

    const std::string head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n";
    // o= with a field missing, an extra field, twice, or not at all.
    EXPECT_EQ(parse("v=0\r\no=- 1 1 IN IP4\r\n", s), parse_error::bad_origin);
    EXPECT_EQ(parse("v=0\r\no=- 1 1 IN IP4 a b\r\n", s), parse_error::bad_origin);
    EXPECT_EQ(parse(head + "o=- 1 1 IN IP4 192.0.2.1\r\n", s), parse_error::bad_origin);
    EXPECT_EQ(parse("v=0\r\ns=-\r\n", s), parse_error::bad_origin);
    EXPECT_EQ(parse("v=0\r\no=\r\n", s), parse_error::bad_origin);

    for (const char* c : {"c=IN IP4\r\n", "c=IN IP5 1.2.3.4\r\n", "c=ATM IP4 1.2.3.4\r\n",
                          "c=IN IP4 1.2.3.4 x\r\n", "c=IN IP4 /127\r\n", "c=\r\n"}) {
        EXPECT_EQ(parse(head + c, s), parse_error::bad_connection) << c;
    }
    for (const char* m : {"m=audio\r\n", "m=audio 1000\r\n", "m=audio 1000 RTP/AVP\r\n",
                          "m=audio 70000 RTP/AVP 0\r\n", "m=audio x RTP/AVP 0\r\n",
                          "m=audio 1000/x RTP/AVP 0\r\n", "m=audio -1 RTP/AVP 0\r\n", "m=\r\n"}) {
        EXPECT_EQ(parse(head + "c=IN IP4 1.2.3.4\r\n" + m, s), parse_error::bad_media) << m;
    }

    std::string many = head + "c=IN IP4 192.0.2.1\r\n";
    for (unsigned i = 0; i < session::max_media; ++i) {
        many += "m=audio " + std::to_string(1000 + 2 * i) + " RTP/AVP 0\r\n";
    }
    EXPECT_EQ(parse(many, s), parse_error::ok);
    EXPECT_EQ(s.n_media, session::max_media);
    EXPECT_EQ(parse(many + "m=audio 9 RTP/AVP 0\r\n", s), parse_error::too_many_media);

    EXPECT_EQ(parse(head + "m=audio 1000 RTP/AVP 0\r\n", s), parse_error::no_connection);
    // Media-level c= on one stream does not cover another.
    EXPECT_EQ(parse(head + "m=audio 1000 RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1002 RTP/AVP 0\r\n", s),
              parse_error::no_connection);
}

TEST(sdp, tolerated_oddities) {
    session s;
    // Non-SDP lines and unknown attributes are ignored; a bad a=rtcp port is "absent".
    std::string body =
        "v=0\r\n"
        "o=- 1 1 IN IP4 192.0.2.1\r\n"
        "garbage\r\n"
        "\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "m=audio 1000 RTP/AVP 0\r\n"
        "a=rtcp:notaport\r\n"
        "a=rtcp-mux-not\r\n"
        "a=sendrecvx\r\n"
        "a=rtcp-mux";  // no final line end
    ASSERT_EQ(parse(body, s), parse_error::ok);
    EXPECT_EQ(s.streams[0].rtcp_port, 0);
    EXPECT_TRUE(s.streams[0].rtcp_mux);
    EXPECT_EQ(s.streams[0].dir, direction::sendrecv);
}

TEST(sdp, error_names) {
    std::set<std::string> names;
    for (int i = 0; i <= static_cast<int>(parse_error::no_connection); ++i) {
        names.insert(to_string(static_cast<parse_error>(i)));
    }
    EXPECT_EQ(names.size(), 8u);
    EXPECT_STREQ(to_string(parse_error::too_many_media), "too_many_media");
}

TEST(sdp, rewrite_offer) {
    std::string out = rewrite(offer, spec_for("203.0.113.5"));
    EXPECT_EQ(out,
              "v=0\r\n"
              "o=sipferry 42 7 IN IP4 203.0.113.5\r\n"
              "s=-\r\n"
              "c=IN IP4 203.0.113.5\r\n"
              "t=0 0\r\n"
              "m=audio 20000 RTP/AVP 0 8 101\r\n"
              "a=rtpmap:0 PCMU/8000\r\n"
              "a=rtpmap:101 telephone-event/8000\r\n"
              "a=rtcp:20001 IN IP4 203.0.113.5\r\n"
              "a=sendrecv\r\n"
              "m=video 20002 RTP/AVP 99\r\n"
              "c=IN IP4 203.0.113.5\r\n"
              "a=rtpmap:99 H264/90000\r\n"
              "a=rtcp-mux\r\n"
              "a=rtcp:20002\r\n"
              "a=recvonly\r\n");
    // The rewrite is itself valid SDP pointing at the relay.
    session s;
    ASSERT_EQ(parse(out, s), parse_error::ok);
    EXPECT_EQ(s.streams[0].conn_addr, "203.0.113.5");
    EXPECT_EQ(s.streams[1].conn_addr, "203.0.113.5");
    EXPECT_EQ(s.streams[0].rtcp_port, 20001);
}

TEST(sdp, rewrite_lf_ipv6_disabled_and_hold) {
    std::string body =
        "v=0\n"
        "o=bob 9 10 IN IP6 2001:db8::9\n"
        "s=call\n"
        "c=IN IP6 2001:db8::9\n"
        "t=0 0\n"
        "a=sendonly\n"
        "m=audio 6000/2 RTP/SAVP 0 101\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc\n"
        "m=video 0 RTP/AVP 31\n"
        "a=rtcp:7001\n"
        "m=text 8000 RTP/AVP 98\n";
    rewrite_spec spec = spec_for("198.51.100.77");
    spec.origin_user = "relay";
    spec.origin_sess_id = 18446744073709551615ull;
    spec.ports[1] = 30000;  // ignored: the offer disabled the stream
    spec.ports[2] = 0;      // the caller disables this one
    std::string out = rewrite(body, spec);
    EXPECT_EQ(out,
              "v=0\r\n"
              "o=relay 18446744073709551615 7 IN IP4 198.51.100.77\r\n"
              "s=call\r\n"
              "c=IN IP4 198.51.100.77\r\n"
              "t=0 0\r\n"
              "a=sendonly\r\n"
              "m=audio 20000/2 RTP/SAVP 0 101\r\n"
              "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:abc\r\n"
              "m=video 0 RTP/AVP 31\r\n"
              "a=rtcp:7001\r\n"
              "m=text 0 RTP/AVP 98\r\n");
}

TEST(sdp, rewrite_rejects_bad_body) {
    EXPECT_EQ(rewrite("", spec_for("1.2.3.4")), "");
    EXPECT_EQ(rewrite("v=0\r\nm=audio 1 RTP/AVP 0\r\n", spec_for("1.2.3.4")), "");
}

TEST(sdp, rewrite_keeps_unknown_lines_and_order) {
    std::string body =
        "\r\n"
        "v=0\r\n"
        "o=- 1 1 IN IP4 192.0.2.1\r\n"
        "s=-\r\n"
        "i=session info\r\n"
        "b=AS:64\r\n"
        "c=IN IP4 192.0.2.1\r\n"
        "t=0 0\r\n"
        "a=group:BUNDLE 0\r\n"
        "m=audio 1000 RTP/AVP 0\r\n"
        "b=TIAS:64000\r\n"
        "not sdp at all\r\n"
        "a=rtcp:1001\r\n"
        "a=mid:0\r\n";
    std::string out = rewrite(body, spec_for("10.0.0.1"));
    EXPECT_EQ(out,
              "v=0\r\n"
              "o=sipferry 42 7 IN IP4 10.0.0.1\r\n"
              "s=-\r\n"
              "i=session info\r\n"
              "b=AS:64\r\n"
              "c=IN IP4 10.0.0.1\r\n"
              "t=0 0\r\n"
              "a=group:BUNDLE 0\r\n"
              "m=audio 20000 RTP/AVP 0\r\n"
              "b=TIAS:64000\r\n"
              "not sdp at all\r\n"
              "a=rtcp:20001\r\n"
              "a=mid:0\r\n");
}

TEST(sdp, first_codec_from_rtpmap_or_static_payload_type) {
    const auto first = [](const std::string& media) {
        const std::string body = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n" + media;
        static std::string keep;  // first_codec views the body
        keep = body;
        session s;
        EXPECT_EQ(parse(keep, s), parse_error::ok);
        return first_codec(s.streams[0]);
    };
    codec c = first("m=audio 4000 RTP/AVP 111 0\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:111 opus/48000/2\r\n");
    EXPECT_EQ(c.name, "opus");
    EXPECT_EQ(c.clock_hz, 48000u);
    c = first("m=audio 4000 RTP/AVP 0 8\r\n");
    EXPECT_EQ(c.name, "PCMU");
    EXPECT_EQ(c.clock_hz, 8000u);
    c = first("m=audio 4000 RTP/AVP 8 0\r\na=rtpmap:0 PCMU/8000\r\n");
    EXPECT_EQ(c.name, "PCMA") << "another format's rtpmap says nothing of the first";
    c = first("m=audio 4000 RTP/AVP 18\r\n");
    EXPECT_EQ(c.name, "G729");
    c = first("m=audio 4000 RTP/AVP 9\r\n");
    EXPECT_EQ(c.clock_hz, 8000u) << "G.722's RTP clock is 8 kHz (RFC 3551 4.5.2)";
    c = first("m=video 4000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
    EXPECT_EQ(c.name, "H264");
    EXPECT_EQ(c.clock_hz, 90000u);
    c = first("m=audio 4000 RTP/AVP 101\r\n");
    EXPECT_EQ(c.name, "") << "a dynamic type without rtpmap";
    EXPECT_EQ(c.clock_hz, 0u);
    c = first("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 L16/forty\r\n");
    EXPECT_EQ(c.name, "L16");
    EXPECT_EQ(c.clock_hz, 0u) << "an unreadable clock rate";
    c = first("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96\r\n");
    EXPECT_EQ(c.name, "");
}

namespace {

const std::string sdp_head = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n";

media_filter_result filtered(const std::string& media, std::vector<std::string> allowed) {
    return filter_codecs(sdp_head + media, allowed);
}

}  // namespace

TEST(sdp_filter_codecs, keeps_the_allowed_formats_in_the_offer_order_with_their_attributes) {
    const media_filter_result r = filtered("m=audio 4000 RTP/AVP 0 18 8 101\r\n"
                                           "a=rtpmap:0 PCMU/8000\r\n"
                                           "a=rtpmap:18 G729/8000\r\n"
                                           "a=fmtp:18 annexb=no\r\n"
                                           "a=rtpmap:8 PCMA/8000\r\n"
                                           "a=rtpmap:101 telephone-event/8000\r\n"
                                           "a=fmtp:101 0-16\r\n"
                                           "a=rtcp-fb:18 nack\r\n"
                                           "a=rtcp-fb:* trr-int 100\r\n"
                                           "a=ptime:20\r\n"
                                           "a=sendrecv\r\n",
                                           {"telephone-event", "pcma"});  // names are case-insensitive
    EXPECT_EQ(r.body, sdp_head +
                          "m=audio 4000 RTP/AVP 8 101\r\n"
                          "a=rtpmap:8 PCMA/8000\r\n"
                          "a=rtpmap:101 telephone-event/8000\r\n"
                          "a=fmtp:101 0-16\r\n"
                          "a=rtcp-fb:* trr-int 100\r\n"
                          "a=ptime:20\r\n"
                          "a=sendrecv\r\n")
        << "the offerer's order stays (8 before 101), not the list's";
    EXPECT_EQ(r.audio_active, 1u);
    EXPECT_EQ(r.audio_kept, 1u);
    EXPECT_EQ(r.formats_removed, 2u);
}

TEST(sdp_filter_codecs, names_static_types_by_rfc_3551_and_drops_unnamed_dynamic_ones) {
    // 0 and 8 without rtpmap are PCMU and PCMA; 97 has no rtpmap, so no name to allow it by.
    media_filter_result r = filtered("m=audio 4000 RTP/AVP 97 0 8 13\r\n", {"PCMA", "CN"});
    EXPECT_EQ(r.body, sdp_head + "m=audio 4000 RTP/AVP 8 13\r\n");
    // An rtpmap renames a type: 8 is remapped to something that is not PCMA here.
    r = filtered("m=audio 4000 RTP/AVP 8 0\r\na=rtpmap:8 speex/8000\r\n", {"PCMA", "PCMU"});
    EXPECT_EQ(r.body, sdp_head + "m=audio 4000 RTP/AVP 0\r\n");
}

TEST(sdp_filter_codecs, a_stream_left_without_a_format_is_disabled_as_written) {
    const media_filter_result r = filtered("m=audio 4000 RTP/AVP 0 101\r\n"
                                           "a=rtpmap:101 telephone-event/8000\r\n"
                                           "m=audio 4002 RTP/AVP 8\r\n",
                                           {"PCMA"});
    EXPECT_EQ(r.body, sdp_head +
                          "m=audio 0 RTP/AVP 0 101\r\n"
                          "a=rtpmap:101 telephone-event/8000\r\n"
                          "m=audio 4002 RTP/AVP 8\r\n")
        << "port 0 keeps the m-line valid and the stream count the same (RFC 3264 8.2)";
    EXPECT_EQ(r.audio_active, 2u);
    EXPECT_EQ(r.audio_kept, 1u);
    session s;
    EXPECT_EQ(parse(r.body, s), parse_error::ok);

    const media_filter_result none = filtered("m=audio 4000 RTP/AVP 18\r\n", {"PCMA"});
    EXPECT_EQ(none.audio_active, 1u);
    EXPECT_EQ(none.audio_kept, 0u) << "nothing left: as an offer, refused";
}

TEST(sdp_filter_codecs, leaves_video_fax_srtp_profiles_and_disabled_streams_to_themselves) {
    const std::string media = "m=audio 0 RTP/AVP 18\r\n"
                              "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                              "m=image 4004 udptl t38\r\n"
                              "m=audio 4006 RTP/SAVP 0 18\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n";
    const media_filter_result r = filtered(media, {"PCMU"});
    EXPECT_EQ(r.body, sdp_head + "m=audio 0 RTP/AVP 18\r\n"
                                 "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                                 "m=image 4004 udptl t38\r\n"
                                 "m=audio 4006 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\n")
        << "SRTP is filtered too: its formats are RTP payload types";
    EXPECT_EQ(r.audio_active, 1u) << "the disabled audio stream is not counted";
}

TEST(sdp_filter_codecs, an_empty_list_or_a_body_that_does_not_parse_is_kept_as_it_is) {
    const std::string body = sdp_head + "m=audio 4000 RTP/AVP 0 8\n";
    EXPECT_EQ(filter_codecs(body, {}).body, body);
    EXPECT_EQ(filter_codecs("not sdp", std::vector<std::string>{"PCMA"}).body, "not sdp");
    EXPECT_EQ(filter_codecs("not sdp", std::vector<std::string>{"PCMA"}).audio_active, 0u);
    // A filter that takes nothing out still writes CRLF, as rewrite() does.
    EXPECT_EQ(filter_codecs(body, std::vector<std::string>{"PCMU", "PCMA"}).body, sdp_head + "m=audio 4000 RTP/AVP 0 8\r\n");
}

TEST(sdp_filter_codecs, dtmf_events_and_comfort_noise_alone_are_no_codec) {
    const media_filter_result r = filtered("m=audio 4000 RTP/AVP 0 13 101\r\na=rtpmap:101 telephone-event/8000\r\n",
                                           {"PCMA", "telephone-event", "CN"});
    EXPECT_EQ(r.body, sdp_head + "m=audio 0 RTP/AVP 0 13 101\r\na=rtpmap:101 telephone-event/8000\r\n");
    EXPECT_EQ(r.audio_kept, 0u) << "PCMU was the only voice, and it is not allowed";
}

// mt= (media types): a stream of a type not listed is disabled in place, whatever its
// protocol; listed ones pass to the codec filter (RTP audio) or as they are.
TEST(sdp_filter_media, a_stream_of_a_type_not_allowed_is_disabled_in_place) {
    const std::string media = "m=audio 4000 RTP/AVP 0 18\r\n"
                              "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                              "m=image 4004 udptl t38\r\n"
                              "m=text 0 RTP/AVP 98\r\n";
    const std::vector<std::string> types{"Audio", "image"};  // case-insensitive
    const std::vector<std::string> any;
    media_filter_result r = filter_media(sdp_head + media, any, types);
    EXPECT_EQ(r.body, sdp_head + "m=audio 4000 RTP/AVP 0 18\r\n"
                                 "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                                 "m=image 4004 udptl t38\r\n"
                                 "m=text 0 RTP/AVP 98\r\n")
        << "the m-line keeps its place and formats; its attributes stay (RFC 3264 8.2 allows either)";
    EXPECT_EQ(r.active, 3u) << "the disabled text stream is not counted";
    EXPECT_EQ(r.kept, 2u);
    EXPECT_EQ(r.audio_active, 0u) << "no codec list: the audio was not judged";

    // With codecs too: the audio narrowed, the video gone, the fax kept.
    const std::vector<std::string> codecs{"PCMU"};
    r = filter_media(sdp_head + media, codecs, types);
    EXPECT_EQ(r.body, sdp_head + "m=audio 4000 RTP/AVP 0\r\n"
                                 "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                                 "m=image 4004 udptl t38\r\n"
                                 "m=text 0 RTP/AVP 98\r\n");
    EXPECT_EQ(r.audio_active, 1u);
    EXPECT_EQ(r.audio_kept, 1u);
    EXPECT_EQ(r.kept, 2u);
    EXPECT_EQ(filter_media(r.body, codecs, types).body, r.body) << "filtering again changes nothing";
}

TEST(sdp_filter_media, an_audio_stream_of_a_type_not_allowed_is_not_judged_by_the_codecs) {
    const std::vector<std::string> codecs{"PCMA"}, types{"image"};
    const media_filter_result r = filter_media(sdp_head + "m=audio 4000 RTP/AVP 0\r\nm=image 4004 udptl t38\r\n",
                                               codecs, types);
    EXPECT_EQ(r.body, sdp_head + "m=audio 0 RTP/AVP 0\r\nm=image 4004 udptl t38\r\n");
    EXPECT_EQ(r.audio_active, 0u);
    EXPECT_EQ(r.active, 2u);
    EXPECT_EQ(r.kept, 1u);
    const std::vector<std::string> any;
    const media_filter_result none = filter_media(sdp_head + "m=video 4002 RTP/AVP 96\r\n", any, types);
    EXPECT_EQ(none.kept, 0u) << "nothing left: as an offer, refused";
    EXPECT_EQ(none.body, sdp_head + "m=video 0 RTP/AVP 96\r\n");
}

// Two parties' lists in one pass: a name passes when every party with a list allows it.
TEST(sdp_filter_media, two_parties_lists_meet_in_one_pass) {
    const std::string offer = sdp_head + "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                                         "m=image 4004 udptl t38\r\n";
    const std::vector<std::string> alice{"PCMU", "PCMA", "telephone-event"}, bob{"pcmu", "telephone-event"}, none;
    const name_list both[2] = {alice, bob};
    const name_list no_types[2] = {none, none};
    media_filter_result r = filter_media(offer, both, no_types);
    EXPECT_EQ(r.body, sdp_head + "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                                 "m=image 4004 udptl t38\r\n");

    // Lists with nothing in common: the audio disabled, judged (audio_active) and not kept.
    const std::vector<std::string> carol{"G729"};
    const name_list apart[2] = {alice, carol};
    r = filter_media(offer, apart, no_types);
    EXPECT_EQ(r.audio_active, 1u);
    EXPECT_EQ(r.audio_kept, 0u);
    EXPECT_EQ(r.kept, 1u) << "the fax stream stays";

    // One party lists codecs, the other only types, without audio: the audio goes by its type
    // and is not judged by the codecs.
    const std::vector<std::string> fax_only{"image"};
    const name_list codecs[2] = {alice, none};
    const name_list types[2] = {none, fax_only};
    r = filter_media(offer, codecs, types);
    EXPECT_EQ(r.body, sdp_head + "m=audio 0 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
                                 "m=image 4004 udptl t38\r\n");
    EXPECT_EQ(r.audio_active, 0u);
    EXPECT_EQ(r.kept, 1u);
}

// RFC 3264 5.1: an m-line lists its formats in order of preference. With `prefer` (the codec
// list of the party an offer goes to), the kept formats it names come first in its order, the
// others after them as written; the lines of each format stay where they were.
TEST(sdp_filter_media, prefer_puts_the_kept_formats_in_the_lists_order) {
    const std::string offer = sdp_head +
                              "m=audio 4000 RTP/AVP 0 18 8 101\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
                              "a=rtpmap:101 telephone-event/8000\r\nm=video 4002 RTP/AVP 96\r\n"
                              "a=rtpmap:96 H264/90000\r\n";
    const std::vector<std::string> bob{"pcma", "G729", "PCMU", "telephone-event"}, none;
    const name_list one[1] = {bob};
    const name_list no_types[1] = {none};
    media_filter_result r = filter_media(offer, one, no_types, bob);
    EXPECT_EQ(r.body, sdp_head +
                          "m=audio 4000 RTP/AVP 8 18 0 101\r\na=rtpmap:18 G729/8000\r\na=fmtp:18 annexb=no\r\n"
                          "a=rtpmap:101 telephone-event/8000\r\nm=video 4002 RTP/AVP 96\r\n"
                          "a=rtpmap:96 H264/90000\r\n")
        << "static types by their RFC 3551 names, case-insensitive; the video untouched";
    EXPECT_EQ(r.reordered, 1u);
    EXPECT_EQ(r.formats_removed, 0u);
    EXPECT_EQ(filter_media(offer, one, no_types).body, offer) << "without prefer: as written";
    EXPECT_EQ(filter_media(r.body, one, no_types, bob).reordered, 0u) << "in order already: nothing to do";
    EXPECT_EQ(filter_media(r.body, one, no_types, bob).body, r.body);

    // Formats the list does not name (another party's list let them through) go after the
    // named ones, as written; formats it does name but another list refuses go.
    const std::vector<std::string> alice{"PCMU", "G729", "PCMA", "telephone-event"}, carol{"PCMA"};
    const name_list two[2] = {alice, none};
    const name_list two_types[2] = {none, none};
    r = filter_media(offer, two, two_types, carol);
    EXPECT_EQ(r.body.substr(sdp_head.size(), r.body.find("\r\n", sdp_head.size()) - sdp_head.size()),
              "m=audio 4000 RTP/AVP 8 0 18 101");
    const name_list meet[2] = {alice, carol};
    r = filter_media(offer, meet, two_types, alice);
    EXPECT_EQ(r.body.substr(sdp_head.size(), r.body.find("\r\n", sdp_head.size()) - sdp_head.size()),
              "m=audio 4000 RTP/AVP 8") << "only what both allow, whatever the preference";
    EXPECT_EQ(r.reordered, 0u);
}
