#pragma once
// The B2BUA test fixture, shared by the tests of b2bua*.cc: a real relay table (EAL without
// hugepages or NICs), media anchor, Lua dialplan, transaction layer and timer queue on a fake
// clock. The test plays alice (realm 0, acc), bob and carol (realm 1, core) by feeding
// datagrams to on_datagram() and reading what the appliance sent.
//
// Include it from one source file per test executable (it registers the EAL environment).

#include "b2bua.hh"
#include "control_eal.hh"
#include "source_root.hh"

#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <rte_eal.h>
#include <rte_errno.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "config.hh"
#include "sip/sdp.hh"
#include "sip/sip_message.hh"
#include "sip/sip_uri.hh"

namespace sf::control {
// gtest prints endpoints readably.
inline void PrintTo(const sip_addr& a, std::ostream* os) {
    *os << to_string(a);
}
}  // namespace sf::control

using namespace sf::control;
namespace sip = sf::sip;
namespace sdp = sf::sdp;
namespace dp = sf::dp;
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------ addresses

constexpr uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

constexpr uint32_t acc_addr = ip(192, 0, 2, 1);
constexpr uint32_t core_addr = ip(198, 51, 100, 1);
const sip_addr alice{ip(192, 0, 2, 10), 5060};
const sip_addr bob{ip(198, 51, 100, 20), 5060};
const sip_addr carol{ip(198, 51, 100, 30), 5060};
constexpr unsigned acc = 0, core = 1;

using sf::test::source_root;

// ------------------------------------------------------------------ messages

const std::string alice_sdp =
    "v=0\r\n"
    "o=alice 1000 1000 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=rtcp:40001 IN IP4 192.0.2.10\r\n"
    "a=sendrecv\r\n";

const std::string bob_sdp =
    "v=0\r\n"
    "o=bob 2000 2000 IN IP4 198.51.100.20\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.20\r\n"
    "t=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=sendrecv\r\n";

const std::string carol_sdp =
    "v=0\r\n"
    "o=carol 3000 3000 IN IP4 198.51.100.30\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.30\r\n"
    "t=0 0\r\n"
    "m=audio 32000 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=sendrecv\r\n";

struct invite_opts {
    std::string user = "bob";
    std::string call_id = "alice-call-1@192.0.2.10";
    std::string branch = "z9hG4bKalice1";
    int max_forwards = 70;
    uint16_t via_port = 5060;
    uint16_t contact_port = 5060;
    std::string body = alice_sdp;
    std::string extra;  ///< more header lines ("Name: value\r\n")
};

/// An account whose callers are trusted by their source `network`.
inline account_config trusted_account(const std::string& name, const std::string& network) {
    account_config a;
    a.name = name;
    cidr net;
    EXPECT_EQ(parse_cidr(network, net), "");
    a.networks = {net};
    a.realm = "sipferry";
    return a;
}

inline std::string alice_invite(const invite_opts& o = {}) {
    std::string s = "INVITE sip:" + o.user + "@192.0.2.1 SIP/2.0\r\n";
    s += "Via: SIP/2.0/UDP 192.0.2.10:" + std::to_string(o.via_port) + ";branch=" + o.branch + ";rport\r\n";
    s += "Max-Forwards: " + std::to_string(o.max_forwards) + "\r\n";
    s += "From: \"Alice\" <sip:alice@192.0.2.10>;tag=alicetag\r\n";
    s += "To: <sip:" + o.user + "@192.0.2.1>\r\n";
    s += "Call-ID: " + o.call_id + "\r\n";
    s += "CSeq: 1 INVITE\r\n";
    s += "Contact: <sip:alice@192.0.2.10:" + std::to_string(o.contact_port) + ">\r\n";
    s += "User-Agent: alice-phone\r\n";
    s += o.extra;
    if (!o.body.empty()) {
        s += "Content-Type: application/sdp\r\n";
    }
    s += "Content-Length: " + std::to_string(o.body.size()) + "\r\n\r\n" + o.body;
    return s;
}

/// alice's INVITE (alice_invite) as sent from `host` on the core side: her address becomes `host`,
/// the appliance's acc address its core one.
inline std::string from_core_host(std::string inv, const std::string& host) {
    for (auto [from, to] : {std::pair<std::string, std::string>{"192.0.2.10", host}, {"192.0.2.1", "198.51.100.1"}}) {
        for (size_t at = inv.find(from); at != std::string::npos; at = inv.find(from, at + to.size())) {
            inv.replace(at, from.size(), to);
        }
    }
    return inv;
}

