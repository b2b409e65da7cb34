/// @file
/// packet_capture (dataplane/packet_capture.hh) on real net_ring ports: frames go in through
/// rte_eth_rx_burst (the test fills the port's RX ring, as a NIC would) and out through
/// rte_eth_tx_burst (the test empties the TX ring), so the ethdev RX and TX callbacks the
/// capture installs fire exactly where they fire under the workers. Three ports with two queue
/// pairs each; the capture taps the first two, so the third checks that an unlisted port stays out.
///
/// The pcapng file is read back by a small reader written here from the format's specification
/// (draft-tuexen-opsawg-pcapng: section header, interface description and enhanced packet
/// blocks, their options), not with DPDK's writer code, and cross-checked with libpcap's own
/// reader (what tcpdump and Wireshark users will open it with). Every frame is checked against
/// what was sent: interface (the DPDK port), queue, direction, bytes, captured and original
/// length, timestamps (in order, nanoseconds of the wall clock); and the status() figures exactly.
///
/// Covered: the tcpdump filter (matching frames in, others out), no filter, snaplen, the packet
/// and time budgets through poll(), refusals (bad filter, a capture running, an existing file,
/// which is never touched), a second capture after the first (frames between them in neither),
/// chained mbufs (the filter reading across segments, the copy whole) and a frame longer than
/// a standard Ethernet frame (jumbo ports, or af_packet ports that deliver reassembled SIP).
/// Every test ends with every mbuf of the test pool and of the capture's copy pool back.

#include <gtest/gtest.h>

#include <pcap/pcap.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <sys/time.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eal_fixture.hh"
#include "ring_port.hh"
#include "packet_capture.hh"

namespace sf::dp {
namespace {

using namespace sf::dp::test;

[[maybe_unused]] auto* const eal = register_eal();

// ---------------------------------------------------------------------------------------------
// A pcapng reader from the specification (draft-tuexen-opsawg-pcapng).
//
// Every block: Block Type (32), Block Total Length (32), body, Block Total Length again; lengths
// are multiples of 4. The Section Header Block's Byte-Order Magic 0x1A2B3C4D gives the section's
// byte order. Options: code (16), length (16), value padded to 32 bits, ended by opt_endofopt
// (code 0) or by the end of the block.

constexpr uint32_t shb_type = 0x0A0D0D0A;
constexpr uint32_t idb_type = 1;
constexpr uint32_t epb_type = 6;
constexpr uint32_t byte_order_magic = 0x1A2B3C4D;

constexpr uint16_t opt_comment = 1;
constexpr uint16_t shb_userappl = 4;
constexpr uint16_t if_name = 2;
constexpr uint16_t if_tsresol = 9;
constexpr uint16_t epb_flags = 2;
constexpr uint16_t epb_queue = 6;

struct pcapng_option {
    uint16_t code;
    std::vector<uint8_t> value;
};

struct pcapng_interface {
    uint16_t linktype = 0;
    uint32_t snaplen = 0;
    std::string name;
    std::optional<uint8_t> tsresol;
};

struct pcapng_packet {
    uint32_t interface = 0;
    uint64_t timestamp = 0;  // in the interface's units (if_tsresol)
    uint32_t captured = 0, original = 0;
    std::vector<uint8_t> data;  // `captured` bytes, the padding dropped
    std::optional<uint32_t> flags, queue;
    uint32_t block_length = 0;
};

struct pcapng_file {
    std::string error;  // empty: the whole file parsed
    unsigned sections = 0;
    uint16_t major = 0, minor = 0;
    std::string comment, userappl;
    std::vector<pcapng_interface> interfaces;
    std::vector<pcapng_packet> packets;
};

class pcapng_reader {
public:
    explicit pcapng_reader(std::vector<uint8_t> bytes) : b_(std::move(bytes)) {}

    pcapng_file read() {
        pcapng_file f;
        size_t at = 0;
        while (at < b_.size() && f.error.empty()) {
            if (b_.size() - at < 12) {
                f.error = "truncated block header at " + std::to_string(at);
                break;
            }
            const uint32_t raw_type = le32(at);
            if (raw_type == shb_type) {  // the same in both byte orders
                const uint32_t magic = le32(at + 8);
                if (magic == byte_order_magic) {
                    swap_ = false;
                } else if (magic == __builtin_bswap32(byte_order_magic)) {
                    swap_ = true;
                } else {
                    f.error = "bad byte-order magic";
                    break;
                }
            } else if (f.sections == 0) {
                f.error = "the file does not start with a section header block";
                break;
            }
            const uint32_t type = u32(at);
            const uint32_t len = u32(at + 4);
            if (len < 12 || len % 4 != 0 || len > b_.size() - at) {
                f.error = "bad block length " + std::to_string(len) + " at " + std::to_string(at);
                break;
            }
            if (u32(at + len - 4) != len) {
                f.error = "trailing block length differs at " + std::to_string(at);
                break;
            }
            const size_t body = at + 8, end = at + len - 4;  // [body, end): the block's body
            if (type == shb_type) {
                section(f, body, end);
            } else if (type == idb_type) {
                interface(f, body, end);
            } else if (type == epb_type) {
                packet(f, body, end, len);
            }  // others (statistics, ...) skipped
            at += len;
        }
        return f;
    }

private:
    uint32_t le32(size_t at) const {
        return uint32_t{b_[at]} | uint32_t{b_[at + 1]} << 8 | uint32_t{b_[at + 2]} << 16 | uint32_t{b_[at + 3]} << 24;
    }
    uint32_t u32(size_t at) const { return swap_ ? __builtin_bswap32(le32(at)) : le32(at); }
    uint16_t u16(size_t at) const {
        const uint16_t v = static_cast<uint16_t>(b_[at] | b_[at + 1] << 8);
        return swap_ ? __builtin_bswap16(v) : v;
    }
    static size_t pad4(size_t n) { return (n + 3) & ~size_t{3}; }

