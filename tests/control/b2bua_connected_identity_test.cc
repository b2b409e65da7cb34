// Connected identity after the other party changed (control/b2bua_connected_identity.cc), in
// process: what the party that stays is told of its new party in the re-INVITE or 200 that
// connects them, after a blind transfer either way, a Replaces, a pickup and two calls joined;
// trusted and untrusted new parties, their privacy, and each [transfer] connected_identity mode.

#include "b2bua_fixture.hh"

namespace {

constexpr sip_addr dave{ip(198, 51, 100, 31), 5060};  ///< a party outside the trust domain
constexpr sip_addr desk{ip(192, 0, 2, 11), 5060};     ///< a phone registered as desk@local

class connected_identity_test : public b2bua_test {
protected:
    void SetUp() override {
        b2bua_test::SetUp();
        rebuild(config(connected_identity_mode::dialled));
        dial("bob@198.51.100.20[tr=c]");
    }

    /// alice at her PBX (number +4930123400), a desk phone that registers (+4930123411), bob
    /// and dave in an account that asserts nothing, carol behind a trusted carrier.
    static b2bua_config config(connected_identity_mode mode) {
        account_config pbx;
        pbx.name = "pbx";
        pbx.networks = {cidr{ip(192, 0, 2, 10), 32}};
        pbx.identity = "+4930123400";
        pbx.transfer_dialplan = "transfer";
        account_config front;  // the desk phone: registers, number +4930123411
        front.name = "front";
        front.networks = {cidr{desk.addr, 32}};
        front.identity = "+4930123411";
        front.may_register = true;
        front.users = {"desk"};
        account_config core;
        core.name = "coretrunk";
        core.networks = {cidr{ip(198, 51, 100, 0), 24}};
        provider_config carrier;
        carrier.name = "carrier";
        carrier.host = carol.addr;
        carrier.trust_identity = true;
        b2bua_config cfg = base_config();
        cfg.accounts = {pbx, front, core};
        cfg.providers = {carrier};
        cfg.transfer.connected_identity = mode;
        return cfg;
    }

    void dial(const std::string& dial_string) {
        ASSERT_EQ(engine_->load_source("default", "d.lua", "sys.Dial(\"" + dial_string + "\")"), "");
    }
    void transfer_to(const std::string& dial_string) {
        ASSERT_EQ(engine_->load_source("transfer", "t.lua", "sys.Dial(\"" + dial_string + "\")"), "");
    }

    static std::string pai(const received* r) {
        if (r == nullptr) {
            return "(no message)";
        }
        const sip::header* h = r->msg.find("P-Asserted-Identity");
        return h == nullptr ? std::string("(none)") : std::string(h->value);
    }
    static std::string privacy(const received* r) {
        const sip::header* h = r == nullptr ? nullptr : r->msg.find("Privacy");
        return h == nullptr ? std::string("(none)") : std::string(h->value);
    }

    /// `response` with `lines` ("Name: value\r\n") added.
    static std::string with(std::string response, const std::string& lines) {
        response.insert(response.find("Content-Length"), lines);
        return response;
    }

    /// The INVITE (a re-INVITE in a dialog) that `out` holds for `to`.
    static const received* invite_to(const std::vector<std::unique_ptr<received>>& out, sip_addr to) {
        for (const auto& r : out) {
            if (r->msg.is_request && r->msg.req_method == sip::method::invite && r->to == to) {
                return r.get();
            }
        }
        return nullptr;
    }

    /// A confirmed alice-bob call in which bob REFERs alice to the transfer dialplan's party at
    /// `party`, which answers with `lines` in its 200. Returns what the appliance sent then.
    std::vector<std::unique_ptr<received>> bob_transfers_alice(sip_addr party, const std::string& lines,
                                                               const invite_opts& o = {}) {
        call_state cs = confirmed_call(o);
        EXPECT_NE(cs.b_invite, nullptr);
        if (cs.b_invite == nullptr) {
            return {};
        }
        from_bob(bob_refer(cs.b_invite->msg, "carol"));
        const auto inv = invite_sent_to(take(), party);
        EXPECT_NE(inv, nullptr) << "the transfer's new leg";
        if (inv == nullptr) {
            return {};
        }
        feed(core, party, with(bob_response(inv->msg, 200, "OK", carol_sdp, "newtag", "<sip:new@198.51.100.30:5060>"),
                               lines));
        return take();
    }
};

}  // namespace

