// libFuzzer target: the operator-input parsers of the control plane, compiled from
// control/config.cc, control/lookup_table.cc and control/accounts.cc.
//
// The first byte of an input picks the parser (byte % 4; the seeds use the digits '0'..'3'),
// the rest of the input is its text:
//   0  parse_config(text, "fuzz.conf", base_dir): a whole config file;
//   1  parse_lookup_file(text, table): a `[tables]` file;
//   2  parse_cidr(text, out): one entry of an account's `networks`;
//   3  parse_config(preamble + text): a fixed valid [eal], two [port.*] and [dialplan] (with a
//      `default` and a `transfer` dialplan) followed by the text, so that inputs spend their
//      bytes on the sections parsed after the mandatory ones: [account.*], [provider.*],
//      [registrar], [dialplans], [table.*], [tables], [transfer], [api], [cdr], [hep], [stir].
//
// Oracles beyond "no crash, no UB, no leak":
// - parse_config either returns or throws config_error, the one exception its callers catch
//   (control/main.cc at start, the control loop on reload); anything else escapes and crashes
//   the fuzzer. The message names the origin: "fuzz.conf: <key>: <what>".
// - A config that parses has every value within the range docs/accounts.md, the comments of
//   configs/*.conf and config.hh document (checked here independently of config.cc), and an
//   account_directory built from it finds every account, user, network and provider back.
// - parse_lookup_file agrees with a reference implementation of the documented format, and the
//   table's exact and longest-prefix lookups find what the file said.
// - parse_cidr: a network that parses has no host bits set, prints back to text that parses to
//   the same network, and a failed parse leaves the output untouched with a message.
//
// Files. parse_config never writes: `cdr.file` is only resolved to a path, not opened. It reads
// (1) std::filesystem::is_regular_file() of every dialplan path ([dialplan] default/transfer,
// [dialplans] NAME) and (2) the whole of every `[tables] NAME = file`. Relative paths resolve
// against base_dir: a fresh temp dir (mkdtemp) that this target makes at start-up and holds
// only four small read-only files written here: default.lua (an empty dialplan, so that a
// config can get past the required `[dialplan] default` check at all), routes.txt (a valid
// table file), broken.txt (a table file with an error) and sp.key (an EC P-256 key made at
// start-up, for `[stir] key`); it is removed at exit (a crash
// leaves it behind: libFuzzer ends those with _Exit). Inputs whose config text could name
// anything outside base_dir (a value that starts with '/', or ".." anywhere) are rejected
// before parsing, so the fuzzer reads nothing else on the machine (no /dev/zero, FIFOs or
// /proc files that would hang it, nothing that differs between hosts).

#include "accounts.hh"
#include "config.hh"
#include "lookup_table.hh"
#include "stir_shaken.hh"
#include "../control/stir_keys.hh"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

using namespace sf::control;
namespace fs = std::filesystem;

namespace {

constexpr const char* origin = "fuzz.conf";

#define CHECK(cond)                                                                                 \
    do {                                                                                            \
        if (!(cond)) {                                                                              \
            std::fprintf(stderr, "fuzz_config: invariant failed: %s (line %d)\n", #cond, __LINE__); \
            __builtin_trap();                                                                       \
        }                                                                                           \
    } while (0)

std::string g_base_dir;

void remove_base_dir() {
    std::error_code ec;
    fs::permissions(g_base_dir, fs::perms::owner_all, ec);
    fs::remove_all(g_base_dir, ec);
}

void write_fixture(const std::string& name, const std::string& text) {
    const std::string path = g_base_dir + "/" + name;
    std::ofstream out(path);
    out << text;
    out.close();
    if (!out || ::chmod(path.c_str(), 0444) != 0) {
        std::perror(path.c_str());
        std::abort();
    }
}

// ---------------------------------------------------------------- what config.cc promises

bool is_name(const std::string& s, size_t max) {
    return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
}

bool is_host(const std::string& s) {
    return !s.empty() && s.size() <= 253 && s.front() != '.' && s.front() != '-' &&
           std::all_of(s.begin(), s.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-';
           });
}

// Printable ASCII (0x20..0x7e) without the characters in `refused`.
bool is_printable(const std::string& s, std::string_view refused = {}) {
    return std::all_of(s.begin(), s.end(), [&](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u < 0x7f && refused.find(c) == std::string_view::npos;
    });
}

bool is_lower_hex(const std::string& s, size_t n) {
    return s.size() == n &&
           std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_user(const std::string& s) {
    return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("-_.!~*'()&=+$;?/").find(c) != std::string_view::npos;
    });
}

