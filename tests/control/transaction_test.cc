// RFC 3261 section 17 transactions: the layer driven by a fake clock and a real
// timer queue; the "wire" is a send function that records every datagram.

#include "transaction.hh"

#include "control_eal.hh"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sip/sip_message.hh"

using namespace sf::control;
using sf::control::test::test_pool;
namespace sip = sf::sip;

namespace {

/// A request as the B2BUA would hand it over: written into the test pool's mbufs.
sip_wire wire(std::string_view text) {
    sip_writer w(test_pool());
    w.append(text);
    return w.finish();
}

constexpr uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

const sip_addr bob{ip(198, 51, 100, 20), 5060};
const sip_addr alice{ip(192, 0, 2, 10), 5062};  // alice's source port differs from her Via port

struct datagram {
    unsigned realm;
    sip_addr to;
    std::string text;
};

// A received message: the text and the parse that points into it.
struct received {
    std::string text;
    sip::message msg;
    inbound in;
};

std::unique_ptr<received> make_inbound(std::string text, unsigned realm, sip_addr source) {
    auto r = std::make_unique<received>();
    r->text = std::move(text);
    const auto err = sip::parse(r->text, r->msg);
    EXPECT_EQ(err, sip::parse_error::ok) << sip::to_string(err) << "\n" << r->text;
    r->in = inbound{realm, source, &r->msg, r->text};
    return r;
}

std::string request(std::string_view method, std::string_view branch, unsigned cseq, std::string_view to_tag = {},
                    std::string_view cseq_method = {}, std::string_view call_id = "tx-call@192.0.2.10") {
    std::string s;
    s.append(method).append(" sip:bob@198.51.100.20:5060 SIP/2.0\r\n");
    s.append("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=").append(branch).append("\r\n");
    s.append("Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKinner\r\n");
    s.append("Max-Forwards: 70\r\n");
    s.append("From: \"Alice\" <sip:alice@192.0.2.10>;tag=alicetag\r\n");
    s.append("To: <sip:bob@198.51.100.20>");
    if (!to_tag.empty()) {
        s.append(";tag=").append(to_tag);
    }
    s.append("\r\n");
    s.append("Call-ID: ").append(call_id).append("\r\n");
    s.append("CSeq: ").append(std::to_string(cseq)).append(" ");
    s.append(cseq_method.empty() ? method : cseq_method).append("\r\n");
    s.append("Content-Length: 0\r\n\r\n");
    return s;
}

std::string response(unsigned status, std::string_view reason, std::string_view branch, unsigned cseq,
                     std::string_view cseq_method, std::string_view to_tag = "bobtag") {
    std::string s;
    s.append("SIP/2.0 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
    s.append("Via: SIP/2.0/UDP 198.51.100.1:5060;branch=").append(branch).append(";rport=5060\r\n");
    s.append("From: <sip:alice@198.51.100.1>;tag=ourtag\r\n");
    s.append("To: <sip:bob@198.51.100.20:5060>");
    if (!to_tag.empty() && status != 100) {
        s.append(";tag=").append(to_tag);
    }
    s.append("\r\n");
    s.append("Call-ID: b-leg-call\r\n");
    s.append("CSeq: ").append(std::to_string(cseq)).append(" ").append(cseq_method).append("\r\n");
    s.append("Content-Length: 0\r\n\r\n");
    return s;
}

// What the appliance sends as a client (leg B): our Via, our branch.
std::string client_request(std::string_view method, std::string_view branch, unsigned cseq = 1) {
    std::string s;
    s.append(method).append(" sip:bob@198.51.100.20:5060 SIP/2.0\r\n");
    s.append("Via: SIP/2.0/UDP 198.51.100.1:5060;branch=").append(branch).append(";rport\r\n");
    s.append("Max-Forwards: 70\r\n");
    s.append("From: <sip:alice@198.51.100.1>;tag=ourtag\r\n");
    s.append("To: <sip:bob@198.51.100.20:5060>\r\n");
    s.append("Call-ID: b-leg-call\r\n");
    s.append("CSeq: ").append(std::to_string(cseq)).append(" ").append(method).append("\r\n");
    s.append("Content-Length: 0\r\n\r\n");
    return s;
}

// The same with a route set, as an in-dialog request through two proxies.
std::string routed_request(std::string_view method, std::string_view branch, unsigned cseq) {
    std::string s = client_request(method, branch, cseq);
    s.insert(s.find("Max-Forwards"),
             "Route: <sip:p1.example.net;lr>\r\nRoute: <sip:p2.example.net;lr>, <sip:p3.example.net;lr>\r\n");
    return s;
}

std::string header(const sip::message& m, sip::hdr id) {
    const sip::header* h = m.find(id);
    return h == nullptr ? std::string() : std::string(h->value);
}

std::vector<std::string> routes(const sip::message& m) {
    std::vector<std::string> out;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].id == sip::hdr::route) {
            out.emplace_back(m.headers[i].value);
        }
    }
    return out;
}

class transaction_test : public ::testing::Test {
protected:
    transaction_test()
        : tl_(timers_, test_pool(), [this](unsigned realm, sip_addr to, sip_wire msg) {
              sent_.push_back({realm, to, msg.to_string()});
              sent_at_.push_back(now_);
          },
          timer_config{500, 4000, 5000}, [this] { return now_; }) {}

    // Moves the clock forward 1 ms at a time, running what falls due.
    void advance_to(ms_t t) {
        while (now_ < t) {
            ++now_;
            timers_.run(now_);
        }
    }
    void advance(ms_t d) { advance_to(now_ + d); }

    std::unique_ptr<received> parse_sent(size_t i) {
        EXPECT_LT(i, sent_.size());
        auto r = std::make_unique<received>();
        r->text = sent_.at(i).text;
        EXPECT_EQ(sip::parse(r->text, r->msg), sip::parse_error::ok) << r->text;
        return r;
    }

    ms_t now_ = 0;
    timer_queue timers_;
    std::vector<datagram> sent_;
    std::vector<ms_t> sent_at_;
    transaction_layer tl_;
};

}  // namespace

// ================================================================== INVITE client (ICT)

