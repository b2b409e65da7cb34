// SIP message parser tests: RFC 3261 grammar corners and RFC 4475 torture
// messages (valid ones parse with the expected fields, invalid ones fail with
// the matching parse_error).

#include "sip/sip_message.hh"
#include "sip/sip_uri.hh"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

using namespace sf::sip;
using namespace std::string_literals;

namespace {

// Test messages are written with LF line ends for readability; SIP wants CRLF.
std::string crlf(std::string_view s) {
    std::string out;
    out.reserve(s.size() + s.size() / 16);
    for (char c : s) {
        if (c == '\n') {
            out += "\r\n";
        } else {
            out += c;
        }
    }
    return out;
}

const std::string sdp_150 =
    "v=0\r\n"
    "o=mhandley 29739 7272939 IN IP4 192.0.2.1\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.1\r\n"
    "t=0 0\r\n"
    "m=audio 49217 RTP/AVP 0 12\r\n"
    "m=video 3227 RTP/AVP 31\r\n"
    "a=rtpmap:31 LPC\r\n";

// A well-formed INVITE as header lines, so tests can break one line at a time.
std::vector<std::string> invite_lines() {
    return {
        "INVITE sip:bob@biloxi.example.com SIP/2.0",
        "Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport",
        "Max-Forwards: 70",
        "To: Bob <sip:bob@biloxi.example.com>",
        "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774",
        "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
        "CSeq: 314159 INVITE",
        "Contact: <sip:alice@pc33.atlanta.example.com>",
        "Content-Type: application/sdp",
        "Content-Length: 150",
    };
}

std::string join(const std::vector<std::string>& lines, std::string_view body = sdp_150) {
    std::string out;
    for (const auto& l : lines) {
        out += l;
        out += "\r\n";
    }
    out += "\r\n";
    out += body;
    return out;
}

// Replaces the line starting with `prefix` (or removes it if `with` is empty).
std::vector<std::string> edit(std::vector<std::string> lines, std::string_view prefix, std::string with) {
    for (auto it = lines.begin(); it != lines.end(); ++it) {
        if (std::string_view(*it).substr(0, prefix.size()) == prefix) {
            if (with.empty()) {
                lines.erase(it);
            } else {
                *it = std::move(with);
            }
            return lines;
        }
    }
    ADD_FAILURE() << "no line " << prefix;
    return lines;
}

parse_error parse_lines(const std::vector<std::string>& lines, std::string_view body = sdp_150) {
    std::string text = join(lines, body);
    message m;
    return parse(text, m);
}

}  // namespace

TEST(sip_message, basic_invite) {
    std::string text = join(invite_lines());
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_TRUE(m.is_request);
    EXPECT_EQ(m.req_method, method::invite);
    EXPECT_EQ(m.method_name, "INVITE");
    EXPECT_EQ(m.request_uri, "sip:bob@biloxi.example.com");
    EXPECT_EQ(m.n_headers, 9);
    EXPECT_EQ(m.top_via.transport, "UDP");
    EXPECT_EQ(m.top_via.host, "pc33.atlanta.example.com");
    EXPECT_EQ(m.top_via.port, 5060);
    EXPECT_EQ(m.top_via.branch, "z9hG4bK776asdhds");
    EXPECT_TRUE(m.top_via.has_rport);
    EXPECT_EQ(m.top_via.rport, 0);
    EXPECT_EQ(m.call_id, "a84b4c76e66710@pc33.atlanta.example.com");
    EXPECT_EQ(m.cseq, 314159u);
    EXPECT_EQ(m.cseq_method, method::invite);
    EXPECT_EQ(m.cseq_method_name, "INVITE");
    EXPECT_EQ(m.from.display, "Alice");
    EXPECT_EQ(m.from.uri, "sip:alice@atlanta.example.com");
    EXPECT_EQ(m.from.tag, "1928301774");
    EXPECT_EQ(m.to.display, "Bob");
    EXPECT_EQ(m.to.uri, "sip:bob@biloxi.example.com");
    EXPECT_EQ(m.to.tag, "");
    EXPECT_EQ(m.max_forwards, 70);
    EXPECT_EQ(m.content_length, 150);
    EXPECT_EQ(m.body, sdp_150);
    // Zero-copy: every view points into the datagram.
    EXPECT_GE(m.body.data(), text.data());
    EXPECT_EQ(m.body.data() + m.body.size(), text.data() + text.size());
    EXPECT_GE(m.call_id.data(), text.data());
    EXPECT_LT(m.call_id.data(), text.data() + text.size());

    ASSERT_NE(m.find(hdr::content_type), nullptr);
    EXPECT_EQ(m.find(hdr::content_type)->value, "application/sdp");
    EXPECT_EQ(m.find("content-type"), m.find(hdr::content_type));
    EXPECT_EQ(m.find("c"), m.find(hdr::content_type));
    EXPECT_EQ(m.find(hdr::route), nullptr);
    EXPECT_EQ(m.find("X-Nothing"), nullptr);
    EXPECT_EQ(m.count(hdr::via), 1u);
}

TEST(sip_message, response) {
    std::string text = crlf(
        "SIP/2.0 180 Ringing\n"
        "Via: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds8;received=192.0.2.1\n"
        "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\n"
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
        "Call-ID: a84b4c76e66710\n"
        "CSeq: 314159 INVITE\n"
        "Content-Length: 0\n"
        "\n");
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_FALSE(m.is_request);
    EXPECT_EQ(m.status, 180);
    EXPECT_EQ(m.reason, "Ringing");
    EXPECT_EQ(m.to.tag, "a6c85cf");
    EXPECT_EQ(m.top_via.received, "192.0.2.1");
    EXPECT_FALSE(m.top_via.has_rport);
    EXPECT_EQ(m.max_forwards, -1);
    EXPECT_EQ(m.body, "");

    // A response's CSeq method is whatever the request was.
    std::string other = text;
    other.replace(0, 19, "SIP/2.0 200 OK Fine");
    ASSERT_EQ(parse(other, m), parse_error::ok);
    EXPECT_EQ(m.status, 200);
    EXPECT_EQ(m.reason, "OK Fine");

    // Empty reason phrase, with and without the SP.
    for (const char* line : {"SIP/2.0 699 ", "SIP/2.0 100"}) {
        std::string t = text;
        t.replace(0, 19, line);
        ASSERT_EQ(parse(t, m), parse_error::ok) << line;
        EXPECT_EQ(m.reason, "");
    }
}

