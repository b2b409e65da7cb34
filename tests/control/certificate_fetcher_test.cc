// x5u certificate fetcher: real HTTP and HTTPS servers on 127.0.0.1 (ephemeral ports) answer canned
// responses on the same io_context the fetcher runs on, as the control thread would drive both.

#include "certificate_fetcher.hh"

#include <gtest/gtest.h>
#include <netdb.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "stir_keys.hh"

using namespace sf::control;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.starts_with(prefix); }

const std::string pem_body = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

std::string response(int code, const std::string& body, const std::string& extra_headers = "") {
    return "HTTP/1.1 " + std::to_string(code) + " Canned\r\nContent-Type: application/pem-certificate-chain\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

/// A CA and a server certificate (CN `server_cn`, IP SAN `ip_san`) it issued.
struct tls_material {
    explicit tls_material(const std::string& ip_san = "127.0.0.1", const std::string& server_cn = "x5u test server") {
        ca_key = sf::test::private_key_pem("P-256");
        ca_pem = sf::test::certificate_pem(ca_key, {.subject_cn = "test CA", .ca = true, .tn_auth_list = false});
        server_key = sf::test::private_key_pem("P-256");
        server_pem = sf::test::certificate_pem(server_key, {.subject_cn = server_cn,
                                                            .issuer_cn = "test CA",
                                                            .issuer_key_pem = ca_key,
                                                            .tn_auth_list = false,
                                                            .ip_san = ip_san});
        server_ctx.use_certificate_chain(asio::buffer(server_pem));
        server_ctx.use_private_key(asio::buffer(server_key), ssl::context::pem);
    }
    std::string ca_key, ca_pem, server_key, server_pem;
    ssl::context server_ctx{ssl::context::tls_server};
};

/// Answers every connection on 127.0.0.1:<port()> with `canned` (after a TLS handshake when
/// given a context), or, `silent`, accepts and never reads nor answers.
class test_server {
public:
    test_server(asio::io_context& io, std::string canned, ssl::context* tls = nullptr, bool silent = false)
        : acceptor_(io, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0)),
          canned_(std::move(canned)),
          tls_(tls),
          silent_(silent) {
        accept();
    }
    ~test_server() {
        for (auto& s : sessions_) {
            beast::error_code ec;
            s->stream.next_layer().socket().close(ec);
        }
    }

    uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::string base() const { return "127.0.0.1:" + std::to_string(port()); }

    int accepted = 0;
    std::vector<http::request<http::string_body>> requests;

private:
    struct session {
        session(tcp::socket s, ssl::context& ctx) : stream(std::move(s), ctx) {}
        beast::ssl_stream<beast::tcp_stream> stream;
        beast::flat_buffer buffer;
        http::request<http::string_body> request;
    };

    void accept() {
        acceptor_.async_accept([this](const beast::error_code& ec, tcp::socket socket) {
            if (ec) {
                return;
            }
            ++accepted;
            auto s = std::make_shared<session>(std::move(socket), tls_ != nullptr ? *tls_ : plain_ctx_);
            sessions_.push_back(s);
            if (!silent_) {
                if (tls_ != nullptr) {
                    s->stream.async_handshake(ssl::stream_base::server, [this, s](const beast::error_code& ec) {
                        if (!ec) {
                            read(s, s->stream);
                        }
                    });
                } else {
                    read(s, s->stream.next_layer());
                }
            }
            accept();
        });
    }

    template <class Stream>
    void read(const std::shared_ptr<session>& s, Stream& stream) {
        http::async_read(stream, s->buffer, s->request, [this, s, &stream](const beast::error_code& ec, size_t) {
            if (ec) {
                return;
            }
            requests.push_back(s->request);
            asio::async_write(stream, asio::buffer(canned_), [s](const beast::error_code&, size_t) {
                beast::error_code ignored;
                s->stream.next_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
            });
        });
    }

    tcp::acceptor acceptor_;
    std::string canned_;
    ssl::context* tls_;
    ssl::context plain_ctx_{ssl::context::tls_server};  // unused by plain sessions, but the stream wants one
    bool silent_;
    std::vector<std::shared_ptr<session>> sessions_;
};

