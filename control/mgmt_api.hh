#pragma once
/// @file
/// Management API: a small HTTP/1.1 server (Boost.Beast) on a loopback address,
/// driven by the control thread's io_context (no thread of its own), so handlers
/// run on the control thread and may read control state without locks.

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

namespace sf::control {

struct api_response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
};

/// Handler: (method "GET"/"POST"..., target "/v1/stats?x=y", request body) -> response.
using api_handler = std::function<api_response(const std::string& method, const std::string& target,
                                               const std::string& body)>;

class mgmt_api {
public:
    /// Listens on `listen` ("127.0.0.1:8080"); throws std::runtime_error at start-up if it cannot.
    /// With a `write_token`, requests other than GET and HEAD must carry
    /// "Authorization: Bearer <write_token>" or get 401 without reaching the handler.
    mgmt_api(boost::asio::io_context& io, const std::string& listen, api_handler handler,
             std::string write_token = {});
    ~mgmt_api();
    mgmt_api(const mgmt_api&) = delete;
    mgmt_api& operator=(const mgmt_api&) = delete;

    /// The bound TCP port (useful with port 0 in tests).
    uint16_t port() const;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace sf::control
