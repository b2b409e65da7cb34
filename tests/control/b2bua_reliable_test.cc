// Reliable provisional responses to the caller (control/b2bua_reliable.cc, RFC 3262 with the
// appliance as the UAS of leg A): Require/Supported: 100rel, RSeq, retransmission at T1
// doubling, PRACK matching (200 / 481), one unacknowledged reliable 18x at a time, the 2xx held
// until the PRACK, and the 504 after 64*T1 without one. All timers run on the fixture's fake clock.

#include "b2bua_fixture.hh"

namespace {

constexpr ms_t t1 = 500;  // the fixture's T1

class reliable_test : public b2bua_test {
protected:
    /// alice's INVITE with `lines` (complete header lines) added.
    static std::string invite_with(const std::string& lines, const invite_opts& o = {}) {
        std::string s = alice_invite(o);
        s.insert(s.find("User-Agent:"), lines);
        return s;
    }

    /// alice INVITEs bob with `lines`; the INVITE bob got (and in `first`, what went out).
    call_state start_with(const std::string& lines, std::vector<std::unique_ptr<received>>* first = nullptr) {
        call_state cs;
        from_alice(invite_with(lines));
        auto out = take();
        for (auto& r : out) {
            if (r->realm == core && r->msg.is_request && r->msg.req_method == sip::method::invite) {
                cs.b_invite = parse_copy(r->realm, r->to, r->text);
            }
        }
        EXPECT_NE(cs.b_invite, nullptr) << "no INVITE to bob";
        if (first != nullptr) {
            *first = std::move(out);
        }
        return cs;
    }

