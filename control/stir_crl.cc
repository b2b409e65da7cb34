#include "stir_crl.hh"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>

#include "expiring_cache.hh"

namespace sf::control {

namespace {

constexpr int64_t failure_keep_s = 30;     // as a certificate that could not be had (stir_verify.cc)
constexpr int64_t default_keep_s = 3600;   // a CRL without nextUpdate
constexpr int64_t longest_keep_s = 86400;  // a far nextUpdate does not pin a list for ever
constexpr int64_t clock_skew_s = 300;      // a thisUpdate this far ahead of our clock still counts

struct crl_deleter {
    void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using crl_ptr = std::unique_ptr<X509_CRL, crl_deleter>;

// An ASN1_TIME as Unix seconds; 0 when it cannot be read.
int64_t unix_s(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        return 0;
    }
    return static_cast<int64_t>(timegm(&tm));
}

std::string name_text(const X509_NAME* name) {
    BIO* bio = BIO_new(BIO_s_mem());
    // RFC 4514 text, UTF-8 left as it is: the string type a name was encoded with does not show.
    X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string text(data, static_cast<size_t>(std::max(n, 0L)));
    BIO_free(bio);
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');  // attribute values compare without case (RFC 5280 7.1)
        }
    }
    return text;
}

std::string serial_text(const ASN1_INTEGER* serial) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
    char* hex = bn != nullptr ? BN_bn2hex(bn) : nullptr;
    std::string text = hex != nullptr ? hex : "?";
    OPENSSL_free(hex);
    BN_free(bn);
    return text;
}

std::string key_of(const X509_NAME* issuer, const ASN1_INTEGER* serial) {
    return name_text(issuer) + "\n" + serial_text(serial);
}

crl_ptr parse(const std::string& body) {
    if (body.compare(0, 5, "-----") == 0 || body.find("-----BEGIN X509 CRL-----") != std::string::npos) {
        BIO* bio = BIO_new_mem_buf(body.data(), static_cast<int>(body.size()));
        crl_ptr crl(PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr));
        BIO_free(bio);
        return crl;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(body.data());
    crl_ptr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(body.size())));
    if (crl && p != reinterpret_cast<const unsigned char*>(body.data()) + body.size()) {
        return nullptr;  // bytes after the CRL: not one DER CRL
    }
    return crl;
}

// Why the CRL's own extensions make it unusable here, or nullptr.
const char* crl_extensions_failure(const X509_CRL* crl) {
    for (int i = 0; i < X509_CRL_get_ext_count(crl); ++i) {
        X509_EXTENSION* ext = X509_CRL_get_ext(crl, i);
        const int nid = OBJ_obj2nid(X509_EXTENSION_get_object(ext));
        if (nid == NID_delta_crl) {
            return "a delta CRL (only complete CRLs are read)";
        }
        if (X509_EXTENSION_get_critical(ext) && nid != NID_issuing_distribution_point) {
            return "a critical CRL extension that is not understood";
        }
    }
    int critical = 0;
    auto* idp = static_cast<ISSUING_DIST_POINT*>(
        X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &critical, nullptr));
    if (idp == nullptr) {
        return critical == -2 ? "more than one issuingDistributionPoint" : nullptr;  // -1: none
    }
    const bool partial = idp->onlysomereasons != nullptr || idp->onlyattr != 0;
    ISSUING_DIST_POINT_free(idp);
    return partial ? "a partial CRL (only some reasons or attribute certificates)" : nullptr;
}

}  // namespace

revocation_lists::~revocation_lists() = default;

void revocation_lists::trust_signer(X509* cert, bool for_any) {
    if (cert == nullptr || (X509_get_key_usage(cert) & KU_CRL_SIGN) == 0) {
        return;  // UINT32_MAX without a keyUsage extension: any use
    }
    if (for_any) {
        for_any_.insert(name_key(cert));
    }
    for (const auto& s : signers_) {
        if (X509_cmp(s.get(), cert) == 0) {
            return;
        }
    }
    if (signers_.size() >= max_signers) {
        signers_.erase(signers_.begin());
    }
    X509_up_ref(cert);
    signers_.emplace_back(cert, X509_free);
}

