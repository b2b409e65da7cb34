// The registrar: REGISTER processing (RFC 3261 10.3) over messages built as text and
// parsed with the project's parser, bindings with expiry, q ordering, the NAT flow,
// caps and OPTIONS keepalive bookkeeping. Time is a fake clock the tests move.

#include "registrar.hh"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "config.hh"

using namespace sf::control;
namespace sip = sf::sip;

namespace {

uint32_t ip(const char* text) {
    uint32_t a = 0;
    EXPECT_TRUE(parse_ipv4_text(text, a)) << text;
    return a;
}

struct reg {
    std::string user = "alice";
    std::string call_id = "reg-1@10.0.0.5";
    uint32_t cseq = 1;
    std::vector<std::string> contacts = {"<sip:alice@10.0.0.5:5062>"};  ///< one Contact line each
    std::optional<std::string> expires;                                  ///< Expires header value
    std::string method = "REGISTER";
};

std::string register_text(const reg& r) {
    std::string s = r.method + " sip:192.0.2.1 SIP/2.0\r\n";
    s += "Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-" + std::to_string(r.cseq) + ";rport\r\n";
    s += "Max-Forwards: 70\r\n";
    s += "From: <sip:" + r.user + "@192.0.2.1>;tag=ft" + std::to_string(r.cseq) + "\r\n";
    s += "To: <sip:" + r.user + "@192.0.2.1>\r\n";
    s += "Call-ID: " + r.call_id + "\r\n";
    s += "CSeq: " + std::to_string(r.cseq) + " " + r.method + "\r\n";
    for (const auto& c : r.contacts) {
        s += "Contact: " + c + "\r\n";
    }
    if (r.expires) {
        s += "Expires: " + *r.expires + "\r\n";
    }
    s += "Content-Length: 0\r\n\r\n";
    return s;
}

class registrar_test : public ::testing::Test {
protected:
    registrar_test() { make({}); }

    void make(registrar_config cfg) {
        reg_ = std::make_unique<registrar>(cfg, [this] { return now_; });
    }

    // Sends `r` as if from `from` on realm 1 (the NAT'd source differs from the Contact).
    register_result send(const reg& r, sip_addr from = {0xcb007107u /* 203.0.113.7 */, 40000},
                         const account_config* acc = nullptr) {
        const std::string text = register_text(r);
        sip::message msg;
        const auto err = sip::parse(text, msg);
        EXPECT_EQ(err, sip::parse_error::ok) << sip::to_string(err) << "\n" << text;
        inbound in;
        in.realm = 1;
        in.source = from;
        in.msg = &msg;
        in.raw = text;
        return reg_->handle(in, acc ? *acc : acme_);
    }

    static account_config make_account() {
        account_config a;
        a.name = "acme";
        a.password = "secret";
        a.may_register = true;
        a.users = {"alice", "bob", "carol"};
        return a;
    }

    std::vector<std::string> contacts_of(const std::string& user) {
        std::vector<std::string> out;
        for (const auto& b : reg_->lookup(user)) {
            out.push_back(b.contact);
        }
        return out;
    }

    int64_t now_ = 1'000'000;
    account_config acme_ = make_account();
    std::unique_ptr<registrar> reg_;
};

}  // namespace

// ------------------------------------------------------------------ adding and looking up

TEST_F(registrar_test, register_adds_a_binding_with_the_nat_flow) {
    const register_result r = send({});
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.reason, "OK");
    EXPECT_EQ(r.extra, "Contact: <sip:alice@10.0.0.5:5062>;expires=3600\r\n");
    EXPECT_EQ(r.added, 1u);
    const auto b = reg_->lookup("alice");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].user, "alice");
    EXPECT_EQ(b[0].account, "acme");
    EXPECT_EQ(b[0].contact, "sip:alice@10.0.0.5:5062");
    EXPECT_EQ(b[0].flow.addr, ip("203.0.113.7"));
    EXPECT_EQ(b[0].flow.port, 40000);
    EXPECT_EQ(b[0].realm, 1u);
    EXPECT_EQ(b[0].call_id, "reg-1@10.0.0.5");
    EXPECT_EQ(b[0].cseq, 1u);
    EXPECT_EQ(b[0].q, 1000);
    EXPECT_EQ(b[0].expires_ms, now_ + 3'600'000);
    EXPECT_NE(b[0].id, 0u);
    EXPECT_TRUE(reg_->lookup("bob").empty());
    EXPECT_TRUE(reg_->lookup("Alice").empty()) << "user names are case-sensitive";
    EXPECT_EQ(reg_->size(), 1u);
    EXPECT_EQ(reg_->users(), 1u);
    EXPECT_EQ(reg_->stats().added, 1u);
}

