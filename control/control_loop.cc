#include "control_loop.hh"

#include <boost/asio/io_context.hpp>
#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <sstream>

#include <array>
#include <chrono>
#include <cstdio>
#include <thread>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <map>

#include "b2bua.hh"
#include "capture_api.hh"
#include "cdr.hh"
#include "dialplan.hh"
#include "certificate_fetcher.hh"
#include "hep_exporter.hh"
#include "hep_rtcp.hh"
#include "json_writer.hh"
#include "log.hh"
#include "media_anchor.hh"
#include "mgmt_api.hh"
#include "prometheus_metrics.hh"
#include "route_check.hh"
#include "sip_transport.hh"
#include "timer_queue.hh"
#include "transaction.hh"

namespace sf::control {

namespace {

// A worker's TSC reading in microseconds (the TSC is the same clock on every core).
uint64_t tsc_to_us(uint64_t tsc) {
    static const uint64_t hz = rte_get_tsc_hz();
    return static_cast<uint64_t>(static_cast<unsigned __int128>(tsc) * 1'000'000 / hz);
}

// sys.Quality's source: the call records' tally per provider (the writer outlives every engine).
quality_source quality_source_of(const cdr_writer& cdrs) {
    return [&cdrs](std::string_view provider) -> std::optional<provider_quality> {
        const auto& by = cdrs.quality_by_provider();
        const auto it = by.find(provider);
        if (it == by.end() || it->second.rated == 0) {
            return std::nullopt;
        }
        const cdr_writer::quality_tally& t = it->second;
        return provider_quality{t.rated, t.poor, t.mos_sum / static_cast<double>(t.rated), t.recent_mos};
    };
}

/// The DPDK ports the dataplane started (what a capture taps).
std::vector<uint16_t> port_ids_of(const dp::dataplane& d) {
    std::vector<uint16_t> ids;
    for (const auto& p : d.ports()) {
        ids.push_back(p.port_id);
    }
    return ids;
}

ms_t steady_ms() {
    return static_cast<ms_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count());
}

/// The B2BUA's settings from `next`, but for what only a restart changes (the SIP port, the
/// transaction timers), which stay `running`'s. At start-up both are the same config.
b2bua_config b2bua_config_of(const config& next, const config& running) {
    b2bua_config b;
    b.user_agent = next.sip.user_agent;
    b.max_forwards = next.sip.max_forwards;
    b.sip_port = running.sip.port;
    b.timers = timer_config{running.sip.t1_ms, running.sip.t2_ms, running.sip.t4_ms};
    b.transfer = next.transfer;
    b.accounts = next.accounts;
    b.providers = next.providers;
    b.registrar = next.registrar;
    b.domain = next.sip.domain;
    b.session_expires_s = next.sip.session_expires_s;
    b.min_se_s = next.sip.min_se_s;
    b.reliable_to_caller = next.sip.reliable_to_caller;
    b.max_ring_s = next.sip.max_ring_s;
    b.media_timeout_s = next.media_timeout_s;
    b.media_hold_timeout_s = next.media_hold_timeout_s;
    b.stir_key_pem = next.stir.key_pem;
    b.stir_x5u = next.stir.x5u;
    b.stir_ca_pem = next.stir.ca_pem;
    b.stir_max_age_s = next.stir.max_age_s;
    b.stir_check_crl = next.stir.check_crl;
    b.stir_crl_grace_s = next.stir.crl_grace_s;
    b.stir_crl_signers_pem = next.stir.crl_signers_pem;
    return b;
}

fetcher_config fetcher_config_of(const stir_config& s) {
    fetcher_config f;
    f.timeout_ms = s.fetch_timeout_ms;
    f.allow_http = s.x5u_http;
    f.extra_ca_pem = s.x5u_tls_ca_pem;
    return f;
}

}  // namespace

