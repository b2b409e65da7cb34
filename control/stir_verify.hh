#pragma once
/// @file
/// STIR/SHAKEN verification (the verification service of RFC 8224 6.2, ATIS-1000074 5.3): is
/// the calling number of an INVITE vouched for by a carrier whose certificate chains to a root
/// the operator trusts? The answer is a `verstat` (ATIS-1000074 5.3.1) that the appliance passes
/// to the called party and to its dialplans.
///
/// Synchronous and pure apart from OpenSSL: certificates arrive from elsewhere (the control
/// loop fetches the `info` URL, certificate_fetcher.hh) and are kept here, checked once when
/// they arrive, by URL. Verifying then never waits: the B2BUA holds an INVITE whose certificate
/// is missing until it arrives (b2bua_stir_verify.cc).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stir_crl.hh"
#include "tn_auth_list.hh"

namespace sf::control {

/// ATIS-1000074's verification status.
enum class verstat : uint8_t {
    not_verified,   ///< no verification for this call (its source is not verified): no verstat
    passed,         ///< TN-Validation-Passed
    failed,         ///< TN-Validation-Failed
    no_validation,  ///< No-TN-Validation: nothing SHAKEN to verify
};
/// The parameter's value ("TN-Validation-Passed"...), "" for not_verified.
std::string_view to_string(verstat v);

/// base64url without padding -> bytes; false on a character outside the alphabet or a length
/// no encoding has.
bool base64url_decode(std::string_view in, std::string& out);

/// An Identity header value (full form, RFC 8224 4.1) taken apart, its PASSporT decoded.
struct parsed_identity {
    std::string signing_input;  ///< "HEADER.PAYLOAD" as received: what the signature covers
    std::string signature;      ///< the decoded signature (ES256: 64 bytes r||s)
    std::string signature_b64;  ///< the signature as received: its compact form is ".." + this
    std::string info;           ///< the info parameter's URL (without < >)
    std::string alg_param;      ///< the alg parameter ("" when absent)
    std::string ppt_param;      ///< the ppt parameter ("" when absent)
    // The JOSE header.
    std::string alg, ppt, typ, x5u;
    // The claims (RFC 8225 5.2, RFC 8588).
    char attest = 0;
    std::string orig_tn;
    std::vector<std::string> dest_tns;
    int64_t iat = 0;
    std::string origid;
    std::string div_tn;  ///< a div PASSporT's (RFC 8946) "div" claim: the destination it was diverted from
};

/// Takes an Identity header value apart; "" on success, else what is wrong with it.
std::string parse_identity(std::string_view value, parsed_identity& out);

/// What a verification found.
struct verification {
    verstat status = verstat::not_verified;
    char attest = 0;     ///< the passing PASSporT's attestation ('A', 'B', 'C'), 0 otherwise
    std::string reason;  ///< when failed: one of failure_reasons; "" otherwise
    // When passed: who signed (the certificate's TNAuthList SPC, ATIS-1000080: the carrier's
    // OCN; "" for a delegate certificate naming numbers only) and the PASSporT's origid
    // (ATIS-1000074 5.2.4: the signer's handle for tracing the call back).
    std::string spc, origid;
    /// When failed: the Identity that failed in compact form ("..signature", RFC 8225 7), for
    /// RFC 9410's ppi; "" when that value could not be taken apart.
    std::string ppi;
    /// When passed by way of div PASSporTs (RFC 8946: the call was diverted on its way): the
    /// number the SHAKEN PASSporT was signed for, which the call no longer goes to; else "".
    std::string diverted_from;
};

/// Every `verification::reason`, in the order the checks run.
inline constexpr const char* failure_reasons[] = {
    "malformed", "x5u_mismatch", "stale", "orig_mismatch", "dest_mismatch",
    "certificate_unavailable",  // the x5u, or the CRL it names, could not be fetched (RFC 8224 436)
    "certificate",              // the certificate was refused: chain, validity, TNAuthList, key (437)
    "certificate_revoked",      // its CRL lists it or a CA above it (437)
    "tn_not_covered",           // a delegate certificate that does not name the calling number
    "bad_signature",
};

/// The response RFC 8224 6.2.2 gives a verification that failed for `reason`: 403 Stale Date,
/// 436 Bad Identity Info, 437 Unsupported Credential, else 438 Invalid Identity Header.
struct stir_error {
    unsigned status;
    const char* phrase;
};
stir_error rfc8224_error(std::string_view reason);

/// The RFC 9410 Reason header (with its CRLF) telling the signer why its Identity failed, for
/// a call that goes on: `Reason: STIR;cause=438;text="Invalid Identity Header";ppi="..sig"`.
/// "" unless `v` failed.
std::string stir_reason_header(const verification& v);

/// One ES256 signature to check: the certificate's key (a reference of its own, so that the
/// check may run on another thread while the verifier replaces or drops the certificate), what
/// was signed and the signature. A SHAKEN PASSporT that reached the called number through div
/// PASSporTs needs all of theirs too: its checks follow one another, the last `ends_step`.
struct signature_check {
    std::shared_ptr<void> key;  // EVP_PKEY
    std::string input;
    std::string signature;
    bool ends_step = true;
};

/// True when `c`'s signature verifies (ES256 over its input with its key). Thread-safe.
bool check_signature(const signature_check& c);
/// Checks `checks` in order up to the first step whose checks all verify (RFC 8224 6.2.3: one
/// valid Identity is enough): one answer per check up to there. After a check that fails, the
/// rest of its step are answered false without being made. Thread-safe.
std::vector<bool> check_signatures(const std::vector<signature_check>& checks);

/// Identity values taken apart once (nullopt: a value that does not parse), for
/// missing_certificate() and prepare() to share.
using parsed_identities = std::vector<std::optional<parsed_identity>>;
parsed_identities parse_identities(const std::vector<std::string_view>& values);

/// A verification up to its signatures: each Identity value either settled by the cheap checks
/// (a failure with its reason, or nothing SHAKEN) or waiting for its signatures (its own, then
/// those of the div PASSporTs that lead to the called number), which decide it (passed, else
/// bad_signature). identity_verifier::conclude() turns the signatures' answers into the
/// verification.
struct prepared_verification {
    struct step {
        verification settled;     ///< when `checks` is empty
        verification if_valid;    ///< when `checks` is not: the verification should they all verify
        std::vector<signature_check> checks;
        std::vector<std::string> ppis;  ///< each check's PASSporT in compact form, for a failure
    };
    std::vector<step> steps;
    size_t checks() const;  ///< signatures to check, all steps
    std::vector<signature_check> signature_checks() const;  ///< theirs, in order
};

/// The verification service: the trust anchors (the STI-PA's roots), the certificates fetched
/// so far by URL, and the freshness a PASSporT's iat must have.
class identity_verifier {
public:
    /// From the roots as PEM (one or more certificates); nullptr with `error` set when there is
    /// no certificate in it. `max_age_s`: how far iat may be from now (RFC 8224 6.2.2: 60 s).
    /// `check_crl`: a certificate naming a CRL (its CRL Distribution Points) passes only while
    /// that CRL is known and lists neither it nor a CA above it (stir_crl.hh).
    static std::unique_ptr<identity_verifier> from_pem(const std::string& roots_pem, unsigned max_age_s,
                                                       std::string& error, bool check_crl = true);
    ~identity_verifier();
    identity_verifier(const identity_verifier&) = delete;
    identity_verifier& operator=(const identity_verifier&) = delete;

