// Session timers (control/b2bua_session_timer.cc, RFC 4028), in process: each leg negotiates
// its own interval and refresher; refreshes that change nothing are answered on their leg;
// the appliance refreshes where it is the refresher; a leg that stops refreshing ends the call.

#include "b2bua_fixture.hh"

namespace {

class session_timer_test : public b2bua_test {
protected:
    void SetUp() override {
        b2bua_test::SetUp();
        rebuild(timer_config());
    }

    b2bua_config timer_config() {
        b2bua_config cfg = base_config();
        cfg.session_expires_s = 120;
        cfg.min_se_s = 90;
        cfg.media_timeout_s = 0;  // no RTP flows here: only the session timers may end a call
        return cfg;
    }

    /// alice's INVITE with `headers` (Session-Expires, Supported) added.
    static std::string invite_with(const std::string& headers, const invite_opts& o = {}) {
        std::string s = alice_invite(o);
        s.insert(s.find("Content-Type"), headers);
        return s;
    }

    /// Through bob's 200 (with `bob_headers`, and `body`) to alice's ACK; returns the 200 alice got.
    std::unique_ptr<received> answer(call_state& cs, const std::string& bob_headers = {},
                                     const std::string& body = bob_sdp) {
        std::string ok = bob_response(cs.b_invite->msg, 200, "OK", body);
        ok.insert(ok.find("Content-Type"), bob_headers);
        from_bob(ok);
        auto out = take();
        const received* r = find_response(out, acc, 200);
        EXPECT_NE(r, nullptr);
        if (r == nullptr) {
            return nullptr;
        }
        auto copy = parse_copy(r->realm, r->to, r->text);
        cs.a_tag = std::string(copy->msg.to.tag);
        from_alice(alice_request("ACK", cs.a_tag, 1, "z9hG4bKaliceack"));
        take();
        return copy;
    }

    /// Our session refresh to bob 60 s on (he asked us to refresh), after bob answers
    /// `answered` (the refresh before, if any) 200 with `body`; a copy of it, nullptr if none
    /// went.
    std::unique_ptr<received> refresh_to_bob(const received* answered = nullptr, const std::string& body = {}) {
        if (answered != nullptr) {
            from_bob(bob_response(answered->msg, 200, "OK", body));
            take();
        }
        advance(60000);
        auto out = take();
        const received* r = find_request(out, core, sip::method::invite);
        return r == nullptr ? nullptr : parse_copy(r->realm, r->to, r->text);
    }

    /// alice's re-INVITE (CSeq `cseq`) putting bob on hold: her SDP, sendonly; what bob got of it.
    std::unique_ptr<received> alice_holds(const call_state& cs, unsigned cseq, const std::string& branch) {
        std::string hold = alice_sdp;
        hold.replace(hold.find("a=sendrecv"), 10, "a=sendonly");
        from_alice(with_body(alice_request("INVITE", cs.a_tag, cseq, branch), hold));
        auto out = take();
        const received* r = find_request(out, core, sip::method::invite);
        return r == nullptr ? nullptr : parse_copy(r->realm, r->to, r->text);
    }

    call_state start(const std::string& alice_headers) {
        call_state cs;
        from_alice(invite_with(alice_headers));
        auto out = take();
        for (auto& r : out) {
            if (r->realm == core && r->msg.is_request && r->msg.req_method == sip::method::invite) {
                cs.b_invite = std::move(r);
            }
        }
        return cs;
    }
};

}  // namespace

TEST_F(session_timer_test, the_callee_is_offered_a_session_timer) {
    call_state cs = start("");
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(header(cs.b_invite->msg, sip::hdr::session_expires), "120");
    EXPECT_EQ(header(cs.b_invite->msg, sip::hdr::min_se), "90");
    EXPECT_EQ(header(cs.b_invite->msg, sip::hdr::supported), "100rel, timer") << "one Supported line";
    EXPECT_EQ(cs.b_invite->msg.count(sip::hdr::supported), 1u);
}

