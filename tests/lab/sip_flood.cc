// sip_flood: a bounded SIP flood for the lab test sip_flood_spares_rtp (tests/lab/flood_tests.py).
//
// Sends one fixed SIP OPTIONS per source address (built once; with --unique every datagram gets its
// own branch and Call-ID) to the appliance's SIP port, in batches, round robin over the sources,
// until --count datagrams are sent or --max-seconds pass, whichever comes first. Prints one JSON
// line with what it sent.
//
// Two ways to send (--mode):
//   raw (default)  prebuilt Ethernet/IPv4/UDP frames written into an AF_PACKET TX ring
//                  (PACKET_TX_RING, TPACKET_V2) on the interface that holds the source addresses,
//                  with PACKET_QDISC_BYPASS; one send() per batch hands the whole batch to the
//                  driver. No UDP socket, route, neighbour or qdisc work per datagram.
//   udp            one connected UDP socket per source, one sendmmsg per batch.
//
// Why raw: the test must offer the appliance as much SIP as the box can carry, and in the lab the
// flood is generated on the appliance's own two cores. A raw frame skips the sender's UDP/IP output,
// route, neighbour and qdisc work. Measured, that is the smaller part: the delivery (veth, bridge
// with br_netfilter, veth, the port's af_packet ring) costs ~5 us a frame either way, so raw mode
// sends about as fast as udp mode here (docs/lab.md); it pays off where the flooder has its own
// cores.
//
// Frames: source MAC is the interface's, destination MAC --dst-mac or, by default, the appliance's
// as the namespace's ARP table has it (/proc/net/arp), else asked by one ARP request (3 tries,
// 0.3 s each). IPv4 header checksum and UDP checksum are correct; DF set, TTL 64. Every source
// address must be on that interface (the appliance answers each OPTIONS and resolves the source
// by ARP); the flooder checks, and only floods TEST-NET destinations (RFC 5737) in either mode.
//
// Why many sources: the workers rate-limit SIP per source address before the control ring; the
// flood must come from enough addresses that the limiter alone does not stop it, so the control
// ring overflows too. The addresses must exist in the namespace the flooder runs in (the test adds
// them and removes them again).
//
// Bounded by construction: at most --count datagrams (<= 100 000 000) and --max-seconds (<= 60,
// default 10); socket sends have a 100 ms send timeout and every wait re-checks the deadline, so a
// stuck interface cannot stall the loop past it. Bad arguments: a message on stderr and exit
// status 2, nothing sent. Exit 1 when a socket cannot be made, bound or the destination MAC not
// learnt (nothing sent); 0 otherwise (the JSON line says whether the time cap ended the run:
// "hit_time_cap").
//
// --heavy K gives the first source K batches per round (the others one each): one source far over
// its rate next to many under theirs, so that the per-source limiter and the full control ring
// both show in the appliance's drop counters. --rate R paces the flood to at most R datagrams a
// second (checked per batch; 0: as fast as the box lets it).
//
//   sip_flood --to 192.0.2.1:5060 --source 192.0.2.160 --sources 64 --count 400000
//             [--mode raw|udp] [--dev IFNAME] [--dst-mac aa:bb:cc:dd:ee:ff] [--rate R]
//             [--heavy K] [--max-seconds 10] [--batch 64] [--unique] [--port 0]
//
// --unique makes every datagram a new transaction for the appliance (which then holds its answer
// for Timer J); the lab test's second phase uses it to check that such a flood cannot empty the
// message pool any more (docs/lab.md).

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr unsigned max_sources = 1024;
constexpr unsigned max_batch = 256;
constexpr uint64_t max_count = 100000000;
constexpr double max_seconds_cap = 60.0;
constexpr unsigned max_heavy = 1024;
constexpr uint64_t max_rate = 100000000;
// Width of the counter patched into branch and Call-ID with --unique (hex digits).
constexpr int counter_width = 12;
// Raw mode: source ports when --port is 0 (first source this, then +1 each).
constexpr uint16_t raw_first_port = 41000;
// TX ring: frame slots of 2 KiB (a frame is ~450 bytes, the MTU 1500), two per 4 KiB block.
constexpr unsigned ring_frame_size = 2048;
constexpr unsigned ring_block_size = 4096;
constexpr unsigned ring_frames = 512;  // two batches of the largest size in flight at most

