// Call pickup (control/b2bua_pickup.cc, RFC 3891 7.1), in process: bob rings, carol sends an
// INVITE with Replaces naming bob's early dialog, and she answers alice's call in his place;
// and every answer given when she may not (403, 481, 486, 603).

#include "b2bua_fixture.hh"

namespace {

constexpr sip_addr dave{ip(198, 51, 100, 40), 5060};

class pickup_test : public b2bua_test {
protected:
    /// alice calls `user` and bob rings (180 with his tag "bobtag").
    call_state bob_rings(const std::string& user = "bob-trc") {
        invite_opts o;
        o.user = user;
        call_state cs = start_call(o);
        if (cs.b_invite) {
            from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
            take();
        }
        return cs;
    }

    /// The Replaces value naming the early dialog of the INVITE `to` (as its callee, who
    /// answered with tag `callee_tag`, sees it).
    static std::string early_dialog(const sip::message& to, const std::string& callee_tag = "bobtag") {
        return std::string(to.call_id) + ";to-tag=" + std::string(to.from.tag) + ";from-tag=" + callee_tag;
    }

    /// carol picks up the call ringing at bob; returns what the appliance sent.
    std::vector<std::unique_ptr<received>> carol_picks_up(const call_state& cs) {
        feed(core, carol, carol_invite(bobs_dialog(cs)));
        return take();
    }

    /// The status of the final response carol's INVITE with `replaces` got (0: none).
    unsigned pickup_status(const std::string& replaces, unsigned realm = core) {
        auto r = answer_to_carol(carol_invite(replaces), realm);
        return r != nullptr ? r->msg.status : 0;
    }

    /// dave's INVITE with `replaces` (carol's, from dave's address), fed; returns what was sent.
    std::vector<std::unique_ptr<received>> dave_picks_up(const std::string& replaces) {
        std::string invite = carol_invite(replaces, false, "z9hG4bKdave");
        for (size_t at = invite.find("198.51.100.30"); at != std::string::npos; at = invite.find("198.51.100.30", at)) {
            invite.replace(at, 13, "198.51.100.40");
        }
        feed(core, dave, invite);
        return take();
    }

    /// Messages in `out` to `peer`: requests of method `m`, or (`m` = invite and `status` set)
    /// responses with that status.
    static size_t count_to(const std::vector<std::unique_ptr<received>>& out, sip_addr peer, sip::method m,
                           unsigned status = 0) {
        return static_cast<size_t>(std::count_if(out.begin(), out.end(), [&](const auto& r) {
            return r->to == peer && (status == 0 ? r->msg.is_request && r->msg.req_method == m
                                                 : !r->msg.is_request && r->msg.status == status);
        }));
    }

    /// The To tag of the 2xx on `realm` in `out` (our tag in that dialog).
    static std::string ok_tag(const std::vector<std::unique_ptr<received>>& out, unsigned realm) {
        const received* ok = find_response(out, realm, 200);
        EXPECT_NE(ok, nullptr);
        return ok != nullptr ? std::string(ok->msg.to.tag) : std::string();
    }

    /// carol's ACK of our 2xx to her INVITE (CSeq 7), in the dialog that 2xx made.
    void carol_acks(const std::string& our_tag) {
        from_carol(std::string("ACK sip:sipferry@198.51.100.1:5060 SIP/2.0\r\n") +
                   "Via: SIP/2.0/UDP 198.51.100.30:5060;branch=z9hG4bKcarolack\r\nMax-Forwards: 70\r\n"
                   "From: <sip:carol@198.51.100.30>;tag=caroltag\r\nTo: <sip:bob@198.51.100.1>;tag=" + our_tag +
                   "\r\nCall-ID: carol-replaces@198.51.100.30\r\nCSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n");
    }
    void alice_acks(const std::string& our_tag) {
        from_alice(alice_request("ACK", our_tag, 1, "z9hG4bKaliceack"));
    }

    /// A re-INVITE from alice in her dialog (offering her SDP again) with CSeq `cseq`.
    static std::string alice_reinvite(const std::string& our_tag, unsigned cseq) {
        return with_body(alice_request("INVITE", our_tag, cseq, "z9hG4bKalicere" + std::to_string(cseq)), alice_sdp);
    }
};

}  // namespace

