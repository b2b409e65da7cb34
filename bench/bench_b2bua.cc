// Call set-up through the control plane, in-process: how many calls per second one
// control core handles with Lua routing and anchored media (issue 4's goal: 5,000/s),
// and the seven messages of a basic call through transactions and dialogs (issue 3).
//
// Real parts throughout: the SIP parser, transaction layer, B2BUA, Lua dialplan
// (lua/dialplans/lab_default.lua), relay table (port index + RCU) and CDR writer
// (in memory). The peers are simulated by the benchmark: bob's answers are built from the
// INVITE the appliance sent him (that parse is part of the measured loop, so the figure is
// a lower bound on the appliance's own rate). Baseline in the same run: parsing the same
// seven messages alone. And the same call with [hep] on (every message in and out copied as
// HEPv3 and sent with sendmmsg to a collector socket on loopback): what a Homer feed costs.

#include <benchmark/benchmark.h>

#include <rte_eal.h>
#include <rte_memory.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench_eal.hh"
#include "b2bua.hh"
#include "capture_api.hh"
#include "cdr.hh"
#include "dialplan.hh"
#include "hep_exporter.hh"
#include "hep_rtcp.hh"
#include "media_anchor.hh"
#include "relay_table.hh"
#include "stir_shaken.hh"
#include "../tests/control/stir_keys.hh"
#include "sip/sip_message.hh"
#include "sip_wire.hh"
#include "transaction.hh"

using namespace sf;
using namespace sf::control;

namespace {

constexpr uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) { return (a << 24) | (b << 16) | (c << 8) | d; }
const sip_addr alice{ip(192, 0, 2, 10), 5060};
const sip_addr bob{ip(198, 51, 100, 20), 5060};

const std::string alice_sdp =
    "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
const std::string bob_sdp =
    "v=0\r\no=bob 2 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
    "m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

std::string alice_invite(const std::string& call_id, const std::string& user = "bob") {
    return "INVITE sip:" + user + "@192.0.2.1 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" + call_id + ";rport\r\n"
           "Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@192.0.2.10>;tag=at" + call_id + "\r\n"
           "To: <sip:" + user + "@192.0.2.1>\r\nCall-ID: " + call_id + "\r\nCSeq: 1 INVITE\r\n"
           "Contact: <sip:alice@192.0.2.10:5060>\r\nContent-Type: application/sdp\r\n"
           "Content-Length: " + std::to_string(alice_sdp.size()) + "\r\n\r\n" + alice_sdp;
}

std::string alice_in_dialog(const char* method, const std::string& call_id, const std::string& our_tag,
                            unsigned cseq) {
    return std::string(method) + " sip:sipferry@192.0.2.1:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" + method + call_id + ";rport\r\n"
           "Max-Forwards: 70\r\nFrom: \"Alice\" <sip:alice@192.0.2.10>;tag=at" + call_id + "\r\n"
           "To: <sip:bob@192.0.2.1>;tag=" + our_tag + "\r\nCall-ID: " + call_id + "\r\nCSeq: " +
           std::to_string(cseq) + " " + method + "\r\nContent-Length: 0\r\n\r\n";
}

/// The bytes of a message the appliance sent (the simulated peer reads them; no copy when
/// they sit in one segment, as every message of this call does).
std::string_view bytes_of(const sip_wire& w, std::string& scratch) {
    const std::string_view v = w.contiguous();
    if (!v.empty() || w.empty()) {
        return v;
    }
    scratch = w.to_string();
    return scratch;
}

std::string header(const sip::message& m, sip::hdr id) {
    const sip::header* h = m.find(id);
    return h == nullptr ? std::string() : std::string(h->value);
}