TEST_F(registrar_test, expires_from_param_header_default_and_clamped) {
    reg r;
    r.contacts = {"<sip:alice@10.0.0.5:5062>"};
    r.expires = "120";
    EXPECT_EQ(send(r).extra, "Contact: <sip:alice@10.0.0.5:5062>;expires=120\r\n");
    r.cseq = 2;
    r.contacts = {"<sip:alice@10.0.0.5:5062>;expires=300"};  // the param wins over the header
    EXPECT_EQ(send(r).extra, "Contact: <sip:alice@10.0.0.5:5062>;expires=300\r\n");
    r.cseq = 3;
    r.expires = "7200";  // above max_expires: shortened
    r.contacts = {"<sip:alice@10.0.0.5:5062>"};
    EXPECT_EQ(send(r).extra, "Contact: <sip:alice@10.0.0.5:5062>;expires=3600\r\n");
    r.cseq = 4;
    r.expires = "99999999999999999999";  // beyond 2^32: saturates, then shortened
    EXPECT_EQ(send(r).extra, "Contact: <sip:alice@10.0.0.5:5062>;expires=3600\r\n");

    registrar_config cfg;
    cfg.default_expires = 600;
    make(cfg);
    r = {};
    EXPECT_EQ(send(r).extra, "Contact: <sip:alice@10.0.0.5:5062>;expires=600\r\n");
}

TEST_F(registrar_test, too_brief_gets_423_with_min_expires_and_changes_nothing) {
    reg r;
    r.expires = "30";
    register_result res = send(r);
    EXPECT_EQ(res.status, 423u);
    EXPECT_EQ(res.extra, "Min-Expires: 60\r\n");
    EXPECT_EQ(reg_->size(), 0u);
    // One contact too brief among good ones: the whole request is refused.
    r.expires.reset();
    r.contacts = {"<sip:alice@10.0.0.5:5062>;expires=3600", "<sip:alice@10.0.0.6>;expires=59"};
    EXPECT_EQ(send(r).status, 423u);
    EXPECT_EQ(reg_->size(), 0u);
    // Exactly min_expires is fine.
    r.contacts = {"<sip:alice@10.0.0.6>;expires=60"};
    EXPECT_EQ(send(r).status, 200u);
    EXPECT_EQ(reg_->size(), 1u);
}

TEST_F(registrar_test, foreign_aor_gets_403) {
    reg r;
    r.user = "mallory";
    register_result res = send(r);
    EXPECT_EQ(res.status, 403u);
    EXPECT_TRUE(res.extra.empty());
    EXPECT_EQ(reg_->size(), 0u);
    // A user of another account.
    account_config other;
    other.name = "other";
    other.password = "x";
    other.may_register = true;
    other.users = {"dave"};
    r.user = "alice";
    EXPECT_EQ(send(r, {ip("203.0.113.7"), 40000}, &other).status, 403u);
    // The account may not register at all.
    account_config no_reg = acme_;
    no_reg.may_register = false;
    EXPECT_EQ(send(r, {ip("203.0.113.7"), 40000}, &no_reg).status, 403u);
    EXPECT_EQ(reg_->size(), 0u);
    EXPECT_EQ(reg_->stats().refused, 3u);
    // The account's own user is accepted.
    EXPECT_EQ(send(r).status, 200u);
}

// ------------------------------------------------------------------ refresh and ordering

