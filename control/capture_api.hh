#pragma once
/// @file
/// The management API's packet capture (`/v1/capture`): an operator's request, checked against
/// `[capture]`, turned into a dp::packet_capture run, and its figures as JSON.
///
///   POST /v1/capture       {"filter": "host 192.0.2.14", "seconds": 60, "packets": N,
///                           "snaplen": 0, "file": "NAME.pcapng"}   (all optional)
///   POST /v1/capture/stop  ends it
///   GET  /v1/capture       how it goes (or how the last one ended)
///
/// The request is read by parse_capture_request() (control/capture_request.hh: the limits, and
/// file names that keep the file in `[capture] dir`); an existing file is never overwritten.

#include <cstdint>
#include <string>

#include "config.hh"
#include "mgmt_api.hh"
#include "packet_capture.hh"

namespace sf::control {

class capture_api {
public:
    capture_api(const capture_config& cfg, dp::packet_capture& capture) : cfg_(cfg), capture_(capture) {}

    /// POST /v1/capture: 200 with the status, 400 (bad request or filter), 409 (one runs, or the
    /// file exists), 500 (the directory cannot be made).
    api_response start(const std::string& body, uint64_t now_ms);
    /// POST /v1/capture/stop: 200 with how it ended (also when none was running).
    api_response stop(uint64_t now_ms);
    /// GET /v1/capture.
    api_response status(uint64_t now_ms) const;
    /// The control loop's tick: ends a capture whose time or packets are used up (and logs it).
    void poll(uint64_t now_ms);

private:
    const capture_config& cfg_;
    dp::packet_capture& capture_;
};

}  // namespace sf::control