// RFC 4475 3.1.1.1 wsinv: a short tortuous INVITE.
TEST(sip_message, rfc4475_wsinv) {
    std::string text = crlf(
        "INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\n"
        "TO :\n"
        " sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\n"
        "from   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\n"
        "  ;\n"
        "  tag = 98asjd8\n"
        "MaX-fOrWaRdS: 0068\n"
        "Call-ID: wsinv.ndaksdj@192.0.2.1\n"
        "Content-Length   : 150\n"
        "cseq: 0009\n"
        "  INVITE\n"
        "Via  : SIP  /   2.0\n"
        " /UDP\n"
        "    192.0.2.2;branch=390skdjuw\n"
        "s :\n"
        "NewFangledHeader:   newfangled value\n"
        " continued newfangled value\n"
        "UnknownHeaderWithUnusualValue: ;;,,;;,;\n"
        "Content-Type: application/sdp\n"
        "Route:\n"
        " <sip:services.example.com;lr;unknownwith=value;unknown-no-value>\n"
        "v:  SIP  / 2.0  / TCP     spindle.example.com   ;\n"
        "  branch  =   z9hG4bK9ikj8  ,\n"
        " SIP  /    2.0   / UDP  192.168.255.111   ; branch=\n"
        " z9hG4bK30239\n"
        "m:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\n"
        "      newvalue ;\n"
        "  secondparam ; q = 0.33\n"
        "\n"
        "v=0\n"
        "o=mhandley 29739 7272939 IN IP4 192.0.2.3\n"
        "s=-\n"
        "c=IN IP4 192.0.2.4\n"
        "t=0 0\n"
        "m=audio 49217 RTP/AVP 0 12\n"
        "m=video 3227 RTP/AVP 31\n"
        "a=rtpmap:31 LPC\n");
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.request_uri, "sip:vivekg@chair-dnrc.example.com;unknownparam");
    EXPECT_EQ(m.to.uri, "sip:vivekg@chair-dnrc.example.com");
    EXPECT_EQ(m.to.tag, "1918181833n");
    EXPECT_EQ(m.from.display, "J Rosenberg \\\\\\\"");
    EXPECT_EQ(m.from.uri, "sip:jdrosen@example.com");
    EXPECT_EQ(m.from.tag, "98asjd8");
    EXPECT_EQ(m.max_forwards, 68);
    EXPECT_EQ(m.call_id, "wsinv.ndaksdj@192.0.2.1");
    EXPECT_EQ(m.content_length, 150);
    EXPECT_EQ(m.body.size(), 150u);
    EXPECT_EQ(m.cseq, 9u);
    EXPECT_EQ(m.cseq_method, method::invite);
    EXPECT_EQ(m.top_via.transport, "UDP");
    EXPECT_EQ(m.top_via.host, "192.0.2.2");
    EXPECT_EQ(m.top_via.branch, "390skdjuw");
    EXPECT_EQ(m.count(hdr::via), 2u);

    // The compact "v" header carries two via-parms with LWS everywhere.
    const header* second = nullptr;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].name == "v") {
            second = &m.headers[i];
        }
    }
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(second->id, hdr::via);
    via v;
    std::string_view rest;
    ASSERT_TRUE(parse_via(second->value, v, &rest));
    EXPECT_EQ(v.transport, "TCP");
    EXPECT_EQ(v.host, "spindle.example.com");
    EXPECT_EQ(v.branch, "z9hG4bK9ikj8");
    ASSERT_TRUE(parse_via(rest, v, &rest));
    EXPECT_EQ(v.transport, "UDP");
    EXPECT_EQ(v.host, "192.168.255.111");
    EXPECT_EQ(v.branch, "z9hG4bK30239");
    EXPECT_EQ(rest, "");

    const header* s = m.find("s");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->value, "");
    const header* nf = m.find("newfangledheader");
    ASSERT_NE(nf, nullptr);
    EXPECT_EQ(nf->value, "newfangled value\r\n continued newfangled value");
    EXPECT_EQ(m.find("UnknownHeaderWithUnusualValue")->value, ";;,,;;,;");

    const header* contact = m.find(hdr::contact);
    ASSERT_NE(contact, nullptr);
    name_addr na;
    ASSERT_TRUE(parse_name_addr(contact->value, na));
    EXPECT_EQ(na.display, "Quoted string \\\"\\\"");
    EXPECT_EQ(na.uri, "sip:jdrosen@example.com");
    EXPECT_EQ(find_param(na.params, "newparam"), "newvalue");
    EXPECT_EQ(find_param(na.params, "q"), "0.33");
    bool found = false;
    EXPECT_EQ(find_param(na.params, "secondparam", &found), "");
    EXPECT_TRUE(found);

    const header* route = m.find(hdr::route);
    ASSERT_NE(route, nullptr);
    ASSERT_TRUE(parse_name_addr(route->value, na));
    EXPECT_EQ(na.uri, "sip:services.example.com;lr;unknownwith=value;unknown-no-value");
}

