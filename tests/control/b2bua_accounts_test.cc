// Accounts in the B2BUA (control/b2bua_accounts.cc), in process: digest challenges of INVITE
// (407) and REGISTER (401) answered with the project's own digest client, 403 alike for a wrong
// password and an unknown user, trusted networks, the per-account call limit, REGISTER and
// calls to user@local over the registered flow, user@provider, and the transfer dialplan of
// the account that owns the call.

#include "b2bua_fixture.hh"

#include <span>

#include "digest_auth.hh"

namespace {

std::string register_from_alice(const std::string& branch, unsigned cseq, unsigned expires = 600);

class accounts_test : public b2bua_test {
protected:
    void SetUp() override {
        b2bua_test::SetUp();
        account_config acme = acme_account();
        acme.transfer_dialplan = "transfer";
        acme.max_calls = 1;
        acme.may_register = true;
        acme.users = {"alice", "desk"};
        rebuild_with({acme, trusted_account("coretrunk", "198.51.100.0/24")}, {carrier_provider()});
    }

    /// An account whose callers authenticate as acme / s3cret.
    static account_config acme_account() {
        account_config a;
        a.name = "acme";
        a.password = "s3cret";
        a.realm = "sipferry";
        return a;
    }
    /// The provider "carrier": carol's address, with a From host and credentials.
    static provider_config carrier_provider() {
        provider_config p;
        p.name = "carrier";
        p.host = ip(198, 51, 100, 30);
        p.from_host = "sbc.example.net";
        p.username = "sbc-login";
        p.password = "trunkpass";
        return p;
    }
    /// The B2BUA again with these accounts and providers only.
    void rebuild_with(std::vector<account_config> accounts, std::vector<provider_config> providers) {
        b2bua_config cfg = base_config();
        cfg.accounts = std::move(accounts);
        cfg.providers = std::move(providers);
        rebuild(cfg);
    }

    /// alice registers as alice@local under acme, from her flow 192.0.2.10:5062 (challenged, then
    /// with credentials).
    void register_alice() {
        const sip_addr alice_flow{ip(192, 0, 2, 10), 5062};
        feed(acc, alice_flow, register_from_alice("z9hG4bKreg1", 1));
        auto out = take();
        const received* challenge = find_response(out, acc, 401, sip::method::register_);
        ASSERT_NE(challenge, nullptr);
        auto ch = parse_copy(acc, alice_flow, challenge->text);
        feed(acc, alice_flow, with_credentials(register_from_alice("z9hG4bKreg2", 2), *ch, "acme", "s3cret",
                                               "REGISTER", "sip:192.0.2.1", "Authorization"));
        out = take();
        const received* ok = find_response(out, acc, 200, sip::method::register_);
        ASSERT_NE(ok, nullptr);
        EXPECT_NE(ok->text.find("<sip:alice@10.0.0.5:5062>;expires="), std::string::npos) << ok->text;
    }

    /// The provider's 407 to `invite` (carol's digest server challenges; `tag` its To tag).
    std::string challenge_407(const sip::message& invite, digest_server& auth, std::string_view tag = "provtag") {
        std::string ch = bob_response(invite, 407, "Proxy Authentication Required", {}, tag);
        for (const std::string& v : auth.challenge("carrier.example")) {
            ch.insert(ch.find("Content-Length"), "Proxy-Authenticate: " + v + "\r\n");
        }
        return ch;
    }

    /// alice (trusted, account desk) calls bob-trc; bob REFERs her, and the `transfer` dialplan
    /// dials `dial_string` with `carrier` configured. What the appliance sent then.
    std::vector<std::unique_ptr<received>> refer_to_carrier(const std::string& dial_string, provider_config carrier) {
        account_config desk = trusted_account("desk", "192.0.2.10/32");
        desk.transfer_dialplan = "transfer";
        rebuild_with({desk}, {std::move(carrier)});
        EXPECT_EQ(engine_->load_source("transfer", "t.lua", "sys.Dial(\"" + dial_string + "\")"), "");
        invite_opts o;
        o.user = "bob-trc";
        call_state cs = confirmed_call(o);
        cs_a_tag_ = cs.a_tag;
        EXPECT_NE(cs.b_invite, nullptr);
        if (cs.b_invite == nullptr) {
            return {};
        }
        from_bob(bob_refer(cs.b_invite->msg, "anyone"));
        return take();
    }

