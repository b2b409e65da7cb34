// STIR/SHAKEN verification through the B2BUA (b2bua_stir_verify.cc): a call from a provider with
// verify_identity is held while its certificate is fetched, verified before its dialplan runs
// (req.Verstat), and a phone it reaches is told the verstat in From and P-Asserted-Identity
// (ATIS-1000074 5.3.1). The fetch is the test's: it records the URLs asked for and answers
// through certificate_arrived() as the control loop's fetcher does.

#include "b2bua_fixture.hh"
#include "stir_keys.hh"

#include <chrono>
#include <thread>

namespace {

const std::string url = "https://cert.carrier.example/sp.pem";
const sip_addr plain{ip(198, 51, 100, 50), 5060};  // a provider whose calls are not verified

int64_t wall_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class verify_b2bua_test : public b2bua_test {
protected:
    void SetUp() override {
        b2bua_test::SetUp();
        root_key_ = sf::test::private_key_pem("P-256");
        root_ = sf::test::certificate_pem(root_key_, {.subject_cn = "STI-PA test root", .ca = true, .tn_auth_list = false});
        key_ = sf::test::private_key_pem("P-256");
        cert_ = sf::test::certificate_pem(key_, {.subject_cn = "SP", .issuer_cn = "STI-PA test root", .issuer_key_pem = root_key_});
        std::string why;
        signer_ = identity_signer::from_pem(key_, url, why);
        ASSERT_NE(signer_, nullptr) << why;
        provider_config carrier;  // at carol's address: trusted, verified
        carrier.name = "carrier";
        carrier.host = carol.addr;
        carrier.trust_identity = true;
        carrier.verify_identity = true;
        provider_config unverified = carrier;
        unverified.name = "plain";
        unverified.host = plain.addr;
        unverified.verify_identity = false;
        cfg_ = base_config();
        cfg_.providers = {carrier, unverified};
        cfg_.stir_ca_pem = root_;
        rebuild(cfg_);
        b2b_->set_certificate_fetch([this](const std::string& u) { fetches_.push_back(u); });
        dial("15551234@198.51.100.20");  // bob: a phone, no provider
    }

    void dial(const std::string& dial_string) {
        ASSERT_EQ(engine_->load_source("default", "d.lua", "sys.Dial(\"" + dial_string + "\")"), "");
    }

    std::string identity(const std::string& orig = "15550100", int64_t iat = 0, char attest = 'A') const {
        return signer_->identity(passport_claims{attest, orig, "15551234", iat == 0 ? wall_now() : iat, "origid-1"});
    }

    /// An INVITE for 15551234 from `from_user` at carol's address, with these header lines.
    static std::string carrier_invite(const std::string& extra, const std::string& call_id = "v1@x",
                                      const std::string& from_user = "+15550100") {
        std::string inv = from_core_host(alice_invite(invite_opts{.user = "15551234", .call_id = call_id,
                                                                  .branch = "z9hG4bK" + call_id.substr(0, call_id.find('@')),
                                                                  .extra = extra}),
                                         "198.51.100.30");
        const std::string from = "sip:alice@198.51.100.30>;tag";
        inv.replace(inv.find(from), from.size(), "sip:" + from_user + "@198.51.100.30>;tag");
        return inv;
    }

    /// The From and P-Asserted-Identity of the INVITE sent to bob ("" when none was sent).
    std::pair<std::string, std::string> bobs_caller() {
        const auto inv = invite_sent_to(take(), bob);
        if (inv == nullptr) {
            return {};
        }
        std::string pai;
        for (unsigned i = 0; i < inv->msg.n_headers; ++i) {
            if (inv->msg.headers[i].name == "P-Asserted-Identity") {
                pai = std::string(inv->msg.headers[i].value);
            }
        }
        return {header(inv->msg, sip::hdr::from), pai};
    }

    void arrive() { b2b_->certificate_arrived(url, true, cert_, 0, ""); }

    /// The CANCEL of `inv` (RFC 3261 9.1: its Request-URI, Via, From, To, Call-ID, CSeq number).
    static std::string cancel_of(const std::string& inv) {
        std::string cancel = inv.substr(0, inv.find("\r\n\r\n") + 4);
        cancel.replace(0, cancel.find(' '), "CANCEL");
        cancel.replace(cancel.find("CSeq: 1 INVITE"), 14, "CSeq: 1 CANCEL");
        for (const std::string name : {"Content-Type: ", "Content-Length: "}) {
            const size_t at = cancel.find(name);
            EXPECT_NE(at, std::string::npos) << name;
            if (at != std::string::npos) {
                cancel.erase(at, cancel.find("\r\n", at) + 2 - at);
            }
        }
        cancel.insert(cancel.size() - 2, "Content-Length: 0\r\n");
        return cancel;
    }

    b2bua_config cfg_;
    std::string root_key_, root_, key_, cert_;
    std::unique_ptr<identity_signer> signer_;
    std::vector<std::string> fetches_;
};

}  // namespace

