/// @file
/// libFuzzer target for the SIP control plane as a whole: sequences of datagrams from four peers
/// into b2bua::on_datagram, with the real transaction layer, timer queue (on a clock the input
/// moves), media anchor over a real relay table (EAL without hugepages), the lab's Lua dialplans
/// (`default` and `transfer`) and the transfer policy. fuzz_sip_message covers the parser alone;
/// this one covers what the B2BUA does with whatever parses: dialogs, forking, CANCEL, re-INVITE
/// and glare, REFER in each transfer mode, Replaces, PRACK, session timers, BYE at any moment,
/// STIR/SHAKEN Identity headers on calls to the trunk (signed with a key made at start), and
/// verified on calls from it (held until their certificate arrives).
///
/// Input: up to 32 records [flags][length, 2 bytes big-endian][datagram text]
///   flags bits 0-1  the sender: alice (192.0.2.10, realm acc), bob (198.51.100.20, core),
///                   carol (198.51.100.30, core; also the provider lab-trunk, media on acc),
///                   dave (192.0.2.11, acc)
///   flags bits 2-4  time that passes first: 0, 20 ms, 250 ms, 1 s, 4 s, 33 s, 200 s, 1900 s
///   flags bit 5     the datagram arrives twice (a retransmission)
///   flags bit 6     then every published relay side among each address's first 16 ports gets an
///                   RTCP report (an SR with a block, loss and jitter from the record's bytes),
///                   as the workers would queue it (media_anchor::note_rtcp): call quality
///   flags bit 7     then every certificate the B2BUA asked for arrives (the trunk's calls are
///                   verified: their INVITEs wait for it), or its fetch fails (every third record)
/// The input's length modulo 3 picks the trunk's verify_identity: true, reject, require.
/// The text may name what the appliance last sent to the same peer, so that answers can match
/// (each `$x` is replaced before the datagram is fed):
///   $v  the Via lines of the last request sent to this peer (each with its CRLF)
///   $f $t $c $s  its From value, To value, Call-ID, CSeq value ("N METHOD")
///   $V $F $T $C $S  the same of the last INVITE sent to this peer
///   $g  the To tag of the last response sent to this peer (the appliance's tag on its dialog)
///   $G  the From tag of the last INVITE sent to this peer (the appliance's tag on the dialog it opened)
///   $r  the RSeq of that response (for a PRACK's RAck)
///   $u  the user part of the last request's Request-URI (for "sip:$u@...")
///   $Nx (N = 0..3) the same from what peer N was sent (a third party naming another dialog)
///
/// The peers' calls belong to two accounts by their networks (acc-net 192.0.2.0/24, core-net
/// 198.51.100.0/24, two calls each at most); carol is also the trunk (two channels).
///
/// Checked for every input, besides ASan and UBSan: every message the appliance sends parses
/// with its own parser (but an error response to a request that does not); when the peers then
/// fall silent for two hours no call, transaction, relay entry, account call or trunk channel is
/// left; when the B2BUA is
/// destroyed no relay entry is left published and every message segment is back in the pool;
/// every call record written is JSON whose MOS per direction is null or within 1..4.5; after every
/// datagram each call's capture filter (b2bua::capture_filter, what `capture call` follows) is
/// well-formed: only peers (address and port) and relay ports (one, or with the RTCP port), none twice,
/// naming the call asked for; an attended transfer's join names two calls that exist, not one twice.

#include <rte_eal.h>
#include <rte_errno.h>

#include <unistd.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "../control/stir_keys.hh"
#include "../test_eal.hh"
#include "b2bua.hh"
#include "sip/sip_message.hh"
#include "sip_wire.hh"

namespace {

using namespace sf::control;
namespace sip = sf::sip;

#ifndef SF_SOURCE_ROOT
#error "SF_SOURCE_ROOT: the source tree (the lab's dialplans are loaded from lua/dialplans)"
#endif

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz_b2bua: %s\n", what.c_str());
    std::abort();
}

constexpr uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) { return (a << 24) | (b << 16) | (c << 8) | d; }

constexpr unsigned acc = 0, core = 1;
constexpr unsigned max_records = 32;

struct peer {
    unsigned realm;
    sip_addr addr;
};
const peer peers[4] = {{acc, {ip(192, 0, 2, 10), 5060}},
                       {core, {ip(198, 51, 100, 20), 5060}},
                       {core, {ip(198, 51, 100, 30), 5060}},
                       {acc, {ip(192, 0, 2, 11), 5060}}};

