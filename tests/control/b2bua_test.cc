// The B2BUA end to end, in process (fixture in b2bua_fixture.hh): the basic call, failures,
// requests within the dialogs, transfers and bookkeeping.

#include "b2bua_fixture.hh"

// ================================================================== the basic call

TEST_F(b2bua_test, basic_call) {
    const invite_opts o;
    from_alice(alice_invite(o));
    auto out = take();

    // alice: 100 Trying at once, to her Via (rport: the source).
    const received* trying = find_response(out, acc, 100);
    ASSERT_NE(trying, nullptr);
    EXPECT_EQ(trying->to, alice);
    EXPECT_EQ(trying->msg.call_id, o.call_id);
    EXPECT_EQ(trying->msg.top_via.branch, o.branch);

    // bob: a new INVITE that shows nothing of leg A.
    const received* inv = find_request(out, core, sip::method::invite);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(out.size(), 2u);
    EXPECT_EQ(inv->to, bob);
    EXPECT_EQ(inv->msg.request_uri, "sip:bob@198.51.100.20:5060");
    EXPECT_NE(inv->msg.call_id, o.call_id);
    EXPECT_FALSE(inv->msg.call_id.empty());
    EXPECT_EQ(inv->msg.count(sip::hdr::via), 1u);
    EXPECT_EQ(inv->msg.top_via.host, "198.51.100.1");
    EXPECT_EQ(inv->msg.top_via.port, 5060);
    EXPECT_EQ(inv->msg.top_via.branch.substr(0, 7), "z9hG4bK");
    EXPECT_NE(inv->msg.top_via.branch, o.branch);
    sip::uri from_uri;
    ASSERT_TRUE(sip::parse_uri(inv->msg.from.uri, from_uri));
    EXPECT_EQ(from_uri.host, "198.51.100.1");
    EXPECT_EQ(from_uri.user, "alice");
    EXPECT_EQ(inv->msg.from.display, "Alice");
    EXPECT_FALSE(inv->msg.from.tag.empty());
    EXPECT_NE(inv->msg.from.tag, "alicetag");
    EXPECT_TRUE(inv->msg.to.tag.empty());
    EXPECT_EQ(inv->msg.to.uri, "sip:bob@198.51.100.20:5060");
    EXPECT_EQ(header(inv->msg, sip::hdr::contact), "<sip:sipferry@198.51.100.1:5060>");
    EXPECT_EQ(inv->msg.max_forwards, 69);
    EXPECT_EQ(inv->msg.cseq, 1u);
    EXPECT_EQ(header(inv->msg, sip::hdr::user_agent), "sipferry");
    EXPECT_EQ(inv->msg.find("User-Agent")->value, "sipferry") << "alice's User-Agent stays on leg A";
    const sdp_info b_offer = sdp_of(inv->msg.body);
    EXPECT_EQ(b_offer.conn, "198.51.100.1");
    EXPECT_GE(b_offer.port, 20000);
    EXPECT_LE(b_offer.port, 29999);
    EXPECT_EQ(b_offer.port % 2, 0);
    EXPECT_EQ(inv->text.find("192.0.2."), std::string::npos) << "leg A leaks into leg B:\n" << inv->text;
    EXPECT_EQ(inv->text.find("alicetag"), std::string::npos);
    EXPECT_EQ(inv->text.find("alice-phone"), std::string::npos);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    // RTP and RTCP on each leg.
    EXPECT_EQ(relay_entries(), 4u);
    const std::string b_call_id(inv->msg.call_id);
    auto b_invite = parse_copy(inv->realm, inv->to, inv->text);

    // bob rings: alice gets a 180 with our To tag and our Contact.
    advance(50);
    from_bob(bob_response(b_invite->msg, 100, "Trying"));
    EXPECT_TRUE(take().empty()) << "bob's 100 is hop-by-hop";
    from_bob(bob_response(b_invite->msg, 180, "Ringing"));
    out = take();
    ASSERT_EQ(out.size(), 1u);
    const received* ringing = find_response(out, acc, 180);
    ASSERT_NE(ringing, nullptr);
    EXPECT_EQ(ringing->to, alice);
    EXPECT_EQ(ringing->msg.call_id, o.call_id);
    EXPECT_EQ(ringing->msg.top_via.branch, o.branch);
    EXPECT_EQ(ringing->msg.from.tag, "alicetag");
    const std::string a_tag(ringing->msg.to.tag);
    EXPECT_FALSE(a_tag.empty());
    EXPECT_NE(a_tag, "bobtag") << "bob's tag stays on leg B";
    EXPECT_EQ(header(ringing->msg, sip::hdr::contact), "<sip:sipferry@192.0.2.1:5060>");
    EXPECT_EQ(ringing->text.find("198.51.100."), std::string::npos) << ringing->text;

    // bob answers: ACK to bob, 200 with the rewritten SDP to alice.
    advance(2000);
    from_bob(bob_response(b_invite->msg, 200, "OK", bob_sdp));
    out = take();
    ASSERT_EQ(out.size(), 2u);
    const received* ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->to, bob);
    EXPECT_EQ(ack->msg.call_id, b_call_id);
    EXPECT_EQ(ack->msg.cseq, 1u);
    EXPECT_EQ(ack->msg.cseq_method, sip::method::ack);
    EXPECT_EQ(ack->msg.to.tag, "bobtag");
    EXPECT_EQ(ack->msg.from.tag, b_invite->msg.from.tag);
    EXPECT_EQ(ack->msg.top_via.host, "198.51.100.1");
    EXPECT_NE(ack->msg.top_via.branch, b_invite->msg.top_via.branch) << "the ACK of a 2xx is a new transaction";
    sip::uri ack_uri;
    ASSERT_TRUE(sip::parse_uri(ack->msg.request_uri, ack_uri));
    EXPECT_EQ(ack_uri.host, "198.51.100.20");
    EXPECT_EQ(ack_uri.port, 5060);

    const received* ok_sent = find_response(out, acc, 200);
    ASSERT_NE(ok_sent, nullptr);
    auto ok = parse_copy(ok_sent->realm, ok_sent->to, ok_sent->text);
    EXPECT_EQ(ok->to, alice);
    EXPECT_EQ(ok->msg.call_id, o.call_id);
    EXPECT_EQ(ok->msg.to.tag, a_tag);
    EXPECT_EQ(ok->msg.cseq, 1u);
    EXPECT_EQ(header(ok->msg, sip::hdr::contact), "<sip:sipferry@192.0.2.1:5060>");
    EXPECT_EQ(header(ok->msg, sip::hdr::content_type), "application/sdp");
    const sdp_info a_answer = sdp_of(ok->msg.body);
    EXPECT_EQ(a_answer.conn, "192.0.2.1");
    EXPECT_GE(a_answer.port, 20000);
    EXPECT_LE(a_answer.port, 29999);
    EXPECT_EQ(ok->text.find("198.51.100."), std::string::npos) << "leg B leaks into leg A:\n" << ok->text;
    EXPECT_EQ(ok->text.find("bobtag"), std::string::npos);

    // The relay: 4 sides, bridged, remotes from both SDPs, next-hop MAC from the neighbour table.
    EXPECT_EQ(relay_entries(), 4u);
    dp::media_side* a_rtp = table_->find(acc_addr, a_answer.port);
    dp::media_side* b_rtp = table_->find(core_addr, b_offer.port);
    dp::media_side* a_rtcp = table_->find(acc_addr, a_answer.port + 1);
    dp::media_side* b_rtcp = table_->find(core_addr, b_offer.port + 1);
    ASSERT_NE(a_rtp, nullptr);
    ASSERT_NE(b_rtp, nullptr);
    ASSERT_NE(a_rtcp, nullptr);
    ASSERT_NE(b_rtcp, nullptr);
    EXPECT_EQ(a_rtp->peer(), b_rtp);
    EXPECT_EQ(b_rtp->peer(), a_rtp);
    EXPECT_EQ(a_rtcp->peer(), b_rtcp);
    EXPECT_EQ(a_rtp->port_id, 0);
    EXPECT_EQ(b_rtp->port_id, 1);
    EXPECT_EQ(a_rtp->remote(), dp::pack_endpoint(alice.addr, 40000));
    EXPECT_EQ(a_rtcp->remote(), dp::pack_endpoint(alice.addr, 40001));
    EXPECT_EQ(b_rtp->remote(), dp::pack_endpoint(bob.addr, 30000));
    EXPECT_EQ(b_rtcp->remote(), dp::pack_endpoint(bob.addr, 30001));
    EXPECT_EQ(b_rtp->remote_mac(), dp::pack_mac(neighbour_mac));

    // The 2xx goes again at T1 until alice's ACK.
    advance(500);
    out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->text, ok->text);
    from_alice(alice_request("ACK", a_tag, 1, "z9hG4bKaliceack"));
    EXPECT_TRUE(take().empty());
    advance(40000);
    EXPECT_TRUE(take().empty()) << "no 2xx retransmission after the ACK, and no BYE";
    EXPECT_EQ(b2b_->active_calls(), 1u);

    // alice hangs up: 200 to her, BYE to bob in his dialog.
    from_alice(alice_request("BYE", a_tag, 2, "z9hG4bKalicebye"));
    out = take();
    ASSERT_EQ(out.size(), 2u);
    const received* bye_ok = find_response(out, acc, 200, sip::method::bye);
    ASSERT_NE(bye_ok, nullptr);
    EXPECT_EQ(bye_ok->to, alice);
    EXPECT_EQ(bye_ok->msg.cseq, 2u);
    EXPECT_EQ(bye_ok->msg.top_via.branch, "z9hG4bKalicebye");
    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, bob);
    EXPECT_EQ(bye->msg.call_id, b_call_id);
    EXPECT_EQ(bye->msg.from.tag, b_invite->msg.from.tag);
    EXPECT_EQ(bye->msg.to.tag, "bobtag");
    EXPECT_EQ(bye->msg.cseq, 2u);
    EXPECT_EQ(bye->msg.cseq_method, sip::method::bye);
    EXPECT_EQ(bye->msg.top_via.host, "198.51.100.1");
    EXPECT_EQ(bye->text.find("192.0.2."), std::string::npos);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u) << "relay entries removed";
    EXPECT_EQ(anchor_->pairs_in_use(acc), 0u);
    EXPECT_EQ(anchor_->pairs_in_use(core), 0u);
    auto bye_copy = parse_copy(bye->realm, bye->to, bye->text);
    from_bob(bob_response(bye_copy->msg, 200, "OK"));
    EXPECT_TRUE(take().empty());

    // The record.
    ASSERT_EQ(cdrs_->written(), 1u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<std::string>("call_id"), o.call_id);
    EXPECT_EQ(rec.get<std::string>("b_call_id"), b_call_id);
    EXPECT_EQ(rec.get<unsigned>("result"), 200u);
    EXPECT_EQ(rec.get<std::string>("hangup"), "caller");
    EXPECT_EQ(rec.get<std::string>("from"), "sip:alice@192.0.2.10");
    EXPECT_EQ(rec.get<std::string>("to"), "sip:bob@192.0.2.1");
    EXPECT_EQ(rec.get<std::string>("caller"), "192.0.2.10:5060");
    EXPECT_EQ(rec.get<std::string>("callee"), "198.51.100.20:5060");
    EXPECT_NE(rec.get<std::string>("answer"), "null");

    const auto& st = b2b_->stats();
    EXPECT_EQ(st.calls_total, 1u);
    EXPECT_EQ(st.calls_answered, 1u);
    EXPECT_EQ(st.calls_failed, 0u);

    // Nothing lingers: a retransmitted BYE is answered by its transaction, nothing else.
    from_alice(alice_request("BYE", a_tag, 2, "z9hG4bKalicebye"));
    out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->msg.status, 200);
}

TEST_F(b2bua_test, bob_hangs_up_first) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    advance(10000);
    from_bob(bob_request("BYE", cs.b_invite->msg, 1, "z9hG4bKbobbye"));
    auto out = take();
    ASSERT_EQ(out.size(), 2u);
    const received* ok = find_response(out, core, 200, sip::method::bye);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(ok->to, bob);
    const received* bye = find_request(out, acc, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    // To alice's Contact, in her dialog: her Call-ID, our tag in From, her tag in To.
    EXPECT_EQ(bye->to, alice);
    EXPECT_EQ(bye->msg.call_id, invite_opts{}.call_id);
    EXPECT_EQ(bye->msg.from.tag, cs.a_tag);
    EXPECT_EQ(bye->msg.to.tag, "alicetag");
    EXPECT_EQ(bye->msg.top_via.host, "192.0.2.1");
    sip::uri ruri;
    ASSERT_TRUE(sip::parse_uri(bye->msg.request_uri, ruri));
    EXPECT_EQ(ruri.host, "192.0.2.10");
    EXPECT_EQ(bye->text.find("198.51.100."), std::string::npos);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<std::string>("hangup"), "callee");
    EXPECT_EQ(rec.get<unsigned>("result"), 200u);
}

