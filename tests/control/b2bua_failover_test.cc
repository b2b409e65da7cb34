// Provider failover in the B2BUA, in process: a destination at a provider that answers nothing
// within its response_timeout fails with 408 and the dial string moves on; a probed provider
// (ping) that leaves an OPTIONS or INVITE unanswered is skipped until it answers again.

#include "b2bua_fixture.hh"

namespace {

class failover_test : public b2bua_test {
protected:
    /// The provider "carrier" at carol's address with these probe settings.
    void with_carrier(unsigned ping_s, unsigned response_timeout_s) {
        provider_config carrier;
        carrier.name = "carrier";
        carrier.host = ip(198, 51, 100, 30);
        carrier.ping_s = ping_s;
        carrier.response_timeout_s = response_timeout_s;
        b2bua_config cfg = base_config();
        cfg.providers = {carrier};
        rebuild(cfg);
        ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("1234@carrier|bob@198.51.100.20"))"), "");
    }

    bool carrier_up() const { return b2b_->providers_health().up("carrier"); }

    static size_t invites_to(const std::vector<std::unique_ptr<received>>& out, sip_addr to) {
        return static_cast<size_t>(std::count_if(out.begin(), out.end(), [&](const auto& r) {
            return r->msg.is_request && r->msg.req_method == sip::method::invite && r->to == to;
        }));
    }
    /// The last OPTIONS sent to `to` in `out` (the newest probe), or null.
    static const received* options_to(const std::vector<std::unique_ptr<received>>& out, sip_addr to) {
        const received* last = nullptr;
        for (const auto& r : out) {
            if (r->msg.is_request && r->msg.req_method == sip::method::options && r->to == to) {
                last = r.get();
            }
        }
        return last;
    }
};

}  // namespace

TEST_F(failover_test, a_silent_provider_fails_over_after_its_response_timeout) {
    with_carrier(0, 2);
    from_alice(alice_invite());
    auto out = take();
    EXPECT_EQ(invites_to(out, carol), 1u);
    EXPECT_EQ(invites_to(out, bob), 0u);
    advance(1900);
    out = take();
    EXPECT_EQ(invites_to(out, bob), 0u) << "not before the timeout";
    advance(200);
    out = take();
    EXPECT_EQ(invites_to(out, bob), 1u) << "the next destination rings after 2 s, not after 32";
    EXPECT_EQ(count_request(out, core, sip::method::cancel), 0u) << "no CANCEL before a provisional (RFC 3261 9.1)";
    EXPECT_EQ(b2b_->stats().provider_response_timeouts, 1u);
    EXPECT_TRUE(carrier_up()) << "unprobed: never marked down";
}

TEST_F(failover_test, a_provider_that_responds_in_time_is_not_failed_over) {
    with_carrier(0, 2);
    from_alice(alice_invite());
    const auto inv = invite_sent_to(take(), carol);
    ASSERT_NE(inv, nullptr);
    from_carol(bob_response(inv->msg, 100, "Trying"));
    advance(5000);
    EXPECT_EQ(invites_to(take(), bob), 0u);
    EXPECT_EQ(b2b_->stats().provider_response_timeouts, 0u);
}

TEST_F(failover_test, a_probed_provider_that_stops_answering_is_skipped_until_it_answers) {
    with_carrier(5, 1);
    advance(1000);  // the housekeeping tick probes at once
    auto out = take();
    ASSERT_NE(options_to(out, carol), nullptr) << "probed from the start";
    advance(1000);  // unanswered within response_timeout: down
    take();
    EXPECT_FALSE(carrier_up());

    from_alice(alice_invite());
    out = take();
    EXPECT_EQ(invites_to(out, carol), 0u) << "skipped while down";
    EXPECT_EQ(invites_to(out, bob), 1u) << "the next destination at once";
    EXPECT_EQ(b2b_->stats().providers_skipped_down, 1u);

    // The next probe (5 s after the first) is answered: up again, and the next call goes there.
    advance(3500);
    take();
    EXPECT_FALSE(carrier_up());
    advance(1000);
    out = take();
    const received* probe = options_to(out, carol);
    ASSERT_NE(probe, nullptr);
    EXPECT_EQ(probe->msg.request_uri, "sip:198.51.100.30:5060");
    from_carol(bob_response(probe->msg, 200, "OK"));
    EXPECT_TRUE(carrier_up());
    invite_opts second;
    second.call_id = "alice-call-2@192.0.2.10";
    second.branch = "z9hG4bKalice2";
    from_alice(alice_invite(second));
    EXPECT_EQ(invites_to(take(), carol), 1u);
}

TEST_F(failover_test, an_unanswered_invite_takes_a_probed_provider_down) {
    with_carrier(60, 2);
    advance(1000);
    const received* probe = nullptr;
    auto out = take();
    probe = options_to(out, carol);
    ASSERT_NE(probe, nullptr);
    from_carol(bob_response(probe->msg, 200, "OK"));
    from_alice(alice_invite());
    EXPECT_EQ(invites_to(take(), carol), 1u);
    advance(2100);
    EXPECT_FALSE(carrier_up());
    EXPECT_EQ(invites_to(take(), bob), 1u);
}

TEST_F(failover_test, every_destination_down_gives_the_caller_503_at_once) {
    with_carrier(5, 1);
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("1234@carrier"))"), "");
    advance(2000);
    take();
    ASSERT_FALSE(carrier_up());
    from_alice(alice_invite());
    const auto out = take();
    EXPECT_NE(find_response(out, acc, 503), nullptr);
    EXPECT_EQ(invites_to(out, carol), 0u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

TEST_F(failover_test, a_transfer_to_a_provider_that_is_down_is_refused_503) {
    with_carrier(5, 1);
    advance(2000);
    take();
    ASSERT_FALSE(carrier_up());
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("bob@198.51.100.20[tr=c]"))"), "");
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", R"(sys.Dial("5678@carrier"))"), "");
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "anyone"));
    const auto out = take();
    EXPECT_NE(find_response(out, core, 503, sip::method::refer), nullptr);
    EXPECT_EQ(invites_to(out, carol), 0u);
    EXPECT_EQ(b2b_->stats().providers_skipped_down, 1u);
}