/// bob's answer to a request of the appliance's.
std::string bob_answer(const sip::message& req, unsigned status, const char* reason, const std::string& body) {
    std::string s = "SIP/2.0 " + std::to_string(status) + " " + reason + "\r\nVia: " + header(req, sip::hdr::via) +
                    "\r\nFrom: " + header(req, sip::hdr::from) + "\r\nTo: " + header(req, sip::hdr::to);
    if (req.to.tag.empty()) {
        s += ";tag=bt";
    }
    s += "\r\nCall-ID: " + std::string(req.call_id) + "\r\nCSeq: " + std::to_string(req.cseq) + " " +
         std::string(req.cseq_method_name) + "\r\nContact: <sip:bob@198.51.100.20:5060>\r\n";
    if (!body.empty()) {
        s += "Content-Type: application/sdp\r\n";
    }
    return s + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

struct stack {
    timer_queue timers;
    ms_t now = 1'000'000;
    std::vector<std::pair<sip_addr, sip_wire>> sent;
    std::unique_ptr<message_pool> pool;
    std::unique_ptr<dp::relay_table> table;
    std::unique_ptr<media_anchor> anchor;
    std::unique_ptr<dialplan_engine> engine;
    std::unique_ptr<cdr_writer> cdrs;
    std::unique_ptr<transaction_layer> tl;
    std::unique_ptr<b2bua> b2b;
    hep_exporter* hep = nullptr;  ///< copies of every message in and out, as [hep] makes them
    /// Called before each message leaves, as the control loop's send_sip() follows a capture.
    std::function<void()> before_send;
    std::string callee = "bob";            ///< the user alice calls (lab_default.lua: "bob" dials bob)
    const std::string* answer = &bob_sdp;  ///< bob's SDP in his 200

    explicit stack(const b2bua_config& cfg = {}) {
        static unsigned instance = 0;
        const std::string name = "bench_b2b" + std::to_string(instance++);  // table (memzone) names are global
        table = std::make_unique<dp::relay_table>(name.c_str(), 65536, 1, -1);
        std::vector<realm_info> realms(2);
        realms[0] = realm_info{"acc", ip(192, 0, 2, 1), "192.0.2.1", 24, 0, 0, {{2, 0, 0, 0, 0, 1}}};
        realms[1] = realm_info{"core", ip(198, 51, 100, 1), "198.51.100.1", 24, 0, 1, {{2, 0, 0, 0, 0, 2}}};
        anchor = std::make_unique<media_anchor>(*table, realms, 20000, 59999, [](unsigned, uint32_t) {
            return std::optional<rte_ether_addr>(rte_ether_addr{{2, 9, 9, 9, 9, 9}});
        });
        engine = std::make_unique<dialplan_engine>();
        const char* root = std::getenv("SF_SOURCE_ROOT");
        const std::string plan = std::string(root != nullptr ? root : SF_SOURCE_ROOT) + "/lua/dialplans/lab_default.lua";
        if (!engine->load("default", plan).empty()) {
            std::abort();
        }
        cdrs = std::make_unique<cdr_writer>("");
        // Transactions keep their messages for up to 32 s of (simulated) time: ~800 calls' worth.
        pool = std::make_unique<message_pool>(("bm_" + name).c_str(), 32767, 2048, SOCKET_ID_ANY);
        auto send = [this](unsigned realm, sip_addr to, sip_wire m) {
            if (before_send) {
                before_send();
            }
            if (hep != nullptr) {  // as sip_transport::transmit copies what it sends
                const size_t len = m.size();
                if (char* p = hep->begin(sip_addr{realm == 0 ? ip(192, 0, 2, 1) : ip(198, 51, 100, 1), 5060}, to, len)) {
                    m.copy_to(p, len);
                    hep->commit();
                }
            }
            sent.emplace_back(to, std::move(m));
        };
        tl = std::make_unique<transaction_layer>(timers, *pool, send, timer_config{500, 4000, 5000}, [this] { return now; });
        b2b = std::make_unique<b2bua>(cfg, *tl, timers, *anchor, *engine, *cdrs, send,
                                      [this] { return now; });
    }

    /// The request the appliance last sent to `to`, parsed into `out` (backed by `text`).
    bool last_request_to(sip_addr to, std::string& text, sip::message& out) {
        for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
            if (it->first == to && !it->second.starts_with("SIP/")) {
                text = it->second.to_string();
                return sip::parse(text, out) == sip::parse_error::ok;
            }
        }
        return false;
    }

    std::string our_tag_for_alice() {
        std::string scratch;
        for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
            sip::message m;
            if (it->first == alice && sip::parse(bytes_of(it->second, scratch), m) == sip::parse_error::ok &&
                !m.is_request &&
                m.status == 200) {
                return std::string(m.to.tag);
            }
        }
        return {};
    }

    /// A datagram in, as the control loop takes it (a HEP copy first when [hep] is on).
    void in(unsigned realm, sip_addr from, const std::string& text) {
        if (hep != nullptr) {
            hep->copy(from, sip_addr{realm == 0 ? ip(192, 0, 2, 1) : ip(198, 51, 100, 1), 5060}, text);
        }
        b2b->on_datagram(realm, from, text);
    }

    /// A call answered and ACKed: INVITE, 100, INVITE out, 180, 200, ACK out, 200 in, ACK in.
    /// Returns the appliance's tag in alice's dialog.
    std::string open_call(const std::string& call_id) {
        in(0, alice, alice_invite(call_id, callee));
        std::string inv_text;
        sip::message inv;
        if (!last_request_to(bob, inv_text, inv)) {
            std::abort();
        }
        in(1, bob, bob_answer(inv, 180, "Ringing", {}));
        in(1, bob, bob_answer(inv, 200, "OK", *answer));
        const std::string tag = our_tag_for_alice();
        in(0, alice, alice_in_dialog("ACK", call_id, tag, 1));
        return tag;
    }

    /// One whole call: open_call(), then BYE, 200, BYE out, 200.
    void call(uint64_t n) {
        const std::string call_id = "c" + std::to_string(n);
        sent.clear();
        const std::string tag = open_call(call_id);
        in(0, alice, alice_in_dialog("BYE", call_id, tag, 2));
        std::string bye_text;
        sip::message bye;
        if (!last_request_to(bob, bye_text, bye)) {
            std::abort();
        }
        in(1, bob, bob_answer(bye, 200, "OK", {}));
        if (hep != nullptr) {
            hep->flush();  // the control loop flushes once per poll
        }
        // Transactions linger for their timers (D, J, K); let them expire as time passes.
        now += 40;
        timers.run(now, 64);
    }
};