    // The options from `at` to `end`; false if one runs past the block.
    bool options(size_t at, size_t end, std::vector<pcapng_option>& out) const {
        while (at + 4 <= end) {
            const uint16_t code = u16(at), len = u16(at + 2);
            if (code == 0) {
                return true;  // opt_endofopt
            }
            if (at + 4 + pad4(len) > end) {
                return false;
            }
            out.push_back({code, std::vector<uint8_t>(b_.begin() + static_cast<long>(at + 4),
                                                      b_.begin() + static_cast<long>(at + 4 + len))});
            at += 4 + pad4(len);
        }
        return at == end;
    }

    static std::string text(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

    void section(pcapng_file& f, size_t at, size_t end) {
        if (end - at < 16) {
            f.error = "short section header block";
            return;
        }
        ++f.sections;
        f.major = u16(at + 4);
        f.minor = u16(at + 6);
        f.interfaces.clear();  // interface ids are per section
        std::vector<pcapng_option> opts;
        if (!options(at + 16, end, opts)) {
            f.error = "section header options overrun the block";
            return;
        }
        for (const auto& o : opts) {
            if (o.code == opt_comment) {
                f.comment = text(o.value);
            } else if (o.code == shb_userappl) {
                f.userappl = text(o.value);
            }
        }
    }

    void interface(pcapng_file& f, size_t at, size_t end) {
        if (end - at < 8) {
            f.error = "short interface description block";
            return;
        }
        pcapng_interface i;
        i.linktype = u16(at);
        i.snaplen = u32(at + 4);
        std::vector<pcapng_option> opts;
        if (!options(at + 8, end, opts)) {
            f.error = "interface options overrun the block";
            return;
        }
        for (const auto& o : opts) {
            if (o.code == if_name) {
                i.name = text(o.value);
            } else if (o.code == if_tsresol && o.value.size() == 1) {
                i.tsresol = o.value[0];
            }
        }
        f.interfaces.push_back(i);
    }

    void packet(pcapng_file& f, size_t at, size_t end, uint32_t block_length) {
        if (end - at < 20) {
            f.error = "short enhanced packet block";
            return;
        }
        pcapng_packet p;
        p.block_length = block_length;
        p.interface = u32(at);
        p.timestamp = uint64_t{u32(at + 4)} << 32 | u32(at + 8);
        p.captured = u32(at + 12);
        p.original = u32(at + 16);
        if (p.interface >= f.interfaces.size()) {
            f.error = "packet on interface " + std::to_string(p.interface) + " not described";
            return;
        }
        if (at + 20 + pad4(p.captured) > end) {
            f.error = "packet data overruns the block (captured length " + std::to_string(p.captured) + ")";
            return;
        }
        p.data.assign(b_.begin() + static_cast<long>(at + 20), b_.begin() + static_cast<long>(at + 20 + p.captured));
        std::vector<pcapng_option> opts;
        if (!options(at + 20 + pad4(p.captured), end, opts)) {
            f.error = "packet options overrun the block";
            return;
        }
        for (const auto& o : opts) {
            uint32_t v = 0;
            if (o.value.size() == 4) {
                v = u32_of(o.value);
            }
            if (o.code == epb_flags && o.value.size() == 4) {
                p.flags = v;
            } else if (o.code == epb_queue && o.value.size() == 4) {
                p.queue = v;
            }
        }
        f.packets.push_back(std::move(p));
    }

    uint32_t u32_of(const std::vector<uint8_t>& v) const {
        const uint32_t le = uint32_t{v[0]} | uint32_t{v[1]} << 8 | uint32_t{v[2]} << 16 | uint32_t{v[3]} << 24;
        return swap_ ? __builtin_bswap32(le) : le;
    }

    std::vector<uint8_t> b_;
    bool swap_ = false;
};

std::vector<uint8_t> file_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// libpcap's view of the file: caplen, len and bytes of each packet, or why it cannot read it.
struct libpcap_packet {
    uint32_t caplen, len;
    std::vector<uint8_t> data;
};

std::string read_with_libpcap(const std::filesystem::path& p, std::vector<libpcap_packet>& out) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* pc = pcap_open_offline(p.c_str(), err);
    if (pc == nullptr) {
        return err;
    }
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    int rc;
    while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
        out.push_back({h->caplen, h->len, std::vector<uint8_t>(data, data + h->caplen)});
    }
    std::string why = rc == PCAP_ERROR_BREAK ? "" : std::string("pcap_next_ex: ") + pcap_geterr(pc);
    pcap_close(pc);
    return why;
}

// ---------------------------------------------------------------------------------------------
// Frames.

constexpr uint32_t peer = ipv4(192, 0, 2, 10);
constexpr uint32_t us = ipv4(198, 51, 100, 1);

rte_mbuf* sip_frame(uint16_t dst_port, uint8_t seed, size_t payload = 80, uint16_t src_port = 5062) {
    udp_spec s;
    s.src_addr = peer;
    s.dst_addr = us;
    s.src_port = src_port;
    s.dst_port = dst_port;
    s.payload = pattern_payload(payload, seed);
    return make_udp_frame(s);
}

// An ARP request (who-has 198.51.100.1): not UDP at all.
rte_mbuf* arp_frame() {
    rte_mbuf* m = rte_pktmbuf_alloc(test_pool());
    if (m == nullptr) {
        return nullptr;
    }
    auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 42));
    const uint8_t frame[42] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x5e, 0x10, 0x00, 0xaa, 0x08, 0x06,  // Ethernet
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01,                                           // ARP request
        0x02, 0x00, 0x5e, 0x10, 0x00, 0xaa, 192, 0, 2, 10,                                   // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 198, 51, 100, 1};                                // target
    std::memcpy(p, frame, sizeof(frame));
    return m;
}

