#pragma once
/// @file
/// SIP digest authentication (RFC 3261 section 22 and 25.1, RFC 7616, RFC 8760): parsing
/// and formatting of challenges and credentials, response computation (MD5, SHA-256 and
/// their -sess variants), a server that challenges and verifies with stateless nonces, and
/// a client that answers a provider's 401/407.
///
/// Pure C++ plus OpenSSL's libcrypto: no DPDK, Boost or Lua, so the fuzz build compiles
/// this file directly. Not thread-safe: one instance belongs to one control thread.
/// Time comes from an injected clock (milliseconds, any monotonic origin) so tests are
/// deterministic.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sf::control {

/// Header values longer than this are refused unparsed: a real one is a few hundred bytes,
/// and the bound keeps a hostile peer from making us hash or copy megabytes.
inline constexpr size_t digest_max_header = 4096;
/// At most this many parameters per header value (known and unknown together).
inline constexpr size_t digest_max_params = 32;

/// RFC 7616 / RFC 8760 hash algorithms. The -sess variants are parsed and computed; the
/// server never offers them (they only make sense with a session HA1 cache), so it refuses
/// them in verify().
enum class digest_algorithm : uint8_t { md5, md5_sess, sha256, sha256_sess };

/// The token as written in the `algorithm` parameter ("MD5", "SHA-256-sess", ...).
std::string_view digest_algorithm_name(digest_algorithm a) noexcept;
/// Algorithm from its token, case-insensitively; false if unknown (e.g. SHA-512-256).
bool parse_digest_algorithm(std::string_view token, digest_algorithm& out) noexcept;
/// Whether `a` is a -sess variant (HA1 = H(H(user:realm:pass):nonce:cnonce)).
constexpr bool digest_is_sess(digest_algorithm a) noexcept {
    return a == digest_algorithm::md5_sess || a == digest_algorithm::sha256_sess;
}
/// Length of a hex digest of `a`: 32 for MD5, 64 for SHA-256.
constexpr size_t digest_hex_size(digest_algorithm a) noexcept {
    return a == digest_algorithm::md5 || a == digest_algorithm::md5_sess ? 32 : 64;
}

/// Quality of protection a request was answered with. `none` is the RFC 2069 form
/// (no cnonce, no nc).
enum class digest_qop : uint8_t { none, auth, auth_int };

/// A parsed `WWW-Authenticate` / `Proxy-Authenticate` value (one challenge).
/// Values are unescaped (quoted-pairs resolved, folded lines replaced by one space).
struct digest_challenge {
    std::string realm;
    std::string nonce;
    std::optional<std::string> opaque;   ///< echoed verbatim by the client when present
    std::optional<std::string> domain;
    digest_algorithm algorithm = digest_algorithm::md5;
    bool algorithm_given = false;        ///< absent means MD5 (RFC 2617 3.2.1)
    bool qop_given = false;              ///< a qop list was present (then one of it must be used)
    bool qop_auth = false;               ///< "auth" is in the list
    bool qop_auth_int = false;           ///< "auth-int" is in the list (unknown options are ignored)
    bool stale = false;
    bool userhash = false;
    bool charset_utf8 = false;

    bool operator==(const digest_challenge&) const = default;
};

/// A parsed `Authorization` / `Proxy-Authorization` value.
struct digest_credentials {
    std::string username;
    std::string realm;
    std::string nonce;
    std::string uri;
    std::string response;                ///< lower-case hex, digest_hex_size(algorithm) long
    std::string cnonce;                  ///< "" exactly when qop is none
    std::optional<std::string> opaque;
    digest_algorithm algorithm = digest_algorithm::md5;
    bool algorithm_given = false;
    digest_qop qop = digest_qop::none;
    uint32_t nc = 0;                     ///< 1.. with qop, 0 without (nc is 8 lower-case hex digits on the wire)
    bool userhash = false;

    bool operator==(const digest_credentials&) const = default;
};