    /// Replaces the `default` dialplan with one that dials `dial_string` for every call.
    void dial(const std::string& dial_string) {
        ASSERT_EQ(engine_->load_source("default", "acc.lua", "sys.Dial(\"" + dial_string + "\")"), "");
    }

    /// `request` with a credentials header for the challenge in `challenge_response`.
    std::string with_credentials(std::string request, const received& challenge_response, const std::string& user,
                                 const std::string& password, const char* method, const std::string& uri,
                                 const char* header_name) {
        std::vector<std::string_view> challenges;
        for (unsigned i = 0; i < challenge_response.msg.n_headers; ++i) {
            const sip::header& h = challenge_response.msg.headers[i];
            if (h.id == sip::hdr::proxy_authenticate || h.id == sip::hdr::www_authenticate) {
                challenges.push_back(h.value);
            }
        }
        std::string value;
        const char* err = client_.authorize(std::span<const std::string_view>(challenges), method, uri, user, password,
                                            value);
        EXPECT_EQ(err, nullptr) << (err ? err : "");
        request.insert(request.find("Content-Length"), std::string(header_name) + ": " + value + "\r\n");
        return request;
    }

    /// alice INVITEs as `o`, gets the 407, and INVITEs again with `user`/`password`.
    void invite_as(const invite_opts& o, const std::string& user, const std::string& password) {
        from_alice(alice_invite(o));
        const auto out = take();
        const received* r = find_response(out, acc, 407);
        ASSERT_NE(r, nullptr) << "no challenge";
        auto challenge = parse_copy(acc, alice, r->text);
        invite_opts again = o;
        again.branch += "x";
        std::string inv = alice_invite(again);
        inv.replace(inv.find("CSeq: 1 "), 7, "CSeq: 2");
        from_alice(with_credentials(inv, *challenge, user, password, "INVITE", "sip:" + o.user + "@192.0.2.1",
                                    "Proxy-Authorization"));
    }

    digest_client client_;
    std::string cs_a_tag_;  ///< our tag in alice's dialog, of refer_to_carrier's call
};

/// alice's INVITE made bob's: his addresses on the core realm instead of hers.
std::string as_bobs(std::string inv) {
    for (auto [from, to] : {std::pair{"192.0.2.10", "198.51.100.20"}, std::pair{"192.0.2.1", "198.51.100.1"}}) {
        for (size_t at = inv.find(from); at != std::string::npos; at = inv.find(from, at)) {
            inv.replace(at, std::string(from).size(), to);
        }
    }
    return inv;
}

std::string register_from_alice(const std::string& branch, unsigned cseq, unsigned expires) {
    std::string s = "REGISTER sip:192.0.2.1 SIP/2.0\r\n";
    s += "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=" + branch + ";rport\r\n";
    s += "Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.1>;tag=regtag\r\nTo: <sip:alice@192.0.2.1>\r\n";
    s += "Call-ID: alice-reg@192.0.2.10\r\nCSeq: " + std::to_string(cseq) + " REGISTER\r\n";
    s += "Contact: <sip:alice@10.0.0.5:5062>;expires=" + std::to_string(expires) + "\r\n";
    s += "Content-Length: 0\r\n\r\n";
    return s;
}

}  // namespace

TEST_F(accounts_test, an_unknown_caller_is_challenged_sha256_first) {
    from_alice(alice_invite());
    auto out = take();
    const received* challenge = find_response(out, acc, 407);
    ASSERT_NE(challenge, nullptr);
    std::vector<std::string> values;
    for (unsigned i = 0; i < challenge->msg.n_headers; ++i) {
        if (challenge->msg.headers[i].id == sip::hdr::proxy_authenticate) {
            values.emplace_back(challenge->msg.headers[i].value);
        }
    }
    ASSERT_EQ(values.size(), 2u);
    EXPECT_NE(values[0].find("algorithm=SHA-256"), std::string::npos) << values[0];
    EXPECT_NE(values[1].find("algorithm=MD5"), std::string::npos) << values[1];
    EXPECT_NE(values[0].find("realm=\"sipferry\""), std::string::npos);
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->stats().auth_challenges, 1u);
}

TEST_F(accounts_test, the_right_password_routes_the_call_as_the_account) {
    const invite_opts o;
    invite_as(o, "acme", "s3cret");
    auto out = take();
    ASSERT_NE(find_request(out, core, sip::method::invite), nullptr);
    EXPECT_NE(b2b_->calls_json().find("\"account\":\"acme\""), std::string::npos) << b2b_->calls_json();
}

