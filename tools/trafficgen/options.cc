#include "options.hh"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace sf::gen {

namespace {

const char* usage =
    "usage: sfgen [EAL args] -- [options]\n"
    "  --ring-cable              two in-process net_ring ports cabled together (no EAL --vdev needed)\n"
    "  --tx-port N --rx-port N   ethdev ids (default 0 and 1, in --vdev order)\n"
    "  --tx-ip IP[,IP...]        our addresses on the TX port (default: every stream source)\n"
    "  --rx-ip IP[,IP...]        our addresses on the RX port (the sink; answered in ARP)\n"
    "  --gateway IP              next hop for all destinations (default: each destination)\n"
    "  --dst-mac MAC             skip ARP resolution: send every stream to this MAC\n"
    "  --streams FILE            lines 'SRC_IP:PORT DST_IP:PORT'\n"
    "  --range N,SRC_IP:PORT,DST_IP:PORT   N streams, both ports step by 2\n"
    "  --payload-file FILE       UDP payload of every frame (1..1472 bytes, e.g. a SIP OPTIONS for a\n"
    "                            flood) instead of RTP probes; then only what was sent counts\n"
    "  --flood-file FILE --flood-streams FILE --flood-pps PPS\n"
    "                            in every measured trial, also send FILE as the UDP payload from\n"
    "                            the flood-streams sources (SRC DST lines) at PPS, with the probes\n"
    "  --rate PPS                total packets/s (default 50 per stream)\n"
    "  --duration S --drain S --warmup S --arp-timeout S --deadline S\n"
    "  --garp-only               send gratuitous ARPs for our addresses and exit\n"
    "  --per-stream              per-stream figures in the report\n"
    "  --search --search-min PPS --search-max PPS --search-trials N --search-precision F\n"
    "  --pause S (between search trials) --loss-tolerance F --latency-at-half --burst N\n"
    "  --idle-sleep-us N         sleep N us when idle and no packet is due (shared box; default 0: poll)\n";

double to_double(const std::string& opt, const char* v) {
    char* end = nullptr;
    const double d = std::strtod(v, &end);
    if (end == v || *end != '\0' || d < 0) {
        throw std::runtime_error(opt + ": not a non-negative number: " + v);
    }
    return d;
}

std::vector<uint32_t> ip_list(const std::string& opt, const std::string& v) {
    std::vector<uint32_t> out;
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) {
        auto a = parse_ipv4(item);
        if (!a) {
            throw std::runtime_error(opt + ": not an IPv4 address: " + item);
        }
        out.push_back(*a);
    }
    return out;
}

}  // namespace

std::optional<uint32_t> parse_ipv4(const std::string& s) {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
        return std::nullopt;
    }
    return ntohl(a.s_addr);
}

std::string ipv4_text(uint32_t addr) {
    char buf[INET_ADDRSTRLEN];
    const in_addr a{htonl(addr)};
    inet_ntop(AF_INET, &a, buf, sizeof(buf));
    return buf;
}

options parse_options(int argc, char** argv) {
    options o;
    for (int i = 0; i < argc; ++i) {
        const std::string opt = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                throw std::runtime_error(opt + " needs a value\n" + usage);
            }
            return argv[++i];
        };
        if (opt == "--ring-cable") {
            o.ring_cable = true;
        } else if (opt == "--tx-port") {
            o.tx_port = static_cast<uint16_t>(to_double(opt, value()));
        } else if (opt == "--rx-port") {
            o.rx_port = static_cast<uint16_t>(to_double(opt, value()));
        } else if (opt == "--tx-ip") {
            o.tx_ips = ip_list(opt, value());
        } else if (opt == "--rx-ip") {
            o.rx_ips = ip_list(opt, value());
        } else if (opt == "--gateway") {
            auto a = parse_ipv4(value());
            if (!a) {
                throw std::runtime_error("--gateway: not an IPv4 address");
            }
            o.gateway = *a;
        } else if (opt == "--dst-mac") {
            rte_ether_addr mac{};
            if (rte_ether_unformat_addr(value(), &mac) != 0) {
                throw std::runtime_error("--dst-mac: not a MAC address");
            }
            o.dst_mac = mac;
        } else if (opt == "--streams") {
            o.streams_file = value();
        } else if (opt == "--range") {
            o.range = value();
        } else if (opt == "--payload-file") {
            o.payload_file = value();
        } else if (opt == "--flood-file") {
            o.flood_file = value();
        } else if (opt == "--flood-streams") {
            o.flood_streams = value();
        } else if (opt == "--flood-pps") {
            o.flood_pps = to_double(opt, value());
        } else if (opt == "--rate") {
            o.rate_pps = to_double(opt, value());
        } else if (opt == "--duration") {
            o.duration_s = to_double(opt, value());
        } else if (opt == "--drain") {
            o.drain_s = to_double(opt, value());
        } else if (opt == "--warmup") {
            o.warmup_s = to_double(opt, value());
        } else if (opt == "--arp-timeout") {
            o.arp_timeout_s = to_double(opt, value());
        } else if (opt == "--deadline") {
            o.deadline_s = to_double(opt, value());
        } else if (opt == "--garp-only") {
            o.garp_only = true;
        } else if (opt == "--per-stream") {
            o.per_stream = true;
        } else if (opt == "--search") {
            o.search = true;
        } else if (opt == "--search-min") {
            o.search_min_pps = to_double(opt, value());
        } else if (opt == "--search-max") {
            o.search_max_pps = to_double(opt, value());
        } else if (opt == "--search-trials") {
            o.search_trials = static_cast<unsigned>(to_double(opt, value()));
        } else if (opt == "--pause") {
            o.pause_s = to_double(opt, value());
        } else if (opt == "--search-precision") {
            o.search_precision = to_double(opt, value());
        } else if (opt == "--loss-tolerance") {
            o.loss_tolerance = to_double(opt, value());
        } else if (opt == "--latency-at-half") {
            o.latency_at_half = true;
        } else if (opt == "--idle-sleep-us") {
            o.idle_sleep_us = static_cast<unsigned>(to_double(opt, value()));
        } else if (opt == "--burst") {
            o.burst = static_cast<unsigned>(to_double(opt, value()));
        } else if (opt == "--help" || opt == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);
        } else {
            throw std::runtime_error("unknown option " + opt + "\n" + usage);
        }
    }
    if (o.streams_file.empty() == o.range.empty() && !o.garp_only) {
        throw std::runtime_error(std::string("give exactly one of --streams and --range\n") + usage);
    }
    const bool flood_any = !o.flood_file.empty() || !o.flood_streams.empty() || o.flood_pps != 0;
    if (flood_any && (o.flood_file.empty() || o.flood_streams.empty() || o.flood_pps <= 0)) {
        throw std::runtime_error("a flood needs all of --flood-file, --flood-streams and --flood-pps > 0");
    }
    if (flood_any && !o.payload_file.empty()) {
        throw std::runtime_error("--flood-file mixes a flood into probe streams; --payload-file replaces the probes");
    }
    if (o.burst == 0 || o.burst > 64) {
        throw std::runtime_error("--burst: 1..64");
    }
    if (o.duration_s <= 0 || o.duration_s > 3600 || o.deadline_s <= 0) {
        throw std::runtime_error("--duration: (0, 3600] s; --deadline > 0");
    }
    if (o.search && (o.search_min_pps <= 0 || o.search_max_pps < o.search_min_pps || o.search_trials == 0 ||
                     o.search_trials > 64)) {
        throw std::runtime_error("--search: 0 < --search-min <= --search-max, 1..64 trials");
    }
    return o;
}

}  // namespace sf::gen
