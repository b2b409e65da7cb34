// An RTCP report as Homer's type-5 JSON (control/hep_rtcp.hh): every field the workers read, in
// the names Homer's capture agent uses, read back with Boost.PropertyTree's JSON parser.

#include "hep_rtcp.hh"

#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <sstream>

using namespace sf::control;
namespace pt = boost::property_tree;
namespace rtcp = sf::rtcp;

namespace {

pt::ptree parsed(const std::string& json) {
    pt::ptree t;
    std::istringstream in(json);
    pt::read_json(in, t);
    return t;
}

rtcp::report sender_report() {
    rtcp::report r;
    r.sender_ssrc = 0xa1b2c3d4;
    r.sender_report = true;
    r.sr_ntp_sec = 0xe9a1b2c3;
    r.sr_ntp_fraction = 0x80000000;  // half a second
    r.sr_rtp_ts = 0x11111111;
    r.sr_packets = 500;
    r.sr_octets = 80000;
    r.report_count = 2;
    r.has_block = true;
    r.source_ssrc = 0x0badf00d;
    r.fraction_lost = 64;
    r.cumulative_lost = -3;
    r.highest_seq = 0x00012345;
    r.jitter = 80;
    r.lsr = 0x7e809abc;
    r.dlsr = 65536;
    return r;
}

}  // namespace

TEST(hep_rtcp, a_sender_report_with_its_block) {
    const pt::ptree t = parsed(rtcp_report_json(sender_report()));
    EXPECT_EQ(t.get<uint64_t>("ssrc"), 0xa1b2c3d4u);
    EXPECT_EQ(t.get<unsigned>("type"), 200u);
    EXPECT_EQ(t.get<unsigned>("report_count"), 2u) << "what the packet had; the first is read";
    EXPECT_EQ(t.get<uint64_t>("sender_information.ntp_timestamp_sec"), 0xe9a1b2c3u);
    EXPECT_EQ(t.get<uint64_t>("sender_information.ntp_timestamp_usec"), 500000u);
    EXPECT_EQ(t.get<uint64_t>("sender_information.rtp_timestamp"), 0x11111111u);
    EXPECT_EQ(t.get<uint64_t>("sender_information.packets"), 500u);
    EXPECT_EQ(t.get<uint64_t>("sender_information.octets"), 80000u);
    const pt::ptree& blocks = t.get_child("report_blocks");
    ASSERT_EQ(blocks.size(), 1u);
    const pt::ptree& b = blocks.front().second;
    EXPECT_EQ(b.get<uint64_t>("source_ssrc"), 0x0badf00du);
    EXPECT_EQ(b.get<unsigned>("fraction_lost"), 64u);
    EXPECT_EQ(b.get<int>("packets_lost"), -3) << "cumulative loss is signed (duplicates)";
    EXPECT_EQ(b.get<uint64_t>("highest_seq_no"), 0x12345u);
    EXPECT_EQ(b.get<uint64_t>("ia_jitter"), 80u);
    EXPECT_EQ(b.get<uint64_t>("lsr"), 0x7e809abcu);
    EXPECT_EQ(b.get<uint64_t>("dlsr"), 65536u);
    EXPECT_FALSE(t.get_child_optional("report_blocks_xr")) << "no XR in this compound";
}

TEST(hep_rtcp, a_receiver_report_without_blocks_has_no_sender_information) {
    rtcp::report r;
    r.sender_ssrc = 0xffffffff;
    const std::string json = rtcp_report_json(r);
    EXPECT_EQ(json, R"({"ssrc":4294967295,"type":201,"report_count":0,"report_blocks":[]})");
    const pt::ptree t = parsed(json);
    EXPECT_FALSE(t.get_child_optional("sender_information"));
}

TEST(hep_rtcp, xr_voip_metrics_leave_out_what_the_phone_did_not_compute) {
    rtcp::report r = sender_report();
    r.has_voip_metrics = true;
    r.xr_loss_rate = 12;
    r.xr_discard_rate = 3;
    r.xr_round_trip_ms = 150;
    r.xr_r_factor = 90;
    r.xr_mos_lq = rtcp::xr_unavailable;
    r.xr_mos_cq = 41;
    const pt::ptree t = parsed(rtcp_report_json(r));
    const pt::ptree& xr = t.get_child("report_blocks_xr");
    EXPECT_EQ(xr.get<unsigned>("type"), 7u);
    EXPECT_EQ(xr.get<unsigned>("fraction_lost"), 12u);
    EXPECT_EQ(xr.get<unsigned>("fraction_discard"), 3u);
    EXPECT_EQ(xr.get<unsigned>("round_trip_delay"), 150u);
    EXPECT_EQ(xr.get<unsigned>("r_factor"), 90u);
    EXPECT_EQ(xr.get<unsigned>("mos_cq"), 41u) << "MOS x 10, as on the wire";
    EXPECT_FALSE(xr.get_optional<unsigned>("mos_lq")) << "127: not computed";
}

TEST(hep_rtcp, extreme_values_stay_numbers) {
    rtcp::report r = sender_report();
    r.sr_ntp_fraction = 0xffffffff;
    r.sr_packets = r.sr_octets = r.jitter = r.dlsr = 0xffffffff;
    r.cumulative_lost = -8388608;  // the 24-bit minimum
    const pt::ptree t = parsed(rtcp_report_json(r));
    EXPECT_EQ(t.get<uint64_t>("sender_information.ntp_timestamp_usec"), 999999u) << "below a whole second";
    EXPECT_EQ(t.get<uint64_t>("sender_information.packets"), 0xffffffffu);
    EXPECT_EQ(t.get_child("report_blocks").front().second.get<int>("packets_lost"), -8388608);
}