struct control_loop::impl {
    const config& cfg;
    dp::dataplane& dp;
    timer_queue timers;
    message_pool messages;  ///< the dataplane's SIP message pool, where this shard builds
    /// [hep]: copies of the SIP to a collector. Before the transport, which copies what it sends:
    /// it must outlive everything that may still send while it is torn down.
    hep_exporter hep;
    /// Packet capture: before everything that sends, since a capture of a call follows it from
    /// the send path (stopped before the rest is torn down; it then holds nobody up).
    dp::packet_capture capture;
    capture_api captures;
    sip_transport transport;
    transaction_layer transactions;
    media_anchor media;
    dialplan_engine dialplans;
    cdr_writer cdrs;
    b2bua calls;
    boost::asio::io_context io;
    /// STIR/SHAKEN: the certificates of x5u URLs, fetched over the host's network (like the API
    /// and HEP, not through the dataplane) for the B2BUA's verification.
    certificate_fetcher certificates;
    /// [stir] verify_threads: signatures checked off the control thread (nullptr: on it). After
    /// `calls`, so that it stops before the B2BUA that takes its answers goes.
    std::unique_ptr<signature_pool> signatures;
    std::unique_ptr<mgmt_api> api;
    uint64_t reloads_refused = 0;  ///< reloads whose config or dialplans were broken (nothing changed)
    std::array<char, 65536> reassembly_buf{};  ///< a whole UDP payload, when it came in fragments

    impl(const config& c, dp::dataplane& d)
        : cfg(c), dp(d), messages(d.sip_message_pool()), hep(c.hep),
          capture(port_ids_of(d), static_cast<uint16_t>(c.dataplane.workers), d.relay().rcu()),
          captures(c.capture, capture,
                   [this](const std::string& ref, uint64_t id) {
                       return id != 0 ? calls.capture_filter(id) : calls.capture_filter(ref);
                   }),
          transport(d, realms_of(d), c.sip.port),
          transactions(
              timers, messages, [this](unsigned r, sip_addr to, sip_wire m) { send_sip(r, to, std::move(m)); },
              timer_config{c.sip.t1_ms, c.sip.t2_ms, c.sip.t4_ms}, steady_ms),
          media(d.relay(), realms_of(d), c.dataplane.relay_port_min, c.dataplane.relay_port_max,
                [this](unsigned r, uint32_t a) { return transport.next_hop_mac(r, a); },
                [this](unsigned r, uint32_t a) { transport.resolve(r, a); }),
          dialplans(limits_of(c.dialplan)), cdrs(c.cdr_file, c.cdr_max_bytes, c.cdr_files),
          calls(b2bua_config_of(c, c), transactions, timers, media, dialplans, cdrs,
                [this](unsigned r, sip_addr to, sip_wire m) { send_sip(r, to, std::move(m)); }, steady_ms),
          certificates(io, fetcher_config_of(c.stir),
                       [this](const std::string& url, const fetch_result& r) {
                           calls.certificate_arrived(url, r.ok, r.body, r.max_age_s, r.error);
                       }) {
        transport.set_hep(&hep);
        calls.set_certificate_fetch([this](const std::string& url) { certificates.fetch(url); });
        if (c.stir.verify_threads != 0) {
            signatures = std::make_unique<signature_pool>(c.stir.verify_threads);
            calls.set_signature_pool(signatures.get());
        }
        calls.set_join_observer([this](uint64_t gone, uint64_t into) { captures.call_joined(gone, into); });
        // Room for a full frames_out ring and the message being built (up to 64 fragments).
        transactions.keep_free_for_sending(d.frames_out_capacity() + 64);
        dialplans.set_quality_source(quality_source_of(cdrs));
        if (const std::string err = load_dialplans(dialplans, c); !err.empty()) {
            throw std::runtime_error(err);
        }
        api = std::make_unique<mgmt_api>(
            io, c.api_listen,
            [this](const std::string& method, const std::string& target, const std::string& body) {
                return handle_api(method, target, body);
            },
            c.api_token);
    }