TEST_F(transaction_test, ict_sends_and_retransmits_on_timer_a_until_timer_b) {
    const std::string inv = client_request("INVITE", "z9hG4bKict1");
    int responses = 0, timeouts = 0;
    tl_.send_request(sip::method::invite, "z9hG4bKict1", 1, bob, wire(inv), [&](const inbound&) { ++responses; },
                     [&] { ++timeouts; });
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_EQ(sent_[0].realm, 1u);
    EXPECT_EQ(sent_[0].to, bob);
    EXPECT_EQ(sent_[0].text, inv);
    EXPECT_EQ(tl_.size(), 1u);

    advance_to(31999);
    // Timer A: T1, 2T1, 4T1, ... after each send: at 500, 1500, 3500, 7500, 15500, 31500.
    const std::vector<ms_t> expected{0, 500, 1500, 3500, 7500, 15500, 31500};
    EXPECT_EQ(sent_at_, expected);
    for (const auto& d : sent_) {
        EXPECT_EQ(d.text, inv);
        EXPECT_EQ(d.to, bob);
    }
    EXPECT_EQ(timeouts, 0);

    // Timer B: 64*T1.
    advance_to(32000);
    EXPECT_EQ(timeouts, 1);
    EXPECT_EQ(responses, 0);
    EXPECT_EQ(tl_.size(), 0u);
    advance(100000);
    EXPECT_EQ(sent_.size(), expected.size()) << "nothing after timer B";
    EXPECT_EQ(timeouts, 1);
    EXPECT_EQ(tl_.stats().client_created, 1u);
    EXPECT_EQ(tl_.stats().retransmissions_sent, 6u);
    EXPECT_EQ(tl_.stats().timeouts, 1u);
    EXPECT_EQ(timers_.size(), 0u) << "no timer left behind";
}