TEST_F(verify_b2bua_test, a_call_waits_for_its_certificate_and_its_callee_learns_it_passed) {
    const std::string inv = carrier_invite("Identity: " + identity() + "\r\n");
    feed(core, carol, inv);
    EXPECT_TRUE(take().empty()) << "nothing answered or sent while the certificate is fetched";
    ASSERT_EQ(fetches_, std::vector<std::string>{url});
    EXPECT_EQ(b2b_->invites_held(), 1u);
    // Its retransmission waits too, and fetches nothing more.
    feed(core, carol, inv);
    EXPECT_EQ(fetches_.size(), 1u);
    EXPECT_EQ(b2b_->invites_held(), 2u);
    EXPECT_EQ(b2b_->active_calls(), 0u);

    arrive();
    EXPECT_EQ(b2b_->invites_held(), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u) << "one call: the retransmission was absorbed";
    const auto [from, pai] = bobs_caller();
    EXPECT_NE(from.find("<sip:+15550100;verstat=TN-Validation-Passed@"), std::string::npos) << from;
    EXPECT_EQ(pai, "");
    EXPECT_EQ(b2b_->stats().verify_passed, 1u);
    EXPECT_EQ(b2b_->stats().certs_fetched, 1u);
    EXPECT_EQ(b2b_->stats().invites_held, 2u);
    // The operator's view of what was fetched (GET /v1/stir/certificates).
    const auto listed = json(b2b_->stir_certificates_json());
    ASSERT_EQ(listed.get_child("certificates").size(), 1u);
    const auto& c = listed.get_child("certificates").front().second;
    EXPECT_EQ(c.get<std::string>("url"), url);
    EXPECT_EQ(c.get<std::string>("state"), "valid");
    EXPECT_GT(c.get<int64_t>("expires_in_s"), 3500) << "an hour without Cache-Control";
    EXPECT_EQ(c.get_child("spc").front().second.get_value<std::string>(), "1234");
    EXPECT_EQ(c.get<unsigned>("numbers"), 0u);

    // The next call from that carrier is verified at once (the certificate is kept).
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n", "v2@x"));
    EXPECT_EQ(fetches_.size(), 1u);
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Passed@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_passed, 2u);
}