TEST_F(registrar_test, refresh_keeps_the_binding_and_updates_the_flow) {
    send({});
    const uint64_t id = reg_->lookup("alice").at(0).id;
    now_ += 1000 * 1000;
    reg r;
    r.cseq = 2;
    const register_result res = send(r, {ip("203.0.113.7"), 40002});  // the NAT moved the port
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.refreshed, 1u);
    EXPECT_EQ(res.added, 0u);
    EXPECT_EQ(res.extra, "Contact: <sip:alice@10.0.0.5:5062>;expires=3600\r\n");
    const auto b = reg_->lookup("alice");
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].id, id);
    EXPECT_EQ(b[0].flow.port, 40002);
    EXPECT_EQ(b[0].cseq, 2u);
    EXPECT_EQ(b[0].registered_ms, now_);
    EXPECT_EQ(b[0].expires_ms, now_ + 3'600'000);
    // The old expiry is gone from the schedule: nothing expires at the first deadline.
    EXPECT_EQ(reg_->expire(now_ - 1000 * 1000 + 3'600'000), 0u);
    EXPECT_EQ(reg_->size(), 1u);
}

TEST_F(registrar_test, contact_uri_comparison_finds_the_same_binding) {
    reg r;
    r.contacts = {"<sip:alice@Phone.Example.COM:5062;transport=udp>"};
    send(r);
    r.cseq = 2;
    r.contacts = {"\"Alice\" <sip:alice@phone.example.com:5062;TRANSPORT=UDP>"};
    const register_result res = send(r);
    EXPECT_EQ(res.refreshed, 1u);
    EXPECT_EQ(res.added, 0u);
    EXPECT_EQ(reg_->size(), 1u);
}

TEST_F(registrar_test, same_call_id_needs_a_higher_cseq) {
    reg r;
    r.cseq = 5;
    send(r);
    const binding before = reg_->lookup("alice").at(0);
    now_ += 10'000;
    for (uint32_t cseq : {5u, 4u, 1u}) {
        r.cseq = cseq;
        const register_result res = send(r, {ip("203.0.113.7"), 41000});
        EXPECT_EQ(res.status, 500u) << cseq;
        EXPECT_TRUE(res.extra.empty());
    }
    // Nothing changed.
    const binding after = reg_->lookup("alice").at(0);
    EXPECT_EQ(after.flow.port, before.flow.port);
    EXPECT_EQ(after.expires_ms, before.expires_ms);
    EXPECT_EQ(after.cseq, 5u);
    // A removal with a stale CSeq fails as well.
    r.cseq = 3;
    r.contacts = {"<sip:alice@10.0.0.5:5062>;expires=0"};
    EXPECT_EQ(send(r).status, 500u);
    EXPECT_EQ(reg_->size(), 1u);
    // Another Call-ID (the phone rebooted) updates whatever its CSeq.
    reg other;
    other.call_id = "reboot-2@10.0.0.5";
    other.cseq = 1;
    EXPECT_EQ(send(other, {ip("203.0.113.7"), 41000}).status, 200u);
    EXPECT_EQ(reg_->lookup("alice").at(0).flow.port, 41000);
    EXPECT_EQ(reg_->lookup("alice").at(0).call_id, "reboot-2@10.0.0.5");
    // The binding now carries the new Call-ID: the first one, whatever its CSeq, updates again.
    r.contacts = {"<sip:alice@10.0.0.5:5062>"};
    r.cseq = 1;
    EXPECT_EQ(send(r).status, 200u);
}

TEST_F(registrar_test, out_of_order_request_is_atomic) {
    reg r;
    r.contacts = {"<sip:alice@10.0.0.5>"};
    r.cseq = 10;
    send(r);
    // A new contact plus a stale refresh of the old one: neither happens.
    r.cseq = 3;
    r.contacts = {"<sip:alice@10.0.0.9>", "<sip:alice@10.0.0.5>"};
    EXPECT_EQ(send(r).status, 500u);
    EXPECT_EQ(contacts_of("alice"), std::vector<std::string>{"sip:alice@10.0.0.5"});
}

// ------------------------------------------------------------------ removal

