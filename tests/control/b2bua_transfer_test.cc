// A transfer whose dialplan rings several destinations at once (control/b2bua_transfer.cc,
// "a&b" in the transfer dialplan), in process: bob (bob-trc) REFERs alice; carol and the desk
// phone ring in parallel with the same offer, the first to answer takes bob's place and the
// other is cancelled; a step where everybody fails ends with the best failure and the next
// step rings; a 6xx ends everything; the transferee hanging up cancels every new party.

#include "b2bua_fixture.hh"
#include "rtcp_reports.hh"

namespace {

constexpr sip_addr desk{ip(198, 51, 100, 31), 5060};
constexpr sip_addr erin{ip(198, 51, 100, 32), 5060};

class transfer_fork_test : public b2bua_test {
protected:
    /// The transfer dialplan dials `dial_string` for every REFER.
    void transfer_dials(const std::string& dial_string) {
        ASSERT_EQ(engine_->load_source("transfer", "t.lua", "sys.Dial(\"" + dial_string + "\")"), "");
    }

    /// alice and bob (bob-trc) talk; bob REFERs alice to carol; returns what the appliance sent.
    std::vector<std::unique_ptr<received>> bob_transfers_alice() {
        invite_opts o;
        o.user = "bob-trc";
        cs_ = confirmed_call(o);
        EXPECT_NE(cs_.b_invite, nullptr);
        if (!cs_.b_invite) {
            return {};
        }
        a_rtp_ = table_->find(acc_addr, cs_.a_port);
        bob_side_ = a_rtp_ != nullptr ? a_rtp_->peer() : nullptr;
        from_bob(bob_refer(cs_.b_invite->msg, "carol"));
        return take();
    }

    /// The transfer dialplan dials `dial_string`, bob transfers alice, and carol and the desk
    /// get their INVITEs (kept in to_carol_ and to_desk_); with `ringing` both send 180.
    std::vector<std::unique_ptr<received>> both_ring(const std::string& dial_string, bool ringing) {
        transfer_dials(dial_string);
        auto out = bob_transfers_alice();
        to_carol_ = invite_sent_to(out, carol);
        to_desk_ = invite_sent_to(out, desk);
        EXPECT_TRUE(to_carol_ && to_desk_) << "both ring at once";
        if (ringing && to_carol_ && to_desk_) {
            feed(core, carol, bob_response(to_carol_->msg, 180, "Ringing", {}, "caroltag"));
            feed(core, desk, bob_response(to_desk_->msg, 180, "Ringing", {}, "desktag"));
            take();
        }
        return out;
    }
    void desk_answers() {
        feed(core, desk, bob_response(to_desk_->msg, 200, "OK", carol_sdp, "desktag", "<sip:desk@198.51.100.31:5060>"));
    }

    /// Requests of method `m` in `out` sent to `peer`.
    static size_t count_to(const std::vector<std::unique_ptr<received>>& out, sip_addr peer, sip::method m) {
        return static_cast<size_t>(std::count_if(out.begin(), out.end(), [&](const auto& r) {
            return r->to == peer && r->msg.is_request && r->msg.req_method == m;
        }));
    }

    /// The body of the last NOTIFY to bob in `out` ("" when none).
    static std::string notified(const std::vector<std::unique_ptr<received>>& out) {
        std::string body;
        for (const auto& r : out) {
            if (r->to == bob && r->msg.is_request && r->msg.req_method == sip::method::notify) {
                body = std::string(r->msg.body);
            }
        }
        return body;
    }

    call_state cs_;
    std::unique_ptr<received> to_carol_, to_desk_;
    const dp::media_side* a_rtp_ = nullptr;
    const dp::media_side* bob_side_ = nullptr;
};

}  // namespace

