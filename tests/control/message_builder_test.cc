// Responses, requests and 400s the B2BUA originates: content, order, and that they parse.

#include "message_builder.hh"

#include "control_eal.hh"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sip/sip_message.hh"

using namespace sf::control;
namespace sip = sf::sip;

namespace {

const std::string invite_text =
    "INVITE sip:bob@192.0.2.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKfirst;rport\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKsecond, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKthird\r\n"
    "v: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bKfourth\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:alice@192.0.2.10>;tag=atag\r\n"
    "To: <sip:bob@192.0.2.1>\r\n"
    "Call-ID: call-1@192.0.2.10\r\n"
    "CSeq: 314 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.10:5060>\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

struct parsed {
    std::string text;
    sip::message msg;
};

// Parses `text` (kept alive in the returned object; views point into it).
std::unique_ptr<parsed> parse_ok(std::string text) {
    auto p = std::make_unique<parsed>();
    p->text = std::move(text);
    const auto err = sip::parse(p->text, p->msg);
    EXPECT_EQ(err, sip::parse_error::ok) << sip::to_string(err) << "\n" << p->text;
    return p;
}

std::vector<std::string> header_values(const sip::message& m, sip::hdr id) {
    std::vector<std::string> out;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].id == id) {
            out.emplace_back(m.headers[i].value);
        }
    }
    return out;
}

// The builders write into mbufs; these read the bytes back (tests may copy, production never does).
std::string response_text(const response_base& b, unsigned status, std::string_view reason, std::string_view to_tag,
                          std::string_view extra, std::string_view server, std::string_view content_type = {},
                          std::string_view body = {}) {
    return build_response(sf::control::test::test_pool(), b, status, reason, to_tag, extra, server, content_type, body)
        .to_string();
}
std::string request_text(const request_spec& s) {
    return build_request(sf::control::test::test_pool(), s).to_string();
}
std::string bad_request_text(std::string_view raw, std::string_view reason, std::string_view server,
                             unsigned status = 400) {
    return build_bad_request(sf::control::test::test_pool(), raw, reason, server, status).to_string();
}

response_base base_of(const std::string& request) {
    sip::message m;
    EXPECT_EQ(sip::parse(request, m), sip::parse_error::ok);
    return response_base::from_request(m);
}

}  // namespace

// ------------------------------------------------------------------ response_base / build_response

TEST(message_builder, response_base_copies_what_a_response_needs) {
    const response_base b = base_of(invite_text);
    ASSERT_EQ(b.vias.size(), 3u);
    EXPECT_EQ(b.vias[0], "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKfirst;rport");
    EXPECT_EQ(b.vias[1], "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKsecond, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKthird");
    EXPECT_EQ(b.vias[2], "SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bKfourth");
    EXPECT_EQ(b.from, "\"Alice\" <sip:alice@192.0.2.10>;tag=atag");
    EXPECT_EQ(b.to, "<sip:bob@192.0.2.1>");
    EXPECT_FALSE(b.to_has_tag);
    EXPECT_EQ(b.call_id, "call-1@192.0.2.10");
    EXPECT_EQ(b.cseq, "314 INVITE");
}

TEST(message_builder, response_copies_every_via_in_order) {
    const response_base b = base_of(invite_text);
    const auto r = parse_ok(response_text(b, 486, "Busy Here", "btag", {}, "sipferry"));
    EXPECT_FALSE(r->msg.is_request);
    EXPECT_EQ(r->msg.status, 486);
    EXPECT_EQ(r->msg.reason, "Busy Here");
    const auto vias = header_values(r->msg, sip::hdr::via);
    ASSERT_EQ(vias.size(), 3u);
    EXPECT_EQ(vias[0], b.vias[0]);
    EXPECT_EQ(vias[1], b.vias[1]);
    EXPECT_EQ(vias[2], b.vias[2]);
    EXPECT_EQ(r->msg.top_via.branch, "z9hG4bKfirst");
    EXPECT_EQ(r->msg.call_id, "call-1@192.0.2.10");
    EXPECT_EQ(r->msg.cseq, 314u);
    EXPECT_EQ(r->msg.cseq_method, sip::method::invite);
    EXPECT_EQ(r->msg.from.tag, "atag");
    ASSERT_NE(r->msg.find(sip::hdr::server), nullptr);
    EXPECT_EQ(r->msg.find(sip::hdr::server)->value, "sipferry");
}

