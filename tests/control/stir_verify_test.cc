// STIR/SHAKEN verification (control/stir_verify.hh): Identity headers taken apart, certificate
// chains checked and kept by URL, and every reason a PASSporT fails (RFC 8224 6.2, RFC 8588,
// ATIS-1000074). Keys and certificates are made here with OpenSSL (stir_keys.hh); PASSporTs
// with the appliance's signer where it signs them, by hand where it never would.

#include "stir_verify.hh"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <vector>

#include "source_root.hh"
#include "stir_keys.hh"
#include "stir_shaken.hh"

using namespace sf::control;
using sf::test::cert_spec;
using sf::test::certificate_pem;
using sf::test::crl_of;
using sf::test::crl_spec;
using sf::test::private_key_pem;

namespace {

const std::string url = "https://cert.example.net/sp.pem";

int64_t wall_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string b64(std::string_view s) { return base64url(s); }

class verify_test : public ::testing::Test {
protected:
    void SetUp() override {
        root_key_ = private_key_pem("P-256");
        root_ = certificate_pem(root_key_, cert_spec{.subject_cn = "STI-PA test root", .ca = true, .tn_auth_list = false});
        key_ = private_key_pem("P-256");
        cert_ = issued(key_, cert_spec{});
        std::string why;
        verifier_ = identity_verifier::from_pem(root_, 60, why);
        ASSERT_NE(verifier_, nullptr) << why;
        signer_ = identity_signer::from_pem(key_, url, why);
        ASSERT_NE(signer_, nullptr) << why;
        now_ = wall_now();
    }

    std::string issued(const std::string& key, cert_spec spec) {
        spec.subject_cn = "SP 1234";
        spec.issuer_cn = "STI-PA test root";
        spec.issuer_key_pem = root_key_;
        return certificate_pem(key, spec);
    }

    passport_claims claims(char attest = 'A') const {
        return passport_claims{attest, "15550100", "15551234", now_, "8f7e6d5c-4b3a-4291-8877-665544332211"};
    }

    verification check(const std::string& identity, std::string_view orig = "15550100",
                       std::string_view dest = "15551234") const {
        return verifier_->verify({identity}, orig, dest, now_);
    }

    /// A PASSporT with this header and payload, signed with the certificate's key.
    std::string hand_made(const std::string& header, const std::string& payload, const std::string& params) const {
        return sf::test::sign_jws(key_, header, payload, b64) + params;
    }

    std::string header_json() const { return passport_header_json(url); }
    std::string params() const { return ";info=<" + url + ">;alg=ES256;ppt=shaken"; }

    std::string root_key_, root_, key_, cert_;
    std::unique_ptr<identity_verifier> verifier_;
    std::unique_ptr<identity_signer> signer_;
    int64_t now_ = 0;
};

}  // namespace

TEST(base64url_decode, decodes_what_base64url_encodes_and_refuses_the_rest) {
    std::string out;
    for (const std::string& s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\xff\xfe\x00\x01", 4)}) {
        ASSERT_TRUE(base64url_decode(base64url(s), out)) << s;
        EXPECT_EQ(out, s);
    }
    EXPECT_TRUE(base64url_decode("_-8", out));
    EXPECT_EQ(out, "\xff\xef");
    EXPECT_FALSE(base64url_decode("Zm9v=", out)) << "no padding in base64url";
    EXPECT_FALSE(base64url_decode("Zm+v", out)) << "'+' is base64's, not base64url's";
    EXPECT_FALSE(base64url_decode("Z", out)) << "one character encodes nothing";
    EXPECT_FALSE(base64url_decode("Zm9v Zg", out));
}

TEST_F(verify_test, an_identity_header_is_taken_apart) {
    parsed_identity p;
    ASSERT_EQ(parse_identity(signer_->identity(claims('B')), p), "");
    EXPECT_EQ(p.info, url);
    EXPECT_EQ(p.alg_param, "ES256");
    EXPECT_EQ(p.ppt_param, "shaken");
    EXPECT_EQ(p.alg, "ES256");
    EXPECT_EQ(p.ppt, "shaken");
    EXPECT_EQ(p.typ, "passport");
    EXPECT_EQ(p.x5u, url);
    EXPECT_EQ(p.attest, 'B');
    EXPECT_EQ(p.orig_tn, "15550100");
    ASSERT_EQ(p.dest_tns.size(), 1u);
    EXPECT_EQ(p.dest_tns[0], "15551234");
    EXPECT_EQ(p.iat, now_);
    EXPECT_EQ(p.origid, "8f7e6d5c-4b3a-4291-8877-665544332211");
    EXPECT_EQ(p.signature.size(), 64u);

    // Parameters in another order, quoted, spaced, unknown ones, a ';' inside the URL.
    const std::string jws = signer_->identity(claims()).substr(0, signer_->identity(claims()).find(';'));
    ASSERT_EQ(parse_identity(jws + " ; ppt=\"shaken\" ;x-new=1; info=<https://a.example/x;v=2.pem> ;alg=ES256", p), "");
    EXPECT_EQ(p.info, "https://a.example/x;v=2.pem");
    EXPECT_EQ(p.ppt_param, "shaken");

    for (const std::string& bad : std::vector<std::string>{"", jws.substr(0, jws.rfind('.')), jws + ".x", "a..b" + params(),
                                  jws + ";info=https://no.brackets/", jws + ";info=<https://unclosed", "!!.!!.!!",
                                  b64("not json") + "." + b64("{}") + ".c2ln", std::string(5000, 'a'),
                                  jws + "\r\nX-Injected: 1"}) {
        EXPECT_NE(parse_identity(bad, p), "") << bad;
    }
    EXPECT_EQ(parse_identity("a..b" + params(), p), "compact form (no claims): not supported");
}

