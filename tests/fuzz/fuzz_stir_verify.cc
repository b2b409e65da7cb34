// libFuzzer target: Identity header values (control/stir_verify.cc) taken apart and verified
// against the lab's STI root and certificate (configs/lab-stir-ca.pem, lab-stir-cert.pem, whose
// key configs/lab-stir.key signed the seeds), at a fixed time so that the seeds stay fresh.
// An input is up to eight values, one per line: a SHAKEN PASSporT with the div PASSporTs (RFC
// 8946) of a diverted call, say. Oracles beyond "no crash, no UB":
//   - verifying is deterministic, and inputs none of which parse never pass;
//   - a call that passes names the lab certificate and an attestation A, B or C, and fails once
//     a character of every signature is changed (nothing but the signatures make it pass);
//   - `diverted_from` only on a call that passed, and only a number a div PASSporT names.

#include "stir_verify.hh"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef SF_SOURCE_ROOT
#error "SF_SOURCE_ROOT: the source tree (configs/lab-stir-*.pem)"
#endif

using namespace sf::control;

namespace {

constexpr int64_t seed_time = 1796550000;  // 2026-12-06: the iat of the seeds in the corpus
const std::string lab_url = "https://127.0.0.1:8443/lab-stir-cert.pem";

std::string read(const char* name) {
    std::ifstream in(std::string(SF_SOURCE_ROOT) + "/configs/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

struct lab {
    std::unique_ptr<identity_verifier> verifier;
    lab() {
        std::string why;
        verifier = identity_verifier::from_pem(read("lab-stir-ca.pem"), 60, why);
        if (!verifier || !verifier->store_certificate(lab_url, read("lab-stir-cert.pem"), seed_time, 0).empty()) {
            __builtin_trap();  // the lab's certificates are broken: nothing here would mean anything
        }
    }
};

// The input: up to eight Identity values, one per line (a call's Identity headers).
std::vector<std::string> values_of(std::string_view in) {
    std::vector<std::string> out;
    while (out.size() < 8) {  // as many as the B2BUA looks at
        const size_t nl = in.find('\n');
        out.emplace_back(in.substr(0, nl));
        if (nl == std::string_view::npos) {
            break;
        }
        in.remove_prefix(nl + 1);
    }
    return out;
}

verification verify(const lab& l, const std::vector<std::string>& values, const std::string& orig, const std::string& dest) {
    return l.verifier->verify(std::vector<std::string_view>(values.begin(), values.end()), orig, dest, seed_time);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static lab l;
    const std::vector<std::string> values = values_of(std::string_view(reinterpret_cast<const char*>(data), size));
    std::vector<parsed_identity> parsed;
    for (const std::string& value : values) {
        parsed_identity p;
        if (parse_identity(value, p).empty()) {
            parsed.push_back(std::move(p));
        }
    }
    (void)l.verifier->missing_certificate(std::vector<std::string_view>(values.begin(), values.end()), seed_time);
    // The numbers as if the call carried them, so that the signatures decide: the caller of the
    // first PASSporT, the destination of the last (the end of a chain of div PASSporTs).
    const std::string orig = parsed.empty() ? "15550100" : parsed.front().orig_tn;
    const std::string dest = !parsed.empty() && !parsed.back().dest_tns.empty() ? parsed.back().dest_tns.front() : "15551234";
    const verification v = verify(l, values, orig, dest);
    const verification again = verify(l, values, orig, dest);
    if (v.status != again.status || v.reason != again.reason || v.attest != again.attest ||
        v.diverted_from != again.diverted_from || v.ppi != again.ppi) {
        __builtin_trap();
    }
    if (v.status == verstat::failed && v.reason.empty()) {
        __builtin_trap();
    }
    if (!v.diverted_from.empty() &&
        (v.status != verstat::passed ||
         std::none_of(parsed.begin(), parsed.end(), [&](const parsed_identity& p) { return p.div_tn == v.diverted_from; }))) {
        __builtin_trap();  // a diversion is only told of a call that passed through that div PASSporT
    }
    if (v.status != verstat::passed) {
        return 0;
    }
    if (std::none_of(parsed.begin(), parsed.end(), [](const parsed_identity& p) { return p.info == lab_url; }) ||
        (v.attest != 'A' && v.attest != 'B' && v.attest != 'C')) {
        __builtin_trap();
    }
    // Change one character of every signature (base64url: another character is another value):
    // nothing but the signatures made it pass.
    std::vector<std::string> forged = values;
    for (std::string& value : forged) {
        const size_t semi = value.find(';');
        const size_t dot = value.rfind('.', semi);
        const size_t pos = dot == std::string::npos ? semi : dot + 1 + (size % 40);
        if (pos < semi && pos < value.size()) {
            value[pos] = value[pos] == 'A' ? 'B' : 'A';
        }
    }
    if (verify(l, forged, orig, dest).status == verstat::passed) {
        __builtin_trap();
    }
    return 0;
}
