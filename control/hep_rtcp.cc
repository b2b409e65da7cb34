#include "hep_rtcp.hh"

#include "json_writer.hh"

namespace sf::control {

std::string rtcp_report_json(const rtcp::report& r) {
    json_writer j;
    j.begin_object();
    if (r.sender_report) {
        j.key("sender_information").begin_object();
        j.key("ntp_timestamp_sec").value(uint64_t{r.sr_ntp_sec});
        j.key("ntp_timestamp_usec").value((uint64_t{r.sr_ntp_fraction} * 1'000'000) >> 32);
        j.key("octets").value(uint64_t{r.sr_octets});
        j.key("rtp_timestamp").value(uint64_t{r.sr_rtp_ts});
        j.key("packets").value(uint64_t{r.sr_packets});
        j.end_object();
    }
    j.key("ssrc").value(uint64_t{r.sender_ssrc});
    j.key("type").value(unsigned{r.sender_report ? rtcp::type_sr : rtcp::type_rr});
    j.key("report_count").value(unsigned{r.report_count});
    j.key("report_blocks").begin_array();
    if (r.has_block) {
        j.begin_object();
        j.key("source_ssrc").value(uint64_t{r.source_ssrc});
        j.key("highest_seq_no").value(uint64_t{r.highest_seq});
        j.key("fraction_lost").value(unsigned{r.fraction_lost});
        j.key("ia_jitter").value(uint64_t{r.jitter});
        j.key("packets_lost").value(int64_t{r.cumulative_lost});
        j.key("lsr").value(uint64_t{r.lsr});
        j.key("dlsr").value(uint64_t{r.dlsr});
        j.end_object();
    }
    j.end_array();
    if (r.has_voip_metrics) {
        j.key("report_blocks_xr").begin_object();
        j.key("type").value(unsigned{rtcp::xr_voip_metrics});
        j.key("fraction_lost").value(unsigned{r.xr_loss_rate});
        j.key("fraction_discard").value(unsigned{r.xr_discard_rate});
        j.key("round_trip_delay").value(unsigned{r.xr_round_trip_ms});
        // RFC 3611 4.7.5: 127 is "not computed": left out rather than shown as a figure.
        for (const auto& [name, v] : {std::pair{"r_factor", r.xr_r_factor}, std::pair{"mos_lq", r.xr_mos_lq},
                                      std::pair{"mos_cq", r.xr_mos_cq}}) {
            if (v != rtcp::xr_unavailable) {
                j.key(name).value(unsigned{v});
            }
        }
        j.end_object();
    }
    j.end_object();
    return j.take();
}

}  // namespace sf::control