class fetcher_test : public ::testing::Test {
protected:
    /// Drives the io_context as the control loop would, until `pred` or a few seconds.
    template <class Pred>
    bool pump(Pred pred, std::chrono::milliseconds limit = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!pred()) {
            if (std::chrono::steady_clock::now() > deadline) {
                return false;
            }
            io.restart();
            io.run_for(10ms);
        }
        return true;
    }

    /// Runs the io_context for `how_long`, whatever happens.
    void pump_for(std::chrono::milliseconds how_long) {
        pump([] { return false; }, how_long);
    }

    std::unique_ptr<certificate_fetcher> make(fetcher_config cfg) {
        return std::make_unique<certificate_fetcher>(io, std::move(cfg), [this](const std::string& url, const fetch_result& r) {
            called_inside_fetch = called_inside_fetch || inside_fetch;
            results.emplace_back(url, r);
        });
    }

    void fetch(certificate_fetcher& f, const std::string& url) {
        inside_fetch = true;
        f.fetch(url);
        inside_fetch = false;
    }

    /// One fetch of `url` with `cfg`, to its end.
    fetch_result fetch_one(const fetcher_config& cfg, const std::string& url) {
        results.clear();
        auto f = make(cfg);
        fetch(*f, url);
        EXPECT_TRUE(pump([&] { return !results.empty(); })) << url;
        EXPECT_EQ(results.size(), 1u);
        EXPECT_FALSE(called_inside_fetch);
        if (results.empty()) {
            return {};
        }
        EXPECT_EQ(results[0].first, url);
        return results[0].second;
    }

    static fetcher_config http_allowed() {
        fetcher_config cfg;
        cfg.allow_http = true;
        return cfg;
    }

    asio::io_context io;
    std::vector<std::pair<std::string, fetch_result>> results;
    bool inside_fetch = false;
    bool called_inside_fetch = false;
};

TEST_F(fetcher_test, http_200_returns_the_body_and_sends_the_expected_request) {
    test_server server(io, response(200, pem_body));
    const auto r = fetch_one(http_allowed(), "http://" + server.base() + "/certs/sp.pem?v=1#frag");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, pem_body);
    EXPECT_EQ(r.max_age_s, 0u);
    EXPECT_TRUE(r.error.empty());
    ASSERT_EQ(server.requests.size(), 1u);
    const auto& req = server.requests[0];
    EXPECT_EQ(req.method(), http::verb::get);
    EXPECT_EQ(req.target(), "/certs/sp.pem?v=1");
    EXPECT_EQ(req.version(), 11);
    EXPECT_EQ(req[http::field::host], server.base());
    EXPECT_EQ(req[http::field::user_agent], "sipferry");
    EXPECT_EQ(req[http::field::accept], "application/pem-certificate-chain, application/x-pem-file, */*");
}

TEST_F(fetcher_test, a_body_ended_by_the_connection_closing_is_accepted) {
    test_server server(io, "HTTP/1.0 200 OK\r\n\r\n" + pem_body);
    const auto r = fetch_one(http_allowed(), "http://" + server.base() + "/c.pem");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, pem_body);
}

TEST_F(fetcher_test, an_empty_path_is_requested_as_slash) {
    test_server server(io, response(200, pem_body));
    ASSERT_TRUE(fetch_one(http_allowed(), "http://" + server.base()).ok);
    ASSERT_EQ(server.requests.size(), 1u);
    EXPECT_EQ(server.requests[0].target(), "/");
}

TEST_F(fetcher_test, http_is_refused_unless_allowed) {
    test_server server(io, response(200, pem_body));
    const auto r = fetch_one(fetcher_config{}, "http://" + server.base() + "/c.pem");
    EXPECT_FALSE(r.ok);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "http", r.error);
    EXPECT_EQ(server.accepted, 0);
}

