#pragma once
/// @file
/// The deployment's configuration: one INI-style file (`[section]`, `key = value`,
/// '#' comments) parsed with Boost.Program_options and validated against the
/// schema below. Any unknown key, wrong type or bad value stops start-up with a
/// config_error that names the key and says what was expected.

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "accounts.hh"
#include "dataplane.hh"
#include "lookup_table.hh"
#include "registrar.hh"
#include "reliable_provisional.hh"
#include "transfer_policy.hh"

namespace sf::control {

/// Why a config was refused: "<origin>: <key>: <what>". Control bytes in it (the file's own
/// text: a key or value with a NUL, an escape sequence) are shown as \xNN, so the message is
/// whole (a NUL cut it short) and prints safely to a terminal or log.
class config_error : public std::runtime_error {
public:
    explicit config_error(const std::string& what) : std::runtime_error(printable(what)) {}

private:
    static std::string printable(const std::string& s);
};

struct sip_config {
    uint16_t port = 5060;
    unsigned t1_ms = 500;
    unsigned t2_ms = 4000;
    unsigned t4_ms = 5000;
    unsigned max_forwards = 70;
    std::string user_agent = "sipferry";
    std::string domain;  ///< the appliance's SIP domain (default digest realm); "" = none
    unsigned session_expires_s = 1800;  ///< RFC 4028 interval offered to callees; 0 = no session timers
    unsigned min_se_s = 90;             ///< smallest interval accepted from callers (else 422)
    /// Which 18x a caller that only Supports 100rel gets reliably (`[sip] reliable_provisional`).
    reliable_policy reliable_to_caller = reliable_policy::sdp;
    /// Seconds a destination may ring unanswered before it is CANCELled (`[sip] max_ring`; a
    /// dial string's rt= overrides it); 0 = until the caller gives up.
    unsigned max_ring_s = 180;
};

struct dialplan_config {
    std::string default_path;   ///< absolute or relative to the process; resolved against the config's folder
    std::string transfer_path;  ///< may be empty: the appliance then refuses REFERs it would handle
    uint64_t max_instructions = 1'000'000;
    uint64_t max_memory_kib = 4096;
    /// Every declared dialplan by name -> resolved path: "default", "transfer" (when set)
    /// and the `[dialplans]` entries. Accounts name dialplans from here.
    std::map<std::string, std::string> named;
    /// `[table.NAME]` sections and `[tables] NAME = file`: what sys.Lookup / sys.LookupPrefix read.
    std::shared_ptr<const lookup_tables> tables = std::make_shared<const lookup_tables>();
};

/// `[capture]`: packet capture on request over the API (dataplane/packet_capture.hh).
struct capture_config {
    std::string dir = "/var/lib/sipferry/captures";  ///< where the pcapng files go (made if missing)
    unsigned max_seconds = 3600;      ///< the longest capture (a request's default: 60 s)
    uint64_t max_packets = 10'000'000;  ///< frames one capture writes at most (also its default)
    uint64_t max_bytes = uint64_t{1} << 30;  ///< a capture ends once its file holds this much (disk)
};

/// `[hep]`: a copy of every SIP message the appliance sends or receives, to a HEP collector
/// (control/hep_exporter.hh).
struct hep_config {
    uint32_t collector_addr = 0;  ///< IPv4, host order; 0: off
    uint16_t collector_port = 9060;
    uint32_t capture_id = 1;      ///< how the collector tells this appliance from others
    std::string password;         ///< the collector's auth key; empty: none sent
    bool rtcp = false;            ///< also the RTCP reports the workers read (HEP type 5, JSON)
    bool operator==(const hep_config&) const = default;
};

/// `[stir]`: STIR/SHAKEN signing of calls placed at providers with `sign_identity`
/// (control/stir_shaken.hh), and verification of calls from providers with `verify_identity`.
struct stir_config {
    std::string key_file;  ///< the EC P-256 private key (PEM); empty: no signing
    std::string key_pem;   ///< its text, read and checked when the config is loaded
    std::string x5u;       ///< where the certificate is published (the PASSporT's x5u)
    // Verification of calls from providers with `verify_identity` (control/stir_verify.hh).
    std::string ca_file;          ///< the trust anchors (the STI-PA's roots), PEM; empty: none
    std::string ca_pem;           ///< its text, read and checked when the config is loaded
    std::string x5u_tls_ca_file;  ///< roots an https x5u's server may chain to besides the system's
    std::string x5u_tls_ca_pem;
    unsigned max_age_s = 60;      ///< how far a PASSporT's iat may be from now (RFC 8224 6.2.2)
    unsigned fetch_timeout_ms = 2000;  ///< a certificate fetch, all of it
    bool x5u_http = false;        ///< also fetch http:// x5u URLs (SHAKEN says https)
    unsigned verify_threads = 0;  ///< threads that check signatures (0: the control thread itself)
    bool check_crl = true;        ///< certificates naming a CRL pass only while it is known and clean (stir_crl.hh)
    unsigned crl_grace_s = 0;     ///< how long past its nextUpdate the last good CRL answers while no new one can be had
    std::string crl_signers_file;  ///< certificates that may sign CRLs besides the roots (an STI-PA's CRL signer), PEM
    std::string crl_signers_pem;
    bool operator==(const stir_config&) const = default;
};

struct config {
    std::string path;                ///< the file this came from
    dp::dataplane_config dataplane;  ///< eal, dataplane, ports, sip.port, media range
    sip_config sip;
    dialplan_config dialplan;
    transfer_policy_config transfer;
    std::string api_listen = "127.0.0.1:8080";
    std::string api_token;           ///< bearer token for POST requests (call control); empty: refused
    std::string cdr_file;            ///< empty: no CDR file (records still kept in memory for the API)
    uint64_t cdr_max_bytes = 0;      ///< rotate the CDR file at this size (0: never)
    unsigned cdr_files = 5;          ///< rotated files kept (cdr.jsonl.1 ... .N)
    capture_config capture;
    hep_config hep;
    stir_config stir;
    std::vector<account_config> accounts;    ///< `[account.NAME]`, in file order
    std::vector<provider_config> providers;  ///< `[provider.NAME]`, in file order
    registrar_config registrar;              ///< `[registrar]`
    /// `[media] timeout`, `hold_timeout`: an answered call through which no RTP was relayed in
    /// either direction for this long (while on hold: hold_timeout) is hung up; 0 = never.
    unsigned media_timeout_s = 60;
    unsigned media_hold_timeout_s = 3600;
};

/// Loads and validates `path`. Throws config_error("<file>: <key>: <what was expected>").
config load_config(const std::string& path);

/// Same from text; `origin` names it in messages and relative paths resolve against `base_dir`.
config parse_config(const std::string& text, const std::string& origin, const std::string& base_dir);

/// "192.0.2.1:9060" -> host-order address and port (1..65535); false otherwise.
bool parse_ipv4_port_text(const std::string& text, uint32_t& addr, uint16_t& port);

/// "192.0.2.1" -> host-order address; false if not a dotted quad.
bool parse_ipv4_text(const std::string& text, uint32_t& out);
std::string ipv4_to_string(uint32_t host_order);

}  // namespace sf::control