TEST_F(verify_test, a_signed_call_passes_once_its_certificate_is_known) {
    const std::string id = signer_->identity(claims('B'));
    EXPECT_EQ(verifier_->missing_certificate({id}, now_), url);
    const verification before = check(id);
    EXPECT_EQ(before.status, verstat::failed);
    EXPECT_EQ(before.reason, "certificate_unavailable") << "verified without a certificate";

    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_), "");
    const verification v = check(id);
    EXPECT_EQ(v.status, verstat::passed) << v.reason;
    EXPECT_EQ(v.attest, 'B');
    EXPECT_EQ(v.spc, "1234") << "the signer: its certificate's TNAuthList";
    EXPECT_EQ(v.origid, "8f7e6d5c-4b3a-4291-8877-665544332211");
    EXPECT_EQ(v.ppi, "");
    EXPECT_EQ(stir_reason_header(v), "") << "nothing to tell a signer whose Identity passed";
    EXPECT_EQ(to_string(v.status), "TN-Validation-Passed");
    EXPECT_EQ(to_string(verstat::failed), "TN-Validation-Failed");
    EXPECT_EQ(to_string(verstat::no_validation), "No-TN-Validation");
    EXPECT_EQ(to_string(verstat::not_verified), "");
}

TEST_F(verify_test, a_chain_through_an_intermediate_verifies) {
    const std::string mid_key = private_key_pem("P-256");
    const std::string mid = certificate_pem(mid_key, cert_spec{.subject_cn = "STI-CA test", .issuer_cn = "STI-PA test root",
                                                               .issuer_key_pem = root_key_, .ca = true, .tn_auth_list = false});
    const std::string leaf = certificate_pem(key_, cert_spec{.subject_cn = "SP 1234", .issuer_cn = "STI-CA test",
                                                             .issuer_key_pem = mid_key});
    EXPECT_NE(verifier_->store_certificate(url, leaf, now_, 0), "") << "the intermediate is missing";
    ASSERT_EQ(verifier_->store_certificate(url, leaf + mid, now_, 0), "");
    EXPECT_EQ(check(signer_->identity(claims())).status, verstat::passed);
}

TEST_F(verify_test, certificates_that_cannot_vouch_for_a_number_are_refused) {
    const std::string other_root_key = private_key_pem("P-256");
    struct bad_cert {
        const char* what;
        std::string pem;
    };
    const bad_cert cases[] = {
        {"self-signed", certificate_pem(key_, cert_spec{})},
        {"another root's", certificate_pem(key_, cert_spec{.issuer_cn = "STI-PA test root", .issuer_key_pem = other_root_key})},
        {"no TNAuthList", issued(key_, cert_spec{.tn_auth_list = false})},
        {"a TNAuthList that is no DER", issued(key_, cert_spec{.tn_auth_list_der = std::string("\x30\x05\xa0\x03\x16\x01", 6)})},
        {"an empty TNAuthList", issued(key_, cert_spec{.tn_auth_list_der = std::string("\x30\x00", 2)})},
        {"expired", issued(key_, cert_spec{.not_before_s = -7200, .not_after_s = -3600})},
        {"not yet valid", issued(key_, cert_spec{.not_before_s = 3600, .not_after_s = 7200})},
        {"a P-384 key", issued(private_key_pem("P-384"), cert_spec{})},
        {"no certificate", "-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n"},
        {"empty", ""},
    };
    const std::string id = signer_->identity(claims());
    for (const bad_cert& c : cases) {
        EXPECT_NE(verifier_->store_certificate(url, c.pem, now_, 0), "") << c.what;
        EXPECT_EQ(verifier_->missing_certificate({id}, now_), "") << c.what << ": a failure is kept, not fetched again at once";
        const verification v = check(id);
        EXPECT_EQ(v.status, verstat::failed) << c.what;
        EXPECT_EQ(v.reason, "certificate") << c.what;
    }
    // A failure is asked for again after 30 s; the good certificate then replaces it.
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 31), url);
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    EXPECT_EQ(check(id).status, verstat::passed);
    verifier_->store_failure(url, now_);
    EXPECT_EQ(check(id).reason, "certificate_unavailable") << "a failed fetch replaces what was kept";
}

TEST_F(verify_test, a_certificate_is_kept_as_long_as_it_may_be) {
    const std::string id = signer_->identity(claims());
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 300), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 299), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 300), url) << "Cache-Control max-age=300";
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 3599), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 3600), url) << "an hour without max-age";
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 1), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 59), "") << "at least a minute";
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 999999), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 86400), url) << "at most a day";
    const std::string short_lived = issued(key_, cert_spec{.not_after_s = 120});
    ASSERT_EQ(verifier_->store_certificate(url, short_lived, now_, 0), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 200), url) << "never beyond notAfter";
}

