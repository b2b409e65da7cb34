#include "certificate_fetcher.hh"
#include "x5u_url.hh"

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <deque>
#include <limits>
#include <string_view>
#include <vector>

namespace sf::control {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

/// The client TLS settings every HTTPS fetch shares: peer verification against the system's roots
/// plus `extra_ca_pem`, TLS 1.2 at least. `error` says why it is unusable ("" when fine).
std::shared_ptr<ssl::context> make_tls_context(const std::string& extra_ca_pem, std::string& error) {
    error.clear();
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    ctx->set_default_verify_paths(ec);
    if (ec) {
        error = "x5u TLS: system roots: " + ec.message();
        return ctx;
    }
    if (!extra_ca_pem.empty()) {
        ctx->add_certificate_authority(asio::buffer(extra_ca_pem), ec);
        if (ec) {
            error = "x5u TLS: extra CA PEM: " + ec.message();
        }
    }
    return ctx;
}

class fetch_op;

/// What a fetch reports to when it is over (the fetcher).
struct fetch_owner {
    virtual void finished(fetch_op& op, fetch_result result) = 0;

protected:
    ~fetch_owner() = default;
};

/// One fetch, from resolving the host to the response's last byte. It lives in a shared_ptr that
/// each pending handler holds, so it outlives its owner's cancel(); after finish() or cancel()
/// handlers that still arrive see `over_` and do nothing.
class fetch_op : public std::enable_shared_from_this<fetch_op> {
public:
    fetch_op(asio::io_context& io, fetch_owner& owner, std::string url, x5u_url where,
             std::shared_ptr<ssl::context> tls, const fetcher_config& cfg)
        : owner_(&owner),
          url_(std::move(url)),
          where_(std::move(where)),
          tls_(std::move(tls)),
          timeout_(cfg.timeout_ms),
          max_body_(cfg.max_body),
          resolver_(io),
          stream_(io, *tls_),
          deadline_(io) {}

    const std::string& url() const { return url_; }

    void start() {
        if (over_) {
            return;
        }
        // One deadline for the whole fetch, whichever step it is stuck in.
        deadline_.expires_after(timeout_);
        deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (!ec) {
                self->fail("timeout");
            }
        });
        if (where_.tls && !prepare_tls()) {
            fail("x5u TLS: cannot set the expected peer name");
            return;
        }
        if (where_.host_is_ipv4) {
            // A literal needs no lookup; asking getaddrinfo would only cost a thread hop.
            const std::array endpoints{tcp::endpoint(asio::ip::make_address_v4(where_.host), where_.port)};
            connect(endpoints);
            return;
        }
        resolver_.async_resolve(where_.host, std::to_string(where_.port), tcp::resolver::numeric_service,
                                [self = shared_from_this()](const boost::system::error_code& ec,
                                                            const tcp::resolver::results_type& results) {
                                    if (self->over_) {
                                        return;
                                    }
                                    if (ec) {
                                        self->fail("resolve " + self->where_.host + ": " + ec.message());
                                        return;
                                    }
                                    self->connect(results);
                                });
    }

    /// The owner is going away: stop without reporting.
    void cancel() {
        over_ = true;
        stop_io();
    }

