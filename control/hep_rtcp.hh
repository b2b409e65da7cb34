#pragma once
/// @file
/// An RTCP report as the JSON a HEP collector stores for protocol type 5: the layout Homer's
/// capture agent (captagent) and heplify send and Homer's UI reads, so the appliance's reports
/// show beside the call's SIP in Homer as rtpengine's do:
///
///     {"sender_information":{"ntp_timestamp_sec":..,"ntp_timestamp_usec":..,"octets":..,
///       "rtp_timestamp":..,"packets":..},            -- an SR only
///      "ssrc":..,"type":200|201,"report_count":..,
///      "report_blocks":[{"source_ssrc":..,"highest_seq_no":..,"fraction_lost":..,
///        "ia_jitter":..,"packets_lost":..,"lsr":..,"dlsr":..}],
///      "report_blocks_xr":{"type":7,"fraction_lost":..,"fraction_discard":..,
///        "round_trip_delay":..,"r_factor":..,"mos_lq":..,"mos_cq":..}}   -- with XR VoIP metrics
///
/// Only what the workers read (dataplane/sip/rtcp.hh) is there: the first report block (its
/// list holds one entry at most; report_count says how many the packet had) and, of RTCP XR,
/// the VoIP Metrics fields the reader keeps; an R factor or MOS the phone did not compute (127)
/// is left out. Numbers are as on the wire (MOS x 10, fractions in 1/256) but the NTP fraction,
/// which is given in microseconds.

#include <string>

#include "sip/rtcp.hh"

namespace sf::control {

std::string rtcp_report_json(const rtcp::report& r);

}  // namespace sf::control