TEST_F(verify_b2bua_test, failures_and_calls_without_identity_are_told_as_such) {
    arrive();  // known beforehand: nothing is held
    // A forged calling number (the PASSporT vouches for another): failed, but the call goes on.
    feed(core, carol, carrier_invite("Identity: " + identity("15550199") + "\r\n"));
    EXPECT_EQ(b2b_->invites_held(), 0u);
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Failed@"), std::string::npos);
    // A replayed one.
    feed(core, carol, carrier_invite("Identity: " + identity("15550100", wall_now() - 600) + "\r\n", "v2@x"));
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Failed@"), std::string::npos);
    // None at all.
    feed(core, carol, carrier_invite("", "v3@x"));
    EXPECT_NE(bobs_caller().first.find(";verstat=No-TN-Validation@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_failed, 2u);
    EXPECT_EQ(b2b_->stats().verify_none, 1u);
    EXPECT_EQ(b2b_->stats().verify_failures.at("orig_mismatch"), 1u);
    EXPECT_EQ(b2b_->stats().verify_failures.at("stale"), 1u);
    // The trusted carrier's P-Asserted-Identity is the calling number: it carries the verstat too.
    feed(core, carol, carrier_invite("P-Asserted-Identity: <tel:+15550100>\r\nIdentity: " + identity() + "\r\n", "v4@x",
                                     "anonymous"));
    const auto [from, pai] = bobs_caller();
    EXPECT_NE(pai.find("<sip:+15550100;verstat=TN-Validation-Passed@"), std::string::npos) << pai;
    EXPECT_EQ(from.find("verstat"), std::string::npos) << "no number in From: " << from;
    EXPECT_EQ(b2b_->stats().verify_passed, 1u);
}

TEST_F(verify_b2bua_test, a_failed_fetch_lets_the_held_call_go_on_as_failed) {
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n"));
    ASSERT_EQ(b2b_->invites_held(), 1u);
    b2b_->certificate_arrived(url, false, "", 0, "timeout");
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Failed@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().cert_fetches_failed, 1u);
    EXPECT_EQ(b2b_->stats().verify_failures.at("certificate_unavailable"), 1u);
    // Not fetched again at once for the next call (30 s).
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n", "v2@x"));
    EXPECT_EQ(fetches_.size(), 1u);
    EXPECT_EQ(b2b_->invites_held(), 0u);
    // A certificate that does not chain to the roots is a failure too.
    b2b_->certificate_arrived(url, true, sf::test::certificate_pem(key_, {}), 0, "");
    EXPECT_EQ(b2b_->stats().cert_fetches_failed, 2u);
}

TEST_F(verify_b2bua_test, the_dialplan_routes_on_the_verstat) {
    ASSERT_EQ(engine_->load_source("default", "d.lua",
                                   "if req.Verstat == 'TN-Validation-Failed' then sys.Respond(607, 'Unwanted') end\n"
                                   "if req.Attest ~= 'A' then sys.Respond(603, 'Decline') end\n"
                                   "sys.Dial('15551234@198.51.100.20')"),
              "");
    arrive();
    feed(core, carol, carrier_invite("Identity: " + identity("15550199") + "\r\n"));
    const auto out = take();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(invite_sent_to(out, bob), nullptr);
    EXPECT_EQ(out.back()->msg.status, 607u) << out.back()->text;
    EXPECT_EQ(b2b_->active_calls(), 0u);
    // Passed, but only a gateway's word (attestation B): declined by this plan.
    feed(core, carol, carrier_invite("Identity: " + identity("15550100", 0, 'B') + "\r\n", "v2@x"));
    const auto b = take();
    ASSERT_FALSE(b.empty());
    EXPECT_EQ(b.back()->msg.status, 603u) << b.back()->text;
    // Full attestation: dialled, and the call shows how it was verified.
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n", "v3@x"));
    EXPECT_NE(invite_sent_to(take(), bob), nullptr);
    const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
    ASSERT_EQ(calls.get_child("calls").size(), 1u);
    EXPECT_EQ(calls.get_child("calls").front().second.get<std::string>("verstat"), "TN-Validation-Passed");
    EXPECT_EQ(calls.get_child("calls").front().second.get<std::string>("attest"), "A");
}

TEST_F(verify_b2bua_test, a_failure_that_goes_on_tells_the_carrier_why_once) {
    arrive();
    const std::string id = identity("15550199");  // vouches for another number
    const std::string sig = id.substr(0, id.find(';')).substr(id.rfind('.', id.find(';')) + 1);
    const std::string inv = carrier_invite("Identity: " + id + "\r\n");
    feed(core, carol, inv);
    const auto out = take();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out[0]->msg.status, 100u);
    EXPECT_EQ(out[0]->text.find("Reason:"), std::string::npos) << "100 Trying went out before the verification";
    const auto to_bob = invite_sent_to(out, bob);
    ASSERT_NE(to_bob, nullptr);
    EXPECT_EQ(to_bob->text.find("Reason:"), std::string::npos) << "the callee is told the verstat, not the Reason";
    // bob rings: the carrier's 180 carries RFC 9410's Reason, the 200 after it not again.
    feed(core, bob, bob_response(to_bob->msg, 180, "Ringing"));
    const auto ringing = take();
    ASSERT_EQ(ringing.size(), 1u);
    EXPECT_EQ(ringing[0]->msg.status, 180u);
    const sip::header* reason = ringing[0]->msg.find(std::string_view("Reason"));
    ASSERT_NE(reason, nullptr) << ringing[0]->text;
    EXPECT_EQ(reason->value, "STIR;cause=438;text=\"Invalid Identity Header\";ppi=\".." + sig + "\"");
    feed(core, bob, bob_response(to_bob->msg, 486, "Busy Here"));
    const auto busy = take();
    const auto final_to_carol =
        std::find_if(busy.begin(), busy.end(), [](const auto& r) { return r->realm == core && r->msg.status == 486; });
    ASSERT_NE(final_to_carol, busy.end());
    EXPECT_EQ((*final_to_carol)->text.find("Reason: STIR"), std::string::npos) << "told once";
    EXPECT_EQ(b2b_->stats().verify_reasons_sent, 1u);
    EXPECT_EQ(b2b_->stats().verify_rejected, 0u);
}