TEST_F(accounts_test, wrong_password_and_unknown_user_get_the_same_403) {
    const invite_opts o;
    invite_as(o, "acme", "wrong");
    auto wrong = take();
    const received* r1 = find_response(wrong, acc, 403);
    ASSERT_NE(r1, nullptr);
    invite_opts o2 = o;
    o2.call_id = "other@192.0.2.10";
    invite_as(o2, "nobody", "s3cret");
    auto unknown = take();
    const received* r2 = find_response(unknown, acc, 403);
    ASSERT_NE(r2, nullptr);
    EXPECT_EQ(r1->msg.reason, r2->msg.reason);
    EXPECT_EQ(r1->msg.find("Warning") == nullptr, r2->msg.find("Warning") == nullptr);
    EXPECT_EQ(count_request(unknown, core, sip::method::invite) + count_request(wrong, core, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->stats().auth_failures, 2u);
}

TEST_F(accounts_test, a_trusted_network_is_not_challenged_and_the_call_limit_holds) {
    // bob's core network belongs to coretrunk: no challenge.
    std::string inv = as_bobs(alice_invite());
    inv.replace(inv.find("sip:bob@"), 8, "sip:alice@");
    from_bob(inv);
    auto out = take();
    EXPECT_EQ(count_response(out, core, 407), 0u);
    ASSERT_NE(find_request(out, acc, sip::method::invite), nullptr) << "routed to alice";
    EXPECT_NE(b2b_->calls_json().find("\"account\":\"coretrunk\""), std::string::npos);
}

TEST_F(accounts_test, an_account_over_its_call_limit_gets_503) {
    const invite_opts o;
    invite_as(o, "acme", "s3cret");
    take();
    ASSERT_EQ(b2b_->active_calls(), 1u);
    invite_opts o2;
    o2.call_id = "second@192.0.2.10";
    o2.branch = "z9hG4bKsecond";
    invite_as(o2, "acme", "s3cret");
    auto out = take();
    EXPECT_NE(find_response(out, acc, 503), nullptr);
    EXPECT_EQ(b2b_->stats().account_limit_refusals, 1u);
    EXPECT_EQ(b2b_->active_calls(), 1u);
}

// max_calls_per_second: a token bucket of one second's calls; the call beyond it gets 503 with
// Retry-After before any dialplan runs, and the bucket refills at the account's rate.
TEST_F(accounts_test, an_account_over_its_calls_per_second_gets_503_with_retry_after) {
    account_config trunk = trusted_account("coretrunk", "198.51.100.0/24");
    trunk.max_calls_per_second = 2;
    rebuild_with({acme_account(), trunk}, {});
    auto bob_calls_alice = [&](int n) {
        invite_opts o;
        o.user = "alice";
        o.call_id = "cps-" + std::to_string(n) + "@198.51.100.20";
        o.branch = "z9hG4bKcps" + std::to_string(n);
        from_bob(as_bobs(alice_invite(o)));
        return take();
    };
    for (int n = 0; n < 2; ++n) {
        EXPECT_NE(find_request(bob_calls_alice(n), acc, sip::method::invite), nullptr) << "call " << n << " is routed";
    }
    auto out = bob_calls_alice(2);
    const received* busy = find_response(out, core, 503);
    ASSERT_NE(busy, nullptr) << "the third call within the second";
    EXPECT_EQ(header(busy->msg, sip::hdr::retry_after), "1");
    EXPECT_EQ(count_request(out, acc, sip::method::invite), 0u);
    EXPECT_EQ(b2b_->stats().account_rate_refusals, 1u);
    EXPECT_EQ(b2b_->active_calls(), 2u);

    advance(500);  // 2 a second: one more after half a second
    EXPECT_NE(find_request(bob_calls_alice(3), acc, sip::method::invite), nullptr);
    EXPECT_NE(find_response(bob_calls_alice(4), core, 503), nullptr);
    EXPECT_EQ(b2b_->stats().account_rate_refusals, 2u);
}

TEST_F(accounts_test, register_then_a_call_to_user_at_local_goes_over_the_registered_flow) {
    register_alice();
    const sip_addr alice_flow{ip(192, 0, 2, 10), 5062};
    ASSERT_NE(b2b_->location(), nullptr);
    EXPECT_EQ(b2b_->location()->size(), 1u);

    // bob (trusted) calls alice@local: the INVITE goes to her Contact over her flow.
    dial("alice@local");
    from_bob(as_bobs(alice_invite()));
    auto out = take();
    const received* to_alice = find_request(out, acc, sip::method::invite);
    ASSERT_NE(to_alice, nullptr);
    EXPECT_EQ(to_alice->to, alice_flow) << "the flow her REGISTER came over (NAT)";
    EXPECT_EQ(to_alice->msg.request_uri, "sip:alice@10.0.0.5:5062");

    // Someone not registered: 480.
    dial("desk@local");
    invite_opts o;
    o.call_id = "desk-call";
    o.branch = "z9hG4bKdesk01";
    from_bob(as_bobs(alice_invite(o)));
    EXPECT_NE(find_response(take(), core, 480), nullptr);
}

// A PBX registering as a user reads a diversion as its account says (diversion_headers), as a
// trunk does; a dial string's dh= still decides for its destination.
TEST_F(accounts_test, a_registered_users_account_says_how_a_diversion_to_it_is_written) {
    account_config acme = acme_account();
    acme.may_register = true;
    acme.users = {"alice"};
    acme.diversion_via = diversion_headers::history_info;
    rebuild_with({acme, trusted_account("coretrunk", "198.51.100.0/24")}, {carrier_provider()});
    register_alice();
    for (const auto& [dial_string, diversion, history] :
         {std::tuple<std::string, bool, bool>{"alice@local[dv=unconditional]", false, true},
          {"alice@local[dv=unconditional,dh=diversion]", true, false}}) {
        dial(dial_string);
        invite_opts o;
        o.call_id = dial_string + "@198.51.100.20";
        o.branch = "z9hG4bK" + std::to_string(dial_string.size());
        from_bob(as_bobs(alice_invite(o)));
        const auto out = take();
        const received* to_alice = find_request(out, acc, sip::method::invite);
        ASSERT_NE(to_alice, nullptr) << dial_string;
        EXPECT_EQ(to_alice->msg.find("Diversion") != nullptr, diversion) << dial_string;
        EXPECT_EQ(to_alice->msg.find("History-Info") != nullptr, history) << dial_string;
    }
}

TEST_F(accounts_test, a_register_from_an_account_that_may_not_register_gets_403) {
    // From the core network (coretrunk, register = false), no challenge: trusted, but refused.
    std::string reg = register_from_alice("z9hG4bKreg9", 1);
    feed(core, bob, reg);
    auto out = take();
    EXPECT_NE(find_response(out, core, 403, sip::method::register_), nullptr);
}

TEST_F(accounts_test, user_at_provider_goes_to_the_providers_host_with_its_from_host) {
    dial("1234@carrier");
    const invite_opts o;
    invite_as(o, "acme", "s3cret");
    auto out = take();
    const received* inv = find_request(out, core, sip::method::invite);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(inv->to, carol) << "the provider's host";
    EXPECT_EQ(inv->msg.request_uri, "sip:1234@198.51.100.30:5060");
    EXPECT_NE(header(inv->msg, sip::hdr::from).find("@sbc.example.net>"), std::string::npos);
}

TEST_F(accounts_test, a_call_of_an_account_without_a_transfer_dialplan_refuses_refer) {
    // coretrunk has no transfer_dialplan: its calls' REFERs are refused before any 202.
    std::string inv = as_bobs(alice_invite());
    inv.replace(inv.find("sip:bob@"), 8, "sip:alice-trc@");
    from_bob(inv);
    auto out = take();
    auto to_alice = parse_copy(acc, alice, find_request(out, acc, sip::method::invite)->text);
    feed(acc, alice, bob_response(to_alice->msg, 200, "OK", alice_sdp, "alicetag2", "<sip:alice@192.0.2.10:5060>"));
    out = take();
    const received* ok = find_response(out, core, 200);
    ASSERT_NE(ok, nullptr);
    std::string ack = "ACK sip:sipferry@198.51.100.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKack\r\n"
                      "Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@198.51.100.20>;tag=alicetag\r\nTo: <sip:alice-trc@198.51.100.1>;tag=" +
                      std::string(ok->msg.to.tag) + "\r\nCall-ID: " + as_bobs(invite_opts{}.call_id) +
                      "\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n";
    from_bob(ack);
    take();
    // alice (transfer mode c on her leg) REFERs: the call is coretrunk's, which has no transfer dialplan.
    std::string refer = bob_request("REFER", to_alice->msg, 1, "z9hG4bKalicerefer");
    refer.insert(refer.find("Content-Length"), "Refer-To: <sip:carol@192.0.2.1>\r\n");
    for (size_t at = refer.find("198.51.100.20"); at != std::string::npos; at = refer.find("198.51.100.20", at)) {
        refer.replace(at, 13, "192.0.2.10");
    }
    refer.replace(refer.find("sip:sipferry@198.51.100.1"), 25, "sip:sipferry@192.0.2.1");
    feed(acc, alice, refer);
    out = take();
    EXPECT_NE(find_response(out, acc, 603, sip::method::refer), nullptr);
    EXPECT_EQ(find_response(out, acc, 202, sip::method::refer), nullptr);
}

TEST_F(accounts_test, a_providers_challenge_is_answered_once_with_its_credentials) {
    // carol plays the provider: she challenges with a digest server of her own.
    digest_server provider_auth(digest_server_config{}, [this] { return static_cast<int64_t>(now_); });
    dial("1234@carrier");
    const invite_opts o;
    invite_as(o, "acme", "s3cret");
    auto first = parse_copy(core, carol, find_request(take(), core, sip::method::invite)->text);
    ASSERT_EQ(first->msg.cseq, 1u);

    feed(core, carol, challenge_407(first->msg, provider_auth));
    auto out = take();
    EXPECT_EQ(count_request(out, core, sip::method::ack), 1u) << "the 407 is ACKed";
    const received* again = nullptr;
    for (const auto& r : out) {
        if (r->to == carol && r->msg.is_request && r->msg.req_method == sip::method::invite) {
            again = r.get();
        }
    }
    ASSERT_NE(again, nullptr) << "the INVITE again, with credentials";
    EXPECT_EQ(again->msg.call_id, first->msg.call_id);
    EXPECT_EQ(again->msg.from.tag, first->msg.from.tag);
    EXPECT_TRUE(again->msg.to.tag.empty());
    EXPECT_EQ(again->msg.cseq, 2u);
    EXPECT_NE(again->msg.top_via.branch, first->msg.top_via.branch);
    const sip::header* cred = again->msg.find(sip::hdr::proxy_authorization);
    ASSERT_NE(cred, nullptr);
    const digest_verdict v = provider_auth.verify(
        "INVITE", cred->value,
        [](std::string_view user, std::string_view, digest_algorithm) -> std::optional<digest_secret> {
            if (user != "sbc-login") {
                return std::nullopt;
            }
            return digest_secret{digest_secret::kind::password, "trunkpass"};
        },
        carol.addr, again->msg.request_uri);
    EXPECT_EQ(v.outcome, digest_outcome::ok) << v.reason;
    EXPECT_EQ(b2b_->stats().provider_auth_retries, 1u);

    // Refused again: no loop; alice gets 503, not a challenge she could not answer.
    auto second = parse_copy(core, carol, again->text);
    feed(core, carol, challenge_407(second->msg, provider_auth, "provtag2"));
    out = take();
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
    EXPECT_NE(find_response(out, acc, 503), nullptr);
    EXPECT_EQ(find_response(out, acc, 407), nullptr);
}

TEST_F(accounts_test, an_invite_with_replaces_is_challenged_like_any_other) {
    // Knowing a dialog's identifiers is not enough to take over a leg: authenticate first.
    std::string inv = alice_invite();
    inv.insert(inv.find("Content-Type"), "Replaces: somecall@x;to-tag=a;from-tag=b\r\n");
    from_alice(inv);
    auto out = take();
    EXPECT_NE(find_response(out, acc, 407), nullptr);
    EXPECT_EQ(find_response(out, acc, 481), nullptr);
}

TEST_F(accounts_test, refers_are_challenged_when_policy_asks_and_accepted_with_200_when_configured) {
    b2bua_config cfg = base_config();
    account_config acme = acme_account();
    acme.transfer_dialplan = "transfer";
    cfg.accounts = {acme};
    cfg.transfer.challenge_refer = true;
    cfg.transfer.accept_status = 200;  // RFC 7647
    rebuild(cfg);
    invite_opts o;
    o.user = "bob-trc";  // transfer mode c on both legs
    invite_as(o, "acme", "s3cret");
    auto out = take();
    const received* to_bob = find_request(out, core, sip::method::invite);
    ASSERT_NE(to_bob, nullptr);
    auto b_invite = parse_copy(core, bob, to_bob->text);
    from_bob(bob_response(b_invite->msg, 200, "OK", bob_sdp));
    out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    const std::string a_tag(ok->msg.to.tag);
    std::string ack = alice_request("ACK", a_tag, 2, "z9hG4bKaliceack");
    from_alice(ack);
    take();

    // alice REFERs bob to carol: first a challenge, then, with acme's credentials, accepted.
    auto refer = [&](unsigned cseq, const std::string& branch) {
        std::string r = alice_request("REFER", a_tag, cseq, branch);
        r.insert(r.find("Content-Length"), "Refer-To: <sip:carol@192.0.2.1>\r\n");
        return r;
    };
    from_alice(refer(3, "z9hG4bKrefer1"));
    out = take();
    const received* challenge = find_response(out, acc, 407, sip::method::refer);
    ASSERT_NE(challenge, nullptr);
    auto ch = parse_copy(acc, alice, challenge->text);
    from_alice(with_credentials(refer(4, "z9hG4bKrefer2"), *ch, "acme", "s3cret", "REFER", "sip:sipferry@192.0.2.1:5060",
                                "Proxy-Authorization"));
    out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::refer), nullptr) << "200, as configured (RFC 7647)";
    EXPECT_NE(find_request(out, core, sip::method::invite), nullptr) << "carol is called";
}

