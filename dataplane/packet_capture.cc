#include "packet_capture.hh"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <ctime>
#include <thread>
#include <utility>

#include <rte_bpf.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pcapng.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

namespace sf::dp {

namespace {

/// Frames are copied and handed to the ring this many at a time.
constexpr unsigned tap_batch = 32;

/// A filter longer than this is refused (tcpdump expressions are a line).
constexpr size_t max_filter_bytes = 4096;

/// libpcap's compiler for Ethernet frames: the program, or libpcap's message.
std::string compile(const std::string& filter, bpf_program& prog) {
    if (filter.size() > max_filter_bytes) {
        return "filter: longer than 4096 bytes";
    }
    pcap_t* p = pcap_open_dead(DLT_EN10MB, 65535);
    if (p == nullptr) {
        return "libpcap: cannot open a compiler";
    }
    std::string err;
    if (pcap_compile(p, &prog, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        err = std::string("filter: ") + pcap_geterr(p);
    }
    pcap_close(p);
    return err;
}

}  // namespace

/// A filter as the workers run it: the eBPF program, and its native code where there is a JIT.
struct packet_capture::compiled_filter {
    rte_bpf* bpf = nullptr;
    uint64_t (*jit)(void*) = nullptr;

    compiled_filter() = default;
    compiled_filter(const compiled_filter&) = delete;
    compiled_filter& operator=(const compiled_filter&) = delete;
    ~compiled_filter() { rte_bpf_destroy(bpf); }

    bool takes(rte_mbuf* m) const { return jit != nullptr ? jit(m) != 0 : rte_bpf_exec(bpf, m) != 0; }

    /// `text` compiled and loaded into `out` (nullptr for "": every frame); "" or why not.
    static std::string load(const std::string& text, std::unique_ptr<compiled_filter>& out) {
        out.reset();
        if (text.empty()) {
            return "";
        }
        bpf_program prog{};
        if (std::string err = compile(text, prog); !err.empty()) {
            return err;
        }
        rte_bpf_prm* prm = rte_bpf_convert(&prog);
        pcap_freecode(&prog);
        if (prm == nullptr) {
            return std::string("filter: DPDK cannot run it (rte_bpf_convert: ") + rte_strerror(rte_errno) + ")";
        }
        auto f = std::make_unique<compiled_filter>();
        f->bpf = rte_bpf_load(prm);
        rte_free(prm);
        if (f->bpf == nullptr) {
            return std::string("filter: DPDK cannot load it (rte_bpf_load: ") + rte_strerror(rte_errno) + ")";
        }
        rte_bpf_jit jit{};
        if (rte_bpf_get_jit(f->bpf, &jit) == 0 && jit.func != nullptr) {
            f->jit = jit.func;
        }
        out = std::move(f);
        return "";
    }
};

struct packet_capture::session {
    capture_request req;
    uint64_t started_ms = 0;
    rte_mempool* pool = nullptr;
    rte_ring* ring = nullptr;
    // The filter the workers run, read once a burst (nullptr: every frame). `filter_text` and
    // `filter_owned` are the control thread's: the text and the object behind the pointer.
    std::atomic<const compiled_filter*> filter{nullptr};
    std::string filter_text;
    std::unique_ptr<compiled_filter> filter_owned;
    // Filters refilter() replaced, each freed once every worker passed a quiescent state after
    // the swap (the QSBR token taken then).
    std::vector<std::pair<uint64_t, std::unique_ptr<compiled_filter>>> retired;
    uint64_t filter_changes = 0;
    uint32_t snaplen = UINT32_MAX;
    // The capture's clock: the wall clock and the TSC read together at its start (see stamp()).
    uint64_t base_ns = 0, base_tsc = 0, tsc_hz = 1;
    // Frames still to take: decremented once per matching frame by any worker, so a budget
    // of N takes exactly N.
    std::atomic<int64_t> budget{std::numeric_limits<int64_t>::max()};
    std::atomic<uint64_t> matched{0}, dropped{0};
    // The writer's.
    rte_pcapng_t* file = nullptr;
    std::atomic<bool> draining{false};
    std::atomic<uint64_t> written{0}, bytes{0}, write_failed{0};
    std::thread writer;