TEST_F(fetcher_test, https_with_the_ca_configured_succeeds) {
    tls_material tls;
    test_server server(io, response(200, pem_body, "Cache-Control: public, max-age=3600\r\n"), &tls.server_ctx);
    fetcher_config cfg;
    cfg.extra_ca_pem = tls.ca_pem;
    const auto r = fetch_one(cfg, "https://" + server.base() + "/sp.pem");
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, pem_body);
    EXPECT_EQ(r.max_age_s, 3600u);
    ASSERT_EQ(server.requests.size(), 1u);
    EXPECT_EQ(server.requests[0][http::field::host], server.base());
}

TEST_F(fetcher_test, https_without_the_ca_fails_verification) {
    tls_material tls;
    test_server server(io, response(200, pem_body), &tls.server_ctx);
    const auto r = fetch_one(fetcher_config{}, "https://" + server.base() + "/sp.pem");
    EXPECT_FALSE(r.ok);
    EXPECT_PRED2(starts_with, r.error, "TLS");
    EXPECT_TRUE(server.requests.empty());
}

TEST_F(fetcher_test, https_certificate_for_another_ip_fails) {
    tls_material tls("127.0.0.2");
    test_server server(io, response(200, pem_body), &tls.server_ctx);
    fetcher_config cfg;
    cfg.extra_ca_pem = tls.ca_pem;
    const auto r = fetch_one(cfg, "https://" + server.base() + "/sp.pem");
    EXPECT_FALSE(r.ok);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "IP address mismatch", r.error);
    EXPECT_TRUE(server.requests.empty());
}

TEST_F(fetcher_test, reconfigured_roots_apply_to_later_fetches) {
    tls_material tls;
    test_server server(io, response(200, pem_body), &tls.server_ctx);
    auto f = make(fetcher_config{});
    fetch(*f, "https://" + server.base() + "/a.pem");
    ASSERT_TRUE(pump([&] { return results.size() == 1; }));
    EXPECT_FALSE(results[0].second.ok);
    fetcher_config cfg;
    cfg.extra_ca_pem = tls.ca_pem;
    f->reconfigure(cfg);
    fetch(*f, "https://" + server.base() + "/b.pem");
    ASSERT_TRUE(pump([&] { return results.size() == 2; }));
    EXPECT_TRUE(results[1].second.ok) << results[1].second.error;
}

TEST_F(fetcher_test, a_bad_extra_ca_fails_https_fetches) {
    fetcher_config cfg;
    cfg.extra_ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
    const auto r = fetch_one(cfg, "https://127.0.0.1:1/sp.pem");
    EXPECT_FALSE(r.ok);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "extra CA", r.error);
}

// The name path (SNI, host name check) needs a name that resolves to 127.0.0.1 only, from
// /etc/hosts: without a line there, looking it up could ask a DNS server elsewhere.
bool localhost_is_only_127_0_0_1() {
    std::ifstream hosts("/etc/hosts");
    bool listed = false;
    for (std::string line; !listed && std::getline(hosts, line);) {
        std::istringstream words(line.substr(0, line.find('#')));
        std::string addr, name;
        words >> addr;
        while (addr == "127.0.0.1" && words >> name) {
            listed = listed || name == "localhost";
        }
    }
    if (!listed) {
        return false;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    if (getaddrinfo("localhost", "443", &hints, &list) != 0) {
        return false;
    }
    bool only = list != nullptr;
    for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
        only = only && a->ai_family == AF_INET &&
               reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    }
    freeaddrinfo(list);
    return only;
}

TEST_F(fetcher_test, https_by_name_checks_the_name) {
    if (!localhost_is_only_127_0_0_1()) {
        GTEST_SKIP() << "localhost resolves to more than 127.0.0.1 here";
    }
    // No DNS SAN, so OpenSSL matches the name against the subject CN.
    tls_material right("127.0.0.1", "localhost");
    tls_material wrong("127.0.0.1", "elsewhere.example");
    test_server good(io, response(200, pem_body), &right.server_ctx);
    test_server bad(io, response(200, pem_body), &wrong.server_ctx);
    fetcher_config cfg;
    cfg.extra_ca_pem = right.ca_pem + wrong.ca_pem;
    const auto ok = fetch_one(cfg, "https://localhost:" + std::to_string(good.port()) + "/sp.pem");
    EXPECT_TRUE(ok.ok) << ok.error;
    ASSERT_EQ(good.requests.size(), 1u);
    EXPECT_EQ(good.requests[0][http::field::host], "localhost:" + std::to_string(good.port()));
    const auto mismatch = fetch_one(cfg, "https://LocalHost.:" + std::to_string(bad.port()) + "/sp.pem");
    EXPECT_FALSE(mismatch.ok);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "mismatch", mismatch.error);
}

