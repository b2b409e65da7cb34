// Re-offers that add media streams to a call (control/b2bua_in_dialog.cc, RFC 3264 8.1), in
// process: a fax machine's switch to T.38 (the audio disabled, an m=image appended, or the
// image in the audio's place), offered in a re-INVITE or in the 2xx of an offerless one; a
// stream disabled at setup and enabled later; the answers when a stream cannot be added; and
// the relay ports of a stream an answer removes (RFC 3264 8.2) given back.

#include "b2bua_fixture.hh"

namespace {

// bob's fax gateway offers T.38: the audio disabled, UDPTL appended (what Asterisk and most
// gateways send).
const std::string bob_fax_sdp =
    "v=0\r\n"
    "o=bob 2000 2001 IN IP4 198.51.100.20\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.20\r\n"
    "t=0 0\r\n"
    "m=audio 0 RTP/AVP 0\r\n"
    "m=image 31000 udptl t38\r\n"
    "a=T38FaxVersion:0\r\n"
    "a=T38FaxRateManagement:transferredTCF\r\n"
    "a=T38FaxUdpEC:t38UDPRedundancy\r\n";

const std::string alice_fax_sdp =
    "v=0\r\n"
    "o=alice 1000 1001 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 0 RTP/AVP 0\r\n"
    "m=image 41000 udptl t38\r\n"
    "a=T38FaxVersion:0\r\n"
    "a=T38FaxRateManagement:transferredTCF\r\n";

// The m-lines of an SDP body: type and port, in order.
std::vector<std::pair<std::string, uint16_t>> m_lines(std::string_view body) {
    sdp::session s;
    EXPECT_EQ(sdp::parse(body, s), sdp::parse_error::ok) << body;
    std::vector<std::pair<std::string, uint16_t>> out;
    for (unsigned i = 0; i < s.n_media; ++i) {
        out.emplace_back(std::string(s.streams[i].type), s.streams[i].port);
    }
    return out;
}

class media_change_test : public b2bua_test {
protected:
    // The relay side at `addr`:`port` sends to `remote_port` and relays to the side at
    // `peer_addr`:`peer_port`.
    void expect_relay(uint32_t addr, uint16_t port, uint16_t remote_port, uint32_t peer_addr, uint16_t peer_port) {
        const dp::media_side* s = table_->find(addr, port);
        ASSERT_NE(s, nullptr) << port;
        EXPECT_EQ(dp::endpoint_port(s->remote()), remote_port) << port;
        EXPECT_EQ(s->peer(), table_->find(peer_addr, peer_port)) << port;
    }

    /// alice calls bob-trc (transfers on the appliance); bob REFERs her to carol, who rings.
    /// The INVITE carol got is `to_carol_`.
    call_state transfer_rings_carol() {
        call_state cs = confirmed_call(transferring_);
        if (cs.b_invite != nullptr) {
            from_bob(bob_refer(cs.b_invite->msg, "carol"));
            to_carol_ = invite_sent_to(take(), carol);
        }
        EXPECT_NE(to_carol_, nullptr) << "the transfer rings carol";
        return cs;
    }
    const invite_opts transferring_ = [] {
        invite_opts o;
        o.user = "bob-trc";
        return o;
    }();
    std::unique_ptr<received> to_carol_;
};

}  // namespace

