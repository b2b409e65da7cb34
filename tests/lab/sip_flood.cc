// sip_flood: a bounded SIP flood for the lab test sip_flood_spares_rtp (tests/lab/flood_tests.py).
//
// Sends one fixed SIP OPTIONS per source address (built once; with --unique every datagram gets its
// own branch and Call-ID) to the appliance's SIP port, from many bound UDP sockets, in sendmmsg
// batches, round robin over the sources, until --count datagrams are sent or --max-seconds pass,
// whichever comes first. Prints one JSON line with what it sent.
//
// Why C++ and sendmmsg: the test must offer the appliance more SIP than its control thread can
// parse and answer (tens of thousands of messages a second on the lab's 2-core box), which
// Python's one sendto per datagram does not reach; one sendmmsg of 64 datagrams is one syscall.
//
// Why many sources: the workers rate-limit SIP per source address before the control ring; the
// flood must come from enough addresses that the limiter alone does not stop it, so the control
// ring overflows too. The addresses must exist in the namespace the flooder runs in (the test adds
// them and removes them again).
//
// Bounded by construction: at most --count datagrams (<= 100 000 000) and --max-seconds (<= 60,
// default 10); each socket has a send timeout, so a full socket buffer cannot stall the loop past
// the deadline. Bad arguments: a message on stderr and exit status 2, nothing sent.
// Exit 1 when a socket cannot be made or bound (nothing sent); 0 otherwise (the JSON line says
// whether the time cap ended the run: "hit_time_cap").
//
// --heavy K gives the first source K batches per round (the others one each): one source far over
// its rate next to many under theirs, so that the per-source limiter and the full control ring
// both show in the appliance's drop counters.
//
//   sip_flood --to 192.0.2.1:5060 --source 192.0.2.160 --sources 64 --count 400000
//             [--heavy K] [--max-seconds 10] [--batch 64] [--unique] [--port 0]
//
// --unique makes every datagram a new transaction for the appliance (which then holds its answer
// for Timer J); the lab test's second phase uses it to check that such a flood cannot empty the
// message pool any more (docs/lab.md).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr unsigned max_sources = 1024;
constexpr unsigned max_batch = 256;
constexpr uint64_t max_count = 100000000;
constexpr double max_seconds_cap = 60.0;
constexpr unsigned max_heavy = 1024;
// Width of the counter patched into branch and Call-ID with --unique (hex digits).
constexpr int counter_width = 12;

struct options {
    sockaddr_in to{};
    uint32_t first_source = 0;  // host byte order
    unsigned sources = 1;
    uint64_t count = 0;
    double max_seconds = 10.0;
    unsigned batch = 64;
    unsigned heavy = 1;  // batches per round of the first source
    bool unique = false;
    uint16_t port = 0;  // source port of every socket, 0: an ephemeral one each
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "sip_flood: %s\n"
                 "usage: sip_flood --to IP:PORT --source FIRST_IP [--sources N (1..%u)] --count N (1..%llu)\n"
                 "                 [--max-seconds S (0<S<=%.0f, default 10)] [--batch B (1..%u, default 64)]\n"
                 "                 [--heavy K (1..%u)] [--unique] [--port P]\n",
                 why, max_sources, static_cast<unsigned long long>(max_count), max_seconds_cap, max_batch, max_heavy);
    std::exit(2);
}

bool parse_u64(const char* s, uint64_t lo, uint64_t hi, uint64_t& out) {
    if (s == nullptr || *s == '\0' || *s == '-') {
        return false;
    }
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return false;
    }
    out = v;
    return true;
}

bool parse_addr_port(const char* s, sockaddr_in& out) {
    const char* colon = s != nullptr ? std::strrchr(s, ':') : nullptr;
    if (colon == nullptr) {
        return false;
    }
    const std::string ip(s, colon);
    uint64_t port = 0;
    if (!parse_u64(colon + 1, 1, 65535, port)) {
        return false;
    }
    out = {};
    out.sin_family = AF_INET;
    out.sin_port = htons(static_cast<uint16_t>(port));
    return inet_pton(AF_INET, ip.c_str(), &out.sin_addr) == 1;
}