bool in_base_dir(const std::string& path) {
    return path.size() > g_base_dir.size() && path.compare(0, g_base_dir.size() + 1, g_base_dir + "/") == 0;
}

bool regular_file(const std::string& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec);
}

uint32_t mask_of(unsigned prefix) {
    return prefix == 0 ? 0u : ~uint32_t{0} << (32 - prefix);
}

void check_ports(const config& c) {
    const auto& dp = c.dataplane;
    CHECK(!dp.ports.empty() && dp.ports.size() <= sf::dp::worker_stats::max_ports);
    for (size_t i = 0; i < dp.ports.size(); ++i) {
        const auto& p = dp.ports[i];
        CHECK(is_name(p.name, 15));
        CHECK(!p.device.empty());
        CHECK(p.prefix >= 1 && p.prefix <= 32);
        CHECK(p.media_count <= 1024);
        if (p.media_count != 0) {
            const uint64_t last = uint64_t{p.media_first} + p.media_count - 1;
            CHECK(last <= UINT32_MAX);
            const uint32_t m = mask_of(p.prefix);
            CHECK((p.media_first & m) == (p.addr & m) && (static_cast<uint32_t>(last) & m) == (p.addr & m));
            CHECK(p.addr < p.media_first || p.addr > last);
        } else {
            CHECK(p.media_first == 0);
        }
        for (size_t j = 0; j < i; ++j) {
            const auto& q = dp.ports[j];
            CHECK(p.name != q.name);
            CHECK(p.addr != q.addr);
            const auto holds = [](const sf::dp::port_config& x, uint32_t a) {
                return a == x.addr || (x.media_count != 0 && a - x.media_first < x.media_count);
            };
            CHECK(!holds(p, q.addr) && !holds(q, p.addr));
            if (p.media_count != 0 && q.media_count != 0) {
                CHECK(!holds(p, q.media_first) && !holds(q, p.media_first));
            }
        }
    }
}

