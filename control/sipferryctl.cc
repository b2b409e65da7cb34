/// sipferryctl: the operator's command line for a running sipferry (its management API).
///
///   sipferryctl [--api 127.0.0.1:8080] stats|load|calls|cdrs|stir|get PATH|reload|announce|transfer|capture
///
/// Prints the JSON the appliance answers. Exit status: 0 on 2xx, 1 on any other HTTP
/// status, 2 when the appliance cannot be reached or the command line is wrong.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "worker_load.hh"

namespace beast = boost::beast;
namespace http = beast::http;
namespace po = boost::program_options;
using tcp = boost::asio::ip::tcp;

namespace {

/// The appliance's answer to one request, or why there was none.
struct answer {
    std::string error;  ///< not empty: no answer (the stage and the reason)
    unsigned status = 0;
    std::string reason, body;
    bool ok() const { return error.empty() && status >= 200 && status < 300; }
};

/// One HTTP/1.1 exchange with the management API: GET, or POST when `post_body` is not empty
/// (with the bearer token). Asynchronous operations driven by io.run(): Beast's timeouts only
/// apply to those, and a hung appliance must not hang the operator's shell.
answer exchange(const std::string& api, const std::string& host, const std::string& port, const std::string& path,
                const std::string& post_body, const std::string& token, std::chrono::seconds timeout) {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    http::request<http::string_body> req{post_body.empty() ? http::verb::get : http::verb::post, path, 11};
    req.set(http::field::host, api);
    if (!post_body.empty()) {
        if (!token.empty()) {
            req.set(http::field::authorization, "Bearer " + token);
        }
        req.set(http::field::content_type, "application/json");
        req.body() = post_body;
        req.prepare_payload();
    }
    req.set(http::field::user_agent, "sipferryctl");
    req.keep_alive(false);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);  // a long CDR list is still an answer
    beast::error_code ec;
    const char* stage = "resolve";

    tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(host, port, ec);
    if (!ec) {
        stage = "connect";
        stream.expires_after(timeout);  // one deadline for the whole exchange
        stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
            if (e) {
                ec = e;
                return;
            }
            stage = "send the request";
            http::async_write(stream, req, [&](beast::error_code e, size_t) {
                if (e) {
                    ec = e;
                    return;
                }
                stage = "read the answer";
                http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
            });
        });
        io.run();
    }
    answer out;
    if (ec) {
        const std::string why = ec == beast::error::timeout
                                    ? "no answer within " + std::to_string(timeout.count()) + " s"
                                    : ec.message();
        out.error = std::string("(") + stage + "): " + why;
        return out;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    const auto& res = parser.get();
    out.status = res.result_int();
    out.reason = std::string(res.reason());
    out.body = res.body();
    return out;
}

