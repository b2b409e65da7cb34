/// @file
/// SDP parsing and the relay rewrite. Only the lines that steer media (o=,
/// c=, m= and a few a= attributes) are interpreted; everything else is left
/// to the endpoints and passed through untouched.

#include "sip/sdp.hh"

#include "sip/ascii.hh"

#include <algorithm>
#include <array>
#include <vector>
#include <charconv>

namespace sf::sdp {

namespace {

constexpr size_t npos = std::string_view::npos;

// Yields the next line (without CR/LF) starting at `pos`; false at the end.
bool next_line(std::string_view body, size_t& pos, std::string_view& line) noexcept {
    if (pos >= body.size()) {
        return false;
    }
    auto lf = body.find('\n', pos);
    size_t end = lf == npos ? body.size() : lf;
    line = body.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    pos = lf == npos ? body.size() : lf + 1;
    return true;
}

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t';
}

// Next space-separated field from `i`; RFC 8866 wants single spaces, but
// runs of blanks are common enough in the wild to tolerate.
std::string_view next_field(std::string_view s, size_t& i) noexcept {
    while (i < s.size() && is_space(s[i])) {
        ++i;
    }
    size_t b = i;
    while (i < s.size() && !is_space(s[i])) {
        ++i;
    }
    return s.substr(b, i - b);
}

bool only_space_left(std::string_view s, size_t i) noexcept {
    while (i < s.size() && is_space(s[i])) {
        ++i;
    }
    return i == s.size();
}

bool parse_number(std::string_view s, uint32_t max, uint32_t& out) noexcept {
    if (s.empty()) {
        return false;
    }
    uint32_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
        v = v * 10 + static_cast<uint32_t>(c - '0');
        if (v > max) {
            return false;
        }
    }
    out = v;
    return true;
}

bool parse_origin(std::string_view v, session& out) noexcept {
    // o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>
    std::array<std::string_view, 6> f;
    size_t i = 0;
    for (auto& field : f) {
        field = next_field(v, i);
        if (field.empty()) {
            return false;
        }
    }
    if (!only_space_left(v, i)) {
        return false;
    }
    out.origin_user = f[0];
    out.origin_sess_id = f[1];
    out.origin_sess_version = f[2];
    out.origin_addr = f[5];
    return true;
}

bool parse_connection(std::string_view v, std::string_view& addr) noexcept {
    // c=<nettype> <addrtype> <connection-address>, the address possibly with
    // a multicast /ttl[/count] suffix that is not part of the address.
    size_t i = 0;
    std::string_view nettype = next_field(v, i);
    std::string_view addrtype = next_field(v, i);
    std::string_view a = next_field(v, i);
    if (nettype != "IN" || (addrtype != "IP4" && addrtype != "IP6") || !only_space_left(v, i)) {
        return false;
    }
    a = a.substr(0, a.find('/'));
    if (a.empty()) {
        return false;
    }
    addr = a;
    return true;
}

// The pieces of an m= value, kept as positions so the rewrite can splice
// a new port in and keep the rest byte for byte.
struct media_line {
    std::string_view type;
    std::string_view port;
    std::string_view count;  // "/2" including the slash, or ""
    std::string_view proto;
    std::string_view formats;
    std::string_view after_port;  // from the blank after port[/count] to the end
};

bool split_media(std::string_view v, media_line& m) noexcept {
    size_t i = 0;
    m.type = next_field(v, i);
    std::string_view port = next_field(v, i);
    m.after_port = v.substr(i);
    m.proto = next_field(v, i);
    while (i < v.size() && is_space(v[i])) {
        ++i;
    }
    m.formats = v.substr(i);
    while (!m.formats.empty() && is_space(m.formats.back())) {
        m.formats.remove_suffix(1);
    }
    auto slash = port.find('/');
    m.port = port.substr(0, slash);
    m.count = slash == npos ? std::string_view{} : port.substr(slash);
    return !m.type.empty() && !m.proto.empty() && !m.formats.empty();
}

