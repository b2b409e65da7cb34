// The caller's identity through the B2BUA (RFC 3325 P-Asserted-Identity, RFC 3323 Privacy), in
// process: what an account may assert, whose assertion is believed, what trusted and untrusted
// destinations are told, the dialplan's view and pai=, the CDR.

#include "b2bua_fixture.hh"
#include "sip/ascii.hh"

namespace {

class identity_test : public b2bua_test {
protected:
    void SetUp() override {
        b2bua_test::SetUp();
        rebuild(identity_config());
    }

    static b2bua_config identity_config() {
        account_config pbx;  // alice's PBX: trusted by address, a number block of its own
        pbx.name = "pbx";
        pbx.networks = {cidr{ip(192, 0, 2, 10), 32}};
        pbx.identity = "+4930123400";
        pbx.identities = {"+49301234*"};
        pbx.transfer_dialplan = "transfer";
        account_config core;  // bob's network: trusted by address, asserts nothing
        core.name = "coretrunk";
        core.networks = {cidr{ip(198, 51, 100, 0), 24}};
        provider_config carrier;  // at carol's address: inside the trust domain
        carrier.name = "carrier";
        carrier.host = ip(198, 51, 100, 30);
        carrier.from_host = "sbc.example.net";
        carrier.trust_identity = true;
        b2bua_config cfg = base_config();
        cfg.accounts = {pbx, core};
        cfg.providers = {carrier};
        return cfg;
    }

    void dial(const std::string& dial_string) {
        ASSERT_EQ(engine_->load_source("default", "d.lua", "sys.Dial(\"" + dial_string + "\")"), "");
    }

    /// alice's INVITE with `lines` ("Name: value\r\n") added.
    static std::string alice_invite_with(const std::string& lines, const invite_opts& o = {}) {
        std::string inv = alice_invite(o);
        inv.insert(inv.find("Content-Type"), lines);
        return inv;
    }

    static std::string named(const sip::message& m, const char* name) {
        const sip::header* h = m.find(name);
        return h == nullptr ? std::string("(none)") : std::string(h->value);
    }
};

}  // namespace

TEST_F(identity_test, a_trusted_provider_hears_the_preferred_identity_and_the_privacy) {
    dial("1234@carrier");
    from_alice(alice_invite_with("P-Preferred-Identity: \"Sales\" <sip:+4930123455@192.0.2.10>\r\nPrivacy: id\r\n"));
    const auto inv = invite_sent_to(take(), carol);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(named(inv->msg, "P-Asserted-Identity"), "\"Sales\" <sip:+4930123455@sbc.example.net>");
    EXPECT_EQ(named(inv->msg, "Privacy"), "id") << "the trust domain's edge applies it";
    EXPECT_EQ(named(inv->msg, "P-Preferred-Identity"), "(none)");
    EXPECT_NE(header(inv->msg, sip::hdr::from).find("<sip:alice@sbc.example.net>"), std::string::npos)
        << "inside the trust domain the From stays: " << header(inv->msg, sip::hdr::from);
}

TEST_F(identity_test, an_untrusted_destination_of_a_withholding_caller_sees_nobody) {
    dial("bob@198.51.100.20");
    from_alice(alice_invite_with("P-Preferred-Identity: <sip:+4930123455@192.0.2.10>\r\nPrivacy: id\r\n"));
    const auto inv = invite_sent_to(take(), bob);
    ASSERT_NE(inv, nullptr);
    const std::string from = header(inv->msg, sip::hdr::from);
    EXPECT_EQ(from.substr(0, from.find(";tag=")), "\"Anonymous\" <sip:anonymous@anonymous.invalid>");
    EXPECT_FALSE(inv->msg.from.tag.empty());
    EXPECT_EQ(named(inv->msg, "P-Asserted-Identity"), "(none)");
    EXPECT_EQ(named(inv->msg, "Privacy"), "(none)");
    EXPECT_EQ(inv->text.find("alice"), std::string::npos) << inv->text;
    EXPECT_EQ(inv->text.find("+4930123455"), std::string::npos) << inv->text;

    // bob is busy: the CDR still knows who called and what was withheld.
    from_bob(bob_response(inv->msg, 486, "Busy Here"));
    take();
    ASSERT_FALSE(cdrs_->recent().empty());
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("identity"), "+4930123455");
    EXPECT_EQ(json(cdrs_->recent().back()).get<std::string>("privacy"), "id");
}