TEST_F(session_timer_test, too_small_an_interval_from_the_caller_gets_422_with_our_min_se) {
    from_alice(invite_with("Session-Expires: 30\r\nSupported: timer\r\n"));
    auto out = take();
    const received* r = find_response(out, acc, 422);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(header(r->msg, sip::hdr::min_se), "90");
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
}

TEST_F(session_timer_test, a_caller_that_refreshes_is_answered_locally_and_one_that_stops_is_hung_up) {
    call_state cs = start("Session-Expires: 120\r\nSupported: timer\r\n");
    ASSERT_NE(cs.b_invite, nullptr);
    auto ok = answer(cs);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(header(ok->msg, sip::hdr::session_expires), "120;refresher=uac");
    EXPECT_NE(ok->text.find("Require: timer"), std::string::npos);

    // alice refreshes after 60 s with the same SDP: answered here, nothing reaches bob.
    advance(60000);
    take();
    std::string refresh = alice_request("INVITE", cs.a_tag, 2, "z9hG4bKrefresh1");
    refresh.replace(refresh.find("Content-Length: 0\r\n\r\n"), std::string::npos,
                    "Session-Expires: 120;refresher=uac\r\nContent-Type: application/sdp\r\nContent-Length: " +
                        std::to_string(alice_sdp.size()) + "\r\n\r\n" + alice_sdp);
    from_alice(refresh);
    auto out = take();
    const received* r = find_response(out, acc, 200);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->msg.body, ok->msg.body) << "the same SDP as before, version unchanged";
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u) << "bob's leg has its own timer";
    from_alice(alice_request("ACK", cs.a_tag, 2, "z9hG4bKrefreshack"));
    EXPECT_EQ(b2b_->stats().session_refreshes_answered, 1u);

    // Then alice goes silent: her deadline is 120 - 32 = 88 s after her last refresh.
    advance(87999);
    out = take();
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 0u);
    advance(1);
    out = take();
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("hangup"), "session_timer");
}

TEST_F(session_timer_test, a_caller_without_timer_support_is_refreshed_by_the_appliance) {
    call_state cs = start("Session-Expires: 120\r\n");  // no Supported: timer
    ASSERT_NE(cs.b_invite, nullptr);
    auto ok = answer(cs);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(header(ok->msg, sip::hdr::session_expires), "120;refresher=uas");
    EXPECT_EQ(ok->text.find("Require: timer"), std::string::npos) << "never Require what the caller lacks";
    advance(59999);
    EXPECT_EQ(count_request(take(), acc, sip::method::invite), 0u);
    advance(1);
    auto out = take();
    const received* reinvite = find_request(out, acc, sip::method::invite);
    ASSERT_NE(reinvite, nullptr) << "our refresh at half the interval";
    EXPECT_EQ(reinvite->msg.body, ok->msg.body) << "the SDP alice last got, unchanged";
    EXPECT_EQ(b2b_->stats().session_refreshes_sent, 1u);
}

TEST_F(session_timer_test, the_appliance_refreshes_the_callee_when_it_is_the_uac_refresher) {
    call_state cs = start("");
    ASSERT_NE(cs.b_invite, nullptr);
    answer(cs, "Session-Expires: 120;refresher=uac\r\nRequire: timer\r\n");
    advance(60000);
    auto out = take();
    const received* refresh = find_request(out, core, sip::method::invite);
    ASSERT_NE(refresh, nullptr);
    EXPECT_EQ(refresh->msg.call_id, cs.b_invite->msg.call_id);
    EXPECT_NE(refresh->msg.to.tag, "") << "inside bob's dialog";
    EXPECT_NE(refresh->text.find("Session-Expires: 120;refresher=uac"), std::string::npos);
    EXPECT_EQ(count_request(out, acc, sip::method::invite), 0u) << "alice's leg has no timer";
}