TEST_F(transaction_test, ict_provisional_stops_timer_a_and_timer_b) {
    std::vector<unsigned> statuses;
    int timeouts = 0;
    tl_.send_request(sip::method::invite, "z9hG4bKict2", 1, bob, wire(client_request("INVITE", "z9hG4bKict2")),
                     [&](const inbound& in) { statuses.push_back(in.msg->status); }, [&] { ++timeouts; });
    advance_to(600);
    ASSERT_EQ(sent_.size(), 2u);  // original + one retransmission at 500
    auto trying = make_inbound(response(100, "Trying", "z9hG4bKict2", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(trying->in));
    auto ringing = make_inbound(response(180, "Ringing", "z9hG4bKict2", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ringing->in));
    EXPECT_EQ(statuses, (std::vector<unsigned>{100, 180}));
    advance_to(60000);
    EXPECT_EQ(sent_.size(), 2u) << "a provisional response stops timer A";
    EXPECT_EQ(timeouts, 0) << "timer B only applies while Calling";
    EXPECT_EQ(tl_.size(), 1u) << "Proceeding waits for the final response";

    // The final response still gets through.
    auto ok = make_inbound(response(200, "OK", "z9hG4bKict2", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ok->in));
    EXPECT_EQ(statuses.back(), 200u);
    EXPECT_EQ(tl_.size(), 0u);
}

// RFC 3261 9.1: a callee that rang and then never answered the INVITE nor its CANCEL does
// not keep the INVITE transaction (and the segments it holds) for ever: 64*T1 after the
// CANCEL it is over, reported as a timeout.
TEST_F(transaction_test, ict_cancelled_without_a_final_response_ends_64_t1_after_the_cancel) {
    int timeouts = 0;
    const uint64_t id = tl_.send_request(sip::method::invite, "z9hG4bKict9", 1, bob,
                                         wire(client_request("INVITE", "z9hG4bKict9")), [](const inbound&) {},
                                         [&] { ++timeouts; });
    auto ringing = make_inbound(response(180, "Ringing", "z9hG4bKict9", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ringing->in));
    advance_to(100000);
    EXPECT_EQ(tl_.size(), 1u) << "ringing without a CANCEL: no limit here";
    EXPECT_TRUE(tl_.cancel(id));
    EXPECT_EQ(tl_.size(), 2u);
    advance_to(100000 + 31999);
    EXPECT_EQ(timeouts, 0);
    EXPECT_EQ(tl_.size(), 2u) << "the CANCEL's own transaction (timer F) and the INVITE's";
    advance_to(100000 + 32000);
    EXPECT_EQ(timeouts, 1);
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_EQ(timers_.size(), 0u) << "no timer left behind";
}

// An INVITE whose call ended (detached) still ACKs a late final response, but a callee that
// never sends one does not keep it for good: 64*T1 after the detach it is gone.
TEST_F(transaction_test, ict_detached_in_proceeding_ends_64_t1_later) {
    int timeouts = 0;
    const uint64_t id = tl_.send_request(sip::method::invite, "z9hG4bKict7", 1, bob,
                                         wire(client_request("INVITE", "z9hG4bKict7")), [](const inbound&) {},
                                         [&] { ++timeouts; });
    auto ringing = make_inbound(response(180, "Ringing", "z9hG4bKict7", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ringing->in));
    advance_to(50000);
    tl_.detach_client(id);
    advance_to(50000 + 31999);
    EXPECT_EQ(tl_.size(), 1u);
    advance_to(50000 + 32000);
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_EQ(timeouts, 0) << "detached: nobody is told";
    EXPECT_EQ(timers_.size(), 0u);
}

// A final response within the limit ends the cancelled INVITE as usual (ACKed, Timer D).
TEST_F(transaction_test, ict_cancelled_then_487_is_acked_not_timed_out) {
    std::vector<unsigned> statuses;
    int timeouts = 0;
    const uint64_t id = tl_.send_request(
        sip::method::invite, "z9hG4bKict8", 1, bob, wire(client_request("INVITE", "z9hG4bKict8")),
        [&](const inbound& in) { statuses.push_back(in.msg->status); }, [&] { ++timeouts; });
    auto ringing = make_inbound(response(180, "Ringing", "z9hG4bKict8", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ringing->in));
    EXPECT_TRUE(tl_.cancel(id));
    advance(1000);
    auto terminated = make_inbound(response(487, "Request Terminated", "z9hG4bKict8", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(terminated->in));
    EXPECT_EQ(statuses, (std::vector<unsigned>{180, 487}));
    advance(100000);
    EXPECT_EQ(timeouts, 0);
    EXPECT_EQ(tl_.size(), 0u);
}

// RFC 3261 9.1: the CANCEL copies the INVITE's Request-URI, top Via (so the same branch),
// From, To, Call-ID, CSeq number and Route headers, and goes where the INVITE went; before a
// provisional response it is held back (it could overtake the INVITE), and it goes once.
TEST_F(transaction_test, ict_cancel_waits_for_a_provisional_response_and_copies_the_invite) {
    const std::string inv = routed_request("INVITE", "z9hG4bKcan1", 7);
    std::vector<unsigned> statuses;
    const uint64_t id = tl_.send_request(sip::method::invite, "z9hG4bKcan1", 1, bob, wire(inv),
                                         [&](const inbound& in) { statuses.push_back(in.msg->status); }, nullptr);
    EXPECT_TRUE(tl_.cancel(id));
    advance(400);
    ASSERT_EQ(sent_.size(), 1u) << "no CANCEL before a provisional response";
    auto trying = make_inbound(response(100, "Trying", "z9hG4bKcan1", 7, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(trying->in));
    EXPECT_EQ(statuses, (std::vector<unsigned>{100})) << "the provisional response still reaches its user";
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].to, bob);
    auto cancel = parse_sent(1);
    auto invite = parse_sent(0);
    EXPECT_EQ(cancel->msg.req_method, sip::method::cancel);
    EXPECT_EQ(cancel->msg.request_uri, invite->msg.request_uri);
    EXPECT_EQ(cancel->msg.count(sip::hdr::via), 1u);
    EXPECT_EQ(cancel->msg.top_via.raw, invite->msg.top_via.raw);
    EXPECT_EQ(header(cancel->msg, sip::hdr::from), header(invite->msg, sip::hdr::from));
    EXPECT_EQ(header(cancel->msg, sip::hdr::to), header(invite->msg, sip::hdr::to));
    EXPECT_EQ(cancel->msg.call_id, invite->msg.call_id);
    EXPECT_EQ(cancel->msg.cseq, 7u);
    EXPECT_EQ(cancel->msg.cseq_method, sip::method::cancel);
    EXPECT_EQ(routes(cancel->msg), routes(invite->msg));
    EXPECT_EQ(routes(cancel->msg).size(), 2u);
    EXPECT_EQ(cancel->msg.content_length, 0);
    EXPECT_EQ(cancel->msg.find("Reason"), nullptr) << "none unless asked for";

    EXPECT_TRUE(tl_.cancel(id)) << "still pending";
    auto ringing = make_inbound(response(180, "Ringing", "z9hG4bKcan1", 7, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ringing->in));
    EXPECT_EQ(sent_.size(), 2u) << "one CANCEL";
    auto terminated = make_inbound(response(487, "Request Terminated", "z9hG4bKcan1", 7, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(terminated->in));
    EXPECT_FALSE(tl_.cancel(id)) << "final response in: nothing to cancel";
    EXPECT_FALSE(tl_.cancel(id + 100)) << "no such transaction";
}

// RFC 3326: a CANCEL may say why (a forking B2BUA: another destination answered).
TEST_F(transaction_test, ict_cancel_carries_the_reason_it_was_given) {
    const std::string inv = routed_request("INVITE", "z9hG4bKcan2", 3);
    const uint64_t id = tl_.send_request(sip::method::invite, "z9hG4bKcan2", 1, bob, wire(inv), nullptr, nullptr);
    auto ringing = make_inbound(response(180, "Ringing", "z9hG4bKcan2", 3, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ringing->in));
    EXPECT_TRUE(tl_.cancel(id, "SIP;cause=200;text=\"Call completed elsewhere\""));
    ASSERT_EQ(sent_.size(), 2u);
    auto cancel = parse_sent(1);
    EXPECT_EQ(cancel->msg.req_method, sip::method::cancel);
    const sip::header* reason = cancel->msg.find("Reason");
    ASSERT_NE(reason, nullptr);
    EXPECT_EQ(reason->value, "SIP;cause=200;text=\"Call completed elsewhere\"");
}

TEST_F(transaction_test, only_an_invite_can_be_cancelled) {
    const uint64_t id = tl_.send_request(sip::method::options, "z9hG4bKopt", 1, bob,
                                         wire(client_request("OPTIONS", "z9hG4bKopt")), nullptr, nullptr);
    EXPECT_FALSE(tl_.cancel(id));
    EXPECT_EQ(sent_.size(), 1u);
}

// RFC 3261 17.1.1.3: the ACK of a non-2xx final response carries the INVITE's Route headers
// (it takes the INVITE's path) and the To of the response (with its tag).
TEST_F(transaction_test, ict_ack_of_a_failure_carries_the_invites_route) {
    const std::string inv = routed_request("INVITE", "z9hG4bKroute", 4);
    tl_.send_request(sip::method::invite, "z9hG4bKroute", 1, bob, wire(inv), nullptr, nullptr);
    auto busy = make_inbound(response(486, "Busy Here", "z9hG4bKroute", 4, "INVITE", "busytag"), 1, bob);
    EXPECT_TRUE(tl_.on_response(busy->in));
    ASSERT_EQ(sent_.size(), 2u);
    auto ack = parse_sent(1);
    auto invite = parse_sent(0);
    EXPECT_EQ(ack->msg.req_method, sip::method::ack);
    EXPECT_EQ(ack->msg.request_uri, invite->msg.request_uri);
    EXPECT_EQ(routes(ack->msg), routes(invite->msg));
    EXPECT_EQ(ack->msg.to.tag, "busytag");
    EXPECT_EQ(ack->msg.cseq, 4u);
}

TEST_F(transaction_test, ict_acks_a_non_2xx_to_an_invite_larger_than_a_segment) {
    // An INVITE with a large SDP spans several mbuf segments; its ACK is still built from it.
    std::string inv = client_request("INVITE", "z9hG4bKbig", 9);
    std::string body;
    for (unsigned i = 0; body.size() < 5000; ++i) {
        body += "a=x-pad:" + std::to_string(i) + "\r\n";
    }
    inv.replace(inv.find("Content-Length: 0\r\n\r\n"), std::string::npos,
                "Content-Type: application/sdp\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    sip_wire request = wire(inv);
    ASSERT_GE(request.segments(), 3u);
    tl_.send_request(sip::method::invite, "z9hG4bKbig", 1, bob, std::move(request), nullptr, nullptr);
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_EQ(sent_[0].text, inv);
    auto busy = make_inbound(response(486, "Busy Here", "z9hG4bKbig", 9, "INVITE", "busytag"), 1, bob);
    EXPECT_TRUE(tl_.on_response(busy->in));
    ASSERT_EQ(sent_.size(), 2u);
    auto ack = parse_sent(1);
    EXPECT_EQ(ack->msg.req_method, sip::method::ack);
    EXPECT_EQ(ack->msg.top_via.branch, "z9hG4bKbig");
    EXPECT_EQ(ack->msg.to.tag, "busytag");
    EXPECT_EQ(ack->msg.cseq, 9u);
    EXPECT_EQ(ack->msg.content_length, 0);
}

TEST_F(transaction_test, ict_non_2xx_final_is_acked_once_and_reported_once) {
    const std::string inv = client_request("INVITE", "z9hG4bKict3", 5);
    std::vector<unsigned> statuses;
    int timeouts = 0;
    tl_.send_request(sip::method::invite, "z9hG4bKict3", 1, bob, wire(inv),
                     [&](const inbound& in) { statuses.push_back(in.msg->status); }, [&] { ++timeouts; });
    advance_to(100);
    auto busy = make_inbound(response(486, "Busy Here", "z9hG4bKict3", 5, "INVITE", "busytag"), 1, bob);
    EXPECT_TRUE(tl_.on_response(busy->in));
    EXPECT_EQ(statuses, (std::vector<unsigned>{486}));
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].realm, 1u);
    EXPECT_EQ(sent_[1].to, bob);

    // The ACK: same Request-URI, top Via (branch), From, Call-ID and CSeq number as the
    // INVITE; To from the response (with its tag); CSeq method ACK.
    auto ack = parse_sent(1);
    auto inv_msg = make_inbound(inv, 1, bob);
    EXPECT_TRUE(ack->msg.is_request);
    EXPECT_EQ(ack->msg.req_method, sip::method::ack);
    EXPECT_EQ(ack->msg.request_uri, "sip:bob@198.51.100.20:5060");
    EXPECT_EQ(ack->msg.top_via.branch, "z9hG4bKict3");
    EXPECT_EQ(ack->msg.top_via.host, "198.51.100.1");
    EXPECT_EQ(ack->msg.count(sip::hdr::via), 1u);
    EXPECT_EQ(ack->msg.find(sip::hdr::from)->value, inv_msg->msg.find(sip::hdr::from)->value);
    EXPECT_EQ(ack->msg.to.tag, "busytag");
    EXPECT_EQ(ack->msg.call_id, "b-leg-call");
    EXPECT_EQ(ack->msg.cseq, 5u);
    EXPECT_EQ(ack->msg.cseq_method, sip::method::ack);
    EXPECT_EQ(ack->msg.cseq_method_name, "ACK");
    EXPECT_EQ(ack->msg.content_length, 0);

    // No more INVITE retransmissions once Completed.
    advance_to(5000);
    EXPECT_EQ(sent_.size(), 2u);

    // A retransmitted 486: the ACK again, the callback not again.
    auto busy2 = make_inbound(response(486, "Busy Here", "z9hG4bKict3", 5, "INVITE", "busytag"), 1, bob);
    EXPECT_TRUE(tl_.on_response(busy2->in));
    ASSERT_EQ(sent_.size(), 3u);
    EXPECT_EQ(sent_[2].text, sent_[1].text);
    EXPECT_EQ(sent_[2].to, bob);
    EXPECT_EQ(statuses.size(), 1u);
    EXPECT_EQ(tl_.stats().retransmissions_absorbed, 1u);

    // Timer D (32 s after the final) frees it.
    EXPECT_EQ(tl_.size(), 1u);
    advance_to(100 + 32000 - 1);
    EXPECT_EQ(tl_.size(), 1u);
    advance_to(100 + 32000);
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_EQ(timeouts, 0);
    EXPECT_EQ(tl_.stats().timeouts, 0u);
    auto busy3 = make_inbound(response(486, "Busy Here", "z9hG4bKict3", 5, "INVITE", "busytag"), 1, bob);
    EXPECT_FALSE(tl_.on_response(busy3->in));
    EXPECT_EQ(sent_.size(), 3u);
}

TEST_F(transaction_test, ict_2xx_reports_and_ends_the_transaction) {
    std::vector<unsigned> statuses;
    tl_.send_request(sip::method::invite, "z9hG4bKict4", 1, bob, wire(client_request("INVITE", "z9hG4bKict4")),
                     [&](const inbound& in) { statuses.push_back(in.msg->status); }, nullptr);
    auto ok = make_inbound(response(200, "OK", "z9hG4bKict4", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ok->in));
    EXPECT_EQ(statuses, (std::vector<unsigned>{200}));
    EXPECT_EQ(sent_.size(), 1u) << "the TU ACKs a 2xx, not the transaction";
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_EQ(timers_.size(), 0u);
    // A retransmitted 2xx has no transaction any more: the TU must handle it.
    auto ok2 = make_inbound(response(200, "OK", "z9hG4bKict4", 1, "INVITE"), 1, bob);
    EXPECT_FALSE(tl_.on_response(ok2->in));
    EXPECT_EQ(statuses.size(), 1u);
    EXPECT_EQ(tl_.stats().stray_responses, 1u);
    advance(100000);
    EXPECT_EQ(sent_.size(), 1u);
}

TEST_F(transaction_test, response_matching_needs_branch_and_cseq_method) {
    int responses = 0;
    tl_.send_request(sip::method::invite, "z9hG4bKict5", 1, bob, wire(client_request("INVITE", "z9hG4bKict5")),
                     [&](const inbound&) { ++responses; }, nullptr);
    auto other_branch = make_inbound(response(180, "Ringing", "z9hG4bKother", 1, "INVITE"), 1, bob);
    EXPECT_FALSE(tl_.on_response(other_branch->in));
    auto other_method = make_inbound(response(200, "OK", "z9hG4bKict5", 1, "CANCEL"), 1, bob);
    EXPECT_FALSE(tl_.on_response(other_method->in));
    EXPECT_EQ(responses, 0);
    EXPECT_EQ(tl_.stats().stray_responses, 2u);
}

TEST_F(transaction_test, detach_client_silences_callbacks_but_keeps_absorbing) {
    int responses = 0, timeouts = 0;
    const uint64_t id = tl_.send_request(sip::method::invite, "z9hG4bKict6", 1, bob,
                                         wire(client_request("INVITE", "z9hG4bKict6")),
                                         [&](const inbound&) { ++responses; }, [&] { ++timeouts; });
    tl_.detach_client(id);
    auto busy = make_inbound(response(486, "Busy Here", "z9hG4bKict6", 1, "INVITE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(busy->in));
    EXPECT_EQ(responses, 0);
    EXPECT_EQ(sent_.size(), 2u) << "the ACK is still sent";
}

// ================================================================== non-INVITE client (NICT)

TEST_F(transaction_test, nict_timer_e_doubles_capped_at_t2_then_timer_f) {
    const std::string bye = client_request("BYE", "z9hG4bKnict1", 2);
    int responses = 0, timeouts = 0;
    tl_.send_request(sip::method::bye, "z9hG4bKnict1", 0, alice, wire(bye), [&](const inbound&) { ++responses; },
                     [&] { ++timeouts; });
    advance_to(31999);
    const std::vector<ms_t> expected{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500};
    EXPECT_EQ(sent_at_, expected);
    for (const auto& d : sent_) {
        EXPECT_EQ(d.text, bye);
        EXPECT_EQ(d.realm, 0u);
        EXPECT_EQ(d.to, alice);
    }
    EXPECT_EQ(timeouts, 0);
    advance_to(32000);
    EXPECT_EQ(timeouts, 1);
    EXPECT_EQ(responses, 0);
    EXPECT_EQ(tl_.size(), 0u);
    advance(60000);
    EXPECT_EQ(sent_.size(), expected.size());
    EXPECT_EQ(tl_.stats().retransmissions_sent, expected.size() - 1);
    EXPECT_EQ(tl_.stats().timeouts, 1u);
}

TEST_F(transaction_test, nict_provisional_moves_retransmissions_to_t2) {
    std::vector<unsigned> statuses;
    tl_.send_request(sip::method::bye, "z9hG4bKnict2", 1, bob, wire(client_request("BYE", "z9hG4bKnict2", 2)),
                     [&](const inbound& in) { statuses.push_back(in.msg->status); }, nullptr);
    advance_to(100);
    auto trying = make_inbound(response(100, "Trying", "z9hG4bKnict2", 2, "BYE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(trying->in));
    advance_to(12000);
    // The timer set at 0 still fires at 500; from then on every T2.
    EXPECT_EQ(sent_at_, (std::vector<ms_t>{0, 500, 4500, 8500}));
    EXPECT_EQ(statuses, (std::vector<unsigned>{100}));
}

TEST_F(transaction_test, nict_final_completes_and_timer_k_frees_it) {
    std::vector<unsigned> statuses;
    int timeouts = 0;
    tl_.send_request(sip::method::bye, "z9hG4bKnict3", 1, bob, wire(client_request("BYE", "z9hG4bKnict3", 2)),
                     [&](const inbound& in) { statuses.push_back(in.msg->status); }, [&] { ++timeouts; });
    advance_to(600);
    ASSERT_EQ(sent_.size(), 2u);
    auto ok = make_inbound(response(200, "OK", "z9hG4bKnict3", 2, "BYE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ok->in));
    EXPECT_EQ(statuses, (std::vector<unsigned>{200}));
    EXPECT_EQ(sent_.size(), 2u) << "no ACK for a non-INVITE";
    advance_to(3000);
    EXPECT_EQ(sent_.size(), 2u) << "retransmissions stop in Completed";
    // Retransmitted final: absorbed, nothing sent, no callback.
    auto ok2 = make_inbound(response(200, "OK", "z9hG4bKnict3", 2, "BYE"), 1, bob);
    EXPECT_TRUE(tl_.on_response(ok2->in));
    EXPECT_EQ(statuses.size(), 1u);
    EXPECT_EQ(sent_.size(), 2u);
    EXPECT_EQ(tl_.size(), 1u);
    // Timer K = T4 after the final.
    advance_to(600 + 5000 - 1);
    EXPECT_EQ(tl_.size(), 1u);
    advance_to(600 + 5000);
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_EQ(timeouts, 0);
    auto ok3 = make_inbound(response(200, "OK", "z9hG4bKnict3", 2, "BYE"), 1, bob);
    EXPECT_FALSE(tl_.on_response(ok3->in));
    advance(100000);
    EXPECT_EQ(timeouts, 0);
    EXPECT_EQ(timers_.size(), 0u);
}

// ================================================================== INVITE server (IST)

TEST_F(transaction_test, ist_sends_100_trying_to_the_response_address) {
    auto inv = make_inbound(request("INVITE", "z9hG4bKist1", 1), 0, alice);
    const uint64_t id = tl_.create_server(inv->in);
    EXPECT_NE(id, 0u);
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_EQ(sent_[0].realm, 0u);
    // No rport: the Via port (5060), not the source port (5062).
    EXPECT_EQ(sent_[0].to, (sip_addr{alice.addr, 5060}));
    auto trying = parse_sent(0);
    EXPECT_FALSE(trying->msg.is_request);
    EXPECT_EQ(trying->msg.status, 100);
    EXPECT_TRUE(trying->msg.to.tag.empty());
    EXPECT_EQ(trying->msg.count(sip::hdr::via), 2u);
    EXPECT_EQ(trying->msg.top_via.branch, "z9hG4bKist1");
    EXPECT_EQ(trying->msg.cseq, 1u);
    EXPECT_EQ(trying->msg.cseq_method, sip::method::invite);
    EXPECT_EQ(tl_.final_status(id), 0u);
    EXPECT_EQ(tl_.stats().server_created, 1u);
}

TEST_F(transaction_test, ist_with_rport_answers_the_source_port) {
    std::string text = request("INVITE", "z9hG4bKist2", 1);
    text.replace(text.find("branch=z9hG4bKist2"), 18, "branch=z9hG4bKist2;rport");
    auto inv = make_inbound(text, 0, alice);
    tl_.create_server(inv->in);
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_EQ(sent_[0].to, alice);
}

TEST_F(transaction_test, ist_retransmitted_invite_resends_the_last_response) {
    auto inv = make_inbound(request("INVITE", "z9hG4bKist3", 1), 0, alice);
    EXPECT_FALSE(tl_.absorb_request(inv->in)) << "a new request is not absorbed";
    const uint64_t id = tl_.create_server(inv->in);
    auto again = make_inbound(request("INVITE", "z9hG4bKist3", 1), 0, alice);
    EXPECT_TRUE(tl_.absorb_request(again->in));
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].text, sent_[0].text);  // the 100 again
    const std::string ringing = tl_.respond(id, 180, "Ringing", "bobtag", {}).to_string();
    ASSERT_EQ(sent_.size(), 3u);
    EXPECT_EQ(sent_[2].text, ringing);
    EXPECT_TRUE(tl_.absorb_request(again->in));
    ASSERT_EQ(sent_.size(), 4u);
    EXPECT_EQ(sent_[3].text, ringing);
    EXPECT_EQ(tl_.stats().retransmissions_absorbed, 2u);
    // A different branch is a different transaction.
    auto other = make_inbound(request("INVITE", "z9hG4bKist3b", 1), 0, alice);
    EXPECT_FALSE(tl_.absorb_request(other->in));
}

TEST_F(transaction_test, ist_non_2xx_final_retransmits_on_timer_g_until_ack) {
    auto inv = make_inbound(request("INVITE", "z9hG4bKist4", 1), 0, alice);
    const uint64_t id = tl_.create_server(inv->in);
    advance_to(1000);
    const std::string busy = tl_.respond(id, 486, "Busy Here", "bobtag", {}).to_string();
    ASSERT_FALSE(busy.empty());
    EXPECT_EQ(tl_.final_status(id), 486u);
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].text, busy);
    auto r = parse_sent(1);
    EXPECT_EQ(r->msg.status, 486);
    EXPECT_EQ(r->msg.to.tag, "bobtag");

    // Timer G: T1, 2T1, 4T1, then capped at T2.
    advance_to(1000 + 11500);
    EXPECT_EQ(sent_at_, (std::vector<ms_t>{0, 1000, 1500, 2500, 4500, 8500, 12500}));
    for (size_t i = 1; i < sent_.size(); ++i) {
        EXPECT_EQ(sent_[i].text, busy);
    }
    // Only one final per transaction.
    EXPECT_TRUE(tl_.respond(id, 200, "OK", "bobtag", {}).empty());
    EXPECT_EQ(sent_.size(), 7u);

    // The ACK (same branch, To with our tag) is absorbed and stops timer G.
    auto ack = make_inbound(request("ACK", "z9hG4bKist4", 1, "bobtag"), 0, alice);
    EXPECT_TRUE(tl_.absorb_request(ack->in));
    advance_to(1000 + 30000);
    EXPECT_EQ(sent_.size(), 7u) << "no retransmission after the ACK";
    EXPECT_EQ(tl_.stats().timeouts, 0u) << "an ACKed final is no timeout";
    EXPECT_EQ(tl_.stats().retransmissions_sent, 5u);
    EXPECT_EQ(tl_.size(), 0u) << "timer I (T4 after the ACK) has ended it";
}

TEST_F(transaction_test, ist_timer_i_absorbs_ack_retransmissions_then_ends) {
    auto inv = make_inbound(request("INVITE", "z9hG4bKist5", 1), 0, alice);
    const uint64_t id = tl_.create_server(inv->in);
    tl_.respond(id, 486, "Busy Here", "bobtag", {});
    advance_to(100);
    auto ack = make_inbound(request("ACK", "z9hG4bKist5", 1, "bobtag"), 0, alice);
    EXPECT_TRUE(tl_.absorb_request(ack->in));
    const size_t after_ack = sent_.size();
    advance_to(2000);
    EXPECT_TRUE(tl_.absorb_request(ack->in));
    auto inv2 = make_inbound(request("INVITE", "z9hG4bKist5", 1), 0, alice);
    EXPECT_TRUE(tl_.absorb_request(inv2->in));
    EXPECT_EQ(sent_.size(), after_ack) << "Confirmed re-sends nothing";
    advance_to(100 + 5000);
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_FALSE(tl_.absorb_request(ack->in));
    EXPECT_EQ(timers_.size(), 0u);
}

TEST_F(transaction_test, ist_timer_h_ends_it_without_ack) {
    auto inv = make_inbound(request("INVITE", "z9hG4bKist6", 1), 0, alice);
    const uint64_t id = tl_.create_server(inv->in);
    tl_.respond(id, 486, "Busy Here", "bobtag", {});
    advance_to(31999);
    // G at 500, 1500, 3500, 7500, 11500, ..., 31500.
    EXPECT_EQ(sent_.size(), 2u + 10u);
    EXPECT_EQ(tl_.size(), 1u);
    advance_to(32000);
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_EQ(tl_.stats().timeouts, 1u);
    advance(60000);
    EXPECT_EQ(sent_.size(), 12u);
    EXPECT_EQ(timers_.size(), 0u);
    // A late ACK finds nothing.
    auto ack = make_inbound(request("ACK", "z9hG4bKist6", 1, "bobtag"), 0, alice);
    EXPECT_FALSE(tl_.absorb_request(ack->in));
}

TEST_F(transaction_test, ist_2xx_ends_the_transaction) {
    auto inv = make_inbound(request("INVITE", "z9hG4bKist7", 1), 0, alice);
    const uint64_t id = tl_.create_server(inv->in);
    const std::string ok = tl_.respond(id, 200, "OK", "bobtag", "Contact: <sip:sipferry@192.0.2.1:5060>\r\n",
                                       "application/sdp", "v=0\r\n").to_string();
    ASSERT_FALSE(ok.empty());
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].text, ok);
    auto r = parse_sent(1);
    EXPECT_EQ(r->msg.status, 200);
    EXPECT_EQ(r->msg.to.tag, "bobtag");
    EXPECT_EQ(r->msg.body, "v=0\r\n");
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_EQ(tl_.final_status(id), 0u) << "unknown once ended";
    EXPECT_TRUE(tl_.respond(id, 200, "OK", "bobtag", {}).empty());
    // The INVITE retransmission and the 2xx's ACK are the TU's business now.
    auto inv2 = make_inbound(request("INVITE", "z9hG4bKist7", 1), 0, alice);
    EXPECT_FALSE(tl_.absorb_request(inv2->in));
    auto ack = make_inbound(request("ACK", "z9hG4bKack7", 1, "bobtag"), 0, alice);
    EXPECT_FALSE(tl_.absorb_request(ack->in));
    advance(100000);
    EXPECT_EQ(sent_.size(), 2u) << "the layer does not retransmit a 2xx";
}

TEST_F(transaction_test, ist_ack_for_2xx_is_not_absorbed_while_transaction_lives) {
    // An ACK arriving while the IST has no final yet is not the layer's (no non-2xx to confirm).
    auto inv = make_inbound(request("INVITE", "z9hG4bKist8", 1), 0, alice);
    tl_.create_server(inv->in);
    auto ack = make_inbound(request("ACK", "z9hG4bKist8", 1, "bobtag"), 0, alice);
    EXPECT_FALSE(tl_.absorb_request(ack->in));
}

// ================================================================== non-INVITE server (NIST)

TEST_F(transaction_test, nist_resends_final_on_retransmission_until_timer_j) {
    auto bye = make_inbound(request("BYE", "z9hG4bKnist1", 2, "bobtag"), 0, alice);
    const uint64_t id = tl_.create_server(bye->in);
    EXPECT_TRUE(sent_.empty()) << "no 100 for a non-INVITE";
    // Retransmission before any response: absorbed, nothing to re-send.
    auto again = make_inbound(request("BYE", "z9hG4bKnist1", 2, "bobtag"), 0, alice);
    EXPECT_TRUE(tl_.absorb_request(again->in));
    EXPECT_TRUE(sent_.empty());
    advance_to(200);
    const std::string ok = tl_.respond(id, 200, "OK", {}, {}).to_string();
    ASSERT_EQ(sent_.size(), 1u);
    EXPECT_EQ(sent_[0].text, ok);
    EXPECT_EQ(tl_.final_status(id), 200u);
    auto r = parse_sent(0);
    EXPECT_EQ(r->msg.cseq_method, sip::method::bye);
    EXPECT_EQ(r->msg.to.tag, "bobtag");
    advance_to(10000);
    EXPECT_EQ(sent_.size(), 1u) << "a NIST never retransmits on its own";
    EXPECT_TRUE(tl_.absorb_request(again->in));
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].text, ok);
    EXPECT_EQ(sent_[1].to, (sip_addr{alice.addr, 5060}));
    // Timer J: 64*T1 after the final.
    advance_to(200 + 32000 - 1);
    EXPECT_EQ(tl_.size(), 1u);
    advance_to(200 + 32000);
    EXPECT_EQ(tl_.size(), 0u);
    EXPECT_FALSE(tl_.absorb_request(again->in));
    EXPECT_EQ(sent_.size(), 2u);
}