    /// Re-reads the config file and the dialplans. All or nothing: a config error or a dialplan
    /// that does not compile is refused with its message and everything stays as it was.
    /// Accounts, providers, registrar limits, the transfer policy and the dialplans change for
    /// new calls; ports, EAL, media ports, SIP port and the API need a restart (logged).
    std::pair<bool, std::string> reload() {
        config next;
        try {
            next = load_config(cfg.path);
        } catch (const config_error& e) {
            log_info("reload refused: %s", e.what());
            ++reloads_refused;
            return {false, e.what()};
        }
        auto plans = std::make_shared<dialplan_engine>(limits_of(next.dialplan));
        plans->set_quality_source(quality_source_of(cdrs));
        if (const std::string err = load_dialplans(*plans, next); !err.empty()) {
            log_info("reload refused: %s", err.c_str());
            ++reloads_refused;
            return {false, err};
        }
        if (next.dataplane.eal_args != cfg.dataplane.eal_args || next.sip.port != cfg.sip.port ||
            next.api_listen != cfg.api_listen || next.dataplane.ports.size() != cfg.dataplane.ports.size() ||
            next.stir.verify_threads != cfg.stir.verify_threads ||
            next.dataplane.scheduling != cfg.dataplane.scheduling) {
            log_info("reload: [eal], [port.*], [sip] port, [api] listen, [stir] verify_threads and [dataplane] "
                     "worker_scheduling changes need a restart");
        }
        calls.reload(b2bua_config_of(next, cfg), std::move(plans));
        certificates.reconfigure(fetcher_config_of(next.stir));
        if (next.hep != hep.config()) {
            try {
                hep.reconfigure(next.hep);
            } catch (const std::exception& e) {
                log_info("reload: [hep]: %s", e.what());  // the rest of the reload stands
            }
        }
        return {true, ""};
    }

    api_response handle_api(const std::string& method, const std::string& target, const std::string& body) {
        const std::string path = target.substr(0, target.find('?'));
        if (path == "/v1/reload") {
            if (method != "POST") {
                return {405, "application/json", R"({"error":"POST to reload the config and dialplans"})"};
            }
            if (cfg.api_token.empty()) {
                return {403, "application/json", R"({"error":"reload over the API is off: set [api] token"})"};
            }
            const auto [ok, err] = reload();
            json_writer j;
            j.begin_object().key("reloaded").value(ok);
            if (!ok) {
                j.key("error").value(err);
            }
            j.end_object();
            return {ok ? 200 : 400, "application/json", j.take()};
        }
        if (path == "/v1/announce") {
            // After the addresses moved (a standby took over, a NIC was replaced): tell the
            // links' neighbours again, as at start.
            if (method != "POST") {
                return {405, "application/json", R"({"error":"POST to announce every address by gratuitous ARP"})"};
            }
            if (cfg.api_token.empty()) {
                return {403, "application/json", R"({"error":"announce over the API is off: set [api] token"})"};
            }
            json_writer j;
            j.begin_object().key("announcing").value(uint64_t{transport.announce(steady_ms())}).end_object();
            return {200, "application/json", j.take()};
        }
        if (path == "/v1/capture" || path == "/v1/capture/stop") {
            return capture_request(method, path, body);
        }
        if (path == "/v1/transfer") {
            if (method != "POST") {
                return {405, "application/json", R"({"error":"POST a JSON object: call, keep, to"})"};
            }
            if (cfg.api_token.empty()) {
                return {403, "application/json", R"({"error":"call control is off: set [api] token"})"};
            }
            return transfer_api(body);
        }
        if (method != "GET" && method != "HEAD") {
            return {405, "application/json", R"({"error":"method not allowed"})"};
        }
        if (path == "/v1/stats") {
            return {200, "application/json", stats_json()};
        }
        if (path == "/metrics") {  // Prometheus' default path: the same figures, scraped
            return {200, prometheus_content_type, prometheus_from_stats(stats_json())};
        }
        if (path == "/v1/calls") {
            return {200, "application/json", calls.calls_json()};
        }
        if (path == "/v1/stir/certificates") {
            return {200, "application/json", calls.stir_certificates_json()};
        }
        if (path == "/v1/cdrs") {
            std::string body = "[";
            bool first = true;
            for (const auto& line : cdrs.recent()) {
                body += first ? "" : ",";
                body += line;
                first = false;
            }
            body += "]";
            return {200, "application/json", body};
        }
        return {404, "application/json", R"({"error":"not found"})"};
    }