/// Parses one challenge. Grammar: RFC 3261 25.1 with RFC 7616's parameters: the scheme
/// and parameter names are case-insensitive, values are tokens or quoted strings
/// (backslash escapes, folded lines), LWS is allowed around '=' and ','; unknown
/// parameters are ignored. Returns nullptr on success, else a static reason: another
/// scheme, a syntax error, a duplicate parameter, missing realm or nonce, an unknown
/// algorithm, a bad stale/userhash value, a value longer than digest_max_header.
/// Never throws on any input except std::bad_alloc.
const char* parse_digest_challenge(std::string_view value, digest_challenge& out);

/// Parses one set of credentials (same grammar). Mandatory: username, realm, nonce, uri,
/// response; with qop also cnonce and nc (nc exactly 8 lower-case hex digits, not zero:
/// it counts requests including this one); without qop neither cnonce nor nc (RFC 2617
/// 3.2.2). The response must be hex of the algorithm's length. Returns nullptr or a reason.
const char* parse_digest_credentials(std::string_view value, digest_credentials& out);

/// Canonical header values (a fixed parameter order; string parameters quoted with `"`,
/// `\` and control characters escaped, algorithm/qop/nc as tokens; a CR or LF, which no
/// parsed value holds, becomes a space so a value can never inject a header line).
/// Parsing the result gives back an equal struct, which the fuzz target checks.
std::string format_digest_challenge(const digest_challenge& c);
std::string format_digest_credentials(const digest_credentials& c);

/// H(data) as lower-case hex (MD5 or SHA-256 through OpenSSL's EVP interface).
std::string digest_hash(digest_algorithm a, std::string_view data);
/// HA1 = H(username:realm:password). This is what the config may store instead of the
/// password (per algorithm: an MD5 HA1 is useless for SHA-256). For -sess algorithms this
/// is still the plain H(user:realm:pass); digest_response() applies the session step.
std::string digest_ha1(digest_algorithm a, std::string_view username, std::string_view realm,
                       std::string_view password);

/// Everything the response depends on.
struct digest_response_input {
    digest_algorithm algorithm = digest_algorithm::md5;
    std::string_view ha1;       ///< digest_ha1() of the user (hex)
    std::string_view nonce;
    std::string_view cnonce;    ///< used with qop and by -sess
    uint32_t nc = 0;            ///< used with qop
    digest_qop qop = digest_qop::none;
    std::string_view method;    ///< the SIP method of the request ("INVITE")
    std::string_view uri;       ///< the `uri` parameter (the Request-URI as sent)
    std::string_view body;      ///< only for qop auth-int: HA2 = H(method:uri:H(body))
};
/// response = H(HA1:nonce:nc:cnonce:qop:HA2) with qop, H(HA1:nonce:HA2) without (RFC 2069),
/// with HA2 = H(method:uri) and, for -sess, HA1 replaced by H(HA1:nonce:cnonce).
std::string digest_response(const digest_response_input& in);

/// What verify() found. A B2BUA answers (see digest_server):
/// - ok: proceed as the returned username.
/// - stale: the nonce expired (or is too old for a full replay table) but the digest was right:
///   re-challenge with challenge(realm, true) so the UA retries without asking its user.
/// - bad_nonce: not a nonce of ours (forged, altered, other realm, other secret): 401 with a
///   fresh challenge (after a restart with a new secret legitimate UAs send these once).
/// - wrong_response, unknown_user: answer BOTH with the same 403 (same reason phrase, same
///   headers): telling them apart would let a scanner enumerate accounts. The enum keeps
///   them apart only for logs and statistics; verify() spends the same hashing on both.
/// - malformed: 400 (unparsable credentials, algorithm/qop we never offer, uri mismatch).
/// - replay: nc did not increase (or a qop-less nonce was reused): 401 with a fresh challenge,
///   because a UA whose requests were reordered on UDP can land here legitimately.
enum class digest_outcome : uint8_t { ok, stale, bad_nonce, wrong_response, unknown_user, malformed, replay };
std::string_view digest_outcome_name(digest_outcome o) noexcept;

