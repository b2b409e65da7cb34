// Codec and media type filtering (dial options co= and mt=, a provider's or account's `codecs`
// and `media_types`), in process: what each leg is offered and answered, a destination whose
// lists leave the caller nothing (not dialled: 488, or the next one), re-offers refused for want
// of a codec or a stream, and transfers, where the new party's co= replaces the leaving one's and
// the staying one's goes on.

#include "b2bua_fixture.hh"

namespace {

// alice's phone offers both G.711 laws, G.729 and DTMF events.
const std::string alice_multi_sdp =
    "v=0\r\n"
    "o=alice 1000 1000 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 18 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=sendrecv\r\n";

// bob's answer (and re-offer) in A-law.
std::string bob_sdp_with(const std::string& formats, const std::string& rtpmaps, unsigned version = 2000) {
    return "v=0\r\no=bob 2000 " + std::to_string(version) +
           " IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\nm=audio 30000 RTP/AVP " + formats +
           "\r\n" + rtpmaps + "a=sendrecv\r\n";
}

const std::string bob_alaw_sdp = bob_sdp_with("8 101", "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n");

// The formats of the first m-line.
std::string formats_of(std::string_view body) {
    sdp::session s;
    EXPECT_EQ(sdp::parse(body, s), sdp::parse_error::ok) << body;
    return s.n_media == 0 ? std::string() : std::string(s.streams[0].formats);
}

class codecs_test : public b2bua_test {
protected:
    /// alice (offering alice_multi_sdp) calls `user`; bob answers `bob_answer`; alice ACKs.
    call_state alaw_call(const std::string& user, const std::string& bob_answer = bob_alaw_sdp) {
        invite_opts o;
        o.user = user;
        o.body = alice_multi_sdp;
        call_state cs = start_call(o);
        if (!cs.b_invite) {
            return cs;
        }
        from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_answer));
        auto out = take();
        const received* ok = find_response(out, acc, 200);
        EXPECT_NE(ok, nullptr);
        if (ok != nullptr) {
            cs.a_tag = std::string(ok->msg.to.tag);
            alice_got_ = std::string(ok->msg.body);
        }
        from_alice(alice_request("ACK", cs.a_tag, 1, "z9hG4bKaliceack", o.call_id));
        take();
        return cs;
    }
    std::string alice_got_;  ///< the SDP of the 200 alice got
};

}  // namespace

