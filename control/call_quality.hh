#pragma once
/// @file
/// Call quality from RTCP: what a call's parties reported of the streams they received
/// (RFC 3550 reception report blocks: loss, interarrival jitter), the round-trip time between
/// the appliance and each party (measured from the LSR/DLSR of its reports against the sender
/// reports the appliance relayed to it), and the E-model estimate made of them.
///
/// The E-model is ITU-T G.107's with its default values (R = 93.2 with no impairment), the
/// codec's equipment impairment Ie and packet-loss robustness Bpl from ITU-T G.113 Appendix I,
/// random loss (BurstR = 1), and the delay impairment in Cole and Rosenbluth's closed form
/// ("Voice over IP performance monitoring", ACM SIGCOMM CCR 2001). The mouth-to-ear delay is
/// estimated, not measured: half of both legs' round trips (the path through the appliance),
/// twice the jitter for the receiver's buffer, and one 20 ms packet. It is an estimate for
/// comparing calls and spotting bad ones, as every monitoring system's is; a receiver's own
/// RTCP XR VoIP metrics (RFC 3611) would be better where phones send them.

#include <cstdint>
#include <optional>
#include <string_view>

namespace sf::control {

/// Sums over the reception report blocks one party sent (cumulative, so a CDR segment is the
/// difference of two), and the round trips measured on its leg.
struct rtcp_figures {
    uint64_t reports = 0;        ///< report blocks read
    uint64_t fraction_sum = 0;   ///< their "fraction lost" fields summed, in 1/256
    uint64_t jitter_sum_us = 0;  ///< their jitter fields summed, in microseconds
    uint64_t rtt_samples = 0;
    uint64_t rtt_sum_us = 0;
    /// RTCP XR VoIP Metrics (RFC 3611 4.7) the party sent with a MOS in them: the phone's own
    /// conversational MOS (its listening MOS when it gave no other), x 10, summed.
    uint64_t phone_reports = 0;
    uint64_t phone_mos_sum = 0;

    rtcp_figures operator-(const rtcp_figures& base) const {
        return {reports - base.reports,         fraction_sum - base.fraction_sum,
                jitter_sum_us - base.jitter_sum_us, rtt_samples - base.rtt_samples,
                rtt_sum_us - base.rtt_sum_us,   phone_reports - base.phone_reports,
                phone_mos_sum - base.phone_mos_sum};
    }
    rtcp_figures& operator+=(const rtcp_figures& o) {
        reports += o.reports;
        fraction_sum += o.fraction_sum;
        jitter_sum_us += o.jitter_sum_us;
        rtt_samples += o.rtt_samples;
        rtt_sum_us += o.rtt_sum_us;
        phone_reports += o.phone_reports;
        phone_mos_sum += o.phone_mos_sum;
        return *this;
    }
    /// Mean loss the receiver reported, in percent; nullopt without reports.
    std::optional<double> loss_pct() const;
    /// Mean jitter the receiver reported, in ms; nullopt without reports.
    std::optional<double> jitter_ms() const;
    /// Mean round trip between the appliance and the receiver, in ms; nullopt without samples.
    std::optional<double> rtt_ms() const;
    /// Mean MOS the receiver's phone reported itself (RTCP XR); nullopt when it sent none.
    std::optional<double> phone_mos() const;
};

/// ITU-T G.113 Appendix I figures of a codec.
struct codec_impairment {
    double ie = 0;   ///< equipment impairment
    double bpl = 0;  ///< packet-loss robustness
};

/// The figures of a codec by its SDP encoding name (case-insensitive): PCMU and PCMA (G.711
/// with packet loss concealment), G729 (G.729A with VAD), G723 (G.723.1 at 6.3 kbit/s).
/// nullopt for the rest (no published Bpl, or wideband: rated on G.107.1's other scale).
std::optional<codec_impairment> impairment_of(std::string_view encoding);

/// G.107's rating factor R for `loss_pct` random loss and `delay_ms` mouth-to-ear delay.
double r_factor(const codec_impairment& codec, double loss_pct, double delay_ms);

/// G.107 Annex B: the MOS (conversational quality, 1..4.5) of a rating factor (held at 1 where
/// the formula's cubic dips below it, R < ~6.5).
double mos_of(double r);

/// The MOS estimate of one direction of a call: `receiver` is what the party receiving it
/// reported (and its leg's round trips), `sender` the other party's figures (its leg's round
/// trips complete the path). nullopt when the receiver sent no report or the codec is not rated.
std::optional<double> estimate_mos(std::string_view encoding, const rtcp_figures& receiver,
                                   const rtcp_figures& sender);

}  // namespace sf::control