void check_values(const config& c) {
    CHECK(c.path == origin);
    const auto& dp = c.dataplane;
    for (const auto& a : dp.eal_args) {
        CHECK(!a.empty() && a.find_first_of(" \t\n\v\f\r") == std::string::npos);
    }
    CHECK(dp.workers >= 1 && dp.workers <= 64);
    CHECK(dp.burst >= 1 && dp.burst <= 64);
    CHECK(dp.idle_polls >= 1 && dp.idle_polls <= 1'000'000);
    CHECK(dp.idle_sleep_us <= 100'000);
    // A real-time class always has a priority the kernel accepts; normal has none.
    CHECK(dp.scheduling.policy == sf::dp::scheduling_policy::normal
              ? dp.scheduling.priority == 0
              : dp.scheduling.priority >= 1 && dp.scheduling.priority <= 98);
    CHECK(dp.mbufs >= 1023 && dp.mbufs <= 16'777'215);
    CHECK(dp.mbuf_data_room >= 2048 && dp.mbuf_data_room <= 65000);
    CHECK(dp.sip_mbufs >= 1023 && dp.sip_mbufs <= 16'777'215);
    CHECK(dp.relay_capacity >= 1024 && dp.relay_capacity <= 16'777'216);
    CHECK(dp.sip_rate_per_source <= 1'000'000);
    CHECK(dp.sip_burst_per_source >= 1 && dp.sip_burst_per_source <= 1'000'000);
    CHECK(dp.sip_sources_tracked >= 16 && dp.sip_sources_tracked <= 1'048'576);
    check_ports(c);

    // [sip]
    const auto& s = c.sip;
    CHECK(s.port >= 1 && dp.sip_port == s.port);
    CHECK(s.t1_ms >= 10 && s.t1_ms <= 10'000);
    CHECK(s.t2_ms >= s.t1_ms && s.t2_ms <= 60'000);
    CHECK(s.t4_ms >= 10 && s.t4_ms <= 60'000);
    CHECK(s.max_forwards >= 1 && s.max_forwards <= 255);
    CHECK(is_printable(s.user_agent));
    CHECK(s.min_se_s >= 90 && s.min_se_s <= 86'400);
    CHECK(s.session_expires_s == 0 || (s.session_expires_s >= s.min_se_s && s.session_expires_s <= 86'400));
    CHECK(s.reliable_to_caller == reliable_policy::required || s.reliable_to_caller == reliable_policy::sdp ||
          s.reliable_to_caller == reliable_policy::supported);
    CHECK(s.domain.empty() || is_host(s.domain));

    // [media]
    CHECK(dp.relay_port_min >= 1024 && dp.relay_port_min % 2 == 0);
    CHECK(dp.relay_port_max >= dp.relay_port_min + 3);
    CHECK(s.port < dp.relay_port_min || s.port > dp.relay_port_max);

    // [dialplan], [dialplans], [table.*], [tables]
    const auto& d = c.dialplan;
    CHECK(in_base_dir(d.default_path) && regular_file(d.default_path));
    CHECK(d.transfer_path.empty() || (in_base_dir(d.transfer_path) && regular_file(d.transfer_path)));
    CHECK(d.max_instructions >= 1000 && d.max_instructions <= 1'000'000'000);
    CHECK(d.max_memory_kib >= 64 && d.max_memory_kib <= 1'048'576);
    CHECK(d.named.count("default") == 1 && d.named.at("default") == d.default_path);
    CHECK(d.named.count("transfer") == (d.transfer_path.empty() ? 0u : 1u));
    for (const auto& [name, path] : d.named) {
        CHECK(is_name(name, 32) && in_base_dir(path) && regular_file(path));
    }
    CHECK(d.tables != nullptr);
    for (const auto& [name, table] : *d.tables) {
        CHECK(is_name(name, 32));
    }

    // [transfer]
    for (const auto* list : {&c.transfer.deny_prefixes, &c.transfer.allow_prefixes}) {
        for (const auto& p : *list) {
            CHECK(!p.empty() && std::all_of(p.begin(), p.end(), [](char ch) {
                return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                       ch == '+' || ch == '*' || ch == '#';
            }));
        }
    }
    CHECK(c.transfer.max_per_call <= 100);
    CHECK(c.transfer.max_per_minute >= 1 && c.transfer.max_per_minute <= 1'000'000);
    CHECK(c.transfer.accept_status == 200 || c.transfer.accept_status == 202);

    // [api]: IPv4:PORT, and a token of 16+ printable characters without spaces (or none).
    {
        const auto colon = c.api_listen.rfind(':');
        CHECK(colon != std::string::npos);
        uint32_t a = 0;
        CHECK(parse_ipv4_text(c.api_listen.substr(0, colon), a));
        const std::string port = c.api_listen.substr(colon + 1);
        CHECK(!port.empty() && port.find_first_not_of("0123456789") == std::string::npos);
        const unsigned long n = std::stoul(port);
        CHECK(n >= 1 && n <= 65535);
    }
    CHECK(c.api_token.empty() || (c.api_token.size() >= 16 && is_printable(c.api_token, " ")));

    // [cdr]: the file is only a path (never opened by the parser).
    CHECK(c.cdr_file.empty() || in_base_dir(c.cdr_file) || c.cdr_file == g_base_dir);
    CHECK(c.cdr_max_bytes <= uint64_t{1} << 40);
    CHECK(c.cdr_files >= 1 && c.cdr_files <= 1000);

    // [hep]: off, or a collector with a port; a key of at most 128 printable octets, no spaces.
    CHECK(c.hep.collector_addr == 0 || c.hep.collector_port != 0);
    CHECK(c.hep.password.size() <= 128 && is_printable(c.hep.password, " "));

    // [stir]: off, or a key that signs (EC P-256, read whole) with a URL fit for the header; a
    // provider signs only with it.
    CHECK(c.stir.key_file.empty() == c.stir.x5u.empty());
    CHECK(c.stir.key_file.empty() == c.stir.key_pem.empty());
    if (!c.stir.key_file.empty()) {
        std::string why;
        CHECK(in_base_dir(c.stir.key_file));
        CHECK(sf::control::valid_x5u(c.stir.x5u));
        CHECK(sf::control::identity_signer::from_pem(c.stir.key_pem, c.stir.x5u, why) != nullptr);
    }
    for (const auto& p : c.providers) {
        CHECK(!p.sign_identity || !c.stir.key_file.empty());
    }

    // [registrar]
    const auto& rg = c.registrar;
    CHECK(rg.min_expires >= 1 && rg.min_expires <= 86'400);
    CHECK(rg.max_expires >= rg.min_expires && rg.max_expires <= 604'800);
    CHECK(rg.default_expires >= rg.min_expires && rg.default_expires <= rg.max_expires);
    CHECK(rg.max_contacts_per_user >= 1 && rg.max_contacts_per_user <= 1000);
    CHECK(rg.keepalive_s <= 3600);
    CHECK(rg.keepalive_failures >= 1 && rg.keepalive_failures <= 100);
    CHECK(rg.max_bindings >= 1 && rg.max_bindings <= 10'000'000);
}

// [account.NAME] and [provider.NAME] (docs/accounts.md), and the directory the B2BUA builds
// from them.
void check_accounts(const config& c) {
    std::set<std::string> names, users;
    std::set<std::pair<uint32_t, unsigned>> nets;
    for (const auto& a : c.accounts) {
        CHECK(is_name(a.name, 32) && names.insert(a.name).second);
        CHECK(a.has_credentials() || !a.networks.empty());
        CHECK(a.password.empty() || is_printable(a.password));
        CHECK(a.ha1_md5.empty() || is_lower_hex(a.ha1_md5, 32));
        CHECK(a.ha1_sha256.empty() || is_lower_hex(a.ha1_sha256, 64));
        for (const cidr& n : a.networks) {
            CHECK(n.prefix <= 32 && (n.net & ~n.mask()) == 0);
            CHECK(nets.insert({n.net, n.prefix}).second);
        }
        CHECK(!a.realm.empty() && is_printable(a.realm, "\"\\"));
        CHECK(!a.dialplan.empty() && c.dialplan.named.count(a.dialplan) == 1);
        CHECK(a.transfer_dialplan.empty() || c.dialplan.named.count(a.transfer_dialplan) == 1);
        CHECK(a.max_calls <= 1'000'000 && a.max_transfers_per_minute <= 1'000'000);
        CHECK(a.may_register == !a.users.empty());
        for (const auto& u : a.users) {
            CHECK(is_user(u) && users.insert(u).second && a.has_user(u));
        }
    }
    std::set<std::string> providers;
    for (const auto& p : c.providers) {
        CHECK(is_name(p.name, 32) && p.name != "local" && providers.insert(p.name).second);
        CHECK(p.port >= 1);
        if (p.realm_name.empty()) {
            CHECK(p.realm == -1);
        } else {
            CHECK(p.realm >= 0 && static_cast<size_t>(p.realm) < c.dataplane.ports.size() &&
                  c.dataplane.ports[static_cast<size_t>(p.realm)].name == p.realm_name);
        }
        CHECK(p.username.empty() || is_printable(p.username, " \"\\:@"));
        CHECK(p.password.empty() || (is_printable(p.password) && !p.username.empty()));
        CHECK(is_host(p.from_host));
        CHECK(p.register_expiry >= 60 && p.register_expiry <= 86'400);
        CHECK(!p.registers || !p.username.empty());
    }

    const account_directory dir(c.accounts, c.providers);
    for (const auto& a : c.accounts) {
        CHECK(dir.account(a.name) != nullptr && dir.account(a.name)->name == a.name);
        for (const auto& u : a.users) {
            CHECK(dir.account_by_user(u) != nullptr && dir.account_by_user(u)->name == a.name);
        }
        // Every network's addresses belong to an account with that network or a longer one.
        for (const cidr& n : a.networks) {
            for (const uint32_t addr : {n.net, n.net | ~n.mask()}) {
                const account_config* owner = dir.account_by_source(addr);
                CHECK(owner != nullptr);
                CHECK(std::any_of(owner->networks.begin(), owner->networks.end(), [&](const cidr& m) {
                    return m.contains(addr) && m.prefix >= n.prefix;
                }));
            }
        }
    }
    for (const auto& p : c.providers) {
        CHECK(dir.provider(p.name) != nullptr && dir.provider(p.name)->name == p.name);
        const provider_config* first = dir.provider_by_address(p.host, p.port);
        CHECK(first != nullptr && first->host == p.host && first->port == p.port);
    }
}

// True when some `key = value` line could name a file outside base_dir. A superset of what
// Boost.Program_options makes a value: it splits lines at '\n', the value starts after the
// first '=' and is trimmed of " \t\r\n" (all skipped here with every other byte <= 0x20);
// resolve() in config.cc keeps a value starting with '/' as it is and normalises the rest
// under base_dir, which only ".." can leave.
bool may_leave_base_dir(std::string_view text) {
    if (text.find("..") != std::string_view::npos) {
        return true;
    }
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        auto i = line.find('=');
        if (i == std::string_view::npos) {
            continue;
        }
        while (++i < line.size() && static_cast<unsigned char>(line[i]) <= 0x20) {
        }
        if (i < line.size() && line[i] == '/') {
            return true;
        }
    }
    return false;
}

void fuzz_config(const std::string& text) {
    config c;
    try {
        c = parse_config(text, origin, g_base_dir);
    } catch (const config_error& e) {
        // What control/main.cc and the reload print: "<file>: <key>: <what was expected>",
        // with the input's control bytes (a NUL, an escape sequence) shown as \xNN.
        const std::string what = e.what();
        const std::string head = std::string(origin) + ": ";
        CHECK(what.compare(0, head.size(), head) == 0);
        for (const char ch : what) {
            CHECK(static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f);
        }
        return;
    }
    check_values(c);
    check_accounts(c);
}

// A preamble that passes the mandatory sections (mode 3), like configs/lab.conf's.
const std::string preamble =
    "[eal]\n"
    "args = -l 0-1 --no-huge --no-pci\n"
    "[port.acc]\n"
    "device = net_null0\n"
    "address = 192.0.2.1/24\n"
    "[port.core]\n"
    "device = net_null1\n"
    "address = 198.51.100.1/24\n"
    "[dialplan]\n"
    "default = default.lua\n"
    "transfer = default.lua\n";

// ---------------------------------------------------------------- table files

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

// The format as lookup_table.hh documents it, written out independently of the product's code.
std::string reference_lookup_file(const std::string& text, std::map<std::string, std::string>& out) {
    std::istringstream in(text);
    std::string raw;
    for (size_t n = 1; std::getline(in, raw); ++n) {
        const std::string_view line = trim(raw);
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            return "line " + std::to_string(n) + ": expected 'key = value'";
        }
        const std::string_view key = trim(line.substr(0, eq));
        if (key.empty()) {
            return "line " + std::to_string(n) + ": empty key";
        }
        out[std::string(key)] = std::string(trim(line.substr(eq + 1)));
    }
    return "";
}

void fuzz_lookup_file(const std::string& text) {
    lookup_table t;
    const std::string err = parse_lookup_file(text, t);
    std::map<std::string, std::string> want;
    const std::string want_err = reference_lookup_file(text, want);
    CHECK(err == want_err);
    if (!err.empty()) {
        return;
    }
    CHECK(t.size() == want.size());
    for (const auto& [key, value] : want) {
        const auto got = t.find(key);
        CHECK(got && *got == value);
        const auto hit = t.longest_prefix(key);  // the key itself is the longest prefix of itself
        CHECK(hit && hit->first == key && hit->second == value);
        const std::string longer = key + "\x01";
        const auto hit2 = t.longest_prefix(longer);
        CHECK(hit2 && hit2->first.size() <= longer.size() && longer.compare(0, hit2->first.size(), hit2->first) == 0);
        CHECK(t.find(hit2->first) && *t.find(hit2->first) == hit2->second);
    }
}

// ---------------------------------------------------------------- networks

void fuzz_cidr(const std::string& text) {
    cidr c;
    c.net = 0x01020304;
    c.prefix = 7;
    const std::string err = parse_cidr(text, c);
    if (!err.empty()) {
        CHECK(c.net == 0x01020304u && c.prefix == 7);  // untouched on error
        return;
    }
    CHECK(c.prefix <= 32 && (c.net & ~c.mask()) == 0 && c.contains(c.net));
    cidr back;
    CHECK(parse_cidr(to_string(c), back).empty() && back == c);
    uint32_t addr = 0;
    if (text.find('/') == std::string::npos) {
        CHECK(parse_ipv4_text(text, addr) && c.prefix == 32 && c.net == addr);
    }
    CHECK(parse_ipv4_text(ipv4_to_string(c.net), addr) && addr == c.net);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    std::string tmpl = (fs::temp_directory_path() / "sipferry-fuzz_config-base-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
        std::perror("mkdtemp");
        std::abort();
    }
    g_base_dir = tmpl;
    std::atexit(remove_base_dir);
    write_fixture("default.lua", "-- empty dialplan\n");
    write_fixture("routes.txt", "# rate deck\n44 = uk\n4420 = london\n1 = nanp\n");
    write_fixture("broken.txt", "44 = uk\nno separator\n");
    write_fixture("sp.key", sf::test::private_key_pem("P-256"));
    if (::chmod(g_base_dir.c_str(), 0555) != 0) {
        std::perror(g_base_dir.c_str());
        std::abort();
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
    case 0:
        if (may_leave_base_dir(text)) {
            return -1;  // not added to the corpus
        }
        fuzz_config(text);
        break;
    case 1:
        fuzz_lookup_file(text);
        break;
    case 2:
        fuzz_cidr(text);
        break;
    case 3:
        if (may_leave_base_dir(text)) {
            return -1;
        }
        fuzz_config(preamble + text);
        break;
    }
    return 0;
}