TEST_F(codecs_test, each_leg_sees_only_what_the_destinations_co_allows) {
    call_state cs = alaw_call("bob-alaw");
    ASSERT_NE(cs.b_invite, nullptr);
    const std::string offered = std::string(cs.b_invite->msg.body);
    EXPECT_EQ(formats_of(offered), "8 101") << "PCMU and G.729 taken out, the offer's order kept";
    EXPECT_EQ(offered.find("G729"), std::string::npos) << "with their rtpmap and fmtp lines";
    EXPECT_EQ(offered.find("PCMU"), std::string::npos);
    EXPECT_NE(offered.find("a=fmtp:101 0-16"), std::string::npos) << "an allowed format's fmtp stays";
    EXPECT_EQ(sdp_of(offered).conn, "198.51.100.1") << "and still anchored";
    EXPECT_EQ(formats_of(alice_got_), "8 101");
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 0u);

    const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
    const auto& call = calls.get_child("calls").begin()->second;
    std::vector<std::string> b_codecs;
    for (const auto& [k, v] : call.get_child("b.codecs")) {
        b_codecs.push_back(v.get_value<std::string>());
    }
    EXPECT_EQ(b_codecs, (std::vector<std::string>{"PCMA", "telephone-event"}));
    EXPECT_TRUE(call.get_child("a.codecs").empty());

    // bob re-offers with PCMU first: alice is offered A-law only.
    const std::string bob_reoffer = bob_sdp_with("0 8 101",
                                                 "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                                                 "a=rtpmap:101 telephone-event/8000\r\n",
                                                 2001);
    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobre1"), bob_reoffer));
    auto reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(formats_of(reinv->msg.body), "8 101");
    from_alice(bob_response(reinv->msg, 200, "OK", alice_multi_sdp, "", "<sip:alice@192.0.2.10:5060>"));
    auto out = take();
    const received* ok = find_response(out, core, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(formats_of(ok->msg.body), "8 101")
        << "alice answered with her whole list (wrongly): bob still hears only what he may use";
    from_bob(bob_request("ACK", cs.b_invite->msg, 1, "z9hG4bKbobre1ack"));
    take();

    // A re-offer of PCMU (and DTMF events) alone has no codec bob's leg may use: 488, alice never hears of it.
    const std::string bob_ulaw = bob_sdp_with("0 101", "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
                                              2002);
    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 2, "z9hG4bKbobre2"), bob_ulaw));
    out = take();
    EXPECT_NE(find_response(out, core, 488), nullptr);
    EXPECT_EQ(count_request(out, acc, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 1u);
    from_bob(bob_request("ACK", cs.b_invite->msg, 2, "z9hG4bKbobre2"));
    take();
    EXPECT_EQ(b2b_->active_calls(), 1u) << "the call goes on as it was";

    from_alice(alice_request("BYE", cs.a_tag, 2, "z9hG4bKalicebye"));
    take();
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

TEST_F(codecs_test, a_destination_that_allows_none_of_the_callers_codecs_is_not_dialled) {
    // alice offers PCMU and DTMF events: bob-alaw could only answer 488, so he is not rung.
    invite_opts o;
    o.user = "bob-alaw";
    from_alice(alice_invite(o));
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_NE(find_response(out, acc, 488), nullptr) << "the best failure of the dial string";
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u) << "the relay ports went with the call";
}

TEST_F(codecs_test, the_next_destination_rings_when_one_allows_none_of_the_callers_codecs) {
    invite_opts o;
    o.user = "bob-alaw-or-carol";
    from_alice(alice_invite(o));
    auto out = take();
    auto to_carol = invite_sent_to(out, carol);
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(invite_sent_to(out, bob), nullptr);
    EXPECT_EQ(formats_of(to_carol->msg.body), "0 101") << "carol has no co=: alice's offer as it was";
    feed(core, carol, bob_response(to_carol->msg, 486, "Busy Here", {}, "caroltag"));
    out = take();
    EXPECT_NE(find_response(out, acc, 488), nullptr)
        << "both 4xx: the first of the class stands (RFC 3261 16.7), and it says why bob was not rung";
}

TEST_F(codecs_test, a_providers_codecs_apply_unless_the_dial_string_says_otherwise) {
    b2bua_config cfg = base_config();
    cfg.accounts = {trusted_account("desk", "192.0.2.10/32")};
    provider_config p;
    p.name = "alawtrunk";
    p.host = ip(198, 51, 100, 20);
    p.media.codecs = {"pcma", "telephone-event"};  // names are case-insensitive
    cfg.providers = {p};
    rebuild(cfg);
    const std::pair<std::string, std::string> cases[] = {
        {"1234@alawtrunk", "8 101"},
        {"1234@alawtrunk[co=G729/PCMU]", "18 0"},  // co= replaces the provider's list, in its order
        {"1234@198.51.100.20", "0 18 8 101"},      // the address alone is no provider
    };
    unsigned n = 0;
    for (const auto& [dial_string, want] : cases) {
        ASSERT_EQ(engine_->load_source("default", "co.lua", "sys.Dial(\"" + dial_string + "\")"), "");
        invite_opts o;
        o.body = alice_multi_sdp;
        o.call_id = "codecs-" + std::to_string(++n) + "@192.0.2.10";
        o.branch = "z9hG4bKcodecs" + std::to_string(n);
        call_state cs = start_call(o);
        ASSERT_NE(cs.b_invite, nullptr) << dial_string;
        EXPECT_EQ(formats_of(cs.b_invite->msg.body), want) << dial_string;
        from_bob(bob_response(cs.b_invite->msg, 486, "Busy Here"));
        take();
    }
    EXPECT_EQ(b2b_->active_calls(), 0u);
}