/// Puts `body` (of type `type`) into a request built with Content-Length 0.
inline std::string with_body(std::string msg, const std::string& body, std::string_view type = "application/sdp") {
    const auto at = msg.find("Content-Length: 0\r\n\r\n");
    msg.replace(at, std::string::npos,
                "Content-Type: " + std::string(type) + "\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n\r\n" + body);
    return msg;
}

/// A request from alice inside her dialog with the appliance.
inline std::string alice_request(std::string_view method, const std::string& our_tag, unsigned cseq,
                          std::string_view branch, const std::string& call_id = invite_opts{}.call_id,
                          std::string_view cseq_method = {}) {
    std::string s;
    s.append(method).append(" sip:sipferry@192.0.2.1:5060 SIP/2.0\r\n");
    s.append("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=").append(branch).append(";rport\r\n");
    s += "Max-Forwards: 70\r\n";
    s += "From: \"Alice\" <sip:alice@192.0.2.10>;tag=alicetag\r\n";
    s += "To: <sip:bob@192.0.2.1>";
    if (!our_tag.empty()) {
        s += ";tag=" + our_tag;
    }
    s += "\r\n";
    s += "Call-ID: " + call_id + "\r\n";
    s.append("CSeq: ").append(std::to_string(cseq)).append(" ");
    s.append(cseq_method.empty() ? method : cseq_method).append("\r\n");
    s += "Content-Length: 0\r\n\r\n";
    return s;
}

/// alice's CANCEL of her INVITE: same Request-URI, branch, Call-ID, From, To and CSeq number.
inline std::string alice_cancel(const invite_opts& o = {}) {
    std::string s = "CANCEL sip:" + o.user + "@192.0.2.1 SIP/2.0\r\n";
    s += "Via: SIP/2.0/UDP 192.0.2.10:" + std::to_string(o.via_port) + ";branch=" + o.branch + ";rport\r\n";
    s += "Max-Forwards: 70\r\n";
    s += "From: \"Alice\" <sip:alice@192.0.2.10>;tag=alicetag\r\n";
    s += "To: <sip:" + o.user + "@192.0.2.1>\r\n";
    s += "Call-ID: " + o.call_id + "\r\n";
    s += "CSeq: 1 CANCEL\r\n";
    s += "Content-Length: 0\r\n\r\n";
    return s;
}

struct received {
    sip::parse_error error = sip::parse_error::ok;
    unsigned realm = 0;
    sip_addr to;
    std::string text;
    sip::message msg;
};

inline std::unique_ptr<received> parse_copy(unsigned realm, sip_addr to, const std::string& text) {
    auto r = std::make_unique<received>();
    r->realm = realm;
    r->to = to;
    r->text = text;
    r->error = sip::parse(r->text, r->msg);
    return r;
}

/// The INVITE the appliance sent to `to` in `out`, parsed again (null when none).
inline std::unique_ptr<received> invite_sent_to(const std::vector<std::unique_ptr<received>>& out, sip_addr to) {
    for (const auto& r : out) {
        if (r->msg.is_request && r->msg.req_method == sip::method::invite && r->to == to) {
            return parse_copy(r->realm, r->to, r->text);
        }
    }
    return nullptr;
}

inline std::string header(const sip::message& m, sip::hdr id) {
    const sip::header* h = m.find(id);
    return h == nullptr ? std::string() : std::string(h->value);
}

/// bob's response to a request the appliance sent him.
inline std::string bob_response(const sip::message& req, unsigned status, std::string_view reason,
                         const std::string& body = {}, std::string_view to_tag = "bobtag",
                         std::string_view contact = "<sip:bob@198.51.100.20:5060>") {
    std::string s = "SIP/2.0 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    for (unsigned i = 0; i < req.n_headers; ++i) {
        if (req.headers[i].id == sip::hdr::via) {
            s.append("Via: ").append(req.headers[i].value).append("\r\n");
        }
    }
    s += "From: " + header(req, sip::hdr::from) + "\r\n";
    s += "To: " + header(req, sip::hdr::to);
    if (status > 100 && req.to.tag.empty() && !to_tag.empty()) {
        s.append(";tag=").append(to_tag);
    }
    s += "\r\n";
    s.append("Call-ID: ").append(req.call_id).append("\r\n");
    s.append("CSeq: ").append(std::to_string(req.cseq)).append(" ").append(req.cseq_method_name).append("\r\n");
    if (status > 100 && status < 300 && req.req_method == sip::method::invite && !contact.empty()) {
        s.append("Contact: ").append(contact).append("\r\n");
    }
    if (!body.empty()) {
        s += "Content-Type: application/sdp\r\n";
    }
    s += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    return s;
}

