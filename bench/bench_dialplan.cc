// Cost of one dialplan invocation (issue 4): a typical 20-line carrier dialplan (a number
// plan table, prefix checks, time of day, a header lookup, a forked dial string with options)
// against a one-line dialplan that only dials, measured in the same run: the ratio is the
// price of the script's own logic over the engine's fixed cost per run (fresh environment,
// `req` tables, limits, the dial-string parse). Both go through dialplan_engine::run as the
// B2BUA calls it.

#include <benchmark/benchmark.h>

#include <string>

#include "dialplan.hh"

using namespace sf::control;

namespace {

const char* const typical = R"lua(
local trunks = { uk = "198.51.100.20", us = "198.51.100.30", backup = "198.51.100.40" }
local blocked = { "0900", "0871", "+882" }
local user = req.URI.User
for _, prefix in ipairs(blocked) do
  if user:sub(1, #prefix) == prefix then sys.Respond(403, "Blocked destination") end
end
if req.Header["X-Account"] == "suspended" then sys.Respond(402, "Payment Required") end
local t = sys.Time()
local office = t.wday ~= 1 and t.wday ~= 7 and t.hour >= 8 and t.hour < 18
local number = user:gsub("^%+", "")
if number:match("^44%d+$") then
  sys.Dial(number .. "@" .. trunks.uk .. "[rt=30,fu=" .. req.From.User .. "]|" .. number .. "@" .. trunks.backup)
elseif number:match("^1%d%d%d%d%d%d%d%d%d%d$") then
  sys.Dial(number .. "@" .. trunks.us .. "[rt=30]&" .. number .. "@" .. trunks.backup .. "[dt=5]")
elseif office then
  sys.Dial("desk@" .. trunks.uk .. "[tr=c,fd=Reception]")
end
sys.Log("no route for " .. user)
sys.Respond(404, "Not Found")
)lua";

const char* const minimal = R"lua(sys.Dial("441632960123@198.51.100.20"))lua";

route_request request() {
    route_request r;
    r.uri_user = "+441632960123";
    r.uri_host = "192.0.2.1";
    r.from_user = "alice";
    r.from_display = "Alice";
    r.to_user = "+441632960123";
    r.source_ip = "192.0.2.10";
    r.source_port = 5060;
    r.realm = "acc";
    r.headers = {{"Call-ID", "abc@192.0.2.10"}, {"X-Account", "gold"}, {"Max-Forwards", "70"},
                 {"User-Agent", "phone"}};
    return r;
}

void run(benchmark::State& state, const char* source, size_t want_targets) {
    dialplan_engine engine;
    if (const std::string err = engine.load_source("default", "bench.lua", source); !err.empty()) {
        state.SkipWithError(err.c_str());
        return;
    }
    const route_request req = request();
    for (auto _ : state) {
        route_result r = engine.run("default", req);
        if (r.what != route_result::kind::dial || r.targets.size() != want_targets) {
            state.SkipWithError(("unexpected result: " + r.error).c_str());
            break;
        }
        benchmark::DoNotOptimize(r.targets.data());
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_dialplan_typical_20_lines(benchmark::State& state) { run(state, typical, 2); }
void BM_dialplan_one_line_baseline(benchmark::State& state) { run(state, minimal, 1); }

}  // namespace

BENCHMARK(BM_dialplan_typical_20_lines);
BENCHMARK(BM_dialplan_one_line_baseline);
BENCHMARK_MAIN();
