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
#include <vector>

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
    std::string crl_url;         ///< a CRL Distribution Points URI; "" = none
    std::string crl_issuer_cn;   ///< that point's cRLIssuer (an indirect CRL's signer); "" = none
    long serial = 0;             ///< 0 = the next of a counter
    std::string key_usage;       ///< the keyUsage extension's value; "" = a CA's or a signer's, by `ca`
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
    static long serial = 1000;
    ASN1_INTEGER_set(X509_get_serialNumber(x), spec.serial != 0 ? spec.serial : ++serial);
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
    add(NID_key_usage, !spec.key_usage.empty() ? spec.key_usage
                       : spec.ca               ? "critical,keyCertSign,cRLSign"
                                               : "critical,digitalSignature");
    if (!spec.crl_url.empty() && spec.crl_issuer_cn.empty()) {
        add(NID_crl_distribution_points, "URI:" + spec.crl_url);
    } else if (!spec.crl_url.empty()) {
        // No config syntax for a cRLIssuer that short: the structure by hand.
        auto uri = [](const std::string& text) {
            GENERAL_NAME* gn = GENERAL_NAME_new();
            ASN1_IA5STRING* s = ASN1_IA5STRING_new();
            ASN1_STRING_set(s, text.data(), static_cast<int>(text.size()));
            GENERAL_NAME_set0_value(gn, GEN_URI, s);
            return gn;
        };
        DIST_POINT* dp = DIST_POINT_new();
        dp->distpoint = DIST_POINT_NAME_new();
        dp->distpoint->type = 0;
        dp->distpoint->name.fullname = GENERAL_NAMES_new();
        sk_GENERAL_NAME_push(dp->distpoint->name.fullname, uri(spec.crl_url));
        dp->CRLissuer = GENERAL_NAMES_new();
        GENERAL_NAME* dir = GENERAL_NAME_new();
        GENERAL_NAME_set0_value(dir, GEN_DIRNAME, name_of(spec.crl_issuer_cn));
        sk_GENERAL_NAME_push(dp->CRLissuer, dir);
        CRL_DIST_POINTS* points = CRL_DIST_POINTS_new();
        sk_DIST_POINT_push(points, dp);
        X509_add1_ext_i2d(x, NID_crl_distribution_points, points, 0, 0);
        CRL_DIST_POINTS_free(points);
    }
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

/// What a test CRL (RFC 5280 5) is: its issuer, the serial numbers it revokes, its dates and the
/// ways a CRL can be one a verifier must not rely on.
struct crl_spec {
    std::string issuer_cn;
    std::string issuer_key_pem;
    std::vector<long> revoked;     ///< serial numbers
    std::string entries_issuer_cn;  ///< "" = none; else an indirect CRL: its entries name this issuer (certificateIssuer)
    long this_update_s = -60;      ///< relative to now
    long next_update_s = 3600;     ///< relative to now; 0 = no nextUpdate
    bool delta = false;            ///< a deltaCRLIndicator (critical)
    bool unknown_critical = false;  ///< a critical extension nobody understands
    bool only_some_reasons = false;  ///< an issuingDistributionPoint limited to some reasons
    bool der = false;              ///< DER instead of PEM
};

/// A CRL as `spec` says, signed with SHA-256 by the issuer's key.
inline std::string crl_of(const crl_spec& spec) {
    EVP_PKEY* key = read_private_key(spec.issuer_key_pem);
    X509_CRL* crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);  // v2: extensions
    X509_NAME* issuer = X509_NAME_new();
    X509_NAME_add_entry_by_txt(issuer, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(spec.issuer_cn.c_str()),
                               -1, -1, 0);
    X509_CRL_set_issuer_name(crl, issuer);
    X509_NAME_free(issuer);
    ASN1_TIME* t = X509_gmtime_adj(nullptr, spec.this_update_s);
    X509_CRL_set1_lastUpdate(crl, t);
    if (spec.next_update_s != 0) {
        X509_gmtime_adj(t, spec.next_update_s);
        X509_CRL_set1_nextUpdate(crl, t);
    }
    for (size_t i = 0; i < spec.revoked.size(); ++i) {
        X509_REVOKED* r = X509_REVOKED_new();
        ASN1_INTEGER* serial = ASN1_INTEGER_new();
        ASN1_INTEGER_set(serial, spec.revoked[i]);
        X509_REVOKED_set_serialNumber(r, serial);
        ASN1_INTEGER_free(serial);
        X509_gmtime_adj(t, spec.this_update_s - 10);
        X509_REVOKED_set_revocationDate(r, t);
        if (i == 0 && !spec.entries_issuer_cn.empty()) {
            GENERAL_NAMES* names = GENERAL_NAMES_new();
            GENERAL_NAME* gn = GENERAL_NAME_new();
            X509_NAME* n = X509_NAME_new();
            X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(spec.entries_issuer_cn.c_str()), -1, -1, 0);
            GENERAL_NAME_set0_value(gn, GEN_DIRNAME, n);
            sk_GENERAL_NAME_push(names, gn);
            X509_REVOKED_add1_ext_i2d(r, NID_certificate_issuer, names, 1, 0);
            GENERAL_NAMES_free(names);
        }
        X509_CRL_add0_revoked(crl, r);
    }
    ASN1_TIME_free(t);
    auto add_integer = [crl](int nid, long value, int critical) {
        ASN1_INTEGER* v = ASN1_INTEGER_new();
        ASN1_INTEGER_set(v, value);
        X509_CRL_add1_ext_i2d(crl, nid, v, critical, 0);
        ASN1_INTEGER_free(v);
    };
    add_integer(NID_crl_number, 1, 0);
    if (spec.delta) {
        add_integer(NID_delta_crl, 1, 1);  // the base CRL's number
    }
    if (spec.unknown_critical) {
        ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
        ASN1_OCTET_STRING* os = ASN1_OCTET_STRING_new();
        ASN1_OCTET_STRING_set(os, reinterpret_cast<const unsigned char*>("\x05\x00"), 2);
        X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 1, os);
        X509_CRL_add_ext(crl, ext, -1);
        X509_EXTENSION_free(ext);
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(oid);
    }
    if (spec.only_some_reasons) {
        ISSUING_DIST_POINT* idp = ISSUING_DIST_POINT_new();
        idp->onlysomereasons = ASN1_BIT_STRING_new();
        ASN1_BIT_STRING_set_bit(idp->onlysomereasons, 1, 1);  // keyCompromise
        X509_CRL_add1_ext_i2d(crl, NID_issuing_distribution_point, idp, 1, 0);
        ISSUING_DIST_POINT_free(idp);
    }
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, key, EVP_sha256());
    std::string out;
    if (spec.der) {
        unsigned char* der = nullptr;
        const int n = i2d_X509_CRL(crl, &der);
        out.assign(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
        OPENSSL_free(der);
    } else {
        BIO* bio = BIO_new(BIO_s_mem());
        PEM_write_bio_X509_CRL(bio, crl);
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        out.assign(data, static_cast<size_t>(n));
        BIO_free(bio);
    }
    X509_CRL_free(crl);
    EVP_PKEY_free(key);
    return out;
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
