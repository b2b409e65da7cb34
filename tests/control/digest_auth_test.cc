#include <gtest/gtest.h>

#include "digest_auth.hh"

#include <map>
#include <stdexcept>

using namespace sf::control;

namespace {

// True if `reason` is an error mentioning `what` (so each invalid case is refused for the
// reason the test means, not some earlier accident).
::testing::AssertionResult refused_for(const char* reason, std::string_view what) {
    if (reason == nullptr) {
        return ::testing::AssertionFailure() << "accepted, expected a refusal for \"" << what << "\"";
    }
    if (std::string_view(reason).find(what) == std::string_view::npos) {
        return ::testing::AssertionFailure() << "refused for \"" << reason << "\", expected \"" << what << "\"";
    }
    return ::testing::AssertionSuccess();
}

// The RFC 2617 3.5 example request, with qop=auth.
constexpr std::string_view rfc2617_credentials =
    "Digest username=\"Mufasa\",\r\n"
    "       realm=\"testrealm@host.com\",\r\n"
    "       nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n"
    "       uri=\"/dir/index.html\",\r\n"
    "       qop=auth,\r\n"
    "       nc=00000001,\r\n"
    "       cnonce=\"0a4f113b\",\r\n"
    "       response=\"6629fae49393a05397450978507c4ef1\",\r\n"
    "       opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

// A minimal valid credentials value to mutate in the negative tests.
std::string creds(std::string_view extra_first = "", std::string_view tail =
                  ", qop=auth, nc=00000001, cnonce=\"c\"") {
    std::string s = "Digest ";
    s += extra_first;
    s += "username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:a@b\", response=\"";
    s += std::string(32, 'a');
    s += "\"";
    s += tail;
    return s;
}

struct fake_clock {
    int64_t now = 1'000'000;
    digest_clock fn() {
        return [this] { return now; };
    }
};

// Users: alice has a password, bob only stored HA1s (per algorithm), as the config holds them.
struct directory {
    std::map<std::string, std::string, std::less<>> passwords{{"alice", "wonderland"}};
    std::string bob_ha1_md5 = digest_ha1(digest_algorithm::md5, "bob", "sf.example", "builder");
    std::string bob_ha1_sha256 = digest_ha1(digest_algorithm::sha256, "bob", "sf.example", "builder");
    int lookups = 0;
    std::vector<digest_algorithm> asked;

    digest_lookup fn() {
        return [this](std::string_view user, std::string_view, digest_algorithm a) -> std::optional<digest_secret> {
            ++lookups;
            asked.push_back(a);
            if (auto it = passwords.find(user); it != passwords.end()) {
                return digest_secret{digest_secret::kind::password, it->second};
            }
            if (user == "bob") {
                return digest_secret{digest_secret::kind::ha1,
                                     a == digest_algorithm::md5 ? bob_ha1_md5 : bob_ha1_sha256};
            }
            return std::nullopt;
        };
    }
};

constexpr uint32_t src1 = 0xC0000201;   // 192.0.2.1
constexpr uint32_t src2 = 0xC0000202;

std::string fixed_cnonce() { return "0a4f113b"; }

// Builds credentials for `challenges` as a real UA would.
std::string answer(digest_client& client, const std::vector<std::string>& challenges, std::string_view user,
                   std::string_view pass, std::string_view method = "INVITE",
                   std::string_view uri = "sip:bob@sf.example") {
    std::vector<std::string_view> views(challenges.begin(), challenges.end());
    std::string out;
    const char* err = client.authorize(views, method, uri, user, pass, out);
    EXPECT_EQ(err, nullptr) << err;
    return out;
}

// Credentials with the given nc for a nonce, computed directly (what a UA sending its
// n-th request on one nonce sends).
std::string creds_for(std::string_view nonce, uint32_t nc, digest_algorithm a = digest_algorithm::sha256,
                      std::string_view user = "alice", std::string_view pass = "wonderland",
                      std::string_view realm = "sf.example", digest_qop qop = digest_qop::auth) {
    digest_credentials c;
    c.username = std::string(user);
    c.realm = std::string(realm);
    c.nonce = std::string(nonce);
    c.uri = "sip:bob@sf.example";
    c.algorithm = a;
    c.algorithm_given = true;
    c.qop = qop;
    if (qop != digest_qop::none) {
        c.cnonce = "cafe";
        c.nc = nc;
    }
    const std::string ha1 = digest_ha1(a, user, realm, pass);
    c.response = digest_response({.algorithm = a, .ha1 = ha1, .nonce = nonce, .cnonce = c.cnonce, .nc = c.nc,
                                  .qop = qop, .method = "INVITE", .uri = c.uri, .body = {}});
    return format_digest_credentials(c);
}

std::string nonce_of(const std::string& challenge_value) {
    digest_challenge c;
    EXPECT_EQ(parse_digest_challenge(challenge_value, c), nullptr);
    return c.nonce;
}

}  // namespace

// ---- computation: published vectors -------------------------------------------------------