    /// The first URL these Identity values need fetched before they can be verified: a
    /// certificate not known (neither a certificate nor a recent failure), else the CRL a known
    /// certificate names and that is not known. "" when nothing needs fetching.
    std::string missing_certificate(const std::vector<std::string_view>& identities, int64_t now_s) const;
    std::string missing_certificate(const parsed_identities& identities, int64_t now_s) const;

    /// A certificate chain fetched from `url` (PEM: the signing certificate first, then any
    /// intermediates). Checked now: it must chain to a root, be valid at `now_s`, carry a
    /// TNAuthList extension that parses (RFC 8226, tn_auth_list.hh) and an EC P-256 key. Kept for `max_age_s` (the
    /// response's Cache-Control, 0 = an hour; at most a day), never beyond its notAfter; a chain
    /// that fails is kept as a failure for 30 s. Returns "" or why the chain was refused.
    std::string store_certificate(const std::string& url, const std::string& pem, int64_t now_s, uint32_t max_age_s);
    /// A fetch of `url` failed: verifications needing it fail for the next 30 s.
    void store_failure(const std::string& url, int64_t now_s);
    /// Certificates that may sign CRLs besides the roots and the CAs of chains (PEM, one or more):
    /// an STI-PA's CRL signer, whose indirect CRL revokes what other CAs issued. Each must chain to
    /// a root at `now_s` and allow cRLSign. "" or why one was refused (none is taken then).
    std::string trust_crl_signers(const std::string& pem, int64_t now_s);
    /// Whether `url` is the CRL of a certificate known now (a fetch of it goes to
    /// store_revocation_list(), not store_certificate()).
    bool names_revocation_list(const std::string& url) const;
    /// The CRL fetched from `url` (revocation_lists::store()): "" or why it was refused.
    std::string store_revocation_list(const std::string& url, const std::string& body, int64_t now_s);