bool parse_media(std::string_view v, media& out) noexcept {
    media_line m;
    uint32_t port = 0;
    uint32_t count = 0;
    if (!split_media(v, m) || !parse_number(m.port, 65535, port)) {
        return false;
    }
    if (!m.count.empty() && !parse_number(m.count.substr(1), 65535, count)) {
        return false;
    }
    out.type = m.type;
    out.port = static_cast<uint16_t>(port);
    out.proto = m.proto;
    out.formats = m.formats;
    return true;
}

// a=rtcp:<port> [<nettype> <addrtype> <address>] (RFC 3605).
bool rtcp_attribute(std::string_view line, std::string_view& port, std::string_view& addr_part) noexcept {
    constexpr std::string_view prefix = "a=rtcp:";
    if (line.substr(0, prefix.size()) != prefix) {
        return false;
    }
    std::string_view v = line.substr(prefix.size());
    size_t i = 0;
    port = next_field(v, i);
    addr_part = v.substr(i);
    return true;
}

bool parse_direction(std::string_view attr, direction& d) noexcept {
    if (attr == "sendrecv") {
        d = direction::sendrecv;
    } else if (attr == "sendonly") {
        d = direction::sendonly;
    } else if (attr == "recvonly") {
        d = direction::recvonly;
    } else if (attr == "inactive") {
        d = direction::inactive;
    } else {
        return false;
    }
    return true;
}

// RFC 3551 table 4: the static audio payload types; every other format needs an a=rtpmap.
struct static_format {
    std::string_view pt, name;
    uint32_t hz;
};

const static_format* static_audio_format(std::string_view pt) noexcept {
    static constexpr static_format table[] = {
        {"0", "PCMU", 8000},  {"3", "GSM", 8000},   {"4", "G723", 8000},   {"5", "DVI4", 8000},
        {"6", "DVI4", 16000}, {"7", "LPC", 8000},   {"8", "PCMA", 8000},   {"9", "G722", 8000},
        {"10", "L16", 44100}, {"11", "L16", 44100}, {"12", "QCELP", 8000}, {"13", "CN", 8000},
        {"14", "MPA", 90000}, {"15", "G728", 8000}, {"16", "DVI4", 11025}, {"17", "DVI4", 22050},
        {"18", "G729", 8000},
    };
    for (const static_format& f : table) {
        if (pt == f.pt) {
            return &f;
        }
    }
    return nullptr;
}

