// Config tables for dialplans: exact and longest-prefix lookups, the table file format.

#include "lookup_table.hh"

#include <gtest/gtest.h>

#include <string>

using namespace sf::control;

TEST(lookup_table, exact_lookup_is_case_sensitive_and_whole_key) {
    lookup_table t;
    t.set("alice", "192.0.2.10");
    t.set("Bob", "198.51.100.20");
    EXPECT_EQ(t.find("alice").value_or("-"), "192.0.2.10");
    EXPECT_EQ(t.find("Bob").value_or("-"), "198.51.100.20");
    EXPECT_FALSE(t.find("bob"));
    EXPECT_FALSE(t.find("alic"));
    EXPECT_FALSE(t.find("alicee"));
    EXPECT_FALSE(t.find(""));
    t.set("alice", "192.0.2.11");  // a later entry replaces
    EXPECT_EQ(t.find("alice").value_or("-"), "192.0.2.11");
    EXPECT_EQ(t.size(), 2u);
}

TEST(lookup_table, longest_prefix_wins) {
    lookup_table t;
    t.set("44", "uk");
    t.set("4420", "london");
    t.set("44207", "london-central");
    t.set("1", "nanp");
    auto hit = t.longest_prefix("442071234567");
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->first, "44207");
    EXPECT_EQ(hit->second, "london-central");
    hit = t.longest_prefix("4421");
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->first, "44");
    hit = t.longest_prefix("4420");  // the whole key is a prefix of itself
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->second, "london");
    EXPECT_FALSE(t.longest_prefix("33123"));
    EXPECT_FALSE(t.longest_prefix(""));
    // Shorter than the longest key, and longer than any key.
    EXPECT_EQ(t.longest_prefix("1")->second, "nanp");
    EXPECT_EQ(t.longest_prefix(std::string(1000, '1'))->second, "nanp");
}

TEST(lookup_table, empty_key_is_the_default_route) {
    lookup_table t;
    t.set("", "default-carrier");
    t.set("900", "premium");
    EXPECT_EQ(t.longest_prefix("9001")->second, "premium");
    EXPECT_EQ(t.longest_prefix("123")->second, "default-carrier");
    EXPECT_EQ(t.longest_prefix("")->second, "default-carrier");
}

TEST(lookup_table, file_format) {
    lookup_table t;
    EXPECT_EQ(parse_lookup_file("# rate deck\n\n  44 = uk \r\n4420=london\n1 = \nsip.example = a = b\n", t), "");
    EXPECT_EQ(t.find("44").value_or("-"), "uk");
    EXPECT_EQ(t.find("4420").value_or("-"), "london");
    EXPECT_EQ(t.find("1").value_or("-"), "");  // an empty value is a value
    EXPECT_EQ(t.find("sip.example").value_or("-"), "a = b");  // the first '=' separates
    EXPECT_EQ(t.size(), 4u);
}

TEST(lookup_table, file_errors_name_the_line) {
    lookup_table t;
    EXPECT_EQ(parse_lookup_file("a = 1\nno separator here\n", t), "line 2: expected 'key = value'");
    lookup_table u;
    EXPECT_EQ(parse_lookup_file("\n\n = value\n", u), "line 3: empty key");
    lookup_table v;
    EXPECT_EQ(parse_lookup_file("", v), "");
    EXPECT_EQ(v.size(), 0u);
}
