#pragma once
// A dataplane of one net_pcap port for the control plane's tests that need real frames: its RX an
// empty pcap file, its TX written to a pcap file the test then reads (native byte order, as this
// host wrote it). Closing the port (the dataplane's end) flushes the file.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "dataplane.hh"

namespace sf::test {

/// An empty pcap file: the 24-octet global header (microsecond stamps, Ethernet).
inline void write_empty_pcap(const std::filesystem::path& p) {
    const uint32_t magic = 0xa1b2c3d4, snaplen = 65535, linktype = 1, sigfigs = 0;
    const uint16_t major = 2, minor = 4;
    const int32_t zone = 0;
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(&magic), 4);
    f.write(reinterpret_cast<const char*>(&major), 2);
    f.write(reinterpret_cast<const char*>(&minor), 2);
    f.write(reinterpret_cast<const char*>(&zone), 4);
    f.write(reinterpret_cast<const char*>(&sigfigs), 4);
    f.write(reinterpret_cast<const char*>(&snaplen), 4);
    f.write(reinterpret_cast<const char*>(&linktype), 4);
}

/// The frames of a pcap file this host wrote (bounded: at most 100000).
inline std::vector<std::vector<uint8_t>> read_pcap(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<std::vector<uint8_t>> frames;
    char global[24];
    if (!f.read(global, sizeof(global))) {
        return frames;
    }
    for (unsigned n = 0; n < 100000; ++n) {
        uint32_t rec[4];
        if (!f.read(reinterpret_cast<char*>(rec), sizeof(rec))) {
            break;
        }
        std::vector<uint8_t> frame(rec[2]);
        if (!f.read(reinterpret_cast<char*>(frame.data()), static_cast<std::streamsize>(frame.size()))) {
            break;
        }
        frames.push_back(std::move(frame));
    }
    return frames;
}

/// A dataplane config of one port `acc` at `addr` on net_pcap (files rx, tx), EAL on lcores
/// 0-1 without hugepages, PCI or shared config; `tag` names its EAL file prefix (with the PID).
inline dp::dataplane_config pcap_port_config(const std::string& tag, const std::filesystem::path& rx,
                                             const std::filesystem::path& tx, uint32_t addr) {
    dp::dataplane_config cfg;
    cfg.eal_args = {"-l", "0-1", "--no-huge", "--no-pci", "--no-shconf", "-m", "256",
                    "--file-prefix=" + tag + "_" + std::to_string(getpid()), "--log-level=*:error"};
    dp::port_config pc;
    pc.name = "acc";
    pc.device = "net_pcap0,rx_pcap=" + rx.string() + ",tx_pcap=" + tx.string();
    pc.addr = addr;
    cfg.ports = {pc};
    cfg.mbufs = 2047;
    cfg.sip_mbufs = 1023;
    cfg.relay_capacity = 1024;
    cfg.sip_sources_tracked = 64;
    cfg.idle_sleep_us = 50;
    return cfg;
}

}  // namespace sf::test
