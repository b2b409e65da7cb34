#include "mgmt_api.hh"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <charconv>
#include <vector>
#include <optional>
#include <stdexcept>

namespace sf::control {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t max_request_bytes = 64 * 1024;
constexpr size_t max_sessions = 64;  // the API is for an operator and scripts, not for crowds
constexpr auto io_timeout = std::chrono::seconds(30);
constexpr auto linger_timeout = std::chrono::seconds(2);

tcp::endpoint parse_listen(const std::string& listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) {
        throw std::runtime_error("api.listen: expected IPv4:PORT, got '" + listen + "'");
    }
    boost::system::error_code ec;
    const auto addr = asio::ip::make_address_v4(listen.substr(0, colon), ec);
    unsigned port = 0;
    const std::string ps = listen.substr(colon + 1);
    auto [p, perr] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
    if (ec || ps.empty() || perr != std::errc{} || p != ps.data() + ps.size() || port > 65535) {
        throw std::runtime_error("api.listen: expected IPv4:PORT, got '" + listen + "'");
    }
    return tcp::endpoint(addr, static_cast<unsigned short>(port));
}

// One connection: read requests, answer each, until the peer closes or asks to.
class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket socket, std::shared_ptr<api_handler> handler, std::shared_ptr<const std::string> token)
        : stream_(std::move(socket)), handler_(std::move(handler)), token_(std::move(token)) {}

    void start() { read(); }

    /// Called when the API goes away: pending operations complete with operation_aborted
    /// on a later poll and the session dies with its last handler.
    void stop() {
        stopped_ = true;
        beast::error_code ec;
        stream_.socket().close(ec);
    }

private:
    void read() {
        parser_.emplace();
        parser_->body_limit(max_request_bytes);
        parser_->header_limit(16 * 1024);
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (stopped_ || ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof ||
            ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
            return close();
        }
        http::response<http::string_body> res;
        bool keep_alive = false;
        if (ec == http::error::body_limit || ec == http::error::header_limit || ec == http::error::buffer_overflow) {
            res = make(413, "application/json", R"({"error":"request too large"})", 11);
        } else if (ec) {
            res = make(400, "application/json", R"({"error":"bad request"})", 11);
        } else {
            const auto& req = parser_->get();
            keep_alive = req.keep_alive();
            api_response out;
            const bool reads_only = req.method() == http::verb::get || req.method() == http::verb::head;
            if (!reads_only && !token_->empty() && req[http::field::authorization] != "Bearer " + *token_) {
                // Changing the appliance's calls needs the operator's token (RFC 6750 bearer).
                out = api_response{401, "application/json", R"({"error":"missing or wrong bearer token"})"};
            } else try {
                out = (*handler_)(std::string(req.method_string()), std::string(req.target()), req.body());
            } catch (...) {
                // A handler bug must not take the control thread down with it.
                out = api_response{500, "application/json", R"({"error":"internal error"})"};
            }
            if (out.status < 100 || out.status > 599) {
                out = api_response{500, "application/json", R"({"error":"handler returned a bad status"})"};
            }
            res = make(out.status, out.content_type, std::move(out.body), req.version());
        }
        res.keep_alive(keep_alive);
        res.prepare_payload();
        if (!ec && parser_->get().method() == http::verb::head) {
            // HEAD: the headers of a GET, Content-Length included, and no body (RFC 9110 9.3.2).
            const auto length = res.body().size();
            res.body().clear();
            res.content_length(length);
        }
        write(std::move(res));
    }

    static http::response<http::string_body> make(int status, const std::string& type, std::string body,
                                                  unsigned version) {
        http::response<http::string_body> res;
        res.result(static_cast<unsigned>(status));
        res.version(version);
        res.set(http::field::server, "sipferry");
        res.set(http::field::content_type, type);
        res.body() = std::move(body);
        return res;
    }

    void write(http::response<http::string_body> res) {
        auto sp = std::make_shared<http::response<http::string_body>>(std::move(res));
        stream_.expires_after(io_timeout);
        http::async_write(stream_, *sp, [self = shared_from_this(), sp](beast::error_code ec, size_t) {
            if (ec || self->stopped_) {
                return self->close();
            }
            if (!sp->keep_alive()) {
                return self->linger();
            }
            self->read();
        });
    }

    // Half-close, then read and discard what the client still sends (the rest of a request
    // we refused as too large) until it closes: closing with unread data would send a RST,
    // and the client could lose our answer.
    void linger() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (ec) {
            return close();
        }
        stream_.expires_after(linger_timeout);
        drain();
    }

    void drain() {
        stream_.async_read_some(asio::buffer(discard_), [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec || self->stopped_) {
                return self->close();
            }
            self->drain();
        });
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.socket().close(ec);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<api_handler> handler_;
    std::shared_ptr<const std::string> token_;  ///< non-empty: requests that change state need it
    std::array<char, 4096> discard_;
    bool stopped_ = false;
};

}  // namespace

struct mgmt_api::impl : std::enable_shared_from_this<mgmt_api::impl> {
    tcp::acceptor acceptor;
    std::shared_ptr<api_handler> handler;
    std::shared_ptr<const std::string> token;
    std::vector<std::weak_ptr<session>> sessions;  ///< to stop them when the API goes away
    bool closed = false;

    impl(asio::io_context& io, api_handler h) : acceptor(io), handler(std::make_shared<api_handler>(std::move(h))) {}

    void accept() {
        acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
            if (self->closed) {
                return;
            }
            if (!ec) {
                std::erase_if(self->sessions, [](const auto& w) { return w.expired(); });
                if (self->sessions.size() < max_sessions) {
                    auto s = std::make_shared<session>(std::move(socket), self->handler, self->token);
                    self->sessions.push_back(s);
                    s->start();
                }
                // else: the socket closes as it goes out of scope; the client sees a reset.
            }
            self->accept();
        });
    }
};

mgmt_api::mgmt_api(asio::io_context& io, const std::string& listen, api_handler handler, std::string write_token)
    : impl_(std::make_shared<impl>(io, std::move(handler))) {
    impl_->token = std::make_shared<const std::string>(std::move(write_token));
    const tcp::endpoint ep = parse_listen(listen);
    boost::system::error_code ec;
    impl_->acceptor.open(ep.protocol(), ec);
    if (!ec) {
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        impl_->acceptor.bind(ep, ec);
    }
    if (!ec) {
        impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        throw std::runtime_error("api.listen: cannot listen on " + listen + ": " + ec.message());
    }
    impl_->accept();
}

mgmt_api::~mgmt_api() {
    impl_->closed = true;
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    // Handlers close over control state that dies with us: no session may call them later.
    for (const auto& w : impl_->sessions) {
        if (auto s = w.lock()) {
            s->stop();
        }
    }
}

uint16_t mgmt_api::port() const {
    boost::system::error_code ec;
    const auto ep = impl_->acceptor.local_endpoint(ec);
    return ec ? 0 : ep.port();
}

}  // namespace sf::control