// ------------------------------------------------------------------ media realms

TEST_F(accounts_test, a_providers_media_realm_anchors_its_leg_there_while_its_sip_goes_its_own_way) {
    provider_config carrier = carrier_provider();
    carrier.media_realm = static_cast<int>(acc);  // the carrier's media network is behind port acc
    rebuild_with({acme_account()}, {carrier});
    dial("1234@carrier");
    invite_as(invite_opts{}, "acme", "s3cret");
    auto out = take();
    const received* inv = find_request(out, core, sip::method::invite);
    ASSERT_NE(inv, nullptr) << "the SIP still goes to the provider on core";
    EXPECT_EQ(inv->to, carol);
    const sdp_info offer = sdp_of(inv->msg.body);
    EXPECT_EQ(offer.conn, "192.0.2.1") << "the provider is offered the relay address on acc";
    const dp::media_side* b_side = table_->find(acc_addr, offer.port);
    ASSERT_NE(b_side, nullptr);
    EXPECT_EQ(b_side->port_id, 0u) << "its packets leave through acc's port";
    EXPECT_EQ(table_->find(core_addr, offer.port), nullptr);
    const auto calls = json(b2b_->calls_json());
    EXPECT_EQ(calls.begin()->second.get<std::string>("b.realm"), "core");
    EXPECT_EQ(calls.begin()->second.get<std::string>("b.media_realm"), "acc");
    EXPECT_EQ(calls.begin()->second.get<std::string>("a.media_realm"), "acc");

    // Answered: leg B is the answering branch's dialog, its media realm still acc.
    from_carol(bob_response(inv->msg, 200, "OK", carol_sdp, "caroltag", "<sip:1234@198.51.100.30:5060>"));
    out = take();
    ASSERT_NE(find_response(out, acc, 200), nullptr);
    EXPECT_EQ(json(b2b_->calls_json()).begin()->second.get<std::string>("b.media_realm"), "acc");
}