TEST(digest_compute, rfc2617_section_3_5_example) {
    const std::string ha1 = digest_ha1(digest_algorithm::md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
    EXPECT_EQ(ha1, "939e7578ed9e3c518a452acee763bce9");
    EXPECT_EQ(digest_response({.algorithm = digest_algorithm::md5, .ha1 = ha1,
                               .nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093", .cnonce = "0a4f113b", .nc = 1,
                               .qop = digest_qop::auth, .method = "GET", .uri = "/dir/index.html", .body = {}}),
              "6629fae49393a05397450978507c4ef1");
}

TEST(digest_compute, rfc7616_section_3_9_1_sha256_and_md5) {
    const std::string_view nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const std::string_view cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const std::string ha1 = digest_ha1(digest_algorithm::sha256, "Mufasa", "http-auth@example.org", "Circle of Life");
    EXPECT_EQ(digest_response({.algorithm = digest_algorithm::sha256, .ha1 = ha1, .nonce = nonce, .cnonce = cnonce,
                               .nc = 1, .qop = digest_qop::auth, .method = "GET", .uri = "/dir/index.html",
                               .body = {}}),
              "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    const std::string ha1_md5 = digest_ha1(digest_algorithm::md5, "Mufasa", "http-auth@example.org", "Circle of Life");
    EXPECT_EQ(digest_response({.algorithm = digest_algorithm::md5, .ha1 = ha1_md5, .nonce = nonce, .cnonce = cnonce,
                               .nc = 1, .qop = digest_qop::auth, .method = "GET", .uri = "/dir/index.html",
                               .body = {}}),
              "8ca523f5e9506fed4657c9700eebdbec");
}

// Expected values below were computed independently with coreutils md5sum/sha256sum.
TEST(digest_compute, rfc2069_form_without_qop) {
    const std::string ha1 = digest_ha1(digest_algorithm::md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
    EXPECT_EQ(digest_response({.algorithm = digest_algorithm::md5, .ha1 = ha1,
                               .nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093", .cnonce = "ignored", .nc = 7,
                               .qop = digest_qop::none, .method = "GET", .uri = "/dir/index.html", .body = {}}),
              "670fd8c2df070c60b045671b8b24ff02");
}

TEST(digest_compute, sess_variants_and_auth_int) {
    const std::string ha1 = digest_ha1(digest_algorithm::md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
    EXPECT_EQ(digest_response({.algorithm = digest_algorithm::md5_sess, .ha1 = ha1,
                               .nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093", .cnonce = "0a4f113b", .nc = 1,
                               .qop = digest_qop::auth, .method = "GET", .uri = "/dir/index.html", .body = {}}),
              "8e3825c57e897f5a0dec6c2d4e5059d0");
    const std::string ha1s =
        digest_ha1(digest_algorithm::sha256_sess, "Mufasa", "http-auth@example.org", "Circle of Life");
    EXPECT_EQ(digest_response({.algorithm = digest_algorithm::sha256_sess, .ha1 = ha1s,
                               .nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                               .cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", .nc = 2,
                               .qop = digest_qop::auth, .method = "GET", .uri = "/dir/index.html", .body = {}}),
              "6bb0010aa4bdf46422a798c509ea32e256f27bd37de5cc3bdf8ed51e1d77d650");
    EXPECT_EQ(digest_response({.algorithm = digest_algorithm::md5, .ha1 = ha1,
                               .nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093", .cnonce = "0a4f113b", .nc = 1,
                               .qop = digest_qop::auth_int, .method = "INVITE", .uri = "sip:bob@example.com",
                               .body = "v=0"}),
              "ba7d3aae8dc26e2152713ace5a4cf133");
}

TEST(digest_compute, algorithm_names_round_trip_case_insensitively) {
    for (auto a : {digest_algorithm::md5, digest_algorithm::md5_sess, digest_algorithm::sha256,
                   digest_algorithm::sha256_sess}) {
        digest_algorithm back = a == digest_algorithm::md5 ? digest_algorithm::sha256 : digest_algorithm::md5;
        ASSERT_TRUE(parse_digest_algorithm(digest_algorithm_name(a), back));
        EXPECT_EQ(back, a);
    }
    digest_algorithm a = digest_algorithm::md5;
    EXPECT_TRUE(parse_digest_algorithm("sha-256", a));
    EXPECT_EQ(a, digest_algorithm::sha256);
    EXPECT_FALSE(parse_digest_algorithm("SHA-512-256", a));
    EXPECT_FALSE(parse_digest_algorithm("", a));
    EXPECT_EQ(digest_hash(digest_algorithm::sha256, "").size(), 64u);
    EXPECT_EQ(digest_hash(digest_algorithm::md5, ""), "d41d8cd98f00b204e9800998ecf8427e");
}

// ---- parsing credentials --------------------------------------------------------------------

TEST(digest_parse, rfc2617_credentials_with_folding) {
    digest_credentials c;
    ASSERT_EQ(parse_digest_credentials(rfc2617_credentials, c), nullptr);
    EXPECT_EQ(c.username, "Mufasa");
    EXPECT_EQ(c.realm, "testrealm@host.com");
    EXPECT_EQ(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    EXPECT_EQ(c.uri, "/dir/index.html");
    EXPECT_EQ(c.qop, digest_qop::auth);
    EXPECT_EQ(c.nc, 1u);
    EXPECT_EQ(c.cnonce, "0a4f113b");
    EXPECT_EQ(c.response, "6629fae49393a05397450978507c4ef1");
    ASSERT_TRUE(c.opaque.has_value());
    EXPECT_EQ(*c.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
    EXPECT_EQ(c.algorithm, digest_algorithm::md5);
    EXPECT_FALSE(c.algorithm_given);
    // And the parsed fields reproduce the RFC's response.
    const std::string ha1 = digest_ha1(c.algorithm, c.username, c.realm, "Circle Of Life");
    EXPECT_EQ(digest_response({.algorithm = c.algorithm, .ha1 = ha1, .nonce = c.nonce, .cnonce = c.cnonce,
                               .nc = c.nc, .qop = c.qop, .method = "GET", .uri = c.uri, .body = {}}),
              c.response);
}

TEST(digest_parse, case_insensitive_names_escapes_lws_tokens_and_unknown_params) {
    digest_credentials c;
    const std::string v = "  dIgEsT  USERNAME = \"Mu\\\"fa\\\\sa\" ,Realm=\"r\\x\"  ,  nonce=\"n\",uri=\"sip:a@b\","
                           " Response=\"" + std::string(64, 'A') + "\", ALGORITHM=sha-256, qop=\"auth\","
                           " nc=0000000a, cnonce=\"c\", foo=bar, baz=\"q,\\\"x\"";
    ASSERT_EQ(parse_digest_credentials(v, c), nullptr);
    EXPECT_EQ(c.username, "Mu\"fa\\sa");
    EXPECT_EQ(c.realm, "rx");
    EXPECT_EQ(c.algorithm, digest_algorithm::sha256);
    EXPECT_TRUE(c.algorithm_given);
    EXPECT_EQ(c.response, std::string(64, 'a'));   // normalised to lower case
    EXPECT_EQ(c.qop, digest_qop::auth);
    EXPECT_EQ(c.nc, 10u);
    EXPECT_FALSE(c.opaque.has_value());
    // A folded line inside a quoted string reads as one space.
    ASSERT_EQ(parse_digest_credentials(creds("", ", qop=auth, nc=00000001, cnonce=\"a\r\n\tb\""), c), nullptr);
    EXPECT_EQ(c.cnonce, "a b");
}

TEST(digest_parse, rfc2069_credentials_and_sess_algorithms_parse) {
    digest_credentials c;
    ASSERT_EQ(parse_digest_credentials(creds("", ""), c), nullptr);
    EXPECT_EQ(c.qop, digest_qop::none);
    EXPECT_EQ(c.nc, 0u);
    EXPECT_TRUE(c.cnonce.empty());
    ASSERT_EQ(parse_digest_credentials(creds("algorithm=MD5-sess, "), c), nullptr);
    EXPECT_EQ(c.algorithm, digest_algorithm::md5_sess);
    ASSERT_EQ(parse_digest_credentials(creds("", ", qop=auth-int, nc=ffffffff, cnonce=\"c\""), c), nullptr);
    EXPECT_EQ(c.qop, digest_qop::auth_int);
    EXPECT_EQ(c.nc, 0xffffffffu);
}

TEST(digest_parse, invalid_credentials_each_refused_with_a_reason) {
    digest_credentials c;
    EXPECT_TRUE(refused_for(parse_digest_credentials("Basic dXNlcjpwYXNz", c), "Digest"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest", c), "no parameters"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest,username=\"u\"", c), "whitespace"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("username=\"x\", "), c), "duplicate"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth, nc=00000001, NC=00000002, cnonce=\"c\""), c),
                            "duplicate"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth, nc=0000001, cnonce=\"c\""), c), "nc"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth, nc=000000001, cnonce=\"c\""), c), "nc"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth, nc=0000000g, cnonce=\"c\""), c), "nc"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth, nc=0000000A, cnonce=\"c\""), c), "nc"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth, nc=00000000, cnonce=\"c\""), c),
                            "nc must not be zero"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("algorithm=SHA-512-256, "), c), "unknown algorithm"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth-conf, nc=00000001, cnonce=\"c\""), c),
                            "unknown qop"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth, nc=00000001"), c), "without cnonce"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", qop=auth, cnonce=\"c\""), c), "without nc"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", nc=00000001"), c), "nc without qop"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("", ", cnonce=\"c\""), c), "cnonce without qop"));
    // Missing mandatory parameters.
    const std::string resp = "response=\"" + std::string(32, 'a') + "\"";
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest realm=\"r\", nonce=\"n\", uri=\"u\", " + resp, c),
                            "missing username"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"u\", nonce=\"n\", uri=\"u\", " + resp, c),
                            "missing realm"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"u\", realm=\"r\", uri=\"u\", " + resp, c),
                            "missing nonce"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"u\", realm=\"r\", nonce=\"n\", " + resp, c),
                            "missing uri"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\"", c),
                            "missing response"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(
                                "Digest username=\"u\", realm=\"r\", nonce=\"\", uri=\"u\", " + resp, c),
                            "missing nonce"));
    // Response: wrong length for the algorithm, not hex.
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds("algorithm=SHA-256, "), c), "response"));
    std::string bad_hex = creds();
    bad_hex.replace(bad_hex.find("aaaa"), 1, "z");
    EXPECT_TRUE(refused_for(parse_digest_credentials(bad_hex, c), "response"));
    // Syntax.
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"u", c), "unterminated"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"u\\", c), "unterminated"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(std::string("Digest username=\"a\x01\""), c),
                            "control character"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"a\r\nb\"", c), "line break"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"a\\\xc3\xa9\"", c), "bad escape"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds() + ",", c), "trailing"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds() + ", , x=y", c), "parameter name"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username \"u\"", c), "'='"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=", c), "value"));
    EXPECT_TRUE(refused_for(parse_digest_credentials("Digest username=\"u\" realm=\"r\"", c), "','"));
    EXPECT_TRUE(refused_for(parse_digest_credentials(creds() + ", userhash=maybe", c), "userhash"));
}

