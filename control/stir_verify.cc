#include "stir_verify.hh"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <algorithm>
#include <ctime>
#include <sstream>

#include "expiring_cache.hh"
#include "stir_shaken.hh"
#include "text.hh"

namespace sf::control {

namespace {

constexpr int64_t failure_keep_s = 30;       // a certificate that failed is asked for again after this
constexpr int64_t default_keep_s = 3600;     // a response without max-age
constexpr int64_t longest_keep_s = 86400;    // a far-future max-age does not pin a certificate for ever
constexpr size_t max_certificates = 1024;    // distinct URLs kept (a carrier has a handful)
constexpr size_t max_chain = 8;              // certificates read from one response
constexpr const char* tn_auth_list_oid = "1.3.6.1.5.5.7.1.26";  // RFC 8226 9

std::string_view unquote(std::string_view s) {
    return s.size() >= 2 && s.front() == '"' && s.back() == '"' ? s.substr(1, s.size() - 2) : s;
}

bool equals_lower(std::string_view a, std::string_view lower) {
    return a.size() == lower.size() &&
           std::equal(a.begin(), a.end(), lower.begin(), [](char x, char y) { return (x | 0x20) == y; });
}

// The parameters after the JWS: ;info=<url>;alg=ES256;ppt=shaken, in any order.
bool parse_params(std::string_view params, parsed_identity& out) {
    while (!params.empty()) {
        if (params.front() != ';') {
            return false;
        }
        params.remove_prefix(1);
        // A URL in < > may hold ';' of its own: the parameter ends after its '>'.
        const size_t open = params.find('<');
        const size_t semi = params.find(';');
        const size_t close = open < semi ? params.find('>', open) : std::string_view::npos;
        if (open < semi && close == std::string_view::npos) {
            return false;
        }
        const size_t end = open < semi ? params.find(';', close) : semi;
        std::string_view param = trim_view(params.substr(0, end));
        params = end == std::string_view::npos ? std::string_view() : params.substr(end);
        const size_t eq = param.find('=');
        const std::string_view name = trim_view(param.substr(0, eq));
        const std::string_view value = eq == std::string_view::npos ? std::string_view() : trim_view(param.substr(eq + 1));
        if (equals_lower(name, "info")) {
            if (value.size() < 2 || value.front() != '<' || value.back() != '>') {
                return false;
            }
            out.info = std::string(value.substr(1, value.size() - 2));
        } else if (equals_lower(name, "alg")) {
            out.alg_param = std::string(unquote(value));
        } else if (equals_lower(name, "ppt")) {
            out.ppt_param = std::string(unquote(value));
        }  // other parameters are ignored (RFC 8224 4.1: extensible)
    }
    return true;
}

using boost::property_tree::ptree;

bool read_json_object(const std::string& text, ptree& doc) {
    if (text.empty() || text.front() != '{') {
        return false;
    }
    try {
        std::istringstream in(text);
        boost::property_tree::read_json(in, doc);
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

std::string string_at(const ptree& doc, const char* path) {
    const auto v = doc.get_child_optional(ptree::path_type(path, '.'));
    return v && v->empty() ? v->data() : std::string();
}

// RFC 8225's claims of SHAKEN (RFC 8588): attest, dest.tn[], iat, orig.tn, origid.
bool parse_claims(const std::string& payload, parsed_identity& out) {
    ptree doc;
    if (!read_json_object(payload, doc)) {
        return false;
    }
    const std::string attest = string_at(doc, "attest");
    out.attest = attest.size() == 1 ? attest[0] : 0;
    out.orig_tn = string_at(doc, "orig.tn");
    out.origid = string_at(doc, "origid");
    out.div_tn = string_at(doc, "div.tn");  // RFC 8946: one destination, not an array
    if (const auto tns = doc.get_child_optional(ptree::path_type("dest.tn", '.')); tns && !tns->empty()) {
        for (const auto& [key, v] : *tns) {
            if (!key.empty() || !v.empty() || out.dest_tns.size() == 16) {
                return false;  // an object, not an array of strings (or an absurd one)
            }
            out.dest_tns.push_back(v.data());
        }
    }
    const std::string iat = string_at(doc, "iat");
    if (iat.empty() || iat.size() > 18 || !std::all_of(iat.begin(), iat.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return false;
    }
    out.iat = std::stoll(iat);
    return true;
}

struct x509_stack_deleter {
    void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};

int64_t not_after_s(const X509* cert) {
    std::tm tm{};
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) {
        return 0;
    }
    return static_cast<int64_t>(timegm(&tm));
}

verification failed(std::string reason, std::string ppi = {}) {
    verification v;
    v.status = verstat::failed;
    v.reason = std::move(reason);
    v.ppi = std::move(ppi);
    return v;
}

// The TNAuthList of `cert`, nullopt when it has none or it does not parse.
std::optional<tn_auth_list> tn_auth_list_of(X509* cert) {
    ASN1_OBJECT* oid = OBJ_txt2obj(tn_auth_list_oid, 1);
    const int at = X509_get_ext_by_OBJ(cert, oid, -1);
    ASN1_OBJECT_free(oid);
    if (at < 0) {
        return std::nullopt;
    }
    const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(X509_get_ext(cert, at));
    return parse_tn_auth_list(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                                               static_cast<size_t>(ASN1_STRING_length(value))));
}

}  // namespace

// ES256's signature is r||s (RFC 7518 3.4); OpenSSL verifies the DER form.
bool check_signature(const signature_check& c) {
    if (c.signature.size() != 64 || !c.key) {
        return false;
    }
    ECDSA_SIG* sig = ECDSA_SIG_new();
    const auto* p = reinterpret_cast<const unsigned char*>(c.signature.data());
    ECDSA_SIG_set0(sig, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
    unsigned char* der = nullptr;
    const int der_len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok = der_len > 0 && ctx != nullptr &&
                    EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(c.key.get())) == 1 &&
                    EVP_DigestVerify(ctx, der, static_cast<size_t>(der_len),
                                     reinterpret_cast<const unsigned char*>(c.input.data()), c.input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

std::vector<bool> check_signatures(const std::vector<signature_check>& checks) {
    std::vector<bool> valid;
    bool step_valid = true;
    for (const signature_check& c : checks) {
        valid.push_back(step_valid && check_signature(c));  // a step already failed: not checked
        step_valid = step_valid && valid.back();
        if (c.ends_step) {
            if (step_valid) {
                break;
            }
            step_valid = true;
        }
    }
    return valid;
}

std::vector<signature_check> prepared_verification::signature_checks() const {
    std::vector<signature_check> out;
    for (const step& s : steps) {
        out.insert(out.end(), s.checks.begin(), s.checks.end());
    }
    return out;
}

size_t prepared_verification::checks() const {
    size_t n = 0;
    for (const step& s : steps) {
        n += s.checks.size();
    }
    return n;
}

std::string_view to_string(verstat v) {
    switch (v) {
    case verstat::passed:
        return "TN-Validation-Passed";
    case verstat::failed:
        return "TN-Validation-Failed";
    case verstat::no_validation:
        return "No-TN-Validation";
    case verstat::not_verified:
        break;
    }
    return "";
}

bool base64url_decode(std::string_view in, std::string& out) {
    out.clear();
    if (in.size() % 4 == 1) {
        return false;
    }
    uint32_t acc = 0;
    int bits = 0;
    for (const char ch : in) {
        int v;
        if (ch >= 'A' && ch <= 'Z') {
            v = ch - 'A';
        } else if (ch >= 'a' && ch <= 'z') {
            v = ch - 'a' + 26;
        } else if (ch >= '0' && ch <= '9') {
            v = ch - '0' + 52;
        } else if (ch == '-' || ch == '_') {
            v = ch == '-' ? 62 : 63;
        } else {
            return false;
        }
        acc = (acc << 6 | static_cast<uint32_t>(v)) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>(acc >> bits & 0xff);
        }
    }
    return true;
}

std::string parse_identity(std::string_view value, parsed_identity& out) {
    out = parsed_identity{};
    if (!passable_identity(value)) {
        return "not 1..4096 printable characters";
    }
    const size_t semi = value.find(';');
    const std::string_view jws = trim_view(value.substr(0, semi));
    if (!parse_params(semi == std::string_view::npos ? std::string_view() : value.substr(semi), out)) {
        return "malformed parameters";
    }
    const size_t d1 = jws.find('.');
    const size_t d2 = d1 == std::string_view::npos ? d1 : jws.find('.', d1 + 1);
    if (d2 == std::string_view::npos || jws.find('.', d2 + 1) != std::string_view::npos) {
        return "not a JWS (three base64url parts)";
    }
    if (d2 == d1 + 1) {
        return "compact form (no claims): not supported";
    }
    std::string header, payload;
    if (!base64url_decode(jws.substr(0, d1), header) || !base64url_decode(jws.substr(d1 + 1, d2 - d1 - 1), payload) ||
        !base64url_decode(jws.substr(d2 + 1), out.signature)) {
        return "bad base64url";
    }
    out.signature_b64 = std::string(jws.substr(d2 + 1));
    out.signing_input = std::string(jws.substr(0, d2));
    ptree h;
    if (!read_json_object(header, h)) {
        return "the JOSE header is no JSON object";
    }
    out.alg = string_at(h, "alg");
    out.ppt = string_at(h, "ppt");
    out.typ = string_at(h, "typ");
    out.x5u = string_at(h, "x5u");
    if (!parse_claims(payload, out)) {
        return "the claims are no PASSporT";
    }
    return {};
}

std::unique_ptr<identity_verifier> identity_verifier::from_pem(const std::string& roots_pem, unsigned max_age_s,
                                                               std::string& error, bool check_crl) {
    std::unique_ptr<identity_verifier> v(new identity_verifier());
    X509_STORE* store = X509_STORE_new();
    v->roots_ = store;
    v->max_age_s_ = max_age_s;
    v->check_crl_ = check_crl;
    BIO* bio = BIO_new_mem_buf(roots_pem.data(), static_cast<int>(roots_pem.size()));
    unsigned n = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        X509_STORE_add_cert(store, cert);
        v->crls_.trust_signer(cert);  // an STI-PA root may sign its CRL itself
        X509_free(cert);
        ++n;
    }
    BIO_free(bio);
    if (n == 0) {
        error = "no PEM certificate in it";
        return nullptr;
    }
    return v;
}

identity_verifier::~identity_verifier() {
    X509_STORE_free(static_cast<X509_STORE*>(roots_));
}

const identity_verifier::cert_entry* identity_verifier::find(const std::string& url, int64_t now_s) const {
    const auto it = certs_.find(url);
    return it == certs_.end() || it->second.expires_s <= now_s ? nullptr : &it->second;
}

void identity_verifier::put(const std::string& url, cert_entry e) {
    put_bounded(certs_, url, std::move(e), max_certificates);
}

parsed_identities parse_identities(const std::vector<std::string_view>& values) {
    parsed_identities out;
    for (const std::string_view value : values) {
        parsed_identity p;
        out.push_back(parse_identity(value, p).empty() ? std::optional<parsed_identity>(std::move(p)) : std::nullopt);
    }
    return out;
}

std::string identity_verifier::missing_certificate(const std::vector<std::string_view>& identities,
                                                   int64_t now_s) const {
    return missing_certificate(parse_identities(identities), now_s);
}

std::string identity_verifier::missing_certificate(const parsed_identities& identities, int64_t now_s) const {
    for (const std::optional<parsed_identity>& p : identities) {
        if (!p || p->info.empty() || p->info != p->x5u) {
            continue;
        }
        const cert_entry* c = find(p->info, now_s);
        if (c == nullptr) {
            return p->info;
        }
        if (c->key && revocation(*c, now_s) == revocation_lists::status::unknown) {
            return c->crl_url;
        }
    }
    return {};
}

revocation_lists::status identity_verifier::revocation(const cert_entry& c, int64_t now_s) const {
    return c.crl_url.empty() ? revocation_lists::status::good
                             : crls_.check(c.crl_url, c.revocation_keys, c.crl_issuers, now_s);
}

std::string identity_verifier::trust_crl_signers(const std::string& pem, int64_t now_s) {
    std::unique_ptr<STACK_OF(X509), x509_stack_deleter> signers(sk_X509_new_null());
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        sk_X509_push(signers.get(), cert);
    }
    BIO_free(bio);
    const int n = sk_X509_num(signers.get());
    if (n == 0) {
        return "no PEM certificate in it";
    }
    for (int i = 0; i < n; ++i) {
        X509* cert = sk_X509_value(signers.get(), i);
        char subject[256] = {};
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
        if ((X509_get_key_usage(cert) & KU_CRL_SIGN) == 0) {
            return std::string(subject) + ": its keyUsage does not allow cRLSign";
        }
        // Another signer of the file may be the CA between it and a root.
        X509_STORE_CTX* ctx = X509_STORE_CTX_new();
        X509_STORE_CTX_init(ctx, static_cast<X509_STORE*>(roots_), cert, signers.get());
        X509_STORE_CTX_set_time(ctx, 0, static_cast<time_t>(now_s));
        const bool ok = X509_verify_cert(ctx) == 1;
        const std::string why = ok ? "" : X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
        X509_STORE_CTX_free(ctx);
        if (!ok) {
            return std::string(subject) + ": " + why;
        }
    }
    for (int i = 0; i < n; ++i) {
        crls_.trust_signer(sk_X509_value(signers.get(), i), true);
    }
    return {};
}

bool identity_verifier::names_revocation_list(const std::string& url) const {
    return std::any_of(certs_.begin(), certs_.end(), [&url](const auto& c) { return c.second.crl_url == url; });
}

std::string identity_verifier::store_revocation_list(const std::string& url, const std::string& body, int64_t now_s) {
    return crls_.store(url, body, now_s);
}

std::string identity_verifier::store_certificate(const std::string& url, const std::string& pem, int64_t now_s,
                                                 uint32_t max_age_s) {
    std::unique_ptr<STACK_OF(X509), x509_stack_deleter> chain(sk_X509_new_null());
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    while (sk_X509_num(chain.get()) < static_cast<int>(max_chain)) {
        X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
        if (cert == nullptr) {
            break;
        }
        sk_X509_push(chain.get(), cert);
    }
    BIO_free(bio);
    std::string why;
    tn_auth_list scope;
    X509* leaf = sk_X509_num(chain.get()) > 0 ? sk_X509_value(chain.get(), 0) : nullptr;
    EVP_PKEY* key = nullptr;
    std::vector<std::string> revocation_keys, crl_issuers;
    std::string crl_url;
    if (leaf == nullptr) {
        why = "no PEM certificate in the response";
    } else {
        X509_STORE_CTX* ctx = X509_STORE_CTX_new();
        X509_STORE_CTX_init(ctx, static_cast<X509_STORE*>(roots_), leaf, chain.get());
        X509_STORE_CTX_set_time(ctx, 0, static_cast<time_t>(now_s));
        if (X509_verify_cert(ctx) != 1) {
            why = std::string("chain: ") + X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
        } else if (check_crl_) {
            // The chain as verified, leaf first, ending at the root: a CRL may revoke any but
            // the root, and the CAs in it (vouched for by the root) may sign CRLs.
            std::unique_ptr<STACK_OF(X509), x509_stack_deleter> built(X509_STORE_CTX_get1_chain(ctx));
            const int n = sk_X509_num(built.get());
            for (int i = 0; i < n; ++i) {
                X509* c = sk_X509_value(built.get(), i);
                if (i + 1 < n) {
                    revocation_keys.push_back(revocation_lists::revocation_key(c));
                }
                if (i > 0) {
                    crls_.trust_signer(c);
                    crl_issuers.push_back(revocation_lists::name_key(c));
                }
            }
            crl_url = revocation_lists::distribution_point(leaf, &crl_issuers);
        }
        X509_STORE_CTX_free(ctx);
        if (why.empty()) {
            if (std::optional<tn_auth_list> list = tn_auth_list_of(leaf)) {
                scope = std::move(*list);
            } else {
                why = "no TNAuthList extension that can be read (RFC 8226)";
            }
        }
        key = why.empty() ? X509_get_pubkey(leaf) : nullptr;
        char group[32] = {};
        size_t glen = 0;
        if (why.empty() && (key == nullptr || !EVP_PKEY_is_a(key, "EC") ||
                            EVP_PKEY_get_group_name(key, group, sizeof group, &glen) != 1 ||
                            std::string_view(group) != "prime256v1")) {
            why = "the key is no EC P-256 key (ES256)";
            EVP_PKEY_free(key);
            key = nullptr;
        }
    }
    if (!why.empty()) {
        put(url, cert_entry{nullptr, now_s + failure_keep_s, true, {}});
        return why;
    }
    const int64_t keep = max_age_s == 0 ? default_keep_s : std::clamp<int64_t>(max_age_s, 60, longest_keep_s);
    put(url, cert_entry{std::shared_ptr<void>(key, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); }),
                        std::min(now_s + keep, not_after_s(leaf)), false, std::move(scope), std::move(crl_url),
                        std::move(revocation_keys), std::move(crl_issuers)});
    return {};
}

