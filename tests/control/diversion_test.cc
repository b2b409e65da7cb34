// control/diversion.cc: Diversion reasons and lines (RFC 5806), the dh= choice, and
// History-Info (RFC 7044): causes mapped from reasons (RFC 7544), the index under which a
// diversion here goes after a trusted caller's history, and the entries written for it.

#include "diversion.hh"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace sf::control;

namespace {

std::string last_of(std::vector<std::string_view> values) { return last_history_index(values); }

}  // namespace

TEST(diversion, reasons_and_the_line) {
    EXPECT_TRUE(valid_diversion_reason("no-answer"));
    EXPECT_FALSE(valid_diversion_reason("No-Answer")) << "lower case as registered";
    EXPECT_EQ(diversion_line("100", "example.net", "user-busy"),
              "Diversion: <sip:100@example.net>;reason=user-busy;counter=1\r\n");
}

TEST(diversion, which_headers_parse_and_print) {
    diversion_headers h = diversion_headers::unset;
    for (const std::string_view text : {"diversion", "history-info", "both"}) {
        ASSERT_TRUE(parse_diversion_headers(text, h)) << text;
        EXPECT_EQ(to_string(h), text);
    }
    h = diversion_headers::both;
    EXPECT_FALSE(parse_diversion_headers("History-Info", h));
    EXPECT_FALSE(parse_diversion_headers("", h));
    EXPECT_EQ(h, diversion_headers::both) << "unchanged on failure";
    EXPECT_EQ(to_string(diversion_headers::unset), "");
    EXPECT_TRUE(writes_diversion(diversion_headers::unset)) << "Diversion unless told otherwise";
    EXPECT_FALSE(writes_history_info(diversion_headers::unset));
    EXPECT_FALSE(writes_diversion(diversion_headers::history_info));
    EXPECT_TRUE(writes_history_info(diversion_headers::both));
    EXPECT_TRUE(writes_diversion(diversion_headers::both));
}

// RFC 7544 5 (with its erratum 3071: unavailable is 503).
TEST(diversion, history_info_causes_follow_rfc_7544) {
    EXPECT_EQ(history_info_cause("unconditional"), 302u);
    EXPECT_EQ(history_info_cause("user-busy"), 486u);
    EXPECT_EQ(history_info_cause("no-answer"), 408u);
    EXPECT_EQ(history_info_cause("deflection"), 480u);
    EXPECT_EQ(history_info_cause("unavailable"), 503u);
    for (const std::string_view other : {"unknown", "time-of-day", "do-not-disturb", "follow-me", "out-of-service", "away"}) {
        EXPECT_EQ(history_info_cause(other), 404u) << other;
    }
}

TEST(diversion, a_new_history_names_the_called_party_then_the_target) {
    EXPECT_EQ(history_info_line("", "carol-then-bob", "198.51.100.1", "sip:bob@198.51.100.20:5060", "no-answer"),
              "History-Info: <sip:carol-then-bob@198.51.100.1>;index=1, "
              "<sip:bob@198.51.100.20:5060;cause=408>;index=1.1;mp=1\r\n");
    // The cause goes with the URI's parameters, before its headers.
    EXPECT_EQ(history_info_line("", "100", "example.net", "sip:carol@198.51.100.30;rn=+15550100;npdi?X=1",
                                "deflection"),
              "History-Info: <sip:100@example.net>;index=1, "
              "<sip:carol@198.51.100.30;rn=+15550100;npdi;cause=480?X=1>;index=1.1;mp=1\r\n");
}

TEST(diversion, after_a_history_that_came_with_the_call_the_target_goes_under_its_last_entry) {
    EXPECT_EQ(history_info_line("1.1", "100", "example.net", "sip:200@198.51.100.20", "user-busy"),
              "History-Info: <sip:200@198.51.100.20;cause=486>;index=1.1.1;mp=1.1\r\n");
}

TEST(diversion, the_last_index_of_a_history) {
    EXPECT_EQ(last_of({"<sip:100@example.net>;index=1", "<sip:200@example.org;cause=302>;index=1.1;mp=1"}), "1.1");
    EXPECT_EQ(last_of({"<sip:100@example.net>;index=1, <sip:200@example.org>;mp=1;index=1.1"}), "1.1")
        << "one field, two entries; index anywhere among the parameters";
    EXPECT_EQ(last_of({"\"A, <b>\" <sip:100@example.net;x=a,b>;INDEX = 1 , ,"}), "1")
        << "commas in a quoted name or a URI part of no list; names case-insensitive, spaces around '='";
    EXPECT_EQ(last_of({"<sip:1@a>;index=1", "<sip:2@a>;index=1.2", "<sip:3@a>;index=1.1"}), "1.1")
        << "the last entry in order, not the deepest";
    EXPECT_EQ(last_of({"sip:100@example.net;index=1"}), "1") << "an addr-spec's parameters are the header's";
    EXPECT_EQ(last_of({}), "");
    EXPECT_EQ(last_of({""}), "");
}

// A history that cannot take an entry is not passed on ("").
TEST(diversion, a_history_an_entry_could_not_be_placed_in_has_no_last_index) {
    EXPECT_EQ(last_of({"<sip:100@example.net>"}), "") << "no index";
    EXPECT_EQ(last_of({"<sip:100@example.net>;index=01"}), "") << "a leading zero";
    EXPECT_EQ(last_of({"<sip:100@example.net>;index=1..1"}), "");
    EXPECT_EQ(last_of({"<sip:100@example.net>;index=1.", "<sip:1@a>;index=1"}), "");
    EXPECT_EQ(last_of({"<sip:100@example.net>;index=1a"}), "");
    EXPECT_EQ(last_of({"<sip:1@a>;index=1, <sip:2@a>;index=1"}), "") << "an index twice";
    EXPECT_EQ(last_of({"<sip:1@a>;index=1.1, <sip:2@a>;index=1"}), "") << "1.1 would be written twice";
    EXPECT_EQ(last_of({"<sip:100@example.net;index=1"}), "") << "an unclosed URI";
    EXPECT_EQ(last_of({"\"open <sip:100@example.net>;index=1"}), "") << "an unclosed quoted string";
    EXPECT_EQ(last_of({"<sip:100@example.net>;index=1, <sip:a b@x>;index=2"}), "") << "not a name-addr";
    std::string deep = "1";
    while (deep.size() < max_history_index_bytes) {
        deep += ".1";
    }
    EXPECT_EQ(last_of({"<sip:1@a>;index=" + deep}), "") << "an index longer than the bound";
    std::vector<std::string> many;
    for (size_t i = 0; i <= max_history_entries; ++i) {
        many.push_back("<sip:1@a>;index=" + std::to_string(i + 1));
    }
    std::vector<std::string_view> views(many.begin(), many.end());
    EXPECT_EQ(last_history_index(views), "") << "more entries than the bound";
    views.pop_back();
    EXPECT_EQ(last_history_index(views), std::to_string(max_history_entries));
}