TEST_F(b2bua_test, retransmitted_2xx_from_bob_gets_the_ack_again) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->realm, core);
    EXPECT_EQ(out[0]->msg.req_method, sip::method::ack);
    EXPECT_EQ(count_response(out, acc, 200), 0u) << "alice is not told twice";
}

// ================================================================== CANCEL

TEST_F(b2bua_test, cancel_after_bob_rings) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    auto out = take();
    const received* ringing = find_response(out, acc, 180);
    ASSERT_NE(ringing, nullptr);
    const std::string a_tag(ringing->msg.to.tag);

    // alice CANCELs: same branch as her INVITE, no To tag.
    from_alice(alice_cancel());
    out = take();
    const received* cancel_ok = find_response(out, acc, 200, sip::method::cancel);
    ASSERT_NE(cancel_ok, nullptr);
    EXPECT_EQ(cancel_ok->to, alice);
    const received* terminated = find_response(out, acc, 487);
    ASSERT_NE(terminated, nullptr);
    EXPECT_EQ(terminated->msg.to.tag, a_tag);
    EXPECT_EQ(terminated->msg.top_via.branch, invite_opts{}.branch);
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->to, bob);
    // RFC 3261 9.1: Request-URI, Call-ID, From, To, CSeq number and branch as the INVITE.
    EXPECT_EQ(cancel->msg.request_uri, cs.b_invite->msg.request_uri);
    EXPECT_EQ(cancel->msg.call_id, cs.b_invite->msg.call_id);
    EXPECT_EQ(header(cancel->msg, sip::hdr::from), header(cs.b_invite->msg, sip::hdr::from));
    EXPECT_EQ(header(cancel->msg, sip::hdr::to), header(cs.b_invite->msg, sip::hdr::to));
    EXPECT_EQ(cancel->msg.cseq, cs.b_invite->msg.cseq);
    EXPECT_EQ(cancel->msg.cseq_method, sip::method::cancel);
    EXPECT_EQ(cancel->msg.top_via.branch, cs.b_invite->msg.top_via.branch);
    EXPECT_EQ(out.size(), 3u);
    auto cancel_copy = parse_copy(cancel->realm, cancel->to, cancel->text);

    // bob: 200 for the CANCEL, 487 for the INVITE, which we ACK.
    from_bob(bob_response(cancel_copy->msg, 200, "OK"));
    EXPECT_TRUE(take().empty());
    from_bob(bob_response(cs.b_invite->msg, 487, "Request Terminated"));
    out = take();
    ASSERT_EQ(out.size(), 1u);
    const received* ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->msg.top_via.branch, cs.b_invite->msg.top_via.branch) << "the ACK of a non-2xx";
    EXPECT_EQ(ack->msg.to.tag, "bobtag");
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);

    // alice's ACK for the 487 is absorbed; the 487 is not retransmitted any more.
    from_alice(alice_request("ACK", a_tag, 1, invite_opts{}.branch));
    advance(40000);
    EXPECT_TRUE(take().empty());
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("result"), 487u);
    EXPECT_EQ(rec.get<std::string>("hangup"), "none");
    EXPECT_EQ(rec.get<std::string>("answer"), "null");
}

TEST_F(b2bua_test, cancel_before_bob_answers_anything_waits_for_his_provisional) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_alice(alice_cancel());
    auto out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::cancel), nullptr);
    EXPECT_NE(find_response(out, acc, 487), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::cancel), 0u) << "RFC 3261 9.1: no CANCEL before a provisional";
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    out = take();
    EXPECT_EQ(count_response(out, acc, 180), 0u) << "alice has her 487 already";
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->msg.top_via.branch, cs.b_invite->msg.top_via.branch);
    from_bob(bob_response(cs.b_invite->msg, 487, "Request Terminated"));
    out = take();
    EXPECT_EQ(count_request(out, core, sip::method::ack), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(b2bua_test, cancel_after_bobs_100_trying_is_sent_at_once) {
    // RFC 3261 9.1: a CANCEL may follow any provisional response, 100 Trying included.
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 100, "Trying"));
    from_alice(alice_cancel());
    auto out = take();
    EXPECT_NE(find_response(out, acc, 487), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::cancel), 1u)
        << "bob's 100 Trying was a provisional response: the CANCEL must not wait for a 180";
}

TEST_F(b2bua_test, cancel_goes_where_the_invite_went) {
    // bob's 180 names another Contact (e.g. the phone behind a proxy): the CANCEL must
    // still go to the INVITE's destination (RFC 3261 9.1), where the transaction is.
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing", {}, "bobtag", "<sip:bob@198.51.100.30:5070>"));
    take();
    from_alice(alice_cancel());
    auto out = take();
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->to, bob) << "sent to " << to_string(cancel->to);
}

TEST_F(b2bua_test, repeated_provisional_while_cancelling_sends_one_cancel) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    from_alice(alice_cancel());
    auto out = take();
    ASSERT_EQ(count_request(out, core, sip::method::cancel), 1u);
    // bob's 180 crossed our CANCEL, then a 183.
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    from_bob(bob_response(cs.b_invite->msg, 183, "Session Progress"));
    out = take();
    EXPECT_EQ(count_request(out, core, sip::method::cancel), 0u) << "the CANCEL was sent already";
}

TEST_F(b2bua_test, cancel_for_unknown_transaction_gets_481) {
    from_alice(alice_request("CANCEL", {}, 1, "z9hG4bKnothing"));
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->msg.status, 481);
    EXPECT_EQ(out[0]->msg.cseq_method, sip::method::cancel);
}

TEST_F(b2bua_test, bob_answers_after_cancel_gets_ack_and_bye) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    from_alice(alice_cancel());
    take();
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::ack), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 1u);
    EXPECT_EQ(count_response(out, acc, 200), 0u) << "alice has her 487";
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

// ================================================================== failures

TEST_F(b2bua_test, busy_from_bob) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 486, "Busy Here"));
    auto out = take();
    ASSERT_EQ(out.size(), 2u);
    const received* ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->to, bob);
    EXPECT_EQ(ack->msg.top_via.branch, cs.b_invite->msg.top_via.branch);
    const received* busy = find_response(out, acc, 486);
    ASSERT_NE(busy, nullptr);
    EXPECT_EQ(busy->to, alice);
    EXPECT_EQ(busy->msg.call_id, invite_opts{}.call_id);
    EXPECT_FALSE(busy->msg.to.tag.empty());
    EXPECT_EQ(busy->text.find("bobtag"), std::string::npos);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    EXPECT_EQ(b2b_->stats().calls_failed, 1u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("result"), 486u);
    EXPECT_EQ(rec.get<std::string>("hangup"), "none");

    // The IST retransmits the 486 until alice ACKs it. (`busy` points into `out`: keep its tag.)
    const std::string busy_tag(busy->msg.to.tag);
    advance(500);
    out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->msg.status, 486);
    from_alice(alice_request("ACK", busy_tag, 1, invite_opts{}.branch));
    advance(40000);
    EXPECT_TRUE(take().empty());
}

TEST_F(b2bua_test, no_answer_times_out_with_408) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    const ms_t t0 = now_;
    advance(31999);
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::invite), 6u) << "timer A retransmissions";
    EXPECT_EQ(count_response(out, acc, 408), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    advance_to(t0 + 32000);
    out = take();
    const received* timeout = find_response(out, acc, 408);
    ASSERT_NE(timeout, nullptr);
    EXPECT_EQ(timeout->to, alice);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("result"), 408u);
}

TEST_F(b2bua_test, max_forwards_zero_gets_483) {
    invite_opts o;
    o.max_forwards = 0;
    from_alice(alice_invite(o));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 483), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(b2bua_test, max_forwards_one_is_forwarded_with_zero) {
    invite_opts o;
    o.max_forwards = 1;
    call_state cs = start_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(cs.b_invite->msg.max_forwards, 0);
}

TEST_F(b2bua_test, unknown_user_gets_404_from_the_dialplan) {
    invite_opts o;
    o.user = "nobody-here";
    from_alice(alice_invite(o));
    auto out = take();
    const received* nf = find_response(out, acc, 404);
    ASSERT_NE(nf, nullptr);
    EXPECT_EQ(nf->to, alice);
    EXPECT_FALSE(nf->msg.to.tag.empty());
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(b2bua_test, unreadable_sdp_gets_488) {
    invite_opts o;
    o.body = "v=0\r\nthis is not SDP\r\n";
    from_alice(alice_invite(o));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 488), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

// RFC 3264 with the offer in the 2xx: bob offers, alice answers in her ACK, which the
// appliance carries on to bob in his ACK; each leg sees only its own relay address.
TEST_F(b2bua_test, offerless_invite_gets_the_offer_in_the_2xx_and_the_answer_in_the_ack) {
    invite_opts o;
    o.body.clear();
    from_alice(alice_invite(o));
    auto out = take();
    const received* to_bob = find_request(out, core, sip::method::invite);
    ASSERT_NE(to_bob, nullptr);
    EXPECT_TRUE(to_bob->msg.body.empty()) << "no offer to bob either";
    EXPECT_EQ(relay_entries(), 0u) << "nothing is anchored before the offer";
    auto bob_invite = parse_copy(to_bob->realm, to_bob->to, to_bob->text);

    from_bob(bob_response(bob_invite->msg, 200, "OK", bob_sdp));
    out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    const sdp_info offer_to_alice = sdp_of(ok->msg.body);
    EXPECT_EQ(offer_to_alice.conn, "192.0.2.1");
    EXPECT_EQ(count_request(out, core, sip::method::ack), 0u) << "bob's ACK waits for alice's answer";
    EXPECT_EQ(relay_entries(), 4u);
    const std::string a_tag(ok->msg.to.tag);

    std::string ack = alice_request("ACK", a_tag, 1, "z9hG4bKaliceack");
    ack.replace(ack.find("Content-Length: 0\r\n\r\n"), std::string::npos,
                "Content-Type: application/sdp\r\nContent-Length: " + std::to_string(alice_sdp.size()) +
                    "\r\n\r\n" + alice_sdp);
    from_alice(ack);
    out = take();
    const received* bob_ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(bob_ack, nullptr);
    const sdp_info answer_to_bob = sdp_of(bob_ack->msg.body);
    EXPECT_EQ(answer_to_bob.conn, "198.51.100.1");
    EXPECT_NE(answer_to_bob.port, 0);
    EXPECT_EQ(bob_ack->text.find("192.0.2.10"), std::string::npos) << "alice's address stays on her realm";
    // The relay: alice's side sends to her answer's address, bob's to his offer's.
    const dp::media_side* a_side = table_->find(acc_addr, offer_to_alice.port);
    ASSERT_NE(a_side, nullptr);
    const dp::media_side* b_side = a_side->peer();
    ASSERT_NE(b_side, nullptr);
    EXPECT_EQ(b_side->local_port, answer_to_bob.port);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(b2bua_test, offerless_invite_answered_without_an_offer_fails_cleanly) {
    invite_opts o;
    o.body.clear();
    from_alice(alice_invite(o));
    auto out = take();
    const received* to_bob = find_request(out, core, sip::method::invite);
    ASSERT_NE(to_bob, nullptr);
    auto bob_invite = parse_copy(to_bob->realm, to_bob->to, to_bob->text);
    from_bob(bob_response(bob_invite->msg, 200, "OK"));
    out = take();
    EXPECT_EQ(count_request(out, core, sip::method::ack), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 1u);
    EXPECT_NE(find_response(out, acc, 502), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(b2bua_test, malformed_invite_gets_400_at_its_source) {
    std::string text = alice_invite();
    const auto pos = text.find("CSeq: 1 INVITE\r\n");
    ASSERT_NE(pos, std::string::npos);
    text.erase(pos, 16);
    const sip_addr source{alice.addr, 5099};
    allowed_unparsable_ = 1;  // a 400 for a request without CSeq cannot carry one either
    feed(acc, source, text);
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->realm, acc);
    EXPECT_EQ(out[0]->to, source);
    const std::string& t = out[0]->text;
    EXPECT_EQ(t.rfind("SIP/2.0 400 Bad Request", 0), 0u) << t;
    EXPECT_NE(t.find("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=" + invite_opts{}.branch + ";rport\r\n"),
              std::string::npos) << t;
    EXPECT_NE(t.find("Call-ID: " + invite_opts{}.call_id + "\r\n"), std::string::npos) << t;
    EXPECT_NE(t.find("From: \"Alice\" <sip:alice@192.0.2.10>;tag=alicetag\r\n"), std::string::npos) << t;
    EXPECT_EQ(out[0]->error, sip::parse_error::missing_cseq);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    EXPECT_EQ(b2b_->stats().bad_requests, 1u);
}

TEST_F(b2bua_test, malformed_max_forwards_gets_a_parsable_400) {
    std::string text = alice_invite();
    text.replace(text.find("Max-Forwards: 70"), 16, "Max-Forwards: many");
    from_alice(text);
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->error, sip::parse_error::ok) << out[0]->text;
    EXPECT_EQ(out[0]->msg.status, 400);
    EXPECT_EQ(out[0]->msg.cseq, 1u);
    EXPECT_EQ(out[0]->msg.top_via.branch, invite_opts{}.branch);
}

TEST_F(b2bua_test, unparsable_garbage_is_dropped_silently) {
    feed(acc, alice, "hello world");
    feed(acc, alice, std::string("\x16\x03\x01\x00\x05garbage", 12));
    feed(acc, alice, "\r\n\r\n");
    // A broken response is never answered either.
    feed(core, bob, "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKx\r\n\r\n");
    // Nor a broken ACK.
    feed(acc, alice, "ACK sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKy\r\n\r\n");
    EXPECT_TRUE(take().empty());
    EXPECT_EQ(b2b_->stats().unparsable_dropped, 5u);
    EXPECT_EQ(b2b_->stats().bad_requests, 0u);
}

TEST_F(b2bua_test, options_outside_a_dialog_gets_200) {
    from_alice(alice_request("OPTIONS", {}, 1, "z9hG4bKopt", "options-1@192.0.2.10"));
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->to, alice);
    EXPECT_EQ(out[0]->msg.status, 200);
    EXPECT_EQ(out[0]->msg.cseq_method, sip::method::options);
    EXPECT_FALSE(out[0]->msg.to.tag.empty());
    ASSERT_NE(out[0]->msg.find(sip::hdr::allow), nullptr);
    EXPECT_NE(header(out[0]->msg, sip::hdr::allow).find("INVITE"), std::string::npos);
}

TEST_F(b2bua_test, in_dialog_request_for_unknown_call_gets_481) {
    from_alice(alice_request("BYE", "sometag", 2, "z9hG4bKstale", "no-such-call@192.0.2.10"));
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->msg.status, 481);
    EXPECT_EQ(out[0]->msg.cseq_method, sip::method::bye);
    EXPECT_EQ(b2b_->stats().in_dialog_481, 1u);
}

