// libFuzzer target: the requests of `sipferry --route` (control/route_check.cc) on arbitrary
// bytes, against the lab's config and Lua dialplans. Oracles beyond "no crash, no UB": every
// request line that is not blank or a comment gets exactly one answer line, each a JSON object
// carrying its line number; the count of unreadable lines matches the "error" answers.

#include "route_check.hh"

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>

#ifndef SF_SOURCE_ROOT
#error "SF_SOURCE_ROOT: the source tree (configs/lab.conf and lua/dialplans)"
#endif

using namespace sf::control;

namespace {

struct lab {
    config cfg;
    std::unique_ptr<dialplan_engine> engine;
    lab() {
        cfg = load_config(std::string(SF_SOURCE_ROOT) + "/configs/lab.conf");
        engine = std::make_unique<dialplan_engine>(limits_of(cfg.dialplan));
        if (!load_dialplans(*engine, cfg).empty()) {
            __builtin_trap();
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static lab l;
    const std::string text(reinterpret_cast<const char*>(data), size);
    std::istringstream in(text);
    std::ostringstream out;
    const unsigned unreadable = check_routes(l.cfg, *l.engine, in, out);
    // Lines as std::getline splits them; blank and '#' lines get no answer.
    unsigned requests = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        const size_t first = line.find_first_not_of(" \t\r");
        requests += first != std::string::npos && line[first] != '#' ? 1 : 0;
    }
    unsigned answers = 0, errors = 0;
    std::istringstream rows(out.str());
    for (std::string row; std::getline(rows, row); ++answers) {
        boost::property_tree::ptree t;
        std::istringstream r(row);
        try {
            boost::property_tree::read_json(r, t);
        } catch (const boost::property_tree::json_parser_error&) {
            __builtin_trap();  // every answer is JSON
        }
        if (t.get<unsigned>("line", 0) == 0) {
            __builtin_trap();
        }
        errors += t.count("error") != 0 && t.count("decision") == 0 ? 1 : 0;
    }
    if (answers != requests || errors != unreadable) {
        __builtin_trap();
    }
    return 0;
}