// co= is also a preference (RFC 3264 5.1: an m-line lists its formats in order of preference):
// an offer to the destination lists its codecs in co='s order. An answer keeps the answerer's
// order, so that both parties send the codec it put first; an offer to the caller, whose
// account has no list, keeps the offerer's.
TEST_F(codecs_test, co_orders_the_codecs_of_the_offers_its_party_gets_and_leaves_answers_as_they_are) {
    ASSERT_EQ(engine_->load_source("default", "co.lua",
                                   "sys.Dial(\"bob@198.51.100.20[co=PCMA/G729/PCMU/telephone-event]\")"),
              "");
    const std::string bob_g729 = bob_sdp_with("18 8 101",
                                              "a=rtpmap:18 G729/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                                              "a=rtpmap:101 telephone-event/8000\r\n",
                                              2001);
    call_state cs = alaw_call("bob", bob_g729);
    ASSERT_NE(cs.b_invite, nullptr);
    const std::string offered(cs.b_invite->msg.body);
    EXPECT_EQ(formats_of(offered), "8 18 0 101") << "alice offered 0 18 8 101";
    EXPECT_NE(offered.find("a=fmtp:18 annexb=no"), std::string::npos) << "every format's lines stay";
    EXPECT_EQ(formats_of(alice_got_), "18 8 101") << "bob's answer in bob's order";

    // alice re-offers (PCMU first again): bob gets it in his order; bob's answer, in his.
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKalicere"), alice_multi_sdp));
    auto reinv = invite_sent_to(take(), bob);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(formats_of(reinv->msg.body), "8 18 0 101");
    from_bob(bob_response(reinv->msg, 200, "OK", bob_g729));
    auto out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(formats_of(ok->msg.body), "18 8 101");
    from_alice(alice_request("ACK", cs.a_tag, 2, "z9hG4bKalicereack"));
    take();

    // bob re-offers: alice's leg has no list, so she gets his order.
    const std::string bob_ulaw_first = bob_sdp_with("0 8 101",
                                                    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                                                    "a=rtpmap:101 telephone-event/8000\r\n",
                                                    2002);
    from_bob(with_body(bob_request("INVITE", cs.b_invite->msg, 1, "z9hG4bKbobre"), bob_ulaw_first));
    reinv = invite_sent_to(take(), alice);
    ASSERT_NE(reinv, nullptr);
    EXPECT_EQ(formats_of(reinv->msg.body), "0 8 101");
    from_alice(alice_request("BYE", cs.a_tag, 3, "z9hG4bKalicebye"));
    take();
}

TEST_F(codecs_test, a_transfers_new_party_is_offered_what_its_co_allows_and_the_leaving_partys_goes) {
    call_state cs = alaw_call("bob-alaw-trc");
    ASSERT_NE(cs.b_invite, nullptr);
    // bob hands alice to carol-ulaw: carol's leg allows PCMU and DTMF events, bob's A-law goes with him.
    from_bob(bob_refer(cs.b_invite->msg, "carol-ulaw"));
    auto out = take();
    ASSERT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    auto to_carol = invite_sent_to(out, carol);
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(formats_of(to_carol->msg.body), "0 101") << "alice's own offer through carol's co=";
    feed(core, carol, bob_response(to_carol->msg, 200, "OK", carol_sdp, "caroltag", "<sip:carol@198.51.100.30:5060>"));
    out = take();
    auto reinv = invite_sent_to(out, alice);
    ASSERT_NE(reinv, nullptr) << "alice is re-INVITEd to carol";
    EXPECT_EQ(formats_of(reinv->msg.body), "0") << "PCMU, which bob's co= would have taken out";
    EXPECT_EQ(b2b_->stats().transfers_completed, 1u);
    const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
    EXPECT_EQ(calls.get_child("calls").begin()->second.get_child("b.codecs").begin()->second.get_value<std::string>(),
              "PCMU");
}