/// bob's request inside his dialog with the appliance (built from the INVITE he got).
inline std::string bob_request(std::string_view method, const sip::message& invite, unsigned cseq,
                        std::string_view branch) {
    std::string s;
    s.append(method).append(" sip:sipferry@198.51.100.1:5060 SIP/2.0\r\n");
    s.append("Via: SIP/2.0/UDP 198.51.100.20:5060;branch=").append(branch).append(";rport\r\n");
    s += "Max-Forwards: 70\r\n";
    s += "From: " + header(invite, sip::hdr::to) + ";tag=bobtag\r\n";
    s += "To: " + header(invite, sip::hdr::from) + "\r\n";
    s.append("Call-ID: ").append(invite.call_id).append("\r\n");
    s.append("CSeq: ").append(std::to_string(cseq)).append(" ").append(method).append("\r\n");
    s += "Content-Length: 0\r\n\r\n";
    return s;
}

/// bob (transfer mode c) REFERs alice to `target`.
inline std::string bob_refer(const sip::message& invite, const std::string& target) {
    std::string r = bob_request("REFER", invite, 1, "z9hG4bKbobrefer");
    r.insert(r.find("Content-Length"),
             "Refer-To: <sip:" + target + "@198.51.100.1>\r\nReferred-By: <sip:bob@198.51.100.20>\r\n");
    return r;
}

struct sdp_info {
    std::string conn;
    uint16_t port = 0;
    std::string origin_addr;
};

inline sdp_info sdp_of(std::string_view body) {
    sdp::session s;
    EXPECT_EQ(sdp::parse(body, s), sdp::parse_error::ok) << body;
    sdp_info i;
    if (s.n_media > 0) {
        i.conn = std::string(s.streams[0].conn_addr);
        i.port = s.streams[0].port;
    }
    i.origin_addr = std::string(s.origin_addr);
    return i;
}

inline boost::property_tree::ptree json(const std::string& text) {
    std::istringstream in(text);
    boost::property_tree::ptree t;
    boost::property_tree::read_json(in, t);
    return t;
}

// ------------------------------------------------------------------ the fixture

class b2bua_test : public ::testing::Test {
protected:
    void SetUp() override {
        static unsigned n = 0;
        const std::string name = "b2b_relay_" + std::to_string(n++);
        table_ = std::make_unique<dp::relay_table>(name.c_str(), 1024, 1, -1);

        std::vector<realm_info> realms(2);
        realms[0].name = "acc";
        realms[0].addr = acc_addr;
        realms[0].addr_text = "192.0.2.1";
        realms[0].prefix = 24;
        realms[0].port_id = 0;
        realms[0].mac = rte_ether_addr{{0x02, 0, 0, 0, 0, 0x01}};
        realms[1].name = "core";
        realms[1].addr = core_addr;
        realms[1].addr_text = "198.51.100.1";
        realms[1].prefix = 24;
        realms[1].port_id = 1;
        realms[1].mac = rte_ether_addr{{0x02, 0, 0, 0, 0, 0x02}};
        anchor_ = std::make_unique<media_anchor>(*table_, realms, 20000, 29999, [](unsigned, uint32_t) {
            return std::optional<rte_ether_addr>(neighbour_mac);
        });

        engine_ = std::make_unique<dialplan_engine>();
        const fs::path root = source_root();
        ASSERT_FALSE(root.empty()) << "cannot find the source tree (set SF_SOURCE_ROOT)";
        const fs::path plan = root / "lua" / "dialplans" / "lab_default.lua";
        ASSERT_TRUE(fs::exists(plan)) << plan << " is missing";
        ASSERT_EQ(engine_->load("default", plan.string()), "");
        ASSERT_EQ(engine_->load("transfer", (root / "lua" / "dialplans" / "lab_transfer.lua").string()), "");

        cdrs_ = std::make_unique<cdr_writer>("");
        pool_free_at_start_ = sf::control::test::test_pool().available();
        const timer_config timers{500, 4000, 5000};
        auto send = [this](unsigned realm, sip_addr to, sip_wire msg) {
            sent_.push_back(parse_copy(realm, to, msg.to_string()));  // a test may copy; production never does
            if (sent_.back()->error != sip::parse_error::ok) {
                ++unparsable_sent_;
            }
        };
        auto clock = [this] { return now_; };
        tl_ = std::make_unique<transaction_layer>(timers_, sf::control::test::test_pool(), send, timers, clock);
        b2b_ = std::make_unique<b2bua>(base_config(), *tl_, timers_, *anchor_, *engine_, *cdrs_, send, clock);
    }

