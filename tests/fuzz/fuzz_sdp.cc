// libFuzzer target: SDP parse, the relay rewrite and the media filter (co=, mt=). Invariants:
// the rewrite of any body that parses is itself a body that parses, with the same number of
// streams, all pointing at the relay. The filter keeps a body that does not parse as it is;
// of one that parses it makes one that parses with the same streams (type, protocol), each
// with its port or disabled (by codecs: only RTP audio), its formats a subsequence of the
// input's, as many audio streams left as it says; with media types, a stream of a type not
// listed ends disabled and a listed one as the codecs alone leave it, as many streams active
// and kept as it says; two parties' lists in one pass act as their intersection; a preference
// order changes only the order of each m-line's formats, and holds after one pass; and
// filtering again changes nothing.

#include "sip/ascii.hh"
#include "sip/sdp.hh"

#include <algorithm>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

using namespace sf::sdp;

namespace {

std::vector<std::string_view> tokens(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        const size_t b = s.find_first_not_of(" \t", i);
        if (b == std::string_view::npos) {
            break;
        }
        const size_t e = std::min(s.find_first_of(" \t", b), s.size());
        out.push_back(s.substr(b, e - b));
        i = e;
    }
    return out;
}

// True when the blank-separated tokens of `part` appear in `whole` in the same order.
bool subsequence(std::string_view part, std::string_view whole) {
    const std::vector<std::string_view> p = tokens(part);
    const std::vector<std::string_view> w = tokens(whole);
    size_t j = 0;
    for (const std::string_view t : p) {
        while (j < w.size() && w[j] != t) {
            ++j;
        }
        if (j == w.size()) {
            return false;
        }
        ++j;
    }
    return true;
}

bool rtp_audio(const media& m) {
    return sf::sip::iequals_ascii(m.type, "audio") && carries_rtp(m);
}

void check_filter(std::string_view in, parse_error e, const session& s) {
    static const std::vector<std::string> allowed = {"PCMA", "telephone-event", "opus", "G722"};
    const media_filter_result f = filter_codecs(in, allowed);
    if (e != parse_error::ok) {
        if (f.body != in || f.audio_active != 0) {
            __builtin_trap();
        }
        return;
    }
    session out;
    if (parse(f.body, out) != parse_error::ok || out.n_media != s.n_media || f.audio_kept > f.audio_active) {
        __builtin_trap();
    }
    unsigned kept = 0;
    for (unsigned i = 0; i < out.n_media; ++i) {
        const media& a = s.streams[i];
        const media& b = out.streams[i];
        if (a.type != b.type || a.proto != b.proto || (b.port != a.port && (b.port != 0 || !rtp_audio(a)))) {
            __builtin_trap();
        }
        if (!subsequence(b.formats, a.formats) || (!rtp_audio(a) && b.formats != a.formats)) {
            __builtin_trap();
        }
        kept += a.port != 0 && b.port != 0 && rtp_audio(a) ? 1 : 0;
    }
    if (kept != f.audio_kept || filter_codecs(f.body, allowed).body != f.body) {
        __builtin_trap();
    }
}

// With media types as well: a stream with a port whose type is not listed ends at port 0, one
// that is listed is what the codec filter alone makes of it; active and kept count the ports.
void check_media_types(std::string_view in, parse_error e, const session& s) {
    static const std::vector<std::string> allowed = {"PCMA", "telephone-event"};
    static const std::vector<std::string> types = {"audio", "IMAGE"};
    const media_filter_result f = filter_media(in, allowed, types);
    if (e != parse_error::ok) {
        if (f.body != in || f.active != 0 || f.kept != 0) {
            __builtin_trap();
        }
        return;
    }
    session out;
    if (parse(f.body, out) != parse_error::ok || out.n_media != s.n_media || f.kept > f.active) {
        __builtin_trap();
    }
    const media_filter_result codecs_only = filter_codecs(in, allowed);
    session by_codecs;
    if (parse(codecs_only.body, by_codecs) != parse_error::ok) {
        __builtin_trap();
    }
    unsigned active = 0, kept = 0;
    for (unsigned i = 0; i < out.n_media; ++i) {
        const media& a = s.streams[i];
        const media& b = out.streams[i];
        const bool listed = sf::sip::iequals_ascii(a.type, "audio") || sf::sip::iequals_ascii(a.type, "image");
        const uint16_t want = listed ? by_codecs.streams[i].port : 0;
        if (b.port != want || a.type != b.type || a.proto != b.proto || !subsequence(b.formats, a.formats)) {
            __builtin_trap();
        }
        active += a.port != 0 ? 1 : 0;
        kept += b.port != 0 ? 1 : 0;
    }
    if (active != f.active || kept != f.kept || filter_media(f.body, allowed, types).body != f.body) {
        __builtin_trap();
    }
}

