#pragma once
/// @file
/// Asynchronous fetcher of STIR/SHAKEN x5u certificates (RFC 8224 / ATIS-1000074): one HTTPS GET
/// per URL, verified against the system's roots plus configured ones, with a whole-fetch timeout,
/// a body limit and a bounded number of fetches at once. It runs on the control thread's
/// io_context (driven by poll(), never blocking): DNS goes through async_resolve, whose
/// getaddrinfo runs on Asio's own resolver thread.

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace sf::control {

/// The outcome of one fetch.
struct fetch_result {
    bool ok = false;
    std::string body;        ///< the response body (PEM), when ok
    std::string error;       ///< why not, when !ok (one line, for logs and stats)
    uint32_t max_age_s = 0;  ///< Cache-Control max-age of the response, 0 when none
};

struct fetcher_config {
    unsigned timeout_ms = 2000;   ///< whole fetch: resolve + connect + TLS + request + response
    size_t max_body = 65536;      ///< a larger body fails the fetch
    unsigned max_in_flight = 16;  ///< more at once wait in a queue of at most max_queued (0 counts as 1)
    unsigned max_queued = 256;    ///< beyond, fetch() fails at once (asynchronously)
    bool allow_http = false;      ///< http:// URLs as well as https://
    std::string extra_ca_pem;     ///< PEM roots trusted for HTTPS besides the system's
};

/// Fetches x5u URLs: `https://host[:port]/path` (host: an IPv4 literal or a DNS name), or
/// `http://` with fetcher_config::allow_http. Only a 200 response with a body within the limit
/// succeeds; redirects are not followed. Hosts `invalid` and `*.invalid` (RFC 6761) fail without
/// any lookup or connection.
class certificate_fetcher {
public:
    using done_fn = std::function<void(const std::string& url, const fetch_result&)>;

    certificate_fetcher(boost::asio::io_context& io, fetcher_config cfg, done_fn done);
    ~certificate_fetcher();  // cancels what is in flight without calling done
    certificate_fetcher(const certificate_fetcher&) = delete;
    certificate_fetcher& operator=(const certificate_fetcher&) = delete;

    /// Starts fetching `url`; `done` is called exactly once for it, always later from the io_context
    /// (never from inside fetch()), also for an immediate failure. `done` may call fetch() again,
    /// and may destroy the fetcher.
    void fetch(const std::string& url);

    /// Fetches running now (at most max_in_flight); queued ones are not counted.
    size_t in_flight() const;

    /// For later fetches; running ones finish with the configuration they started with.
    /// A larger max_in_flight starts queued fetches at once.
    void reconfigure(fetcher_config cfg);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sf::control