/// A message the appliance sent, parsed (the views point into `text`).
struct sent_message {
    std::string text;
    sip::message msg;
};

/// What the appliance last sent to one peer.
struct peer_view {
    std::unique_ptr<sent_message> request, invite, response;
};

struct environment {
    std::unique_ptr<message_pool> pool;
    std::unique_ptr<dialplan_engine> dialplans;
    std::unique_ptr<cdr_writer> cdrs;
    std::string stir_key;  ///< an EC P-256 key made at start: lab-trunk's calls are signed
    std::string stir_root, stir_cert;  ///< an STI root and the key's certificate: lab-trunk's calls are verified
};

environment* env = nullptr;

// SF_FUZZ_TRACE=1: the first line of every datagram in and out (to see how far a seed gets).
const bool trace = std::getenv("SF_FUZZ_TRACE") != nullptr;

void trace_line(const char* dir, unsigned who, std::string_view text) {
    if (trace) {
        std::fprintf(stderr, "%s %u: %.*s\n", dir, who, static_cast<int>(text.find('\r') == std::string_view::npos ? text.size() : text.find('\r')), text.data());
    }
}

void init_eal() {
    if (!sf::test::init_test_eal("sf_fuzz_b2b_", {"-m", "256", "-l", "0"})) {
        std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        std::exit(1);
    }
}

std::string header_value(const sip::message& m, sip::hdr id) {
    const sip::header* h = m.find(id);
    return h == nullptr ? std::string() : std::string(h->value);
}

std::string via_lines(const sip::message& m) {
    std::string out;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].id == sip::hdr::via) {
            out.append("Via: ").append(m.headers[i].value).append("\r\n");
        }
    }
    return out;
}

std::string cseq_value(const sip::message& m) { return std::to_string(m.cseq) + " " + std::string(m.cseq_method_name); }

std::string uri_user(const sip::message& m) {
    const std::string_view uri = m.request_uri;
    const size_t colon = uri.find(':');
    const size_t at = uri.find('@');
    if (colon == std::string_view::npos || at == std::string_view::npos || at < colon) {
        return {};
    }
    return std::string(uri.substr(colon + 1, at - colon - 1));
}

// The datagram with each $x replaced by what the appliance last sent to the peer.
std::string expand(std::string_view raw, const peer_view* views, unsigned self) {
    std::string out;
    out.reserve(raw.size() + 256);
    for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '$' || i + 1 == raw.size()) {
            out += raw[i];
            continue;
        }
        // "$2c": from what carol was sent (a third party names a dialog it was never part of).
        unsigned who = self;
        size_t key_at = i + 1;
        if (raw[key_at] >= '0' && raw[key_at] <= '3' && key_at + 1 < raw.size()) {
            who = static_cast<unsigned>(raw[key_at] - '0');
            ++key_at;
        }
        const peer_view& pv = views[who];
        const char k = raw[key_at];
        const sent_message* req = pv.request.get();
        const sent_message* inv = pv.invite.get();
        const sent_message* m = (k >= 'A' && k <= 'Z') ? inv : req;
        std::string value;
        bool known = true;
        switch (k) {
        case 'v': case 'V': value = m ? via_lines(m->msg) : ""; break;
        case 'f': case 'F': value = m ? header_value(m->msg, sip::hdr::from) : ""; break;
        case 't': case 'T': value = m ? header_value(m->msg, sip::hdr::to) : ""; break;
        case 'c': case 'C': value = m ? std::string(m->msg.call_id) : ""; break;
        case 's': case 'S': value = m ? cseq_value(m->msg) : ""; break;
        case 'u': value = req ? uri_user(req->msg) : ""; break;
        case 'g': value = pv.response ? std::string(pv.response->msg.to.tag) : ""; break;
        case 'G': value = inv ? std::string(inv->msg.from.tag) : ""; break;
        case 'r': {
            const sip::header* h = pv.response ? pv.response->msg.find("RSeq") : nullptr;
            value = h ? std::string(h->value) : "";
            break;
        }
        default: known = false;
        }
        if (!known) {
            out += raw[i];
            continue;
        }
        out += value;
        i = key_at;
    }
    return out;
}