TEST_F(codecs_test, a_transfer_to_a_party_that_allows_none_of_the_staying_partys_codecs_is_refused) {
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);  // alice offers PCMU and DTMF events
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "carol-g729"));
    auto out = take();
    EXPECT_NE(find_response(out, core, 488, sip::method::refer), nullptr) << "carol could only answer 488";
    EXPECT_EQ(invite_sent_to(out, carol), nullptr);
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 1u);
    EXPECT_EQ(b2b_->stats().transfers_started, 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u) << "the call goes on with bob";
    EXPECT_EQ(relay_entries(), 4u) << "no half was opened for carol";
}

TEST_F(codecs_test, the_staying_partys_co_holds_for_the_new_party_too) {
    // bob answers with his whole list (PCMU too, which alice's offer had but his co= takes out).
    call_state cs = alaw_call("bob-alaw-trc", bob_sdp_with("8 0 101", "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
                                                                        "a=rtpmap:101 telephone-event/8000\r\n"));
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(formats_of(alice_got_), "8 101") << "alice never hears of bob's PCMU";
    // alice hands bob to carol, who has no co=: bob stays, and carol is offered what bob may use.
    std::string refer = alice_request("REFER", cs.a_tag, 2, "z9hG4bKalicerefer");
    refer.insert(refer.find("Content-Length"), "Refer-To: <sip:carol@192.0.2.1>\r\n");
    from_alice(refer);
    auto out = take();
    ASSERT_NE(find_response(out, acc, 202, sip::method::refer), nullptr);
    auto to_carol = invite_sent_to(out, carol);
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(formats_of(to_carol->msg.body), "8 101");
}

TEST_F(codecs_test, an_attended_transfer_joining_parties_without_a_common_codec_is_refused) {
    invite_opts o;
    o.user = "bob-trc";
    call_state cs = confirmed_call(o);  // call 1: alice, PCMU only
    ASSERT_NE(cs.b_invite, nullptr);
    // Call 2: bob calls carol-alaw (co=PCMA/telephone-event) in A-law; carol answers.
    const std::string carol_alaw_sdp = "v=0\r\no=carol 3000 3000 IN IP4 198.51.100.30\r\ns=-\r\n"
                                       "c=IN IP4 198.51.100.30\r\nt=0 0\r\nm=audio 32000 RTP/AVP 8\r\n"
                                       "a=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n";
    const std::string our_tag2 = bob_calls_carol(nullptr, "carol-alaw", bob_alaw_sdp, carol_alaw_sdp);
    ASSERT_FALSE(our_tag2.empty());
    ASSERT_EQ(b2b_->active_calls(), 2u);

    // bob joins alice (PCMU) and carol (A-law only): no codec both may use.
    from_bob(attended_refer(cs, our_tag2));
    const auto out = take();
    EXPECT_NE(find_response(out, core, 488, sip::method::refer), nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::bye), 0u) << "bob stays in both calls";
    EXPECT_EQ(count_request(out, acc, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->active_calls(), 2u);
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 1u);
    EXPECT_EQ(b2b_->stats().transfers_started, 0u);
}

TEST_F(codecs_test, early_media_goes_through_the_ringing_destinations_co) {
    invite_opts o;
    o.user = "bob-alaw";
    o.body = alice_multi_sdp;
    call_state cs = start_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    // bob's 183 names his whole list (as some gateways do): alice hears only of A-law.
    from_bob(bob_response(cs.b_invite->msg, 183, "Session Progress",
                          bob_sdp_with("0 8 101", "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
                                                  "a=rtpmap:101 telephone-event/8000\r\n")));
    auto out = take();
    const received* early = find_response(out, acc, 183);
    ASSERT_NE(early, nullptr);
    EXPECT_EQ(formats_of(early->msg.body), "8 101");
}