TEST_F(verify_test, every_way_a_passport_fails_has_its_reason) {
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    auto reason = [&](const std::string& id, std::string_view orig = "15550100", std::string_view dest = "15551234") {
        const verification v = check(id, orig, dest);
        EXPECT_EQ(v.status, verstat::failed) << id;
        return v.reason;
    };
    passport_claims old = claims();
    old.iat = now_ - 61;
    EXPECT_EQ(reason(signer_->identity(old)), "stale");
    passport_claims early = claims();
    early.iat = now_ + 61;
    EXPECT_EQ(reason(signer_->identity(early)), "stale") << "from the future";
    old.iat = now_ - 60;
    EXPECT_EQ(check(signer_->identity(old)).status, verstat::passed) << "60 s is still fresh";

    const std::string good = signer_->identity(claims());
    EXPECT_EQ(reason(good, "15550199"), "orig_mismatch");
    EXPECT_EQ(reason(good, ""), "orig_mismatch") << "a From that is no number";
    EXPECT_EQ(reason(good, "15550100", "15559999"), "dest_mismatch");

    // Claims changed after signing: the numbers match the call, the signature not.
    const std::string forged_claims = passport_payload_json(passport_claims{'A', "15550100", "15551234", now_, "x"});
    const size_t d1 = good.find('.'), d2 = good.find('.', d1 + 1);
    EXPECT_EQ(reason(good.substr(0, d1 + 1) + b64(forged_claims) + good.substr(d2)), "bad_signature");
    // Signed with another key than the certificate's.
    const std::string stranger = private_key_pem("P-256");
    std::string why;
    EXPECT_EQ(reason(identity_signer::from_pem(stranger, url, why)->identity(claims())), "bad_signature");
    // Another certificate than the info parameter says.
    EXPECT_EQ(reason(good.substr(0, good.find(';')) + ";info=<https://other.example/c.pem>;alg=ES256;ppt=shaken"),
              "x5u_mismatch");

    const std::string payload = passport_payload_json(claims());
    EXPECT_EQ(reason(hand_made(R"({"alg":"ES256","ppt":"shaken","typ":"JWT","x5u":")" + url + R"("})", payload, params())),
              "malformed");
    EXPECT_EQ(reason(hand_made(R"({"alg":"RS256","ppt":"shaken","typ":"passport","x5u":")" + url + R"("})", payload,
                               params())),
              "malformed");
    EXPECT_EQ(reason(hand_made(header_json(), payload, ";info=<" + url + ">;alg=RS256;ppt=shaken")), "malformed");
    EXPECT_EQ(reason(hand_made(header_json(), passport_payload_json(claims('D')), params())), "malformed");
    EXPECT_EQ(reason(hand_made(header_json(), R"({"attest":"A","dest":{"tn":"15551234"},"iat":)" + std::to_string(now_) +
                                                  R"(,"orig":{"tn":"15550100"},"origid":"x"})",
                               params())),
              "malformed")
        << "dest.tn is an array";
    EXPECT_EQ(reason(hand_made(header_json(), R"({"attest":"A","dest":{"tn":["15551234"]},"iat":"soon",)"
                                              R"("orig":{"tn":"15550100"},"origid":"x"})",
                               params())),
              "malformed");
    EXPECT_EQ(reason("not even a JWS"), "malformed");

    // Several numbers called: one is enough.
    const std::string multi = hand_made(header_json(), R"({"attest":"C","dest":{"tn":["15550000","15551234"]},"iat":)" +
                                                           std::to_string(now_) +
                                                           R"(,"orig":{"tn":"15550100"},"origid":"x"})",
                                        params());
    const verification v = check(multi);
    EXPECT_EQ(v.status, verstat::passed) << v.reason;
    EXPECT_EQ(v.attest, 'C');
}

TEST_F(verify_test, one_valid_identity_is_enough_and_no_shaken_one_is_no_validation) {
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    const std::string good = signer_->identity(claims());
    passport_claims old = claims();
    old.iat = now_ - 600;
    const std::string stale = signer_->identity(old);
    EXPECT_EQ(verifier_->verify({stale, good}, "15550100", "15551234", now_).status, verstat::passed);
    const verification v = verifier_->verify({stale, "garbage"}, "15550100", "15551234", now_);
    EXPECT_EQ(v.status, verstat::failed);
    EXPECT_EQ(v.reason, "stale") << "the first failure is told";

    EXPECT_EQ(verifier_->verify({}, "15550100", "15551234", now_).status, verstat::no_validation);
    // A PASSporT of another kind (RFC 8225 alone, or another extension): nothing SHAKEN to check.
    const std::string other =
        hand_made(R"({"alg":"ES256","typ":"passport","x5u":")" + url + R"("})", passport_payload_json(claims()),
                  ";info=<" + url + ">;alg=ES256");
    EXPECT_EQ(verifier_->verify({other}, "15550100", "15551234", now_).status, verstat::no_validation);
    EXPECT_EQ(verifier_->verify({other, good}, "15550100", "15551234", now_).status, verstat::passed);
}

TEST_F(verify_test, the_roots_must_hold_a_certificate) {
    std::string why;
    EXPECT_EQ(identity_verifier::from_pem("", 60, why), nullptr);
    EXPECT_EQ(why, "no PEM certificate in it");
    EXPECT_EQ(identity_verifier::from_pem(key_, 60, why), nullptr) << "a key is no root";
    EXPECT_NE(identity_verifier::from_pem(root_ + certificate_pem(root_key_, cert_spec{.ca = true}), 60, why), nullptr);
}

TEST_F(verify_test, urls_a_peer_makes_up_do_not_grow_the_cache_without_bound) {
    for (int i = 0; i < 1500; ++i) {
        verifier_->store_failure("https://spam.example/" + std::to_string(i), now_ + i);
    }
    EXPECT_LE(verifier_->certificates(), 1024u);
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_ + 1500, 0), "");
    EXPECT_EQ(verifier_->missing_certificate({signer_->identity(claims())}, now_ + 1500), "");
}

