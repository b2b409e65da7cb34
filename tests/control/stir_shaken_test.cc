// STIR/SHAKEN signing (control/stir_shaken.hh): telephone numbers as PASSporTs carry them, the
// PASSporT's JSON, base64url, the key checks, and Identity headers whose ES256 signature a
// verifier that shares no code with the signer accepts (tests/control/stir_keys.hh).

#include "stir_shaken.hh"

#include <gtest/gtest.h>

#include <set>

#include "stir_keys.hh"

using namespace sf::control;

TEST(canonical_tn, keeps_the_digits_of_a_telephone_number) {
    EXPECT_EQ(canonical_tn("+12155551212"), "12155551212");
    EXPECT_EQ(canonical_tn("12155551212"), "12155551212");
    EXPECT_EQ(canonical_tn("+1-215-555-1212"), "12155551212");
    EXPECT_EQ(canonical_tn("(215).555.1212"), "2155551212");
    EXPECT_EQ(canonical_tn("+4930123400"), "4930123400");
    EXPECT_EQ(canonical_tn("123456789012345"), "123456789012345") << "E.164's 15 digits";
}

TEST(canonical_tn, refuses_what_is_no_telephone_number) {
    for (const char* user : {"", "+", "alice", "anonymous", "1234;phone-context=x", "12 34", "++1234", "1234+",
                             "1234567890123456", "12a4", "*67123", "#31#1234", "-.()"}) {
        EXPECT_EQ(canonical_tn(user), "") << user;
    }
}

TEST(passport, json_is_the_form_that_is_signed) {
    EXPECT_EQ(passport_header_json("https://cert.example.org/passport.pem"),
              R"({"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://cert.example.org/passport.pem"})");
    passport_claims c;
    c.attest = 'A';
    c.orig_tn = "12155551212";
    c.dest_tn = "12355551212";
    c.iat = 1443208345;
    c.origid = "123e4567-e89b-12d3-a456-426655440000";
    // RFC 8588's example claims, keys in lexicographic order, no white space (RFC 8225 9).
    EXPECT_EQ(passport_payload_json(c),
              R"({"attest":"A","dest":{"tn":["12355551212"]},"iat":1443208345,"orig":{"tn":"12155551212"},)"
              R"("origid":"123e4567-e89b-12d3-a456-426655440000"})");
}

TEST(passport, base64url_has_the_url_alphabet_and_no_padding) {
    // RFC 4648 10's vectors, without the '='.
    EXPECT_EQ(base64url(""), "");
    EXPECT_EQ(base64url("f"), "Zg");
    EXPECT_EQ(base64url("fo"), "Zm8");
    EXPECT_EQ(base64url("foo"), "Zm9v");
    EXPECT_EQ(base64url("foob"), "Zm9vYg");
    EXPECT_EQ(base64url("fooba"), "Zm9vYmE");
    EXPECT_EQ(base64url("foobar"), "Zm9vYmFy");
    EXPECT_EQ(base64url(std::string("\xfb\xff\xbf", 3)), "-_-_");
    std::string back;
    const std::string bytes("\x00\x01\xfe\xff\x80", 5);
    ASSERT_TRUE(sf::test::base64url_decode(base64url(bytes), back));
    EXPECT_EQ(back, bytes);
}

TEST(passport, origids_are_version_4_uuids_and_differ) {
    std::set<std::string> seen;
    for (int i = 0; i < 64; ++i) {
        const std::string u = random_uuid();
        ASSERT_EQ(u.size(), 36u) << u;
        for (size_t k : {8u, 13u, 18u, 23u}) {
            EXPECT_EQ(u[k], '-') << u;
        }
        EXPECT_EQ(u[14], '4') << u;
        EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos) << u;
        EXPECT_EQ(u.find_first_not_of("0123456789abcdef-"), std::string::npos) << u;
        seen.insert(u);
    }
    EXPECT_EQ(seen.size(), 64u);
}

TEST(passport, x5u_must_be_a_url_that_fits_in_the_header) {
    EXPECT_TRUE(valid_x5u("https://cert.example.org/passport.pem"));
    EXPECT_TRUE(valid_x5u("http://192.0.2.5/sp.pem"));
    for (const char* bad : {"", "https://", "ftp://x/y", "cert.example.org/a.pem", "https://a b/c", "https://a/b;c",
                            "https://a/<b>", "https://a/\"b\""}) {
        EXPECT_FALSE(valid_x5u(bad)) << bad;
    }
}