// RFC 4475 3.1.1.2 intmeth: a wide range of valid characters.
TEST(sip_message, rfc4475_intmeth) {
    std::string text = crlf(
        "!interesting-Method0123456789_*+`.%indeed'~ sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com SIP/2.0\n"
        "Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n"
        "To: \"BEL:\\\x07 NUL:\\\0 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n"s
        "From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"\xD1\x80\xD0\xB0\xD0\xB1\xD0\xBE\xD1\x82\xD0\xB0\xD1\x8E\xD1\x89\xD0\xB8\xD0\xB9\";tag=_token~1'+`*%!-.\n"
        "Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{\n"
        "CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~\n"
        "Max-Forwards: 255\n"
        "extensionHeader-!.%*+_`'~:\xEF\xBB\xBF\xE5\xA4\xA7\xE5\x81\x9C\xE9\x9B\xBB\n"
        "Content-Length: 0\n"
        "\n");
    ASSERT_NE(text.find('\0'), std::string::npos);
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.req_method, method::other);
    EXPECT_EQ(m.method_name, "!interesting-Method0123456789_*+`.%indeed'~");
    EXPECT_EQ(m.cseq_method, method::other);
    EXPECT_EQ(m.cseq, 139122385u);
    EXPECT_EQ(m.max_forwards, 255);
    EXPECT_EQ(m.top_via.branch, "z9hG4bK-.!%66*_+`'~");
    EXPECT_EQ(m.to.uri, "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com");
    EXPECT_EQ(m.to.display.size(), 20u);
    EXPECT_EQ(m.from.display, "token1~` token2'+_ token3*%!.-");
    EXPECT_EQ(m.from.tag, "_token~1'+`*%!-.");
    EXPECT_EQ(m.call_id, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    ASSERT_NE(m.find("extensionHeader-!.%*+_`'~"), nullptr);
    EXPECT_EQ(m.body, "");

    uri u;
    ASSERT_TRUE(parse_uri(m.request_uri, u));
    EXPECT_EQ(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    EXPECT_EQ(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    EXPECT_EQ(u.host, "example.com");
}

// RFC 4475 3.1.1.3 esc01: valid % escaping, compact forms, folded Contact.
TEST(sip_message, rfc4475_esc01) {
    std::string text = crlf(
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\n"
        "To: sip:%75se%72@example.com\n"
        "From: <sip:I%20have%20spaces@example.net>;tag=938\n"
        "Max-Forwards: 87\n"
        "i: esc01.239409asdfakjkn23onasd0-3234\n"
        "CSeq: 234234 INVITE\n"
        "Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\n"
        "C: application/sdp\n"
        "Contact:\n"
        "  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n"
        "Content-Length: 150\n"
        "\n") + sdp_150;
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.call_id, "esc01.239409asdfakjkn23onasd0-3234");
    EXPECT_EQ(m.to.uri, "sip:%75se%72@example.com");
    EXPECT_EQ(m.from.uri, "sip:I%20have%20spaces@example.net");
    EXPECT_EQ(m.from.tag, "938");
    EXPECT_EQ(m.find(hdr::content_type)->value, "application/sdp");
    name_addr c;
    ASSERT_TRUE(parse_name_addr(m.find(hdr::contact)->value, c));
    uri u;
    ASSERT_TRUE(parse_uri(c.uri, u));
    EXPECT_EQ(u.user, "cal%6Cer");
    EXPECT_EQ(u.params, "%6C%72;n%61me=v%61lue%25%34%31");
    ASSERT_TRUE(parse_uri(m.request_uri, u));
    EXPECT_EQ(u.user, "sips%3Auser%40example.com");
    EXPECT_EQ(u.host, "example.net");
}

// RFC 4475 3.1.1.5 esc02 and 3.1.1.6 lwsdisp.
TEST(sip_message, rfc4475_esc02_lwsdisp) {
    std::string esc02 = crlf(
        "RE%47IST%45R sip:registrar.example.com SIP/2.0\n"
        "To: \"%Z%45\" <sip:resource@example.com>\n"
        "From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23\n"
        "Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\n"
        "Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\n"
        "CSeq: 29344 RE%47IST%45R\n"
        "Max-Forwards: 70\n"
        "Contact: <sip:alias1@host1.example.com>\n"
        "C%6Fntact: <sip:alias2@host2.example.com>\n"
        "Contact: <sip:alias3@host3.example.com>\n"
        "l: 0\n"
        "\n");
    message m;
    ASSERT_EQ(parse(esc02, m), parse_error::ok);
    EXPECT_EQ(m.req_method, method::other);
    EXPECT_EQ(m.method_name, "RE%47IST%45R");
    EXPECT_EQ(m.count(hdr::contact), 2u);
    EXPECT_NE(m.find("C%6Fntact"), nullptr);
    EXPECT_EQ(m.to.display, "%Z%45");

    std::string lwsdisp = crlf(
        "OPTIONS sip:user@example.com SIP/2.0\n"
        "To: sip:user@example.com\n"
        "From: caller<sip:caller@example.com>;tag=323\n"
        "Max-Forwards: 70\n"
        "Call-ID: lwsdisp.1234abcd@funky.example.com\n"
        "CSeq: 60 OPTIONS\n"
        "Via: SIP/2.0/UDP funky.example.com;branch=z9hG4bKkdjuw\n"
        "l: 0\n"
        "\n");
    ASSERT_EQ(parse(lwsdisp, m), parse_error::ok);
    EXPECT_EQ(m.req_method, method::options);
    EXPECT_EQ(m.from.display, "caller");
    EXPECT_EQ(m.from.uri, "sip:caller@example.com");
    EXPECT_EQ(m.from.tag, "323");
}

// RFC 4475 3.1.1.7 longreq: long values and 34 Via headers in all spellings.
TEST(sip_message, rfc4475_longreq) {
    std::string longname = "amazinglylongcallernameamazinglylongcallernameamazinglylongcallername"
                           "amazinglylongcallernameamazinglylongcallername";
    std::string tag(120, '9');
    std::string text = "INVITE sip:user@example.com SIP/2.0\r\n"
        "To: \"I have a user name of extreme extreme extreme extreme extreme extreme extreme "
        "extreme extreme extreme  proportion\" <sip:user@example.com:6000;unknownparam1=very"
        + std::string(200, 'l') + "value;longparamname=shortvalue;" + std::string(100, 'n')
        + "ParameterNameWithNoValue>\r\n"
        "F: sip:" + longname + "@example.net;tag=" + tag + ";unknownheaderparam" + std::string(100, 'e')
        + "=value;unknownValuelessparamname\r\n"
        "Call-ID: longreq.one" + std::string(400, 'r') + "longcallid\r\n"
        "CSeq: 3882340 INVITE\r\n"
        "Unknown-" + std::string(80, 'L') + "-Name:unknown-" + std::string(80, 'l') + "-value;p = v\r\n";
    const char* vias[] = {"Via", "v", "V", "Via", "ViA", "VIa", "VIA", "via", "viA", "vIa", "vIA",
                          "V ", "v ", "V  ", "v  ", "Via ", "Via  "};
    int n = 33;
    for (const char* name : vias) {
        text += std::string(name) + ": SIP/2.0/TCP sip" + std::to_string(n--) + ".example.com\r\n";
    }
    while (n > 0) {
        text += "Via: SIP/2.0/TCP sip" + std::to_string(n--) + ".example.com\r\n";
    }
    text += "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very" + std::string(300, 'l')
        + "branchvalue\r\n"
        "Max-Forwards: 70\r\n"
        "Contact: <sip:" + longname + "@host5.example.net>\r\n"
        "Content-Type: application/sdp\r\n"
        "l: 150\r\n"
        "\r\n" + sdp_150;
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.count(hdr::via), 34u);
    EXPECT_EQ(m.top_via.host, "sip33.example.com");
    EXPECT_EQ(m.top_via.transport, "TCP");
    EXPECT_EQ(m.from.tag, tag);
    EXPECT_EQ(m.to.tag, "");
    EXPECT_EQ(m.call_id.size(), 421u);
    EXPECT_EQ(m.body, sdp_150);
    uri u;
    ASSERT_TRUE(parse_uri(m.to.uri, u));
    EXPECT_EQ(u.port, 6000);
}

