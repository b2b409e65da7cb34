#include "hep_exporter.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "hep_encoding.hh"
#include "log.hh"

namespace sf::control {

uint64_t wall_clock_us() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
}

hep_exporter::hep_exporter(const hep_config& cfg) : slots_(batch) { reconfigure(cfg); }

hep_exporter::~hep_exporter() {
    flush();
    close_socket();
}

void hep_exporter::close_socket() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

void hep_exporter::reconfigure(const hep_config& cfg) {
    if (fd_ >= 0 && cfg == cfg_) {
        return;
    }
    flush();
    close_socket();
    staged_ = false;
    cfg_ = cfg;
    if (cfg.collector_addr == 0) {
        return;
    }
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw std::runtime_error(std::string("hep: socket: ") + std::strerror(errno));
    }
    // Room for a burst (a flood's worth of copies is dropped and counted rather than queued).
    const int sndbuf = 1 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    fd_ = fd;
}

char* hep_exporter::begin(sip_addr from, sip_addr to, size_t len) {
    hep_datagram d;
    d.src_addr = from.addr;
    d.src_port = from.port;
    d.dst_addr = to.addr;
    d.dst_port = to.port;
    d.time_us = wall_clock_us();
    return begin_packet(d, len);
}

void hep_exporter::copy_rtcp(sip_addr from, sip_addr to, uint64_t time_us, std::string_view correlation,
                             std::string_view json) {
    hep_datagram d;
    d.src_addr = from.addr;
    d.src_port = from.port;
    d.dst_addr = to.addr;
    d.dst_port = to.port;
    d.time_us = time_us;
    d.proto_type = hep_proto_rtcp;
    d.correlation_id = correlation;
    if (char* p = begin_packet(d, json.size())) {
        std::memcpy(p, json.data(), json.size());
        commit();
        ++stats_.rtcp;
    }
}

char* hep_exporter::begin_packet(hep_datagram& d, size_t len) {
    if (fd_ < 0) {
        return nullptr;
    }
    if (used_ == slots_.size()) {
        flush();
    }
    d.capture_id = cfg_.capture_id;
    d.auth_key = cfg_.password;
    std::string& slot = slots_[used_];
    slot.clear();  // keeps its capacity: no allocation once the slots have grown
    if (!hep_encode_head(d, len, slot)) {
        ++stats_.too_big;
        staged_ = false;
        return nullptr;
    }
    const size_t head = slot.size();
    slot.resize(head + len);
    staged_ = true;
    return slot.data() + head;
}

void hep_exporter::commit() {
    if (staged_) {
        staged_ = false;
        ++used_;
        ++stats_.queued;
    }
}

void hep_exporter::copy(sip_addr from, sip_addr to, std::string_view msg) {
    if (char* p = begin(from, to, msg.size())) {
        std::memcpy(p, msg.data(), msg.size());
        commit();
    }
}

size_t hep_exporter::flush() {
    if (used_ == 0 || fd_ < 0) {
        used_ = 0;
        return 0;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(cfg_.collector_addr);
    to.sin_port = htons(cfg_.collector_port);
    iovec iov[batch];
    mmsghdr msgs[batch];
    for (size_t i = 0; i < used_; ++i) {
        iov[i] = iovec{slots_[i].data(), slots_[i].size()};
        msgs[i] = mmsghdr{};
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof to;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    size_t done = 0;
    size_t sent = 0;
    // Bounded: every round sends at least one packet or drops one.
    while (done < used_) {
        const int n = ::sendmmsg(fd_, msgs + done, static_cast<unsigned>(used_ - done), 0);
        if (n > 0) {
            done += static_cast<size_t>(n);
            sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            stats_.dropped_busy += used_ - done;  // the kernel has no room now: the rest goes
            break;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (stats_.dropped_error++ == 0) {
            log_info("hep: the collector %s:%u is unreachable: %s (stats: hep dropped_error)",
                     ipv4_to_string(cfg_.collector_addr).c_str(), cfg_.collector_port, std::strerror(errno));
        }
        ++done;  // this packet is refused (the route's reason, not ours): the next may go
    }
    stats_.sent += sent;
    used_ = 0;
    staged_ = false;  // a copy begun and never committed is not one to send
    return sent;
}

}  // namespace sf::control
