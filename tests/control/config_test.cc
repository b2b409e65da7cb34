// Configuration parsing and validation: the shipped files load with the right
// values, and every validation error names the offending key.

#include "config.hh"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

using namespace sf::control;
namespace fs = std::filesystem;

namespace {

// The source tree: SF_SOURCE_ROOT, else the first parent of the test binary (or the
// working directory) that holds configs/lab.conf.
fs::path source_root() {
    if (const char* env = std::getenv("SF_SOURCE_ROOT")) {
        return env;
    }
    for (fs::path start : {fs::read_symlink("/proc/self/exe").parent_path(), fs::current_path()}) {
        for (fs::path p = start; !p.empty(); p = p.parent_path()) {
            if (fs::exists(p / "configs" / "lab.conf")) {
                return p;
            }
            if (p == p.root_path()) {
                break;
            }
        }
    }
    return {};
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p);
    out << text;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
    for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
}

// A temporary folder with a dialplan in it, removed at the end of the test.
class config_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("sf_config_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        write_file(dir_ / "default.lua", "-- empty dialplan\n");
    }
    void TearDown() override { fs::remove_all(dir_); }

    // The smallest valid configuration, plus `extra` lines appended (later sections).
    static std::string minimal(const std::string& extra = {}) {
        return "[eal]\n"
               "args = --no-huge --no-pci\n"
               "[port.acc]\n"
               "device = net_null0\n"
               "address = 192.0.2.1/24\n"
               "[dialplan]\n"
               "default = default.lua\n" +
               extra;
    }

    config parse(const std::string& text) { return parse_config(text, "test.conf", dir_.string()); }

    // Expects a config_error whose text names `key`; returns the message.
    std::string expect_error(const std::string& text, const std::string& key) {
        try {
            parse(text);
        } catch (const config_error& e) {
            const std::string what = e.what();
            EXPECT_EQ(what.rfind("test.conf: ", 0), 0u) << what;
            EXPECT_NE(what.find("test.conf: " + key + ": "), std::string::npos)
                << "error does not name " << key << ": " << what;
            return what;
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not a config_error: " << e.what();
            return {};
        }
        ADD_FAILURE() << "no error for key " << key << " in:\n" << text;
        return {};
    }

    fs::path dir_;
};

}  // namespace

// ------------------------------------------------------------------ helpers

TEST(config_ipv4, parse_and_format) {
    uint32_t a = 0;
    EXPECT_TRUE(parse_ipv4_text("192.0.2.1", a));
    EXPECT_EQ(a, 0xc0000201u);
    EXPECT_EQ(ipv4_to_string(a), "192.0.2.1");
    EXPECT_TRUE(parse_ipv4_text("0.0.0.0", a));
    EXPECT_EQ(a, 0u);
    EXPECT_TRUE(parse_ipv4_text("255.255.255.255", a));
    EXPECT_EQ(a, 0xffffffffu);
    for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1..2.3", "a.b.c.d",
                            "1.2.3.-4", "1.2.3.4/24", "0001.2.3.4", "1.2.3.4."}) {
        EXPECT_FALSE(parse_ipv4_text(bad, a)) << bad;
    }
}

// ------------------------------------------------------------------ valid files