TEST_F(accounts_test, mr_in_the_dial_string_beats_the_providers_media_realm_and_must_name_a_port) {
    provider_config carrier = carrier_provider();
    carrier.media_realm = static_cast<int>(acc);
    rebuild_with({acme_account()}, {carrier});
    dial("1234@carrier[mr=core]");
    invite_as(invite_opts{}, "acme", "s3cret");
    auto out = take();
    const received* inv = find_request(out, core, sip::method::invite);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(sdp_of(inv->msg.body).conn, "198.51.100.1");
    // Answered: leg B is the answering branch's dialog, with the media realm the call was set up with.
    from_carol(bob_response(inv->msg, 200, "OK", carol_sdp, "caroltag", "<sip:1234@198.51.100.30:5060>"));
    ASSERT_NE(find_response(take(), acc, 200), nullptr);
    EXPECT_EQ(json(b2b_->calls_json()).begin()->second.get<std::string>("b.media_realm"), "core");

    dial("bob@198.51.100.20[mr=nowhere]");
    invite_opts o;
    o.call_id = "second@192.0.2.10";
    o.branch = "z9hG4bKsecond";
    invite_as(o, "acme", "s3cret");
    out = take();
    const received* refused = find_response(out, acc, 502);
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
}

TEST_F(accounts_test, destinations_of_one_dial_string_share_their_media_realm) {
    dial("bob@198.51.100.20[mr=acc]&carol@198.51.100.30");
    invite_as(invite_opts{}, "acme", "s3cret");
    auto out = take();
    EXPECT_NE(find_response(out, acc, 502), nullptr) << "the B half of the bridge is anchored once, for all";
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u);
}