TEST_F(verify_b2bua_test, a_provider_may_have_failures_refused_as_rfc_8224_says) {
    cfg_.providers[0].reject_failed_identity = true;
    rebuild(cfg_);
    b2b_->set_certificate_fetch([this](const std::string& u) { fetches_.push_back(u); });
    dial("15551234@198.51.100.20");
    struct refusal {
        std::string identity;
        unsigned status;
        const char* phrase;
    };
    const refusal cases[] = {
        {identity("15550199"), 438, "Invalid Identity Header"},
        {identity("15550100", wall_now() - 600), 403, "Stale Date"},
    };
    arrive();
    int n = 0;
    for (const refusal& r : cases) {
        feed(core, carol, carrier_invite("Identity: " + r.identity + "\r\n", "r" + std::to_string(++n) + "@x"));
        const auto out = take();
        EXPECT_EQ(invite_sent_to(out, bob), nullptr) << "refused before any dialplan";
        ASSERT_FALSE(out.empty());
        EXPECT_EQ(out.back()->msg.status, r.status) << out.back()->text;
        EXPECT_NE(out.back()->text.find(std::string(" ") + r.phrase + "\r\n"), std::string::npos) << out.back()->text;
    }
    // A certificate that cannot be had (436) and one that is refused (437).
    const std::string other = "https://other.carrier.example/sp.pem";
    std::string why;
    const auto other_signer = identity_signer::from_pem(key_, other, why);
    ASSERT_NE(other_signer, nullptr) << why;
    const std::string other_id =
        other_signer->identity(passport_claims{'A', "15550100", "15551234", wall_now(), "origid-2"});
    feed(core, carol, carrier_invite("Identity: " + other_id + "\r\n", "r3@x"));
    EXPECT_TRUE(take().empty()) << "held for its certificate";
    b2b_->certificate_arrived(other, false, "", 0, "connection refused");
    auto out = take();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back()->msg.status, 436u) << out.back()->text;
    b2b_->certificate_arrived(other, true, sf::test::certificate_pem(key_, {}), 0, "");  // self-signed
    feed(core, carol, carrier_invite("Identity: " + other_id + "\r\n", "r4@x"));
    out = take();
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back()->msg.status, 437u) << out.back()->text;
    EXPECT_EQ(b2b_->stats().verify_rejected, 4u);
    EXPECT_EQ(b2b_->active_calls(), 0u);

    // What passes, and what has no PASSporT at all, goes on.
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n", "r5@x"));
    EXPECT_NE(invite_sent_to(take(), bob), nullptr);
    feed(core, carol, carrier_invite("", "r6@x"));
    EXPECT_NE(bobs_caller().first.find(";verstat=No-TN-Validation@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_rejected_unsigned, 0u);
    EXPECT_EQ(b2b_->stats().verify_reasons_sent, 0u) << "a refusal says why itself";
}

TEST_F(verify_b2bua_test, a_provider_may_require_an_identity) {
    cfg_.providers[0].reject_failed_identity = true;
    cfg_.providers[0].require_identity = true;
    rebuild(cfg_);
    dial("15551234@198.51.100.20");
    feed(core, carol, carrier_invite(""));
    const auto out = take();
    EXPECT_EQ(invite_sent_to(out, bob), nullptr);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back()->msg.status, 428u) << out.back()->text;
    EXPECT_NE(out.back()->text.find("SIP/2.0 428 Use Identity Header\r\n"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_rejected_unsigned, 1u);
    EXPECT_EQ(b2b_->stats().verify_none, 1u);
    // The plain provider is not verified: nothing required of it.
    feed(core, plain, from_core_host(carrier_invite("", "p1@x"), "198.51.100.50"));
    EXPECT_NE(invite_sent_to(take(), bob), nullptr);
}

TEST_F(verify_b2bua_test, the_signer_is_known_to_dialplans_cdrs_and_the_calls_list) {
    ASSERT_EQ(engine_->load_source("default", "d.lua",
                                   "if req.SignerSPC ~= '1234' or req.Origid ~= 'origid-1' then "
                                   "sys.Respond(603, 'Decline') end\n"
                                   "sys.Dial('15551234@198.51.100.20')"),
              "");
    arrive();
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n"));
    const auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr) << "req.SignerSPC and req.Origid as the certificate and PASSporT say";
    const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
    ASSERT_EQ(calls.get_child("calls").size(), 1u);
    EXPECT_EQ(calls.get_child("calls").front().second.get<std::string>("signer_spc"), "1234");
    EXPECT_EQ(calls.get_child("calls").front().second.get<std::string>("origid"), "origid-1");
    feed(core, bob, bob_response(to_bob->msg, 486, "Busy Here"));
    take();
    ASSERT_FALSE(cdrs_->recent().empty());
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<std::string>("signer_spc"), "1234");
    EXPECT_EQ(rec.get<std::string>("origid"), "origid-1");
    // A call that fails names no signer: nothing of it is vouched for.
    feed(core, carol, carrier_invite("Identity: " + identity("15550199") + "\r\n", "v2@x"));
    const auto out = take();
    EXPECT_EQ(invite_sent_to(out, bob), nullptr);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back()->msg.status, 603u);
}