TEST_F(config_test, minimal_gets_the_defaults) {
    const config c = parse(minimal());
    EXPECT_EQ(c.path, "test.conf");
    ASSERT_EQ(c.dataplane.eal_args.size(), 2u);
    EXPECT_EQ(c.dataplane.eal_args[0], "--no-huge");
    EXPECT_EQ(c.dataplane.eal_args[1], "--no-pci");
    EXPECT_EQ(c.dataplane.workers, 1u);
    EXPECT_EQ(c.dataplane.burst, 32u);
    EXPECT_EQ(c.dataplane.mbufs, 8191u);
    EXPECT_EQ(c.dataplane.relay_capacity, 65536u);
    ASSERT_EQ(c.dataplane.ports.size(), 1u);
    EXPECT_EQ(c.dataplane.ports[0].name, "acc");
    EXPECT_EQ(c.dataplane.ports[0].device, "net_null0");
    EXPECT_EQ(c.dataplane.ports[0].addr, 0xc0000201u);
    EXPECT_EQ(c.dataplane.ports[0].prefix, 24);
    EXPECT_EQ(c.dataplane.ports[0].gateway, 0u);
    EXPECT_EQ(c.sip.port, 5060);
    EXPECT_EQ(c.dataplane.sip_port, 5060);
    EXPECT_EQ(c.sip.t1_ms, 500u);
    EXPECT_EQ(c.sip.t2_ms, 4000u);
    EXPECT_EQ(c.sip.t4_ms, 5000u);
    EXPECT_EQ(c.sip.max_forwards, 70u);
    EXPECT_EQ(c.sip.user_agent, "sipferry");
    EXPECT_EQ(c.dataplane.relay_port_min, 20000);
    EXPECT_EQ(c.dataplane.relay_port_max, 29999);
    EXPECT_EQ(c.dialplan.default_path, (dir_ / "default.lua").string());
    EXPECT_TRUE(c.dialplan.transfer_path.empty());
    EXPECT_EQ(c.dialplan.max_instructions, 1'000'000u);
    EXPECT_EQ(c.dialplan.max_memory_kib, 4096u);
    EXPECT_EQ(c.api_listen, "127.0.0.1:8080");
    EXPECT_TRUE(c.cdr_file.empty());
}

TEST_F(config_test, relative_paths_resolve_against_the_base_dir) {
    write_file(dir_ / "plans" / "t.lua", "-- transfer\n");
    const config c = parse(minimal("transfer = plans/../plans/t.lua\n[cdr]\nfile = logs/cdr.jsonl\n"));
    EXPECT_EQ(c.dialplan.default_path, (dir_ / "default.lua").string());
    EXPECT_EQ(c.dialplan.transfer_path, (dir_ / "plans" / "t.lua").string());
    EXPECT_EQ(c.cdr_file, (dir_ / "logs" / "cdr.jsonl").string());
}

TEST_F(config_test, absolute_paths_stay_as_they_are) {
    const std::string abs = (dir_ / "default.lua").string();
    std::string text = minimal("[cdr]\nfile = /var/log/x.jsonl\n");
    replace_all(text, "default = default.lua", "default = " + abs);
    const config c = parse_config(text, "test.conf", "/nonexistent");
    EXPECT_EQ(c.dialplan.default_path, abs);
    EXPECT_EQ(c.cdr_file, "/var/log/x.jsonl");
}

TEST_F(config_test, lab_conf_text_parses_with_the_right_values) {
    const fs::path root = source_root();
    ASSERT_FALSE(root.empty()) << "cannot find the source tree (set SF_SOURCE_ROOT)";
    // Mirror the lab layout in the temp dir: configs/ next to lua/dialplans/.
    write_file(dir_ / "lua" / "dialplans" / "lab_default.lua", "-- default\n");
    write_file(dir_ / "lua" / "dialplans" / "lab_transfer.lua", "-- transfer\n");
    const config c = parse_config(read_file(root / "configs" / "lab.conf"), "lab.conf", (dir_ / "configs").string());
    const auto& dp = c.dataplane;
    EXPECT_EQ(dp.eal_args.front(), "-l");
    EXPECT_NE(std::find(dp.eal_args.begin(), dp.eal_args.end(), "--no-huge"), dp.eal_args.end());
    EXPECT_EQ(dp.workers, 1u);
    EXPECT_EQ(dp.idle_sleep_us, 200u);
    ASSERT_EQ(dp.ports.size(), 2u);
    EXPECT_EQ(dp.ports[0].name, "acc");
    EXPECT_EQ(dp.ports[0].device, "net_af_packet0,iface=acc,qpairs=1,blocksz=16384,framesz=16384,framecnt=512");
    EXPECT_EQ(ipv4_to_string(dp.ports[0].addr), "192.0.2.1");
    EXPECT_EQ(dp.ports[0].prefix, 24);
    EXPECT_EQ(dp.ports[0].gateway, 0u);
    EXPECT_EQ(dp.ports[1].name, "core");
    EXPECT_EQ(ipv4_to_string(dp.ports[1].addr), "198.51.100.1");
    EXPECT_EQ(dp.ports[1].prefix, 24);
    EXPECT_EQ(c.sip.port, 5060);
    EXPECT_EQ(dp.relay_port_min, 20000);
    EXPECT_EQ(dp.relay_port_max, 29999);
    EXPECT_EQ(c.dialplan.default_path, (dir_ / "lua" / "dialplans" / "lab_default.lua").string());
    EXPECT_EQ(c.dialplan.transfer_path, (dir_ / "lua" / "dialplans" / "lab_transfer.lua").string());
    EXPECT_EQ(c.api_listen, "127.0.0.1:8080");
    EXPECT_EQ(c.cdr_file, "/run/sipferry-lab/cdr.jsonl");
}

