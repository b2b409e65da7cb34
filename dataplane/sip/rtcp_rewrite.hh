#pragma once
/// @file
/// Makes an RTCP compound packet (RFC 3550 6) agree with RTP the appliance renamed on its way.
///
/// Continuity (dataplane/media_side.hh) relays a transfer's new party's RTP in the stream the
/// party that stays heard before: another SSRC, sequence numbers and timestamps shifted by fixed
/// amounts. RTCP names those streams too, so it is renamed the same way, or each end would be
/// told about a stream it never saw: the party that stays would get sender reports from an SSRC
/// that sends it no RTP (and its own reports, naming the stream it hears, would reach a new
/// party that does not know that SSRC, so neither end could measure loss or round trips).
///
/// Two renames apply to one packet, one per direction of the call:
/// - `sent`: the stream the packet's sender sends, renamed on its way to the packet's receiver.
///   Fields naming the sender itself: the SSRC of an SR, RR, APP, XR or feedback packet
///   (RFC 4585 6.1), of an SDES chunk and of a BYE; and the SR's RTP timestamp (+ ts_add), so
///   the receiver's NTP-to-RTP mapping matches the timestamps it hears.
/// - `heard`: the stream the packet's sender receives, named as the sender heard it: the
///   receiver knows it under `heard.to`. Fields naming a source reported on: a report block's
///   SSRC and extended highest sequence number, a feedback packet's media source SSRC and a
///   generic NACK's packet IDs (RFC 4585 6.2.1), XR blocks' SSRC of source with their begin and
///   end sequence numbers (RFC 3611 4.1-4.3, 4.6, 4.7), and an XR DLRR sub-block's SSRC (4.5).
/// A field is rewritten only when its SSRC is the rename's `from` (a sequence number or
/// timestamp only beside such an SSRC): reports about anything else pass as they came.
///
/// An extended highest sequence number is shifted as a 32-bit number by seq_add taken the
/// nearer way round (as a signed 16-bit number: 0xfffe is -2): its low 16 bits become exact and
/// one reporter's successive reports stay in order; the count of cycles above them (which the
/// two ends counted from different starts) may be one off.
/// Other fields (NTP times, LSR/DLSR, packet and octet counts, jitter, loss) are not changed:
/// they do not depend on the numbering. The sender's packet and octet counts restart with the
/// new party; RFC 3550 6.4.1 uses them for rates between reports, which stay right.
///
/// The walk: version-2 packets in order, each within its length and `len`; it stops at the
/// first that does not fit (anything after it is passed as it came) and after 32 packets.
/// SRTCP cannot be rewritten (RFC 3711: authenticated and mostly encrypted); callers pass
/// only plain RTCP.
///
/// The UDP checksum: every 16-bit word changed adds `~old + new` to `csum_sum` (words loaded in
/// memory order, as RFC 1624's incremental update takes them; `p` must sit at an even offset of
/// the datagram). The caller folds it into the checksum: `~fold(~checksum + csum_sum)`.

#include <cstddef>
#include <cstdint>

namespace sf::rtcp {

/// One stream renamed on its way: SSRC `from` is relayed as `to`, its sequence numbers
/// + seq_add (mod 2^16) and its RTP timestamps + ts_add (mod 2^32). Off: nothing renamed.
struct stream_rename {
    bool on = false;
    uint32_t from = 0;
    uint32_t to = 0;
    uint16_t seq_add = 0;
    uint32_t ts_add = 0;
};

constexpr unsigned rewrite_max_packets = 32;  ///< packets of one compound walked at most

/// Rewrites `p[0..len)` in place as the file comment says. Returns the number of fields changed
/// (an SSRC, a timestamp or a sequence number each count one; a field whose rewrite leaves it
/// as it was counts too). `csum_sum` is added to, never reset.
unsigned rewrite(uint8_t* p, size_t len, const stream_rename& sent, const stream_rename& heard,
                 uint32_t& csum_sum) noexcept;

}  // namespace sf::rtcp
