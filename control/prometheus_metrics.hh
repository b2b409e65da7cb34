#pragma once
/// @file
/// The management API's statistics (GET /v1/stats, a JSON object) as Prometheus text
/// exposition format 0.0.4, for GET /metrics: what carriers scrape from rtpengine, Kamailio and
/// every other box in the rack, here without an exporter beside it.
///
/// The mapping is mechanical so that a new field in the stats shows up in the metrics by itself:
/// - a number or boolean at path a.b.c becomes `sipferry_a_b_c` (booleans 1 and 0);
/// - objects whose keys are names (ports, drop reasons, providers, refusal reasons) become a
///   label on the metrics below them: ports.acc.rx_packets is
///   `sipferry_ports_rx_packets_total{port="acc"}`;
/// - a metric is a counter (named `..._total`) unless its path is one of the gauges listed in
///   prometheus_metrics.cc (levels, not events: active calls, relay entries, free mbufs, ...);
/// - a text field that is an enumeration (a provider registration's state) becomes a gauge of
///   1 with the value as a label; other text is left out.
/// HELP names the stats field (docs/ARCHITECTURE.md and `sipferryctl stats` explain them).

#include <string>

namespace sf::control {

/// `stats_json` (an object as stats_json writes it) as exposition text; "" when it is not a
/// JSON object.
std::string prometheus_from_stats(const std::string& stats_json);

/// The Content-Type of that text.
inline constexpr const char* prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace sf::control
