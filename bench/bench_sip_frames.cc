// One send of a SIP message the transaction layer keeps (for retransmission): the frame the
// transport hands to a worker, then freed as the worker does after TX. Zero-copy (a header
// mbuf chained to an indirect clone of the message) against the copy the transport made
// before messages were built into mbufs (a fresh mbuf, the bytes copied, headers prepended),
// for a typical INVITE with SDP (~1 KB) and, fragmented, a 5 KB one.

#include <benchmark/benchmark.h>

#include <rte_eal.h>
#include <rte_mbuf.h>
#include <rte_memory.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "bench_eal.hh"
#include "packet.hh"
#include "rings.hh"
#include "sip_transport.hh"
#include "sip_wire.hh"

using namespace sf;
using namespace sf::control;

namespace {

const dp::udp_route route{{{2, 0, 0, 0, 0, 1}}, {{2, 0, 0, 0, 0, 2}}, 0xc0000201, 0xc000020a, 5060, 5060};

struct pools {
    message_pool msgs{"bsf_msg", 1023, 2048, SOCKET_ID_ANY};
    rte_mempool* headers = rte_pktmbuf_pool_create("bsf_hdr", 1023, 64, dp::packet_meta_priv_size,
                                                   RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    rte_mempool* clones = rte_pktmbuf_pool_create("bsf_cln", 1023, 64, 0, 0, SOCKET_ID_ANY);
};

pools& shared_pools() {
    static pools& p = *new pools;  // DPDK objects live as long as the process
    return p;
}

std::string message(size_t n) {
    std::string s = "INVITE sip:bob@198.51.100.20:5060 SIP/2.0\r\n";
    while (s.size() < n) {
        s += "a=rtpmap:101 telephone-event/8000\r\n";
    }
    s.resize(n);
    return s;
}

void frames_clone(benchmark::State& state) {
    pools& p = shared_pools();
    const std::string text = message(static_cast<size_t>(state.range(0)));
    sip_writer w(p.msgs);
    w.append(text);
    const sip_wire kept = w.finish();
    rte_mbuf* out[64];
    frame_outcome how{};
    uint64_t linearized = 0;
    for (auto _ : state) {
        const unsigned n =
            build_sip_frames(kept, route, 1500, 1, true, frame_pools{p.headers, p.clones}, out, 64, how, linearized);
        if (n == 0) {
            state.SkipWithError("no frame");
            break;
        }
        rte_pktmbuf_free_bulk(out, n);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(frames_clone)->Arg(1000)->Arg(5000);

// What the transport did before: the message as a std::string, copied into a fresh mbuf
// behind the headers (fragments were copied too; only the single-frame case is measured).
void frames_copy_baseline(benchmark::State& state) {
    pools& p = shared_pools();
    const std::string text = message(static_cast<size_t>(state.range(0)));
    for (auto _ : state) {
        rte_mbuf* m = rte_pktmbuf_alloc(p.headers);
        char* data = m == nullptr ? nullptr : rte_pktmbuf_append(m, static_cast<uint16_t>(text.size()));
        if (data == nullptr) {
            state.SkipWithError("no mbuf");
            break;
        }
        std::memcpy(data, text.data(), text.size());
        dp::prepend_udp_headers(m, route);
        benchmark::DoNotOptimize(m);
        rte_pktmbuf_free(m);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(frames_copy_baseline)->Arg(1000);

}  // namespace

int main(int argc, char** argv) {
    if (!sf::bench::start_eal("bench_sip_frames", 256)) {
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::filesystem::remove_all(rte_eal_get_runtime_dir());  // made even with --no-shconf
    return 0;
}
