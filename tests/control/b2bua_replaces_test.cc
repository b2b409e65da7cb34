// An INVITE with Replaces arriving at the appliance (control/b2bua_replaces.cc, RFC 3891), in
// process: carol takes bob's place in alice's call, and every answer the RFC and the policy
// give when she may not (400, 403, 481, 486, 603).

#include "b2bua_fixture.hh"

namespace {

class replaces_test : public b2bua_test {};
}  // namespace

TEST_F(replaces_test, carol_takes_bobs_place_make_before_break) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    feed(core, carol, carol_invite(bobs_dialog(cs)));
    auto out = take();

    const received* ok = find_response(out, core, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(ok->to, carol);
    EXPECT_FALSE(ok->msg.to.tag.empty());
    const sdp_info carol_side = sdp_of(ok->msg.body);
    EXPECT_EQ(carol_side.conn, "198.51.100.1");
    EXPECT_NE(carol_side.port, cs.b_port) << "carol gets relay ports of her own";
    EXPECT_EQ(ok->text.find("192.0.2.10"), std::string::npos) << "nothing of alice's topology reaches carol";

    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, bob);
    EXPECT_EQ(bye->msg.call_id, cs.b_invite->msg.call_id);

    const received* reinvite = find_request(out, acc, sip::method::invite);
    ASSERT_NE(reinvite, nullptr) << "alice is told who she talks to now";
    EXPECT_EQ(sdp_of(reinvite->msg.body).port, cs.a_port) << "alice's relay port stays";
    EXPECT_EQ(reinvite->text.find("198.51.100.30"), std::string::npos);

    // The relay: carol's new sides exist, bob's are gone (2 ports alice + 2 carol, RTCP each).
    EXPECT_EQ(table_->find(core_addr, carol_side.port) != nullptr, true);
    EXPECT_EQ(table_->find(core_addr, cs.b_port), nullptr);
    EXPECT_EQ(b2b_->stats().replaces_accepted, 1u);

    // The segment with bob ended "replaced"; alice's BYE now goes to carol.
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("hangup"), "replaced");
    const std::string carol_tag(ok->msg.to.tag);
    from_carol(std::string("ACK sip:sipferry@198.51.100.1:5060 SIP/2.0\r\n") +
               "Via: SIP/2.0/UDP 198.51.100.30:5060;branch=z9hG4bKcarolack\r\nMax-Forwards: 70\r\n"
               "From: <sip:carol@198.51.100.30>;tag=caroltag\r\nTo: <sip:bob@198.51.100.1>;tag=" + carol_tag +
               "\r\nCall-ID: carol-replaces@198.51.100.30\r\nCSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n");
    take();
    from_alice(alice_request("BYE", cs.a_tag, 2, "z9hG4bKalicebye", o.call_id));
    out = take();
    const received* to_carol = find_request(out, core, sip::method::bye);
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(to_carol->to, carol);
    EXPECT_EQ(to_carol->msg.call_id, "carol-replaces@198.51.100.30");
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("segment"), 2u);
    EXPECT_EQ(rec.get<std::string>("callee"), "198.51.100.30:5060");
}

TEST_F(replaces_test, a_retransmitted_replacing_invite_gets_the_same_2xx) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    feed(core, carol, carol_invite(bobs_dialog(cs)));
    auto first = find_response(take(), core, 200);
    ASSERT_NE(first, nullptr);
    feed(core, carol, carol_invite(bobs_dialog(cs)));
    auto out = take();
    ASSERT_EQ(count_response(out, core, 200), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 0u) << "bob was sent one BYE only";
    EXPECT_EQ(b2b_->stats().replaces_accepted, 1u);
}

TEST_F(replaces_test, unknown_dialogs_get_481) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    auto r = answer_to_carol(carol_invite("nosuchcall@x;to-tag=a;from-tag=b"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.status, 481);
    r = answer_to_carol(carol_invite(std::string(cs.b_invite->msg.call_id) + ";to-tag=wrong;from-tag=bobtag",
                                     false, "z9hG4bKcarol2"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.status, 481);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(replaces_test, the_callers_early_dialog_is_not_replaced) {
    // The appliance is the UAS of alice's early dialog: RFC 3891 3 answers 481 (a ringing
    // destination's early dialog, of which we are the UAC, is a pickup: b2bua_pickup_test.cc).
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = start_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    const auto out = take();
    const received* ringing = find_response(out, acc, 180);
    ASSERT_NE(ringing, nullptr);
    const std::string our_tag(ringing->msg.to.tag);
    auto r = answer_to_carol(carol_invite(o.call_id + ";to-tag=" + our_tag + ";from-tag=alicetag"), acc);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.status, 481);
    EXPECT_EQ(b2b_->stats().pickups, 0u);
}

TEST_F(replaces_test, early_only_on_a_confirmed_dialog_gets_486) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    auto r = answer_to_carol(carol_invite(bobs_dialog(cs) + ";early-only"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.status, 486);
}

TEST_F(replaces_test, transfer_mode_n_refuses_with_603) {
    const call_state cs = confirmed_call();  // plain "bob": tr=n
    ASSERT_NE(cs.b_invite, nullptr);
    auto r = answer_to_carol(carol_invite(bobs_dialog(cs)));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.status, 603);
    EXPECT_EQ(b2b_->stats().replaces_refused, 1u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(replaces_test, another_realm_may_not_replace_a_leg) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    auto r = answer_to_carol(carol_invite(bobs_dialog(cs)), acc);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.status, 403);
}

TEST_F(replaces_test, malformed_or_repeated_replaces_gets_400) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    auto r = answer_to_carol(carol_invite(std::string(cs.b_invite->msg.call_id) + ";to-tag=x"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.status, 400);
    r = answer_to_carol(carol_invite(bobs_dialog(cs), true, "z9hG4bKcarol3"));
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.status, 400);
    EXPECT_EQ(b2b_->stats().replaces_accepted, 0u);
}

// With cm=1 the party that stays hears the replacing party in the stream the replaced one made.
TEST_F(replaces_test, with_continuous_media_carol_goes_on_in_bobs_stream) {
    invite_opts o;
    o.user = "bob-trc-cm";
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    const dp::media_side* alice_side = table_->find(acc_addr, cs.a_port);
    ASSERT_NE(alice_side, nullptr);
    auto* bob_side = const_cast<dp::media_side*>(alice_side->peer());
    ASSERT_NE(bob_side, nullptr);
    bob_side->rtp_expected.store(10);  // what a worker leaves after relaying bob's RTP
    bob_side->rtp_ssrc.store(0xb0b);
    bob_side->rtp_max_seq.store(700);
    bob_side->rtp_last_ts.store(9000);
    feed(core, carol, carol_invite(bobs_dialog(cs)));
    const auto out = take();
    ASSERT_NE(find_response(out, core, 200), nullptr);
    const dp::media_side* carol_side = alice_side->peer();
    ASSERT_NE(carol_side, bob_side);
    EXPECT_EQ(carol_side->peer(), alice_side);
    EXPECT_EQ(carol_side->cont_state.load(), dp::continuity::armed);
    EXPECT_EQ(carol_side->cont_ssrc.load(), 0xb0bu);
    EXPECT_EQ(carol_side->cont_seq.load(), 701);
    EXPECT_EQ(carol_side->cont_ts.load(), 9000 + dp::continuity_seam_ts);
}
