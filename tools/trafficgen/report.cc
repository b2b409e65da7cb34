#include "report.hh"

#include <cstdio>
#include <sstream>

#include "options.hh"

namespace sf::gen {

namespace {

std::string num(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6g", v);
    return buf;
}

}  // namespace

std::string trial_json(const trial_result& r, const std::vector<stream>& streams, bool per_stream) {
    std::ostringstream o;
    uint64_t with_loss = 0, max_lost = 0, incomplete_reorder = 0;
    for (const auto& s : r.per_stream) {
        with_loss += s.lost() ? 1 : 0;
        max_lost = std::max(max_lost, s.lost());
        incomplete_reorder += s.reordered ? 1 : 0;
    }
    const double rx_rate = r.duration_s > 0 ? static_cast<double>(r.received) / r.duration_s : 0.0;
    const double tx_rate = r.send_time_s > 0 ? static_cast<double>(r.sent) / r.send_time_s : 0.0;
    o << "{\"trial\":" << r.trial << ",\"rate_pps\":" << num(r.rate_pps) << ",\"duration_s\":" << num(r.duration_s)
      << ",\"planned\":" << r.planned << ",\"sent\":" << r.sent << ",\"received\":" << r.received
      << ",\"lost\":" << r.lost() << ",\"loss_ratio\":" << num(r.loss_ratio()) << ",\"duplicates\":" << r.duplicates
      << ",\"reordered\":" << r.reordered << ",\"stale\":" << r.stale << ",\"rx_other\":" << r.rx_other
      << ",\"bad_probe\":" << r.bad_probe << ",\"tx_rate_pps\":" << num(tx_rate) << ",\"rx_rate_pps\":" << num(rx_rate)
      << ",\"tx_full\":" << r.tx_full << ",\"alloc_fail\":" << r.alloc_fail << ",\"max_lag_ms\":" << num(r.max_lag_ms)
      << ",\"generator_limited\":" << (r.generator_limited ? "true" : "false")
      << ",\"hit_deadline\":" << (r.hit_deadline ? "true" : "false");
    if (r.flood_planned != 0) {
        o << ",\"flood\":{\"planned\":" << r.flood_planned << ",\"sent\":" << r.flood_sent
          << ",\"tx_full\":" << r.flood_tx_full << ",\"tx_rate_pps\":"
          << num(r.duration_s > 0 ? static_cast<double>(r.flood_sent) / r.duration_s : 0.0) << "}";
    }
    const histogram& h = r.latency_ns;
    o << ",\"latency_ns\":{\"samples\":" << h.count() << ",\"min\":" << h.min() << ",\"mean\":" << num(h.mean())
      << ",\"p50\":" << h.quantile(0.5) << ",\"p90\":" << h.quantile(0.9) << ",\"p99\":" << h.quantile(0.99)
      << ",\"p99_9\":" << h.quantile(0.999) << ",\"max\":" << h.max() << "}";
    o << ",\"streams\":{\"count\":" << r.per_stream.size() << ",\"with_loss\":" << with_loss
      << ",\"max_lost\":" << max_lost << ",\"with_reordering\":" << incomplete_reorder << "}";
    if (per_stream) {
        o << ",\"per_stream\":[";
        for (size_t i = 0; i < r.per_stream.size(); ++i) {
            const auto& s = r.per_stream[i];
            o << (i ? "," : "") << "{\"id\":" << i << ",\"src\":\"" << ipv4_text(streams[i].src_ip) << ":"
              << streams[i].src_port << "\",\"dst\":\"" << ipv4_text(streams[i].dst_ip) << ":" << streams[i].dst_port
              << "\",\"sent\":" << s.sent << ",\"received\":" << s.received << ",\"lost\":" << s.lost()
              << ",\"duplicates\":" << s.duplicates << ",\"reordered\":" << s.reordered << "}";
        }
        o << "]";
    }
    o << "}";
    return o.str();
}

}  // namespace sf::gen