// RFC 4475 3.1.1.8 dblreq: octets after Content-Length are noise over UDP.
TEST(sip_message, rfc4475_dblreq) {
    std::string text = crlf(
        "REGISTER sip:example.com SIP/2.0\n"
        "To: sip:j.user@example.com\n"
        "From: sip:j.user@example.com;tag=43251j3j324\n"
        "Max-Forwards: 8\n"
        "I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\n"
        "Contact: sip:j.user@host.example.com\n"
        "CSeq: 8 REGISTER\n"
        "Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\n"
        "Content-Length: 0\n"
        "\n"
        "INVITE sip:joe@example.com SIP/2.0\n"
        "t: sip:joe@example.com\n"
        "\n");
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.req_method, method::register_);
    EXPECT_EQ(m.from.uri, "sip:j.user@example.com");
    EXPECT_EQ(m.from.tag, "43251j3j324");
    EXPECT_EQ(m.content_length, 0);
    EXPECT_EQ(m.body, "");
}

// RFC 4475 3.1.1.9 semiuri (with a folded Accept list).
TEST(sip_message, rfc4475_semiuri) {
    std::string text = crlf(
        "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\n"
        "To: sip:j_user@example.com\n"
        "From: sip:caller@example.org;tag=33242\n"
        "Max-Forwards: 3\n"
        "Call-ID: semiuri.0ha0isndaksdj\n"
        "CSeq: 8 OPTIONS\n"
        "Accept: application/sdp, application/pkcs7-mime,\n"
        "      multipart/mixed, multipart/signed,\n"
        "      message/sip, message/sipfrag\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\n"
        "l: 0\n"
        "\n");
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    uri u;
    ASSERT_TRUE(parse_uri(m.request_uri, u));
    EXPECT_EQ(u.user, "user;par=u%40example.net");
    EXPECT_EQ(u.host, "example.com");
    ASSERT_NE(m.find(hdr::accept), nullptr);
    EXPECT_EQ(m.find(hdr::accept)->value.substr(0, 16), "application/sdp,");
    EXPECT_EQ(m.find(hdr::accept)->value.substr(m.find(hdr::accept)->value.size() - 15), "message/sipfrag");
}

// RFC 4475 messages that are syntactically fine for a relay over UDP.
TEST(sip_message, rfc4475_ncl_bext01_bcast) {
    // ncl: no Content-Length; over UDP the body is the rest of the datagram.
    auto lines = edit(invite_lines(), "Content-Length", "");
    std::string text = join(lines);
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.content_length, -1);
    EXPECT_EQ(m.body, sdp_150);

    // bext01: unknown option tags in Require are for the UAS to reject.
    lines = invite_lines();
    lines.push_back("Require: nothingSupportsThis, nothingSupportsThisEither");
    lines.push_back("Proxy-Require: noProxiesSupportThis");
    ASSERT_EQ(parse_lines(lines), parse_error::ok);

    // bcast: a 200 with a broadcast received= parses fine.
    text = crlf(
        "SIP/2.0 200 OK\n"
        "Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923;received=255.255.255.255\n"
        "Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23\n"
        "Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf\n"
        "CSeq: 35 INVITE\n"
        "From: sip:user@example.com;tag=11141343\n"
        "To: sip:user@example.edu;tag=2229\n"
        "Content-Length: 0\n"
        "\n");
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.top_via.received, "255.255.255.255");
    EXPECT_EQ(m.count(hdr::via), 2u);
}

TEST(sip_message, compact_forms) {
    std::string text = crlf(
        "BYE sip:bob@192.0.2.4 SIP/2.0\n"
        "v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\n"
        "f: <sip:alice@example.com>;tag=a\n"
        "t: <sip:bob@example.com>;tag=b\n"
        "i: compact-1\n"
        "CSEQ: 2 BYE\n"
        "k: timer\n"
        "m: <sip:alice@192.0.2.1>\n"
        "x: 1800;refresher=uac\n"
        "o: refer\n"
        "r: <sip:carol@example.com>\n"
        "b: <sip:alice@example.com>\n"
        "e: gzip\n"
        "s: hello\n"
        "u: dialog\n"
        "y: signature\n"
        "l: 0\n"
        "\n");
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.req_method, method::bye);
    EXPECT_EQ(m.from.tag, "a");
    EXPECT_EQ(m.to.tag, "b");
    EXPECT_EQ(m.call_id, "compact-1");
    EXPECT_EQ(m.content_length, 0);
    EXPECT_NE(m.find(hdr::supported), nullptr);
    EXPECT_NE(m.find(hdr::contact), nullptr);
    EXPECT_NE(m.find(hdr::session_expires), nullptr);
    EXPECT_NE(m.find(hdr::event), nullptr);
    EXPECT_NE(m.find(hdr::refer_to), nullptr);
    EXPECT_NE(m.find(hdr::referred_by), nullptr);
    EXPECT_EQ(m.find("Referred-By"), m.find(hdr::referred_by));
    EXPECT_EQ(m.find("s")->value, "hello");
    EXPECT_EQ(m.find("S")->value, "hello");
    EXPECT_EQ(m.count(hdr::other), 4u);
}