TEST_F(transfer_fork_test, parallel_destinations_ring_with_one_offer_and_the_first_answer_wins) {
    auto out = both_ring("carol@198.51.100.30&desk@198.51.100.31", false);
    ASSERT_TRUE(to_carol_ && to_desk_);
    ASSERT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    EXPECT_NE(to_carol_->msg.call_id, to_desk_->msg.call_id) << "a dialog each";
    const sdp_info carol_offer = sdp_of(to_carol_->msg.body), desk_offer = sdp_of(to_desk_->msg.body);
    EXPECT_EQ(carol_offer.conn, "198.51.100.1");
    EXPECT_EQ(carol_offer.port, desk_offer.port) << "the same relay sides are offered to both";
    EXPECT_EQ(relay_entries(), 6u) << "one new half for the step, not one per destination";

    feed(core, carol, bob_response(to_carol_->msg, 180, "Ringing", {}, "caroltag"));
    take();
    desk_answers();
    out = take();
    EXPECT_EQ(count_to(out, desk, sip::method::ack), 1u);
    EXPECT_EQ(count_to(out, carol, sip::method::cancel), 1u) << "the loser is cancelled";
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    ASSERT_NE(cancel->msg.find("Reason"), nullptr) << "completed elsewhere (RFC 3326)";
    EXPECT_EQ(notified(out), "SIP/2.0 200 OK\r\n");
    EXPECT_EQ(count_to(out, bob, sip::method::bye), 1u);
    EXPECT_NE(find_request(out, acc, sip::method::invite), nullptr) << "alice re-INVITEd";
    EXPECT_NE(a_rtp_->peer(), bob_side_) << "alice's media moved to the desk";
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);

    // carol's 487 is ACKed by her transaction and changes nothing.
    feed(core, carol, bob_response(to_carol_->msg, 487, "Request Terminated", {}, "caroltag"));
    out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::ack), 1u);
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(b2b_->stats().transfers_failed, 0u);
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("hangup"), "transfer");
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(transfer_fork_test, a_loser_that_answers_too_late_is_acked_and_hung_up) {
    both_ring("carol@198.51.100.30&desk@198.51.100.31", false);
    ASSERT_TRUE(to_carol_ && to_desk_);
    desk_answers();
    take();
    feed(core, carol, bob_response(to_carol_->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    const auto out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::ack), 1u);
    EXPECT_EQ(count_to(out, carol, sip::method::bye), 1u);
    EXPECT_EQ(count_to(out, bob, sip::method::notify), 0u) << "the transfer is over: nothing more to tell bob";
    EXPECT_EQ(count_request(out, acc, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->stats().orphan_answers_hung_up, 1u);
}

TEST_F(transfer_fork_test, a_step_where_all_fail_ends_with_its_best_failure_then_the_next_rings) {
    auto out = both_ring("carol@198.51.100.30&desk@198.51.100.31|erin@198.51.100.32", false);
    ASSERT_TRUE(to_carol_ && to_desk_);
    EXPECT_EQ(invite_sent_to(out, erin), nullptr) << "the next step waits";

    feed(core, desk, bob_response(to_desk_->msg, 480, "Temporarily Unavailable", {}, "desktag"));
    EXPECT_EQ(invite_sent_to(take(), erin), nullptr) << "carol still rings";
    feed(core, carol, bob_response(to_carol_->msg, 486, "Busy Here", {}, "caroltag"));
    auto to_erin = invite_sent_to(take(), erin);
    ASSERT_NE(to_erin, nullptr);
    EXPECT_EQ(b2b_->stats().transfer_fallbacks, 1u);
    EXPECT_EQ(relay_entries(), 6u) << "the first step's half is gone, the next one's is up";

    // erin is busy too: the transferor hears the best failure of the last step.
    feed(core, erin, bob_response(to_erin->msg, 486, "Busy Here", {}, "erintag"));
    out = take();
    EXPECT_EQ(notified(out), "SIP/2.0 486 Busy Here\r\n");
    EXPECT_EQ(a_rtp_->peer(), bob_side_) << "the media never left bob";
    EXPECT_EQ(relay_entries(), 4u);
    EXPECT_EQ(b2b_->stats().transfers_failed, 1u);
}

TEST_F(transfer_fork_test, a_6xx_cancels_the_rest_of_the_step_and_no_further_step_rings) {
    both_ring("carol@198.51.100.30&desk@198.51.100.31|erin@198.51.100.32", true);
    ASSERT_TRUE(to_carol_ && to_desk_);
    feed(core, carol, bob_response(to_carol_->msg, 603, "Decline", {}, "caroltag"));
    auto out = take();
    EXPECT_EQ(count_to(out, desk, sip::method::cancel), 1u);
    EXPECT_EQ(invite_sent_to(out, erin), nullptr) << "a 6xx ends the search (RFC 3261 16.7)";
    EXPECT_EQ(notified(out), "SIP/2.0 603 Decline\r\n");
    EXPECT_EQ(relay_entries(), 4u);
    EXPECT_EQ(b2b_->stats().transfers_failed, 1u);

    // The desk's 487 after its CANCEL belongs to nothing any more.
    feed(core, desk, bob_response(to_desk_->msg, 487, "Request Terminated", {}, "desktag"));
    out = take();
    EXPECT_EQ(count_to(out, desk, sip::method::ack), 1u);
    EXPECT_EQ(out.size(), 1u);
}

TEST_F(transfer_fork_test, one_ring_time_running_out_fails_only_its_destination) {
    both_ring("carol@198.51.100.30[rt=5]&desk@198.51.100.31", true);
    ASSERT_TRUE(to_carol_ && to_desk_);
    advance(5000);
    auto out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::cancel), 1u);
    EXPECT_EQ(count_to(out, desk, sip::method::cancel), 0u);
    feed(core, carol, bob_response(to_carol_->msg, 487, "Request Terminated", {}, "caroltag"));
    take();
    desk_answers();
    EXPECT_EQ(notified(take()), "SIP/2.0 200 OK\r\n") << "the desk still takes the call";
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);
}

