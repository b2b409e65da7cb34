#include "capture_api.hh"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <ctime>
#include <filesystem>
#include <sstream>
#include <system_error>

#include "json_writer.hh"
#include "log.hh"

namespace sf::control {

namespace {

api_response error(int status, const std::string& why) {
    json_writer j;
    j.begin_object().key("error").value(why).end_object();
    return {status, "application/json", j.take()};
}

/// capture-20261205-231501.pcapng, in UTC.
std::string default_file_name() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "capture-%Y%m%d-%H%M%S.pcapng", &tm);
    return buf;
}

/// `doc`'s `key` as a whole number into `out` (left alone when absent); false if it is not one.
/// (ptree's get<T>(key, default) answers the default for a value that does not convert.)
bool whole_number(const boost::property_tree::ptree& doc, const char* key, uint64_t& out) {
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

/// `doc`'s `key` as text into `out` (left alone when absent); false for an object or array.
bool text(const boost::property_tree::ptree& doc, const char* key, std::string& out) {
    const auto child = doc.get_child_optional(key);
    if (!child) {
        return true;
    }
    if (!child->empty()) {
        return false;
    }
    out = child->data();
    return true;
}

std::string status_json(const dp::capture_status& s, uint64_t now_ms) {
    json_writer j;
    j.begin_object().key("running").value(s.running);
    if (!s.path.empty()) {
        const uint64_t until = s.running ? now_ms : s.ended_ms;
        j.key("file").value(s.path).key("filter").value(s.filter);
        j.key("matched").value(s.matched).key("written").value(s.written).key("bytes").value(s.bytes);
        j.key("dropped").value(s.dropped);
        j.key("seconds").value(static_cast<double>(until - s.started_ms) / 1000.0);
        if (!s.running) {
            j.key("ended_by").value(s.ended_by);
        }
    }
    if (!s.error.empty()) {
        j.key("error").value(s.error);
    }
    j.end_object();
    return j.take();
}

}  // namespace

bool capture_api::valid_file_name(const std::string& name) {
    if (name.empty() || name.size() > 128 || name[0] == '.') {
        return false;
    }
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

api_response capture_api::start(const std::string& body, uint64_t now_ms) {
    if (capture_.running()) {
        return error(409, "a capture is running: POST /v1/capture/stop first");
    }
    boost::property_tree::ptree doc;
    try {
        if (!body.empty()) {
            std::istringstream in(body);
            boost::property_tree::read_json(in, doc);
        }
    } catch (const std::exception&) {
        return error(400, "expected a JSON object: filter (text), seconds, packets, snaplen (numbers), file (text)");
    }
    dp::capture_request req;
    uint64_t seconds = std::min<uint64_t>(60, cfg_.max_seconds);
    uint64_t snaplen = 0;
    req.max_packets = cfg_.max_packets;
    std::string file;
    for (const auto& [key, out] : {std::pair<const char*, uint64_t*>{"seconds", &seconds},
                                   {"packets", &req.max_packets}, {"snaplen", &snaplen}}) {
        if (!whole_number(doc, key, *out)) {
            return error(400, std::string(key) + ": expected a whole number");
        }
    }
    for (const auto& [key, out] : {std::pair<const char*, std::string*>{"filter", &req.filter}, {"file", &file}}) {
        if (!text(doc, key, *out)) {
            return error(400, std::string(key) + ": expected text");
        }
    }
    if (seconds == 0 || seconds > cfg_.max_seconds) {
        return error(400, "seconds: expected 1.." + std::to_string(cfg_.max_seconds) + " ([capture] max_seconds)");
    }
    if (req.max_packets == 0 || req.max_packets > cfg_.max_packets) {
        return error(400, "packets: expected 1.." + std::to_string(cfg_.max_packets) + " ([capture] max_packets)");
    }
    if (snaplen != 0 && (snaplen < 64 || snaplen > 65535)) {
        return error(400, "snaplen: expected 0 (whole frames) or 64..65535");
    }
    req.snaplen = static_cast<uint32_t>(snaplen);
    if (file.empty()) {
        file = default_file_name();
    } else if (!valid_file_name(file)) {
        return error(400, "file: expected a name of letters, digits, '.', '-' and '_' (not starting with '.'), "
                          "written in [capture] dir");
    }
    if (const std::string err = dp::packet_capture::check_filter(req.filter); !err.empty()) {
        return error(400, err);
    }
    std::error_code ec;
    std::filesystem::create_directories(cfg_.dir, ec);
    if (ec) {
        return error(500, cfg_.dir + ": " + ec.message());
    }
    req.path = (std::filesystem::path(cfg_.dir) / file).string();
    req.max_ms = seconds * 1000;
    req.comment = "sipferry capture, filter: " + (req.filter.empty() ? std::string("(none)") : req.filter);
    if (std::filesystem::exists(req.path, ec)) {
        return error(409, req.path + " exists (captures never overwrite a file)");
    }
    if (const std::string err = capture_.start(req, now_ms); !err.empty()) {
        return error(500, err);
    }
    log_info("capture: started to %s for at most %llu s and %llu frames, filter '%s'", req.path.c_str(),
             static_cast<unsigned long long>(seconds), static_cast<unsigned long long>(req.max_packets),
             req.filter.c_str());
    return {200, "application/json", status_json(capture_.status(), now_ms)};
}

api_response capture_api::stop(uint64_t now_ms) {
    if (capture_.running()) {
        capture_.stop("request", now_ms);
        const dp::capture_status s = capture_.status();
        log_info("capture: %s stopped by request, %llu frames written", s.path.c_str(),
                 static_cast<unsigned long long>(s.written));
    }
    return status(now_ms);
}

void capture_api::poll(uint64_t now_ms) {
    if (!capture_.running()) {
        return;
    }
    capture_.poll(now_ms);
    if (!capture_.running()) {
        const dp::capture_status s = capture_.status();
        log_info("capture: %s ended (%s), %llu frames written, %llu dropped%s%s", s.path.c_str(), s.ended_by.c_str(),
                 static_cast<unsigned long long>(s.written), static_cast<unsigned long long>(s.dropped),
                 s.error.empty() ? "" : ": ", s.error.c_str());
    }
}

api_response capture_api::status(uint64_t now_ms) const {
    return {200, "application/json", status_json(capture_.status(), now_ms)};
}

}  // namespace sf::control
