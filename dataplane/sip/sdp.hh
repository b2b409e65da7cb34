#pragma once
/// @file
/// SDP (RFC 8866) parsing for the media relay, and the per-leg rewrite that
/// points a session description at the appliance's relay ports.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sf::sdp {

enum class direction : uint8_t { sendrecv = 0, sendonly, recvonly, inactive };

/// One m= section.
struct media {
    std::string_view type;       ///< "audio", "video", ...
    uint16_t port = 0;           ///< 0 = disabled stream
    std::string_view proto;      ///< "RTP/AVP", ...
    std::string_view formats;    ///< the fmt list as written
    std::string_view conn_addr;  ///< this section's c= address, or the session's
    uint16_t rtcp_port = 0;      ///< a=rtcp:PORT, 0 if absent (means port+1)
    bool rtcp_mux = false;       ///< a=rtcp-mux
    /// The a=rtpmap of the first format, after the payload type ("opus/48000/2"); "" when absent.
    std::string_view first_rtpmap;
    direction dir = direction::sendrecv;  ///< media-level, else session-level attribute
};

struct session {
    static constexpr unsigned max_media = 8;
    std::string_view origin_user;
    std::string_view origin_sess_id;
    std::string_view origin_sess_version;
    std::string_view origin_addr;
    std::string_view conn_addr;  ///< session-level c= address
    media streams[max_media];
    uint8_t n_media = 0;
};

enum class parse_error : uint8_t {
    ok = 0, empty, no_version, bad_origin, bad_connection, bad_media, too_many_media, no_connection,
};

const char* to_string(parse_error e) noexcept;

/// The codec an m-line's first format names (what the answerer will send first).
struct codec {
    std::string_view name;  ///< encoding name as written ("PCMU", "opus"), "" when unknown
    uint32_t clock_hz = 0;  ///< RTP clock rate, 0 when unknown
};

/// The first format's codec: its a=rtpmap, else the static payload types of RFC 3551 6.
codec first_codec(const media& m) noexcept;

/// True when the m-line's protocol is an RTP profile (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVP, ...):
/// its formats are RTP payload types. UDPTL (T.38) and other protocols are not.
bool carries_rtp(const media& m) noexcept;

/// Parses an SDP body (lines end in CRLF or LF). Every m= with a non-zero port
/// must have a connection address (its own or the session's).
parse_error parse(std::string_view body, session& out) noexcept;

/// What one leg's SDP must say after the appliance anchors the media.
struct rewrite_spec {
    std::string_view address;         ///< the appliance's IPv4 address on this leg's realm
    std::string_view origin_user = "sipferry";
    uint64_t origin_sess_id = 0;      ///< this leg's own session id, stable for the dialog
    uint64_t origin_sess_version = 0; ///< bumped by the caller on every change
    uint16_t ports[session::max_media] = {};  ///< relay port per m= line (0 keeps 0: disabled)
};

/// Rewrites `body`: o= gets the leg's own origin, every c= the appliance
/// address, each m= its relay port, a=rtcp (if any) the relay port + 1
/// (or the same port with rtcp-mux); every other line is kept as written,
/// in order. Output uses CRLF. Returns "" if the body does not parse.
std::string rewrite(std::string_view body, const rewrite_spec& spec);

/// What filter_media() did to a description.
struct media_filter_result {
    std::string body;          ///< the description as filtered (CRLF); the input unchanged when it does not parse
    uint8_t audio_active = 0;  ///< RTP audio streams with a port (not disabled) of an allowed type in the input
    uint8_t audio_kept = 0;    ///< of those, the streams left with at least one allowed codec
    uint16_t formats_removed = 0;  ///< formats taken out of streams that kept some
    uint8_t reordered = 0;     ///< streams whose kept formats were put in the `prefer` order
    uint8_t active = 0;        ///< streams with a port in the input, any type
    uint8_t kept = 0;          ///< streams with a port in the output
};

/// A list of names (codecs, media types); empty: any.
using name_list = std::span<const std::string>;

/// Narrows a description to what the parties may use, each party's lists in one group: a name is
/// allowed when every non-empty list of its group has it (case-insensitive), so that two
/// parties' lists are met in one pass; a group of empty lists allows anything.
/// - `type_lists`: a stream with a port whose media type (m=audio, m=image) is not allowed is
///   disabled (port 0, its m-line otherwise as written).
/// - `codec_lists`: in every other active RTP audio stream (m=audio, an RTP profile, port not 0),
///   only the formats whose encoding name is allowed (RFC 4855: "PCMA", "telephone-event")
///   stay. With `prefer` (the list of the party the description goes to, when it is an offer),
///   those it names come first, in its order (RFC 3264 5.1: an m-line lists its formats in
///   order of preference), the others after them as the description gives them; without, all
///   as the description gives them. A format's name is its a=rtpmap's, else
///   the RFC 3551 static payload type's; a dynamic type without an rtpmap has no name and goes.
///   The a=rtpmap, a=fmtp and a=rtcp-fb lines of a format taken out go with it. A stream left
///   with no codec (nothing, or only telephone-event and CN, which carry no voice) is disabled
///   instead.
/// A disabled stream keeps its m-line (RFC 3264 6 and 8.2), so an offer's stream count never
/// changes. Other streams and lines are kept as written. Lines end in CRLF.
media_filter_result filter_media(std::string_view body, std::span<const name_list> codec_lists,
                                 std::span<const name_list> type_lists, name_list prefer = {});
/// filter_media() with one list of each.
inline media_filter_result filter_media(std::string_view body, name_list codecs, name_list types) {
    const name_list c[1] = {codecs};
    const name_list t[1] = {types};
    return filter_media(body, c, t);
}
/// filter_media() with codecs only.
inline media_filter_result filter_codecs(std::string_view body, name_list allowed) {
    return filter_media(body, allowed, name_list{});
}

}  // namespace sf::sdp
