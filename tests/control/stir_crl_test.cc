// Revocation lists for STIR/SHAKEN verification (control/stir_crl.hh): which CRLs are trusted,
// read and kept, and what they say of a certificate.

#include "stir_crl.hh"

#include <gtest/gtest.h>

#include <chrono>

#include "stir_keys.hh"

namespace {

using namespace sf::control;
using sf::test::cert_spec;
using sf::test::certificate_pem;
using sf::test::crl_of;
using sf::test::crl_spec;
using sf::test::private_key_pem;
using status = revocation_lists::status;

const std::string crl_url = "https://sti-pa.example/crl";

int64_t wall_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct x509_deleter {
    void operator()(X509* x) const { X509_free(x); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;

x509_ptr read_cert(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    x509_ptr x(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    return x;
}

class crl_test : public ::testing::Test {
protected:
    void SetUp() override {
        ca_key_ = private_key_pem("P-256");
        ca_ = read_cert(certificate_pem(ca_key_, cert_spec{.subject_cn = "STI-PA test root", .ca = true,
                                                           .tn_auth_list = false}));
        ASSERT_TRUE(ca_);
        lists_.trust_signer(ca_.get());
        now_ = wall_now();
    }

    /// An SP certificate the root issued, with serial `serial`, naming crl_url.
    x509_ptr sp_cert(long serial) const {
        return read_cert(certificate_pem(private_key_pem("P-256"),
                                         cert_spec{.subject_cn = "SP 1234", .issuer_cn = "STI-PA test root",
                                                   .issuer_key_pem = ca_key_, .crl_url = crl_url, .serial = serial}));
    }

    crl_spec by_root(std::vector<long> revoked = {}) const {
        return crl_spec{.issuer_cn = "STI-PA test root", .issuer_key_pem = ca_key_, .revoked = std::move(revoked)};
    }

    /// As the verifier asks for an SP certificate the root issued: the root may speak for it.
    status check(const x509_ptr& cert, int64_t at = 0) const {
        return lists_.check(crl_url, {revocation_lists::revocation_key(cert.get())}, {root_name()},
                            at != 0 ? at : now_);
    }
    std::string root_name() const { return revocation_lists::name_key(ca_.get()); }

    std::string ca_key_;
    x509_ptr ca_;
    revocation_lists lists_;
    int64_t now_ = 0;
};

TEST_F(crl_test, a_certificate_names_its_crl) {
    EXPECT_EQ(revocation_lists::distribution_point(sp_cert(7).get()), crl_url);
    EXPECT_EQ(revocation_lists::distribution_point(ca_.get()), "") << "none named";
}

TEST_F(crl_test, a_listed_certificate_is_revoked_and_the_others_are_not) {
    const x509_ptr revoked = sp_cert(7), kept = sp_cert(8);
    EXPECT_EQ(check(revoked), status::unknown) << "nothing fetched yet";
    ASSERT_EQ(lists_.store(crl_url, crl_of(by_root({5, 7, 9})), now_), "");
    EXPECT_EQ(check(revoked), status::revoked);
    EXPECT_EQ(check(kept), status::good);
    EXPECT_EQ(lists_.check(crl_url, {}, {root_name()}, now_), status::good) << "a certificate without keys";
    EXPECT_EQ(lists_.check("https://other.example/crl", {revocation_lists::revocation_key(revoked.get())},
                           {root_name()}, now_),
              status::unknown)
        << "a list is asked for by its own URL";
    EXPECT_EQ(lists_.check(crl_url, {revocation_lists::revocation_key(revoked.get())}, {"cn=another sti-ca"}, now_),
              status::unavailable)
        << "the root's CRL does not speak for what another CA vouches for";
}

TEST_F(crl_test, a_serial_revoked_by_another_issuer_is_not_this_certificate) {
    // The same serial number from another CA (an indirect CRL's entry says whose it is).
    crl_spec other = by_root({7});
    other.entries_issuer_cn = "Another STI-CA";
    ASSERT_EQ(lists_.store(crl_url, crl_of(other), now_), "");
    EXPECT_EQ(check(sp_cert(7)), status::good);

    // An indirect CRL naming the certificate's own issuer does revoke it.
    crl_spec indirect = by_root({7});
    indirect.entries_issuer_cn = "sti-pa TEST root";  // names compare without case
    ASSERT_EQ(lists_.store(crl_url, crl_of(indirect), now_), "");
    EXPECT_EQ(check(sp_cert(7)), status::revoked);
}

TEST_F(crl_test, der_and_pem_are_both_read) {
    crl_spec der = by_root({7});
    der.der = true;
    ASSERT_EQ(lists_.store(crl_url, crl_of(der), now_), "");
    EXPECT_EQ(check(sp_cert(7)), status::revoked);
    std::string trailing = crl_of(der) + "x";
    EXPECT_NE(lists_.store(crl_url, trailing, now_), "") << "bytes after the DER CRL";
}

TEST_F(crl_test, only_a_trusted_signer_makes_a_crl_count) {
    const std::string rogue_key = private_key_pem("P-256");
    // The root's name, another key: a forger's list that would revoke a competitor.
    const std::string forged = crl_of(crl_spec{.issuer_cn = "STI-PA test root", .issuer_key_pem = rogue_key, .revoked = {7}});
    EXPECT_NE(lists_.store(crl_url, forged, now_), "");
    EXPECT_EQ(check(sp_cert(7)), status::unavailable) << "refused: kept as a failure";
    // A CA the verifier never trusted, under its own name.
    EXPECT_NE(lists_.store(crl_url, crl_of(crl_spec{.issuer_cn = "Rogue CA", .issuer_key_pem = rogue_key}), now_), "");

    // A trusted CA certificate whose keyUsage leaves out cRLSign is no CRL signer: the test
    // certificates of a non-CA say digitalSignature only.
    const std::string sp_key = private_key_pem("P-256");
    const x509_ptr sp = read_cert(certificate_pem(sp_key, cert_spec{.subject_cn = "SP signer"}));
    lists_.trust_signer(sp.get());
    EXPECT_EQ(lists_.signers(), 1u);
    EXPECT_NE(lists_.store(crl_url, crl_of(crl_spec{.issuer_cn = "SP signer", .issuer_key_pem = sp_key}), now_), "");
    lists_.trust_signer(ca_.get());
    EXPECT_EQ(lists_.signers(), 1u) << "the same certificate counts once";
}

TEST_F(crl_test, an_incomplete_or_unreadable_list_is_refused) {
    crl_spec delta = by_root();
    delta.delta = true;
    crl_spec unknown = by_root();
    unknown.unknown_critical = true;
    crl_spec partial = by_root();
    partial.only_some_reasons = true;
    crl_spec future = by_root();
    future.this_update_s = 3600;
    crl_spec past = by_root();
    past.this_update_s = -7200;
    past.next_update_s = -60;
    for (const auto& [what, body] : std::vector<std::pair<const char*, std::string>>{
             {"delta", crl_of(delta)},
             {"unknown critical extension", crl_of(unknown)},
             {"only some reasons", crl_of(partial)},
             {"issued in the future", crl_of(future)},
             {"past its nextUpdate", crl_of(past)},
             {"not a CRL", "hello"},
             {"empty", ""},
             {"PEM with nothing in it", "-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"}}) {
        EXPECT_NE(lists_.store(crl_url, body, now_), "") << what;
        EXPECT_EQ(check(sp_cert(7)), status::unavailable) << what;
    }
}

TEST_F(crl_test, a_list_is_kept_until_its_next_update_and_a_failure_for_30_s) {
    crl_spec soon = by_root({7});
    soon.next_update_s = 600;
    ASSERT_EQ(lists_.store(crl_url, crl_of(soon), now_), "");
    EXPECT_EQ(check(sp_cert(7), now_ + 599), status::revoked);
    EXPECT_EQ(check(sp_cert(7), now_ + 601), status::unknown) << "past nextUpdate: fetched again";

    crl_spec far = by_root();
    far.next_update_s = 30 * 86400;
    ASSERT_EQ(lists_.store(crl_url, crl_of(far), now_), "");
    EXPECT_EQ(check(sp_cert(7), now_ + 86399), status::good);
    EXPECT_EQ(check(sp_cert(7), now_ + 86401), status::unknown) << "a day at most";

    crl_spec none = by_root();
    none.next_update_s = 0;
    ASSERT_EQ(lists_.store(crl_url, crl_of(none), now_), "");
    EXPECT_EQ(check(sp_cert(7), now_ + 3601), status::unknown) << "an hour without nextUpdate";

    lists_.store_failure(crl_url, now_);
    EXPECT_EQ(check(sp_cert(7), now_ + 29), status::unavailable);
    EXPECT_EQ(check(sp_cert(7), now_ + 31), status::unknown);
}

TEST_F(crl_test, with_a_grace_period_the_last_good_list_answers_stale_while_no_new_one_can_be_had) {
    crl_spec soon = by_root({7});
    soon.next_update_s = 600;
    const std::string first = crl_of(soon);
    ASSERT_EQ(lists_.store(crl_url, first, now_), "");
    lists_.set_grace(3600);

    // Past nextUpdate the fetch fails: the list answers on, stale, and is fetched again in 5 min.
    EXPECT_EQ(check(sp_cert(7), now_ + 601), status::unknown) << "fetched again at its nextUpdate";
    lists_.store_failure(crl_url, now_ + 601);
    EXPECT_TRUE(lists_.stale(crl_url));
    EXPECT_EQ(check(sp_cert(7), now_ + 700), status::revoked);
    EXPECT_EQ(check(sp_cert(8), now_ + 700), status::good);
    ASSERT_EQ(lists_.cached(now_ + 700).size(), 1u);
    EXPECT_STREQ(lists_.cached(now_ + 700)[0].state, "stale");
    EXPECT_EQ(lists_.cached(now_ + 700)[0].expires_s, now_ + 601 + revocation_lists::stale_retry_s);
    EXPECT_EQ(check(sp_cert(8), now_ + 902), status::unknown);

    // The repository still serves the old list (its publisher is late): refused, the stale one stays.
    EXPECT_EQ(lists_.store(crl_url, first, now_ + 902), "past its nextUpdate");
    EXPECT_EQ(check(sp_cert(8), now_ + 1000), status::good);
    EXPECT_NE(lists_.store(crl_url, "junk", now_ + 1202), "");
    EXPECT_EQ(check(sp_cert(7), now_ + 1300), status::revoked) << "a refused list does not replace it either";

    // The last retry within the grace period is cut at its end; after it, fail closed.
    lists_.store_failure(crl_url, now_ + 4000);
    EXPECT_EQ(check(sp_cert(8), now_ + 4199), status::good);
    EXPECT_EQ(check(sp_cert(8), now_ + 4200), status::unknown) << "grace over (nextUpdate + 3600 s)";
    lists_.store_failure(crl_url, now_ + 4200);
    EXPECT_FALSE(lists_.stale(crl_url));
    EXPECT_EQ(check(sp_cert(8), now_ + 4201), status::unavailable);

    // A new list ends the stale time; the grace period starts again from its nextUpdate.
    crl_spec next = by_root({7, 8});
    next.next_update_s = 600;
    ASSERT_EQ(lists_.store(crl_url, crl_of(next), now_), "");
    EXPECT_FALSE(lists_.stale(crl_url));
    EXPECT_EQ(check(sp_cert(8), now_ + 10), status::revoked);
}

TEST_F(crl_test, without_a_grace_period_a_list_that_cannot_be_renewed_fails_closed) {
    crl_spec soon = by_root();
    soon.next_update_s = 600;
    ASSERT_EQ(lists_.store(crl_url, crl_of(soon), now_), "");
    lists_.set_grace(3600);
    lists_.set_grace(0);  // the operator's reload: applies to what is kept
    lists_.store_failure(crl_url, now_ + 601);
    EXPECT_FALSE(lists_.stale(crl_url));
    EXPECT_EQ(check(sp_cert(8), now_ + 602), status::unavailable);

    // A list refused before any good one was had is no reason to keep anything either.
    lists_.set_grace(3600);
    EXPECT_NE(lists_.store("https://other.example/crl", "junk", now_), "");
    EXPECT_STREQ(lists_.cached(now_)[0].state, "refused");  // other.example sorts first
}

TEST_F(crl_test, what_is_kept_can_be_listed_and_stays_bounded) {
    ASSERT_EQ(lists_.store(crl_url, crl_of(by_root({1, 2, 3})), now_), "");
    lists_.store_failure("https://down.example/crl", now_);
    EXPECT_NE(lists_.store("https://bad.example/crl", "junk", now_), "");
    const auto all = lists_.cached(now_);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].url, "https://bad.example/crl");
    EXPECT_STREQ(all[0].state, "refused");
    EXPECT_STREQ(all[1].state, "unavailable");
    EXPECT_EQ(all[2].url, crl_url);
    EXPECT_STREQ(all[2].state, "valid");
    EXPECT_EQ(all[2].revoked, 3u);
    // Its nextUpdate: an hour after the CRL was made, on the wall clock, some time after now_ (a
    // slow build, ASan's, can cross a second between the two).
    EXPECT_GE(all[2].expires_s, now_ + 3600);
    EXPECT_LE(all[2].expires_s, wall_now() + 3600);

    for (size_t i = 0; i < revocation_lists::max_lists + 10; ++i) {
        lists_.store_failure("https://made-up.example/" + std::to_string(i), now_ + static_cast<int64_t>(i));
    }
    EXPECT_EQ(lists_.size(), revocation_lists::max_lists) << "URLs a peer makes up do not grow it without bound";
}

TEST_F(crl_test, a_distribution_point_that_is_no_printable_url_is_none) {
    const std::string odd = "https://sti-pa.example/c rl";
    const x509_ptr c = read_cert(certificate_pem(private_key_pem("P-256"),
                                                 cert_spec{.issuer_cn = "STI-PA test root", .issuer_key_pem = ca_key_,
                                                           .crl_url = odd}));
    EXPECT_EQ(revocation_lists::distribution_point(c.get()), "");
}

TEST_F(crl_test, a_distribution_point_names_who_issues_its_crl) {
    const x509_ptr c = read_cert(certificate_pem(private_key_pem("P-256"),
                                                 cert_spec{.issuer_cn = "STI-PA test root", .issuer_key_pem = ca_key_,
                                                           .crl_url = crl_url, .crl_issuer_cn = "STI-PA CRL"}));
    std::vector<std::string> issuers;
    EXPECT_EQ(revocation_lists::distribution_point(c.get(), &issuers), crl_url);
    EXPECT_EQ(issuers, std::vector<std::string>{"cn=sti-pa crl"});
    issuers.clear();
    EXPECT_EQ(revocation_lists::distribution_point(sp_cert(9).get(), &issuers), crl_url);
    EXPECT_TRUE(issuers.empty()) << "none named: the certificate's own CA issues it";
}

TEST_F(crl_test, a_signer_the_operator_named_speaks_for_every_certificate) {
    const std::string key = private_key_pem("P-256");
    const x509_ptr signer = read_cert(certificate_pem(key, cert_spec{.subject_cn = "STI-PA CRL", .key_usage = "critical,cRLSign"}));
    lists_.trust_signer(signer.get(), true);
    ASSERT_EQ(lists_.store(crl_url, crl_of(crl_spec{.issuer_cn = "STI-PA CRL", .issuer_key_pem = key, .revoked = {7},
                                                    .entries_issuer_cn = "STI-PA test root"}),
                           now_),
              "");
    EXPECT_EQ(lists_.check(crl_url, {revocation_lists::revocation_key(sp_cert(7).get())}, {}, now_), status::revoked);
}

}  // namespace