TEST(digest_parse, size_and_parameter_count_bounds) {
    digest_credentials c;
    // Just under the limit parses (padding in an unknown parameter), just over does not.
    std::string v = creds();
    const std::string pad_prefix = ", x=\"";
    std::string fits = v + pad_prefix + std::string(digest_max_header - v.size() - pad_prefix.size() - 1, 'p') + "\"";
    ASSERT_EQ(fits.size(), digest_max_header);
    EXPECT_EQ(parse_digest_credentials(fits, c), nullptr);
    std::string over = v + pad_prefix + std::string(digest_max_header - v.size() - pad_prefix.size(), 'p') + "\"";
    EXPECT_TRUE(refused_for(parse_digest_credentials(over, c), "longer than 4096"));

    std::string many = creds();   // 8 parameters
    for (size_t k = 8; k < digest_max_params; ++k) {
        many += ", x" + std::to_string(k) + "=y";
    }
    EXPECT_EQ(parse_digest_credentials(many, c), nullptr);
    EXPECT_TRUE(refused_for(parse_digest_credentials(many + ", last=y", c), "too many"));
}

TEST(digest_parse, format_round_trips_values_needing_escapes) {
    digest_credentials c;
    c.username = "a\"b\\c\td\x01";
    c.realm = "r e";
    c.nonce = "n";
    c.uri = "sip:x@y;transport=udp";
    c.response = std::string(64, 'b');
    c.algorithm = digest_algorithm::sha256;
    c.algorithm_given = true;
    c.qop = digest_qop::auth;
    c.cnonce = "c\"n";
    c.nc = 0x1234abcd;
    c.opaque = "";
    const std::string text = format_digest_credentials(c);
    EXPECT_NE(text.find("nc=1234abcd"), std::string::npos);
    digest_credentials back;
    ASSERT_EQ(parse_digest_credentials(text, back), nullptr) << text;
    EXPECT_EQ(back, c);
    // A line break in a value can never reach the wire.
    c.username = "evil\r\nVia: x";
    EXPECT_EQ(format_digest_credentials(c).find_first_of("\r\n"), std::string::npos);
}

