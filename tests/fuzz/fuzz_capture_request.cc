// libFuzzer target: a packet-capture request's JSON (control/capture_request.hh), the operator's
// input to POST /v1/capture, read against fixed limits (max_seconds 600, max_packets 1000).
//
// Oracles beyond "no crash, no UB":
// - deterministic;
// - accepted: every field within its limits (seconds 1..600, packets 1..1000, snaplen 0 or
//   64..65535), the file empty or a plain name (no '/', not starting with '.', at most 128,
//   letters, digits, '.', '-', '_'), filter and call well-formed UTF-8 without NUL (what
//   json_writer writes back byte for byte), and the request written back as JSON (json_writer) reads
//   back to the same fields;
// - refused: the error names the field at fault or says it is not a JSON object, and the
//   output is left as it was.

#include "capture_request.hh"
#include "json_writer.hh"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace sf::control;

namespace {

void check(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

bool same(const capture_ask& a, const capture_ask& b) {
    return a.filter == b.filter && a.call == b.call && a.file == b.file && a.seconds == b.seconds && a.packets == b.packets &&
           a.snaplen == b.snaplen;
}

bool plain_name(const std::string& n) {
    if (n.empty() || n.size() > 128 || n[0] == '.') {
        return false;
    }
    for (const char c : n) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}

bool starts(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    capture_config cfg;
    cfg.max_seconds = 600;
    cfg.max_packets = 1000;
    const std::string body(reinterpret_cast<const char*>(data), size);

    capture_ask sentinel;
    sentinel.filter = "untouched";
    sentinel.seconds = 12345;
    capture_ask a = sentinel;
    const std::string err = parse_capture_request(body, cfg, a);
    capture_ask again = sentinel;
    check(parse_capture_request(body, cfg, again) == err && same(a, again));

    if (!err.empty()) {
        check(same(a, sentinel));
        check(starts(err, "expected a JSON object") || starts(err, "seconds: ") || starts(err, "packets: ") ||
              starts(err, "snaplen: ") || starts(err, "filter: ") || starts(err, "file: ") ||
              starts(err, "call: "));
        return 0;
    }
    check(a.seconds >= 1 && a.seconds <= 600);
    check(a.packets >= 1 && a.packets <= 1000);
    check(a.snaplen == 0 || (a.snaplen >= 64 && a.snaplen <= 65535));
    check(a.file.empty() || (plain_name(a.file) && a.file.find('/') == std::string::npos));
    for (const std::string* t : {&a.filter, &a.call}) {
        check(valid_utf8(*t) && t->find('\0') == std::string::npos);
    }

    json_writer j;
    j.begin_object().key("filter").value(a.filter).key("seconds").value(a.seconds).key("packets").value(a.packets);
    j.key("snaplen").value(uint64_t{a.snaplen});
    if (!a.file.empty()) {
        j.key("file").value(a.file);
    }
    if (!a.call.empty()) {
        j.key("call").value(a.call);
    }
    j.end_object();
    capture_ask back;
    check(parse_capture_request(j.str(), cfg, back).empty() && same(a, back));
    return 0;
}