void identity_verifier::store_failure(const std::string& url, int64_t now_s) {
    if (names_revocation_list(url)) {
        crls_.store_failure(url, now_s);
        return;
    }
    put(url, cert_entry{nullptr, now_s + failure_keep_s, false, {}});
}

namespace {

bool is_div(const parsed_identity& p) {
    return p.ppt_param == "div" || p.ppt == "div";
}

bool lists(const std::vector<std::string>& tns, std::string_view tn) {
    return std::find(tns.begin(), tns.end(), tn) != tns.end();
}

// RFC 8946: the div PASSporTs among `all` that take a call signed by `shaken` from one of its
// destinations to `dest_tn`, each diverted from a destination of the one before it and naming the
// same caller: their indices in order, empty when there is no such chain. A search of the
// numbers (each div PASSporT an edge from its div.tn to its dest.tn) that visits each number
// once: however a peer crafts its headers, the work stays proportional to what they hold.
bool extend_chain(const parsed_identities& all, const parsed_identity& shaken, std::string_view at,
                  std::string_view dest_tn, std::vector<size_t>& chain, std::vector<std::string_view>& visited) {
    if (std::find(visited.begin(), visited.end(), at) != visited.end()) {
        return false;
    }
    visited.push_back(at);
    for (size_t j = 0; j < all.size(); ++j) {
        const std::optional<parsed_identity>& d = all[j];
        if (!d || !is_div(*d) || d->div_tn != at || d->orig_tn != shaken.orig_tn) {
            continue;
        }
        chain.push_back(j);
        if (lists(d->dest_tns, dest_tn)) {
            return true;
        }
        for (const std::string& next : d->dest_tns) {
            if (extend_chain(all, shaken, next, dest_tn, chain, visited)) {
                return true;
            }
        }
        chain.pop_back();
    }
    return false;
}

std::vector<size_t> div_chain(const parsed_identities& all, const parsed_identity& shaken, std::string_view dest_tn) {
    std::vector<size_t> chain;
    std::vector<std::string_view> visited;
    for (const std::string& from : shaken.dest_tns) {
        if (!from.empty() && extend_chain(all, shaken, from, dest_tn, chain, visited)) {
            return chain;
        }
    }
    return {};
}

bool es256_passport(const parsed_identity& p, std::string_view ppt) {
    return p.ppt_param == ppt && p.ppt == ppt && p.alg == "ES256" && (p.alg_param.empty() || p.alg_param == "ES256") &&
           p.typ == "passport" && !p.orig_tn.empty() && !p.dest_tns.empty();
}

}  // namespace