TEST_F(registrar_test, expires_zero_removes_one_binding) {
    reg r;
    r.contacts = {"<sip:alice@10.0.0.5>", "<sip:alice@10.0.0.6>"};
    send(r);
    ASSERT_EQ(reg_->size(), 2u);
    r.cseq = 2;
    r.contacts = {"<sip:alice@10.0.0.5>;expires=0"};
    const register_result res = send(r);
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.removed, 1u);
    EXPECT_EQ(res.extra, "Contact: <sip:alice@10.0.0.6>;expires=3600\r\n");
    EXPECT_EQ(contacts_of("alice"), std::vector<std::string>{"sip:alice@10.0.0.6"});
    // Removing what is not there is fine and changes nothing.
    r.cseq = 3;
    r.contacts = {"<sip:alice@10.0.0.7>"};
    r.expires = "0";
    EXPECT_EQ(send(r).status, 200u);
    EXPECT_EQ(reg_->size(), 1u);
}

TEST_F(registrar_test, star_removes_every_binding) {
    reg r;
    r.contacts = {"<sip:alice@10.0.0.5>", "<sip:alice@10.0.0.6>;q=0.5"};
    send(r);
    reg bob;
    bob.user = "bob";
    send(bob);
    reg other_call;  // a binding from another Call-ID goes too
    other_call.call_id = "other";
    other_call.contacts = {"<sip:alice@10.0.0.7>"};
    send(other_call);
    ASSERT_EQ(reg_->lookup("alice").size(), 3u);
    r.cseq = 2;
    r.contacts = {"*"};
    r.expires = "0";
    const register_result res = send(r);
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.removed, 3u);
    EXPECT_EQ(res.extra, "");
    EXPECT_TRUE(reg_->lookup("alice").empty());
    EXPECT_EQ(reg_->lookup("bob").size(), 1u) << "only the AOR's bindings";
    EXPECT_EQ(reg_->users(), 1u);
}

TEST_F(registrar_test, star_must_be_alone_with_expires_zero) {
    reg seed;
    send(seed);
    reg r;
    r.cseq = 2;
    r.contacts = {"*"};
    r.expires = "3600";
    EXPECT_EQ(send(r).status, 400u);
    r.expires.reset();  // no Expires at all
    EXPECT_EQ(send(r).status, 400u);
    r.expires = "0";
    r.contacts = {"*", "<sip:alice@10.0.0.6>"};
    EXPECT_EQ(send(r).status, 400u);
    r.contacts = {"*, <sip:alice@10.0.0.6>"};
    EXPECT_EQ(send(r).status, 400u);
    r.contacts = {"*", "*"};
    EXPECT_EQ(send(r).status, 400u);
    r.contacts = {"*;expires=0"};
    EXPECT_EQ(send(r).status, 400u);
    EXPECT_EQ(reg_->size(), 1u);
    // A stale CSeq of the same Call-ID: refused, nothing removed.
    r.contacts = {"*"};
    r.cseq = 1;
    EXPECT_EQ(send(r).status, 500u);
    EXPECT_EQ(reg_->size(), 1u);
    r.cseq = 3;
    EXPECT_EQ(send(r).status, 200u);
    EXPECT_EQ(reg_->size(), 0u);
}

// ------------------------------------------------------------------ several contacts

TEST_F(registrar_test, several_contacts_ordered_by_q_then_most_recent) {
    reg r;
    // Two header lines, one of them a comma list, compact form included.
    r.contacts = {"<sip:alice@10.0.0.1>;q=0.5, <sip:alice@10.0.0.2>", "<sip:alice@10.0.0.3>;q=0.8"};
    const register_result res = send(r);
    EXPECT_EQ(res.added, 3u);
    EXPECT_EQ(res.extra,
              "Contact: <sip:alice@10.0.0.2>;expires=3600\r\n"
              "Contact: <sip:alice@10.0.0.3>;q=0.8;expires=3600\r\n"
              "Contact: <sip:alice@10.0.0.1>;q=0.5;expires=3600\r\n");
    EXPECT_EQ(contacts_of("alice"),
              (std::vector<std::string>{"sip:alice@10.0.0.2", "sip:alice@10.0.0.3", "sip:alice@10.0.0.1"}));
    // Equal q: the most recently registered first.
    now_ += 5000;
    reg later;
    later.call_id = "second-device";
    later.contacts = {"<sip:alice@10.0.0.4>;q=0.8"};
    send(later);
    EXPECT_EQ(contacts_of("alice"), (std::vector<std::string>{"sip:alice@10.0.0.2", "sip:alice@10.0.0.4",
                                                             "sip:alice@10.0.0.3", "sip:alice@10.0.0.1"}));
    // Refreshing the older q=0.8 one makes it the most recent.
    now_ += 5000;
    r.cseq = 2;
    r.contacts = {"<sip:alice@10.0.0.3>;q=0.8"};
    send(r);
    EXPECT_EQ(contacts_of("alice"), (std::vector<std::string>{"sip:alice@10.0.0.2", "sip:alice@10.0.0.3",
                                                             "sip:alice@10.0.0.4", "sip:alice@10.0.0.1"}));
    EXPECT_EQ(reg_->lookup("alice")[3].q, 500);
}

