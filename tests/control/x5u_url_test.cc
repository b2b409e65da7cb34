// The x5u URL a peer's Identity header names and the Cache-Control of the certificate's response
// (control/x5u_url.hh): what is fetched, what is refused before any lookup, how long it is kept.

#include "x5u_url.hh"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace sf::control;

TEST(x5u_url, https_and_http_urls_are_taken_apart) {
    x5u_url u;
    ASSERT_EQ(parse_x5u_url("https://Cert.Example.NET./sti/sp.pem?v=2#frag", u), "");
    EXPECT_TRUE(u.tls);
    EXPECT_EQ(u.host, "cert.example.net") << "lower case, no trailing dot";
    EXPECT_FALSE(u.host_is_ipv4);
    EXPECT_EQ(u.port, 443);
    EXPECT_EQ(u.target, "/sti/sp.pem?v=2") << "the fragment is never sent";
    ASSERT_EQ(parse_x5u_url("HTTP://192.0.2.7:8080", u), "");
    EXPECT_FALSE(u.tls);
    EXPECT_TRUE(u.host_is_ipv4);
    EXPECT_EQ(u.port, 8080);
    EXPECT_EQ(u.target, "/");
    ASSERT_EQ(parse_x5u_url("https://a.example?x", u), "");
    EXPECT_EQ(u.target, "/?x");
}

TEST(x5u_url, anything_else_is_refused) {
    x5u_url u;
    const std::vector<std::string> bad = {
        "",
        "ftp://a.example/x",
        "https://",
        "https:///x",
        "https://user@a.example/x",
        "https://[::1]/x",
        "https://a.example:0/x",
        "https://a.example:65536/x",
        "https://a.example:/x",
        "https://a.example:8o/x",
        "https://a..example/x",
        "https://a_b.example/x",
        "https://1.2.3/x",
        "https://256.1.1.1/x",
        "https://a.example/x y",
        "https://a.example/x\r\nHost: evil",
        "https://a.example/\x80",
        "https://" + std::string(64, 'a') + ".example/",
    };
    for (const std::string& url : bad) {
        EXPECT_NE(parse_x5u_url(url, u), "") << url;
    }
}

TEST(x5u_url, invalid_names_are_known_without_a_lookup) {
    EXPECT_TRUE(is_invalid_domain("invalid"));
    EXPECT_TRUE(is_invalid_domain("cert.lab.invalid"));
    EXPECT_FALSE(is_invalid_domain("notinvalid"));
    EXPECT_FALSE(is_invalid_domain("invalid.example"));
    EXPECT_FALSE(is_invalid_domain(".invalid")) << "no name at all (the parser refuses it first)";
}

TEST(cache_control, max_age_is_read_unless_reuse_is_forbidden) {
    auto keep = [](std::initializer_list<std::string_view> values) {
        cache_control cc;
        for (const std::string_view v : values) {
            cc.read(v);
        }
        return cc.keep_s();
    };
    EXPECT_EQ(keep({}), 0u);
    EXPECT_EQ(keep({"public, max-age=3600"}), 3600u);
    EXPECT_EQ(keep({"Max-Age=\"60\""}), 60u) << "quoted, any case";
    EXPECT_EQ(keep({"max-age=60, max-age=7200"}), 60u) << "the first one";
    EXPECT_EQ(keep({"max-age=x, max-age=90"}), 90u) << "a malformed one is skipped";
    EXPECT_EQ(keep({"max-age=99999999999999"}), 4294967295u) << "saturated";
    EXPECT_EQ(keep({"max-age=3600", "no-store"}), 0u) << "over several header lines";
    EXPECT_EQ(keep({"no-cache, max-age=3600"}), 0u);
    EXPECT_EQ(keep({" , ,max-age=5,"}), 5u);
}
