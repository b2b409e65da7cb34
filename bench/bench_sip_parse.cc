// SIP/SDP parser cost per message. The memchr baseline scans the same bytes
// for every '\n' and nothing else: the floor for any line-oriented parser,
// so parse/baseline is the price of the grammar work itself.

#include "sip/sdp.hh"
#include "sip/sip_message.hh"

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

const std::string sdp_body =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\n"
    "s=-\r\n"
    "c=IN IP4 198.51.100.1\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 18 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n";

// A typical carrier INVITE: two Vias, Record-Route, the usual capability headers.
const std::string invite =
    "INVITE sip:+15551234567@biloxi.example.com;user=phone SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9.1;rport\r\n"
    "Via: SIP/2.0/UDP 198.51.100.1:5060;received=198.51.100.1;branch=z9hG4bKnashds8\r\n"
    "Record-Route: <sip:192.0.2.10;lr>\r\n"
    "Max-Forwards: 69\r\n"
    "From: \"Alice\" <sip:+15557654321@atlanta.example.com;user=phone>;tag=9fxced76sl\r\n"
    "To: <sip:+15551234567@biloxi.example.com;user=phone>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@198.51.100.1:5060;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY, INFO\r\n"
    "Supported: timer, 100rel, replaces\r\n"
    "Session-Expires: 1800\r\n"
    "Min-SE: 90\r\n"
    "User-Agent: ExampleUA/1.0\r\n"
    "P-Asserted-Identity: <sip:+15557654321@atlanta.example.com;user=phone>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: " + std::to_string(sdp_body.size()) + "\r\n"
    "\r\n" + sdp_body;

void bm_sip_parse_invite(benchmark::State& state) {
    sf::sip::message m;
    for (auto _ : state) {
        auto err = sf::sip::parse(invite, m);
        benchmark::DoNotOptimize(err);
        benchmark::DoNotOptimize(m.body.data());
        if (err != sf::sip::parse_error::ok) {
            state.SkipWithError("INVITE did not parse");
            break;
        }
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * invite.size()));
    state.counters["bytes"] = static_cast<double>(invite.size());
}
BENCHMARK(bm_sip_parse_invite);

void bm_memchr_lines_baseline(benchmark::State& state) {
    const char* p = invite.data();
    const size_t n = invite.size();
    for (auto _ : state) {
        size_t lines = 0;
        const char* cur = p;
        const char* end = p + n;
        while (cur < end) {
            const void* lf = std::memchr(cur, '\n', static_cast<size_t>(end - cur));
            if (!lf) {
                break;
            }
            cur = static_cast<const char*>(lf) + 1;
            ++lines;
        }
        benchmark::DoNotOptimize(lines);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(bm_memchr_lines_baseline);

void bm_sdp_parse(benchmark::State& state) {
    sf::sdp::session s;
    for (auto _ : state) {
        auto err = sf::sdp::parse(sdp_body, s);
        benchmark::DoNotOptimize(err);
        benchmark::DoNotOptimize(s.n_media);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * sdp_body.size()));
}
BENCHMARK(bm_sdp_parse);

void bm_sdp_rewrite(benchmark::State& state) {
    sf::sdp::rewrite_spec spec;
    spec.address = "203.0.113.5";
    spec.origin_sess_id = 1234567890;
    spec.origin_sess_version = 1;
    spec.ports[0] = 20000;
    for (auto _ : state) {
        std::string out = sf::sdp::rewrite(sdp_body, spec);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * sdp_body.size()));
}
BENCHMARK(bm_sdp_rewrite);

// co=PCMA/telephone-event on the same offer: two formats of four go with their attribute
// lines. Against bm_sdp_rewrite, the price a filtered leg adds to each SDP it is sent.
void bm_sdp_filter_codecs(benchmark::State& state) {
    const std::vector<std::string> allowed = {"PCMA", "telephone-event"};
    for (auto _ : state) {
        sf::sdp::media_filter_result r = sf::sdp::filter_codecs(sdp_body, allowed);
        benchmark::DoNotOptimize(r.body.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * sdp_body.size()));
}
BENCHMARK(bm_sdp_filter_codecs);

// The same offer with a video stream, for a destination with co=PCMA/telephone-event and
// mt=audio/image: the video disabled in place as well. Against bm_sdp_filter_codecs, what the
// media type list adds.
void bm_sdp_filter_media(benchmark::State& state) {
    const std::vector<std::string> allowed = {"PCMA", "telephone-event"};
    const std::vector<std::string> types = {"audio", "image"};
    const std::string body = std::string(sdp_body) + "m=video 49172 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n";
    for (auto _ : state) {
        sf::sdp::media_filter_result r = sf::sdp::filter_media(body, allowed, types);
        benchmark::DoNotOptimize(r.body.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(bm_sdp_filter_media);

// co=PCMA/G729/PCMU/telephone-event as a preference on the same offer (0 8 18 101): nothing
// goes, the formats become 8 18 0 101. Against bm_sdp_filter_codecs (the same filter pass
// taking two formats out), what ordering an offer costs.
void bm_sdp_filter_prefer(benchmark::State& state) {
    const std::vector<std::string> allowed = {"PCMA", "G729", "PCMU", "telephone-event"};
    const sf::sdp::name_list lists[1] = {allowed};
    const sf::sdp::name_list types[1] = {};
    for (auto _ : state) {
        sf::sdp::media_filter_result r = sf::sdp::filter_media(sdp_body, lists, types, allowed);
        benchmark::DoNotOptimize(r.body.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * sdp_body.size()));
}
BENCHMARK(bm_sdp_filter_prefer);

}  // namespace

BENCHMARK_MAIN();