TEST_F(verify_b2bua_test, providers_without_verify_identity_and_accounts_are_not_verified) {
    feed(core, plain, from_core_host(carrier_invite("Identity: " + identity() + "\r\n"), "198.51.100.50"));
    EXPECT_TRUE(fetches_.empty());
    const auto [from, pai] = bobs_caller();
    EXPECT_FALSE(from.empty());
    EXPECT_EQ(from.find("verstat"), std::string::npos) << from;
    EXPECT_EQ(b2b_->stats().verify_passed + b2b_->stats().verify_failed + b2b_->stats().verify_none, 0u);
    // A call the appliance places at a provider carries no verstat (carriers verify themselves).
    dial("15551234@carrier");
    arrive();
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n", "v2@x"));
    const auto inv = invite_sent_to(take(), carol);
    ASSERT_NE(inv, nullptr);
    EXPECT_EQ(inv->text.find("verstat"), std::string::npos) << inv->text;
    EXPECT_EQ(b2b_->stats().verify_passed, 1u);
}

TEST_F(verify_b2bua_test, a_held_invite_can_be_cancelled) {
    const std::string inv = carrier_invite("Identity: " + identity() + "\r\n");
    feed(core, carol, inv);
    feed(core, carol, inv);  // and retransmitted
    ASSERT_EQ(b2b_->invites_held(), 2u);
    const std::string cancel = cancel_of(inv);
    feed(core, carol, cancel);
    const auto out = take();
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0]->msg.status, 100u) << "the INVITE's transaction starts as any does";
    EXPECT_EQ(out[1]->msg.status, 487u) << out[1]->text;
    EXPECT_EQ(header(out[1]->msg, sip::hdr::cseq), "1 INVITE");
    EXPECT_FALSE(out[1]->msg.to.tag.empty()) << "a final response has a To tag";
    EXPECT_EQ(out[2]->msg.status, 200u) << out[2]->text;
    EXPECT_EQ(header(out[2]->msg, sip::hdr::cseq), "1 CANCEL");
    EXPECT_EQ(b2b_->invites_held(), 0u);
    EXPECT_EQ(b2b_->stats().held_cancelled, 1u);
    // The certificate arrives: nothing is left to route; a retransmission gets the 487 again.
    arrive();
    EXPECT_EQ(b2b_->active_calls(), 0u);
    feed(core, carol, inv);
    const auto again = take();
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0]->msg.status, 487u);
    EXPECT_EQ(invite_sent_to(again, bob), nullptr);
    // The CANCEL's retransmission is absorbed (its 200 again); one that matches nothing gets 481.
    feed(core, carol, cancel);
    const auto repeat = take();
    ASSERT_EQ(repeat.size(), 1u);
    EXPECT_EQ(repeat[0]->msg.status, 200u);
    std::string stray = cancel;
    stray.replace(stray.find("z9hG4bKv1"), 9, "z9hG4bKzz");
    feed(core, carol, stray);
    const auto none = take();
    ASSERT_EQ(none.size(), 1u);
    EXPECT_EQ(none[0]->msg.status, 481u);
}

