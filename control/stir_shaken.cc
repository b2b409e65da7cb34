#include "stir_shaken.hh"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>

namespace sf::control {

std::string canonical_tn(std::string_view user) {
    std::string tn;
    size_t i = 0;
    if (!user.empty() && user[0] == '+') {
        i = 1;
    }
    for (; i < user.size(); ++i) {
        const char ch = user[i];
        if (ch >= '0' && ch <= '9') {
            tn += ch;
        } else if (ch != '-' && ch != '.' && ch != '(' && ch != ')') {
            return {};  // a name, a parameter, anything but a number
        }
        if (tn.size() > 15) {
            return {};
        }
    }
    return tn;
}

std::string passport_header_json(std::string_view x5u, std::string_view ppt) {
    // x5u is valid_x5u(), ppt one of ours: nothing in them needs escaping in JSON.
    return R"({"alg":"ES256","ppt":")" + std::string(ppt) + R"(","typ":"passport","x5u":")" + std::string(x5u) + R"("})";
}

std::string passport_payload_json(const passport_claims& c) {
    // Digits, a letter and a UUID: nothing to escape. Keys in lexicographic order (RFC 8225 9).
    return std::string(R"({"attest":")") + c.attest + R"(","dest":{"tn":[")" + c.dest_tn + R"("]},"iat":)" +
           std::to_string(c.iat) + R"(,"orig":{"tn":")" + c.orig_tn + R"("},"origid":")" + c.origid + R"("})";
}

std::string passport_payload_json(const div_claims& c) {
    // Canonical telephone numbers: digits only. Keys in lexicographic order.
    return R"({"dest":{"tn":[")" + c.dest_tn + R"("]},"div":{"tn":")" + c.div_tn + R"("},"iat":)" + std::to_string(c.iat) +
           R"(,"orig":{"tn":")" + c.orig_tn + R"("}})";
}

std::string base64url(std::string_view bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                           static_cast<uint8_t>(bytes[i + 2]);
        out += alphabet[v >> 18];
        out += alphabet[v >> 12 & 63];
        out += alphabet[v >> 6 & 63];
        out += alphabet[v & 63];
    }
    if (const size_t rest = bytes.size() - i; rest != 0) {
        const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | (rest == 2 ? static_cast<uint8_t>(bytes[i + 1]) << 8 : 0);
        out += alphabet[v >> 18];
        out += alphabet[v >> 12 & 63];
        if (rest == 2) {
            out += alphabet[v >> 6 & 63];
        }
    }
    return out;
}

std::string random_uuid() {
    std::array<uint8_t, 16> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
        return {};
    }
    b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
    b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // the RFC's variant
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out += '-';
        }
        out += hex[b[i] >> 4];
        out += hex[b[i] & 15];
    }
    return out;
}

bool passable_identity(std::string_view value) {
    if (value.empty() || value.size() > 4096) {
        return false;
    }
    for (const char ch : value) {
        if (ch < ' ' || ch > '~') {
            return false;
        }
    }
    return true;
}

bool valid_x5u(std::string_view url) {
    if (url.size() > 512 || !(url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0)) {
        return false;
    }
    for (const char ch : url) {
        if (ch <= ' ' || ch > '~' || ch == '"' || ch == '<' || ch == '>' || ch == ';' || ch == '\\') {
            return false;
        }
    }
    return url.size() > std::strlen("https://");
}

std::unique_ptr<identity_signer> identity_signer::from_pem(const std::string& pem, std::string x5u, std::string& error) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) {
        error = "out of memory";
        return nullptr;
    }
    EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key == nullptr) {
        error = "not a PEM private key";
        return nullptr;
    }
    char group[64] = {};
    size_t len = 0;
    if (!EVP_PKEY_is_a(key, "EC") ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1 ||
        std::strcmp(group, "prime256v1") != 0) {
        EVP_PKEY_free(key);
        error = "not an EC P-256 key (SHAKEN signs with ES256)";
        return nullptr;
    }
    std::unique_ptr<identity_signer> s(new identity_signer);
    s->key_ = key;
    s->x5u_ = std::move(x5u);
    return s;
}

identity_signer::~identity_signer() { EVP_PKEY_free(static_cast<EVP_PKEY*>(key_)); }

std::string identity_signer::identity(const passport_claims& c) const {
    return sign("shaken", passport_payload_json(c));
}

std::string identity_signer::identity(const div_claims& c) const {
    return sign("div", passport_payload_json(c));
}

std::string identity_signer::sign(std::string_view ppt, const std::string& payload_json) const {
    const std::string signing_input = base64url(passport_header_json(x5u_, ppt)) + "." + base64url(payload_json);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) {
        return {};
    }
    std::array<unsigned char, 80> der{};  // an ECDSA-Sig-Value of P-256: at most 72 bytes
    size_t der_len = der.size();
    const bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(key_)) == 1 &&
                    EVP_DigestSign(ctx, der.data(), &der_len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                                   signing_input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        return {};
    }
    // JWS wants r and s as two 32-byte big-endian numbers, not DER (RFC 7518 3.4).
    const unsigned char* p = der.data();
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
    if (sig == nullptr) {
        return {};
    }
    std::array<unsigned char, 64> raw{};
    const bool both = BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw.data(), 32) == 32 &&
                      BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw.data() + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    if (!both) {
        return {};
    }
    return signing_input + "." + base64url(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size())) +
           ";info=<" + x5u_ + ">;alg=ES256;ppt=" + std::string(ppt);
}

}  // namespace sf::control