const char* identity_verifier::freshness_failure(const parsed_identity& p, int64_t now_s) const {
    if (p.x5u.empty() || p.x5u != p.info) {
        return "x5u_mismatch";  // ATIS-1000074 5.3.1: the certificate named is the one used
    }
    if (p.iat > now_s + max_age_s_ || now_s - p.iat > static_cast<int64_t>(max_age_s_)) {
        return "stale";  // RFC 8224 6.2.2: replayed, or a clock far off
    }
    return nullptr;
}

const char* identity_verifier::certificate_failure(const parsed_identity& p, std::string_view covered, int64_t now_s,
                                                   const cert_entry*& cert) const {
    cert = find(p.info, now_s);
    if (cert == nullptr || (!cert->key && !cert->refused)) {
        return "certificate_unavailable";
    }
    if (!cert->key) {
        return "certificate";
    }
    switch (revocation(*cert, now_s)) {
    case revocation_lists::status::unknown:
    case revocation_lists::status::unavailable:
        return "certificate_unavailable";  // not known to be good (ATIS-1000080: the STI-VS checks the CRL)
    case revocation_lists::status::revoked:
        return "certificate_revoked";
    case revocation_lists::status::good:
        break;
    }
    // A delegate certificate (RFC 9060) vouches for its numbers only; a carrier's SPC for
    // whatever numbers that carrier serves, which cannot be checked here.
    if (cert->scope.spcs.empty() && cert->scope.has_numbers() && !cert->scope.covers(covered)) {
        return "tn_not_covered";
    }
    return nullptr;
}

