// Accounts and providers: CIDR parsing and matching, which account a source address
// belongs to (longest prefix wins), which account a registering user belongs to, and
// provider lookups by name and address.

#include "accounts.hh"

#include <gtest/gtest.h>

#include "config.hh"

using namespace sf::control;

namespace {

uint32_t ip(const char* text) {
    uint32_t a = 0;
    EXPECT_TRUE(parse_ipv4_text(text, a)) << text;
    return a;
}

cidr net(const char* text) {
    cidr c;
    const std::string err = parse_cidr(text, c);
    EXPECT_EQ(err, "") << text;
    return c;
}

account_config account(const std::string& name, std::vector<const char*> networks,
                       std::vector<std::string> users = {}) {
    account_config a;
    a.name = name;
    for (const char* n : networks) {
        a.networks.push_back(net(n));
    }
    a.users = std::move(users);
    a.may_register = !a.users.empty();
    return a;
}

const std::string& name_of(const account_config* a) {
    static const std::string none = "(none)";
    return a ? a->name : none;
}

}  // namespace

// ------------------------------------------------------------------ cidr

TEST(cidr, parses_networks_and_bare_addresses) {
    cidr c;
    EXPECT_EQ(parse_cidr("10.0.0.0/8", c), "");
    EXPECT_EQ(c.net, 0x0a000000u);
    EXPECT_EQ(c.prefix, 8);
    EXPECT_EQ(parse_cidr("192.0.2.7", c), "");
    EXPECT_EQ(c.net, 0xc0000207u);
    EXPECT_EQ(c.prefix, 32);
    EXPECT_EQ(parse_cidr("0.0.0.0/0", c), "");
    EXPECT_EQ(c.net, 0u);
    EXPECT_EQ(c.prefix, 0);
    EXPECT_EQ(parse_cidr("192.0.2.7/32", c), "");
    EXPECT_EQ(c.prefix, 32);
    EXPECT_EQ(to_string(net("198.51.100.0/24")), "198.51.100.0/24");
}

TEST(cidr, refuses_bad_text) {
    for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0/8",
                            "10.0.0.256/32", "host/8", "10.0.0.0/008", "10.0.0.0 /8", "10.0.0.0/8/8"}) {
        cidr c;
        c.net = 0x01020304;
        EXPECT_NE(parse_cidr(bad, c), "") << bad;
        EXPECT_EQ(c.net, 0x01020304u) << "untouched on error: " << bad;
    }
}

TEST(cidr, refuses_host_bits_and_suggests_the_network) {
    cidr c;
    const std::string err = parse_cidr("10.1.2.3/8", c);
    EXPECT_NE(err.find("10.0.0.0/8"), std::string::npos) << err;
    EXPECT_NE(parse_cidr("0.0.0.1/0", c), "");
    EXPECT_NE(parse_cidr("192.0.2.129/25", c), "");
    EXPECT_EQ(parse_cidr("192.0.2.128/25", c), "");
}

TEST(cidr, contains_at_the_edges) {
    const cidr all = net("0.0.0.0/0");
    EXPECT_TRUE(all.contains(0));
    EXPECT_TRUE(all.contains(0xffffffffu));
    const cidr one = net("192.0.2.7/32");
    EXPECT_TRUE(one.contains(ip("192.0.2.7")));
    EXPECT_FALSE(one.contains(ip("192.0.2.6")));
    EXPECT_FALSE(one.contains(ip("192.0.2.8")));
    const cidr n24 = net("198.51.100.0/24");
    EXPECT_TRUE(n24.contains(ip("198.51.100.0")));
    EXPECT_TRUE(n24.contains(ip("198.51.100.255")));
    EXPECT_FALSE(n24.contains(ip("198.51.101.0")));
    EXPECT_FALSE(n24.contains(ip("198.51.99.255")));
    const cidr n1 = net("128.0.0.0/1");
    EXPECT_TRUE(n1.contains(0xffffffffu));
    EXPECT_FALSE(n1.contains(0x7fffffffu));
}

// ------------------------------------------------------------------ account_directory

TEST(account_directory, source_lookup_longest_prefix_wins) {
    const account_directory d({account("everyone", {"0.0.0.0/0"}), account("bigcorp", {"10.0.0.0/8"}),
                               account("branch", {"10.20.0.0/16"}), account("pbx", {"10.20.30.40/32"}),
                               account("other", {"192.0.2.0/24", "203.0.113.0/25"})},
                              {});
    EXPECT_EQ(name_of(d.account_by_source(ip("10.20.30.40"))), "pbx");
    EXPECT_EQ(name_of(d.account_by_source(ip("10.20.30.41"))), "branch");
    EXPECT_EQ(name_of(d.account_by_source(ip("10.20.255.255"))), "branch");
    EXPECT_EQ(name_of(d.account_by_source(ip("10.21.0.1"))), "bigcorp");
    EXPECT_EQ(name_of(d.account_by_source(ip("10.0.0.0"))), "bigcorp");
    EXPECT_EQ(name_of(d.account_by_source(ip("11.0.0.0"))), "everyone");
    EXPECT_EQ(name_of(d.account_by_source(ip("192.0.2.200"))), "other");
    EXPECT_EQ(name_of(d.account_by_source(ip("203.0.113.127"))), "other");
    EXPECT_EQ(name_of(d.account_by_source(ip("203.0.113.128"))), "everyone");
    EXPECT_EQ(name_of(d.account_by_source(0)), "everyone");
    EXPECT_EQ(name_of(d.account_by_source(0xffffffffu)), "everyone");
}

