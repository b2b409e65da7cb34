#pragma once
/// @file
/// Saying a call was diverted: when a call goes somewhere other than to the party the caller
/// dialled because that party deflected it (a followed 3xx) or because the dialplan forwards it
/// (dial option `dv=REASON`: busy, no answer, unconditional...), the INVITE says whom the call
/// was for and why, as voicemail and billing on the far side expect. A number the dialplan
/// merely normalises is no diversion, so nothing is added by guessing. Two header fields carry
/// it: RFC 5806 Diversion (what most trunks read) and RFC 7044 History-Info (IMS and SIPconnect
/// networks; its causes mapped from Diversion reasons by RFC 7544). Pure text: the B2BUA
/// decides when (b2bua_fork.cc, b2bua_transfer.cc).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sf::control {

/// True for the diversion-reason tokens of RFC 5806 (unknown, user-busy, no-answer,
/// unavailable, unconditional, time-of-day, do-not-disturb, deflection, follow-me,
/// out-of-service, away), lower case as registered.
bool valid_diversion_reason(std::string_view reason);

/// `Diversion: <sip:USER@HOST>;reason=REASON;counter=1\r\n`.
std::string diversion_line(std::string_view called_user, std::string_view host, std::string_view reason);

/// Which header fields a diverted call's INVITE carries (dial option `dh=`, a provider's
/// `diversion_headers`): `unset` takes the provider's, else Diversion.
enum class diversion_headers : uint8_t { unset, diversion, history_info, both };
/// "diversion", "history-info" or "both"; false (out unchanged) for anything else.
bool parse_diversion_headers(std::string_view text, diversion_headers& out);
/// The text parse_diversion_headers() reads ("" for unset).
std::string_view to_string(diversion_headers h);
inline bool writes_diversion(diversion_headers h) { return h != diversion_headers::history_info; }
inline bool writes_history_info(diversion_headers h) {
    return h == diversion_headers::history_info || h == diversion_headers::both;
}

/// RFC 7544 5: the History-Info cause (an RFC 4458 `cause` value) of a Diversion reason:
/// unconditional 302, user-busy 486, no-answer 408, deflection 480, unavailable 503, any
/// other 404.
unsigned history_info_cause(std::string_view reason);

/// Bounds on the History-Info a trusted caller sends that the appliance passes on.
inline constexpr size_t max_history_entries = 16;
inline constexpr size_t max_history_index_bytes = 32;

/// The index of the last entry of the History-Info header field values `values` (in order,
/// each a comma list of `<URI>;index=...` entries; RFC 7044 9), the parent of an entry
/// appended after them. "" when there is no entry, or when an entry has no valid index (digits
/// without leading zeros, dot-separated, at most max_history_index_bytes), there are more than
/// max_history_entries, or an entry's index repeats: such a history is not passed on, since
/// an entry added to it could not be placed.
std::string last_history_index(std::span<const std::string_view> values);

/// `History-Info:` for a diversion from USER@HOST (whom the call was for) to `target_uri` (the
/// diverted INVITE's Request-URI, `sip:...` without angle brackets) because of `reason` (an
/// RFC 5806 reason): the target entry carries the RFC 4458 cause and `mp` (RFC 7044 10.3: the
/// target was mapped from its parent). With `parent` "" a new history, the called party at
/// index 1 and the target at 1.1; else the target alone, at `parent`.1 (after a history that
/// came with the call, whose last entry is the request that reached the appliance).
std::string history_info_line(std::string_view parent, std::string_view called_user, std::string_view host,
                              std::string_view target_uri, std::string_view reason);

}  // namespace sf::control