// The lab's certificates (tools/lab-stir-certs, made with the openssl command) and PASSporTs
// signed by Python and `openssl dgst` (the fuzz seeds, tests/lab/identity_tests.py's signer):
// what another implementation makes verifies here.
TEST(lab_certificates, a_passport_signed_elsewhere_verifies_with_the_lab_chain) {
    const auto root = sf::test::source_root();
    ASSERT_FALSE(root.empty());
    auto read = [&](const std::string& rel) {
        std::ifstream in(root / rel, std::ios::binary);
        return std::string(std::istreambuf_iterator<char>(in), {});
    };
    const int64_t signed_at = 1796550000;  // the seeds' iat
    const std::string seed_url = "https://127.0.0.1:8443/lab-stir-cert.pem";
    std::string why;
    const auto v = identity_verifier::from_pem(read("configs/lab-stir-ca.pem"), 60, why);
    ASSERT_NE(v, nullptr) << why;
    ASSERT_EQ(v->store_certificate(seed_url, read("configs/lab-stir-cert.pem"), wall_now(), 0), "")
        << "the lab certificate no longer chains to the lab CA";
    ASSERT_EQ(v->store_certificate(seed_url, read("configs/lab-stir-cert.pem"), signed_at, 0), "");
    const std::string dir = "tests/fuzz/corpus/fuzz_stir_verify/";
    const verification a = v->verify({read(dir + "valid_a")}, "15550100", "15551234", signed_at);
    EXPECT_EQ(a.status, verstat::passed) << a.reason;
    EXPECT_EQ(a.attest, 'A');
    const verification c = v->verify({read(dir + "valid_c_two_dests")}, "15550100", "15551234", signed_at);
    EXPECT_EQ(c.status, verstat::passed) << c.reason;
    EXPECT_EQ(c.attest, 'C');
    EXPECT_EQ(v->verify({read(dir + "params_reordered")}, "15550100", "15551234", signed_at).status, verstat::passed);
    EXPECT_EQ(v->verify({read(dir + "stale")}, "15550100", "15551234", signed_at).reason, "stale");
    EXPECT_EQ(v->verify({read(dir + "x5u_mismatch")}, "15550100", "15551234", signed_at).reason, "x5u_mismatch");
    EXPECT_EQ(v->verify({read(dir + "not_shaken")}, "15550100", "15551234", signed_at).status, verstat::no_validation);
    // The TLS certificate of the lab's x5u server is no SHAKEN certificate (no TNAuthList).
    EXPECT_NE(v->store_certificate(seed_url, read("configs/lab-x5u-tls.pem"), wall_now(), 0), "");
}

TEST_F(verify_test, a_delegate_certificate_vouches_for_its_numbers_only) {
    // RFC 9060: a customer's certificate naming 15550100 and the range 15551000..15551099.
    const std::string numbers = std::string("\x30\x1d", 2) +                         // SEQUENCE
                                std::string("\xa2\x0a\x16\x08", 4) + "15550100" +   // one
                                std::string("\xa1\x0f\x30\x0d\x16\x08", 6) + "15551000" +  // range
                                std::string("\x02\x01\x64", 3);
    ASSERT_EQ(static_cast<uint8_t>(numbers[1]), numbers.size() - 2);
    ASSERT_EQ(verifier_->store_certificate(url, issued(key_, cert_spec{.tn_auth_list_der = numbers}), now_, 0), "");
    const verification one = check(signer_->identity(claims()));
    EXPECT_EQ(one.status, verstat::passed) << one.reason;
    EXPECT_EQ(one.spc, "") << "a delegate certificate names no carrier";
    passport_claims in_range = claims();
    in_range.orig_tn = "15551099";
    EXPECT_EQ(check(signer_->identity(in_range), "15551099").status, verstat::passed);
    passport_claims outside = claims();
    outside.orig_tn = "15551100";
    const verification v = check(signer_->identity(outside), "15551100");
    EXPECT_EQ(v.status, verstat::failed);
    EXPECT_EQ(v.reason, "tn_not_covered");
    EXPECT_EQ(rfc8224_error(v.reason).status, 438u);
}

TEST_F(verify_test, a_failure_is_told_as_rfc_8224_says) {
    const std::string id = signer_->identity(claims());
    const std::string sig = id.substr(id.rfind('.', id.find(';')) + 1, id.find(';') - id.rfind('.', id.find(';')) - 1);
    verification v = check(id);  // no certificate yet
    EXPECT_EQ(v.ppi, ".." + sig) << "the failing Identity in compact form";
    EXPECT_EQ(stir_reason_header(v), "Reason: STIR;cause=436;text=\"Bad Identity Info\";ppi=\".." + sig + "\"\r\n");

    struct mapping {
        const char* reason;
        unsigned status;
        const char* phrase;
    };
    for (const mapping& m : {mapping{"stale", 403, "Stale Date"}, mapping{"certificate_unavailable", 436, "Bad Identity Info"},
                             mapping{"certificate", 437, "Unsupported Credential"},
                             mapping{"bad_signature", 438, "Invalid Identity Header"},
                             mapping{"orig_mismatch", 438, "Invalid Identity Header"},
                             mapping{"malformed", 438, "Invalid Identity Header"}}) {
        EXPECT_EQ(rfc8224_error(m.reason).status, m.status) << m.reason;
        EXPECT_STREQ(rfc8224_error(m.reason).phrase, m.phrase) << m.reason;
    }
    // Every reason the verifier gives has its answer, and what cannot be parsed has no ppi.
    for (const char* r : failure_reasons) {
        EXPECT_GE(rfc8224_error(r).status, 403u) << r;
    }
    v = check("not even a JWS");
    EXPECT_EQ(v.reason, "malformed");
    EXPECT_EQ(stir_reason_header(v), "Reason: STIR;cause=438;text=\"Invalid Identity Header\"\r\n");
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    const std::string forged = id.substr(0, id.find('.') + 1) +
                               b64(passport_payload_json(passport_claims{'A', "15550100", "15551234", now_, "x"})) +
                               id.substr(id.find('.', id.find('.') + 1));
    v = check(forged);
    EXPECT_EQ(v.reason, "bad_signature");
    EXPECT_EQ(v.ppi, ".." + sig) << "a signature that fails names itself too";
    EXPECT_EQ(v.origid, "") << "nothing of a failed PASSporT is vouched for";
}