TEST_F(b2bua_test, in_dialog_request_with_wrong_tag_gets_481) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_alice(alice_request("BYE", "not-our-tag", 2, "z9hG4bKbadtag"));
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->msg.status, 481);
    EXPECT_EQ(b2b_->active_calls(), 1u) << "the call stays up";
}

TEST_F(b2bua_test, refer_in_dialog_is_declined) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    std::string refer = alice_request("REFER", cs.a_tag, 2, "z9hG4bKrefer");
    refer.insert(refer.find("Content-Length"), "Refer-To: <sip:carol@192.0.2.30>\r\n");
    from_alice(refer);
    auto out = take();
    ASSERT_EQ(out.size(), 1u) << "a REFER is never relayed to bob";
    EXPECT_EQ(out[0]->realm, acc);
    EXPECT_EQ(out[0]->msg.status, 603);
    EXPECT_EQ(out[0]->msg.cseq_method, sip::method::refer);
    EXPECT_EQ(b2b_->stats().refer_declined, 1u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(b2bua_test, options_in_dialog_is_answered_locally) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_alice(alice_request("OPTIONS", cs.a_tag, 2, "z9hG4bKdlgopt"));
    auto out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->msg.status, 200);
    EXPECT_EQ(out[0]->realm, acc);
}

std::string origin_line(std::string_view body) {
    const auto o = body.find("o=");
    return std::string(body.substr(o, body.find("\r\n", o) - o));
}

const std::string alice_hold_sdp =
    "v=0\r\n"
    "o=alice 1000 1001 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 42000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=sendonly\r\n";

TEST_F(b2bua_test, reinvite_from_alice_is_relayed_in_bobs_dialog_with_his_sdp_origin) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    const std::string first_origin = origin_line(cs.b_invite->msg.body);
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKreinv"), alice_hold_sdp));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 100), nullptr);
    const received* reinv = find_request(out, core, sip::method::invite);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(reinv->to, bob);
    EXPECT_EQ(reinv->msg.call_id, cs.b_invite->msg.call_id) << "bob's own dialog";
    EXPECT_EQ(reinv->msg.from.tag, cs.b_invite->msg.from.tag);
    EXPECT_EQ(reinv->msg.to.tag, "bobtag");
    EXPECT_EQ(reinv->msg.cseq, 2u);
    EXPECT_EQ(reinv->msg.request_uri, "sip:bob@198.51.100.20:5060") << "bob's Contact";
    EXPECT_EQ(reinv->text.find("192.0.2."), std::string::npos) << "nothing of leg A leaks";
    const sdp_info b = sdp_of(reinv->msg.body);
    EXPECT_EQ(b.conn, "198.51.100.1");
    EXPECT_EQ(b.port, cs.b_port) << "the relay port of the stream stays";
    EXPECT_NE(reinv->msg.body.find("a=sendonly"), std::string::npos) << "hold is passed on";
    // Same o= session id, version one up (RFC 3264 8).
    std::string expected_origin = first_origin;
    const auto sp2 = expected_origin.find(' ', expected_origin.find(' ') + 1);
    const auto sp3 = expected_origin.find(' ', sp2 + 1);
    const unsigned long v = std::stoul(expected_origin.substr(sp2 + 1, sp3 - sp2 - 1));
    expected_origin.replace(sp2 + 1, sp3 - sp2 - 1, std::to_string(v + 1));
    EXPECT_EQ(origin_line(reinv->msg.body), expected_origin);
    // alice moved her media: the relay now sends her RTP to the new port.
    const dp::media_side* a_side = table_->find(acc_addr, cs.a_port);
    ASSERT_NE(a_side, nullptr);
    EXPECT_EQ(dp::endpoint_port(a_side->remote()), 42000);

    from_bob(bob_response(reinv->msg, 200, "OK", bob_sdp));
    out = take();
    const received* ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->msg.cseq, 2u);
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(ok->msg.to.tag, cs.a_tag);
    EXPECT_EQ(ok->msg.cseq, 2u);
    EXPECT_EQ(sdp_of(ok->msg.body).conn, "192.0.2.1");
    EXPECT_EQ(sdp_of(ok->msg.body).port, cs.a_port);
    EXPECT_EQ(ok->text.find("198.51.100.20"), std::string::npos);
    from_alice(alice_request("ACK", cs.a_tag, 2, "z9hG4bKreinvack"));
    advance(5000);
    EXPECT_TRUE(take().empty()) << "ACKed: no 2xx retransmission";
    EXPECT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(relay_entries(), 4u);
}

TEST_F(b2bua_test, offerless_reinvite_from_bob_carries_the_answer_in_the_ack) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobreinv"));
    auto out = take();
    const received* reinv = find_request(out, acc, sip::method::invite);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(reinv->to, alice);
    EXPECT_TRUE(reinv->msg.body.empty());
    const uint32_t reinv_cseq = reinv->msg.cseq;  // `reinv` points into `out`, which is reused below
    EXPECT_EQ(reinv->msg.call_id, invite_opts{}.call_id);
    EXPECT_EQ(reinv->msg.from.tag, cs.a_tag);
    EXPECT_EQ(reinv->msg.to.tag, "alicetag");
    // alice offers in her 200; bob gets it rewritten, and alice's ACK waits for bob's answer.
    from_alice(bob_response(reinv->msg, 200, "OK", alice_sdp, "", "<sip:alice@192.0.2.10:5060>"));
    out = take();
    EXPECT_EQ(count_request(out, acc, sip::method::ack), 0u);
    const received* ok = find_response(out, core, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(sdp_of(ok->msg.body).conn, "198.51.100.1");
    EXPECT_EQ(sdp_of(ok->msg.body).port, cs.b_port);
    from_bob(with_body(bob_request("ACK", cs.b_invite->msg, 1, "z9hG4bKbobreinvack"), bob_sdp));
    out = take();
    const received* ack = find_request(out, acc, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->msg.cseq, reinv_cseq);
    EXPECT_EQ(sdp_of(ack->msg.body).conn, "192.0.2.1");
    EXPECT_EQ(sdp_of(ack->msg.body).port, cs.a_port);
}

TEST_F(b2bua_test, reinvite_glare_gets_491_and_a_second_one_500_with_retry_after) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKreinv1"), alice_hold_sdp));
    auto out = take();
    ASSERT_NE(find_request(out, core, sip::method::invite), nullptr);
    // bob re-INVITEs while alice's is on its way to him: glare.
    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobglare"), bob_sdp));
    out = take();
    EXPECT_NE(find_response(out, core, 491), nullptr);
    EXPECT_EQ(count_request(out, acc, sip::method::invite), 0u);
    // alice sends another before her first got its final response.
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 3, "z9hG4bKreinv2"), alice_hold_sdp));
    out = take();
    const received* busy = find_response(out, acc, 500);
    ASSERT_NE(busy, nullptr);
    EXPECT_NE(busy->msg.find("Retry-After"), nullptr);
    EXPECT_EQ(b2b_->stats().glare_491, 1u);
    EXPECT_EQ(b2b_->stats().pending_500, 1u);
}

// RFC 3311 5.2: an UPDATE's offer is outstanding until its final response. An offer from the
// other leg (UPDATE or re-INVITE) crossing it gets 491; a second one from the same leg 500 with
// Retry-After; once bob answers, offers pass again.
TEST_F(b2bua_test, an_update_offer_on_its_way_refuses_crossing_offers) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_alice(with_body(alice_request("UPDATE", cs.a_tag, 2, "z9hG4bKupd1"), alice_hold_sdp));
    auto out = take();
    const received* update = find_request(out, core, sip::method::update);
    ASSERT_NE(update, nullptr);
    auto to_bob = parse_copy(update->realm, update->to, update->text);

    from_bob(with_body(bob_request("UPDATE", cs.b_invite->msg, 1, "z9hG4bKbobupd"), bob_sdp));
    out = take();
    EXPECT_NE(find_response(out, core, 491, sip::method::update), nullptr) << "bob's UPDATE crosses alice's";
    EXPECT_EQ(count_request(out, acc, sip::method::update), 0u);
    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 2, "z9hG4bKbobinv"), bob_sdp));
    out = take();
    EXPECT_NE(find_response(out, core, 491), nullptr) << "so does his re-INVITE";
    EXPECT_EQ(count_request(out, acc, sip::method::invite), 0u);
    from_alice(with_body(alice_request("UPDATE", cs.a_tag, 3, "z9hG4bKupd2"), alice_sdp));
    out = take();
    const received* busy = find_response(out, acc, 500, sip::method::update);
    ASSERT_NE(busy, nullptr) << "alice's second offer before her first was answered";
    EXPECT_NE(busy->msg.find("Retry-After"), nullptr);
    EXPECT_EQ(b2b_->stats().glare_491, 2u);
    EXPECT_EQ(b2b_->stats().pending_500, 1u);

    // bob answers alice's UPDATE: his next offer is relayed.
    from_bob(bob_response(to_bob->msg, 200, "OK", bob_sdp));
    EXPECT_NE(find_response(take(), acc, 200, sip::method::update), nullptr);
    from_bob(with_body(bob_request("UPDATE", cs.b_invite->msg, 3, "z9hG4bKbobupd2"), bob_sdp));
    EXPECT_NE(find_request(take(), acc, sip::method::update), nullptr);
}

// An UPDATE without SDP (a session refresh) carries no offer: it crosses nothing.
TEST_F(b2bua_test, an_update_without_sdp_is_not_an_offer) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_alice(alice_request("UPDATE", cs.a_tag, 2, "z9hG4bKupd1"));
    ASSERT_NE(find_request(take(), core, sip::method::update), nullptr);
    from_bob(with_body(bob_request("UPDATE", cs.b_invite->msg, 1, "z9hG4bKbobupd"), bob_sdp));
    EXPECT_NE(find_request(take(), acc, sip::method::update), nullptr);
    EXPECT_EQ(b2b_->stats().glare_491, 0u);
}

TEST_F(b2bua_test, info_is_relayed_with_its_body) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    const std::string dtmf = "Signal=5\r\nDuration=160\r\n";
    from_alice(with_body(alice_request("INFO", cs.a_tag, 2, "z9hG4bKinfo"), dtmf, "application/dtmf-relay"));
    auto out = take();
    const received* info = find_request(out, core, sip::method::info);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->msg.body, dtmf);
    EXPECT_EQ(header(info->msg, sip::hdr::content_type), "application/dtmf-relay");
    from_bob(bob_response(info->msg, 200, "OK"));
    out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::info), nullptr);
}