TEST_F(media_change_test, bobs_switch_to_t38_gets_relay_ports_for_the_image_stream_both_ways) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(relay_entries(), 4u) << "audio with RTCP on each leg";

    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobfax"), bob_fax_sdp));
    auto out = take();
    auto reinv = invite_sent_to(out, alice);
    ASSERT_NE(reinv, nullptr) << "relayed to alice";
    const auto offered = m_lines(reinv->msg.body);
    ASSERT_EQ(offered.size(), 2u);
    EXPECT_EQ(offered[0], (std::pair<std::string, uint16_t>{"audio", 0})) << "disabled stays disabled";
    EXPECT_EQ(offered[1].first, "image");
    const uint16_t a_image = offered[1].second;
    EXPECT_NE(a_image, 0u) << "the image stream is offered on a relay port";
    EXPECT_NE(a_image, cs.a_port);
    EXPECT_EQ(sdp_of(reinv->msg.body).conn, "192.0.2.1");
    EXPECT_NE(reinv->msg.body.find("a=T38FaxUdpEC:t38UDPRedundancy"), std::string::npos) << "T.38 attributes pass";
    EXPECT_EQ(reinv->text.find("198.51.100.20"), std::string::npos) << "nothing of leg B leaks";
    EXPECT_EQ(relay_entries(), 6u) << "two more sides, no RTCP for UDPTL";
    EXPECT_EQ(b2b_->stats().streams_added, 1u);

    from_alice(bob_response(reinv->msg, 200, "OK", alice_fax_sdp, "", "<sip:alice@192.0.2.10:5060>"));
    out = take();
    const received* ok = find_response(out, core, 200);
    ASSERT_NE(ok, nullptr);
    const auto answered = m_lines(ok->msg.body);
    ASSERT_EQ(answered.size(), 2u);
    EXPECT_EQ(answered[0].second, 0u);
    const uint16_t b_image = answered[1].second;
    EXPECT_NE(b_image, 0u);
    EXPECT_EQ(sdp_of(ok->msg.body).conn, "198.51.100.1");
    // Fax from alice reaches bob's gateway and back.
    expect_relay(acc_addr, a_image, 41000, core_addr, b_image);
    expect_relay(core_addr, b_image, 31000, acc_addr, a_image);
    // The answer ended the audio (RFC 3264 8.2): its four sides and two port pairs go.
    EXPECT_EQ(relay_entries(), 2u) << "only the image's sides are left";
    EXPECT_EQ(table_->find(acc_addr, cs.a_port), nullptr);
    EXPECT_EQ(b2b_->stats().streams_removed, 1u);
    from_bob(bob_request("ACK", cs.b_invite->msg, 1, "z9hG4bKbobfaxack"));
    EXPECT_EQ(b2b_->active_calls(), 1u);
    const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
    const auto& listed = calls.get_child("calls");
    ASSERT_EQ(listed.size(), 1u);
    const auto& media = listed.begin()->second.get_child("media");
    ASSERT_EQ(media.size(), 2u);
    EXPECT_EQ(std::next(media.begin())->second.get<std::string>("type"), "image");
    EXPECT_EQ(std::next(media.begin())->second.get<unsigned>("a_port"), a_image);
    EXPECT_FALSE(std::next(media.begin())->second.get<bool>("rtcp"));
    EXPECT_TRUE(listed.begin()->second.get<bool>("t38"));

    // Back to voice (the audio enabled again, the image disabled): the audio gets relay ports
    // again, and once alice's answer agrees, the image's go.
    const std::string bob_voice = bob_sdp.substr(0, bob_sdp.find("m=")) +
                                  "m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\nm=image 0 udptl t38\r\n";
    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 2, "z9hG4bKbobvoice"), bob_voice));
    reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    const auto voice = m_lines(reinv->msg.body);
    ASSERT_EQ(voice.size(), 2u);
    EXPECT_EQ(voice[0].first, "audio");
    EXPECT_NE(voice[0].second, 0u);
    EXPECT_NE(voice[0].second, a_image);
    EXPECT_EQ(voice[1].second, 0u);
    EXPECT_EQ(relay_entries(), 6u) << "the audio anchored again beside the image";
    EXPECT_EQ(b2b_->stats().streams_added, 2u);
    const std::string alice_voice = alice_sdp + "m=image 0 udptl t38\r\n";
    from_alice(bob_response(reinv->msg, 200, "OK", alice_voice, "", "<sip:alice@192.0.2.10:5060>"));
    out = take();
    ok = find_response(out, core, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(m_lines(ok->msg.body).at(1).second, 0u);
    EXPECT_EQ(relay_entries(), 4u) << "the image's sides gone, the audio's with RTCP left";
    EXPECT_EQ(table_->find(acc_addr, a_image), nullptr);
    EXPECT_EQ(b2b_->stats().streams_removed, 2u);
    expect_relay(acc_addr, voice[0].second, 40000, core_addr, m_lines(ok->msg.body).at(0).second);
    from_bob(bob_request("ACK", cs.b_invite->msg, 2, "z9hG4bKbobvoiceack"));

    from_alice(alice_request("BYE", cs.a_tag, 2, "z9hG4bKalicebye"));
    take();
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u) << "the rest is released with the call";
    ASSERT_FALSE(cdrs_->recent().empty());
    const auto rec = json(cdrs_->recent().back());
    EXPECT_TRUE(rec.get<bool>("t38")) << "the record says the call carried fax";
    EXPECT_EQ(rec.get<std::string>("codec"), "PCMU") << "and what its voice was";
}