TEST(account_directory, declaration_order_does_not_decide_overlaps) {
    // The same networks declared the other way round: still the longest prefix.
    const account_directory d({account("pbx", {"10.20.30.40/32"}), account("branch", {"10.20.0.0/16"}),
                               account("bigcorp", {"10.0.0.0/8"})},
                              {});
    EXPECT_EQ(name_of(d.account_by_source(ip("10.20.30.40"))), "pbx");
    EXPECT_EQ(name_of(d.account_by_source(ip("10.20.30.39"))), "branch");
    EXPECT_EQ(name_of(d.account_by_source(ip("10.99.0.1"))), "bigcorp");
    EXPECT_EQ(d.account_by_source(ip("11.0.0.1")), nullptr);
    EXPECT_EQ(d.account_by_source(0), nullptr);
}

TEST(account_directory, equal_networks_go_to_the_first_account) {
    const account_directory d({account("first", {"192.0.2.0/24"}), account("second", {"192.0.2.0/24"})}, {});
    EXPECT_EQ(name_of(d.account_by_source(ip("192.0.2.1"))), "first");
}

TEST(account_directory, no_networks_means_no_source_match) {
    const account_directory d({account("alice", {}, {"alice"})}, {});
    EXPECT_EQ(d.account_by_source(ip("192.0.2.1")), nullptr);
    EXPECT_EQ(d.account_by_source(0), nullptr);
    const account_directory empty;
    EXPECT_EQ(empty.account_by_source(ip("192.0.2.1")), nullptr);
    EXPECT_EQ(empty.account("alice"), nullptr);
}

TEST(account_directory, accounts_by_name_and_by_registering_user) {
    account_config quiet = account("quiet", {}, {"q1"});
    quiet.may_register = false;  // users of an account that may not register are not found
    const account_directory d({account("acme", {}, {"100", "101", "reception"}), account("bob", {}, {"bob"}), quiet},
                              {});
    EXPECT_EQ(name_of(d.account("acme")), "acme");
    EXPECT_EQ(name_of(d.account("bob")), "bob");
    EXPECT_EQ(d.account("ACME"), nullptr);
    EXPECT_EQ(d.account("nobody"), nullptr);
    EXPECT_EQ(name_of(d.account_by_user("101")), "acme");
    EXPECT_EQ(name_of(d.account_by_user("reception")), "acme");
    EXPECT_EQ(name_of(d.account_by_user("bob")), "bob");
    EXPECT_EQ(d.account_by_user("acme"), nullptr) << "the account name is not a user unless listed";
    EXPECT_EQ(d.account_by_user("102"), nullptr);
    EXPECT_EQ(d.account_by_user("q1"), nullptr);
    EXPECT_TRUE(d.account("acme")->has_user("100"));
    EXPECT_FALSE(d.account("acme")->has_user("10"));
    EXPECT_EQ(d.accounts().size(), 3u);
}

TEST(account_directory, credentials) {
    account_config a;
    EXPECT_FALSE(a.has_credentials());
    a.ha1_sha256 = std::string(64, 'a');
    EXPECT_TRUE(a.has_credentials());
    a = {};
    a.password = "x";
    EXPECT_TRUE(a.has_credentials());
    a = {};
    a.ha1_md5 = std::string(32, '0');
    EXPECT_TRUE(a.has_credentials());
}

TEST(account_directory, providers_by_name_and_address) {
    provider_config p1;
    p1.name = "carrier1";
    p1.host = ip("198.51.100.20");
    provider_config p2;
    p2.name = "carrier2";
    p2.host = ip("198.51.100.20");
    p2.port = 5080;
    provider_config p3;
    p3.name = "carrier3";
    p3.host = ip("198.51.100.30");
    const account_directory d({}, {p1, p2, p3});
    ASSERT_NE(d.provider("carrier2"), nullptr);
    EXPECT_EQ(d.provider("carrier2")->port, 5080);
    EXPECT_EQ(d.provider("carrier4"), nullptr);
    EXPECT_EQ(d.provider_by_address(ip("198.51.100.20"))->name, "carrier1");
    EXPECT_EQ(d.provider_by_address(ip("198.51.100.20"), 5060)->name, "carrier1");
    EXPECT_EQ(d.provider_by_address(ip("198.51.100.20"), 5080)->name, "carrier2");
    EXPECT_EQ(d.provider_by_address(ip("198.51.100.20"), 5090), nullptr);
    EXPECT_EQ(d.provider_by_address(ip("198.51.100.30"))->name, "carrier3");
    EXPECT_EQ(d.provider_by_address(ip("198.51.100.31")), nullptr);
    EXPECT_EQ(d.providers().size(), 3u);
}