private:
    /// Tells OpenSSL whom we expect, so that the chain check itself also checks the name: a
    /// DNS name against the certificate's DNS names (and SNI, for name-based servers), an IPv4
    /// literal against its IP addresses (RFC 6066 forbids literals in SNI).
    bool prepare_tls() {
        SSL* ssl = stream_.native_handle();
        if (where_.host_is_ipv4) {
            return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), where_.host.c_str()) == 1;
        }
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        return SSL_set_tlsext_host_name(ssl, where_.host.c_str()) == 1 && SSL_set1_host(ssl, where_.host.c_str()) == 1;
    }

    template <class Endpoints>
    void connect(const Endpoints& endpoints) {
        stream_.next_layer().async_connect(
            endpoints, [self = shared_from_this()](const boost::system::error_code& ec, const tcp::endpoint&) {
                self->on_connected(ec);
            });
    }

    void on_connected(const boost::system::error_code& ec) {
        if (over_) {
            return;
        }
        if (ec) {
            fail("connect: " + ec.message());
            return;
        }
        if (!where_.tls) {
            send_request();
            return;
        }
        stream_.async_handshake(ssl::stream_base::client, [self = shared_from_this()](const boost::system::error_code& ec) {
            self->on_handshake(ec);
        });
    }

    void on_handshake(const boost::system::error_code& ec) {
        if (over_) {
            return;
        }
        if (ec) {
            // The handshake error only says "certificate verify failed"; the verify result says
            // which check did (issuer unknown, name mismatch, expired...).
            const long verify = SSL_get_verify_result(stream_.native_handle());
            fail(verify != X509_V_OK ? std::string("TLS certificate: ") + X509_verify_cert_error_string(verify)
                                     : "TLS handshake: " + ec.message());
            return;
        }
        send_request();
    }

    /// Runs `fn` on the stream the request goes over: TLS, or the bare TCP stream under it.
    template <class Fn>
    void on_stream(Fn&& fn) {
        if (where_.tls) {
            fn(stream_);
        } else {
            fn(stream_.next_layer());
        }
    }

    void send_request() {
        request_.method(http::verb::get);
        request_.target(where_.target);
        request_.version(11);
        const bool default_port = where_.port == (where_.tls ? 443 : 80);
        request_.set(http::field::host, default_port ? where_.host : where_.host + ":" + std::to_string(where_.port));
        request_.set(http::field::user_agent, "sipferry");
        request_.set(http::field::accept, "application/pem-certificate-chain, application/x-pem-file, */*");
        // One request per connection: the next x5u is likely on another host anyway.
        request_.set(http::field::connection, "close");
        on_stream([this](auto& stream) {
            http::async_write(stream, request_, [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                self->on_written(ec);
            });
        });
    }

    void on_written(const boost::system::error_code& ec) {
        if (over_) {
            return;
        }
        if (ec) {
            fail("write: " + ec.message());
            return;
        }
        // No limit while the header is read: Beast checks Content-Length against the limit as
        // soon as the header ends, and a 404 with a big body should say 404. on_header() applies
        // max_body before any body byte is parsed. (Not boost::none: Beast 1.74 compares
        // Content-Length > optional, and every length is greater than an empty optional.)
        parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
        on_stream([this](auto& stream) {
            http::async_read_header(stream, buffer_, parser_,
                                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                                        self->on_header(ec);
                                    });
        });
    }

    void on_header(const boost::system::error_code& ec) {
        if (over_) {
            return;
        }
        if (ec) {
            fail("read: " + ec.message());
            return;
        }
        // 3xx included: an x5u must be fetchable as it is (no redirects to wherever).
        if (parser_.get().result_int() != 200) {
            fail("HTTP " + std::to_string(parser_.get().result_int()));
            return;
        }
        if (const auto length = parser_.content_length(); length && *length > max_body_) {
            fail(body_too_large());
            return;
        }
        parser_.body_limit(max_body_);
        on_stream([this](auto& stream) {
            http::async_read(stream, buffer_, parser_, [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                self->on_body(ec);
            });
        });
    }

    void on_body(const boost::system::error_code& ec) {
        if (over_) {
            return;
        }
        if (ec == http::error::body_limit) {
            fail(body_too_large());
            return;
        }
        if (ec) {
            fail("read: " + ec.message());
            return;
        }
        fetch_result result;
        result.ok = true;
        cache_control cc;
        for (const auto& field : parser_.get().base()) {
            if (field.name() == http::field::cache_control) {
                cc.read(std::string_view(field.value().data(), field.value().size()));
            }
        }
        result.max_age_s = cc.keep_s();
        result.body = std::move(parser_.get().body());
        finish(std::move(result));
    }

    std::string body_too_large() const { return "body over " + std::to_string(max_body_) + " bytes"; }

    void fail(std::string why) {
        fetch_result result;
        result.error = std::move(why);
        finish(std::move(result));
    }

    /// Reports once; whatever is still pending is cancelled and finds `over_` set.
    void finish(fetch_result result) {
        if (over_) {
            return;
        }
        over_ = true;
        stop_io();
        owner_->finished(*this, std::move(result));
    }

    void stop_io() {
        deadline_.cancel();
        resolver_.cancel();
        stream_.next_layer().close();
    }

    fetch_owner* owner_;
    std::string url_;
    x5u_url where_;
    // Declared before stream_ so that it outlives it: the SSL object refers to the context.
    std::shared_ptr<ssl::context> tls_;
    std::chrono::milliseconds timeout_;
    size_t max_body_;
    tcp::resolver resolver_;
    beast::ssl_stream<beast::tcp_stream> stream_;  // used as bare TCP (next_layer) for http://
    asio::steady_timer deadline_;
    beast::flat_buffer buffer_;
    http::request<http::empty_body> request_;
    http::response_parser<http::string_body> parser_;
    bool over_ = false;
};

}  // namespace

