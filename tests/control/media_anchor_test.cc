// media_anchor with a real relay table: a remote whose next-hop MAC the neighbour table lacks
// is resolved (ARP asked at once and once a second), filled when learnt, and forgotten with
// its side; sides that latched meanwhile need nothing.

#include "media_anchor.hh"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "control_eal.hh"
#include "rtcp_reports.hh"

using namespace sf::control;
namespace dp = sf::dp;
namespace sdp = sf::sdp;

namespace {

constexpr uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

const rte_ether_addr alice_mac{{0x02, 0xa1, 0, 0, 0, 0x10}};

class media_anchor_test : public ::testing::Test {
protected:
    void SetUp() override {
        static unsigned n = 0;
        table_ = std::make_unique<dp::relay_table>(("ma_relay_" + std::to_string(n++)).c_str(), 1024, 1, -1);
        std::vector<realm_info> realms(2);
        realms[0].name = "acc";
        realms[0].addr = ip(192, 0, 2, 1);
        realms[0].addr_text = "192.0.2.1";
        realms[0].prefix = 24;
        realms[1].name = "core";
        realms[1].addr = ip(198, 51, 100, 1);
        realms[1].addr_text = "198.51.100.1";
        realms[1].prefix = 24;
        realms[1].port_id = 1;
        anchor_ = std::make_unique<media_anchor>(
            *table_, realms, 20000, 20999,
            [this](unsigned realm, uint32_t addr) -> std::optional<rte_ether_addr> {
                if (known_.count({realm, addr}) != 0) {
                    return alice_mac;
                }
                return std::nullopt;
            },
            [this](unsigned realm, uint32_t addr) { asked_.emplace_back(realm, addr); });
    }
    void TearDown() override {
        anchor_.reset();
        table_.reset();
    }

    // alice's offer: media at 192.0.2.50, not her SIP address, so no neighbour entry yet.
    static sdp::session offer(const std::string& text) {
        sdp::session s;
        EXPECT_EQ(sdp::parse(text, s), sdp::parse_error::ok);
        return s;
    }
    const std::string offer_text = "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
                                   "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n";

    std::unique_ptr<dp::relay_table> table_;
    std::unique_ptr<media_anchor> anchor_;
    std::set<std::pair<unsigned, uint32_t>> known_;
    std::vector<std::pair<unsigned, uint32_t>> asked_;
};

}  // namespace

TEST_F(media_anchor_test, an_unknown_next_hop_is_asked_for_and_filled_when_learnt) {
    const std::string text = offer_text;  // the session keeps views into it
    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(text)));
    const dp::media_side* a = b.streams.at(0).a_rtp;
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(dp::endpoint_valid(a->remote()));
    EXPECT_FALSE(dp::mac_valid(a->remote_mac())) << "no MAC known yet: the side cannot send";
    ASSERT_EQ(asked_.size(), 1u) << "asked at once";
    EXPECT_EQ(asked_[0], std::make_pair(0u, ip(192, 0, 2, 50)));
    EXPECT_EQ(anchor_->waiting_for_neighbour(), 1u);

    anchor_->retry_neighbours(500);  // under a second: no new ARP, nothing learnt
    EXPECT_EQ(asked_.size(), 1u);
    anchor_->retry_neighbours(1500);  // a second later: asked again
    EXPECT_EQ(asked_.size(), 2u);

    known_.insert({0, ip(192, 0, 2, 50)});
    anchor_->retry_neighbours(1600, true);  // a neighbour was learnt: filled at once, no ARP
    EXPECT_EQ(asked_.size(), 2u);
    EXPECT_TRUE(dp::mac_valid(a->remote_mac()));
    EXPECT_EQ(anchor_->waiting_for_neighbour(), 0u);
    anchor_->close(b);
}

TEST_F(media_anchor_test, a_closed_or_latched_side_stops_waiting) {
    const std::string text = offer_text;
    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(text)));
    EXPECT_EQ(anchor_->waiting_for_neighbour(), 1u);
    anchor_->close(b);
    EXPECT_EQ(anchor_->waiting_for_neighbour(), 0u) << "no pointer to a side in its grace period";
    anchor_->retry_neighbours(5000);
    EXPECT_EQ(asked_.size(), 1u);

    media_bridge c;
    ASSERT_TRUE(anchor_->open(c, 0, 1, offer(text)));
    // The remote's first packet latched it (what a worker does): nothing more to find.
    dp::set_remote_mac(*c.streams.at(0).a_rtp, dp::pack_mac(alice_mac));
    anchor_->retry_neighbours(10000);
    EXPECT_EQ(anchor_->waiting_for_neighbour(), 0u);
    EXPECT_EQ(asked_.size(), 2u) << "one ARP when it opened, none after it latched";
    anchor_->close(c);
}

TEST_F(media_anchor_test, a_known_neighbour_needs_no_request) {
    known_.insert({0, ip(192, 0, 2, 50)});
    const std::string text = offer_text;
    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(text)));
    EXPECT_TRUE(dp::mac_valid(b.streams.at(0).a_rtp->remote_mac()));
    EXPECT_TRUE(asked_.empty());
    EXPECT_EQ(anchor_->waiting_for_neighbour(), 0u);
    anchor_->close(b);
}

// What a port announces by gratuitous ARP and what the relay's port pools are made of: its own
// address first (media_anchor::pool indexes on it), then each media address once, in order.
TEST(realm_info, addresses_are_the_port_then_its_media_range) {
    realm_info r;
    r.addr = 0xc0000201;  // 192.0.2.1
    EXPECT_EQ(r.addresses(), std::vector<uint32_t>{0xc0000201});
    r.media_first = 0xc0000240;  // 192.0.2.64 .. 66
    r.media_count = 3;
    EXPECT_EQ(r.addresses(), (std::vector<uint32_t>{0xc0000201, 0xc0000240, 0xc0000241, 0xc0000242}));
}

// ------------------------------------------------------------------ re-offers that add streams

namespace {

const std::string session_head = "v=0\r\no=alice 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n";

// The peer of `s` and where `s` sends (its remote), as a worker would relay.
uint16_t remote_port(const dp::media_side* s) {
    return dp::endpoint_port(s->remote());
}

}  // namespace