TEST(sip_message, header_names) {
    struct {
        const char* name;
        hdr id;
    } cases[] = {
        {"Via", hdr::via}, {"VIA", hdr::via}, {"v", hdr::via}, {"V", hdr::via},
        {"From", hdr::from}, {"f", hdr::from}, {"To", hdr::to}, {"t", hdr::to},
        {"call-id", hdr::call_id}, {"i", hdr::call_id}, {"CSeq", hdr::cseq}, {"cseq", hdr::cseq},
        {"Contact", hdr::contact}, {"m", hdr::contact}, {"Max-Forwards", hdr::max_forwards},
        {"Content-Length", hdr::content_length}, {"l", hdr::content_length},
        {"Content-Type", hdr::content_type}, {"c", hdr::content_type}, {"Route", hdr::route},
        {"Record-Route", hdr::record_route}, {"Allow", hdr::allow}, {"Supported", hdr::supported},
        {"k", hdr::supported}, {"Require", hdr::require}, {"User-Agent", hdr::user_agent},
        {"Server", hdr::server}, {"Expires", hdr::expires}, {"Refer-To", hdr::refer_to},
        {"r", hdr::refer_to}, {"Referred-By", hdr::referred_by}, {"b", hdr::referred_by},
        {"Replaces", hdr::replaces}, {"Event", hdr::event}, {"o", hdr::event},
        {"Subscription-State", hdr::subscription_state}, {"Refer-Sub", hdr::refer_sub},
        {"Authorization", hdr::authorization}, {"WWW-Authenticate", hdr::www_authenticate},
        {"Proxy-Authorization", hdr::proxy_authorization},
        {"Proxy-Authenticate", hdr::proxy_authenticate}, {"Retry-After", hdr::retry_after},
        {"Session-Expires", hdr::session_expires}, {"x", hdr::session_expires},
        {"Min-SE", hdr::min_se}, {"RSeq", hdr::rseq}, {"RAck", hdr::rack}, {"Accept", hdr::accept},
        {"Reason", hdr::reason}, {"Unsupported", hdr::unsupported},
        {"e", hdr::other}, {"s", hdr::other}, {"u", hdr::other}, {"y", hdr::other},
        {"X-Custom", hdr::other}, {"", hdr::other}, {"Vias", hdr::other}, {"Contact-", hdr::other},
    };
    std::set<hdr> ids;
    for (const auto& c : cases) {
        EXPECT_EQ(header_from_name(c.name), c.id) << c.name;
        ids.insert(c.id);
    }
    // Every id is reachable by name.
    EXPECT_EQ(ids.size(), static_cast<size_t>(hdr::count_));
}

TEST(sip_message, methods) {
    for (int i = 1; i <= static_cast<int>(method::message); ++i) {
        auto m = static_cast<method>(i);
        ASSERT_FALSE(method_token(m).empty());
        EXPECT_EQ(method_from_token(method_token(m)), m);
    }
    EXPECT_EQ(method_token(method::other), "");
    EXPECT_EQ(method_token(method::register_), "REGISTER");
    EXPECT_EQ(method_from_token("invite"), method::other);  // methods are case-sensitive
    EXPECT_EQ(method_from_token("PUBLISH"), method::other);
    EXPECT_EQ(method_from_token(""), method::other);
}

TEST(sip_message, lf_only_and_keepalives) {
    std::string lf_text = "\r\n\r\n\n"
        "ACK sip:bob@192.0.2.4 SIP/2.0\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2\n"
        "From: <sip:alice@example.com>;tag=a\n"
        "To: <sip:bob@example.com>;tag=b\n"
        "Call-ID: lf-only\n"
        "CSeq: 1 ACK\n"
        "\n"
        "body\n";
    message m;
    ASSERT_EQ(parse(lf_text, m), parse_error::ok);
    EXPECT_EQ(m.req_method, method::ack);
    EXPECT_EQ(m.cseq_method, method::ack);
    EXPECT_EQ(m.call_id, "lf-only");
    EXPECT_EQ(m.body, "body\n");
    EXPECT_EQ(m.to.tag, "b");
}

TEST(sip_message, folded_values) {
    auto lines = edit(invite_lines(), "Call-ID", "Call-ID:\r\n\tfolded-id@host");
    lines = edit(lines, "CSeq", "CSeq: 314159\r\n INVITE");
    lines = edit(lines, "To", "To: Bob\r\n <sip:bob@biloxi.example.com>\r\n ;tag=xyz");
    lines.push_back("Subject: first\r\n   second\r\n\tthird");
    std::string text = join(lines);
    message m;
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.call_id, "folded-id@host");
    EXPECT_EQ(m.cseq, 314159u);
    EXPECT_EQ(m.to.display, "Bob");
    EXPECT_EQ(m.to.tag, "xyz");
    EXPECT_EQ(m.find("subject")->value, "first\r\n   second\r\n\tthird");
}

TEST(sip_message, via_forms) {
    via v;
    ASSERT_TRUE(parse_via("SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;rport;received=2001:db8::2", v));
    EXPECT_EQ(v.transport, "UDP");
    EXPECT_EQ(v.host, "[2001:db8::1]");
    EXPECT_EQ(v.port, 5060);
    EXPECT_EQ(v.branch, "z9hG4bK1");
    EXPECT_TRUE(v.has_rport);
    EXPECT_EQ(v.rport, 0);
    EXPECT_EQ(v.received, "2001:db8::2");

    ASSERT_TRUE(parse_via("SIP/2.0/TLS [::1];rport=5062;branch=z9hG4bKx", v));
    EXPECT_EQ(v.host, "[::1]");
    EXPECT_EQ(v.port, 0);
    EXPECT_EQ(v.rport, 5062);

    std::string_view rest;
    ASSERT_TRUE(parse_via("sip / 2.0 / udp host.example.com : 5070 ; BRANCH = z9hG4bK3 , SIP/2.0/TCP b.example.com", v, &rest));
    EXPECT_EQ(v.transport, "udp");
    EXPECT_EQ(v.host, "host.example.com");
    EXPECT_EQ(v.port, 5070);
    EXPECT_EQ(v.branch, "z9hG4bK3");
    EXPECT_EQ(v.raw, "sip / 2.0 / udp host.example.com : 5070 ; BRANCH = z9hG4bK3");
    EXPECT_EQ(rest, "SIP/2.0/TCP b.example.com");
    ASSERT_TRUE(parse_via(rest, v, &rest));
    EXPECT_EQ(v.host, "b.example.com");
    EXPECT_EQ(rest, "");

    ASSERT_TRUE(parse_via("SIP/2.0/UDP h;ttl=16;maddr=224.2.0.1;comp=sigcomp;x=\"quoted;,\"", v));
    EXPECT_EQ(v.branch, "");

    for (const char* bad : {"", "SIP/2.0", "SIP/2.0/UDP", "SIP/2.0/UDP ", "SIP/3.0/UDP h",
                            "HTTP/2.0/UDP h", "SIP/2.0/ h", "SIP/2.0/UDP h:0", "SIP/2.0/UDP h:70000",
                            "SIP/2.0/UDP h:", "SIP/2.0/UDP [2001:db8::1", "SIP/2.0/UDP []",
                            "SIP/2.0/UDP [zz::1]", "SIP/2.0/UDP h;", "SIP/2.0/UDP h;branch=",
                            "SIP/2.0/UDP h;rport=x", "SIP/2.0/UDP h;rport=0", "SIP/2.0/UDP h junk",
                            "SIP/2.0/UDP 192.0.2.15;;,;,,", "SIP/2.0/UDP h;x=\"open"}) {
        EXPECT_FALSE(parse_via(bad, v)) << bad;
    }
}

