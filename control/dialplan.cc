#include "dialplan.hh"

#include <lua.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace sf::control {

// ------------------------------------------------------------------ the engine

namespace {

// A unique address: thrown by sys.Dial / sys.Respond to end the script once it decided.
char decision_sentinel;

}  // namespace

struct dialplan_engine::impl {
    lua_State* L = nullptr;
    dialplan_limits limits;
    size_t used = 0;           ///< bytes the state holds now
    size_t run_limit = 0;      ///< absolute cap while a run is active (0 = none)
    uint64_t instructions = 0; ///< executed in the current run (in hook steps)
    int hook_count = 1000;     ///< instructions between two calls of the count hook
    bool memory_exceeded = false;  ///< a memory error went through the script's pcall in this run
    std::string scratch;       ///< error text that must outlive a longjmp (never a local: Lua errors skip destructors)
    std::shared_ptr<const lookup_tables> tables = std::make_shared<const lookup_tables>();  ///< see set_tables
    quality_source quality;  ///< see set_quality_source
    struct chunk {
        int ref = LUA_NOREF;     ///< registry ref of the compiled function
        std::string file;        ///< what errors show as the file name
    };
    std::unordered_map<std::string, chunk> chunks;  ///< by dialplan name
    int base_ref = LUA_NOREF;  ///< the whitelisted read-only base environment
    route_result* current = nullptr;

    static constexpr size_t max_log_lines = 100;
    static constexpr size_t max_log_line = 1024;

    static constexpr int max_hook_step = 1000;

    static void* alloc(void* ud, void* ptr, size_t osize, size_t nsize) {
        auto* self = static_cast<impl*>(ud);
        const size_t old = ptr == nullptr ? 0 : osize;
        if (nsize == 0) {
            self->used -= old;
            std::free(ptr);
            return nullptr;
        }
        if (self->run_limit != 0 && nsize > old && self->used + (nsize - old) > self->run_limit) {
            return nullptr;  // Lua raises a memory error inside the script
        }
        void* p = std::realloc(ptr, nsize);
        if (p != nullptr) {
            self->used = self->used - old + nsize;
        }
        return p;
    }

    static impl* self_of(lua_State* L) { return static_cast<impl*>(lua_touserdata(L, lua_upvalueindex(1))); }

    static void count_hook(lua_State* L, lua_Debug*) {
        void* ud = nullptr;
        lua_getallocf(L, &ud);
        auto* self = static_cast<impl*>(ud);
        self->instructions += static_cast<uint64_t>(self->hook_count);
        if (self->instructions > self->limits.max_instructions) {
            luaL_where(L, 0);
            lua_pushfstring(L, "%sinstruction limit (%I) exceeded", lua_tostring(L, -1),
                            static_cast<lua_Integer>(self->limits.max_instructions));
            lua_error(L);
        }
    }

    /// Charges `cost` VM-instruction equivalents for work a library function does in C
    /// (the count hook only sees Lua instructions) and stops the script past the limit.
    static void charge(lua_State* L, impl* self, lua_Integer cost) {
        if (cost <= 0) {
            return;
        }
        self->instructions += static_cast<uint64_t>(cost);
        if (self->instructions > self->limits.max_instructions) {
            luaL_where(L, 1);
            lua_pushfstring(L, "%sinstruction limit (%I) exceeded", lua_tostring(L, -1),
                            static_cast<lua_Integer>(self->limits.max_instructions));
            lua_error(L);
        }
    }