TEST_F(media_anchor_test, a_reoffer_appending_t38_gets_ports_on_both_legs_and_no_rtcp) {
    const std::string first = session_head + "m=audio 6000 RTP/AVP 0\r\n";
    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(first)));
    ASSERT_EQ(table_->size(), 4u) << "audio without rtcp-mux: RTP and RTCP on each leg";
    const uint16_t audio_a = b.streams[0].a_port, audio_b = b.streams[0].b_port;

    // bob (leg B) offers fax: the audio disabled, T.38 over UDPTL appended (RFC 3264 8.1).
    const std::string fax = "v=0\r\no=bob 1 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
                            "m=audio 0 RTP/AVP 0\r\nm=image 31000 udptl t38\r\na=T38FaxVersion:0\r\n";
    const sdp::session fax_offer = offer(fax);
    EXPECT_FALSE(anchor_->fits(b, fax_offer));
    EXPECT_TRUE(anchor_->adds_streams(b, fax_offer));
    ASSERT_TRUE(anchor_->add_streams(b, fax_offer, true));
    ASSERT_EQ(b.streams.size(), 2u);
    EXPECT_TRUE(anchor_->fits(b, fax_offer));
    EXPECT_FALSE(anchor_->adds_streams(b, fax_offer)) << "offered again (a retry): nothing more to add";
    const media_bridge::stream& image = b.streams[1];
    EXPECT_EQ(b.streams[0].a_port, audio_a) << "the audio stream keeps its ports";
    EXPECT_EQ(b.streams[0].b_port, audio_b);
    ASSERT_NE(image.a_rtp, nullptr);
    ASSERT_NE(image.b_rtp, nullptr);
    EXPECT_FALSE(image.rtcp);
    EXPECT_EQ(image.a_rtcp, nullptr) << "UDPTL has no RTCP";
    EXPECT_EQ(table_->size(), 6u);
    EXPECT_NE(image.a_port, audio_a);
    EXPECT_EQ(image.a_rtp->local_addr, b.a_addr) << "the leg's one relay address (one c= line)";
    EXPECT_EQ(image.b_rtp->local_addr, b.b_addr);
    EXPECT_EQ(table_->find(b.a_addr, image.a_port), image.a_rtp) << "published";
    EXPECT_EQ(table_->find(b.b_addr, image.b_port), image.b_rtp);
    EXPECT_EQ(image.a_rtp->peer(), image.b_rtp) << "what alice sends goes to bob, and back";
    EXPECT_EQ(image.b_rtp->peer(), image.a_rtp);
    EXPECT_EQ(remote_port(image.b_rtp), 31000) << "bob's side sends to the port he offered";
    EXPECT_FALSE(dp::endpoint_valid(image.a_rtp->remote())) << "alice's comes with her answer";
    EXPECT_TRUE(b.streams[1].continuable == false && b.streams[1].audio == false && !b.streams[1].reads_rtcp);

    const std::string answer = session_head + "m=audio 0 RTP/AVP 0\r\nm=image 41000 udptl t38\r\n";
    anchor_->apply_remote(b, false, offer(answer), true);
    EXPECT_EQ(remote_port(image.a_rtp), 41000);
    EXPECT_EQ(b.codec, "PCMU") << "the call's voice codec is the audio stream's";

    anchor_->close(b);
    EXPECT_EQ(table_->size(), 0u);
    EXPECT_EQ(anchor_->pairs_in_use(0), 0u) << "every port given back, the added stream's too";
    EXPECT_EQ(anchor_->pairs_in_use(1), 0u);
}

TEST_F(media_anchor_test, a_stream_disabled_at_setup_is_anchored_when_a_reoffer_enables_it) {
    const std::string first = session_head + "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\nm=video 0 RTP/AVP 96\r\n";
    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(first)));
    ASSERT_EQ(b.streams.size(), 2u);
    EXPECT_EQ(b.streams[1].a_port, 0u) << "disabled: no ports";
    EXPECT_FALSE(anchor_->adds_streams(b, offer(first)));

    const std::string video = session_head + "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\nm=video 6002 RTP/AVP 96\r\n";
    ASSERT_TRUE(anchor_->adds_streams(b, offer(video)));
    ASSERT_TRUE(anchor_->add_streams(b, offer(video), false));
    const media_bridge::stream& v = b.streams[1];
    ASSERT_NE(v.a_rtp, nullptr);
    ASSERT_NE(v.a_rtcp, nullptr) << "RTP without rtcp-mux: RTCP sides too";
    EXPECT_EQ(table_->find(b.a_addr, static_cast<uint16_t>(v.a_port + 1)), v.a_rtcp);
    EXPECT_EQ(remote_port(v.a_rtp), 6002) << "alice offered it";
    EXPECT_EQ(remote_port(v.a_rtcp), 6003);
    EXPECT_EQ(v.a_rtcp->peer(), v.b_rtcp);
    EXPECT_EQ(table_->size(), 2u + 4u);
    anchor_->close(b);
    EXPECT_EQ(anchor_->pairs_in_use(0), 0u);
}

TEST_F(media_anchor_test, a_stream_a_transfer_left_half_anchored_gets_its_other_half_when_enabled_again) {
    const std::string both =
        session_head + "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\nm=video 6002 RTP/AVP 96\r\na=rtcp-mux\r\n";
    media_bridge call;
    ASSERT_TRUE(anchor_->open(call, 0, 1, offer(both)));
    // alice disables her video (port 0): its sides stay.
    const std::string audio_only = session_head + "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\nm=video 0 RTP/AVP 96\r\n";
    anchor_->apply_remote(call, false, offer(audio_only), true);
    const uint16_t her_video = call.streams[1].a_port;
    // bob transfers her: the new party is offered her SDP, video disabled, so it has no video half.
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(audio_only)));
    anchor_->switch_over(call, next, true);
    ASSERT_NE(call.streams[1].a_rtp, nullptr);
    ASSERT_EQ(call.streams[1].b_rtp, nullptr);
    const uint32_t entries = table_->size();

    // She enables it again: the new party's half is made, hers kept (no side or port lost).
    ASSERT_TRUE(anchor_->adds_streams(call, offer(both)));
    ASSERT_TRUE(anchor_->add_streams(call, offer(both), false));
    anchor_->apply_remote(call, false, offer(both), true);  // as the B2BUA does next
    const media_bridge::stream& v = call.streams[1];
    EXPECT_EQ(v.a_port, her_video) << "her half stays";
    ASSERT_NE(v.b_rtp, nullptr);
    EXPECT_EQ(v.a_rtp->peer(), v.b_rtp);
    EXPECT_EQ(v.b_rtp->peer(), v.a_rtp);
    EXPECT_EQ(dp::endpoint_port(v.b_rtp->peer()->remote()), 6002);
    EXPECT_EQ(table_->size(), entries + 1);
    EXPECT_FALSE(anchor_->adds_streams(call, offer(both)));
    anchor_->close(call);
    EXPECT_EQ(anchor_->pairs_in_use(0), 0u) << "every port given back";
    EXPECT_EQ(anchor_->pairs_in_use(1), 0u);
}