TEST_F(fetcher_test, status_other_than_200_fails_with_the_code) {
    test_server not_found(io, response(404, "no such certificate"));
    EXPECT_EQ(fetch_one(http_allowed(), "http://" + not_found.base() + "/x.pem").error, "HTTP 404");
    test_server moved(io, response(301, "", "Location: http://127.0.0.1:1/elsewhere.pem\r\n"));
    const auto r = fetch_one(http_allowed(), "http://" + moved.base() + "/x.pem");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error, "HTTP 301");
}

TEST_F(fetcher_test, a_404_with_a_big_body_still_says_404) {
    test_server server(io, response(404, std::string(1000, 'x')));
    fetcher_config cfg = http_allowed();
    cfg.max_body = 100;
    EXPECT_EQ(fetch_one(cfg, "http://" + server.base() + "/x.pem").error, "HTTP 404");
}

TEST_F(fetcher_test, a_body_over_the_limit_fails) {
    fetcher_config cfg = http_allowed();
    cfg.max_body = 100;
    test_server exact(io, response(200, std::string(100, 'a')));
    EXPECT_TRUE(fetch_one(cfg, "http://" + exact.base() + "/x.pem").ok);
    test_server sized(io, response(200, std::string(101, 'a')));
    const auto r = fetch_one(cfg, "http://" + sized.base() + "/x.pem");
    EXPECT_FALSE(r.ok);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "body over 100", r.error);
    // Chunked: no Content-Length announces the size; the limit stops the read.
    test_server chunked(io, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n" + std::string(80, 'a') +
                                "\r\n50\r\n" + std::string(80, 'b') + "\r\n0\r\n\r\n");
    const auto c = fetch_one(cfg, "http://" + chunked.base() + "/x.pem");
    EXPECT_FALSE(c.ok);
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "body over 100", c.error);
}

TEST_F(fetcher_test, cache_control_max_age) {
    const std::vector<std::pair<std::string, uint32_t>> cases = {
        {"Cache-Control: public, max-age=3600\r\n", 3600},
        {"Cache-Control: max-age=60\r\n", 60},
        {"Cache-Control: MAX-AGE=\"120\" , must-revalidate\r\n", 120},
        {"Cache-Control: no-store\r\n", 0},
        {"Cache-Control: max-age=3600, no-store\r\n", 0},
        {"Cache-Control: no-cache\r\nCache-Control: max-age=3600\r\n", 0},
        {"Cache-Control: s-maxage=100, max-age=x\r\n", 0},
        {"Cache-Control: max-age=99999999999\r\n", 4294967295u},
        {"", 0},
    };
    for (const auto& [header, expected] : cases) {
        test_server server(io, response(200, pem_body, header));
        const auto r = fetch_one(http_allowed(), "http://" + server.base() + "/c.pem");
        EXPECT_TRUE(r.ok) << header;
        EXPECT_EQ(r.max_age_s, expected) << header;
    }
}

TEST_F(fetcher_test, a_silent_server_times_out) {
    test_server server(io, "", nullptr, true);
    fetcher_config cfg = http_allowed();
    cfg.timeout_ms = 300;
    EXPECT_EQ(fetch_one(cfg, "http://" + server.base() + "/c.pem").error, "timeout");
    tls_material tls;
    test_server tls_server(io, "", &tls.server_ctx, true);  // accepts, never does the TLS handshake
    cfg.extra_ca_pem = tls.ca_pem;
    EXPECT_EQ(fetch_one(cfg, "https://" + tls_server.base() + "/c.pem").error, "timeout");
}

