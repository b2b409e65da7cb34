// Units for provider probing (control/provider_health): who is up, who goes down, when the next
// OPTIONS is due, and what a reload keeps.

#include "provider_health.hh"

#include <gtest/gtest.h>

#include <algorithm>

using namespace sf::control;

namespace {

provider_config provider(const std::string& name, unsigned ping_s) {
    provider_config p;
    p.name = name;
    p.ping_s = ping_s;
    return p;
}

}  // namespace

TEST(provider_health, a_probed_provider_goes_down_unanswered_and_up_on_any_answer) {
    provider_health h;
    h.configure({provider("primary", 10)}, 0);
    EXPECT_TRUE(h.up("primary")) << "up until it fails";
    EXPECT_TRUE(h.unanswered("primary"));
    EXPECT_FALSE(h.up("primary"));
    EXPECT_FALSE(h.unanswered("primary")) << "already down: no second transition";
    EXPECT_TRUE(h.answered("primary"));
    EXPECT_TRUE(h.up("primary"));
    EXPECT_FALSE(h.answered("primary"));
    EXPECT_EQ(h.states().at("primary").downs, 1u);
}

TEST(provider_health, an_unprobed_provider_never_goes_down) {
    provider_health h;
    h.configure({provider("plain", 0)}, 0);
    EXPECT_FALSE(h.unanswered("plain")) << "nothing would bring it back up";
    EXPECT_TRUE(h.up("plain"));
    EXPECT_TRUE(h.up("unknown"));
    EXPECT_FALSE(h.unanswered("unknown"));
    EXPECT_FALSE(h.answered("unknown"));
}

TEST(provider_health, probes_are_due_every_ping_seconds_from_the_start) {
    provider_health h;
    h.configure({provider("a", 5), provider("b", 0), provider("c", 2)}, 1000);
    auto due = h.due_pings(1000);
    std::sort(due.begin(), due.end());
    EXPECT_EQ(due, (std::vector<std::string>{"a", "c"}));
    EXPECT_TRUE(h.due_pings(2999).empty());
    EXPECT_EQ(h.due_pings(3000), std::vector<std::string>{"c"});
    EXPECT_EQ(h.due_pings(6000).size(), 2u);
}

TEST(provider_health, a_reload_keeps_the_state_of_names_it_keeps) {
    provider_health h;
    h.configure({provider("a", 5), provider("b", 5)}, 0);
    h.due_pings(0);
    ASSERT_TRUE(h.unanswered("a"));
    ASSERT_TRUE(h.unanswered("b"));
    h.configure({provider("a", 5), provider("b", 0), provider("new", 3)}, 100);
    EXPECT_FALSE(h.up("a")) << "same name, same probe: still down";
    EXPECT_TRUE(h.up("b")) << "no longer probed: up";
    EXPECT_TRUE(h.up("new"));
    EXPECT_EQ(h.due_pings(100), std::vector<std::string>{"new"}) << "a keeps its schedule, new starts now";
    h.configure({provider("a", 7)}, 200);
    EXPECT_EQ(h.due_pings(200), std::vector<std::string>{"a"}) << "a new interval starts with a probe";
    EXPECT_EQ(h.states().count("new"), 0u);
}