// RFC 3264 6 and 8.2: a stream an answer leaves at port 0 is gone. Its ports go back to the
// pool and its sides leave the table; what it relayed stays in the call's counts.
TEST_F(media_anchor_test, a_stream_an_answer_removes_gives_its_ports_back_and_keeps_its_counts) {
    const std::string both = session_head + "m=audio 6000 RTP/AVP 0\r\nm=video 6002 RTP/AVP 96\r\n";
    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(both)));
    ASSERT_EQ(table_->size(), 8u) << "audio and video, each with RTCP, on each leg";
    ASSERT_EQ(anchor_->pairs_in_use(0), 2u);
    const uint16_t video_a = b.streams[1].a_port, video_b = b.streams[1].b_port;
    b.streams[1].a_rtp->rx_packets.store(30);  // alice's video, relayed before bob's answer
    b.streams[1].a_rtp->rx_bytes.store(30000);
    b.streams[0].a_rtp->rx_packets.store(10);
    const rtp_counts before = anchor_->a_to_b(b);
    ASSERT_EQ(before.packets, 40u);

    // bob answers the audio only. Answered to alice, his answer says so to both.
    const std::string audio_only = session_head + "m=audio 7000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n";
    anchor_->apply_remote(b, true, offer(audio_only));
    // Our own re-INVITE's answer, while the other party still has the video: it stays.
    const sdp::session alice_still = offer(both);
    EXPECT_EQ(anchor_->release_removed(b, offer(audio_only), &alice_still), 0u);
    EXPECT_EQ(table_->size(), 8u);
    EXPECT_EQ(anchor_->release_removed(b, offer(audio_only)), 1u);
    EXPECT_EQ(table_->size(), 4u) << "the video's four sides left the table";
    EXPECT_EQ(table_->find(b.a_addr, video_a), nullptr);
    EXPECT_EQ(table_->find(b.b_addr, video_b), nullptr);
    EXPECT_EQ(anchor_->pairs_in_use(0), 1u) << "its ports went back";
    EXPECT_EQ(anchor_->pairs_in_use(1), 1u);
    ASSERT_EQ(b.streams.size(), 2u) << "the m-line keeps its place";
    uint16_t ports[sdp::session::max_media];
    anchor_->ports_of(b, false, ports);
    EXPECT_EQ(ports[1], 0u) << "an SDP written now says port 0";
    EXPECT_EQ(anchor_->a_to_b(b).packets, 40u) << "what the video relayed still counts";
    EXPECT_EQ(anchor_->a_to_b(b).bytes, 30000u);
    EXPECT_EQ(anchor_->release_removed(b, offer(audio_only)), 0u) << "once";
    EXPECT_EQ(anchor_->release_removed(b, offer(both)), 0u) << "an answer with both active removes nothing";

    // A re-offer that enables the video again gets new ports; the counts go on from there.
    ASSERT_TRUE(anchor_->adds_streams(b, offer(both)));
    ASSERT_TRUE(anchor_->add_streams(b, offer(both), false));
    ASSERT_NE(b.streams[1].a_rtp, nullptr);
    EXPECT_EQ(table_->size(), 8u);
    b.streams[1].a_rtp->rx_packets.store(5);
    EXPECT_EQ(anchor_->a_to_b(b).packets, 45u);

    anchor_->close(b);
    EXPECT_EQ(table_->size(), 0u);
    EXPECT_EQ(anchor_->pairs_in_use(0), 0u);
    EXPECT_EQ(anchor_->pairs_in_use(1), 0u);
}

// RFC 3264 8: a refused offer leaves the session as it was. What add_streams made for it (an
// appended image stream, a video disabled until now; the half a transfer left missing) goes
// back; what it relayed meanwhile still counts; the bridge's t38 is as before.
TEST_F(media_anchor_test, streams_a_refused_offer_added_are_taken_back) {
    const std::string first = session_head + "m=audio 6000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n";
    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(first)));
    ASSERT_EQ(table_->size(), 4u);
    const std::string more = session_head +
                             "m=audio 6000 RTP/AVP 0\r\nm=video 6002 RTP/AVP 96\r\nm=image 6100 udptl t38\r\n";
    added_streams added;
    ASSERT_TRUE(anchor_->add_streams(b, offer(more), false, &added));
    ASSERT_EQ(added.streams.size(), 2u);
    EXPECT_EQ(added.had, 2u);
    EXPECT_TRUE(b.t38);
    EXPECT_EQ(table_->size(), 4u + 4u + 2u);
    EXPECT_EQ(anchor_->pairs_in_use(0), 3u);
    b.streams[1].a_rtp->rx_packets.store(7);  // early video from alice before the refusal
    b.streams[0].a_rtp->rx_packets.store(3);

    EXPECT_EQ(anchor_->take_back(b, added), 2u);
    EXPECT_EQ(table_->size(), 4u) << "the audio's sides only";
    EXPECT_EQ(anchor_->pairs_in_use(0), 1u);
    EXPECT_EQ(anchor_->pairs_in_use(1), 1u);
    ASSERT_EQ(b.streams.size(), 2u) << "the appended m-line goes, the video's keeps its place";
    EXPECT_EQ(b.streams[1].a_rtp, nullptr);
    EXPECT_FALSE(b.t38) << "no fax was ever agreed";
    EXPECT_EQ(anchor_->a_to_b(b).packets, 10u) << "what the video relayed still counts";
    EXPECT_EQ(anchor_->take_back(b, added), 0u) << "once";

    // Offered again: new ports, all of it. A transfer since (new halves): nothing is taken.
    ASSERT_TRUE(anchor_->add_streams(b, offer(more), false, &added));
    EXPECT_EQ(table_->size(), 10u);
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, b, true, 1, offer(more)));
    anchor_->switch_over(b, next, true);
    const uint32_t entries = table_->size();
    EXPECT_EQ(anchor_->take_back(b, added), 0u) << "the bridge's halves were replaced";
    EXPECT_EQ(table_->size(), entries);

    // A stream a transfer left with one half: only the half the offer made goes.
    const std::string audio_only = session_head + "m=audio 6000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n"
                                   "m=image 0 udptl t38\r\n";
    ASSERT_EQ(anchor_->release_removed(b, offer(audio_only)), 2u);
    const std::string video = session_head + "m=audio 6000 RTP/AVP 0\r\nm=video 6002 RTP/AVP 96\r\n"
                              "m=image 0 udptl t38\r\n";
    media_bridge half;
    ASSERT_TRUE(anchor_->open_replacement(half, b, true, 1, offer(audio_only)));
    anchor_->switch_over(b, half, true);
    ASSERT_TRUE(anchor_->add_streams(b, offer(video), false));  // alice's video, bob's half
    media_bridge half2;
    ASSERT_TRUE(anchor_->open_replacement(half2, b, true, 1, offer(audio_only)));
    anchor_->switch_over(b, half2, true);
    ASSERT_NE(b.streams[1].a_rtp, nullptr);
    ASSERT_EQ(b.streams[1].b_rtp, nullptr);
    dp::media_side* hers = b.streams[1].a_rtp;
    const uint32_t before = table_->size();
    ASSERT_TRUE(anchor_->add_streams(b, offer(video), false, &added));
    ASSERT_EQ(added.streams.size(), 1u);
    EXPECT_EQ(added.streams[0].a_rtp, nullptr) << "her half was there";
    EXPECT_EQ(anchor_->take_back(b, added), 1u);
    EXPECT_EQ(b.streams[1].a_rtp, hers) << "her half stays";
    EXPECT_EQ(b.streams[1].b_rtp, nullptr);
    EXPECT_EQ(hers->peer(), nullptr) << "relaying to nobody, as before";
    EXPECT_EQ(table_->size(), before);

    anchor_->close(b);
    EXPECT_EQ(table_->size(), 0u);
    EXPECT_EQ(anchor_->pairs_in_use(0), 0u);
    EXPECT_EQ(anchor_->pairs_in_use(1), 0u);
}