// alice's phone refuses bob's switch to fax (488): the session stays as it was (RFC 3264 8).
// The image stream the offer got relay ports for gives them back, the call is not marked as
// fax, bob's media goes back to his audio; his retry is anchored afresh.
TEST_F(media_change_test, a_refused_switch_to_t38_gives_the_image_streams_ports_back) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    ASSERT_EQ(relay_entries(), 4u);
    const auto calls_t38 = [this] {
        const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
        return calls.get_child("calls").begin()->second.get<bool>("t38");
    };

    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobfax"), bob_fax_sdp));
    auto reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    const uint16_t a_image = m_lines(reinv->msg.body).at(1).second;
    ASSERT_NE(a_image, 0u);
    EXPECT_EQ(relay_entries(), 6u);
    EXPECT_EQ(b2b_->stats().streams_added, 1u);

    from_alice(bob_response(reinv->msg, 488, "Not Acceptable Here"));
    auto out = take();
    ASSERT_NE(find_response(out, core, 488), nullptr) << "bob hears the refusal";
    EXPECT_EQ(relay_entries(), 4u) << "the image's sides are gone";
    EXPECT_EQ(table_->find(acc_addr, a_image), nullptr);
    EXPECT_EQ(b2b_->stats().streams_taken_back, 1u);
    EXPECT_EQ(b2b_->stats().streams_removed, 0u) << "no answer removed anything";
    EXPECT_FALSE(calls_t38()) << "no fax was agreed";
    // bob's audio is where his SDP before the offer said.
    const dp::media_side* bob_audio = table_->find(core_addr, cs.b_port);
    ASSERT_NE(bob_audio, nullptr);
    EXPECT_EQ(dp::endpoint_port(bob_audio->remote()), 30000);
    const auto listed = json("{\"calls\":" + b2b_->calls_json() + "}").get_child("calls");
    EXPECT_EQ(listed.begin()->second.get_child("media").size(), 1u) << "the appended m-line went too";

    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 2, "z9hG4bKbobfax2"), bob_fax_sdp));
    reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    EXPECT_NE(m_lines(reinv->msg.body).at(1).second, 0u) << "the retry is anchored again";
    EXPECT_EQ(relay_entries(), 6u);
    from_alice(bob_response(reinv->msg, 200, "OK", alice_fax_sdp, "", "<sip:alice@192.0.2.10:5060>"));
    out = take();
    ASSERT_NE(find_response(out, core, 200), nullptr);
    EXPECT_EQ(relay_entries(), 2u) << "now the audio goes, with the answer";
    EXPECT_TRUE(calls_t38());
    EXPECT_EQ(b2b_->stats().streams_added, 2u);
    EXPECT_EQ(b2b_->stats().streams_taken_back, 1u);
    from_alice(alice_request("BYE", cs.a_tag, 2, "z9hG4bKalicebye"));
    take();
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(media_change_test, t38_in_place_of_the_audio_keeps_the_streams_relay_ports) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    const std::string in_place = "v=0\r\no=bob 2000 2001 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\n"
                                 "t=0 0\r\nm=image 31000 udptl t38\r\na=T38FaxVersion:0\r\n";
    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobfax"), in_place));
    auto reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    const auto offered = m_lines(reinv->msg.body);
    ASSERT_EQ(offered.size(), 1u);
    EXPECT_EQ(offered[0], (std::pair<std::string, uint16_t>{"image", cs.a_port}));
    EXPECT_EQ(relay_entries(), 4u);
    expect_relay(core_addr, cs.b_port, 31000, acc_addr, cs.a_port);
}