TEST_F(verify_test, what_is_kept_can_be_listed) {
    EXPECT_TRUE(verifier_->cached(now_).empty());
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 300), "");
    verifier_->store_failure("https://down.example/sp.pem", now_);
    EXPECT_NE(verifier_->store_certificate("https://bad.example/sp.pem", certificate_pem(key_, cert_spec{}), now_, 0), "");
    const auto all = verifier_->cached(now_);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].url, "https://bad.example/sp.pem") << "in URL order";
    EXPECT_STREQ(all[0].state, "refused");
    EXPECT_EQ(all[1].url, url);
    EXPECT_STREQ(all[1].state, "valid");
    EXPECT_EQ(all[1].expires_s, now_ + 300);
    EXPECT_EQ(all[1].scope.spcs, std::vector<std::string>{"1234"});
    EXPECT_STREQ(all[2].state, "unavailable");
    EXPECT_EQ(all[2].expires_s, now_ + 30);
    EXPECT_EQ(verifier_->cached(now_ + 31).size(), 1u) << "the failures are dropped after 30 s";
}

TEST_F(verify_test, a_diverted_call_passes_through_its_div_passports) {
    // RFC 8946: the caller's carrier signed 15550100 -> 15551234; another carrier (its own key
    // and certificate) forwarded the call to 15557000, then to 15558000.
    const std::string url2 = "https://cert.forwarder.example/fw.pem";
    const std::string key2 = private_key_pem("P-256");
    std::string why;
    const auto forwarder = identity_signer::from_pem(key2, url2, why);
    ASSERT_NE(forwarder, nullptr) << why;
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    const std::string shaken = signer_->identity(claims());
    const std::string div1 = forwarder->identity(div_claims{"15550100", "15557000", "15551234", now_});
    const std::string div2 = forwarder->identity(div_claims{"15550100", "15558000", "15557000", now_});
    EXPECT_EQ(verifier_->missing_certificate({shaken, div1}, now_), url2) << "the forwarder's certificate is fetched too";
    EXPECT_EQ(verifier_->verify({shaken, div1}, "15550100", "15557000", now_).reason, "certificate_unavailable");
    ASSERT_EQ(verifier_->store_certificate(url2, issued(key2, cert_spec{}), now_, 0), "");

    const verification v = verifier_->verify({shaken, div1}, "15550100", "15557000", now_);
    EXPECT_EQ(v.status, verstat::passed) << v.reason;
    EXPECT_EQ(v.attest, 'A') << "the caller's carrier's attestation";
    EXPECT_EQ(v.spc, "1234");
    EXPECT_EQ(v.diverted_from, "15551234");
    EXPECT_EQ(check(shaken).diverted_from, "") << "not diverted";
    // Two diversions, in any order of the headers.
    const verification twice = verifier_->verify({div2, shaken, div1}, "15550100", "15558000", now_);
    EXPECT_EQ(twice.status, verstat::passed) << twice.reason;
    EXPECT_EQ(twice.diverted_from, "15551234");
    const prepared_verification p = verifier_->prepare({div2, shaken, div1}, "15550100", "15558000", now_);
    EXPECT_EQ(p.checks(), 3u) << "the SHAKEN PASSporT's signature and both div ones";

    // Without the div PASSporT, or with one that does not lead here, or names another caller.
    EXPECT_EQ(check(shaken, "15550100", "15557000").reason, "dest_mismatch");
    EXPECT_EQ(verifier_->verify({shaken, div2}, "15550100", "15558000", now_).reason, "dest_mismatch");
    const std::string other_caller = forwarder->identity(div_claims{"15550199", "15557000", "15551234", now_});
    EXPECT_EQ(verifier_->verify({shaken, other_caller}, "15550100", "15557000", now_).reason, "dest_mismatch");
    // A div PASSporT alone vouches for no caller.
    EXPECT_EQ(verifier_->verify({div1}, "15550100", "15557000", now_).status, verstat::no_validation);

    // A div PASSporT that fails fails the call, and the Reason names it (its ppi).
    const std::string forged = identity_signer::from_pem(private_key_pem("P-256"), url2, why)
                                   ->identity(div_claims{"15550100", "15557000", "15551234", now_});
    const verification bad = verifier_->verify({shaken, forged}, "15550100", "15557000", now_);
    EXPECT_EQ(bad.reason, "bad_signature");
    auto signature_of = [](const std::string& id) {
        const size_t semi = id.find(';'), dot = id.rfind('.', semi);
        return id.substr(dot + 1, semi - dot - 1);
    };
    EXPECT_EQ(bad.ppi, ".." + signature_of(forged));
    const std::string old_div = forwarder->identity(div_claims{"15550100", "15557000", "15551234", now_ - 600});
    const verification stale = verifier_->verify({shaken, old_div}, "15550100", "15557000", now_);
    EXPECT_EQ(stale.reason, "stale");
    EXPECT_EQ(stale.ppi, ".." + signature_of(old_div));
    const std::string div_header = passport_header_json(url2, "div");
    EXPECT_EQ(verifier_->verify({shaken, sf::test::sign_jws(key2, div_header,
                                                            R"({"dest":{"tn":["15557000"]},"div":{"tn":["15551234"]},"iat":)" +
                                                                std::to_string(now_) + R"(,"orig":{"tn":"15550100"}})",
                                                            b64) + ";info=<" + url2 + ">;alg=ES256;ppt=div"},
                                "15550100", "15557000", now_)
                  .reason,
              "dest_mismatch")
        << "div.tn is one number, not an array: it leads nowhere";
    EXPECT_EQ(verifier_->verify({shaken, sf::test::sign_jws(key2, passport_header_json(url2, "shaken"),
                                                            passport_payload_json(div_claims{"15550100", "15557000", "15551234", now_}),
                                                            b64) + ";info=<" + url2 + ">;alg=ES256;ppt=div"},
                                "15550100", "15557000", now_)
                  .reason,
              "malformed")
        << "ppt div in the parameter, shaken in the JOSE header";

    // A delegate certificate (RFC 9060) diverts only the numbers it names.
    const std::string url3 = "https://cert.pbx.example/d.pem";
    const std::string numbers = std::string("\x30\x0c\xa2\x0a\x16\x08", 6) + "15559999";
    ASSERT_EQ(verifier_->store_certificate(url3, issued(key2, cert_spec{.tn_auth_list_der = numbers}), now_, 0), "");
    const auto pbx = identity_signer::from_pem(key2, url3, why);
    EXPECT_EQ(verifier_->verify({shaken, pbx->identity(div_claims{"15550100", "15557000", "15551234", now_})}, "15550100",
                                "15557000", now_)
                  .reason,
              "tn_not_covered");
}

