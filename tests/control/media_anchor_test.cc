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