    /// The configuration SetUp() builds the B2BUA with.
    static b2bua_config base_config() {
        b2bua_config cfg;
        cfg.user_agent = "sipferry";
        cfg.max_forwards = 70;
        cfg.sip_port = 5060;
        cfg.timers = timer_config{500, 4000, 5000};
        return cfg;
    }

    /// Replaces the B2BUA with one built from `cfg` (same transport, clock, dialplans, CDRs).
    void rebuild(const b2bua_config& cfg) {
        auto send = [this](unsigned realm, sip_addr to, sip_wire msg) {
            sent_.push_back(parse_copy(realm, to, msg.to_string()));  // a test may copy; production never does
            if (sent_.back()->error != sip::parse_error::ok) {
                ++unparsable_sent_;
            }
        };
        b2b_.reset();
        b2b_ = std::make_unique<b2bua>(cfg, *tl_, timers_, *anchor_, *engine_, *cdrs_, send, [this] { return now_; });
    }

    /// Replaces the media anchor with one of `port_min..port_max` whose realms have more relay
    /// addresses (`acc_media`/`core_media` from 192.0.2.100 / 198.51.100.100), and the B2BUA on it.
    void reanchor(uint16_t port_min, uint16_t port_max, uint32_t acc_media, uint32_t core_media) {
        b2b_.reset();
        std::vector<realm_info> realms(2);
        realms[0].name = "acc";
        realms[0].addr = acc_addr;
        realms[0].addr_text = "192.0.2.1";
        realms[0].port_id = 0;
        realms[0].media_first = ip(192, 0, 2, 100);
        realms[0].media_count = acc_media;
        realms[1].name = "core";
        realms[1].addr = core_addr;
        realms[1].addr_text = "198.51.100.1";
        realms[1].port_id = 1;
        realms[1].media_first = ip(198, 51, 100, 100);
        realms[1].media_count = core_media;
        anchor_ = std::make_unique<media_anchor>(*table_, realms, port_min, port_max, [](unsigned, uint32_t) {
            return std::optional<rte_ether_addr>(neighbour_mac);
        });
        rebuild(base_config());
    }

    void TearDown() override {
        EXPECT_EQ(unparsable_sent_, allowed_unparsable_) << "the appliance sent messages it cannot parse itself";
        b2b_.reset();
        tl_.reset();
        anchor_.reset();
        table_.reset();
        // Every message the B2BUA and its transactions built (and kept for retransmissions) is
        // back in the pool once they are gone: no handle leaks an mbuf.
        EXPECT_EQ(sf::control::test::test_pool().available(), pool_free_at_start_);
    }

    /// Published relay sides, counted by lookup (independent of relay_table::size(), so the two
    /// can check each other).
    unsigned relay_entries() const {
        unsigned n = 0;
        for (uint32_t addr : {acc_addr, core_addr}) {
            for (unsigned port = 20000; port <= 29999; ++port) {
                n += table_->find(addr, static_cast<uint16_t>(port)) != nullptr ? 1 : 0;
            }
        }
        return n;
    }

    void feed(unsigned realm, sip_addr source, const std::string& text) { b2b_->on_datagram(realm, source, text); }
    void from_alice(const std::string& text) { feed(acc, alice, text); }
    void from_bob(const std::string& text) { feed(core, bob, text); }
    void from_carol(const std::string& text) { feed(core, carol, text); }

    /// Everything sent since the last take().
    std::vector<std::unique_ptr<received>> take() {
        std::vector<std::unique_ptr<received>> out;
        out.swap(sent_);
        return out;
    }

    /// Moves the fake clock 1 ms at a time, running what falls due.
    void advance_to(ms_t t) {
        while (now_ < t) {
            ++now_;
            timers_.run(now_);
        }
    }
    void advance(ms_t d) { advance_to(now_ + d); }