TEST(sip_message, name_addr_forms) {
    name_addr na;
    std::string_view rest;
    ASSERT_TRUE(parse_name_addr("<sip:a@b>;q=0.5;expires=60, \"Bob, Jr.\" <sip:c@d>;tag=t, sip:e@f;x", na, &rest));
    EXPECT_EQ(na.display, "");
    EXPECT_EQ(na.uri, "sip:a@b");
    EXPECT_EQ(na.params, "q=0.5;expires=60");
    EXPECT_EQ(na.raw, "<sip:a@b>;q=0.5;expires=60");
    ASSERT_TRUE(parse_name_addr(rest, na, &rest));
    EXPECT_EQ(na.display, "Bob, Jr.");
    EXPECT_EQ(na.tag, "t");
    ASSERT_TRUE(parse_name_addr(rest, na, &rest));
    EXPECT_EQ(na.uri, "sip:e@f");
    EXPECT_EQ(na.params, "x");
    EXPECT_EQ(rest, "");

    // Header params after an addr-spec belong to the header, not the URI.
    ASSERT_TRUE(parse_name_addr("sip:alice@example.com;tag=88", na));
    EXPECT_EQ(na.uri, "sip:alice@example.com");
    EXPECT_EQ(na.tag, "88");

    ASSERT_TRUE(parse_name_addr("  A  B   C <tel:+15551234;phone-context=x>  ;tag=1 ", na));
    EXPECT_EQ(na.display, "A  B   C");
    EXPECT_EQ(na.uri, "tel:+15551234;phone-context=x");
    EXPECT_EQ(na.raw, "A  B   C <tel:+15551234;phone-context=x>  ;tag=1");

    ASSERT_TRUE(parse_name_addr("\"\" <sip:x@y>;+sip.instance=\"<urn:uuid:1,2>\";tag=z", na));
    EXPECT_EQ(na.display, "");
    EXPECT_EQ(na.tag, "z");
    EXPECT_EQ(find_param(na.params, "+sip.instance"), "<urn:uuid:1,2>");

    for (const char* bad : {"", "   ", "<sip:a@b", "\"open <sip:a@b>", "\"Q\" sip:a@b",
                            "Bell, Alexander <sip:a.g.bell@example.com>;tag=43", "<>", "<nocolon>",
                            "<sip:a@b> junk", "noscheme@host", "<sip:a@b>;p=\"open", "*"}) {
        EXPECT_FALSE(parse_name_addr(bad, na)) << bad;
    }
}

TEST(sip_message, find_param) {
    bool found = true;
    EXPECT_EQ(find_param(";branch=z9;rport;received=1.2.3.4", "RPORT", &found), "");
    EXPECT_TRUE(found);
    EXPECT_EQ(find_param("branch=z9;rport;received=1.2.3.4", "received", &found), "1.2.3.4");
    EXPECT_TRUE(found);
    EXPECT_EQ(find_param("branch=z9;rport", "tag", &found), "");
    EXPECT_FALSE(found);
    EXPECT_EQ(find_param("", "tag", &found), "");
    EXPECT_FALSE(found);
    EXPECT_EQ(find_param(" ; tag = abc ; x", "tag"), "abc");
    EXPECT_EQ(find_param("x=\"a;tag=no\";tag=yes", "tag"), "yes");
    EXPECT_EQ(find_param("tagx=1;xtag=2;tag=3", "tag"), "3");
    EXPECT_EQ(find_param(";;=;=x;tag", "tag", &found), "");
    EXPECT_TRUE(found);
    EXPECT_EQ(find_param("a=\"unterminated", "a"), "unterminated");
}

TEST(sip_message, content_length) {
    message m;
    // Shorter Content-Length truncates the body.
    std::string text = join(edit(invite_lines(), "Content-Length", "Content-Length: 10"));
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.body, sdp_150.substr(0, 10));
    // Zero.
    text = join(edit(invite_lines(), "Content-Length", "l: 0"));
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.body, "");
    // Exact, with leading zeros.
    text = join(edit(invite_lines(), "Content-Length", "Content-Length: 000150"));
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.content_length, 150);
}

TEST(sip_message, reuse_resets_state) {
    message m;
    ASSERT_EQ(parse(join(invite_lines()), m), parse_error::ok);
    std::string small = crlf(
        "OPTIONS sip:x@y SIP/2.0\n"
        "Via: SIP/2.0/UDP h;branch=z9hG4bKa\n"
        "From: <sip:a@b>;tag=1\n"
        "To: <sip:c@d>\n"
        "Call-ID: c\n"
        "CSeq: 1 OPTIONS\n"
        "\n");
    ASSERT_EQ(parse(small, m), parse_error::ok);
    EXPECT_EQ(m.max_forwards, -1);
    EXPECT_EQ(m.content_length, -1);
    EXPECT_FALSE(m.top_via.has_rport);
    EXPECT_EQ(m.top_via.port, 0);
    EXPECT_EQ(m.n_headers, 5);
    EXPECT_EQ(m.find(hdr::content_type), nullptr);
    EXPECT_EQ(m.from.display, "");
}

// --- invalid messages: one test per parse_error value -----------------------

TEST(sip_message_error, empty) {
    message m;
    EXPECT_EQ(parse("", m), parse_error::empty);
    EXPECT_EQ(parse("\r\n\r\n", m), parse_error::empty);
    EXPECT_EQ(parse("\n", m), parse_error::empty);
}