// An IPv4 frame of protocol 6 (TCP) whose bytes after the IP header say port 5060: a filter on
// "udp port 5060" must look at the protocol, not only at the ports.
rte_mbuf* tcp_like_frame() {
    rte_mbuf* m = sip_frame(5060, 9);
    if (m != nullptr) {
        view_of(m).ip->next_proto_id = IPPROTO_TCP;  // checksum left stale: no filter looks at it
    }
    return m;
}

// The frame's bytes, across segments.
std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
    std::vector<uint8_t> v(rte_pktmbuf_pkt_len(m));
    const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(v.size()), v.data());
    if (p != v.data()) {
        std::memcpy(v.data(), p, v.size());
    }
    return v;
}

// ---------------------------------------------------------------------------------------------
// The fixture: three net_ring ports (rte_eth_from_rings, two queue pairs each) and one
// packet_capture on the first two of them for the whole binary, as the control thread has one
// for the daemon's life: every test is another capture of the same object (its copy pool and
// ring made at the first start and reused).

constexpr uint16_t n_queues = 2;
constexpr uint16_t dir_in = 1, dir_out = 2;

using ring_port = sf::dp::test::ring_port<n_queues>;

// What a frame sent through a port should look like in the file.
struct expected_frame {
    uint16_t port, queue, direction;
    std::vector<uint8_t> bytes;  // the whole frame
};

