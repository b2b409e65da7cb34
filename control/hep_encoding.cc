#include "hep_encoding.hh"

namespace sf::control {

namespace {

constexpr size_t header_size = 6;  // "HEP3" + total length
constexpr size_t chunk_head = 6;   // vendor, type, length
constexpr size_t max_packet = 65535;

void put16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}

void put32(std::string& out, uint32_t v) {
    put16(out, static_cast<uint16_t>(v >> 16));
    put16(out, static_cast<uint16_t>(v & 0xffff));
}

void chunk_header(std::string& out, hep_chunk type, size_t value_len) {
    put16(out, 0);  // vendor: generic
    put16(out, static_cast<uint16_t>(type));
    put16(out, static_cast<uint16_t>(chunk_head + value_len));
}

void chunk8(std::string& out, hep_chunk type, uint8_t v) {
    chunk_header(out, type, 1);
    out.push_back(static_cast<char>(v));
}

void chunk16(std::string& out, hep_chunk type, uint16_t v) {
    chunk_header(out, type, 2);
    put16(out, v);
}

void chunk32(std::string& out, hep_chunk type, uint32_t v) {
    chunk_header(out, type, 4);
    put32(out, v);
}

void chunk_text(std::string& out, hep_chunk type, std::string_view v) {
    if (!v.empty()) {
        chunk_header(out, type, v.size());
        out.append(v);
    }
}

/// Everything but the payload's value: the fixed chunks, then the optional texts.
size_t overhead(const hep_datagram& d) {
    size_t n = header_size + 2 * (chunk_head + 1) + 2 * (chunk_head + 2) + 2 * (chunk_head + 4) + (chunk_head + 1) +
               (chunk_head + 4) + 2 * (chunk_head + 4) + chunk_head;
    for (const std::string_view t : {d.auth_key, d.correlation_id}) {
        n += t.empty() ? 0 : chunk_head + t.size();
    }
    return n;
}

}  // namespace

size_t hep_max_payload(const hep_datagram& d) {
    const size_t head = overhead(d);
    return head >= max_packet ? 0 : max_packet - head;
}

bool hep_encode_head(const hep_datagram& d, size_t payload_len, std::string& out) {
    const size_t total = overhead(d) + payload_len;
    if (total > max_packet) {
        return false;
    }
    out.reserve(out.size() + total);
    out.append("HEP3");
    put16(out, static_cast<uint16_t>(total));
    chunk8(out, hep_chunk::ip_family, 2);     // AF_INET
    chunk8(out, hep_chunk::ip_protocol, 17);  // UDP
    chunk16(out, hep_chunk::src_port, d.src_port);
    chunk16(out, hep_chunk::dst_port, d.dst_port);
    chunk32(out, hep_chunk::time_sec, static_cast<uint32_t>(d.time_us / 1'000'000));
    chunk32(out, hep_chunk::time_usec, static_cast<uint32_t>(d.time_us % 1'000'000));
    chunk8(out, hep_chunk::proto_type, d.proto_type);
    chunk32(out, hep_chunk::capture_id, d.capture_id);
    chunk32(out, hep_chunk::ipv4_src, d.src_addr);
    chunk32(out, hep_chunk::ipv4_dst, d.dst_addr);
    chunk_text(out, hep_chunk::auth_key, d.auth_key);
    chunk_text(out, hep_chunk::correlation_id, d.correlation_id);
    chunk_header(out, hep_chunk::payload, payload_len);
    return true;
}

bool hep_encode(const hep_datagram& d, std::string_view payload, std::string& out) {
    if (!hep_encode_head(d, payload.size(), out)) {
        return false;
    }
    out.append(payload);
    return true;
}

}  // namespace sf::control