    // string.rep(s, n [, sep]): with s and sep empty it loops n times in C and allocates
    // nothing, so the memory limit cannot stop it; otherwise the result's size is the bound.
    static int l_rep(lua_State* L) {
        size_t len = 0, sep_len = 0;
        luaL_checklstring(L, 1, &len);
        luaL_optlstring(L, 3, "", &sep_len);
        const lua_Integer n = luaL_checkinteger(L, 2);
        if (len + sep_len == 0) {
            charge(L, self_of(L), n);
        }
        lua_pushvalue(L, lua_upvalueindex(2));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, 1);
        return 1;
    }

    // table.move(a1, f, e, t [, a2]): e - f + 1 element copies in C.
    static int l_move(lua_State* L) {
        const lua_Integer f = luaL_checkinteger(L, 2);
        const lua_Integer e = luaL_checkinteger(L, 3);
        if (e >= f) {
            // Saturate: e - f + 1 may not fit (e = maxinteger, f = mininteger).
            const lua_Integer span = (f < 0 && e > LUA_MAXINTEGER + f) ? LUA_MAXINTEGER : e - f + 1;
            charge(L, self_of(L), span);
        }
        lua_pushvalue(L, lua_upvalueindex(2));
        lua_insert(L, 1);
        lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
        return lua_gettop(L);
    }

    /// Replaces lib[name] (lib at `idx`) by `fn` with upvalues (impl, original).
    void wrap(int idx, const char* name, lua_CFunction fn) {
        idx = lua_absindex(L, idx);
        lua_pushlightuserdata(L, this);
        lua_getfield(L, idx, name);
        lua_pushcclosure(L, fn, 2);
        lua_setfield(L, idx, name);
    }

    /// True when an error must not be caught by the script's own pcall/xpcall: a decision
    /// (sys.Dial/Respond end the script) or a limit (else a script could loop on pcall forever).
    bool must_unwind() const {
        return current->what != route_result::kind::none || instructions > limits.max_instructions ||
               memory_exceeded;
    }

    /// Re-raises what ended the run; the error object on the stack may have been replaced
    /// by an xpcall handler, so the decision and the limits are re-raised from our own state.
    static int unwind(lua_State* L, impl* self) {
        if (self->current->what != route_result::kind::none) {
            lua_pushlightuserdata(L, &decision_sentinel);
        } else if (self->instructions > self->limits.max_instructions) {
            luaL_where(L, 1);  // where the script called pcall
            lua_pushfstring(L, "%sinstruction limit (%I) exceeded", lua_tostring(L, -1),
                            static_cast<lua_Integer>(self->limits.max_instructions));
        }
        // For the memory limit, the error on top is Lua's preallocated "not enough memory".
        return lua_error(L);
    }

    /// pcall/xpcall whose call failed with `rc`, the error object on top: re-raises what must
    /// end the run (a decision, a limit), else returns false and the error as Lua's would.
    static int protected_call_failed(lua_State* L, impl* self, int rc) {
        self->memory_exceeded |= rc == LUA_ERRMEM;  // re-raised as a plain error: remember why
        if (self->must_unwind()) {
            return unwind(L, self);
        }
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }

    // pcall(f, ...): the standard one, except that it cannot catch the end of the script.
    static int l_pcall(lua_State* L) {
        impl* self = self_of(L);
        luaL_checkany(L, 1);
        const int rc = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
        if (rc != LUA_OK) {
            return protected_call_failed(L, self, rc);
        }
        lua_pushboolean(L, 1);
        lua_insert(L, 1);
        return lua_gettop(L);
    }

    // xpcall(f, msgh, ...): likewise.
    static int l_xpcall(lua_State* L) {
        impl* self = self_of(L);
        const int n = lua_gettop(L);
        luaL_checktype(L, 2, LUA_TFUNCTION);
        // Swap f and msgh: lua_pcall wants the handler below the function.
        lua_pushvalue(L, 1);
        lua_copy(L, 2, 1);
        lua_replace(L, 2);
        const int rc = lua_pcall(L, n - 2, LUA_MULTRET, 1);
        if (rc != LUA_OK) {
            return protected_call_failed(L, self, rc);
        }
        lua_pushboolean(L, 1);
        lua_replace(L, 1);
        return lua_gettop(L);
    }

    // sys.Dial(dialstring)
    static int l_dial(lua_State* L) {
        impl* self = self_of(L);
        const char* text = luaL_checkstring(L, 1);
        if (self->current->what == route_result::kind::none) {
            // No C++ local may be alive when Lua raises (longjmp skips destructors): parse
            // straight into the result and keep the error text in the engine.
            self->scratch = parse_dial_string(text, self->current->targets);
            if (!self->scratch.empty()) {
                self->current->targets.clear();
                return luaL_error(L, "sys.Dial: %s", self->scratch.c_str());
            }
            self->current->what = route_result::kind::dial;
        }
        lua_pushlightuserdata(L, &decision_sentinel);
        return lua_error(L);
    }

    // sys.Respond(code, reason)
    static int l_respond(lua_State* L) {
        impl* self = self_of(L);
        const lua_Integer code = luaL_checkinteger(L, 1);
        const char* reason = luaL_optstring(L, 2, "");
        if (code < 300 || code > 699) {
            return luaL_error(L, "sys.Respond: status must be 300..699, got %d", static_cast<int>(code));
        }
        for (const char* p = reason; *p != '\0'; ++p) {
            if (static_cast<unsigned char>(*p) < 0x20) {
                return luaL_error(L, "sys.Respond: reason must be printable text");
            }
        }
        if (self->current->what == route_result::kind::none) {
            self->current->what = route_result::kind::respond;
            self->current->code = static_cast<int>(code);
            self->current->reason = reason;
        }
        lua_pushlightuserdata(L, &decision_sentinel);
        return lua_error(L);
    }

    // sys.Log(...)
    static int l_log(lua_State* L) {
        impl* self = self_of(L);
        if (self->current->logs.size() >= max_log_lines) {
            return 0;
        }
        // Built in a Lua buffer, not a std::string: luaL_tolstring may raise (memory limit).
        const int n = lua_gettop(L);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (int i = 1; i <= n; ++i) {
            if (i > 1) {
                luaL_addchar(&b, ' ');
            }
            luaL_tolstring(L, i, nullptr);
            luaL_addvalue(&b);
        }
        luaL_pushresult(&b);
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        self->current->logs.emplace_back(s, std::min(len, max_log_line));
        return 0;
    }

    /// The table named by argument 1, or a script error naming it (the writer must see a typo).
    static const lookup_table& table_arg(lua_State* L, impl* self) {
        size_t len = 0;
        const char* name = luaL_checklstring(L, 1, &len);
        const auto it = self->tables->find(std::string_view(name, len));
        if (it == self->tables->end()) {
            luaL_error(L, "no table '%s' in the config ([table.NAME] or [tables])", name);
        }
        return it->second;
    }

    // sys.Lookup(table, key): the value under exactly `key`, or nil.
    static int l_lookup(lua_State* L) {
        impl* self = self_of(L);
        const lookup_table& t = table_arg(L, self);
        size_t len = 0;
        const char* key = luaL_checklstring(L, 2, &len);
        const auto v = t.find(std::string_view(key, len));
        if (!v) {
            lua_pushnil(L);
            return 1;
        }
        lua_pushlstring(L, v->data(), v->size());
        return 1;
    }

    // sys.LookupPrefix(table, key): value, prefix of the entry whose key is the longest prefix of `key`; or nil.
    static int l_lookup_prefix(lua_State* L) {
        impl* self = self_of(L);
        const lookup_table& t = table_arg(L, self);
        size_t len = 0;
        const char* key = luaL_checklstring(L, 2, &len);
        charge(L, self, static_cast<lua_Integer>(len));  // one hash probe per candidate length
        const auto hit = t.longest_prefix(std::string_view(key, len));
        if (!hit) {
            lua_pushnil(L);
            return 1;
        }
        lua_pushlstring(L, hit->second.data(), hit->second.size());
        lua_pushlstring(L, hit->first.data(), hit->first.size());
        return 2;
    }

    // sys.Quality(provider): {Rated, Poor, MeanMOS, RecentMOS} of the calls placed to it, or nil
    // when none was rated (or the appliance measures none: route_check).
    static int l_quality(lua_State* L) {
        impl* self = self_of(L);
        size_t len = 0;
        const char* name = luaL_checklstring(L, 1, &len);
        const std::optional<provider_quality> q =
            self->quality ? self->quality(std::string_view(name, len)) : std::nullopt;
        if (!q) {
            lua_pushnil(L);
            return 1;
        }
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, static_cast<lua_Integer>(q->rated));
        lua_setfield(L, -2, "Rated");
        lua_pushinteger(L, static_cast<lua_Integer>(q->poor));
        lua_setfield(L, -2, "Poor");
        lua_pushnumber(L, q->mean_mos);
        lua_setfield(L, -2, "MeanMOS");
        lua_pushnumber(L, q->recent_mos);
        lua_setfield(L, -2, "RecentMOS");
        return 1;
    }

    // sys.Time(): the wall clock (UTC) as {year, month, day, hour, min, sec, wday}, for time-of-day routing.
    static int l_time(lua_State* L) {
        const std::time_t now = std::time(nullptr);
        std::tm tm{};
        gmtime_r(&now, &tm);
        lua_createtable(L, 0, 7);
        const std::pair<const char*, int> fields[] = {{"year", tm.tm_year + 1900}, {"month", tm.tm_mon + 1},
                                                      {"day", tm.tm_mday},         {"hour", tm.tm_hour},
                                                      {"min", tm.tm_min},          {"sec", tm.tm_sec},
                                                      {"wday", tm.tm_wday + 1}};
        for (const auto& [k, v] : fields) {
            lua_pushinteger(L, v);
            lua_setfield(L, -2, k);
        }
        return 1;
    }

    // req.Header[name]: case-insensitive lookup in the lower-cased header table (upvalue 1).
    static int l_header_index(lua_State* L) {
        size_t len = 0;
        const char* k = luaL_checklstring(L, 2, &len);
        char lower[256];  // a fixed buffer, not a std::string: see l_dial
        if (len >= sizeof(lower)) {
            lua_pushnil(L);
            return 1;
        }
        for (size_t i = 0; i < len; ++i) {
            lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(k[i])));
        }
        lua_pushlstring(L, lower, len);
        lua_rawget(L, lua_upvalueindex(1));
        return 1;
    }

    static int l_readonly(lua_State* L) { return luaL_error(L, "attempt to modify a read-only table"); }

    /// Pushes a read-only proxy of the table at `idx`.
    void push_readonly(int idx) {
        idx = lua_absindex(L, idx);
        lua_newtable(L);
        lua_createtable(L, 0, 3);
        lua_pushvalue(L, idx);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_readonly);
        lua_setfield(L, -2, "__newindex");
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_setmetatable(L, -2);
    }

    void build_base() {
        // Open the safe libraries only, then copy what a dialplan may use into one table.
        luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
        luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
        luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
        luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
        luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
        luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
        lua_settop(L, 0);
        // Library functions that loop in C on a script's say-so are charged against the
        // instruction limit. Wrapped in the real tables: ("x"):rep() goes through the
        // string metatable, not through the sandbox's read-only proxy.
        lua_getglobal(L, LUA_STRLIBNAME);
        wrap(-1, "rep", l_rep);
        lua_getglobal(L, LUA_TABLIBNAME);
        wrap(-1, "move", l_move);
        lua_settop(L, 0);

        lua_newtable(L);  // base
        lua_pushglobaltable(L);
        for (const char* name : {"assert", "error", "ipairs", "next", "pairs", "rawequal", "rawlen", "rawget",
                                 "select", "tonumber", "tostring", "type"}) {
            lua_getfield(L, -1, name);
            lua_setfield(L, -3, name);
        }
        const std::pair<const char*, lua_CFunction> guarded[] = {{"pcall", l_pcall}, {"xpcall", l_xpcall}};
        for (const auto& [name, fn] : guarded) {
            lua_pushlightuserdata(L, this);
            lua_pushcclosure(L, fn, 1);
            lua_setfield(L, -3, name);
        }
        for (const char* lib : {"string", "table", "math", "utf8"}) {
            lua_getfield(L, -1, lib);
            push_readonly(-1);
            lua_setfield(L, -4, lib);
            lua_pop(L, 1);
        }
        // os: the clock only; no execute, exit, getenv, remove, rename, tmpname, setlocale.
        lua_getfield(L, -1, "os");
        lua_newtable(L);
        for (const char* name : {"time", "date", "clock", "difftime"}) {
            lua_getfield(L, -2, name);
            lua_setfield(L, -2, name);
        }
        push_readonly(-1);
        lua_setfield(L, -5, "os");
        lua_pop(L, 3);  // os copy, os, globals
        lua_pushstring(L, "Lua 5.4 (sipferry sandbox)");
        lua_setfield(L, -2, "_VERSION");
        push_readonly(-1);
        base_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        lua_pop(L, 1);

        // Nothing else may reach the real globals: empty them.
        lua_pushglobaltable(L);
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushnil(L);
            lua_rawset(L, -4);
        }
        lua_pop(L, 1);
    }

    void set_str(const char* key, const std::string& value) {
        lua_pushlstring(L, value.data(), value.size());
        lua_setfield(L, -2, key);
    }

    void push_req(const route_request& r) {
        lua_createtable(L, 0, 10);
        lua_createtable(L, 0, 2);
        set_str("User", r.uri_user);
        set_str("Host", r.uri_host);
        lua_setfield(L, -2, "URI");
        lua_createtable(L, 0, 2);
        set_str("User", r.from_user);
        set_str("Display", r.from_display);
        lua_setfield(L, -2, "From");
        lua_createtable(L, 0, 1);
        set_str("User", r.to_user);
        lua_setfield(L, -2, "To");
        lua_createtable(L, 0, 2);
        set_str("Address", r.source_ip);
        lua_pushinteger(L, r.source_port);
        lua_setfield(L, -2, "Port");
        lua_setfield(L, -2, "Source");
        set_str("Realm", r.realm);
        set_str("Account", r.account);
        lua_createtable(L, 0, 2);
        set_str("User", r.identity_user);
        set_str("Display", r.identity_display);
        lua_setfield(L, -2, "Identity");
        set_str("Privacy", r.privacy);
        set_str("Verstat", r.verstat);
        set_str("Attest", r.attest);
        set_str("SignerSPC", r.signer_spc);
        set_str("Origid", r.origid);
        set_str("DivertedFrom", r.diverted_from);
        // Header: first value of each header, looked up case-insensitively.
        lua_newtable(L);
        lua_createtable(L, 0, static_cast<int>(r.headers.size()));
        for (const auto& [name, value] : r.headers) {
            std::string lower = name;
            for (auto& c : lower) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            lua_getfield(L, -1, lower.c_str());
            const bool present = !lua_isnil(L, -1);
            lua_pop(L, 1);
            if (!present) {
                lua_pushlstring(L, value.data(), value.size());
                lua_setfield(L, -2, lower.c_str());
            }
        }
        lua_createtable(L, 0, 1);
        lua_insert(L, -2);
        lua_pushcclosure(L, l_header_index, 1);
        lua_setfield(L, -2, "__index");
        lua_setmetatable(L, -2);
        lua_setfield(L, -2, "Header");
    }

    void push_sys() {
        lua_createtable(L, 0, 7);
        const std::pair<const char*, lua_CFunction> fns[] = {
            {"Dial", l_dial},     {"Respond", l_respond},           {"Log", l_log},
            {"Time", l_time},     {"Lookup", l_lookup},             {"LookupPrefix", l_lookup_prefix},
            {"Quality", l_quality}};
        for (const auto& [name, fn] : fns) {
            lua_pushlightuserdata(L, this);
            lua_pushcclosure(L, fn, 1);
            lua_setfield(L, -2, name);
        }
    }
};

