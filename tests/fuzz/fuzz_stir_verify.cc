// libFuzzer target: Identity header values (control/stir_verify.cc) taken apart and verified
// against the lab's STI root and certificate (configs/lab-stir-ca.pem, lab-stir-cert.pem, whose
// key configs/lab-stir.key signed the seeds), at a fixed time so that the seeds stay fresh.
// Oracles beyond "no crash, no UB":
//   - verifying is deterministic, and an input that does not parse never passes;
//   - a PASSporT that passes names the lab certificate and an attestation A, B or C, and fails
//     once any character of its signature is changed (nothing but the signature makes it pass).

#include "stir_verify.hh"

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static lab l;
    const std::string value(reinterpret_cast<const char*>(data), size);
    parsed_identity p;
    const bool parsed = parse_identity(value, p).empty();
    (void)l.verifier->missing_certificate({value}, seed_time);
    // The numbers the PASSporT claims, as if the call carried them: the signature decides.
    const std::string orig = parsed ? p.orig_tn : "15550100";
    const std::string dest = parsed && !p.dest_tns.empty() ? p.dest_tns.front() : "15551234";
    const verification v = l.verifier->verify({value}, orig, dest, seed_time);
    const verification again = l.verifier->verify({value}, orig, dest, seed_time);
    if (v.status != again.status || v.reason != again.reason || v.attest != again.attest) {
        __builtin_trap();
    }
    if (v.status == verstat::failed && v.reason.empty()) {
        __builtin_trap();
    }
    if (v.status != verstat::passed) {
        return 0;
    }
    if (!parsed || p.info != lab_url || (v.attest != 'A' && v.attest != 'B' && v.attest != 'C')) {
        __builtin_trap();
    }
    // Change one character of the signature (base64url: another character is another value).
    const size_t sig_start = value.rfind('.', value.find(';')) + 1;
    const size_t pos = sig_start + (size % 40);
    if (pos < value.find(';') && pos < value.size()) {
        std::string forged = value;
        forged[pos] = forged[pos] == 'A' ? 'B' : 'A';
        if (l.verifier->verify({forged}, orig, dest, seed_time).status == verstat::passed) {
            __builtin_trap();
        }
    }
    return 0;
}
