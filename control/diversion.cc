#include "diversion.hh"

#include <algorithm>
#include <vector>

#include "sip/sip_message.hh"
#include "text.hh"

namespace sf::control {

bool valid_diversion_reason(std::string_view reason) {
    static constexpr std::string_view reasons[] = {"unknown",         "user-busy",      "no-answer",  "unavailable",
                                                   "unconditional",   "time-of-day",    "do-not-disturb",
                                                   "deflection",      "follow-me",      "out-of-service", "away"};
    for (const std::string_view r : reasons) {
        if (r == reason) {
            return true;
        }
    }
    return false;
}

std::string diversion_line(std::string_view called_user, std::string_view host, std::string_view reason) {
    return "Diversion: <sip:" + std::string(called_user) + "@" + std::string(host) + ">;reason=" +
           std::string(reason) + ";counter=1\r\n";
}

bool parse_diversion_headers(std::string_view text, diversion_headers& out) {
    for (const diversion_headers h :
         {diversion_headers::diversion, diversion_headers::history_info, diversion_headers::both}) {
        if (text == to_string(h)) {
            out = h;
            return true;
        }
    }
    return false;
}

std::string_view to_string(diversion_headers h) {
    switch (h) {
    case diversion_headers::diversion:
        return "diversion";
    case diversion_headers::history_info:
        return "history-info";
    case diversion_headers::both:
        return "both";
    case diversion_headers::unset:
        break;
    }
    return "";
}

unsigned history_info_cause(std::string_view reason) {
    static constexpr std::pair<std::string_view, unsigned> causes[] = {
        {"unconditional", 302}, {"user-busy", 486}, {"no-answer", 408}, {"deflection", 480}, {"unavailable", 503}};
    for (const auto& [r, cause] : causes) {
        if (r == reason) {
            return cause;
        }
    }
    return 404;
}

namespace {

// RFC 7044 9: index-val = number *("." number); a number has no leading zero.
bool valid_index(std::string_view v) {
    if (v.empty() || v.size() > max_history_index_bytes) {
        return false;
    }
    size_t start = 0;
    while (start <= v.size()) {
        const size_t dot = std::min(v.find('.', start), v.size());
        const std::string_view n = v.substr(start, dot - start);
        if (n.empty() || n.front() == '0' || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return false;
        }
        start = dot + 1;
    }
    return true;
}

}  // namespace

std::string last_history_index(std::span<const std::string_view> values) {
    std::vector<std::string_view> seen;
    for (std::string_view rest : values) {
        while (true) {
            // Empty list elements are tolerated (", ,"), as the other list headers' readers do.
            rest = trim_view(rest);
            while (!rest.empty() && rest.front() == ',') {
                rest = trim_view(rest.substr(1));
            }
            if (rest.empty()) {
                break;
            }
            sip::name_addr entry;
            bool found = false;
            if (!sip::parse_name_addr(rest, entry, &rest)) {
                return {};
            }
            const std::string_view index = sip::find_param(entry.params, "index", &found);
            if (!found || !valid_index(index) || seen.size() == max_history_entries ||
                std::find(seen.begin(), seen.end(), index) != seen.end()) {
                return {};
            }
            seen.push_back(index);
        }
    }
    if (seen.empty()) {
        return {};
    }
    // The entry appended after them goes under the last one: its index must be new.
    const std::string next = std::string(seen.back()) + ".1";
    if (std::find(seen.begin(), seen.end(), next) != seen.end()) {
        return {};
    }
    return std::string(seen.back());
}

std::string history_info_line(std::string_view parent, std::string_view called_user, std::string_view host,
                              std::string_view target_uri, std::string_view reason) {
    // RFC 4458: the cause is a URI parameter, before any URI headers.
    std::string target(target_uri);
    target.insert(std::min(target.find('?'), target.size()), ";cause=" + std::to_string(history_info_cause(reason)));
    std::string line = "History-Info: ";
    std::string index(parent);
    if (parent.empty()) {
        line += "<sip:" + std::string(called_user) + "@" + std::string(host) + ">;index=1, ";
        index = "1";
    }
    line += "<" + target + ">;index=" + index + ".1;mp=" + index + "\r\n";
    return line;
}

}  // namespace sf::control