TEST_F(connected_identity_test, after_a_transfer_alice_hears_the_user_it_dialled) {
    transfer_to("carol@198.51.100.31");
    const auto out = bob_transfers_alice(dave, "P-Asserted-Identity: <sip:+15559999@198.51.100.31>\r\n");
    const received* reinvite = invite_to(out, alice);
    ASSERT_NE(reinvite, nullptr);
    // dave is outside the trust domain: his own assertion is not believed, the dialled user is.
    EXPECT_EQ(pai(reinvite), "<sip:carol@192.0.2.1>");
    EXPECT_EQ(privacy(reinvite), "(none)") << "alice is outside the trust domain";
    EXPECT_EQ(reinvite->text.find("+15559999"), std::string::npos) << reinvite->text;
    // sipferryctl calls shows each leg's party as the other may be told of it.
    const auto calls = json(b2b_->calls_json());
    ASSERT_EQ(calls.size(), 1u);
    const auto& call = calls.begin()->second;
    EXPECT_EQ(call.get<std::string>("a.identity"), "+4930123400");
    EXPECT_EQ(call.get<std::string>("b.identity"), "");
    EXPECT_EQ(call.get<std::string>("b.dialled"), "carol");
    EXPECT_FALSE(call.get<bool>("b.trusted"));
}

TEST_F(connected_identity_test, asserted_tells_only_assertions_and_none_nothing) {
    for (const connected_identity_mode mode : {connected_identity_mode::asserted, connected_identity_mode::none}) {
        rebuild(config(mode));
        transfer_to("carol@198.51.100.31");
        const auto out = bob_transfers_alice(dave, {});
        const received* reinvite = invite_to(out, alice);
        ASSERT_NE(reinvite, nullptr);
        EXPECT_EQ(pai(reinvite), "(none)") << static_cast<int>(mode);
    }
    // A trusted party's own assertion is told in `asserted`, not in `none`.
    for (const auto& [mode, want] : {std::pair<connected_identity_mode, std::string>{connected_identity_mode::asserted,
                                                                                     "<sip:+15551111@192.0.2.1>"},
                                     {connected_identity_mode::none, "(none)"}}) {
        rebuild(config(mode));
        transfer_to("1234@carrier");
        const auto out = bob_transfers_alice(carol, "P-Asserted-Identity: <sip:+15551111@carrier.example>\r\n");
        EXPECT_EQ(pai(invite_to(out, alice)), want) << static_cast<int>(mode);
    }
}

TEST_F(connected_identity_test, a_trusted_new_party_is_heard_as_it_asserts_itself_unless_it_withholds_it) {
    transfer_to("1234@carrier");
    auto out = bob_transfers_alice(carol, "P-Asserted-Identity: \"Help Desk\" <sip:+15551111@carrier.example>\r\n");
    EXPECT_EQ(pai(invite_to(out, alice)), "\"Help Desk\" <sip:+15551111@192.0.2.1>");

    // Privacy: id in its 200 withholds it, dialled user and all, from alice (outside the domain).
    invite_opts o;
    o.call_id = "withheld@192.0.2.10";
    out = bob_transfers_alice(carol, "P-Asserted-Identity: <sip:+15552222@carrier.example>\r\nPrivacy: id\r\n", o);
    const received* reinvite = invite_to(out, alice);
    ASSERT_NE(reinvite, nullptr);
    EXPECT_EQ(pai(reinvite), "(none)");
    EXPECT_EQ(reinvite->text.find("+15552222"), std::string::npos) << reinvite->text;
    EXPECT_EQ(reinvite->text.find("1234"), std::string::npos) << reinvite->text;

    // Asserting nothing, it is heard as dialled.
    o.call_id = "unasserted@192.0.2.10";
    out = bob_transfers_alice(carol, {}, o);
    EXPECT_EQ(pai(invite_to(out, alice)), "<sip:1234@192.0.2.1>");
}

