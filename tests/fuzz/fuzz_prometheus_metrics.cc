// libFuzzer target: control/prometheus_metrics.hh, the stats JSON as Prometheus text, fed any
// text (the appliance only ever feeds it its own stats; the mapping must hold for every shape).
//
// Oracles beyond "no crash, no UB":
// - deterministic;
// - every line is `# HELP name text`, `# TYPE name counter|gauge` or a sample
//   `name{label="value",...} number` as the text exposition format 0.0.4 allows (names
//   [a-zA-Z_:][a-zA-Z0-9_:]*, label values with only \\, \" and \n escaped);
// - every family's TYPE comes once and before its samples, which come together; a counter's
//   name ends in _total; no series (name and labels) twice;
// - a sample's number reads back in full as a double.

#include "prometheus_metrics.hh"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

using namespace sf::control;

namespace {

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

bool name_char(char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

/// A metric name at `at`; returns the index after it (== at: none).
size_t read_name(const std::string& l, size_t at) {
    size_t i = at;
    while (i < l.size() && name_char(l[i], i == at)) {
        ++i;
    }
    return i;
}

/// `{label="value",...}` at `at`; returns the index after it, or npos when malformed.
size_t read_labels(const std::string& l, size_t at) {
    size_t i = at + 1;
    for (;;) {
        const size_t end = read_name(l, i);
        if (end == i || l[i] == ':' || end + 1 >= l.size() || l[end] != '=' || l[end + 1] != '"') {
            return std::string::npos;
        }
        i = end + 2;
        while (i < l.size() && l[i] != '"') {
            if (l[i] == '\\') {
                if (i + 1 >= l.size() || (l[i + 1] != '\\' && l[i + 1] != '"' && l[i + 1] != 'n')) {
                    return std::string::npos;
                }
                ++i;
            }
            ++i;
        }
        if (i >= l.size()) {
            return std::string::npos;
        }
        ++i;  // the closing quote
        if (i < l.size() && l[i] == ',') {
            ++i;
            continue;
        }
        return i < l.size() && l[i] == '}' ? i + 1 : std::string::npos;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string in(reinterpret_cast<const char*>(data), size);
    const std::string out = prometheus_from_stats(in);
    check(prometheus_from_stats(in) == out);

    std::set<std::string> typed, series, closed;
    std::string current;
    bool current_counter = false;
    std::istringstream lines(out);
    for (std::string l; std::getline(lines, l);) {
        if (l.rfind("# HELP ", 0) == 0) {
            const size_t end = read_name(l, 7);
            check(end > 7 && end < l.size() && l[end] == ' ');
            continue;
        }
        if (l.rfind("# TYPE ", 0) == 0) {
            const size_t end = read_name(l, 7);
            check(end > 7);
            const std::string name = l.substr(7, end - 7), type = l.substr(end);
            check(type == " counter" || type == " gauge");
            check(typed.insert(name).second);
            if (!current.empty()) {
                closed.insert(current);
            }
            current = name;
            current_counter = type == " counter";
            check(!current_counter || (name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0));
            continue;
        }
        const size_t end = read_name(l, 0);
        check(end > 0);
        const std::string name = l.substr(0, end);
        check(name == current && closed.count(name) == 0);
        size_t at = end;
        if (at < l.size() && l[at] == '{') {
            at = read_labels(l, at);
            check(at != std::string::npos);
        }
        check(at < l.size() && l[at] == ' ');
        check(series.insert(l.substr(0, at)).second);
        const std::string number = l.substr(at + 1);
        check(!number.empty());
        char* stop = nullptr;
        (void)std::strtod(number.c_str(), &stop);
        check(stop == number.c_str() + number.size());
    }
    return 0;
}