// A flood of distinct requests (each its own transaction, from more sources than any per-source
// limit stops) must not pin the message pool for timer J: below a quarter free, final responses
// are kept as bytes and rebuilt only for a retransmission, identical to what was sent.
TEST_F(transaction_test, server_responses_never_exhaust_a_small_pool) {
    message_pool small("tx_small_pool", 64, 2048, SOCKET_ID_ANY);
    std::vector<std::string> wire_out;
    transaction_layer tl(timers_, small,
                         [&](unsigned, sip_addr, sip_wire msg) { wire_out.push_back(msg.to_string()); },
                         timer_config{500, 4000, 5000}, [this] { return now_; });
    std::vector<std::unique_ptr<received>> reqs;
    std::vector<std::string> first_answer;
    for (unsigned i = 0; i < 200; ++i) {
        reqs.push_back(make_inbound(request("OPTIONS", "z9hG4bKflood" + std::to_string(i), 1, {}, {},
                                            "flood-" + std::to_string(i) + "@192.0.2.160"),
                                    0, alice));
        ASSERT_FALSE(tl.absorb_request(reqs.back()->in));
        const uint64_t id = tl.create_server(reqs.back()->in);
        const sip_wire sent = tl.respond(id, 200, "OK", "t" + std::to_string(i), {});
        ASSERT_FALSE(sent.empty()) << "request " << i << ": the pool ran out";
        first_answer.push_back(sent.to_string());
    }
    EXPECT_EQ(tl.size(), 200u) << "every transaction still absorbs retransmissions";
    EXPECT_GE(small.available(), 64u / 4 - 1) << "responses kept as mbufs stop at a quarter of the pool";
    EXPECT_GE(tl.stats().responses_parked, 200u - 64u);
    ASSERT_EQ(wire_out.size(), 200u);

    // Retransmissions of the first (kept in mbufs) and of the last (parked) get the same bytes again.
    for (unsigned i : {0u, 199u}) {
        EXPECT_TRUE(tl.absorb_request(reqs[i]->in));
        EXPECT_EQ(wire_out.back(), first_answer[i]) << "request " << i;
    }
    EXPECT_EQ(wire_out.size(), 202u);

    // Timer J ends them all and every mbuf comes back.
    advance(32000);
    EXPECT_EQ(tl.size(), 0u);
    EXPECT_EQ(small.available(), 64u);
}

