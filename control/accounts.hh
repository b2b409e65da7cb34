#pragma once
/// @file
/// Accounts (customers) and providers (trunks) from the config, and the lookups the
/// B2BUA needs: which account a source address belongs to (allowed networks, longest
/// prefix wins), which account a registering user belongs to, which provider a name
/// or an address is. Pure data and logic: no DPDK, no SIP state.
///
/// Config sections (parsed and validated in config.cc, documented in docs/accounts.md):
/// `[account.NAME]`, `[provider.NAME]`.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "diversion.hh"
#include "media_policy.hh"

namespace sf::control {

/// An IPv4 network, host byte order. `prefix` 0 matches everything, 32 one address.
struct cidr {
    uint32_t net = 0;    ///< network address (host bits zero)
    uint8_t prefix = 32;

    uint32_t mask() const { return prefix == 0 ? 0u : ~uint32_t{0} << (32 - prefix); }
    bool contains(uint32_t addr) const { return (addr & mask()) == net; }
    bool operator==(const cidr&) const = default;
};

/// Parses "A.B.C.D/N" (N 0..32) or a bare "A.B.C.D" (/32). Host bits must be zero
/// ("10.0.0.1/8" is refused: it is almost always a typo). Returns "" on success,
/// else what was wrong.
std::string parse_cidr(std::string_view text, cidr& out);
std::string to_string(const cidr& c);

/// A customer: who may place calls (by source network or by digest credentials),
/// which dialplans route them, and which users may REGISTER under it.
struct account_config {
    std::string name;
    std::string password;    ///< plain text, "" when absent
    std::string ha1_md5;     ///< MD5(NAME:realm:password), lower-case hex (32), "" when absent
    std::string ha1_sha256;  ///< SHA-256(NAME:realm:password), lower-case hex (64), "" when absent
    std::vector<cidr> networks;  ///< calls from these sources are the account's without a challenge
    std::string realm;           ///< digest realm (default sip.domain, else "sipferry")
    std::string dialplan = "default";  ///< dialplan for the account's calls
    std::string transfer_dialplan;     ///< dialplan for REFERs handled on the appliance; "" = refuse
    unsigned max_calls = 0;                 ///< concurrent calls, 0 = unlimited
    unsigned max_transfers_per_minute = 0;  ///< 0 = unlimited
    unsigned max_calls_per_second = 0;      ///< new calls (INVITEs routed), 0 = unlimited
    bool may_register = false;              ///< may REGISTER users @local
    std::vector<std::string> users;         ///< users that register under it (default: {name}), when may_register
    /// Index of the appliance port that carries the media of its calls (and of its registered
    /// users' calls); -1 = the port their SIP arrives on. A network of its own for media.
    int media_realm = -1;
    /// The audio codecs (`codecs`) and media types (`media_types`) its callers may use (their
    /// leg's co= and mt=), and calls to its registered users when the dial string has none.
    media_policy media;
    /// How a diverted call to one of its registered users says so (`diversion_headers`: a PBX
    /// registering as a user reads Diversion or History-Info as a trunk does), unless the dial
    /// string's dh= says.
    diversion_headers diversion_via = diversion_headers::diversion;
    /// The identity (a SIP user, mostly an E.164 number) the appliance asserts for the account's
    /// calls (RFC 3325 P-Asserted-Identity); "" = none asserted.
    std::string identity;
    /// Further users its callers may present (P-Preferred-Identity, P-Asserted-Identity or
    /// From): exact users, or prefixes ending in '*' (a number block). Only with `identity`.
    std::vector<std::string> identities;