    static const received* find(const std::vector<std::unique_ptr<received>>& v, unsigned realm, bool request,
                                 unsigned status_or_zero, sip::method cseq_method) {
        for (const auto& r : v) {
            if (r->realm == realm && r->msg.is_request == request && r->msg.cseq_method == cseq_method &&
                (request || r->msg.status == status_or_zero)) {
                return r.get();
            }
        }
        return nullptr;
    }
    static const received* find_request(const std::vector<std::unique_ptr<received>>& v, unsigned realm,
                                        sip::method m) {
        for (const auto& r : v) {
            if (r->realm == realm && r->msg.is_request && r->msg.req_method == m) {
                return r.get();
            }
        }
        return nullptr;
    }
    static const received* find_response(const std::vector<std::unique_ptr<received>>& v, unsigned realm,
                                         unsigned status, sip::method cseq_method = sip::method::invite) {
        return find(v, realm, false, status, cseq_method);
    }
    static size_t count_request(const std::vector<std::unique_ptr<received>>& v, unsigned realm, sip::method m) {
        return static_cast<size_t>(std::count_if(v.begin(), v.end(), [&](const auto& r) {
            return r->realm == realm && r->msg.is_request && r->msg.req_method == m;
        }));
    }
    static size_t count_response(const std::vector<std::unique_ptr<received>>& v, unsigned realm, unsigned status) {
        return static_cast<size_t>(std::count_if(v.begin(), v.end(), [&](const auto& r) {
            return r->realm == realm && !r->msg.is_request && r->msg.status == status;
        }));
    }

    /// carol's INVITE to the appliance's core address with `replaces` as its Replaces value
    /// (no header when empty; `twice` repeats it).
    static std::string carol_invite(const std::string& replaces, bool twice = false,
                                    const std::string& branch = "z9hG4bKcarolrepl") {
        std::string s = "INVITE sip:bob@198.51.100.1 SIP/2.0\r\n";
        s += "Via: SIP/2.0/UDP 198.51.100.30:5060;branch=" + branch + ";rport\r\n";
        s += "Max-Forwards: 70\r\n";
        s += "From: <sip:carol@198.51.100.30>;tag=caroltag\r\n";
        s += "To: <sip:bob@198.51.100.1>\r\n";
        s += "Call-ID: carol-replaces@198.51.100.30\r\n";
        s += "CSeq: 7 INVITE\r\n";
        s += "Contact: <sip:carol@198.51.100.30:5060>\r\n";
        if (!replaces.empty()) {
            s += "Replaces: " + replaces + "\r\n";
            if (twice) {
                s += "Replaces: " + replaces + "\r\n";
            }
        }
        s += "Content-Type: application/sdp\r\n";
        s += "Content-Length: " + std::to_string(carol_sdp.size()) + "\r\n\r\n" + carol_sdp;
        return s;
    }

    /// Feeds carol's INVITE and returns the single response the appliance sent her.
    std::unique_ptr<received> answer_to_carol(const std::string& invite, unsigned realm = core) {
        feed(realm, carol, invite);
        auto out = take();
        for (auto& r : out) {
            if (r->to == carol && !r->msg.is_request && r->msg.status >= 200) {
                return std::move(r);
            }
        }
        ADD_FAILURE() << "no final response to carol";
        return nullptr;
    }

    /// What a call's setup left behind for later steps.
    struct call_state {
        std::unique_ptr<received> b_invite;  ///< the INVITE bob got
        std::string a_tag;                   ///< our tag on leg A (To of our responses to alice)
        uint16_t a_port = 0, b_port = 0;     ///< relay ports in the SDP each leg got
    };

    /// bob's dialog with the appliance as bob names it: his Call-ID, the appliance's tag as
    /// to-tag (the receiver's local tag, RFC 3891), his own as from-tag.
    static std::string bobs_dialog(const call_state& cs) {
        return std::string(cs.b_invite->msg.call_id) + ";to-tag=" + std::string(cs.b_invite->msg.from.tag) +
               ";from-tag=bobtag";
    }

    /// alice INVITEs bob; returns the INVITE that reached bob.
    call_state start_call(const invite_opts& o = {}) {
        call_state cs;
        from_alice(alice_invite(o));
        auto out = take();
        for (auto& r : out) {
            if (r->realm == core && r->msg.is_request && r->msg.req_method == sip::method::invite) {
                cs.b_invite = std::move(r);
            }
        }
        EXPECT_NE(cs.b_invite, nullptr) << "no INVITE to bob";
        if (cs.b_invite) {
            cs.b_port = sdp_of(cs.b_invite->msg.body).port;
        }
        return cs;
    }