class capture_fixture : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ASSERT_NE(test_pool(), nullptr);
        for (unsigned i = 0; i < 3; ++i) {
            make_port(("cap_port" + std::to_string(i)).c_str(), ports[i]);
        }
        // A real QSBR variable, as the relay table's: no reader registered (no workers here),
        // so a grace period is over at once.
        const size_t sz = rte_rcu_qsbr_get_memsize(4);
        rcu = static_cast<rte_rcu_qsbr*>(rte_zmalloc("cap_rcu", sz, RTE_CACHE_LINE_SIZE));
        ASSERT_NE(rcu, nullptr);
        ASSERT_EQ(rte_rcu_qsbr_init(rcu, 4), 0);
        cap = new packet_capture({ports[0].id, ports[1].id}, n_queues, rcu, 1023);
        dir = std::filesystem::temp_directory_path() /
              ("sf_capture_test_" + std::to_string(getpid()) + "_" + unique_name("d"));
        std::filesystem::create_directories(dir);
    }

    static void TearDownTestSuite() {
        delete cap;  // stops a capture a failed test left running
        cap = nullptr;
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
        for (auto& p : ports) {
            rte_eth_dev_stop(p.id);
            rte_eth_dev_close(p.id);
        }
        rte_free(rcu);
    }

    static void make_port(const char* name, ring_port& p) { make_ring_port(name, p, 256, 256, 256, test_pool()); }

    void SetUp() override {
        ASSERT_NE(cap, nullptr);
        pool_in_use = rte_mempool_in_use_count(test_pool());
    }

    void TearDown() override {
        cap->stop("test over", 0);
        // Every frame the test made is back, and every copy the capture made.
        EXPECT_EQ(rte_mempool_in_use_count(test_pool()), pool_in_use);
        EXPECT_EQ(copies_in_use(), 0u) << "copies not returned to the capture's pool";
    }

    // Mbufs taken from the capture's copy pool (whatever it is named, as long as it begins with
    // "sf_capture"; made at the first start): none once a capture has ended.
    static unsigned copies_in_use() {
        unsigned n = 0;
        rte_mempool_walk(
            [](rte_mempool* mp, void* arg) {
                if (std::strncmp(mp->name, "sf_capture", 10) == 0) {
                    *static_cast<unsigned*>(arg) += rte_mempool_in_use_count(mp);
                }
            },
            &n);
        return n;
    }

    // A path in the test's directory that does not exist yet.
    static std::filesystem::path fresh_path() { return dir / (unique_name("cap") + ".pcapng"); }

    // The frames arrive on `port`'s RX queue `q` (RX callbacks run in rte_eth_rx_burst); they are
    // freed after. Their bytes are appended to `sent` if given.
    void receive(const ring_port& port, uint16_t q, std::vector<rte_mbuf*> frames,
                 std::vector<expected_frame>* sent = nullptr) {
        for (rte_mbuf* m : frames) {
            ASSERT_NE(m, nullptr);
            if (sent != nullptr) {
                sent->push_back({port.id, q, dir_in, bytes_of(m)});
            }
        }
        ASSERT_EQ(rte_ring_enqueue_burst(port.rx[q], reinterpret_cast<void**>(frames.data()),
                                         static_cast<unsigned>(frames.size()), nullptr),
                  frames.size());
        std::vector<rte_mbuf*> got(frames.size() + 1);
        const uint16_t n = rte_eth_rx_burst(port.id, q, got.data(), static_cast<uint16_t>(got.size()));
        EXPECT_EQ(n, frames.size());
        for (uint16_t i = 0; i < n; ++i) {
            EXPECT_EQ(got[i], frames[i]);
        }
        rte_pktmbuf_free_bulk(got.data(), n);
    }

    // The frames leave through `port`'s TX queue `q` (TX callbacks run in rte_eth_tx_burst); the
    // net_ring port puts them on its TX ring, whence they are taken and freed.
    void transmit(const ring_port& port, uint16_t q, std::vector<rte_mbuf*> frames,
                  std::vector<expected_frame>* sent = nullptr) {
        for (rte_mbuf* m : frames) {
            ASSERT_NE(m, nullptr);
            if (sent != nullptr) {
                sent->push_back({port.id, q, dir_out, bytes_of(m)});
            }
        }
        const uint16_t n = rte_eth_tx_burst(port.id, q, frames.data(), static_cast<uint16_t>(frames.size()));
        EXPECT_EQ(n, frames.size());
        rte_pktmbuf_free_bulk(frames.data() + n, static_cast<unsigned>(frames.size() - n));
        std::vector<rte_mbuf*> out(frames.size() + 1);
        const unsigned k = rte_ring_dequeue_burst(port.tx[q], reinterpret_cast<void**>(out.data()),
                                                  static_cast<unsigned>(out.size()), nullptr);
        EXPECT_EQ(k, n);
        rte_pktmbuf_free_bulk(out.data(), k);
    }

    // Reads `path` with the reader above (and libpcap) and checks it holds exactly `want`, in
    // order, each cut to `snaplen` (0: whole). Returns the file for further checks.
    static pcapng_file expect_file(const std::filesystem::path& path, const std::vector<expected_frame>& want,
                                   uint32_t snaplen = 0) {
        EXPECT_TRUE(std::filesystem::exists(path)) << path;
        pcapng_file f = pcapng_reader(file_bytes(path)).read();
        EXPECT_EQ(f.error, "") << path;
        EXPECT_EQ(f.sections, 1u);
        EXPECT_EQ(f.major, 1u);
        // One interface per DPDK port, in port order (the three ring ports are all there are).
        EXPECT_EQ(f.interfaces.size(), rte_eth_dev_count_avail());
        for (const auto& i : f.interfaces) {
            EXPECT_EQ(i.linktype, 1u);  // LINKTYPE_ETHERNET
            EXPECT_FALSE(i.name.empty());
        }
        EXPECT_EQ(f.packets.size(), want.size());
        uint64_t last_ts = 0;
        size_t off_clock = 0;
        uint64_t off_example = 0;
        const uint64_t now_ns = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count());
        for (size_t k = 0; k < std::min(f.packets.size(), want.size()); ++k) {
            const pcapng_packet& p = f.packets[k];
            const expected_frame& w = want[k];
            SCOPED_TRACE("packet " + std::to_string(k));
            EXPECT_EQ(p.interface, w.port);
            EXPECT_TRUE(p.flags.has_value()) << "no epb_flags";
            EXPECT_EQ(p.flags.value_or(0) & 3u, w.direction) << "direction (1 in, 2 out)";
            if (p.queue.has_value()) {
                EXPECT_EQ(*p.queue, w.queue);
            }
            const size_t keep = snaplen == 0 ? w.bytes.size() : std::min<size_t>(snaplen, w.bytes.size());
            EXPECT_EQ(p.original, w.bytes.size());
            EXPECT_EQ(p.captured, keep);
            EXPECT_TRUE(p.data == std::vector<uint8_t>(w.bytes.begin(), w.bytes.begin() + static_cast<long>(keep)))
                << "bytes differ";
            EXPECT_GE(p.timestamp, last_ts) << "timestamps go back";
            last_ts = p.timestamp;
            // Nanoseconds of the wall clock (if_tsresol 9), taken within the last minute.
            if (p.interface < f.interfaces.size()) {
                EXPECT_EQ(f.interfaces[p.interface].tsresol.value_or(6), 9);
            }
            if (p.timestamp > now_ns || p.timestamp + 60'000'000'000ull < now_ns) {
                ++off_clock;
                off_example = p.timestamp;
            }
        }
        EXPECT_EQ(off_clock, 0u) << "packets whose timestamp is not within the last minute of the wall clock, e.g. "
                                 << off_example << " ns since 1970, now " << now_ns;
        // libpcap, which tcpdump reads it with, agrees.
        std::vector<libpcap_packet> lp;
        EXPECT_EQ(read_with_libpcap(path, lp), "");
        EXPECT_EQ(lp.size(), f.packets.size());
        for (size_t k = 0; k < std::min(lp.size(), f.packets.size()); ++k) {
            EXPECT_EQ(lp[k].caplen, f.packets[k].captured);
            EXPECT_EQ(lp[k].len, f.packets[k].original);
            EXPECT_TRUE(lp[k].data == f.packets[k].data) << "libpcap reads other bytes for packet " << k;
        }
        return f;
    }

    static uint64_t epb_bytes(const pcapng_file& f) {
        uint64_t n = 0;
        for (const auto& p : f.packets) {
            n += p.block_length;
        }
        return n;
    }

    static inline ring_port ports[3];
    static inline rte_rcu_qsbr* rcu = nullptr;
    static inline packet_capture* cap = nullptr;
    static inline std::filesystem::path dir;
    unsigned pool_in_use = 0;
};

// ---------------------------------------------------------------------------------------------