TEST_F(identity_test, an_untrusted_destination_hears_the_accounts_identity_without_privacy) {
    dial("bob@198.51.100.20");
    from_alice(alice_invite_with("P-Preferred-Identity: <sip:+15559999@192.0.2.10>\r\n"));  // not the PBX's
    const auto inv = invite_sent_to(take(), bob);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(named(inv->msg, "P-Asserted-Identity"), "<sip:+4930123400@198.51.100.1>");
    EXPECT_EQ(named(inv->msg, "Privacy"), "(none)");
    EXPECT_NE(header(inv->msg, sip::hdr::from).find("\"Alice\" <sip:alice@198.51.100.1>"), std::string::npos);
}

TEST_F(identity_test, a_trusted_providers_assertion_reaches_the_callee) {
    dial("alice@192.0.2.10");
    from_carol(from_core_host(alice_invite_with("P-Asserted-Identity: \"Carrier\" <tel:+15557777>\r\n"),
                              "198.51.100.30"));
    const auto inv = invite_sent_to(take(), alice);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(named(inv->msg, "P-Asserted-Identity"), "\"Carrier\" <sip:+15557777@192.0.2.1>");
}

TEST_F(identity_test, an_assertion_from_outside_the_trust_domain_is_dropped) {
    dial("alice@192.0.2.10");
    from_bob(from_core_host(alice_invite_with("P-Asserted-Identity: <tel:+15557777>\r\n"
                                              "P-Preferred-Identity: <tel:+15557777>\r\n"),
                            "198.51.100.20"));
    const auto inv = invite_sent_to(take(), alice);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(named(inv->msg, "P-Asserted-Identity"), "(none)");
    EXPECT_EQ(inv->text.find("+15557777"), std::string::npos) << inv->text;
}

TEST_F(identity_test, the_dialplan_sees_the_identity_and_pai_asserts_another) {
    ASSERT_EQ(engine_->load_source("default", "d.lua", R"(
        sys.Dial("bob@198.51.100.20[pai=" .. req.Identity.User .. "0,fd=" .. req.Privacy .. "]")
    )"),
              "");
    from_alice(alice_invite_with("P-Asserted-Identity: <sip:+4930123466@192.0.2.10>\r\nPrivacy: session\r\n"));
    const auto inv = invite_sent_to(take(), bob);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(named(inv->msg, "P-Asserted-Identity"), "<sip:+49301234660@198.51.100.1>");
    EXPECT_NE(header(inv->msg, sip::hdr::from).find("\"session\""), std::string::npos)
        << header(inv->msg, sip::hdr::from);
}

TEST_F(identity_test, a_trusted_provider_dialled_by_address_is_trusted_too) {
    dial("1234@198.51.100.30");
    from_alice(alice_invite_with("Privacy: user\r\n"));
    const auto inv = invite_sent_to(take(), carol);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(named(inv->msg, "P-Asserted-Identity"), "<sip:+4930123400@198.51.100.1>");
    EXPECT_EQ(named(inv->msg, "Privacy"), "user");
}

TEST_F(identity_test, a_critical_privacy_level_the_appliance_does_not_know_is_refused) {
    dial("bob@198.51.100.20");
    from_alice(alice_invite_with("Privacy: x-gov;critical\r\n"));
    const auto out = take();
    EXPECT_NE(find_response(out, acc, 500), nullptr);
    EXPECT_EQ(invite_sent_to(out, bob), nullptr);
}