// The responses to a flood pile up in the dataplane's frames_out ring while its worker is off the
// CPU, each holding its segments until sent. With the send reserve at the ring's size (plus the
// message being built), the responses kept for retransmission leave room for a full ring: no
// message fails to build (a quarter of the pool alone let the lab's pool run dry).
TEST_F(transaction_test, server_responses_leave_room_for_a_full_send_ring) {
    constexpr unsigned pool_size = 256, ring_capacity = 150;
    for (const bool reserve : {true, false}) {
        message_pool pool(reserve ? "tx_ring_pool_r" : "tx_ring_pool_n", pool_size, 2048, SOCKET_ID_ANY);
        std::vector<sip_wire> ring;  // the stalled worker's frames_out: full means the send fails
        transaction_layer tl(timers_, pool,
                             [&](unsigned, sip_addr, sip_wire msg) {
                                 if (ring.size() < ring_capacity) {
                                     ring.push_back(std::move(msg));
                                 }
                             },
                             timer_config{500, 4000, 5000}, [this] { return now_; });
        if (reserve) {
            tl.keep_free_for_sending(ring_capacity + 1);
        }
        std::vector<std::unique_ptr<received>> reqs;
        unsigned unbuilt = 0;
        for (unsigned i = 0; i < 600; ++i) {
            reqs.push_back(make_inbound(request("OPTIONS", "z9hG4bKring" + std::to_string(i), 1, {}, {},
                                                "ring-" + std::to_string(i) + "@192.0.2.160"),
                                        0, alice));
            const uint64_t id = tl.create_server(reqs.back()->in);
            unbuilt += tl.respond(id, 200, "OK", "t" + std::to_string(i), {}).empty() ? 1 : 0;
            if (i % 200 == 199) {
                ring.clear();  // the worker runs again and sends what it found
            }
        }
        if (reserve) {
            EXPECT_EQ(unbuilt, 0u) << "a full ring of responses found the pool dry";
            EXPECT_EQ(pool.stats().alloc_failures, 0u);
        } else {
            EXPECT_GT(unbuilt, 0u) << "the yardstick: a quarter of the pool is less than the ring";
        }
        ring.clear();
        advance(32000);
        EXPECT_EQ(tl.size(), 0u);
        EXPECT_EQ(pool.available(), pool_size);
    }
}

