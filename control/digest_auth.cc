#include "digest_auth.hh"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

#include "sip/ascii.hh"

namespace sf::control {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

std::string to_hex(const unsigned char* p, size_t n) {
    std::string s(n * 2, '0');
    for (size_t i = 0; i < n; ++i) {
        s[2 * i] = hex_digits[p[i] >> 4];
        s[2 * i + 1] = hex_digits[p[i] & 0xf];
    }
    return s;
}

int lhex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/// Hex of any case, lower-cased in place; false if a character is not hex.
bool lower_hex(std::string& s) {
    for (char& c : s) {
        c = sip::ascii_lower(c);
        if (lhex_value(c) < 0) {
            return false;
        }
    }
    return true;
}

std::string random_hex(size_t bytes) {
    unsigned char buf[64];
    if (bytes > sizeof buf || RAND_bytes(buf, static_cast<int>(bytes)) != 1) {
        throw std::runtime_error("digest_auth: RAND_bytes failed");
    }
    return to_hex(buf, bytes);
}

bool has_line_break(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) != s.npos; }

// ---- grammar (RFC 3261 25.1) --------------------------------------------------------------

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

bool is_token_char(char ch) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("-.!%*_+`'~").find(ch) != std::string_view::npos;
}

/// Skips SWS (LWS = [*WSP CRLF] 1*WSP, repeated); a bare LF is accepted for CRLF like the
/// message parser does. Returns the index of the first character after it.
size_t skip_sws(std::string_view s, size_t i) {
    for (;;) {
        size_t j = i;
        while (j < s.size() && is_wsp(s[j])) {
            ++j;
        }
        size_t k = j;
        if (k < s.size() && s[k] == '\r') {
            ++k;
        }
        if (k + 1 < s.size() && s[k] == '\n' && is_wsp(s[k + 1])) {
            i = k + 1;
            continue;
        }
        return j;
    }
}

size_t scan_token(std::string_view s, size_t i) {
    while (i < s.size() && is_token_char(s[i])) {
        ++i;
    }
    return i;
}

/// quoted-string at s[i] == '"': appends the unescaped content to `out`, leaves `i` after the
/// closing quote. A folded line inside becomes one space; raw control characters and escaped
/// CR/LF/non-ASCII are refused (RFC 3261 25.1 quoted-pair is \x00-09 / \x0B-0C / \x0E-7F).
const char* parse_quoted(std::string_view s, size_t& i, std::string& out) {
    ++i;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') {
            ++i;
            return nullptr;
        }
        if (c == '\\') {
            if (i + 1 >= s.size()) {
                break;
            }
            const auto e = static_cast<unsigned char>(s[i + 1]);
            if (e == '\r' || e == '\n' || e > 0x7f) {
                return "bad escape in a quoted string";
            }
            out.push_back(static_cast<char>(e));
            i += 2;
            continue;
        }
        if (c == '\r' || c == '\n') {
            size_t k = i;
            if (s[k] == '\r') {
                ++k;
            }
            if (k + 1 < s.size() && s[k] == '\n' && is_wsp(s[k + 1])) {
                i = k + 1;
                while (i < s.size() && is_wsp(s[i])) {
                    ++i;
                }
                out.push_back(' ');
                continue;
            }
            return "line break in a quoted string";
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return "control character in a quoted string";
        }
        out.push_back(static_cast<char>(c));
        ++i;
    }
    return "unterminated quoted string";
}