    /// alice's PRACK of the reliable response with `rseq` (RAck: rseq invite_cseq INVITE).
    static std::string alice_prack(const std::string& a_tag, uint32_t rseq, unsigned cseq = 2,
                                   std::string_view branch = "z9hG4bKaliceprack1", unsigned invite_cseq = 1,
                                   const std::string& body = {}) {
        std::string s = alice_request("PRACK", a_tag, cseq, branch);
        s.insert(s.find("Content-Length"), "RAck: " + std::to_string(rseq) + " " + std::to_string(invite_cseq) +
                                               " INVITE\r\n");
        if (!body.empty()) {
            s.replace(s.find("Content-Length: 0"), std::string::npos,
                      "Content-Type: application/sdp\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body);
        }
        return s;
    }

    static uint32_t rseq_of(const received& r) {
        const std::string v = header(r.msg, sip::hdr::rseq);
        return v.empty() ? 0 : static_cast<uint32_t>(std::stoul(v));
    }
    static bool is_reliable(const received& r) {
        return header(r.msg, sip::hdr::require) == "100rel" && rseq_of(r) != 0;
    }

    /// Provisional responses to alice with `status` in `out`.
    static std::vector<const received*> to_alice(const std::vector<std::unique_ptr<received>>& out, unsigned status) {
        std::vector<const received*> v;
        for (const auto& r : out) {
            if (r->realm == acc && !r->msg.is_request && r->msg.status == status &&
                r->msg.cseq_method == sip::method::invite) {
                v.push_back(r.get());
            }
        }
        return v;
    }
};

const std::string require_100rel = "Require: 100rel\r\n";
const std::string supported_100rel = "Supported: 100rel\r\n";

}  // namespace

TEST_F(reliable_test, require_100rel_is_accepted_and_ringing_goes_reliably) {
    std::vector<std::unique_ptr<received>> first;
    const call_state cs = start_with(require_100rel, &first);
    ASSERT_NE(cs.b_invite, nullptr);
    EXPECT_EQ(count_response(first, acc, 420), 0u) << "100rel is supported: no 420";
    const received* trying = find_response(first, acc, 100);
    ASSERT_NE(trying, nullptr);
    EXPECT_FALSE(is_reliable(*trying)) << "100 Trying is never reliable (RFC 3262 3)";
    EXPECT_EQ(header(cs.b_invite->msg, sip::hdr::supported).find("100rel"), 0u) << "still offered to callees";

    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    auto out = take();
    const auto ringing = to_alice(out, 180);
    ASSERT_EQ(ringing.size(), 1u);
    EXPECT_TRUE(is_reliable(*ringing[0])) << ringing[0]->text;
    const uint32_t rseq = rseq_of(*ringing[0]);
    EXPECT_GE(rseq, 1u);
    EXPECT_LE(rseq, 0x7fffffffu);
    EXPECT_FALSE(ringing[0]->msg.to.tag.empty()) << "the early dialog's tag";
    EXPECT_EQ(b2b_->stats().reliable_sent, 1u);
}

TEST_F(reliable_test, other_requirements_still_get_420_naming_only_them) {
    from_alice(invite_with("Require: 100rel, foo\r\n"));
    auto out = take();
    const received* refused = find_response(out, acc, 420);
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(header(refused->msg, sip::hdr::unsupported), "foo");
    EXPECT_EQ(find_request(out, core, sip::method::invite), nullptr);
}

TEST_F(reliable_test, a_reinvite_may_not_require_100rel) {
    // Provisional responses to re-INVITEs are relayed as they come (unreliably): refused honestly.
    const call_state cs = confirmed_call();
    ASSERT_FALSE(cs.a_tag.empty());
    std::string reinvite = alice_request("INVITE", cs.a_tag, 2, "z9hG4bKalicereinv");
    reinvite.insert(reinvite.find("Content-Length"), require_100rel);
    from_alice(reinvite);
    auto out = take();
    const received* refused = find_response(out, acc, 420);
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(header(refused->msg, sip::hdr::unsupported), "100rel");
    EXPECT_EQ(find_request(out, core, sip::method::invite), nullptr);
}

TEST_F(reliable_test, retransmitted_at_t1_doubling_until_the_prack_which_gets_200) {
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    auto out = take();
    ASSERT_EQ(to_alice(out, 180).size(), 1u);
    const std::string first_text = to_alice(out, 180)[0]->text;
    const std::string a_tag(to_alice(out, 180)[0]->msg.to.tag);
    const uint32_t rseq = rseq_of(*to_alice(out, 180)[0]);

    // Retransmissions T1, 2T1, 4T1 and 8T1 apart (RFC 3262 3), each the same message.
    for (ms_t gap : {t1, 2 * t1, 4 * t1, 8 * t1}) {
        advance(gap - 1);
        EXPECT_TRUE(to_alice(take(), 180).empty()) << "too early for the retransmission after " << gap;
        advance(1);
        out = take();
        const auto again = to_alice(out, 180);
        ASSERT_EQ(again.size(), 1u) << "one retransmission after " << gap << " ms";
        EXPECT_EQ(again[0]->text, first_text);
    }
    EXPECT_EQ(b2b_->stats().reliable_retransmitted, 4u);

    from_alice(alice_prack(a_tag, rseq));
    out = take();
    const received* ok = find_response(out, acc, 200, sip::method::prack);
    ASSERT_NE(ok, nullptr);
    EXPECT_EQ(ok->msg.to.tag, a_tag);
    EXPECT_EQ(b2b_->stats().pracks_received, 1u);
    EXPECT_EQ(count_request(out, core, sip::method::prack), 0u) << "A's PRACK is hop by hop: bob gets nothing";

    // No more retransmissions, no 504.
    advance(64 * t1);
    out = take();
    EXPECT_TRUE(to_alice(out, 180).empty());
    EXPECT_EQ(count_response(out, acc, 504), 0u);
    EXPECT_EQ(b2b_->active_calls(), 1u);

    // The call goes on: bob answers, alice gets the 200 and ACKs it.
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    out = take();
    ASSERT_NE(find_response(out, acc, 200), nullptr);
}

TEST_F(reliable_test, a_prack_that_names_no_outstanding_response_gets_481) {
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    auto out = take();
    ASSERT_EQ(to_alice(out, 180).size(), 1u);
    const std::string a_tag(to_alice(out, 180)[0]->msg.to.tag);
    const uint32_t rseq = rseq_of(*to_alice(out, 180)[0]);

    from_alice(alice_prack(a_tag, rseq + 1, 2, "z9hG4bKwrongrseq"));
    EXPECT_NE(find_response(take(), acc, 481, sip::method::prack), nullptr) << "wrong RSeq";
    from_alice(alice_prack(a_tag, rseq, 3, "z9hG4bKwrongcseq", 7));
    EXPECT_NE(find_response(take(), acc, 481, sip::method::prack), nullptr) << "wrong INVITE CSeq";
    EXPECT_EQ(b2b_->stats().pracks_unmatched, 2u);

    // Unmatched PRACKs did not stop the retransmissions.
    advance(t1);
    EXPECT_EQ(to_alice(take(), 180).size(), 1u);

    from_alice(alice_prack(a_tag, rseq, 4, "z9hG4bKright"));
    EXPECT_NE(find_response(take(), acc, 200, sip::method::prack), nullptr);
    // The same PRACK retransmitted (same branch) is absorbed with its 200; a new one for the
    // response already acknowledged matches nothing.
    from_alice(alice_prack(a_tag, rseq, 4, "z9hG4bKright"));
    EXPECT_NE(find_response(take(), acc, 200, sip::method::prack), nullptr);
    from_alice(alice_prack(a_tag, rseq, 5, "z9hG4bKlate"));
    EXPECT_NE(find_response(take(), acc, 481, sip::method::prack), nullptr);
    // A PRACK without RAck is malformed.
    from_alice(alice_request("PRACK", a_tag, 6, "z9hG4bKnorack"));
    EXPECT_NE(find_response(take(), acc, 400, sip::method::prack), nullptr);
}

TEST_F(reliable_test, a_prack_with_a_new_offer_is_refused_but_still_acknowledges) {
    // The reliable 183 answered alice's offer; an SDP in her PRACK would be a new offer that a
    // hop-by-hop PRACK cannot take to bob: 488, yet the 183 counts as PRACKed (no retransmissions,
    // the held 200 goes).
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 183, "Session Progress", bob_sdp));
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    auto out = take();
    ASSERT_EQ(to_alice(out, 183).size(), 1u);
    const std::string a_tag(to_alice(out, 183)[0]->msg.to.tag);
    const uint32_t rseq = rseq_of(*to_alice(out, 183)[0]);
    from_alice(alice_prack(a_tag, rseq, 2, "z9hG4bKpracksdp", 1, alice_sdp));
    out = take();
    EXPECT_NE(find_response(out, acc, 488, sip::method::prack), nullptr);
    EXPECT_NE(find_response(out, acc, 200), nullptr) << "the held 2xx";
    advance(t1);
    EXPECT_TRUE(to_alice(take(), 183).empty());
}