TEST(message_builder, response_adds_to_tag_when_missing) {
    const response_base b = base_of(invite_text);
    const auto r = parse_ok(response_text(b, 180, "Ringing", "btag", {}, {}));
    EXPECT_EQ(r->msg.to.tag, "btag");
    EXPECT_EQ(r->msg.find(sip::hdr::to)->value, "<sip:bob@192.0.2.1>;tag=btag");
    EXPECT_EQ(r->msg.find(sip::hdr::server), nullptr) << "no Server header when none is configured";
}

TEST(message_builder, response_never_tags_a_100) {
    const response_base b = base_of(invite_text);
    const auto r = parse_ok(response_text(b, 100, "Trying", "btag", {}, {}));
    EXPECT_TRUE(r->msg.to.tag.empty());
    EXPECT_EQ(r->msg.find(sip::hdr::to)->value, "<sip:bob@192.0.2.1>");
}

TEST(message_builder, response_keeps_an_existing_to_tag) {
    std::string in_dialog = invite_text;
    in_dialog.replace(in_dialog.find("To: <sip:bob@192.0.2.1>"), 23, "To: <sip:bob@192.0.2.1>;tag=existing");
    const response_base b = base_of(in_dialog);
    EXPECT_TRUE(b.to_has_tag);
    const std::string text = response_text(b, 200, "OK", "other", {}, {});
    const auto r = parse_ok(text);
    EXPECT_EQ(r->msg.to.tag, "existing");
    EXPECT_EQ(text.find("other"), std::string::npos);
}

TEST(message_builder, response_without_tag_argument_leaves_to_alone) {
    const response_base b = base_of(invite_text);
    const auto r = parse_ok(response_text(b, 408, "Request Timeout", {}, {}, {}));
    EXPECT_TRUE(r->msg.to.tag.empty());
}

TEST(message_builder, response_extra_headers_and_body) {
    const response_base b = base_of(invite_text);
    const std::string sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";
    const std::string text = response_text(b, 200, "OK", "btag", "Contact: <sip:sipferry@192.0.2.1:5060>\r\n",
                                            "sipferry", "application/sdp", sdp);
    const auto r = parse_ok(text);
    ASSERT_NE(r->msg.find(sip::hdr::contact), nullptr);
    EXPECT_EQ(r->msg.find(sip::hdr::contact)->value, "<sip:sipferry@192.0.2.1:5060>");
    ASSERT_NE(r->msg.find(sip::hdr::content_type), nullptr);
    EXPECT_EQ(r->msg.find(sip::hdr::content_type)->value, "application/sdp");
    EXPECT_EQ(r->msg.content_length, static_cast<int>(sdp.size()));
    EXPECT_EQ(r->msg.body, sdp);
    // Content-Length is exact: the text ends right after the body.
    EXPECT_EQ(text.substr(text.size() - sdp.size()), sdp);
    EXPECT_EQ(text.find("\r\n\r\n") + 4 + sdp.size(), text.size());
}

TEST(message_builder, response_without_body_has_content_length_zero) {
    const response_base b = base_of(invite_text);
    const std::string text = response_text(b, 486, "Busy Here", "btag", {}, {});
    const auto r = parse_ok(text);
    EXPECT_EQ(r->msg.content_length, 0);
    EXPECT_TRUE(r->msg.body.empty());
    EXPECT_EQ(r->msg.find(sip::hdr::content_type), nullptr);
    EXPECT_EQ(text.substr(text.size() - 4), "\r\n\r\n");
}

// ------------------------------------------------------------------ build_request