/// "Digest" LWS param *(COMMA param), param = name EQUAL (token / quoted-string). Calls
/// fn(name, value) for each; fn may move from `value`. Returns nullptr or the first error.
template <class F>
const char* parse_digest_params(std::string_view v, F&& fn) {
    if (v.size() > digest_max_header) {
        return "header value longer than 4096 bytes";
    }
    size_t i = skip_sws(v, 0);
    size_t end = scan_token(v, i);
    if (!sip::iequals_ascii(v.substr(i, end - i), "Digest")) {
        return "not the Digest scheme";
    }
    i = skip_sws(v, end);
    if (i == end && i < v.size()) {
        return "no whitespace after Digest";
    }
    if (i >= v.size()) {
        return "no parameters";
    }
    std::string value;
    for (size_t count = 1;; ++count) {
        if (count > digest_max_params) {
            return "too many parameters";
        }
        end = scan_token(v, i);
        if (end == i) {
            return "expected a parameter name";
        }
        const std::string_view name = v.substr(i, end - i);
        i = skip_sws(v, end);
        if (i >= v.size() || v[i] != '=') {
            return "expected '=' after a parameter name";
        }
        i = skip_sws(v, i + 1);
        value.clear();
        if (i < v.size() && v[i] == '"') {
            if (const char* e = parse_quoted(v, i, value)) {
                return e;
            }
        } else {
            end = scan_token(v, i);
            if (end == i) {
                return "expected a token or quoted string value";
            }
            value.assign(v.substr(i, end - i));
            i = end;
        }
        if (const char* e = fn(name, value)) {
            return e;
        }
        i = skip_sws(v, i);
        if (i >= v.size()) {
            return nullptr;
        }
        if (v[i] != ',') {
            return "expected ',' between parameters";
        }
        i = skip_sws(v, i + 1);
        if (i >= v.size()) {
            return "trailing ','";
        }
    }
}

/// Looks `name` up in `names` (case-insensitively); returns its index or -1 (unknown
/// auth-param: ignored). Sets the bit in `seen`, refusing duplicates.
int param_index(std::string_view name, std::span<const std::string_view> names, uint32_t& seen, const char*& err) {
    for (size_t k = 0; k < names.size(); ++k) {
        if (sip::iequals_ascii(name, names[k])) {
            if (seen & (1u << k)) {
                err = "duplicate parameter";
                return -1;
            }
            seen |= 1u << k;
            return static_cast<int>(k);
        }
    }
    return -1;
}

const char* parse_bool(std::string_view v, bool& out, const char* err) {
    if (sip::iequals_ascii(v, "true")) {
        out = true;
    } else if (sip::iequals_ascii(v, "false")) {
        out = false;
    } else {
        return err;
    }
    return nullptr;
}

/// Appends `name="value"` with `"`, `\` and control characters escaped (CR/LF, which a
/// quoted-pair cannot carry, become spaces).
void put_quoted(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += "=\"";
    for (char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\r' || c == '\n') {
            out.push_back(' ');
            continue;
        }
        if (c == '"' || c == '\\' || (c < 0x20 && c != '\t') || c == 0x7f) {
            out.push_back('\\');
        }
        out.push_back(ch);
    }
    out.push_back('"');
}

void put_sep(std::string& out) { out += ", "; }

const EVP_MD* evp_of(digest_algorithm a) {
    return a == digest_algorithm::md5 || a == digest_algorithm::md5_sess ? EVP_md5() : EVP_sha256();
}

// Nonce layout: issued_ms (8, big-endian) | random (8) | HMAC-SHA256(...)[0..16).
constexpr size_t nonce_stamp = 16;
constexpr size_t nonce_mac = 16;
constexpr size_t nonce_bytes = nonce_stamp + nonce_mac;

void nonce_mac_of(std::string_view secret, const unsigned char* stamp, std::string_view realm, unsigned char* mac) {
    std::string data(reinterpret_cast<const char*>(stamp), nonce_stamp);
    data += realm;
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), full, &n) == nullptr ||
        n < nonce_mac) {
        throw std::runtime_error("digest_auth: HMAC failed");
    }
    std::copy_n(full, nonce_mac, mac);
}

/// Whether `issued` is past its lifetime at `now` (or in the future: the clock went back).
bool nonce_expired(int64_t issued, int64_t now, int64_t lifetime) {
    if (now < issued) {
        return true;
    }
    return static_cast<uint64_t>(now) - static_cast<uint64_t>(issued) >= static_cast<uint64_t>(lifetime);
}

}  // namespace

// ---- names -----------------------------------------------------------------------------------

