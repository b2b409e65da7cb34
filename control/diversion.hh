#pragma once
/// @file
/// RFC 5806 Diversion: when a call goes somewhere other than to the party the caller dialled
/// because that party deflected it (a followed 3xx) or because the dialplan forwards it (dial
/// option `dv=REASON`: busy, no answer, unconditional...), the INVITE says whom the call was for
/// and why, as voicemail and billing on the far side expect. A number the dialplan merely
/// normalises is no diversion, so nothing is added by guessing. Pure text: the B2BUA decides
/// when (b2bua_fork.cc).

#include <string>
#include <string_view>

namespace sf::control {

/// True for the diversion-reason tokens of RFC 5806 (unknown, user-busy, no-answer,
/// unavailable, unconditional, time-of-day, do-not-disturb, deflection, follow-me,
/// out-of-service, away), lower case as registered.
bool valid_diversion_reason(std::string_view reason);

/// `Diversion: <sip:USER@HOST>;reason=REASON;counter=1\r\n`.
std::string diversion_line(std::string_view called_user, std::string_view host, std::string_view reason);

}  // namespace sf::control