TEST_F(media_change_test, an_offerless_reinvites_2xx_that_adds_t38_is_anchored_and_answered_in_the_ack) {
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobnooffer"));
    auto reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    EXPECT_TRUE(reinv->msg.body.empty());
    // alice's 200 carries the offer: T.38 appended.
    from_alice(bob_response(reinv->msg, 200, "OK", alice_fax_sdp, "", "<sip:alice@192.0.2.10:5060>"));
    auto out = take();
    const received* ok = find_response(out, core, 200);
    ASSERT_NE(ok, nullptr);
    const auto offered = m_lines(ok->msg.body);
    ASSERT_EQ(offered.size(), 2u);
    const uint16_t b_image = offered[1].second;
    EXPECT_NE(b_image, 0u);
    EXPECT_EQ(relay_entries(), 6u);
    // bob answers in his ACK; alice gets it with her leg's relay port.
    from_bob(with_body(bob_request("ACK", cs.b_invite->msg, 1, "z9hG4bKbobnoofferack"), bob_fax_sdp));
    out = take();
    const received* ack = find_request(out, acc, sip::method::ack);
    ASSERT_NE(ack, nullptr);
    const auto answered = m_lines(ack->msg.body);
    ASSERT_EQ(answered.size(), 2u);
    const uint16_t a_image = answered[1].second;
    EXPECT_NE(a_image, 0u);
    expect_relay(acc_addr, a_image, 41000, core_addr, b_image);
    expect_relay(core_addr, b_image, 31000, acc_addr, a_image);
}

TEST_F(media_change_test, a_stream_disabled_at_setup_is_anchored_when_a_reoffer_enables_it) {
    invite_opts o;
    o.body = alice_sdp + "m=video 0 RTP/AVP 96\r\n";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    ASSERT_EQ(m_lines(cs.b_invite->msg.body).at(1).second, 0u);
    EXPECT_EQ(relay_entries(), 4u);
    const std::string video = alice_sdp + "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKalicevideo"), video));
    auto reinv = invite_sent_to(take(), bob);
    ASSERT_NE(reinv, nullptr);
    const auto offered = m_lines(reinv->msg.body);
    ASSERT_EQ(offered.size(), 2u);
    EXPECT_EQ(offered[0].second, cs.b_port);
    EXPECT_NE(offered[1].second, 0u);
    EXPECT_EQ(relay_entries(), 8u) << "RTP video without rtcp-mux: RTP and RTCP on each leg";
    from_alice(alice_request("BYE", cs.a_tag, 3, "z9hG4bKalicebye"));
    take();
    ASSERT_FALSE(cdrs_->recent().empty());
    EXPECT_FALSE(json(cdrs_->recent().back()).get<bool>("t38")) << "video is not fax";
}