TEST_F(verify_test, signatures_are_checked_step_by_step) {
    // Steps [shaken + a forged div] then [a good shaken]: the forged one fails its step, the
    // next step passes and ends the checking.
    const std::string url2 = "https://cert.forwarder.example/fw.pem";
    std::string why;
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    ASSERT_EQ(verifier_->store_certificate(url2, issued(private_key_pem("P-256"), cert_spec{}), now_, 0), "");
    passport_claims to_old = claims();
    to_old.dest_tn = "15559000";
    const std::string diverted = signer_->identity(to_old);
    const std::string forged = identity_signer::from_pem(private_key_pem("P-256"), url2, why)
                                   ->identity(div_claims{"15550100", "15551234", "15559000", now_});
    const prepared_verification p =
        verifier_->prepare({diverted, forged, signer_->identity(claims())}, "15550100", "15551234", now_);
    const std::vector<signature_check> checks = p.signature_checks();
    ASSERT_EQ(checks.size(), 3u);
    EXPECT_FALSE(checks[0].ends_step);
    EXPECT_TRUE(checks[1].ends_step);
    EXPECT_EQ(check_signatures(checks), (std::vector<bool>{true, false, true}));
    EXPECT_EQ(identity_verifier::conclude(p, check_signatures(checks)).status, verstat::passed);
    // The first of a step failing: the rest of it is not checked (answered false).
    std::vector<signature_check> swapped = checks;
    std::swap(swapped[0].signature, swapped[1].signature);
    EXPECT_EQ(check_signatures(swapped), (std::vector<bool>{false, false, true}));
    // Answers missing (a pool that stopped early) count as failures, never as passes.
    const verification v = identity_verifier::conclude(p, {true});
    EXPECT_EQ(v.status, verstat::failed);
    EXPECT_EQ(v.reason, "bad_signature");
}

TEST_F(verify_test, div_passports_that_go_round_in_circles_lead_nowhere) {
    // 15551234 -> 15557000 -> 15551234 ... : a cycle, and the called number only beyond a
    // diversion that names another caller. Each number is visited once; nothing loops.
    ASSERT_EQ(verifier_->store_certificate(url, cert_, now_, 0), "");
    const std::string shaken = signer_->identity(claims());
    const std::string there = signer_->identity(div_claims{"15550100", "15557000", "15551234", now_});
    const std::string back = signer_->identity(div_claims{"15550100", "15551234", "15557000", now_});
    const std::string stranger = signer_->identity(div_claims{"15550199", "15558000", "15557000", now_});
    EXPECT_EQ(verifier_->verify({shaken, there, back, stranger}, "15550100", "15558000", now_).reason, "dest_mismatch");
    // The same cycle with a way out: it is found.
    const std::string out = signer_->identity(div_claims{"15550100", "15558000", "15557000", now_});
    const verification v = verifier_->verify({shaken, back, there, stranger, out}, "15550100", "15558000", now_);
    EXPECT_EQ(v.status, verstat::passed) << v.reason;
    EXPECT_EQ(verifier_->prepare({shaken, back, there, stranger, out}, "15550100", "15558000", now_).checks(), 3u)
        << "the SHAKEN PASSporT, there and out: not the cycle back";
}

// --- CRLs (stir_crl.hh): a certificate that names one passes only while it is known and clean ---

namespace {
const std::string crl_url = "https://sti-pa.example.net/crl";
}  // namespace

