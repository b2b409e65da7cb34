#pragma once
/// @file
/// The TNAuthList certificate extension (RFC 8226 9, OID 1.3.6.1.5.5.7.1.26): what a STIR
/// certificate vouches for. SHAKEN carriers' certificates name a Service Provider Code (the
/// carrier's OCN, ATIS-1000080); delegate certificates (RFC 9060) name telephone numbers and
/// ranges instead, and a PASSporT signed with one may only assert a number among them.
///
///     TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
///     TNEntry ::= CHOICE { spc [0] ServiceProviderCode, range [1] TelephoneNumberRange,
///                          one [2] TelephoneNumber }               -- EXPLICIT TAGS
///     TelephoneNumberRange ::= SEQUENCE { start TelephoneNumber, count INTEGER (2..MAX) }
///     TelephoneNumber ::= IA5String (SIZE (1..15)) (FROM ("0123456789#*"))

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sf::control {

struct tn_auth_list {
    struct range {
        std::string start;   ///< digits
        uint64_t count = 0;  ///< numbers from start on, of start's length
    };
    std::vector<std::string> spcs;     ///< Service Provider Codes
    std::vector<std::string> numbers;  ///< single telephone numbers
    std::vector<range> ranges;

    /// Whether the list names telephone numbers at all (a delegate certificate's scope).
    bool has_numbers() const { return !numbers.empty() || !ranges.empty(); }
    /// Whether `tn` (digits, canonical_tn()) is one of the numbers or in one of the ranges.
    bool covers(std::string_view tn) const;
};

/// The extension's value (DER, as it stands in the certificate) -> the list; nullopt when it is
/// not valid DER of that type: an indefinite or overlong length, a length past its container,
/// bytes after the list, an empty list, a tag no entry has, a number beyond 15 characters or
/// outside "0123456789#*", a count below 2 or beyond 64 bits, an SPC with a control character.
std::optional<tn_auth_list> parse_tn_auth_list(std::string_view der);

}  // namespace sf::control