TEST(identity_signer, takes_only_an_ec_p256_private_key) {
    std::string why;
    EXPECT_EQ(identity_signer::from_pem("nonsense", "https://c.example/a.pem", why), nullptr);
    EXPECT_EQ(why, "not a PEM private key");
    for (const char* kind : {"P-384", "RSA"}) {
        why.clear();
        const std::string pem = sf::test::private_key_pem(kind);
        ASSERT_FALSE(pem.empty()) << kind;
        EXPECT_EQ(identity_signer::from_pem(pem, "https://c.example/a.pem", why), nullptr) << kind;
        EXPECT_NE(why.find("P-256"), std::string::npos) << why;
    }
    why.clear();
    EXPECT_NE(identity_signer::from_pem(sf::test::private_key_pem("P-256"), "https://c.example/a.pem", why), nullptr)
        << why;
}

TEST(identity_signer, signs_a_passport_that_verifies_and_only_as_it_was) {
    const std::string pem = sf::test::private_key_pem("P-256");
    std::string why;
    auto signer = identity_signer::from_pem(pem, "https://cert.example.org/passport.pem", why);
    ASSERT_NE(signer, nullptr) << why;
    passport_claims c{'B', "4930123400", "15551234", 1796530000, "0b1c4d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"};
    const std::string value = signer->identity(c);
    const auto parts = sf::test::check_identity(value, pem);
    EXPECT_TRUE(parts.verified) << parts.error << ": " << value;
    EXPECT_EQ(parts.header, passport_header_json("https://cert.example.org/passport.pem"));
    EXPECT_EQ(parts.payload, passport_payload_json(c));
    EXPECT_EQ(parts.params, ";info=<https://cert.example.org/passport.pem>;alg=ES256;ppt=shaken");
    // ECDSA signs with a fresh nonce: two signatures differ, both verify.
    const std::string again = signer->identity(c);
    EXPECT_NE(again, value);
    EXPECT_TRUE(sf::test::check_identity(again, pem).verified);
    // Another number in the claims, the same signature: refused; another key: refused.
    c.orig_tn = "4930123499";
    const std::string forged = base64url(passport_header_json(signer->x5u())) + "." +
                               base64url(passport_payload_json(c)) + value.substr(value.rfind('.'));
    EXPECT_FALSE(sf::test::check_identity(forged, pem).verified);
    EXPECT_FALSE(sf::test::check_identity(value, sf::test::private_key_pem("P-256")).verified);
}

TEST(passport, a_received_identity_is_passed_on_only_as_one_printable_line) {
    EXPECT_TRUE(passable_identity("a.b.c;info=<https://x.example/c.pem>;alg=ES256;ppt=shaken"));
    EXPECT_TRUE(passable_identity(std::string(4096, 'a')));
    EXPECT_FALSE(passable_identity(""));
    EXPECT_FALSE(passable_identity(std::string(4097, 'a')));
    EXPECT_FALSE(passable_identity("a.b.c\r\nX-Injected: 1"));
    EXPECT_FALSE(passable_identity("a.b.c\t"));
    EXPECT_FALSE(passable_identity("a.b.\xc3\xa9"));
}

TEST(passport, a_div_passport_has_rfc_8946s_claims) {
    EXPECT_EQ(passport_header_json("https://cert.example.org/p.pem", "div"),
              R"({"alg":"ES256","ppt":"div","typ":"passport","x5u":"https://cert.example.org/p.pem"})");
    EXPECT_EQ(passport_payload_json(div_claims{"15550100", "15551234", "15557009", 1790000000}),
              R"({"dest":{"tn":["15551234"]},"div":{"tn":"15557009"},"iat":1790000000,"orig":{"tn":"15550100"}})");
    std::string why;
    const std::string key = sf::test::private_key_pem("P-256");
    const auto signer = identity_signer::from_pem(key, "https://cert.example.org/p.pem", why);
    ASSERT_NE(signer, nullptr) << why;
    const std::string id = signer->identity(div_claims{"15550100", "15551234", "15557009", 1790000000});
    const auto parts = sf::test::check_identity(id, key);
    EXPECT_TRUE(parts.verified) << parts.error;
    EXPECT_EQ(parts.params, ";info=<https://cert.example.org/p.pem>;alg=ES256;ppt=div");
    EXPECT_EQ(parts.payload, passport_payload_json(div_claims{"15550100", "15551234", "15557009", 1790000000}));
}
