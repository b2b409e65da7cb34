// A capture request's JSON as control/capture_request.hh reads it: defaults from [capture],
// strict whole numbers (ptree would quietly answer the default for "soon"), text that is text,
// and file names that cannot leave [capture] dir. The API's answers: capture_api_test.cc.

#include "capture_request.hh"

#include <gtest/gtest.h>

#include <string>

using namespace sf::control;

namespace {

capture_config limits() {
    capture_config c;
    c.max_seconds = 600;
    c.max_packets = 1000;
    return c;
}

}  // namespace

TEST(capture_request, an_empty_body_takes_every_default) {
    capture_ask a;
    a.seconds = 7;
    EXPECT_EQ(parse_capture_request("", limits(), a), "");
    EXPECT_EQ(a.filter, "");
    EXPECT_EQ(a.file, "");
    EXPECT_EQ(a.seconds, 60u);
    EXPECT_EQ(a.packets, 1000u);
    EXPECT_EQ(a.snaplen, 0u);
    EXPECT_EQ(parse_capture_request("{}", limits(), a), "");
    EXPECT_EQ(a.seconds, 60u);
}

TEST(capture_request, every_field_is_read) {
    capture_ask a;
    ASSERT_EQ(parse_capture_request(
                  R"({"filter":"host 192.0.2.14 and udp","seconds":600,"packets":1,"snaplen":64,"file":"c.pcapng"})",
                  limits(), a),
              "");
    EXPECT_EQ(a.filter, "host 192.0.2.14 and udp");
    EXPECT_EQ(a.seconds, 600u);
    EXPECT_EQ(a.packets, 1u);
    EXPECT_EQ(a.snaplen, 64u);
    EXPECT_EQ(a.file, "c.pcapng");
}

TEST(capture_request, a_refusal_leaves_the_output_alone) {
    capture_ask a;
    a.filter = "before";
    EXPECT_EQ(parse_capture_request(R"({"filter":"x","seconds":0})", limits(), a).rfind("seconds: ", 0), 0u);
    EXPECT_EQ(a.filter, "before");
}

TEST(capture_request, only_an_object_is_a_request) {
    capture_ask a;
    for (const char* body : {"[1,2]", "\"udp\"", "42", "{", "{\"filter\":\"udp\"} trailing"}) {
        EXPECT_EQ(parse_capture_request(body, limits(), a).rfind("expected a JSON object", 0), 0u) << body;
    }
}

TEST(capture_request, text_is_utf8_without_nul) {
    capture_ask a;
    ASSERT_EQ(parse_capture_request("{\"call\":\"caf\xc3\xa9@192.0.2.1\"}", limits(), a), "");
    EXPECT_EQ(a.call, "caf\xc3\xa9@192.0.2.1");
    ASSERT_EQ(parse_capture_request(R"({"call":"caf\u00e9"})", limits(), a), "");
    EXPECT_EQ(a.call, "caf\xc3\xa9");
    a.filter = "before";
    // Bytes that are not UTF-8 (the fuzzer's overlong "\xc1\x82"; Latin-1) would read back as
    // U+FFFD from anything we write; a NUL would cut the filter pcap_compile sees short.
    EXPECT_EQ(parse_capture_request("{\"filter\":\"\xc1\x82udp\"}", limits(), a), "filter: expected UTF-8 text");
    EXPECT_EQ(parse_capture_request(R"({"filter":"udp\u0000 and port 1"})", limits(), a), "filter: expected UTF-8 text");
    // ptree itself refuses some (a lead octet before ASCII, a lone surrogate): refused either way.
    EXPECT_NE(parse_capture_request("{\"call\":\"\xe9t\xe9\"}", limits(), a), "");
    EXPECT_NE(parse_capture_request(R"({"call":"a\ud800b"})", limits(), a), "");
    EXPECT_EQ(a.filter, "before");
}

TEST(capture_request, the_default_time_never_exceeds_the_limit) {
    capture_config c = limits();
    c.max_seconds = 30;
    capture_ask a;
    ASSERT_EQ(parse_capture_request("{}", c, a), "");
    EXPECT_EQ(a.seconds, 30u);
}

TEST(capture_request, file_names_are_plain_names_in_the_directory) {
    EXPECT_TRUE(valid_capture_file_name("call-42.pcapng"));
    EXPECT_TRUE(valid_capture_file_name("A_b.9"));
    EXPECT_TRUE(valid_capture_file_name(std::string(128, 'x')));
    EXPECT_FALSE(valid_capture_file_name(""));
    EXPECT_FALSE(valid_capture_file_name(std::string(129, 'x')));
    EXPECT_FALSE(valid_capture_file_name("../etc/passwd"));
    EXPECT_FALSE(valid_capture_file_name("a/b"));
    EXPECT_FALSE(valid_capture_file_name(".hidden"));
    EXPECT_FALSE(valid_capture_file_name(".."));
    EXPECT_FALSE(valid_capture_file_name("a b"));
    EXPECT_FALSE(valid_capture_file_name("a\nb"));
    EXPECT_FALSE(valid_capture_file_name("caf\xc3\xa9"));
}