/// Says why an exchange failed; the exit status: 2 when the appliance could not be reached,
/// 1 when it answered with a status other than 2xx.
int report_failure(const answer& a, const std::string& api, const std::string& path) {
    if (!a.error.empty()) {
        std::cerr << "sipferryctl: cannot reach the appliance at " << api << " " << a.error << "\n";
        return 2;
    }
    std::cerr << "sipferryctl: " << path << ": HTTP " << a.status << " " << a.reason << "\n";
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string api = "127.0.0.1:8080";
    std::vector<std::string> words;
    po::options_description opts("options");
    opts.add_options()("help,h", "show this help")("api", po::value(&api), "management API address (IPv4:PORT)")(
        "timeout", po::value<unsigned>()->default_value(5), "seconds to wait for the appliance")(
        "token", po::value<std::string>()->default_value(""),
        "bearer token for call control ([api] token; default: $SIPFERRY_API_TOKEN)")(
        "keep", po::value<std::string>()->default_value("a"), "transfer: the leg that stays, a (caller) or b")(
        "seconds", po::value<unsigned>(),
        "capture: how long (default 60, at most [capture] max_seconds); load: the interval (default 1)")(
        "packets", po::value<uint64_t>(), "capture: frames at most (default [capture] max_packets)")(
        "snaplen", po::value<unsigned>(), "capture: bytes kept of each frame (default: all)")(
        "file", po::value<std::string>(), "capture: the file's name in [capture] dir (default capture-DATE-TIME.pcapng)");
    po::options_description hidden;
    hidden.add_options()("words", po::value(&words));
    po::options_description all;
    all.add(opts).add(hidden);
    po::positional_options_description pos;
    pos.add("words", -1);
    po::variables_map vm;
    const char* usage =
        "usage: sipferryctl [--api IP:PORT] COMMAND\n"
        "commands:\n"
        "  stats      counters: ports, drops by reason, relay, SIP, calls\n"
        "  load       each worker lcore's load over --seconds (default 1): busy share of its\n"
        "             polling, packets received per second and per busy poll, busy ns per packet\n"
        "             and of it the worker's own work (the rest: the driver's RX and TX)\n"
        "  metrics    the same as Prometheus text (GET /metrics, what a Prometheus server scrapes)\n"
        "  calls      the active calls with their legs and relay ports\n"
        "  cdrs       the most recent call records\n"
        "  stir       the STIR/SHAKEN certificates fetched for verification: URL, state, SPC, expiry\n"
        "  get PATH   any API path, e.g. get /v1/stats\n"
        "  reload     re-read the config and dialplans (all or nothing; calls in progress keep theirs)\n"
        "  announce   gratuitous ARP for every port and media address (after the addresses moved)\n"
        "  transfer CALL TO   blind-transfer a call (its id, a Call-ID, or the fu= tag its dial string set):\n"
        "                     the caller (--keep a) or the\n"
        "                     callee (--keep b) is connected to user TO, through the transfer dialplan\n"
        "  capture start [FILTER]   capture frames on every port, both ways, into a pcapng file in\n"
        "                     [capture] dir (FILTER: tcpdump syntax, e.g. host 192.0.2.14 and udp)\n"
        "  capture call CALL [FILTER]   the same for one call's frames: its SIP peers and relay\n"
        "                     ports, following the call as it grows (a transfer's new leg;\n"
        "                     CALL as for transfer)\n"
        "  capture status     how the capture goes (or how the last one ended)\n"
        "  capture stop       end it now\n";
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(pos).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "sipferryctl: " << e.what() << "\n" << usage << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << usage << opts;
        return 0;
    }
    std::string path;
    std::string post_body;
    bool load = false;
    // A JSON string (control characters left out).
    auto quote = [](const std::string& v) {
        std::string q = "\"";
        for (char ch : v) {
            if (ch == '"' || ch == '\\') {
                q.push_back('\\');
            }
            if (static_cast<unsigned char>(ch) >= 0x20) {
                q.push_back(ch);
            }
        }
        return q + "\"";
    };
    if (words.size() == 3 && words[0] == "transfer") {
        path = "/v1/transfer";
        post_body = "{\"call\":" + quote(words[1]) + ",\"to\":" + quote(words[2]) +
                    ",\"keep\":" + quote(vm["keep"].as<std::string>()) + "}";
    } else if ((words.size() >= 2 && words[0] == "capture" && words[1] == "start") ||
               (words.size() >= 3 && words[0] == "capture" && words[1] == "call")) {
        path = "/v1/capture";
        const size_t first = words[1] == "call" ? 3 : 2;
        std::string filter;
        for (size_t i = first; i < words.size(); ++i) {
            filter += (i > first ? " " : "") + words[i];
        }
        post_body = "{\"filter\":" + quote(filter);
        if (words[1] == "call") {
            post_body += ",\"call\":" + quote(words[2]);
        }
        for (const char* n : {"seconds", "snaplen"}) {
            if (vm.count(n)) {
                post_body += std::string(",\"") + n + "\":" + std::to_string(vm[n].as<unsigned>());
            }
        }
        if (vm.count("packets")) {
            post_body += ",\"packets\":" + std::to_string(vm["packets"].as<uint64_t>());
        }
        if (vm.count("file")) {
            post_body += ",\"file\":" + quote(vm["file"].as<std::string>());
        }
        post_body += "}";
    } else if (words.size() == 2 && words[0] == "capture" && (words[1] == "stop" || words[1] == "status")) {
        path = words[1] == "stop" ? "/v1/capture/stop" : "/v1/capture";
        post_body = words[1] == "stop" ? "{}" : "";
    } else if (words.size() == 1 && (words[0] == "reload" || words[0] == "announce")) {
        path = "/v1/" + words[0];
        post_body = "{}";
    } else if (words.size() == 1 && words[0] == "load") {
        path = "/v1/stats";
        load = true;
    } else if (words.size() == 1 && (words[0] == "stats" || words[0] == "calls" || words[0] == "cdrs")) {
        path = "/v1/" + words[0];
    } else if (words.size() == 1 && words[0] == "stir") {
        path = "/v1/stir/certificates";
    } else if (words.size() == 1 && words[0] == "metrics") {
        path = "/metrics";
    } else if (words.size() == 2 && words[0] == "get" && !words[1].empty() && words[1][0] == '/') {
        path = words[1];
    } else {
        if (words.empty()) {
            std::cerr << "sipferryctl: no command given\n";
        } else if (words[0] == "get") {
            std::cerr << "sipferryctl: get expects one path starting with '/'\n";
        } else {
            std::cerr << "sipferryctl: unknown command '" << words[0] << "' (or wrong number of arguments)\n";
        }
        std::cerr << usage << opts;
        return 2;
    }
    const auto colon = api.rfind(':');
    const std::string host = colon == std::string::npos ? "" : api.substr(0, colon);
    const std::string port = colon == std::string::npos ? "" : api.substr(colon + 1);
    if (host.empty() || port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) == 0 ||
        std::stoul(port) > 65535) {
        std::cerr << "sipferryctl: --api expects IP:PORT, got '" << api << "'\n";
        return 2;
    }
    const auto timeout = std::chrono::seconds(vm["timeout"].as<unsigned>());
    std::string token = vm["token"].as<std::string>();
    if (token.empty() && std::getenv("SIPFERRY_API_TOKEN") != nullptr) {
        token = std::getenv("SIPFERRY_API_TOKEN");
    }
    if (load) {
        // Two samples of the stats `--seconds` apart (default 1): each worker's load between them.
        const unsigned seconds = vm.count("seconds") ? vm["seconds"].as<unsigned>() : 1;
        if (seconds == 0 || seconds > 3600) {
            std::cerr << "sipferryctl: load --seconds expects 1..3600\n";
            return 2;
        }
        answer first = exchange(api, host, port, path, "", token, timeout);
        if (!first.ok()) {
            return report_failure(first, api, path);
        }
        const auto t0 = std::chrono::steady_clock::now();
        std::this_thread::sleep_for(std::chrono::seconds(seconds));
        answer second = exchange(api, host, port, path, "", token, timeout);
        if (!second.ok()) {
            return report_failure(second, api, path);
        }
        const double interval = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        try {
            std::cout << sf::control::format_worker_load(sf::control::worker_load(first.body, second.body, interval));
        } catch (const std::invalid_argument& e) {
            std::cerr << "sipferryctl: load: " << e.what() << "\n";
            return 1;
        }
        return 0;
    }
    answer res = exchange(api, host, port, path, post_body, token, timeout);
    if (!res.error.empty()) {
        return report_failure(res, api, path);
    }
    std::cout << res.body;
    if (!res.body.empty() && res.body.back() != '\n') {
        std::cout << "\n";
    }
    std::cout.flush();
    return res.ok() ? 0 : report_failure(res, api, path);
}