TEST_F(accounts_test, an_accounts_media_realm_anchors_its_callers_media) {
    // coretrunk's callers signal on core; its media network is behind acc.
    account_config core_trunk = trusted_account("coretrunk", "198.51.100.0/24");
    core_trunk.media_realm = static_cast<int>(acc);
    rebuild_with({core_trunk}, {});
    std::string inv = as_bobs(alice_invite());
    inv.replace(inv.find("sip:bob@"), 8, "sip:alice@");
    from_bob(inv);
    auto out = take();
    const received* to_alice = find_request(out, acc, sip::method::invite);
    ASSERT_NE(to_alice, nullptr);
    const auto calls = json(b2b_->calls_json());
    const auto& call = calls.begin()->second;
    EXPECT_EQ(call.get<std::string>("a.realm"), "core");
    EXPECT_EQ(call.get<std::string>("a.media_realm"), "acc");
    const auto a_port = static_cast<uint16_t>(call.get_child("media").begin()->second.get<unsigned>("a_port"));
    const dp::media_side* a_side = table_->find(acc_addr, a_port);
    ASSERT_NE(a_side, nullptr) << "the caller's relay side is on acc's address";
    EXPECT_EQ(a_side->port_id, 0u);
    EXPECT_EQ(table_->find(core_addr, a_port), nullptr);

    // Answered: the caller's SDP names the relay address on acc, though its 200 goes out on core.
    from_alice(bob_response(to_alice->msg, 200, "OK", alice_sdp, "alicetag2", "<sip:alice@192.0.2.10:5060>"));
    out = take();
    const received* ok = find_response(out, core, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(sdp_of(ok->msg.body).conn, "192.0.2.1");
    EXPECT_EQ(sdp_of(ok->msg.body).port, a_port);
}

// ------------------------------------------------------------------ transfers to providers

TEST_F(accounts_test, a_transfer_to_user_at_provider_goes_there_with_its_from_host_and_credentials) {
    // alice's address is trusted (account "desk", whose transfers run `transfer`); the transfer
    // dialplan sends every transfer to the carrier, which challenges.
    digest_server provider_auth(digest_server_config{}, [this] { return static_cast<int64_t>(now_); });
    auto out = refer_to_carrier("5678@carrier[h=X-Service: next]", carrier_provider());
    ASSERT_NE(find_response(out, core, 202, sip::method::refer), nullptr);
    const received* first = find_request(out, core, sip::method::invite);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->to, carol) << "the provider's host";
    EXPECT_EQ(first->msg.request_uri, "sip:5678@198.51.100.30:5060");
    EXPECT_NE(header(first->msg, sip::hdr::from).find("@sbc.example.net>"), std::string::npos) << first->text;
    EXPECT_NE(first->text.find("X-Service: next\r\n"), std::string::npos) << "the dial string's h= applies";
    auto inv1 = parse_copy(core, carol, first->text);

    from_carol(challenge_407(inv1->msg, provider_auth));
    out = take();
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr) << "the 407 is ACKed";
    EXPECT_EQ(count_request(out, core, sip::method::notify), 0u) << "the transferor hears nothing of the challenge";
    const received* second = find_request(out, core, sip::method::invite);
    ASSERT_NE(second, nullptr) << "the INVITE again, with the provider's credentials";
    EXPECT_EQ(second->msg.cseq, 2u);
    EXPECT_EQ(second->msg.call_id, inv1->msg.call_id);
    EXPECT_NE(second->msg.find(sip::hdr::proxy_authorization), nullptr);
    EXPECT_EQ(b2b_->stats().provider_auth_retries, 1u);
    auto inv2 = parse_copy(core, carol, second->text);

    from_carol(bob_response(inv2->msg, 200, "OK", carol_sdp, "caroltag", "<sip:5678@198.51.100.30:5060>"));
    out = take();
    const received* reinvite = find_request(out, acc, sip::method::invite);
    ASSERT_NE(reinvite, nullptr) << "alice is moved to the provider's party";
    EXPECT_EQ(sdp_of(reinvite->msg.body).conn, "192.0.2.1");
    const received* notify = nullptr;
    for (const auto& r : out) {
        if (r->msg.is_request && r->msg.req_method == sip::method::notify) {
            notify = r.get();
        }
    }
    ASSERT_NE(notify, nullptr);
    EXPECT_EQ(notify->msg.body, "SIP/2.0 200 OK\r\n");

    // The records: bob's segment went to no provider, the transferred one to the carrier.
    ASSERT_FALSE(cdrs_->recent().empty());
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("provider"), "");
    from_alice(alice_request("BYE", cs_a_tag_, 2, "z9hG4bKalicebye", invite_opts{}.call_id));
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("provider"), "carrier");
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("callee"), "198.51.100.30:5060");
}

