// Units for the identity policy (control/asserted_identity): which P-Asserted-Identity a call
// carries, from whom it is believed, and what each destination is told (RFC 3325, RFC 3323).

#include "asserted_identity.hh"

#include <gtest/gtest.h>

#include <string>

using namespace sf::control;

namespace {

/// An INVITE from alice with `extra` header lines ("Name: value\r\n"); kept alive for the views.
struct invite {
    std::string text;
    sf::sip::message m;
    explicit invite(const std::string& extra, const std::string& from = "\"Alice\" <sip:alice@192.0.2.10>") {
        text = "INVITE sip:bob@192.0.2.1 SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n"
               "From: " + from + ";tag=a1\r\n"
               "To: <sip:bob@192.0.2.1>\r\n"
               "Call-ID: c1@192.0.2.10\r\n"
               "CSeq: 1 INVITE\r\n" + extra +
               "Content-Length: 0\r\n\r\n";
        EXPECT_EQ(sf::sip::parse(text, m), sf::sip::parse_error::ok);
    }
};

account_config pbx() {
    account_config a;
    a.name = "pbx";
    a.identity = "+4930123400";
    a.identities = {"+49301234*", "8000"};
    return a;
}

}  // namespace

TEST(may_present, its_identity_an_exact_user_or_a_prefix) {
    const account_config a = pbx();
    EXPECT_TRUE(may_present(a, "+4930123400"));
    EXPECT_TRUE(may_present(a, "+4930123477"));
    EXPECT_TRUE(may_present(a, "+49301234"));
    EXPECT_TRUE(may_present(a, "8000"));
    EXPECT_FALSE(may_present(a, "80001"));
    EXPECT_FALSE(may_present(a, "+4930999"));
    EXPECT_FALSE(may_present(a, ""));
    EXPECT_FALSE(may_present(a, "+49301234 1")) << "never a user that could not travel in a header";
    account_config none;
    none.identities = {"*"};
    EXPECT_FALSE(may_present(none, "anything")) << "an account without identity asserts nothing";
}

TEST(identity_of_call, a_trusted_provider_is_believed) {
    const invite inv("P-Asserted-Identity: \"Carrier\" <tel:+15557777>, <sip:+15557777@carrier.example>\r\n");
    const asserted_identity who = identity_of_call(inv.m, true, nullptr);
    EXPECT_EQ(who.user, "+15557777");
    EXPECT_EQ(who.display, "Carrier");
    EXPECT_TRUE(identity_of_call(invite("").m, true, nullptr).empty()) << "no assertion: none";
}

TEST(identity_of_call, a_trusted_provider_skips_values_that_cannot_travel) {
    const invite inv("P-Asserted-Identity: <sip:carrier.example>\r\n"
                     "P-Asserted-Identity: <sip:+15557777@carrier.example>\r\n");
    EXPECT_EQ(identity_of_call(inv.m, true, nullptr).user, "+15557777");
}

TEST(identity_of_call, an_untrusted_assertion_is_dropped) {
    const invite inv("P-Asserted-Identity: <sip:+15557777@198.51.100.30>\r\n");
    EXPECT_TRUE(identity_of_call(inv.m, false, nullptr).empty());
    account_config no_identity;
    no_identity.name = "x";
    EXPECT_TRUE(identity_of_call(inv.m, false, &no_identity).empty());
}

TEST(identity_of_call, an_account_gets_what_it_prefers_within_its_numbers) {
    const account_config a = pbx();
    // Preferred first, even when an asserted one is allowed too.
    const invite both("P-Asserted-Identity: <sip:+4930123411@pbx>\r\n"
                      "P-Preferred-Identity: \"Sales\" <sip:+4930123455@pbx>\r\n");
    const asserted_identity who = identity_of_call(both.m, false, &a);
    EXPECT_EQ(who.user, "+4930123455");
    EXPECT_EQ(who.display, "Sales");
    // A preferred one outside its numbers is passed over for the next candidate.
    const invite foreign("P-Preferred-Identity: <sip:+15559999@pbx>\r\nP-Asserted-Identity: <sip:8000@pbx>\r\n");
    EXPECT_EQ(identity_of_call(foreign.m, false, &a).user, "8000");
    // Then the From user, with its display name.
    const invite from("", "\"Desk 7\" <sip:+4930123407@pbx>");
    EXPECT_EQ(identity_of_call(from.m, false, &a).user, "+4930123407");
    EXPECT_EQ(identity_of_call(from.m, false, &a).display, "Desk 7");
    // Nothing it may present: its own identity, without a name.
    const invite other("P-Preferred-Identity: <sip:+15559999@pbx>\r\n");
    const asserted_identity fallback = identity_of_call(other.m, false, &a);
    EXPECT_EQ(fallback.user, "+4930123400");
    EXPECT_EQ(fallback.display, "");
}