TEST_F(config_test, lab_conf_loads_from_the_tree) {
    const fs::path root = source_root();
    ASSERT_FALSE(root.empty()) << "cannot find the source tree (set SF_SOURCE_ROOT)";
    // lab.conf names ../lua/dialplans/lab_default.lua and lab_transfer.lua: they must ship.
    const config c = load_config((root / "configs" / "lab.conf").string());
    EXPECT_EQ(c.path, (root / "configs" / "lab.conf").string());
    ASSERT_EQ(c.dataplane.ports.size(), 2u);
    EXPECT_EQ(c.dataplane.ports[0].name, "acc");
    EXPECT_EQ(ipv4_to_string(c.dataplane.ports[0].addr), "192.0.2.1");
    EXPECT_EQ(c.dataplane.ports[0].prefix, 24);
    EXPECT_EQ(c.dataplane.ports[1].name, "core");
    EXPECT_EQ(ipv4_to_string(c.dataplane.ports[1].addr), "198.51.100.1");
    EXPECT_EQ(c.dataplane.ports[1].prefix, 24);
    EXPECT_EQ(c.sip.port, 5060);
    EXPECT_EQ(c.sip.t1_ms, 500u);
    EXPECT_EQ(c.sip.t2_ms, 4000u);
    EXPECT_EQ(c.sip.t4_ms, 5000u);
    EXPECT_EQ(fs::path(c.dialplan.default_path), (root / "lua" / "dialplans" / "lab_default.lua").lexically_normal());
    EXPECT_EQ(fs::path(c.dialplan.transfer_path),
              (root / "lua" / "dialplans" / "lab_transfer.lua").lexically_normal());
}

TEST_F(config_test, example_two_nic_text_parses) {
    const fs::path root = source_root();
    ASSERT_FALSE(root.empty());
    std::string text = read_file(root / "configs" / "example-two-nic.conf");
    ASSERT_NE(text.find("/etc/sipferry/dialplans/default.lua"), std::string::npos);
    write_file(dir_ / "default.lua", "-- default\n");
    write_file(dir_ / "transfer.lua", "-- transfer\n");
    replace_all(text, "/etc/sipferry/dialplans/", dir_.string() + "/");
    const config c = parse(text);
    const auto& dp = c.dataplane;
    EXPECT_EQ(dp.workers, 2u);
    EXPECT_EQ(dp.idle_sleep_us, 0u);
    EXPECT_EQ(dp.mbufs, 65535u);
    EXPECT_EQ(dp.relay_capacity, 1048576u);
    ASSERT_EQ(dp.ports.size(), 2u);
    EXPECT_EQ(dp.ports[0].name, "access");
    EXPECT_EQ(dp.ports[0].device, "0000:01:00.0");
    EXPECT_EQ(ipv4_to_string(dp.ports[0].addr), "203.0.113.10");
    EXPECT_EQ(ipv4_to_string(dp.ports[0].gateway), "203.0.113.1");
    EXPECT_EQ(dp.ports[1].name, "core");
    EXPECT_EQ(ipv4_to_string(dp.ports[1].addr), "198.51.100.10");
    EXPECT_EQ(ipv4_to_string(dp.ports[1].gateway), "198.51.100.1");
    EXPECT_EQ(dp.relay_port_min, 16384);
    EXPECT_EQ(dp.relay_port_max, 65534);
    EXPECT_EQ(c.cdr_file, "/var/log/sipferry/cdr.jsonl");
    EXPECT_EQ(c.dialplan.transfer_path, (dir_ / "transfer.lua").string());
    // -a 0000:01:00.0 -a 0000:02:00.0 survive as separate arguments.
    EXPECT_EQ(std::count(dp.eal_args.begin(), dp.eal_args.end(), "-a"), 2);
}