    struct tap_point {
        uint16_t port, queue;
        const rte_eth_rxtx_callback* rx;
        const rte_eth_rxtx_callback* tx;
    };
    std::vector<tap_point> taps;

    /// Nanoseconds since the epoch at TSC `tsc`. DPDK 22.11's rte_pcapng_copy() gets it wrong:
    /// its TSC-to-time base is set on first use, after the caller read the TSC, so the first
    /// delta is negative and poisons the base, and (cycles * 1e9) is computed in 64 bits. Its
    /// files came out hours or centuries off, so every block's timestamp is written again here.
    uint64_t wall_ns(uint64_t tsc) const {
        return base_ns + static_cast<uint64_t>(static_cast<unsigned __int128>(tsc - base_tsc) * 1'000'000'000u / tsc_hz);
    }

    /// Puts `ns` into the Enhanced Packet Block that starts the copy (pcapng: block type 6,
    /// total length, interface id, then the timestamp's high and low 32 bits, in host order).
    static void stamp(rte_mbuf* copy, uint64_t ns) {
        auto* epb = rte_pktmbuf_mtod(copy, uint8_t*);
        uint32_t type;
        std::memcpy(&type, epb, sizeof type);
        if (rte_pktmbuf_data_len(copy) >= 20 && type == 6) {
            const auto hi = static_cast<uint32_t>(ns >> 32), lo = static_cast<uint32_t>(ns);
            std::memcpy(epb + 12, &hi, sizeof hi);
            std::memcpy(epb + 16, &lo, sizeof lo);
        }
    }

    void hand_over(rte_mbuf** copies, unsigned n) {
        const unsigned queued = rte_ring_mp_enqueue_burst(ring, reinterpret_cast<void**>(copies), n, nullptr);
        if (queued < n) {
            rte_pktmbuf_free_bulk(copies + queued, n - queued);
            dropped.fetch_add(n - queued, std::memory_order_relaxed);
        }
    }

    // Runs on a worker, inside rte_eth_rx_burst / rte_eth_tx_burst.
    void tap(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n, rte_pcapng_direction dir) {
        rte_mbuf* copies[tap_batch];
        unsigned k = 0;
        const uint64_t now = rte_get_tsc_cycles();
        uint64_t now_ns = 0;  // read once a burst, when a frame is taken
        const compiled_filter* f = filter.load(std::memory_order_acquire);
        for (uint16_t i = 0; i < n; ++i) {
            if (f != nullptr && !f->takes(pkts[i])) {
                continue;
            }
            if (budget.fetch_sub(1, std::memory_order_relaxed) <= 0) {
                break;  // the budget is used up: poll() ends the capture
            }
            matched.fetch_add(1, std::memory_order_relaxed);
            rte_mbuf* c = rte_pcapng_copy(port, queue, pkts[i], pool, snaplen, now, dir);
            if (c == nullptr) {
                dropped.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            if (now_ns == 0) {
                now_ns = wall_ns(now);
            }
            stamp(c, now_ns);
            copies[k++] = c;
            if (k == tap_batch) {
                hand_over(copies, k);
                k = 0;
            }
        }
        if (k != 0) {
            hand_over(copies, k);
        }
    }

    static uint16_t on_rx(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n, uint16_t, void* self) {
        static_cast<session*>(self)->tap(port, queue, pkts, n, RTE_PCAPNG_DIRECTION_IN);
        return n;
    }

    static uint16_t on_tx(uint16_t port, uint16_t queue, rte_mbuf** pkts, uint16_t n, void* self) {
        static_cast<session*>(self)->tap(port, queue, pkts, n, RTE_PCAPNG_DIRECTION_OUT);
        return n;
    }

    // The writer thread: the ring to the file until stop() says no worker can add more.
    void write_loop() {
        rte_mbuf* batch[tap_batch];
        for (;;) {
            const bool last = draining.load(std::memory_order_acquire);
            const unsigned n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(batch), tap_batch, nullptr);
            if (n == 0) {
                if (last) {
                    return;  // draining was set before this empty look: nothing more comes
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
                continue;
            }
            const ssize_t w = rte_pcapng_write_packets(file, batch, static_cast<uint16_t>(n));
            // DPDK 22.11 does not free them, whatever its header says (its dumpcap frees them
            // itself): left to it, the pool ran dry after its 8191 frames.
            rte_pktmbuf_free_bulk(batch, n);
            if (w < 0) {
                write_failed.fetch_add(n, std::memory_order_relaxed);
            } else {
                written.fetch_add(n, std::memory_order_relaxed);
                bytes.fetch_add(static_cast<uint64_t>(w), std::memory_order_relaxed);
            }
        }
    }

    capture_status status() const {
        capture_status s;
        s.path = req.path;
        s.filter = filter_text;
        s.filter_changes = filter_changes;
        s.matched = matched.load(std::memory_order_relaxed);
        s.written = written.load(std::memory_order_relaxed);
        s.bytes = bytes.load(std::memory_order_relaxed);
        s.dropped = dropped.load(std::memory_order_relaxed) + write_failed.load(std::memory_order_relaxed);
        s.started_ms = started_ms;
        return s;
    }
};

packet_capture::packet_capture(std::vector<uint16_t> ports, uint16_t queues, rte_rcu_qsbr* rcu, unsigned pool_frames)
    : ports_(std::move(ports)), queues_(queues), rcu_(rcu), pool_frames_(pool_frames) {}

packet_capture::~packet_capture() {
    stop("shutdown", 0);  // after it no worker can be in a callback: the pool and ring may go
    rte_ring_free(ring_);
    rte_mempool_free(pool_);
}

std::string packet_capture::check_filter(const std::string& filter) {
    bpf_program prog{};
    std::string err = compile(filter, prog);
    if (err.empty()) {
        pcap_freecode(&prog);
    }
    return err;
}

std::string packet_capture::start(const capture_request& req, uint64_t now_ms) {
    if (live_ != nullptr) {
        return "a capture is running (" + live_->req.path + "): stop it first";
    }
    auto s = std::make_unique<session>();
    s->req = req;
    s->started_ms = now_ms;
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    s->base_tsc = rte_get_tsc_cycles();
    s->base_ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
    s->tsc_hz = std::max<uint64_t>(rte_get_tsc_hz(), 1);
    if (req.snaplen != 0) {
        s->snaplen = req.snaplen;
    }
    if (req.max_packets != 0) {
        s->budget.store(static_cast<int64_t>(std::min<uint64_t>(req.max_packets, INT64_MAX)));
    }

    // The filter first: a typo should not leave an empty file behind.
    if (std::string err = compiled_filter::load(req.filter, s->filter_owned); !err.empty()) {
        return err;
    }
    s->filter_text = req.filter;
    s->filter.store(s->filter_owned.get(), std::memory_order_relaxed);  // published with live_ below
    if (pool_ == nullptr) {
        // Kept until this object goes: no capture's end frees it while a worker might copy.
        // (Named per object: DPDK's names are process-wide, and tests make several.)
        static std::atomic<unsigned> made{0};
        const std::string name = "sf_capture" + std::to_string(made.fetch_add(1));
        pool_ = rte_pktmbuf_pool_create(name.c_str(), pool_frames_, 64, 0,
                                        static_cast<uint16_t>(rte_pcapng_mbuf_size(RTE_ETHER_MAX_LEN)),
                                        SOCKET_ID_ANY);
        ring_ = pool_ == nullptr ? nullptr
                                 : rte_ring_create(name.c_str(), rte_align32pow2(pool_frames_ + 1), SOCKET_ID_ANY,
                                                   RING_F_SC_DEQ);
        if (pool_ == nullptr || ring_ == nullptr) {
            return std::string("no memory for the capture's frames: ") + rte_strerror(rte_errno);
        }
    }
    s->pool = pool_;
    s->ring = ring_;

    const int fd = open(req.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        return req.path + ": " + std::strerror(errno);  // `s` and its filter go with it
    }
    utsname u{};
    std::string os = "Linux";
    if (uname(&u) == 0) {
        os = std::string(u.sysname) + " " + u.release;
    }
    s->file = rte_pcapng_fdopen(fd, os.c_str(), nullptr, "sipferry", req.comment.empty() ? nullptr : req.comment.c_str());
    if (s->file == nullptr) {
        close(fd);
        unlink(req.path.c_str());
        return req.path + ": cannot write pcapng: " + rte_strerror(rte_errno);
    }

    // From here on workers may call in: the writer first, so the ring never waits for it.
    s->writer = std::thread([p = s.get()] { p->write_loop(); });
    live_ = std::move(s);
    for (const uint16_t port : ports_) {
        for (uint16_t q = 0; q < queues_; ++q) {
            session::tap_point t{port, q, nullptr, nullptr};
            t.rx = rte_eth_add_rx_callback(port, q, session::on_rx, live_.get());
            t.tx = rte_eth_add_tx_callback(port, q, session::on_tx, live_.get());
            live_->taps.push_back(t);
            if (t.rx == nullptr || t.tx == nullptr) {
                const std::string why = "cannot tap port " + std::to_string(port) + " queue " + std::to_string(q) +
                                        ": " + rte_strerror(rte_errno);
                stop("failed to start", now_ms);
                last_.error = why;
                return why;
            }
        }
    }
    return "";
}

void packet_capture::stop(const std::string& why, uint64_t now_ms) {
    if (live_ == nullptr) {
        return;
    }
    session& s = *live_;
    for (const auto& t : s.taps) {
        if (t.rx != nullptr) {
            rte_eth_remove_rx_callback(t.port, t.queue, t.rx);
        }
        if (t.tx != nullptr) {
            rte_eth_remove_tx_callback(t.port, t.queue, t.tx);
        }
    }
    // A worker that found a callback before its removal may still run it until its next
    // quiescent state: after that nobody adds to the ring, and the callbacks can go.
    if (rcu_ != nullptr) {
        rte_rcu_qsbr_synchronize(rcu_, RTE_QSBR_THRID_INVALID);
    }
    for (const auto& t : s.taps) {
        rte_free(const_cast<rte_eth_rxtx_callback*>(t.rx));
        rte_free(const_cast<rte_eth_rxtx_callback*>(t.tx));
    }
    s.draining.store(true, std::memory_order_release);
    s.writer.join();
    rte_pcapng_close(s.file);  // closes the descriptor (the filters go with the session)
    last_ = s.status();
    last_.ended_by = why;
    last_.ended_ms = now_ms;
    live_.reset();
}

std::string packet_capture::refilter(const std::string& filter) {
    if (live_ == nullptr) {
        return "no capture is running";
    }
    session& s = *live_;
    if (filter == s.filter_text) {
        return "";
    }
    std::unique_ptr<compiled_filter> next;
    if (std::string err = compiled_filter::load(filter, next); !err.empty()) {
        return err;
    }
    // A worker inside a callback keeps the filter it loaded to the end of its burst; it is
    // freed after every worker's next quiescent state (poll(); stop() waits for one anyway).
    s.filter.store(next.get(), std::memory_order_release);
    const uint64_t token = rcu_ != nullptr ? rte_rcu_qsbr_start(rcu_) : 0;
    s.retired.emplace_back(token, std::exchange(s.filter_owned, std::move(next)));
    s.filter_text = filter;
    ++s.filter_changes;
    return "";
}

void packet_capture::poll(uint64_t now_ms) {
    if (live_ == nullptr) {
        return;
    }
    session& s = *live_;
    // Without a QSBR variable (no workers) the replaced filters wait for stop().
    while (rcu_ != nullptr && !s.retired.empty() && rte_rcu_qsbr_check(rcu_, s.retired.front().first, false) == 1) {
        s.retired.erase(s.retired.begin());
    }
    if (s.req.max_packets != 0 && s.budget.load(std::memory_order_relaxed) <= 0) {
        stop("packets", now_ms);
    } else if (s.req.max_ms != 0 && now_ms - s.started_ms >= s.req.max_ms) {
        stop("time", now_ms);
    } else if (s.req.max_bytes != 0 && s.bytes.load(std::memory_order_relaxed) >= s.req.max_bytes) {
        stop("size", now_ms);
    } else if (s.write_failed.load(std::memory_order_relaxed) != 0) {
        stop("write error", now_ms);
        last_.error = "writing the file failed (disk full?)";
    }
}

size_t packet_capture::replaced_filters_held() const {
    return live_ == nullptr ? 0 : live_->retired.size();
}

capture_status packet_capture::status() const {
    if (live_ == nullptr) {
        return last_;
    }
    capture_status s = live_->status();
    s.running = true;
    return s;
}

}  // namespace sf::dp
