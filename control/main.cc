/// sipferry: the appliance daemon. Loads the config, brings up the DPDK
/// dataplane, and runs the control shard on the main lcore until SIGINT/SIGTERM; SIGHUP
/// reloads the config and dialplans (calls in progress keep theirs). `--check` validates the
/// config and compiles its dialplans; `--route FILE` tries the dialplans on described requests
/// (route_check.hh); neither touches DPDK.

#include <boost/program_options.hpp>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>

#include <jemalloc/jemalloc.h>

#include "config.hh"
#include "control_loop.hh"
#include "dataplane.hh"
#include "log.hh"
#include "route_check.hh"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void on_signal(int) {
    g_stop.store(true);
}

void on_hangup(int) {
    g_reload.store(true);  // the control loop reloads between two polls
}

}  // namespace

int main(int argc, char** argv) {
    namespace po = boost::program_options;
    po::options_description opts("sipferry options");
    std::string config_path, route_path;
    opts.add_options()("help,h", "show this help")("config,c", po::value(&config_path), "configuration file")(
        "check", "validate the configuration, compile its dialplans and exit")(
        "route", po::value(&route_path),
        "run the dialplans on the requests of FILE (JSON lines, '-' = stdin), print the decisions and exit");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "sipferry: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help") || config_path.empty()) {
        std::cout << "usage: sipferry --config FILE [--check | --route REQUESTS]\n" << opts;
        return config_path.empty() && !vm.count("help") ? 2 : 0;
    }

    sf::control::config cfg;
    try {
        cfg = sf::control::load_config(config_path);
    } catch (const sf::control::config_error& e) {
        std::cerr << "sipferry: config error: " << e.what() << "\n";
        return 2;
    }
    if (vm.count("check") || vm.count("route")) {
        // Offline: the dialplans as a reload would load them, no EAL.
        sf::control::dialplan_engine plans(sf::control::limits_of(cfg.dialplan));
        if (const std::string err = sf::control::load_dialplans(plans, cfg); !err.empty()) {
            std::cerr << "sipferry: " << err << "\n";
            return 2;
        }
        if (vm.count("check")) {
            std::cout << "sipferry: " << config_path << " is valid\n";
            return 0;
        }
        std::ifstream file;
        if (route_path != "-") {
            file.open(route_path);
            if (!file) {
                std::cerr << "sipferry: cannot read " << route_path << "\n";
                return 2;
            }
        }
        const unsigned unreadable = sf::control::check_routes(cfg, plans, route_path == "-" ? std::cin : file, std::cout);
        return unreadable == 0 ? 0 : 1;
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGHUP, on_hangup);
    try {
        sf::dp::dataplane dp(cfg.dataplane);
        for (const auto& p : dp.ports()) {
            const auto& m = p.mac.addr_bytes;
            sf::control::log_info("port %s: %s/%u mac %02x:%02x:%02x:%02x:%02x:%02x mtu %u", p.name.c_str(),
                                  sf::control::ipv4_to_string(p.addr).c_str(), p.prefix, m[0], m[1], m[2], m[3],
                                  m[4], m[5], p.mtu);
        }
        sf::control::control_loop loop(cfg, dp);
        dp.start();
        sf::control::log_info("dataplane: %u worker(s) running, scheduling %s", cfg.dataplane.workers,
                              sf::dp::to_string(cfg.dataplane.scheduling).c_str());
        loop.run(g_stop, &g_reload);
        dp.stop();
    } catch (const std::exception& e) {
        std::cerr << "sipferry: " << e.what() << "\n";
        return 1;
    }
    sf::control::log_info("stopped");
    return 0;
}