std::string revocation_lists::distribution_point(X509* cert, std::vector<std::string>* crl_issuers) {
    auto* points = static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr));
    std::string url;
    for (int i = 0; points != nullptr && url.empty() && i < sk_DIST_POINT_num(points); ++i) {
        const DIST_POINT* dp = sk_DIST_POINT_value(points, i);
        if (dp->distpoint == nullptr || dp->distpoint->type != 0) {
            continue;  // a name relative to the CRL issuer: no URL to fetch
        }
        const GENERAL_NAMES* names = dp->distpoint->name.fullname;
        for (int j = 0; url.empty() && j < sk_GENERAL_NAME_num(names); ++j) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
            if (gn->type == GEN_URI) {
                const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
                url.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                           static_cast<size_t>(ASN1_STRING_length(uri)));
            }
        }
        // Who issues the CRL there, when not the certificate's own CA (ATIS-1000080: the STI-PA).
        for (int j = 0; !url.empty() && crl_issuers != nullptr && j < sk_GENERAL_NAME_num(dp->CRLissuer); ++j) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(dp->CRLissuer, j);
            if (gn->type == GEN_DIRNAME) {
                crl_issuers->push_back(name_text(gn->d.directoryName));
            }
        }
    }
    CRL_DIST_POINTS_free(points);
    // It goes to the fetcher and the log: printable ASCII or nothing (an IA5String may hold any).
    if (!std::all_of(url.begin(), url.end(), [](char c) { return c > ' ' && c < 0x7f; })) {
        url.clear();
    }
    return url;
}

std::string revocation_lists::name_key(X509* cert) {
    return name_text(X509_get_subject_name(cert));
}

std::string revocation_lists::revocation_key(X509* cert) {
    return key_of(X509_get_issuer_name(cert), X509_get0_serialNumber(cert));
}

std::string revocation_lists::store(const std::string& url, const std::string& body, int64_t now_s) {
    std::string why;
    list l;
    crl_ptr crl = parse(body);
    if (!crl) {
        why = "not a CRL (DER or PEM)";
    }
    if (why.empty()) {
        // The signature first: nothing of a list nobody trusted signed is looked at further.
        const X509_NAME* issuer = X509_CRL_get_issuer(crl.get());
        const bool signed_by_trusted = std::any_of(signers_.begin(), signers_.end(), [&](const auto& s) {
            return X509_NAME_cmp(X509_get_subject_name(s.get()), issuer) == 0 &&
                   X509_CRL_verify(crl.get(), X509_get0_pubkey(s.get())) == 1;
        });
        if (!signed_by_trusted) {
            why = "not signed by a trusted CA (" + name_text(issuer) + ")";
        }
        l.issuer = name_text(issuer);
    }
    if (why.empty()) {
        if (const char* ext = crl_extensions_failure(crl.get())) {
            why = ext;
        }
    }
    const int64_t this_update = why.empty() ? unix_s(X509_CRL_get0_lastUpdate(crl.get())) : 0;
    const ASN1_TIME* next = why.empty() ? X509_CRL_get0_nextUpdate(crl.get()) : nullptr;
    const int64_t next_update = unix_s(next);
    if (why.empty() && (this_update == 0 || this_update > now_s + clock_skew_s)) {
        why = "thisUpdate is unreadable or in the future";
    } else if (why.empty() && next != nullptr && next_update <= now_s) {
        why = "past its nextUpdate";
    }
    if (why.empty()) {
        STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
        const int n = sk_X509_REVOKED_num(revoked);
        if (n > static_cast<int>(max_entries)) {
            why = "over " + std::to_string(max_entries) + " entries";
        }
        // An indirect CRL's entry names its certificate's issuer, and that issuer holds for
        // the entries after it until another is named (RFC 5280 5.3.3); before any, the CRL's.
        std::string issuer = name_text(X509_CRL_get_issuer(crl.get()));
        for (int i = 0; why.empty() && i < n; ++i) {
            X509_REVOKED* r = sk_X509_REVOKED_value(revoked, i);
            for (int e = 0; e < X509_REVOKED_get_ext_count(r); ++e) {
                X509_EXTENSION* ext = X509_REVOKED_get_ext(r, e);
                if (X509_EXTENSION_get_critical(ext) &&
                    OBJ_obj2nid(X509_EXTENSION_get_object(ext)) != NID_certificate_issuer) {
                    why = "a critical CRL entry extension that is not understood";
                }
            }
            int critical = 0;
            if (auto* names = static_cast<GENERAL_NAMES*>(
                    X509_REVOKED_get_ext_d2i(r, NID_certificate_issuer, &critical, nullptr))) {
                for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
                    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
                    if (gn->type == GEN_DIRNAME) {
                        issuer = name_text(gn->d.directoryName);
                        break;
                    }
                }
                GENERAL_NAMES_free(names);
            }
            l.revoked.insert(issuer + "\n" + serial_text(X509_REVOKED_get0_serialNumber(r)));
        }
    }
    if (!why.empty()) {
        if (!keep_stale(url, now_s)) {
            put(url, list{false, true, false, now_s + failure_keep_s, 0, {}, {}});
        }
        return why;
    }
    l.valid = true;
    l.expires_s = std::min(now_s + longest_keep_s, next != nullptr ? next_update : now_s + default_keep_s);
    l.next_update_s = l.expires_s;
    put(url, std::move(l));
    return {};
}