TEST_F(connected_identity_test, when_alice_transfers_bob_hears_the_new_party) {
    transfer_to("carol@198.51.100.31");
    call_state cs = confirmed_call();
    ASSERT_NE(cs.b_invite, nullptr);
    std::string refer = alice_request("REFER", cs.a_tag, 2, "z9hG4bKalicerefer");
    refer.insert(refer.find("Content-Length"), "Refer-To: <sip:carol@192.0.2.1>\r\n");
    from_alice(refer);
    const auto inv = invite_sent_to(take(), dave);
    ASSERT_NE(inv, nullptr);
    feed(core, dave, bob_response(inv->msg, 200, "OK", carol_sdp, "newtag", "<sip:carol@198.51.100.31:5060>"));
    const auto out = take();
    const received* reinvite = invite_to(out, bob);
    ASSERT_NE(reinvite, nullptr) << "bob stays";
    EXPECT_EQ(pai(reinvite), "<sip:carol@198.51.100.1>");
    EXPECT_EQ(invite_to(out, alice), nullptr);
}

TEST_F(connected_identity_test, a_replacing_party_and_the_kept_one_hear_each_other) {
    invite_opts o;
    o.extra = "Privacy: id\r\n";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    // carol (behind the trusted carrier) takes bob's place, asserting who she is.
    std::string inv = carol_invite(bobs_dialog(cs));
    inv.insert(inv.find("Content-Type"), "P-Asserted-Identity: <sip:+15557777@carrier.example>\r\n");
    feed(core, carol, inv);
    const auto out = take();
    const received* ok = nullptr;
    for (const auto& r : out) {
        if (r->to == carol && !r->msg.is_request && r->msg.status == 200) {
            ok = r.get();
        }
    }
    ASSERT_NE(ok, nullptr);
    // carol is inside the trust domain: alice's number, with the privacy alice asked for.
    EXPECT_EQ(pai(ok), "<sip:+4930123400@198.51.100.1>");
    EXPECT_EQ(privacy(ok), "id");
    EXPECT_EQ(pai(invite_to(out, alice)), "<sip:+15557777@192.0.2.1>");
}

TEST_F(connected_identity_test, an_untrusted_replacing_party_is_told_nothing_of_a_withholding_caller) {
    invite_opts o;
    o.extra = "Privacy: id\r\n";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    std::string inv = carol_invite(bobs_dialog(cs));
    for (size_t at = inv.find("198.51.100.30"); at != std::string::npos; at = inv.find("198.51.100.30", at)) {
        inv.replace(at, 13, "198.51.100.31");  // dave's INVITE
    }
    feed(core, dave, inv);
    const auto out = take();
    const received* ok = nullptr;
    for (const auto& r : out) {
        if (r->to == dave && !r->msg.is_request && r->msg.status == 200) {
            ok = r.get();
        }
    }
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(pai(ok), "(none)");
    EXPECT_EQ(ok->text.find("4930123400"), std::string::npos) << ok->text;
    // dave asserts nothing the appliance believes (his account has no number): alice hears nobody.
    EXPECT_EQ(pai(invite_to(out, alice)), "(none)");
}