TEST(message_builder, request_fields) {
    request_spec s;
    s.method = "INVITE";
    s.request_uri = "sip:bob@198.51.100.20:5060";
    s.via_host = "198.51.100.1";
    s.via_port = 5060;
    s.branch = "z9hG4bKabc123";
    s.max_forwards = 69;
    s.from = "\"Alice\" <sip:alice@198.51.100.1>;tag=ftag";
    s.to = "<sip:bob@198.51.100.20:5060>";
    s.call_id = "newcallid";
    s.cseq = 7;
    s.contact = "<sip:sipferry@198.51.100.1:5060>";
    s.extra = "Allow: INVITE, ACK\r\n";
    s.user_agent = "sipferry";
    s.content_type = "application/sdp";
    s.body = "v=0\r\n";
    const std::string text = request_text(s);
    const auto r = parse_ok(text);
    EXPECT_TRUE(r->msg.is_request);
    EXPECT_EQ(r->msg.req_method, sip::method::invite);
    EXPECT_EQ(r->msg.request_uri, "sip:bob@198.51.100.20:5060");
    EXPECT_EQ(r->msg.count(sip::hdr::via), 1u);
    EXPECT_EQ(r->msg.top_via.transport, "UDP");
    EXPECT_EQ(r->msg.top_via.host, "198.51.100.1");
    EXPECT_EQ(r->msg.top_via.port, 5060);
    EXPECT_EQ(r->msg.top_via.branch, "z9hG4bKabc123");
    EXPECT_TRUE(r->msg.top_via.has_rport);
    EXPECT_EQ(r->msg.max_forwards, 69);
    EXPECT_EQ(r->msg.from.display, "Alice");
    EXPECT_EQ(r->msg.from.uri, "sip:alice@198.51.100.1");
    EXPECT_EQ(r->msg.from.tag, "ftag");
    EXPECT_EQ(r->msg.to.uri, "sip:bob@198.51.100.20:5060");
    EXPECT_TRUE(r->msg.to.tag.empty());
    EXPECT_EQ(r->msg.call_id, "newcallid");
    EXPECT_EQ(r->msg.cseq, 7u);
    EXPECT_EQ(r->msg.cseq_method, sip::method::invite);
    ASSERT_NE(r->msg.find(sip::hdr::contact), nullptr);
    EXPECT_EQ(r->msg.find(sip::hdr::contact)->value, "<sip:sipferry@198.51.100.1:5060>");
    ASSERT_NE(r->msg.find(sip::hdr::allow), nullptr);
    ASSERT_NE(r->msg.find(sip::hdr::user_agent), nullptr);
    EXPECT_EQ(r->msg.find(sip::hdr::user_agent)->value, "sipferry");
    EXPECT_EQ(r->msg.find(sip::hdr::content_type)->value, "application/sdp");
    EXPECT_EQ(r->msg.content_length, 5);
    EXPECT_EQ(r->msg.body, "v=0\r\n");
}

TEST(message_builder, request_cseq_method_defaults_to_method_and_can_differ) {
    request_spec s;
    s.method = "BYE";
    s.request_uri = "sip:alice@192.0.2.10:5060";
    s.via_host = "192.0.2.1";
    s.branch = "z9hG4bKbye";
    s.from = "<sip:bob@192.0.2.1>;tag=x";
    s.to = "<sip:alice@192.0.2.10>;tag=y";
    s.call_id = "c";
    s.cseq = 2;
    const auto bye = parse_ok(request_text(s));
    EXPECT_EQ(bye->msg.cseq_method_name, "BYE");
    EXPECT_EQ(bye->msg.to.tag, "y");
    EXPECT_EQ(bye->msg.find(sip::hdr::contact), nullptr) << "no Contact when none given";
    EXPECT_EQ(bye->msg.find(sip::hdr::user_agent), nullptr);
    EXPECT_EQ(bye->msg.find(sip::hdr::content_type), nullptr);
    EXPECT_EQ(bye->msg.content_length, 0);
    EXPECT_EQ(bye->msg.max_forwards, 70);

    // A request whose CSeq method differs does not parse (the parser enforces RFC 3261 8.1.1.5),
    // so check the text instead.
    s.cseq_method = "INVITE";
    const std::string text = request_text(s);
    EXPECT_NE(text.find("CSeq: 2 INVITE\r\n"), std::string::npos);
}

TEST(message_builder, request_via_port_is_written) {
    request_spec s;
    s.method = "OPTIONS";
    s.request_uri = "sip:x@192.0.2.99";
    s.via_host = "192.0.2.1";
    s.via_port = 5080;
    s.branch = "z9hG4bKopt";
    s.from = "<sip:a@192.0.2.1>;tag=1";
    s.to = "<sip:x@192.0.2.99>";
    s.call_id = "o";
    const auto r = parse_ok(request_text(s));
    EXPECT_EQ(r->msg.top_via.port, 5080);
    EXPECT_EQ(r->msg.cseq, 1u);
}

// ------------------------------------------------------------------ build_bad_request