std::string_view digest_algorithm_name(digest_algorithm a) noexcept {
    switch (a) {
    case digest_algorithm::md5: return "MD5";
    case digest_algorithm::md5_sess: return "MD5-sess";
    case digest_algorithm::sha256: return "SHA-256";
    case digest_algorithm::sha256_sess: return "SHA-256-sess";
    }
    return "MD5";
}

bool parse_digest_algorithm(std::string_view token, digest_algorithm& out) noexcept {
    for (auto a : {digest_algorithm::md5, digest_algorithm::md5_sess, digest_algorithm::sha256,
                   digest_algorithm::sha256_sess}) {
        if (sip::iequals_ascii(token, digest_algorithm_name(a))) {
            out = a;
            return true;
        }
    }
    return false;
}

std::string_view digest_outcome_name(digest_outcome o) noexcept {
    switch (o) {
    case digest_outcome::ok: return "ok";
    case digest_outcome::stale: return "stale";
    case digest_outcome::bad_nonce: return "bad_nonce";
    case digest_outcome::wrong_response: return "wrong_response";
    case digest_outcome::unknown_user: return "unknown_user";
    case digest_outcome::malformed: return "malformed";
    case digest_outcome::replay: return "replay";
    }
    return "malformed";
}

// ---- parsing ---------------------------------------------------------------------------------

const char* parse_digest_challenge(std::string_view value, digest_challenge& out) {
    out = digest_challenge{};
    static constexpr std::string_view names[] = {"realm", "domain", "nonce", "opaque", "stale",
                                                 "algorithm", "qop", "charset", "userhash"};
    uint32_t seen = 0;
    const char* err = parse_digest_params(value, [&](std::string_view name, std::string& v) -> const char* {
        const char* dup = nullptr;
        const int k = param_index(name, names, seen, dup);
        switch (k) {
        case 0: out.realm = std::move(v); break;
        case 1: out.domain = std::move(v); break;
        case 2: out.nonce = std::move(v); break;
        case 3: out.opaque = std::move(v); break;
        case 4: return parse_bool(v, out.stale, "stale must be true or false");
        case 5:
            out.algorithm_given = true;
            if (!parse_digest_algorithm(v, out.algorithm)) {
                return "unknown algorithm";
            }
            break;
        case 6: {
            // qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT; unknown
            // options are ignored (RFC 7616 3.3), empty elements skipped.
            out.qop_given = true;
            std::string_view list = v;
            size_t i = 0;
            while (i <= list.size()) {
                size_t comma = list.find(',', i);
                if (comma == list.npos) {
                    comma = list.size();
                }
                std::string_view item = list.substr(i, comma - i);
                while (!item.empty() && is_wsp(item.front())) {
                    item.remove_prefix(1);
                }
                while (!item.empty() && is_wsp(item.back())) {
                    item.remove_suffix(1);
                }
                if (!item.empty()) {
                    if (scan_token(item, 0) != item.size()) {
                        return "bad qop list";
                    }
                    if (sip::iequals_ascii(item, "auth")) {
                        out.qop_auth = true;
                    } else if (sip::iequals_ascii(item, "auth-int")) {
                        out.qop_auth_int = true;
                    }
                }
                i = comma + 1;
            }
            break;
        }
        case 7:
            if (!sip::iequals_ascii(v, "UTF-8")) {
                return "charset must be UTF-8";
            }
            out.charset_utf8 = true;
            break;
        case 8: return parse_bool(v, out.userhash, "userhash must be true or false");
        default: return dup;   // unknown auth-param (nullptr) or a duplicate
        }
        return nullptr;
    });
    if (err) {
        return err;
    }
    if (!(seen & 1u)) {
        return "missing realm";
    }
    if (!(seen & 4u) || out.nonce.empty()) {
        return "missing nonce";
    }
    return nullptr;
}