    /// Through 180 and 200 (with SDP) to alice's ACK: a confirmed call.
    call_state confirmed_call(const invite_opts& o = {}) {
        call_state cs = start_call(o);
        if (!cs.b_invite) {
            return cs;
        }
        from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
        from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
        auto out = take();
        const received* ok = find_response(out, acc, 200);
        EXPECT_NE(ok, nullptr);
        if (ok != nullptr) {
            cs.a_tag = std::string(ok->msg.to.tag);
            cs.a_port = sdp_of(ok->msg.body).port;
        }
        from_alice(alice_request("ACK", cs.a_tag, 1, "z9hG4bKaliceack", o.call_id));
        EXPECT_TRUE(take().empty()) << "an ACK is never answered";
        return cs;
    }

    /// Call 2, a consultation: bob (core realm) calls `user` at the appliance offering `offer`;
    /// carol answers with `answer` (`answer_lines` added to her 200), bob ACKs. Returns the
    /// appliance's tag in bob's dialog ("" when it failed); `carol_relay_port`, when given, gets
    /// the relay port carol was offered.
    std::string bob_calls_carol(uint16_t* carol_relay_port = nullptr, const std::string& user = "carol",
                                const std::string& offer = bob_sdp, const std::string& answer = carol_sdp,
                                const std::string& answer_lines = {}) {
        // Request-URI and Via first (the ACK is a transaction of its own: a branch of its own).
        auto head = [&](const std::string& method, const std::string& branch) {
            return method + " sip:" + (method == "ACK" ? std::string("sipferry") : user) +
                   "@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=" + branch +
                   ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:bob@198.51.100.20>;tag=bobtag2\r\n"
                   "Call-ID: bob-call-2@198.51.100.20\r\n";
        };
        const std::string to = "To: <sip:" + user + "@198.51.100.1>";
        from_bob(with_body(head("INVITE", "z9hG4bKbob2") + to +
                               "\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@198.51.100.20:5060>\r\nContent-Length: 0\r\n\r\n",
                           offer));
        const auto to_carol = invite_sent_to(take(), carol);
        EXPECT_NE(to_carol, nullptr);
        if (to_carol == nullptr) {
            return {};
        }
        std::string ok = bob_response(to_carol->msg, 200, "OK", answer, "caroltag", "<sip:carol@198.51.100.30:5060>");
        ok.insert(ok.find("Content-Length"), answer_lines);
        feed(core, carol, ok);
        const auto out = take();
        const received* ok2 = find_response(out, core, 200);
        EXPECT_NE(ok2, nullptr);
        if (ok2 == nullptr) {
            return {};
        }
        const std::string our_tag2(ok2->msg.to.tag);
        if (carol_relay_port != nullptr) {
            *carol_relay_port = sdp_of(to_carol->msg.body).port;
        }
        from_bob(head("ACK", "z9hG4bKbob2ack") + to + ";tag=" + our_tag2 +
                 "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
        take();
        return our_tag2;
    }

    /// bob's REFER in call 1 (`cs`) of alice to carol, replacing his call-2 dialog as he sees it.
    static std::string attended_refer(const call_state& cs, const std::string& our_tag2) {
        std::string refer = bob_request("REFER", cs.b_invite->msg, 1, "z9hG4bKbobattended");
        refer.insert(refer.find("Content-Length"),
                     "Refer-To: <sip:carol@198.51.100.1?Replaces=bob-call-2%40198.51.100.20%3Bto-tag%3D" + our_tag2 +
                         "%3Bfrom-tag%3Dbobtag2>\r\n");
        return refer;
    }

    static inline const rte_ether_addr neighbour_mac{{0x02, 0x99, 0x99, 0x99, 0x99, 0x99}};

    unsigned unparsable_sent_ = 0;
    unsigned allowed_unparsable_ = 0;
    unsigned pool_free_at_start_ = 0;  ///< message mbufs free before the test built anything
    ms_t now_ = 1'000'000;
    timer_queue timers_;
    std::vector<std::unique_ptr<received>> sent_;
    std::unique_ptr<dp::relay_table> table_;
    std::unique_ptr<media_anchor> anchor_;
    std::unique_ptr<dialplan_engine> engine_;
    std::unique_ptr<cdr_writer> cdrs_;
    std::unique_ptr<transaction_layer> tl_;
    std::unique_ptr<b2bua> b2b_;
};

}  // namespace
