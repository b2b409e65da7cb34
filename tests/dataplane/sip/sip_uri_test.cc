// URI parser tests: sip/sips/tel forms, userinfo, IPv4/IPv6/hostname hosts,
// ports, parameters and headers, and the malformed inputs parse_uri rejects.

#include "sip/sip_uri.hh"

#include <gtest/gtest.h>

#include <string>

using namespace sf::sip;

TEST(sip_uri, simple) {
    uri u;
    ASSERT_TRUE(parse_uri("sip:alice@atlanta.example.com", u));
    EXPECT_EQ(u.scheme, "sip");
    EXPECT_EQ(u.user, "alice");
    EXPECT_EQ(u.password, "");
    EXPECT_EQ(u.host, "atlanta.example.com");
    EXPECT_EQ(u.port, 0);
    EXPECT_EQ(u.params, "");
    EXPECT_EQ(u.headers, "");
}

TEST(sip_uri, full) {
    uri u;
    ASSERT_TRUE(parse_uri("SIPS:alice:secretword@192.0.2.10:5061;transport=tcp;lr?subject=project%20x&priority=urgent", u));
    EXPECT_EQ(u.scheme, "SIPS");
    EXPECT_EQ(u.user, "alice");
    EXPECT_EQ(u.password, "secretword");
    EXPECT_EQ(u.host, "192.0.2.10");
    EXPECT_EQ(u.port, 5061);
    EXPECT_EQ(u.params, "transport=tcp;lr");
    EXPECT_EQ(u.headers, "subject=project%20x&priority=urgent");
}

TEST(sip_uri, host_only_and_headers_without_params) {
    uri u;
    ASSERT_TRUE(parse_uri("sip:registrar.example.com", u));
    EXPECT_EQ(u.user, "");
    EXPECT_EQ(u.host, "registrar.example.com");
    ASSERT_TRUE(parse_uri("Sip:example.com?to=x", u));
    EXPECT_EQ(u.host, "example.com");
    EXPECT_EQ(u.params, "");
    EXPECT_EQ(u.headers, "to=x");
    ASSERT_TRUE(parse_uri("sip:example.com;maddr=239.255.255.1;ttl=15", u));
    EXPECT_EQ(u.params, "maddr=239.255.255.1;ttl=15");
    ASSERT_TRUE(parse_uri("sip:h;", u));
    EXPECT_EQ(u.host, "h");
    EXPECT_EQ(u.params, "");
}

TEST(sip_uri, ipv6) {
    uri u;
    ASSERT_TRUE(parse_uri("sip:[2001:db8::10]:5070;transport=udp", u));
    EXPECT_EQ(u.host, "[2001:db8::10]");
    EXPECT_EQ(u.port, 5070);
    EXPECT_EQ(u.params, "transport=udp");
    ASSERT_TRUE(parse_uri("sip:bob@[::ffff:192.0.2.1]", u));
    EXPECT_EQ(u.user, "bob");
    EXPECT_EQ(u.host, "[::ffff:192.0.2.1]");
    EXPECT_EQ(u.port, 0);
    // RFC 5118: a bracketed host may be followed directly by params.
    ASSERT_TRUE(parse_uri("sip:[2001:db8::10];maddr=[2001:db8::20]", u));
    EXPECT_EQ(u.host, "[2001:db8::10]");
    EXPECT_EQ(u.params, "maddr=[2001:db8::20]");
}

TEST(sip_uri, unusual_user_parts) {
    uri u;
    // RFC 4475 3.1.1.9: ';' in the user part, escaped '@'.
    ASSERT_TRUE(parse_uri("sip:user;par=u%40example.net@example.com", u));
    EXPECT_EQ(u.user, "user;par=u%40example.net");
    EXPECT_EQ(u.host, "example.com");
    EXPECT_EQ(u.params, "");
    // RFC 4475 3.1.1.3.
    ASSERT_TRUE(parse_uri("sip:sips%3Auser%40example.com@example.net", u));
    EXPECT_EQ(u.user, "sips%3Auser%40example.com");
    EXPECT_EQ(u.host, "example.net");
    // Telephone-subscriber in a sip URI.
    ASSERT_TRUE(parse_uri("sip:+1-212-555-1212:1234@gateway.com;user=phone", u));
    EXPECT_EQ(u.user, "+1-212-555-1212");
    EXPECT_EQ(u.password, "1234");
    EXPECT_EQ(u.params, "user=phone");
}