    /// Every SIP message the B2BUA and the transactions send: a capture of a call first takes
    /// what the call has become (a new destination, a transfer's new leg), so the message and
    /// the answers to it are in the file.
    void send_sip(unsigned realm, sip_addr to, sip_wire m) {
        captures.follow();
        transport.send(realm, to, std::move(m));
    }

    /// /v1/capture (control/capture_api.hh): GET reads, POST needs [api] token like every change.
    api_response capture_request(const std::string& method, const std::string& path, const std::string& body) {
        const uint64_t now = steady_ms();
        if (method == "GET" || method == "HEAD") {
            return path == "/v1/capture" ? captures.status(now)
                                         : api_response{405, "application/json", R"({"error":"POST to stop the capture"})"};
        }
        if (method != "POST") {
            return {405, "application/json", R"({"error":"GET or POST"})"};
        }
        if (cfg.api_token.empty()) {
            return {403, "application/json", R"({"error":"capture over the API is off: set [api] token"})"};
        }
        return path == "/v1/capture" ? captures.start(body, now) : captures.stop(now);
    }

    /// POST /v1/transfer {"call": "<id or Call-ID>", "keep": "a"|"b", "to": "<user>"}
    api_response transfer_api(const std::string& body) {
        boost::property_tree::ptree doc;
        try {
            std::istringstream in(body);
            boost::property_tree::read_json(in, doc);
        } catch (const std::exception&) {
            return {400, "application/json", R"({"error":"expected a JSON object"})"};
        }
        const std::string call_ref = doc.get<std::string>("call", "");
        const std::string keep = doc.get<std::string>("keep", "a");
        const std::string to = doc.get<std::string>("to", "");
        if (call_ref.empty() || to.empty() || (keep != "a" && keep != "b")) {
            return {400, "application/json", R"({"error":"need call, to, and keep = a or b"})"};
        }
        auto [status, json] = calls.api_transfer(call_ref, keep, to);
        return {status, "application/json", std::move(json)};
    }

