// RFC 4475 (SIP torture messages, section 3) and RFC 5118 (IPv6 torture, section 4) against
// sf::sip::parse. The messages are files under tests/dataplane/sip/torture/ (exact bytes, CRLF,
// made by make_vectors.py); verdicts.txt says which must parse and which must be refused (and
// with what parse_error). Valid messages are checked against the key values the RFCs give.
//
// The directory comes from the TORTURE_DIR compile definition (meson.build) and can be
// overridden with the SF_TORTURE_DIR environment variable.

#include "sip/sip_message.hh"
#include "sip/sip_uri.hh"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace sf::sip;
namespace fs = std::filesystem;

#ifndef TORTURE_DIR
#define TORTURE_DIR "tests/dataplane/sip/torture"
#endif

namespace {

fs::path torture_dir() {
    if (const char* env = std::getenv("SF_TORTURE_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    return TORTURE_DIR;
}

std::string slurp(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct verdict {
    std::string file;
    std::string kind;   // valid | invalid | semantic
    std::string error;  // expected parse_error name for invalid ones ("" = any)
    std::string note;
};

std::vector<verdict> load_verdicts() {
    std::vector<verdict> out;
    std::ifstream f(torture_dir() / "verdicts.txt");
    std::string line;
    while (std::getline(f, line)) {
        std::string note;
        if (auto h = line.find('#'); h != std::string::npos) {
            note = line.substr(h + 1);
            line.resize(h);
        }
        std::istringstream ls(line);
        verdict v;
        if (!(ls >> v.file)) {
            continue;
        }
        ls >> v.kind >> v.error;
        v.note = note;
        out.push_back(v);
    }
    return out;
}

std::string parse_error_of(std::string_view text) {
    message m;
    return to_string(parse(text, m));
}

// Key values the RFCs give for a message; empty strings / -1 mean "not checked".
struct expect {
    bool request = true;
    std::string method;       // method token (requests) ...
    int status = 0;           // ... or status code (responses)
    std::string ruri;
    std::string call_id;
    uint32_t cseq = 0;
    std::string cseq_method;
    std::string via_host;
    std::string via_branch;
    std::string from_tag;
    std::string to_tag;
    int content_length = -1;  // -2: header absent
    int body_size = -1;
    unsigned vias = 0;        // number of Via header lines (0: not checked)
};

std::string rep(std::string_view s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

const std::map<std::string, expect>& expectations() {
    static const std::map<std::string, expect> e = [] {
        std::map<std::string, expect> m;
        m["wsinv.sip"] = {true, "INVITE", 0, "sip:vivekg@chair-dnrc.example.com;unknownparam",
                          "wsinv.ndaksdj@192.0.2.1", 9, "INVITE", "192.0.2.2", "390skdjuw", "98asjd8",
                          "1918181833n", 150, 150, 2};
        m["intmeth.sip"] = {true, "!interesting-Method0123456789_*+`.%indeed'~", 0,
                            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
                            "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{", 139122385,
                            "!interesting-Method0123456789_*+`.%indeed'~", "host1.example.com",
                            "z9hG4bK-.!%66*_+`'~", "_token~1'+`*%!-.", "", 0, 0, 1};
        m["esc01.sip"] = {true, "INVITE", 0, "sip:sips%3Auser%40example.com@example.net",
                          "esc01.239409asdfakjkn23onasd0-3234", 234234, "INVITE", "host5.example.net",
                          "z9hG4bKkdjuw", "938", "", 150, 150, 1};
        m["escnull.sip"] = {true, "REGISTER", 0, "sip:example.com", "escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
                            14398234, "REGISTER", "host5.example.com", "z9hG4bKkdjuw", "839923423", "", 0, 0, 1};
        m["esc02.sip"] = {true, "RE%47IST%45R", 0, "sip:registrar.example.com",
                          "esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf", 29344, "RE%47IST%45R", "host.example.com",
                          "z9hG4bK209%fzsnel234", "f232jadfj23", "", 0, 0, 1};
        m["lwsdisp.sip"] = {true, "OPTIONS", 0, "sip:user@example.com", "lwsdisp.1234abcd@funky.example.com", 60,
                            "OPTIONS", "funky.example.com", "z9hG4bKkdjuw", "323", "", 0, 0, 1};
        m["longreq.sip"] = {true, "INVITE", 0, "sip:user@example.com", "longreq.one" + rep("really", 20) + "longcallid",
                            3882340, "INVITE", "sip33.example.com", "", "12" + rep("982", 50) + "424", "", 150, 150, 34};
        m["dblreq.sip"] = {true, "REGISTER", 0, "sip:example.com", "dblreq.0ha0isndaksdj99sdfafnl3lk233412", 8,
                           "REGISTER", "192.0.2.125", "z9hG4bKkdjuw23492", "43251j3j324", "", 0, 0, 1};
        m["semiuri.sip"] = {true, "OPTIONS", 0, "sip:user;par=u%40example.net@example.com", "semiuri.0ha0isndaksdj", 8,
                            "OPTIONS", "192.0.2.1", "z9hG4bKkdjuw", "33242", "", 0, 0, 1};
        m["transports.sip"] = {true, "OPTIONS", 0, "sip:user@example.com", "transports.kijh4akdnaqjkwendsasfdj", 60,
                               "OPTIONS", "t1.example.com", "z9hG4bKkdjuw", "323", "", 0, 0, 5};
        m["mpart01.sip"] = {true, "MESSAGE", 0, "sip:kumiko@example.org",
                            "3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..", 1, "MESSAGE", "127.0.0.1",
                            "z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-", "2fb0dcc9", "", 553, 553, 1};
        m["unreason.sip"] = {false, "", 200, "", "unreason.1234ksdfak3j2erwedfsASdf", 35, "INVITE", "192.0.2.198",
                             "z9hG4bK1324923", "11141343", "2229", 154, 154, 1};
        m["noreason.sip"] = {false, "", 100, "", "noreason.asndj203insdf99223ndf", 35, "INVITE", "192.0.2.105",
                             "z9hG4bK2398ndaoe", "39ansfi3", "902jndnke3", 0, 0, 1};
        m["baddate.sip"] = {true, "INVITE", 0, "sip:user@example.com", "baddate.239423mnsadf3j23lj42--sedfnm234",
                            1392934, "INVITE", "host.example.com", "z9hG4bKkdjuw", "2234923", "", 150, 150, 1};
        m["regbadct.sip"] = {true, "REGISTER", 0, "sip:example.com", "regbadct.k345asrl3fdbv@10.0.0.1", 1, "REGISTER",
                             "135.180.130.133", "z9hG4bKkdjuw", "998332", "", 0, 0, 1};
        m["badbranch.sip"] = {true, "OPTIONS", 0, "sip:user@example.com", "badbranch.sadonfo23i420jv0as0derf3j3n", 8,
                              "OPTIONS", "192.0.2.1", "z9hG4bK", "33242", "", 0, 0, 1};
        m["unkscm.sip"] = {true, "OPTIONS", 0, "nobodyKnowsThisScheme:totallyopaquecontent",
                           "unkscm.nasdfasser0q239nwsdfasdkl34", 3923423, "OPTIONS", "host9.example.com",
                           "z9hG4bKkdjuw39234", "384", "", 0, 0, 1};
        m["novelsc.sip"] = {true, "OPTIONS", 0, "soap.beep://192.0.2.103:3002", "novelsc.asdfasser0q239nwsdfasdkl34",
                            3923423, "OPTIONS", "host9.example.com", "z9hG4bKkdjuw39234", "384", "", 0, 0, 1};
        m["unksm2.sip"] = {true, "REGISTER", 0, "sip:example.com", "unksm2.daksdj@hyphenated-host.example.com", 234902,
                           "REGISTER", "192.0.2.21", "z9hG4bKkdjuw", "3234233", "", 0, 0, 1};
        m["bext01.sip"] = {true, "OPTIONS", 0, "sip:user@example.com", "bext01.0ha0isndaksdj", 8, "OPTIONS",
                           "fold-and-staple.example.com", "z9hG4bKkdjuw", "242etr", "", 0, 0, 1};
        m["invut.sip"] = {true, "INVITE", 0, "sip:user@example.com", "invut.0ha0isndaksdjadsfij34n23d", 235448, "INVITE",
                          "somehost.example.com", "z9hG4bKkdjuw", "8392034", "", 40, 40, 1};
        m["regaut01.sip"] = {true, "REGISTER", 0, "sip:example.com", "regaut01.0ha0isndaksdj", 9338, "REGISTER",
                             "192.0.2.253", "z9hG4bKkdjuw", "87321hj23128", "", 0, 0, 1};
        m["bcast.sip"] = {false, "", 200, "", "bcast.0384840201234ksdfak3j2erwedfsASdf", 35, "INVITE", "192.0.2.198",
                          "z9hG4bK1324923", "11141343", "2229", 154, 154, 2};
        m["zeromf.sip"] = {true, "OPTIONS", 0, "sip:user@example.com", "zeromf.jfasdlfnm2o2l43r5u0asdfas", 39234321,
                           "OPTIONS", "host1.example.com", "z9hG4bKkdjuw2349i", "3ghsd41", "", 0, 0, 1};
        m["cparam01.sip"] = {true, "REGISTER", 0, "sip:example.com", "cparam01.70710@saturn.example.com", 2, "REGISTER",
                             "saturn.example.com", "z9hG4bKkdjuw", "DkfVgjkrtMwaerKKpe", "", 0, 0, 1};
        m["cparam02.sip"] = {true, "REGISTER", 0, "sip:example.com", "cparam02.70710@saturn.example.com", 3, "REGISTER",
                             "saturn.example.com", "z9hG4bKkdjuw", "838293", "", 0, 0, 1};
        m["regescrt.sip"] = {true, "REGISTER", 0, "sip:example.com", "regescrt.k345asrl3fdbv@192.0.2.1", 14398234,
                             "REGISTER", "host5.example.com", "z9hG4bKkdjuw", "8", "", 0, 0, 1};
        m["sdp01.sip"] = {true, "INVITE", 0, "sip:user@example.com", "sdp01.ndaksdj9342dasdd", 8, "INVITE",
                          "192.0.2.15", "z9hG4bKkdjuw", "234", "", 150, 150, 1};
        m["inv2543.sip"] = {true, "INVITE", 0, "sip:UserB@example.com", "inv2543.1717@ift.client.example.com", 56,
                            "INVITE", "iftgw.example.com", "", "", "", -2, 105, 1};
        m["ipv6-good.sip"] = {true, "REGISTER", 0, "sip:[2001:db8::10]", "SSG9559905523997077@hlau_4100", 98176,
                              "REGISTER", "[2001:db8::9:1]", "z9hG4bKas3-111", "81x2", "", 0, 0, 1};
        m["port-ambiguous.sip"] = {true, "REGISTER", 0, "sip:[2001:db8::10:5070]", "SSG95523997077@hlau_4100", 98176,
                                   "REGISTER", "[2001:db8::9:1]", "z9hG4bKas3", "1234", "", 0, 0, 1};
        m["port-unambiguous.sip"] = {true, "REGISTER", 0, "sip:[2001:db8::10]:5070", "SSG95523997077@hlau_4100", 98176,
                                     "REGISTER", "[2001:db8::9:1]", "z9hG4bKas3", "1234", "", 0, 0, 1};
        m["via-received-param-with-delim.sip"] = {true, "BYE", 0, "sip:[2001:db8::10]", "SSG9559905523997077@hlau_4100",
                                                  321, "BYE", "[2001:db8::9:1]", "z9hG4bKas3-111", "81x2", "bd76ya", 0,
                                                  0, 1};
        m["via-received-param-no-delim.sip"] = {true, "OPTIONS", 0, "sip:[2001:db8::10]",
                                                "SSG9559905523997077@hlau_4100", 921, "OPTIONS", "[2001:db8::9:1]",
                                                "z9hG4bKas3", "81x2", "", 0, 0, 1};
        m["ipv6-in-sdp.sip"] = {true, "INVITE", 0, "sip:user@[2001:db8::10]", "SSG9559905523997077@hlau_4100", 8612,
                                "INVITE", "[2001:db8::20]", "z9hG4bKas3-111", "81x2", "", 251, 251, 1};
        m["mult-ip-in-header.sip"] = {true, "BYE", 0, "sip:user@host.example.net", "997077@lau_4100", 89187, "BYE",
                                      "[2001:db8::9:1]", "z9hG4bKas3-111", "81x2", "9817--94", 0, 0, 3};
        m["mult-ip-in-sdp.sip"] = {true, "INVITE", 0, "sip:user@[2001:db8::10]", "SSG9559905523997077@hlau_4100", 8912,
                                   "INVITE", "[2001:db8::9:1]", "z9hG4bKas3-111", "81x2", "", 189, 189, 1};
        m["ipv4-mapped-ipv6.sip"] = {true, "INVITE", 0, "sip:user@example.com", "SSG9559905523997077@hlau_4100", 612,
                                     "INVITE", "[::ffff:192.0.2.10]", "z9hG4bKbh19", "81x2", "", 245, 245, 2};
        m["ipv6-correct-abnf-2-colons.sip"] = {true, "OPTIONS", 0, "sip:user@[2001:db8::192.0.2.1]",
                                               "G9559905523997077@hlau_4100", 689, "OPTIONS", "lab1.east.example.com",
                                               "z9hG4bKas3-111", "810x2", "", 0, 0, 1};
        return m;
    }();
    return e;
}

}  // namespace

TEST(torture, manifest_matches_directory) {
    auto verdicts = load_verdicts();
    ASSERT_GE(verdicts.size(), 50u) << "verdicts.txt missing or short in " << torture_dir();
    std::set<std::string> listed;
    for (const auto& v : verdicts) {
        EXPECT_TRUE(listed.insert(v.file).second) << "listed twice: " << v.file;
        EXPECT_TRUE(v.kind == "valid" || v.kind == "invalid" || v.kind == "semantic") << v.file << ": " << v.kind;
        EXPECT_TRUE(fs::exists(torture_dir() / v.file)) << "no file " << v.file;
    }
    for (const auto& de : fs::directory_iterator(torture_dir())) {
        if (de.path().extension() == ".sip") {
            EXPECT_TRUE(listed.count(de.path().filename().string())) << "not in verdicts.txt: " << de.path();
        }
    }
}

TEST(torture, files_are_crlf) {
    for (const auto& v : load_verdicts()) {
        std::string text = slurp(torture_dir() / v.file);
        auto end = text.find("\r\n\r\n");
        ASSERT_NE(end, std::string::npos) << v.file;
        for (size_t i = 0; i < end; ++i) {
            if (text[i] == '\n') {
                ASSERT_TRUE(i > 0 && text[i - 1] == '\r') << v.file << ": bare LF at " << i;
            }
        }
    }
}

TEST(torture, verdicts) {
    for (const auto& v : load_verdicts()) {
        SCOPED_TRACE(v.file);
        std::string text = slurp(torture_dir() / v.file);
        ASSERT_FALSE(text.empty());
        std::string err = parse_error_of(text);
        if (v.kind == "invalid") {
            EXPECT_NE(err, "ok") << "an invalid message parsed";
            if (!v.error.empty()) {
                EXPECT_EQ(err, v.error);
            }
        } else {
            EXPECT_EQ(err, "ok") << v.kind << " message refused";
            EXPECT_TRUE(expectations().count(v.file)) << "no key values for " << v.file;
        }
    }
}

TEST(torture, key_values) {
    for (const auto& [file, e] : expectations()) {
        SCOPED_TRACE(file);
        std::string text = slurp(torture_dir() / file);
        message m;
        ASSERT_EQ(parse(text, m), parse_error::ok);
        EXPECT_EQ(m.is_request, e.request);
        if (e.request) {
            EXPECT_EQ(m.method_name, e.method);
            EXPECT_EQ(m.request_uri, e.ruri);
        } else {
            EXPECT_EQ(m.status, e.status);
        }
        EXPECT_EQ(m.call_id, e.call_id);
        EXPECT_EQ(m.cseq, e.cseq);
        EXPECT_EQ(m.cseq_method_name, e.cseq_method);
        EXPECT_EQ(m.top_via.host, e.via_host);
        EXPECT_EQ(m.top_via.branch, e.via_branch);
        EXPECT_EQ(m.from.tag, e.from_tag);
        EXPECT_EQ(m.to.tag, e.to_tag);
        EXPECT_EQ(m.content_length, e.content_length == -2 ? -1 : e.content_length);
        if (e.body_size >= 0) {
            EXPECT_EQ(m.body.size(), static_cast<size_t>(e.body_size));
        }
        if (e.vias) {
            EXPECT_EQ(m.count(hdr::via), e.vias);
        }
        // Every view points into the datagram (zero-copy).
        if (!m.call_id.empty()) {
            EXPECT_GE(m.call_id.data(), text.data());
            EXPECT_LE(m.call_id.data() + m.call_id.size(), text.data() + text.size());
        }
    }
}

// Details the RFCs single out, beyond the common key values.
TEST(torture, details) {
    auto load = [](const char* f, message& m, std::string& keep) {
        keep = slurp(torture_dir() / f);
        return parse(keep, m);
    };
    message m;
    std::string t;

    ASSERT_EQ(load("wsinv.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.max_forwards, 68);
    EXPECT_EQ(m.from.display, "J Rosenberg \\\\\\\"");
    EXPECT_EQ(m.to.uri, "sip:vivekg@chair-dnrc.example.com");
    EXPECT_EQ(m.body.substr(0, 5), "v=0\r\n");

    ASSERT_EQ(load("intmeth.sip", m, t), parse_error::ok);
    EXPECT_NE(t.find('\0'), std::string::npos);  // the NUL of the To display name is real
    EXPECT_EQ(m.req_method, method::other);
    EXPECT_EQ(m.max_forwards, 255);
    EXPECT_EQ(m.to.display.size(), 20u);
    uri u;
    ASSERT_TRUE(parse_uri(m.request_uri, u));
    EXPECT_EQ(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    EXPECT_EQ(u.host, "example.com");

    ASSERT_EQ(load("escnull.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.to.uri, "sip:null-%00-null@example.com");
    EXPECT_EQ(m.count(hdr::contact), 2u);

    ASSERT_EQ(load("esc02.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.req_method, method::other);  // RE%47IST%45R is not REGISTER
    EXPECT_EQ(m.count(hdr::contact), 2u);    // C%6Fntact is not Contact

    ASSERT_EQ(load("longreq.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.top_via.transport, "TCP");
    ASSERT_TRUE(parse_uri(m.to.uri, u));
    EXPECT_EQ(u.port, 6000);

    ASSERT_EQ(load("dblreq.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.body, "");  // the trailing INVITE is noise

    ASSERT_EQ(load("mpart01.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.top_via.port, 5070);
    EXPECT_TRUE(m.top_via.has_rport);
    EXPECT_EQ(m.body.substr(0, 18), "--7a9cbec02ceef655");
    EXPECT_EQ(m.body.substr(m.body.size() - 22), "--7a9cbec02ceef655--\r\n");

    ASSERT_EQ(load("unreason.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.reason.substr(0, 14), "= 2**3 * 5**2 ");
    EXPECT_EQ(m.reason.size(), 14u + 60u);  // the Russian phrase is 60 octets of UTF-8

    ASSERT_EQ(load("noreason.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.reason, "");

    ASSERT_EQ(load("inv2543.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.max_forwards, -1);
    EXPECT_EQ(m.from.tag, "");

    ASSERT_EQ(load("zeromf.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.max_forwards, 0);

    ASSERT_EQ(load("unksm2.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.to.uri, "isbn:2983792873");
    EXPECT_EQ(m.from.uri, "http://www.example.com");
    EXPECT_FALSE(parse_uri(m.to.uri, u));  // not a SIP URI: the appliance must not route on it

    ASSERT_EQ(load("unkscm.sip", m, t), parse_error::ok);
    EXPECT_FALSE(parse_uri(m.request_uri, u));
    ASSERT_EQ(load("novelsc.sip", m, t), parse_error::ok);
    EXPECT_FALSE(parse_uri(m.request_uri, u));

    ASSERT_EQ(load("port-ambiguous.sip", m, t), parse_error::ok);
    ASSERT_TRUE(parse_uri(m.request_uri, u));
    EXPECT_EQ(u.host, "[2001:db8::10:5070]");
    EXPECT_EQ(u.port, 0);
    ASSERT_EQ(load("port-unambiguous.sip", m, t), parse_error::ok);
    ASSERT_TRUE(parse_uri(m.request_uri, u));
    EXPECT_EQ(u.host, "[2001:db8::10]");
    EXPECT_EQ(u.port, 5070);

    ASSERT_EQ(load("via-received-param-with-delim.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.top_via.received, "[2001:db8::9:255]");
    ASSERT_EQ(load("via-received-param-no-delim.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.top_via.received, "2001:db8::9:255");

    ASSERT_EQ(load("mult-ip-in-header.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.top_via.port, 6050);
    ASSERT_EQ(load("ipv4-mapped-ipv6.sip", m, t), parse_error::ok);
    EXPECT_EQ(m.top_via.port, 19823);
    ASSERT_TRUE(parse_uri("sip:ted@[::ffff:192.0.2.2]", u));

    ASSERT_EQ(load("ipv6-correct-abnf-2-colons.sip", m, t), parse_error::ok);
    ASSERT_TRUE(parse_uri(m.to.uri, u));
    EXPECT_EQ(u.host, "[2001:db8::192.0.2.1]");
    EXPECT_FALSE(parse_uri("sip:user@[2001:db8:::192.0.2.1]", u));
}

// Every torture message cut at every length must fail or parse without reading past the end
// (each cut is its own allocation, so ASan/UBSan builds catch overreads; the fuzzer goes further).
TEST(torture, truncations_are_safe) {
    for (const auto& v : load_verdicts()) {
        std::string text = slurp(torture_dir() / v.file);
        for (size_t n = 0; n < text.size(); ++n) {
            std::string cut = text.substr(0, n);  // own allocation, so ASan sees the end
            message m;
            (void)parse(cut, m);
        }
    }
}