TEST_F(verify_b2bua_test, held_invites_are_bounded) {
    for (int i = 0; i < 300; ++i) {
        feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n", "h" + std::to_string(i) + "@x"));
    }
    EXPECT_EQ(b2b_->invites_held(), 256u);
    EXPECT_EQ(b2b_->stats().held_overflow, 44u);
    EXPECT_EQ(b2b_->stats().verify_failures.at("certificate_unavailable"), 44u) << "beyond the bound, verified at once";
    EXPECT_EQ(fetches_.size(), 1u);
    arrive();
    EXPECT_EQ(b2b_->invites_held(), 0u);
    EXPECT_EQ(b2b_->stats().verify_passed, 256u);
}

namespace {

/// The same with `[stir] verify_threads`: the signatures are checked on a pool's thread while
/// the INVITE waits.
class pooled_verify_test : public verify_b2bua_test {
protected:
    void SetUp() override {
        verify_b2bua_test::SetUp();
        pool_ = std::make_unique<sf::control::signature_pool>(1);
        b2b_->set_signature_pool(pool_.get());
        arrive();  // the certificate is known: what waits, waits for its signatures
    }
    void TearDown() override {
        pool_.reset();  // before the B2BUA it answers
        verify_b2bua_test::TearDown();
    }

    /// Polls the B2BUA (as the control loop does) until nothing waits, at most 10 s.
    void settle() {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while ((b2b_->invites_held() != 0 || pool_->in_pool() != 0) && std::chrono::steady_clock::now() < end) {
            b2b_->poll_verifications();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        ASSERT_EQ(b2b_->invites_held(), 0u) << "the pool never answered";
    }

    std::unique_ptr<sf::control::signature_pool> pool_;
};

}  // namespace

TEST_F(pooled_verify_test, the_invite_waits_for_its_signature_off_the_control_thread) {
    const std::string inv = carrier_invite("Identity: " + identity() + "\r\n");
    feed(core, carol, inv);
    feed(core, carol, inv);  // its retransmission waits with it
    EXPECT_EQ(b2b_->stats().signatures_pooled, 1u) << "one job for the transaction";
    settle();
    EXPECT_EQ(b2b_->active_calls(), 1u);
    const auto [from, pai] = bobs_caller();
    EXPECT_NE(from.find(";verstat=TN-Validation-Passed@"), std::string::npos) << from;
    EXPECT_EQ(b2b_->stats().verify_passed, 1u);

    // A mangled ppt parameter is settled here, without the pool.
    feed(core, carol, carrier_invite("Identity: " + identity("15550100") + "x\r\n", "v2@x"));
    EXPECT_EQ(b2b_->stats().signatures_pooled, 1u);
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Failed@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_failures.at("malformed"), 1u);
    // A signature that is not the claims' fails there as it would here.
    passport_claims c{'A', "15550100", "15551234", wall_now(), "o"};
    const std::string good = signer_->identity(c);
    c.origid = "p";  // another PASSporT: its signature does not fit the first one's claims
    const std::string other = signer_->identity(c);
    const std::string spliced = good.substr(0, good.rfind('.', good.find(';'))) +
                                other.substr(other.rfind('.', other.find(';')));
    feed(core, carol, carrier_invite("Identity: " + spliced + "\r\n", "v3@x"));
    EXPECT_EQ(b2b_->stats().signatures_pooled, 2u);
    settle();
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Failed@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_failures.at("bad_signature"), 1u);

    // Settled without a signature (stale): not sent to the pool.
    feed(core, carol, carrier_invite("Identity: " + identity("15550100", wall_now() - 600) + "\r\n", "v4@x"));
    EXPECT_EQ(b2b_->stats().signatures_pooled, 2u);
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Failed@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_failures.at("stale"), 1u);
}