const char* parse_digest_credentials(std::string_view value, digest_credentials& out) {
    out = digest_credentials{};
    static constexpr std::string_view names[] = {"username", "realm", "nonce",  "uri", "response",  "algorithm",
                                                 "cnonce",   "opaque", "qop",   "nc",  "userhash"};
    enum : uint32_t {
        f_username = 1u << 0, f_realm = 1u << 1, f_nonce = 1u << 2, f_uri = 1u << 3, f_response = 1u << 4,
        f_cnonce = 1u << 6, f_nc = 1u << 9,
    };
    uint32_t seen = 0;
    const char* err = parse_digest_params(value, [&](std::string_view name, std::string& v) -> const char* {
        const char* dup = nullptr;
        const int k = param_index(name, names, seen, dup);
        switch (k) {
        case 0: out.username = std::move(v); break;
        case 1: out.realm = std::move(v); break;
        case 2: out.nonce = std::move(v); break;
        case 3: out.uri = std::move(v); break;
        case 4: out.response = std::move(v); break;
        case 5:
            out.algorithm_given = true;
            if (!parse_digest_algorithm(v, out.algorithm)) {
                return "unknown algorithm";
            }
            break;
        case 6: out.cnonce = std::move(v); break;
        case 7: out.opaque = std::move(v); break;
        case 8:
            if (v == "auth") {
                out.qop = digest_qop::auth;
            } else if (v == "auth-int") {
                out.qop = digest_qop::auth_int;
            } else {
                return "unknown qop";
            }
            break;
        case 9: {
            // nc-value = 8LHEX; zero is refused: the count includes this request.
            if (v.size() != 8) {
                return "nc must be 8 lower-case hex digits";
            }
            uint32_t n = 0;
            for (char c : v) {
                const int d = lhex_value(c);
                if (d < 0) {
                    return "nc must be 8 lower-case hex digits";
                }
                n = n << 4 | static_cast<uint32_t>(d);
            }
            if (n == 0) {
                return "nc must not be zero";
            }
            out.nc = n;
            break;
        }
        case 10: return parse_bool(v, out.userhash, "userhash must be true or false");
        default: return dup;
        }
        return nullptr;
    });
    if (err) {
        return err;
    }
    if (!(seen & f_username)) {
        return "missing username";
    }
    if (!(seen & f_realm)) {
        return "missing realm";
    }
    if (!(seen & f_nonce) || out.nonce.empty()) {
        return "missing nonce";
    }
    if (!(seen & f_uri) || out.uri.empty()) {
        return "missing uri";
    }
    if (!(seen & f_response)) {
        return "missing response";
    }
    if (out.response.size() != digest_hex_size(out.algorithm) || !lower_hex(out.response)) {
        return "response is not a hex digest of the algorithm's length";
    }
    if (out.qop != digest_qop::none) {
        if (!(seen & f_cnonce) || out.cnonce.empty()) {
            return "qop without cnonce";
        }
        if (!(seen & f_nc)) {
            return "qop without nc";
        }
    } else {
        if (seen & f_cnonce) {
            return "cnonce without qop";
        }
        if (seen & f_nc) {
            return "nc without qop";
        }
    }
    return nullptr;
}

// ---- formatting ------------------------------------------------------------------------------

std::string format_digest_challenge(const digest_challenge& c) {
    std::string out = "Digest ";
    put_quoted(out, "realm", c.realm);
    if (c.domain) {
        put_sep(out);
        put_quoted(out, "domain", *c.domain);
    }
    put_sep(out);
    put_quoted(out, "nonce", c.nonce);
    if (c.opaque) {
        put_sep(out);
        put_quoted(out, "opaque", *c.opaque);
    }
    if (c.stale) {
        out += ", stale=true";
    }
    if (c.algorithm_given || c.algorithm != digest_algorithm::md5) {
        out += ", algorithm=";
        out += digest_algorithm_name(c.algorithm);
    }
    if (c.qop_given || c.qop_auth || c.qop_auth_int) {
        out += ", qop=\"";
        out += c.qop_auth ? (c.qop_auth_int ? "auth,auth-int" : "auth") : (c.qop_auth_int ? "auth-int" : "");
        out += '"';
    }
    if (c.charset_utf8) {
        out += ", charset=UTF-8";
    }
    if (c.userhash) {
        out += ", userhash=true";
    }
    return out;
}