TEST_F(transfer_fork_test, the_transferee_hanging_up_cancels_every_new_party) {
    both_ring("carol@198.51.100.30&desk@198.51.100.31", true);
    ASSERT_TRUE(to_carol_ && to_desk_);
    from_alice(alice_request("BYE", cs_.a_tag, 2, "z9hG4bKalicebye"));
    const auto out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::cancel), 1u);
    EXPECT_EQ(count_to(out, desk, sip::method::cancel), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(transfer_fork_test, parallel_destinations_on_different_realms_skip_the_step) {
    transfer_dials("carol@198.51.100.30&dave@192.0.2.11|erin@198.51.100.32");
    const auto out = bob_transfers_alice();
    EXPECT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    EXPECT_EQ(invite_sent_to(out, carol), nullptr);
    EXPECT_NE(invite_sent_to(out, erin), nullptr) << "the step that can be dialled is";
}

// ------------------------------------------------------------------ one continuous stream

namespace {

// alice calls `user` at bob; bob's relay side has relayed his RTP (as a worker leaves it);
// bob REFERs alice to carol, who answers.
class transfer_continuity_test : public b2bua_test {
protected:
    void transfer_to_carol(const std::string& user) {
        invite_opts o;
        o.user = user;
        const call_state cs = confirmed_call(o);
        ASSERT_NE(cs.b_invite, nullptr);
        alice_side_ = table_->find(acc_addr, cs.a_port);
        ASSERT_NE(alice_side_, nullptr);
        auto* bob_side = const_cast<dp::media_side*>(alice_side_->peer());
        ASSERT_NE(bob_side, nullptr);
        bob_side->rtp_expected.store(300);
        bob_side->rtp_ssrc.store(0xb0b0b);
        bob_side->rtp_max_seq.store(1234);
        bob_side->rtp_last_ts.store(56000);

        from_bob(bob_refer(cs.b_invite->msg, "carol"));
        auto out = take();
        auto to_carol = invite_sent_to(out, carol);
        ASSERT_NE(to_carol, nullptr);
        carol_side_before_answer_ = table_->find(core_addr, sdp_of(to_carol->msg.body).port);
        ASSERT_NE(carol_side_before_answer_, nullptr);
        held_before_answer_ = carol_side_before_answer_->peer() == nullptr;
        feed(core, carol, bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
        take();
        carol_invite_ = std::move(to_carol);
        carol_side_ = alice_side_->peer();
        ASSERT_EQ(carol_side_, carol_side_before_answer_) << "the switch happened";
        ASSERT_EQ(carol_side_->peer(), alice_side_);
    }

    const dp::media_side* alice_side_ = nullptr;
    const dp::media_side* carol_side_ = nullptr;
    std::unique_ptr<received> carol_invite_;  ///< the appliance's INVITE that carol answered
    const dp::media_side* carol_side_before_answer_ = nullptr;
    bool held_before_answer_ = false;
};

}  // namespace

TEST_F(transfer_continuity_test, cm_1_makes_carol_continue_what_alice_heard_from_bob) {
    transfer_to_carol("bob-trc-cm");
    EXPECT_TRUE(held_before_answer_) << "carol reaches alice only from the switch on";
    EXPECT_EQ(carol_side_->cont_state.load(), dp::continuity::armed);
    EXPECT_EQ(carol_side_->cont_ssrc.load(), 0xb0b0bu);
    EXPECT_EQ(carol_side_->cont_seq.load(), 1235);
    EXPECT_EQ(carol_side_->cont_ts.load(), 56000 + dp::continuity_seam_ts);
    EXPECT_TRUE(json(b2b_->calls_json()).begin()->second.get<bool>("continuous_media")) << "shown to ops";
}

TEST_F(transfer_continuity_test, a_second_transfer_goes_on_with_the_stream_alice_heard) {
    // carol may transfer too (tr=c), and her call continues (cm=1): she sends alice on to a
    // second line of hers ("dave").
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", R"(sys.Dial("carol@198.51.100.30:5060[tr=c,cm=1]"))"), "");
    transfer_to_carol("bob-trc-cm");
    // What a worker leaves once carol's packets 10..19 (her numbering) went out as 1235..1244.
    auto* carol_side = const_cast<dp::media_side*>(carol_side_);
    carol_side->rtp_expected.store(10);
    carol_side->rtp_ssrc.store(0xca201);
    carol_side->rtp_max_seq.store(19);
    carol_side->rtp_last_ts.store(1600 + 9 * 160);
    carol_side->cont_seq.store(1235 - 10);
    carol_side->cont_ts.store(56000 + dp::continuity_seam_ts - 1600);
    carol_side->cont_state.store(dp::continuity::active);

    std::string refer = bob_refer(carol_invite_->msg, "dave");  // bob's REFER, in carol's dialog
    refer.replace(refer.find("tag=bobtag"), 10, "tag=caroltag");
    refer.replace(refer.find("198.51.100.20:5060;branch"), 18, "198.51.100.30:5060");
    from_carol(refer);
    auto out = take();
    auto to_dave = invite_sent_to(out, carol);
    ASSERT_NE(to_dave, nullptr) << "carol's REFER placed no call";
    const dp::media_side* dave_side = table_->find(core_addr, sdp_of(to_dave->msg.body).port);
    ASSERT_NE(dave_side, nullptr);
    feed(core, carol, bob_response(to_dave->msg, 200, "OK", carol_sdp, "davetag", "<sip:carol@198.51.100.30:5060>"));
    take();
    ASSERT_EQ(alice_side_->peer(), dave_side) << "the second switch happened";
    EXPECT_EQ(dave_side->cont_state.load(), dp::continuity::armed);
    EXPECT_EQ(dave_side->cont_ssrc.load(), 0xb0b0bu) << "alice still hears bob's SSRC, not carol's own";
    EXPECT_EQ(dave_side->cont_seq.load(), 1245) << "after carol's last packet as alice heard it";
    EXPECT_EQ(dave_side->cont_ts.load(), 56000u + dp::continuity_seam_ts + 9 * 160 + dp::continuity_seam_ts);
}

TEST_F(transfer_continuity_test, without_it_alice_hears_carol_as_she_sends) {
    transfer_to_carol("bob-trc");
    EXPECT_FALSE(held_before_answer_) << "carol's early media reaches alice";
    EXPECT_EQ(carol_side_->cont_state.load(), dp::continuity::off);
    EXPECT_FALSE(json(b2b_->calls_json()).begin()->second.get<bool>("continuous_media"));
}

TEST_F(transfer_continuity_test, the_config_turns_it_on_for_every_call) {
    b2bua_config cfg = base_config();
    cfg.transfer.continuous_media = true;
    rebuild(cfg);
    transfer_to_carol("bob-trc");
    EXPECT_TRUE(held_before_answer_);
    EXPECT_EQ(carol_side_->cont_state.load(), dp::continuity::armed);
    EXPECT_EQ(carol_side_->cont_ssrc.load(), 0xb0b0bu);
}

TEST_F(transfer_continuity_test, a_transfer_destinations_cm_decides_the_next_transfers) {
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", R"(sys.Dial("carol@198.51.100.30:5060[cm=1]"))"), "");
    transfer_to_carol("bob-trc");
    EXPECT_EQ(carol_side_->cont_state.load(), dp::continuity::off) << "this switch follows the call's setting";
    EXPECT_TRUE(json(b2b_->calls_json()).begin()->second.get<bool>("continuous_media")) << "the next one carol's";
}

// ------------------------------------------------------------------ call quality per segment

namespace {

// A report block a worker read at `side`: `fraction` lost (1/256), `jitter` timestamp units.
dp::rtcp_event report_at(const dp::media_side* side, uint8_t fraction, uint32_t jitter) {
    return sf::control::test::report_at(side, 0, fraction, jitter);
}

}  // namespace

TEST_F(transfer_fork_test, an_rtcp_report_is_linked_to_the_sip_of_its_leg_through_a_transfer) {
    transfer_dials("carol@198.51.100.30");
    auto out = bob_transfers_alice();
    to_carol_ = invite_sent_to(out, carol);
    ASSERT_NE(to_carol_, nullptr);
    // Alice's report arrives at her side: her leg's Call-ID, from her address to the relay's.
    const auto alice = anchor_->origin_of(report_at(a_rtp_, 0, 8));
    ASSERT_TRUE(alice.has_value());
    EXPECT_FALSE(alice->leg_b);
    EXPECT_EQ(b2b_->leg_call_id(alice->owner, alice->leg_b), "alice-call-1@192.0.2.10");
    EXPECT_EQ(alice->to, (sip_addr{a_rtp_->local_addr, a_rtp_->local_port}));
    EXPECT_EQ(alice->from.addr, 0xc000020au) << "alice's media address (192.0.2.10) from her SDP";
    const auto bob = anchor_->origin_of(report_at(bob_side_, 0, 8));
    ASSERT_TRUE(bob.has_value());
    EXPECT_TRUE(bob->leg_b);
    EXPECT_EQ(b2b_->leg_call_id(bob->owner, bob->leg_b), cs_.b_invite->msg.call_id);
    EXPECT_NE(cs_.b_invite->msg.call_id, "alice-call-1@192.0.2.10");

    // Carol answers: her side now serves leg B, which is her dialog.
    feed(core, carol, bob_response(to_carol_->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    take();
    const dp::media_side* carol_side = a_rtp_->peer();
    ASSERT_NE(carol_side, nullptr);
    const auto from_carol = anchor_->origin_of(report_at(carol_side, 0, 8));
    ASSERT_TRUE(from_carol.has_value());
    EXPECT_TRUE(from_carol->leg_b);
    EXPECT_EQ(b2b_->leg_call_id(from_carol->owner, from_carol->leg_b), to_carol_->msg.call_id);
    EXPECT_EQ(b2b_->leg_call_id(from_carol->owner, false), "alice-call-1@192.0.2.10") << "alice's leg is kept";
    EXPECT_FALSE(anchor_->origin_of(report_at(bob_side_, 0, 8)).has_value()) << "bob's side is gone";
    EXPECT_EQ(b2b_->leg_call_id(from_carol->owner + 1000, false), "") << "no such call";
}

TEST_F(transfer_fork_test, each_segment_records_the_reports_of_its_own_parties) {
    transfer_dials("carol@198.51.100.30");
    auto out = bob_transfers_alice();
    to_carol_ = invite_sent_to(out, carol);
    ASSERT_NE(to_carol_, nullptr);
    // Segment 1: alice reports 25 % loss of bob's stream, bob 0 % of hers.
    anchor_->note_rtcp(report_at(a_rtp_, 64, 80), 1000);
    anchor_->note_rtcp(report_at(bob_side_, 0, 8), 1000);
    feed(core, carol, bob_response(to_carol_->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    take();
    ASSERT_EQ(cdrs_->recent().size(), 1u);
    const boost::property_tree::ptree first = json(cdrs_->recent().back());
    EXPECT_EQ(first.get<std::string>("hangup"), "transfer");
    EXPECT_EQ(first.get<std::string>("codec"), "PCMU");
    EXPECT_EQ(first.get<unsigned>("rtp.callee_to_caller.rtcp.reports"), 1u);
    EXPECT_NEAR(first.get<double>("rtp.callee_to_caller.rtcp.loss_pct"), 25.0, 1e-3);
    EXPECT_NEAR(first.get<double>("rtp.callee_to_caller.rtcp.jitter_ms"), 10.0, 1e-3);
    EXPECT_EQ(first.get<unsigned>("rtp.caller_to_callee.rtcp.reports"), 1u);
    EXPECT_NEAR(first.get<double>("rtp.caller_to_callee.rtcp.loss_pct"), 0.0, 1e-3);

    // Segment 2: alice's reports go on from where they stood; carol's are hers alone.
    const dp::media_side* carol_side = a_rtp_->peer();
    ASSERT_NE(carol_side, nullptr);
    ASSERT_NE(carol_side, bob_side_);
    anchor_->note_rtcp(report_at(a_rtp_, 0, 16), 2000);
    anchor_->note_rtcp(report_at(carol_side, 128, 40), 2000);
    anchor_->note_rtcp(report_at(carol_side, 0, 40), 2000);
    // The call list shows what the sides now in the call counted: alice's two reports (both
    // segments), carol's two; bob's went with his sides.
    const boost::property_tree::ptree live = json(b2b_->calls_json()).begin()->second;
    EXPECT_EQ(live.get<std::string>("codec"), "PCMU");
    EXPECT_EQ(live.get<unsigned>("rtp.callee_to_caller.rtcp.reports"), 2u);
    EXPECT_EQ(live.get<unsigned>("rtp.caller_to_callee.rtcp.reports"), 2u) << "carol's";
    EXPECT_NE(live.get<std::string>("rtp.callee_to_caller.mos"), "null");
    from_alice(alice_request("BYE", cs_.a_tag, 2, "z9hG4bKalicebye2"));
    take();
    ASSERT_EQ(cdrs_->recent().size(), 2u);
    const boost::property_tree::ptree second = json(cdrs_->recent().back());
    EXPECT_EQ(second.get<unsigned>("segment"), 2u);
    EXPECT_EQ(second.get<unsigned>("rtp.callee_to_caller.rtcp.reports"), 1u) << "alice's segment-1 report is not here";
    EXPECT_NEAR(second.get<double>("rtp.callee_to_caller.rtcp.loss_pct"), 0.0, 1e-3);
    EXPECT_NEAR(second.get<double>("rtp.callee_to_caller.rtcp.jitter_ms"), 2.0, 1e-3);
    EXPECT_EQ(second.get<unsigned>("rtp.caller_to_callee.rtcp.reports"), 2u);
    EXPECT_NEAR(second.get<double>("rtp.caller_to_callee.rtcp.loss_pct"), 25.0, 1e-3);
    EXPECT_GT(second.get<double>("rtp.callee_to_caller.mos"), second.get<double>("rtp.caller_to_callee.mos"));
}