TEST(sip_uri, tel) {
    uri u;
    ASSERT_TRUE(parse_uri("tel:+1-201-555-0123", u));
    EXPECT_EQ(u.scheme, "tel");
    EXPECT_EQ(u.user, "+1-201-555-0123");
    EXPECT_EQ(u.host, "");
    EXPECT_EQ(u.port, 0);
    ASSERT_TRUE(parse_uri("TEL:7042;phone-context=example.com", u));
    EXPECT_EQ(u.user, "7042");
    EXPECT_EQ(u.params, "phone-context=example.com");
    EXPECT_FALSE(parse_uri("tel:", u));
    EXPECT_FALSE(parse_uri("tel:;x=1", u));
    EXPECT_FALSE(parse_uri("tel:12 34", u));
}

TEST(sip_uri, ports) {
    uri u;
    ASSERT_TRUE(parse_uri("sip:h:1", u));
    EXPECT_EQ(u.port, 1);
    ASSERT_TRUE(parse_uri("sip:h:65535", u));
    EXPECT_EQ(u.port, 65535);
    ASSERT_TRUE(parse_uri("sip:h:05060", u));
    EXPECT_EQ(u.port, 5060);
    for (const char* bad : {"sip:h:0", "sip:h:65536", "sip:h:", "sip:h:50a", "sip:h:123456",
                            "sip:[::1]:", "sip:[::1]:0", "sip:[::1]x", "sip:h:-1"}) {
        EXPECT_FALSE(parse_uri(bad, u)) << bad;
    }
}

TEST(sip_uri, malformed) {
    uri u;
    for (const char* bad : {"", "sip", "sip:", ":host", "http://example.com", "mailto:a@b",
                            "sip:@host", "sip:user@", "sip:user@;p", "sip:[2001:db8::1",
                            "sip:[]", "sip:[g::1]", "sip:[1.2.3.4]", "sip:host name", "sip:a@b@c",
                            "sip:<a@b>", "sips:?x", "sip:;p"}) {
        EXPECT_FALSE(parse_uri(bad, u)) << bad;
    }
}

// Bytes no URI holds are refused anywhere in it, also in the parts the grammar reads loosely
// (user, parameters, headers): the appliance puts a peer's Contact URI on the wire as a
// Request-URI, and a NUL or CR there would break the message it builds.
TEST(sip_uri, bytes_no_uri_holds) {
    uri u;
    ASSERT_TRUE(parse_uri("sip:carol@198.51.100.30:5060;transport=udp?subject=hi%20there", u));
    for (const std::string& bad :
         {std::string("sip:carol@198.51.100.30?\xbf\x0f", 26), std::string("sip:carol@198.51.100.30?h=\0x", 28),
          std::string("sip:ca\rrol@198.51.100.30"), std::string("sip:carol@198.51.100.30;p=a\nb"),
          std::string("sip:carol@198.51.100.30;p=a\tb"), std::string("sip:caf\xc3\xa9@198.51.100.30"),
          std::string("sip:carol@198.51.100.30?x=\"y\""), std::string("sip:carol@198.51.100.30>"),
          std::string("tel:+1555\x7f")}) {
        EXPECT_FALSE(parse_uri(bad, u)) << bad;
    }
}

TEST(sip_uri, result_is_reset) {
    uri u;
    ASSERT_TRUE(parse_uri("sip:a:b@c:5;p?h", u));
    ASSERT_TRUE(parse_uri("sip:d", u));
    EXPECT_EQ(u.user, "");
    EXPECT_EQ(u.password, "");
    EXPECT_EQ(u.port, 0);
    EXPECT_EQ(u.params, "");
    EXPECT_EQ(u.headers, "");
}

TEST(sip_uri, ipv4) {
    uint32_t a = 0;
    ASSERT_TRUE(parse_ipv4("192.0.2.1", a));
    EXPECT_EQ(a, 0xc0000201u);
    ASSERT_TRUE(parse_ipv4("0.0.0.0", a));
    EXPECT_EQ(a, 0u);
    ASSERT_TRUE(parse_ipv4("255.255.255.255", a));
    EXPECT_EQ(a, 0xffffffffu);
    ASSERT_TRUE(parse_ipv4("010.001.0.9", a));
    EXPECT_EQ(a, 0x0a010009u);
    a = 42;
    for (const char* bad : {"", "1", "1.2.3", "1.2.3.4.", "1.2.3.4.5", "256.0.0.1", "1.2.3.256",
                            "1..2.3", ".1.2.3", "1.2.3.4 ", "a.b.c.d", "1.2.3.0004", "1.2.3.-1",
                            "example.com", "::1", "9999999999.1.1.1"}) {
        EXPECT_FALSE(parse_ipv4(bad, a)) << bad;
    }
    EXPECT_EQ(a, 42u);  // untouched on failure
}