TEST_F(media_anchor_test, adding_streams_is_all_or_nothing_and_needs_an_open_bridge) {
    const std::string one = session_head + "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n";
    media_bridge closed;
    EXPECT_FALSE(anchor_->add_streams(closed, offer(one), false)) << "nothing anchored yet";
    EXPECT_TRUE(closed.streams.empty());

    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(one)));
    // Leave leg A's only relay address exactly one port pair.
    std::vector<media_bridge> fill;
    while (anchor_->pairs_capacity(0) - anchor_->pairs_in_use(0) > 1) {
        fill.emplace_back();
        ASSERT_TRUE(anchor_->open(fill.back(), 0, 1, offer(one))) << fill.size();
        ASSERT_LT(fill.size(), 1000u);
    }
    const uint32_t entries = table_->size();
    const std::string three = session_head + "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n"
                              "m=image 6100 udptl t38\r\nm=video 6200 RTP/AVP 96\r\na=rtcp-mux\r\n";
    EXPECT_FALSE(anchor_->add_streams(b, offer(three), false)) << "room for one of the two";
    EXPECT_EQ(b.streams.size(), 1u) << "the bridge as it was";
    EXPECT_EQ(table_->size(), entries) << "the stream that fitted was taken out again";
    EXPECT_EQ(anchor_->pairs_capacity(0) - anchor_->pairs_in_use(0), 1u) << "and its port given back";

    const std::string two = session_head + "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\nm=image 6100 udptl t38\r\n";
    EXPECT_TRUE(anchor_->add_streams(b, offer(two), false)) << "one fits";
    EXPECT_EQ(b.streams.size(), 2u);
    for (media_bridge& f : fill) {
        anchor_->close(f);
    }
    anchor_->close(b);
    EXPECT_EQ(anchor_->pairs_in_use(0), 0u);
    EXPECT_EQ(anchor_->pairs_in_use(1), 0u);
}

// ------------------------------------------------------------------ continuity across a transfer

namespace {

class media_anchor_continuity_test : public media_anchor_test {
protected:
    void SetUp() override {
        media_anchor_test::SetUp();
        known_.insert({0, ip(192, 0, 2, 50)});  // alice's media next hop: her sides can send
        known_.insert({1, ip(198, 51, 100, 20)});
        known_.insert({1, ip(198, 51, 100, 30)});
    }

    // alice (leg A) calls bob (leg B) with `media`; bob answers from 198.51.100.20.
    void call_bob(media_bridge& b, const std::string& media) {
        alice_text_ = "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n" + media;
        bob_text_ = "v=0\r\no=bob 1 1 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n" + media;
        ASSERT_TRUE(anchor_->open(b, 0, 1, offer(alice_text_)));
        anchor_->apply_remote(b, true, offer(bob_text_));
    }

    // What a worker leaves on a side that relayed an RTP stream up to (seq, ts).
    static void heard(dp::media_side* s, uint32_t ssrc, uint16_t seq, uint32_t ts) {
        s->rtp_expected.store(50);
        s->rtp_ssrc.store(ssrc);
        s->rtp_max_seq.store(seq);
        s->rtp_last_ts.store(ts);
    }

    static bool flagged(const dp::media_side* s) {
        dp::departure d;
        return s->read_departure(d) && d.port != dp::departure::nowhere && d.port >= dp::departure::continuing;
    }

    std::string alice_text_, bob_text_;
};

}  // namespace

TEST_F(media_anchor_continuity_test, the_new_party_is_held_until_the_switch_then_continues_the_old_stream) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0 101\r\na=rtcp-mux\r\n");
    ASSERT_TRUE(call.streams.at(0).continuable);
    dp::media_side* alice_side = call.streams[0].a_rtp;
    dp::media_side* bob_side = call.streams[0].b_rtp;
    heard(bob_side, 0xb0b0b, 4000, 80000);

    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_), true));
    dp::media_side* carol_side = next.streams.at(0).b_rtp;
    ASSERT_NE(carol_side, nullptr);
    EXPECT_EQ(carol_side->peer(), nullptr) << "carol's early media would interleave with bob's stream";
    EXPECT_EQ(bob_side->peer(), alice_side) << "alice hears bob until the switch";
    const std::string carol_text =
        "v=0\r\no=carol 1 1 IN IP4 198.51.100.30\r\ns=-\r\nc=IN IP4 198.51.100.30\r\nt=0 0\r\n"
        "m=audio 7000 RTP/AVP 0\r\na=rtcp-mux\r\n";
    anchor_->apply_remote(next, true, offer(carol_text));

    anchor_->switch_over(call, next, true);
    EXPECT_EQ(call.streams[0].b_rtp, carol_side);
    EXPECT_EQ(alice_side->peer(), carol_side);
    EXPECT_EQ(carol_side->peer(), alice_side);
    EXPECT_EQ(carol_side->cont_state.load(), dp::continuity::armed);
    EXPECT_EQ(carol_side->cont_ssrc.load(), 0xb0b0bu);
    EXPECT_EQ(carol_side->cont_seq.load(), 4001);
    EXPECT_EQ(carol_side->cont_ts.load(), 80000 + dp::continuity_seam_ts);
    EXPECT_TRUE(flagged(carol_side));
    // carol heard nothing before: alice's RTP leaves as it came, but her (muxed) reports name
    // the stream she hears, carol's renamed one: they are renamed back on their way.
    EXPECT_EQ(alice_side->cont_state.load(), dp::continuity::reports);
    EXPECT_TRUE(flagged(alice_side));
    EXPECT_FALSE(call.streams[0].continue_at_switch);
    anchor_->close(call);
}