void BM_call_setup_and_teardown(benchmark::State& state) {
    // Kept for the process's life: DPDK objects must not be freed after rte_eal_cleanup().
    static stack& s = *new stack;
    static uint64_t n = 0;  // Call-IDs stay unique across the library's repeated runs
    for (auto _ : state) {
        s.call(++n);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));  // calls
    state.counters["calls_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                       benchmark::Counter::kIsRate);
    state.counters["msgs_per_s"] = benchmark::Counter(7.0 * static_cast<double>(state.iterations()),
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_call_setup_and_teardown);

// co=: one dialplan dials bob plainly (arg 0: the baseline) or with co=PCMA/telephone-event
// (arg 1: the offer, bob's A-law answer and alice's 200 each filtered), the same Lua either way.
void BM_call_setup_and_teardown_codecs(benchmark::State& state) {
    static const std::string bob_alaw_sdp =
        "v=0\r\no=bob 2 2 IN IP4 198.51.100.20\r\ns=-\r\nc=IN IP4 198.51.100.20\r\nt=0 0\r\n"
        "m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    static stack& s = [] -> stack& {
        stack& made = *new stack;
        if (!made.engine->load_source("default", "codecs.lua",
                                      "local co = req.URI.User == 'bob-co' and '[co=PCMA/telephone-event]' or ''\n"
                                      "sys.Dial('bob@198.51.100.20:5060' .. co)\n").empty()) {
            std::abort();
        }
        return made;
    }();
    static uint64_t n = 3'000'000'000'000;
    const bool filtered = state.range(0) == 1;
    s.callee = filtered ? "bob-co" : "bob";
    s.answer = filtered ? &bob_alaw_sdp : &bob_sdp;
    for (auto _ : state) {
        s.call(++n);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.counters["calls_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                       benchmark::Counter::kIsRate);
}
BENCHMARK(BM_call_setup_and_teardown_codecs)->Arg(0)->Arg(1);

// A UDP socket on loopback that never reads (its small buffer overflows and the kernel drops):
// on loopback sendmmsg also pays the receiving side, so a HEP collector here gives an upper
// bound on a real management NIC's cost. Its port.
uint16_t silent_collector_port() {
    static const int collector_fd = [] {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        const int rcvbuf = 4096;
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            std::abort();
        }
        return fd;
    }();
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(collector_fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
}

// The same call with [hep] on (a silent collector, above).
void BM_call_setup_and_teardown_with_hep(benchmark::State& state) {
    static stack& s = *new stack;
    static uint64_t n = 1'000'000'000'000;
    hep_config cfg;
    cfg.collector_addr = INADDR_LOOPBACK;
    cfg.collector_port = silent_collector_port();
    cfg.capture_id = 2001;
    hep_exporter hep(cfg);
    s.hep = &hep;
    const hep_stats before = hep.stats();
    for (auto _ : state) {
        s.call(++n);
    }
    s.hep = nullptr;
    const hep_stats& after = hep.stats();
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.counters["calls_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                       benchmark::Counter::kIsRate);
    state.counters["hep_per_call"] = static_cast<double>(after.queued - before.queued) /
                                     static_cast<double>(std::max<int64_t>(1, state.iterations()));
    state.counters["hep_dropped"] = static_cast<double>(after.dropped_busy + after.dropped_error);
}
BENCHMARK(BM_call_setup_and_teardown_with_hep);

// One HEP copy as the control loop makes it, sent in batches of 64 as there: arg 0 a SIP
// message (an INVITE with SDP, 580 bytes: the baseline), arg 1 an RTCP report ([hep] rtcp: an
// SR with its block and XR VoIP metrics made into Homer's JSON, then copied).
void BM_hep_copy(benchmark::State& state) {
    hep_config cfg;
    cfg.collector_addr = INADDR_LOOPBACK;
    cfg.collector_port = silent_collector_port();
    hep_exporter hep(cfg);
    const sip_addr from{0xc000020a, 5060}, to{0xc0000201, 5060};
    std::string invite = "INVITE sip:bob@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n"
                         "From: <sip:alice@192.0.2.10>;tag=a\r\nTo: <sip:bob@192.0.2.1>\r\n"
                         "Call-ID: bench-call@192.0.2.10\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\n";
    invite.resize(580, 'x');
    sf::rtcp::report r;
    r.sender_report = true;
    r.sender_ssrc = 0xa11ce;
    r.sr_ntp_sec = 0xe9a1b2c3;
    r.sr_ntp_fraction = 0x12345678;
    r.sr_packets = 250;
    r.sr_octets = 40000;
    r.report_count = 1;
    r.has_block = true;
    r.source_ssrc = 0xb0b;
    r.highest_seq = 70000;
    r.jitter = 40;
    r.has_voip_metrics = true;
    r.xr_mos_cq = 41;
    const bool rtcp = state.range(0) == 1;
    for (auto _ : state) {
        if (rtcp) {
            hep.copy_rtcp(from, to, 1'796'550'000'000'000, "bench-call@192.0.2.10", rtcp_report_json(r));
        } else {
            hep.copy(from, to, invite);
        }
    }
    hep.flush();
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_hep_copy)->Arg(0)->Arg(1);

// The same calls while `capture call` follows another call (control/capture_api.hh): before each
// message leaves, the followed call's terms are built again and compared with what the capture
// runs (capture_api::follow; unchanged here, as on most messages). Arg 0: the same stack (one
// answered call besides, no media timeout) without the capture, the baseline; arg 1: with it.
void BM_call_setup_and_teardown_following_a_capture(benchmark::State& state) {
    static stack& s = []() -> stack& {
        b2bua_config cfg;
        cfg.media_timeout_s = 0;  // the followed call carries no RTP and must last the whole run
        return *new stack(cfg);
    }();
    static uint64_t n = 2'000'000'000'000;
    static const std::string followed = [] {
        s.open_call("followed-call");
        return std::string("followed-call");
    }();
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() / ("sipferry-bench-capture-" + std::to_string(::getpid()));
    capture_config cc;
    cc.dir = dir.string();
    dp::packet_capture capture({}, 1, nullptr, 511);  // no ports: the filter work, not the frames
    capture_api api(cc, capture, [](const std::string& ref, uint64_t id) {
        return id != 0 ? s.b2b->capture_filter(id) : s.b2b->capture_filter(ref);
    });
    const bool following = state.range(0) != 0;
    if (following) {
        if (api.start(R"({"call":")" + followed + R"(","seconds":3600})", 0).status != 200) {
            std::abort();
        }
        s.before_send = [&api] { api.follow(); };
    }
    for (auto _ : state) {
        s.call(++n);
    }
    s.before_send = nullptr;
    state.counters["filter_changes"] = static_cast<double>(capture.status().filter_changes);
    api.stop(0);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.counters["calls_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                       benchmark::Counter::kIsRate);
}
BENCHMARK(BM_call_setup_and_teardown_following_a_capture)->Arg(0)->Arg(1);

// STIR/SHAKEN: one Identity header (PASSporT JSON, base64url, ES256 with OpenSSL's P-256), what
// each INVITE placed at a provider with sign_identity costs on top of the call.
void BM_stir_identity_header(benchmark::State& state) {
    static const std::unique_ptr<identity_signer> signer = [] {
        std::string why;
        auto s = identity_signer::from_pem(sf::test::private_key_pem("P-256"), "https://cert.example.net/sp.pem", why);
        if (!s) {
            std::abort();
        }
        return s;
    }();
    passport_claims c{'A', "4930123400", "15551234", 1796530000, random_uuid()};
    for (auto _ : state) {
        benchmark::DoNotOptimize(signer->identity(c));
        ++c.iat;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_stir_identity_header);

// The Identity values of a call from 4930123400 signed for 15551234 and, `diverted`, diverted
// once on its way to 15557000 (RFC 8946: a div PASSporT after the SHAKEN one); `dest` is where
// the call arrives.
struct call_identities {
    std::vector<std::string> values;
    std::string dest;
};
call_identities signed_call(const identity_signer& signer, int64_t now, bool diverted) {
    call_identities c{{signer.identity(passport_claims{'A', "4930123400", "15551234", now, random_uuid()})}, "15551234"};
    if (diverted) {
        c.values.push_back(signer.identity(div_claims{"4930123400", "15557000", "15551234", now}));
        c.dest = "15557000";
    }
    return c;
}

// STIR/SHAKEN verification of one Identity header with its certificate known (stir_verify.hh:
// parse, JSON, the claims, ES256's verification), what a call from a provider with
// verify_identity costs on top of the call. The certificate's fetch and chain check happen once
// per URL and hour, not per call. /1: a call diverted once on its way (RFC 8946): its SHAKEN
// PASSporT and a div PASSporT, both verified, the chain between them found.
void BM_stir_verify_identity(benchmark::State& state) {
    static const std::string url = "https://cert.example.net/sp.pem";
    // Now: the certificate made below is valid from an hour ago to a day from now.
    static const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count();
    static const std::string key = sf::test::private_key_pem("P-256");
    static const std::unique_ptr<identity_verifier> verifier = [] {
        const std::string root_key = sf::test::private_key_pem("P-256");
        std::string why;
        auto v = identity_verifier::from_pem(
            sf::test::certificate_pem(root_key, {.subject_cn = "root", .ca = true, .tn_auth_list = false}), 60, why);
        if (!v || !v->store_certificate(url,
                                        sf::test::certificate_pem(key, {.subject_cn = "SP", .issuer_cn = "root",
                                                                        .issuer_key_pem = root_key}),
                                        now, 0).empty()) {
            std::abort();
        }
        return v;
    }();
    std::string why;
    const auto signer = identity_signer::from_pem(key, url, why);
    const bool diverted = state.range(0) != 0;
    const call_identities call = signed_call(*signer, now, diverted);
    const std::vector<std::string_view> identities(call.values.begin(), call.values.end());
    const std::string_view dest = call.dest;
    for (auto _ : state) {
        const verification v = verifier->verify(identities, "4930123400", dest, now);
        if (v.status != verstat::passed || v.diverted_from.empty() == diverted) {
            std::abort();
        }
        benchmark::DoNotOptimize(v);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_stir_verify_identity)->Arg(0)->Arg(1);

// The control thread's share of that verification with `[stir] verify_threads`: everything but
// the signature (signature_pool.hh checks it on its own thread). /1 diverted once, as above.
// /2 direct, its certificate naming a CRL of 2,000 entries (stir_crl.hh: about what an STI-PA's
// fetch limit of 64 KiB holds), which the verification asks each time.
void BM_stir_verify_prepare(benchmark::State& state) {
    const std::string url = "https://cert.example.net/sp.pem";
    const std::string crl_url = "https://sti-pa.example.net/crl";
    const std::string key = sf::test::private_key_pem("P-256");
    const std::string root_key = sf::test::private_key_pem("P-256");
    const int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const bool with_crl = state.range(0) == 2;
    std::string why;
    const auto verifier = identity_verifier::from_pem(
        sf::test::certificate_pem(root_key, {.subject_cn = "root", .ca = true, .tn_auth_list = false}), 60, why);
    if (!verifier || !verifier->store_certificate(
                         url, sf::test::certificate_pem(key, {.subject_cn = "SP", .issuer_cn = "root", .issuer_key_pem = root_key,
                                                              .crl_url = with_crl ? crl_url : ""}),
                         now, 0).empty()) {
        std::abort();
    }
    if (with_crl) {
        sf::test::crl_spec crl{.issuer_cn = "root", .issuer_key_pem = root_key};
        for (long serial = 1000000; serial < 1002000; ++serial) {
            crl.revoked.push_back(serial);  // others': the test certificates count from 1001
        }
        crl.der = true;
        if (!verifier->store_revocation_list(crl_url, sf::test::crl_of(crl), now).empty()) {
            std::abort();
        }
    }
    const auto signer = identity_signer::from_pem(key, url, why);
    const bool diverted = state.range(0) == 1;
    const call_identities call = signed_call(*signer, now, diverted);
    const std::vector<std::string_view> identities(call.values.begin(), call.values.end());
    const std::string_view dest = call.dest;
    for (auto _ : state) {
        const prepared_verification p = verifier->prepare(identities, "4930123400", dest, now);
        if (p.checks() != (diverted ? 2u : 1u)) {
            std::abort();
        }
        benchmark::DoNotOptimize(p);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_stir_verify_prepare)->Arg(0)->Arg(1)->Arg(2);

// Baseline: only parsing the seven messages of a call (what any SIP element must do).
void BM_call_parse_baseline(benchmark::State& state) {
    // The messages of one call, captured once (the library runs this function several times).
    static const std::vector<std::string> msgs = [] {
        stack& s = *new stack;
        s.call(1'000'000'000);
        std::vector<std::string> out;
        for (auto& [to, msg] : s.sent) {
            out.push_back(msg.to_string());
        }
        out.resize(std::min<size_t>(out.size(), 7));
        return out;
    }();
    for (auto _ : state) {
        for (const auto& m : msgs) {
            sip::message parsed;
            benchmark::DoNotOptimize(sip::parse(m, parsed));
        }
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_call_parse_baseline);

}  // namespace

int main(int argc, char** argv) {
    if (!sf::bench::start_eal("bench_b2bua", 512)) {
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::filesystem::remove_all(rte_eal_get_runtime_dir());  // made even with --no-shconf
    rte_eal_cleanup();
    return 0;
}
