// libFuzzer target: control/worker_load.hh (sipferryctl load), fed two arbitrary "stats answers"
// (the input split at its first NUL; no NUL: the same text twice) and an interval from the
// input's last byte.
//
// Oracles beyond "no crash, no UB":
// - the only failure is std::invalid_argument (a reason for the operator), never another
//   exception;
// - deterministic;
// - every row's figures are finite and in range: busy share within 0..1, rates and packets per
//   busy poll not negative, busy ns per packet -1 (no packet) or not negative, and own ns per
//   packet -1 (not counted) or within 0..busy ns per packet;
// - the table has a header and one line per row.

#include "worker_load.hh"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using namespace sf::control;

namespace {

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0 || size > 65536) {
        return 0;
    }
    const std::string in(reinterpret_cast<const char*>(data), size - 1);
    const size_t nul = in.find('\0');
    const std::string before = nul == std::string::npos ? in : in.substr(0, nul);
    const std::string after = nul == std::string::npos ? in : in.substr(nul + 1);
    const double seconds = (data[size - 1] % 8) * 0.5;  // 0 (refused) .. 3.5
    std::vector<worker_load_row> rows;
    try {
        rows = worker_load(before, after, seconds);
    } catch (const std::invalid_argument&) {
        return 0;
    }
    std::vector<worker_load_row> again = worker_load(before, after, seconds);
    check(again.size() == rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        const worker_load_row& r = rows[i];
        check(r.worker == again[i].worker && r.busy_ns_per_packet == again[i].busy_ns_per_packet &&
              r.own_ns_per_packet == again[i].own_ns_per_packet);
        check(std::isfinite(r.busy_fraction) && r.busy_fraction >= 0 && r.busy_fraction <= 1);
        check(std::isfinite(r.rx_pps) && r.rx_pps >= 0);
        check(std::isfinite(r.packets_per_busy_poll) && r.packets_per_busy_poll >= 0);
        check(std::isfinite(r.busy_ns_per_packet) && (r.busy_ns_per_packet == -1 || r.busy_ns_per_packet >= 0));
        check(std::isfinite(r.own_ns_per_packet) &&
              (r.own_ns_per_packet == -1 || (r.own_ns_per_packet >= 0 && r.own_ns_per_packet <= r.busy_ns_per_packet)));
    }
    const std::string table = format_worker_load(rows);
    size_t lines = 0;
    for (const char c : table) {
        lines += c == '\n';
    }
    check(lines == rows.size() + 1);
    return 0;
}