TEST_F(media_anchor_continuity_test, a_continued_stream_switched_to_t38_in_place_leaves_as_it_came) {
    // An IVR hands the call to a fax server with continuous media; the server then re-offers
    // T.38 in the audio's place: its UDPTL must not be rewritten as if it were RTP.
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    heard(call.streams[0].b_rtp, 0xb0b0b, 4000, 80000);
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_), true));
    const std::string carol_text =
        "v=0\r\no=carol 1 1 IN IP4 198.51.100.30\r\ns=-\r\nc=IN IP4 198.51.100.30\r\nt=0 0\r\n"
        "m=audio 7000 RTP/AVP 0\r\na=rtcp-mux\r\n";
    anchor_->apply_remote(next, true, offer(carol_text));
    anchor_->switch_over(call, next, true);
    dp::media_side* alice_side = call.streams[0].a_rtp;
    dp::media_side* carol_side = call.streams[0].b_rtp;
    ASSERT_TRUE(flagged(carol_side));
    ASSERT_TRUE(flagged(alice_side));

    const std::string fax_text = "v=0\r\no=carol 1 2 IN IP4 198.51.100.30\r\ns=-\r\nc=IN IP4 198.51.100.30\r\n"
                                 "t=0 0\r\nm=image 7100 udptl t38\r\n";
    anchor_->apply_remote(call, true, offer(fax_text), true);
    EXPECT_FALSE(call.streams[0].continuable);
    EXPECT_FALSE(flagged(carol_side)) << "carol's UDPTL leaves as it came";
    EXPECT_FALSE(flagged(alice_side)) << "and alice's";
    EXPECT_EQ(carol_side->peer(), alice_side) << "still relayed to each other";
    EXPECT_EQ(alice_side->peer(), carol_side);
    EXPECT_EQ(dp::endpoint_port(carol_side->remote()), 7100);
    EXPECT_TRUE(call.t38);
    anchor_->close(call);
}

TEST_F(media_anchor_continuity_test, reports_on_rtcp_ports_are_held_then_renamed_with_the_stream) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\n");  // RTCP on its own ports
    dp::media_side* alice_rtp = call.streams[0].a_rtp;
    dp::media_side* alice_rtcp = call.streams[0].a_rtcp;
    ASSERT_NE(alice_rtcp, nullptr);
    heard(call.streams[0].b_rtp, 0xb0b0b, 4000, 80000);
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_), true));
    dp::media_side* carol_rtcp = next.streams.at(0).b_rtcp;
    ASSERT_NE(carol_rtcp, nullptr);
    EXPECT_EQ(carol_rtcp->peer(), nullptr) << "carol's reports would name a stream alice does not hear yet";
    EXPECT_EQ(call.streams[0].b_rtcp->peer(), alice_rtcp) << "bob's reports reach alice until the switch";
    anchor_->apply_remote(next, true,
                          offer("v=0\r\no=carol 1 1 IN IP4 198.51.100.30\r\ns=-\r\nc=IN IP4 198.51.100.30\r\n"
                                "t=0 0\r\nm=audio 7000 RTP/AVP 0\r\n"));
    anchor_->switch_over(call, next, true);
    EXPECT_EQ(carol_rtcp->peer(), alice_rtcp);
    EXPECT_EQ(alice_rtcp->peer(), carol_rtcp);
    for (const dp::media_side* s : {alice_rtcp, carol_rtcp}) {
        EXPECT_EQ(s->cont_state.load(), dp::continuity::reports) << "port " << s->local_port;
        EXPECT_TRUE(flagged(s)) << "port " << s->local_port;
    }
    EXPECT_EQ(alice_rtp->cont_state.load(), dp::continuity::off) << "no RTCP arrives at alice's RTP port";
    EXPECT_FALSE(flagged(alice_rtp));
    anchor_->close(call);
}

TEST_F(media_anchor_continuity_test, without_continuity_reports_pass_as_they_came) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\n");
    heard(call.streams[0].b_rtp, 0xb0b0b, 4000, 80000);
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_), false));
    dp::media_side* carol_rtcp = next.streams.at(0).b_rtcp;
    EXPECT_EQ(carol_rtcp->peer(), call.streams[0].a_rtcp) << "as carol's RTP: heard at once";
    anchor_->switch_over(call, next, true);
    for (const dp::media_side* s : {call.streams[0].a_rtcp, carol_rtcp}) {
        EXPECT_EQ(s->cont_state.load(), dp::continuity::off);
        EXPECT_FALSE(flagged(s));
    }
    anchor_->close(call);
}

TEST_F(media_anchor_continuity_test, a_second_transfer_goes_on_with_the_stream_alice_heard) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    heard(call.streams[0].b_rtp, 0xb0b0b, 4000, 80000);
    const std::string carol_text =
        "v=0\r\no=carol 1 1 IN IP4 198.51.100.30\r\ns=-\r\nc=IN IP4 198.51.100.30\r\nt=0 0\r\n"
        "m=audio 7000 RTP/AVP 0\r\na=rtcp-mux\r\n";
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_), true));
    anchor_->apply_remote(next, true, offer(carol_text));
    anchor_->switch_over(call, next, true);
    dp::media_side* carol_side = call.streams[0].b_rtp;
    // What a worker leaves once carol's packets 10..19 (her own numbering) went out as 4001..4010.
    heard(carol_side, 0xca201, 19, 1600 + 9 * 160);
    carol_side->cont_seq.store(static_cast<uint16_t>(4001 - 10));
    carol_side->cont_ts.store(80160 - 1600);
    carol_side->cont_state.store(dp::continuity::active);

    // carol transfers alice on to dave (the same address will do), also continuing.
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_), true));
    anchor_->apply_remote(next, true, offer(carol_text));
    dp::media_side* dave_side = next.streams.at(0).b_rtp;
    anchor_->switch_over(call, next, true);
    EXPECT_EQ(dave_side->cont_state.load(), dp::continuity::armed);
    EXPECT_EQ(dave_side->cont_ssrc.load(), 0xb0b0bu) << "alice still hears bob's SSRC, not carol's own";
    EXPECT_EQ(dave_side->cont_seq.load(), 4011) << "after carol's last packet as alice heard it";
    EXPECT_EQ(dave_side->cont_ts.load(), 80160 + 9 * 160 + dp::continuity_seam_ts);
    anchor_->close(call);
}