std::string format_digest_credentials(const digest_credentials& c) {
    std::string out = "Digest ";
    put_quoted(out, "username", c.username);
    put_sep(out);
    put_quoted(out, "realm", c.realm);
    put_sep(out);
    put_quoted(out, "nonce", c.nonce);
    put_sep(out);
    put_quoted(out, "uri", c.uri);
    put_sep(out);
    put_quoted(out, "response", c.response);
    if (c.algorithm_given || c.algorithm != digest_algorithm::md5) {
        out += ", algorithm=";
        out += digest_algorithm_name(c.algorithm);
    }
    if (c.qop != digest_qop::none) {
        put_sep(out);
        put_quoted(out, "cnonce", c.cnonce);
    }
    if (c.opaque) {
        put_sep(out);
        put_quoted(out, "opaque", *c.opaque);
    }
    if (c.qop != digest_qop::none) {
        out += c.qop == digest_qop::auth ? ", qop=auth, nc=" : ", qop=auth-int, nc=";
        for (int shift = 28; shift >= 0; shift -= 4) {
            out.push_back(hex_digits[(c.nc >> shift) & 0xf]);
        }
    }
    if (c.userhash) {
        out += ", userhash=true";
    }
    return out;
}

// ---- computation -----------------------------------------------------------------------------

std::string digest_hash(digest_algorithm a, std::string_view data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data.empty() ? "" : data.data(), data.size(), md, &n, evp_of(a), nullptr) != 1) {
        throw std::runtime_error("digest_auth: EVP_Digest failed");
    }
    return to_hex(md, n);
}

std::string digest_ha1(digest_algorithm a, std::string_view username, std::string_view realm,
                       std::string_view password) {
    std::string in;
    in.reserve(username.size() + realm.size() + password.size() + 2);
    in.append(username).append(":").append(realm).append(":").append(password);
    return digest_hash(a, in);
}

std::string digest_response(const digest_response_input& r) {
    std::string ha1(r.ha1);
    if (digest_is_sess(r.algorithm)) {
        ha1 = digest_hash(r.algorithm, ha1 + ":" + std::string(r.nonce) + ":" + std::string(r.cnonce));
    }
    std::string a2;
    a2.append(r.method).append(":").append(r.uri);
    if (r.qop == digest_qop::auth_int) {
        a2.append(":").append(digest_hash(r.algorithm, r.body));
    }
    const std::string ha2 = digest_hash(r.algorithm, a2);
    std::string kd = ha1;
    kd.append(":").append(r.nonce).append(":");
    if (r.qop != digest_qop::none) {
        char nc[9];
        for (int k = 0; k < 8; ++k) {
            nc[k] = hex_digits[(r.nc >> (28 - 4 * k)) & 0xf];
        }
        nc[8] = '\0';
        kd.append(nc).append(":").append(r.cnonce).append(":");
        kd.append(r.qop == digest_qop::auth ? "auth" : "auth-int").append(":");
    }
    kd.append(ha2);
    return digest_hash(r.algorithm, kd);
}

// ---- server ----------------------------------------------------------------------------------

digest_server::digest_server(digest_server_config cfg, digest_clock now, std::string secret)
    : cfg_(std::move(cfg)), now_(std::move(now)), secret_(std::move(secret)) {
    if (cfg_.algorithms.empty()) {
        throw std::invalid_argument("digest_server: no algorithms to offer");
    }
    for (auto a : cfg_.algorithms) {
        if (digest_is_sess(a)) {
            throw std::invalid_argument("digest_server: -sess algorithms cannot be offered");
        }
    }
    cfg_.max_nonces = std::max<size_t>(cfg_.max_nonces, 1);
    cfg_.max_sources = std::max<size_t>(cfg_.max_sources, 1);
    if (secret_.empty()) {
        secret_ = random_hex(32);
    }
    dummy_password_ = random_hex(16);
}

