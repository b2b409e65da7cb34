// libFuzzer target: the TNAuthList certificate extension (control/tn_auth_list.cc), DER that a
// certificate fetched from a peer's x5u carries (before its chain is checked, so anyone's).
// Oracles beyond "no crash, no UB":
// - deterministic;
// - every strict prefix of a list that parses is refused (DER lengths are exact);
// - what parses is within the type: SPCs of 1-64 printable characters, numbers of 1-15
//   characters from "0123456789#*", counts of at least 2;
// - encoded again (DER, in the order spcs, ranges, numbers) it parses to the same list, and
//   when the input held entries of one kind only, to the input byte for byte (DER is unique);
// - covers(): every number and each range's first number is covered, a range's last one too.

#include "tn_auth_list.hh"

#include "../control/der_builder.hh"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace sf::control;

namespace {

std::string tlv(uint8_t tag, const std::string& content) { return sf::test::der_tlv(tag, content); }

std::string integer(uint64_t v) {
    std::string octets;
    do {
        octets.insert(octets.begin(), static_cast<char>(v & 0xff));
        v >>= 8;
    } while (v != 0);
    if (static_cast<uint8_t>(octets[0]) & 0x80) {
        octets.insert(octets.begin(), '\0');
    }
    return tlv(0x02, octets);
}

std::string encode(const tn_auth_list& l) {
    std::string entries;
    for (const std::string& s : l.spcs) {
        entries += tlv(0xa0, tlv(0x16, s));
    }
    for (const tn_auth_list::range& r : l.ranges) {
        entries += tlv(0xa1, tlv(0x30, tlv(0x16, r.start) + integer(r.count)));
    }
    for (const std::string& n : l.numbers) {
        entries += tlv(0xa2, tlv(0x16, n));
    }
    return tlv(0x30, entries);
}

bool same(const tn_auth_list& a, const tn_auth_list& b) {
    if (a.spcs != b.spcs || a.numbers != b.numbers || a.ranges.size() != b.ranges.size()) {
        return false;
    }
    for (size_t i = 0; i < a.ranges.size(); ++i) {
        if (a.ranges[i].start != b.ranges[i].start || a.ranges[i].count != b.ranges[i].count) {
            return false;
        }
    }
    return true;
}

bool digits(const std::string& s) {
    for (const char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string der(reinterpret_cast<const char*>(data), size);
    const auto l = parse_tn_auth_list(der);
    if (parse_tn_auth_list(der).has_value() != l.has_value()) {
        __builtin_trap();
    }
    if (!l) {
        return 0;
    }
    for (size_t n = 0; n < size && n < 512; ++n) {
        if (parse_tn_auth_list(der.substr(0, n))) {
            __builtin_trap();
        }
    }
    if (l->spcs.empty() && !l->has_numbers()) {
        __builtin_trap();  // an empty list is refused
    }
    for (const std::string& s : l->spcs) {
        if (s.empty() || s.size() > 64) {
            __builtin_trap();
        }
        for (const char c : s) {
            if (c <= 0x20 || c >= 0x7f) {
                __builtin_trap();
            }
        }
    }
    for (const std::string& n : l->numbers) {
        if (n.empty() || n.size() > 15 || n.find_first_not_of("0123456789#*") != std::string::npos || !l->covers(n)) {
            __builtin_trap();
        }
    }
    for (const tn_auth_list::range& r : l->ranges) {
        if (r.start.empty() || r.start.size() > 15 || r.start.find_first_not_of("0123456789#*") != std::string::npos ||
            r.count < 2) {
            __builtin_trap();
        }
        if (digits(r.start)) {
            if (!l->covers(r.start)) {
                __builtin_trap();
            }
            // The last number of the range, when it still has the start's length.
            const uint64_t start = std::stoull(r.start);
            const uint64_t room = 999'999'999'999'999ull - start;  // below 10^15
            if (r.count - 1 <= room) {
                std::string last = std::to_string(start + r.count - 1);
                if (last.size() <= r.start.size()) {
                    last.insert(0, r.start.size() - last.size(), '0');
                    if (!l->covers(last)) {
                        __builtin_trap();
                    }
                }
            }
        }
    }
    const std::string again = encode(*l);
    const auto back = parse_tn_auth_list(again);
    if (!back || !same(*back, *l)) {
        __builtin_trap();
    }
    // With entries of one kind the order is the input's, and DER leaves one way to write it.
    const int kinds = !l->spcs.empty() + !l->ranges.empty() + !l->numbers.empty();
    if (kinds == 1 && again != der) {
        __builtin_trap();
    }
    return 0;
}
