#pragma once
/// @file
/// The management API's packet capture (`/v1/capture`): an operator's request, checked against
/// `[capture]`, turned into a dp::packet_capture run, and its figures as JSON.
///
///   POST /v1/capture       {"filter": "host 192.0.2.14", "call": "CALL", "seconds": 60,
///                           "packets": N, "snaplen": 0, "file": "NAME.pcapng"}   (all optional;
///                           with a call, its SIP peers and relay ports as they are at the start,
///                           and the filter on top)
///   POST /v1/capture/stop  ends it
///   GET  /v1/capture       how it goes (or how the last one ended)
///
/// The request is read by parse_capture_request() (control/capture_request.hh: the limits, and
/// file names that keep the file in `[capture] dir`); an existing file is never overwritten.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "config.hh"
#include "mgmt_api.hh"
#include "packet_capture.hh"

namespace sf::control {

class capture_api {
public:
    /// A call reference -> {200, the tcpdump filter of its frames} or {4xx, error JSON}
    /// (b2bua::capture_filter).
    using call_filter_fn = std::function<std::pair<int, std::string>(const std::string& call_ref)>;

    capture_api(const capture_config& cfg, dp::packet_capture& capture, call_filter_fn call_filter = {})
        : cfg_(cfg), capture_(capture), call_filter_(std::move(call_filter)) {}

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
    call_filter_fn call_filter_;
};

}  // namespace sf::control