TEST_F(pooled_verify_test, an_invite_that_waits_for_its_certificate_then_its_signature_is_held_once) {
    const std::string other = "https://other.carrier.example/sp.pem";
    std::string why;
    const auto other_signer = identity_signer::from_pem(key_, other, why);
    ASSERT_NE(other_signer, nullptr) << why;
    const std::string inv = carrier_invite(
        "Identity: " + other_signer->identity(passport_claims{'A', "15550100", "15551234", wall_now(), "o"}) + "\r\n");
    feed(core, carol, inv);
    feed(core, carol, inv);  // retransmitted while the certificate is fetched
    EXPECT_EQ(b2b_->stats().invites_held, 2u);
    b2b_->certificate_arrived(other, true, cert_, 0, "");  // now both wait for the signature
    EXPECT_EQ(b2b_->stats().signatures_pooled, 1u);
    settle();
    EXPECT_EQ(b2b_->active_calls(), 1u);
    EXPECT_EQ(b2b_->stats().invites_held, 2u) << "the two messages were held once each";
    EXPECT_EQ(b2b_->stats().verify_passed, 1u);
}

TEST_F(pooled_verify_test, an_invite_cancelled_while_its_signature_is_checked_is_not_routed) {
    const std::string inv = carrier_invite("Identity: " + identity() + "\r\n");
    feed(core, carol, inv);
    ASSERT_EQ(b2b_->invites_held(), 1u);
    const std::string cancel = cancel_of(inv);
    feed(core, carol, cancel);
    EXPECT_EQ(b2b_->stats().held_cancelled, 1u);
    settle();
    const auto out = take();
    EXPECT_EQ(invite_sent_to(out, bob), nullptr) << "the pool's answer came for a call that is gone";
    EXPECT_EQ(b2b_->active_calls(), 0u);
    EXPECT_EQ(b2b_->stats().verify_passed, 0u);
}

TEST_F(verify_b2bua_test, a_call_diverted_on_its_way_passes_and_says_from_where) {
    // RFC 8946: signed for 15559000, diverted by a carrier on the way to 15551234.
    ASSERT_EQ(engine_->load_source("default", "d.lua",
                                   "if req.Verstat ~= 'TN-Validation-Passed' or req.DivertedFrom ~= '15559000' then "
                                   "sys.Respond(603, 'Decline') end\n"
                                   "sys.Dial('15551234@198.51.100.20')"),
              "");
    arrive();
    const std::string shaken =
        signer_->identity(passport_claims{'A', "15550100", "15559000", wall_now(), "origid-1"});
    const std::string div = signer_->identity(div_claims{"15550100", "15551234", "15559000", wall_now()});
    feed(core, carol, carrier_invite("Identity: " + shaken + "\r\nIdentity: " + div + "\r\n"));
    const auto to_bob = invite_sent_to(take(), bob);
    ASSERT_NE(to_bob, nullptr) << "req.DivertedFrom as the div PASSporT says";
    const auto calls = json("{\"calls\":" + b2b_->calls_json() + "}");
    EXPECT_EQ(calls.get_child("calls").front().second.get<std::string>("diverted_from"), "15559000");
    feed(core, bob, bob_response(to_bob->msg, 486, "Busy Here"));
    take();
    ASSERT_FALSE(cdrs_->recent().empty());
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<std::string>("verstat"), "TN-Validation-Passed");
    EXPECT_EQ(rec.get<std::string>("diverted_from"), "15559000");
    EXPECT_EQ(rec.get<std::string>("attest"), "A");
    EXPECT_EQ(b2b_->stats().verify_passed, 1u);
    // Without the div PASSporT the same call fails (dest_mismatch) and is declined here.
    feed(core, carol, carrier_invite("Identity: " + shaken + "\r\n", "v2@x"));
    const auto out = take();
    EXPECT_EQ(invite_sent_to(out, bob), nullptr);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back()->msg.status, 603u);
}

