// The TNAuthList certificate extension (control/tn_auth_list.hh, RFC 8226 9): SPCs, numbers and
// ranges read from DER, and every way DER can be wrong refused. The DER is built here by hand,
// field by field, so the test does not read the parser's output with the parser's own rules.

#include "tn_auth_list.hh"

#include "der_builder.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace sf::control;

namespace {

std::string tlv(uint8_t tag, const std::string& content) { return sf::test::der_tlv(tag, content); }

std::string ia5(const std::string& s) { return tlv(0x16, s); }
std::string spc(const std::string& s) { return tlv(0xa0, ia5(s)); }
std::string one(const std::string& tn) { return tlv(0xa2, ia5(tn)); }
std::string range(const std::string& start, const std::string& count_octets) {
    return tlv(0xa1, tlv(0x30, ia5(start) + tlv(0x02, count_octets)));
}
std::string list(const std::vector<std::string>& entries) {
    std::string content;
    for (const std::string& e : entries) {
        content += e;
    }
    return tlv(0x30, content);
}

}  // namespace

TEST(tn_auth_list, a_carriers_spc_is_read) {
    const auto l = parse_tn_auth_list(list({spc("709J")}));
    ASSERT_TRUE(l);
    ASSERT_EQ(l->spcs, std::vector<std::string>{"709J"});
    EXPECT_FALSE(l->has_numbers());
    EXPECT_FALSE(l->covers("15550100")) << "an SPC names no number";
}

TEST(tn_auth_list, numbers_and_ranges_are_read_and_cover_what_they_name) {
    const auto l = parse_tn_auth_list(
        list({one("15550100"), range("15551000", std::string("\x00\x80", 2)), one("*67"), spc("1234")}));
    ASSERT_TRUE(l);
    EXPECT_EQ(l->spcs, std::vector<std::string>{"1234"});
    EXPECT_EQ(l->numbers, (std::vector<std::string>{"15550100", "*67"}));
    ASSERT_EQ(l->ranges.size(), 1u);
    EXPECT_EQ(l->ranges[0].start, "15551000");
    EXPECT_EQ(l->ranges[0].count, 128u) << "00 80: a leading zero keeps 0x80 positive";
    EXPECT_TRUE(l->has_numbers());
    EXPECT_TRUE(l->covers("15550100"));
    EXPECT_TRUE(l->covers("15551000"));
    EXPECT_TRUE(l->covers("15551127"));
    EXPECT_FALSE(l->covers("15551128")) << "start + count is past the range";
    EXPECT_FALSE(l->covers("15550999"));
    EXPECT_FALSE(l->covers("155510001")) << "a range covers numbers of its start's length";
    EXPECT_FALSE(l->covers("1555100"));
    EXPECT_FALSE(l->covers(""));
    EXPECT_TRUE(l->covers("*67"));
}

TEST(tn_auth_list, long_lengths_and_many_entries_are_read) {
    std::vector<std::string> entries;
    for (int i = 0; i < 40; ++i) {
        entries.push_back(one("1555010" + std::to_string(i % 10)));
    }
    const std::string der = list(entries);
    ASSERT_GT(der.size(), 0x100u) << "a two-octet length";
    const auto l = parse_tn_auth_list(der);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->numbers.size(), 40u);
    EXPECT_TRUE(parse_tn_auth_list(list({range("15550000", std::string("\x7f\xff\xff\xff\xff\xff\xff\xff", 8))})))
        << "the largest count";
}

TEST(tn_auth_list, anything_that_is_not_der_of_that_type_is_refused) {
    const std::string good = list({spc("1234")});
    ASSERT_TRUE(parse_tn_auth_list(good));
    const std::vector<std::pair<const char*, std::string>> bad = {
        {"empty", ""},
        {"an empty list", list({})},
        {"bytes after the list", good + std::string(1, '\0')},
        {"not a SEQUENCE", tlv(0x31, spc("1234"))},
        {"indefinite length", std::string("\x30\x80", 2) + spc("1234") + std::string(2, '\0')},
        {"a long length that was not needed", std::string("\x30\x81\x08", 3) + spc("1234")},
        {"a length with a leading zero", std::string("\x30\x82\x00\x08", 4) + spc("1234")},
        {"a length past the end", std::string("\x30\x09", 2) + spc("1234")},
        {"a length of five octets", std::string("\x30\x85\x00\x00\x00\x00\x08", 7) + spc("1234")},
        {"a multi-octet tag", list({std::string("\xbf\x1f\x02\x16\x00", 5)})},
        {"an unknown entry", list({tlv(0xa3, ia5("1"))})},
        {"an implicit spc", list({tlv(0x80, "1234")})},
        {"an spc that is no IA5String", list({tlv(0xa0, tlv(0x0c, "1234"))})},
        {"an empty spc", list({spc("")})},
        {"an spc with a space", list({spc("12 4")})},
        {"an spc with a control character", list({spc("12\n4")})},
        {"an spc of 65 characters", list({spc(std::string(65, 'A'))})},
        {"two strings in an spc", list({tlv(0xa0, ia5("12") + ia5("34"))})},
        {"a number with a letter", list({one("1555O100")})},
        {"a number of 16 digits", list({one("1234567890123456")})},
        {"an empty number", list({one("")})},
        {"a range of 1", list({range("15550000", std::string("\x01", 1))})},
        {"a range of 0", list({range("15550000", std::string("\x00", 1))})},
        {"a negative range", list({range("15550000", std::string("\xff", 1))})},
        {"a count with an extra zero", list({range("15550000", std::string("\x00\x05", 2))})},
        {"a count beyond 64 bits", list({range("15550000", std::string("\x01\x00\x00\x00\x00\x00\x00\x00\x00", 9))})},
        {"an empty count", list({range("15550000", "")})},
        {"a range without its count", list({tlv(0xa1, tlv(0x30, ia5("15550000")))})},
        {"a range with a third field", list({tlv(0xa1, tlv(0x30, ia5("15550000") + tlv(0x02, "\x05") + ia5("1")))})},
        {"a range whose count is no INTEGER", list({tlv(0xa1, tlv(0x30, ia5("15550000") + ia5("5")))})},
    };
    for (const auto& [what, der] : bad) {
        EXPECT_FALSE(parse_tn_auth_list(der)) << what;
    }
    // Every strict prefix of a good list is cut short somewhere.
    const std::string full = list({spc("1234"), one("15550100"), range("15551000", "\x64")});
    ASSERT_TRUE(parse_tn_auth_list(full));
    for (size_t n = 0; n < full.size(); ++n) {
        EXPECT_FALSE(parse_tn_auth_list(full.substr(0, n))) << n;
    }
}

TEST(tn_auth_list, a_list_is_bounded) {
    std::vector<std::string> entries(257, one("15550100"));
    EXPECT_FALSE(parse_tn_auth_list(list(entries))) << "257 entries";
    entries.resize(256);
    EXPECT_TRUE(parse_tn_auth_list(list(entries)));
}