TEST_F(identity_test, a_trusted_callees_identity_reaches_the_caller_unless_it_withholds_it) {
    dial("1234@carrier");
    from_alice(alice_invite());
    const auto inv = invite_sent_to(take(), carol);
    ASSERT_NE(inv, nullptr);
    auto with = [](std::string response, const std::string& lines) {
        response.insert(response.find("Content-Length"), lines);
        return response;
    };
    from_carol(with(bob_response(inv->msg, 180, "Ringing", {}, "carrtag"),
                    "P-Asserted-Identity: \"Help Desk\" <sip:+15551111@carrier.example>\r\n"));
    auto out = take();
    const received* ringing = find_response(out, acc, 180);
    ASSERT_NE(ringing, nullptr);
    EXPECT_EQ(named(ringing->msg, "P-Asserted-Identity"), "\"Help Desk\" <sip:+15551111@192.0.2.1>");
    // The answer withholds the connected party: alice, outside the trust domain, hears nobody.
    from_carol(with(bob_response(inv->msg, 200, "OK", bob_sdp, "carrtag"),
                    "P-Asserted-Identity: <sip:+15552222@carrier.example>\r\nPrivacy: id\r\n"));
    out = take();
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(named(ok->msg, "P-Asserted-Identity"), "(none)");
    EXPECT_EQ(ok->text.find("+15552222"), std::string::npos) << ok->text;
}

TEST_F(identity_test, an_untrusted_callees_assertion_is_not_passed_back) {
    dial("bob@198.51.100.20");
    from_alice(alice_invite());
    const auto inv = invite_sent_to(take(), bob);
    ASSERT_NE(inv, nullptr);
    std::string ok = bob_response(inv->msg, 200, "OK", bob_sdp);
    ok.insert(ok.find("Content-Length"), "P-Asserted-Identity: <sip:+15553333@198.51.100.20>\r\n");
    from_bob(ok);
    const auto out = take();
    const received* answer = find_response(out, acc, 200);
    ASSERT_NE(answer, nullptr);
    EXPECT_EQ(named(answer->msg, "P-Asserted-Identity"), "(none)");
}

// ------------------------------------------------------------------ RFC 5806 Diversion

TEST_F(identity_test, dv_names_the_dialled_user_and_the_reason) {
    dial("bob@198.51.100.20[rt=5]|vm@198.51.100.20[dv=no-answer]");
    from_alice(alice_invite());
    auto out = take();
    const auto first = invite_sent_to(out, bob);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(named(first->msg, "Diversion"), "(none)") << "the dialled party itself: no diversion";
    from_bob(bob_response(first->msg, 180, "Ringing"));
    take();
    advance(5100);  // bob's ring time runs out: the voicemail is dialled
    out = take();
    std::unique_ptr<received> vm;
    for (const auto& r : out) {
        if (r->msg.is_request && r->msg.req_method == sip::method::invite && r->msg.request_uri.starts_with("sip:vm@")) {
            vm = parse_copy(r->realm, r->to, r->text);
        }
    }
    ASSERT_NE(vm, nullptr);
    EXPECT_EQ(named(vm->msg, "Diversion"), "<sip:bob@198.51.100.1>;reason=no-answer;counter=1");
}

TEST_F(identity_test, a_trusted_callers_diversions_are_passed_on_an_untrusted_ones_are_not) {
    dial("alice@192.0.2.10");
    from_carol(from_core_host(alice_invite_with("Diversion: <sip:+15550001@carrier.example>;reason=user-busy;counter=1\r\n"),
                              "198.51.100.30"));
    auto inv = invite_sent_to(take(), alice);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(named(inv->msg, "Diversion"), "<sip:+15550001@carrier.example>;reason=user-busy;counter=1");
    invite_opts o;
    o.call_id = "forged@198.51.100.20";
    std::string forged = alice_invite(o);
    forged.insert(forged.find("Content-Type"), "Diversion: <sip:+15550001@carrier.example>;reason=unconditional\r\n");
    from_bob(from_core_host(forged, "198.51.100.20"));
    inv = invite_sent_to(take(), alice);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(named(inv->msg, "Diversion"), "(none)") << "a forged Diversion would open someone else's mailbox";
}

// ------------------------------------------------------------------ RFC 7044 History-Info

