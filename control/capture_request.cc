#include "capture_request.hh"

#include "json_writer.hh"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <sstream>
#include <utility>

namespace sf::control {

namespace {

using boost::property_tree::ptree;

/// `doc`'s `key` as a whole number into `out` (left alone when absent); false if it is not one.
/// (ptree's get<T>(key, default) answers the default for a value that does not convert.)
bool whole_number(const ptree& doc, const char* key, uint64_t& out) {
    const auto child = doc.get_child_optional(key);
    if (!child) {
        return true;
    }
    const std::string& v = child->data();
    if (!child->empty() || v.empty() || v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos) {
        return false;
    }
    out = std::stoull(v);
    return true;
}

/// `doc`'s `key` as text into `out` (left alone when absent); false for an object or array,
/// for bytes that are not UTF-8 (JSON text is UTF-8, RFC 8259 8.1; ptree passes them through)
/// and for a NUL ("\u0000"), which would cut the filter pcap_compile reads short: a capture
/// of more than was asked for.
bool text(const ptree& doc, const char* key, std::string& out) {
    const auto child = doc.get_child_optional(key);
    if (!child) {
        return true;
    }
    const std::string& v = child->data();
    if (!child->empty() || !valid_utf8(v) || v.find('\0') != std::string::npos) {
        return false;
    }
    out = v;
    return true;
}

}  // namespace

bool valid_capture_file_name(const std::string& name) {
    if (name.empty() || name.size() > 128 || name[0] == '.') {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
               c == '_';
    });
}

std::string parse_capture_request(const std::string& body, const capture_config& cfg, capture_ask& out) {
    ptree doc;
    try {
        if (!body.empty()) {
            std::istringstream in(body);
            boost::property_tree::read_json(in, doc);
        }
    } catch (const std::exception&) {
        return "expected a JSON object: filter, call, file (text), seconds, packets, snaplen (numbers)";
    }
    // A bare value reads as a ptree with data, an array as children with empty names: neither
    // is an object (an empty array is indistinguishable from {}: taken as one).
    bool object = doc.data().empty();
    for (const auto& [name, child] : doc) {
        object = object && !name.empty();
    }
    if (!object) {
        return "expected a JSON object: filter, call, file (text), seconds, packets, snaplen (numbers)";
    }
    capture_ask ask;
    ask.seconds = std::min<uint64_t>(60, cfg.max_seconds);
    ask.packets = cfg.max_packets;
    uint64_t snaplen = 0;
    for (const auto& [key, value] : {std::pair<const char*, uint64_t*>{"seconds", &ask.seconds},
                                     {"packets", &ask.packets}, {"snaplen", &snaplen}}) {
        if (!whole_number(doc, key, *value)) {
            return std::string(key) + ": expected a whole number";
        }
    }
    for (const auto& [key, value] : {std::pair<const char*, std::string*>{"filter", &ask.filter}, {"file", &ask.file},
                                     {"call", &ask.call}}) {
        if (!text(doc, key, *value)) {
            return std::string(key) + ": expected UTF-8 text";
        }
    }
    if (ask.seconds == 0 || ask.seconds > cfg.max_seconds) {
        return "seconds: expected 1.." + std::to_string(cfg.max_seconds) + " ([capture] max_seconds)";
    }
    if (ask.packets == 0 || ask.packets > cfg.max_packets) {
        return "packets: expected 1.." + std::to_string(cfg.max_packets) + " ([capture] max_packets)";
    }
    if (snaplen != 0 && (snaplen < 64 || snaplen > 65535)) {
        return "snaplen: expected 0 (whole frames) or 64..65535";
    }
    ask.snaplen = static_cast<uint32_t>(snaplen);
    if (!ask.file.empty() && !valid_capture_file_name(ask.file)) {
        return "file: expected a name of letters, digits, '.', '-' and '_' (not starting with '.'), "
               "written in [capture] dir";
    }
    out = std::move(ask);
    return "";
}

std::string capture_term::text() const {
    if (addr != 0) {
        return "(host " + ipv4_to_string(addr) + " and port " + std::to_string(port) + ")";
    }
    return last != port ? "portrange " + std::to_string(port) + "-" + std::to_string(last)
                        : "port " + std::to_string(port);
}

std::string call_filter::text(const std::vector<capture_term>& terms) {
    std::string f = "udp and (";
    for (size_t i = 0; i < terms.size(); ++i) {
        f += (i == 0 ? "" : " or ") + terms[i].text();
    }
    return f + ")";
}

}  // namespace sf::control
