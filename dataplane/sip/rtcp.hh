#pragma once
/// @file
/// The part of an RTCP compound packet (RFC 3550 6.4) the appliance reads for call quality:
/// the sender report's NTP time, and the first reception report block (what the packet's sender
/// heard of the stream it receives: loss, jitter, and the LSR/DLSR pair a round-trip time is
/// measured by). Nothing else is read: the packet is relayed as it came.
///
/// RFC 3550 6.1: a compound packet starts with an SR or an RR. Packets that start otherwise
/// (RFC 5506 reduced-size RTCP, a lone BYE or APP) carry no report and are not read; neither are
/// reports past the first block (one call's party hears one stream; more blocks mean a
/// conference, where the first is as good as any). SRTCP (RFC 3711) encrypts everything after
/// the first eight bytes: its reports parse as noise, so callers read only plain RTCP.
///
/// The rest of the compound is walked for an RTCP XR packet (RFC 3611) with a VoIP Metrics
/// block (4.7): the receiving phone's own view of the call (loss, discards, R factor, MOS), which
/// phones that implement it send beside their reports. The walk stops at the first packet that
/// does not fit; the SR/RR read stands either way.

#include <cstddef>
#include <cstdint>

namespace sf::rtcp {

constexpr uint8_t type_sr = 200;
constexpr uint8_t type_rr = 201;
constexpr uint8_t type_xr = 207;
constexpr uint8_t xr_voip_metrics = 7;  ///< RFC 3611 4.7 block type
constexpr uint8_t xr_unavailable = 127;  ///< an R factor or MOS field the phone did not compute

/// What read() found. Fields not present are zero.
struct report {
    uint32_t sender_ssrc = 0;
    bool sender_report = false;  ///< the packet is an SR
    /// SR: the middle 32 bits of its NTP timestamp, as a later LSR names it (RFC 3550 6.4.1).
    uint32_t sr_ntp_middle = 0;
    // SR: the rest of its sender info (RFC 3550 6.4.1), what a capture collector shows.
    uint32_t sr_ntp_sec = 0;       ///< NTP timestamp, most significant word (seconds since 1900)
    uint32_t sr_ntp_fraction = 0;  ///< and least significant word (1/2^32 s)
    uint32_t sr_rtp_ts = 0;        ///< the same instant in RTP timestamp units
    uint32_t sr_packets = 0;       ///< the sender's packet count
    uint32_t sr_octets = 0;        ///< and payload octet count
    uint8_t report_count = 0;      ///< the packet's RC: reception report blocks (the first is read)
    bool has_block = false;  ///< a reception report block follows
    // --- the first reception report block (RFC 3550 6.4.1) ---
    uint32_t source_ssrc = 0;     ///< the SSRC the block is about
    uint8_t fraction_lost = 0;    ///< lost since the previous report, in 1/256
    int32_t cumulative_lost = 0;  ///< 24-bit signed: duplicates can make it negative
    uint32_t highest_seq = 0;     ///< extended highest sequence number received
    uint32_t jitter = 0;          ///< interarrival jitter, in RTP timestamp units
    uint32_t lsr = 0;             ///< middle 32 bits of the last SR heard (0: none yet)
    uint32_t dlsr = 0;            ///< delay since that SR, in 1/65536 s
    // --- the first XR VoIP Metrics block of the compound (RFC 3611 4.7), if any ---
    bool has_voip_metrics = false;
    uint8_t xr_loss_rate = 0;        ///< packets lost in the network, in 1/256
    uint8_t xr_discard_rate = 0;     ///< packets discarded (late or early for the jitter buffer), in 1/256
    uint8_t xr_r_factor = xr_unavailable;  ///< the phone's conversational R (0..100)
    uint8_t xr_mos_lq = xr_unavailable;    ///< listening quality MOS x 10 (10..50)
    uint8_t xr_mos_cq = xr_unavailable;    ///< conversational quality MOS x 10 (10..50)
    uint16_t xr_round_trip_ms = 0;   ///< the phone's round-trip delay
};

/// Reads the first packet of an RTCP compound in `p[0..len)`: version 2, SR or RR, its length
/// within `len` and its report blocks within its length. False for anything else (`out` is then
/// unspecified).
bool read(const uint8_t* p, size_t len, report& out) noexcept;

}  // namespace sf::rtcp
