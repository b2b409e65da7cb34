// Dialling several destinations (control/b2bua_fork.cc), in process: parallel branches where
// the first answer wins and the others are cancelled, sequential groups after a failure or a
// ring time, the failure alice gets when nobody answers (RFC 3261 16.7), and the per-destination
// options (From user/display/host, extra headers, delayed start, call duration limit).

#include "b2bua_fixture.hh"

namespace {

class fork_test : public b2bua_test {
protected:
    /// Replaces the `default` dialplan with one that dials `dial_string` for every call.
    void dial(const std::string& dial_string) {
        ASSERT_EQ(engine_->load_source("default", "fork.lua", "sys.Dial(\"" + dial_string + "\")"), "");
    }

    /// The INVITEs of one parallel call to `user` ("bob+carol"): bob's and carol's.
    struct fork_invites {
        std::unique_ptr<received> bob, carol;
    };
    fork_invites ring_both(const invite_opts& o) {
        from_alice(alice_invite(o));
        auto out = take();
        fork_invites f{invite_sent_to(out, bob), invite_sent_to(out, carol)};
        EXPECT_TRUE(f.bob && f.carol) << "an INVITE to each";
        return f;
    }

    /// alice calls the dialplan's destination (bob), and bob rings.
    void bob_rings() {
        from_alice(alice_invite());
        auto to_bob = invite_sent_to(take(), bob);
        ASSERT_NE(to_bob, nullptr);
        from_bob(bob_response(to_bob->msg, 180, "Ringing"));
        take();
    }

    /// The callee's 302 to `req` with `contacts` as its Contact header lines.
    static std::string redirect(const sip::message& req, const std::vector<std::string>& contacts) {
        std::string text = bob_response(req, 302, "Moved Temporarily");
        std::string lines;
        for (const std::string& c : contacts) {
            lines += "Contact: " + c + "\r\n";
        }
        return text.insert(text.find("Content-Length:"), lines);
    }

    static size_t count_to(const std::vector<std::unique_ptr<received>>& out, sip_addr peer, sip::method m) {
        return static_cast<size_t>(std::count_if(out.begin(), out.end(), [&](const auto& r) {
            return r->to == peer && r->msg.is_request && r->msg.req_method == m;
        }));
    }
};

const std::string bob_and_carol = "bob+carol";
const std::string carol_then_bob = "carol-then-bob";

}  // namespace

// ================================================================== parallel

TEST_F(fork_test, parallel_branches_offer_the_same_media_in_dialogs_of_their_own) {
    invite_opts o;
    o.user = bob_and_carol;
    from_alice(alice_invite(o));
    auto out = take();
    auto to_bob = invite_sent_to(out, bob);
    auto to_carol = invite_sent_to(out, carol);
    ASSERT_NE(to_bob, nullptr);
    ASSERT_NE(to_carol, nullptr);
    EXPECT_NE(to_bob->msg.call_id, to_carol->msg.call_id);
    EXPECT_NE(to_bob->msg.from.tag, to_carol->msg.from.tag);
    EXPECT_NE(to_bob->msg.top_via.branch, to_carol->msg.top_via.branch);
    EXPECT_NE(to_bob->msg.call_id, o.call_id) << "leg A's Call-ID never reaches leg B";
    EXPECT_EQ(sdp_of(to_bob->msg.body).port, sdp_of(to_carol->msg.body).port) << "one B half for every branch";
    EXPECT_EQ(sdp_of(to_bob->msg.body).conn, "198.51.100.1");
    const std::string j = b2b_->calls_json();
    EXPECT_NE(j.find(std::string(to_bob->msg.call_id)), std::string::npos) << j;
    EXPECT_NE(j.find(std::string(to_carol->msg.call_id)), std::string::npos) << j;
}