// ---- parsing challenges ---------------------------------------------------------------------

TEST(digest_parse, challenges) {
    digest_challenge c;
    ASSERT_EQ(parse_digest_challenge("Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\",\r\n"
                                     "  algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n"
                                     "  opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
                                     c),
              nullptr);
    EXPECT_EQ(c.realm, "http-auth@example.org");
    EXPECT_EQ(c.algorithm, digest_algorithm::sha256);
    EXPECT_TRUE(c.qop_given);
    EXPECT_TRUE(c.qop_auth);
    EXPECT_TRUE(c.qop_auth_int);
    EXPECT_FALSE(c.stale);
    ASSERT_TRUE(c.opaque.has_value());
    EXPECT_EQ(*c.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");

    ASSERT_EQ(parse_digest_challenge("digest REALM=\"r\", Nonce=\"n\", STALE=TRUE, qop=\"auth-conf,,auth\", "
                                     "domain=\"sip:a sip:b\", charset=utf-8, userhash=false",
                                     c),
              nullptr);
    EXPECT_TRUE(c.stale);
    EXPECT_TRUE(c.qop_auth);
    EXPECT_FALSE(c.qop_auth_int);   // auth-conf is unknown: ignored
    EXPECT_EQ(c.algorithm, digest_algorithm::md5);
    EXPECT_FALSE(c.algorithm_given);
    EXPECT_EQ(c.domain.value_or(""), "sip:a sip:b");
    EXPECT_TRUE(c.charset_utf8);
    digest_challenge back;
    ASSERT_EQ(parse_digest_challenge(format_digest_challenge(c), back), nullptr);
    EXPECT_EQ(back, c);

    ASSERT_EQ(parse_digest_challenge("Digest realm=\"r\", nonce=\"n\"", c), nullptr);
    EXPECT_FALSE(c.qop_given);   // RFC 2069 challenge

    EXPECT_TRUE(refused_for(parse_digest_challenge("Digest nonce=\"n\"", c), "missing realm"));
    EXPECT_TRUE(refused_for(parse_digest_challenge("Digest realm=\"r\"", c), "missing nonce"));
    EXPECT_TRUE(refused_for(parse_digest_challenge("Digest realm=\"r\", nonce=\"n\", realm=\"s\"", c), "duplicate"));
    EXPECT_TRUE(refused_for(parse_digest_challenge("Digest realm=\"r\", nonce=\"n\", stale=yes", c), "stale"));
    EXPECT_TRUE(refused_for(parse_digest_challenge("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256", c),
                            "unknown algorithm"));
    EXPECT_TRUE(refused_for(parse_digest_challenge("Digest realm=\"r\", nonce=\"n\", qop=\"auth;x\"", c), "qop"));
    EXPECT_TRUE(refused_for(parse_digest_challenge("Digest realm=\"r\", nonce=\"n\", charset=latin1", c), "charset"));
    EXPECT_TRUE(refused_for(parse_digest_challenge("Basic realm=\"r\"", c), "Digest"));
}

// ---- server ---------------------------------------------------------------------------------

TEST(digest_server, challenge_offers_sha256_then_md5_with_one_nonce) {
    fake_clock clock;
    digest_server server({}, clock.fn());
    const auto values = server.challenge("sf.example");
    ASSERT_EQ(values.size(), 2u);
    digest_challenge first, second;
    ASSERT_EQ(parse_digest_challenge(values[0], first), nullptr);
    ASSERT_EQ(parse_digest_challenge(values[1], second), nullptr);
    EXPECT_EQ(first.algorithm, digest_algorithm::sha256);
    EXPECT_EQ(second.algorithm, digest_algorithm::md5);
    EXPECT_TRUE(second.algorithm_given);
    EXPECT_EQ(first.nonce, second.nonce);
    EXPECT_EQ(first.realm, "sf.example");
    EXPECT_TRUE(first.qop_auth);
    EXPECT_FALSE(first.stale);
    EXPECT_NE(server.challenge("sf.example")[0], values[0]);   // fresh nonce every time
    digest_challenge s;
    ASSERT_EQ(parse_digest_challenge(server.challenge("sf.example", true)[0], s), nullptr);
    EXPECT_TRUE(s.stale);
    EXPECT_THROW(digest_server({.algorithms = {digest_algorithm::md5_sess}}, clock.fn()), std::invalid_argument);
    EXPECT_THROW(digest_server({.algorithms = {}}, clock.fn()), std::invalid_argument);
}

TEST(digest_server, round_trip_with_the_client_sha256_and_md5) {
    fake_clock clock;
    directory dir;
    digest_server server({}, clock.fn());
    digest_client client(fixed_cnonce);

    const auto values = server.challenge("sf.example");
    const std::string cr = answer(client, values, "alice", "wonderland");
    digest_credentials parsed;
    ASSERT_EQ(parse_digest_credentials(cr, parsed), nullptr);
    EXPECT_EQ(parsed.algorithm, digest_algorithm::sha256);   // the stronger one was picked
    EXPECT_EQ(parsed.cnonce, "0a4f113b");
    const auto v = server.verify("INVITE", cr, dir.fn(), src1, "sip:bob@sf.example");
    EXPECT_EQ(v.outcome, digest_outcome::ok) << v.reason;
    EXPECT_EQ(v.username, "alice");
    EXPECT_EQ(v.realm, "sf.example");
    ASSERT_FALSE(dir.asked.empty());
    EXPECT_EQ(dir.asked.back(), digest_algorithm::sha256);

    // An MD5-only UA (it only understood the second header) and a user stored as HA1.
    const auto md5_only = std::vector<std::string>{server.challenge("sf.example")[1]};
    const auto v2 = server.verify("INVITE", answer(client, md5_only, "bob", "builder"), dir.fn(), src1);
    EXPECT_EQ(v2.outcome, digest_outcome::ok) << v2.reason;
    EXPECT_EQ(dir.asked.back(), digest_algorithm::md5);
    EXPECT_EQ(server.failures(src1), 0u);

    // The method is part of the digest: the same credentials on a BYE do not verify.
    const std::string again = answer(client, values, "alice", "wonderland", "INVITE");
    EXPECT_EQ(server.verify("BYE", again, dir.fn(), src1).outcome, digest_outcome::wrong_response);
}

TEST(digest_server, tampered_foreign_or_other_realm_nonce_is_bad_nonce) {
    fake_clock clock;
    directory dir;
    digest_server server({}, clock.fn());
    const std::string nonce = nonce_of(server.challenge("sf.example")[0]);
    ASSERT_EQ(nonce.size(), 64u);

    // Flip one character of the random part and of the timestamp part: the digest is
    // recomputed over the altered nonce, so only the MAC can tell.
    for (size_t pos : {0u, 20u, 40u, 63u}) {
        std::string t = nonce;
        t[pos] = t[pos] == '0' ? '1' : '0';
        const auto v = server.verify("INVITE", creds_for(t, 1), dir.fn(), src1);
        EXPECT_EQ(v.outcome, digest_outcome::bad_nonce) << pos;
    }
    EXPECT_EQ(server.verify("INVITE", creds_for("not-a-nonce", 1), dir.fn(), src1).outcome,
              digest_outcome::bad_nonce);
    // Issued for another realm.
    const std::string other = nonce_of(server.challenge("other.example")[0]);
    EXPECT_EQ(server.verify("INVITE", creds_for(other, 1), dir.fn(), src1).outcome, digest_outcome::bad_nonce);
    // Issued by another server (another secret).
    digest_server stranger({}, clock.fn());
    const std::string foreign = nonce_of(stranger.challenge("sf.example")[0]);
    EXPECT_EQ(server.verify("INVITE", creds_for(foreign, 1), dir.fn(), src1).outcome, digest_outcome::bad_nonce);
    // The untouched nonce works, so the failures above were the nonce's doing.
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 1), dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(server.failures(src1), 7u);
}