TEST_F(accounts_test, a_transfer_to_a_provider_that_challenges_twice_fails_with_503) {
    digest_server provider_auth(digest_server_config{}, [this] { return static_cast<int64_t>(now_); });
    provider_config carrier = carrier_provider();
    carrier.password = "wrong";
    auto out = refer_to_carrier("5678@carrier", carrier);
    std::unique_ptr<received> inv;
    for (unsigned round = 0; round < 2; ++round) {
        const received* r = find_request(out, core, sip::method::invite);
        ASSERT_NE(r, nullptr) << "round " << round;
        inv = parse_copy(core, carol, r->text);
        from_carol(challenge_407(inv->msg, provider_auth));
        out = take();
    }
    EXPECT_EQ(count_request(out, core, sip::method::invite), 0u) << "credentials are tried once";
    const received* notify = find_request(out, core, sip::method::notify);
    ASSERT_NE(notify, nullptr);
    EXPECT_EQ(notify->msg.body, "SIP/2.0 503 Service Unavailable\r\n");
    EXPECT_EQ(b2b_->active_calls(), 1u) << "alice stays with bob";
}

TEST_F(accounts_test, a_transfer_to_a_registered_user_who_is_not_registered_is_refused_480) {
    // The fixture's coretrunk owns bob's network: its calls have no transfer dialplan, so alice
    // (acme, authenticated) calls bob-trc and bob's REFER runs acme's `transfer`.
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", "sys.Dial(\"desk@local\")"), "");
    invite_opts o;
    o.user = "bob-trc";
    invite_as(o, "acme", "s3cret");
    auto out = take();
    const received* to_bob = find_request(out, core, sip::method::invite);
    ASSERT_NE(to_bob, nullptr);
    auto inv = parse_copy(core, bob, to_bob->text);
    from_bob(bob_response(inv->msg, 200, "OK", bob_sdp));
    out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    from_alice(alice_request("ACK", std::string(ok->msg.to.tag), 2, "z9hG4bKaliceack"));
    take();
    from_bob(bob_refer(inv->msg, "desk"));
    out = take();
    EXPECT_NE(find_response(out, core, 480, sip::method::refer), nullptr) << "nobody registered as desk";
    EXPECT_EQ(count_request(out, core, sip::method::invite) + count_request(out, acc, sip::method::invite), 0u);
}

TEST_F(accounts_test, a_registered_users_calls_have_their_media_on_the_accounts_media_realm) {
    account_config acme = acme_account();
    acme.may_register = true;
    acme.users = {"alice"};
    acme.media_realm = static_cast<int>(core);  // its phones' media network is behind core
    rebuild_with({acme, trusted_account("coretrunk", "198.51.100.0/24")}, {});
    register_alice();
    dial("alice@local");
    from_bob(as_bobs(alice_invite()));
    auto out = take();
    const received* to_alice = find_request(out, acc, sip::method::invite);
    ASSERT_NE(to_alice, nullptr) << "the SIP goes over her registered flow on acc";
    EXPECT_EQ(sdp_of(to_alice->msg.body).conn, "198.51.100.1") << "her media is anchored on core";
}
