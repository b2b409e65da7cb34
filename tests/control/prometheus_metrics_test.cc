// control/prometheus_metrics.hh: the stats JSON as Prometheus text. Names, types, labels and
// values; every line one the exposition format allows; never the same series twice; nothing
// for input that is not an object. tests/lab/metrics_tests.py scrapes the running appliance
// and reads the text with the Prometheus client library's own parser.

#include "prometheus_metrics.hh"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace sf::control;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
        out.push_back(l);
    }
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines_of(text)) {
        if (l == line) {
            return true;
        }
    }
    return false;
}

/// Every line a comment the format knows (HELP, TYPE) or a sample; a family's TYPE before its
/// samples, its samples together, no series twice.
void expect_valid_exposition(const std::string& text) {
    static const std::regex help(R"(# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*)");
    static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
    static const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\["\\n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\["\\n])*")*\})? -?[0-9.eE+-]+)");
    std::set<std::string> typed, series, closed;
    std::string current;
    for (const auto& l : lines_of(text)) {
        std::smatch m;
        if (std::regex_match(l, m, type)) {
            EXPECT_TRUE(typed.insert(m[1]).second) << "TYPE twice: " << l;
            if (!current.empty()) {
                closed.insert(current);
            }
            current = m[1];
        } else if (std::regex_match(l, help)) {
            continue;
        } else {
            ASSERT_TRUE(std::regex_match(l, m, sample)) << "not a sample: " << l;
            EXPECT_EQ(m[1], current) << "sample outside its family: " << l;
            EXPECT_EQ(closed.count(m[1]), 0u) << "family split: " << l;
            EXPECT_TRUE(series.insert(l.substr(0, l.rfind(' '))).second) << "series twice: " << l;
        }
    }
}

const std::string stats = R"({
  "ports": {"acc": {"rx_packets": 2, "tx_packets": 3}, "core": {"rx_packets": 5, "tx_packets": 7}},
  "drops": {"relay_miss": 4, "udp_port": 0},
  "relay": {"entries": 12, "relayed": 900, "port_pairs": {"acc": {"in_use": 3, "capacity": 12000}}},
  "workers": {"0": {"lcore": 1, "loop_cycles": 5000, "busy_cycles": 1200, "busy_polls": 40, "handling_cycles": 300, "rx_packets": 900}},
  "worker_clock_hz": 2000000000,
  "capture": {"running": false, "written": 0},
  "hep": {"enabled": true, "sent": 14},
  "calls": {"active": 3, "total": 10},
  "providers": {"response_timeouts": 1,
                "channels": {"lab-pbx": {"calls": 1, "max": 1}},
                "quality": {"trunk \"a\"": {"rated": 2, "poor": 0, "mean_mos": 4.100, "recent_mos": 4.200}},
                "probed": {"lab-dead": {"up": true, "downs": 2}}},
  "provider_registrations": {"lab-trunk": {"state": "registered", "contact": "sip:x@192.0.2.1",
                                           "expires_s": 600, "failures": 0}},
  "transfers": {"started": 1, "refusals": {"deny_prefix": 2}},
  "idle_sleeps": 833
})";

}  // namespace