using clk = std::chrono::steady_clock;

enum class send_mode { raw, udp };

struct options {
    sockaddr_in to{};
    uint32_t first_source = 0;  // host byte order
    unsigned sources = 1;
    uint64_t count = 0;
    double max_seconds = 10.0;
    unsigned batch = 64;
    unsigned heavy = 1;  // batches per round of the first source
    bool unique = false;
    uint16_t port = 0;  // source port of every source, 0: an ephemeral one each (raw: 41000 + i)
    send_mode mode = send_mode::raw;
    std::string dev;  // raw: the interface; empty: the one that holds --source
    bool have_dst_mac = false;
    uint8_t dst_mac[6] = {};
    uint64_t rate = 0;  // datagrams per second, 0: unpaced
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "sip_flood: %s\n"
                 "usage: sip_flood --to IP:PORT --source FIRST_IP [--sources N (1..%u)] --count N (1..%llu)\n"
                 "                 [--mode raw|udp (default raw)] [--dev IFNAME] [--dst-mac MAC] [--rate R]\n"
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

bool parse_mac(const char* s, uint8_t out[6]) {
    unsigned v[6];
    char tail = 0;
    if (s == nullptr || std::sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) {
        return false;
    }
    for (int i = 0; i < 6; ++i) {
        out[i] = static_cast<uint8_t>(v[i]);
    }
    return (out[0] & 1) == 0;  // unicast only
}

// RFC 5737 documentation ranges: the lab's only addresses (DESIGN.md "The lab").
bool test_net(uint32_t host_order) {
    const uint32_t net = host_order & 0xffffff00U;
    return net == 0xc0000200U || net == 0xc6336400U || net == 0xcb007100U;
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
        } else if (a == "--mode") {
            const std::string m = value();
            if (m == "raw") {
                o.mode = send_mode::raw;
            } else if (m == "udp") {
                o.mode = send_mode::udp;
            } else {
                usage("--mode wants raw or udp");
            }
        } else if (a == "--dev") {
            o.dev = value();
            if (o.dev.empty() || o.dev.size() >= IFNAMSIZ) {
                usage("--dev wants an interface name");
            }
        } else if (a == "--dst-mac") {
            if (!parse_mac(value(), o.dst_mac)) {
                usage("--dst-mac wants a unicast MAC aa:bb:cc:dd:ee:ff");
            }
            o.have_dst_mac = true;
        } else if (a == "--rate") {
            if (!parse_u64(value(), 0, max_rate, o.rate)) {
                usage("--rate out of range");
            }
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
    if (!test_net(ntohl(o.to.sin_addr.s_addr))) {
        usage("--to must be a TEST-NET address (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24)");
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

std::string mac_text(const uint8_t m[6]) {
    char buf[18];
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
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

// One's-complement sum (RFC 1071) of n bytes, not folded, not inverted.
uint32_t csum_add(uint32_t sum, const uint8_t* p, size_t n) {
    for (; n > 1; p += 2, n -= 2) {
        sum += static_cast<uint32_t>(p[0]) << 8 | p[1];
    }
    if (n == 1) {
        sum += static_cast<uint32_t>(p[0]) << 8;
    }
    return sum;
}

uint16_t csum_fold(uint32_t sum) {
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum & 0xffff);
}

// Ethernet / IPv4 / UDP frame layout (no options, no VLAN).
constexpr size_t eth_len = 14, ip_len = 20, udp_len = 8, hdrs_len = eth_len + ip_len + udp_len;

// Builds the frame of a datagram: Ethernet, IPv4 (DF, TTL 64, header checksum), UDP, payload.
std::vector<uint8_t> make_frame(const uint8_t src_mac[6], const uint8_t dst_mac[6], uint32_t src, uint16_t sport,
                                uint32_t dst, uint16_t dport, const std::string& payload) {
    std::vector<uint8_t> f(hdrs_len + payload.size());
    uint8_t* e = f.data();
    std::memcpy(e, dst_mac, 6);
    std::memcpy(e + 6, src_mac, 6);
    e[12] = 0x08;
    e[13] = 0x00;
    uint8_t* ip = e + eth_len;
    const size_t tot = ip_len + udp_len + payload.size();
    ip[0] = 0x45;
    ip[1] = 0;
    ip[2] = static_cast<uint8_t>(tot >> 8);
    ip[3] = static_cast<uint8_t>(tot);
    ip[4] = ip[5] = 0;  // ID: unused with DF
    ip[6] = 0x40;       // DF
    ip[7] = 0;
    ip[8] = 64;
    ip[9] = 17;  // UDP
    ip[10] = ip[11] = 0;
    const uint32_t s = htonl(src), d = htonl(dst);
    std::memcpy(ip + 12, &s, 4);
    std::memcpy(ip + 16, &d, 4);
    const uint16_t ipc = csum_fold(csum_add(0, ip, ip_len));
    ip[10] = static_cast<uint8_t>(ipc >> 8);
    ip[11] = static_cast<uint8_t>(ipc);
    uint8_t* u = ip + ip_len;
    const size_t ul = udp_len + payload.size();
    u[0] = static_cast<uint8_t>(sport >> 8);
    u[1] = static_cast<uint8_t>(sport);
    u[2] = static_cast<uint8_t>(dport >> 8);
    u[3] = static_cast<uint8_t>(dport);
    u[4] = static_cast<uint8_t>(ul >> 8);
    u[5] = static_cast<uint8_t>(ul);
    u[6] = u[7] = 0;
    std::memcpy(u + udp_len, payload.data(), payload.size());
    return f;
}

// Sets the UDP checksum of a frame built by make_frame (after its payload changed).
void set_udp_checksum(uint8_t* frame, size_t len) {
    uint8_t* ip = frame + eth_len;
    uint8_t* u = ip + ip_len;
    const size_t ul = len - eth_len - ip_len;
    u[6] = u[7] = 0;
    uint32_t sum = csum_add(0, ip + 12, 8);  // pseudo header: addresses, protocol, UDP length
    sum += 17 + static_cast<uint32_t>(ul);
    sum = csum_add(sum, u, ul);
    uint16_t c = csum_fold(sum);
    if (c == 0) {
        c = 0xffff;  // 0 would mean "no checksum"
    }
    u[6] = static_cast<uint8_t>(c >> 8);
    u[7] = static_cast<uint8_t>(c);
}

struct source {
    int fd = -1;  // udp mode
    message msg;
    std::vector<std::vector<char>> bufs;  // udp mode: one per batch slot with --unique, else one
    std::vector<uint8_t> frame;           // raw mode
};

// The interface holding `addr` (host order), or "" when none does.
std::string dev_of(uint32_t addr) {
    ifaddrs* ifs = nullptr;
    if (getifaddrs(&ifs) != 0) {
        return "";
    }
    std::string dev;
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr != nullptr && i->ifa_addr->sa_family == AF_INET &&
            ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr) == addr) {
            dev = i->ifa_name;
            break;
        }
    }
    freeifaddrs(ifs);
    return dev;
}

