#include "call_quality.hh"

#include <algorithm>

#include "sip/ascii.hh"

namespace sf::control {

std::optional<double> rtcp_figures::loss_pct() const {
    if (reports == 0) {
        return std::nullopt;
    }
    return 100.0 * static_cast<double>(fraction_sum) / 256.0 / static_cast<double>(reports);
}

std::optional<double> rtcp_figures::jitter_ms() const {
    if (reports == 0) {
        return std::nullopt;
    }
    return static_cast<double>(jitter_sum_us) / 1000.0 / static_cast<double>(reports);
}

std::optional<double> rtcp_figures::rtt_ms() const {
    if (rtt_samples == 0) {
        return std::nullopt;
    }
    return static_cast<double>(rtt_sum_us) / 1000.0 / static_cast<double>(rtt_samples);
}

std::optional<double> rtcp_figures::phone_mos() const {
    if (phone_reports == 0) {
        return std::nullopt;
    }
    return static_cast<double>(phone_mos_sum) / 10.0 / static_cast<double>(phone_reports);
}

std::optional<codec_impairment> impairment_of(std::string_view encoding) {
    struct rated {
        std::string_view name;
        codec_impairment figures;
    };
    // G.113 Appendix I, tables I.1 and I.3 (G.711 with PLC, G.729A with VAD, G.723.1 at 6.3k).
    static constexpr rated table[] = {
        {"PCMU", {0, 25.1}}, {"PCMA", {0, 25.1}}, {"G729", {11, 19.0}}, {"G723", {15, 16.1}},
    };
    for (const rated& r : table) {
        if (sip::iequals_ascii(encoding, r.name)) {
            return r.figures;
        }
    }
    return std::nullopt;
}

double r_factor(const codec_impairment& codec, double loss_pct, double delay_ms) {
    constexpr double r_default = 93.2;  // G.107's R with every parameter at its default
    const double ppl = std::clamp(loss_pct, 0.0, 100.0);
    const double ie_eff = codec.ie + (95.0 - codec.ie) * ppl / (ppl + codec.bpl);  // BurstR = 1
    const double d = std::max(delay_ms, 0.0);
    const double id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0.0);
    return r_default - id - ie_eff;
}

double mos_of(double r) {
    if (r <= 0) {
        return 1.0;
    }
    if (r >= 100) {
        return 4.5;
    }
    // The cubic dips just below 1 for R under ~6.5: MOS has no value below 1.
    return std::max(1.0, 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6);
}

std::optional<double> estimate_mos(std::string_view encoding, const rtcp_figures& receiver,
                                   const rtcp_figures& sender) {
    const std::optional<codec_impairment> codec = impairment_of(encoding);
    if (!codec || receiver.reports == 0) {
        return std::nullopt;
    }
    constexpr double packet_ms = 20.0;
    const double path_ms = (receiver.rtt_ms().value_or(0.0) + sender.rtt_ms().value_or(0.0)) / 2.0;
    const double delay_ms = path_ms + 2.0 * *receiver.jitter_ms() + packet_ms;
    return mos_of(r_factor(*codec, *receiver.loss_pct(), delay_ms));
}

}  // namespace sf::control