std::string digest_server::make_nonce(std::string_view realm, int64_t now) {
    unsigned char raw[nonce_bytes];
    const auto issued = static_cast<uint64_t>(now);
    for (int k = 0; k < 8; ++k) {
        raw[k] = static_cast<unsigned char>(issued >> (56 - 8 * k));
    }
    if (RAND_bytes(raw + 8, 8) != 1) {
        throw std::runtime_error("digest_auth: RAND_bytes failed");
    }
    nonce_mac_of(secret_, raw, realm, raw + nonce_stamp);
    return to_hex(raw, nonce_bytes);
}

bool digest_server::check_nonce(std::string_view nonce, std::string_view realm, int64_t& issued) const {
    if (nonce.size() != 2 * nonce_bytes) {
        return false;
    }
    unsigned char raw[nonce_bytes];
    for (size_t k = 0; k < nonce_bytes; ++k) {
        const int hi = lhex_value(nonce[2 * k]);
        const int lo = lhex_value(nonce[2 * k + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        raw[k] = static_cast<unsigned char>(hi << 4 | lo);
    }
    unsigned char mac[nonce_mac];
    nonce_mac_of(secret_, raw, realm, mac);
    if (CRYPTO_memcmp(mac, raw + nonce_stamp, nonce_mac) != 0) {
        return false;
    }
    uint64_t t = 0;
    for (int k = 0; k < 8; ++k) {
        t = t << 8 | raw[k];
    }
    issued = static_cast<int64_t>(t);
    return true;
}

std::vector<std::string> digest_server::challenge(std::string_view realm, bool stale) {
    digest_challenge c;
    c.realm = std::string(realm);
    c.nonce = make_nonce(realm, now_());
    c.stale = stale;
    c.qop_given = true;
    c.qop_auth = true;
    c.algorithm_given = true;
    std::vector<std::string> out;
    out.reserve(cfg_.algorithms.size());
    for (auto a : cfg_.algorithms) {
        c.algorithm = a;
        out.push_back(format_digest_challenge(c));
    }
    return out;
}

digest_verdict digest_server::fail(digest_verdict v, digest_outcome o, const char* reason, uint32_t source,
                                   int64_t now) {
    v.outcome = o;
    v.reason = reason;
    if (o != digest_outcome::stale && o != digest_outcome::ok) {
        record_failure(source, now);
    }
    return v;
}

digest_verdict digest_server::verify(std::string_view method, std::string_view credentials,
                                     const digest_lookup& lookup, uint32_t source, std::string_view request_uri) {
    const int64_t now = now_();
    digest_verdict v;
    digest_credentials c;
    if (const char* err = parse_digest_credentials(credentials, c)) {
        return fail(std::move(v), digest_outcome::malformed, err, source, now);
    }
    v.username = c.username;
    v.realm = c.realm;
    if (std::find(cfg_.algorithms.begin(), cfg_.algorithms.end(), c.algorithm) == cfg_.algorithms.end()) {
        return fail(std::move(v), digest_outcome::malformed, "algorithm not offered", source, now);
    }
    if (c.qop == digest_qop::auth_int) {
        return fail(std::move(v), digest_outcome::malformed, "qop auth-int not offered", source, now);
    }
    if (c.qop == digest_qop::none && !cfg_.allow_no_qop) {
        return fail(std::move(v), digest_outcome::malformed, "qop=auth required", source, now);
    }
    if (c.userhash) {
        return fail(std::move(v), digest_outcome::malformed, "userhash not offered", source, now);
    }
    if (!request_uri.empty() && c.uri != request_uri) {
        return fail(std::move(v), digest_outcome::malformed, "uri does not match the Request-URI", source, now);
    }
    int64_t issued = 0;
    if (!check_nonce(c.nonce, c.realm, issued)) {
        return fail(std::move(v), digest_outcome::bad_nonce, "nonce not issued here for this realm", source, now);
    }

    // Known or not, compute one HA1 and one response so both paths cost the same.
    std::optional<digest_secret> secret = lookup ? lookup(c.username, c.realm, c.algorithm) : std::nullopt;
    std::string ha1;
    if (!secret) {
        ha1 = digest_ha1(c.algorithm, c.username, c.realm, dummy_password_);
    } else if (secret->type == digest_secret::kind::password) {
        ha1 = digest_ha1(c.algorithm, c.username, c.realm, secret->value);
    } else {
        ha1 = secret->value;
        lower_hex(ha1);   // a config may store upper-case hex; garbage simply never matches
    }
    const std::string expected = digest_response({.algorithm = c.algorithm, .ha1 = ha1, .nonce = c.nonce,
                                                  .cnonce = c.cnonce, .nc = c.nc, .qop = c.qop,
                                                  .method = method, .uri = c.uri, .body = {}});
    // Both are digest_hex_size() long (the parser checked the response), so only the
    // content is compared, in constant time.
    const bool match = expected.size() == c.response.size() &&
                       CRYPTO_memcmp(expected.data(), c.response.data(), expected.size()) == 0;
    if (!secret) {
        return fail(std::move(v), digest_outcome::unknown_user, "unknown user", source, now);
    }
    if (!match) {
        return fail(std::move(v), digest_outcome::wrong_response, "wrong response", source, now);
    }
    if (nonce_expired(issued, now, cfg_.nonce_lifetime_ms)) {
        return fail(std::move(v), digest_outcome::stale, "nonce expired", source, now);
    }

    purge_nonces(now);
    auto it = nonce_uses_.find(c.nonce);
    if (it == nonce_uses_.end()) {
        // Not tracked: new, unless the table is full and this nonce is no newer than the oldest
        // tracked one. Eviction drops the oldest, and a full table only admits newer nonces,
        // so while an evicted nonce is still alive it always lands here: it gets `stale`
        // (a fresh challenge), never a fresh nc count. Once the table has room again, every
        // evicted nonce has expired (all nonces live equally long and leave in issue order).
        if (nonce_uses_.size() >= cfg_.max_nonces) {
            auto oldest = nonces_by_issue_.begin();
            if (issued <= oldest->first) {
                return fail(std::move(v), digest_outcome::stale, "nonce not newer than a full replay table", source,
                            now);
            }
            nonce_uses_.erase(oldest->second);
            nonces_by_issue_.erase(oldest);
        }
        auto pos = nonces_by_issue_.emplace(issued, c.nonce);
        nonce_uses_.emplace(c.nonce, nonce_use{c.qop == digest_qop::none ? UINT32_MAX : c.nc, pos});
    } else {
        if (c.qop == digest_qop::none) {
            return fail(std::move(v), digest_outcome::replay, "nonce without qop already used", source, now);
        }
        if (c.nc <= it->second.max_nc) {
            return fail(std::move(v), digest_outcome::replay, "nc did not increase", source, now);
        }
        it->second.max_nc = c.nc;
    }
    v.outcome = digest_outcome::ok;
    v.reason = "";
    return v;
}

void digest_server::purge_nonces(int64_t now) {
    while (!nonces_by_issue_.empty()) {
        auto oldest = nonces_by_issue_.begin();
        if (oldest->first > now || !nonce_expired(oldest->first, now, cfg_.nonce_lifetime_ms)) {
            break;
        }
        nonce_uses_.erase(oldest->second);
        nonces_by_issue_.erase(oldest);
    }
}

void digest_server::record_failure(uint32_t source, int64_t now) {
    auto it = sources_.find(source);
    if (it == sources_.end()) {
        if (sources_.size() >= cfg_.max_sources) {
            sources_.erase(sources_lru_.front());
            sources_lru_.pop_front();
        }
        sources_lru_.push_back(source);
        sources_.emplace(source, source_failures{1, now, std::prev(sources_lru_.end())});
        return;
    }
    source_failures& f = it->second;
    if (now - f.window_start >= cfg_.failure_window_ms) {
        f.window_start = now;
        f.count = 0;
    }
    ++f.count;
    sources_lru_.splice(sources_lru_.end(), sources_lru_, f.lru);
}

unsigned digest_server::failures(uint32_t source) const {
    auto it = sources_.find(source);
    if (it == sources_.end() || now_() - it->second.window_start >= cfg_.failure_window_ms) {
        return 0;
    }
    return it->second.count;
}

void digest_server::clear_failures(uint32_t source) {
    auto it = sources_.find(source);
    if (it != sources_.end()) {
        sources_lru_.erase(it->second.lru);
        sources_.erase(it);
    }
}

// ---- client ----------------------------------------------------------------------------------

digest_client::digest_client(cnonce_source cnonce) : cnonce_(std::move(cnonce)) {
    if (!cnonce_) {
        cnonce_ = [] { return random_hex(16); };
    }
}

uint32_t digest_client::next_nc(const std::string& nonce) {
    constexpr size_t max_remembered = 16;
    for (size_t k = 0; k < nc_.size(); ++k) {
        if (nc_[k].first == nonce) {
            auto entry = std::move(nc_[k]);
            nc_.erase(nc_.begin() + static_cast<std::ptrdiff_t>(k));
            if (++entry.second == 0) {
                entry.second = 1;
            }
            nc_.push_back(std::move(entry));
            return nc_.back().second;
        }
    }
    if (nc_.size() >= max_remembered) {
        nc_.erase(nc_.begin());
    }
    nc_.emplace_back(nonce, 1);
    return 1;
}

const char* digest_client::authorize(std::span<const std::string_view> challenges, std::string_view method,
                                     std::string_view uri, std::string_view username, std::string_view password,
                                     std::string& out) {
    if (has_line_break(method) || has_line_break(uri) || has_line_break(username) || uri.empty()) {
        return "method, uri or username unusable in a header";
    }
    auto rank = [](digest_algorithm a) {
        switch (a) {
        case digest_algorithm::sha256: return 0;
        case digest_algorithm::sha256_sess: return 1;
        case digest_algorithm::md5: return 2;
        case digest_algorithm::md5_sess: return 3;
        }
        return 4;
    };
    const char* why = "no Digest challenge";
    std::optional<digest_challenge> best;
    for (std::string_view value : challenges) {
        digest_challenge c;
        if (const char* err = parse_digest_challenge(value, c)) {
            why = err;
            continue;
        }
        if (c.qop_given && !c.qop_auth) {
            why = "challenge offers no qop we support";
            continue;
        }
        if (digest_is_sess(c.algorithm) && !c.qop_auth) {
            why = "-sess algorithm without qop";
            continue;
        }
        if (!best || rank(c.algorithm) < rank(best->algorithm)) {
            best = std::move(c);
        }
    }
    if (!best) {
        return why;
    }
    digest_credentials cr;
    cr.username = best->userhash ? digest_hash(best->algorithm, std::string(username) + ":" + best->realm)
                                 : std::string(username);
    cr.userhash = best->userhash;
    cr.realm = best->realm;
    cr.nonce = best->nonce;
    cr.uri = std::string(uri);
    cr.opaque = best->opaque;
    cr.algorithm = best->algorithm;
    cr.algorithm_given = best->algorithm_given;
    if (best->qop_auth) {
        cr.qop = digest_qop::auth;
        cr.cnonce = cnonce_();
        if (cr.cnonce.empty() || has_line_break(cr.cnonce)) {
            return "cnonce source gave an unusable value";
        }
        cr.nc = next_nc(cr.nonce);
    }
    const std::string ha1 = digest_ha1(cr.algorithm, username, cr.realm, password);
    cr.response = digest_response({.algorithm = cr.algorithm, .ha1 = ha1, .nonce = cr.nonce, .cnonce = cr.cnonce,
                                   .nc = cr.nc, .qop = cr.qop, .method = method, .uri = cr.uri, .body = {}});
    out = format_digest_credentials(cr);
    return nullptr;
}

}  // namespace sf::control