// The destination's MAC from the namespace's ARP table (complete entries on `dev` only).
bool mac_from_arp_table(uint32_t ip, const std::string& dev, uint8_t out[6]) {
    FILE* f = std::fopen("/proc/net/arp", "r");
    if (f == nullptr) {
        return false;
    }
    char line[256];
    bool found = false;
    const std::string want = ip_text(ip);
    for (int n = 0; n < 4096 && std::fgets(line, sizeof(line), f) != nullptr; ++n) {
        char a[64], hw[64], mask[64], ifn[64];
        unsigned type = 0, flags = 0;
        if (std::sscanf(line, "%63s 0x%x 0x%x %63s %63s %63s", a, &type, &flags, hw, mask, ifn) == 6 && want == a &&
            dev == ifn && (flags & 0x2) != 0 && parse_mac(hw, out)) {
            found = true;
            break;
        }
    }
    std::fclose(f);
    return found;
}

// Asks for the destination's MAC with ARP requests on `dev` (3 tries, 0.3 s each).
bool mac_by_arp(int ifindex, const uint8_t src_mac[6], uint32_t src, uint32_t dst, uint8_t out[6]) {
    const int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (fd < 0) {
        return false;
    }
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ARP);
    sll.sll_ifindex = ifindex;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
        close(fd);
        return false;
    }
    uint8_t req[28] = {0, 1, 8, 0, 6, 4, 0, 1};  // Ethernet, IPv4, request
    const uint32_t s = htonl(src), d = htonl(dst);
    std::memcpy(req + 8, src_mac, 6);
    std::memcpy(req + 14, &s, 4);
    std::memcpy(req + 24, &d, 4);
    sockaddr_ll bc = sll;
    bc.sll_halen = 6;
    std::memset(bc.sll_addr, 0xff, 6);
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (sendto(fd, req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&bc), sizeof(bc)) != sizeof(req)) {
            break;
        }
        const auto until = clk::now() + std::chrono::milliseconds(300);
        for (int reads = 0; reads < 1000; ++reads) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clk::now()).count();
            if (left <= 0) {
                break;
            }
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left)) <= 0) {
                break;
            }
            uint8_t r[64];
            const ssize_t n = recv(fd, r, sizeof(r), 0);
            if (n >= 28 && r[6] == 0 && r[7] == 2 && std::memcmp(r + 14, &d, 4) == 0 && (r[8] & 1) == 0) {
                std::memcpy(out, r + 8, 6);
                close(fd);
                return true;
            }
        }
    }
    close(fd);
    return false;
}

