// Units for the header values the control plane reads from its peers (control/sip_header_values).

#include "sip_header_values.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace sf::control;

TEST(delta_seconds, digits_with_surrounding_space) {
    uint64_t v = 7;
    EXPECT_TRUE(parse_delta_seconds("3600", v));
    EXPECT_EQ(v, 3600u);
    EXPECT_TRUE(parse_delta_seconds(" \t0\r\n", v));
    EXPECT_EQ(v, 0u);
}

TEST(delta_seconds, saturates_beyond_32_bits) {
    uint64_t v = 0;
    EXPECT_TRUE(parse_delta_seconds("4294967296", v));
    EXPECT_EQ(v, 4294967295u);
    EXPECT_TRUE(parse_delta_seconds("99999999999999999999999999999", v));
    EXPECT_EQ(v, 4294967295u);
}

TEST(delta_seconds, refuses_anything_but_digits) {
    uint64_t v = 5;
    for (const char* bad : {"", "  ", "-1", "+1", "1 2", "1h", "0x10", "3600;x"}) {
        EXPECT_FALSE(parse_delta_seconds(bad, v)) << bad;
    }
    EXPECT_EQ(v, 5u) << "a refused value leaves the output alone";
}

TEST(qvalue, thousandths) {
    uint16_t q = 0;
    const std::pair<const char*, uint16_t> good[] = {{"0", 0},     {"1", 1000},   {"0.5", 500}, {"0.05", 50},
                                                     {"0.001", 1}, {"1.000", 1000}, {"0.", 0},   {"1.", 1000}};
    for (const auto& [text, want] : good) {
        EXPECT_TRUE(parse_qvalue(text, q)) << text;
        EXPECT_EQ(q, want) << text;
    }
    for (const char* bad : {"", "2", "1.5", "1.001", "0.0001", "0,5", ".5", " 0.5", "0.5 ", "0.a"}) {
        EXPECT_FALSE(parse_qvalue(bad, q)) << bad;
    }
}

TEST(contact_list, name_addrs_with_q_and_expires) {
    std::vector<contact_value> out;
    ASSERT_EQ(parse_contact_list(R"("Alice" <sip:alice@192.0.2.1:5060>;q=0.7;expires=60, <sip:a2@192.0.2.2>)", out),
              nullptr);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].uri, "sip:alice@192.0.2.1:5060");
    EXPECT_TRUE(out[0].has_q);
    EXPECT_EQ(out[0].q, 700);
    EXPECT_TRUE(out[0].has_expires);
    EXPECT_EQ(out[0].expires, 60u);
    EXPECT_EQ(out[1].uri, "sip:a2@192.0.2.2");
    EXPECT_FALSE(out[1].has_q);
    EXPECT_EQ(out[1].q, 1000);
    EXPECT_FALSE(out[1].has_expires);
    EXPECT_FALSE(out[1].star);
}

TEST(contact_list, appends_across_header_lines) {
    std::vector<contact_value> out;
    ASSERT_EQ(parse_contact_list("sip:a@192.0.2.1", out), nullptr);
    ASSERT_EQ(parse_contact_list("<sip:b@192.0.2.1>", out), nullptr);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].uri, "sip:b@192.0.2.1");
}

TEST(contact_list, star) {
    std::vector<contact_value> out;
    ASSERT_EQ(parse_contact_list(" * ", out), nullptr);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].star);
    out.clear();
    // Syntax only: whether "*" may stand with others is the registrar's rule (RFC 3261 10.3 step 6).
    ASSERT_EQ(parse_contact_list("*, <sip:a@192.0.2.1>", out), nullptr);
    EXPECT_EQ(out.size(), 2u);
}

TEST(contact_list, malformed_lines_say_why) {
    const std::pair<const char*, std::string> bad[] = {
        {"", "Invalid Contact"},
        {"   ", "Invalid Contact"},
        {"* x", "Invalid Contact"},
        {"<sip:a@192.0.2.1>,", "Invalid Contact"},
        {"<sip:a@192.0.2.1", "Invalid Contact"},
        {"<sip:a@192.0.2.1>;q=2", "Invalid Contact q-value"},
        {"<sip:a@192.0.2.1>;expires=soon", "Invalid Contact expires"},
    };
    for (const auto& [text, why] : bad) {
        std::vector<contact_value> out;
        const char* got = parse_contact_list(text, out);
        ASSERT_NE(got, nullptr) << text;
        EXPECT_EQ(std::string(got), why) << text;
    }
}