TEST(digest_server, a_configured_secret_keeps_nonces_valid_across_instances) {
    fake_clock clock;
    directory dir;
    digest_server a({}, clock.fn(), "configured secret");
    digest_server b({}, clock.fn(), "configured secret");
    digest_server c({}, clock.fn(), "another secret");
    const std::string nonce = nonce_of(a.challenge("sf.example")[0]);
    EXPECT_EQ(b.verify("INVITE", creds_for(nonce, 1), dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(c.verify("INVITE", creds_for(nonce, 1), dir.fn(), src1).outcome, digest_outcome::bad_nonce);
}

TEST(digest_server, expired_nonce_is_stale_only_with_a_right_digest) {
    fake_clock clock;
    directory dir;
    digest_server server({.nonce_lifetime_ms = 300'000}, clock.fn());
    const std::string nonce = nonce_of(server.challenge("sf.example")[0]);

    clock.now += 299'999;
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 1), dir.fn(), src1).outcome, digest_outcome::ok);
    clock.now += 1;
    const auto v = server.verify("INVITE", creds_for(nonce, 2), dir.fn(), src1);
    EXPECT_EQ(v.outcome, digest_outcome::stale);
    EXPECT_EQ(v.username, "alice");
    EXPECT_EQ(server.failures(src1), 0u);   // stale is not a failure
    // Wrong password on an expired nonce: not stale (RFC 7616 3.3), a plain failure.
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 3, digest_algorithm::sha256, "alice", "guess"), dir.fn(), src1)
                  .outcome,
              digest_outcome::wrong_response);
    // A fresh challenge works again.
    const std::string fresh = nonce_of(server.challenge("sf.example", true)[0]);
    EXPECT_EQ(server.verify("INVITE", creds_for(fresh, 1), dir.fn(), src1).outcome, digest_outcome::ok);
}