struct digest_verdict {
    digest_outcome outcome = digest_outcome::malformed;
    std::string username;          ///< from the credentials ("" when they did not parse)
    std::string realm;             ///< likewise
    const char* reason = "";       ///< for logs: why it is not ok ("" when ok)
};

/// The user's secret as the config holds it: a plain password or an HA1 (hex) computed
/// with digest_ha1() for the algorithm asked.
struct digest_secret {
    enum class kind : uint8_t { password, ha1 };
    kind type = kind::password;
    std::string value;
};
/// Looks a user up for a realm and the algorithm the UA chose. Return std::nullopt when the
/// user does not exist or has no secret usable with that algorithm (e.g. only an MD5 HA1).
using digest_lookup = std::function<std::optional<digest_secret>(
    std::string_view username, std::string_view realm, digest_algorithm algorithm)>;

/// Milliseconds from any monotonic origin.
using digest_clock = std::function<int64_t()>;

struct digest_server_config {
    /// Offered in this order, one challenge per algorithm (RFC 8760 2.3: most preferred
    /// first). Only md5 and sha256 are accepted here.
    std::vector<digest_algorithm> algorithms{digest_algorithm::sha256, digest_algorithm::md5};
    int64_t nonce_lifetime_ms = 300'000;  ///< a nonce older than this gives `stale`
    /// Accept RFC 2069 credentials (no qop). Such a nonce is accepted once only, so every
    /// request of such a UA costs a challenge round trip; qop=auth UAs reuse nonces with nc.
    bool allow_no_qop = true;
    size_t max_nonces = 65536;            ///< replay table size (nonces in use)
    size_t max_sources = 4096;            ///< failed-auth table size (sources)
    int64_t failure_window_ms = 300'000;  ///< failures are counted per window per source
};

/// The inbound side. Nonces are stateless: hex(issued_ms[8] | random[8] | mac[16]) with
/// mac = HMAC-SHA256(secret, issued_ms | random | realm) truncated to 128 bits, so any nonce
/// we did not issue for that realm is detected without keeping state per challenge, and
/// its age is known. The only state is the replay table (per nonce in use: highest nc) and
/// the failure table (per source address), both bounded.
class digest_server {
public:
    /// `secret`: the nonce MAC key. Empty: 32 random bytes (nonces die with the process; a
    /// fixed configured secret lets nonces survive a restart). Throws std::runtime_error if
    /// the random generator fails, std::invalid_argument if `cfg.algorithms` is empty or
    /// holds a -sess variant.
    digest_server(digest_server_config cfg, digest_clock now, std::string secret = {});

    /// The WWW-Authenticate / Proxy-Authenticate values to send, one per configured
    /// algorithm in preference order, sharing one fresh nonce. `stale` sets stale=true
    /// (RFC 7616: the previous credentials were right, only the nonce was too old).
    std::vector<std::string> challenge(std::string_view realm, bool stale = false);

    /// Verifies an Authorization / Proxy-Authorization value of a request with `method`.
    /// `source` is the sender's IPv4 address (host order); failures are counted against it.
    /// `request_uri`, when not empty, must equal the credentials' uri (RFC 2617 3.2.2.5:
    /// credentials copied onto another request are refused as malformed).
    ///
    /// Order of checks: syntax and policy (malformed), nonce MAC (bad_nonce), then the
    /// digest against the stored secret or, for an unknown user, against a random dummy
    /// password so both cost the same hashes (unknown_user / wrong_response, compared in
    /// constant time), then the nonce age (stale: only with a right digest, RFC 7616 3.3),
    /// then replay. Only requests with a right digest touch the replay table, so garbage
    /// cannot burn a legitimate UA's nonce counts.
    ///
    /// Replay policy: with qop=auth the nc must be higher than any accepted before for that
    /// nonce (strictly increasing; a gap is fine); without qop a nonce is good for one
    /// request. Entries leave the table when their nonce expires. When the table is full the
    /// entry with the oldest nonce is dropped for a newer one, and an untracked nonce no newer
    /// than the oldest tracked one gives `stale` rather than a fresh start, so eviction never
    /// reopens a replay window.
    ///
    /// Counted as failures of `source`: malformed, bad_nonce, wrong_response, unknown_user,
    /// replay. Not: ok, stale.
    digest_verdict verify(std::string_view method, std::string_view credentials, const digest_lookup& lookup,
                          uint32_t source, std::string_view request_uri = {});