struct certificate_fetcher::impl final : fetch_owner {
    impl(asio::io_context& io_context, fetcher_config cfg, done_fn done_fn)
        : io(io_context), done(std::move(done_fn)) {
        apply(std::move(cfg));
    }

    ~impl() {
        // Handlers still queued in the io_context keep their op alive; cancel() makes them no-ops.
        for (const auto& op : running) {
            op->cancel();
        }
    }

    void apply(fetcher_config c) {
        // Loading the system's roots parses the whole CA bundle on this thread (milliseconds):
        // only when the roots may have changed.
        const bool new_roots = tls == nullptr || c.extra_ca_pem != cfg.extra_ca_pem;
        cfg = std::move(c);
        cfg.max_in_flight = std::max(cfg.max_in_flight, 1u);
        if (new_roots) {
            tls = make_tls_context(cfg.extra_ca_pem, tls_error);
        }
    }

    void fetch(const std::string& url) {
        x5u_url where;
        std::string why = parse_x5u_url(url, where);
        if (why.empty() && !where.tls && !cfg.allow_http) {
            why = "x5u URL is http:// (not allowed)";
        }
        if (why.empty() && is_invalid_domain(where.host)) {
            why = "x5u host is .invalid";
        }
        if (!why.empty()) {
            fail_later(url, std::move(why));
        } else if (running.size() < cfg.max_in_flight) {
            start(url, std::move(where));
        } else if (queued.size() < cfg.max_queued) {
            queued.emplace_back(url, std::move(where));
        } else {
            fail_later(url, "too many x5u fetches");
        }
    }

    void start(const std::string& url, x5u_url where) {
        if (where.tls && !tls_error.empty()) {
            fail_later(url, tls_error);
            return;
        }
        auto op = std::make_shared<fetch_op>(io, *this, url, std::move(where), tls, cfg);
        running.push_back(op);
        // Posted, so that no step of it (nor a failure) can run inside fetch().
        asio::post(io, [op] { op->start(); });
    }

    void start_queued() {
        while (running.size() < cfg.max_in_flight && !queued.empty()) {
            auto [url, where] = std::move(queued.front());
            queued.pop_front();
            start(url, std::move(where));
        }
    }

    void finished(fetch_op& op, fetch_result result) override {
        const auto keep = op.shared_from_this();
        running.erase(std::find(running.begin(), running.end(), keep));
        start_queued();
        // A copy, and nothing touches `this` after the call: `done` may destroy the fetcher.
        const done_fn report = done;
        report(keep->url(), result);
    }

    /// Reports a failure from the io_context, unless the fetcher is gone by then.
    void fail_later(const std::string& url, std::string why) {
        asio::post(io, [this, alive = std::weak_ptr<char>(alive), url, why = std::move(why)] {
            if (alive.expired()) {
                return;
            }
            fetch_result result;
            result.error = why;
            const done_fn report = done;
            report(url, result);
        });
    }

    asio::io_context& io;
    done_fn done;
    fetcher_config cfg;
    std::shared_ptr<ssl::context> tls;  ///< for new HTTPS fetches; each keeps the one it started with
    std::string tls_error;              ///< why `tls` cannot be used, "" when it can
    std::vector<std::shared_ptr<fetch_op>> running;
    std::deque<std::pair<std::string, x5u_url>> queued;
    std::shared_ptr<char> alive = std::make_shared<char>();  ///< expires with the fetcher
};

certificate_fetcher::certificate_fetcher(boost::asio::io_context& io, fetcher_config cfg, done_fn done)
    : impl_(std::make_unique<impl>(io, std::move(cfg), std::move(done))) {}

certificate_fetcher::~certificate_fetcher() = default;

void certificate_fetcher::fetch(const std::string& url) { impl_->fetch(url); }

size_t certificate_fetcher::in_flight() const { return impl_->running.size(); }

void certificate_fetcher::reconfigure(fetcher_config cfg) {
    impl_->apply(std::move(cfg));
    impl_->start_queued();
}

}  // namespace sf::control