// One input's appliance: built fresh, so an input always does the same thing.
struct appliance {
    ms_t now = 1'000'000;
    bool feeding_unparsable = false;  ///< the datagram being fed does not parse
    timer_queue timers;
    peer_view views[4];
    std::unique_ptr<sf::dp::relay_table> table;
    std::unique_ptr<media_anchor> anchor;
    std::unique_ptr<transaction_layer> tl;
    std::unique_ptr<b2bua> b2b;
    b2bua_config config;  ///< what b2b was built with (reloaded without probes before the silence)
    std::vector<std::string> fetches;  ///< certificate URLs asked for and not answered yet

    /// `identity_mode`: what the trunk's verification does with a call (verify_identity): 0 true,
    /// 1 reject (failures refused, RFC 8224), 2 require (and 428 without a PASSporT).
    explicit appliance(unsigned identity_mode) {
        // One name will do: each input's table is gone before the next one makes its own.
        table = std::make_unique<sf::dp::relay_table>("fzb_rt", 256, 1, -1);
        std::vector<realm_info> realms(2);
        realms[0].name = "acc";
        realms[0].addr = ip(192, 0, 2, 1);
        realms[0].addr_text = "192.0.2.1";
        realms[0].prefix = 24;
        realms[0].port_id = 0;
        realms[0].mac = rte_ether_addr{{0x02, 0, 0, 0, 0, 0x01}};
        realms[1].name = "core";
        realms[1].addr = ip(198, 51, 100, 1);
        realms[1].addr_text = "198.51.100.1";
        realms[1].prefix = 24;
        realms[1].port_id = 1;
        realms[1].mac = rte_ether_addr{{0x02, 0, 0, 0, 0, 0x02}};
        anchor = std::make_unique<media_anchor>(*table, realms, 20000, 20199, [](unsigned, uint32_t) {
            return std::optional<rte_ether_addr>(rte_ether_addr{{0x02, 0x99, 0x99, 0x99, 0x99, 0x99}});
        });
        const timer_config timer_cfg{500, 4000, 5000};
        auto send = [this](unsigned realm, sip_addr to, sip_wire msg) { on_sent(realm, to, std::move(msg)); };
        auto clock = [this] { return now; };
        tl = std::make_unique<transaction_layer>(timers, *env->pool, send, timer_cfg, clock);
        b2bua_config cfg;
        cfg.timers = timer_cfg;
        // The lab dialplans' provider (trunk-X, in calls and transfers) is carol here, with
        // credentials for her challenges and its media on acc (another port than its SIP).
        provider_config trunk;
        trunk.name = "lab-trunk";
        trunk.host = ip(198, 51, 100, 30);
        trunk.from_host = "trunk.example";
        trunk.username = "fuzz";
        trunk.password = "fuzz-secret";
        trunk.media_realm = 0;
        trunk.trust_identity = true;  // its P-Asserted-Identity is believed, its calls carry one
        trunk.ping_s = 30;            // probed: it goes down and comes back as the input answers
        trunk.response_timeout_s = 2;  // an INVITE it leaves silent for 2 s is failed over
        trunk.max_calls = 2;           // its channels: every call that took one gives it back
        trunk.sign_identity = true;    // STIR/SHAKEN: numbers the input chose, signed
        trunk.verify_identity = true;  // and its calls' Identity headers verified (held while fetched)
        trunk.reject_failed_identity = identity_mode >= 1;
        trunk.require_identity = identity_mode == 2;
        cfg.providers = {trunk};
        cfg.stir_key_pem = env->stir_key;
        cfg.stir_ca_pem = env->stir_root;
        cfg.stir_x5u = "https://cert.example/fuzz.pem";
        for (auto [name, network] : {std::pair{"acc-net", "192.0.2.0/24"}, std::pair{"core-net", "198.51.100.0/24"}}) {
            account_config acct;
            acct.name = name;
            cidr net;
            if (!parse_cidr(network, net).empty()) {
                fail("bad network in the fuzz config");
            }
            acct.networks = {net};
            acct.realm = "sipferry";
            acct.transfer_dialplan = "transfer";  // REFERs handled here go through the lab's plan
            acct.max_calls = 2;                   // counted: every call that took one gives it back
            cfg.accounts.push_back(acct);
        }
        config = cfg;
        b2b = std::make_unique<b2bua>(cfg, *tl, timers, *anchor, *env->dialplans, *env->cdrs, send, clock);
        b2b->set_certificate_fetch([this](const std::string& url) {
            if (std::find(fetches.begin(), fetches.end(), url) != fetches.end()) {
                fail("certificate " + url + " asked for again before it arrived");
            }
            fetches.push_back(url);
        });
        b2b->set_join_observer([this](uint64_t gone, uint64_t into) {
            if (gone == into || b2b->capture_filter(gone).status == 404 || b2b->capture_filter(into).status == 404) {
                fail("join of call " + std::to_string(gone) + " into " + std::to_string(into) + ": not two live calls");
            }
        });
    }