TEST_F(codecs_test, an_accounts_codecs_hold_the_callers_leg_whoever_it_calls) {
    b2bua_config cfg = base_config();
    account_config desk = trusted_account("desk", "192.0.2.10/32");
    desk.media.codecs = {"PCMA", "telephone-event"};
    cfg.accounts = {desk};
    rebuild(cfg);
    call_state cs = alaw_call("bob");  // bob has no co=: the caller's account decides
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(formats_of(cs.b_invite->msg.body), "8 101");
    EXPECT_EQ(formats_of(alice_got_), "8 101");
    const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
    EXPECT_EQ(calls.get_child("calls").begin()->second.get_child("a.codecs").size(), 2u);
    EXPECT_TRUE(calls.get_child("calls").begin()->second.get_child("b.codecs").empty());
    // A PCMU-only caller of that account rings nobody.
    invite_opts o;
    o.call_id = "alice-call-2@192.0.2.10";
    o.branch = "z9hG4bKalice2";
    from_alice(alice_invite(o));
    const auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_NE(find_response(out, acc, 488), nullptr);
}

// ------------------------------------------------------------------ media types (mt=)

namespace {

/// alice's phone with video: her usual audio and H.264 on 40002.
const std::string alice_video_sdp = alice_sdp + "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";

/// The port of each m-line of an SDP body, in order.
std::vector<uint16_t> ports_of(std::string_view body) {
    sdp::session s;
    EXPECT_EQ(sdp::parse(body, s), sdp::parse_error::ok) << body;
    std::vector<uint16_t> out;
    for (unsigned i = 0; i < s.n_media; ++i) {
        out.push_back(s.streams[i].port);
    }
    return out;
}

class media_types_test : public codecs_test {
protected:
    /// alice (with video) calls through a default dialplan that dials `dial_string`.
    call_state video_call_to(const std::string& dial_string, unsigned n = 1) {
        EXPECT_EQ(engine_->load_source("default", "mt.lua", "sys.Dial(\"" + dial_string + "\")"), "");
        invite_opts o;
        o.body = alice_video_sdp;
        o.call_id = "mt-" + std::to_string(n) + "@192.0.2.10";
        o.branch = "z9hG4bKmt" + std::to_string(n);
        return start_call(o);
    }
};

}  // namespace

TEST_F(media_types_test, a_destinations_mt_disables_the_streams_of_other_types_and_their_ports_go_back) {
    call_state cs = video_call_to("bob@198.51.100.20[mt=audio/image]");
    ASSERT_NE(cs.b_invite, nullptr);
    const auto offered = ports_of(cs.b_invite->msg.body);
    ASSERT_EQ(offered.size(), 2u);
    EXPECT_NE(offered[0], 0u) << "the audio as it was";
    EXPECT_EQ(offered[1], 0u) << "bob is offered the video disabled";
    EXPECT_NE(cs.b_invite->msg.body.find("H264"), std::string::npos) << "its m-line and attributes kept in place";
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 0u);

    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp + "m=video 0 RTP/AVP 96\r\n"));
    auto out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(ports_of(ok->msg.body), (std::vector<uint16_t>{ports_of(ok->msg.body).at(0), 0}));
    EXPECT_EQ(relay_entries(), 4u) << "the video anchored for alice's offer gave its ports back with the answer";
    EXPECT_EQ(b2b_->stats().streams_removed, 1u);
    const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
    const auto& b = calls.get_child("calls").begin()->second.get_child("b");
    ASSERT_EQ(b.get_child("media_types").size(), 2u);
    EXPECT_EQ(b.get_child("media_types").begin()->second.get_value<std::string>(), "audio");
    EXPECT_TRUE(calls.get_child("calls").begin()->second.get_child("a.media_types").empty());

    // A re-offer of video alone leaves bob nothing he may take: 488, nothing relayed.
    cs.a_tag = std::string(ok->msg.to.tag);
    from_alice(alice_request("ACK", cs.a_tag, 1, "z9hG4bKaliceack", "mt-1@192.0.2.10"));
    take();
    const std::string video_only =
        "v=0\r\no=alice 1000 1001 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        "m=audio 0 RTP/AVP 0\r\nm=video 40002 RTP/AVP 96\r\n";
    from_alice(with_body(alice_request("INVITE", cs.a_tag, 2, "z9hG4bKalicevid", "mt-1@192.0.2.10"), video_only));
    out = take();
    EXPECT_NE(find_response(out, acc, 488), nullptr);
    EXPECT_EQ(find_request(out, core, sip::method::invite), nullptr);
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 1u);
    EXPECT_EQ(relay_entries(), 4u) << "refused before anything was anchored";
}

