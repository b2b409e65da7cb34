// Dial strings (control/dial_string.cc): destinations, parallel and sequential groups,
// per-destination options, and an error that names the problem for every malformed part.

#include "dial_string.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace sf::control;

namespace {

std::string dial_error(const std::string& text) {
    std::vector<dial_target> out;
    return parse_dial_string(text, out);
}

std::vector<dial_target> dial(const std::string& text) {
    std::vector<dial_target> out;
    const std::string err = parse_dial_string(text, out);
    EXPECT_EQ(err, "") << text;
    return out;
}

}  // namespace

TEST(dial_string, user_host_port_and_option) {
    const auto out = dial("  bob@198.51.100.20:5080[tr=c]  ");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].user, "bob");
    EXPECT_EQ(out[0].host, "198.51.100.20");
    EXPECT_EQ(out[0].port, 5080);
    EXPECT_EQ(out[0].transfer_mode, 'c');
    EXPECT_EQ(out[0].group, 0u);
}

TEST(dial_string, defaults) {
    const auto out = dial("carol@sip.example.net");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].host, "sip.example.net");
    EXPECT_EQ(out[0].port, 5060);
    EXPECT_EQ(out[0].transfer_mode, 'n');
    EXPECT_EQ(out[0].ring_time_s, 0u);
    EXPECT_EQ(out[0].delay_s, 0u);
    EXPECT_EQ(out[0].max_duration_s, 0u);
    EXPECT_TRUE(out[0].from_user.empty());
    EXPECT_TRUE(out[0].headers.empty());
    EXPECT_EQ(dial("alice@192.0.2.10[ tr = p ]").at(0).transfer_mode, 'p');
}

TEST(dial_string, sip_scheme_prefix_is_accepted) {
    const auto out = dial("SIP:bob@198.51.100.20:5062");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].user, "bob");
    EXPECT_EQ(out[0].port, 5062);
}

TEST(dial_string, parallel_destinations_share_a_group) {
    const auto out = dial("bob@198.51.100.20 & carol@198.51.100.30[rt=10]");
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].group, 0u);
    EXPECT_EQ(out[1].group, 0u);
    EXPECT_EQ(out[0].ring_time_s, 0u);
    EXPECT_EQ(out[1].ring_time_s, 10u);
}

TEST(dial_string, sequence_numbers_groups_and_ampersand_binds_tighter) {
    const auto out = dial("a@198.51.100.1&b@198.51.100.2|c@198.51.100.3|d@198.51.100.4&e@198.51.100.5");
    ASSERT_EQ(out.size(), 5u);
    const unsigned want[] = {0, 0, 1, 2, 2};
    for (size_t i = 0; i < out.size(); ++i) {
        EXPECT_EQ(out[i].group, want[i]) << out[i].user;
    }
    EXPECT_EQ(out[2].user, "c");
}

TEST(dial_string, separators_inside_options_do_not_split) {
    const auto out = dial("bob@198.51.100.20[h=X-Route: a|b&c]|carol@198.51.100.30");
    ASSERT_EQ(out.size(), 2u);
    ASSERT_EQ(out[0].headers.size(), 1u);
    EXPECT_EQ(out[0].headers[0].second, "a|b&c");
    EXPECT_EQ(out[1].group, 1u);
}