TEST_F(fork_test, first_answer_wins_and_the_ringing_loser_is_cancelled) {
    invite_opts o;
    o.user = bob_and_carol;
    auto [to_bob, to_carol] = ring_both(o);
    ASSERT_TRUE(to_bob && to_carol);
    std::vector<std::unique_ptr<received>> out;
    from_bob(bob_response(to_bob->msg, 180, "Ringing"));
    from_carol(bob_response(to_carol->msg, 180, "Ringing", {}, "caroltag"));
    out = take();
    EXPECT_EQ(count_response(out, acc, 180), 2u) << "alice hears each branch ring";
    from_carol(bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(sdp_of(ok->msg.body).conn, "192.0.2.1");
    EXPECT_EQ(ok->text.find("caroltag"), std::string::npos) << "no topology leaks to leg A";
    EXPECT_EQ(count_to(out, carol, sip::method::ack), 1u);
    ASSERT_EQ(count_to(out, bob, sip::method::cancel), 1u) << "the loser is cancelled";
    const received* cancel = find_request(out, core, sip::method::cancel);
    EXPECT_EQ(cancel->msg.call_id, to_bob->msg.call_id);
    EXPECT_EQ(cancel->msg.top_via.branch, to_bob->msg.top_via.branch);
    const sip::header* reason = cancel->msg.find("Reason");
    ASSERT_NE(reason, nullptr) << "RFC 3326: bob's phone shows no missed call";
    EXPECT_EQ(reason->value, "SIP;cause=200;text=\"Call completed elsewhere\"");
    const std::string a_tag(ok->msg.to.tag);

    // bob's 487 is ACKed by his transaction and changes nothing for alice.
    from_bob(bob_response(to_bob->msg, 487, "Request Terminated"));
    out = take();
    EXPECT_EQ(count_to(out, bob, sip::method::ack), 1u);
    EXPECT_EQ(out.size(), 1u);
    from_alice(alice_request("ACK", a_tag, 1, "z9hG4bKaliceack", o.call_id));
    EXPECT_TRUE(take().empty());
    EXPECT_EQ(b2b_->active_calls(), 1u);

    // The call is alice-carol: alice's BYE goes to carol.
    from_alice(alice_request("BYE", a_tag, 2, "z9hG4bKalicebye", o.call_id));
    out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::bye), 1u);
    EXPECT_EQ(count_to(out, bob, sip::method::bye), 0u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<std::string>("callee"), "198.51.100.30:5060");
    EXPECT_EQ(rec.get<std::string>("b_call_id"), std::string(to_carol->msg.call_id));
}