    std::string stats_json() const {
        const dp::stats_snapshot s = dp.stats();
        json_writer j;
        j.begin_object();
        j.key("ports").begin_object();
        for (const auto& p : s.ports) {
            j.key(p.name).begin_object();
            j.key("rx_packets").value(p.rx_packets).key("tx_packets").value(p.tx_packets);
            j.key("nic_ipackets").value(p.nic_ipackets).key("nic_opackets").value(p.nic_opackets);
            j.key("nic_imissed").value(p.nic_imissed).key("nic_ierrors").value(p.nic_ierrors);
            j.key("nic_oerrors").value(p.nic_oerrors);
            j.end_object();
        }
        j.end_object();
        j.key("drops").begin_object();
        for (unsigned r = 0; r < s.drops.size(); ++r) {
            j.key(dp::to_string(static_cast<dp::drop_reason>(r))).value(s.drops[r]);
        }
        j.end_object();
        j.key("relay").begin_object();
        j.key("entries").value(uint64_t{s.relay_entries}).key("relayed").value(s.relayed);
        // Relay port pairs (RTP and RTCP) held by calls, per port, over all its relay addresses:
        // what runs out first when calls grow, and what a stream an answer removed gives back.
        j.key("port_pairs").begin_object();
        for (unsigned r = 0; r < media.realm_count(); ++r) {
            j.key(media.realm(r).name).begin_object();
            j.key("in_use").value(uint64_t{media.pairs_in_use(r)});
            j.key("capacity").value(uint64_t{media.pairs_capacity(r)}).end_object();
        }
        j.end_object();
        j.end_object();
        // Each worker's load: a polling core shows 100% CPU whatever it does, so the loop's TSC
        // cycles and those of its iterations that found work are the measure (busy / loop: the
        // load; busy cycles / rx_packets: the cost of a packet; rx_packets / busy_polls: the
        // burst it found; handling_cycles: the part of busy spent on sipferry's own packet work,
        // the rest is the driver's). worker_clock_hz turns cycles into seconds.
        j.key("workers").begin_object();
        for (const dp::worker_load_snapshot& w : s.workers) {
            j.key(std::to_string(w.id)).begin_object();
            j.key("lcore").value(w.lcore).key("loop_cycles").value(w.loop_cycles);
            j.key("busy_cycles").value(w.busy_cycles).key("busy_polls").value(w.busy_polls);
            j.key("handling_cycles").value(w.handling_cycles);
            j.key("rx_packets").value(w.rx_packets).end_object();
        }
        j.end_object();
        j.key("worker_clock_hz").value(s.tsc_hz);
        // RTCP reports: read by workers, lost on a full ring, taken in for call quality, ignored
        // (side gone, SRTCP).
        j.key("rtcp").begin_object();
        j.key("reports").value(s.rtcp_reports).key("lost").value(s.rtcp_reports_lost);
        j.key("read").value(media.rtcp_read()).key("ignored").value(media.rtcp_ignored());
        j.end_object();
        // Packet capture: whether one runs (it costs the relay; docs/benchmarks.md), and the
        // running or last one's frames written and dropped.
        const dp::capture_status cs = capture.status();
        j.key("capture").begin_object();
        j.key("running").value(cs.running).key("written").value(cs.written).key("dropped").value(cs.dropped);
        j.end_object();
        // HEP copies of the SIP to a collector ([hep]): made, sent, dropped (socket full; refused).
        const hep_stats& hs = hep.stats();
        j.key("hep").begin_object();
        j.key("enabled").value(hep.enabled()).key("queued").value(hs.queued).key("sent").value(hs.sent);
        j.key("dropped_busy").value(hs.dropped_busy).key("dropped_error").value(hs.dropped_error);
        j.key("too_big").value(hs.too_big).key("rtcp").value(hs.rtcp);
        j.end_object();
        const b2bua_stats& bs = calls.stats();
        const transaction_stats& ts = transactions.stats();
        const transport_stats& xs = transport.stats();
        j.key("sip").begin_object();
        j.key("datagrams_in").value(s.sip_in).key("frames_out").value(s.sip_out);
        j.key("rate_limited_sources").value(s.sip_sources);  // sources the workers' limiters track
        j.key("requests_in").value(bs.requests_in).key("responses_in").value(bs.responses_in);
        j.key("bad_requests_400").value(bs.bad_requests).key("unparsable_dropped").value(bs.unparsable_dropped);
        j.key("in_dialog_481").value(bs.in_dialog_481).key("refer_declined").value(bs.refer_declined);
        j.key("dialplan_errors").value(bs.dialplan_errors);
        j.key("transactions").value(uint64_t{transactions.size()});
        // The transaction layer's plus the B2BUA's end-to-end 2xx/ACK retransmissions.
        j.key("retransmissions_sent").value(ts.retransmissions_sent + bs.retransmitted_2xx);
        j.key("retransmissions_absorbed").value(ts.retransmissions_absorbed + bs.absorbed_2xx);
        j.key("responses_parked").value(ts.responses_parked);
        j.key("transaction_timeouts").value(ts.timeouts).key("stray_responses").value(ts.stray_responses);
        j.key("sent").value(xs.sent).key("dropped_no_neighbour").value(xs.dropped_no_neighbour);
        j.key("fragmented").value(xs.fragmented);
        // Messages built in mbufs: sent with their headers in place or as a clone behind a header
        // mbuf; copied into one mbuf for a port without chained TX; not built (pool empty).
        j.key("sent_in_place").value(xs.sent_in_place).key("sent_cloned").value(xs.sent_cloned);
        j.key("linearized").value(xs.linearized).key("dropped_no_mbuf").value(xs.dropped_no_mbuf);
        j.key("dropped_unbuilt").value(xs.dropped_unbuilt);
        j.key("messages_built").value(messages.stats().messages_built);
        j.key("messages_unbuilt").value(messages.stats().alloc_failures);
        j.key("message_segments_chained").value(messages.stats().segments_chained);
        j.key("message_mbufs_free").value(uint64_t{messages.available()});
        j.key("dropped_too_big").value(xs.dropped_too_big).key("dropped_no_route").value(xs.dropped_no_route);
        // RFC 3262 (both directions), RFC 4028 and glare.
        j.key("reliable_18x_sent").value(bs.reliable_sent).key("reliable_18x_retransmitted").value(bs.reliable_retransmitted);
        j.key("reliable_18x_timeouts").value(bs.reliable_timeouts);
        j.key("pracks_received").value(bs.pracks_received).key("pracks_unmatched").value(bs.pracks_unmatched);
        j.key("pracks_sent").value(bs.pracks_sent).key("glare_491").value(bs.glare_491);
        j.key("session_refreshes_sent").value(bs.session_refreshes_sent);
        j.key("session_refreshes_answered").value(bs.session_refreshes_answered);
        j.key("session_timer_expiries").value(bs.session_timer_expiries);
        j.key("media_timeouts").value(bs.media_timeouts);
        j.key("reinvites_cancelled").value(bs.reinvites_cancelled);
        j.key("reinvites_unanswered").value(bs.reinvites_unanswered);
        j.key("streams_added").value(bs.streams_added).key("stream_offers_refused").value(bs.stream_offers_refused);
        j.key("streams_removed").value(bs.streams_removed).key("streams_taken_back").value(bs.streams_taken_back);
        j.key("codec_offers_refused").value(bs.codec_offers_refused);
        j.key("own_reinvite_491").value(bs.own_reinvite_491);
        j.key("dialogs_gone").value(bs.dialogs_gone);
        j.key("provider_auth_retries").value(bs.provider_auth_retries);
        j.key("redirects_followed").value(bs.redirects_followed);
        j.end_object();
        j.key("neighbours").begin_object();
        j.key("entries").value(uint64_t{transport.neighbours()}).key("arp_requests").value(xs.arp_requests);
        j.key("arp_announced").value(xs.arp_announced);
        j.key("arp_replies").value(s.arp_replies).key("arp_absorbed").value(s.arp_absorbed);
        j.key("icmp_echo_replies").value(s.icmp_replies);
        j.end_object();
        j.key("accounts").begin_object();
        j.key("auth_challenges").value(bs.auth_challenges).key("auth_failures").value(bs.auth_failures);
        j.key("call_limit_refusals").value(bs.account_limit_refusals);
        j.key("call_rate_refusals").value(bs.account_rate_refusals);
        if (const registrar* reg = calls.location()) {
            const registrar_stats& rs = reg->stats();
            j.key("registered_users").value(uint64_t{reg->users()}).key("bindings").value(uint64_t{reg->size()});
            j.key("registers").value(rs.requests).key("registers_refused").value(rs.refused);
            j.key("bindings_expired").value(rs.expired);
        }
        j.end_object();
        j.key("transfers").begin_object();
        j.key("started").value(bs.transfers_started).key("completed").value(bs.transfers_completed);
        j.key("failed").value(bs.transfers_failed).key("refused").value(bs.transfers_refused);
        j.key("refer_declined").value(bs.refer_declined).key("fallbacks").value(bs.transfer_fallbacks);
        j.key("replaces_accepted").value(bs.replaces_accepted).key("replaces_refused").value(bs.replaces_refused);
        j.key("replaces_passed_on").value(bs.replaces_passed_on).key("replaces_passed_refused").value(bs.replaces_passed_refused);
        j.key("pickups").value(bs.pickups);
        j.key("refusals").begin_object();
        for (const auto& [why, n] : calls.transfers().refusals()) {
            j.key(why).value(n);
        }
        j.end_object();
        j.end_object();
        // STIR/SHAKEN: INVITEs to providers with sign_identity, by what they carried.
        j.key("stir").begin_object();
        j.key("signed").value(bs.stir_signed).key("passed_on").value(bs.stir_passed).key("unsigned").value(bs.stir_unsigned);
        j.key("div_signed").value(bs.stir_div_signed);
        // Verification of calls from providers with verify_identity, and its certificates.
        j.key("verify").begin_object();
        j.key("passed").value(bs.verify_passed).key("failed").value(bs.verify_failed);
        j.key("no_validation").value(bs.verify_none).key("rejected").value(bs.verify_rejected);
        j.key("rejected_unsigned").value(bs.verify_rejected_unsigned).key("reasons_sent").value(bs.verify_reasons_sent);
        j.end_object();
        j.key("failures").begin_object();
        for (const auto& [why, n] : bs.verify_failures) {
            j.key(why).value(n);
        }
        j.end_object();
        j.key("certificates").begin_object();
        j.key("fetched").value(bs.certs_fetched).key("fetch_failed").value(bs.cert_fetches_failed);
        j.key("crls_fetched").value(bs.crls_fetched).key("crl_fetches_failed").value(bs.crl_fetches_failed);
        j.key("crls_cached").value(uint64_t{calls.revocation_lists_cached()});
        j.key("invites_held").value(bs.invites_held).key("held_overflow").value(bs.held_overflow);
        j.key("held_cancelled").value(bs.held_cancelled).key("cached").value(uint64_t{calls.certificates_cached()});
        j.key("held_now").value(uint64_t{calls.invites_held()}).end_object();
        // Signatures checked by [stir] verify_threads, and those checked here because it was full.
        j.key("signatures").begin_object();
        j.key("threads").value(uint64_t{signatures ? signatures->threads() : 0u});
        j.key("pooled").value(bs.signatures_pooled).key("pool_full").value(bs.pool_full);
        j.key("in_pool").value(uint64_t{signatures ? signatures->in_pool() : 0u}).end_object();
        j.end_object();
        j.key("calls").begin_object();
        j.key("active").value(uint64_t{calls.active_calls()}).key("total").value(bs.calls_total);
        j.key("answered").value(bs.calls_answered).key("failed").value(bs.calls_failed);
        j.key("records").value(cdrs.written()).key("reloads").value(calls.reloads());
        // Call quality (RTCP): record directions with a MOS, and those below 3.6.
        j.key("directions_rated").value(cdrs.rated()).key("directions_poor").value(cdrs.poor());
        j.key("reloads_refused").value(reloads_refused);
        j.end_object();
        // Registrations to providers, by provider name (only those with register = true).
        j.key("provider_registrations");
        calls.provider_regs().write_json(j);
        // Probed providers (ping): up or down, and how often they went down.
        j.key("providers").begin_object();
        j.key("response_timeouts").value(bs.provider_response_timeouts);
        j.key("skipped_down").value(bs.providers_skipped_down);
        j.key("skipped_full").value(bs.providers_skipped_full);
        j.key("refused_full").value(bs.providers_refused_full);
        // Channels in use at providers with max_calls.
        j.key("channels").begin_object();
        for (const provider_config& p : calls.providers()) {
            if (p.max_calls != 0) {
                j.key(p.name).begin_object().key("calls").value(calls.provider_calls(p.name));
                j.key("max").value(p.max_calls).end_object();
            }
        }
        j.end_object();
        // Call quality of the calls placed to each provider (record directions with a MOS).
        j.key("quality").begin_object();
        for (const auto& [name, q] : cdrs.quality_by_provider()) {
            j.key(name).begin_object().key("rated").value(q.rated).key("poor").value(q.poor);
            j.key("mean_mos").value(q.mos_sum / static_cast<double>(q.rated));
            j.key("recent_mos").value(q.recent_mos).end_object();
        }
        j.end_object();
        j.key("probed").begin_object();
        for (const auto& [name, st] : calls.providers_health().states()) {
            if (st.ping_s != 0) {
                j.key(name).begin_object().key("up").value(st.up).key("downs").value(st.downs).end_object();
            }
        }
        j.end_object();
        j.end_object();
        j.key("provider_registration").begin_object();
        const provider_registration_stats& ps = calls.provider_regs().stats();
        j.key("registers_sent").value(ps.registers_sent).key("registered").value(ps.registered);
        j.key("unregistered").value(ps.unregistered).key("auth_answered").value(ps.auth_answered);
        j.key("failures").value(ps.failures);
        j.end_object();
        j.key("idle_sleeps").value(s.idle_sleeps);
        j.key("ip_reassembly").begin_object();
        j.key("fragments_in").value(s.fragments_in).key("reassembled").value(s.reassembled);
        j.end_object();
        j.end_object();
        return j.take();
    }

