#include "message_builder.hh"

#include <cctype>

#include "sip/ascii.hh"

namespace sf::control {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

response_base response_base::from_request(const sip::message& req) {
    response_base b;
    for (unsigned i = 0; i < req.n_headers; ++i) {
        if (req.headers[i].id == sip::hdr::via) {
            b.vias.emplace_back(req.headers[i].value);
        }
    }
    b.from = std::string(req.find(sip::hdr::from)->value);
    b.to = std::string(req.find(sip::hdr::to)->value);
    b.to_has_tag = !req.to.tag.empty();
    b.call_id = std::string(req.call_id);
    b.cseq = std::to_string(req.cseq) + " " + std::string(req.cseq_method_name);
    return b;
}

sip_wire build_response(message_pool& pool, const response_base& base, unsigned status, std::string_view reason,
                        std::string_view to_tag, std::string_view extra, std::string_view server,
                        std::string_view content_type, std::string_view body) {
    sip_writer w(pool);
    w.append("SIP/2.0 ").append_uint(status).append(' ').append(reason).append("\r\n");
    for (const auto& v : base.vias) {
        w.header("Via", v);
    }
    w.header("From", base.from);
    if (!base.to_has_tag && !to_tag.empty() && status != 100) {
        w.append("To: ").append(base.to).append(";tag=").append(to_tag).append("\r\n");
    } else {
        w.header("To", base.to);
    }
    w.header("Call-ID", base.call_id);
    w.header("CSeq", base.cseq);
    w.append(extra);
    if (!server.empty()) {
        w.header("Server", server);
    }
    if (!content_type.empty()) {
        w.header("Content-Type", content_type);
    }
    w.append("Content-Length: ").append_uint(body.size()).append("\r\n\r\n").append(body);
    return w.finish();
}

sip_wire build_request(message_pool& pool, const request_spec& s) {
    sip_writer w(pool);
    w.append(s.method).append(' ').append(s.request_uri).append(" SIP/2.0\r\n");
    w.append("Via: SIP/2.0/UDP ").append(s.via_host).append(':').append_uint(s.via_port);
    w.append(";branch=").append(s.branch).append(";rport\r\n");
    w.append("Max-Forwards: ").append_uint(s.max_forwards).append("\r\n");
    w.header("From", s.from);
    w.header("To", s.to);
    w.header("Call-ID", s.call_id);
    w.append("CSeq: ").append_uint(s.cseq).append(' ');
    w.append(s.cseq_method.empty() ? s.method : s.cseq_method).append("\r\n");
    if (!s.contact.empty()) {
        w.header("Contact", s.contact);
    }
    w.append(s.extra);
    if (!s.user_agent.empty()) {
        w.header("User-Agent", s.user_agent);
    }
    if (!s.content_type.empty()) {
        w.header("Content-Type", s.content_type);
    }
    w.append("Content-Length: ").append_uint(s.body.size()).append("\r\n\r\n").append(s.body);
    return w.finish();
}

namespace {

/// The headers a 400 copies, in the order it writes them (Vias first).
enum class copied : uint8_t { none, via, from, to, call_id, cseq };

/// Calls `fn(kind, value)` for every header line of `raw` after the start line that a 400
/// copies (compact forms included), up to the blank line; at most 128 lines are looked at.
template <typename Fn>
void for_each_copied(std::string_view raw, size_t pos, Fn&& fn) {
    unsigned lines = 0;
    while (pos < raw.size() && lines++ < 128) {
        auto next = raw.find('\n', pos);
        std::string_view l = raw.substr(pos, next == std::string_view::npos ? std::string_view::npos : next - pos);
        pos = next == std::string_view::npos ? raw.size() : next + 1;
        l = trim(l);
        if (l.empty()) {
            break;
        }
        const auto colon = l.find(':');
        if (colon == std::string_view::npos || colon > 64) {
            continue;
        }
        const std::string_view name = trim(l.substr(0, colon));
        const std::string_view value = trim(l.substr(colon + 1));
        if (value.size() > 512) {
            continue;
        }
        copied kind = copied::none;
        if (sip::iequals_ascii(name, "Via") || sip::iequals_ascii(name, "v")) {
            kind = copied::via;
        } else if (sip::iequals_ascii(name, "From") || sip::iequals_ascii(name, "f")) {
            kind = copied::from;
        } else if (sip::iequals_ascii(name, "To") || sip::iequals_ascii(name, "t")) {
            kind = copied::to;
        } else if (sip::iequals_ascii(name, "Call-ID") || sip::iequals_ascii(name, "i")) {
            kind = copied::call_id;
        } else if (sip::iequals_ascii(name, "CSeq")) {
            kind = copied::cseq;
        }
        if (kind != copied::none) {
            fn(kind, value);
        }
    }
}

}  // namespace

sip_wire build_bad_request(message_pool& pool, std::string_view raw, std::string_view reason, std::string_view server,
                           unsigned status) {
    // Skip keepalive CRLFs, then the start line must look like "METHOD SP ...".
    while (!raw.empty() && (raw.front() == '\r' || raw.front() == '\n')) {
        raw.remove_prefix(1);
    }
    const auto eol = raw.find('\n');
    const std::string_view start = raw.substr(0, eol);
    const auto sp = start.find(' ');
    if (sp == std::string_view::npos || sp == 0 || start.rfind("SIP/", 0) == 0 || start.substr(0, sp) == "ACK") {
        return {};
    }
    for (char c : start.substr(0, sp)) {
        if (!std::isalpha(static_cast<unsigned char>(c))) {
            return {};
        }
    }
    const size_t first_header = eol == std::string_view::npos ? raw.size() : eol + 1;
    bool has_via = false;
    for_each_copied(raw, first_header, [&](copied kind, std::string_view) { has_via |= kind == copied::via; });
    if (!has_via) {
        return {};
    }
    // Two passes over the request's headers instead of buffering them: Vias first (in order),
    // then From, To, Call-ID and CSeq as they came.
    sip_writer w(pool);
    w.append("SIP/2.0 ").append_uint(status).append(' ');
    w.append(status == 505 ? "Version Not Supported" : "Bad Request").append(" (").append(reason).append(")\r\n");
    for_each_copied(raw, first_header, [&](copied kind, std::string_view value) {
        if (kind == copied::via) {
            w.header("Via", value);
        }
    });
    for_each_copied(raw, first_header, [&](copied kind, std::string_view value) {
        switch (kind) {
        case copied::from: w.header("From", value); break;
        case copied::to: w.header("To", value); break;
        case copied::call_id: w.header("Call-ID", value); break;
        case copied::cseq: w.header("CSeq", value); break;
        default: break;
        }
    });
    if (!server.empty()) {
        w.header("Server", server);
    }
    w.append("Content-Length: 0\r\n\r\n");
    return w.finish();
}

std::string_view reason_phrase(unsigned status) {
    switch (status) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 181: return "Call Is Being Forwarded";
    case 182: return "Queued";
    case 183: return "Session Progress";
    case 200: return "OK";
    case 202: return "Accepted";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Unsupported URI Scheme";
    case 420: return "Bad Extension";
    case 421: return "Extension Required";
    case 422: return "Session Interval Too Small";
    case 423: return "Interval Too Brief";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 482: return "Loop Detected";
    case 483: return "Too Many Hops";
    case 486: return "Busy Here";
    case 487: return "Request Terminated";
    case 484: return "Address Incomplete";
    case 485: return "Ambiguous";
    case 488: return "Not Acceptable Here";
    case 489: return "Bad Event";
    case 491: return "Request Pending";
    case 493: return "Undecipherable";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Server Time-out";
    case 505: return "Version Not Supported";
    case 513: return "Message Too Large";
    case 600: return "Busy Everywhere";
    case 603: return "Decline";
    case 604: return "Does Not Exist Anywhere";
    case 606: return "Not Acceptable";
    default: break;
    }
    if (status < 200) {
        return "Session Progress";
    }
    if (status < 300) {
        return "OK";
    }
    if (status < 400) {
        return "Redirect";
    }
    if (status < 500) {
        return "Client Error";
    }
    if (status < 600) {
        return "Server Error";
    }
    return "Global Failure";
}

}  // namespace sf::control