TEST_F(session_timer_test, a_callee_refresher_that_stops_refreshing_ends_the_call) {
    call_state cs = start("");
    ASSERT_NE(cs.b_invite, nullptr);
    answer(cs, "Session-Expires: 120;refresher=uas\r\n");
    advance(40000);
    // bob refreshes with a bare UPDATE: answered here.
    std::string update = bob_request("UPDATE", cs.b_invite->msg, 2, "z9hG4bKbobupdate");
    from_bob(update);
    auto out = take();
    const received* ok = find_response(out, core, 200, sip::method::update);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(header(ok->msg, sip::hdr::session_expires), "120;refresher=uac");
    EXPECT_EQ(count_request(out, acc, sip::method::update), 0u);
    advance(87999);
    EXPECT_EQ(count_request(take(), core, sip::method::bye), 0u);
    advance(1);
    EXPECT_EQ(count_request(take(), core, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

TEST_F(session_timer_test, a_reinvite_that_changes_the_media_is_relayed_and_restarts_the_timers) {
    call_state cs = start("Session-Expires: 120\r\nSupported: timer\r\n");
    ASSERT_NE(cs.b_invite, nullptr);
    answer(cs);
    advance(50000);
    auto bob_re = alice_holds(cs, 2, "z9hG4bKhold");
    ASSERT_NE(bob_re, nullptr) << "a real change goes to bob";
    from_bob(bob_response(bob_re->msg, 200, "OK", bob_sdp));
    take();
    from_alice(alice_request("ACK", cs.a_tag, 2, "z9hG4bKholdack"));
    // 88 s after the re-INVITE, not after the call began: no BYE at 88 s from the start.
    advance(88000 - 50000);
    EXPECT_EQ(count_request(take(), acc, sip::method::bye), 0u);
    advance(50000);
    EXPECT_EQ(count_request(take(), acc, sip::method::bye), 1u);
}

// ------------------------------------------------------------------ our own re-INVITEs
// (control/b2bua_own_reinvite.cc), seen through the refreshes we send bob as his refresher.

namespace {

class own_reinvite_test : public session_timer_test {
protected:
    /// As first_refresh, with [sip] max_ring `max_ring_s`, and bob rings on it.
    std::unique_ptr<received> ringing_refresh(call_state& cs, unsigned max_ring_s) {
        b2bua_config cfg = timer_config();
        cfg.max_ring_s = max_ring_s;
        rebuild(cfg);
        auto refresh = first_refresh(cs);
        if (refresh != nullptr) {
            from_bob(bob_response(refresh->msg, 180, "Ringing"));
            take();
        }
        return refresh;
    }

    /// A call in which we refresh bob (refresher=uac from his side); the first refresh bob got.
    std::unique_ptr<received> first_refresh(call_state& cs) {
        cs = start("");
        if (cs.b_invite == nullptr) {
            return nullptr;
        }
        answer(cs, "Session-Expires: 120;refresher=uac\r\nRequire: timer\r\n");
        advance(60000);
        auto out = take();
        const received* r = find_request(out, core, sip::method::invite);
        return r == nullptr ? nullptr : parse_copy(r->realm, r->to, r->text);
    }
};

}  // namespace

// RFC 3261 14.1: a 491 to our re-INVITE is retried with a new CSeq after a random back-off; leg
// B's Call-ID is ours, so 2.1-4 s.
TEST_F(own_reinvite_test, a_491_to_our_refresh_is_retried_after_the_back_off) {
    call_state cs;
    auto refresh = first_refresh(cs);
    ASSERT_NE(refresh, nullptr);
    from_bob(bob_response(refresh->msg, 491, "Request Pending"));
    auto out = take();
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr) << "the ICT ACKs the 491";
    EXPECT_EQ(b2b_->stats().own_reinvite_491, 1u);
    advance(2099);
    EXPECT_EQ(count_request(take(), core, sip::method::invite), 0u) << "not before 2.1 s";
    advance(4000 - 2099);
    out = take();
    const received* retry = find_request(out, core, sip::method::invite);
    ASSERT_NE(retry, nullptr) << "by 4 s";
    EXPECT_EQ(retry->msg.cseq, refresh->msg.cseq + 1);
    EXPECT_EQ(retry->msg.body, refresh->msg.body);
    EXPECT_NE(retry->text.find("Session-Expires: 120;refresher=uac"), std::string::npos);
    auto copy = parse_copy(retry->realm, retry->to, retry->text);
    from_bob(bob_response(copy->msg, 200, "OK", bob_sdp));
    out = take();
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// While our re-INVITE to bob is pending, alice's re-INVITE would reach bob as a second INVITE
// in his dialog (he would answer 500): she gets 491 and retries later (RFC 3261 14.2).
TEST_F(own_reinvite_test, a_reinvite_from_the_other_leg_while_ours_is_pending_gets_491) {
    call_state cs;
    auto refresh = first_refresh(cs);
    ASSERT_NE(refresh, nullptr);
    EXPECT_EQ(alice_holds(cs, 2, "z9hG4bKhold"), nullptr) << "not relayed";
    EXPECT_EQ(b2b_->stats().glare_491, 1u) << "491 to alice";
    from_bob(bob_response(refresh->msg, 200, "OK", bob_sdp));
    take();
    EXPECT_NE(alice_holds(cs, 3, "z9hG4bKhold2"), nullptr) << "ours is over: relayed";
}

// Our refresh falls due while alice's re-INVITE is relayed to bob: ours would cross it, so it
// waits (checked every second) and goes once bob has answered hers.
TEST_F(own_reinvite_test, our_refresh_waits_for_a_relayed_reinvite_to_end) {
    call_state cs = start("");
    ASSERT_NE(cs.b_invite, nullptr);
    answer(cs, "Session-Expires: 120;refresher=uac\r\nRequire: timer\r\n");
    advance(59000);
    auto relayed_copy = alice_holds(cs, 2, "z9hG4bKhold");
    ASSERT_NE(relayed_copy, nullptr);
    from_bob(bob_response(relayed_copy->msg, 180, "Ringing"));
    advance(1000);  // our refresh falls due (60 s)
    EXPECT_EQ(count_request(take(), core, sip::method::invite), 0u) << "not across alice's";
    advance(2000);
    EXPECT_EQ(count_request(take(), core, sip::method::invite), 0u);
    from_bob(bob_response(relayed_copy->msg, 200, "OK", bob_sdp));
    take();
    from_alice(alice_request("ACK", cs.a_tag, 2, "z9hG4bKholdack"));
    advance(1000);
    auto out = take();
    const received* refresh = find_request(out, core, sip::method::invite);
    ASSERT_NE(refresh, nullptr) << "ours goes once hers has ended";
    EXPECT_NE(refresh->text.find("Session-Expires: 120;refresher=uac"), std::string::npos);
    EXPECT_GT(refresh->msg.cseq, relayed_copy->msg.cseq);
}

// A peer that answers every re-INVITE of ours 491 is not re-INVITEd for ever: eight sends of one
// refresh (they take under 30 s; the next refresh, 60 s later, starts its own count).
TEST_F(own_reinvite_test, retries_after_491_are_bounded) {
    call_state cs;
    auto refresh = first_refresh(cs);
    ASSERT_NE(refresh, nullptr);
    unsigned sent = 1;
    from_bob(bob_response(refresh->msg, 491, "Request Pending"));
    take();
    for (unsigned i = 0; i < 10; ++i) {
        advance(4000);
        auto out = take();
        const received* again = find_request(out, core, sip::method::invite);
        if (again == nullptr) {
            continue;
        }
        ++sent;
        auto copy = parse_copy(again->realm, again->to, again->text);
        from_bob(bob_response(copy->msg, 491, "Request Pending"));
        take();
    }
    EXPECT_EQ(sent, 8u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// RFC 4028 10: a refresh answered 481 (or 408, or not at all) means the session is gone: BYE to
// the other leg (bob, who forgot the dialog, gets none) and the call ends.
TEST_F(own_reinvite_test, a_481_to_our_refresh_ends_the_call) {
    call_state cs;
    auto refresh = first_refresh(cs);
    ASSERT_NE(refresh, nullptr);
    from_bob(bob_response(refresh->msg, 481, "Call/Transaction Does Not Exist"));
    auto out = take();
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 0u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(b2b_->stats().dialogs_gone, 1u);
}

TEST_F(own_reinvite_test, a_refresh_nobody_answers_ends_the_call) {
    call_state cs;
    auto refresh = first_refresh(cs);
    ASSERT_NE(refresh, nullptr);
    advance(32'000);
    auto out = take();
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 1u);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

// A relayed re-INVITE that rings at bob for longer than 64*T1 past our refresh's due time: ours
// stops waiting then (the next refresh, half an interval later, tries again).
TEST_F(own_reinvite_test, our_refresh_waits_64_t1_at_most) {
    call_state cs = start("");
    ASSERT_NE(cs.b_invite, nullptr);
    answer(cs, "Session-Expires: 120;refresher=uac\r\nRequire: timer\r\n");
    advance(59000);
    auto relayed = alice_holds(cs, 2, "z9hG4bKhold");
    ASSERT_NE(relayed, nullptr);
    from_bob(bob_response(relayed->msg, 180, "Ringing"));
    advance(1000 + 33000);  // due at 60 s, then 33 s of waiting
    EXPECT_EQ(count_request(take(), core, sip::method::invite), 0u);
    from_bob(bob_response(relayed->msg, 200, "OK", bob_sdp));
    take();
    from_alice(alice_request("ACK", cs.a_tag, 2, "z9hG4bKholdack"));
    advance(2000);
    EXPECT_EQ(count_request(take(), core, sip::method::invite), 0u) << "given up";
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// bob rings on our refresh and never answers it: after [sip] max_ring (30 s here) it is
// CANCELled; his 487 only fails it, the call goes on.
TEST_F(own_reinvite_test, our_reinvite_left_ringing_is_cancelled_after_max_ring) {
    call_state cs;
    auto refresh = ringing_refresh(cs, 30);
    ASSERT_NE(refresh, nullptr);
    advance(29'999);
    EXPECT_EQ(count_request(take(), core, sip::method::cancel), 0u);
    advance(1);
    auto out = take();
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr);
    EXPECT_EQ(cancel->msg.top_via.branch, refresh->msg.top_via.branch);
    from_bob(bob_response(refresh->msg, 487, "Request Terminated"));
    out = take();
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(b2b_->stats().dialogs_gone, 0u);
}

// ... and if bob answers neither the CANCEL nor the re-INVITE, 64*T1 later it is over without
// ending the call (a CANCELled INVITE that times out only failed).
TEST_F(own_reinvite_test, our_cancelled_reinvite_that_times_out_leaves_the_call) {
    call_state cs;
    auto refresh = ringing_refresh(cs, 30);
    ASSERT_NE(refresh, nullptr);
    advance(30'000 + 32'000);
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::bye), 0u);
    EXPECT_EQ(count_request(out, acc, sip::method::bye), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(b2b_->stats().dialogs_gone, 0u);
}

namespace {

/// bob's 200 asking us to refresh the session (RFC 4028: we are the UAC on his leg).
const std::string refresh_by_us = "Session-Expires: 120;refresher=uac\r\nRequire: timer\r\n";

/// The o= line's version of an SDP body (0 when there is none).
uint64_t sdp_version_of(std::string_view body) {
    const size_t o = body.find("o=");
    if (o == std::string_view::npos) {
        return 0;
    }
    const std::string line(body.substr(o, body.find("\r\n", o) - o));
    const size_t first = line.find(' '), second = line.find(' ', first + 1);
    return std::stoull(line.substr(second + 1, line.find(' ', second + 1) - second - 1));
}

}  // namespace

// bob declines alice's video at setup (RFC 3264 6): its relay ports go back at once, so our
// refresh, which repeats the last SDP bob got, must not offer him those ports again. It offers
// the video disabled, one version on (RFC 3264 8), and the version moves no further while
// nothing else changes.
TEST_F(session_timer_test, a_refresh_after_a_declined_stream_offers_it_disabled_one_version_on) {
    invite_opts o;
    o.body = alice_sdp + "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
    from_alice(invite_with("", o));
    call_state cs;
    cs.b_invite = invite_sent_to(take(), bob);
    ASSERT_NE(cs.b_invite, nullptr);
    sdp::session offered;
    ASSERT_EQ(sdp::parse(cs.b_invite->msg.body, offered), sdp::parse_error::ok);
    ASSERT_EQ(offered.n_media, 2u);
    const uint16_t audio_port = offered.streams[0].port;
    ASSERT_NE(offered.streams[1].port, 0u) << "bob is offered the video on a relay port";
    const uint64_t version = sdp_version_of(cs.b_invite->msg.body);
    EXPECT_EQ(relay_entries(), 8u);

    ASSERT_NE(answer(cs, refresh_by_us, bob_sdp + "m=video 0 RTP/AVP 96\r\n"), nullptr);
    EXPECT_EQ(relay_entries(), 4u) << "the declined video's sides are gone";
    EXPECT_EQ(b2b_->stats().streams_removed, 1u);

    auto refresh = refresh_to_bob();
    ASSERT_NE(refresh, nullptr);
    sdp::session again;
    ASSERT_EQ(sdp::parse(refresh->msg.body, again), sdp::parse_error::ok);
    ASSERT_EQ(again.n_media, 2u);
    EXPECT_EQ(again.streams[0].port, audio_port) << "the audio as it was";
    EXPECT_EQ(again.streams[1].port, 0u) << "the video disabled, not on its old port";
    EXPECT_EQ(sdp_version_of(refresh->msg.body), version + 1);

    // bob answers the refresh as before; the next refresh is the same SDP, same version.
    refresh = refresh_to_bob(refresh.get(), bob_sdp + "m=video 0 RTP/AVP 96\r\n");
    ASSERT_NE(refresh, nullptr);
    EXPECT_EQ(sdp_version_of(refresh->msg.body), version + 1);
    EXPECT_EQ(relay_entries(), 4u);
}

// alice puts bob on hold and adds video; bob refuses (488), so his session is as it was
// (RFC 3264 8). Our refresh repeats the last SDP he got: not the refused offer (that would put
// him on hold after all, on video ports given back), but the one before, one version past
// the refused one.
TEST_F(session_timer_test, a_refresh_after_a_refused_reoffer_repeats_the_session_before_it) {
    call_state cs;
    from_alice(invite_with("", invite_opts{}));
    cs.b_invite = invite_sent_to(take(), bob);
    ASSERT_NE(cs.b_invite, nullptr);
    const std::string first_offer(cs.b_invite->msg.body);
    const uint64_t version = sdp_version_of(first_offer);
    ASSERT_NE(answer(cs, refresh_by_us), nullptr);
    ASSERT_EQ(relay_entries(), 4u);

    std::string hold_and_video = alice_sdp + "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
    hold_and_video.replace(hold_and_video.find("a=sendrecv"), 10, "a=sendonly");
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKalicehold"), hold_and_video));
    auto reinv = invite_sent_to(take(), bob);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(sdp_version_of(reinv->msg.body), version + 1);
    EXPECT_EQ(relay_entries(), 8u);
    from_bob(bob_response(reinv->msg, 488, "Not Acceptable Here"));
    take();
    EXPECT_EQ(relay_entries(), 4u) << "the video's ports went back";
    EXPECT_EQ(b2b_->stats().streams_taken_back, 1u);

    auto refresh = refresh_to_bob();
    ASSERT_NE(refresh, nullptr);
    sdp::session again;
    ASSERT_EQ(sdp::parse(refresh->msg.body, again), sdp::parse_error::ok);
    EXPECT_EQ(again.n_media, 1u) << "no video: the refused offer never was the session";
    EXPECT_EQ(refresh->msg.body.find("sendonly"), std::string_view::npos) << "not on hold";
    EXPECT_EQ(sdp_version_of(refresh->msg.body), version + 2);
    std::string expected = first_offer;
    const std::string old_o = " " + std::to_string(version) + " IN IP4";
    expected.replace(expected.find(old_o), old_o.size(), " " + std::to_string(version + 2) + " IN IP4");
    EXPECT_EQ(refresh->msg.body, expected) << "bob's first offer, one version past the refused one";

    // The next refresh: the same SDP, the same version.
    refresh = refresh_to_bob(refresh.get(), bob_sdp);
    ASSERT_NE(refresh, nullptr);
    EXPECT_EQ(sdp_version_of(refresh->msg.body), version + 2);
    EXPECT_EQ(relay_entries(), 4u);
}