TEST(dial_string, every_option) {
    const auto out = dial(
        "bob@198.51.100.20[tr=c, fu=1000, fd=Front Desk, fh=example.net, rt=25, dt=3, cd=7200, rd=4, mr=media-net,"
        " pai=+4930123456, ci=+4930123499, dv=no-answer, dh=history-info,"
        " h=X-Account: gold, h=P-Charge-Info: <sip:42@example.net>]");
    ASSERT_EQ(out.size(), 1u);
    const dial_target& t = out[0];
    EXPECT_EQ(t.transfer_mode, 'c');
    EXPECT_EQ(t.from_user, "1000");
    EXPECT_EQ(t.from_display, "Front Desk");
    EXPECT_EQ(t.from_host, "example.net");
    EXPECT_EQ(t.asserted_user, "+4930123456");
    EXPECT_EQ(t.connected_user, "+4930123499");
    EXPECT_EQ(t.diversion, "no-answer");
    EXPECT_EQ(t.diversion_via, diversion_headers::history_info);
    EXPECT_EQ(dial("bob@198.51.100.20")[0].diversion_via, diversion_headers::unset) << "the provider's, else Diversion";
    EXPECT_EQ(dial("bob@198.51.100.20[dh=both]")[0].diversion_via, diversion_headers::both);
    EXPECT_EQ(dial("bob@198.51.100.20[dh=diversion]")[0].diversion_via, diversion_headers::diversion);
    EXPECT_FALSE(t.redirected) << "set by the B2BUA for a followed 3xx only";
    EXPECT_FALSE(t.trusted) << "the B2BUA decides trust from the providers, never the dial string";
    EXPECT_EQ(t.ring_time_s, 25u);
    EXPECT_EQ(t.delay_s, 3u);
    EXPECT_EQ(t.max_duration_s, 7200u);
    EXPECT_EQ(t.redirects, 4u);
    EXPECT_EQ(t.media_realm_name, "media-net");
    EXPECT_EQ(t.media_realm, -1) << "the B2BUA resolves the name, not the parser";
    ASSERT_EQ(t.headers.size(), 2u);
    EXPECT_EQ(t.headers[0].first, "X-Account");
    EXPECT_EQ(t.headers[0].second, "gold");
    EXPECT_EQ(t.headers[1].first, "P-Charge-Info");
    EXPECT_EQ(t.headers[1].second, "<sip:42@example.net>");
}

TEST(dial_string, option_names_are_case_insensitive) {
    const auto out = dial("bob@198.51.100.20[TR=c,Rt=5]");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].transfer_mode, 'c');
    EXPECT_EQ(out[0].ring_time_s, 5u);
}

TEST(dial_string, percent_escapes_carry_separators_in_values) {
    const auto out = dial("bob@198.51.100.20[fd=Smith%2C John,h=X-List: a%2Cb%5D]");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].from_display, "Smith, John");
    EXPECT_EQ(out[0].headers.at(0).second, "a,b]");
}

TEST(dial_string, format_round_trips) {
    const std::string text =
        "bob@198.51.100.20:5080[tr=c,cm=1,fu=1000,fd=Smith%2C John,rt=25,h=X-A: 1]&carol@198.51.100.30[cm=0]|"
        "dave@198.51.100.40[dt=2,cd=60,rd=8,mr=media_1,pai=+15550100,ci=Sales,dv=user-busy,dh=both,co=PCMA/telephone-event,mt=audio/image]";
    const auto first = dial(text);
    const std::string formatted = format_dial_string(first);
    const auto second = dial(formatted);
    ASSERT_EQ(first.size(), second.size()) << formatted;
    for (size_t i = 0; i < first.size(); ++i) {
        EXPECT_EQ(first[i].user, second[i].user);
        EXPECT_EQ(first[i].port, second[i].port);
        EXPECT_EQ(first[i].group, second[i].group);
        EXPECT_EQ(first[i].from_display, second[i].from_display);
        EXPECT_EQ(first[i].headers, second[i].headers);
        EXPECT_EQ(first[i].delay_s, second[i].delay_s);
        EXPECT_EQ(first[i].redirects, second[i].redirects);
        EXPECT_EQ(first[i].asserted_user, second[i].asserted_user);
        EXPECT_EQ(first[i].connected_user, second[i].connected_user);
        EXPECT_EQ(first[i].continuous_media, second[i].continuous_media);
        EXPECT_EQ(first[i].diversion, second[i].diversion);
        EXPECT_EQ(first[i].diversion_via, second[i].diversion_via);
        EXPECT_EQ(first[i].media_realm_name, second[i].media_realm_name);
        EXPECT_EQ(first[i].media, second[i].media);
    }
    EXPECT_EQ(formatted.find('|'), formatted.rfind('|'));  // one sequential step
}