options parse_args(int argc, char** argv) {
    options o;
    bool have_to = false, have_source = false, have_count = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                usage(("missing value after " + a).c_str());
            }
            return argv[++i];
        };
        uint64_t v = 0;
        if (a == "--to") {
            if (!parse_addr_port(value(), o.to)) {
                usage("--to wants IPv4:PORT");
            }
            have_to = true;
        } else if (a == "--source") {
            in_addr addr{};
            if (inet_pton(AF_INET, value(), &addr) != 1) {
                usage("--source wants an IPv4 address");
            }
            o.first_source = ntohl(addr.s_addr);
            have_source = true;
        } else if (a == "--sources") {
            if (!parse_u64(value(), 1, max_sources, v)) {
                usage("--sources out of range");
            }
            o.sources = static_cast<unsigned>(v);
        } else if (a == "--count") {
            if (!parse_u64(value(), 1, max_count, o.count)) {
                usage("--count out of range");
            }
            have_count = true;
        } else if (a == "--max-seconds") {
            const char* s = value();
            char* end = nullptr;
            errno = 0;
            o.max_seconds = std::strtod(s, &end);
            if (errno != 0 || end == s || *end != '\0' || !(o.max_seconds > 0.0) || o.max_seconds > max_seconds_cap) {
                usage("--max-seconds out of range");
            }
        } else if (a == "--batch") {
            if (!parse_u64(value(), 1, max_batch, v)) {
                usage("--batch out of range");
            }
            o.batch = static_cast<unsigned>(v);
        } else if (a == "--heavy") {
            if (!parse_u64(value(), 1, max_heavy, v)) {
                usage("--heavy out of range");
            }
            o.heavy = static_cast<unsigned>(v);
        } else if (a == "--port") {
            if (!parse_u64(value(), 0, 65535, v)) {
                usage("--port out of range");
            }
            o.port = static_cast<uint16_t>(v);
        } else if (a == "--unique") {
            o.unique = true;
        } else {
            usage(("unknown argument " + a).c_str());
        }
    }
    if (!have_to || !have_source || !have_count) {
        usage("--to, --source and --count are required");
    }
    // The source range must not wrap past 255.255.255.255.
    if (uint64_t{o.first_source} + o.sources - 1 > 0xffffffffULL) {
        usage("--source + --sources wraps around");
    }
    return o;
}

std::string ip_text(uint32_t host_order) {
    in_addr a{};
    a.s_addr = htonl(host_order);
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a, buf, sizeof(buf));
    return buf;
}

// The OPTIONS a source sends. The counter field (only patched with --unique) sits at fixed
// offsets in the branch and the Call-ID so that a datagram is made by overwriting 2 x 12 bytes.
struct message {
    std::string text;
    size_t branch_at = 0, call_id_at = 0;
};

message make_message(const std::string& src, uint16_t src_port, unsigned index, const std::string& to_ip,
                     uint16_t to_port) {
    const std::string zeros(counter_width, '0');
    const std::string idx = std::to_string(index);
    message m;
    m.text = "OPTIONS sip:ping@" + to_ip + ":" + std::to_string(to_port) + " SIP/2.0\r\n";
    m.text += "Via: SIP/2.0/UDP " + src + ":" + std::to_string(src_port) + ";rport;branch=z9hG4bK-sfflood-" + idx + "-";
    m.branch_at = m.text.size();
    m.text += zeros + "\r\n";
    m.text += "Max-Forwards: 70\r\n";
    m.text += "From: <sip:flood@" + src + ">;tag=sfflood" + idx + "\r\n";
    m.text += "To: <sip:ping@" + to_ip + ">\r\n";
    m.text += "Call-ID: sfflood-" + idx + "-";
    m.call_id_at = m.text.size();
    m.text += zeros + "@" + src + "\r\n";
    m.text += "CSeq: 1 OPTIONS\r\n";
    m.text += "User-Agent: sipferry-lab-flood\r\n";
    m.text += "Content-Length: 0\r\n\r\n";
    return m;
}

void patch_counter(char* buf, const message& m, uint64_t n) {
    char digits[counter_width + 1];
    std::snprintf(digits, sizeof(digits), "%0*llx", counter_width, static_cast<unsigned long long>(n));
    std::memcpy(buf + m.branch_at, digits, counter_width);
    std::memcpy(buf + m.call_id_at, digits, counter_width);
}

