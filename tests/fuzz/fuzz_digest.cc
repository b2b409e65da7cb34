// libFuzzer target: digest challenge/credentials parsing, formatting, the client and the
// server's verify() fed with arbitrary bytes. Oracles beyond "no crash, no UB":
// - whatever parses formats back to text that parses to an equal struct;
// - parsed credentials satisfy the invariants the server relies on;
// - the client's answer to any challenge it accepts parses as credentials and never
//   contains a line break (header injection);
// - the server never accepts made-up credentials (nonces are MACed; the fuzzer cannot forge one).

#include "digest_auth.hh"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

using namespace sf::control;

namespace {

int64_t fake_now = 1'000'000;

digest_server& server() {
    // Fixed secret: the fuzzer cannot forge nonces anyway, and a fixed one keeps runs reproducible.
    static digest_server s({.max_nonces = 64, .max_sources = 64}, [] { return fake_now; }, "fuzz secret");
    return s;
}

std::optional<digest_secret> lookup(std::string_view user, std::string_view, digest_algorithm) {
    if (user == "alice") {
        return digest_secret{digest_secret::kind::password, "wonderland"};
    }
    return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    digest_credentials c;
    if (parse_digest_credentials(in, c) == nullptr) {
        if (in.size() > digest_max_header || c.nonce.empty() || c.uri.empty() ||
            c.response.size() != digest_hex_size(c.algorithm) || (c.qop == digest_qop::none) != (c.nc == 0) ||
            (c.qop == digest_qop::none) != c.cnonce.empty()) {
            __builtin_trap();
        }
        const std::string text = format_digest_credentials(c);
        digest_credentials back;
        if (parse_digest_credentials(text, back) != nullptr || !(back == c)) {
            __builtin_trap();
        }
        (void)digest_response({.algorithm = c.algorithm, .ha1 = c.response, .nonce = c.nonce, .cnonce = c.cnonce,
                               .nc = c.nc, .qop = c.qop, .method = "INVITE", .uri = c.uri, .body = in});
    }

    digest_challenge ch;
    if (parse_digest_challenge(in, ch) == nullptr) {
        if (ch.nonce.empty()) {
            __builtin_trap();
        }
        const std::string text = format_digest_challenge(ch);
        digest_challenge back;
        if (parse_digest_challenge(text, back) != nullptr || !(back == ch)) {
            __builtin_trap();
        }
        digest_client client([] { return std::string("0a4f113b"); });
        const std::string_view one[] = {in};
        std::string out;
        if (client.authorize(one, "REGISTER", "sip:example.com", "alice", "wonderland", out) == nullptr) {
            digest_credentials answered;
            if (out.find_first_of("\r\n") != std::string::npos || parse_digest_credentials(out, answered) != nullptr ||
                answered.realm != ch.realm || answered.nonce != ch.nonce) {
                __builtin_trap();
            }
        }
    }

    // The server: garbage must never verify; keep the clock moving so tables expire.
    fake_now += 1000;
    const auto v = server().verify("INVITE", in, lookup, static_cast<uint32_t>(size));
    if (v.outcome == digest_outcome::ok) {
        // Only a nonce the server issued can get here, and the fuzzer cannot make one.
        __builtin_trap();
    }
    (void)server().failures(static_cast<uint32_t>(size));
    if (size > 0 && data[0] == 'C') {
        (void)server().challenge(in.substr(1), size > 1 && data[1] == 'S');
    }
    return 0;
}
