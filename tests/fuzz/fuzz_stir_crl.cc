// libFuzzer target: CRL bodies (control/stir_crl.cc), what an STI certificate's CRL
// Distribution Point serves: anyone's bytes until its signature is checked. The lab's STI root
// (configs/lab-stir-ca.pem) is the one trusted signer, and the seeds are the lab CRL
// (configs/lab-stir.crl, which revokes lab-stir-cert-revoked.pem), as DER and as PEM.
// Oracles beyond "no crash, no UB":
//   - storing is deterministic;
//   - a CRL refused leaves its URL unavailable, one kept is valid, with at most max_entries
//     entries, for a day at most;
//   - a DER CRL that is kept is refused once a byte of its signature changes (nothing but the
//     lab root's signature makes a list count), and then says nothing of any certificate;
//   - with a grace period ([stir] crl_grace), a body refused when the lab CRL is due again
//     leaves the lab CRL answering, stale, as it did; one kept replaces it.

#include "stir_crl.hh"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifndef SF_SOURCE_ROOT
#error "SF_SOURCE_ROOT: the source tree (configs/lab-stir-*.pem)"
#endif

using namespace sf::control;

namespace {

constexpr int64_t now_s = 1796550000;  // 2026-12-06: within the lab CRL's thisUpdate..nextUpdate
const std::string url = "https://127.0.0.1:8443/lab-stir.crl";

std::string read(const char* name) {
    std::ifstream in(std::string(SF_SOURCE_ROOT) + "/configs/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

X509* certificate(const char* name) {
    const std::string pem = read(name);
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (x == nullptr) {
        __builtin_trap();  // the lab's certificates are missing: nothing here would mean anything
    }
    return x;
}

std::string key_of(const char* name) {
    X509* x = certificate(name);
    std::string key = revocation_lists::revocation_key(x);
    X509_free(x);
    return key;
}

struct lab {
    X509* root = certificate("lab-stir-ca.pem");  // for the whole run
    std::vector<std::string> keys{key_of("lab-stir-cert-revoked.pem"), key_of("lab-stir-cert-cdp.pem")};
    std::string crl = read("lab-stir.crl");
};

// The lab CRL kept with a grace period, then `body` fetched when it is due again.
void renewed_within_grace(const lab& l, const std::string& body) {
    revocation_lists lists;
    lists.trust_signer(l.root);
    lists.set_grace(3600);
    if (!lists.store(url, l.crl, now_s).empty()) {
        __builtin_trap();  // the lab CRL must count at now_s
    }
    const std::vector<std::string> issuers{revocation_lists::name_key(l.root)};
    const revocation_lists::status before = lists.check(url, l.keys, issuers, now_s);
    const int64_t due = lists.cached(now_s).at(0).expires_s;
    const std::string why = lists.store(url, body, due);
    const auto all = lists.cached(due);
    if (all.size() != 1) {
        __builtin_trap();
    }
    if (!why.empty() &&
        (std::string(all[0].state) != "stale" || lists.check(url, l.keys, issuers, due) != before ||
         all[0].expires_s != due + revocation_lists::stale_retry_s)) {
        __builtin_trap();  // a refused renewal must leave the last good list answering
    }
    if (why.empty() && std::string(all[0].state) != "valid") {
        __builtin_trap();
    }
}

revocation_lists::status stored(const lab& l, const std::string& body, std::string& why,
                                revocation_lists::listed& seen) {
    revocation_lists lists;
    lists.trust_signer(l.root);
    why = lists.store(url, body, now_s);
    const auto all = lists.cached(now_s);
    if (all.size() != 1 || all[0].url != url) {
        __builtin_trap();
    }
    seen = all[0];
    return lists.check(url, l.keys, {revocation_lists::name_key(l.root)}, now_s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static lab l;
    const std::string body(reinterpret_cast<const char*>(data), size);
    std::string why, again;
    revocation_lists::listed seen, seen_again;
    const revocation_lists::status s = stored(l, body, why, seen);
    if (stored(l, body, again, seen_again) != s || again != why || seen_again.revoked != seen.revoked) {
        __builtin_trap();  // not deterministic
    }
    renewed_within_grace(l, body);
    if (!why.empty()) {
        if (s != revocation_lists::status::unavailable || std::string(seen.state) != "refused") {
            __builtin_trap();
        }
        return 0;
    }
    if (std::string(seen.state) != "valid" || seen.revoked > revocation_lists::max_entries ||
        seen.expires_s <= now_s || seen.expires_s > now_s + 86400 ||
        (s != revocation_lists::status::good && s != revocation_lists::status::revoked)) {
        __builtin_trap();
    }
    // A DER CRL ends with its signature (a BIT STRING): change its last byte and it must not count.
    const auto* p = reinterpret_cast<const unsigned char*>(body.data());
    X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(body.size()));
    const bool der = crl != nullptr && p == reinterpret_cast<const unsigned char*>(body.data()) + body.size();
    X509_CRL_free(crl);
    if (der && !body.empty()) {
        std::string forged = body;
        forged.back() = static_cast<char>(forged.back() ^ 0x01);
        if (stored(l, forged, why, seen) != revocation_lists::status::unavailable || why.empty()) {
            __builtin_trap();  // a list counted without the root's signature
        }
    }
    return 0;
}