TEST(sip_message_error, bad_start_line) {
    for (const char* line : {
             "INVITE sip:bob@example.com",            // no version
             "INVITE",                                // nothing
             "INVITE  sip:bob@example.com SIP/2.0",   // lwsstart: two SPs
             "INVITE sip:bob@example.com  SIP/2.0",   // two SPs before version
             "INVITE sip:user@example.com; lr SIP/2.0",  // lwsruri
             "INVITE <sip:user@example.com> SIP/2.0",    // ltgtruri
             "INVITE sip:bob@example.com SIP/2.0 ",   // trws
             "INVITE sip:bob@example.com HTTP/1.1",
             "IN VITE sip:bob@example.com SIP/2.0",
             "INV@TE sip:bob@example.com SIP/2.0",
             " INVITE sip:bob@example.com SIP/2.0",
             "INVITE nocolon SIP/2.0",
             "INVITE sip: SIP/2.0",                   // empty host
             "INVITE sip:bob@example.com:99999 SIP/2.0",
             "SIP/2.0",                               // status line without code
         }) {
        auto lines = invite_lines();
        lines[0] = line;
        EXPECT_EQ(parse_lines(lines), parse_error::bad_start_line) << line;
    }
}

TEST(sip_message_error, bad_version) {
    for (const char* line : {"INVITE sip:t.watson@example.org SIP/7.0",  // badvers
                             "INVITE sip:bob@example.com SIP/2.1", "SIP/3.0 200 OK",
                             "SIP/2.00 200 OK", "SIP/ 200 OK"}) {
        auto lines = invite_lines();
        lines[0] = line;
        EXPECT_EQ(parse_lines(lines), parse_error::bad_version) << line;
    }
    // The version token is case-insensitive in RFC 3261 ABNF.
    auto lines = invite_lines();
    lines[0] = "INVITE sip:bob@biloxi.example.com sip/2.0";
    EXPECT_EQ(parse_lines(lines), parse_error::ok);
}

TEST(sip_message_error, bad_status) {
    for (const char* line : {"SIP/2.0 4294967301 better not break the receiver",  // bigcode
                             "SIP/2.0 099 Too Low", "SIP/2.0 700 Too High", "SIP/2.0 20 OK",
                             "SIP/2.0 2x0 OK", "SIP/2.0  200 OK", "SIP/2.0 200OK"}) {
        auto lines = invite_lines();
        lines[0] = line;
        EXPECT_EQ(parse_lines(lines), parse_error::bad_status) << line;
    }
}

TEST(sip_message_error, bad_header) {
    auto lines = invite_lines();
    lines.push_back("NoColonHere");
    EXPECT_EQ(parse_lines(lines), parse_error::bad_header);
    lines.back() = ": empty name";
    EXPECT_EQ(parse_lines(lines), parse_error::bad_header);
    lines.back() = "Bad Name: x";
    EXPECT_EQ(parse_lines(lines), parse_error::bad_header);
    lines.back() = "Bad@Name: x";
    EXPECT_EQ(parse_lines(lines), parse_error::bad_header);
    // Duplicate Call-ID (RFC 4475 "mcl01" style).
    lines.back() = "i: another-call-id";
    EXPECT_EQ(parse_lines(lines), parse_error::bad_header);
    // A continuation line right after the start line has nothing to continue.
    lines = invite_lines();
    lines.insert(lines.begin() + 1, " orphan continuation");
    EXPECT_EQ(parse_lines(lines), parse_error::bad_header);
}

TEST(sip_message_error, too_many_headers) {
    auto lines = invite_lines();
    while (lines.size() - 1 < message::max_headers) {
        lines.push_back("X-Filler: " + std::to_string(lines.size()));
    }
    EXPECT_EQ(parse_lines(lines), parse_error::ok);
    lines.push_back("X-One-Too-Many: 1");
    EXPECT_EQ(parse_lines(lines), parse_error::too_many_headers);
}

TEST(sip_message_error, missing_mandatory) {
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Via", "")), parse_error::missing_via);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Call-ID", "")), parse_error::missing_call_id);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Call-ID", "Call-ID:   ")), parse_error::missing_call_id);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "CSeq", "")), parse_error::missing_cseq);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "From", "")), parse_error::missing_from);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "To", "")), parse_error::missing_to);

    // RFC 4475 "insuf": no Call-ID, From or To.
    std::string insuf = crlf(
        "INVITE sip:user@example.com SIP/2.0\n"
        "CSeq: 193942 INVITE\n"
        "Via: SIP/2.0/UDP 192.0.2.95;branch=z9hG4bKkdj.insuf\n"
        "Content-Type: application/sdp\n"
        "l: 150\n"
        "\n") + sdp_150;
    message m;
    EXPECT_EQ(parse(insuf, m), parse_error::missing_call_id);
}

TEST(sip_message_error, bad_cseq) {
    // scalar02-style overlarge sequence number, then other malformed values.
    for (const char* v : {"CSeq: 36893488147419103232 INVITE", "CSeq: 2147483648 INVITE",
                          "CSeq: INVITE", "CSeq: 1", "CSeq: 1INVITE", "CSeq: -1 INVITE",
                          "CSeq: 1 INVITE extra", "CSeq: 1 INV@TE", "CSeq:"}) {
        EXPECT_EQ(parse_lines(edit(invite_lines(), "CSeq", v)), parse_error::bad_cseq) << v;
    }
    EXPECT_EQ(parse_lines(edit(invite_lines(), "CSeq", "CSeq: 2147483647 INVITE")), parse_error::ok);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "CSeq", "CSeq: 0 INVITE")), parse_error::ok);
    auto lines = invite_lines();
    lines.push_back("CSeq: 314159 INVITE");
    EXPECT_EQ(parse_lines(lines), parse_error::bad_cseq);
}