TEST_F(config_test, example_two_nic_as_shipped_names_the_missing_dialplan) {
    const fs::path root = source_root();
    ASSERT_FALSE(root.empty());
    if (fs::exists("/etc/sipferry/dialplans/default.lua")) {
        GTEST_SKIP() << "this machine has /etc/sipferry/dialplans/default.lua";
    }
    expect_error(read_file(root / "configs" / "example-two-nic.conf"), "dialplan.default");
}

TEST_F(config_test, load_config_of_a_missing_file) {
    try {
        load_config((dir_ / "nope.conf").string());
        FAIL() << "no error";
    } catch (const config_error& e) {
        EXPECT_NE(std::string(e.what()).find("nope.conf"), std::string::npos);
    }
}

TEST_F(config_test, load_config_resolves_against_the_file_folder) {
    write_file(dir_ / "etc" / "sf.conf", minimal("[cdr]\nfile = cdr.jsonl\n"));
    write_file(dir_ / "etc" / "default.lua", "--\n");
    const config c = load_config((dir_ / "etc" / "sf.conf").string());
    EXPECT_EQ(c.dialplan.default_path, (dir_ / "etc" / "default.lua").string());
    EXPECT_EQ(c.cdr_file, (dir_ / "etc" / "cdr.jsonl").string());
}

// ------------------------------------------------------------------ every error names its key

TEST_F(config_test, unknown_key) {
    expect_error(minimal("[sip]\nportt = 5060\n"), "sip.portt");
    expect_error(minimal("[port.acc]\nmtu = 9000\n"), "port.acc.mtu");
    expect_error(minimal("[bogus]\nx = 1\n"), "bogus.x");
    expect_error("toplevel = 1\n" + minimal(), "toplevel");
}

TEST_F(config_test, key_given_twice) {
    expect_error(minimal("[sip]\nport = 5060\nport = 5070\n"), "sip.port");
}

TEST_F(config_test, missing_eal_args) {
    expect_error("[port.acc]\ndevice = x\naddress = 192.0.2.1/24\n[dialplan]\ndefault = default.lua\n", "eal.args");
}

TEST_F(config_test, missing_port_section) {
    expect_error("[eal]\nargs = x\n[dialplan]\ndefault = default.lua\n", "port.NAME");
}

TEST_F(config_test, port_key_outside_a_named_section) {
    expect_error(minimal("[port]\naddress = 192.0.2.9/24\n"), "port.address");
}

TEST_F(config_test, bad_port_name) {
    expect_error(minimal("[port.this_name_is_too_long]\ndevice = x\naddress = 192.0.2.9/24\n"),
                 "port.this_name_is_too_long");
}

TEST_F(config_test, too_many_ports) {
    std::string extra;
    for (int i = 0; i < 8; ++i) {
        extra += "[port.p" + std::to_string(i) + "]\ndevice = x\naddress = 10.0." + std::to_string(i) + ".1/24\n";
    }
    expect_error(minimal(extra), "port.p7");
}

TEST_F(config_test, missing_port_device_and_address) {
    expect_error(minimal("[port.core]\naddress = 198.51.100.1/24\n"), "port.core.device");
    expect_error(minimal("[port.core]\ndevice = x\n"), "port.core.address");
    expect_error(minimal("[port.core]\ndevice =\naddress = 198.51.100.1/24\n"), "port.core.device");
}