TEST(digest_server, replayed_or_non_increasing_nc_is_replay) {
    fake_clock clock;
    directory dir;
    digest_server server({}, clock.fn());
    const std::string nonce = nonce_of(server.challenge("sf.example")[0]);
    const std::string first = creds_for(nonce, 1);
    EXPECT_EQ(server.verify("INVITE", first, dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(server.verify("INVITE", first, dir.fn(), src1).outcome, digest_outcome::replay);
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 2), dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 5), dir.fn(), src1).outcome, digest_outcome::ok);   // gap ok
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 4), dir.fn(), src1).outcome, digest_outcome::replay);
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 5), dir.fn(), src1).outcome, digest_outcome::replay);
    EXPECT_EQ(server.failures(src1), 3u);
    // Garbage with a high nc must not advance the count: nc 6 still works afterwards.
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 9, digest_algorithm::sha256, "alice", "guess"), dir.fn(), src1)
                  .outcome,
              digest_outcome::wrong_response);
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 6), dir.fn(), src1).outcome, digest_outcome::ok);
}

TEST(digest_server, nonce_without_qop_is_good_once_and_can_be_refused) {
    fake_clock clock;
    directory dir;
    digest_server server({}, clock.fn());
    const std::string nonce = nonce_of(server.challenge("sf.example")[1]);
    const std::string c = creds_for(nonce, 0, digest_algorithm::md5, "alice", "wonderland", "sf.example",
                                    digest_qop::none);
    EXPECT_EQ(server.verify("INVITE", c, dir.fn(), src1).outcome, digest_outcome::ok);
    const auto again = server.verify("INVITE", c, dir.fn(), src1);
    EXPECT_EQ(again.outcome, digest_outcome::replay);
    EXPECT_TRUE(refused_for(again.reason, "without qop"));
    // Nor can the same nonce be continued with qop afterwards.
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 1, digest_algorithm::md5), dir.fn(), src1).outcome,
              digest_outcome::replay);

    digest_server strict({.allow_no_qop = false}, clock.fn());
    const std::string n2 = nonce_of(strict.challenge("sf.example")[1]);
    const auto v = strict.verify("INVITE", creds_for(n2, 0, digest_algorithm::md5, "alice", "wonderland",
                                                     "sf.example", digest_qop::none),
                                 dir.fn(), src1);
    EXPECT_EQ(v.outcome, digest_outcome::malformed);
    EXPECT_TRUE(refused_for(v.reason, "qop"));
}

TEST(digest_server, wrong_password_and_unknown_user_differ_only_in_the_enum) {
    fake_clock clock;
    directory dir;
    digest_server server({}, clock.fn());
    const std::string nonce = nonce_of(server.challenge("sf.example")[0]);
    const auto wrong = server.verify("INVITE", creds_for(nonce, 1, digest_algorithm::sha256, "alice", "guess"),
                                     dir.fn(), src1);
    EXPECT_EQ(wrong.outcome, digest_outcome::wrong_response);
    EXPECT_EQ(wrong.username, "alice");
    const int lookups_before = dir.lookups;
    const auto unknown = server.verify("INVITE", creds_for(nonce, 2, digest_algorithm::sha256, "mallory", "guess"),
                                       dir.fn(), src1);
    EXPECT_EQ(unknown.outcome, digest_outcome::unknown_user);
    EXPECT_EQ(unknown.username, "mallory");
    EXPECT_EQ(dir.lookups, lookups_before + 1);
    // Both count as failures of the source (the B2BUA answers both with the same 403).
    EXPECT_EQ(server.failures(src1), 2u);
    // Neither consumed the nonce: alice's real nc=1 still works.
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 1), dir.fn(), src1).outcome, digest_outcome::ok);
    // A user without a secret for the chosen algorithm is unknown too.
    directory none;
    none.passwords.clear();
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 3, digest_algorithm::sha256, "carol", "x"), none.fn(), src1)
                  .outcome,
              digest_outcome::unknown_user);
}

