#pragma once
/// @file
/// Dial strings, the language a dialplan's `sys.Dial()` speaks (after sipsorcery's):
///
///     bob@198.51.100.20:5060[tr=c,rt=20] & carol@198.51.100.30 | voicemail@198.51.100.40[mr=media]
///
/// Destinations joined by `&` ring in parallel (the first to answer wins, the others are
/// cancelled); groups joined by `|` are tried in sequence, the next one after the previous
/// group failed or its ring time ran out. `&` binds tighter than `|`. Each destination is
/// `[sip:]user@host[:port]` with optional `[name=value,...]` options.
///
/// Pure text processing (no DPDK, no Lua): the fuzz target links this file alone.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "diversion.hh"
#include "media_policy.hh"

namespace sf::control {

/// One destination of a dial string.
struct dial_target {
    std::string user;
    std::string host;  ///< an IPv4 address, or a name the B2BUA resolves (a provider)
    uint16_t port = 5060;
    unsigned group = 0;        ///< sequential step: destinations of one group ring in parallel
    char transfer_mode = 'n';  ///< tr= : 'n' reject REFER, 'p' pass through, 'c' handle on the appliance
    /// cm= : after a transfer or replacement of this call's other party, the party that stays hears
    /// one continuous RTP stream (1) or the new party's own (0); -1 = `[transfer] continuous_media`.
    int8_t continuous_media = -1;
    std::string from_user;     ///< fu= : From user on the new leg ("" = the caller's)
    std::string from_display;  ///< fd= : From display name ("" = the caller's)
    std::string from_host;     ///< fh= : From host ("" = the appliance's address on that realm)
    std::string asserted_user;  ///< pai= : the identity asserted on this leg ("" = the caller's, if any)
    /// ci= : the identity this destination is shown as to the other party once it answers, and to
    /// a party a transfer or join connects it to later (connected identity, RFC 3325 9.1; "" =
    /// its own assertion if trusted, its account's number if a registered user).
    std::string connected_user;
    std::string diversion;      ///< dv= : RFC 5806 reason: this destination is a diversion of the call
    /// dh= : which header fields say so (Diversion, History-Info or both; unset: the provider's).
    diversion_headers diversion_via = diversion_headers::unset;
    unsigned ring_time_s = 0;  ///< rt= : give up ringing after this many seconds (0 = `[sip] max_ring`)
    unsigned delay_s = 0;      ///< dt= : start ringing this destination that many seconds after its group
    unsigned max_duration_s = 0;  ///< cd= : hang up an answered call after this many seconds (0 = no limit)
    /// rd= : a 3xx from this destination is followed: its first `redirects` Contacts (by q) are
    /// dialled one after the other, before the rest of the dial string (0 = a 3xx is a failure).
    unsigned redirects = 0;
    /// mr= : the [port.NAME] that carries this leg's media ("" = the provider's or registered
    /// user's account's `media_realm`, else the port its SIP goes out of).
    std::string media_realm_name;
    /// co= and mt= : the audio codecs (by encoding name: "PCMA", "telephone-event") and the
    /// media types ("audio", "image") this leg may use: every SDP between its party and the
    /// other keeps only these (empty lists = no filter).
    media_policy media;
    /// h= : extra header lines on the INVITE ("Name", "value"), in order.
    std::vector<std::pair<std::string, std::string>> headers;

    // Set by the B2BUA when it resolves `user@provider` and `user@local`, never by the parser.
    std::string provider;     ///< the [provider.NAME] this destination went to ("" = none)
    std::string contact_uri;  ///< a registered Contact: the Request-URI ("" = sip:user@host:port)
    std::string account;      ///< the account that registered that Contact ("" = none)
    bool trusted = false;     ///< its provider has trust_identity (RFC 3325 trust domain)
    bool redirected = false;  ///< a Contact of a followed 3xx (rd=): the callee deflected the call
    int realm = -1;           ///< the appliance port to send on (-1 = routed by address)
    int media_realm = -1;     ///< the appliance port its media is anchored on (-1 = `realm`)
};

/// Bounds that keep one dial string from fanning a call out without limit.
inline constexpr size_t max_dial_targets = 16;
inline constexpr size_t max_dial_headers = 8;
inline constexpr size_t max_dial_string_bytes = 4096;
inline constexpr unsigned max_redirect_targets = 8;
inline constexpr size_t max_dial_codecs = 16;  ///< co= at most: encoding names in one list
inline constexpr size_t max_dial_media_types = 8;  ///< mt= at most: media types in one list

/// Parses `text` and appends its destinations to `out` in order (groups numbered from 0).
/// Returns "" on success, else an error that names the offending part (`out` is then untouched).
std::string parse_dial_string(const std::string& text, std::vector<dial_target>& out);

/// A codec list (co=, a provider's `codecs`): RFC 4855 encoding names (1-32 letters, digits, '-',
/// '_', '.'; blanks around each ignored) separated by `sep`, each once (case-insensitive), at
/// most max_dial_codecs. Returns "" and sets `out`, else why not (`out` untouched).
std::string parse_codec_list(std::string_view text, char sep, std::vector<std::string>& out);

/// A media type list (mt=, a provider's or account's `media_types`): m-line media types (RFC
/// 8866 5.14: "audio", "video", "image", "text", "application", "message"; any token of 1-32
/// letters, digits, '-', '_', '.') separated by `sep`, each once (case-insensitive), at most
/// max_dial_media_types. Returns "" and sets `out`, else why not (`out` untouched).
std::string parse_media_type_list(std::string_view text, char sep, std::vector<std::string>& out);

/// The dial string that parses back to `targets` (for logs and the management API), as long as
/// it stays within max_dial_string_bytes: %-escapes can make it longer than the text parsed.
std::string format_dial_string(const std::vector<dial_target>& targets);

}  // namespace sf::control