TEST(message_builder, bad_request_for_broken_invite_keeps_the_vias) {
    // Missing CSeq: the parser refuses it.
    const std::string broken =
        "INVITE sip:bob@192.0.2.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKone;rport\r\n"
        "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKtwo\r\n"
        "From: <sip:alice@192.0.2.10>;tag=atag\r\n"
        "t: <sip:bob@192.0.2.1>\r\n"
        "i: broken@192.0.2.10\r\n"
        "Content-Length: 0\r\n"
        "\r\n";
    sip::message m;
    ASSERT_NE(sip::parse(broken, m), sip::parse_error::ok);
    const std::string text = bad_request_text(broken, "missing CSeq", "sipferry");
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.rfind("SIP/2.0 400 Bad Request (missing CSeq)\r\n", 0), 0u) << text;
    const auto v1 = text.find("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKone;rport\r\n");
    const auto v2 = text.find("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKtwo\r\n");
    ASSERT_NE(v1, std::string::npos) << text;
    ASSERT_NE(v2, std::string::npos) << text;
    EXPECT_LT(v1, v2);
    EXPECT_NE(text.find("From: <sip:alice@192.0.2.10>;tag=atag\r\n"), std::string::npos);
    EXPECT_NE(text.find("To: <sip:bob@192.0.2.1>\r\n"), std::string::npos);
    EXPECT_NE(text.find("Call-ID: broken@192.0.2.10\r\n"), std::string::npos);
    EXPECT_NE(text.find("Server: sipferry\r\n"), std::string::npos);
    const std::string tail = "\r\nContent-Length: 0\r\n\r\n";
    EXPECT_EQ(text.substr(text.size() - tail.size()), tail) << text;
}

TEST(message_builder, bad_request_with_all_fields_parses) {
    // Bad Max-Forwards, everything else present: the 400 must be a well-formed response.
    const std::string broken =
        "INVITE sip:bob@192.0.2.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKone\r\n"
        "Max-Forwards: lots\r\n"
        "From: <sip:alice@192.0.2.10>;tag=atag\r\n"
        "To: <sip:bob@192.0.2.1>\r\n"
        "Call-ID: mf@192.0.2.10\r\n"
        "CSeq: 1 INVITE\r\n"
        "Content-Length: 0\r\n"
        "\r\n";
    sip::message m;
    ASSERT_NE(sip::parse(broken, m), sip::parse_error::ok);
    const auto r = parse_ok(bad_request_text(broken, "bad Max-Forwards", {}));
    EXPECT_EQ(r->msg.status, 400);
    EXPECT_EQ(r->msg.top_via.branch, "z9hG4bKone");
    EXPECT_EQ(r->msg.call_id, "mf@192.0.2.10");
    EXPECT_EQ(r->msg.cseq, 1u);
    EXPECT_EQ(r->msg.find(sip::hdr::server), nullptr);
}

TEST(message_builder, bad_request_skips_leading_crlf) {
    const std::string broken =
        "\r\n\r\nOPTIONS sip:x@192.0.2.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKk\r\n"
        "\r\n";
    EXPECT_FALSE(bad_request_text(broken, "x", {}).empty());
}

TEST(message_builder, bad_request_empty_for_a_response) {
    const std::string resp =
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr\r\n"
        "From: <sip:a@x>;tag=1\r\n"
        "\r\n";
    EXPECT_TRUE(bad_request_text(resp, "x", "sipferry").empty());
}

TEST(message_builder, bad_request_empty_for_ack) {
    const std::string ack =
        "ACK sip:bob@192.0.2.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKa\r\n"
        "From: <sip:a@x>;tag=1\r\n"
        "\r\n";
    EXPECT_TRUE(bad_request_text(ack, "x", "sipferry").empty());
}

TEST(message_builder, bad_request_empty_without_via) {
    const std::string novia =
        "INVITE sip:bob@192.0.2.1 SIP/2.0\r\n"
        "From: <sip:a@x>;tag=1\r\n"
        "To: <sip:b@y>\r\n"
        "Call-ID: nv\r\n"
        "CSeq: 1 INVITE\r\n"
        "\r\n";
    EXPECT_TRUE(bad_request_text(novia, "missing Via", "sipferry").empty());
}

