// The threads that check STIR/SHAKEN signatures for the control thread (control/signature_pool.hh):
// every job comes back once with its answers in order, the first valid signature ends a job,
// the pool is bounded, and stopping it with jobs inside neither hangs nor leaks.

#include "signature_pool.hh"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "stir_keys.hh"
#include "stir_shaken.hh"

using namespace sf::control;

namespace {

/// A check of `payload` signed with `signer_pem`, verified with `key_pem`'s key.
signature_check check_of(const std::string& key_pem, const std::string& signer_pem, const std::string& payload) {
    const std::string jws = sf::test::sign_jws(signer_pem, R"({"alg":"ES256"})", payload, [](std::string_view s) {
        return base64url(s);
    });
    const size_t dot = jws.rfind('.');
    signature_check c;
    EVP_PKEY* key = sf::test::read_private_key(key_pem);
    c.key = std::shared_ptr<void>(key, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
    c.input = jws.substr(0, dot);
    std::string sig;
    const std::string b64 = jws.substr(dot + 1);
    // The signature back from base64url: stir_verify's decoder.
    EXPECT_TRUE(base64url_decode(b64, sig));
    c.signature = sig;
    return c;
}

/// Drains until `want` jobs came back or 10 s passed.
std::map<uint64_t, std::vector<bool>> drain_all(signature_pool& pool, size_t want) {
    std::map<uint64_t, std::vector<bool>> got;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.size() < want && std::chrono::steady_clock::now() < end) {
        if (pool.drain([&](uint64_t id, const std::vector<bool>& valid) {
                EXPECT_TRUE(got.emplace(id, valid).second) << "job " << id << " came back twice";
            }) == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    return got;
}

}  // namespace

TEST(signature_pool, every_job_comes_back_with_its_answers_in_order) {
    const std::string key = sf::test::private_key_pem("P-256");
    const std::string other = sf::test::private_key_pem("P-256");
    signature_pool pool(2);
    EXPECT_EQ(pool.threads(), 2u);
    EXPECT_EQ(pool.drain([](uint64_t, const std::vector<bool>&) { ADD_FAILURE() << "nothing was submitted"; }), 0u);
    const signature_check good = check_of(key, key, R"({"n":1})");
    const signature_check forged = check_of(key, other, R"({"n":2})");
    signature_check altered = good;
    altered.input += "x";
    for (uint64_t id = 1; id <= 40; ++id) {
        std::vector<signature_check> checks;
        switch (id % 4) {
        case 0: checks = {good}; break;
        case 1: checks = {forged, altered}; break;
        case 2: checks = {forged, good, altered}; break;  // the third is never checked
        case 3: checks = {}; break;
        }
        ASSERT_TRUE(pool.submit(id, std::move(checks)));
    }
    EXPECT_EQ(pool.in_pool(), 40u);
    const auto got = drain_all(pool, 40);
    ASSERT_EQ(got.size(), 40u);
    for (const auto& [id, valid] : got) {
        switch (id % 4) {
        case 0: EXPECT_EQ(valid, std::vector<bool>{true}) << id; break;
        case 1: EXPECT_EQ(valid, (std::vector<bool>{false, false})) << id; break;
        case 2: EXPECT_EQ(valid, (std::vector<bool>{false, true})) << id; break;
        case 3: EXPECT_TRUE(valid.empty()) << id; break;
        }
    }
    EXPECT_EQ(pool.in_pool(), 0u);
}

TEST(signature_pool, a_full_pool_takes_nothing_more_until_drained) {
    const std::string key = sf::test::private_key_pem("P-256");
    const signature_check good = check_of(key, key, "{}");
    signature_pool pool(1, 3);
    for (uint64_t id = 1; id <= 3; ++id) {
        ASSERT_TRUE(pool.submit(id, {good}));
    }
    EXPECT_FALSE(pool.submit(4, {good})) << "three jobs inside: the caller checks the fourth itself";
    EXPECT_EQ(drain_all(pool, 3).size(), 3u);
    EXPECT_TRUE(pool.submit(5, {good}));
    EXPECT_EQ(drain_all(pool, 1).count(5), 1u);
}

TEST(signature_pool, stopping_with_jobs_inside_returns) {
    const std::string key = sf::test::private_key_pem("P-256");
    const signature_check good = check_of(key, key, "{}");
    auto pool = std::make_unique<signature_pool>(1);
    for (uint64_t id = 1; id <= 200; ++id) {
        ASSERT_TRUE(pool->submit(id, {good, good}));
    }
    pool.reset();  // joins: the thread finishes the job it holds, the rest are dropped
    SUCCEED();
}
