#include "streams.hh"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "options.hh"

namespace sf::gen {

namespace {

constexpr size_t max_streams = 1u << 20;

// "IP:PORT" -> (addr, port); false when malformed or port 0.
bool parse_endpoint(const std::string& s, uint32_t& ip, uint16_t& port) {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos) {
        return false;
    }
    auto a = parse_ipv4(s.substr(0, colon));
    char* end = nullptr;
    const unsigned long p = std::strtoul(s.c_str() + colon + 1, &end, 10);
    if (!a || end == s.c_str() + colon + 1 || *end != '\0' || p == 0 || p > 65535) {
        return false;
    }
    ip = *a;
    port = static_cast<uint16_t>(p);
    return true;
}

}  // namespace

std::vector<stream> read_streams_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::runtime_error("--streams: cannot read " + path);
    }
    std::vector<stream> out;
    std::string line;
    unsigned lineno = 0;
    while (std::getline(in, line) && out.size() < max_streams) {
        ++lineno;
        if (auto hash = line.find('#'); hash != std::string::npos) {
            line.erase(hash);
        }
        std::istringstream ss(line);
        std::string src, dst, extra;
        if (!(ss >> src)) {
            continue;
        }
        stream s;
        if (!(ss >> dst) || (ss >> extra) || !parse_endpoint(src, s.src_ip, s.src_port) ||
            !parse_endpoint(dst, s.dst_ip, s.dst_port)) {
            throw std::runtime_error(path + ":" + std::to_string(lineno) + ": expected 'SRC_IP:PORT DST_IP:PORT'");
        }
        out.push_back(s);
    }
    if (out.empty()) {
        throw std::runtime_error(path + ": no streams");
    }
    return out;
}

std::vector<stream> streams_from_range(const std::string& spec) {
    std::istringstream ss(spec);
    std::string n_text, src, dst;
    stream base;
    if (!std::getline(ss, n_text, ',') || !std::getline(ss, src, ',') || !std::getline(ss, dst, ',') ||
        !parse_endpoint(src, base.src_ip, base.src_port) || !parse_endpoint(dst, base.dst_ip, base.dst_port)) {
        throw std::runtime_error("--range: expected N,SRC_IP:PORT,DST_IP:PORT");
    }
    const unsigned long n = std::strtoul(n_text.c_str(), nullptr, 10);
    if (n == 0 || n > max_streams || base.src_port + 2 * (n - 1) > 65535 || base.dst_port + 2 * (n - 1) > 65535) {
        throw std::runtime_error("--range: N must be >= 1 and the ports must stay below 65536");
    }
    std::vector<stream> out(n, base);
    for (unsigned long i = 0; i < n; ++i) {
        out[i].src_port = static_cast<uint16_t>(base.src_port + 2 * i);
        out[i].dst_port = static_cast<uint16_t>(base.dst_port + 2 * i);
    }
    return out;
}

}  // namespace sf::gen