TEST_F(pickup_test, carol_answers_bobs_ringing_call) {
    const call_state cs = bob_rings();
    ASSERT_NE(cs.b_invite, nullptr);
    auto out = carol_picks_up(cs);

    // carol: 200 with alice's media on relay ports of her own, nothing of alice's topology.
    const received* to_carol = find_response(out, core, 200);
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(to_carol->to, carol);
    const sdp_info carol_side = sdp_of(to_carol->msg.body);
    EXPECT_EQ(carol_side.conn, "198.51.100.1");
    EXPECT_NE(carol_side.port, cs.b_port) << "carol gets relay ports of her own";
    EXPECT_EQ(to_carol->text.find("192.0.2.10"), std::string::npos);
    EXPECT_FALSE(to_carol->msg.to.tag.empty());

    // alice: 200 on her INVITE with carol's media on the relay address of her realm.
    const received* to_alice = find_response(out, acc, 200);
    ASSERT_NE(to_alice, nullptr);
    EXPECT_EQ(to_alice->to, alice);
    EXPECT_EQ(to_alice->msg.call_id, invite_opts{}.call_id);
    EXPECT_EQ(sdp_of(to_alice->msg.body).conn, "192.0.2.1");
    EXPECT_EQ(to_alice->text.find("198.51.100.30"), std::string::npos) << "nothing of carol's topology reaches alice";

    // bob's early dialog ends the way its originator ends one: CANCEL (RFC 3891 3).
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->to, bob);
    EXPECT_EQ(cancel->msg.call_id, cs.b_invite->msg.call_id);
    EXPECT_EQ(cancel->msg.top_via.branch, cs.b_invite->msg.top_via.branch);
    const sip::header* reason = cancel->msg.find("Reason");
    ASSERT_NE(reason, nullptr) << "RFC 3326: bob's phone shows no missed call";
    EXPECT_EQ(reason->value, "SIP;cause=200;text=\"Call completed elsewhere\"");

    // The relay: carol's sides are published, bob's are gone.
    EXPECT_NE(table_->find(core_addr, carol_side.port), nullptr);
    EXPECT_EQ(table_->find(core_addr, cs.b_port), nullptr);
    EXPECT_EQ(b2b_->stats().pickups, 1u);
    EXPECT_EQ(b2b_->stats().replaces_accepted, 1u);

    // bob's 487 is ACKed by his transaction and changes nothing.
    from_bob(bob_response(cs.b_invite->msg, 487, "Request Terminated"));
    const auto after_487 = take();
    EXPECT_EQ(count_to(after_487, bob, sip::method::ack), 1u);
    EXPECT_EQ(after_487.size(), 1u);

    // Both ACK; alice's BYE then goes to carol, in carol's dialog.
    const std::string a_tag = ok_tag(out, acc);
    alice_acks(a_tag);
    carol_acks(ok_tag(out, core));
    EXPECT_TRUE(take().empty());
    from_alice(alice_request("BYE", a_tag, 2, "z9hG4bKalicebye"));
    out = take();
    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, carol);
    EXPECT_EQ(bye->msg.call_id, "carol-replaces@198.51.100.30");
    EXPECT_EQ(b2b_->active_calls(), 0u);

    // One record: the call alice made, answered by carol for bob.
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("result"), 200u);
    EXPECT_EQ(rec.get<std::string>("callee"), "198.51.100.30:5060");
    EXPECT_EQ(rec.get<std::string>("picked_up"), "198.51.100.20:5060");
    EXPECT_EQ(rec.get<std::string>("b_call_id"), "carol-replaces@198.51.100.30");
    EXPECT_EQ(rec.get<unsigned>("segment"), 1u);
    EXPECT_EQ(rec.get<std::string>("hangup"), "caller");
}

TEST_F(pickup_test, the_call_is_confirmed_only_when_both_acked) {
    const call_state cs = bob_rings();
    ASSERT_NE(cs.b_invite, nullptr);
    const auto picked = carol_picks_up(cs);
    const std::string a_tag = ok_tag(picked, acc);
    alice_acks(a_tag);
    take();

    // carol's 2xx still waits for its ACK: an offer from alice now would cross it.
    from_alice(alice_reinvite(a_tag, 2));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 491), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);

    carol_acks(ok_tag(picked, core));
    take();
    from_alice(alice_reinvite(a_tag, 3));
    out = take();
    const received* reinvite = find_request(out, core, sip::method::invite);
    ASSERT_NE(reinvite, nullptr) << "confirmed: alice's re-INVITE is relayed to carol";
    EXPECT_EQ(reinvite->to, carol);
    EXPECT_EQ(reinvite->msg.call_id, "carol-replaces@198.51.100.30");
}

