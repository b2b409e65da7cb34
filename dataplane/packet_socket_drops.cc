#include "packet_socket_drops.hh"

#include <dirent.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cstdlib>

namespace sf::dp {

packet_socket_drops::packet_socket_drops(const std::string& ifname) : ifindex_(if_nametoindex(ifname.c_str())) {}

uint64_t packet_socket_drops::total() {
    if (ifindex_ == 0) {
        return total_;
    }
    // The driver keeps its sockets to itself: find them among the process's descriptors by
    // their address (an AF_PACKET socket bound to our interface). A few dozen getsockname
    // calls per stats request; nothing on the packet path.
    DIR* fds = opendir("/proc/self/fd");
    if (fds == nullptr) {
        return total_;
    }
    const int own = dirfd(fds);
    while (const dirent* e = readdir(fds)) {
        char* end = nullptr;
        const long fd = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || fd == own) {
            continue;  // "." and "..", and the directory being read
        }
        sockaddr_ll sll{};
        socklen_t len = sizeof(sll);
        if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&sll), &len) != 0 ||
            sll.sll_family != AF_PACKET || static_cast<unsigned>(sll.sll_ifindex) != ifindex_) {
            continue;
        }
        // Room for the TPACKET_V3 layout; V1/V2 fill only tp_packets and tp_drops, which lead
        // either way.
        tpacket_stats_v3 st{};
        socklen_t st_len = sizeof(st);
        if (getsockopt(static_cast<int>(fd), SOL_PACKET, PACKET_STATISTICS, &st, &st_len) == 0) {
            total_ += st.tp_drops;
        }
    }
    closedir(fds);
    return total_;
}

std::string af_packet_iface(const std::string& device) {
    if (device.rfind("net_af_packet", 0) != 0) {
        return "";
    }
    const std::string key = ",iface=";
    const size_t at = device.find(key);
    if (at == std::string::npos) {
        return "";
    }
    const size_t from = at + key.size();
    return device.substr(from, device.find(',', from) - from);
}

}  // namespace sf::dp