    unsigned poll_once() {
        rte_mbuf* pkts[32];
        const unsigned n = dp.poll_sip(pkts, 32);
        for (unsigned i = 0; i < n; ++i) {
            const dp::packet_meta* meta = dp::meta_of(pkts[i]);
            const int realm = transport.realm_of_port(meta->port_id);
            if (realm >= 0) {
                // The sender's MAC is the way back to it (or to its router): learn it
                // so answers and relay entries never wait for ARP.
                if (media.realm(static_cast<unsigned>(realm)).on_link(meta->src_addr)) {
                    transport.learn_on_port(meta->port_id, meta->src_addr, meta->src_mac);
                }
                // A reassembled datagram spans several segments: read it into one buffer.
                const char* data = static_cast<const char*>(
                    rte_pktmbuf_read(pkts[i], meta->payload_off, meta->payload_len, reassembly_buf.data()));
                if (data == nullptr) {
                    rte_pktmbuf_free(pkts[i]);
                    continue;
                }
                const std::string_view raw(data, meta->payload_len);
                hep.copy(sip_addr{meta->src_addr, meta->src_port}, sip_addr{meta->dst_addr, meta->dst_port}, raw);
                calls.on_datagram(static_cast<unsigned>(realm), sip_addr{meta->src_addr, meta->src_port}, raw);
            }
            rte_pktmbuf_free(pkts[i]);
        }
        dp::neighbour_event evs[32];
        const unsigned nn = dp.poll_neighbours(evs, 32);
        for (unsigned i = 0; i < nn; ++i) {
            rte_ether_addr mac;
            std::memcpy(mac.addr_bytes, evs[i].mac, RTE_ETHER_ADDR_LEN);
            transport.learn_on_port(evs[i].port_id, evs[i].addr, mac);
        }
        // RTCP reports: call quality (media_anchor::note_rtcp), on the workers' clock.
        dp::rtcp_event reports[64];
        const unsigned nr = dp.poll_rtcp(reports, 64);
        const bool rtcp_to_hep = nr > 0 && hep.enabled() && hep.config().rtcp;
        // The workers' arrival TSC as wall-clock time for the collector: now less how long ago.
        const uint64_t tsc_now_us = rtcp_to_hep ? tsc_to_us(rte_rdtsc()) : 0;
        const uint64_t wall_now_us = rtcp_to_hep ? wall_clock_us() : 0;
        for (unsigned i = 0; i < nr; ++i) {
            const uint64_t arrival_us = tsc_to_us(reports[i].tsc);
            media.note_rtcp(reports[i], arrival_us);
            if (rtcp_to_hep) {
                if (const auto origin = media.origin_of(reports[i])) {
                    const uint64_t ago_us = tsc_now_us > arrival_us ? tsc_now_us - arrival_us : 0;
                    hep.copy_rtcp(origin->from, origin->to, wall_now_us - std::min(ago_us, wall_now_us),
                                  calls.leg_call_id(origin->owner, origin->leg_b), rtcp_report_json(reports[i].report));
                }
            }
        }
        const ms_t now = steady_ms();
        timers.run(now);
        captures.poll(now);
        calls.poll_verifications();
        transport.tick(now);
        media.retry_neighbours(now, nn > 0);
        hep.flush();  // this poll's copies, in one sendmmsg (the SIP itself has gone)
        io.poll();
        return n + nn + nr;
    }
};

control_loop::control_loop(const config& cfg, dp::dataplane& dp) : impl_(std::make_unique<impl>(cfg, dp)) {}

control_loop::~control_loop() = default;

void control_loop::run(const std::atomic<bool>& stop, std::atomic<bool>* reload) {
    impl_->transport.announce(steady_ms());
    log_info("control: ready, management API on %s", impl_->cfg.api_listen.c_str());
    unsigned idle = 0;
    while (!stop.load(std::memory_order_relaxed)) {
        if (reload != nullptr && reload->exchange(false)) {
            impl_->reload();  // SIGHUP
        }
        if (impl_->poll_once() != 0) {
            idle = 0;
            continue;
        }
        // The control thread shares its core in small deployments: back off when idle.
        if (++idle > 16) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }
    impl_->capture.stop("shutdown", steady_ms());  // while the workers still run: the file is whole
    log_info("control: stopping with %zu active calls", impl_->calls.active_calls());
}

}  // namespace sf::control