TEST_F(media_anchor_continuity_test, without_continuity_the_new_party_is_heard_at_once_as_itself) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\n");
    heard(call.streams[0].b_rtp, 0xb0b0b, 4000, 80000);
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_), false));
    dp::media_side* carol_side = next.streams.at(0).b_rtp;
    EXPECT_EQ(carol_side->peer(), call.streams[0].a_rtp) << "early media reaches alice";
    anchor_->switch_over(call, next, true);
    EXPECT_EQ(carol_side->cont_state.load(), dp::continuity::off);
    EXPECT_FALSE(flagged(carol_side));
    anchor_->close(call);
}

TEST_F(media_anchor_continuity_test, srtp_video_and_silence_are_not_continued) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/SAVP 0\r\na=rtcp-mux\r\nm=video 6002 RTP/AVP 96\r\na=rtcp-mux\r\n"
                   "m=audio 6004 rtp/avpf 0\r\na=rtcp-mux\r\n");
    EXPECT_FALSE(call.streams.at(0).continuable) << "SRTP authenticates the header and keys on the SSRC";
    EXPECT_FALSE(call.streams.at(1).continuable) << "a video marker ends a frame";
    EXPECT_TRUE(call.streams.at(2).continuable) << "RTP/AVPF, case aside";
    heard(call.streams[0].b_rtp, 1, 1, 1);
    heard(call.streams[1].b_rtp, 2, 2, 2);
    // Stream 2: bob sent nothing, so alice heard nothing to continue.
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_), true));
    EXPECT_NE(next.streams[0].b_rtp->peer(), nullptr);
    EXPECT_NE(next.streams[1].b_rtp->peer(), nullptr);
    EXPECT_EQ(next.streams[2].b_rtp->peer(), nullptr) << "held: continuable";
    std::vector<dp::media_side*> fresh;
    for (const auto& st : next.streams) {
        fresh.push_back(st.b_rtp);
    }
    anchor_->switch_over(call, next, true);
    for (size_t i = 0; i < fresh.size(); ++i) {
        EXPECT_EQ(fresh[i]->cont_state.load(), dp::continuity::off) << "stream " << i;
        EXPECT_EQ(fresh[i]->peer(), call.streams[i].a_rtp) << "stream " << i;
    }
    anchor_->close(call);
}