TEST(rack, three_tokens_two_numbers) {
    rack_value r;
    ASSERT_TRUE(parse_rack("776656 1 INVITE", r));
    EXPECT_EQ(r.rseq, 776656u);
    EXPECT_EQ(r.cseq, 1u);
    EXPECT_EQ(r.method, "INVITE");
    ASSERT_TRUE(parse_rack(" \t4294967295\t2  PRACK ", r));
    EXPECT_EQ(r.rseq, 4294967295u);
    EXPECT_EQ(r.method, "PRACK");
    for (const char* bad : {"", "1 INVITE", "1 2", "x 1 INVITE", "1 y INVITE", "1 2 INVITE extra", "4294967296 1 INVITE",
                            "-1 1 INVITE"}) {
        EXPECT_FALSE(parse_rack(bad, r)) << bad;
    }
}

TEST(session_expires, seconds_and_refresher) {
    session_expires_value v;
    ASSERT_TRUE(parse_session_expires("1800;refresher=uac", v));
    EXPECT_EQ(v.seconds, 1800u);
    EXPECT_EQ(v.refresher, "uac");
    ASSERT_TRUE(parse_session_expires("  90", v));
    EXPECT_EQ(v.seconds, 90u);
    EXPECT_EQ(v.refresher, "");
    ASSERT_TRUE(parse_session_expires("600 ; x=1 ; refresher=uas", v));
    EXPECT_EQ(v.refresher, "uas");
}

TEST(session_expires, no_digits_or_too_many) {
    session_expires_value v;
    for (const char* bad : {"", " ", ";refresher=uac", "abc", "4294967296", "-5"}) {
        EXPECT_FALSE(parse_session_expires(bad, v)) << bad;
    }
}

TEST(replaces, call_id_and_both_tags) {
    replaces_value r;
    ASSERT_TRUE(parse_replaces(" 98732@192.0.2.4 ;to-tag=r33th4x0r;from-tag=ff87ff;early-only", r));
    EXPECT_EQ(r.call_id, "98732@192.0.2.4");
    EXPECT_EQ(r.to_tag, "r33th4x0r");
    EXPECT_EQ(r.from_tag, "ff87ff");
    EXPECT_TRUE(r.early_only);
    ASSERT_TRUE(parse_replaces("c;from-tag=b;to-tag=a", r));
    EXPECT_EQ(r.to_tag, "a");
    EXPECT_FALSE(r.early_only);
}

TEST(replaces, refuses_missing_parts) {
    replaces_value r;
    for (const char* bad : {"", "callid", ";to-tag=a;from-tag=b", "c;to-tag=a", "c;from-tag=b", "c;to-tag=;from-tag=b"}) {
        EXPECT_FALSE(parse_replaces(bad, r)) << bad;
    }
}

TEST(replaces, written_back_from_its_parts_only) {
    replaces_value r;
    ASSERT_TRUE(parse_replaces(" 98732@192.0.2.4 ;from-tag=ff87ff;x=1;to-tag=r33th4x0r;early-only", r));
    EXPECT_EQ(replaces_header_value(r), "98732@192.0.2.4;to-tag=r33th4x0r;from-tag=ff87ff;early-only");
    ASSERT_TRUE(parse_replaces("a(b)<c>:d/[e]?{f}\\\"g@h;to-tag=1;from-tag=2", r));
    EXPECT_NE(replaces_header_value(r), "") << "every RFC 3261 word character";
    const std::string long_call_id(257, 'c'), long_tag(129, 't');
    for (const std::string& bad : {std::string("a\r\nX: 1;to-tag=1;from-tag=2"), std::string("a b;to-tag=1;from-tag=2"),
                                   std::string("a@b@c;to-tag=1;from-tag=2"), std::string("@b;to-tag=1;from-tag=2"),
                                   std::string("a,b;to-tag=1;from-tag=2"), std::string("a;to-tag=1/2;from-tag=2"),
                                   long_call_id + ";to-tag=1;from-tag=2", "a;to-tag=" + long_tag + ";from-tag=2"}) {
        ASSERT_TRUE(parse_replaces(bad, r)) << bad;
        EXPECT_EQ(replaces_header_value(r), "") << bad;
    }
}