TEST_F(transaction_test, nist_provisional_then_final) {
    auto opt = make_inbound(request("OPTIONS", "z9hG4bKnist2", 1), 0, alice);
    const uint64_t id = tl_.create_server(opt->in);
    const std::string trying = tl_.respond(id, 100, "Trying", "x", {}).to_string();
    EXPECT_EQ(tl_.final_status(id), 0u);
    EXPECT_TRUE(tl_.absorb_request(opt->in));
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].text, trying);
    tl_.respond(id, 200, "OK", "x", {});
    EXPECT_EQ(tl_.final_status(id), 200u);
    auto r = parse_sent(2);
    EXPECT_EQ(r->msg.to.tag, "x");
}

TEST_F(transaction_test, headers_for_the_next_response_go_out_once_and_never_on_100) {
    auto inv = make_inbound(request("INVITE", "z9hG4bKnext", 1), 0, alice);
    const uint64_t id = tl_.create_server(inv->in);  // 100 Trying sent
    const std::string reason = "Reason: STIR;cause=438;text=\"Invalid Identity Header\"\r\n";
    tl_.add_to_next_response(id, reason);
    tl_.respond(id, 100, "Trying", {}, {});
    ASSERT_EQ(sent_.size(), 2u);
    EXPECT_EQ(sent_[1].text.find("Reason:"), std::string::npos) << "100 is hop by hop: not the signer's";
    tl_.respond(id, 180, "Ringing", "t", "Contact: <sip:b@192.0.2.9>\r\n");
    ASSERT_EQ(sent_.size(), 3u);
    auto ringing = parse_sent(2);
    const sip::header* h = ringing->msg.find(std::string_view("Reason"));
    ASSERT_NE(h, nullptr) << sent_[2].text;
    EXPECT_EQ(h->value, "STIR;cause=438;text=\"Invalid Identity Header\"");
    EXPECT_NE(sent_[2].text.find("Contact: <sip:b@192.0.2.9>"), std::string::npos) << "next to the response's own";
    tl_.respond(id, 486, "Busy Here", "t", {});
    ASSERT_EQ(sent_.size(), 4u);
    EXPECT_EQ(sent_[3].text.find("Reason:"), std::string::npos) << "once";
    tl_.add_to_next_response(id, reason);
    tl_.add_to_next_response(9999, reason);  // an unknown transaction: nothing
    EXPECT_TRUE(tl_.absorb_request(inv->in));
    EXPECT_EQ(sent_.back().text, sent_[3].text) << "after the final response nothing is added";
}