prepared_verification::step identity_verifier::prepare_one(const parsed_identities& all, size_t index,
                                                            std::string_view orig_tn, std::string_view dest_tn,
                                                            int64_t now_s) const {
    const parsed_identity& p = *all[index];
    prepared_verification::step step;
    const std::string ppi = ".." + p.signature_b64;  // RFC 8225 7's compact form names it
    auto fail = [&step](const char* reason, const std::string& which) {
        step.settled = failed(reason, which);
        step.checks.clear();
        step.ppis.clear();
        return step;
    };
    // Not SHAKEN (a div PASSporT on its own, another extension, plain RFC 8225): nothing this
    // service checks by itself.
    if (p.ppt_param != "shaken" && p.ppt != "shaken") {
        step.settled.status = verstat::no_validation;
        return step;
    }
    if (!es256_passport(p, "shaken") || p.origid.empty() || (p.attest != 'A' && p.attest != 'B' && p.attest != 'C')) {
        return fail("malformed", ppi);
    }
    if (const char* why = freshness_failure(p, now_s)) {
        return fail(why, ppi);
    }
    if (orig_tn.empty() || p.orig_tn != orig_tn) {
        return fail("orig_mismatch", ppi);
    }
    // Signed for another number: it still counts when div PASSporTs say how the call got here.
    std::vector<size_t> chain;
    if (dest_tn.empty() || (!lists(p.dest_tns, dest_tn) && (chain = div_chain(all, p, dest_tn)).empty())) {
        return fail("dest_mismatch", ppi);
    }
    const cert_entry* cert = nullptr;
    if (const char* why = certificate_failure(p, orig_tn, now_s, cert)) {
        return fail(why, ppi);
    }
    step.if_valid.status = verstat::passed;
    step.if_valid.attest = p.attest;
    step.if_valid.spc = cert->scope.spcs.empty() ? std::string() : cert->scope.spcs.front();
    step.if_valid.origid = p.origid;
    step.checks.push_back(signature_check{cert->key, p.signing_input, p.signature, true});
    step.ppis.push_back(ppi);
    // Each div PASSporT as the SHAKEN one, its certificate vouching for the number it diverted.
    for (const size_t j : chain) {
        const parsed_identity& d = *all[j];
        const std::string div_ppi = ".." + d.signature_b64;
        if (!es256_passport(d, "div") || d.div_tn.empty()) {
            return fail("malformed", div_ppi);
        }
        if (const char* why = freshness_failure(d, now_s)) {
            return fail(why, div_ppi);
        }
        if (const char* why = certificate_failure(d, d.div_tn, now_s, cert)) {
            return fail(why, div_ppi);
        }
        step.checks.back().ends_step = false;
        step.checks.push_back(signature_check{cert->key, d.signing_input, d.signature, true});
        step.ppis.push_back(div_ppi);
    }
    if (!chain.empty()) {
        step.if_valid.diverted_from = all[chain.front()]->div_tn;
    }
    return step;
}

