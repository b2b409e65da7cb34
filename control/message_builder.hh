#pragma once
/// @file
/// Serialises the SIP requests and responses the B2BUA originates, straight into
/// mbufs (sip_writer): no intermediate string. Each builder returns the finished
/// handle, or an empty one when the pool ran out (counted there; an empty handle is
/// never sent).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sip/sip_message.hh"
#include "sip_wire.hh"

namespace sf::control {

/// What a response must copy from its request (RFC 3261 8.2.6.2), owned.
struct response_base {
    std::vector<std::string> vias;  ///< every Via value, in order
    std::string from;
    std::string to;                 ///< as received (may lack a tag)
    std::string call_id;
    std::string cseq;               ///< "<number> <METHOD>"
    bool to_has_tag = false;

    static response_base from_request(const sip::message& req);
};

/// Builds a response. `to_tag` is added when the request's To had none.
/// `extra` holds complete header lines ("Name: value\r\n").
sip_wire build_response(message_pool& pool, const response_base& base, unsigned status, std::string_view reason,
                        std::string_view to_tag, std::string_view extra, std::string_view server,
                        std::string_view content_type = {}, std::string_view body = {});

/// The parts of a request the B2BUA sends.
struct request_spec {
    std::string_view method;
    std::string_view request_uri;
    std::string_view via_host;     ///< our address on the leg's realm
    uint16_t via_port = 5060;
    std::string_view branch;       ///< starts with the RFC 3261 magic cookie z9hG4bK
    unsigned max_forwards = 70;
    std::string_view from;         ///< full header value (with tag)
    std::string_view to;           ///< full header value (tag when in dialog)
    std::string_view call_id;
    uint32_t cseq = 1;
    std::string_view cseq_method;  ///< defaults to `method`
    std::string_view contact;      ///< full header value, may be empty
    std::string_view extra;        ///< complete header lines
    std::string_view user_agent;
    std::string_view content_type;
    std::string_view body;
};

sip_wire build_request(message_pool& pool, const request_spec& spec);

/// A 400 for a request the parser refused, built from whatever Via, From, To,
/// Call-ID and CSeq lines can be found. Empty if it is not a request or is an
/// ACK (never answered) or has no Via (nowhere to answer), and when the pool ran out.
/// `status` is 400, or 505 for a SIP version other than 2.0 (RFC 3261 8.2.2 ... 21.5.6).
sip_wire build_bad_request(message_pool& pool, std::string_view raw, std::string_view reason,
                           std::string_view server, unsigned status = 400);

/// Standard reason phrase for a status code.
std::string_view reason_phrase(unsigned status);

}  // namespace sf::control