TEST(dial_string, each_malformed_part_is_an_error) {
    EXPECT_NE(dial_error(""), "");
    EXPECT_NE(dial_error("   "), "");
    EXPECT_NE(dial_error("bob"), "");                    // no host
    EXPECT_NE(dial_error("@198.51.100.20"), "");         // no user
    EXPECT_NE(dial_error("bob@"), "");                   // no host
    EXPECT_NE(dial_error("bob@host:"), "");              // empty port
    EXPECT_NE(dial_error("bob@host:0"), "");             // port 0
    EXPECT_NE(dial_error("bob@host:65536"), "");         // port too large
    EXPECT_NE(dial_error("bob@host:50x"), "");           // port not a number
    EXPECT_NE(dial_error("bob@ho st"), "");              // space in the host
    EXPECT_NE(dial_error("bob@host_name"), "");          // underscore in the host
    EXPECT_NE(dial_error("b b@host"), "");               // space in the user
    EXPECT_NE(dial_error("bob@host[tr=c"), "");          // unterminated options
    EXPECT_NE(dial_error("bob@host[tr=x]"), "");         // bad transfer mode
    EXPECT_NE(dial_error("bob@host[tr=]"), "");          // empty transfer mode
    EXPECT_NE(dial_error(std::string(200, 'u') + "@h"), "");  // absurd user
    EXPECT_NE(dial_error(std::string(5000, 'a')), "");   // absurd length
}