dialplan_engine::dialplan_engine(dialplan_limits limits) : impl_(std::make_unique<impl>()) {
    impl_->limits = limits;
    impl_->L = lua_newstate(impl::alloc, impl_.get());
    if (impl_->L == nullptr) {
        throw std::runtime_error("dialplan: cannot create a Lua state");
    }
    impl_->build_base();
}

dialplan_engine::~dialplan_engine() {
    if (impl_->L != nullptr) {
        lua_close(impl_->L);
    }
}

std::string dialplan_engine::load(const std::string& name, const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return path + ": cannot open the file";
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return load_source(name, path, ss.str());
}

std::string dialplan_engine::load_source(const std::string& name, const std::string& chunk_name,
                                         const std::string& source) {
    lua_State* L = impl_->L;
    const std::string chunk = "@" + chunk_name;
    // Text only: precompiled bytecode can break the VM's safety.
    if (luaL_loadbufferx(L, source.data(), source.size(), chunk.c_str(), "t") != LUA_OK) {
        std::string err = lua_tostring(L, -1);
        lua_pop(L, 1);
        return err;
    }
    auto it = impl_->chunks.find(name);
    if (it != impl_->chunks.end()) {
        luaL_unref(L, LUA_REGISTRYINDEX, it->second.ref);
    }
    impl_->chunks[name] = impl::chunk{luaL_ref(L, LUA_REGISTRYINDEX), chunk_name};
    return "";
}