// Every source address must sit on `dev` (the appliance resolves each by ARP to answer it).
bool sources_on(const std::string& dev, uint32_t first, unsigned count, std::string& missing) {
    ifaddrs* ifs = nullptr;
    if (getifaddrs(&ifs) != 0) {
        missing = "getifaddrs failed";
        return false;
    }
    std::vector<bool> have(count, false);
    for (ifaddrs* i = ifs; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr != nullptr && i->ifa_addr->sa_family == AF_INET && dev == i->ifa_name) {
            const uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
            if (a >= first && a - first < count) {
                have[a - first] = true;
            }
        }
    }
    freeifaddrs(ifs);
    for (unsigned i = 0; i < count; ++i) {
        if (!have[i]) {
            missing = ip_text(first + i);
            return false;
        }
    }
    return true;
}

// The TX ring of raw mode.
struct tx_ring {
    int fd = -1;
    uint8_t* map = nullptr;
    size_t map_len = 0;
    unsigned frames = 0;
    unsigned next = 0;                // slot the next frame goes to
    std::vector<uint8_t> submitted;   // slot handed to the kernel, outcome not collected yet
    static constexpr size_t data_off = TPACKET2_HDRLEN - sizeof(sockaddr_ll);

    tpacket2_hdr* slot(unsigned i) const { return reinterpret_cast<tpacket2_hdr*>(map + size_t{i} * ring_frame_size); }
    static uint32_t status(const tpacket2_hdr* h) { return __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE); }
};