TEST_F(fork_test, a_loser_that_answers_too_late_is_acked_and_hung_up) {
    invite_opts o;
    o.user = bob_and_carol;
    auto [to_bob, to_carol] = ring_both(o);
    ASSERT_TRUE(to_bob && to_carol);
    std::vector<std::unique_ptr<received>> out;
    from_bob(bob_response(to_bob->msg, 200, "OK", bob_sdp));
    take();
    // carol's 200 crossed the appliance's CANCEL (she never sent a provisional, so none went yet).
    from_carol(bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::ack), 1u);
    ASSERT_EQ(count_to(out, carol, sip::method::bye), 1u);
    const received* bye = find_request(out, core, sip::method::bye);
    EXPECT_EQ(bye->msg.call_id, to_carol->msg.call_id);
    EXPECT_EQ(bye->msg.to.tag, "caroltag");
    EXPECT_EQ(count_response(out, acc, 200), 0u) << "alice got one 2xx, bob's";
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(fork_test, busy_beats_no_answer_when_every_branch_fails) {
    invite_opts o;
    o.user = bob_and_carol;
    auto [to_bob, to_carol] = ring_both(o);
    ASSERT_TRUE(to_bob && to_carol);
    std::vector<std::unique_ptr<received>> out;
    from_bob(bob_response(to_bob->msg, 480, "Temporarily Unavailable"));
    out = take();
    EXPECT_EQ(count_response(out, acc, 480), 0u) << "carol still rings";
    from_carol(bob_response(to_carol->msg, 486, "Busy Here", {}, "caroltag"));
    out = take();
    EXPECT_NE(find_response(out, acc, 486), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    EXPECT_EQ(json(cdrs_->recent().back()).get<unsigned>("result"), 486u);
}

TEST_F(fork_test, a_6xx_ends_the_search_at_once) {
    invite_opts o;
    o.user = bob_and_carol;
    auto [to_bob, to_carol] = ring_both(o);
    ASSERT_TRUE(to_bob && to_carol);
    std::vector<std::unique_ptr<received>> out;
    from_carol(bob_response(to_carol->msg, 180, "Ringing", {}, "caroltag"));
    take();
    from_bob(bob_response(to_bob->msg, 603, "Decline"));
    out = take();
    EXPECT_NE(find_response(out, acc, 603), nullptr);
    EXPECT_EQ(count_to(out, carol, sip::method::cancel), 1u) << "RFC 3261 16.7: a 6xx cancels the others";
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

TEST_F(fork_test, alice_cancelling_cancels_every_ringing_branch) {
    invite_opts o;
    o.user = bob_and_carol;
    auto [to_bob, to_carol] = ring_both(o);
    ASSERT_TRUE(to_bob && to_carol);
    std::vector<std::unique_ptr<received>> out;
    from_bob(bob_response(to_bob->msg, 180, "Ringing"));
    take();
    invite_opts c = o;
    from_alice(alice_cancel(c));
    out = take();
    EXPECT_NE(find_response(out, acc, 487), nullptr);
    EXPECT_EQ(count_to(out, bob, sip::method::cancel), 1u);
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->msg.find("Reason"), nullptr) << "nobody answered: a missed call it is";
    EXPECT_EQ(count_to(out, carol, sip::method::cancel), 0u) << "carol sent nothing yet: her CANCEL waits";
    from_carol(bob_response(to_carol->msg, 100, "Trying"));
    EXPECT_EQ(count_to(take(), carol, sip::method::cancel), 1u);
    from_bob(bob_response(to_bob->msg, 487, "Request Terminated"));
    take();
    EXPECT_EQ(b2b_->active_calls(), 0u);
    from_carol(bob_response(to_carol->msg, 487, "Request Terminated", {}, "caroltag"));
    take();
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(fork_test, destinations_on_different_realms_are_refused) {
    dial("alice@192.0.2.10&bob@198.51.100.20");
    from_alice(alice_invite());
    auto out = take();
    const received* refused = find_response(out, acc, 502);
    ASSERT_NE(refused, nullptr);
    EXPECT_NE(refused->text.find("one realm"), std::string::npos) << refused->text;
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

// ================================================================== sequential

TEST_F(fork_test, the_next_group_rings_when_the_ring_time_runs_out) {
    invite_opts o;
    o.user = carol_then_bob;
    from_alice(alice_invite(o));
    auto out = take();
    auto to_carol = invite_sent_to(out, carol);
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(invite_sent_to(out, bob), nullptr) << "bob waits for carol's turn to end";
    from_carol(bob_response(to_carol->msg, 180, "Ringing", {}, "caroltag"));
    EXPECT_NE(find_response(take(), acc, 180), nullptr);
    advance(3999);
    out = take();
    EXPECT_EQ(invite_sent_to(out, bob), nullptr);
    EXPECT_EQ(count_to(out, carol, sip::method::cancel), 0u);
    advance(1);  // carol's rt=4 runs out
    out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::cancel), 1u);
    auto to_bob = invite_sent_to(out, bob);
    ASSERT_NE(to_bob, nullptr);
    EXPECT_EQ(count_response(out, acc, 480), 0u) << "alice keeps waiting for bob";
    from_bob(bob_response(to_bob->msg, 200, "OK", bob_sdp));
    out = take();
    EXPECT_NE(find_response(out, acc, 200), nullptr);
    // carol's 487 for the cancelled INVITE is ACKed and ends nothing.
    from_carol(bob_response(to_carol->msg, 487, "Request Terminated", {}, "caroltag"));
    out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::ack), 1u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(fork_test, the_next_group_rings_at_once_after_a_failure) {
    invite_opts o;
    o.user = carol_then_bob;
    from_alice(alice_invite(o));
    auto to_carol = invite_sent_to(take(), carol);
    ASSERT_NE(to_carol, nullptr);
    from_carol(bob_response(to_carol->msg, 486, "Busy Here", {}, "caroltag"));
    auto out = take();
    EXPECT_EQ(count_response(out, acc, 486), 0u);
    auto to_bob = invite_sent_to(out, bob);
    ASSERT_NE(to_bob, nullptr);
    from_bob(bob_response(to_bob->msg, 404, "Not Found"));
    out = take();
    // Both failed: the best of both (4xx each; a real answer over "no answer": the first).
    EXPECT_NE(find_response(out, acc, 486), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

TEST_F(fork_test, ring_time_on_the_last_group_gives_480) {
    dial("bob@198.51.100.20[rt=2]");
    from_alice(alice_invite());
    auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr);
    from_bob(bob_response(to_bob->msg, 180, "Ringing"));
    take();
    advance(2000);
    auto out = take();
    EXPECT_EQ(count_to(out, bob, sip::method::cancel), 1u);
    EXPECT_NE(find_response(out, acc, 480), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

// Without rt= a destination rings for [sip] max_ring (180 s by default), like a proxy's Timer C:
// a callee that sends 180 and then nothing does not hold the call and its relay ports for ever.
TEST_F(fork_test, without_rt_a_destination_rings_at_most_max_ring) {
    ASSERT_NO_FATAL_FAILURE(bob_rings());
    advance(179'999);
    EXPECT_EQ(count_to(take(), bob, sip::method::cancel), 0u);
    advance(1);
    auto out = take();
    EXPECT_EQ(count_to(out, bob, sip::method::cancel), 1u);
    EXPECT_NE(find_response(out, acc, 480), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    // bob answers neither the CANCEL nor the INVITE: 64*T1 later nothing of the call is left
    // (RFC 3261 9.1; before, the INVITE transaction and its message stayed for good).
    advance(40'000);
    EXPECT_EQ(tl_->size(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(fork_test, max_ring_zero_lets_a_destination_ring_until_the_caller_gives_up) {
    b2bua_config cfg = base_config();
    cfg.max_ring_s = 0;
    rebuild(cfg);
    ASSERT_NO_FATAL_FAILURE(bob_rings());
    advance(3'600'000);
    EXPECT_EQ(count_to(take(), bob, sip::method::cancel), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// A callee that rang and then went silent: alice's CANCEL is passed on, and 64*T1 after it
// the INVITE transaction towards bob is given up (RFC 3261 9.1) with nothing left behind.
TEST_F(fork_test, a_callee_silent_after_the_cancel_leaves_no_transaction) {
    ASSERT_NO_FATAL_FAILURE(bob_rings());
    from_alice(alice_cancel());
    auto out = take();
    EXPECT_EQ(count_to(out, bob, sip::method::cancel), 1u);
    EXPECT_NE(find_response(out, acc, 487), nullptr);
    advance(40'000);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(tl_->size(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

// ================================================================== options

TEST_F(fork_test, from_user_display_host_and_extra_headers_reach_the_destination) {
    dial("bob@198.51.100.20[fu=1000,fd=Front \\\"Desk\\\",fh=example.net,h=X-Account: gold,h=P-Tag: 7]");
    from_alice(alice_invite());
    auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr);
    const std::string want = "\"Front \\\"Desk\\\"\" <sip:1000@example.net>;tag=";
    EXPECT_EQ(header(to_bob->msg, sip::hdr::from).substr(0, want.size()), want);
    EXPECT_NE(to_bob->text.find("\r\nX-Account: gold\r\n"), std::string::npos) << to_bob->text;
    EXPECT_NE(to_bob->text.find("\r\nP-Tag: 7\r\n"), std::string::npos);
}

TEST_F(fork_test, without_options_from_is_the_callers_user_on_the_appliance) {
    from_alice(alice_invite());
    auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr);
    const std::string want = "\"Alice\" <sip:alice@198.51.100.1>;tag=";
    EXPECT_EQ(header(to_bob->msg, sip::hdr::from).substr(0, want.size()), want);
}

TEST_F(fork_test, a_delayed_destination_rings_later_and_not_at_all_once_answered) {
    dial("bob@198.51.100.20&carol@198.51.100.30[dt=2]");
    from_alice(alice_invite());
    auto out = take();
    auto to_bob = invite_sent_to(out, bob);
    ASSERT_NE(to_bob, nullptr);
    EXPECT_EQ(invite_sent_to(out, carol), nullptr);
    advance(1999);
    EXPECT_EQ(count_to(take(), carol, sip::method::invite), 0u);
    advance(1);
    auto first_carol = invite_sent_to(take(), carol);
    ASSERT_NE(first_carol, nullptr);

    // Again, with bob answering within the delay: carol is never called (the first call's
    // INVITE to her is still being retransmitted, so only new Call-IDs count).
    dial("bob@198.51.100.20&carol@198.51.100.30[dt=2]");
    invite_opts o;
    o.call_id = "second@192.0.2.10";
    o.branch = "z9hG4bKsecond";
    from_alice(alice_invite(o));
    auto second = invite_sent_to(take(), bob);
    ASSERT_NE(second, nullptr);
    from_bob(bob_response(second->msg, 200, "OK", bob_sdp, "bobtag2"));
    take();
    advance(5000);
    out = take();
    EXPECT_EQ(std::count_if(out.begin(), out.end(), [&](const auto& r) {
                  return r->to == carol && r->msg.is_request && r->msg.call_id != first_carol->msg.call_id;
              }),
              0);
    EXPECT_GT(count_to(out, carol, sip::method::invite), 0u) << "the first call's INVITE, retransmitted";
}

TEST_F(fork_test, call_duration_limit_hangs_up_both_legs) {
    dial("bob@198.51.100.20[cd=60]");
    const call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    advance(59999);
    EXPECT_EQ(count_request(take(), core, sip::method::bye), 0u);
    advance(1);
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::bye), 1u);
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("hangup"), "limit");
}

TEST_F(fork_test, cd_on_a_transfer_destination_limits_the_call_from_its_answer_and_replaces_the_old_limit) {
    dial("bob@198.51.100.20[tr=c,cd=600]");
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", "sys.Dial(\"carol@198.51.100.30[cd=30]\")"), "");
    const call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    advance(10'000);
    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    auto out = take();
    auto to_carol = invite_sent_to(out, carol);
    ASSERT_NE(to_carol, nullptr);
    advance(5'000);  // carol answers 15 s into the call
    feed(core, carol, bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    take();
    advance(29'999);
    EXPECT_EQ(count_to(take(), carol, sip::method::bye), 0u);  // (bob, the transferor, got his BYE at once)
    advance(1);
    out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::bye), 1u) << "30 s after carol answered, not 600 s after the call began";
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("hangup"), "limit");
}

TEST_F(fork_test, transfer_mode_of_the_answering_destination_applies_to_both_legs) {
    dial("bob@198.51.100.20[tr=n]&carol@198.51.100.30[tr=c]");
    from_alice(alice_invite());
    auto out = take();
    auto to_carol = invite_sent_to(out, carol);
    ASSERT_NE(to_carol, nullptr);
    from_carol(bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    take();
    const std::string j = b2b_->calls_json();
    EXPECT_NE(j.find("\"transfer_mode\":\"c\""), std::string::npos) << j;
    EXPECT_EQ(j.find("\"transfer_mode\":\"n\""), std::string::npos) << j;
}

TEST_F(fork_test, the_call_manager_api_finds_a_call_by_its_fu_tag) {
    dial("bob@198.51.100.20[fu=ivr-7]");
    const call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_NE(b2b_->calls_json().find("\"tag\":\"ivr-7\""), std::string::npos);
    EXPECT_EQ(b2b_->api_transfer("ivr-8", "a", "carol").first, 404);
    const auto [status, body] = b2b_->api_transfer("ivr-7", "a", "carol");
    EXPECT_EQ(status, 202) << body;
    EXPECT_EQ(count_to(take(), carol, sip::method::invite), 1u);
}

TEST_F(fork_test, a_tag_on_two_calls_is_ambiguous) {
    dial("bob@198.51.100.20[fu=queue]");
    const call_state first = confirmed_call();
    invite_opts o;
    o.call_id = "second@192.0.2.10";
    o.branch = "z9hG4bKsecond";
    const call_state second = confirmed_call(o);
    ASSERT_TRUE(first.b_invite && second.b_invite);
    EXPECT_EQ(b2b_->api_transfer("queue", "a", "carol").first, 409);
    EXPECT_EQ(b2b_->api_transfer(o.call_id, "a", "carol").first, 202) << "the call id still works";
}

TEST_F(fork_test, a_branch_that_rings_after_its_call_ended_is_cancelled_then) {
    dial("bob@198.51.100.20[rt=2]");
    from_alice(alice_invite());
    auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr);
    advance(2000);  // bob never said anything: no CANCEL may go yet, alice gets 480
    auto out = take();
    EXPECT_NE(find_response(out, acc, 480), nullptr);
    EXPECT_EQ(count_to(out, bob, sip::method::cancel), 0u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    from_bob(bob_response(to_bob->msg, 180, "Ringing"));
    out = take();
    EXPECT_EQ(count_to(out, bob, sip::method::cancel), 1u);
    EXPECT_EQ(count_response(out, acc, 180), 0u) << "nothing reaches alice any more";
    from_bob(bob_response(to_bob->msg, 487, "Request Terminated"));
    EXPECT_EQ(count_to(take(), bob, sip::method::ack), 1u);
}

TEST_F(fork_test, a_reliable_provisional_response_is_pracked_once_in_its_early_dialog) {
    // RFC 3262, hop by hop: bob's reliable 180 gets our PRACK; alice just hears it ring.
    const call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_NE(cs.b_invite->text.find("Supported: 100rel"), std::string::npos);
    std::string ringing = bob_response(cs.b_invite->msg, 180, "Ringing");
    ringing.insert(ringing.find("Content-Length"), "Require: 100rel\r\nRSeq: 7\r\n");
    from_bob(ringing);
    auto out = take();
    const received* prack = find_request(out, core, sip::method::prack);
    ASSERT_NE(prack, nullptr);
    EXPECT_EQ(prack->to, bob);
    EXPECT_EQ(prack->msg.call_id, cs.b_invite->msg.call_id);
    EXPECT_EQ(prack->msg.to.tag, "bobtag") << "in the early dialog the 180 made";
    EXPECT_EQ(header(prack->msg, sip::hdr::rack), "7 1 INVITE");
    EXPECT_EQ(prack->msg.cseq, 2u);
    EXPECT_NE(find_response(out, acc, 180), nullptr);
    EXPECT_EQ(b2b_->stats().pracks_sent, 1u);

    // Its retransmission is absorbed: no second PRACK, no second 180 to alice.
    from_bob(ringing);
    out = take();
    EXPECT_EQ(count_request(out, core, sip::method::prack), 0u);
    EXPECT_EQ(count_response(out, acc, 180), 0u);

    // The 2xx is ACKed with the INVITE's CSeq; alice's BYE then goes to bob after the PRACK's.
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    out = take();
    const received* ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->msg.cseq, 1u);
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    const std::string a_tag(ok->msg.to.tag);
    from_alice(alice_request("ACK", a_tag, 1, "z9hG4bKaliceack"));
    from_alice(alice_request("BYE", a_tag, 2, "z9hG4bKalicebye"));
    out = take();
    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->msg.cseq, 3u);
}

// ================================================================== redirects (rd=)

// A 302 from a destination with rd=2: its two best sip: Contacts on the call's realm (by q) are
// dialled one after the other with the Contact as Request-URI (a number portability answer's
// parameters kept), then the rest of the dial string; the caller never hears the 302.
TEST_F(fork_test, a_redirect_is_followed_where_the_dial_string_asks) {
    const sip_addr desk{ip(198, 51, 100, 31), 5070};
    const sip_addr erin{ip(198, 51, 100, 32), 5060};
    const sip_addr far{ip(198, 51, 100, 33), 5060};
    dial("bob@198.51.100.20:5060[rd=2]|carol@198.51.100.30:5060");
    from_alice(alice_invite());
    auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr);
    from_bob(redirect(to_bob->msg, {"<sip:desk@198.51.100.31:5070;rn=+15551234;npdi>;q=0.5, <sip:x@192.0.2.50>",
                                    "<sip:erin@198.51.100.32>;q=0.9", "<sip:far@198.51.100.33>;q=0.1"}));
    auto out = take();
    EXPECT_EQ(count_to(out, bob, sip::method::ack), 1u) << "the 302 is ACKed by its transaction";
    EXPECT_EQ(count_response(out, acc, 302), 0u) << "the caller never hears the redirect";
    auto to_erin = invite_sent_to(out, erin);
    ASSERT_NE(to_erin, nullptr) << "the highest q first";
    EXPECT_EQ(to_erin->msg.request_uri, "sip:erin@198.51.100.32");
    const sip::header* diversion = to_erin->msg.find("Diversion");
    ASSERT_NE(diversion, nullptr) << "RFC 5806: bob deflected the call";
    EXPECT_EQ(diversion->value, "<sip:bob@198.51.100.1>;reason=deflection;counter=1");
    EXPECT_EQ(to_bob->msg.find("Diversion"), nullptr);
    EXPECT_EQ(b2b_->stats().redirects_followed, 1u);

    // erin redirects too: one level only, so that is her failure; the next contact rings.
    from_carol(redirect(to_erin->msg, {"<sip:bob@198.51.100.20>"}));
    out = take();
    EXPECT_EQ(invite_sent_to(out, bob), nullptr) << "no second level";
    auto to_desk = invite_sent_to(out, desk);
    ASSERT_NE(to_desk, nullptr);
    EXPECT_EQ(to_desk->msg.request_uri, "sip:desk@198.51.100.31:5070;rn=+15551234;npdi");
    feed(core, desk, bob_response(to_desk->msg, 486, "Busy Here", {}, "desktag"));
    out = take();
    EXPECT_EQ(invite_sent_to(out, far), nullptr) << "rd=2: two contacts at most";
    auto to_carol = invite_sent_to(out, carol);
    ASSERT_NE(to_carol, nullptr) << "then the rest of the dial string";
    from_carol(bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    EXPECT_NE(find_response(take(), acc, 200), nullptr);
    EXPECT_EQ(b2b_->stats().redirects_followed, 1u);
}

TEST_F(fork_test, without_rd_or_usable_contacts_a_redirect_is_a_failure) {
    dial("bob@198.51.100.20:5060[rd=3]|carol@198.51.100.30:5060");
    from_alice(alice_invite());
    auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr);
    // Contacts the appliance may not dial: a name, another realm, a tel: URI.
    from_bob(redirect(to_bob->msg, {"<sip:x@gw.example.net>", "<sip:y@192.0.2.60>", "<tel:+15551234>"}));
    auto out = take();
    EXPECT_NE(invite_sent_to(out, carol), nullptr) << "the next destination, as after any failure";
    EXPECT_EQ(b2b_->stats().redirects_followed, 0u);
}

// Without rd= a 3xx is no answer the caller could use: the destination counts as unavailable
// (480), never as a bare 3xx to the caller, and a real answer of another branch wins over it.
TEST_F(fork_test, a_redirect_not_followed_counts_as_unavailable) {
    dial("bob@198.51.100.20:5060");
    from_alice(alice_invite());
    auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr);
    from_bob(redirect(to_bob->msg, {"<sip:carol@198.51.100.30>"}));
    auto out = take();
    EXPECT_EQ(count_response(out, acc, 302), 0u);
    EXPECT_NE(find_response(out, acc, 480), nullptr);
    EXPECT_EQ(invite_sent_to(out, carol), nullptr) << "not followed without rd=";
}

TEST_F(fork_test, a_busy_branch_beats_one_that_redirected) {
    invite_opts o;
    o.user = bob_and_carol;
    auto [to_bob, to_carol] = ring_both(o);
    ASSERT_TRUE(to_bob && to_carol);
    from_bob(redirect(to_bob->msg, {"<sip:elsewhere@198.51.100.99>"}));
    take();
    from_carol(bob_response(to_carol->msg, 486, "Busy Here", {}, "caroltag"));
    EXPECT_NE(find_response(take(), acc, 486), nullptr);
}