TEST(sip_message_error, bad_from_to) {
    // quotbal: unterminated quoted display name.
    EXPECT_EQ(parse_lines(edit(invite_lines(), "To", "To: \"Mr. J. User <sip:j.user@example.com>")),
              parse_error::bad_from_to);
    // baddn: non-token characters in an unquoted display name.
    EXPECT_EQ(parse_lines(edit(invite_lines(), "From",
                               "From:    Bell, Alexander <sip:a.g.bell@example.com>;tag=43")),
              parse_error::bad_from_to);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "From", "From: <sip:a@b")), parse_error::bad_from_to);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "To", "To: <sip:a@b>, <sip:c@d>")), parse_error::bad_from_to);
    // Found by fuzz_b2bua: a trailing comma (an empty second element) was accepted, and the 408
    // echoing the To with our tag after it ("<sip:a@b>,;tag=...") did not parse.
    EXPECT_EQ(parse_lines(edit(invite_lines(), "To", "To: <sip:a@b>,")), parse_error::bad_from_to);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "From", "From: <sip:a@b>;tag=1 , ")), parse_error::bad_from_to);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "To", "To: <sip:a@b> ")), parse_error::ok) << "trailing space is LWS";
    EXPECT_EQ(parse_lines(edit(invite_lines(), "To", "To:")), parse_error::bad_from_to);
    auto lines = invite_lines();
    lines.push_back("t: <sip:other@example.com>");
    EXPECT_EQ(parse_lines(lines), parse_error::bad_from_to);
}

TEST(sip_message_error, bad_via) {
    // badinv01: empty via-params and stray separators.
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Via", "Via: SIP/2.0/UDP 192.0.2.15;;,;,,")),
              parse_error::bad_via);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Via", "Via: SIP/2.0/UDP")), parse_error::bad_via);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Via", "Via: SIP/2.0/UDP h:65536")), parse_error::bad_via);
    // Only the top Via is parsed eagerly; a later broken one is the next hop's problem.
    auto lines = invite_lines();
    lines.push_back("Via: garbage");
    EXPECT_EQ(parse_lines(lines), parse_error::ok);
}

TEST(sip_message_error, bad_max_forwards) {
    for (const char* v : {"Max-Forwards: 256", "Max-Forwards: 300", "Max-Forwards: -1",
                          "Max-Forwards: seventy", "Max-Forwards:", "Max-Forwards: 7 0",
                          "Max-Forwards: 99999999999999999999"}) {
        EXPECT_EQ(parse_lines(edit(invite_lines(), "Max-Forwards", v)), parse_error::bad_max_forwards) << v;
    }
    message m;
    std::string text = join(edit(invite_lines(), "Max-Forwards", "Max-Forwards: 0"));
    ASSERT_EQ(parse(text, m), parse_error::ok);
    EXPECT_EQ(m.max_forwards, 0);
    auto lines = invite_lines();
    lines.push_back("Max-Forwards: 70");
    EXPECT_EQ(parse_lines(lines), parse_error::bad_max_forwards);
}

TEST(sip_message_error, bad_content_length) {
    // clerr: larger than the bytes that follow.
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Content-Length", "Content-Length: 9999")),
              parse_error::bad_content_length);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Content-Length", "Content-Length: 151")),
              parse_error::bad_content_length);
    // scalar02: negative.
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Content-Length", "Content-Length: -999")),
              parse_error::bad_content_length);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Content-Length", "Content-Length: abc")),
              parse_error::bad_content_length);
    EXPECT_EQ(parse_lines(edit(invite_lines(), "Content-Length", "Content-Length: 99999999999999999999")),
              parse_error::bad_content_length);
    // mcl01: two Content-Length headers.
    auto lines = invite_lines();
    lines.push_back("l: 150");
    EXPECT_EQ(parse_lines(lines), parse_error::bad_content_length);
}

TEST(sip_message_error, no_header_end) {
    message m;
    EXPECT_EQ(parse("INVITE sip:bob@example.com SIP/2.0", m), parse_error::no_header_end);
    std::string text = join(invite_lines(), "");
    text.resize(text.size() - 2);  // drop the empty line
    EXPECT_EQ(parse(text, m), parse_error::no_header_end);
    text.resize(text.size() - 2);  // and the last CRLF
    EXPECT_EQ(parse(text, m), parse_error::no_header_end);
    // A fold at the very end.
    EXPECT_EQ(parse(crlf("INVITE sip:a@b SIP/2.0\nVia: x\n continued"), m), parse_error::no_header_end);
}

TEST(sip_message_error, cseq_method_mismatch) {
    // mismatch01.
    auto lines = invite_lines();
    lines[0] = "OPTIONS sip:user@example.com SIP/2.0";
    EXPECT_EQ(parse_lines(lines), parse_error::cseq_method_mismatch);
    // mismatch02: unknown method, CSeq method compared as text.
    lines[0] = "NEWMETHOD sip:user@example.com SIP/2.0";
    EXPECT_EQ(parse_lines(lines), parse_error::cseq_method_mismatch);
    lines = edit(lines, "CSeq", "CSeq: 3 NEWMETHOD");
    EXPECT_EQ(parse_lines(lines), parse_error::ok);
    // ACK and CANCEL carry their own method in CSeq.
    lines[0] = "ACK sip:user@example.com SIP/2.0";
    EXPECT_EQ(parse_lines(lines), parse_error::cseq_method_mismatch);
    lines = edit(lines, "CSeq", "CSeq: 3 ACK");
    EXPECT_EQ(parse_lines(lines), parse_error::ok);
    // Case matters: methods are case-sensitive tokens.
    lines = edit(lines, "CSeq", "CSeq: 3 ack");
    EXPECT_EQ(parse_lines(lines), parse_error::cseq_method_mismatch);
}

TEST(sip_message_error, names_are_distinct) {
    std::set<std::string> names;
    for (int i = 0; i < static_cast<int>(parse_error::count_); ++i) {
        const char* s = to_string(static_cast<parse_error>(i));
        ASSERT_NE(s, nullptr);
        names.insert(s);
    }
    EXPECT_EQ(names.size(), static_cast<size_t>(parse_error::count_));
    EXPECT_STREQ(to_string(parse_error::ok), "ok");
    EXPECT_STREQ(to_string(parse_error::cseq_method_mismatch), "cseq_method_mismatch");
}

// Every prefix of a valid message must parse or fail cleanly (ASan catches reads past the end).
TEST(sip_message, truncations_are_safe) {
    std::string text = join(invite_lines());
    message m;
    for (size_t n = 0; n <= text.size(); ++n) {
        std::string copy = text.substr(0, n);  // own allocation so ASan sees the end
        parse_error e = parse(copy, m);
        if (e == parse_error::ok) {
            EXPECT_LE(m.body.size(), copy.size());
        }
    }
}
