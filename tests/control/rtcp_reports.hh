#pragma once
/// @file
/// Control-plane tests: an RTCP report as a worker queues it (dp::rtcp_event) for a relay side.

#include "media_side.hh"
#include "rings.hh"

namespace sf::control::test {

/// A report read at `side`: an SR when `sr_middle` != 0, with a block (`fraction` lost in 1/256,
/// `jitter` in timestamp units, `lsr`/`dlsr`) unless `no_block`.
inline dp::rtcp_event report_at(const dp::media_side* side, uint32_t sr_middle, uint8_t fraction, uint32_t jitter,
                                uint32_t lsr = 0, uint32_t dlsr = 0, bool no_block = false) {
    dp::rtcp_event ev;
    ev.addr = side->local_addr;
    ev.port = side->local_port;
    ev.report.sender_report = sr_middle != 0;
    ev.report.sr_ntp_middle = sr_middle;
    ev.report.has_block = !no_block;
    ev.report.fraction_lost = fraction;
    ev.report.jitter = jitter;
    ev.report.lsr = lsr;
    ev.report.dlsr = dlsr;
    return ev;
}

}  // namespace sf::control::test