TEST(replaces, found_among_uri_headers_and_decoded) {
    EXPECT_EQ(uri_header_replaces("X-A=1&replaces=c%40h%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=second"),
              "c@h;to-tag=1;from-tag=2");
    EXPECT_EQ(uri_header_replaces("X-A=1&Replaces="), "");
    EXPECT_EQ(uri_header_replaces(""), "");
    EXPECT_EQ(uri_header_replaces("Replacesx=1"), "");
}

TEST(percent_decoded, escapes_and_what_is_not_one) {
    EXPECT_EQ(percent_decoded("98732%40192.0.2.4%3Bto-tag%3Dr33th4x0r%3bfrom-tag%3Dff87ff"),
              "98732@192.0.2.4;to-tag=r33th4x0r;from-tag=ff87ff");
    EXPECT_EQ(percent_decoded("100%"), "100%");
    EXPECT_EQ(percent_decoded("%4"), "%4");
    EXPECT_EQ(percent_decoded("%zz%41"), "%zzA");
    EXPECT_EQ(percent_decoded("%2541"), "%41") << "decoded once";
    EXPECT_EQ(percent_decoded(""), "");
}

// ------------------------------------------------------------------ RFC 3325 / RFC 3323

TEST(identity_list, name_addrs_and_addr_specs_with_users) {
    std::vector<identity_value> out;
    ASSERT_TRUE(parse_identity_list("\"Front Desk\" <sip:+4930123456@carrier.example;user=phone>, <tel:+4930123456>",
                                    out));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].display, "Front Desk");
    EXPECT_EQ(out[0].scheme, "sip");
    EXPECT_EQ(out[0].user, "+4930123456");
    EXPECT_EQ(out[1].display, "");
    EXPECT_EQ(out[1].scheme, "tel");
    EXPECT_EQ(out[1].user, "+4930123456");
    out.clear();
    ASSERT_TRUE(parse_identity_list("sip:1000@pbx.example", out));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].user, "1000");
}

TEST(identity_list, a_uri_without_user_is_skipped_not_an_error) {
    std::vector<identity_value> out;
    ASSERT_TRUE(parse_identity_list("<sip:pbx.example>, <sip:7@pbx.example>", out));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].user, "7");
}

TEST(identity_list, malformed_lines_are_refused) {
    for (const char* bad : {"", "  ", "<sip:1@a>,", "<sip:1@a", "<http://x/>", "\"A\" <sip:1@a> <sip:2@b>",
                            "<sip:1@a b>"}) {
        std::vector<identity_value> out;
        EXPECT_FALSE(parse_identity_list(bad, out)) << bad;
    }
}

TEST(privacy, values_accumulate_case_insensitively) {
    privacy_request p;
    ASSERT_TRUE(parse_privacy("id", p));
    ASSERT_TRUE(parse_privacy(" Header ; CRITICAL", p));
    EXPECT_TRUE(p.id);
    EXPECT_TRUE(p.header);
    EXPECT_TRUE(p.critical);
    EXPECT_FALSE(p.user);
    EXPECT_FALSE(p.session);
    EXPECT_FALSE(p.unknown);
    EXPECT_TRUE(p.withholds_identity());
    EXPECT_EQ(to_string(p), "id;header;critical");
}

TEST(privacy, none_overrules_the_rest_and_unknown_values_are_marked) {
    privacy_request p;
    ASSERT_TRUE(parse_privacy("session;history;x-secret", p));
    EXPECT_TRUE(p.session);
    EXPECT_TRUE(p.history) << "RFC 7044 10.1.2";
    EXPECT_TRUE(p.unknown);
    EXPECT_FALSE(p.withholds_identity()) << "session privacy hides media, not the caller";
    EXPECT_TRUE(p.withholds_history());
    EXPECT_TRUE(p.any());
    EXPECT_EQ(to_string(p), "session;history") << "only known values are passed on";
    privacy_request header;
    ASSERT_TRUE(parse_privacy("header", header));
    EXPECT_TRUE(header.withholds_history()) << "header privacy covers History-Info too";
    ASSERT_TRUE(parse_privacy("none", p));
    EXPECT_FALSE(p.any());
    EXPECT_FALSE(p.withholds_history());
    EXPECT_EQ(to_string(p), "");
}

TEST(privacy, malformed_lines_change_nothing) {
    for (const char* bad : {"", " ", "id;", ";id", "id;;user", "i d", "id,user", "\"id\""}) {
        privacy_request p;
        EXPECT_FALSE(parse_privacy(bad, p)) << bad;
        EXPECT_FALSE(p.id) << bad;
        EXPECT_FALSE(p.user) << bad;
    }
}
