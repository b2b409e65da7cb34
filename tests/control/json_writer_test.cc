// control/json_writer.hh: the JSON the API and call records write, and the UTF-8 rule the
// request readers share with it (what json_quote writes back unchanged is what valid_utf8 accepts).

#include "json_writer.hh"

#include <gtest/gtest.h>

#include <string>

using namespace sf::control;

TEST(json_writer, objects_arrays_and_values_get_their_commas) {
    json_writer j;
    j.begin_object().key("a").value(uint64_t{1}).key("b").begin_array().value("x").value(true).null().end_array();
    j.key("c").value(-2).key("d").value(0.5).end_object();
    EXPECT_EQ(j.str(), R"({"a":1,"b":["x",true,null],"c":-2,"d":0.500})");
}

TEST(json_writer, quotes_escape_what_json_must) {
    EXPECT_EQ(json_quote("a\"b\\c\n\r\t"), R"("a\"b\\c\n\r\t")");
    EXPECT_EQ(json_quote(std::string("\x01\x7f", 2)), R"("\u0001\u007f")");
    EXPECT_EQ(json_quote(std::string("\0", 1)), R"("\u0000")");
}

TEST(json_writer, well_formed_utf8_passes_through_and_anything_else_becomes_fffd) {
    EXPECT_EQ(json_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e\"");
    EXPECT_EQ(json_quote("\xc1\x82udp"), R"("\ufffd\ufffdudp")");  // overlong (the fuzz find)
    EXPECT_EQ(json_quote("\xe9t\xe9"), R"("\ufffdt\ufffd")");      // Latin-1
}

TEST(json_writer, valid_utf8_follows_rfc_3629) {
    EXPECT_TRUE(valid_utf8(""));
    EXPECT_TRUE(valid_utf8("plain ascii"));
    EXPECT_TRUE(valid_utf8("caf\xc3\xa9"));
    EXPECT_TRUE(valid_utf8("\xef\xbf\xbd"));          // U+FFFD
    EXPECT_TRUE(valid_utf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
    EXPECT_FALSE(valid_utf8("\xc1\x82"));             // overlong 'B'
    EXPECT_FALSE(valid_utf8("\xc0\xaf"));             // overlong '/'
    EXPECT_FALSE(valid_utf8("\xe0\x80\xaf"));         // overlong, three octets
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));         // surrogate U+D800
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));     // past U+10FFFF
    EXPECT_FALSE(valid_utf8("caf\xc3"));              // cut short
    EXPECT_FALSE(valid_utf8("\x80"));                 // a lone continuation
    EXPECT_FALSE(valid_utf8("\xe9t\xe9"));            // Latin-1
}