TEST_F(capture_fixture, a_filter_takes_exactly_the_matching_frames_in_both_directions) {
    const auto path = fresh_path();
    capture_request req;
    req.filter = "udp port 5060";
    req.path = path.string();
    req.comment = "asked by the test";
    ASSERT_EQ(cap->start(req, 1000), "");
    EXPECT_TRUE(cap->status().running);
    EXPECT_EQ(cap->status().path, path.string());
    EXPECT_EQ(cap->status().filter, "udp port 5060");

    std::vector<expected_frame> want;
    // In on port 0: SIP to 5060 (taken), RTP to 20000, an ARP request, protocol 6 "to 5060".
    receive(ports[0], 0, {sip_frame(5060, 1)}, &want);
    receive(ports[0], 0, {sip_frame(20000, 2), arp_frame(), tcp_like_frame()});
    // Out on port 1: SIP from 5060 (taken: "port" is either side), RTP, then SIP to 5060 again.
    transmit(ports[1], 0, {sip_frame(5070, 3, 200, 5060)}, &want);
    transmit(ports[1], 0, {sip_frame(20002, 4, 160, 20000)});
    // A mixed burst: only its matching frames, in order.
    {
        std::vector<expected_frame> all;
        receive(ports[1], 0, {sip_frame(20000, 5), sip_frame(5060, 6, 300), arp_frame(), sip_frame(5060, 7, 33)},
                &all);
        want.push_back(all[1]);
        want.push_back(all[3]);
    }
    transmit(ports[0], 0, {sip_frame(5060, 8, 1)}, &want);

    EXPECT_EQ(cap->status().matched, want.size());
    cap->stop("operator", 1234);

    const capture_status st = cap->status();
    EXPECT_FALSE(st.running);
    EXPECT_EQ(st.ended_by, "operator");
    EXPECT_EQ(st.started_ms, 1000u);
    EXPECT_EQ(st.ended_ms, 1234u);
    EXPECT_EQ(st.path, path.string());
    EXPECT_EQ(st.filter, "udp port 5060");
    EXPECT_EQ(st.matched, want.size());
    EXPECT_EQ(st.written, want.size());
    EXPECT_EQ(st.dropped, 0u);
    EXPECT_EQ(st.error, "");

    const pcapng_file f = expect_file(path, want);
    EXPECT_GT(st.bytes, 0u);
    EXPECT_EQ(st.bytes, epb_bytes(f)) << "bytes: the packet blocks written";
    EXPECT_EQ(f.comment, "asked by the test");
    EXPECT_EQ(f.userappl, "sipferry");
}

TEST_F(capture_fixture, every_queue_of_every_listed_port_is_tapped_and_no_other_port) {
    const auto path = fresh_path();
    capture_request req;
    req.path = path.string();
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> want;
    for (unsigned p = 0; p < 2; ++p) {
        for (uint16_t q = 0; q < n_queues; ++q) {
            receive(ports[p], q, {sip_frame(20000, static_cast<uint8_t>(10 * p + q))}, &want);
            transmit(ports[p], q, {sip_frame(20002, static_cast<uint8_t>(10 * p + q + 5))}, &want);
        }
    }
    // Port 2 is not one of the capture's.
    receive(ports[2], 0, {sip_frame(5060, 40)});
    receive(ports[2], 1, {sip_frame(5060, 41)});
    transmit(ports[2], 0, {sip_frame(5060, 42)});
    transmit(ports[2], 1, {sip_frame(5060, 43)});
    cap->stop("done", 5);
    const pcapng_file f = expect_file(path, want);
    for (const auto& p : f.packets) {
        EXPECT_TRUE(p.queue.has_value()) << "epb_queue missing";
    }
    EXPECT_EQ(cap->status().written, want.size());
}

TEST_F(capture_fixture, no_filter_takes_every_frame) {
    const auto path = fresh_path();
    capture_request req;
    req.path = path.string();
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> want;
    receive(ports[0], 0, {sip_frame(5060, 1), arp_frame(), tcp_like_frame(), sip_frame(20000, 2, 0)}, &want);
    transmit(ports[1], 1, {arp_frame(), sip_frame(30000, 3, 1000)}, &want);
    cap->stop("done", 7);
    const capture_status st = cap->status();
    EXPECT_EQ(st.matched, 6u);
    EXPECT_EQ(st.written, 6u);
    EXPECT_EQ(st.dropped, 0u);
    EXPECT_EQ(st.filter, "");
    const pcapng_file f = expect_file(path, want);
    EXPECT_EQ(st.bytes, epb_bytes(f));
}

TEST_F(capture_fixture, snaplen_keeps_the_first_bytes_and_the_original_length) {
    const auto path = fresh_path();
    capture_request req;
    req.path = path.string();
    req.snaplen = 60;
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> want;
    receive(ports[0], 0, {sip_frame(5060, 1, 400)}, &want);    // 442 bytes: 60 kept
    transmit(ports[0], 0, {sip_frame(5060, 2, 10)}, &want);    // 52 bytes: all kept
    receive(ports[1], 1, {sip_frame(5060, 3, 18)}, &want);     // exactly 60
    cap->stop("done", 0);
    ASSERT_EQ(want[0].bytes.size(), 442u);
    ASSERT_EQ(want[2].bytes.size(), 60u);
    const pcapng_file f = expect_file(path, want, 60);
    ASSERT_EQ(f.packets.size(), 3u);
    EXPECT_EQ(f.packets[0].captured, 60u);
    EXPECT_EQ(f.packets[0].original, 442u);
    EXPECT_EQ(f.packets[1].captured, 52u);
    EXPECT_EQ(cap->status().written, 3u);
}