template <typename T>
void append_number(std::string& out, T v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace

const char* to_string(parse_error e) noexcept {
    switch (e) {
    case parse_error::ok: return "ok";
    case parse_error::empty: return "empty";
    case parse_error::no_version: return "no_version";
    case parse_error::bad_origin: return "bad_origin";
    case parse_error::bad_connection: return "bad_connection";
    case parse_error::bad_media: return "bad_media";
    case parse_error::too_many_media: return "too_many_media";
    case parse_error::no_connection: return "no_connection";
    }
    return "unknown";
}

parse_error parse(std::string_view body, session& out) noexcept {
    out = session{};
    size_t pos = 0;
    std::string_view line;
    // Blank lines are not SDP, but a stray one before v= is harmless.
    bool found = false;
    while (next_line(body, pos, line)) {
        if (!line.empty()) {
            found = true;
            break;
        }
    }
    if (!found) {
        return parse_error::empty;
    }
    if (line.substr(0, 2) != "v=") {
        return parse_error::no_version;
    }

    bool have_origin = false;
    direction session_dir = direction::sendrecv;
    media* cur = nullptr;
    while (next_line(body, pos, line)) {
        if (line.size() < 2 || line[1] != '=') {
            // Not an SDP line; kept by rewrite(), ignored here.
            continue;
        }
        std::string_view v = line.substr(2);
        switch (line[0]) {
        case 'o':
            if (have_origin || cur != nullptr || !parse_origin(v, out)) {
                return parse_error::bad_origin;
            }
            have_origin = true;
            break;
        case 'c':
            if (!parse_connection(v, cur ? cur->conn_addr : out.conn_addr)) {
                return parse_error::bad_connection;
            }
            break;
        case 'm':
            if (out.n_media >= session::max_media) {
                return parse_error::too_many_media;
            }
            cur = &out.streams[out.n_media++];
            // Session-level attributes all precede the first m=, so the
            // session direction is final by now and is the default here.
            cur->dir = session_dir;
            if (!parse_media(v, *cur)) {
                return parse_error::bad_media;
            }
            break;
        case 'a': {
            std::string_view port;
            std::string_view addr_part;
            direction d;
            if (parse_direction(v, d)) {
                (cur ? cur->dir : session_dir) = d;
            } else if (cur && v == "rtcp-mux") {
                cur->rtcp_mux = true;
            } else if (cur && v.substr(0, 7) == "rtpmap:") {
                // a=rtpmap:<payload type> <encoding name>/<clock rate>[/<parameters>] (RFC 8866 6.6)
                const std::string_view rest = v.substr(7);
                const size_t sp = rest.find(' ');
                const std::string_view pt = rest.substr(0, sp);
                const std::string_view first = cur->formats.substr(0, cur->formats.find(' '));
                if (sp != std::string_view::npos && !pt.empty() && pt == first) {
                    cur->first_rtpmap = rest.substr(sp + 1);
                }
            } else if (cur && rtcp_attribute(line, port, addr_part)) {
                // A malformed port is left as "absent": the default (port+1)
                // is what the endpoint would have meant anyway.
                uint32_t p = 0;
                if (parse_number(port, 65535, p)) {
                    cur->rtcp_port = static_cast<uint16_t>(p);
                }
            }
            break;
        }
        default:
            break;
        }
    }
    if (!have_origin) {
        return parse_error::bad_origin;
    }
    for (unsigned k = 0; k < out.n_media; ++k) {
        media& m = out.streams[k];
        if (m.conn_addr.empty()) {
            m.conn_addr = out.conn_addr;
        }
        if (m.port != 0 && m.conn_addr.empty()) {
            return parse_error::no_connection;
        }
    }
    return parse_error::ok;
}

codec first_codec(const media& m) noexcept {
    codec c;
    if (!m.first_rtpmap.empty()) {
        const size_t slash = m.first_rtpmap.find('/');
        c.name = m.first_rtpmap.substr(0, slash);
        uint32_t hz = 0;
        if (slash != std::string_view::npos) {
            const std::string_view rate = m.first_rtpmap.substr(slash + 1);
            if (parse_number(rate.substr(0, rate.find('/')), 1000000, hz)) {
                c.clock_hz = hz;
            }
        }
        return c;
    }
    const std::string_view first = m.formats.substr(0, m.formats.find(' '));
    if (const static_format* f = static_audio_format(first)) {
        return {f->name, f->hz};
    }
    return c;
}

bool carries_rtp(const media& m) noexcept {
    for (size_t i = 0; i + 3 <= m.proto.size(); ++i) {
        if (sip::iequals_ascii(m.proto.substr(i, 3), "RTP")) {
            return true;
        }
    }
    return false;
}

std::string rewrite(std::string_view body, const rewrite_spec& spec) {
    session s;
    if (parse(body, s) != parse_error::ok) {
        return {};
    }
    std::string out;
    out.reserve(body.size() + 64);
    size_t pos = 0;
    std::string_view line;
    int midx = -1;
    bool seen_version = false;
    while (next_line(body, pos, line)) {
        if (!seen_version) {
            // Blank lines before v= were tolerated by parse(); drop them.
            if (line.empty()) {
                continue;
            }
            seen_version = true;
        }
        char type = line.size() >= 2 && line[1] == '=' ? line[0] : '\0';
        if (type == 'o') {
            out += "o=";
            out += spec.origin_user;
            out += ' ';
            append_number(out, spec.origin_sess_id);
            out += ' ';
            append_number(out, spec.origin_sess_version);
            out += " IN IP4 ";
            out += spec.address;
        } else if (type == 'c') {
            out += "c=IN IP4 ";
            out += spec.address;
        } else if (type == 'm') {
            ++midx;
            media_line ml;
            split_media(line.substr(2), ml);
            const media& m = s.streams[midx];
            out += "m=";
            out += ml.type;
            out += ' ';
            // A disabled stream stays disabled whatever port the caller holds.
            append_number(out, m.port == 0 ? 0 : spec.ports[midx]);
            out += ml.count;
            out += ml.after_port;
        } else if (type == 'a' && midx >= 0) {
            std::string_view port;
            std::string_view addr_part;
            const media& m = s.streams[midx];
            uint16_t relay = m.port == 0 ? 0 : spec.ports[midx];
            if (relay != 0 && rtcp_attribute(line, port, addr_part)) {
                unsigned rtcp = m.rtcp_mux || relay == 65535 ? relay : relay + 1u;
                out += "a=rtcp:";
                append_number(out, rtcp);
                // The optional address must follow the media to the relay too.
                if (!only_space_left(addr_part, 0)) {
                    out += " IN IP4 ";
                    out += spec.address;
                }
            } else {
                out += line;
            }
        } else {
            out += line;
        }
        out += "\r\n";
    }
    return out;
}

namespace {

// "rtpmap:PT ...", "fmtp:PT ...", "rtcp-fb:PT ...": the payload type an attribute is about, else "".
std::string_view format_attribute_pt(std::string_view attr) noexcept {
    for (const std::string_view name : {std::string_view("rtpmap:"), std::string_view("fmtp:"),
                                        std::string_view("rtcp-fb:")}) {
        if (attr.substr(0, name.size()) == name) {
            const std::string_view rest = attr.substr(name.size());
            return rest.substr(0, rest.find_first_of(" \t"));
        }
    }
    return {};
}

// Formats that ride beside a voice codec and carry no voice of their own: RFC 4733 events
// (DTMF) and RFC 3389 comfort noise. A stream left with only these has no codec.
bool auxiliary_format(std::string_view name) noexcept {
    return sip::iequals_ascii(name, "telephone-event") || sip::iequals_ascii(name, "CN");
}

bool contains(std::span<const std::string_view> list, std::string_view v) noexcept {
    for (const std::string_view x : list) {
        if (x == v) {
            return true;
        }
    }
    return false;
}

// What filter_media does to one m= section.
struct stream_plan {
    enum class action : uint8_t { keep, narrow, disable } act = action::keep;
    std::string formats;                    // narrow: the formats kept, in their order, single spaces
    std::vector<std::string_view> removed;  // narrow: the payload types taken out
};

}  // namespace

media_filter_result filter_media(std::string_view body, std::span<const name_list> codec_lists,
                                 std::span<const name_list> type_lists, name_list prefer) {
    media_filter_result r;
    const auto restricts = [](std::span<const name_list> lists) {
        return std::any_of(lists.begin(), lists.end(), [](name_list l) { return !l.empty(); });
    };
    // In every non-empty list of the group.
    const auto allowed = [](std::span<const name_list> lists, std::string_view name) {
        return std::all_of(lists.begin(), lists.end(), [&](name_list l) {
            return l.empty() ||
                   std::any_of(l.begin(), l.end(), [&](const std::string& n) { return sip::iequals_ascii(n, name); });
        });
    };
    // A format's place in `prefer` (after every listed one when not listed).
    const auto rank = [prefer](std::string_view name) {
        size_t i = 0;
        while (i < prefer.size() && !sip::iequals_ascii(prefer[i], name)) {
            ++i;
        }
        return i;
    };
    const bool by_codecs = restricts(codec_lists), by_types = restricts(type_lists);
    session s;
    if ((!by_codecs && !by_types) || parse(body, s) != parse_error::ok) {
        r.body = std::string(body);
        return r;
    }
    // Each section's rtpmap names by payload type, then what becomes of it.
    std::vector<std::pair<std::string_view, std::string_view>> names[session::max_media];
    size_t pos = 0;
    std::string_view line;
    int midx = -1;
    while (next_line(body, pos, line)) {
        if (line.substr(0, 2) == "m=") {
            ++midx;
        } else if (midx >= 0 && line.substr(0, 9) == "a=rtpmap:") {
            const std::string_view pt = format_attribute_pt(line.substr(2));
            std::string_view rest = line.substr(9 + pt.size());
            while (!rest.empty() && is_space(rest.front())) {
                rest.remove_prefix(1);
            }
            names[midx].emplace_back(pt, rest.substr(0, rest.find('/')));
        }
    }
    stream_plan plans[session::max_media];
    for (unsigned k = 0; k < s.n_media; ++k) {
        const media& m = s.streams[k];
        if (m.port == 0) {
            continue;
        }
        ++r.active;
        if (by_types && !allowed(type_lists, m.type)) {
            plans[k].act = stream_plan::action::disable;
            continue;
        }
        if (!by_codecs || !sip::iequals_ascii(m.type, "audio") || !carries_rtp(m)) {
            ++r.kept;
            continue;
        }
        ++r.audio_active;
        stream_plan& p = plans[k];
        bool voice = false;  // a codec kept, not only DTMF events or comfort noise
        std::vector<std::pair<size_t, std::string_view>> kept;  // rank in `prefer`, payload type
        size_t i = 0;
        for (std::string_view pt = next_field(m.formats, i); !pt.empty(); pt = next_field(m.formats, i)) {
            std::string_view name;
            for (const auto& [mapped, encoding] : names[k]) {
                if (mapped == pt) {
                    name = encoding;
                    break;
                }
            }
            if (name.empty()) {
                const static_format* f = static_audio_format(pt);
                name = f != nullptr ? f->name : std::string_view();
            }
            const bool ok = !name.empty() && allowed(codec_lists, name);
            if (ok) {
                kept.emplace_back(rank(name), pt);
                voice = voice || !auxiliary_format(name);
            } else {
                p.removed.push_back(pt);
            }
        }
        if (!voice) {
            p.act = stream_plan::action::disable;
            continue;
        }
        ++r.audio_kept;
        ++r.kept;
        const auto by_rank = [](const auto& x, const auto& y) { return x.first < y.first; };
        const bool reorder = !std::is_sorted(kept.begin(), kept.end(), by_rank);
        if (reorder) {
            std::stable_sort(kept.begin(), kept.end(), by_rank);  // equal ranks as written
            ++r.reordered;
        }
        for (const auto& [unused, pt] : kept) {
            p.formats += p.formats.empty() ? "" : " ";
            p.formats += pt;
        }
        if (!p.removed.empty() || reorder) {
            p.act = stream_plan::action::narrow;
            r.formats_removed = static_cast<uint16_t>(r.formats_removed + p.removed.size());
        }
    }
    r.body.reserve(body.size());
    pos = 0;
    midx = -1;
    bool seen_version = false;
    while (next_line(body, pos, line)) {
        if (!seen_version) {
            if (line.empty()) {
                continue;  // blank lines before v= (parse() tolerated them)
            }
            seen_version = true;
        }
        if (line.substr(0, 2) == "m=") {
            ++midx;
            const stream_plan& p = plans[midx];
            if (p.act != stream_plan::action::keep) {
                media_line ml;
                split_media(line.substr(2), ml);
                r.body += "m=";
                r.body += ml.type;
                r.body += ' ';
                r.body += p.act == stream_plan::action::disable ? std::string_view("0") : ml.port;
                r.body += ml.count;
                r.body += ' ';
                r.body += ml.proto;
                r.body += ' ';
                r.body += p.act == stream_plan::action::disable ? ml.formats : std::string_view(p.formats);
                r.body += "\r\n";
                continue;
            }
        } else if (midx >= 0 && plans[midx].act == stream_plan::action::narrow && line.substr(0, 2) == "a=" &&
                   contains(plans[midx].removed, format_attribute_pt(line.substr(2)))) {
            continue;  // an attribute of a format taken out
        }
        r.body += line;
        r.body += "\r\n";
    }
    return r;
}

}  // namespace sf::sdp