/// Calls in which alice puts bob on hold.
class hold_test : public b2bua_test {
protected:
    /// alice (in call `cs`) re-INVITEs with alice_hold_sdp (CSeq 2); the re-INVITE bob got.
    std::unique_ptr<received> relay_hold(const call_state& cs) {
        from_alice(with_body(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKreinv"), alice_hold_sdp));
        auto out = take();
        const received* reinv = find_request(out, core, sip::method::invite);
        return reinv == nullptr ? nullptr : parse_copy(reinv->realm, reinv->to, reinv->text);
    }
    /// A confirmed call `cs` in which alice's hold re-INVITE rings at bob (his 180 reached her);
    /// the re-INVITE bob got.
    std::unique_ptr<received> hold_ringing(call_state& cs) {
        cs = confirmed_call();
        if (cs.b_invite == nullptr) {
            return nullptr;
        }
        auto reinv = relay_hold(cs);
        if (reinv != nullptr) {
            from_bob(bob_response(reinv->msg, 180, "Ringing"));
            EXPECT_NE(find_response(take(), acc, 180), nullptr);
        }
        return reinv;
    }
};

TEST_F(hold_test, reinvite_answered_with_an_error_keeps_the_call) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    auto reinv = relay_hold(cs);
    ASSERT_NE(reinv, nullptr);
    from_bob(bob_response(reinv->msg, 488, "Not Acceptable Here"));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 488), nullptr);
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr) << "the ICT ACKs the 488";
    EXPECT_EQ(b2b_->active_calls(), 1u);
    // A new re-INVITE is possible again.
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 3, "z9hG4bKreinv3"), alice_hold_sdp));
    EXPECT_NE(find_request(take(), core, sip::method::invite), nullptr);
}

// A failed re-INVITE leaves the session as it was (RFC 3261 14.1): alice's hold offer had moved
// her media to port 42000; after bob's 488 the relay sends to 40000 again.
TEST_F(hold_test, a_failed_reinvite_puts_the_offerers_media_back) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    const dp::media_side* a_side = table_->find(acc_addr, cs.a_port);
    ASSERT_NE(a_side, nullptr);
    auto reinv = relay_hold(cs);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(dp::endpoint_port(a_side->remote()), 42000);
    from_bob(bob_response(reinv->msg, 488, "Not Acceptable Here"));
    EXPECT_NE(find_response(take(), acc, 488), nullptr);
    EXPECT_EQ(dp::endpoint_port(a_side->remote()), 40000) << "her media from before the offer";
}

// The same for an offer in an UPDATE (RFC 3311 5.2: a rejected offer changes nothing).
TEST_F(hold_test, a_failed_update_offer_puts_the_offerers_media_back) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    const dp::media_side* a_side = table_->find(acc_addr, cs.a_port);
    ASSERT_NE(a_side, nullptr);
    from_alice(with_body(alice_request("UPDATE", cs.a_tag, 2, "z9hG4bKupd"), alice_hold_sdp));
    auto out = take();
    const received* update = find_request(out, core, sip::method::update);
    ASSERT_NE(update, nullptr);
    auto copy = parse_copy(update->realm, update->to, update->text);
    EXPECT_EQ(dp::endpoint_port(a_side->remote()), 42000);
    from_bob(bob_response(copy->msg, 488, "Not Acceptable Here"));
    EXPECT_NE(find_response(take(), acc, 488, sip::method::update), nullptr);
    EXPECT_EQ(dp::endpoint_port(a_side->remote()), 40000) << "her media from before the offer";
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// RFC 3261 9.2 as a B2BUA: alice CANCELs her re-INVITE while bob rings; the CANCEL is answered
// and passed on to bob's re-INVITE (the same CSeq and branch as that INVITE), bob's 487 comes
// back to alice, the call stays with the media as they were, and the next re-INVITE goes.
TEST_F(hold_test, a_cancelled_reinvite_is_cancelled_at_the_other_leg_and_the_call_stays) {
    call_state cs;
    auto reinv = hold_ringing(cs);
    ASSERT_NE(reinv, nullptr);
    from_alice(alice_request("CANCEL", cs.a_tag, 2, "z9hG4bKreinv"));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::cancel), nullptr);
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->to, bob);
    EXPECT_EQ(cancel->msg.top_via.branch, reinv->msg.top_via.branch);
    EXPECT_EQ(cancel->msg.cseq, reinv->msg.cseq);
    EXPECT_EQ(cancel->msg.to.tag, "bobtag");
    EXPECT_EQ(cancel->msg.request_uri, reinv->msg.request_uri);
    EXPECT_EQ(find_response(out, acc, 487), nullptr) << "alice's 487 is bob's, when it comes";
    from_bob(bob_response(cancel->msg, 200, "OK"));
    from_bob(bob_response(reinv->msg, 487, "Request Terminated"));
    out = take();
    EXPECT_NE(find_response(out, acc, 487, sip::method::invite), nullptr);
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr) << "the ICT ACKs bob's 487";
    EXPECT_EQ(count_request(out, core, sip::method::bye), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(b2b_->stats().reinvites_cancelled, 1u);
    const dp::media_side* a_side = table_->find(acc_addr, cs.a_port);
    ASSERT_NE(a_side, nullptr);
    EXPECT_EQ(dp::endpoint_port(a_side->remote()), 40000) << "the hold never happened";
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 3, "z9hG4bKreinv3"), alice_hold_sdp));
    EXPECT_NE(find_request(take(), core, sip::method::invite), nullptr) << "no re-INVITE pending any more";
}

// A CANCEL before bob said anything waits for his first provisional response (RFC 3261 9.1),
// and bob answering 200 across the CANCEL wins: alice gets the 200.
TEST_F(hold_test, a_reinvite_cancelled_before_a_provisional_response_is_cancelled_on_the_first) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    auto reinv = relay_hold(cs);
    ASSERT_NE(reinv, nullptr);
    from_alice(alice_request("CANCEL", cs.a_tag, 2, "z9hG4bKreinv"));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::cancel), nullptr);
    EXPECT_EQ(find_request(out, core, sip::method::cancel), nullptr);
    from_bob(bob_response(reinv->msg, 100, "Trying"));
    EXPECT_NE(find_request(take(), core, sip::method::cancel), nullptr);
    from_bob(bob_response(reinv->msg, 200, "OK", bob_sdp));
    out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::invite), nullptr);
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// Bob rings on alice's re-INVITE and never answers: after [sip] max_ring it is CANCELled (a
// proxy's Timer C); bob answers neither, so 64*T1 later alice gets 487 and the transaction
// towards bob is gone; the call itself goes on.
TEST_F(hold_test, a_reinvite_left_ringing_is_cancelled_after_max_ring) {
    call_state cs;
    auto reinv = hold_ringing(cs);
    ASSERT_NE(reinv, nullptr);
    const size_t before = tl_->size();
    advance(179'000);
    EXPECT_EQ(count_request(take(), core, sip::method::cancel), 0u);
    advance(1'000);
    auto out = take();
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->msg.top_via.branch, reinv->msg.top_via.branch);
    EXPECT_EQ(b2b_->stats().reinvites_unanswered, 1u);
    advance(32'000);
    out = take();
    EXPECT_NE(find_response(out, acc, 487, sip::method::invite), nullptr);
    EXPECT_LT(tl_->size(), before) << "the re-INVITE towards bob is over";
    EXPECT_EQ(b2b_->active_calls(), 1u);
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 3, "z9hG4bKreinv3"), alice_hold_sdp));
    EXPECT_NE(find_request(take(), core, sip::method::invite), nullptr);
}

// RFC 3261 12.2.1.2 and 14.1: a 481 to the re-INVITE means bob's dialog is gone, and with it
// the call: alice gets the 481 and a BYE; bob, who forgot the dialog, gets none.
TEST_F(hold_test, a_481_to_a_relayed_reinvite_ends_the_call) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    auto reinv = relay_hold(cs);
    ASSERT_NE(reinv, nullptr);
    from_bob(bob_response(reinv->msg, 481, "Call/Transaction Does Not Exist"));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 481, sip::method::invite), nullptr);
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 0u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(b2b_->stats().dialogs_gone, 1u);
    EXPECT_EQ(relay_entries(), 0u);
}

// No answer at all to the relayed re-INVITE (Timer B): alice gets 408, both legs a BYE.
TEST_F(hold_test, a_relayed_reinvite_without_any_answer_ends_the_call) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    auto reinv = relay_hold(cs);
    ASSERT_NE(reinv, nullptr);
    advance(32'000);
    auto out = take();
    EXPECT_NE(find_response(out, acc, 408, sip::method::invite), nullptr);
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(b2b_->stats().dialogs_gone, 1u);
}