TEST_F(capture_fixture, a_packet_budget_takes_exactly_that_many_and_poll_ends_it) {
    const auto path = fresh_path();
    capture_request req;
    req.filter = "udp port 5060";
    req.path = path.string();
    req.max_packets = 3;
    ASSERT_EQ(cap->start(req, 100), "");
    std::vector<expected_frame> sent;
    transmit(ports[0], 0, {sip_frame(5060, 1), sip_frame(20000, 9)}, &sent);  // one matching
    cap->poll(101);
    EXPECT_TRUE(cap->status().running) << "one of three taken";
    receive(ports[1], 0, {sip_frame(5060, 2), sip_frame(5060, 3), sip_frame(5060, 4), sip_frame(5060, 5)}, &sent);
    EXPECT_EQ(cap->status().matched, 3u);
    cap->poll(102);
    const capture_status st = cap->status();
    EXPECT_FALSE(st.running);
    EXPECT_EQ(st.ended_by, "packets");
    EXPECT_EQ(st.ended_ms, 102u);
    EXPECT_EQ(st.matched, 3u);
    EXPECT_EQ(st.written, 3u);
    EXPECT_EQ(st.dropped, 0u);
    // The matching frame out, then the first two in.
    expect_file(path, {sent[0], sent[2], sent[3]});
}

TEST_F(capture_fixture, a_time_budget_ends_at_the_poll_that_reaches_it) {
    const auto path = fresh_path();
    capture_request req;
    req.path = path.string();
    req.max_ms = 100;
    ASSERT_EQ(cap->start(req, 5000), "");
    std::vector<expected_frame> want;
    receive(ports[0], 0, {sip_frame(5060, 1)}, &want);
    cap->poll(5050);
    EXPECT_TRUE(cap->status().running);
    cap->poll(5099);
    EXPECT_TRUE(cap->status().running);
    transmit(ports[0], 1, {sip_frame(5060, 2)}, &want);
    cap->poll(5100);
    const capture_status st = cap->status();
    EXPECT_FALSE(st.running);
    EXPECT_EQ(st.ended_by, "time");
    EXPECT_EQ(st.started_ms, 5000u);
    EXPECT_EQ(st.ended_ms, 5100u);
    EXPECT_EQ(st.written, 2u);
    // Once ended, frames are not taken and poll() does nothing.
    receive(ports[0], 0, {sip_frame(5060, 3)});
    cap->poll(9999);
    EXPECT_EQ(cap->status().ended_by, "time");
    expect_file(path, want);
}

TEST_F(capture_fixture, a_bad_filter_is_refused_with_libpcaps_reason_and_no_file) {
    for (const char* bad : {"udp port", "nonsense!!", "udp port 99999"}) {
        SCOPED_TRACE(bad);
        const auto path = fresh_path();
        capture_request req;
        req.filter = bad;
        req.path = path.string();
        const std::string err = cap->start(req, 0);
        EXPECT_EQ(err.rfind("filter:", 0), 0u) << err;
        EXPECT_GT(err.size(), std::string("filter: ").size());
        EXPECT_FALSE(std::filesystem::exists(path));
        EXPECT_FALSE(cap->status().running);
        const std::string check = packet_capture::check_filter(bad);
        EXPECT_EQ(check.rfind("filter:", 0), 0u) << check;
    }
    EXPECT_EQ(packet_capture::check_filter("udp and host 192.0.2.1"), "");
    EXPECT_EQ(packet_capture::check_filter(""), "");
    EXPECT_NE(packet_capture::check_filter(std::string(5000, ' ') + "udp"), "");
    // A good one works after them.
    const auto path = fresh_path();
    capture_request req;
    req.filter = "udp and host 192.0.2.10";
    req.path = path.string();
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> want;
    receive(ports[0], 0, {sip_frame(5060, 1), arp_frame()}, &want);
    want.pop_back();
    cap->stop("done", 0);
    expect_file(path, want);
}

TEST_F(capture_fixture, a_new_filter_applies_from_the_next_burst_and_a_bad_one_leaves_the_old) {
    EXPECT_EQ(cap->refilter("udp"), "no capture is running");
    const auto path = fresh_path();
    capture_request req;
    req.filter = "udp port 5060";
    req.path = path.string();
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> want;
    receive(ports[0], 0, {sip_frame(5060, 1)}, &want);
    receive(ports[0], 0, {sip_frame(20000, 2)});

    // A call the capture follows got a leg: its relay port joins the filter.
    ASSERT_EQ(cap->refilter("udp port 5060 or udp port 20000"), "");
    EXPECT_EQ(cap->status().filter, "udp port 5060 or udp port 20000");
    EXPECT_EQ(cap->status().filter_changes, 1u);
    receive(ports[0], 0, {sip_frame(20000, 3), sip_frame(5060, 4), sip_frame(20002, 5)}, &want);
    want.pop_back();
    transmit(ports[1], 0, {sip_frame(20000, 6)}, &want);

    // The same text again is no change; a filter that does not compile leaves the one it had.
    EXPECT_EQ(cap->refilter("udp port 5060 or udp port 20000"), "");
    EXPECT_EQ(cap->status().filter_changes, 1u);
    const std::string err = cap->refilter("udp port 99999");
    EXPECT_EQ(err.rfind("filter:", 0), 0u) << err;
    EXPECT_EQ(cap->status().filter, "udp port 5060 or udp port 20000");
    EXPECT_EQ(cap->status().filter_changes, 1u);
    receive(ports[1], 0, {sip_frame(20000, 7), sip_frame(20004, 8)}, &want);
    want.pop_back();

    // No filter: every frame.
    ASSERT_EQ(cap->refilter(""), "");
    receive(ports[0], 0, {arp_frame(), sip_frame(20004, 9)}, &want);
    EXPECT_EQ(cap->status().filter, "");
    EXPECT_EQ(cap->status().filter_changes, 2u);

    cap->stop("done", 0);
    EXPECT_EQ(cap->status().filter, "");  // as it ended
    EXPECT_EQ(cap->status().filter_changes, 2u);
    EXPECT_EQ(cap->replaced_filters_held(), 0u);
    expect_file(path, want);
}