TEST(dial_string, errors_say_what_is_wrong) {
    const std::pair<const char*, const char*> cases[] = {
        {"", "empty dial string"},
        {" \t ", "empty dial string"},
        {"bob", "expected user@host[:port]"},
        {"bob@198.51.100.20:0", "bad port '0'"},
        {"bob@198.51.100.20:70000", "bad port '70000'"},
        {"bob@198.51.100.20:abc", "bad port 'abc'"},
        {"bob@198.51.100.20:-1", "bad port '-1'"},
        {"bob@exa mple.net", "bad host"},
        {"bob@example.net/x", "bad host"},
        {"bob@exa$mple.net", "bad host"},
        {"bob@198.51.100.20[tr=x]", "option tr expects n, p or c, got 'x'"},
        {"bob@198.51.100.20[tr=cc]", "option tr expects n, p or c, got 'cc'"},
        {"bob@198.51.100.20[cm=yes]", "option cm expects 1 (one continuous stream across transfers) or 0, got 'yes'"},
        {"bob@198.51.100.20[cm=2]", "option cm expects"},
        {"bob@198.51.100.20[cm=1,cm=0]", "option 'cm' given twice"},
        {"bob@198.51.100.20[tr]", "option 'tr' needs a value"},
        {"bob@198.51.100.20[tr=c", "options must end with ']'"},
        {"bob@198.51.100.20[foo=1]", "unknown dial string option 'foo'"},
        {"bob@198.51.100.20[tr=c,tr=n]", "option 'tr' given twice"},
        {"bob@198.51.100.20[rt=0]", "option rt expects a ring time of 1..3600 seconds"},
        {"bob@198.51.100.20[rt=3601]", "option rt expects"},
        {"bob@198.51.100.20[rt=ten]", "option rt expects"},
        {"bob@198.51.100.20[dt=-1]", "option dt expects"},
        {"bob@198.51.100.20[cd=0]", "option cd expects"},
        {"bob@198.51.100.20[rd=9]", "option rd expects how many Contacts of a redirect to try, 0..8"},
        {"bob@198.51.100.20[rd=all]", "option rd expects"},
        {"bob@198.51.100.20[mr=]", "option mr expects the name of a port"},
        {"bob@198.51.100.20[mr=a b]", "option mr expects"},
        {"bob@198.51.100.20[mr=port.core]", "option mr expects"},
        {"bob@198.51.100.20[mr=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]", "option mr expects"},
        {"bob@198.51.100.20[fu=a b]", "option fu expects a SIP user name"},
        {"bob@198.51.100.20[fh=bad_host]", "option fh expects"},
        {"bob@198.51.100.20[fd=\x01]", "option fd expects"},
        {"bob@198.51.100.20[h=NoColon]", "option h expects 'Name: value'"},
        {"bob@198.51.100.20[h=X-A:]", "needs a value"},
        {"bob@198.51.100.20[h=Via: SIP/2.0/UDP evil]", "header 'Via' is set by the appliance"},
        {"bob@198.51.100.20[h=call-id: x]", "is set by the appliance"},
        {"bob@198.51.100.20[h=P-Asserted-Identity: <sip:+1@x>]", "is set by the appliance"},
        {"bob@198.51.100.20[h=p-preferred-identity: <sip:+1@x>]", "is set by the appliance"},
        {"bob@198.51.100.20[h=Privacy: none]", "is set by the appliance"},
        {"bob@198.51.100.20[pai=]", "option pai expects a SIP user"},
        {"bob@198.51.100.20[dv=busy]", "option dv expects an RFC 5806 reason"},
        {"bob@198.51.100.20[dv=No-Answer]", "option dv expects an RFC 5806 reason"},
        {"bob@198.51.100.20[h=Diversion: <sip:1@x>]", "is set by the appliance"},
        {"bob@198.51.100.20[pai=a b]", "option pai expects a SIP user"},
        {"bob@198.51.100.20[pai=<sip:1@x>]", "option pai expects a SIP user"},
        {"bob@198.51.100.20[ci=]", "option ci expects a SIP user"},
        {"bob@198.51.100.20[ci=a b]", "option ci expects a SIP user"},
        {"bob@198.51.100.20[ci=<sip:1@x>]", "option ci expects a SIP user"},
        {"bob@198.51.100.20[h=Bad Name: x]", "option h expects"},
        {"bob@198.51.100.20[fd=%zz]", "bad %-escape"},
        {"bob@198.51.100.20[fd=%4]", "bad %-escape"},
        {"bob@198.51.100.20&&carol@198.51.100.30", "empty destination"},
        {"bob@198.51.100.20|", "empty destination"},
        {"|bob@198.51.100.20", "empty destination"},
        {"bob@198.51.100.20]", "unbalanced brackets"},
        {"bob@198.51.100.20[a[b]", "unbalanced brackets"},
        {"bob@[2001:db8::1]", "IPv6 destinations are not supported"},
        {"tel:+15551234", "only sip: destinations"},
        {"sips:bob@198.51.100.20", "only sip: destinations"},
        {"bob@198.51.100.20[tr=c]&x", "expected user@host[:port], got 'x'"},
        {"bob@198.51.100.20[co=]", "option co expects codec names separated by '/'"},
        {"bob@198.51.100.20[co=PCMA//PCMU]", "bad codec name ''"},
        {"bob@198.51.100.20[co=PCMA/]", "bad codec name ''"},
        {"bob@198.51.100.20[co=opus 48000]", "bad codec name 'opus 48000'"},
        {"bob@198.51.100.20[co=PCMA/pcma]", "'pcma' named twice"},
        {"bob@198.51.100.20[co=a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q]", "more than 16 codecs"},
        {"bob@198.51.100.20[co=PCMA,co=PCMU]", "given twice"},
        {"bob@198.51.100.20[mt=]", "option mt expects media types separated by '/'"},
        {"bob@198.51.100.20[mt=audio//image]", "bad media type name ''"},
        {"bob@198.51.100.20[mt=audio/AUDIO]", "'AUDIO' named twice"},
        {"bob@198.51.100.20[mt=a/b/c/d/e/f/g/h/i]", "more than 8 media types"},
        {"bob@198.51.100.20[mt=audio,mt=image]", "given twice"},
        {"bob@198.51.100.20[xx=1]", "known: tr, cm, fu, fd, fh, pai, ci, dv, dh, rt, dt, cd, rd, mr, co, mt, h"},
        {"bob@198.51.100.20[dh=History-Info]", "option dh expects diversion, history-info or both"},
        {"bob@198.51.100.20[dh=]", "option dh expects diversion, history-info or both"},
        {"bob@198.51.100.20[h=History-Info: <sip:x@y>;index=1]", "is set by the appliance"},
    };
    for (const auto& [text, want] : cases) {
        const std::string err = dial_error(text);
        EXPECT_NE(err.find(want), std::string::npos) << "'" << text << "' -> '" << err << "'";
    }
}

TEST(dial_string, bounds_on_destinations_and_headers) {
    std::string many;
    for (size_t i = 0; i <= max_dial_targets; ++i) {
        many += (i ? "&" : "") + std::string("u@198.51.100.") + std::to_string(i + 1);
    }
    EXPECT_NE(dial_error(many).find("more than 16 destinations"), std::string::npos);
    std::string headers = "bob@198.51.100.20[";
    for (size_t i = 0; i <= max_dial_headers; ++i) {
        headers += (i ? "," : "") + std::string("h=X-H") + std::to_string(i) + ": v";
    }
    headers += "]";
    EXPECT_NE(dial_error(headers).find("at most 8 headers"), std::string::npos);
}

