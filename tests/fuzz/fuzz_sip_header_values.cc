// libFuzzer target: the header values the control plane reads from its peers
// (control/sip_header_values: delta-seconds, qvalue, Contact lists, RAck, Session-Expires,
// Replaces, percent-decoding of URI headers, P-Asserted-Identity lists, Privacy; and
// control/diversion's History-Info index). The first byte picks the parser, the rest is the
// header value (History-Info: the values, one per line). Oracles beyond
// "no crash, no UB": every returned view lies inside the input; numbers stay within the
// ranges the callers rely on; what parses reads back the same from its canonical text.

#include "diversion.hh"
#include "sip_header_values.hh"
#include "text.hh"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace sf::control;

namespace {

std::string_view input;

void check_inside(std::string_view v) {
    if (!v.empty() && (v.data() < input.data() || v.data() + v.size() > input.data() + input.size())) {
        __builtin_trap();
    }
}

void require(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

bool blank(char c) {
    return c == ' ' || c == '\t';
}

void fuzz_delta_seconds(std::string_view v) {
    uint64_t n = 0;
    if (parse_delta_seconds(v, n)) {
        require(n <= 0xffffffffu);
        if (n < 0xffffffffu) {  // below saturation the canonical text reads back the same
            uint64_t back = 1;
            require(parse_delta_seconds(std::to_string(n), back) && back == n);
        }
    }
}

void fuzz_qvalue(std::string_view v) {
    uint16_t q = 0;
    if (parse_qvalue(v, q)) {
        require(q <= 1000);
        std::string text = q == 1000 ? "1" : "0." + std::to_string(1000 + q).substr(1);
        uint16_t back = 0;
        require(parse_qvalue(text, back) && back == q);
    }
}

void fuzz_contacts(std::string_view v) {
    std::vector<contact_value> out;
    const char* why = parse_contact_list(v, out);
    require(why == nullptr || *why != '\0');
    for (const contact_value& c : out) {
        check_inside(c.uri);
        check_inside(c.params);
        require(c.star ? c.uri.empty() : !c.uri.empty());
        require(c.q <= 1000 && (c.has_q || c.q == 1000));
        require(c.expires <= 0xffffffffu && (c.has_expires || c.expires == 0));
    }
    if (why == nullptr) {
        require(!out.empty());  // an accepted line names at least one contact
    }
}

void fuzz_rack(std::string_view v) {
    rack_value r;
    if (parse_rack(v, r)) {
        check_inside(r.method);
        require(!r.method.empty());
        for (char c : r.method) {
            require(!blank(c));
        }
        const std::string text = std::to_string(r.rseq) + " " + std::to_string(r.cseq) + " " + std::string(r.method);
        rack_value back;
        require(parse_rack(text, back) && back.rseq == r.rseq && back.cseq == r.cseq && back.method == r.method);
    }
}

void fuzz_session_expires(std::string_view v) {
    session_expires_value s;
    if (parse_session_expires(v, s)) {
        check_inside(s.refresher);
        session_expires_value back;
        require(parse_session_expires(std::to_string(s.seconds), back) && back.seconds == s.seconds &&
                back.refresher.empty());
    }
}

void fuzz_percent_decoded(std::string_view v) {
    const std::string out = percent_decoded(v);
    require(out.size() <= v.size());
    // Escaping every byte and decoding gives the bytes back.
    std::string escaped;
    for (char c : out) {
        static const char digits[] = "0123456789ABCDEF";
        escaped += '%';
        escaped += digits[static_cast<unsigned char>(c) >> 4];
        escaped += digits[static_cast<unsigned char>(c) & 15];
    }
    require(percent_decoded(escaped) == out);
    if (v.find('%') == std::string_view::npos) {
        require(out == v);
    }
}

void fuzz_replaces(std::string_view v) {
    replaces_value r;
    if (parse_replaces(v, r)) {
        check_inside(r.call_id);
        check_inside(r.to_tag);
        check_inside(r.from_tag);
        require(!r.call_id.empty() && !r.to_tag.empty() && !r.from_tag.empty());
        require(r.call_id.find(';') == std::string_view::npos && !blank(r.call_id.front()) && !blank(r.call_id.back()));
        // Written back (to be sent on to a transfer's new party): one header value, no more,
        // that reads back as the same dialog.
        if (const std::string w = replaces_header_value(r); !w.empty()) {
            for (char c : w) {
                require(c > 0x20 && c < 0x7f && c != ',');
            }
            replaces_value again;
            require(parse_replaces(w, again) && again.call_id == r.call_id && again.to_tag == r.to_tag &&
                    again.from_tag == r.from_tag && again.early_only == r.early_only);
        }
    }
    uri_header_replaces(v);  // URI headers: only that it ends
}

void fuzz_identity_list(std::string_view v) {
    std::vector<identity_value> out;
    const bool ok = parse_identity_list(v, out);
    for (const identity_value& i : out) {
        check_inside(i.display);
        check_inside(i.scheme);
        check_inside(i.user);
        require(!i.user.empty() && !i.scheme.empty());
        for (char c : i.user) {
            // The user is copied into headers the appliance sends: never a byte that ends one.
            require(c != '\r' && c != '\n' && c != '<' && c != '>' && c != '"' && !blank(c));
        }
    }
    if (ok) {
        require(!trim_view(v).empty());
    }
}

void fuzz_privacy(std::string_view v) {
    privacy_request p;
    const bool ok = parse_privacy(v, p);
    if (!ok) {
        require(!p.any() && !p.none);  // a refused line changes nothing
        return;
    }
    // The canonical text reads back to the same known levels.
    const std::string text = to_string(p);
    privacy_request back;
    if (text.empty()) {
        require(p.none || !(p.id || p.header || p.user || p.session || p.history || p.critical));
        return;
    }
    require(parse_privacy(text, back) && !back.unknown && !back.none && back.id == p.id && back.header == p.header &&
            back.user == p.user && back.session == p.session && back.history == p.history &&
            back.critical == p.critical);
}

}  // namespace

// The last index is a valid one, and an entry written under it (history_info_line) is read
// back as the new last one: the history the appliance passes on stays well-formed.
void fuzz_history_info(std::string_view v) {
    std::vector<std::string_view> values;
    for (size_t start = 0; start <= v.size();) {
        const size_t nl = std::min(v.find('\n', start), v.size());
        values.push_back(v.substr(start, nl - start));
        start = nl + 1;
    }
    const std::string last = last_history_index(values);
    require(last.size() <= max_history_index_bytes);
    require(last.empty() || (last.front() >= '1' && last.front() <= '9' && last.back() != '.'));
    for (char c : last) {
        require((c >= '0' && c <= '9') || c == '.');
    }
    const std::string line = history_info_line(last, "100", "example.net", "sip:200@198.51.100.20", "user-busy");
    const std::string_view added = std::string_view(line).substr(14, line.size() - 16);  // "History-Info: ", CRLF
    if (!last.empty()) {
        values.push_back(added);
        const std::string after = last_history_index(values);
        // Our entry is new there (after names it), unless it is too deep to take another or an
        // entry under it came with the call (then the history could take no further entry).
        require(after == last + ".1" ||
                (after.empty() && (last.size() + 2 > max_history_index_bytes || v.find(last + ".1.1") != v.npos)));
    }
    const std::vector<std::string_view> alone = {added};
    require(last_history_index(alone) == (last.empty() ? "1.1" : last + ".1") ||
            (!last.empty() && last.size() + 2 > max_history_index_bytes));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    input = std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 10) {
        case 0: fuzz_delta_seconds(input); break;
        case 1: fuzz_qvalue(input); break;
        case 2: fuzz_contacts(input); break;
        case 3: fuzz_rack(input); break;
        case 4: fuzz_session_expires(input); break;
        case 5: fuzz_replaces(input); break;
        case 6: fuzz_percent_decoded(input); break;
        case 7: fuzz_identity_list(input); break;
        case 9: fuzz_history_info(input); break;
        default: fuzz_privacy(input); break;
    }
    return 0;
}
