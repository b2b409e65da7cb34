// Registration to providers (RFC 3261 section 10, UAC side): the real transaction layer and
// timer queue on a fake clock; the provider is this test, answering the REGISTERs it records,
// with challenges from the real digest_server.

#include "provider_registration.hh"
#include "control_eal.hh"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sip/sip_message.hh"

using namespace sf::control;
namespace sip = sf::sip;

namespace {

constexpr uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

constexpr uint32_t trunk_addr = ip(198, 51, 100, 40);
constexpr const char* password = "trunk-secret";

struct sent {
    unsigned realm;
    sip_addr to;
    std::string text;
    sip::message msg;
};

class provider_registration_test : public ::testing::Test {
protected:
    provider_registration_test()
        : tl_(timers_, sf::control::test::test_pool(),
              [this](unsigned r, sip_addr to, sip_wire m) { record(r, to, m.to_string()); },
              timer_config{500, 4000, 5000}, [this] { return now_; }),
          server_(digest_server_config{}, [this] { return static_cast<int64_t>(now_); }) {
        realms_.resize(2);
        realms_[0].name = "acc";
        realms_[0].addr = ip(192, 0, 2, 1);
        realms_[0].addr_text = "192.0.2.1";
        realms_[1].name = "core";
        realms_[1].addr = ip(198, 51, 100, 1);
        realms_[1].addr_text = "198.51.100.1";
        regs_ = std::make_unique<provider_registrations>(provider_registration_env{
            tl_, timers_, [this] { return now_; },
            [this](uint32_t a) { return realms_[1].on_link(a) ? 1 : -1; },
            [this](unsigned r) -> const realm_info& { return realms_.at(r); }, 5060, "sipferry-test", 70});
    }

    static provider_config trunk(unsigned expiry = 600) {
        provider_config p;
        p.name = "trunk";
        p.host = trunk_addr;
        p.port = 5070;
        p.realm = -1;  // routed: the core port reaches 198.51.100.0/24
        p.username = "acme";
        p.password = password;
        p.from_host = "trunk.example";
        p.registers = true;
        p.register_expiry = expiry;
        return p;
    }

    void record(unsigned realm, sip_addr to, std::string text) {
        auto s = std::make_unique<sent>();
        s->realm = realm;
        s->to = to;
        s->text = std::move(text);
        EXPECT_EQ(sip::parse(s->text, s->msg), sip::parse_error::ok) << s->text;
        wire_.push_back(std::move(s));
    }

    // Advances the fake clock in 100 ms steps, running timers (bounded).
    void advance(ms_t ms) {
        const ms_t end = now_ + ms;
        while (now_ < end) {
            now_ = std::min(end, now_ + 100);
            timers_.run(now_);
        }
    }

    const sent& last() const { return *wire_.back(); }

    std::string header(const sent& s, std::string_view name) const {
        const sip::header* h = s.msg.find(name);
        return h != nullptr ? std::string(h->value) : std::string();
    }

    // Answers the last REGISTER with `status` and `extra` header lines.
    void answer(unsigned status, const std::string& extra = {}) {
        const sent& req = last();
        const response_base base = response_base::from_request(req.msg);
        std::string text = build_response(sf::control::test::test_pool(), base, status, reason_phrase(status), "provtag",
                                          extra, "trunk")
                               .to_string();
        auto r = std::make_unique<sent>();
        r->text = std::move(text);
        ASSERT_EQ(sip::parse(r->text, r->msg), sip::parse_error::ok) << r->text;
        const inbound in{1, sip_addr{trunk_addr, 5070}, &r->msg, r->text};
        tl_.on_response(in);
        answers_.push_back(std::move(r));
    }

    void challenge() {
        std::string extra;
        for (const std::string& v : server_.challenge("trunk.example")) {
            extra += "WWW-Authenticate: " + v + "\r\n";
        }
        answer(401, extra);
    }

