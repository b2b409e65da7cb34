// libFuzzer target: SIP message parser plus the on-demand header helpers a
// B2BUA would run on whatever parsed. Besides ASan/UBSan findings it checks
// that every view the parser returns lies inside the input.

#include "sip/sip_message.hh"
#include "sip/sip_uri.hh"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace sf::sip;

namespace {

std::string_view input;

void check_inside(std::string_view v) {
    if (v.empty()) {
        return;
    }
    if (v.data() < input.data() || v.data() + v.size() > input.data() + input.size()) {
        __builtin_trap();
    }
}

void exercise_list(std::string_view value) {
    // Each element strictly shortens `rest`; the cap is only a safety net.
    name_addr na;
    std::string_view rest = value;
    for (int i = 0; i < 64 && !rest.empty(); ++i) {
        std::string_view next;
        if (!parse_name_addr(rest, na, &next)) {
            break;
        }
        check_inside(na.display);
        check_inside(na.uri);
        check_inside(na.params);
        check_inside(na.raw);
        if (next.size() >= rest.size()) {
            __builtin_trap();
        }
        uri u;
        parse_uri(na.uri, u);
        find_param(na.params, "expires");
        rest = next;
    }
}

void exercise_vias(std::string_view value) {
    via v;
    std::string_view rest = value;
    for (int i = 0; i < 64 && !rest.empty(); ++i) {
        std::string_view next;
        if (!parse_via(rest, v, &next)) {
            break;
        }
        check_inside(v.host);
        check_inside(v.raw);
        if (next.size() >= rest.size()) {
            __builtin_trap();
        }
        uint32_t a;
        parse_ipv4(v.host, a);
        rest = next;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    input = std::string_view(reinterpret_cast<const char*>(data), size);
    static message m;
    if (parse(input, m) != parse_error::ok) {
        return 0;
    }
    check_inside(m.method_name);
    check_inside(m.request_uri);
    check_inside(m.reason);
    check_inside(m.call_id);
    check_inside(m.cseq_method_name);
    check_inside(m.from.uri);
    check_inside(m.to.tag);
    check_inside(m.top_via.branch);
    check_inside(m.body);
    if (m.n_headers > message::max_headers || m.top_via.transport.empty() || m.call_id.empty()) {
        __builtin_trap();
    }
    if (m.content_length >= 0 && m.body.size() != static_cast<size_t>(m.content_length)) {
        __builtin_trap();
    }
    for (unsigned i = 0; i < m.n_headers; ++i) {
        const header& h = m.headers[i];
        check_inside(h.name);
        check_inside(h.value);
        switch (h.id) {
        case hdr::via:
            exercise_vias(h.value);
            break;
        case hdr::contact:
        case hdr::route:
        case hdr::record_route:
        case hdr::refer_to:
            exercise_list(h.value);
            break;
        default:
            find_param(h.value, "tag");
            break;
        }
    }
    m.find("X-Unknown");
    m.count(hdr::via);
    uri u;
    parse_uri(m.request_uri, u);
    return 0;
}