TEST(message_builder, bad_request_empty_for_garbage) {
    EXPECT_TRUE(bad_request_text("", "x", {}).empty());
    EXPECT_TRUE(bad_request_text("\r\n\r\n", "x", {}).empty());
    EXPECT_TRUE(bad_request_text("hello", "x", {}).empty());
    EXPECT_TRUE(bad_request_text("12 34\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\n", "x", {}).empty());
    EXPECT_TRUE(bad_request_text(std::string("\x00\x01\x02 \xff", 5), "x", {}).empty());
}

// ------------------------------------------------------------------ reason_phrase

TEST(message_builder, reason_phrases) {
    EXPECT_EQ(reason_phrase(100), "Trying");
    EXPECT_EQ(reason_phrase(180), "Ringing");
    EXPECT_EQ(reason_phrase(200), "OK");
    EXPECT_EQ(reason_phrase(404), "Not Found");
    EXPECT_EQ(reason_phrase(408), "Request Timeout");
    EXPECT_EQ(reason_phrase(481), "Call/Transaction Does Not Exist");
    EXPECT_EQ(reason_phrase(483), "Too Many Hops");
    EXPECT_EQ(reason_phrase(486), "Busy Here");
    EXPECT_EQ(reason_phrase(487), "Request Terminated");
    EXPECT_EQ(reason_phrase(603), "Decline");
    // The statuses the appliance itself sends (authentication, registrar, session timers).
    EXPECT_EQ(reason_phrase(401), "Unauthorized");
    EXPECT_EQ(reason_phrase(407), "Proxy Authentication Required");
    EXPECT_EQ(reason_phrase(422), "Session Interval Too Small");
    EXPECT_EQ(reason_phrase(423), "Interval Too Brief");
    EXPECT_EQ(reason_phrase(480), "Temporarily Unavailable");
    EXPECT_EQ(reason_phrase(199), "Session Progress");
    EXPECT_EQ(reason_phrase(299), "OK");
    EXPECT_EQ(reason_phrase(399), "Redirect");
    EXPECT_EQ(reason_phrase(499), "Client Error");
    EXPECT_EQ(reason_phrase(599), "Server Error");
    EXPECT_EQ(reason_phrase(699), "Global Failure");
}

// ------------------------------------------------------------------ golden: identical to the string builder

// The bytes the builders produced when they built std::strings (captured from that version
// for these inputs): writing into mbufs must not change a single byte.
namespace {

const std::string golden_response =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKfirst;rport\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKsecond, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKthird\r\n"
    "Via: SIP/2.0/UDP 10.0.0.3:5080;branch=z9hG4bKfourth\r\n"
    "From: \"Alice\" <sip:alice@192.0.2.10>;tag=atag\r\n"
    "To: <sip:bob@192.0.2.1>;tag=btag\r\n"
    "Call-ID: call-1@192.0.2.10\r\n"
    "CSeq: 314 INVITE\r\n"
    "Contact: <sip:bob@192.0.2.1:5060>\r\n"
    "Supported: timer\r\n"
    "Server: sipferry\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 88\r\n"
    "\r\n"
    "v=0\r\n"
    "o=- 1 1 IN IP4 192.0.2.1\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.1\r\n"
    "t=0 0\r\n"
    "m=audio 20000 RTP/AVP 0\r\n"
    "";
const std::string golden_request =
    "INVITE sip:bob@198.51.100.20:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKgolden;rport\r\n"
    "Max-Forwards: 69\r\n"
    "From: <sip:alice@198.51.100.1>;tag=ftag\r\n"
    "To: <sip:bob@198.51.100.20>\r\n"
    "Call-ID: golden-call@198.51.100.1\r\n"
    "CSeq: 4711 INVITE\r\n"
    "Contact: <sip:sipferry@198.51.100.1:5060>\r\n"
    "Allow: INVITE, ACK, BYE\r\n"
    "User-Agent: sipferry\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 88\r\n"
    "\r\n"
    "v=0\r\n"
    "o=- 1 1 IN IP4 192.0.2.1\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.1\r\n"
    "t=0 0\r\n"
    "m=audio 20000 RTP/AVP 0\r\n"
    "";
const std::string golden_bad_request =
    "SIP/2.0 400 Bad Request (bad CSeq)\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKbad\r\n"
    "From: <sip:a@b>;tag=1\r\n"
    "To: <sip:x@192.0.2.1>\r\n"
    "Call-ID: bad-call\r\n"
    "CSeq: nonsense\r\n"
    "Server: sipferry\r\n"
    "Content-Length: 0\r\n"
    "\r\n"
    "";

const std::string golden_sdp =
    "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n";

}  // namespace