TEST_F(reliable_test, no_second_reliable_provisional_before_the_first_is_pracked) {
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    auto out = take();
    ASSERT_EQ(to_alice(out, 180).size(), 1u);
    const std::string a_tag(to_alice(out, 180)[0]->msg.to.tag);
    const uint32_t rseq = rseq_of(*to_alice(out, 180)[0]);

    // bob's 183 with early media, and a 180 again, while alice has not PRACKed: both wait,
    // collapsed into one (the latest status, keeping the SDP).
    from_bob(bob_response(cs.b_invite->msg, 183, "Session Progress", bob_sdp));
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    out = take();
    EXPECT_TRUE(to_alice(out, 183).empty());
    EXPECT_TRUE(to_alice(out, 180).empty());

    from_alice(alice_prack(a_tag, rseq));
    out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::prack), nullptr);
    const auto next = to_alice(out, 180);
    ASSERT_EQ(next.size(), 1u) << "the waiting provisional goes now";
    EXPECT_TRUE(is_reliable(*next[0]));
    EXPECT_EQ(rseq_of(*next[0]), rseq + 1) << "RSeq counts up by one";
    EXPECT_EQ(sdp_of(next[0]->msg.body).conn, "192.0.2.1") << "with bob's early SDP, rewritten";
    EXPECT_EQ(b2b_->stats().reliable_sent, 2u);

    from_alice(alice_prack(a_tag, rseq + 1, 3, "z9hG4bKaliceprack2"));
    EXPECT_NE(find_response(take(), acc, 200, sip::method::prack), nullptr);
}

