// Provider failover in the B2BUA, in process: a destination at a provider that answers nothing
// within its response_timeout fails with 408 and the dial string moves on; a probed provider
// (ping) that leaves an OPTIONS or INVITE unanswered is skipped until it answers again; a
// provider whose max_calls are in use is skipped until one ends.

#include "b2bua_fixture.hh"

namespace {

class failover_test : public b2bua_test {
protected:
    /// The provider "carrier" at carol's address with these probe settings.
    void with_carrier(unsigned ping_s, unsigned response_timeout_s, unsigned max_calls = 0) {
        provider_config carrier;
        carrier.max_calls = max_calls;
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

// ------------------------------------------------------------------ max_calls (channels)

namespace {

invite_opts nth_call(unsigned n) {
    invite_opts o;
    o.call_id = "alice-call-" + std::to_string(n) + "@192.0.2.10";
    o.branch = "z9hG4bKalice-n" + std::to_string(n);
    return o;
}

}  // namespace

TEST_F(failover_test, a_provider_with_every_channel_in_use_is_skipped_until_one_ends) {
    with_carrier(0, 0, 1);
    from_alice(alice_invite(nth_call(1)));
    const auto first = invite_sent_to(take(), carol);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(b2b_->provider_calls("carrier"), 1u) << "ringing holds a channel";

    from_alice(alice_invite(nth_call(2)));
    auto out = take();
    EXPECT_EQ(invites_to(out, carol), 0u) << "no channel left";
    EXPECT_EQ(invites_to(out, bob), 1u) << "the next destination at once";
    EXPECT_EQ(b2b_->stats().providers_skipped_full, 1u);

    // The first call fails there: its channel is free again.
    from_carol(bob_response(first->msg, 486, "Busy Here", {}, "carrtag"));
    take();
    EXPECT_EQ(b2b_->provider_calls("carrier"), 0u);
    from_alice(alice_invite(nth_call(3)));
    EXPECT_EQ(invites_to(take(), carol), 1u);
}

TEST_F(failover_test, an_answered_call_holds_its_channel_until_it_ends) {
    with_carrier(0, 0, 2);
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("1234@carrier&5678@carrier&9@carrier"))"), "");
    from_alice(alice_invite());
    auto out = take();
    EXPECT_EQ(invites_to(out, carol), 2u) << "two channels: the third destination of the group is skipped";
    EXPECT_EQ(b2b_->stats().providers_skipped_full, 1u);
    EXPECT_EQ(b2b_->provider_calls("carrier"), 2u);
    std::vector<std::unique_ptr<received>> invites;
    for (const auto& r : out) {
        if (r->msg.is_request && r->msg.req_method == sip::method::invite && r->to == carol) {
            invites.push_back(parse_copy(r->realm, r->to, r->text));
        }
    }
    ASSERT_EQ(invites.size(), 2u);
    from_carol(bob_response(invites[0]->msg, 200, "OK", bob_sdp, "carrtag"));
    out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(b2b_->provider_calls("carrier"), 1u) << "the cancelled one gave its channel back";
    const std::string a_tag(ok->msg.to.tag);
    from_alice(alice_request("ACK", a_tag, 1, "z9hG4bKaliceack", invite_opts{}.call_id));
    take();
    EXPECT_EQ(b2b_->provider_calls("carrier"), 1u);
    from_alice(alice_request("BYE", a_tag, 2, "z9hG4bKalicebye", invite_opts{}.call_id));
    take();
    EXPECT_EQ(b2b_->provider_calls("carrier"), 0u) << "the call is over";
}

TEST_F(failover_test, a_caller_who_gives_up_frees_the_channel) {
    with_carrier(0, 0, 1);
    from_alice(alice_invite());
    const auto inv = invite_sent_to(take(), carol);
    ASSERT_NE(inv, nullptr);
    from_carol(bob_response(inv->msg, 180, "Ringing", {}, "carrtag"));
    take();
    std::string cancel = alice_invite();
    cancel.replace(0, cancel.find(' '), "CANCEL");
    cancel.replace(cancel.find("CSeq: 1 INVITE"), 14, "CSeq: 1 CANCEL");
    from_alice(cancel);
    take();
    EXPECT_EQ(b2b_->provider_calls("carrier"), 0u);
}

TEST_F(failover_test, a_transfer_that_replaces_the_providers_leg_frees_its_channel) {
    with_carrier(0, 0, 1);
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("1234@carrier[tr=c]"))"), "");
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", R"(sys.Dial("x@198.51.100.20"))"), "");
    from_alice(alice_invite());
    const auto inv = invite_sent_to(take(), carol);
    ASSERT_NE(inv, nullptr);
    from_carol(bob_response(inv->msg, 200, "OK", bob_sdp, "bobtag", "<sip:carrier@198.51.100.30:5060>"));
    const auto answered = take();  // kept: `ok` points into it
    const received* ok = find_response(answered, acc, 200);
    ASSERT_NE(ok, nullptr);
    from_alice(alice_request("ACK", std::string(ok->msg.to.tag), 1, "z9hG4bKaliceack", invite_opts{}.call_id));
    take();
    EXPECT_EQ(b2b_->provider_calls("carrier"), 1u);