TEST_F(media_types_test, a_destination_whose_mt_leaves_the_offer_nothing_is_not_dialled) {
    ASSERT_EQ(engine_->load_source("default", "mt.lua", "sys.Dial(\"bob@198.51.100.20[mt=image]\")"), "");
    invite_opts o;
    o.body = alice_video_sdp;
    from_alice(alice_invite(o));
    const auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u) << "a fax-only destination for a video call";
    EXPECT_NE(find_response(out, acc, 488), nullptr);
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 1u);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

TEST_F(media_types_test, a_providers_media_types_apply_and_a_dial_string_overrides_them_list_by_list) {
    b2bua_config cfg = base_config();
    cfg.accounts = {trusted_account("desk", "192.0.2.10/32")};
    provider_config p;
    p.name = "pstn";
    p.host = ip(198, 51, 100, 20);
    p.media.types = {"audio", "image"};
    cfg.providers = {p};
    rebuild(cfg);
    const std::pair<std::string, uint16_t> cases[] = {
        {"1234@pstn", 0},                   // the provider's: no video
        {"1234@pstn[co=PCMU]", 0},          // co= replaces the codecs only
        {"1234@pstn[mt=audio/video]", 1},   // mt= replaces the types
        {"1234@198.51.100.20", 1},          // the address alone is no provider
    };
    unsigned n = 0;
    for (const auto& [dial_string, video] : cases) {
        call_state cs = video_call_to(dial_string, ++n);
        ASSERT_NE(cs.b_invite, nullptr) << dial_string;
        EXPECT_EQ(ports_of(cs.b_invite->msg.body).at(1) != 0, video != 0) << dial_string;
        from_bob(bob_response(cs.b_invite->msg, 486, "Busy Here"));
        take();
    }
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(relay_entries(), 0u);
}

// The caller's account lists media types, the destination codecs: both hold, and an offer
// with no codec the destination allows is refused (the two lists are judged together).
TEST_F(media_types_test, an_accounts_media_types_and_a_destinations_codecs_hold_together) {
    b2bua_config cfg = base_config();
    account_config desk = trusted_account("desk", "192.0.2.10/32");
    desk.media.types = {"audio"};
    cfg.accounts = {desk};
    rebuild(cfg);
    call_state cs = video_call_to("bob@198.51.100.20[co=PCMU/telephone-event]");
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(ports_of(cs.b_invite->msg.body).at(1), 0u) << "the account allows no video";
    EXPECT_EQ(formats_of(cs.b_invite->msg.body), "0 101");
    from_bob(bob_response(cs.b_invite->msg, 486, "Busy Here"));
    take();

    ASSERT_EQ(engine_->load_source("default", "mt.lua", "sys.Dial(\"bob@198.51.100.20[co=PCMA]\")"), "");
    invite_opts o;
    o.body = alice_video_sdp;  // PCMU and DTMF events, and video
    o.call_id = "mt-pcma@192.0.2.10";
    from_alice(alice_invite(o));
    const auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u) << "no codec bob may take: not dialled";
    EXPECT_NE(find_response(out, acc, 488), nullptr);
    EXPECT_EQ(b2b_->stats().codec_offers_refused, 1u);
}