TEST_F(connected_identity_test, a_pickup_tells_the_caller_who_answered_and_the_picker_who_calls) {
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    take();
    std::string inv = carol_invite(bobs_dialog(cs));
    inv.insert(inv.find("Content-Type"), "P-Asserted-Identity: \"Reception\" <sip:+15558888@carrier.example>\r\n");
    feed(core, carol, inv);
    const auto out = take();
    const received* to_alice = find_response(out, acc, 200);
    ASSERT_NE(to_alice, nullptr);
    EXPECT_EQ(pai(to_alice), "\"Reception\" <sip:+15558888@192.0.2.1>");
    const received* to_carol = find_response(out, core, 200);
    ASSERT_NE(to_carol, nullptr);
    EXPECT_EQ(pai(to_carol), "<sip:+4930123400@198.51.100.1>");
}

TEST_F(connected_identity_test, two_joined_calls_tell_each_kept_party_the_other) {
    ASSERT_EQ(engine_->load_source("default", "d.lua",
                                   "if req.URI.User == 'carol' then sys.Dial('carol@198.51.100.30[tr=c]') "
                                   "else sys.Dial('bob@198.51.100.20[tr=c]') end"),
              "");
    call_state cs = confirmed_call();  // call 1: alice-bob
    ASSERT_NE(cs.b_invite, nullptr);
    // Call 2: bob consults carol, who answers asserting herself.
    const std::string our_tag2 =
        bob_calls_carol(nullptr, "carol", bob_sdp, carol_sdp, "P-Asserted-Identity: <sip:+15551111@carrier.example>\r\n");
    ASSERT_FALSE(our_tag2.empty());
    ASSERT_EQ(b2b_->active_calls(), 2u);

    // bob joins them (REFER with Replaces naming call 2): each is re-INVITEd and told the other.
    from_bob(attended_refer(cs, our_tag2));
    const auto out = take();
    ASSERT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(pai(invite_to(out, alice)), "<sip:+15551111@192.0.2.1>");
    EXPECT_EQ(pai(invite_to(out, carol)), "<sip:+4930123400@198.51.100.1>");
}

TEST_F(connected_identity_test, a_registered_user_is_heard_as_its_accounts_number) {
    rebuild(config(connected_identity_mode::asserted));
    feed(acc, desk,
         "REGISTER sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKdeskreg;rport\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:desk@192.0.2.1>;tag=regtag\r\nTo: <sip:desk@192.0.2.1>\r\n"
         "Call-ID: desk-reg@192.0.2.11\r\nCSeq: 1 REGISTER\r\nContact: <sip:desk@192.0.2.11:5060>;expires=600\r\n"
         "Content-Length: 0\r\n\r\n");
    ASSERT_NE(find_response(take(), acc, 200, sip::method::register_), nullptr);
    transfer_to("desk@local");
    const auto out = bob_transfers_alice(desk, {});
    EXPECT_EQ(pai(invite_to(out, alice)), "<sip:+4930123411@192.0.2.1>");
}

TEST_F(connected_identity_test, ci_names_a_destination_to_the_caller_and_after_a_transfer) {
    rebuild(config(connected_identity_mode::asserted));
    dial("bob@198.51.100.20[tr=c,ci=+4930555000]");
    transfer_to("carol@198.51.100.31[ci=Support]");
    call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    auto out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(pai(ok), "<sip:+4930555000@192.0.2.1>") << "the caller hears the dial string's name for bob";
    from_alice(alice_request("ACK", std::string(ok->msg.to.tag), 1, "z9hG4bKaliceack"));
    take();
    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    const auto inv = invite_sent_to(take(), dave);
    ASSERT_NE(inv, nullptr);
    feed(core, dave, bob_response(inv->msg, 200, "OK", carol_sdp, "newtag", "<sip:support@198.51.100.31:5060>"));
    EXPECT_EQ(pai(invite_to(take(), alice)), "<sip:Support@192.0.2.1>");

    // A callee that withholds itself is withheld from alice, ci= or not.
    dial("bob@198.51.100.20[ci=+4930555000]");
    invite_opts o;
    o.call_id = "withheld@192.0.2.10";
    o.branch = "z9hG4bKalice2";
    cs = start_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(with(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp), "Privacy: id\r\n"));
    out = take();
    EXPECT_EQ(pai(find_response(out, acc, 200)), "(none)");
}