    bool has_credentials() const { return !password.empty() || !ha1_md5.empty() || !ha1_sha256.empty(); }
    bool has_user(std::string_view user) const;
};

/// A trunk: where calls to `user@NAME` go, and how to authenticate / register there.
struct provider_config {
    std::string name;
    uint32_t host = 0;         ///< IPv4, host byte order
    uint16_t port = 5060;
    int realm = -1;            ///< index of the appliance port that reaches it; -1 = routed by address
    std::string realm_name;    ///< that port's name, "" when routed
    int media_realm = -1;      ///< index of the appliance port for the media of calls to it; -1 = its SIP's
    std::string username;      ///< outbound credentials (answering its 401/407), "" = none
    std::string password;
    std::string from_host;     ///< host part of From on calls to it (default: host as text)
    /// The audio codecs and media types calls to it may use (a destination's co= and mt= when
    /// its dial string has none).
    media_policy media;
    /// The header fields of a diverted call to it (a destination's dh= when its dial string has
    /// none): RFC 5806 Diversion, RFC 7044 History-Info, or both.
    diversion_headers diversion_via = diversion_headers::diversion;
    bool registers = false;    ///< REGISTER to the provider
    unsigned register_expiry = 3600;  ///< seconds asked for in that REGISTER
    /// Inside the appliance's trust domain (RFC 3325): its P-Asserted-Identity is believed, and
    /// calls to it carry the caller's identity and Privacy as they are.
    bool trust_identity = false;
    /// Calls placed at it carry a STIR/SHAKEN Identity header signed with `[stir] key`
    /// (RFC 8224, RFC 8588), when both numbers are telephone numbers.
    bool sign_identity = false;
    /// Calls from it have their Identity headers verified (`[stir] ca`, control/stir_verify.hh):
    /// the called party gets a verstat, dialplans req.Verstat.
    bool verify_identity = false;
    /// `verify_identity = reject`: a call whose verification failed is refused with RFC 8224's
    /// response (403 Stale Date, 436, 437, 438) before any dialplan runs. Otherwise it goes on
    /// and the provider learns why in a Reason header (RFC 9410).
    bool reject_failed_identity = false;
    /// `verify_identity = require`: rejected as above, and a call with no SHAKEN PASSporT at all
    /// is refused with 428 Use Identity Header.
    bool require_identity = false;
    /// OPTIONS probe interval in seconds (0 = not probed). A probed provider that leaves an
    /// OPTIONS or INVITE unanswered is down and skipped by dial strings until it answers again.
    unsigned ping_s = 0;
    /// Seconds an INVITE to it may go without any response (not even 100) before the destination
    /// fails with 408 and the dial string moves on (0 = the transaction's own timeout, 64*T1).
    unsigned response_timeout_s = 0;
    /// Calls the appliance may have placed at it at once (its channels; 0 = unlimited): a
    /// destination there beyond that is skipped as if it failed with 503.
    unsigned max_calls = 0;
};

/// The accounts and providers of one config, indexed for the lookups of call set-up.
/// Immutable once built; a reload builds a new one.
class account_directory {
public:
    account_directory() = default;
    /// `accounts` and `providers` as validated by the config (unique names, unique
    /// networks, unique users); later duplicates are ignored by the indexes.
    account_directory(std::vector<account_config> accounts, std::vector<provider_config> providers);

    const account_config* account(std::string_view name) const;
    /// The account whose networks hold `addr` (host order); the longest prefix wins,
    /// equal networks: the account declared first. nullptr: none (challenge it).
    const account_config* account_by_source(uint32_t addr) const;
    /// The account a user registers under (REGISTER To user, `user@local`).
    const account_config* account_by_user(std::string_view user) const;

    const provider_config* provider(std::string_view name) const;
    /// The first provider (in config order) whose host is `addr` and, when `port` is not
    /// 0, whose port is `port`: recognises calls that come from a trunk.
    const provider_config* provider_by_address(uint32_t addr, uint16_t port = 0) const;

    const std::vector<account_config>& accounts() const { return accounts_; }
    const std::vector<provider_config>& providers() const { return providers_; }

private:
    struct by_prefix {
        uint8_t prefix;
        std::unordered_map<uint32_t, size_t> nets;  ///< network -> account index
    };

    std::vector<account_config> accounts_;
    std::vector<provider_config> providers_;
    std::unordered_map<std::string, size_t> account_names_;
    std::unordered_map<std::string, size_t> users_;
    std::unordered_map<std::string, size_t> provider_names_;
    std::vector<by_prefix> networks_;  ///< longest prefix first
};

}  // namespace sf::control