TEST(prometheus_metrics, counters_gauges_and_labels) {
    const std::string t = prometheus_from_stats(stats);
    expect_valid_exposition(t);
    EXPECT_TRUE(has_line(t, "# TYPE sipferry_ports_rx_packets_total counter"));
    EXPECT_TRUE(has_line(t, R"(sipferry_ports_rx_packets_total{port="acc"} 2)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_ports_rx_packets_total{port="core"} 5)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_drops_total{reason="relay_miss"} 4)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_drops_total{reason="udp_port"} 0)"));
    EXPECT_TRUE(has_line(t, "# TYPE sipferry_relay_entries gauge"));
    EXPECT_TRUE(has_line(t, "sipferry_relay_entries 12"));
    EXPECT_TRUE(has_line(t, "sipferry_relay_relayed_total 900"));
    EXPECT_TRUE(has_line(t, "# TYPE sipferry_relay_port_pairs_in_use gauge"));
    EXPECT_TRUE(has_line(t, R"(sipferry_relay_port_pairs_in_use{port="acc"} 3)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_relay_port_pairs_capacity{port="acc"} 12000)"));
    // A worker's load: its lcore is a gauge, its cycles count up; the clock is a gauge.
    EXPECT_TRUE(has_line(t, "# TYPE sipferry_workers_lcore gauge"));
    EXPECT_TRUE(has_line(t, R"(sipferry_workers_lcore{worker="0"} 1)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_workers_busy_cycles_total{worker="0"} 1200)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_workers_loop_cycles_total{worker="0"} 5000)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_workers_busy_polls_total{worker="0"} 40)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_workers_handling_cycles_total{worker="0"} 300)"));
    EXPECT_TRUE(has_line(t, "sipferry_worker_clock_hz 2000000000"));
    EXPECT_TRUE(has_line(t, "sipferry_capture_running 0"));
    EXPECT_TRUE(has_line(t, "sipferry_hep_enabled 1"));
    EXPECT_TRUE(has_line(t, "sipferry_calls_active 3"));
    EXPECT_TRUE(has_line(t, "sipferry_calls_total_total 10"));
    EXPECT_TRUE(has_line(t, "sipferry_idle_sleeps_total 833"));
    EXPECT_TRUE(has_line(t, "# HELP sipferry_calls_active sipferry stats calls.active"));
}

TEST(prometheus_metrics, names_under_a_level_become_labels) {
    const std::string t = prometheus_from_stats(stats);
    EXPECT_TRUE(has_line(t, "sipferry_providers_response_timeouts_total 1"));
    EXPECT_TRUE(has_line(t, R"(sipferry_providers_channels_calls{provider="lab-pbx"} 1)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_providers_channels_max{provider="lab-pbx"} 1)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_providers_probed_up{provider="lab-dead"} 1)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_providers_probed_downs_total{provider="lab-dead"} 2)"));
    // A label value is escaped.
    EXPECT_TRUE(has_line(t, R"(sipferry_providers_quality_mean_mos{provider="trunk \"a\""} 4.100)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_transfers_refusals_total{reason="deny_prefix"} 2)"));
}

TEST(prometheus_metrics, an_enumeration_is_a_label_and_other_text_is_left_out) {
    const std::string t = prometheus_from_stats(stats);
    EXPECT_TRUE(has_line(t, R"(sipferry_provider_registrations_state{provider="lab-trunk",state="registered"} 1)"));
    EXPECT_TRUE(has_line(t, R"(sipferry_provider_registrations_expires_s{provider="lab-trunk"} 600)"));
    EXPECT_EQ(t.find("contact"), std::string::npos);
}

TEST(prometheus_metrics, only_an_object_makes_metrics) {
    for (const char* bad : {"", "42", "\"x\"", "{", "[1,2]", "{\"a\":1} x"}) {
        const std::string t = prometheus_from_stats(bad);
        EXPECT_TRUE(t.empty() || t.find("sipferry_") == std::string::npos) << bad << " -> " << t;
    }
    EXPECT_EQ(prometheus_from_stats("{}"), "");
}

TEST(prometheus_metrics, a_series_is_never_written_twice_nor_a_name_with_two_types) {
    // Keys twice (ptree keeps both), names that need cleaning, text, null, an array, a float.
    const std::string t = prometheus_from_stats(R"({"a": {"b": 1, "b": 2}, "x": 1, "x_total": 5, "odd key!": 3,
                                                  "ports": {"p": {"n": 1}, "p": {"n": 2}}, "v": "text", "w": null,
                                                  "arr": [1, 2], "f": -1.5e3})");
    expect_valid_exposition(t);
    EXPECT_TRUE(has_line(t, "sipferry_a_b_total 1"));
    EXPECT_FALSE(has_line(t, "sipferry_a_b_total 2"));
    EXPECT_TRUE(has_line(t, "sipferry_odd_key__total 3"));
    EXPECT_TRUE(has_line(t, R"(sipferry_ports_n_total{port="p"} 1)"));
    EXPECT_TRUE(has_line(t, "sipferry_f_total -1.5e3"));
    EXPECT_EQ(t.find("sipferry_v"), std::string::npos);
    EXPECT_EQ(t.find("sipferry_w"), std::string::npos);
    EXPECT_EQ(t.find("arr"), std::string::npos);
}
