#include "worker_load.hh"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace sf::control {

namespace {

using boost::property_tree::ptree;

ptree parse(const std::string& json, const char* which) {
    ptree doc;
    try {
        std::istringstream in(json);
        boost::property_tree::read_json(in, doc);
    } catch (const std::exception&) {
        throw std::invalid_argument(std::string(which) + " sample is not JSON");
    }
    return doc;
}

uint64_t counter(const ptree& worker, const char* key, const std::string& id, const char* which) {
    const auto v = worker.get_optional<uint64_t>(key);
    if (!v) {
        throw std::invalid_argument(std::string(which) + " sample: worker " + id + " has no " + key);
    }
    return *v;
}

// A counter only newer appliances give: none when the key is absent, refused when it is there
// but not a count.
std::optional<uint64_t> optional_counter(const ptree& worker, const char* key, const std::string& id, const char* which) {
    if (!worker.get_child_optional(key)) {
        return std::nullopt;
    }
    return counter(worker, key, id, which);
}

// What a counter grew by between the samples; one that went back means a restart between them.
uint64_t growth(uint64_t v0, uint64_t v1, const char* key, const std::string& id) {
    if (v1 < v0) {
        throw std::invalid_argument("worker " + id + ": " + key + " went back (the appliance restarted between the samples)");
    }
    return v1 - v0;
}

}  // namespace

std::vector<worker_load_row> worker_load(const std::string& before, const std::string& after, double seconds) {
    if (!(seconds > 0) || !std::isfinite(seconds)) {
        throw std::invalid_argument("the interval must be a positive number of seconds");
    }
    const ptree b = parse(before, "the first");
    const ptree a = parse(after, "the second");
    const auto hz = a.get_optional<double>("worker_clock_hz");
    const auto workers_after = a.get_child_optional("workers");
    const auto workers_before = b.get_child_optional("workers");
    if (!workers_after || !workers_before || workers_after->empty()) {
        throw std::invalid_argument("the stats have no workers' load (an appliance older than its sipferryctl?)");
    }
    if (!hz || !(*hz >= 1e6 && *hz <= 1e11)) {  // a TSC runs at MHz to a few GHz
        throw std::invalid_argument("the stats' worker_clock_hz is missing or not a clock rate");
    }
    std::vector<worker_load_row> rows;
    for (const auto& [id, w1] : *workers_after) {
        const auto w0 = workers_before->get_child_optional(ptree::path_type(id, '\0'));
        if (!w0) {
            throw std::invalid_argument("worker " + id + " is not in the first sample");
        }
        uint64_t d[4];
        const char* keys[4] = {"loop_cycles", "busy_cycles", "busy_polls", "rx_packets"};
        for (unsigned k = 0; k < 4; ++k) {
            d[k] = growth(counter(*w0, keys[k], id, "the first"), counter(w1, keys[k], id, "the second"), keys[k], id);
        }
        const uint64_t loop = d[0], busy = d[1], polls = d[2], rx = d[3];
        // Handling cycles: counted since 7 December 2026; an older appliance's rows show none.
        const auto h0 = optional_counter(*w0, "handling_cycles", id, "the first");
        const auto h1 = optional_counter(w1, "handling_cycles", id, "the second");
        const std::optional<uint64_t> handled =
            h0 && h1 ? std::optional<uint64_t>(growth(*h0, *h1, "handling_cycles", id)) : std::nullopt;
        worker_load_row r;
        r.worker = id;
        r.lcore = w1.get<unsigned>("lcore", 0);
        // The two counters are read one after the other while the worker runs: a sample can
        // hold one iteration more in either, so the share is kept within 0..1.
        r.busy_fraction = loop != 0 ? std::min(1.0, static_cast<double>(busy) / static_cast<double>(loop)) : 0.0;
        r.rx_pps = static_cast<double>(rx) / seconds;
        r.packets_per_busy_poll = polls != 0 ? static_cast<double>(rx) / static_cast<double>(polls) : 0.0;
        r.busy_ns_per_packet = rx != 0 ? static_cast<double>(busy) * 1e9 / *hz / static_cast<double>(rx) : -1.0;
        if (handled && rx != 0) {
            const uint64_t handling = std::min(*handled, busy);  // read one after the other, as above
            r.own_ns_per_packet = static_cast<double>(handling) * 1e9 / *hz / static_cast<double>(rx);
        }
        rows.push_back(r);
    }
    return rows;
}

std::string format_worker_load(const std::vector<worker_load_row>& rows) {
    std::string out = "worker  lcore  busy %      rx pps  pkts/busy poll  busy ns/pkt  of it own\n";
    char line[256];
    for (const worker_load_row& r : rows) {
        // The id is a JSON key: the appliance writes numbers, anything else is shown printable.
        std::string id = r.worker.substr(0, 24);
        for (char& c : id) {
            c = (c >= 0x20 && c < 0x7f) ? c : '?';
        }
        char ns[24] = "-", own[24] = "-";
        if (r.busy_ns_per_packet >= 0) {
            std::snprintf(ns, sizeof ns, "%.0f", r.busy_ns_per_packet);
        }
        if (r.own_ns_per_packet >= 0) {
            std::snprintf(own, sizeof own, "%.0f", r.own_ns_per_packet);
        }
        std::snprintf(line, sizeof line, "%6s  %5u  %6.1f  %10.0f  %14.1f  %11s  %9s\n", id.c_str(), r.lcore,
                      r.busy_fraction * 100.0, r.rx_pps, r.packets_per_busy_poll, ns, own);
        out += line;
    }
    return out;
}

}  // namespace sf::control