TEST_F(verify_test, a_certificate_naming_a_crl_waits_for_it_and_fails_when_listed) {
    const std::string id = signer_->identity(claims());
    const std::string named = issued(key_, cert_spec{.crl_url = crl_url, .serial = 41});
    EXPECT_EQ(verifier_->missing_certificate({id}, now_), url) << "the certificate first";
    ASSERT_EQ(verifier_->store_certificate(url, named, now_, 0), "");
    EXPECT_TRUE(verifier_->names_revocation_list(crl_url));
    EXPECT_FALSE(verifier_->names_revocation_list(url));
    EXPECT_EQ(verifier_->missing_certificate({id}, now_), crl_url) << "then the CRL it names";
    EXPECT_EQ(check(id).reason, "certificate_unavailable") << "verified before its CRL came: not known to be good";

    const crl_spec by_root{.issuer_cn = "STI-PA test root", .issuer_key_pem = root_key_, .revoked = {40, 42}};
    ASSERT_EQ(verifier_->store_revocation_list(crl_url, crl_of(by_root), now_), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_), "");
    EXPECT_EQ(check(id).status, verstat::passed) << "its serial is not listed";

    crl_spec listed = by_root;
    listed.revoked.push_back(41);
    ASSERT_EQ(verifier_->store_revocation_list(crl_url, crl_of(listed), now_), "");
    const verification v = check(id);
    EXPECT_EQ(v.status, verstat::failed);
    EXPECT_EQ(v.reason, "certificate_revoked");
    EXPECT_EQ(rfc8224_error(v.reason).status, 437u);
    EXPECT_STREQ(rfc8224_error(v.reason).phrase, "Unsupported Credential");
    const auto certs = verifier_->cached(now_);
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_STREQ(certs[0].state, "revoked");
    const auto lists = verifier_->cached_revocation_lists(now_);
    ASSERT_EQ(lists.size(), 1u);
    EXPECT_EQ(lists[0].url, crl_url);
    EXPECT_EQ(lists[0].revoked, 3u);

    // The CRL cannot be had: not known to be good, for 30 s; then fetched again.
    verifier_->store_failure(crl_url, now_);
    EXPECT_EQ(check(id).reason, "certificate_unavailable");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 29), "");
    EXPECT_EQ(verifier_->missing_certificate({id}, now_ + 31), crl_url);
    EXPECT_EQ(verifier_->certificates(), 1u) << "a CRL's failure is not kept as a certificate's";
    // A list nobody trusted signed counts as none.
    const std::string rogue = private_key_pem("P-256");
    EXPECT_NE(verifier_->store_revocation_list(
                  crl_url, crl_of(crl_spec{.issuer_cn = "STI-PA test root", .issuer_key_pem = rogue}), now_),
              "");
    EXPECT_EQ(check(id).reason, "certificate_unavailable");
}

TEST_F(verify_test, a_crl_may_revoke_the_intermediate_and_the_intermediate_may_sign_one) {
    const std::string mid_key = private_key_pem("P-256");
    const std::string mid = certificate_pem(mid_key, cert_spec{.subject_cn = "STI-CA test", .issuer_cn = "STI-PA test root",
                                                               .issuer_key_pem = root_key_, .ca = true,
                                                               .tn_auth_list = false, .serial = 51});
    const std::string leaf = certificate_pem(key_, cert_spec{.subject_cn = "SP 1234", .issuer_cn = "STI-CA test",
                                                             .issuer_key_pem = mid_key, .crl_url = crl_url, .serial = 52});
    const std::string id = signer_->identity(claims());
    ASSERT_EQ(verifier_->store_certificate(url, leaf + mid, now_, 0), "");

    // The root revokes the STI-CA: everything it issued stops passing.
    ASSERT_EQ(verifier_->store_revocation_list(
                  crl_url, crl_of(crl_spec{.issuer_cn = "STI-PA test root", .issuer_key_pem = root_key_, .revoked = {51}}),
                  now_),
              "");
    EXPECT_EQ(check(id).reason, "certificate_revoked");

    // The STI-CA's own CRL (it verified as part of the chain): serial 52 under its name.
    ASSERT_EQ(verifier_->store_revocation_list(
                  crl_url, crl_of(crl_spec{.issuer_cn = "STI-CA test", .issuer_key_pem = mid_key, .revoked = {51}}), now_),
              "");
    EXPECT_EQ(check(id).status, verstat::passed) << "51 under the STI-CA's name is another certificate than the STI-CA";
    ASSERT_EQ(verifier_->store_revocation_list(
                  crl_url, crl_of(crl_spec{.issuer_cn = "STI-CA test", .issuer_key_pem = mid_key, .revoked = {52}}), now_),
              "");
    EXPECT_EQ(check(id).reason, "certificate_revoked");
}

TEST_F(verify_test, within_crl_grace_a_crl_that_cannot_be_renewed_still_answers_stale) {
    verifier_->set_crl_grace(3600);
    ASSERT_EQ(verifier_->store_certificate(url, issued(key_, cert_spec{.crl_url = crl_url, .serial = 41}), now_, 0), "");
    crl_spec soon{.issuer_cn = "STI-PA test root", .issuer_key_pem = root_key_, .revoked = {40}};
    soon.next_update_s = 600;
    ASSERT_EQ(verifier_->store_revocation_list(crl_url, crl_of(soon), now_), "");
    // A call 700 s later, past the CRL's nextUpdate.
    const auto call_at = [this](int64_t at) {
        passport_claims c = claims();
        c.iat = at;
        return verifier_->verify({signer_->identity(c)}, "15550100", "15551234", at);
    };
    const int64_t later = now_ + 700;
    const std::string id = signer_->identity(claims());
    EXPECT_EQ(verifier_->missing_certificate({id}, later), crl_url) << "fetched again";
    verifier_->store_failure(crl_url, later);
    EXPECT_TRUE(verifier_->revocation_list_stale(crl_url));
    EXPECT_EQ(verifier_->missing_certificate({id}, later), "");
    EXPECT_EQ(call_at(later).status, verstat::passed) << "the last good CRL answers, stale";
    EXPECT_STREQ(verifier_->cached_revocation_lists(later).at(0).state, "stale");

    // The operator takes the grace away (a reload): the next failed fetch fails closed.
    verifier_->set_crl_grace(0);
    const int64_t retry = later + revocation_lists::stale_retry_s;
    EXPECT_EQ(verifier_->missing_certificate({id}, retry), crl_url);
    verifier_->store_failure(crl_url, retry);
    EXPECT_EQ(call_at(retry).reason, "certificate_unavailable");
}