    /// Verifies a request's Identity values (RFC 8224 6.2.3: it passes when one of them does)
    /// against its calling and called numbers (canonical_tn()s; "" when not a number).
    verification verify(const std::vector<std::string_view>& identities, std::string_view orig_tn,
                        std::string_view dest_tn, int64_t now_s) const;
    /// verify() in two halves, for the signatures to be checked elsewhere (signature_pool.hh):
    /// everything but the signatures now, then the verification from their answers (`valid[i]`
    /// for the i-th step that had a check, in order).
    prepared_verification prepare(const std::vector<std::string_view>& identities, std::string_view orig_tn,
                                  std::string_view dest_tn, int64_t now_s) const;
    prepared_verification prepare(const parsed_identities& identities, std::string_view orig_tn,
                                  std::string_view dest_tn, int64_t now_s) const;
    static verification conclude(const prepared_verification& p, const std::vector<bool>& valid);

    size_t certificates() const { return certs_.size(); }
    /// One URL the verifier knows, as an operator looks at it (GET /v1/stir/certificates).
    struct cached_certificate {
        std::string url;
        /// "valid", "revoked" (its CRL lists it or a CA above it), "refused" (chain, validity,
        /// TNAuthList or key) or "unavailable" (the fetch failed)
        const char* state = "";
        int64_t expires_s = 0;   ///< when it is dropped and asked for again (Unix seconds)
        tn_auth_list scope;      ///< what a valid one vouches for
    };
    /// Every URL known at `now_s` (expired ones left out), in URL order.
    std::vector<cached_certificate> cached(int64_t now_s) const;
    /// The CRLs known at `now_s`, in URL order.
    std::vector<revocation_lists::listed> cached_revocation_lists(int64_t now_s) const { return crls_.cached(now_s); }
    size_t revocation_lists_known() const { return crls_.size(); }
    /// revocation_lists::set_grace(): how long past its nextUpdate the last good CRL still
    /// answers when a new one cannot be had ([stir] crl_grace).
    void set_crl_grace(int64_t grace_s) { crls_.set_grace(grace_s); }
    bool revocation_list_stale(const std::string& url) const { return crls_.stale(url); }
    unsigned max_age_s() const { return max_age_s_; }

private:
    identity_verifier() = default;
    struct cert_entry {
        std::shared_ptr<void> key;  // EVP_PKEY, null for a failure
        int64_t expires_s = 0;
        bool refused = false;       // a failure: the chain was refused (else it could not be fetched)
        tn_auth_list scope;         // what the certificate vouches for
        std::string crl_url;        // the CRL it names ("" none, or CRLs not checked)
        std::vector<std::string> revocation_keys;  // the chain's, the root's left out
        std::vector<std::string> crl_issuers;      // whose CRL may speak for it: its chain's CAs, its cRLIssuer
    };
    const cert_entry* find(const std::string& url, int64_t now_s) const;
    void put(const std::string& url, cert_entry e);
    prepared_verification::step prepare_one(const parsed_identities& all, size_t index, std::string_view orig_tn,
                                            std::string_view dest_tn, int64_t now_s) const;
    /// Why `p`'s x5u or iat fails (x5u_mismatch, stale), nullptr when they pass.
    const char* freshness_failure(const parsed_identity& p, int64_t now_s) const;
    /// Why `p`'s certificate fails (`covered`: the number a delegate certificate must name),
    /// nullptr when it passes; `cert` is then that certificate.
    const char* certificate_failure(const parsed_identity& p, std::string_view covered, int64_t now_s,
                                    const cert_entry*& cert) const;

    /// The revocation status of a valid certificate (none: it names no CRL).
    revocation_lists::status revocation(const cert_entry& c, int64_t now_s) const;

    void* roots_ = nullptr;  // X509_STORE*
    unsigned max_age_s_ = 60;
    bool check_crl_ = true;
    revocation_lists crls_;
    std::map<std::string, cert_entry> certs_;
};

}  // namespace sf::control