TEST(message_builder, golden_bytes_match_the_string_builder) {
    const response_base b = base_of(invite_text);
    const sip_wire resp = build_response(sf::control::test::test_pool(), b, 200, "OK", "btag",
                                         "Contact: <sip:bob@192.0.2.1:5060>\r\nSupported: timer\r\n", "sipferry",
                                         "application/sdp", golden_sdp);
    EXPECT_EQ(resp.to_string(), golden_response);
    EXPECT_EQ(resp.size(), golden_response.size());
    EXPECT_EQ(resp.contiguous(), golden_response) << "a message this small sits in one segment";

    request_spec rs;
    rs.method = "INVITE";
    rs.request_uri = "sip:bob@198.51.100.20:5060";
    rs.via_host = "198.51.100.1";
    rs.via_port = 5060;
    rs.branch = "z9hG4bKgolden";
    rs.max_forwards = 69;
    rs.from = "<sip:alice@198.51.100.1>;tag=ftag";
    rs.to = "<sip:bob@198.51.100.20>";
    rs.call_id = "golden-call@198.51.100.1";
    rs.cseq = 4711;
    rs.contact = "<sip:sipferry@198.51.100.1:5060>";
    rs.extra = "Allow: INVITE, ACK, BYE\r\n";
    rs.user_agent = "sipferry";
    rs.content_type = "application/sdp";
    rs.body = golden_sdp;
    EXPECT_EQ(build_request(sf::control::test::test_pool(), rs).to_string(), golden_request);

    const std::string bad =
        "OPTIONS sip:x@192.0.2.1 SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKbad\r\nf: <sip:a@b>;tag=1\r\n"
        "t: <sip:x@192.0.2.1>\r\ni: bad-call\r\nCSeq: nonsense\r\nMax-Forwards: 70\r\n\r\n";
    EXPECT_EQ(build_bad_request(sf::control::test::test_pool(), bad, "bad CSeq", "sipferry").to_string(),
              golden_bad_request);
}

TEST(message_builder, a_body_larger_than_a_segment_is_chained_and_intact) {
    const response_base b = base_of(invite_text);
    std::string body;
    for (unsigned i = 0; body.size() < 5000; ++i) {
        body += "a=x-line:" + std::to_string(i) + "\r\n";
    }
    const sip_wire resp = build_response(sf::control::test::test_pool(), b, 200, "OK", "btag", {}, {},
                                         "application/sdp", body);
    EXPECT_GE(resp.segments(), 3u) << "2 KiB segments";
    EXPECT_TRUE(resp.contiguous().empty()) << "no single view of a chained message";
    const auto r = parse_ok(resp.to_string());
    EXPECT_EQ(r->msg.body, body);
}

TEST(message_builder, an_empty_pool_builds_nothing_and_counts_it) {
    // A pool of its own, drained: every builder returns an empty handle.
    static message_pool& tiny = *new message_pool("mb_tiny", 8, 2048, SOCKET_ID_ANY);
    std::vector<sip_wire> hold;
    for (unsigned i = 0; i < 64 && tiny.available() > 0; ++i) {
        sip_writer w(tiny);
        w.append("x");
        hold.push_back(w.finish());
    }
    ASSERT_EQ(tiny.available(), 0u);
    const uint64_t failures = tiny.stats().alloc_failures;
    const response_base b = base_of(invite_text);
    EXPECT_TRUE(build_response(tiny, b, 486, "Busy Here", "btag", {}, {}).empty());
    request_spec rs;
    rs.method = "OPTIONS";
    rs.request_uri = "sip:x@192.0.2.1";
    EXPECT_TRUE(build_request(tiny, rs).empty());
    EXPECT_TRUE(build_bad_request(tiny, "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\n", "x", {}).empty());
    EXPECT_EQ(tiny.stats().alloc_failures, failures + 3);
    hold.clear();
    EXPECT_EQ(tiny.available(), 8u);
    EXPECT_FALSE(build_response(tiny, b, 486, "Busy Here", "btag", {}, {}).empty()) << "mbufs back: builds again";
}