prepared_verification identity_verifier::prepare(const std::vector<std::string_view>& identities,
                                                 std::string_view orig_tn, std::string_view dest_tn,
                                                 int64_t now_s) const {
    return prepare(parse_identities(identities), orig_tn, dest_tn, now_s);
}

prepared_verification identity_verifier::prepare(const parsed_identities& identities, std::string_view orig_tn,
                                                 std::string_view dest_tn, int64_t now_s) const {
    prepared_verification out;
    for (size_t i = 0; i < identities.size(); ++i) {
        out.steps.push_back(identities[i] ? prepare_one(identities, i, orig_tn, dest_tn, now_s)
                                          : prepared_verification::step{failed("malformed"), {}, {}, {}});
    }
    return out;
}

verification identity_verifier::conclude(const prepared_verification& p, const std::vector<bool>& valid) {
    verification first_failure;
    size_t checked = 0;
    for (const prepared_verification::step& s : p.steps) {
        verification v = s.settled;
        if (!s.checks.empty()) {
            size_t bad = s.checks.size();  // the first check that did not verify (or was not made)
            for (size_t k = 0; k < s.checks.size(); ++k, ++checked) {
                if (bad == s.checks.size() && !(checked < valid.size() && valid[checked])) {
                    bad = k;
                }
            }
            v = bad == s.checks.size() ? s.if_valid : failed("bad_signature", s.ppis[bad]);
        }
        if (v.status == verstat::passed) {
            return v;  // RFC 8224 6.2.3: one valid Identity is enough
        }
        if (v.status == verstat::failed && first_failure.status != verstat::failed) {
            first_failure = std::move(v);
        }
    }
    if (first_failure.status == verstat::failed) {
        return first_failure;
    }
    verification none;
    none.status = verstat::no_validation;
    return none;
}