TEST_F(reliable_test, reliable_183_with_sdp_is_the_answer_and_the_200_waits_for_its_prack) {
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 183, "Session Progress", bob_sdp));
    auto out = take();
    const auto progress = to_alice(out, 183);
    ASSERT_EQ(progress.size(), 1u);
    EXPECT_TRUE(is_reliable(*progress[0]));
    const std::string answer(progress[0]->msg.body);
    EXPECT_EQ(sdp_of(answer).conn, "192.0.2.1");
    const std::string a_tag(progress[0]->msg.to.tag);
    const uint32_t rseq = rseq_of(*progress[0]);

    // bob answers before alice PRACKed: bob's 2xx is ACKed, alice's 200 waits (RFC 3262 3).
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    out = take();
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr);
    EXPECT_EQ(find_response(out, acc, 200), nullptr) << "no 2xx before the PRACK";
    advance(t1);
    out = take();
    EXPECT_EQ(to_alice(out, 183).size(), 1u) << "the 183 is still retransmitted";
    EXPECT_EQ(find_response(out, acc, 200), nullptr);

    from_alice(alice_prack(a_tag, rseq));
    out = take();
    ASSERT_NE(find_response(out, acc, 200, sip::method::prack), nullptr);
    const received* ok = find_response(out, acc, 200);
    ASSERT_NE(ok, nullptr) << "the 200 goes once the PRACK came";
    EXPECT_EQ(std::string(ok->msg.body), answer) << "the 2xx repeats the answer the 183 gave";
    EXPECT_FALSE(is_reliable(*ok));
    EXPECT_LT(static_cast<size_t>(std::find_if(out.begin(), out.end(), [](const auto& r) {
                                      return r->msg.cseq_method == sip::method::prack;
                                  }) - out.begin()),
              static_cast<size_t>(std::find_if(out.begin(), out.end(), [](const auto& r) {
                                      return r->msg.cseq_method == sip::method::invite;
                                  }) - out.begin()))
        << "the PRACK's 200 first";

    // The 2xx is retransmitted until alice's ACK; then the call is up and ends normally.
    advance(t1);
    EXPECT_EQ(count_response(take(), acc, 200), 1u);
    from_alice(alice_request("ACK", a_tag, 1, "z9hG4bKaliceack"));
    EXPECT_TRUE(take().empty());
    from_alice(alice_request("BYE", a_tag, 3, "z9hG4bKalicebye"));
    out = take();
    EXPECT_NE(find_request(out, core, sip::method::bye), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("result"), 200u);
    EXPECT_EQ(rec.get<std::string>("hangup"), "caller");
}

TEST_F(reliable_test, no_prack_within_64_t1_fails_the_call_with_504_and_cancels_bob) {
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    ASSERT_EQ(to_alice(take(), 180).size(), 1u);

    advance(64 * t1 - 1);
    auto out = take();
    EXPECT_EQ(to_alice(out, 180).size(), 6u) << "T1, 2T1, 4T1 ... 32T1 after it";
    EXPECT_EQ(count_response(out, acc, 504), 0u);
    advance(1);
    out = take();
    const received* failed = find_response(out, acc, 504);
    ASSERT_NE(failed, nullptr) << "RFC 3262 3: a 5xx after 64*T1 without PRACK";
    const received* cancel = find_request(out, core, sip::method::cancel);
    ASSERT_NE(cancel, nullptr) << "bob, still ringing, is CANCELled";
    EXPECT_EQ(std::string(cancel->msg.top_via.branch), std::string(cs.b_invite->msg.top_via.branch));
    EXPECT_EQ(b2b_->stats().reliable_timeouts, 1u);

    from_bob(bob_response(cancel->msg, 200, "OK"));
    from_bob(bob_response(cs.b_invite->msg, 487, "Request Terminated"));
    out = take();
    EXPECT_NE(find_request(out, core, sip::method::ack), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    advance(64 * t1);
    EXPECT_TRUE(to_alice(take(), 180).empty());
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("result"), 504u);
}

TEST_F(reliable_test, a_held_200_never_released_ends_with_504_to_alice_and_bye_to_bob) {
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    auto out = take();
    EXPECT_EQ(find_response(out, acc, 200), nullptr);
    advance(64 * t1);
    out = take();
    EXPECT_NE(find_response(out, acc, 504), nullptr);
    EXPECT_EQ(find_response(out, acc, 200), nullptr);
    EXPECT_NE(find_request(out, core, sip::method::bye), nullptr) << "bob answered: his dialog gets a BYE";
    EXPECT_EQ(b2b_->active_calls(), 0u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("result"), 504u) << "what the caller got";
}