TEST_F(verify_test, crls_are_not_checked_when_turned_off) {
    std::string why;
    const auto unchecked = identity_verifier::from_pem(root_, 60, why, false);
    ASSERT_NE(unchecked, nullptr) << why;
    const std::string id = signer_->identity(claims());
    ASSERT_EQ(unchecked->store_certificate(url, issued(key_, cert_spec{.crl_url = crl_url}), now_, 0), "");
    EXPECT_EQ(unchecked->missing_certificate({id}, now_), "");
    EXPECT_FALSE(unchecked->names_revocation_list(crl_url));
    EXPECT_EQ(unchecked->verify({id}, "15550100", "15551234", now_).status, verstat::passed);
}

TEST_F(verify_test, an_sti_pa_crl_signer_signs_an_indirect_crl_once_trusted) {
    // ATIS-1000080's STI-PA CRL: signed by a CRL signer of the STI-PA, not by the CA that issued
    // the carrier's certificate, its entries naming that CA (an indirect CRL).
    const std::string signer_key = private_key_pem("P-256");
    const std::string crl_signer =
        certificate_pem(signer_key, cert_spec{.subject_cn = "STI-PA CRL", .issuer_cn = "STI-PA test root",
                                              .issuer_key_pem = root_key_, .tn_auth_list = false,
                                              .key_usage = "critical,cRLSign"});
    const std::string id = signer_->identity(claims());
    ASSERT_EQ(verifier_->store_certificate(url, issued(key_, cert_spec{.crl_url = crl_url, .serial = 61}), now_, 0), "");
    const crl_spec indirect{.issuer_cn = "STI-PA CRL", .issuer_key_pem = signer_key, .revoked = {61},
                            .entries_issuer_cn = "STI-PA test root"};
    EXPECT_NE(verifier_->store_revocation_list(crl_url, crl_of(indirect), now_), "") << "a signer nobody named";

    EXPECT_EQ(verifier_->trust_crl_signers("", now_), "no PEM certificate in it");
    EXPECT_NE(verifier_->trust_crl_signers(certificate_pem(signer_key, cert_spec{.subject_cn = "STI-PA CRL",
                                                                                 .key_usage = "critical,cRLSign"}),
                                           now_),
              "")
        << "self-signed: chains to no root";
    EXPECT_NE(verifier_->trust_crl_signers(issued(signer_key, cert_spec{}), now_), "") << "no cRLSign";
    ASSERT_EQ(verifier_->trust_crl_signers(crl_signer, now_), "");
    ASSERT_EQ(verifier_->store_revocation_list(crl_url, crl_of(indirect), now_), "");
    EXPECT_EQ(check(id).reason, "certificate_revoked");
}

TEST_F(verify_test, one_sti_ca_cannot_revoke_what_another_issued) {
    // Two STI-CAs under the root; the verifier has met both (each signed a chain it verified).
    auto ca_under_root = [this](const std::string& key, const std::string& cn) {
        return certificate_pem(key, cert_spec{.subject_cn = cn, .issuer_cn = "STI-PA test root", .issuer_key_pem = root_key_,
                                              .ca = true, .tn_auth_list = false});
    };
    const std::string ours_key = private_key_pem("P-256"), rival_key = private_key_pem("P-256");
    const std::string ours = ca_under_root(ours_key, "STI-CA ours"), rival = ca_under_root(rival_key, "STI-CA rival");
    ASSERT_EQ(verifier_->store_certificate("https://rival.example/sp.pem",
                                           certificate_pem(private_key_pem("P-256"),
                                                           cert_spec{.subject_cn = "SP 5678", .issuer_cn = "STI-CA rival",
                                                                     .issuer_key_pem = rival_key}) +
                                               rival,
                                           now_, 0),
              "");
    ASSERT_EQ(verifier_->store_certificate(url,
                                           certificate_pem(key_, cert_spec{.subject_cn = "SP 1234", .issuer_cn = "STI-CA ours",
                                                                           .issuer_key_pem = ours_key, .crl_url = crl_url,
                                                                           .serial = 71}) +
                                               ours,
                                           now_, 0),
              "");
    // The rival's CRL, its entries naming our CA (an indirect CRL), served where ours should be.
    ASSERT_EQ(verifier_->store_revocation_list(crl_url,
                                               crl_of(crl_spec{.issuer_cn = "STI-CA rival", .issuer_key_pem = rival_key,
                                                               .revoked = {71}, .entries_issuer_cn = "STI-CA ours"}),
                                               now_),
              "")
        << "a CRL the verifier can trust as such";
    const std::string id = signer_->identity(claims());
    EXPECT_EQ(check(id).reason, "certificate_unavailable") << "but not for a certificate outside the rival's chain";
    ASSERT_EQ(verifier_->store_revocation_list(
                  crl_url, crl_of(crl_spec{.issuer_cn = "STI-CA ours", .issuer_key_pem = ours_key, .revoked = {72}}), now_),
              "");
    EXPECT_EQ(check(id).status, verstat::passed) << "our CA's own CRL speaks for it";
}
