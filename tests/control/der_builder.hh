#pragma once
/// @file
/// DER built field by field for tests of DER readers (control/tn_auth_list.hh): one TLV with its
/// length in the short form below 128 octets, else the long form in as few octets as it takes
/// (X.690 8.1.3), as DER wants. Written apart from the reader, so a test does not check the
/// reader's rules with themselves.

#include <cstddef>
#include <cstdint>
#include <string>

namespace sf::test {

inline std::string der_tlv(uint8_t tag, const std::string& content) {
    std::string out(1, static_cast<char>(tag));
    const size_t n = content.size();
    if (n < 0x80) {
        out += static_cast<char>(n);
    } else {
        std::string len;
        for (size_t v = n; v != 0; v >>= 8) {
            len.insert(len.begin(), static_cast<char>(v & 0xff));
        }
        out += static_cast<char>(0x80 | len.size());
        out += len;
    }
    return out + content;
}

}  // namespace sf::test
