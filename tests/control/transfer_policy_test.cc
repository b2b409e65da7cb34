#include <gtest/gtest.h>

#include "transfer_policy.hh"

using namespace sf::control;

namespace {

transfer_policy_config cfg(std::vector<std::string> deny, std::vector<std::string> allow = {},
                           unsigned per_call = 3, unsigned per_minute = 60) {
    transfer_policy_config c;
    c.deny_prefixes = std::move(deny);
    c.allow_prefixes = std::move(allow);
    c.max_per_call = per_call;
    c.max_per_minute = per_minute;
    return c;
}

}  // namespace

TEST(transfer_policy, deny_prefixes_refuse_premium_and_international) {
    transfer_policy p(cfg({"0900", "00", "+"}));
    EXPECT_STREQ(p.check("0900123456", 0, 1000), "denied_prefix");
    EXPECT_STREQ(p.check("0044123", 0, 1000), "denied_prefix");
    EXPECT_STREQ(p.check("+15551234", 0, 1000), "denied_prefix");
    EXPECT_EQ(p.check("carol", 0, 1000), nullptr);
    EXPECT_EQ(p.check("0301234", 0, 1000), nullptr);
    EXPECT_EQ(p.refusals().at("denied_prefix"), 3u);
}

TEST(transfer_policy, allow_list_lets_only_its_prefixes_through) {
    transfer_policy p(cfg({}, {"1", "carol"}));
    EXPECT_EQ(p.check("1234", 0, 1000), nullptr);
    EXPECT_EQ(p.check("carol", 0, 1000), nullptr);
    EXPECT_STREQ(p.check("bob", 0, 1000), "not_allowed");
    EXPECT_STREQ(p.check("", 0, 1000), "not_allowed");
}

TEST(transfer_policy, deny_wins_over_allow) {
    transfer_policy p(cfg({"19"}, {"1"}));
    EXPECT_STREQ(p.check("1900", 0, 1000), "denied_prefix");
    EXPECT_EQ(p.check("1800", 0, 1000), nullptr);
}

TEST(transfer_policy, chains_stop_at_max_per_call) {
    transfer_policy p(cfg({}, {}, 2));
    EXPECT_EQ(p.check("carol", 0, 1000), nullptr);
    EXPECT_EQ(p.check("carol", 1, 1000), nullptr);
    EXPECT_STREQ(p.check("carol", 2, 1000), "too_many_in_call");
    transfer_policy none(cfg({}, {}, 0));
    EXPECT_STREQ(none.check("carol", 0, 1000), "too_many_in_call");
}

TEST(transfer_policy, refer_storms_are_rate_limited_and_the_bucket_refills) {
    transfer_policy p(cfg({}, {}, 3, 6));  // 6 per minute: one token every 10 s
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(p.check("carol", 0, 1000), nullptr) << i;
    }
    EXPECT_STREQ(p.check("carol", 0, 1000), "rate_limited");
    EXPECT_STREQ(p.check("carol", 0, 5000), "rate_limited") << "4 s refill less than one token";
    EXPECT_EQ(p.check("carol", 0, 11000), nullptr) << "10 s later one token is back";
    EXPECT_STREQ(p.check("carol", 0, 11001), "rate_limited");
    EXPECT_EQ(p.check("carol", 0, 11000 + 600000), nullptr) << "the bucket never holds more than a minute's worth";
    EXPECT_EQ(p.refusals().at("rate_limited"), 3u);
}