TEST_F(reliable_test, cancel_while_the_200_is_held_gets_487_and_bob_a_bye) {
    // alice was never answered (her 2xx waited for the PRACK), so her CANCEL takes effect.
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    take();
    from_alice(alice_cancel());
    auto out = take();
    EXPECT_NE(find_response(out, acc, 200, sip::method::cancel), nullptr);
    EXPECT_NE(find_response(out, acc, 487), nullptr);
    EXPECT_EQ(find_response(out, acc, 200), nullptr);
    EXPECT_NE(find_request(out, core, sip::method::bye), nullptr);
    EXPECT_EQ(b2b_->active_calls(), 0u);
    const auto rec = json(cdrs_->recent().back());
    EXPECT_EQ(rec.get<unsigned>("result"), 487u);
    advance(64 * t1);
    out = take();
    EXPECT_TRUE(to_alice(out, 180).empty());
    EXPECT_EQ(find_response(out, acc, 200), nullptr);
}

TEST_F(reliable_test, cancel_while_a_reliable_provisional_is_outstanding_stops_it) {
    const call_state cs = start_with(require_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    ASSERT_EQ(to_alice(take(), 180).size(), 1u);
    from_alice(alice_cancel());
    auto out = take();
    EXPECT_NE(find_response(out, acc, 487), nullptr);
    EXPECT_NE(find_request(out, core, sip::method::cancel), nullptr);
    advance(64 * t1);
    out = take();
    EXPECT_TRUE(to_alice(out, 180).empty()) << "no retransmissions after the final response";
    EXPECT_EQ(count_response(out, acc, 504), 0u);
    EXPECT_EQ(b2b_->stats().reliable_timeouts, 0u);
}

TEST_F(reliable_test, supported_only_gets_reliable_early_media_by_default) {
    // Default policy (sdp): a caller that only supports 100rel gets plain ringing unreliably
    // and an 18x with SDP reliably (its SDP is then a real answer).
    const call_state cs = start_with(supported_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 180, "Ringing"));
    auto out = take();
    ASSERT_EQ(to_alice(out, 180).size(), 1u);
    EXPECT_FALSE(is_reliable(*to_alice(out, 180)[0]));
    from_bob(bob_response(cs.b_invite->msg, 183, "Session Progress", bob_sdp));
    out = take();
    ASSERT_EQ(to_alice(out, 183).size(), 1u);
    EXPECT_TRUE(is_reliable(*to_alice(out, 183)[0]));
    EXPECT_FALSE(to_alice(out, 183)[0]->msg.body.empty());
}

TEST_F(reliable_test, policy_decides_for_callers_that_only_support_100rel) {
    b2bua_config cfg = base_config();
    cfg.reliable_to_caller = reliable_policy::required;
    rebuild(cfg);
    call_state cs = start_with(supported_100rel);
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 183, "Session Progress", bob_sdp));
    auto out = take();
    ASSERT_EQ(to_alice(out, 183).size(), 1u);
    EXPECT_FALSE(is_reliable(*to_alice(out, 183)[0])) << "policy required: only when the caller requires it";

    cfg.reliable_to_caller = reliable_policy::supported;
    rebuild(cfg);
    invite_opts o;
    o.call_id = "alice-call-2@192.0.2.10";
    o.branch = "z9hG4bKalice2";
    from_alice(invite_with(supported_100rel, o));
    out = take();
    const received* inv = find_request(out, core, sip::method::invite);
    ASSERT_NE(inv, nullptr);
    from_bob(bob_response(inv->msg, 180, "Ringing"));
    out = take();
    ASSERT_EQ(to_alice(out, 180).size(), 1u);
    EXPECT_TRUE(is_reliable(*to_alice(out, 180)[0])) << "policy supported: every 18x";
}

TEST_F(reliable_test, a_caller_without_100rel_gets_plain_provisionals) {
    const call_state cs = start_call();
    ASSERT_NE(cs.b_invite, nullptr);
    from_bob(bob_response(cs.b_invite->msg, 183, "Session Progress", bob_sdp));
    from_bob(bob_response(cs.b_invite->msg, 200, "OK", bob_sdp));
    auto out = take();
    ASSERT_EQ(to_alice(out, 183).size(), 1u);
    EXPECT_FALSE(is_reliable(*to_alice(out, 183)[0]));
    EXPECT_NE(find_response(out, acc, 200), nullptr) << "nothing to wait for";
    EXPECT_EQ(b2b_->stats().reliable_sent, 0u);
}