TEST_F(transaction_test, respond_to_unknown_transaction) {
    EXPECT_TRUE(tl_.respond(12345, 200, "OK", {}, {}).empty());
    EXPECT_TRUE(sent_.empty());
    EXPECT_EQ(tl_.final_status(12345), 0u);
}

// ================================================================== CANCEL matching

TEST_F(transaction_test, find_invite_server_matches_cancel_by_branch) {
    auto inv = make_inbound(request("INVITE", "z9hG4bKcan1", 1), 0, alice);
    const uint64_t ist = tl_.create_server(inv->in);
    auto cancel = make_inbound(request("CANCEL", "z9hG4bKcan1", 1), 0, alice);
    EXPECT_FALSE(tl_.absorb_request(cancel->in)) << "a CANCEL is its own transaction";
    EXPECT_EQ(tl_.find_invite_server(cancel->in), ist);
    auto other = make_inbound(request("CANCEL", "z9hG4bKcan2", 1), 0, alice);
    EXPECT_EQ(tl_.find_invite_server(other->in), 0u);
    auto other_call = make_inbound(request("CANCEL", "z9hG4bKcan1", 1, {}, {}, "another-call"), 0, alice);
    EXPECT_EQ(tl_.find_invite_server(other_call->in), 0u);

    // The CANCEL's own server transaction does not replace the INVITE's.
    const uint64_t ctx = tl_.create_server(cancel->in);
    EXPECT_NE(ctx, ist);
    EXPECT_EQ(tl_.find_invite_server(cancel->in), ist);
    tl_.respond(ctx, 200, "OK", {}, {});
    auto cancel2 = make_inbound(request("CANCEL", "z9hG4bKcan1", 1), 0, alice);
    EXPECT_TRUE(tl_.absorb_request(cancel2->in));
    EXPECT_EQ(sent_.back().text.rfind("SIP/2.0 200 OK", 0), 0u);
    EXPECT_NE(sent_.back().text.find("CSeq: 1 CANCEL"), std::string::npos);
    // The INVITE transaction still answers its own retransmissions.
    auto inv2 = make_inbound(request("INVITE", "z9hG4bKcan1", 1), 0, alice);
    EXPECT_TRUE(tl_.absorb_request(inv2->in));
    EXPECT_NE(sent_.back().text.find("CSeq: 1 INVITE"), std::string::npos);
}