void dialplan_engine::set_quality_source(quality_source source) {
    impl_->quality = std::move(source);
}

void dialplan_engine::set_tables(std::shared_ptr<const lookup_tables> tables) {
    impl_->tables = tables ? std::move(tables) : std::make_shared<const lookup_tables>();
}

bool dialplan_engine::has(const std::string& name) const {
    return impl_->chunks.count(name) != 0;
}

route_result dialplan_engine::run(const std::string& name, const route_request& req) {
    route_result result;
    auto it = impl_->chunks.find(name);
    if (it == impl_->chunks.end()) {
        result.what = route_result::kind::error;
        result.error = "no dialplan named '" + name + "'";
        return result;
    }
    lua_State* L = impl_->L;
    const int top = lua_gettop(L);
    impl_->current = &result;

    lua_rawgeti(L, LUA_REGISTRYINDEX, it->second.ref);  // the chunk
    // A fresh environment per run: globals a script sets die with it; reads fall back to the base.
    lua_createtable(L, 0, 4);
    impl_->push_req(req);
    lua_setfield(L, -2, "req");
    impl_->push_sys();
    lua_setfield(L, -2, "sys");
    lua_createtable(L, 0, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, impl_->base_ref);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setupvalue(L, -2, 1);  // _ENV of the main chunk

    impl_->instructions = 0;
    impl_->memory_exceeded = false;
    impl_->run_limit = impl_->used + impl_->limits.max_memory_bytes;
    impl_->hook_count = static_cast<int>(
        std::clamp<uint64_t>(impl_->limits.max_instructions, 1, static_cast<uint64_t>(impl::max_hook_step)));
    lua_sethook(L, impl::count_hook, LUA_MASKCOUNT, impl_->hook_count);
    const int rc = lua_pcall(L, 0, 0, 0);
    lua_sethook(L, nullptr, 0, 0);
    impl_->run_limit = 0;

    if (rc != LUA_OK) {
        const bool decided = lua_touserdata(L, -1) == &decision_sentinel;
        if (!decided) {
            result.what = route_result::kind::error;
            result.targets.clear();
            if (rc == LUA_ERRMEM || impl_->memory_exceeded) {
                // Lua raises memory errors without a location: name the file at least.
                result.error = it->second.file + ": memory limit (" + std::to_string(impl_->limits.max_memory_bytes) +
                               " bytes) exceeded";
            } else {
                const char* msg = lua_tostring(L, -1);
                result.error = msg != nullptr ? msg : "error object is not a string";
            }
        }
    }
    // Drop the per-run environment from the shared chunk so nothing of this call is reachable.
    lua_settop(L, top);
    lua_rawgeti(L, LUA_REGISTRYINDEX, it->second.ref);
    lua_pushnil(L);
    lua_setupvalue(L, -2, 1);
    lua_settop(L, top);
    impl_->current = nullptr;
    lua_gc(L, LUA_GCSTEP, 0);
    return result;
}

}  // namespace sf::control