TEST(digest_server, policy_refusals_are_malformed) {
    fake_clock clock;
    directory dir;
    digest_server server({}, clock.fn());
    const std::string nonce = nonce_of(server.challenge("sf.example")[0]);
    auto outcome = [&](const std::string& c, std::string_view uri = {}) {
        return server.verify("INVITE", c, dir.fn(), src2, uri);
    };
    EXPECT_EQ(outcome("Digest garbage").outcome, digest_outcome::malformed);
    EXPECT_EQ(outcome(creds_for(nonce, 1, digest_algorithm::sha256_sess)).outcome, digest_outcome::malformed);
    EXPECT_EQ(outcome(creds_for(nonce, 1, digest_algorithm::sha256, "alice", "wonderland", "sf.example",
                                digest_qop::auth_int))
                  .outcome,
              digest_outcome::malformed);
    const auto mismatch = outcome(creds_for(nonce, 1), "sip:carol@sf.example");
    EXPECT_EQ(mismatch.outcome, digest_outcome::malformed);
    EXPECT_TRUE(refused_for(mismatch.reason, "Request-URI"));
    EXPECT_EQ(server.failures(src2), 4u);
    digest_server md5_only({.algorithms = {digest_algorithm::md5}}, clock.fn());
    const std::string n2 = nonce_of(md5_only.challenge("sf.example")[0]);
    EXPECT_EQ(md5_only.verify("INVITE", creds_for(n2, 1, digest_algorithm::sha256), dir.fn(), src2).outcome,
              digest_outcome::malformed);
    EXPECT_EQ(outcome(creds_for(nonce, 1), "sip:bob@sf.example").outcome, digest_outcome::ok);
}

