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
#include <openssl/x509.h>
#include <openssl/x509v3.h>

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

/// What a test certificate is: its subject's name, its issuer (self-signed when the issuer key is
/// empty), whether it is a CA, whether it carries SHAKEN's TNAuthList (RFC 8226) and an IP
/// subjectAltName (a TLS server's), and its validity around now.
struct cert_spec {
    std::string subject_cn = "sipferry test";
    std::string issuer_cn;       ///< "" = self-signed (subject_cn)
    std::string issuer_key_pem;  ///< "" = self-signed (the subject's key)
    bool ca = false;
    bool tn_auth_list = true;
    std::string tn_auth_list_der;  ///< the extension's value; "" = SPC "1234" (a carrier's)
    std::string ip_san;          ///< e.g. "127.0.0.1"; "" = none
    long not_before_s = -3600;   ///< relative to now
    long not_after_s = 86400;    ///< relative to now
};

inline EVP_PKEY* read_private_key(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return key;
}

/// An X.509 certificate (PEM) for `key_pem`'s public key as `spec` says, signed with SHA-256.
inline std::string certificate_pem(const std::string& key_pem, const cert_spec& spec) {
    EVP_PKEY* key = read_private_key(key_pem);
    EVP_PKEY* signer = spec.issuer_key_pem.empty() ? key : read_private_key(spec.issuer_key_pem);
    X509* x = X509_new();
    X509_set_version(x, 2);
    static long serial = 1;
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial);
    X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after_s);
    X509_set_pubkey(x, key);
    auto name_of = [](const std::string& cn) {
        X509_NAME* n = X509_NAME_new();
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        return n;
    };
    X509_NAME* subject = name_of(spec.subject_cn);
    X509_NAME* issuer = name_of(spec.issuer_cn.empty() ? spec.subject_cn : spec.issuer_cn);
    X509_set_subject_name(x, subject);
    X509_set_issuer_name(x, issuer);
    X509_NAME_free(subject);
    X509_NAME_free(issuer);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    };
    add(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE");
    add(NID_key_usage, spec.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    if (!spec.ip_san.empty()) {
        add(NID_subject_alt_name, "IP:" + spec.ip_san);
        add(NID_ext_key_usage, "serverAuth");
    }
    if (spec.tn_auth_list) {
        // TNAuthList (RFC 8226 9): SEQUENCE { [0] EXPLICIT IA5String "1234" } (an SPC).
        static const std::string spc_1234 = {0x30, 0x08, '\xa0', 0x06, 0x16, 0x04, '1', '2', '3', '4'};
        const std::string& der = spec.tn_auth_list_der.empty() ? spc_1234 : spec.tn_auth_list_der;
        ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.26", 1);
        ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(os, reinterpret_cast<const unsigned char*>(der.data()), static_cast<int>(der.size()));
        X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 0, os);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(oid);
    }
    X509_sign(x, signer, EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(n));
    BIO_free(bio);
    X509_free(x);
    if (signer != key) {
        EVP_PKEY_free(signer);
    }
    EVP_PKEY_free(key);
    return pem;
}

/// A JWS in compact form, ES256 (r||s), of any header and payload: PASSporTs a signer would not
/// make (a wrong typ, claims changed after signing...).
inline std::string sign_jws(const std::string& key_pem, const std::string& header_json, const std::string& payload_json,
                            std::string (*b64)(std::string_view)) {
    EVP_PKEY* key = read_private_key(key_pem);
    const std::string input = b64(header_json) + "." + b64(payload_json);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t der_len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, nullptr, &der_len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string der(der_len, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &der_len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(sig);
    return input + "." + b64(raw);
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