// Opens the ring on `ifindex`: 0 or an errno-style message in `why`.
bool open_ring(tx_ring& r, int ifindex, std::string& why) {
    r.fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: this socket receives nothing
    if (r.fd < 0) {
        why = std::string("socket(AF_PACKET): ") + std::strerror(errno);
        return false;
    }
    const int v2 = TPACKET_V2, one = 1;
    if (setsockopt(r.fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2)) != 0) {
        why = std::string("PACKET_VERSION: ") + std::strerror(errno);
        return false;
    }
    // Straight to the driver (veth): no qdisc, nothing to queue behind.
    if (setsockopt(r.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0) {
        why = std::string("PACKET_QDISC_BYPASS: ") + std::strerror(errno);
        return false;
    }
    tpacket_req req{};
    req.tp_block_size = ring_block_size;
    req.tp_frame_size = ring_frame_size;
    req.tp_frame_nr = ring_frames;
    req.tp_block_nr = ring_frames * ring_frame_size / ring_block_size;
    if (setsockopt(r.fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) != 0) {
        why = std::string("PACKET_TX_RING: ") + std::strerror(errno);
        return false;
    }
    r.map_len = size_t{req.tp_block_size} * req.tp_block_nr;
    void* m = mmap(nullptr, r.map_len, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
    if (m == MAP_FAILED) {
        why = std::string("mmap of the TX ring: ") + std::strerror(errno);
        return false;
    }
    r.map = static_cast<uint8_t*>(m);
    r.frames = ring_frames;
    r.submitted.assign(r.frames, 0);
    // A send() that waits for the driver gives up after 100 ms; the loop then re-checks its deadline.
    const timeval tv{0, 100000};
    setsockopt(r.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = 0;
    sll.sll_ifindex = ifindex;
    if (bind(r.fd, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
        why = std::string("bind(AF_PACKET): ") + std::strerror(errno);
        return false;
    }
    return true;
}

struct counters {
    uint64_t sent = 0, errors = 0, calls = 0;
};

// Collects the outcome of slot i if the kernel is done with it; false while it is still queued.
bool reap(tx_ring& r, unsigned i, counters& c) {
    if (!r.submitted[i]) {
        return true;
    }
    tpacket2_hdr* h = r.slot(i);
    const uint32_t st = tx_ring::status(h);
    if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) {
        return false;
    }
    if (st & TP_STATUS_WRONG_FORMAT) {
        ++c.errors;
        __atomic_store_n(&h->tp_status, TP_STATUS_AVAILABLE, __ATOMIC_RELEASE);
    } else {
        ++c.sent;
    }
    r.submitted[i] = 0;
    return true;
}

// Hands the requested frames to the kernel; with flags 0, send() returns once they went through
// the driver (veth hands them on at once) or after the 100 ms send timeout.
void kick(tx_ring& r, counters& c) {
    ++c.calls;
    if (send(r.fd, nullptr, 0, 0) < 0 && errno != EAGAIN && errno != EINTR && errno != ENOBUFS) {
        ++c.errors;
    }
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    char to_ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &o.to.sin_addr, to_ip, sizeof(to_ip));
    const uint16_t to_port = ntohs(o.to.sin_port);
    const uint32_t to_addr = ntohl(o.to.sin_addr.s_addr);

    std::vector<source> srcs(o.sources);
    tx_ring ring;
    std::string dev = o.dev;
    uint8_t src_mac[6] = {}, dst_mac[6] = {};
    std::string dst_mac_from = "--dst-mac";
    if (o.mode == send_mode::raw) {
        if (dev.empty()) {
            dev = dev_of(o.first_source);
            if (dev.empty()) {
                std::fprintf(stderr, "sip_flood: no interface here holds %s (add the flood's addresses first)\n",
                             ip_text(o.first_source).c_str());
                return 1;
            }
        }
        std::string missing;
        if (!sources_on(dev, o.first_source, o.sources, missing)) {
            std::fprintf(stderr, "sip_flood: source %s is not an address of %s (the appliance could not answer it)\n",
                         missing.c_str(), dev.c_str());
            return 1;
        }
        const int ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
        if (ifindex == 0) {
            std::fprintf(stderr, "sip_flood: no interface %s: %s\n", dev.c_str(), std::strerror(errno));
            return 1;
        }
        int mtu = 0;
        {
            // SIOCGIFHWADDR and SIOCGIFMTU share ifreq's union: one request each.
            const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            ifreq hw{}, mt{};
            std::memcpy(hw.ifr_name, dev.c_str(), dev.size());
            std::memcpy(mt.ifr_name, dev.c_str(), dev.size());
            const bool ok = fd >= 0 && ioctl(fd, SIOCGIFHWADDR, &hw) == 0 && ioctl(fd, SIOCGIFMTU, &mt) == 0;
            const int e = errno;
            if (fd >= 0) {
                close(fd);
            }
            if (!ok) {
                std::fprintf(stderr, "sip_flood: MAC address / MTU of %s: %s\n", dev.c_str(), std::strerror(e));
                return 1;
            }
            std::memcpy(src_mac, hw.ifr_hwaddr.sa_data, 6);
            mtu = mt.ifr_mtu;
        }
        if (o.have_dst_mac) {
            std::memcpy(dst_mac, o.dst_mac, 6);
        } else if (mac_from_arp_table(to_addr, dev, dst_mac)) {
            dst_mac_from = "arp-table";
        } else if (mac_by_arp(ifindex, src_mac, o.first_source, to_addr, dst_mac)) {
            dst_mac_from = "arp-request";
        } else {
            std::fprintf(stderr, "sip_flood: no ARP answer for %s on %s (give --dst-mac)\n", to_ip, dev.c_str());
            return 1;
        }
        std::string why;
        if (!open_ring(ring, ifindex, why)) {
            std::fprintf(stderr, "sip_flood: %s\n", why.c_str());
            return 1;
        }
        for (unsigned i = 0; i < o.sources; ++i) {
            source& s = srcs[i];
            const uint16_t sport = o.port != 0 ? o.port : static_cast<uint16_t>(raw_first_port + i);
            s.msg = make_message(ip_text(o.first_source + i), sport, i, to_ip, to_port);
            s.frame = make_frame(src_mac, dst_mac, o.first_source + i, sport, to_addr, to_port, s.msg.text);
            set_udp_checksum(s.frame.data(), s.frame.size());
            if (s.frame.size() > ring_frame_size - tx_ring::data_off || s.frame.size() > size_t(mtu) + eth_len) {
                std::fprintf(stderr, "sip_flood: a frame of %zu bytes exceeds %s's MTU (%d) or a ring slot\n",
                             s.frame.size(), dev.c_str(), mtu);
                return 1;
            }
        }
    } else {
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
    }

    std::vector<iovec> iov(o.batch);
    std::vector<mmsghdr> hdrs(o.batch);
    counters c;
    uint64_t queued = 0, counter = 0;  // queued: datagrams handed to the kernel (raw: not yet reaped too)
    bool hit_time_cap = false;
    const auto t0 = clk::now();
    const auto deadline = t0 + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.max_seconds));
    // Round robin: source 0 gets `heavy` turns in a row, then each other source one.
    unsigned next = 0, turn = 0;
    const auto wall0 = std::chrono::system_clock::now();
    while (queued < o.count) {
        auto now = clk::now();
        if (now >= deadline) {
            hit_time_cap = true;
            break;
        }
        if (o.rate != 0) {
            // Paced: the batch is due when the datagrams before it fit the rate.
            const auto due = t0 + std::chrono::duration_cast<clk::duration>(
                                      std::chrono::duration<double>(static_cast<double>(queued) / o.rate));
            if (due > now) {
                std::this_thread::sleep_until(due < deadline ? due : deadline);
                continue;
            }
        }
        source& s = srcs[next];
        if (next != 0 || ++turn >= o.heavy) {
            turn = 0;
            next = (next + 1) % o.sources;
        }
        const unsigned n = static_cast<unsigned>(o.count - queued < o.batch ? o.count - queued : o.batch);
        if (o.mode == send_mode::raw) {
            unsigned filled = 0;
            for (; filled < n; ++filled) {
                const unsigned i = ring.next;
                // A slot still in the kernel's hands (its frame queued behind a backlog): wait until
                // the ring's next frame is free again, 1 ms at a time, bounded by the deadline.
                while (!reap(ring, i, c) && clk::now() < deadline) {
                    kick(ring, c);
                    if (!reap(ring, i, c)) {
                        pollfd p{ring.fd, POLLOUT, 0};
                        poll(&p, 1, 1);
                    }
                }
                if (ring.submitted[i]) {
                    break;  // deadline
                }
                tpacket2_hdr* h = ring.slot(i);
                uint8_t* data = reinterpret_cast<uint8_t*>(h) + tx_ring::data_off;
                std::memcpy(data, s.frame.data(), s.frame.size());
                if (o.unique) {
                    patch_counter(reinterpret_cast<char*>(data) + hdrs_len, s.msg, counter++);
                    set_udp_checksum(data, s.frame.size());
                }
                h->tp_len = static_cast<uint32_t>(s.frame.size());
                h->tp_snaplen = h->tp_len;
                __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
                ring.submitted[i] = 1;
                ring.next = (i + 1) % ring.frames;
            }
            queued += filled;
            if (filled != 0) {
                kick(ring, c);
            }
            continue;
        }
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
        ++c.calls;
        const int r = sendmmsg(s.fd, hdrs.data(), n, 0);
        if (r < 0) {
            // ENOBUFS / EAGAIN (send timeout) / ECONNREFUSED (an ICMP error came back): count, go on.
            ++c.errors;
            continue;
        }
        c.sent += static_cast<unsigned>(r);
        queued += static_cast<unsigned>(r);
    }
    if (o.mode == send_mode::raw) {
        // Collect every slot still out (at most 0.2 s more: veth hands frames on at once).
        const auto until = clk::now() + std::chrono::milliseconds(200);
        for (unsigned i = 0; i < ring.frames; ++i) {
            while (!reap(ring, i, c) && clk::now() < until) {
                kick(ring, c);
                if (!reap(ring, i, c)) {
                    pollfd p{ring.fd, POLLOUT, 0};
                    poll(&p, 1, 1);
                }
            }
        }
    }
    const double secs = std::chrono::duration<double>(clk::now() - t0).count();
    // Wall-clock start and end (epoch seconds), comparable with rtpsim's reports.
    const double start_epoch = std::chrono::duration<double>(wall0.time_since_epoch()).count();
    uint64_t unreaped = 0;
    if (o.mode == send_mode::raw) {
        for (unsigned i = 0; i < ring.frames; ++i) {
            unreaped += ring.submitted[i];
        }
        munmap(ring.map, ring.map_len);
        close(ring.fd);
    }
    for (source& s : srcs) {
        if (s.fd >= 0) {
            close(s.fd);
        }
    }
    const size_t msg_bytes = srcs.empty() ? size_t{0} : srcs[0].msg.text.size();
    std::printf("{\"mode\":\"%s\",\"dev\":\"%s\",\"dst_mac\":\"%s\",\"dst_mac_from\":\"%s\",\"sent\":%llu,"
                "\"requested\":%llu,\"sources\":%u,\"first_source\":\"%s\",\"to\":\"%s:%u\",\"heavy\":%u,"
                "\"rate_cap\":%llu,\"start_epoch\":%.6f,\"end_epoch\":%.6f,\"seconds\":%.3f,\"rate\":%.0f,"
                "\"send_errors\":%llu,\"unconfirmed\":%llu,\"syscalls\":%llu,\"bytes_per_message\":%zu,"
                "\"unique\":%s,\"hit_time_cap\":%s}\n",
                o.mode == send_mode::raw ? "raw" : "udp", dev.c_str(),
                o.mode == send_mode::raw ? mac_text(dst_mac).c_str() : "", o.mode == send_mode::raw ? dst_mac_from.c_str() : "",
                static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(o.count), o.sources,
                ip_text(o.first_source).c_str(), to_ip, to_port, o.heavy, static_cast<unsigned long long>(o.rate),
                start_epoch, start_epoch + secs, secs, secs > 0 ? static_cast<double>(c.sent) / secs : 0.0,
                static_cast<unsigned long long>(c.errors), static_cast<unsigned long long>(unreaped),
                static_cast<unsigned long long>(c.calls), msg_bytes, o.unique ? "true" : "false",
                hit_time_cap ? "true" : "false");
    return 0;
}