// ================================================================== bookkeeping

TEST_F(transaction_test, stats_and_server_header) {
    tl_.set_server_header("sipferry-test");
    auto inv = make_inbound(request("INVITE", "z9hG4bKst1", 1), 0, alice);
    tl_.create_server(inv->in);
    auto r = parse_sent(0);
    ASSERT_NE(r->msg.find(sip::hdr::server), nullptr);
    EXPECT_EQ(r->msg.find(sip::hdr::server)->value, "sipferry-test");
    tl_.absorb_request(inv->in);
    tl_.send_request(sip::method::options, "z9hG4bKst2", 1, bob, wire(client_request("OPTIONS", "z9hG4bKst2")), nullptr,
                     nullptr);
    auto stray = make_inbound(response(200, "OK", "z9hG4bKnone", 1, "OPTIONS"), 1, bob);
    tl_.on_response(stray->in);
    advance_to(600);
    const auto& s = tl_.stats();
    EXPECT_EQ(s.server_created, 1u);
    EXPECT_EQ(s.client_created, 1u);
    EXPECT_EQ(s.retransmissions_absorbed, 1u);
    EXPECT_EQ(s.retransmissions_sent, 1u);
    EXPECT_EQ(s.stray_responses, 1u);
    EXPECT_EQ(s.timeouts, 0u);
    EXPECT_EQ(tl_.size(), 2u);
}

TEST_F(transaction_test, destructor_cancels_its_timers) {
    timer_queue tq;
    {
        transaction_layer tl(tq, test_pool(), [](unsigned, sip_addr, sip_wire) {}, timer_config{}, [] { return ms_t{0}; });
        tl.send_request(sip::method::invite, "z9hG4bKd1", 0, bob, wire(client_request("INVITE", "z9hG4bKd1")), nullptr,
                        nullptr);
        EXPECT_EQ(tq.size(), 2u);
    }
    EXPECT_EQ(tq.size(), 0u);
    EXPECT_EQ(tq.run(1'000'000), 0u);
}
