#pragma once
/// @file
/// Lua 5.4 dialplans: a sandboxed Lua state per control shard that decides where a call goes.
///
/// A dialplan is a Lua file run once per call, in the spirit of sipsorcery's dialplans:
///
///     if req.URI.User == "bob" then sys.Dial("bob@198.51.100.20:5060[tr=c]") end
///
/// The chunk is compiled once at load; each run gets a fresh environment table
/// whose reads fall back to a whitelisted base (no io, os, debug, require, load,
/// dofile, loadfile, collectgarbage), so nothing a call does leaks into the next.
/// `req` and `sys` exist only for the duration of the run. `sys.Lookup` / `sys.LookupPrefix`
/// read the config's tables (lookup_table.hh), held by the engine so that a reload's new
/// engine brings new tables while calls in progress keep theirs. `sys.Quality(provider)` reads
/// the call quality measured of the calls placed to a provider (RTCP, call_quality.hh), so a
/// dialplan can route around a trunk that has gone bad.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dial_string.hh"
#include "lookup_table.hh"

struct lua_State;

namespace sf::control {

/// What the dialplan sees of the request being routed (`req` in Lua).
struct route_request {
    std::string uri_user;      ///< req.URI.User
    std::string uri_host;      ///< req.URI.Host
    std::string from_user;     ///< req.From.User
    std::string from_display;  ///< req.From.Display
    std::string to_user;       ///< req.To.User
    std::string source_ip;     ///< req.Source.Address
    uint16_t source_port = 0;  ///< req.Source.Port
    std::string realm;         ///< req.Realm: name of the port the request arrived on
    std::string account;       ///< req.Account ("" when unauthenticated)
    std::string identity_user;     ///< req.Identity.User: the asserted identity ("" when none)
    std::string identity_display;  ///< req.Identity.Display
    std::string privacy;           ///< req.Privacy: the privacy asked for ("id;header"...), "" when none
    /// req.Verstat: the caller's STIR/SHAKEN verification ("TN-Validation-Passed",
    /// "TN-Validation-Failed", "No-TN-Validation"; "" when the source is not verified).
    std::string verstat;
    std::string attest;  ///< req.Attest: the attestation ("A", "B", "C") of a PASSporT that passed, else ""
    std::string signer_spc;  ///< req.SignerSPC: the SPC (OCN) in the passing PASSporT's certificate, else ""
    std::string origid;      ///< req.Origid: the passing PASSporT's origid, else ""
    /// req.DivertedFrom: when it passed through div PASSporTs (RFC 8946), the number the call was
    /// signed for before it was diverted; else ""
    std::string diverted_from;
    std::vector<std::pair<std::string, std::string>> headers;  ///< req.Header["Name"] (first value)
};

/// The dialplan's decision.
struct route_result {
    enum class kind : uint8_t {
        dial,     ///< sys.Dial() was called: targets holds the destinations, in order
        respond,  ///< sys.Respond(code, reason) was called
        none,     ///< the script returned without deciding: the caller answers 404
        error,    ///< script error, bad dial string, or a limit hit: the caller answers 500
    };
    kind what = kind::none;
    std::vector<dial_target> targets;  ///< in dial-string order; dial_target::group is the sequential step
    int code = 0;
    std::string reason;
    std::string error;              ///< for kind::error: "file:line: message"
    std::vector<std::string> logs;  ///< lines from sys.Log(), in order
};

/// What the appliance measured of the calls placed to one provider (sys.Quality): record
/// directions with a MOS, those below 3.6, the mean MOS and a recent one (each new direction
/// weighs 1/16, so it follows about the last eight calls).
struct provider_quality {
    uint64_t rated = 0;
    uint64_t poor = 0;
    double mean_mos = 0;
    double recent_mos = 0;
};

/// The quality of a provider's calls by its name; nullopt when none was rated yet.
using quality_source = std::function<std::optional<provider_quality>(std::string_view provider)>;

struct dialplan_limits {
    uint64_t max_instructions = 1'000'000;  ///< Lua VM instructions per run
    size_t max_memory_bytes = 4u << 20;     ///< bytes the state may grow by during one run
};

/// Owns one lua_State with every loaded dialplan compiled in it.
class dialplan_engine {
public:
    explicit dialplan_engine(dialplan_limits limits = {});
    ~dialplan_engine();
    dialplan_engine(const dialplan_engine&) = delete;
    dialplan_engine& operator=(const dialplan_engine&) = delete;

    /// Compiles the file at `path` as dialplan `name` (replacing one of that name).
    /// Returns "" on success, else the compile error ("file:line: message").
    std::string load(const std::string& name, const std::string& path);
    /// Same, from source text; `chunk_name` is what errors show as the file name.
    std::string load_source(const std::string& name, const std::string& chunk_name, const std::string& source);
    bool has(const std::string& name) const;
    /// The tables sys.Lookup / sys.LookupPrefix read (replaces the previous set; none by default).
    void set_tables(std::shared_ptr<const lookup_tables> tables);
    /// Where sys.Quality reads a provider's call quality (none by default: sys.Quality is nil
    /// for every provider, as for one with no rated call).
    void set_quality_source(quality_source source);
    /// Runs dialplan `name` for `req`. Never throws; a missing dialplan is kind::error.
    route_result run(const std::string& name, const route_request& req);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sf::control