// The call ends (alice hangs up) while her re-INVITE waits at bob, who rang and went silent: she
// gets 487 for it (RFC 3261 15.1.2), and 64*T1 later nothing of the call is left, the re-INVITE's
// transaction towards bob included (found by fuzz_b2bua's silent-peers check).
TEST_F(hold_test, a_call_ending_during_a_relayed_reinvite_answers_it_and_leaves_nothing) {
    call_state cs;
    auto reinv = hold_ringing(cs);
    ASSERT_NE(reinv, nullptr);
    from_alice(alice_request("BYE", cs.a_tag, 3, "z9hG4bKbye3"));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 487, sip::method::invite), nullptr) << "the pending re-INVITE";
    EXPECT_NE(find_response(out, acc, 200, sip::method::bye), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    advance(40'000);
    EXPECT_EQ(tl_->size(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(b2bua_test, blind_transfer_moves_alice_to_carol_make_before_break) {
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    const dp::media_side* a_rtp = table_->find(acc_addr, cs.a_port);
    ASSERT_NE(a_rtp, nullptr);
    const dp::media_side* bob_side = a_rtp->peer();

    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    auto out = take();
    EXPECT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    const received* notify = find_request(out, core, sip::method::notify);
    ASSERT_NE(notify, nullptr);
    EXPECT_EQ(notify->msg.body, "SIP/2.0 100 Trying\r\n");
    EXPECT_NE(notify->text.find("Event: refer;id=1"), std::string::npos);
    EXPECT_NE(notify->text.find("Subscription-State: active"), std::string::npos);
    const received* to_carol = nullptr;
    for (const auto& r : out) {
        if (r->msg.is_request && r->msg.req_method == sip::method::invite && r->to == carol) {
            to_carol = r.get();
        }
    }
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(to_carol->text.find("192.0.2."), std::string::npos) << "nothing of alice's realm leaks";
    EXPECT_NE(to_carol->msg.find(sip::hdr::referred_by), nullptr);
    EXPECT_EQ(sdp_of(to_carol->msg.body).conn, "198.51.100.1");
    EXPECT_EQ(a_rtp->peer(), bob_side) << "no switch before carol answers";
    auto carol_invite = parse_copy(to_carol->realm, to_carol->to, to_carol->text);

    feed(core, carol, bob_response(carol_invite->msg, 180, "Ringing", {}, "caroltag"));
    out = take();
    const received* ringing = find_request(out, core, sip::method::notify);
    ASSERT_NE(ringing, nullptr);
    EXPECT_EQ(ringing->msg.body, "SIP/2.0 180 Ringing\r\n");

    feed(core, carol, bob_response(carol_invite->msg, 200, "OK", carol_sdp, "caroltag",
                                   "<sip:carol@198.51.100.30:5060>"));
    out = take();
    // The switch: alice's side now sends to carol's new side, bob's are gone.
    const dp::media_side* carol_side = a_rtp->peer();
    ASSERT_NE(carol_side, nullptr);
    EXPECT_NE(carol_side, bob_side);
    EXPECT_EQ(carol_side->peer(), a_rtp);
    EXPECT_EQ(dp::endpoint_addr(carol_side->remote()), carol.addr);
    EXPECT_EQ(table_->find(core_addr, cs.b_port), nullptr) << "bob's relay side retired";
    EXPECT_EQ(relay_entries(), 4u);
    bool acked_carol = false, byed_bob = false;
    const received* final_notify = nullptr;
    const received* reinvite = nullptr;
    for (const auto& r : out) {
        if (!r->msg.is_request) {
            continue;
        }
        acked_carol |= r->msg.req_method == sip::method::ack && r->to == carol;
        byed_bob |= r->msg.req_method == sip::method::bye && r->to == bob;
        if (r->msg.req_method == sip::method::notify) {
            final_notify = r.get();
        }
        if (r->msg.req_method == sip::method::invite && r->to == alice) {
            reinvite = r.get();
        }
    }
    EXPECT_TRUE(acked_carol);
    EXPECT_TRUE(byed_bob);

    ASSERT_NE(final_notify, nullptr);
    EXPECT_EQ(final_notify->msg.body, "SIP/2.0 200 OK\r\n");
    EXPECT_NE(final_notify->text.find("Subscription-State: terminated;reason=noresource"), std::string::npos);
    ASSERT_NE(reinvite, nullptr) << "alice is re-INVITEd so her SDP describes carol";
    EXPECT_EQ(reinvite->msg.call_id, invite_opts{}.call_id);
    EXPECT_EQ(sdp_of(reinvite->msg.body).conn, "192.0.2.1");
    EXPECT_EQ(sdp_of(reinvite->msg.body).port, cs.a_port) << "alice keeps sending where she did";
    EXPECT_NE(reinvite->msg.body.find("a=sendrecv"), std::string::npos);
    // The segment record of alice-bob was written with hangup "transfer".
    const auto seg1 = json(cdrs_->recent().back());
    EXPECT_EQ(seg1.get<std::string>("hangup"), "transfer");
    EXPECT_EQ(seg1.get<unsigned>("segment"), 1u);
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);

    // alice hangs up: carol gets the BYE, the second segment is linked to the first.
    const std::string b_call_id = seg1.get<std::string>("b_call_id");
    from_alice(alice_request("BYE", cs.a_tag, 3, "z9hG4bKalicebye"));
    out = take();
    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, carol);
    EXPECT_EQ(bye->msg.to.tag, "caroltag");
    const auto seg2 = json(cdrs_->recent().back());
    EXPECT_EQ(seg2.get<unsigned>("segment"), 2u);
    EXPECT_EQ(seg2.get<std::string>("parent"), b_call_id);
    EXPECT_NE(seg2.get<std::string>("transferred_by").find("bob"), std::string::npos);
    EXPECT_EQ(seg2.get<std::string>("callee"), "198.51.100.30:5060");
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(b2bua_test, transfer_to_a_busy_target_keeps_the_call_with_bob) {
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    const dp::media_side* a_rtp = table_->find(acc_addr, cs.a_port);
    const dp::media_side* bob_side = a_rtp->peer();
    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    auto carol_invite = invite_sent_to(take(), carol);
    ASSERT_NE(carol_invite, nullptr);
    feed(core, carol, bob_response(carol_invite->msg, 486, "Busy Here", {}, "caroltag"));
    auto out = take();
    const received* notify = find_request(out, core, sip::method::notify);
    ASSERT_NE(notify, nullptr);
    EXPECT_EQ(notify->msg.body, "SIP/2.0 486 Busy Here\r\n");
    EXPECT_EQ(count_request(out, core, sip::method::bye), 0u);
    EXPECT_EQ(count_request(out, acc, sip::method::invite), 0u);
    EXPECT_EQ(a_rtp->peer(), bob_side) << "the media never left bob";
    EXPECT_EQ(relay_entries(), 4u) << "carol's sides are gone again";
    EXPECT_EQ(b2b_->stats().transfers_failed, 1u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(b2bua_test, a_transfer_whose_first_destination_is_busy_goes_on_to_the_next) {
    const sip_addr carol2{ip(198, 51, 100, 31), 5060};
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", "sys.Dial(\"carol@198.51.100.30|desk@198.51.100.31\")"), "");
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    const dp::media_side* a_rtp = table_->find(acc_addr, cs.a_port);
    const dp::media_side* bob_side = a_rtp->peer();
    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    auto out = take();
    ASSERT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    auto first = invite_sent_to(out, carol);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(invite_sent_to(out, carol2), nullptr) << "one destination at a time";

    feed(core, carol, bob_response(first->msg, 486, "Busy Here", {}, "caroltag"));
    out = take();
    EXPECT_EQ(count_request(out, core, sip::method::notify), 0u) << "the transferor hears only the outcome";
    auto second = invite_sent_to(out, carol2);
    ASSERT_NE(second, nullptr) << "the next destination is dialled at once";
    EXPECT_NE(second->msg.call_id, first->msg.call_id) << "a new dialog";
    EXPECT_EQ(a_rtp->peer(), bob_side);
    EXPECT_EQ(relay_entries(), 6u) << "carol's sides are gone, the next party's are up";

    feed(core, carol2, bob_response(second->msg, 200, "OK", carol_sdp, "desktag", "<sip:desk@198.51.100.31:5060>"));
    out = take();
    const received* notify = find_request(out, core, sip::method::notify);
    ASSERT_NE(notify, nullptr);
    EXPECT_EQ(notify->msg.body, "SIP/2.0 200 OK\r\n");
    EXPECT_NE(find_request(out, acc, sip::method::invite), nullptr) << "alice re-INVITEd";
    EXPECT_NE(a_rtp->peer(), bob_side);
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);
    EXPECT_EQ(b2b_->stats().transfers_failed, 0u);
    EXPECT_EQ(b2b_->stats().transfer_fallbacks, 1u);
}

TEST_F(b2bua_test, a_transfer_declined_everywhere_does_not_go_on) {
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", "sys.Dial(\"carol@198.51.100.30|desk@198.51.100.31\")"), "");
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    auto first = invite_sent_to(take(), carol);
    ASSERT_NE(first, nullptr);
    feed(core, carol, bob_response(first->msg, 603, "Decline", {}, "caroltag"));
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u) << "a 6xx ends the search (RFC 3261 16.7)";
    const received* notify = find_request(out, core, sip::method::notify);
    ASSERT_NE(notify, nullptr);
    EXPECT_EQ(notify->msg.body, "SIP/2.0 603 Decline\r\n");
    EXPECT_EQ(relay_entries(), 4u);
}

TEST_F(b2bua_test, refer_to_a_premium_number_is_refused_before_any_202) {
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "0900123456"));
    auto out = take();
    EXPECT_NE(find_response(out, core, 403, sip::method::refer), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::notify), 0u);
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->stats().transfers_refused, 1u);
}

TEST_F(b2bua_test, call_manager_api_transfers_the_caller_to_carol) {
    invite_opts o;
    o.user = "bob";  // transfer mode n: the API transfer does not depend on the leg's mode
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(b2b_->api_transfer("no-such-call", "a", "carol").first, 404);
    EXPECT_EQ(b2b_->api_transfer(invite_opts{}.call_id, "a", "0900666").first, 403) << "same policy as REFER";
    EXPECT_EQ(b2b_->api_transfer(invite_opts{}.call_id, "a", "carol\r\nX: y").first, 400);
    take();
    const auto [status, body] = b2b_->api_transfer(invite_opts{}.call_id, "a", "carol");
    EXPECT_EQ(status, 202) << body;
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::notify), 0u) << "no subscription without a REFER";
    const received* to_carol = nullptr;
    for (const auto& r : out) {
        if (r->msg.is_request && r->msg.req_method == sip::method::invite && r->to == carol) {
            to_carol = r.get();
        }
    }
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(b2b_->api_transfer(invite_opts{}.call_id, "a", "carol").first, 409) << "one transfer at a time";
    auto carol_invite = parse_copy(to_carol->realm, to_carol->to, to_carol->text);
    feed(core, carol, bob_response(carol_invite->msg, 200, "OK", carol_sdp, "caroltag",
                                   "<sip:carol@198.51.100.30:5060>"));
    out = take();
    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, bob) << "bob is the leg that goes";
    EXPECT_NE(find_request(out, acc, sip::method::invite), nullptr) << "alice is re-INVITEd";
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);
}

TEST_F(b2bua_test, pass_through_refer_reaches_alice_translated_and_notifies_come_back) {
    invite_opts o;
    o.user = "bob-trp";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    auto out = take();
    const received* refer = find_request(out, acc, sip::method::refer);
    ASSERT_NE(refer, nullptr) << "the REFER is passed to alice";
    EXPECT_EQ(refer->to, alice);
    EXPECT_EQ(refer->msg.call_id, invite_opts{}.call_id) << "in alice's own dialog";
    EXPECT_EQ(refer->msg.from.tag, cs.a_tag);
    EXPECT_EQ(refer->msg.to.tag, "alicetag");
    EXPECT_EQ(header(refer->msg, sip::hdr::refer_to), "<sip:carol@192.0.2.1>");
    EXPECT_EQ(header(refer->msg, sip::hdr::referred_by), "<sip:bob@192.0.2.1>");
    EXPECT_EQ(refer->text.find("198.51.100."), std::string::npos) << "nothing of bob's realm leaks";
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u) << "the appliance does not transfer itself";
    const std::string refer_text = refer->text;
    auto refer_copy = parse_copy(acc, alice, refer_text);

    from_alice(bob_response(refer_copy->msg, 202, "Accepted"));
    out = take();
    EXPECT_NE(find_response(out, core, 202, sip::method::refer), nullptr);

    std::string notify = alice_request("NOTIFY", cs.a_tag, 2, "z9hG4bKalicenotify");
    notify.insert(notify.find("Content-Length"), "Event: refer\r\nSubscription-State: terminated;reason=noresource\r\n");
    from_alice(with_body(notify, "SIP/2.0 200 OK\r\n", "message/sipfrag;version=2.0"));
    out = take();
    const received* relayed = find_request(out, core, sip::method::notify);
    ASSERT_NE(relayed, nullptr);
    EXPECT_EQ(relayed->msg.body, "SIP/2.0 200 OK\r\n");
    EXPECT_NE(relayed->text.find("Event: refer\r\n"), std::string::npos);
    EXPECT_NE(relayed->text.find("Subscription-State: terminated;reason=noresource"), std::string::npos);
    EXPECT_EQ(b2b_->stats().refer_passed, 1u);
}

TEST_F(b2bua_test, pass_through_notify_names_the_refer_by_its_cseq_in_each_dialog) {
    // RFC 3515 2.4.6: Event: refer;id= is the REFER's CSeq in the NOTIFY's own dialog.
    invite_opts o;
    o.user = "bob-trp";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    std::string r = bob_refer(cs.b_invite->msg, "carol");
    r.replace(r.find("CSeq: 1 REFER"), 13, "CSeq: 5 REFER");
    from_bob(r);
    auto out = take();
    const received* refer = find_request(out, acc, sip::method::refer);
    ASSERT_NE(refer, nullptr);
    const uint32_t alice_side_cseq = refer->msg.cseq;
    ASSERT_NE(alice_side_cseq, 5u) << "the test needs different CSeqs on the two legs";
    std::string notify = alice_request("NOTIFY", cs.a_tag, 2, "z9hG4bKalicenotify");
    notify.insert(notify.find("Content-Length"), "Event: refer;id=" + std::to_string(alice_side_cseq) +
                                                     "\r\nSubscription-State: active;expires=60\r\n");
    from_alice(with_body(notify, "SIP/2.0 100 Trying\r\n", "message/sipfrag;version=2.0"));
    out = take();
    const received* relayed = find_request(out, core, sip::method::notify);
    ASSERT_NE(relayed, nullptr);
    EXPECT_NE(relayed->text.find("\r\nEvent: refer;id=5\r\n"), std::string::npos) << relayed->text;
    EXPECT_NE(relayed->msg.find(sip::hdr::contact), nullptr) << "RFC 6665: a NOTIFY carries a Contact";
}

// Attended transfers are joined on the appliance in transfer mode c and also in p (pass-through
// is for blind REFERs only: a Replaces names this appliance's dialogs, useless to the other peer).
class attended_transfer : public b2bua_test, public ::testing::WithParamInterface<const char*> {
protected:
    /// Call 1 (alice -> the test's `bob-tr?`, confirmed) and call 2 (bob -> carol).
    void both_calls(call_state& cs, std::string& our_tag2) {
        invite_opts o;
        o.user = GetParam();
        cs = confirmed_call(o);
        ASSERT_NE(cs.b_invite, nullptr);
        uint16_t carol_relay_port = 0;
        our_tag2 = bob_calls_carol(&carol_relay_port);
        ASSERT_FALSE(our_tag2.empty());
    }

};
INSTANTIATE_TEST_SUITE_P(modes_c_and_p, attended_transfer, ::testing::Values("bob-trc", "bob-trp"));