    /// Failed verifications from `source` in its current window (0 when none or when the
    /// window has passed). For a blocking policy on top. A success does not reset it: one
    /// valid account must not whitewash brute force against another from the same address.
    unsigned failures(uint32_t source) const;
    /// Forgets a source's failures (operator action).
    void clear_failures(uint32_t source);

    size_t nonces_tracked() const { return nonce_uses_.size(); }
    size_t sources_tracked() const { return sources_.size(); }
    const digest_server_config& config() const { return cfg_; }

private:
    struct nonce_use {
        uint32_t max_nc = 0;   ///< highest accepted nc; UINT32_MAX after a qop-less use
        std::multimap<int64_t, std::string>::iterator by_issue;
    };
    struct source_failures {
        unsigned count = 0;
        int64_t window_start = 0;
        std::list<uint32_t>::iterator lru;
    };

    std::string make_nonce(std::string_view realm, int64_t now);
    /// True if `nonce` is ours for `realm`; sets `issued`.
    bool check_nonce(std::string_view nonce, std::string_view realm, int64_t& issued) const;
    digest_verdict fail(digest_verdict v, digest_outcome o, const char* reason, uint32_t source, int64_t now);
    void record_failure(uint32_t source, int64_t now);
    void purge_nonces(int64_t now);

    digest_server_config cfg_;
    digest_clock now_;
    std::string secret_;
    std::string dummy_password_;   ///< hashed for unknown users, so they cost what known ones do

    std::unordered_map<std::string, nonce_use> nonce_uses_;
    std::multimap<int64_t, std::string> nonces_by_issue_;   ///< issued_ms -> nonce, oldest first

    std::unordered_map<uint32_t, source_failures> sources_;
    std::list<uint32_t> sources_lru_;   ///< least recently failing first
};

/// The outbound side: answers the 401/407 of a provider. Remembers the nc used per nonce
/// (a few nonces, oldest forgotten first) so a nonce reused for later requests counts up.
class digest_client {
public:
    /// Returns a fresh client nonce per call. Default: 16 random bytes as hex.
    using cnonce_source = std::function<std::string()>;
    explicit digest_client(cnonce_source cnonce = {});

    /// Builds the Authorization / Proxy-Authorization value for a request with `method`
    /// and `uri` (the Request-URI as it will be sent) from the challenge values of the
    /// response, in header order. Unparsable challenges and other schemes are skipped. Of
    /// the rest the strongest algorithm we support wins (SHA-256 before MD5, plain before
    /// -sess; among equals the topmost, as RFC 8760 2.4 asks; preferring strength over
    /// order is the local policy 2.4 allows, and it makes reordering the headers useless
    /// for a downgrade). qop=auth is used when offered; a challenge offering only auth-int
    /// is skipped; no qop list means the RFC 2069 form (and -sess, which needs a cnonce, is
    /// skipped then). The opaque is echoed; userhash=true sends H(username:realm) as the
    /// username (RFC 7616 3.4.4).
    /// Returns nullptr and sets `out`, or a reason when no challenge can be answered.
    const char* authorize(std::span<const std::string_view> challenges, std::string_view method,
                          std::string_view uri, std::string_view username, std::string_view password,
                          std::string& out);

private:
    uint32_t next_nc(const std::string& nonce);

    cnonce_source cnonce_;
    std::vector<std::pair<std::string, uint32_t>> nc_;   ///< nonce -> last nc, oldest first
};

}  // namespace sf::control