TEST_F(config_test, bad_port_address) {
    const std::string pre = "[port.core]\ndevice = x\naddress = ";
    expect_error(minimal(pre + "198.51.100.1\n"), "port.core.address");        // no prefix
    expect_error(minimal(pre + "198.51.100.256/24\n"), "port.core.address");   // bad octet
    expect_error(minimal(pre + "198.51.100/24\n"), "port.core.address");       // three octets
    expect_error(minimal(pre + "198.51.100.1/33\n"), "port.core.address");     // prefix 33
    expect_error(minimal(pre + "198.51.100.1/0\n"), "port.core.address");      // prefix 0
    expect_error(minimal(pre + "198.51.100.1/\n"), "port.core.address");       // empty prefix
    expect_error(minimal(pre + "198.51.100.1/24x\n"), "port.core.address");    // junk after
    expect_error(minimal(pre + "host.example/24\n"), "port.core.address");     // a name
}

TEST_F(config_test, port_prefix_edges_are_accepted) {
    config c = parse(minimal("[port.core]\ndevice = x\naddress = 198.51.100.1/32\n"));
    EXPECT_EQ(c.dataplane.ports[1].prefix, 32);
    c = parse(minimal("[port.core]\ndevice = x\naddress = 198.51.100.1/1\n"));
    EXPECT_EQ(c.dataplane.ports[1].prefix, 1);
}

TEST_F(config_test, bad_gateway) {
    const std::string pre = "[port.core]\ndevice = x\naddress = 198.51.100.1/24\ngateway = ";
    expect_error(minimal(pre + "198.51.100\n"), "port.core.gateway");
    expect_error(minimal(pre + "router\n"), "port.core.gateway");
    expect_error(minimal(pre + "198.51.100.1/24\n"), "port.core.gateway");
    const config c = parse(minimal(pre + "198.51.100.254\n"));
    EXPECT_EQ(ipv4_to_string(c.dataplane.ports[1].gateway), "198.51.100.254");
}

TEST_F(config_test, duplicate_port_address) {
    const std::string what = expect_error(minimal("[port.core]\ndevice = y\naddress = 192.0.2.1/16\n"),
                                          "port.core.address");
    EXPECT_NE(what.find("port.acc"), std::string::npos) << "should say which port has it: " << what;
}

TEST_F(config_test, dataplane_numbers_out_of_range) {
    expect_error(minimal("[dataplane]\nworkers = 0\n"), "dataplane.workers");
    expect_error(minimal("[dataplane]\nworkers = 65\n"), "dataplane.workers");
    expect_error(minimal("[dataplane]\nburst = 0\n"), "dataplane.burst");
    expect_error(minimal("[dataplane]\nburst = 65\n"), "dataplane.burst");
    expect_error(minimal("[dataplane]\nmbufs = 100\n"), "dataplane.mbufs");
    expect_error(minimal("[dataplane]\nrelay_entries = 10\n"), "dataplane.relay_entries");
    expect_error(minimal("[dataplane]\nidle_sleep_us = 100001\n"), "dataplane.idle_sleep_us");
}

TEST_F(config_test, non_integer_values) {
    expect_error(minimal("[dataplane]\nworkers = two\n"), "dataplane.workers");
    expect_error(minimal("[dataplane]\nworkers = 2x\n"), "dataplane.workers");
    expect_error(minimal("[dataplane]\nworkers = -1\n"), "dataplane.workers");
    expect_error(minimal("[dataplane]\nworkers = 1.5\n"), "dataplane.workers");
    expect_error(minimal("[dataplane]\nworkers =\n"), "dataplane.workers");
    expect_error(minimal("[sip]\nport = 50 60\n"), "sip.port");
    expect_error(minimal("[sip]\nport = 99999999999999999999999\n"), "sip.port");
    expect_error(minimal("[sip]\nt1_ms = 0x10\n"), "sip.t1_ms");
    expect_error(minimal("[dialplan]\nmax_instructions = lots\n"), "dialplan.max_instructions");
}

TEST_F(config_test, sip_port_range) {
    expect_error(minimal("[sip]\nport = 0\n"), "sip.port");
    expect_error(minimal("[sip]\nport = 65536\n"), "sip.port");
    EXPECT_EQ(parse(minimal("[sip]\nport = 5080\n")).dataplane.sip_port, 5080);
}

TEST_F(config_test, odd_media_port_min) {
    expect_error(minimal("[media]\nport_min = 20001\n"), "media.port_min");
}