    from_carol(bob_refer(inv->msg, "x"));  // the provider's side transfers alice to bob
    const auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr);
    from_bob(bob_response(to_bob->msg, 200, "OK", bob_sdp, "newtag"));
    take();
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);
    EXPECT_EQ(b2b_->provider_calls("carrier"), 0u) << "the carrier's leg is gone, alice talks to bob";
}

TEST_F(failover_test, a_silent_provider_is_failed_over_in_a_transfer_too) {
    with_carrier(0, 2);
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("bob@198.51.100.20[tr=c]"))"), "");
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", R"(sys.Dial("5678@carrier|x@198.51.100.31"))"), "");
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "anyone"));
    auto out = take();
    EXPECT_EQ(invites_to(out, carol), 1u) << "the transfer's first destination: the silent provider";
    const sip_addr x{ip(198, 51, 100, 31), 5060};
    advance(2100);
    out = take();
    EXPECT_EQ(invites_to(out, x), 1u) << "its next destination after the response timeout, not after 32 s";
    EXPECT_EQ(b2b_->stats().provider_response_timeouts, 1u);
    EXPECT_EQ(count_request(out, core, sip::method::cancel), 0u) << "no CANCEL before a provisional";
}

// ------------------------------------------------------------------ max_calls: calls from the provider

namespace {

// The n-th INVITE from the carrier (at carol's address) to the core realm.
std::string carrier_invite(unsigned n) {
    std::string s = alice_invite(nth_call(n));
    for (auto [from, to] : {std::pair<std::string, std::string>{"192.0.2.10", "198.51.100.30"},
                            {"192.0.2.1", "198.51.100.1"}}) {
        for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
            s.replace(at, from.size(), to);
        }
    }
    // The SDP is as long as before only when both addresses grew alike: fix Content-Length.
    const size_t body = s.find("\r\n\r\n") + 4;
    const size_t cl = s.find("Content-Length: ");
    s.replace(cl, s.find("\r\n", cl) - cl, "Content-Length: " + std::to_string(s.size() - body));
    return s;
}

}  // namespace