TEST_F(media_change_test, an_offer_adding_a_stream_while_a_transfer_rings_gets_491_and_the_call_stays) {
    call_state cs = transfer_rings_carol();
    ASSERT_TRUE(cs.b_invite != nullptr && to_carol_ != nullptr);
    const unsigned entries = relay_entries();

    const std::string fax = alice_sdp + "m=image 41000 udptl t38\r\n";
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKalicefax", transferring_.call_id), fax));
    auto out = take();
    EXPECT_NE(find_response(out, acc, 491), nullptr);
    EXPECT_EQ(find_request(out, core, sip::method::invite), nullptr) << "not relayed";
    EXPECT_EQ(relay_entries(), entries) << "nothing anchored";
    EXPECT_EQ(b2b_->stats().stream_offers_refused, 1u);
    EXPECT_EQ(b2b_->stats().glare_491, 0u) << "no glare: a transfer in progress";

    // carol answers: the transfer completes on the streams as they were.
    feed(core, carol, bob_response(to_carol_->msg, 200, "OK", carol_sdp, "caroltag"));
    out = take();
    EXPECT_NE(invite_sent_to(out, alice), nullptr) << "alice is re-INVITEd to carol";
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

TEST_F(media_change_test, an_offerless_reinvites_2xx_adding_a_stream_it_cannot_anchor_goes_on_declined) {
    // bob transfers alice to carol, who rings; meanwhile alice's offerless re-INVITE reaches bob,
    // whose 2xx offers T.38 appended. The offer cannot be refused (a 2xx): the image goes on
    // declined (port 0), and alice's answer in her ACK reaches bob with it declined too.
    call_state cs = transfer_rings_carol();
    ASSERT_TRUE(cs.b_invite != nullptr && to_carol_ != nullptr);
    const unsigned entries = relay_entries();

    from_alice(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKalicenooffer", transferring_.call_id));
    auto reinv = invite_sent_to(take(), bob);
    ASSERT_NE(reinv, nullptr);
    ASSERT_TRUE(reinv->msg.body.empty());
    from_bob(bob_response(reinv->msg, 200, "OK", bob_fax_sdp));
    auto out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr) << "the 2xx goes on";
    const auto offered = m_lines(ok->msg.body);
    ASSERT_EQ(offered.size(), 2u) << ok->msg.body;
    EXPECT_EQ(offered[1], (std::pair<std::string, uint16_t>{"image", 0})) << "declined: no relay port for it";
    EXPECT_EQ(relay_entries(), entries) << "nothing anchored";
    EXPECT_EQ(b2b_->stats().stream_offers_refused, 1u);

    from_alice(with_body(alice_request("ACK", cs.a_tag, 2, "z9hG4bKalicenoofferack", transferring_.call_id),
                         "v=0\r\no=alice 1000 1001 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
                         "m=audio 0 RTP/AVP 0\r\nm=image 0 udptl t38\r\n"));
    out = take();
    const received* ack = find_request(out, core, sip::method::ack);
    ASSERT_NE(ack, nullptr) << "bob's 2xx is ACKed with alice's answer";
    const auto answered = m_lines(ack->msg.body);
    ASSERT_EQ(answered.size(), 2u) << "the answer is passed on, not dropped";
    EXPECT_EQ(answered[1].second, 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

namespace {

const std::string video_line = "m=video 0 RTP/AVP 96\r\n";  // a declined (or removed) video stream

/// `sdp` with a video stream on `port` (0: declined) after its audio.
std::string with_video(const std::string& sdp, uint16_t port) {
    return sdp + "m=video " + std::to_string(port) + " RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
}

class removed_stream_test : public media_change_test {
protected:
    /// alice calls bob-trc with audio and video, bob answers both, then REFERs her to carol;
    /// carol answers with her video on `carol_video` (0: declined). Returns the re-INVITE
    /// alice gets (to move her media to carol), nullptr if none.
    std::unique_ptr<received> transfer_to_carol(call_state& cs, uint16_t carol_video) {
        invite_opts o = transferring_;
        o.body = with_video(alice_sdp, 40002);
        cs = start_call(o);
        if (cs.b_invite == nullptr) {
            return nullptr;
        }
        from_bob(bob_response(cs.b_invite->msg, 200, "OK", with_video(bob_sdp, 30002)));
        const auto answered = take();
        const received* ok = find_response(answered, acc, 200);
        EXPECT_NE(ok, nullptr);
        if (ok == nullptr) {
            return nullptr;
        }
        cs.a_tag = std::string(ok->msg.to.tag);
        from_alice(alice_request("ACK", cs.a_tag, 1, "z9hG4bKaliceack", o.call_id));
        take();
        EXPECT_EQ(relay_entries(), 8u) << "audio and video, RTP and RTCP, on each leg";
        from_bob(bob_refer(cs.b_invite->msg, "carol"));
        auto to_carol = invite_sent_to(take(), carol);
        EXPECT_NE(to_carol, nullptr);
        if (to_carol == nullptr) {
            return nullptr;
        }
        EXPECT_NE(m_lines(to_carol->msg.body).at(1).second, 0u) << "carol is offered alice's video";
        feed(core, carol, bob_response(to_carol->msg, 200, "OK", with_video(carol_sdp, carol_video), "caroltag"));
        return invite_sent_to(take(), alice);
    }
};

}  // namespace

// After a blind transfer the appliance re-INVITEs alice with carol's SDP; alice's answer is not
// passed on (carol has hers). When carol declined the video, alice's answer declines it too,
// and only then does the stream go: both parties agree.
TEST_F(removed_stream_test, a_stream_the_new_party_declined_goes_when_the_kept_party_answers) {
    call_state cs;
    auto reinv = transfer_to_carol(cs, 0);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(m_lines(reinv->msg.body).at(1).second, 0u) << "alice is offered carol's declined video";
    EXPECT_EQ(b2b_->stats().streams_removed, 0u) << "not before alice answers";
    from_alice(bob_response(reinv->msg, 200, "OK", alice_sdp + video_line, "", "<sip:alice@192.0.2.10:5060>"));
    take();
    EXPECT_EQ(b2b_->stats().streams_removed, 1u);
    EXPECT_EQ(relay_entries(), 4u) << "the audio's sides (alice's and carol's, RTP and RTCP) are left";
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// alice declines the video in her answer to our re-INVITE, but carol has it active: the stream
// keeps its ports (carol may still send on it), nothing is removed.
TEST_F(removed_stream_test, a_stream_the_other_party_still_has_keeps_its_ports) {
    call_state cs;
    auto reinv = transfer_to_carol(cs, 32002);
    ASSERT_NE(reinv, nullptr);
    EXPECT_NE(m_lines(reinv->msg.body).at(1).second, 0u) << "alice is offered carol's video";
    const unsigned entries = relay_entries();
    from_alice(bob_response(reinv->msg, 200, "OK", alice_sdp + video_line, "", "<sip:alice@192.0.2.10:5060>"));
    take();
    EXPECT_EQ(b2b_->stats().streams_removed, 0u);
    EXPECT_EQ(relay_entries(), entries);
}

// bob ends the video with a re-INVITE (port 0); the stream goes once alice's answer is in,
// not when the offer passes (a refused offer would leave the session as it was).
TEST_F(removed_stream_test, a_stream_a_reoffer_removes_goes_with_the_answer_not_the_offer) {
    invite_opts o;
    o.body = with_video(alice_sdp, 40002);
    call_state cs = start_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", with_video(bob_sdp, 30002)));
    const auto answered_call = take();
    const received* ok = find_response(answered_call, acc, 200);
    ASSERT_NE(ok, nullptr);
    cs.a_tag = std::string(ok->msg.to.tag);
    from_alice(alice_request("ACK", cs.a_tag, 1, "z9hG4bKaliceack"));
    take();
    ASSERT_EQ(relay_entries(), 8u);

    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobnovideo"), bob_sdp + video_line));
    auto reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(m_lines(reinv->msg.body).at(1).second, 0u);
    EXPECT_EQ(relay_entries(), 8u) << "the offer alone removes nothing";
    from_alice(bob_response(reinv->msg, 488, "Not Acceptable Here"));
    take();
    EXPECT_EQ(relay_entries(), 8u) << "refused: the session stays as it was";

    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 2, "z9hG4bKbobnovideo2"), bob_sdp + video_line));
    reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    from_alice(bob_response(reinv->msg, 200, "OK", alice_sdp + video_line, "", "<sip:alice@192.0.2.10:5060>"));
    const auto out = take();
    const received* answered = find_response(out, core, 200);
    ASSERT_NE(answered, nullptr);
    EXPECT_EQ(m_lines(answered->msg.body).at(1).second, 0u);
    EXPECT_EQ(relay_entries(), 4u);
    EXPECT_EQ(b2b_->stats().streams_removed, 1u);
    from_alice(alice_request("BYE", cs.a_tag, 2, "z9hG4bKalicebye"));
    take();
    EXPECT_EQ(relay_entries(), 0u);
}