TEST_F(fetcher_test, a_refused_connection_fails) {
    uint16_t port = 0;
    {
        tcp::acceptor closed(io, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
        port = closed.local_endpoint().port();
    }
    const auto r = fetch_one(http_allowed(), "http://127.0.0.1:" + std::to_string(port) + "/c.pem");
    EXPECT_FALSE(r.ok);
    EXPECT_PRED2(starts_with, r.error, "connect: ");
}

TEST_F(fetcher_test, bad_urls_fail_without_connecting) {
    const std::vector<std::string> bad = {
        "",
        "ftp://127.0.0.1/c.pem",
        "127.0.0.1/c.pem",
        "https://[::1]/c.pem",
        "https://user@127.0.0.1/c.pem",
        "https://user:pw@example.com/c.pem",
        "https://127.0.0.1:0/c.pem",
        "https://127.0.0.1:70000/c.pem",
        "https://127.0.0.1:/c.pem",
        "https://127.0.0.1:443x/c.pem",
        "https://127.0.0.1:1:2/c.pem",
        "https:///c.pem",
        "https://:443/c.pem",
        "https://",
        "https://exa mple.com/c.pem",
        "https://example.com/c .pem",
        "https://example.com/c.pem\r\nX-Injected: 1",
        "https://exam_ple.com/c.pem",
        "https://a..b/c.pem",
        "https://.example.com/c.pem",
        "https://256.1.1.1/c.pem",
        "https://1.2.3/c.pem",
        "https://\xc3\xa9xample.com/c.pem",
    };
    auto f = make(fetcher_config{});
    for (const auto& url : bad) {
        fetch(*f, url);
    }
    EXPECT_TRUE(results.empty());  // never inside fetch()
    ASSERT_TRUE(pump([&] { return results.size() == bad.size(); }));
    EXPECT_FALSE(called_inside_fetch);
    for (size_t i = 0; i < bad.size(); ++i) {
        EXPECT_EQ(results[i].first, bad[i]);
        EXPECT_FALSE(results[i].second.ok) << bad[i];
        EXPECT_PRED2(starts_with, results[i].second.error, "bad x5u URL") << bad[i];
    }
    EXPECT_EQ(f->in_flight(), 0u);
}

TEST_F(fetcher_test, invalid_hosts_fail_without_a_lookup) {
    for (const std::string url : {"https://x5u.invalid/c.pem", "https://INVALID/c.pem", "https://a.b.invalid.:8443/c.pem"}) {
        const auto r = fetch_one(fetcher_config{}, url);
        EXPECT_FALSE(r.ok);
        EXPECT_EQ(r.error, "x5u host is .invalid") << url;
    }
}

TEST_F(fetcher_test, done_is_never_called_inside_fetch) {
    test_server server(io, response(200, pem_body));
    fetcher_config cfg = http_allowed();
    cfg.max_in_flight = 1;
    cfg.max_queued = 0;
    auto f = make(cfg);
    fetch(*f, "http://" + server.base() + "/a.pem");
    fetch(*f, "http://" + server.base() + "/b.pem");  // over the (empty) queue
    fetch(*f, "gopher://x");
    fetch(*f, "https://x.invalid/");
    EXPECT_TRUE(results.empty());
    ASSERT_TRUE(pump([&] { return results.size() == 4; }));
    EXPECT_FALSE(called_inside_fetch);
}

TEST_F(fetcher_test, destroying_the_fetcher_with_fetches_in_flight_is_quiet) {
    test_server silent(io, "", nullptr, true);
    fetcher_config cfg = http_allowed();
    cfg.max_in_flight = 1;
    auto f = make(cfg);
    fetch(*f, "http://" + silent.base() + "/running.pem");
    ASSERT_TRUE(pump([&] { return silent.accepted == 1; }));
    fetch(*f, "http://" + silent.base() + "/queued.pem");
    fetch(*f, "ftp://failing-later/");
    EXPECT_EQ(f->in_flight(), 1u);
    f.reset();
    pump_for(200ms);
    EXPECT_TRUE(results.empty());

    // Also before the first step ran.
    f = make(http_allowed());
    fetch(*f, "http://" + silent.base() + "/not-started.pem");
    f.reset();
    pump_for(200ms);
    EXPECT_TRUE(results.empty());
}

TEST_F(fetcher_test, destroying_the_fetcher_during_a_lookup_is_quiet) {
    if (!localhost_is_only_127_0_0_1()) {
        GTEST_SKIP() << "localhost resolves to more than 127.0.0.1 here";
    }
    test_server silent(io, "", nullptr, true);
    auto f = make(http_allowed());
    fetch(*f, "http://localhost:" + std::to_string(silent.port()) + "/resolving.pem");
    io.restart();
    io.poll();  // runs the posted start: the lookup is on Asio's resolver thread now
    f.reset();
    pump_for(200ms);
    EXPECT_TRUE(results.empty());
}

TEST_F(fetcher_test, done_may_destroy_the_fetcher) {
    test_server server(io, response(200, pem_body));
    test_server silent(io, "", nullptr, true);
    std::unique_ptr<certificate_fetcher> f;
    int calls = 0;
    f = std::make_unique<certificate_fetcher>(io, http_allowed(), [&](const std::string&, const fetch_result&) {
        ++calls;
        f.reset();
    });
    f->fetch("http://" + silent.base() + "/never.pem");
    f->fetch("http://" + server.base() + "/a.pem");
    f->fetch("ftp://bad");
    ASSERT_TRUE(pump([&] { return calls > 0; }));
    pump_for(200ms);
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(f);
}

TEST_F(fetcher_test, fetches_beyond_max_in_flight_wait_their_turn) {
    test_server server(io, response(200, pem_body));
    fetcher_config cfg = http_allowed();
    cfg.max_in_flight = 1;
    auto f = make(cfg);
    for (const char* name : {"/1.pem", "/2.pem", "/3.pem"}) {
        fetch(*f, "http://" + server.base() + name);
    }
    EXPECT_EQ(f->in_flight(), 1u);
    size_t most = 0;
    ASSERT_TRUE(pump([&] {
        most = std::max(most, f->in_flight());
        return results.size() == 3;
    }));
    EXPECT_EQ(most, 1u);
    for (const auto& [url, r] : results) {
        EXPECT_TRUE(r.ok) << url << ": " << r.error;
    }
    ASSERT_EQ(server.requests.size(), 3u);
    EXPECT_EQ(server.requests[0].target(), "/1.pem");
    EXPECT_EQ(server.requests[2].target(), "/3.pem");
    EXPECT_EQ(f->in_flight(), 0u);
}

TEST_F(fetcher_test, a_full_queue_fails_the_extra_fetch) {
    test_server server(io, response(200, pem_body));
    fetcher_config cfg = http_allowed();
    cfg.max_in_flight = 1;
    cfg.max_queued = 1;
    auto f = make(cfg);
    const std::string base = "http://" + server.base();
    fetch(*f, base + "/1.pem");
    fetch(*f, base + "/2.pem");
    fetch(*f, base + "/3.pem");
    ASSERT_TRUE(pump([&] { return results.size() == 3; }));
    EXPECT_FALSE(called_inside_fetch);
    // The refusal is posted, so it arrives first.
    EXPECT_EQ(results[0].first, base + "/3.pem");
    EXPECT_PRED_FORMAT2(::testing::IsSubstring, "too many", results[0].second.error);
    EXPECT_TRUE(results[1].second.ok);
    EXPECT_TRUE(results[2].second.ok);
}

TEST_F(fetcher_test, a_larger_max_in_flight_starts_queued_fetches) {
    test_server silent(io, "", nullptr, true);
    fetcher_config cfg = http_allowed();
    cfg.max_in_flight = 1;
    auto f = make(cfg);
    fetch(*f, "http://" + silent.base() + "/1.pem");
    fetch(*f, "http://" + silent.base() + "/2.pem");
    EXPECT_EQ(f->in_flight(), 1u);
    cfg.max_in_flight = 4;
    f->reconfigure(cfg);
    EXPECT_EQ(f->in_flight(), 2u);
    ASSERT_TRUE(pump([&] { return silent.accepted == 2; }));
}

}  // namespace