TEST(dial_string, edge_ports_and_whitespace) {
    std::vector<dial_target> out;
    ASSERT_EQ(parse_dial_string("\t bob@h:1 \r\n", out), "");
    ASSERT_EQ(parse_dial_string("bob@h:65535", out), "");
    ASSERT_EQ(parse_dial_string("bob@h [ tr = c , ]", out), "");
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].port, 1);
    EXPECT_EQ(out[1].port, 65535);
    EXPECT_EQ(out[2].host, "h");
    EXPECT_EQ(out[2].transfer_mode, 'c');
}

TEST(dial_string, failure_leaves_out_untouched) {
    std::vector<dial_target> out = dial("keep@198.51.100.9");
    EXPECT_NE(parse_dial_string("bob@198.51.100.20&bob@host:99999", out), "");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].user, "keep");
}

TEST(dial_string, escaped_whitespace_around_a_value_is_trimmed_like_plain_whitespace) {
    // Found by fuzz_dial_string: "fd=Smth%20" used to keep its space, which format_dial_string
    // wrote back unescaped and the next parse trimmed, so the round trip changed the value.
    const auto out = dial("sip:bob@198.51.100.20[tr=p,fu=1090,fd=Smth%20,h=X-A: 1]");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].from_display, "Smth");
    const auto again = dial(format_dial_string(out));
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].from_display, out[0].from_display);
    EXPECT_NE(dial_error("bob@198.51.100.20[fd=%20]").find("option fd expects"), std::string::npos);
}

TEST(dial_string, continuous_media_is_per_destination) {
    const auto out = dial("bob@198.51.100.20[tr=c,cm=1]|carol@198.51.100.30[cm=0]|dave@198.51.100.40");
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].continuous_media, 1);
    EXPECT_EQ(out[1].continuous_media, 0);
    EXPECT_EQ(out[2].continuous_media, -1) << "unset: [transfer] continuous_media decides";
    EXPECT_EQ(format_dial_string(out), "bob@198.51.100.20[tr=c,cm=1]|carol@198.51.100.30[cm=0]|dave@198.51.100.40");
}

TEST(dial_string, codecs_are_per_destination_in_the_order_given) {
    const auto out = dial("bob@198.51.100.20[co=PCMA/ telephone-event /G722]&carol@198.51.100.30|"
                          "dave@198.51.100.40[co=a_b-c.d]");
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].media.codecs, (std::vector<std::string>{"PCMA", "telephone-event", "G722"}));
    EXPECT_TRUE(out[1].media.codecs.empty()) << "no co=: any codec";
    EXPECT_EQ(out[2].media.codecs, (std::vector<std::string>{"a_b-c.d"}));
    EXPECT_NE(format_dial_string(out).find("[co=PCMA/telephone-event/G722]"), std::string::npos);
    std::vector<std::string> list;
    EXPECT_EQ(parse_codec_list(" PCMA , PCMU ", ',', list), "");
    EXPECT_EQ(list, (std::vector<std::string>{"PCMA", "PCMU"}));
    EXPECT_NE(parse_codec_list("PCMA,", ',', list), "");
    EXPECT_EQ(list, (std::vector<std::string>{"PCMA", "PCMU"})) << "a failed parse leaves the list alone";
}

TEST(dial_string, media_types_are_per_destination_and_apart_from_the_codecs) {
    const auto out = dial("bob@198.51.100.20[mt=audio/image,co=PCMA]&carol@198.51.100.30");
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].media.types, (std::vector<std::string>{"audio", "image"}));
    EXPECT_EQ(out[0].media.codecs, (std::vector<std::string>{"PCMA"}));
    EXPECT_TRUE(out[0].media.restricts());
    EXPECT_FALSE(out[1].media.restricts()) << "neither: anything";
    EXPECT_NE(format_dial_string(out).find("[co=PCMA,mt=audio/image]"), std::string::npos) << format_dial_string(out);

    // A dial string's list overrides a provider's, one list at a time.
    media_policy own;
    own.types = {"audio"};
    media_policy provider;
    provider.codecs = {"PCMU"};
    provider.types = {"audio", "video"};
    own.inherit(provider);
    EXPECT_EQ(own.codecs, (std::vector<std::string>{"PCMU"}));
    EXPECT_EQ(own.types, (std::vector<std::string>{"audio"}));
}