struct source {
    int fd = -1;
    message msg;
    std::vector<std::vector<char>> bufs;  // one per batch slot with --unique, else one
};

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    char to_ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &o.to.sin_addr, to_ip, sizeof(to_ip));
    const uint16_t to_port = ntohs(o.to.sin_port);

    std::vector<source> srcs(o.sources);
    for (unsigned i = 0; i < o.sources; ++i) {
        source& s = srcs[i];
        const std::string ip = ip_text(o.first_source + i);
        s.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s.fd < 0) {
            std::fprintf(stderr, "sip_flood: socket: %s\n", std::strerror(errno));
            return 1;
        }
        // A full send buffer blocks at most this long; the deadline is checked after every batch.
        const timeval tv{0, 100000};
        setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        sockaddr_in local{};
        local.sin_family = AF_INET;
        local.sin_port = htons(o.port);
        local.sin_addr.s_addr = htonl(o.first_source + i);
        if (bind(s.fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
            std::fprintf(stderr, "sip_flood: bind %s:%u: %s (is the address on an interface here?)\n", ip.c_str(),
                         o.port, std::strerror(errno));
            return 1;
        }
        if (connect(s.fd, reinterpret_cast<const sockaddr*>(&o.to), sizeof(o.to)) != 0) {
            std::fprintf(stderr, "sip_flood: connect from %s: %s\n", ip.c_str(), std::strerror(errno));
            return 1;
        }
        socklen_t len = sizeof(local);
        getsockname(s.fd, reinterpret_cast<sockaddr*>(&local), &len);
        s.msg = make_message(ip, ntohs(local.sin_port), i, to_ip, to_port);
        s.bufs.assign(o.unique ? o.batch : 1, std::vector<char>(s.msg.text.begin(), s.msg.text.end()));
    }

    std::vector<iovec> iov(o.batch);
    std::vector<mmsghdr> hdrs(o.batch);
    uint64_t sent = 0, errors = 0, calls = 0, counter = 0;
    bool hit_time_cap = false;
    const auto t0 = std::chrono::steady_clock::now();
    const auto deadline = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(o.max_seconds));
    // Round robin: source 0 gets `heavy` turns in a row, then each other source one.
    unsigned next = 0, turn = 0;
    const auto wall0 = std::chrono::system_clock::now();
    while (sent < o.count) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            hit_time_cap = true;
            break;
        }
        source& s = srcs[next];
        if (next != 0 || ++turn >= o.heavy) {
            turn = 0;
            next = (next + 1) % o.sources;
        }
        const unsigned n = static_cast<unsigned>(o.count - sent < o.batch ? o.count - sent : o.batch);
        for (unsigned k = 0; k < n; ++k) {
            std::vector<char>& b = s.bufs[o.unique ? k : 0];
            if (o.unique) {
                patch_counter(b.data(), s.msg, counter++);
            }
            iov[k].iov_base = b.data();
            iov[k].iov_len = b.size();
            hdrs[k] = {};
            hdrs[k].msg_hdr.msg_iov = &iov[k];
            hdrs[k].msg_hdr.msg_iovlen = 1;
        }
        ++calls;
        const int r = sendmmsg(s.fd, hdrs.data(), n, 0);
        if (r < 0) {
            // ENOBUFS / EAGAIN (send timeout) / ECONNREFUSED (an ICMP error came back): count, go on.
            ++errors;
            continue;
        }
        sent += static_cast<unsigned>(r);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Wall-clock start and end (epoch seconds), comparable with rtpsim's reports.
    const double start_epoch = std::chrono::duration<double>(wall0.time_since_epoch()).count();
    for (source& s : srcs) {
        close(s.fd);
    }
    std::printf("{\"sent\":%llu,\"requested\":%llu,\"sources\":%u,\"first_source\":\"%s\",\"to\":\"%s:%u\","
                "\"heavy\":%u,\"start_epoch\":%.6f,\"end_epoch\":%.6f,\"seconds\":%.3f,\"rate\":%.0f,\"send_errors\":%llu,\"syscalls\":%llu,\"bytes_per_message\":%zu,"
                "\"unique\":%s,\"hit_time_cap\":%s}\n",
                static_cast<unsigned long long>(sent), static_cast<unsigned long long>(o.count), o.sources,
                ip_text(o.first_source).c_str(), to_ip, to_port, o.heavy, start_epoch, start_epoch + secs, secs, secs > 0 ? static_cast<double>(sent) / secs : 0.0,
                static_cast<unsigned long long>(errors), static_cast<unsigned long long>(calls),
                srcs.empty() ? size_t{0} : srcs[0].msg.text.size(), o.unique ? "true" : "false",
                hit_time_cap ? "true" : "false");
    return 0;
}