    /// Every certificate asked for arrives (the key's own, chained to the root) or its fetch fails.
    void certificates_arrive(bool ok) {
        const std::vector<std::string> urls = std::move(fetches);
        fetches.clear();
        for (const std::string& url : urls) {
            b2b->certificate_arrived(url, ok, ok ? env->stir_cert : std::string(), 3600, ok ? "" : "fuzz: no answer");
        }
        if (b2b->invites_held() > 256) {
            fail(std::to_string(b2b->invites_held()) + " INVITEs held: more than the bound");
        }
    }

    void on_sent(unsigned realm, sip_addr to, sip_wire msg) {
        auto s = std::make_unique<sent_message>();
        s->text = msg.to_string();
        const sip::parse_error e = sip::parse(s->text, s->msg);
        // The error response (400, 505) to a request the parser refused copies its broken
        // From, To, Call-ID or CSeq (RFC 3261 8.2.6.2): that one may not parse either.
        // Anything else must.
        const bool error_to_unparsable =
            feeding_unparsable && (s->text.starts_with("SIP/2.0 4") || s->text.starts_with("SIP/2.0 5"));
        if (e != sip::parse_error::ok && !error_to_unparsable) {
            fail(std::string("the appliance sent a message it cannot parse (") + sip::to_string(e) + "):\n" + s->text);
        }
        if (realm > core) {
            fail("a message to realm " + std::to_string(realm));
        }
        if (e != sip::parse_error::ok) {
            return;
        }
        trace_line("  ->", to.addr & 0xff, s->text);
        for (unsigned p = 0; p < 4; ++p) {
            if (peers[p].realm != realm || peers[p].addr.addr != to.addr) {
                continue;
            }
            peer_view& pv = views[p];
            if (!s->msg.is_request) {
                pv.response = std::move(s);
            } else if (s->msg.req_method == sip::method::invite) {
                pv.invite = std::make_unique<sent_message>();
                pv.invite->text = s->text;
                sip::parse(pv.invite->text, pv.invite->msg);
                pv.request = std::move(s);
            } else if (s->msg.req_method != sip::method::ack) {
                pv.request = std::move(s);
            }
            return;
        }
    }

    // Time passes in steps of 10 ms, or of a thousandth of a long wait (a busy control loop
    // is late by as much), running what falls due: timers add timers relative to now.
    void advance(ms_t d) {
        const ms_t until = now + d;
        const ms_t step = std::max<ms_t>(10, d / 1000);
        while (now < until) {
            now = std::min(until, now + step);
            timers.run(now);
        }
    }

