// control/hep_exporter.hh over a real UDP socket on loopback: copies arrive as HEPv3 packets
// with the message, its addresses and the time; an uncommitted copy never leaves; a full queue
// flushes itself; a reload moves to another collector; off means no socket and no copies.

#include "hep_exporter.hh"


#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "hep_reader.hh"

using namespace sf::control;
using sf::test::read_hep;
using sf::test::udp_collector;

namespace {

constexpr uint32_t loopback = 0x7f000001;

hep_config to(const udp_collector& c, const std::string& password = "") {
    hep_config h;
    h.collector_addr = loopback;
    h.collector_port = c.port();
    h.capture_id = 7;
    h.password = password;
    return h;
}

uint64_t now_us() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
}

const sip_addr alice{0xc000020a, 5060}, sbc{0xc0000201, 5060};

}  // namespace

TEST(hep_exporter, off_without_a_collector) {
    hep_exporter h(hep_config{});
    EXPECT_FALSE(h.enabled());
    EXPECT_EQ(h.begin(alice, sbc, 10), nullptr);
    h.copy(alice, sbc, "OPTIONS");
    EXPECT_EQ(h.flush(), 0u);
    EXPECT_EQ(h.stats().queued, 0u);
}

TEST(hep_exporter, a_copy_arrives_with_the_message_its_addresses_and_the_time) {
    udp_collector c;
    hep_exporter h(to(c, "s3cret"));
    ASSERT_TRUE(h.enabled());
    const std::string msg = "OPTIONS sip:192.0.2.1 SIP/2.0\r\nCall-ID: x@192.0.2.10\r\n\r\n";
    const uint64_t before = now_us();
    h.copy(alice, sbc, msg);
    const uint64_t after = now_us();
    EXPECT_EQ(h.queued(), 1u);
    EXPECT_EQ(h.flush(), 1u);
    const auto got = c.take();
    ASSERT_EQ(got.size(), 1u);
    const auto p = read_hep(got[0]);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->chunks.at(0x000f), msg);
    EXPECT_EQ(p->u32(0x0003), alice.addr);
    EXPECT_EQ(p->u32(0x0007), alice.port);
    EXPECT_EQ(p->u32(0x0004), sbc.addr);
    EXPECT_EQ(p->u32(0x0008), sbc.port);
    EXPECT_EQ(p->u32(0x000c), 7u);
    EXPECT_EQ(p->chunks.at(0x000e), "s3cret");
    const uint64_t t = uint64_t{p->u32(0x0009)} * 1'000'000 + p->u32(0x000a);
    EXPECT_GE(t, before);
    EXPECT_LE(t, after);
    EXPECT_EQ(h.stats().queued, 1u);
    EXPECT_EQ(h.stats().sent, 1u);
}

TEST(hep_exporter, an_rtcp_report_goes_as_type_5_linked_to_its_call) {
    udp_collector c;
    hep_exporter h(to(c));
    const std::string json = R"({"ssrc":1,"type":201,"report_count":0,"report_blocks":[]})";
    const sip_addr phone{0xc000020a, 40002}, relay{0xc0000201, 20001};
    h.copy_rtcp(phone, relay, 1'796'550'000'123'456, "alice-call-1@192.0.2.10", json);
    EXPECT_EQ(h.flush(), 1u);
    const auto got = c.take();
    ASSERT_EQ(got.size(), 1u);
    const auto p = read_hep(got[0]);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->chunks.at(0x000f), json);
    EXPECT_EQ(p->u32(0x000b), 5u) << "HEP protocol type 5: RTCP as JSON";
    EXPECT_EQ(p->chunks.at(0x0011), "alice-call-1@192.0.2.10") << "the correlation id: its leg's Call-ID";
    EXPECT_EQ(p->u32(0x0003), phone.addr);
    EXPECT_EQ(p->u32(0x0007), phone.port);
    EXPECT_EQ(p->u32(0x0004), relay.addr);
    EXPECT_EQ(p->u32(0x0008), relay.port);
    EXPECT_EQ(p->u32(0x0009), 1'796'550'000u) << "the time it arrived, not when it was sent on";
    EXPECT_EQ(p->u32(0x000a), 123'456u);
    EXPECT_EQ(h.stats().rtcp, 1u);
    EXPECT_EQ(h.stats().queued, 1u);
    // Without a call to link it to: no correlation chunk.
    h.copy_rtcp(phone, relay, 1'796'550'000'000'000, "", json);
    h.flush();
    const auto again = c.take();
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(read_hep(again[0])->chunks.count(0x0011), 0u);
}

TEST(hep_exporter, a_copy_begun_and_not_committed_never_leaves) {
    udp_collector c;
    hep_exporter h(to(c));
    char* p = h.begin(alice, sbc, 5);
    ASSERT_NE(p, nullptr);
    std::memcpy(p, "first", 5);  // its send failed: no commit
    p = h.begin(sbc, alice, 6);
    std::memcpy(p, "second", 6);
    h.commit();
    p = h.begin(alice, sbc, 5);
    std::memcpy(p, "third", 5);  // begun before a flush, never committed
    EXPECT_EQ(h.flush(), 1u);
    h.commit();  // too late: the flush forgot it
    EXPECT_EQ(h.flush(), 0u);
    const auto got = c.take();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(read_hep(got[0])->chunks.at(0x000f), "second");
    EXPECT_EQ(h.stats().queued, 1u);
}

TEST(hep_exporter, more_than_a_batch_flushes_itself_in_order) {
    udp_collector c;
    hep_exporter h(to(c));
    const size_t n = hep_exporter::batch * 3 + 5;
    for (size_t i = 0; i < n; ++i) {
        h.copy(alice, sbc, "MESSAGE " + std::to_string(i));
    }
    EXPECT_EQ(h.queued(), 5u);  // three full batches went when the queue filled
    h.flush();
    const auto got = c.take();
    ASSERT_EQ(got.size(), n);
    for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(read_hep(got[i])->chunks.at(0x000f), "MESSAGE " + std::to_string(i));
    }
    EXPECT_EQ(h.stats().sent, n);
    EXPECT_EQ(h.stats().dropped_busy + h.stats().dropped_error, 0u);
}

TEST(hep_exporter, a_message_too_big_for_hep_is_counted_not_sent) {
    udp_collector c;
    hep_exporter h(to(c));
    h.copy(alice, sbc, std::string(65535, 'x'));
    h.copy(alice, sbc, "small");
    h.flush();
    const auto got = c.take();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(read_hep(got[0])->chunks.at(0x000f), "small");
    EXPECT_EQ(h.stats().too_big, 1u);
    // The largest SIP datagram the dataplane passes (65507 octets) does fit.
    h.copy(alice, sbc, std::string(65507 - 200, 'y'));
    h.flush();
    EXPECT_EQ(c.take().size(), 1u);
}

TEST(hep_exporter, a_reload_sends_what_is_queued_to_the_old_collector_first) {
    udp_collector first, second;
    hep_exporter h(to(first));
    h.copy(alice, sbc, "before");
    h.reconfigure(to(second));
    h.copy(alice, sbc, "after");
    h.flush();
    auto a = first.take(), b = second.take();
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(read_hep(a[0])->chunks.at(0x000f), "before");
    EXPECT_EQ(read_hep(b[0])->chunks.at(0x000f), "after");
    // Off: nothing more anywhere.
    h.reconfigure(hep_config{});
    EXPECT_FALSE(h.enabled());
    h.copy(alice, sbc, "never");
    h.flush();
    EXPECT_TRUE(first.take(50).empty());
    EXPECT_TRUE(second.take(50).empty());
}