TEST_F(capture_fixture, a_replaced_filter_is_freed_only_after_every_reader_passed_a_quiescent_state) {
    const auto path = fresh_path();
    capture_request req;
    req.filter = "udp port 5060";
    req.path = path.string();
    ASSERT_EQ(cap->start(req, 0), "");
    // This thread plays a worker that is inside a burst: online, no quiescent state reported.
    ASSERT_EQ(rte_rcu_qsbr_thread_register(rcu, 0), 0);
    rte_rcu_qsbr_thread_online(rcu, 0);
    struct offline_at_exit {  // stop() waits for every online reader: never leave one behind
        rte_rcu_qsbr* v;
        ~offline_at_exit() {
            rte_rcu_qsbr_thread_offline(v, 0);
            rte_rcu_qsbr_thread_unregister(v, 0);
        }
    } guard{rcu};

    ASSERT_EQ(cap->refilter("udp port 20000"), "");
    ASSERT_EQ(cap->refilter("udp port 20002"), "");
    EXPECT_EQ(cap->replaced_filters_held(), 2u);
    cap->poll(1);
    EXPECT_EQ(cap->replaced_filters_held(), 2u) << "freed while a reader may still run it";
    rte_rcu_qsbr_quiescent(rcu, 0);
    cap->poll(2);
    EXPECT_EQ(cap->replaced_filters_held(), 0u);

    ASSERT_EQ(cap->refilter("udp port 20004"), "");
    EXPECT_EQ(cap->replaced_filters_held(), 1u);
    rte_rcu_qsbr_thread_offline(rcu, 0);  // a sleeping worker holds nothing up
    cap->poll(3);
    EXPECT_EQ(cap->replaced_filters_held(), 0u);
    cap->stop("done", 4);
    expect_file(path, {});
}

TEST_F(capture_fixture, a_second_start_and_an_existing_file_are_refused) {
    // An existing file: refused, its content untouched.
    const auto existing = fresh_path();
    {
        std::ofstream(existing, std::ios::binary) << "precious";
    }
    capture_request req;
    req.path = existing.string();
    const std::string err = cap->start(req, 0);
    EXPECT_NE(err, "");
    EXPECT_NE(err.find(existing.string()), std::string::npos) << err;
    EXPECT_FALSE(cap->status().running);
    const auto content = file_bytes(existing);
    EXPECT_EQ(std::string(content.begin(), content.end()), "precious");

    // A capture runs: a second is refused, and neither its file is made nor the first disturbed.
    const auto first = fresh_path(), second = fresh_path();
    req.path = first.string();
    ASSERT_EQ(cap->start(req, 10), "");
    capture_request again;
    again.path = second.string();
    const std::string busy = cap->start(again, 11);
    EXPECT_NE(busy.find("running"), std::string::npos) << busy;
    EXPECT_FALSE(std::filesystem::exists(second));
    EXPECT_TRUE(cap->status().running);
    EXPECT_EQ(cap->status().path, first.string());
    std::vector<expected_frame> want;
    receive(ports[0], 0, {sip_frame(5060, 1)}, &want);
    cap->stop("done", 12);
    expect_file(first, want);
    EXPECT_EQ(cap->status().started_ms, 10u);
}

TEST_F(capture_fixture, a_capture_after_the_first_works_and_frames_between_are_in_neither) {
    const auto one = fresh_path(), two = fresh_path();
    capture_request req;
    req.path = one.string();
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> first, second;
    receive(ports[0], 0, {sip_frame(5060, 1), sip_frame(5060, 2)}, &first);
    transmit(ports[1], 0, {sip_frame(5060, 3)}, &first);
    cap->stop("done", 1);
    EXPECT_EQ(cap->status().written, 3u);

    // Between the captures: nobody listens.
    receive(ports[0], 0, {sip_frame(5060, 50)});
    transmit(ports[1], 1, {sip_frame(5060, 51)});

    req.path = two.string();
    req.filter = "udp";
    ASSERT_EQ(cap->start(req, 2), "");
    EXPECT_EQ(cap->status().matched, 0u) << "figures start afresh";
    EXPECT_EQ(cap->status().written, 0u);
    transmit(ports[0], 1, {sip_frame(5060, 4)}, &second);
    receive(ports[1], 1, {sip_frame(20000, 5), arp_frame()}, &second);
    second.pop_back();  // the ARP frame is not UDP
    cap->stop("again", 3);
    const capture_status st = cap->status();
    EXPECT_EQ(st.ended_by, "again");
    EXPECT_EQ(st.matched, 2u);
    EXPECT_EQ(st.written, 2u);
    expect_file(one, first);
    expect_file(two, second);
}