void revocation_lists::store_failure(const std::string& url, int64_t now_s) {
    if (!keep_stale(url, now_s)) {
        put(url, list{false, false, false, now_s + failure_keep_s, 0, {}, {}});
    }
}

bool revocation_lists::keep_stale(const std::string& url, int64_t now_s) {
    const auto it = grace_s_ > 0 ? lists_.find(url) : lists_.end();  // none: a failure replaces it
    const int64_t grace_end = it == lists_.end() ? 0 : it->second.next_update_s + grace_s_;
    if (it == lists_.end() || !it->second.valid || grace_end <= now_s) {
        return false;
    }
    list& l = it->second;
    if (now_s < l.next_update_s) {
        return true;  // still fresh (fetched early by someone): it goes on as it was
    }
    l.stale = true;
    l.expires_s = std::min(now_s + stale_retry_s, grace_end);
    return true;
}

void revocation_lists::put(const std::string& url, list l) {
    put_bounded(lists_, url, std::move(l), max_lists);
}

revocation_lists::status revocation_lists::check(const std::string& url, const std::vector<std::string>& keys,
                                                 const std::vector<std::string>& issuers, int64_t now_s) const {
    const auto it = lists_.find(url);
    if (it == lists_.end() || it->second.expires_s <= now_s) {
        return status::unknown;
    }
    const list& l = it->second;
    if (!l.valid ||
        (for_any_.count(l.issuer) == 0 && std::find(issuers.begin(), issuers.end(), l.issuer) == issuers.end())) {
        return status::unavailable;  // none, or one that cannot speak for this certificate
    }
    for (const std::string& k : keys) {
        if (l.revoked.count(k) != 0) {
            return status::revoked;
        }
    }
    return status::good;
}

std::vector<revocation_lists::listed> revocation_lists::cached(int64_t now_s) const {
    std::vector<listed> out;
    for (const auto& [url, l] : lists_) {
        if (l.expires_s > now_s) {
            const char* state = l.stale ? "stale" : l.valid ? "valid" : l.refused ? "refused" : "unavailable";
            out.push_back({url, state, l.expires_s, l.revoked.size()});
        }
    }
    return out;
}

}  // namespace sf::control