TEST_F(registrar_test, q_values) {
    const std::pair<const char*, uint16_t> good[] = {{"1", 1000}, {"1.0", 1000}, {"1.000", 1000}, {"0", 0},
                                                     {"0.", 0},   {"0.001", 1}, {"0.12", 120}, {"0.999", 999}};
    uint32_t cseq = 1;
    for (const auto& [text, q] : good) {
        reg r;
        r.cseq = cseq++;
        r.contacts = {std::string("<sip:alice@10.0.0.5>;q=") + text};
        ASSERT_EQ(send(r).status, 200u) << text;
        EXPECT_EQ(reg_->lookup("alice").at(0).q, q) << text;
    }
    for (const char* bad : {"1.5", "2", "0.1234", "-0.5", "x", "", "1.001", ".5"}) {
        reg r;
        r.cseq = cseq++;
        r.contacts = {std::string("<sip:alice@10.0.0.5>;q=") + bad};
        EXPECT_EQ(send(r).status, 400u) << bad;
    }
}

TEST_F(registrar_test, contact_params_are_kept_and_echoed) {
    reg r;
    r.contacts = {"<sip:alice@10.0.0.5:5062;transport=udp;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
                  "000A95A0E128>\";reg-id=1;expires=600;q=0.7"};
    const register_result res = send(r);
    ASSERT_EQ(res.status, 200u);
    EXPECT_EQ(res.extra,
              "Contact: <sip:alice@10.0.0.5:5062;transport=udp;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
              "000A95A0E128>\";reg-id=1;q=0.7;expires=600\r\n");
    const binding b = reg_->lookup("alice").at(0);
    EXPECT_EQ(b.contact, "sip:alice@10.0.0.5:5062;transport=udp;ob");
    EXPECT_EQ(b.params, ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1");
}

TEST_F(registrar_test, query_without_contacts_lists_the_bindings) {
    send({});
    now_ += 100'500;
    reg q;
    q.cseq = 2;
    q.contacts = {};
    const register_result res = send(q);
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.added + res.refreshed + res.removed, 0u);
    EXPECT_EQ(res.extra, "Contact: <sip:alice@10.0.0.5:5062>;expires=3500\r\n") << "remaining seconds, rounded up";
    reg bob;
    bob.user = "bob";
    bob.contacts = {};
    EXPECT_EQ(send(bob).extra, "");
}