// Two parties' lists in one pass are their intersection in one list.
void check_two_parties(std::string_view in) {
    static const std::vector<std::string> alice = {"PCMA", "PCMU", "telephone-event"}, bob = {"pcma", "G722"};
    static const std::vector<std::string> both = {"PCMA"};
    static const std::vector<std::string> fax = {"image", "audio"}, voice = {"AUDIO"};
    const name_list codecs[2] = {alice, bob};
    const name_list types[2] = {fax, voice};
    const media_filter_result two = filter_media(in, codecs, types);
    const media_filter_result one = filter_media(in, both, voice);
    if (two.body != one.body || two.active != one.active || two.kept != one.kept ||
        two.audio_active != one.audio_active || two.audio_kept != one.audio_kept) {
        __builtin_trap();
    }
}

// `body` with every m-line cut to its first three fields (type, port, protocol), and each
// m-line's formats, sorted (as a multiset).
std::string without_formats(std::string_view body, std::vector<std::vector<std::string_view>>& formats) {
    std::string out;
    size_t pos = 0;
    while (pos < body.size()) {
        const size_t end = std::min(body.find('\n', pos), body.size());
        std::string_view line = body.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.substr(0, 2) == "m=") {
            std::vector<std::string_view> t = tokens(line);
            formats.emplace_back(t.size() > 3 ? t.begin() + 3 : t.end(), t.end());
            std::sort(formats.back().begin(), formats.back().end());
            t.resize(std::min<size_t>(t.size(), 3));
            for (const std::string_view f : t) {
                out.append(f).append(" ");
            }
        } else {
            out.append(line);
        }
        out += '\n';
    }
    return out;
}

// A preference order changes nothing but the order of each m-line's formats: the same streams,
// counts and lines; the same formats; in order already after it (filtering again with it
// changes nothing), and it commutes with the filter (ordering the filtered body gives the same).
void check_prefer(std::string_view in) {
    static const std::vector<std::string> alice = {"PCMU", "PCMA", "telephone-event", "G722", "opus"}, none;
    static const std::vector<std::string> prefer = {"opus", "telephone-event", "pcma", "G729"};
    const name_list codecs[1] = {alice};
    const name_list types[1] = {none};
    const media_filter_result plain = filter_media(in, codecs, types);
    const media_filter_result ordered = filter_media(in, codecs, types, prefer);
    std::vector<std::vector<std::string_view>> plain_formats, ordered_formats;
    if (without_formats(plain.body, plain_formats) != without_formats(ordered.body, ordered_formats) ||
        plain_formats != ordered_formats || plain.active != ordered.active || plain.kept != ordered.kept ||
        plain.audio_active != ordered.audio_active || plain.audio_kept != ordered.audio_kept ||
        plain.formats_removed != ordered.formats_removed || (ordered.reordered == 0) != (plain.body == ordered.body)) {
        __builtin_trap();
    }
    const media_filter_result again = filter_media(ordered.body, codecs, types, prefer);
    if (again.body != ordered.body || again.reordered != 0 ||
        filter_media(plain.body, codecs, types, prefer).body != ordered.body) {
        __builtin_trap();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    session s;
    parse_error e = parse(in, s);

    rewrite_spec spec;
    spec.address = "192.0.2.1";
    spec.origin_sess_id = 1;
    spec.origin_sess_version = 2;
    for (unsigned i = 0; i < session::max_media; ++i) {
        spec.ports[i] = static_cast<uint16_t>(i == 3 ? 0 : 20000 + 2 * i);
    }
    std::string out = rewrite(in, spec);
    check_filter(in, e, s);
    check_media_types(in, e, s);
    check_two_parties(in);
    check_prefer(in);
    if (e != parse_error::ok) {
        if (!out.empty()) {
            __builtin_trap();
        }
        return 0;
    }
    if (s.n_media > session::max_media) {
        __builtin_trap();
    }
    session again;
    if (out.empty() || parse(out, again) != parse_error::ok || again.n_media != s.n_media) {
        __builtin_trap();
    }
    for (unsigned i = 0; i < again.n_media; ++i) {
        if (again.streams[i].port != 0 && again.streams[i].conn_addr != "192.0.2.1") {
            __builtin_trap();
        }
    }
    return 0;
}