TEST_P(attended_transfer, joins_alice_and_carol_and_drops_bob_from_both_calls) {
    invite_opts o;
    o.user = GetParam();
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    const dp::media_side* alice_side = table_->find(acc_addr, cs.a_port);
    ASSERT_NE(alice_side, nullptr);

    uint16_t carol_relay_port = 0;
    const std::string our_tag2 = bob_calls_carol(&carol_relay_port);
    ASSERT_FALSE(our_tag2.empty());
    ASSERT_EQ(b2b_->active_calls(), 2u);
    const dp::media_side* carol_side = table_->find(core_addr, carol_relay_port);
    ASSERT_NE(carol_side, nullptr);

    // bob REFERs alice to carol, replacing his own dialog with carol (as he sees it).
    from_bob(attended_refer(cs, our_tag2));
    auto out = take();
    EXPECT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    const received* notify = find_request(out, core, sip::method::notify);
    ASSERT_NE(notify, nullptr);
    EXPECT_EQ(notify->msg.body, "SIP/2.0 200 OK\r\n");
    unsigned byes_to_bob = 0;
    bool reinvite_alice = false, reinvite_carol = false, new_invite_to_carol = false;
    for (const auto& r : out) {
        if (!r->msg.is_request) {
            continue;
        }
        byes_to_bob += r->msg.req_method == sip::method::bye && r->to == bob;
        if (r->msg.req_method == sip::method::invite) {
            reinvite_alice |= r->to == alice && !r->msg.to.tag.empty();
            reinvite_carol |= r->to == carol && r->msg.to.tag == "caroltag";
            new_invite_to_carol |= r->to == carol && r->msg.to.tag.empty();
        }
    }
    EXPECT_EQ(byes_to_bob, 2u) << "bob leaves both calls";
    EXPECT_TRUE(reinvite_alice);
    EXPECT_TRUE(reinvite_carol);
    EXPECT_FALSE(new_invite_to_carol) << "attended: carol's existing dialog is reused, no new call";
    // One atomic store each way joined them.
    EXPECT_EQ(alice_side->peer(), carol_side);
    EXPECT_EQ(carol_side->peer(), alice_side);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(relay_entries(), 4u) << "bob's relay sides in both calls are gone";
    EXPECT_EQ(cdrs_->recent().size(), 2u) << "both calls' segments with bob ended";

    // alice hangs up: carol, in her original dialog, gets the BYE.
    from_alice(alice_request("BYE", cs.a_tag, 3, "z9hG4bKalicebye2"));
    out = take();
    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, carol);
    EXPECT_EQ(bye->msg.to.tag, "caroltag");
    const auto seg = json(cdrs_->recent().back());
    EXPECT_EQ(seg.get<unsigned>("segment"), 2u);
    EXPECT_EQ(relay_entries(), 0u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

// A capture following call 2 follows the call it was joined into (capture_api::call_joined).
TEST_P(attended_transfer, tells_whoever_watches_which_call_the_other_was_joined_into) {
    call_state cs;
    std::string our_tag2;
    ASSERT_NO_FATAL_FAILURE(both_calls(cs, our_tag2));
    const uint64_t id1 = b2b_->capture_filter(invite_opts{}.call_id).call_id;
    const uint64_t id2 = b2b_->capture_filter("bob-call-2@198.51.100.20").call_id;
    ASSERT_NE(id1, 0u);
    ASSERT_NE(id2, 0u);
    ASSERT_NE(id1, id2);
    std::vector<std::pair<uint64_t, uint64_t>> joins;
    b2b_->set_join_observer([&](uint64_t gone, uint64_t into) { joins.emplace_back(gone, into); });
    from_bob(attended_refer(cs, our_tag2));
    take();
    ASSERT_EQ(joins.size(), 1u);
    EXPECT_EQ(joins[0], std::make_pair(id2, id1));
    EXPECT_EQ(b2b_->capture_filter(id2).status, 404);
    const call_filter joined = b2b_->capture_filter(id1);
    ASSERT_EQ(joined.status, 200);
    EXPECT_NE(joined.text().find("(host 198.51.100.30 and port 5060)"), std::string::npos) << joined.text();
}

// The joined call is one call: the account of the call that merged into it counts it no more
// (it leaked one of that account's max_calls per attended transfer before).
TEST_P(attended_transfer, the_joined_call_counts_once_for_its_accounts) {
    b2bua_config cfg = base_config();
    for (auto [name, network] : {std::pair{"access", "192.0.2.0/24"}, std::pair{"core", "198.51.100.0/24"}}) {
        cfg.accounts.push_back(trusted_account(name, network));
        cfg.accounts.back().transfer_dialplan = "transfer";
    }
    rebuild(cfg);
    call_state cs;
    std::string our_tag2;
    ASSERT_NO_FATAL_FAILURE(both_calls(cs, our_tag2));
    EXPECT_EQ(b2b_->account_calls("access"), 1u);
    EXPECT_EQ(b2b_->account_calls("core"), 1u);

    from_bob(attended_refer(cs, our_tag2));
    take();
    ASSERT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(b2b_->account_calls("access"), 1u) << "alice's call goes on, now with carol";
    EXPECT_EQ(b2b_->account_calls("core"), 0u) << "bob's call to carol merged into it";

    from_alice(alice_request("BYE", cs.a_tag, 3, "z9hG4bKalicebye2"));
    take();
    EXPECT_EQ(b2b_->account_calls("access"), 0u);
    EXPECT_EQ(b2b_->account_calls("core"), 0u);
}

TEST_P(attended_transfer, is_held_to_the_transfer_rate_policy_and_not_retried_blind) {
    b2bua_config cfg = base_config();
    cfg.transfer.max_per_call = 0;  // no transfer at all in a call: the depth check refuses
    rebuild(cfg);
    call_state cs;
    std::string our_tag2;
    ASSERT_NO_FATAL_FAILURE(both_calls(cs, our_tag2));
    ASSERT_EQ(b2b_->active_calls(), 2u);

    from_bob(attended_refer(cs, our_tag2));
    auto out = take();
    const received* refused = find_response(out, core, 403, sip::method::refer);
    ASSERT_NE(refused, nullptr);
    EXPECT_NE(refused->text.find("transfer policy: too_many_in_call"), std::string::npos) << refused->text;
    EXPECT_EQ(find_response(out, core, 202, sip::method::refer), nullptr);
    for (const auto& r : out) {
        EXPECT_FALSE(r->msg.is_request) << "nothing is sent on a refused transfer (no blind attempt, no BYE):\n"
                                        << r->text;
    }
    EXPECT_EQ(b2b_->active_calls(), 2u);
    EXPECT_EQ(b2b_->stats().transfers_refused, 1u);
    EXPECT_EQ(b2b_->transfers().refusals().at("too_many_in_call"), 1u);
}

// A Replaces naming no dialog of ours: the transferor consulted the target through another
// system. The transfer goes on blind, and the target's INVITE carries the Replaces (RFC 5589
// 7.1) so that the UA holding that dialog takes alice in its place; one that says 481 is
// called again without it.
TEST_F(b2bua_test, replaces_for_a_dialog_elsewhere_is_passed_on_and_dropped_after_481) {
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    std::string refer = bob_request("REFER", cs.b_invite->msg, 1, "z9hG4bKbobattended");
    refer.insert(refer.find("Content-Length"),
                 "Refer-To: <sip:carol@198.51.100.1?Replaces=pbx-7%40198.51.100.30%3Bto-tag%3Da%3Bfrom-tag%3Db"
                 "&X-Other=1>\r\n");
    from_bob(refer);
    auto out = take();
    EXPECT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    auto first = invite_sent_to(out, carol);
    ASSERT_NE(first, nullptr) << "blind transfer to carol";
    EXPECT_EQ(header(first->msg, sip::hdr::replaces), "pbx-7@198.51.100.30;to-tag=a;from-tag=b");
    EXPECT_EQ(first->text.find("X-Other"), std::string::npos) << "other URI headers are not passed on";
    EXPECT_EQ(first->msg.find(sip::hdr::require), nullptr) << "a UA without Replaces rings as for a blind transfer";
    EXPECT_EQ(b2b_->stats().replaces_passed_on, 1u);

    // carol's UA holds no such dialog: 481, ACKed, and the INVITE again without the Replaces.
    feed(core, carol, bob_response(first->msg, 481, "Call/Transaction Does Not Exist", {}, "caroltag"));
    out = take();
    auto second = invite_sent_to(out, carol);
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(second->msg.find(sip::hdr::replaces), nullptr);
    EXPECT_EQ(second->msg.call_id, first->msg.call_id);
    EXPECT_EQ(second->msg.cseq, first->msg.cseq + 1);
    EXPECT_EQ(count_request(out, core, sip::method::notify), 0u) << "the transferor hears only the outcome";
    EXPECT_EQ(b2b_->stats().replaces_passed_refused, 1u);
    feed(core, carol, bob_response(second->msg, 200, "OK", carol_sdp, "caroltag2", "<sip:carol@198.51.100.30:5060>"));
    take();
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);
    EXPECT_EQ(b2b_->stats().replaces_passed_on, 1u);
}

TEST_F(b2bua_test, a_replaces_that_could_carry_more_than_a_dialog_is_not_passed_on) {
    const std::string long_tag(129, 't');
    const std::string cases[] = {
        "x%0D%0AX-Injected%3A%201%3Bto-tag%3Da%3Bfrom-tag%3Db",  // CR LF in the Call-ID
        "x%20y%3Bto-tag%3Da%3Bfrom-tag%3Db",                    // a space in the Call-ID
        "x%3Bto-tag%3D" + long_tag + "%3Bfrom-tag%3Db",          // a tag longer than any peer's
        "x%3Bto-tag%3Da",                                        // no from-tag
    };
    for (size_t i = 0; i < std::size(cases); ++i) {
        const std::string& replaces = cases[i];
        invite_opts o;
        o.user = "bob-trc";
        o.call_id = "junk-" + std::to_string(i) + "@192.0.2.10";
        o.branch = "z9hG4bKjunk" + std::to_string(i);
        call_state cs = confirmed_call(o);
        ASSERT_NE(cs.b_invite, nullptr);
        std::string refer = bob_request("REFER", cs.b_invite->msg, 1, "z9hG4bKbobattended");
        refer.insert(refer.find("Content-Length"),
                     "Refer-To: <sip:carol@198.51.100.1?Replaces=" + replaces + ">\r\n");
        from_bob(refer);
        const auto inv = invite_sent_to(take(), carol);
        ASSERT_NE(inv, nullptr) << replaces;
        EXPECT_EQ(inv->text.find("Replaces"), std::string::npos) << replaces;
        EXPECT_EQ(inv->text.find("Injected"), std::string::npos) << replaces;
        feed(core, carol, bob_response(inv->msg, 486, "Busy Here", {}, "caroltag"));
        take();
    }
    EXPECT_EQ(b2b_->stats().replaces_passed_on, 0u);
}

TEST_F(b2bua_test, refer_sub_false_is_honoured_and_echoed) {
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    std::string refer = bob_refer(cs.b_invite->msg, "carol");
    refer.insert(refer.find("Content-Length"), "Refer-Sub: false\r\n");
    from_bob(refer);
    auto out = take();
    const received* accepted = find_response(out, core, 202, sip::method::refer);
    ASSERT_NE(accepted, nullptr);
    EXPECT_NE(accepted->text.find("Refer-Sub: false\r\n"), std::string::npos);
    EXPECT_NE(accepted->text.find("norefersub"), std::string::npos);
    EXPECT_EQ(count_request(out, core, sip::method::notify), 0u) << "no subscription, no NOTIFY";
}

// ================================================================== retransmissions

TEST_F(b2bua_test, retransmitted_invite_makes_no_second_call) {
    from_alice(alice_invite());
    advance(300);
    from_alice(alice_invite());
    from_alice(alice_invite());
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::invite), 1u);
    EXPECT_EQ(count_response(out, acc, 100), 3u) << "each retransmission gets the last response again";
    EXPECT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(relay_entries(), 4u);
    EXPECT_EQ(b2b_->stats().calls_total, 1u);
}

TEST_F(b2bua_test, retransmitted_invite_after_the_2xx_gets_the_2xx) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    auto out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    const std::string ok_text = ok->text;
    from_alice(alice_invite());
    out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->text, ok_text);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(b2bua_test, a_2xx_is_retransmitted_until_the_ack) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    const ms_t t0 = now_;
    auto out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    const std::string ok_text = ok->text;
    const std::string a_tag(ok->msg.to.tag);
    // T1, then doubling to T2: t0+500, +1500, +3500, +7500, +11500.
    std::vector<ms_t> at;
    while (now_ < t0 + 12000) {
        advance(1);
        for (auto& r : take()) {
            EXPECT_EQ(r->text, ok_text);
            EXPECT_EQ(r->realm, acc);
            at.push_back(now_ - t0);
        }
    }
    EXPECT_EQ(at, (std::vector<ms_t>{500, 1500, 3500, 7500, 11500}));
    from_alice(alice_request("ACK", a_tag, 1, "z9hG4bKlateack"));
    advance(40000);  // (not past the 60-s media timeout: no RTP flows here)
    EXPECT_TRUE(take().empty());
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(b2bua_test, a_2xx_retransmissions_go_where_the_first_2xx_went) {
    // alice behind a NAT: her Via asks for rport and her packets come from port 5062,
    // while her Contact says 5060. The 2xx goes to the source; so must its retransmissions
    // (RFC 3261 13.3.1.4: "passed to the transport layer"; 18.2.2 and RFC 3581 choose the address).
    invite_opts o;
    o.contact_port = 5060;
    const sip_addr nat{alice.addr, 5062};
    feed(acc, nat, alice_invite(o));
    auto out = take();
    const received* inv = find_request(out, core, sip::method::invite);
    ASSERT_NE(inv, nullptr);
    auto b_invite = parse_copy(inv->realm, inv->to, inv->text);
    from_bob(bob_response(b_invite->msg, 200, "OK", bob_sdp));
    out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(ok->to, nat);
    advance(500);
    out = take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->to, nat) << "retransmitted to " << to_string(out[0]->to);
}