TEST_F(verify_b2bua_test, a_call_waits_for_the_crl_its_certificate_names_and_a_revoked_one_fails) {
    const std::string crl_url = "https://sti-pa.example/crl";
    cert_ = sf::test::certificate_pem(key_, {.subject_cn = "SP", .issuer_cn = "STI-PA test root", .issuer_key_pem = root_key_,
                                             .crl_url = crl_url, .serial = 77});
    const std::string inv = carrier_invite("Identity: " + identity() + "\r\n");
    feed(core, carol, inv);
    arrive();
    ASSERT_EQ(fetches_, (std::vector<std::string>{url, crl_url})) << "the certificate, then the CRL it names";
    EXPECT_EQ(b2b_->invites_held(), 1u) << "held again for the CRL";
    feed(core, carol, inv);  // a retransmission meanwhile: fetches nothing more
    EXPECT_EQ(fetches_.size(), 2u);

    sf::test::crl_spec crl{.issuer_cn = "STI-PA test root", .issuer_key_pem = root_key_, .revoked = {76}};
    crl.der = true;  // as an STI-PA serves it (application/pkix-crl)
    b2b_->certificate_arrived(crl_url, true, sf::test::crl_of(crl), 0, "");
    EXPECT_EQ(b2b_->invites_held(), 0u);
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Passed@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().crls_fetched, 1u);
    EXPECT_EQ(b2b_->stats().certs_fetched, 1u) << "the CRL is not counted as a certificate";
    EXPECT_EQ(b2b_->revocation_lists_cached(), 1u);
    const auto listed = json(b2b_->stir_certificates_json());
    ASSERT_EQ(listed.get_child("revocation_lists").size(), 1u);
    const auto& l = listed.get_child("revocation_lists").front().second;
    EXPECT_EQ(l.get<std::string>("url"), crl_url);
    EXPECT_EQ(l.get<std::string>("state"), "valid");
    EXPECT_EQ(l.get<unsigned>("revoked"), 1u);
    EXPECT_GT(l.get<int64_t>("expires_in_s"), 3500);

    // The STI-PA revokes the certificate: the next call fails, and the operator sees why.
    crl.revoked.push_back(77);
    b2b_->certificate_arrived(crl_url, true, sf::test::crl_of(crl), 0, "");
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n", "v2@x"));
    EXPECT_EQ(fetches_.size(), 2u);
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Failed@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_failures.at("certificate_revoked"), 1u);
    const auto after = json(b2b_->stir_certificates_json());
    EXPECT_EQ(after.get_child("certificates").front().second.get<std::string>("state"), "revoked");

    // A CRL that cannot be had fails the calls needing it, as a certificate would.
    b2b_->certificate_arrived(crl_url, false, "", 0, "timeout");
    EXPECT_EQ(b2b_->stats().crl_fetches_failed, 1u);
    feed(core, carol, carrier_invite("Identity: " + identity() + "\r\n", "v3@x"));
    EXPECT_NE(bobs_caller().first.find(";verstat=TN-Validation-Failed@"), std::string::npos);
    EXPECT_EQ(b2b_->stats().verify_failures.at("certificate_unavailable"), 1u);
    EXPECT_EQ(b2b_->stats().cert_fetches_failed, 0u);
}
