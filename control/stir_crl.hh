#pragma once
/// @file
/// Certificate revocation for STIR/SHAKEN verification: the CRLs (RFC 5280 5) that STI
/// certificates name in their CRL Distribution Points extension (ATIS-1000080: a SHAKEN
/// certificate carries one, an HTTP(S) URL of the STI-PA's CRL), fetched like x5u certificates
/// and kept by URL until their nextUpdate.
///
/// Why at verification time and not when a certificate arrives: a certificate is kept up to a
/// day, a CRL changes meanwhile, and a revoked carrier must stop passing as soon as the next
/// CRL says so. So a certificate keeps its revocation keys (revocation_key()), and every
/// verification asks check() of the CRL it names.
///
/// Trust: a CRL counts only when its signature verifies with the key of a certificate the
/// verifier trusts to sign CRLs (trust_signer(): the roots, and the CA certificates of chains
/// that verified against them), whose name is the CRL's issuer. And it speaks only for the
/// certificates it may (RFC 5280 6.3.3): those whose chain holds its issuer, or whose
/// distribution point names it as cRLIssuer, or any when the operator named its signer
/// ([stir] crl_signers); one CA cannot revoke what another issued. Indirect CRLs (RFC 5280
/// 5.3.3, entries naming their certificates' issuer) are read as such. Delta CRLs, partial CRLs (only
/// some reasons, attribute certificates only) and CRLs with a critical extension not understood
/// here are refused: a list that may be incomplete would let a revoked certificate pass.
///
/// Past its nextUpdate a CRL is fetched again. When that fails (no answer, or a CRL refused),
/// the calls fail closed (436) unless the operator allows a grace period (set_grace(), [stir]
/// crl_grace): for that long past its nextUpdate the last good CRL still answers, marked stale,
/// and is fetched again every stale_retry_s. An STI-PA's repository being down for an hour then
/// does not fail every verified call; a revocation it published meanwhile waits for it.
///
/// Control thread only, synchronous and pure apart from OpenSSL (the fetch is the caller's).

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

struct x509_st;  // OpenSSL's X509

namespace sf::control {

class revocation_lists {
public:
    revocation_lists() = default;
    ~revocation_lists();
    revocation_lists(const revocation_lists&) = delete;
    revocation_lists& operator=(const revocation_lists&) = delete;

    /// Lets `cert`'s key sign CRLs for its subject (a root, or a CA certificate of a chain that
    /// verified), unless its keyUsage leaves out cRLSign. The same certificate twice counts once;
    /// beyond max_signers the oldest is forgotten.
    /// `for_any`: its CRLs speak for every certificate (an operator's explicit trust).
    void trust_signer(x509_st* cert, bool for_any = false);
    size_t signers() const { return signers_.size(); }

    /// The URL of `cert`'s CRL: the first URI of the first full name in its CRL Distribution
    /// Points (RFC 5280 4.2.1.13), "" when it has none. `crl_issuers` gets the names (name_key())
    /// that point's cRLIssuer gives.
    static std::string distribution_point(x509_st* cert, std::vector<std::string>* crl_issuers = nullptr);
    /// A certificate's subject as check() compares CRL issuers: RFC 4514 text, ASCII lower case.
    static std::string name_key(x509_st* cert);
    /// What a CRL entry for `cert` matches: its issuer's name (RFC 4514 text, ASCII letters in
    /// lower case: two encodings of one name compare equal) and its serial number.
    static std::string revocation_key(x509_st* cert);

    /// A CRL fetched from `url` (DER, or PEM "X509 CRL"). Checked now: it parses, understands
    /// every critical extension, is complete (no delta, no partial list), is signed by a trusted
    /// signer, was issued by now (5 minutes of clock skew allowed) and is not past its nextUpdate.
    /// Kept until its nextUpdate (an hour without one, a day at most); one that fails is kept as
    /// a failure for 30 s, unless the last good CRL of `url` is within its grace period (it stays,
    /// stale). Returns "" or why the CRL was refused.
    std::string store(const std::string& url, const std::string& body, int64_t now_s);
    /// The fetch of `url` failed: certificates naming it cannot be checked for the next 30 s
    /// (or, within the grace period, are checked against the last good CRL).
    void store_failure(const std::string& url, int64_t now_s);
    /// Whether `url`'s CRL answers stale now (a new one could not be had, its grace period runs).
    bool stale(const std::string& url) const {
        const auto it = lists_.find(url);
        return it != lists_.end() && it->second.stale;
    }
    /// How long past its nextUpdate (the time store() kept it until) the last good CRL of a URL
    /// still answers when fetching a new one fails. 0 (the default): not at all. A change
    /// applies to the CRLs already kept.
    void set_grace(int64_t grace_s) { grace_s_ = grace_s; }

    enum class status : uint8_t {
        unknown,      ///< never fetched, or expired: fetch it
        unavailable,  ///< the fetch failed or the CRL was refused, recently
        good,         ///< none of the keys is listed
        revoked,      ///< one of them is
    };
    /// Whether any of `keys` (revocation_key()s) is on the CRL of `url` at `now_s`. `issuers`
    /// (name_key()s): whose CRL may speak for the certificate (its chain's CAs, its cRLIssuer);
    /// a valid CRL of anybody else is `unavailable` for it.
    status check(const std::string& url, const std::vector<std::string>& keys, const std::vector<std::string>& issuers,
                 int64_t now_s) const;

    /// One URL as an operator looks at it (GET /v1/stir/certificates, `revocation_lists`).
    struct listed {
        std::string url;
        /// "valid", "stale" (past its nextUpdate, in the grace period), "refused" (see store()) or
        /// "unavailable" (the fetch failed)
        const char* state = "";
        int64_t expires_s = 0;   ///< when it is dropped and fetched again
        size_t revoked = 0;      ///< entries of a valid one
    };
    /// Every URL known at `now_s` (expired ones left out), in URL order.
    std::vector<listed> cached(int64_t now_s) const;
    size_t size() const { return lists_.size(); }

    static constexpr size_t max_lists = 64;     ///< distinct CRL URLs kept (an STI-PA has one)
    static constexpr size_t max_signers = 256;  ///< certificates trusted to sign CRLs
    static constexpr size_t max_entries = 100000;  ///< a longer CRL is refused (the fetch caps its size anyway)
    static constexpr int64_t stale_retry_s = 300;  ///< a stale CRL is fetched again this often
    static constexpr int64_t max_grace_s = 7 * 86400;  ///< the longest grace period ([stir] crl_grace)

private:
    struct list {
        bool valid = false;
        bool refused = false;  ///< not valid: refused (else the fetch failed)
        bool stale = false;    ///< valid, past its nextUpdate: a new one could not be had
        int64_t expires_s = 0;  ///< when it is fetched again
        int64_t next_update_s = 0;  ///< valid: the expires_s store() gave it (its grace period starts there)
        std::string issuer;                       ///< name_key() of whoever signed it
        std::unordered_set<std::string> revoked;  ///< revocation keys
    };
    void put(const std::string& url, list l);
    /// A fetch of `url` brought nothing usable: its last good CRL stays, stale, while in its grace
    /// period (true); else (false) the caller stores the failure.
    bool keep_stale(const std::string& url, int64_t now_s);

    std::map<std::string, list> lists_;
    std::vector<std::shared_ptr<x509_st>> signers_;  ///< oldest first
    std::unordered_set<std::string> for_any_;        ///< name_key()s of signers trusted for_any
    int64_t grace_s_ = 0;
};

}  // namespace sf::control