TEST_F(b2bua_test, no_ack_ends_the_call_with_bye_on_both_legs) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    const ms_t t0 = now_;
    auto out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    const std::string a_tag(ok->msg.to.tag);
    advance_to(t0 + 64 * 500 - 1);
    out = take();
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 0u);
    EXPECT_EQ(count_response(out, acc, 200), 10u) << "500, 1500, 3500, 7500, then every T2 to 31500";
    EXPECT_EQ(b2b_->active_calls(), 1u);
    // The 2xx timer notices the deadline on its next run (at most T2 later).
    advance_to(t0 + 64 * 500 + 4000);
    out = take();
    const received* bye_a = find_request(out, acc, sip::method::bye);
    const received* bye_b = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye_a, nullptr);
    ASSERT_NE(bye_b, nullptr);
    EXPECT_EQ(bye_a->msg.call_id, invite_opts{}.call_id);
    EXPECT_EQ(bye_a->msg.from.tag, a_tag);
    EXPECT_EQ(bye_a->msg.to.tag, "alicetag");
    EXPECT_EQ(bye_b->msg.call_id, cs.b_invite->msg.call_id);
    EXPECT_EQ(bye_b->msg.to.tag, "bobtag");
    EXPECT_EQ(bye_b->to, bob);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<std::string>("hangup"), "appliance");
    EXPECT_EQ(rec.get<unsigned>("result"), 200u);
}

// ================================================================== early dialog

TEST_F(b2bua_test, bye_from_alice_in_the_early_dialog_ends_her_invite) {
    // RFC 3261 15.1.2: a BYE for an early dialog still gets the pending INVITE answered (487).
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    auto out = take();
    const received* ringing = find_response(out, acc, 180);
    ASSERT_NE(ringing, nullptr);
    from_alice(alice_request("BYE", std::string(ringing->msg.to.tag), 2, "z9hG4bKearlybye"));
    out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::bye), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    EXPECT_NE(find_response(out, acc, 487), nullptr) << "alice's INVITE is left without a final response";
}

// ================================================================== bookkeeping

TEST_F(b2bua_test, calls_json_lists_the_active_call) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    const std::string j = b2b_->calls_json();
    EXPECT_NE(j.find("\"state\":\"routing\""), std::string::npos) << j;
    EXPECT_NE(j.find(std::string(cs.b_invite->msg.call_id)), std::string::npos);
    EXPECT_NE(j.find("\"realm\":\"acc\""), std::string::npos);
    EXPECT_NE(j.find("\"realm\":\"core\""), std::string::npos);
    std::istringstream in("{\"calls\":" + j + "}");
    boost::property_tree::ptree t;
    EXPECT_NO_THROW(boost::property_tree::read_json(in, t)) << j;
}

TEST_F(b2bua_test, capture_filter_names_the_calls_sip_peers_and_relay_ports) {
    EXPECT_EQ(b2b_->capture_filter("no-such-call").status, 404);
    EXPECT_EQ(b2b_->capture_filter("no-such-call").error, R"({"error":"no such call"})");
    invite_opts o;
    o.user = "bob";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    const call_filter f = b2b_->capture_filter(invite_opts{}.call_id);
    ASSERT_EQ(f.status, 200) << f.error;
    // Both SIP peers and the relay ports with their RTCP ports (the offer had no rtcp-mux), each
    // number once: the two sides often have the same one (on two addresses), as here.
    auto range = [](uint16_t p) { return "portrange " + std::to_string(p) + "-" + std::to_string(p + 1); };
    const std::string ports = cs.a_port == cs.b_port ? range(cs.a_port) : range(cs.a_port) + " or " + range(cs.b_port);
    const std::string want =
        "udp and ((host 192.0.2.10 and port 5060) or (host 198.51.100.20 and port 5060) or " + ports + ")";
    EXPECT_EQ(f.text(), want);
    EXPECT_NE(f.call_id, 0u);
    // bob's Call-ID and the numeric id name the same call.
    EXPECT_EQ(b2b_->capture_filter(std::string(cs.b_invite->msg.call_id)).text(), want);
    EXPECT_EQ(b2b_->capture_filter(std::to_string(f.call_id)).text(), want);
    EXPECT_EQ(b2b_->capture_filter(f.call_id).text(), want);
    EXPECT_EQ(b2b_->capture_filter(f.call_id).call_id, f.call_id);
    EXPECT_EQ(b2b_->capture_filter(f.call_id + 1).status, 404);
}

TEST_F(b2bua_test, two_calls_get_different_relay_ports) {
    call_state one = start_call();
    invite_opts o;
    o.call_id = "alice-call-2@192.0.2.10";
    o.branch = "z9hG4bKalice2";
    call_state two = start_call(o);
    ASSERT_NE(one.b_invite, nullptr);
    ASSERT_NE(two.b_invite, nullptr);
    EXPECT_NE(one.b_port, two.b_port);
    EXPECT_NE(one.b_invite->msg.call_id, two.b_invite->msg.call_id);
    EXPECT_EQ(b2b_->active_calls(), 2u);
    EXPECT_EQ(relay_entries(), 8u);
}

// ================================================================== transfer races

namespace {

/// The INVITE the appliance sent carol among `out` (the new leg of a transfer).
std::unique_ptr<received> invite_to_carol(std::vector<std::unique_ptr<received>> out) {
    for (auto& r : out) {
        if (r->msg.is_request && r->msg.req_method == sip::method::invite && r->to == carol) {
            return std::move(r);
        }
    }
    return nullptr;
}

}  // namespace

/// A confirmed alice -> bob-trc call whose bob REFERs alice to carol, and carol rings.
class ringing_transfer_test : public b2bua_test {
protected:
    void ring_carol() {
        invite_opts o;
        o.user = "bob-trc";
        cs = confirmed_call(o);
        ASSERT_NE(cs.b_invite, nullptr);
        entries_before = relay_entries();
        from_bob(bob_refer(cs.b_invite->msg, "carol"));
        to_carol = invite_to_carol(take());
        ASSERT_NE(to_carol, nullptr);
        feed(core, carol, bob_response(to_carol->msg, 180, "Ringing", {}, "caroltag"));
        take();
    }

    call_state cs;
    std::unique_ptr<received> to_carol;  ///< the INVITE carol got
    unsigned entries_before = 0;         ///< relay entries before the REFER
};

TEST_F(ringing_transfer_test, transferee_hangs_up_while_the_target_rings) {
    ASSERT_NO_FATAL_FAILURE(ring_carol());
    const invite_opts o;

    from_alice(alice_request("BYE", cs.a_tag, 2, "z9hG4bKalicebye", o.call_id));
    auto out = take();
    // bob hears how his transfer ended while his dialog still exists, then gets the BYE.
    size_t notify_at = out.size(), bye_at = out.size();
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i]->to == bob && out[i]->msg.is_request && out[i]->msg.req_method == sip::method::notify) {
            notify_at = std::min(notify_at, i);
            EXPECT_EQ(out[i]->msg.body, "SIP/2.0 487 Request Terminated\r\n");
            EXPECT_NE(out[i]->text.find("Subscription-State: terminated"), std::string::npos);
        }
        if (out[i]->to == bob && out[i]->msg.is_request && out[i]->msg.req_method == sip::method::bye) {
            bye_at = std::min(bye_at, i);
        }
    }
    ASSERT_LT(notify_at, out.size()) << "no final NOTIFY to bob";
    ASSERT_LT(bye_at, out.size()) << "no BYE to bob";
    EXPECT_LT(notify_at, bye_at);
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->to, carol);
    EXPECT_EQ(cancel->msg.call_id, to_carol->msg.call_id);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    // carol's 487 is ACKed by the transaction that outlived the call.
    feed(core, carol, bob_response(to_carol->msg, 487, "Request Terminated", {}, "caroltag"));
    out = take();
    EXPECT_EQ(count_request(out, core, sip::method::ack), 1u);
    EXPECT_EQ(relay_entries(), 0u);
}

// A capture of the call follows it (control/capture_api.hh): while carol rings her peer and the
// relay port offered to her are in the call's filter, and after she answered she is leg B.
TEST_F(ringing_transfer_test, capture_filter_takes_the_transfer_target_and_its_relay_port_while_it_rings) {
    ASSERT_NO_FATAL_FAILURE(ring_carol());
    const invite_opts o;
    auto has = [](const call_filter& f, const std::string& t) {
        return std::any_of(f.terms.begin(), f.terms.end(), [&](const capture_term& k) { return k.text() == t; });
    };
    const std::string carol_peer = "(host 198.51.100.30 and port 5060)";
    const uint16_t carol_port = sdp_of(to_carol->msg.body).port;
    ASSERT_NE(carol_port, 0);
    const std::string carol_media = "portrange " + std::to_string(carol_port) + "-" + std::to_string(carol_port + 1);
    call_filter f = b2b_->capture_filter(o.call_id);
    ASSERT_EQ(f.status, 200) << f.error;
    EXPECT_TRUE(has(f, "(host 192.0.2.10 and port 5060)")) << f.text();
    EXPECT_TRUE(has(f, "(host 198.51.100.20 and port 5060)")) << f.text();
    EXPECT_TRUE(has(f, carol_peer)) << f.text();
    EXPECT_TRUE(has(f, carol_media)) << f.text();
    const uint64_t id = f.call_id;

    feed(core, carol, bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    take();
    f = b2b_->capture_filter(o.call_id);
    ASSERT_EQ(f.status, 200) << f.error;
    EXPECT_EQ(f.call_id, id) << "the transfer keeps the call";
    ASSERT_GE(f.terms.size(), 2u);
    EXPECT_EQ(f.terms[1].text(), carol_peer) << "carol is leg B now: " << f.text();
    EXPECT_TRUE(has(f, carol_media)) << f.text();
}

// A transfer target that rings past [sip] max_ring is CANCELled; its 487 fails the transfer and
// the call stays with bob, with no relay side of carol's left.
TEST_F(ringing_transfer_test, a_transfer_target_ringing_too_long_is_cancelled_and_the_call_stays) {
    b2bua_config cfg = base_config();
    cfg.media_timeout_s = 0;  // no RTP flows in this test; the call must outlive the ringing
    rebuild(cfg);
    ASSERT_NO_FATAL_FAILURE(ring_carol());
    advance(179'999);
    EXPECT_EQ(count_request(take(), core, sip::method::cancel), 0u);
    advance(1);
    auto out = take();
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->to, carol);
    EXPECT_EQ(cancel->msg.call_id, to_carol->msg.call_id);
    feed(core, carol, bob_response(to_carol->msg, 487, "Request Terminated", {}, "caroltag"));
    take();  // (no NOTIFY: bob answered none of the earlier ones, so his subscription is over)
    EXPECT_EQ(b2b_->stats().transfers_failed, 1u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(relay_entries(), entries_before);
}

// A Contact URI with ?headers becomes the remote target without them: a Request-URI may not carry
// headers (RFC 3261 19.1.1), and the ACK and every later request would not parse.
TEST_F(b2bua_test, uri_headers_in_a_contact_stay_out_of_the_request_uri) {
    const call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp, "bobtag", "<sip:bob@198.51.100.20:5060?Subject=hi>"));
    auto out = take();
    const received* ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->msg.request_uri, "sip:bob@198.51.100.20:5060");
    EXPECT_EQ(unparsable_sent_, 0u);
}

// ------------------------------------------------------------------ media timeout

