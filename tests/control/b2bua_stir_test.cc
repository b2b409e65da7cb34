// STIR/SHAKEN through the B2BUA (control/stir_shaken.hh, b2bua::identity_line): which INVITEs
// placed at providers carry a signed Identity header, with which numbers and attestation
// (RFC 8588: A an account's own number, B another number of an account, C a call from
// elsewhere), checked with a verifier that shares no code with the signer (stir_keys.hh).

#include "b2bua_fixture.hh"
#include "stir_keys.hh"

#include <chrono>

namespace {

const sip_addr cheap{ip(198, 51, 100, 40), 5060};   // a provider outside the trust domain
const sip_addr plain{ip(198, 51, 100, 50), 5060};   // a provider that is not signed for
const std::string x5u = "https://cert.example.net/sp.pem";

class stir_test : public b2bua_test {
protected:
    void SetUp() override {
        b2bua_test::SetUp();
        key_ = sf::test::private_key_pem("P-256");
        ASSERT_FALSE(key_.empty());
        account_config pbx;  // alice's PBX: its own number block
        pbx.name = "pbx";
        pbx.networks = {cidr{ip(192, 0, 2, 10), 32}};
        pbx.identity = "+4930123400";
        pbx.identities = {"+49301234*"};
        account_config office;  // bob: an account that asserts nothing
        office.name = "office";
        office.networks = {cidr{ip(198, 51, 100, 20), 32}};
        provider_config carrier;  // at carol's address, inside the trust domain, signed for
        carrier.name = "carrier";
        carrier.host = ip(198, 51, 100, 30);
        carrier.trust_identity = true;
        carrier.sign_identity = true;
        provider_config low_cost = carrier;
        low_cost.name = "cheap";
        low_cost.host = cheap.addr;
        low_cost.trust_identity = false;
        provider_config unsigned_trunk = carrier;
        unsigned_trunk.name = "plain";
        unsigned_trunk.host = plain.addr;
        unsigned_trunk.sign_identity = false;
        cfg_ = base_config();
        cfg_.accounts = {pbx, office};
        cfg_.providers = {carrier, low_cost, unsigned_trunk};
        cfg_.stir_key_pem = key_;
        cfg_.stir_x5u = x5u;
        rebuild(cfg_);
    }

    void dial(const std::string& dial_string) {
        ASSERT_EQ(engine_->load_source("default", "d.lua", "sys.Dial(\"" + dial_string + "\")"), "");
    }

    /// Every Identity header of the INVITE sent to `to` after `in` came from `from`.
    std::vector<std::string> identities_of_invite(sip_addr from, const std::string& in, sip_addr to) {
        feed(from.addr == alice.addr ? acc : core, from, in);
        const auto inv = invite_sent_to(take(), to);
        EXPECT_NE(inv, nullptr);
        std::vector<std::string> values;
        for (unsigned i = 0; inv != nullptr && i < inv->msg.n_headers; ++i) {
            if (inv->msg.headers[i].name == "Identity") {
                values.emplace_back(inv->msg.headers[i].value);
            }
        }
        return values;
    }

    /// The Identity header of the INVITE sent to `to` after `in` came from `from` ("" if none).
    std::string identity_of_invite(sip_addr from, const std::string& in, sip_addr to) {
        const std::vector<std::string> values = identities_of_invite(from, in, to);
        EXPECT_LE(values.size(), 1u) << "one Identity header, not one passed on and one signed";
        return values.empty() ? std::string() : values.back();
    }

    /// Checks the signature and returns the claims.
    boost::property_tree::ptree claims(const std::string& identity) {
        const auto parts = sf::test::check_identity(identity, key_);
        EXPECT_TRUE(parts.verified) << parts.error << ": " << identity;
        EXPECT_EQ(parts.params, ";info=<" + x5u + ">;alg=ES256;ppt=shaken");
        EXPECT_EQ(parts.header, R"({"alg":"ES256","ppt":"shaken","typ":"passport","x5u":")" + x5u + R"("})");
        return json(parts.payload);
    }

    static std::string with_from_user(std::string inv, const std::string& user) {
        const std::string from = "sip:alice@192.0.2.10>;tag";
        inv.replace(inv.find(from), from.size(), "sip:" + user + "@192.0.2.10>;tag");
        return inv;
    }