    // RTCP reports at every published side among each relay address's first 16 ports (flags bit
    // 6), their figures from the record's bytes and the port; the arrival clock is `now`. Each
    // is an SR naming the previous one's NTP middle (LSR), so round trips are measured too.
    void reports(std::string_view raw, unsigned record) {
        uint32_t h = 2166136261u;  // FNV-1a of the record: varied, reproducible figures
        for (const char c : raw) {
            h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
        }
        for (const uint32_t addr : {ip(192, 0, 2, 1), ip(198, 51, 100, 1)}) {
            for (uint16_t port = 20000; port < 20016; ++port) {
                if (table->find(addr, port) == nullptr) {
                    continue;
                }
                const uint32_t x = h ^ (port * 2654435761u);
                sf::dp::rtcp_event ev;
                ev.addr = addr;
                ev.port = port;
                ev.report.sender_report = true;
                ev.report.sr_ntp_middle = 1000 + record;
                ev.report.has_block = (x & 1) != 0;
                ev.report.fraction_lost = static_cast<uint8_t>(x >> 1);
                ev.report.jitter = x >> 9 & 0xffff;
                ev.report.lsr = record == 0 ? 0 : 1000 + record - 1;
                ev.report.dlsr = x >> 20 & 0xff;
                anchor->note_rtcp(ev, static_cast<uint64_t>(now) * 1000);
            }
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    env = new environment;
    init_eal();
    env->pool = std::make_unique<message_pool>("fzb_msgs", 16383, 2048, SOCKET_ID_ANY);
    env->dialplans = std::make_unique<dialplan_engine>();
    const std::string root = SF_SOURCE_ROOT;
    for (const char* name : {"default", "transfer"}) {
        const std::string file = root + "/lua/dialplans/lab_" + name + ".lua";
        if (const std::string err = env->dialplans->load(name, file); !err.empty()) {
            fail("dialplan " + file + ": " + err);
        }
    }
    env->cdrs = std::make_unique<cdr_writer>("");
    env->stir_key = sf::test::private_key_pem("P-256");
    if (env->stir_key.empty()) {
        fail("cannot make the STIR key");
    }
    const std::string root_key = sf::test::private_key_pem("P-256");
    env->stir_root = sf::test::certificate_pem(root_key, {.subject_cn = "fuzz STI root", .ca = true, .tn_auth_list = false});
    env->stir_cert = sf::test::certificate_pem(env->stir_key, {.subject_cn = "fuzz SP", .issuer_cn = "fuzz STI root",
                                                               .issuer_key_pem = root_key, .not_after_s = 10 * 86400});
    return 0;
}

// Every call record written since `from` (cdr_writer::written()) is JSON, and its MOS per
// direction is null or within 1..4.5.
void check_records(uint64_t from) {
    const auto& recent = env->cdrs->recent();
    const uint64_t fresh = std::min<uint64_t>(env->cdrs->written() - from, recent.size());
    for (size_t k = recent.size() - fresh; k < recent.size(); ++k) {
        boost::property_tree::ptree t;
        try {
            std::istringstream in(recent[k]);
            boost::property_tree::read_json(in, t);
        } catch (const std::exception& e) {
            fail(std::string("a call record is not JSON: ") + e.what() + ": " + recent[k]);
        }
        for (const char* dir : {"rtp.caller_to_callee.mos", "rtp.callee_to_caller.mos"}) {
            const std::string mos = t.get<std::string>(dir, "missing");
            if (mos == "missing" || (mos != "null" && !(std::stod(mos) >= 1.0 && std::stod(mos) <= 4.5))) {
                fail(std::string("a call record's ") + dir + " is " + mos + ": " + recent[k]);
            }
        }
    }
}

// Each call's capture filter (what `capture call` runs and follows) is well-formed. Call ids are
// handed out from 1 up, one per call; 64 is more than any input here makes.
void check_capture_filters(b2bua& b2b) {
    for (uint64_t id = 1; id <= 64; ++id) {
        const call_filter f = b2b.capture_filter(id);
        if (f.status == 404) {
            continue;
        }
        if (f.status == 409 && f.terms.empty()) {
            continue;  // nothing to capture yet
        }
        if (f.status != 200 || f.call_id != id || f.terms.empty()) {
            fail("capture filter of call " + std::to_string(id) + ": status " + std::to_string(f.status) +
                 ", call " + std::to_string(f.call_id) + ", " + std::to_string(f.terms.size()) + " terms");
        }
        for (size_t i = 0; i < f.terms.size(); ++i) {
            const capture_term& t = f.terms[i];
            const bool peer = t.addr != 0 && t.port != 0 && t.last == t.port;
            const bool relay = t.addr == 0 && t.port != 0 && (t.last == t.port || t.last == t.port + 1);
            if (!peer && !relay) {
                fail("capture filter of call " + std::to_string(id) + ": term " + std::to_string(t.addr) + " " +
                     std::to_string(t.port) + "-" + std::to_string(t.last));
            }
            if (std::find(f.terms.begin(), f.terms.begin() + static_cast<long>(i), t) != f.terms.begin() + static_cast<long>(i)) {
                fail("capture filter of call " + std::to_string(id) + ": '" + t.text() + "' twice");
            }
        }
    }
}

// Every relay side published holds a port pair of the anchor (a pair carries an RTP side and an
// RTCP side on each of its addresses' ports): a stream removed mid-call (RFC 3264 8.2) gives its
// pairs back only together with its sides, never leaving a side on a port another call may get.
void check_relay_ports(const appliance& a) {
    unsigned pairs = 0;
    for (unsigned r = 0; r < a.anchor->realm_count(); ++r) {
        pairs += a.anchor->pairs_in_use(r);
    }
    if (a.table->size() > 2 * pairs) {
        fail(std::to_string(a.table->size()) + " relay sides published on " + std::to_string(pairs) +
             " port pairs in use");
    }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const unsigned pool_free = env->pool->available();
    const uint64_t records_before = env->cdrs->written();
    {
        appliance a(static_cast<unsigned>(size % 3));  // the input's length picks verify_identity's mode
        static constexpr ms_t steps_ms[8] = {0, 20, 250, 1000, 4000, 33'000, 200'000, 1'900'000};
        size_t at = 0;
        for (unsigned r = 0; r < max_records && at + 3 <= size; ++r) {
            const uint8_t flags = data[at];
            const size_t len = std::min<size_t>((size_t{data[at + 1]} << 8) | data[at + 2], size - at - 3);
            const std::string_view raw(reinterpret_cast<const char*>(data + at + 3), len);
            at += 3 + len;
            const unsigned p = flags & 3;
            a.advance(steps_ms[(flags >> 2) & 7]);
            const std::string text = expand(raw, a.views, p);
            trace_line("<-", peers[p].addr.addr & 0xff, text);
            sip::message parsed;
            a.feeding_unparsable = sip::parse(text, parsed) != sip::parse_error::ok;
            a.b2b->on_datagram(peers[p].realm, peers[p].addr, text);
            if (flags & 0x20) {
                a.b2b->on_datagram(peers[p].realm, peers[p].addr, text);
            }
            a.feeding_unparsable = false;
            if (flags & 0x40) {
                a.reports(raw, r);
            }
            if (flags & 0x80) {
                a.certificates_arrive(r % 3 != 0);  // mostly the certificate, sometimes a failed fetch
            }
            check_capture_filters(*a.b2b);
            check_relay_ports(a);
        }
        for (int i = 0; i < 5 && !a.fetches.empty(); ++i) {
            a.certificates_arrive(true);  // an INVITE with several Identity headers may need several
        }
        if (a.b2b->invites_held() != 0) {
            fail(std::to_string(a.b2b->invites_held()) + " INVITEs still held with every certificate arrived");
        }
        // The peers fall silent for two hours. Nothing may outlive that: a ringing call is
        // CANCELled after max_ring and given up 64*T1 later, an answered one ends when its
        // session refresh (at half of 1800 s) goes unanswered, every transaction ends.
        // Probes never stop by themselves: the trunk is no longer probed (a reload), so that its
        // last OPTIONS transaction ends within the silence like every other.
        a.config.providers.front().ping_s = 0;
        a.b2b->reload(a.config, std::shared_ptr<dialplan_engine>(env->dialplans.get(), [](dialplan_engine*) {}));
        a.advance(7'200'000);
        if (a.b2b->provider_calls("lab-trunk") != 0) {
            fail("two silent hours later: " + std::to_string(a.b2b->provider_calls("lab-trunk")) +
                 " of the trunk's channels still held");
        }
        for (const char* acct : {"acc-net", "core-net"}) {
            if (a.b2b->account_calls(acct) != 0) {
                fail("two silent hours later: " + std::to_string(a.b2b->account_calls(acct)) + " calls of account " +
                     acct + " still counted");
            }
        }
        for (unsigned r = 0; r < a.anchor->realm_count(); ++r) {
            if (a.anchor->pairs_in_use(r) != 0) {
                fail("two silent hours later: " + std::to_string(a.anchor->pairs_in_use(r)) +
                     " relay port pairs still held on realm " + std::to_string(r));
            }
        }
        if (a.b2b->active_calls() != 0 || a.tl->size() != 0 || a.table->size() != 0) {
            fail("two silent hours later: " + std::to_string(a.b2b->active_calls()) + " calls, " +
                 std::to_string(a.tl->size()) + " transactions, " + std::to_string(a.table->size()) +
                 " relay entries");
        }
        a.b2b.reset();
        if (a.table->size() != 0) {
            fail(std::to_string(a.table->size()) + " relay entries published with no B2BUA left");
        }
        a.tl.reset();
    }
    check_records(records_before);
    if (env->pool->available() != pool_free) {
        fail("message segments leaked: " + std::to_string(pool_free - env->pool->available()));
    }
    return 0;
}