TEST_F(pickup_test, each_2xx_is_retransmitted_until_its_own_ack) {
    const call_state cs = bob_rings();
    ASSERT_NE(cs.b_invite, nullptr);
    const std::string a_tag = ok_tag(carol_picks_up(cs), acc);
    from_bob(bob_response(cs.b_invite->msg, 487, "Request Terminated"));
    take();

    // Neither has ACKed: both 2xx come again at T1 (RFC 3261 13.3.1.4).
    advance(500);
    auto out = take();
    EXPECT_EQ(count_response(out, acc, 200), 1u);
    EXPECT_EQ(count_response(out, core, 200), 1u);

    // alice ACKs; carol never does: only carol's 2xx goes on, then the call ends after 64*T1
    // with a BYE to each. (bob never answers the CANCEL: its retransmissions are his.)
    alice_acks(a_tag);
    take();
    advance(1000);
    out = take();
    EXPECT_EQ(count_response(out, acc, 200), 0u);
    EXPECT_EQ(count_response(out, core, 200), 1u);
    advance(64 * 500 + 4000);  // the deadline is seen at the first retransmission after it (T2 apart)
    out = take();
    EXPECT_EQ(count_response(out, acc, 200), 0u);
    EXPECT_GE(count_to(out, alice, sip::method::bye), 1u);  // and its retransmissions: nobody answers here
    EXPECT_GE(count_to(out, carol, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

TEST_F(pickup_test, a_retransmitted_pickup_invite_gets_the_same_2xx) {
    const call_state cs = bob_rings();
    ASSERT_NE(cs.b_invite, nullptr);
    ASSERT_NE(find_response(carol_picks_up(cs), core, 200), nullptr);
    const auto out = carol_picks_up(cs);
    EXPECT_EQ(count_response(out, core, 200), 1u);
    EXPECT_EQ(count_response(out, acc, 200), 0u);
    EXPECT_EQ(count_request(out, core, sip::method::cancel), 0u);
    EXPECT_EQ(b2b_->stats().pickups, 1u);
}

TEST_F(pickup_test, picking_up_one_branch_cancels_every_branch) {
    ASSERT_EQ(engine_->load_source("default", "fork.lua",
                                   "sys.Dial(\"bob@198.51.100.20:5060[tr=c]&carol@198.51.100.30:5060[tr=c]\")"),
              "");
    from_alice(alice_invite());
    auto out = take();
    std::unique_ptr<received> to_bob, to_carol;
    for (auto& r : out) {
        if (r->msg.is_request && r->msg.req_method == sip::method::invite) {
            (r->to == bob ? to_bob : to_carol) = std::move(r);
        }
    }
    ASSERT_TRUE(to_bob && to_carol);
    from_bob(bob_response(to_bob->msg, 180, "Ringing"));
    from_carol(bob_response(to_carol->msg, 180, "Ringing", {}, "caroltag2"));
    take();

    // dave picks up bob's branch: carol's is CANCELled too.
    out = dave_picks_up(early_dialog(to_bob->msg));
    EXPECT_EQ(count_to(out, dave, sip::method::invite, 200), 1u);
    EXPECT_NE(find_response(out, acc, 200), nullptr);
    EXPECT_EQ(count_to(out, bob, sip::method::cancel), 1u);
    EXPECT_EQ(count_to(out, carol, sip::method::cancel), 1u);

    // carol answers too late: ACKed and hung up, alice hears nothing of it.
    from_carol(bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag2", "<sip:carol@198.51.100.30:5060>"));
    out = take();
    EXPECT_EQ(count_to(out, carol, sip::method::ack), 1u);
    EXPECT_EQ(count_to(out, carol, sip::method::bye), 1u);
    EXPECT_EQ(count_response(out, acc, 200), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(pickup_test, a_destination_that_has_not_rung_has_no_early_dialog) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state cs = start_call(o);  // 100 Trying at most: no tag of bob's yet
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(pickup_status(bobs_dialog(cs)), 481u);
    EXPECT_EQ(b2b_->stats().pickups, 0u);
}

TEST_F(pickup_test, wrong_tags_get_481_and_the_call_rings_on) {
    const call_state cs = bob_rings();
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(pickup_status(early_dialog(cs.b_invite->msg, "wrong")), 481u);
    // bob still rings for alice: his 200 connects them.
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    EXPECT_NE(find_response(take(), acc, 200), nullptr);
}

TEST_F(pickup_test, transfer_mode_n_refuses_with_603) {
    const call_state cs = bob_rings("bob");  // plain "bob": tr=n
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(pickup_status(bobs_dialog(cs)), 603u);
    EXPECT_EQ(b2b_->stats().replaces_refused, 1u);
    EXPECT_EQ(count_request(take(), core, sip::method::cancel), 0u) << "bob rings on";
}

TEST_F(pickup_test, another_realm_may_not_pick_up) {
    const call_state cs = bob_rings();
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(pickup_status(bobs_dialog(cs), acc), 403u);
}

TEST_F(pickup_test, an_offerless_call_cannot_be_picked_up) {
    invite_opts o;
    o.user = "bob-trc";
    o.body.clear();
    from_alice(alice_invite(o));
    const auto out = take();
    const received* to_bob = find_request(out, core, sip::method::invite);
    ASSERT_NE(to_bob, nullptr);
    from_bob(bob_response(to_bob->msg, 180, "Ringing"));
    take();
    EXPECT_EQ(pickup_status(early_dialog(to_bob->msg)), 486u);
}

TEST_F(pickup_test, a_second_pickup_of_the_same_ringing_finds_no_early_dialog) {
    const call_state cs = bob_rings();
    ASSERT_NE(cs.b_invite, nullptr);
    carol_picks_up(cs);
    EXPECT_EQ(count_to(dave_picks_up(bobs_dialog(cs)), dave, sip::method::invite, 481), 1u);
    EXPECT_EQ(b2b_->stats().pickups, 1u);
}