TEST_F(failover_test, calls_from_the_provider_take_its_channels_too) {
    with_carrier(0, 0, 2);
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("bob@198.51.100.20"))"), "");
    from_carol(carrier_invite(1));
    const auto first = invite_sent_to(take(), bob);
    ASSERT_NE(first, nullptr) << "the carrier's call is routed";
    EXPECT_EQ(b2b_->provider_calls("carrier"), 1u) << "a call from the trunk holds one of its channels";

    // A call placed at the carrier meanwhile takes the second; a third call either way finds none.
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("1234@carrier|bob@198.51.100.20"))"), "");
    from_alice(alice_invite(nth_call(2)));
    EXPECT_EQ(invites_to(take(), carol), 1u);
    EXPECT_EQ(b2b_->provider_calls("carrier"), 2u);
    from_carol(carrier_invite(3));
    auto out = take();
    const received* refused = find_response(out, core, 503);
    ASSERT_NE(refused, nullptr) << "beyond the trunk's channels";
    EXPECT_EQ(refused->msg.find("Retry-After"), nullptr) << "the provider routes this call elsewhere, not all";
    EXPECT_EQ(b2b_->stats().providers_refused_full, 1u);
    EXPECT_EQ(invites_to(out, bob), 0u);

    // The first call fails at bob: its channel is back, and the next call from the carrier takes it.
    from_bob(bob_response(first->msg, 486, "Busy Here", {}, "bobtag"));
    take();
    EXPECT_EQ(b2b_->provider_calls("carrier"), 1u);
    from_carol(carrier_invite(4));
    out = take();
    EXPECT_EQ(find_response(out, core, 503), nullptr);
    EXPECT_EQ(b2b_->provider_calls("carrier"), 2u);
    EXPECT_EQ(invites_to(out, carol), 0u) << "its own dialplan's carrier destination found no channel left";
    EXPECT_EQ(invites_to(out, bob), 1u);
    EXPECT_EQ(b2b_->stats().providers_skipped_full, 1u);
}

// ------------------------------------------------------------------ max_calls: a transfer's new party

TEST_F(failover_test, a_transfer_to_the_provider_takes_a_channel_for_the_new_leg) {
    with_carrier(0, 0, 1);
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("bob@198.51.100.20[tr=c]"))"), "");
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", R"(sys.Dial("5678@carrier|x@198.51.100.31"))"), "");
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "anyone"));
    const auto to_carrier = invite_sent_to(take(), carol);
    ASSERT_NE(to_carrier, nullptr);
    EXPECT_EQ(b2b_->provider_calls("carrier"), 1u) << "the ringing transfer destination holds the channel";

    // Meanwhile another call's destination at the carrier finds no channel and goes on at once.
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("1234@carrier|bob@198.51.100.20"))"), "");
    from_alice(alice_invite(nth_call(2)));
    auto out = take();
    EXPECT_EQ(invites_to(out, carol), 0u);
    EXPECT_EQ(invites_to(out, bob), 1u);
    EXPECT_EQ(b2b_->stats().providers_skipped_full, 1u);

    // The carrier answers: the channel is the new leg's until the call ends.
    from_carol(bob_response(to_carrier->msg, 200, "OK", carol_sdp, "carrtag", "<sip:5678@198.51.100.30:5060>"));
    take();
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);
    EXPECT_EQ(b2b_->provider_calls("carrier"), 1u);
    const std::string calls = b2b_->calls_json();
    EXPECT_NE(calls.find(R"("channels":["","carrier"])"), std::string::npos) << "leg B holds it: " << calls;
    from_alice(alice_request("BYE", cs.a_tag, 3, "z9hG4bKalicebye9"));
    take();
    EXPECT_EQ(b2b_->provider_calls("carrier"), 0u) << "the call is over";
}

TEST_F(failover_test, a_transfer_step_at_a_full_provider_is_skipped_and_a_failed_one_gives_its_channel_back) {
    with_carrier(0, 0, 1);
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(sys.Dial("bob@198.51.100.20[tr=c]"))"), "");
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", R"(sys.Dial("5678@carrier&9@carrier|x@198.51.100.31"))"), "");
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "anyone"));
    auto out = take();
    EXPECT_EQ(invites_to(out, carol), 1u) << "one channel: one of the step's two carrier destinations rings";
    EXPECT_EQ(b2b_->stats().providers_skipped_full, 1u);
    const auto to_carrier = invite_sent_to(out, carol);
    ASSERT_NE(to_carrier, nullptr);
    from_carol(bob_response(to_carrier->msg, 486, "Busy Here", {}, "carrtag"));
    out = take();
    EXPECT_EQ(b2b_->provider_calls("carrier"), 0u) << "the failed destination gave its channel back";
    EXPECT_EQ(invites_to(out, sip_addr{ip(198, 51, 100, 31), 5060}), 1u) << "the next step rings";
}