// Both phones vanish without a BYE (no session timer either): 60 s ([media] timeout) after the
// last relayed packet, or up to a quarter more, both legs get a BYE and the relay ports go back.
TEST_F(b2bua_test, a_call_without_rtp_is_hung_up_after_the_media_timeout) {
    const call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    const ms_t answered = now_;
    std::vector<std::unique_ptr<received>> out;
    while (now_ < answered + 76'000 && count_request(out, acc, sip::method::bye) == 0) {
        advance(1);
        for (auto& r : take()) {
            out.push_back(std::move(r));
        }
    }
    EXPECT_GE(now_ - answered, 60'000u);
    EXPECT_LE(now_ - answered, 75'000u);
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->stats().media_timeouts, 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
    ASSERT_FALSE(cdrs_->recent().empty());
    EXPECT_NE(cdrs_->recent().back().find("\"media_timeout\""), std::string::npos) << cdrs_->recent().back();
}

// RTP relayed in either direction keeps the call; the clock starts again from its last packet.
TEST_F(b2bua_test, relayed_rtp_keeps_a_call_past_the_media_timeout) {
    const call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    dp::media_side* a_side = table_->find(acc_addr, cs.a_port);
    ASSERT_NE(a_side, nullptr);
    for (int i = 0; i < 6; ++i) {  // 6 minutes of talk, one packet every 50 s is enough to see
        advance(50'000);
        a_side->rx_packets.fetch_add(1);
    }
    EXPECT_EQ(count_request(take(), acc, sip::method::bye), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    advance(75'001);  // silence from now on: gone within 1.25 limits
    EXPECT_GE(count_request(take(), acc, sip::method::bye), 1u);  // (and its retransmissions)
    EXPECT_EQ(b2b_->stats().media_timeouts, 1u);
}

// A call on hold may be silent for [media] hold_timeout (an hour by default).
TEST_F(b2bua_test, a_call_on_hold_gets_the_hold_timeout) {
    invite_opts o;
    o.body = alice_hold_sdp;
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    advance(600'000);
    EXPECT_EQ(count_request(take(), acc, sip::method::bye), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    advance(3'600'000);
    EXPECT_GE(count_request(take(), acc, sip::method::bye), 1u);  // (and its retransmissions)
    EXPECT_EQ(b2b_->stats().media_timeouts, 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

TEST_F(b2bua_test, media_timeout_zero_never_hangs_up) {
    b2bua_config cfg = base_config();
    cfg.media_timeout_s = 0;
    cfg.media_hold_timeout_s = 0;
    cfg.session_expires_s = 0;
    rebuild(cfg);
    const call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    advance(4 * 3'600'000);
    EXPECT_EQ(count_request(take(), acc, sip::method::bye), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// The B2BUA going away (shutdown) with a transfer target still ringing gives back every relay
// side, the new party's too, which only the transfer's media bridge held.
TEST_F(ringing_transfer_test, destroyed_while_a_transfer_target_rings_leaves_no_relay_entries) {
    ASSERT_NO_FATAL_FAILURE(ring_carol());
    EXPECT_GT(relay_entries(), entries_before);  // carol's half is waiting
    b2b_.reset();
    EXPECT_EQ(relay_entries(), 0u);
    EXPECT_EQ(table_->size(), 0u);
    rebuild(base_config());  // TearDown expects one
}

TEST_F(b2bua_test, transferee_hangs_up_before_the_target_answers_anything) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    auto to_carol = invite_to_carol(take());
    ASSERT_NE(to_carol, nullptr);
    from_alice(alice_request("BYE", cs.a_tag, 2, "z9hG4bKalicebye", o.call_id));
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::cancel), 0u) << "RFC 3261 9.1: not before a provisional";
    EXPECT_EQ(b2b_->active_calls(), 0u);
    // carol rings after all: now she is cancelled; her 200 crossing the CANCEL is ACKed and BYEd.
    feed(core, carol, bob_response(to_carol->msg, 180, "Ringing", {}, "caroltag"));
    out = take();
    ASSERT_EQ(count_request(out, core, sip::method::cancel), 1u);
    feed(core, carol, bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    out = take();
    EXPECT_EQ(count_request(out, core, sip::method::ack), 1u);
    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, carol);
    EXPECT_EQ(bye->msg.to.tag, "caroltag");
    EXPECT_EQ(b2b_->stats().orphan_answers_hung_up, 1u);
}

// ================================================================== reload

TEST_F(b2bua_test, reload_changes_new_calls_and_calls_in_progress_keep_their_dialplans) {
    invite_opts o;
    o.user = "bob-trc";
    const call_state before = confirmed_call(o);
    ASSERT_NE(before.b_invite, nullptr);

    // The new dialplans send every call to carol and refuse every transfer.
    auto plans = std::make_shared<dialplan_engine>();
    ASSERT_EQ(plans->load_source("default", "new.lua", "sys.Dial(\"carol@198.51.100.30\")"), "");
    ASSERT_EQ(plans->load_source("transfer", "new_transfer.lua", "sys.Respond(403, \"no\")"), "");
    b2bua_config cfg = base_config();
    account_config trusted;
    trusted.name = "everyone";
    cidr all;
    ASSERT_EQ(parse_cidr("0.0.0.0/0", all), "");
    trusted.networks = {all};
    trusted.realm = "sipferry";
    cfg.accounts = {trusted};
    b2b_->reload(cfg, plans);
    EXPECT_EQ(b2b_->reloads(), 1u);

    // The call in progress still transfers through the dialplan it started with (carol allowed).
    from_bob(bob_refer(before.b_invite->msg, "carol"));
    auto out = take();
    EXPECT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::invite), 1u) << "the old transfer dialplan let it through";

    // A new call takes the new default dialplan (carol, not bob) and the new account.
    invite_opts o2;
    o2.call_id = "after-reload@192.0.2.10";
    o2.branch = "z9hG4bKafter";
    from_alice(alice_invite(o2));
    out = take();
    const received* inv = find_request(out, core, sip::method::invite);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(inv->to, carol);
    EXPECT_NE(b2b_->calls_json().find("\"account\":\"everyone\""), std::string::npos);
}

// ================================================================== route sets (RFC 3261 12.1)

TEST_F(b2bua_test, a_record_routed_caller_is_reached_through_its_proxy) {
    std::string inv = alice_invite();
    inv.insert(inv.find("Content-Type"), "Record-Route: <sip:192.0.2.50;lr>\r\n");
    from_alice(inv);
    auto out = take();
    const received* to_bob = find_request(out, core, sip::method::invite);
    ASSERT_NE(to_bob, nullptr);
    EXPECT_EQ(to_bob->text.find("Record-Route"), std::string::npos) << "alice's proxies stay on her side";
    auto b_invite = parse_copy(to_bob->realm, to_bob->to, to_bob->text);
    from_bob(bob_response(b_invite->msg, 200, "OK", bob_sdp));
    out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(header(ok->msg, sip::hdr::record_route), "<sip:192.0.2.50;lr>") << "echoed in the 2xx (RFC 3261 12.1.1)";
    const std::string a_tag(ok->msg.to.tag);
    from_alice(alice_request("ACK", a_tag, 1, "z9hG4bKaliceack"));
    take();
    from_bob(bob_request("BYE", b_invite->msg, 2, "z9hG4bKbobbye"));
    out = take();
    const received* bye = find_request(out, acc, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, (sip_addr{ip(192, 0, 2, 50), 5060})) << "sent to the first route";
    EXPECT_EQ(bye->msg.request_uri, "sip:alice@192.0.2.10:5060") << "the remote target stays the Request-URI";
    EXPECT_EQ(header(bye->msg, sip::hdr::route), "<sip:192.0.2.50;lr>");
}

TEST_F(b2bua_test, a_record_routed_callee_is_reached_through_its_proxies_in_reverse_order) {
    const invite_opts o;
    call_state cs = start_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    std::string ok = bob_response(cs.b_invite->msg, 200, "OK", bob_sdp);
    ok.insert(ok.find("Content-Type"), "Record-Route: <sip:198.51.100.60;lr>, <sip:198.51.100.61;lr>\r\n");
    from_bob(ok);
    auto out = take();
    const received* ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->to, (sip_addr{ip(198, 51, 100, 61), 5060})) << "the UAC's route set is the reversed Record-Route";
    const received* a_ok = find_response(out, acc, 200);
    ASSERT_NE(a_ok, nullptr);
    EXPECT_EQ(a_ok->text.find("198.51.100.6"), std::string::npos) << "bob's proxies never reach alice";
    const std::string a_tag(a_ok->msg.to.tag);
    from_alice(alice_request("ACK", a_tag, 1, "z9hG4bKaliceack"));
    take();
    from_alice(alice_request("BYE", a_tag, 2, "z9hG4bKalicebye"));
    out = take();
    const received* bye = find_request(out, core, sip::method::bye);
    ASSERT_NE(bye, nullptr);
    EXPECT_EQ(bye->to, (sip_addr{ip(198, 51, 100, 61), 5060}));
    const size_t r61 = bye->text.find("Route: <sip:198.51.100.61;lr>");
    const size_t r60 = bye->text.find("Route: <sip:198.51.100.60;lr>");
    ASSERT_NE(r61, std::string::npos) << bye->text;
    ASSERT_NE(r60, std::string::npos);
    EXPECT_LT(r61, r60);
    EXPECT_EQ(bye->msg.request_uri, "sip:bob@198.51.100.20:5060");
}

// Media address ranges: a realm's relay ports are bounded per address, so calls spread over the
// realm's media addresses (round-robin) and each leg's SDP names the address its relay side has.
TEST_F(b2bua_test, calls_spread_over_the_media_addresses_of_a_realm) {
    reanchor(20000, 20003, 2, 1);  // 2 port pairs per address: acc 3 addresses, core 2
    const std::vector<std::string> want_acc = {"192.0.2.1", "192.0.2.100", "192.0.2.101", "192.0.2.1"};
    const std::vector<std::string> want_core = {"198.51.100.1", "198.51.100.100", "198.51.100.1", "198.51.100.100"};
    for (unsigned i = 0; i < 4; ++i) {
        invite_opts o;
        o.call_id = "spread-" + std::to_string(i) + "@192.0.2.10";
        o.branch = "z9hG4bKspread" + std::to_string(i);
        call_state cs = start_call(o);
        ASSERT_NE(cs.b_invite, nullptr) << i;
        const sdp_info to_bob = sdp_of(cs.b_invite->msg.body);
        EXPECT_EQ(to_bob.conn, want_core[i]) << i;
        uint32_t core_media = 0;
        ASSERT_TRUE(parse_ipv4_text(to_bob.conn, core_media));
        EXPECT_NE(table_->find(core_media, to_bob.port), nullptr) << "bob's relay side is keyed by its address";
        from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
        auto out = take();
        const received* ok = find_response(out, acc, 200);
        ASSERT_NE(ok, nullptr) << i;
        const sdp_info to_alice = sdp_of(ok->msg.body);
        EXPECT_EQ(to_alice.conn, want_acc[i]) << i;
        uint32_t acc_media_addr = 0;
        ASSERT_TRUE(parse_ipv4_text(to_alice.conn, acc_media_addr));
        const dp::media_side* side = table_->find(acc_media_addr, to_alice.port);
        ASSERT_NE(side, nullptr);
        EXPECT_EQ(side->local_addr, acc_media_addr) << "packets from it leave from that address";
    }
    EXPECT_EQ(anchor_->pairs_in_use(acc), 4u);
    EXPECT_EQ(anchor_->pairs_capacity(acc), 6u);
    EXPECT_EQ(anchor_->pairs_in_use(core), 4u);
    // Core is full on both of its addresses: the next call is refused, nothing leaks.
    invite_opts o;
    o.call_id = "spread-full@192.0.2.10";
    o.branch = "z9hG4bKspreadfull";
    from_alice(alice_invite(o));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 503), nullptr);
    EXPECT_EQ(anchor_->pairs_in_use(acc), 4u);
    EXPECT_EQ(anchor_->pairs_in_use(core), 4u);
}

// After the transfer the appliance re-INVITEs alice with carol's SDP; alice answers 491 (her own
// re-INVITE crossed it): ours is retried with a new CSeq after RFC 3261 14.1's back-off, 0-2 s
// since alice chose her dialog's Call-ID, and her SDP view finally names carol's media.
TEST_F(ringing_transfer_test, the_transferees_reinvite_answered_491_is_retried) {
    ASSERT_NO_FATAL_FAILURE(ring_carol());
    feed(core, carol, bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag"));
    auto out = take();
    const received* reinv = find_request(out, acc, sip::method::invite);
    ASSERT_NE(reinv, nullptr) << "alice is re-INVITEd with carol's SDP";
    auto first = parse_copy(reinv->realm, reinv->to, reinv->text);
    from_alice(bob_response(first->msg, 491, "Request Pending"));  // echoes what it answers
    out = take();
    EXPECT_NE(find_request(out, acc, sip::method::ack), nullptr);
    EXPECT_EQ(find_request(out, acc, sip::method::invite), nullptr);
    advance(2000);
    out = take();
    const received* retry = find_request(out, acc, sip::method::invite);
    ASSERT_NE(retry, nullptr) << "within 2 s";
    EXPECT_EQ(retry->msg.cseq, first->msg.cseq + 1);
    EXPECT_EQ(retry->msg.body, first->msg.body);
    EXPECT_EQ(b2b_->stats().own_reinvite_491, 1u);
}