TEST_F(config_test, media_range_too_small) {
    expect_error(minimal("[media]\nport_min = 20000\nport_max = 20002\n"), "media.port_max");
    const config c = parse(minimal("[media]\nport_min = 20000\nport_max = 20003\n"));
    EXPECT_EQ(c.dataplane.relay_port_max, 20003);
}

TEST_F(config_test, sip_port_inside_the_media_range) {
    expect_error(minimal("[sip]\nport = 25000\n"), "sip.port");
    expect_error(minimal("[sip]\nport = 20000\n"), "sip.port");
    expect_error(minimal("[sip]\nport = 29999\n"), "sip.port");
    expect_error(minimal("[sip]\nport = 5060\n[media]\nport_min = 5000\nport_max = 6000\n"), "sip.port");
    EXPECT_NO_THROW(parse(minimal("[sip]\nport = 30000\n")));
}

TEST_F(config_test, timers) {
    expect_error(minimal("[sip]\nt1_ms = 1000\nt2_ms = 500\n"), "sip.t2_ms");  // t2 < t1
    expect_error(minimal("[sip]\nt1_ms = 5\n"), "sip.t1_ms");
    expect_error(minimal("[sip]\nt4_ms = 0\n"), "sip.t4_ms");
    const config c = parse(minimal("[sip]\nt1_ms = 1000\nt2_ms = 1000\nt4_ms = 2000\n"));
    EXPECT_EQ(c.sip.t1_ms, 1000u);
    EXPECT_EQ(c.sip.t2_ms, 1000u);
    EXPECT_EQ(c.sip.t4_ms, 2000u);
}

TEST_F(config_test, max_forwards_and_user_agent) {
    expect_error(minimal("[sip]\nmax_forwards = 0\n"), "sip.max_forwards");
    expect_error(minimal("[sip]\nmax_forwards = 256\n"), "sip.max_forwards");
    expect_error(minimal("[sip]\nuser_agent = bad\x01 agent\n"), "sip.user_agent");
    EXPECT_EQ(parse(minimal("[sip]\nuser_agent = sipferry lab 1.0\n")).sip.user_agent, "sipferry lab 1.0");
}

TEST_F(config_test, bad_api_listen) {
    for (const char* bad : {"localhost:8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                            "127.0.0.1:80x", ":8080", "127.0.0.256:8080", "[::1]:8080"}) {
        expect_error(minimal(std::string("[api]\nlisten = ") + bad + "\n"), "api.listen");
    }
    EXPECT_EQ(parse(minimal("[api]\nlisten = 0.0.0.0:9090\n")).api_listen, "0.0.0.0:9090");
}

TEST_F(config_test, missing_dialplan_file) {
    std::string text = minimal();
    replace_all(text, "default = default.lua", "default = nothere.lua");
    const std::string what = expect_error(text, "dialplan.default");
    EXPECT_NE(what.find((dir_ / "nothere.lua").string()), std::string::npos) << "should show the resolved path";
    expect_error(minimal("transfer = nothere.lua\n"), "dialplan.transfer");
    // A folder is not a readable Lua file.
    fs::create_directories(dir_ / "adir");
    expect_error(minimal("transfer = adir\n"), "dialplan.transfer");
}

TEST_F(config_test, missing_dialplan_default) {
    expect_error("[eal]\nargs = x\n[port.acc]\ndevice = x\naddress = 192.0.2.1/24\n", "dialplan.default");
}

TEST_F(config_test, dialplan_limits) {
    expect_error(minimal("max_instructions = 999\n"), "dialplan.max_instructions");
    expect_error(minimal("max_memory_kib = 63\n"), "dialplan.max_memory_kib");
    const config c = parse(minimal("max_instructions = 5000\nmax_memory_kib = 128\n"));
    EXPECT_EQ(c.dialplan.max_instructions, 5000u);
    EXPECT_EQ(c.dialplan.max_memory_kib, 128u);
}

TEST_F(config_test, syntax_error_is_reported) {
    try {
        parse(minimal("[sip\nport = 1\n"));
        FAIL() << "no error";
    } catch (const config_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("test.conf: ", 0), 0u) << e.what();
    }
}