/// The History-Info values of `m`, in order, joined by ", ".
static std::string history_of(const sip::message& m) {
    std::string out;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (sip::iequals_ascii(m.headers[i].name, "History-Info")) {
            out += (out.empty() ? "" : ", ") + std::string(m.headers[i].value);
        }
    }
    return out.empty() ? "(none)" : out;
}

TEST_F(identity_test, dh_writes_history_info_instead_of_or_beside_the_diversion) {
    for (const auto& [dh, diversion, history] :
         {std::tuple<std::string, bool, bool>{"history-info", false, true}, {"both", true, true},
          {"diversion", true, false}}) {
        dial("vm@198.51.100.20[dv=unconditional,dh=" + dh + "]");
        invite_opts o;
        o.call_id = "dh-" + dh + "@192.0.2.10";
        from_alice(alice_invite_with("", o));
        const auto vm = invite_sent_to(take(), bob);
        ASSERT_NE(vm, nullptr) << dh;
        // The caller dialled bob (alice_invite's Request-URI); the dialplan sent it to vm.
        EXPECT_EQ(named(vm->msg, "Diversion"),
                  diversion ? "<sip:bob@198.51.100.1>;reason=unconditional;counter=1" : "(none)")
            << dh;
        EXPECT_EQ(history_of(vm->msg), history ? "<sip:bob@198.51.100.1>;index=1, "
                                                 "<sip:vm@198.51.100.20:5060;cause=302>;index=1.1;mp=1"
                                               : "(none)")
            << dh;
        from_bob(bob_response(vm->msg, 486, "Busy Here"));
        take();
    }
}

TEST_F(identity_test, a_providers_diversion_headers_apply_unless_the_dial_string_says_otherwise) {
    b2bua_config cfg = identity_config();
    cfg.providers[0].diversion_via = diversion_headers::history_info;
    rebuild(cfg);
    for (const auto& [dial_string, diversion, history] :
         {std::tuple<std::string, bool, bool>{"1234@carrier[dv=no-answer]", false, true},
          {"1234@carrier[dv=no-answer,dh=diversion]", true, false},
          {"1234@198.51.100.30[dv=no-answer]", true, false}}) {  // the address alone is no provider
        dial(dial_string);
        invite_opts o;
        o.call_id = dial_string + "@192.0.2.10";
        from_alice(alice_invite_with("", o));
        const auto inv = invite_sent_to(take(), carol);
        ASSERT_NE(inv, nullptr) << dial_string;
        EXPECT_EQ(named(inv->msg, "Diversion") != "(none)", diversion) << dial_string;
        EXPECT_EQ(history_of(inv->msg) != "(none)", history) << dial_string;
        if (history) {
            EXPECT_EQ(history_of(inv->msg), "<sip:bob@sbc.example.net>;index=1, "
                                            "<sip:1234@198.51.100.30:5060;cause=408>;index=1.1;mp=1")
                << "whom the call was for at the provider's From host, as the Diversion names it";
        }
        feed(core, carol, bob_response(inv->msg, 486, "Busy Here", {}, "carroltag"));
        take();
    }
}

