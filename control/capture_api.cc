#include "capture_api.hh"

#include "capture_request.hh"

#include <algorithm>
#include <ctime>
#include <filesystem>
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

std::string status_json(const dp::capture_status& s, uint64_t now_ms, uint64_t call) {
    json_writer j;
    j.begin_object().key("running").value(s.running);
    if (call != 0) {
        j.key("call").value(call);  // the call it follows
    }
    if (!s.path.empty()) {
        const uint64_t until = s.running ? now_ms : s.ended_ms;
        j.key("file").value(s.path).key("filter").value(s.filter);
        j.key("matched").value(s.matched).key("written").value(s.written).key("bytes").value(s.bytes);
        j.key("dropped").value(s.dropped).key("filter_changes").value(s.filter_changes);
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

api_response capture_api::start(const std::string& body, uint64_t now_ms) {
    if (capture_.running()) {
        return error(409, "a capture is running: POST /v1/capture/stop first");
    }
    capture_ask ask;
    if (std::string err = parse_capture_request(body, cfg_, ask); !err.empty()) {
        return error(400, err);
    }
    dp::capture_request req;
    req.filter = ask.filter;
    call_filter f;
    if (!ask.call.empty()) {
        if (!call_filter_) {
            return error(400, "call: calls cannot be named here");
        }
        f = call_filter_(ask.call, 0);
        if (f.status != 200) {
            return {f.status, "application/json", f.error};
        }
        req.filter = combined(f.terms, ask.filter);
    }
    req.max_packets = ask.packets;
    req.snaplen = ask.snaplen;
    const uint64_t seconds = ask.seconds;
    const std::string file = ask.file.empty() ? default_file_name() : ask.file;
    std::error_code ec;
    std::filesystem::create_directories(cfg_.dir, ec);
    if (ec) {
        return error(500, cfg_.dir + ": " + ec.message());
    }
    req.path = (std::filesystem::path(cfg_.dir) / file).string();
    req.max_ms = seconds * 1000;
    req.max_bytes = cfg_.max_bytes;
    req.comment = "sipferry capture, filter: " + (req.filter.empty() ? std::string("(none)") : req.filter);
    if (std::filesystem::exists(req.path, ec)) {
        return error(409, req.path + " exists (captures never overwrite a file)");
    }
    if (const std::string err = capture_.start(req, now_ms); !err.empty()) {
        // start() compiles the filter before it makes anything: its refusals are the request's.
        return error(err.rfind("filter:", 0) == 0 ? 400 : 500, err);
    }
    call_ = f.call_id;
    call_terms_ = std::move(f.terms);
    operator_part_ = ask.filter;
    log_info("capture: started to %s for at most %llu s and %llu frames, filter '%s'", req.path.c_str(),
             static_cast<unsigned long long>(seconds), static_cast<unsigned long long>(req.max_packets),
             req.filter.c_str());
    return {200, "application/json", status_json(capture_.status(), now_ms, call_)};
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
    return {200, "application/json", status_json(capture_.status(), now_ms, call_)};
}

std::string capture_api::combined(const std::vector<capture_term>& terms, const std::string& operator_part) {
    const std::string call_part = call_filter::text(terms);
    return operator_part.empty() ? call_part : "(" + call_part + ") and (" + operator_part + ")";
}

void capture_api::follow() {
    if (call_ == 0 || !capture_.running()) {
        return;
    }
    const call_filter f = call_filter_({}, call_);
    if (f.status != 200) {
        return;  // the call has ended: what it had stays
    }
    bool grew = false;
    for (const capture_term& t : f.terms) {
        if (std::find(call_terms_.begin(), call_terms_.end(), t) == call_terms_.end()) {
            call_terms_.push_back(t);  // kept even if refused below: the refusal is logged once
            grew = true;
        }
    }
    if (!grew) {
        return;
    }
    if (const std::string err = capture_.refilter(combined(call_terms_, operator_part_)); !err.empty()) {
        log_info("capture: cannot follow call %llu any further (%s): the capture keeps its filter",
                 static_cast<unsigned long long>(call_), err.c_str());
        return;
    }
    log_info("capture: call %llu grew, filter now '%s'", static_cast<unsigned long long>(call_),
             capture_.status().filter.c_str());
}

void capture_api::call_joined(uint64_t gone, uint64_t into) {
    if (call_ != 0 && call_ == gone && capture_.running()) {
        log_info("capture: call %llu was joined into call %llu: following that one", static_cast<unsigned long long>(gone),
                 static_cast<unsigned long long>(into));
        call_ = into;  // its peers and ports join the filter before its next message leaves
    }
}

}  // namespace sf::control