TEST_F(registrar_test, date_header_with_a_wall_clock) {
    reg_ = std::make_unique<registrar>(registrar_config{}, [this] { return now_; },
                                       [] { return int64_t{784111777}; });
    const register_result res = send({});
    EXPECT_NE(res.extra.find("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"), std::string::npos) << res.extra;
    EXPECT_EQ(sip_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    EXPECT_EQ(sip_date(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
}

// ------------------------------------------------------------------ bad requests

TEST_F(registrar_test, malformed_requests_get_400) {
    const std::vector<std::string> bad_contacts = {
        "garbage",                          // not a URI
        "<sip:alice@10.0.0.5",              // unbalanced
        "<tel:+4930123>",                   // not a SIP contact
        "<sip:alice@10.0.0.5>;expires=abc", // bad expires
        "<sip:alice@10.0.0.5>;expires=-1",
        "<sip:alice@10.0.0.5>;expires=",
        "<sip:alice@10.0.0.5>, ",           // empty element after the comma
        "<sip:" + std::string(600, 'a') + "@10.0.0.5>",  // longer than a binding keeps
    };
    uint32_t cseq = 1;
    for (const auto& c : bad_contacts) {
        reg r;
        r.cseq = cseq++;
        r.contacts = {c};
        EXPECT_EQ(send(r).status, 400u) << c;
    }
    for (const char* e : {"abc", "-5", "1.5", ""}) {
        reg r;
        r.cseq = cseq++;
        r.expires = e;
        EXPECT_EQ(send(r).status, 400u) << "Expires: " << e;
    }
    EXPECT_EQ(reg_->size(), 0u);
    reg opt;
    opt.method = "OPTIONS";
    EXPECT_EQ(send(opt).status, 400u);
    EXPECT_EQ(reg_->size(), 0u);
}

// ------------------------------------------------------------------ expiry

TEST_F(registrar_test, bindings_expire) {
    reg r;
    r.contacts = {"<sip:alice@10.0.0.5>;expires=60", "<sip:alice@10.0.0.6>;expires=120"};
    send(r);
    reg bob;
    bob.user = "bob";
    bob.expires = "60";
    send(bob);
    const int64_t t0 = now_;
    EXPECT_EQ(reg_->expire(t0 + 59'999), 0u);
    now_ = t0 + 60'000;
    // lookup() hides what has expired even before expire() ran.
    EXPECT_EQ(contacts_of("alice"), std::vector<std::string>{"sip:alice@10.0.0.6"});
    EXPECT_TRUE(reg_->lookup("bob").empty());
    EXPECT_EQ(reg_->size(), 3u);
    EXPECT_EQ(reg_->expire(now_), 2u);
    EXPECT_EQ(reg_->size(), 1u);
    EXPECT_EQ(reg_->users(), 1u);
    EXPECT_EQ(reg_->expire(t0 + 119'999), 0u);
    EXPECT_EQ(reg_->expire(t0 + 120'000), 1u);
    EXPECT_EQ(reg_->size(), 0u);
    EXPECT_EQ(reg_->users(), 0u);
    EXPECT_EQ(reg_->stats().expired, 3u);
}

TEST_F(registrar_test, an_expired_binding_does_not_block_a_new_registration) {
    reg r;
    r.cseq = 9;
    r.expires = "60";
    send(r);
    now_ += 61'000;  // expired, expire() not run yet
    r.cseq = 2;      // same Call-ID, lower CSeq: the old binding no longer counts
    const register_result res = send(r);
    EXPECT_EQ(res.status, 200u);
    EXPECT_EQ(res.added, 1u);
    EXPECT_EQ(reg_->size(), 1u);
}

// ------------------------------------------------------------------ caps

TEST_F(registrar_test, contacts_per_user_cap) {
    registrar_config cfg;
    cfg.max_contacts_per_user = 2;
    make(cfg);
    reg r;
    r.contacts = {"<sip:alice@10.0.0.1>", "<sip:alice@10.0.0.2>", "<sip:alice@10.0.0.3>"};
    EXPECT_EQ(send(r).status, 403u);
    EXPECT_EQ(reg_->size(), 0u);
    r.contacts = {"<sip:alice@10.0.0.1>", "<sip:alice@10.0.0.2>"};
    EXPECT_EQ(send(r).status, 200u);
    r.cseq = 2;
    r.contacts = {"<sip:alice@10.0.0.3>"};
    const register_result res = send(r);
    EXPECT_EQ(res.status, 403u);
    EXPECT_EQ(res.reason, "Too Many Contacts");
    // Refreshes pass at the cap; replacing one (remove + add in one request) too.
    r.cseq = 3;
    r.contacts = {"<sip:alice@10.0.0.1>"};
    EXPECT_EQ(send(r).status, 200u);
    r.cseq = 4;
    r.contacts = {"<sip:alice@10.0.0.1>;expires=0", "<sip:alice@10.0.0.3>"};
    EXPECT_EQ(send(r).status, 200u);
    EXPECT_EQ(contacts_of("alice"), (std::vector<std::string>{"sip:alice@10.0.0.3", "sip:alice@10.0.0.2"}));
    // Other users have their own allowance.
    reg bob;
    bob.user = "bob";
    bob.contacts = {"<sip:bob@10.0.0.8>", "<sip:bob@10.0.0.9>"};
    EXPECT_EQ(send(bob).status, 200u);
}

TEST_F(registrar_test, global_binding_cap_gets_503) {
    registrar_config cfg;
    cfg.max_bindings = 3;
    make(cfg);
    reg r;
    r.contacts = {"<sip:alice@10.0.0.1>", "<sip:alice@10.0.0.2>"};
    EXPECT_EQ(send(r).status, 200u);
    reg bob;
    bob.user = "bob";
    bob.contacts = {"<sip:bob@10.0.0.8>", "<sip:bob@10.0.0.9>"};
    register_result res = send(bob);
    EXPECT_EQ(res.status, 503u);
    EXPECT_EQ(res.extra, "Retry-After: 60\r\n");
    EXPECT_TRUE(reg_->lookup("bob").empty());
    bob.contacts = {"<sip:bob@10.0.0.8>"};
    EXPECT_EQ(send(bob).status, 200u);
    EXPECT_EQ(reg_->size(), 3u);
    reg carol;
    carol.user = "carol";
    EXPECT_EQ(send(carol).status, 503u);
    // Refreshes and removals still work when full, and free room.
    r.cseq = 2;
    EXPECT_EQ(send(r).status, 200u);
    r.cseq = 3;
    r.contacts = {"<sip:alice@10.0.0.1>;expires=0"};
    EXPECT_EQ(send(r).status, 200u);
    EXPECT_EQ(send(carol).status, 200u);
    EXPECT_EQ(reg_->size(), 3u);
}

// ------------------------------------------------------------------ keepalive

TEST_F(registrar_test, keepalives_come_due_and_are_marked) {
    const int64_t t0 = now_;
    send({});
    reg bob;
    bob.user = "bob";
    now_ += 10'000;
    send(bob);
    EXPECT_TRUE(reg_->due_keepalives(t0 + 29'999).empty());
    auto due = reg_->due_keepalives(t0 + 30'000);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].user, "alice");
    EXPECT_EQ(due[0].flow.addr, ip("203.0.113.7"));
    EXPECT_EQ(due[0].flow.port, 40000);
    EXPECT_EQ(due[0].realm, 1u);
    EXPECT_EQ(due[0].contact, "sip:alice@10.0.0.5:5062");
    EXPECT_TRUE(reg_->due_keepalives(t0 + 30'000).empty()) << "marked as sent";
    due = reg_->due_keepalives(t0 + 40'000);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].user, "bob");
    due = reg_->due_keepalives(t0 + 60'000);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].user, "alice");
    // A refresh restarts the interval.
    now_ = t0 + 65'000;
    reg r;
    r.cseq = 2;
    send(r);
    due = reg_->due_keepalives(t0 + 90'000);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].user, "bob");
    EXPECT_EQ(reg_->due_keepalives(t0 + 95'000).at(0).user, "alice");
}

TEST_F(registrar_test, failed_keepalives_drop_the_binding) {
    send({});
    const uint64_t id = reg_->lookup("alice").at(0).id;
    EXPECT_FALSE(reg_->keepalive_failed(id));
    EXPECT_FALSE(reg_->keepalive_failed(id));
    reg_->keepalive_ok(id);  // an answer resets the count
    EXPECT_FALSE(reg_->keepalive_failed(id));
    EXPECT_FALSE(reg_->keepalive_failed(id));
    EXPECT_EQ(reg_->size(), 1u);
    EXPECT_TRUE(reg_->keepalive_failed(id));
    EXPECT_EQ(reg_->size(), 0u);
    EXPECT_TRUE(reg_->lookup("alice").empty());
    EXPECT_TRUE(reg_->due_keepalives(now_ + 3'600'000).empty()) << "out of the schedule";
    EXPECT_EQ(reg_->expire(now_ + 3'600'000), 0u) << "out of the expiry schedule";
    EXPECT_FALSE(reg_->keepalive_failed(id)) << "unknown id";
    EXPECT_EQ(reg_->stats().keepalive_drops, 1u);
}

TEST_F(registrar_test, keepalives_are_paced) {
    for (const char* user : {"alice", "bob", "carol"}) {
        reg r;
        r.user = user;
        send(r);
        now_ += 1000;
    }
    const int64_t t = now_ + 60'000;
    auto first = reg_->due_keepalives(t, 2);
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].user, "alice");
    EXPECT_EQ(first[1].user, "bob");
    auto rest = reg_->due_keepalives(t, 2);
    ASSERT_EQ(rest.size(), 1u);
    EXPECT_EQ(rest[0].user, "carol");
    EXPECT_TRUE(reg_->due_keepalives(t, 2).empty());
}

TEST_F(registrar_test, keepalive_off) {
    registrar_config cfg;
    cfg.keepalive_s = 0;
    make(cfg);
    send({});
    EXPECT_TRUE(reg_->due_keepalives(now_ + 3'000'000).empty());
}

TEST_F(registrar_test, expired_bindings_get_no_keepalive) {
    reg r;
    r.expires = "60";
    send(r);
    EXPECT_EQ(reg_->due_keepalives(now_ + 30'000).size(), 1u);
    EXPECT_TRUE(reg_->due_keepalives(now_ + 60'000).empty());
    EXPECT_EQ(reg_->size(), 0u);
}

// ------------------------------------------------------------------ removal by the B2BUA

TEST_F(registrar_test, remove_and_remove_user) {
    reg r;
    r.contacts = {"<sip:alice@10.0.0.1>", "<sip:alice@10.0.0.2>"};
    send(r);
    reg bob;
    bob.user = "bob";
    send(bob);
    const uint64_t id = reg_->lookup("alice").at(0).id;
    EXPECT_TRUE(reg_->remove(id));
    EXPECT_FALSE(reg_->remove(id));
    EXPECT_EQ(reg_->lookup("alice").size(), 1u);
    EXPECT_EQ(reg_->remove_user("alice"), 1u);
    EXPECT_EQ(reg_->remove_user("alice"), 0u);
    EXPECT_EQ(reg_->size(), 1u);
    EXPECT_EQ(reg_->users(), 1u);
}

// ------------------------------------------------------------------ URI comparison

TEST(same_uri, rfc3261_rules) {
    EXPECT_TRUE(same_uri("sip:alice@10.0.0.5", "sip:alice@10.0.0.5"));
    EXPECT_TRUE(same_uri("SIP:alice@EXAMPLE.com", "sip:alice@example.COM"));
    EXPECT_FALSE(same_uri("sip:Alice@example.com", "sip:alice@example.com")) << "user is case-sensitive";
    EXPECT_FALSE(same_uri("sip:alice@example.com", "sip:alice@example.com:5060")) << "absent port != 5060";
    EXPECT_FALSE(same_uri("sip:alice@example.com:5060", "sip:alice@example.com:5062"));
    EXPECT_FALSE(same_uri("sip:alice@example.com", "sips:alice@example.com"));
    EXPECT_TRUE(same_uri("sip:alice@h;transport=TCP", "sip:alice@h;transport=tcp"));
    EXPECT_FALSE(same_uri("sip:alice@h;transport=tcp", "sip:alice@h")) << "transport must match when present";
    EXPECT_FALSE(same_uri("sip:alice@h", "sip:alice@h;maddr=1.2.3.4"));
    EXPECT_TRUE(same_uri("sip:alice@h;ob", "sip:alice@h")) << "other params only when both have them";
    EXPECT_TRUE(same_uri("sip:alice@h;foo=1", "sip:alice@h;bar=2"));
    EXPECT_FALSE(same_uri("sip:alice@h;foo=1", "sip:alice@h;foo=2"));
    EXPECT_FALSE(same_uri("sip:alice@h?subject=x", "sip:alice@h"));
    EXPECT_FALSE(same_uri("sip:alice:pw@h", "sip:alice@h"));
}