// A trusted caller's history is passed on, and a diversion here goes under its last entry; an
// untrusted caller's is not passed on (it could name anyone), nor is one whose entries could
// not take ours.
TEST_F(identity_test, a_trusted_callers_history_is_passed_on_and_continued) {
    const std::string history =
        "History-Info: <sip:+15550001@carrier.example>;index=1\r\n"
        "History-Info: <sip:+15557001@198.51.100.1;cause=302>;index=1.1;mp=1\r\n";
    dial("alice@192.0.2.10[dv=user-busy,dh=history-info]");
    from_carol(from_core_host(alice_invite_with(history), "198.51.100.30"));
    auto inv = invite_sent_to(take(), alice);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(history_of(inv->msg), "<sip:+15550001@carrier.example>;index=1, "
                                    "<sip:+15557001@198.51.100.1;cause=302>;index=1.1;mp=1, "
                                    "<sip:alice@192.0.2.10:5060;cause=486>;index=1.1.1;mp=1.1");

    invite_opts o;
    o.call_id = "untrusted@198.51.100.20";
    std::string forged = alice_invite(o);
    forged.insert(forged.find("Content-Type"), history);
    from_bob(from_core_host(forged, "198.51.100.20"));
    inv = invite_sent_to(take(), alice);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(history_of(inv->msg), "<sip:bob@192.0.2.1>;index=1, "
                                    "<sip:alice@192.0.2.10:5060;cause=486>;index=1.1;mp=1")
        << "a new history: the untrusted one is not passed on";

    // The caller asks for history privacy (RFC 7044 10.1.2): alice, outside the trust domain,
    // gets a history of the diversion here only.
    invite_opts withheld;
    withheld.call_id = "withheld@198.51.100.30";
    from_carol(from_core_host(alice_invite_with(history + "Privacy: history\r\n", withheld), "198.51.100.30"));
    inv = invite_sent_to(take(), alice);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(history_of(inv->msg), "<sip:bob@192.0.2.1>;index=1, "
                                    "<sip:alice@192.0.2.10:5060;cause=486>;index=1.1;mp=1");

    invite_opts bad;
    bad.call_id = "badindex@198.51.100.30";
    from_carol(from_core_host(alice_invite_with("History-Info: <sip:+15550001@carrier.example>;index=0\r\n", bad),
                              "198.51.100.30"));
    inv = invite_sent_to(take(), alice);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(history_of(inv->msg), "<sip:bob@192.0.2.1>;index=1, "
                                    "<sip:alice@192.0.2.10:5060;cause=486>;index=1.1;mp=1");
}

TEST_F(identity_test, a_withholding_caller_stays_anonymous_to_the_party_a_transfer_brings) {
    dial("bob@198.51.100.20[tr=c]");
    ASSERT_EQ(engine_->load_source("transfer", "t.lua", R"(sys.Dial("carol@198.51.100.31"))"), "");
    invite_opts o;
    o.extra = "Privacy: id\r\n";
    call_state cs = confirmed_call(o);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_refer(cs.b_invite->msg, "carol"));
    const auto inv = invite_sent_to(take(), sip_addr{ip(198, 51, 100, 31), 5060});
    ASSERT_NE(inv, nullptr) << "the transfer's new leg";
    const std::string from = header(inv->msg, sip::hdr::from);
    EXPECT_EQ(from.substr(0, from.find(";tag=")), "\"Anonymous\" <sip:anonymous@anonymous.invalid>");
    EXPECT_EQ(inv->text.find("alice"), std::string::npos) << inv->text;
}

// dv= in the transfer dialplan names the transferor; dh= says in which header fields (the new
// leg starts a history of its own).
TEST_F(identity_test, dv_in_the_transfer_dialplan_names_the_transferor) {
    dial("bob@198.51.100.20[tr=c]");
    for (const auto& [options, history] :
         {std::pair<std::string, std::string>{"dv=deflection", "(none)"},
          {"dv=deflection,dh=both",
           "<sip:bob@198.51.100.1>;index=1, <sip:carol@198.51.100.31:5060;cause=480>;index=1.1;mp=1"}}) {
        ASSERT_EQ(engine_->load_source("transfer", "t.lua", "sys.Dial(\"carol@198.51.100.31[" + options + "]\")"), "");
        invite_opts o;
        o.call_id = options + "@192.0.2.10";
        call_state cs = confirmed_call(o);
        ASSERT_NE(cs.b_invite, nullptr);
        from_bob(bob_refer(cs.b_invite->msg, "carol"));
        const auto inv = invite_sent_to(take(), sip_addr{ip(198, 51, 100, 31), 5060});
        ASSERT_NE(inv, nullptr) << options;
        // bob's REFER comes From his URI in that dialog (sip:bob@...): he passed the call on.
        EXPECT_EQ(named(inv->msg, "Diversion"), "<sip:bob@198.51.100.1>;reason=deflection;counter=1") << options;
        EXPECT_EQ(history_of(inv->msg), history) << options;
        feed(core, sip_addr{ip(198, 51, 100, 31), 5060}, bob_response(inv->msg, 486, "Busy Here", {}, "caroltag"));
        take();
    }
}