    digest_verdict verify_last(const std::string& pw = password) {
        return server_.verify(
            "REGISTER", header(last(), "Authorization"),
            [pw](std::string_view user, std::string_view, digest_algorithm) -> std::optional<digest_secret> {
                if (user != "acme") {
                    return std::nullopt;
                }
                return digest_secret{digest_secret::kind::password, pw};
            },
            trunk_addr, "sip:trunk.example");
    }

    ms_t now_ = 1'000'000;
    timer_queue timers_;
    transaction_layer tl_;
    digest_server server_;
    std::vector<realm_info> realms_;
    std::unique_ptr<provider_registrations> regs_;
    std::vector<std::unique_ptr<sent>> wire_;
    std::vector<std::unique_ptr<sent>> answers_;
};

}  // namespace

TEST_F(provider_registration_test, registers_answers_the_challenge_and_refreshes) {
    regs_->configure({trunk(600)});
    ASSERT_EQ(wire_.size(), 1u);
    const sent& first = last();
    EXPECT_EQ(first.realm, 1u);
    EXPECT_EQ(first.to.addr, trunk_addr);
    EXPECT_EQ(first.to.port, 5070);
    EXPECT_EQ(first.msg.req_method, sip::method::register_);
    EXPECT_EQ(first.msg.request_uri, "sip:trunk.example");
    EXPECT_NE(header(first, "From").find("<sip:acme@trunk.example>;tag="), std::string::npos);
    EXPECT_EQ(header(first, "To"), "<sip:acme@trunk.example>");
    EXPECT_EQ(header(first, "Contact"), "<sip:acme@198.51.100.1:5060>");
    EXPECT_EQ(header(first, "Expires"), "600");
    EXPECT_EQ(header(first, "Authorization"), "");
    const std::string call_id = header(first, "Call-ID");
    EXPECT_EQ(regs_->find("trunk")->st, provider_registrations::state::registering);

    challenge();
    ASSERT_EQ(wire_.size(), 2u);
    EXPECT_EQ(header(last(), "Call-ID"), call_id);  // one Call-ID, CSeq counts up (RFC 3261 10.2.4)
    EXPECT_EQ(last().msg.cseq, first.msg.cseq + 1);
    const digest_verdict v = verify_last();
    EXPECT_EQ(v.outcome, digest_outcome::ok) << v.reason;

    answer(200, "Contact: <sip:other@192.0.2.99>;expires=3600, <sip:acme@198.51.100.1:5060>;expires=300\r\n");
    auto view = regs_->find("trunk");
    ASSERT_TRUE(view);
    EXPECT_EQ(view->st, provider_registrations::state::registered);
    EXPECT_EQ(view->expires_s, 300u);  // what the registrar granted our contact, not the other one
    EXPECT_EQ(regs_->stats().registered, 1u);
    EXPECT_EQ(regs_->stats().auth_answered, 1u);

    // The refresh goes 30 s before the binding lapses, in the same Call-ID.
    advance(269'000);
    EXPECT_EQ(wire_.size(), 2u);
    advance(1'100);
    ASSERT_EQ(wire_.size(), 3u);
    EXPECT_EQ(header(last(), "Call-ID"), call_id);
    EXPECT_EQ(header(last(), "Expires"), "600");
    answer(200, "Expires: 600\r\n");  // no Contact expires: the Expires header counts
    EXPECT_EQ(regs_->find("trunk")->expires_s, 600u);
}

TEST_F(provider_registration_test, a_wrong_password_is_not_retried_at_once_but_after_a_back_off) {
    regs_->configure({trunk()});
    challenge();
    ASSERT_EQ(wire_.size(), 2u);
    EXPECT_EQ(verify_last("not-the-password").outcome, digest_outcome::wrong_response);
    challenge();  // the credentials were refused: a second challenge in one attempt fails it
    EXPECT_EQ(wire_.size(), 2u);
    auto view = regs_->find("trunk");
    EXPECT_EQ(view->st, provider_registrations::state::retry_wait);
    EXPECT_EQ(view->last_status, 401u);
    EXPECT_EQ(view->failures, 1u);
    // 30 s, then 60 s, doubling.
    advance(29'900);
    EXPECT_EQ(wire_.size(), 2u);
    advance(200);
    ASSERT_EQ(wire_.size(), 3u);
    EXPECT_EQ(header(last(), "Authorization"), "");  // a new attempt starts unauthenticated
    answer(403);
    EXPECT_EQ(regs_->find("trunk")->failures, 2u);
    advance(59'900);
    EXPECT_EQ(wire_.size(), 3u);
    advance(200);
    EXPECT_EQ(wire_.size(), 4u);
}

TEST_F(provider_registration_test, an_unanswered_register_times_out_and_is_retried) {
    regs_->configure({trunk()});
    advance(32'500);  // timer F: 64*T1 = 32 s, with retransmissions on the way
    const size_t after_timeout = wire_.size();
    EXPECT_GT(after_timeout, 5u);  // timer E retransmissions of the one REGISTER
    auto view = regs_->find("trunk");
    EXPECT_EQ(view->st, provider_registrations::state::retry_wait);
    EXPECT_EQ(view->last_status, 408u);
    advance(30'100);
    EXPECT_GT(wire_.size(), after_timeout);
    EXPECT_EQ(regs_->find("trunk")->st, provider_registrations::state::registering);
}

TEST_F(provider_registration_test, interval_too_brief_asks_again_with_min_expires) {
    regs_->configure({trunk(60)});
    answer(423, "Min-Expires: 1800\r\n");
    ASSERT_EQ(wire_.size(), 2u);
    EXPECT_EQ(header(last(), "Expires"), "1800");
    answer(200, "Contact: <sip:acme@198.51.100.1:5060>;expires=1800\r\n");
    EXPECT_EQ(regs_->find("trunk")->expires_s, 1800u);
    // A 423 whose minimum is not above what we asked for is a failure, not a loop.
    regs_->configure({trunk(600)});  // changed: the old binding is removed, a new one made
    const size_t n = wire_.size();
    answer(423, "Min-Expires: 60\r\n");
    EXPECT_EQ(wire_.size(), n);
}

TEST_F(provider_registration_test, reload_keeps_unchanged_and_unregisters_changed_or_removed) {
    regs_->configure({trunk()});
    answer(200, "Contact: <sip:acme@198.51.100.1:5060>;expires=600\r\n");
    ASSERT_EQ(wire_.size(), 1u);
    regs_->configure({trunk()});  // same config: nothing sent, still registered
    EXPECT_EQ(wire_.size(), 1u);
    EXPECT_EQ(regs_->find("trunk")->st, provider_registrations::state::registered);

    provider_config off = trunk();
    off.registers = false;
    regs_->configure({off});
    ASSERT_EQ(wire_.size(), 2u);
    EXPECT_EQ(header(last(), "Expires"), "0");
    EXPECT_EQ(header(last(), "Contact"), "<sip:acme@198.51.100.1:5060>");
    EXPECT_FALSE(regs_->find("trunk"));
    EXPECT_EQ(regs_->size(), 0u);
    challenge();  // the unREGISTER is authenticated like any other
    ASSERT_EQ(wire_.size(), 3u);
    EXPECT_EQ(header(last(), "Expires"), "0");
    EXPECT_EQ(verify_last().outcome, digest_outcome::ok);
    answer(200);
    EXPECT_EQ(regs_->stats().unregistered, 1u);
}

TEST_F(provider_registration_test, json_shows_each_registration) {
    regs_->configure({trunk()});
    answer(200, "Contact: <sip:acme@198.51.100.1:5060>;expires=600\r\n");
    advance(10'000);
    json_writer j;
    regs_->write_json(j);
    const std::string s = j.take();
    EXPECT_NE(s.find(R"("trunk":{"state":"registered","contact":"sip:acme@198.51.100.1:5060","expires_s":600,"expires_in_s":590)"),
              std::string::npos)
        << s;
}

TEST_F(provider_registration_test, a_provider_no_port_reaches_waits_and_retries) {
    provider_config far = trunk();
    far.host = ip(203, 0, 113, 9);
    regs_->configure({far});
    EXPECT_EQ(wire_.size(), 0u);
    EXPECT_EQ(regs_->find("trunk")->st, provider_registrations::state::retry_wait);
}