    b2bua_config cfg_;
    std::string key_;
};

int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST_F(stir_test, an_accounts_own_number_is_signed_with_full_attestation) {
    dial("+1-555-1234@carrier");
    const int64_t before = now_s();
    const std::string id = identity_of_invite(alice, alice_invite(), carol);
    ASSERT_FALSE(id.empty()) << "no Identity header to carol";
    const auto c = claims(id);
    EXPECT_EQ(c.get<std::string>("attest"), "A");
    EXPECT_EQ(c.get<std::string>("orig.tn"), "4930123400") << "the PBX's identity, its From user is no number";
    EXPECT_EQ(c.get_child("dest.tn").front().second.get_value<std::string>(), "15551234");
    EXPECT_GE(c.get<int64_t>("iat"), before);
    EXPECT_LE(c.get<int64_t>("iat"), now_s());
    EXPECT_EQ(c.get<std::string>("origid").size(), 36u);

    // The number it prefers, within its block: still A, that number.
    const std::string id2 = identity_of_invite(
        alice, alice_invite(invite_opts{.call_id = "second@192.0.2.10", .branch = "z9hG4bKsecond",
                                        .extra = "P-Preferred-Identity: <sip:+4930123455@192.0.2.10>\r\n"}),
        carol);
    const auto c2 = claims(id2);
    EXPECT_EQ(c2.get<std::string>("orig.tn"), "4930123455");
    EXPECT_EQ(c2.get<std::string>("attest"), "A");
    EXPECT_NE(c2.get<std::string>("origid"), c.get<std::string>("origid")) << "one origid per call";
}

TEST_F(stir_test, an_account_without_a_number_of_its_own_gets_partial_attestation) {
    dial("15551234@carrier");
    const std::string id = identity_of_invite(bob, from_core_host(with_from_user(alice_invite(), "+15550001"),
                                                                   "198.51.100.20"), carol);
    const auto c = claims(id);
    EXPECT_EQ(c.get<std::string>("attest"), "B");
    EXPECT_EQ(c.get<std::string>("orig.tn"), "15550001") << "its From user";
}

TEST_F(stir_test, a_call_from_another_carrier_gets_gateway_attestation) {
    dial("15551234@cheap");
    const std::string id = identity_of_invite(
        carol, from_core_host(alice_invite(invite_opts{.extra = "P-Asserted-Identity: <tel:+15557777>\r\n"}),
                              "198.51.100.30"),
        cheap);
    const auto c = claims(id);
    EXPECT_EQ(c.get<std::string>("attest"), "C");
    EXPECT_EQ(c.get<std::string>("orig.tn"), "15557777") << "the trusted carrier's assertion";
}

TEST_F(stir_test, nothing_is_signed_where_it_should_not_be) {
    const b2bua_stats before = b2b_->stats();
    // A provider not signed for.
    dial("15551234@plain");
    EXPECT_EQ(identity_of_invite(alice, alice_invite(), plain), "");
    // A destination that is no provider.
    dial("15551234@198.51.100.20");
    EXPECT_EQ(identity_of_invite(alice, alice_invite(invite_opts{.call_id = "c2@x", .branch = "z9hG4bKc2"}), bob), "");
    // A called user that is no telephone number.
    dial("sales@carrier");
    EXPECT_EQ(identity_of_invite(alice, alice_invite(invite_opts{.call_id = "c3@x", .branch = "z9hG4bKc3"}), carol), "");
    // A caller withholding its number: not told to a provider outside the trust domain, signed
    // for the one inside (which applies the privacy).
    dial("15551234@cheap");
    const std::string privacy = "Privacy: id\r\n";
    EXPECT_EQ(identity_of_invite(alice, alice_invite(invite_opts{.call_id = "c4@x", .branch = "z9hG4bKc4", .extra = privacy}),
                                 cheap), "");
    dial("15551234@carrier");
    EXPECT_FALSE(identity_of_invite(alice, alice_invite(invite_opts{.call_id = "c5@x", .branch = "z9hG4bKc5", .extra = privacy}),
                                    carol).empty());
    // Counted: the called user that is no number and the withheld number (carol's c5 is signed).
    EXPECT_EQ(b2b_->stats().stir_unsigned - before.stir_unsigned, 2u);
    EXPECT_EQ(b2b_->stats().stir_signed - before.stir_signed, 1u);
    // Without [stir] nothing is signed; a reload with it signs again.
    b2bua_config no_stir = cfg_;
    no_stir.stir_key_pem.clear();
    no_stir.stir_x5u.clear();
    b2b_->reload(no_stir, std::shared_ptr<dialplan_engine>(engine_.get(), [](dialplan_engine*) {}));
    EXPECT_EQ(identity_of_invite(alice, alice_invite(invite_opts{.call_id = "c6@x", .branch = "z9hG4bKc6"}), carol), "");
    b2b_->reload(cfg_, std::shared_ptr<dialplan_engine>(engine_.get(), [](dialplan_engine*) {}));
    EXPECT_FALSE(identity_of_invite(alice, alice_invite(invite_opts{.call_id = "c7@x", .branch = "z9hG4bKc7"}), carol).empty());
}

TEST_F(stir_test, a_trusted_carriers_identity_is_passed_on_as_it_came) {
    // What carol's carrier attested travels on unchanged (the appliance is a transit carrier for
    // it), instead of a 'C' of its own.
    const std::string theirs =
        "eyJhbGciOiJFUzI1NiJ9.eyJhdHRlc3QiOiJBIn0.c2ln;info=<https://cert.carrier.example/a.pem>;alg=ES256;ppt=shaken";
    dial("15551234@cheap");
    EXPECT_EQ(identity_of_invite(carol, from_core_host(alice_invite(invite_opts{.extra = "Identity: " + theirs + "\r\n"}),
                                                       "198.51.100.30"),
                                 cheap),
              theirs);
    EXPECT_EQ(b2b_->stats().stir_passed, 1u);
    EXPECT_EQ(b2b_->stats().stir_signed, 0u);
    // The compact form too.
    EXPECT_EQ(identity_of_invite(carol, from_core_host(alice_invite(invite_opts{.call_id = "y@x", .branch = "z9hG4bKy",
                                                                                .extra = "y: " + theirs + "\r\n"}),
                                                       "198.51.100.30"),
                                 cheap),
              theirs);
    // From an account (not a trusted carrier) an Identity header is nobody's word: dropped, and
    // the appliance signs what it knows (B).
    dial("15551234@carrier");
    const std::string id = identity_of_invite(
        bob, from_core_host(with_from_user(alice_invite(invite_opts{.call_id = "b@x", .branch = "z9hG4bKb",
                                                                    .extra = "Identity: " + theirs + "\r\n"}),
                                           "+15550001"),
                            "198.51.100.20"),
        carol);
    EXPECT_NE(id, theirs);
    EXPECT_EQ(claims(id).get<std::string>("attest"), "B");
    // A provider that is not signed for gets none, passed or not.
    dial("15551234@plain");
    EXPECT_EQ(identity_of_invite(carol, from_core_host(alice_invite(invite_opts{.call_id = "p@x", .branch = "z9hG4bKp",
                                                                                .extra = "Identity: " + theirs + "\r\n"}),
                                                       "198.51.100.30"),
                                 plain),
              "");
}

TEST_F(stir_test, a_call_diverted_here_gets_a_div_passport_beside_the_one_it_came_with) {
    // RFC 8946: carol's carrier signed a call to 15557009, which the dialplan forwards to
    // 15551234. The PASSporT it came with goes on as it is, and the appliance adds a div
    // PASSporT of its own saying where the call was diverted from.
    std::string why;
    const auto carrier = identity_signer::from_pem(sf::test::private_key_pem("P-256"), "https://cert.carrier.example/a.pem", why);
    ASSERT_NE(carrier, nullptr) << why;
    const std::string theirs =
        carrier->identity(passport_claims{'A', "15550100", "15557009", now_s(), "1b2c3d4e-0000-4000-8000-000000000001"});
    auto from_carrier = [&](const std::string& user, const std::string& n) {
        return from_core_host(alice_invite(invite_opts{.user = user, .call_id = "div-" + n + "@x", .branch = "z9hG4bKdiv" + n,
                                                       .extra = "Identity: " + theirs + "\r\n"}),
                              "198.51.100.30");
    };
    dial("15551234@cheap");
    const int64_t before = now_s();
    const std::vector<std::string> ids = identities_of_invite(carol, from_carrier("+1-555-7009", "1"), cheap);
    ASSERT_EQ(ids.size(), 2u);
    EXPECT_EQ(ids[0], theirs) << "the carrier's own PASSporT first, unchanged";
    const auto div = sf::test::check_identity(ids[1], key_);
    EXPECT_TRUE(div.verified) << div.error << ": " << ids[1];
    EXPECT_EQ(div.params, ";info=<" + x5u + ">;alg=ES256;ppt=div");
    EXPECT_EQ(div.header, R"({"alg":"ES256","ppt":"div","typ":"passport","x5u":")" + x5u + R"("})");
    const auto c = json(div.payload);
    EXPECT_EQ(c.get<std::string>("orig.tn"), "15550100") << "the caller as the carrier named it";
    EXPECT_EQ(c.get_child("dest.tn").front().second.get_value<std::string>(), "15551234");
    EXPECT_EQ(c.get<std::string>("div.tn"), "15557009") << "the number the call came for, canonical";
    EXPECT_GE(c.get<int64_t>("iat"), before);
    EXPECT_EQ(c.count("attest") + c.count("origid"), 0u) << "SHAKEN's claims are the carrier's, not ours";
    EXPECT_EQ(b2b_->stats().stir_passed, 1u);
    EXPECT_EQ(b2b_->stats().stir_div_signed, 1u);

    // Sent to the number it came for: not diverted, nothing added. The same for a Request-URI
    // that is no number.
    dial("15557009@cheap");
    EXPECT_EQ(identities_of_invite(carol, from_carrier("15557009", "2"), cheap), std::vector<std::string>{theirs});
    dial("15551234@cheap");
    EXPECT_EQ(identities_of_invite(carol, from_carrier("bob", "3"), cheap), std::vector<std::string>{theirs});
    // Nothing SHAKEN to name the caller: passed on alone.
    const std::string opaque = "e30.e30.c2ln;info=<https://cert.carrier.example/a.pem>;alg=ES256;ppt=shaken";
    EXPECT_EQ(identities_of_invite(carol,
                                   from_core_host(alice_invite(invite_opts{.user = "15557009", .call_id = "div-4@x",
                                                                           .branch = "z9hG4bKdiv4",
                                                                           .extra = "Identity: " + opaque + "\r\n"}),
                                                  "198.51.100.30"),
                                   cheap),
              std::vector<std::string>{opaque});
    EXPECT_EQ(b2b_->stats().stir_div_signed, 1u);
    EXPECT_EQ(b2b_->stats().stir_passed, 4u);
}