TEST(identity_of_call, malformed_or_unsafe_values_are_ignored) {
    const account_config a = pbx();
    const invite bad("P-Preferred-Identity: <sip:+4930123455@pbx\r\n"
                     "P-Asserted-Identity: \"A \\\"B\\\"\" <sip:+4930123466@pbx>\r\n");
    const asserted_identity who = identity_of_call(bad.m, false, &a);
    EXPECT_EQ(who.user, "+4930123466");
    EXPECT_EQ(who.display, "") << "an escaped display name is dropped, not rewritten";
}

TEST(privacy_of, every_line_counts_and_none_is_none) {
    EXPECT_FALSE(privacy_of(invite("").m).any());
    const privacy_request p = privacy_of(invite("Privacy: id\r\nprivacy: user\r\n").m);
    EXPECT_TRUE(p.id);
    EXPECT_TRUE(p.user);
    EXPECT_FALSE(privacy_of(invite("Privacy: none\r\n").m).withholds_identity());
    EXPECT_FALSE(privacy_of(invite("Privacy: i d\r\n").m).any()) << "a malformed line counts as absent";
}

TEST(privacy_can_be_given, only_an_unknown_critical_value_cannot) {
    privacy_request p;
    EXPECT_TRUE(privacy_can_be_given(p));
    ASSERT_TRUE(parse_privacy("id;header;user;session;history;critical", p));
    EXPECT_TRUE(privacy_can_be_given(p)) << "history too: the trust domain keeps History-Info (RFC 7044)";
    privacy_request q;
    ASSERT_TRUE(parse_privacy("x-gov", q));
    EXPECT_TRUE(privacy_can_be_given(q)) << "not critical: the unknown level is ignored";
    ASSERT_TRUE(parse_privacy("critical", q));
    EXPECT_FALSE(privacy_can_be_given(q));
}

TEST(identity_for_destination, trusted_get_the_identity_and_the_privacy) {
    privacy_request p;
    ASSERT_TRUE(parse_privacy("id", p));
    const identity_on_leg leg = identity_for_destination({"+4930123455", "Sales"}, p, true, "trunk.example");
    EXPECT_FALSE(leg.anonymous_from);
    EXPECT_EQ(leg.header_lines,
              "P-Asserted-Identity: \"Sales\" <sip:+4930123455@trunk.example>\r\nPrivacy: id\r\n");
}

TEST(identity_for_destination, untrusted_get_an_anonymous_from_when_the_caller_withholds) {
    for (const char* levels : {"id", "user", "header", "id;critical"}) {
        privacy_request p;
        ASSERT_TRUE(parse_privacy(levels, p));
        const identity_on_leg leg = identity_for_destination({"+4930123455", ""}, p, false, "198.51.100.1");
        EXPECT_TRUE(leg.anonymous_from) << levels;
        EXPECT_EQ(leg.header_lines, "") << levels;
    }
    privacy_request session;
    ASSERT_TRUE(parse_privacy("session", session));
    const identity_on_leg leg = identity_for_destination({"+4930123455", ""}, session, false, "198.51.100.1");
    EXPECT_FALSE(leg.anonymous_from);
    EXPECT_EQ(leg.header_lines, "P-Asserted-Identity: <sip:+4930123455@198.51.100.1>\r\n")
        << "no Privacy header leaves the trust domain";
}

TEST(identity_for_destination, nothing_to_assert_nothing_sent) {
    const identity_on_leg leg = identity_for_destination({}, {}, true, "trunk.example");
    EXPECT_FALSE(leg.anonymous_from);
    EXPECT_EQ(leg.header_lines, "");
}
