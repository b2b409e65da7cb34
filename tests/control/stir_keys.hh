#pragma once
/// @file
/// Test helpers for STIR/SHAKEN (control/stir_shaken.hh): keys made with OpenSSL, and an
/// Identity header taken apart and its ES256 signature checked the way a verifier does (RFC 7515
/// compact form, RFC 7518 3.4 r||s), with nothing of the signer's code.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <string_view>

namespace sf::test {

/// A fresh private key as PEM: "P-256" and "P-384" (EC), "RSA" (2048 bits).
inline std::string private_key_pem(const std::string& kind) {
    EVP_PKEY* key = kind == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                  : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", kind.c_str());
    if (key == nullptr) {
        return {};
    }
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    EVP_PKEY_free(key);
    return pem;
}

/// base64url (no padding) -> bytes; false on a character outside the alphabet or a bad length.
inline bool base64url_decode(std::string_view in, std::string& out) {
    out.clear();
    uint32_t acc = 0;
    int bits = 0;
    if (in.size() % 4 == 1) {
        return false;
    }
    for (const char ch : in) {
        int v = -1;
        if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
        else if (ch >= 'a' && ch <= 'z') v = ch - 'a' + 26;
        else if (ch >= '0' && ch <= '9') v = ch - '0' + 52;
        else if (ch == '-') v = 62;
        else if (ch == '_') v = 63;
        if (v < 0) {
            return false;
        }
        acc = acc << 6 | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>(acc >> bits & 0xff);
        }
    }
    return true;
}

/// An Identity header value taken apart: the JOSE header and claims as JSON text, the
/// parameters after the JWS, and whether the signature verifies with `pem`'s public key.
struct identity_parts {
    std::string header, payload, params;
    bool verified = false;
    std::string error;
};

inline identity_parts check_identity(const std::string& value, const std::string& pem) {
    identity_parts r;
    const size_t semi = value.find(';');
    const std::string jws = value.substr(0, semi);
    r.params = semi == std::string::npos ? "" : value.substr(semi);
    const size_t d1 = jws.find('.'), d2 = jws.find('.', d1 + 1);
    std::string sig;
    if (d1 == std::string::npos || d2 == std::string::npos || !base64url_decode(jws.substr(0, d1), r.header) ||
        !base64url_decode(jws.substr(d1 + 1, d2 - d1 - 1), r.payload) || !base64url_decode(jws.substr(d2 + 1), sig)) {
        r.error = "not a compact JWS";
        return r;
    }
    if (sig.size() != 64) {
        r.error = "signature of " + std::to_string(sig.size()) + " bytes, ES256 has 64";
        return r;
    }
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    ECDSA_SIG* es = ECDSA_SIG_new();
    const auto* raw = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG_set0(es, BN_bin2bn(raw, 32, nullptr), BN_bin2bn(raw + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int der_len = i2d_ECDSA_SIG(es, &der);
    ECDSA_SIG_free(es);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const std::string input = jws.substr(0, d2);
    r.verified = key != nullptr && der_len > 0 && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                 EVP_DigestVerify(ctx, der, static_cast<size_t>(der_len),
                                  reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    EVP_PKEY_free(key);
    if (!r.verified) {
        r.error = "the signature does not verify";
    }
    return r;
}

}  // namespace sf::test
