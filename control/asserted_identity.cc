#include "asserted_identity.hh"

#include <vector>

#include "b2bua_call.hh"  // quoted_display
#include "sip/ascii.hh"
#include "sip/sip_uri.hh"

namespace sf::control {

namespace {

/// Display names are kept only when they are plain printable text: a folded or escaped one
/// from a peer is dropped rather than rewritten.
std::string safe_display(std::string_view text) {
    if (text.size() > 64) {
        return {};
    }
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            return {};
        }
    }
    return std::string(text);
}

/// Every value of every line named `name` (e.g. P-Asserted-Identity), in order.
std::vector<identity_value> identity_values(const sip::message& m, std::string_view name) {
    std::vector<identity_value> out;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].id != sip::hdr::other || !sip::iequals_ascii(m.headers[i].name, name)) {
            continue;
        }
        std::vector<identity_value> line;
        if (parse_identity_list(m.headers[i].value, line)) {
            out.insert(out.end(), line.begin(), line.end());
        }
    }
    return out;
}

asserted_identity from_value(const identity_value& v) {
    return asserted_identity{std::string(v.user), safe_display(v.display)};
}

}  // namespace

bool valid_identity_user(std::string_view user) {
    if (user.empty() || user.size() > 64) {
        return false;
    }
    for (unsigned char c : user) {
        if (!(std::isalnum(c) || std::string_view("-_.!~*'()&=+$,;?/%#").find(static_cast<char>(c)) !=
                                     std::string_view::npos)) {
            return false;
        }
    }
    return true;
}

bool may_present(const account_config& account, std::string_view user) {
    if (account.identity.empty() || !valid_identity_user(user)) {
        return false;
    }
    if (user == account.identity) {
        return true;
    }
    for (const std::string& allowed : account.identities) {
        if (allowed.ends_with('*') ? user.starts_with(std::string_view(allowed).substr(0, allowed.size() - 1))
                                   : user == allowed) {
            return true;
        }
    }
    return false;
}

asserted_identity identity_of_call(const sip::message& invite, bool trusted_source, const account_config* account) {
    if (trusted_source) {
        // Inside the trust domain the first asserted identity stands (RFC 3325 5).
        for (const identity_value& v : identity_values(invite, "P-Asserted-Identity")) {
            if (valid_identity_user(v.user)) {
                return from_value(v);
            }
        }
        return {};
    }
    if (account == nullptr || account->identity.empty()) {
        return {};  // outside the trust domain and nobody to vouch for: nothing is asserted
    }
    // What the caller prefers, then what it asserted itself, then its From: the first the
    // account may present (RFC 3325 6: the proxy picks among the identities it authenticated).
    for (const std::string_view name : {"P-Preferred-Identity", "P-Asserted-Identity"}) {
        for (const identity_value& v : identity_values(invite, name)) {
            if (may_present(*account, v.user)) {
                return from_value(v);
            }
        }
    }
    sip::uri from;
    if (sip::parse_uri(invite.from.uri, from) && may_present(*account, from.user)) {
        return asserted_identity{std::string(from.user), safe_display(invite.from.display)};
    }
    return asserted_identity{account->identity, {}};
}

privacy_request privacy_of(const sip::message& m) {
    privacy_request p;
    for (unsigned i = 0; i < m.n_headers; ++i) {
        if (m.headers[i].id == sip::hdr::other && sip::iequals_ascii(m.headers[i].name, "Privacy")) {
            parse_privacy(m.headers[i].value, p);
        }
    }
    return p;
}

identity_on_leg identity_for_destination(const asserted_identity& who, const privacy_request& privacy,
                                         bool trusted_destination, std::string_view from_host) {
    identity_on_leg out;
    if (!trusted_destination && privacy.withholds_identity()) {
        // Beyond the trust domain the appliance is the caller's privacy service (RFC 3323 5,
        // RFC 3325 9.3): no asserted identity, an anonymous From, and the request is done with.
        out.anonymous_from = true;
        return out;
    }
    if (!who.empty()) {
        out.header_lines = "P-Asserted-Identity: " +
                           (who.display.empty() ? std::string() : b2bua_detail::quoted_display(who.display)) +
                           "<sip:" + who.user + "@" + std::string(from_host) + ">\r\n";
    }
    if (const std::string levels = to_string(privacy); trusted_destination && !levels.empty()) {
        // Inside, the privacy travels with the identity for the domain's edge to apply.
        out.header_lines += "Privacy: " + levels + "\r\n";
    }
    return out;
}

}  // namespace sf::control