TEST(digest_server, failures_are_counted_per_source_per_window) {
    fake_clock clock;
    directory dir;
    digest_server server({.failure_window_ms = 60'000}, clock.fn());
    const std::string nonce = nonce_of(server.challenge("sf.example")[0]);
    const std::string bad = creds_for(nonce, 1, digest_algorithm::sha256, "alice", "guess");
    for (int k = 0; k < 3; ++k) {
        server.verify("INVITE", bad, dir.fn(), src1);
    }
    server.verify("INVITE", bad, dir.fn(), src2);
    EXPECT_EQ(server.failures(src1), 3u);
    EXPECT_EQ(server.failures(src2), 1u);
    EXPECT_EQ(server.failures(0x0A000001), 0u);
    // A success does not reset the count.
    EXPECT_EQ(server.verify("INVITE", creds_for(nonce, 1), dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(server.failures(src1), 3u);
    clock.now += 59'999;
    EXPECT_EQ(server.failures(src1), 3u);
    clock.now += 1;
    EXPECT_EQ(server.failures(src1), 0u);   // the window passed
    server.verify("INVITE", bad, dir.fn(), src1);
    EXPECT_EQ(server.failures(src1), 1u);   // a new window starts
    server.clear_failures(src1);
    EXPECT_EQ(server.failures(src1), 0u);
}

TEST(digest_server, failure_table_is_bounded_and_evicts_the_least_recent) {
    fake_clock clock;
    directory dir;
    digest_server server({.max_sources = 3}, clock.fn());
    for (uint32_t s = 1; s <= 3; ++s) {
        server.verify("INVITE", "junk", dir.fn(), s);
        clock.now += 10;
    }
    server.verify("INVITE", "junk", dir.fn(), 1);   // 1 is now the most recent
    server.verify("INVITE", "junk", dir.fn(), 4);   // evicts 2, the least recent
    EXPECT_EQ(server.sources_tracked(), 3u);
    EXPECT_EQ(server.failures(1), 2u);
    EXPECT_EQ(server.failures(2), 0u);
    EXPECT_EQ(server.failures(3), 1u);
    EXPECT_EQ(server.failures(4), 1u);
    for (uint32_t s = 100; s < 200; ++s) {
        server.verify("INVITE", "junk", dir.fn(), s);
    }
    EXPECT_EQ(server.sources_tracked(), 3u);
}

TEST(digest_server, nonce_table_is_bounded_and_eviction_never_reopens_replay) {
    fake_clock clock;
    directory dir;
    digest_server server({.nonce_lifetime_ms = 1000, .max_nonces = 2}, clock.fn());
    std::vector<std::string> nonces;
    for (int k = 0; k < 3; ++k) {
        nonces.push_back(nonce_of(server.challenge("sf.example")[0]));
        clock.now += 10;
    }
    EXPECT_EQ(server.verify("INVITE", creds_for(nonces[0], 1), dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(server.verify("INVITE", creds_for(nonces[1], 1), dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(server.nonces_tracked(), 2u);
    EXPECT_EQ(server.verify("INVITE", creds_for(nonces[2], 1), dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(server.nonces_tracked(), 2u);   // nonces[0] was evicted
    // Replaying nonces[0]'s first request must not succeed now that it is untracked.
    EXPECT_EQ(server.verify("INVITE", creds_for(nonces[0], 1), dir.fn(), src1).outcome, digest_outcome::stale);
    EXPECT_EQ(server.verify("INVITE", creds_for(nonces[1], 1), dir.fn(), src1).outcome, digest_outcome::replay);
    // Entries go when their nonces expire.
    clock.now += 1000;
    const std::string fresh = nonce_of(server.challenge("sf.example")[0]);
    EXPECT_EQ(server.verify("INVITE", creds_for(fresh, 1), dir.fn(), src1).outcome, digest_outcome::ok);
    EXPECT_EQ(server.nonces_tracked(), 1u);
}

// ---- client ---------------------------------------------------------------------------------

TEST(digest_client, reproduces_the_rfc7616_sha256_example) {
    digest_client client([] { return std::string("f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"); });
    const std::vector<std::string> challenges = {
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, "
        "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, "
        "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    };
    const std::string out = answer(client, challenges, "Mufasa", "Circle of Life", "GET", "/dir/index.html");
    digest_credentials c;
    ASSERT_EQ(parse_digest_credentials(out, c), nullptr) << out;
    EXPECT_EQ(c.algorithm, digest_algorithm::sha256);   // stronger, though listed second
    EXPECT_EQ(c.response, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
    EXPECT_EQ(c.opaque.value_or(""), "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
    EXPECT_EQ(c.qop, digest_qop::auth);
    EXPECT_EQ(c.nc, 1u);
    EXPECT_EQ(c.uri, "/dir/index.html");
}

TEST(digest_client, nc_counts_per_nonce_and_rfc2069_form_when_no_qop) {
    digest_client client(fixed_cnonce);
    const std::vector<std::string> a = {"Digest realm=\"r\", nonce=\"A\", qop=\"auth\""};
    const std::vector<std::string> b = {"Digest realm=\"r\", nonce=\"B\", qop=\"auth\""};
    digest_credentials c;
    ASSERT_EQ(parse_digest_credentials(answer(client, a, "u", "p"), c), nullptr);
    EXPECT_EQ(c.nc, 1u);
    ASSERT_EQ(parse_digest_credentials(answer(client, a, "u", "p"), c), nullptr);
    EXPECT_EQ(c.nc, 2u);
    ASSERT_EQ(parse_digest_credentials(answer(client, b, "u", "p"), c), nullptr);
    EXPECT_EQ(c.nc, 1u);
    ASSERT_EQ(parse_digest_credentials(answer(client, a, "u", "p"), c), nullptr);
    EXPECT_EQ(c.nc, 3u);

    const std::vector<std::string> old = {"Digest realm=\"testrealm@host.com\", "
                                          "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\""};
    const std::string out = answer(client, old, "Mufasa", "Circle Of Life", "GET", "/dir/index.html");
    ASSERT_EQ(parse_digest_credentials(out, c), nullptr);
    EXPECT_EQ(c.qop, digest_qop::none);
    EXPECT_EQ(out.find("cnonce"), std::string::npos);
    EXPECT_EQ(out.find("nc="), std::string::npos);
    EXPECT_EQ(c.response, "670fd8c2df070c60b045671b8b24ff02");
}

TEST(digest_client, skips_what_it_cannot_answer) {
    digest_client client(fixed_cnonce);
    std::string out;
    std::vector<std::string_view> none = {"Basic realm=\"r\"", "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"};
    EXPECT_TRUE(refused_for(client.authorize(none, "INVITE", "sip:a@b", "u", "p", out), "unknown algorithm"));
    std::vector<std::string_view> int_only = {"Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\""};
    EXPECT_TRUE(refused_for(client.authorize(int_only, "INVITE", "sip:a@b", "u", "p", out), "qop"));
    std::vector<std::string_view> empty;
    EXPECT_NE(client.authorize(empty, "INVITE", "sip:a@b", "u", "p", out), nullptr);
    EXPECT_TRUE(out.empty());
    // An unusable header among usable ones is skipped; a line break in the username is refused.
    std::vector<std::string_view> mixed = {"Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256",
                                           "Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess, qop=\"auth\""};
    ASSERT_EQ(client.authorize(mixed, "INVITE", "sip:a@b", "u", "p", out), nullptr);
    digest_credentials c;
    ASSERT_EQ(parse_digest_credentials(out, c), nullptr);
    EXPECT_EQ(c.algorithm, digest_algorithm::md5_sess);
    EXPECT_NE(client.authorize(mixed, "INVITE", "sip:a@b", "u\r\nX: y", "p", out), nullptr);
}

TEST(digest_client, userhash_sends_the_hashed_username) {
    digest_client client(fixed_cnonce);
    const std::vector<std::string> ch = {"Digest realm=\"r\", nonce=\"n\", qop=\"auth\", algorithm=SHA-256, userhash=true"};
    digest_credentials c;
    ASSERT_EQ(parse_digest_credentials(answer(client, ch, "Mufasa", "p"), c), nullptr);
    EXPECT_TRUE(c.userhash);
    EXPECT_EQ(c.username, digest_hash(digest_algorithm::sha256, "Mufasa:r"));
    // The response still uses the real username in HA1.
    const std::string ha1 = digest_ha1(digest_algorithm::sha256, "Mufasa", "r", "p");
    EXPECT_EQ(c.response, digest_response({.algorithm = digest_algorithm::sha256, .ha1 = ha1, .nonce = "n",
                                           .cnonce = "0a4f113b", .nc = 1, .qop = digest_qop::auth,
                                           .method = "INVITE", .uri = "sip:bob@sf.example", .body = {}}));
}