TEST_F(capture_fixture, a_chained_frame_is_filtered_across_segments_and_captured_whole) {
    const auto path = fresh_path();
    capture_request req;
    req.filter = "udp port 5060 and host 192.0.2.10";
    req.path = path.string();
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> want;
    // Split within the IP header (after 30 bytes, in the source address): the filter must read
    // the addresses and ports across the two segments.
    for (const uint16_t dst : {uint16_t{5060}, uint16_t{20000}}) {
        rte_mbuf* whole = sip_frame(dst, 7, 500);
        ASSERT_NE(whole, nullptr);
        const std::vector<uint8_t> b = bytes_of(whole);
        rte_pktmbuf_free(whole);
        rte_mbuf* head = rte_pktmbuf_alloc(test_pool());
        rte_mbuf* tail = rte_pktmbuf_alloc(test_pool());
        ASSERT_NE(head, nullptr);
        ASSERT_NE(tail, nullptr);
        std::memcpy(rte_pktmbuf_append(head, 30), b.data(), 30);
        std::memcpy(rte_pktmbuf_append(tail, static_cast<uint16_t>(b.size() - 30)), b.data() + 30, b.size() - 30);
        ASSERT_EQ(rte_pktmbuf_chain(head, tail), 0);
        ASSERT_EQ(head->nb_segs, 2);
        ASSERT_EQ(bytes_of(head), b);
        if (dst == 5060) {
            receive(ports[0], 0, {head}, &want);
        } else {
            receive(ports[0], 0, {head});
        }
    }
    cap->stop("done", 0);
    EXPECT_EQ(cap->status().written, 1u);
    expect_file(path, want);
}

// Longer than a standard Ethernet frame (1518 bytes): what a port with a jumbo MTU carries, and
// what an af_packet port delivers when the kernel reassembled a large SIP datagram.
TEST_F(capture_fixture, a_frame_longer_than_1518_bytes_is_captured_whole) {
    const auto path = fresh_path();
    capture_request req;
    req.path = path.string();
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> want;
    receive(ports[0], 0, {sip_frame(5060, 1, 1958)}, &want);  // 2000 bytes, one segment
    transmit(ports[0], 0, {sip_frame(5060, 2, 1472)}, &want); // 1514: the largest standard one
    cap->stop("done", 0);
    ASSERT_EQ(want[0].bytes.size(), 2000u);
    const capture_status st = cap->status();
    EXPECT_EQ(st.matched, 2u);
    EXPECT_EQ(st.written + st.dropped, 2u);
    expect_file(path, want);
}

// The disk's guard: the poll that finds max_bytes written ends the capture ("size").
TEST_F(capture_fixture, a_byte_budget_ends_at_the_poll_that_finds_it_reached) {
    const auto path = fresh_path();
    capture_request req;
    req.path = path.string();
    req.max_bytes = 1000;  // a 142-byte frame's block is under 250 bytes: 2 stay under it, 8 do not
    ASSERT_EQ(cap->start(req, 0), "");
    std::vector<expected_frame> want;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    auto written = [&](uint64_t n) {
        while (cap->status().written < n && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        return cap->status().written;
    };
    receive(ports[0], 0, {sip_frame(5060, 1, 100), sip_frame(5060, 2, 100)}, &want);
    ASSERT_EQ(written(2), 2u);
    ASSERT_LT(cap->status().bytes, 1000u);
    cap->poll(1);
    EXPECT_TRUE(cap->status().running) << "under 1000 bytes yet";
    std::vector<rte_mbuf*> more;
    for (uint8_t i = 3; i <= 8; ++i) {
        more.push_back(sip_frame(5060, i, 100));
    }
    receive(ports[0], 0, more, &want);
    ASSERT_EQ(written(8), 8u);
    cap->poll(2);
    const capture_status st = cap->status();
    EXPECT_FALSE(st.running);
    EXPECT_EQ(st.ended_by, "size");
    EXPECT_GE(st.bytes, 1000u);
    expect_file(path, want);
}

// The copies go back to the capture's pool once written: over a daemon's life (and within one
// capture) far more frames pass through it than it holds. A capture object of its own, with a
// pool of 255 frames, takes 640.
TEST_F(capture_fixture, more_frames_than_the_copy_pool_holds_pass_through_it) {
    packet_capture small({ports[0].id}, n_queues, rcu, 255);
    const auto path = fresh_path();
    capture_request req;
    req.path = path.string();
    ASSERT_EQ(small.start(req, 0), "");
    std::vector<expected_frame> want;
    for (unsigned burst = 0; burst < 20; ++burst) {
        std::vector<rte_mbuf*> frames;
        for (unsigned i = 0; i < 32; ++i) {
            frames.push_back(sip_frame(20000, static_cast<uint8_t>(burst + i), 20));
        }
        receive(ports[0], 0, frames, &want);
        // Let the writer catch up (at most one burst in flight), so nothing is lost for want of
        // room in the ring or the pool.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (capture_status st = small.status(); st.written + st.dropped < st.matched &&
                                                 std::chrono::steady_clock::now() < until;
             st = small.status()) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }
    small.stop("done", 0);
    const capture_status st = small.status();
    EXPECT_EQ(st.matched, 20u * 32);
    EXPECT_EQ(st.dropped, 0u) << "copies not returned to the pool run it dry";
    EXPECT_EQ(st.written, 20u * 32);
    EXPECT_EQ(copies_in_use(), 0u);
    if (st.dropped == 0) {
        expect_file(path, want);
    }
}

}  // namespace
}  // namespace sf::dp