TEST_F(media_anchor_continuity_test, an_attended_transfer_continues_both_kept_parties_streams) {
    // Call 1: alice -> bob; call 2: bob -> carol (bob is leg A there). Bob joins alice and carol.
    media_bridge one, two;
    call_bob(one, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    const std::string bob_offer = "v=0\r\no=bob 2 1 IN IP4 192.0.2.60\r\ns=-\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\n"
                                  "m=audio 6100 RTP/AVP 0\r\na=rtcp-mux\r\n";
    const std::string carol_answer = "v=0\r\no=carol 1 1 IN IP4 198.51.100.30\r\ns=-\r\nc=IN IP4 198.51.100.30\r\n"
                                     "t=0 0\r\nm=audio 7000 RTP/AVP 0\r\na=rtcp-mux\r\n";
    ASSERT_TRUE(anchor_->open(two, 0, 1, offer(bob_offer)));
    anchor_->apply_remote(two, true, offer(carol_answer));
    dp::media_side* alice_side = one.streams[0].a_rtp;
    dp::media_side* carol_side = two.streams[0].b_rtp;
    heard(one.streams[0].b_rtp, 0xb0b01, 100, 1000);  // what alice heard from bob
    heard(two.streams[0].a_rtp, 0xb0b02, 200, 2000);  // what carol heard from bob

    anchor_->splice(one, true, two, false, true, true);
    EXPECT_EQ(alice_side->peer(), carol_side);
    EXPECT_EQ(carol_side->peer(), alice_side);
    EXPECT_EQ(carol_side->cont_ssrc.load(), 0xb0b01u) << "carol's packets continue bob's stream to alice";
    EXPECT_EQ(carol_side->cont_seq.load(), 101);
    EXPECT_EQ(alice_side->cont_ssrc.load(), 0xb0b02u) << "alice's packets continue bob's stream to carol";
    EXPECT_EQ(alice_side->cont_seq.load(), 201);
    EXPECT_TRUE(flagged(alice_side));
    EXPECT_TRUE(flagged(carol_side));
    anchor_->close(one);
}

TEST_F(media_anchor_continuity_test, each_call_of_an_attended_transfer_decides_for_its_own_party) {
    media_bridge one, two;
    call_bob(one, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    const std::string bob_offer = alice_text_;
    ASSERT_TRUE(anchor_->open(two, 0, 1, offer(bob_offer)));
    anchor_->apply_remote(two, true, offer(bob_text_));
    dp::media_side* alice_side = one.streams[0].a_rtp;
    dp::media_side* carol_side = two.streams[0].b_rtp;
    heard(one.streams[0].b_rtp, 0xb0b01, 100, 1000);
    heard(two.streams[0].a_rtp, 0xb0b02, 200, 2000);
    anchor_->splice(one, true, two, false, true, false);  // only call 1 (alice's) continues
    EXPECT_EQ(carol_side->cont_state.load(), dp::continuity::armed);
    // alice's RTP reaches carol as it came; her muxed reports name carol's renamed stream.
    EXPECT_EQ(alice_side->cont_state.load(), dp::continuity::reports);
    anchor_->close(one);
}

// ------------------------------------------------------------------ call quality from RTCP

namespace {

using sf::control::test::report_at;

class media_anchor_quality_test : public media_anchor_continuity_test {};

}  // namespace

TEST_F(media_anchor_quality_test, each_direction_gets_its_receivers_reports_and_round_trip) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 8\r\n");  // RTCP on its own sides (no rtcp-mux)
    const media_bridge::stream& st = call.streams.at(0);
    ASSERT_NE(st.a_rtcp, nullptr);
    EXPECT_EQ(call.codec, "PCMA");
    // bob's SR arrives at B's RTCP side at t = 1 s and is relayed to alice; alice's RR answers it
    // 30 ms after it left her (DLSR) and arrives at t = 1.1 s: alice's round trip is 70 ms.
    anchor_->note_rtcp(report_at(st.b_rtcp, 0xabcd0001, 0, 0, 0, 0, true), 1'000'000);
    anchor_->note_rtcp(report_at(st.a_rtcp, 0, 64, 160, 0xabcd0001, 30 * 65536 / 1000 + 1), 1'100'000);
    // bob reports too, twice, about alice's stream: no SR from alice, so no round trip for bob.
    anchor_->note_rtcp(report_at(st.b_rtcp, 0, 0, 40, 0, 0), 1'200'000);
    anchor_->note_rtcp(report_at(st.b_rtcp, 0, 0, 120, 0, 0), 1'300'000);
    EXPECT_EQ(anchor_->rtcp_read(), 4u);

    const rtcp_figures alice = anchor_->b_to_a(call).receiver;  // alice receives bob -> alice
    EXPECT_EQ(alice.reports, 1u);
    EXPECT_DOUBLE_EQ(*alice.loss_pct(), 25.0);
    EXPECT_DOUBLE_EQ(*alice.jitter_ms(), 20.0) << "160 units at 8 kHz";
    ASSERT_TRUE(alice.rtt_ms());
    EXPECT_NEAR(*alice.rtt_ms(), 70.0, 0.1);
    const rtcp_figures bob = anchor_->a_to_b(call).receiver;
    EXPECT_EQ(bob.reports, 2u);
    EXPECT_DOUBLE_EQ(*bob.loss_pct(), 0.0);
    EXPECT_DOUBLE_EQ(*bob.jitter_ms(), 10.0);
    EXPECT_FALSE(bob.rtt_ms());
    anchor_->close(call);
}

TEST_F(media_anchor_quality_test, a_report_that_crossed_the_next_sr_or_the_clocks_still_gives_a_round_trip) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    const media_bridge::stream& st = call.streams.at(0);
    // bob's SRs every second; alice's RR answering the first (10 ms after it left her) arrives
    // just after the second: the phones' timers in step, or two workers' rings out of order.
    anchor_->note_rtcp(report_at(st.b_rtp, 0x1001, 0, 0, 0, 0, true), 1'000'000);
    anchor_->note_rtcp(report_at(st.b_rtp, 0x2002, 0, 0, 0, 0, true), 2'000'000);
    anchor_->note_rtcp(report_at(st.a_rtp, 0, 0, 0, 0x1001, 10 * 65536 / 1000 + 1), 2'000'100);
    const rtcp_figures alice = anchor_->b_to_a(call).receiver;
    ASSERT_TRUE(alice.rtt_ms());
    EXPECT_NEAR(*alice.rtt_ms(), 990.1, 0.1) << "from the SR it answers, not the last one";
    // Four SRs later the first is forgotten: a report naming it gives no sample.
    for (uint32_t i = 3; i <= 6; ++i) {
        anchor_->note_rtcp(report_at(st.b_rtp, 0x1000 * i + i, 0, 0, 0, 0, true), i * 1'000'000);
    }
    anchor_->note_rtcp(report_at(st.a_rtp, 0, 0, 0, 0x1001, 0), 6'000'100);
    EXPECT_EQ(anchor_->b_to_a(call).receiver.rtt_samples, 1u);
    // A DLSR 0.4 ms longer than the appliance's clock saw pass (the two clocks' rates): a round
    // trip of about zero on a LAN, counted as 0; 20 ms longer is a broken report, not counted.
    const uint64_t first_us = anchor_->b_to_a(call).receiver.rtt_sum_us;
    anchor_->note_rtcp(report_at(st.a_rtp, 0, 0, 0, 0x6006, uint32_t{500'400ull * 65536 / 1'000'000}), 6'500'000);
    EXPECT_EQ(anchor_->b_to_a(call).receiver.rtt_samples, 2u);
    EXPECT_EQ(anchor_->b_to_a(call).receiver.rtt_sum_us, first_us) << "the second sample is 0";
    anchor_->note_rtcp(report_at(st.a_rtp, 0, 0, 0, 0x6006, uint32_t{520'000ull * 65536 / 1'000'000}), 6'500'000);
    EXPECT_EQ(anchor_->b_to_a(call).receiver.rtt_samples, 2u);
    anchor_->close(call);
}

TEST_F(media_anchor_quality_test, muxed_reports_arrive_at_the_rtp_sides) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    anchor_->note_rtcp(report_at(call.streams[0].b_rtp, 0x10, 128, 8, 0, 0), 5);
    EXPECT_EQ(anchor_->a_to_b(call).receiver.reports, 1u);
    EXPECT_DOUBLE_EQ(*anchor_->a_to_b(call).receiver.loss_pct(), 50.0);
    EXPECT_EQ(anchor_->b_to_a(call).receiver.reports, 0u);
    anchor_->close(call);
}

TEST_F(media_anchor_quality_test, srtcp_gone_sides_and_unanswered_srs_are_not_counted) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/SAVP 0\r\na=rtcp-mux\r\nm=audio 6002 RTP/AVP 0\r\na=rtcp-mux\r\n");
    anchor_->note_rtcp(report_at(call.streams[0].b_rtp, 0, 10, 10), 1);  // encrypted: noise
    EXPECT_EQ(anchor_->rtcp_ignored(), 1u);
    const media_bridge::stream& plain = call.streams[1];
    // alice's SR, then bob's RR naming an older SR: no round trip; one naming a later time than
    // its arrival allows (DLSR too long): none either.
    anchor_->note_rtcp(report_at(plain.a_rtp, 0x2000, 0, 0, 0, 0, true), 1'000'000);
    anchor_->note_rtcp(report_at(plain.b_rtp, 0, 0, 0, 0x1000, 0), 1'010'000);
    anchor_->note_rtcp(report_at(plain.b_rtp, 0, 0, 0, 0x2000, 65536), 1'010'000);
    const rtcp_figures bob = anchor_->a_to_b(call).receiver;
    EXPECT_EQ(bob.reports, 2u);
    EXPECT_FALSE(bob.rtt_ms());
    const dp::rtcp_event late = report_at(plain.b_rtp, 0, 0, 0);
    anchor_->close(call);
    anchor_->note_rtcp(late, 2'000'000);  // in flight while the call ended
    EXPECT_EQ(anchor_->rtcp_ignored(), 2u);
}

TEST_F(media_anchor_quality_test, a_transfer_keeps_the_kept_partys_figures_and_starts_the_new_ones) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    anchor_->note_rtcp(report_at(call.streams[0].a_rtp, 0, 26, 8), 1);  // alice about bob
    anchor_->note_rtcp(report_at(call.streams[0].b_rtp, 0, 0, 8), 2);   // bob about alice
    media_bridge next;
    ASSERT_TRUE(anchor_->open_replacement(next, call, true, 1, offer(alice_text_)));
    const std::string carol_text = "v=0\r\no=carol 1 1 IN IP4 198.51.100.30\r\ns=-\r\nc=IN IP4 198.51.100.30\r\n"
                                   "t=0 0\r\nm=audio 7000 RTP/AVP 18\r\na=rtcp-mux\r\n";
    anchor_->apply_remote(next, true, offer(carol_text));
    anchor_->switch_over(call, next, true);
    EXPECT_EQ(call.codec, "G729") << "carol's answer names the codec now";
    EXPECT_EQ(anchor_->b_to_a(call).receiver.reports, 1u) << "alice's reports go on";
    EXPECT_EQ(anchor_->a_to_b(call).receiver.reports, 0u) << "carol has reported nothing yet";
    anchor_->note_rtcp(report_at(call.streams[0].b_rtp, 0, 0, 8), 3);
    EXPECT_EQ(anchor_->a_to_b(call).receiver.reports, 1u);
    anchor_->close(call);
}

TEST_F(media_anchor_quality_test, only_audio_reports_make_the_calls_quality) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\nm=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                   "a=rtcp-mux\r\n");
    ASSERT_TRUE(call.streams.at(1).reads_rtcp);
    anchor_->note_rtcp(report_at(call.streams[1].b_rtp, 0, 128, 9000), 1);  // video: 50 % lost
    anchor_->note_rtcp(report_at(call.streams[0].b_rtp, 0, 0, 8), 1);
    const rtcp_figures bob = anchor_->a_to_b(call).receiver;
    EXPECT_EQ(bob.reports, 1u);
    EXPECT_DOUBLE_EQ(*bob.loss_pct(), 0.0);
    EXPECT_EQ(call.codec, "PCMU") << "the first audio stream's";
    anchor_->close(call);
}

TEST_F(media_anchor_quality_test, the_phones_own_mos_from_rtcp_xr_is_kept_apart) {
    media_bridge call;
    call_bob(call, "m=audio 6000 RTP/AVP 0\r\na=rtcp-mux\r\n");
    dp::rtcp_event ev = report_at(call.streams[0].b_rtp, 0, 0, 8);
    ev.report.has_voip_metrics = true;
    ev.report.xr_mos_cq = 39;  // conversational MOS 3.9
    ev.report.xr_mos_lq = 42;
    anchor_->note_rtcp(ev, 1);
    ev.report.xr_mos_cq = sf::rtcp::xr_unavailable;  // no conversational one: the listening one
    anchor_->note_rtcp(ev, 2);
    ev.report.xr_mos_lq = sf::rtcp::xr_unavailable;  // neither: not counted
    anchor_->note_rtcp(ev, 3);
    ev.report.xr_mos_lq = 51;                        // out of range: not counted
    anchor_->note_rtcp(ev, 4);
    const rtcp_figures bob = anchor_->a_to_b(call).receiver;
    EXPECT_EQ(bob.reports, 4u);
    EXPECT_EQ(bob.phone_reports, 2u);
    EXPECT_DOUBLE_EQ(*bob.phone_mos(), 4.05);
    EXPECT_FALSE(anchor_->b_to_a(call).receiver.phone_mos());
    anchor_->close(call);
}

// UDPTL past sequence number 32767 starts with a byte that reads as RTP version 2: the workers
// count its packets as RTP, its payload as sequence numbers. While the stream is T.38 its
// sides' RTP counts stand still, and what was made up meanwhile never comes back.
TEST_F(media_anchor_test, t38_in_the_audios_place_makes_up_no_rtp_loss) {
    const std::string audio = session_head + "m=audio 6000 RTP/AVP 0\r\n";
    media_bridge b;
    ASSERT_TRUE(anchor_->open(b, 0, 1, offer(audio)));
    dp::media_side* side = b.streams[0].a_rtp;  // what alice sends arrives here
    ASSERT_NE(side, nullptr);
    auto counted = [side](uint64_t rx, uint64_t non_rtp, uint64_t expected) {
        side->rx_packets.store(rx);
        side->non_rtp.store(non_rtp);
        side->rtp_expected.store(expected);
    };
    counted(100, 0, 102);  // voice: 100 of 102 arrived
    EXPECT_EQ(anchor_->a_to_b(b).lost(), 2u);

    // Fax in the audio's place (the same ports), then UDPTL whose bookkeeping makes up loss.
    const std::string fax = session_head + "m=image 6000 udptl t38\r\n";
    anchor_->apply_remote(b, false, offer(fax), true);
    counted(100 + 400, 150, 102 + 9000);  // 150 read as not RTP, 250 as "RTP" with wild seqs
    rtp_counts c = anchor_->a_to_b(b);
    EXPECT_EQ(c.packets, 500u) << "every packet relayed is counted";
    EXPECT_EQ(c.rtp_expected, 102u);
    EXPECT_EQ(c.rtp_received, 100u);
    EXPECT_EQ(c.lost(), 2u) << "the voice's loss, nothing made up";

    // Back to voice: counting goes on from there, without the fax's made-up span.
    anchor_->apply_remote(b, false, offer(audio), true);
    counted(500 + 50, 150, 102 + 9000 + 51);  // 50 of 51 more
    c = anchor_->a_to_b(b);
    EXPECT_EQ(c.rtp_expected, 102u + 51u);
    EXPECT_EQ(c.rtp_received, 100u + 50u);
    EXPECT_EQ(c.lost(), 3u);

    // The side's slot goes back to the table with the call; a new call there starts afresh.
    anchor_->close(b);
    media_bridge again;
    ASSERT_TRUE(anchor_->open(again, 0, 1, offer(audio)));
    EXPECT_EQ(anchor_->a_to_b(again).rtp_expected, again.streams[0].a_rtp->rtp_expected.load());
    anchor_->close(again);
}
