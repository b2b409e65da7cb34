#include "tn_auth_list.hh"

namespace sf::control {

namespace {

constexpr size_t max_entries = 256;  // a delegate certificate lists a customer's numbers, not a country
constexpr size_t max_spc = 64;       // an OCN has 4 characters; anything long is not a code

// One DER TLV read off the front of `in` (X.690 8.1): its tag octet and its contents. Only
// the definite form with a minimal length is DER; tags above 30 (multi-octet) never occur here.
struct tlv {
    uint8_t tag = 0;
    std::string_view content;
};

bool read_tlv(std::string_view& in, tlv& out) {
    if (in.size() < 2 || (static_cast<uint8_t>(in[0]) & 0x1f) == 0x1f) {
        return false;
    }
    out.tag = static_cast<uint8_t>(in[0]);
    const uint8_t first = static_cast<uint8_t>(in[1]);
    size_t pos = 2;
    size_t len = first;
    if (first & 0x80) {
        const size_t octets = first & 0x7f;
        if (octets == 0 || octets > 4 || in.size() < 2 + octets || in[2] == 0) {
            return false;  // indefinite, beyond any certificate, or a leading zero (not minimal)
        }
        len = 0;
        for (size_t i = 0; i < octets; ++i) {
            len = len << 8 | static_cast<uint8_t>(in[2 + i]);
        }
        if (len < 0x80) {
            return false;  // the short form was due
        }
        pos += octets;
    }
    if (len > in.size() - pos) {
        return false;
    }
    out.content = in.substr(pos, len);
    in.remove_prefix(pos + len);
    return true;
}

// The single TLV that `in` holds, of tag `tag`.
bool read_only(std::string_view in, uint8_t tag, std::string_view& content) {
    tlv t;
    if (!read_tlv(in, t) || t.tag != tag || !in.empty()) {
        return false;
    }
    content = t.content;
    return true;
}

constexpr uint8_t ia5_string = 0x16, integer = 0x02, sequence = 0x30;

// An IA5String of 1-15 characters from "0123456789#*".
bool telephone_number(const tlv& t, std::string& out) {
    if (t.tag != ia5_string || t.content.empty() || t.content.size() > 15) {
        return false;
    }
    for (const char ch : t.content) {
        if (!((ch >= '0' && ch <= '9') || ch == '#' || ch == '*')) {
            return false;
        }
    }
    out.assign(t.content);
    return true;
}

bool telephone_number(std::string_view der, std::string& out) {
    tlv t;
    return read_tlv(der, t) && der.empty() && telephone_number(t, out);
}

bool service_provider_code(std::string_view der, std::string& out) {
    std::string_view s;
    if (!read_only(der, ia5_string, s) || s.empty() || s.size() > max_spc) {
        return false;
    }
    for (const char ch : s) {
        if (ch <= 0x20 || ch >= 0x7f) {
            return false;  // it lands in CDRs and logs: printable, no spaces
        }
    }
    out.assign(s);
    return true;
}

// A positive INTEGER of at most 64 bits, minimally encoded (X.690 8.3).
bool unsigned_integer(std::string_view content, uint64_t& out) {
    if (content.empty() || (static_cast<uint8_t>(content[0]) & 0x80) != 0) {
        return false;  // empty or negative
    }
    if (content.size() > 1 && content[0] == 0 && (static_cast<uint8_t>(content[1]) & 0x80) == 0) {
        return false;  // a leading zero octet that was not needed
    }
    if (content[0] == 0) {
        content.remove_prefix(1);
    }
    if (content.size() > 8) {
        return false;
    }
    out = 0;
    for (const char ch : content) {
        out = out << 8 | static_cast<uint8_t>(ch);
    }
    return true;
}

bool number_range(std::string_view der, tn_auth_list::range& out) {
    std::string_view seq;
    if (!read_only(der, sequence, seq)) {
        return false;
    }
    tlv start, count;
    if (!read_tlv(seq, start) || !read_tlv(seq, count) || !seq.empty() || count.tag != integer) {
        return false;
    }
    std::string number;
    if (!telephone_number(start, number) || !unsigned_integer(count.content, out.count) || out.count < 2) {
        return false;
    }
    out.start = std::move(number);
    return true;
}

// The digits of `tn` as a number, when it is all digits.
std::optional<uint64_t> digits_value(std::string_view tn) {
    uint64_t v = 0;
    for (const char ch : tn) {
        if (ch < '0' || ch > '9') {
            return std::nullopt;
        }
        v = v * 10 + static_cast<uint64_t>(ch - '0');
    }
    return v;
}

}  // namespace

bool tn_auth_list::covers(std::string_view tn) const {
    if (tn.empty()) {
        return false;
    }
    for (const std::string& n : numbers) {
        if (n == tn) {
            return true;
        }
    }
    const std::optional<uint64_t> value = digits_value(tn);
    if (!value) {
        return false;
    }
    for (const range& r : ranges) {
        const std::optional<uint64_t> start = digits_value(r.start);
        // Numbers of the start's length (RFC 8226: the count runs over the last digits).
        if (start && r.start.size() == tn.size() && *value >= *start && *value - *start < r.count) {
            return true;
        }
    }
    return false;
}

std::optional<tn_auth_list> parse_tn_auth_list(std::string_view der) {
    std::string_view entries;
    if (!read_only(der, sequence, entries) || entries.empty()) {
        return std::nullopt;
    }
    tn_auth_list list;
    for (size_t n = 0; !entries.empty(); ++n) {
        tlv entry;
        if (n == max_entries || !read_tlv(entries, entry)) {
            return std::nullopt;
        }
        switch (entry.tag) {
        case 0xa0:  // [0] spc
            if (std::string spc; service_provider_code(entry.content, spc)) {
                list.spcs.push_back(std::move(spc));
                break;
            }
            return std::nullopt;
        case 0xa1:  // [1] range
            if (tn_auth_list::range r; number_range(entry.content, r)) {
                list.ranges.push_back(std::move(r));
                break;
            }
            return std::nullopt;
        case 0xa2:  // [2] one
            if (std::string tn; telephone_number(entry.content, tn)) {
                list.numbers.push_back(std::move(tn));
                break;
            }
            return std::nullopt;
        default:
            return std::nullopt;
        }
    }
    return list;
}

}  // namespace sf::control