std::vector<identity_verifier::cached_certificate> identity_verifier::cached(int64_t now_s) const {
    std::vector<cached_certificate> out;
    for (const auto& [url, e] : certs_) {
        if (e.expires_s > now_s) {
            const char* state = !e.key                                                      ? (e.refused ? "refused" : "unavailable")
                                : revocation(e, now_s) == revocation_lists::status::revoked ? "revoked"
                                                                                             : "valid";
            out.push_back({url, state, e.expires_s, e.scope});
        }
    }
    return out;
}

stir_error rfc8224_error(std::string_view reason) {
    if (reason == "stale") {
        return {403, "Stale Date"};
    }
    if (reason == "certificate_unavailable") {
        return {436, "Bad Identity Info"};
    }
    if (reason == "certificate" || reason == "certificate_revoked") {
        return {437, "Unsupported Credential"};
    }
    return {438, "Invalid Identity Header"};
}

std::string stir_reason_header(const verification& v) {
    if (v.status != verstat::failed) {
        return {};
    }
    const stir_error e = rfc8224_error(v.reason);
    std::string h = "Reason: STIR;cause=" + std::to_string(e.status) + ";text=\"" + e.phrase + "\"";
    if (!v.ppi.empty()) {
        h += ";ppi=\"" + v.ppi + "\"";  // base64url and dots: nothing to escape
    }
    return h + "\r\n";
}

verification identity_verifier::verify(const std::vector<std::string_view>& identities, std::string_view orig_tn,
                                       std::string_view dest_tn, int64_t now_s) const {
    const prepared_verification p = prepare(identities, orig_tn, dest_tn, now_s);
    return conclude(p, check_signatures(p.signature_checks()));
}

}  // namespace sf::control
