#pragma once
/// @file
/// The management API's packet capture (`/v1/capture`): an operator's request, checked against
/// `[capture]`, turned into a dp::packet_capture run, and its figures as JSON.
///
///   POST /v1/capture       {"filter": "host 192.0.2.14", "call": "CALL", "seconds": 60,
///                           "packets": N, "snaplen": 0, "file": "NAME.pcapng"}   (all optional;
///                           with a call, its SIP peers and relay ports, and the filter on top)
///   POST /v1/capture/stop  ends it
///   GET  /v1/capture       how it goes (or how the last one ended)
///
/// A capture of a call follows it: before each SIP message leaves (follow(), from the control
/// loop's send path) the call's filter is built again, and when the call has grown (a destination
/// dialled, a transfer's new leg and its relay ports, a call an attended transfer joined into it:
/// call_joined()) the capture runs the new filter from the next burst on. What the new party
/// sends first is an answer to that message, so it is taken. The filter only grows: a peer or
/// port once in it stays (a transferor's BYE, a given-up destination's 487, the last RTP of a
/// party that left, everything after the call ended).
///
/// The request is read by parse_capture_request() (control/capture_request.hh: the limits, and
/// file names that keep the file in `[capture] dir`); an existing file is never overwritten.

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "capture_request.hh"
#include "config.hh"
#include "mgmt_api.hh"
#include "packet_capture.hh"

namespace sf::control {

class capture_api {
public:
    /// A call reference, or (`call_id` not 0) the call with that id -> {200, the tcpdump terms
    /// of its frames, its id} or {4xx, error JSON} (b2bua::capture_filter).
    using call_filter_fn = std::function<call_filter(const std::string& call_ref, uint64_t call_id)>;

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
    /// Before a SIP message leaves: a capture of a call takes what the call has become. Cheap
    /// when no call is captured.
    void follow();
    /// An attended transfer joined call `gone` into `into` (b2bua::set_join_observer).
    void call_joined(uint64_t gone, uint64_t into);

private:
    /// A call's capture filter: its terms, and the operator's filter on top.
    static std::string combined(const std::vector<capture_term>& terms, const std::string& operator_part);

    const capture_config& cfg_;
    dp::packet_capture& capture_;
    call_filter_fn call_filter_;
    // The call being captured (0: none, or the capture is not of a call), every term its filter
    // has had, and the operator's filter.
    uint64_t call_ = 0;
    std::vector<capture_term> call_terms_;
    std::string operator_part_;
};

}  // namespace sf::control
