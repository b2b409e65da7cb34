// Configuration parsing and validation: the shipped files load with the right
// values, and every validation error names the offending key.

#include "config.hh"
#include "source_root.hh"
#include "stir_keys.hh"

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

using sf::test::source_root;

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
    EXPECT_EQ(c.dataplane.sip_mbufs, 16383u);
    EXPECT_EQ(c.dataplane.relay_capacity, 65536u);
    EXPECT_EQ(c.dataplane.sip_rate_per_source, 200u);
    EXPECT_EQ(c.dataplane.sip_burst_per_source, 400u);
    EXPECT_EQ(c.dataplane.sip_sources_tracked, 65536u);
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
    EXPECT_EQ(c.capture.dir, "/var/lib/sipferry/captures");
    EXPECT_EQ(c.capture.max_seconds, 3600u);
    EXPECT_EQ(c.capture.max_packets, 10'000'000u);
    EXPECT_EQ(c.capture.max_bytes, uint64_t{1} << 30);
    EXPECT_EQ(c.hep.collector_addr, 0u);  // HEP is off unless asked for
    EXPECT_EQ(c.hep.capture_id, 1u);
    EXPECT_TRUE(c.hep.password.empty());
}

TEST_F(config_test, a_required_key_with_no_value_is_refused) {
    // A comment right after '=' leaves the key with an empty value (found by fuzz_config: the
    // default dialplan's path came out empty and only failed when the appliance loaded it).
    std::string text = minimal();
    text.replace(text.find("default = default.lua"), std::string("default = default.lua").size(), "default =#default.lua");
    const std::string why = expect_error(text, "dialplan.default");
    EXPECT_NE(why.find("empty"), std::string::npos) << why;
    std::string no_device = minimal();
    no_device.replace(no_device.find("device = net_null0"), std::string("device = net_null0").size(), "device =");
    expect_error(no_device, "port.acc.device");
}

TEST_F(config_test, stir_section_loads_a_p256_key_for_providers_that_sign) {
    const std::string pem = sf::test::private_key_pem("P-256");
    write_file(dir_ / "sp.key", pem);
    const std::string stir = "[stir]\nkey = sp.key\nx5u = https://cert.example.net/sp.pem\n";
    const config c = parse(minimal(stir + "[provider.carrier]\nhost = 198.51.100.30\nsign_identity = true\n"));
    EXPECT_EQ(c.stir.key_file, (dir_ / "sp.key").string()) << "relative to the config's directory";
    EXPECT_EQ(c.stir.key_pem, pem);
    EXPECT_EQ(c.stir.x5u, "https://cert.example.net/sp.pem");
    ASSERT_EQ(c.providers.size(), 1u);
    EXPECT_TRUE(c.providers[0].sign_identity);
    EXPECT_TRUE(parse(minimal()).stir.key_pem.empty()) << "off unless asked for";
    EXPECT_FALSE(parse(minimal("[provider.p]\nhost = 198.51.100.30\n")).providers[0].sign_identity);

    // sign_identity needs [stir]; key and x5u go together; the key must be EC P-256; the URL fit
    // into the Identity header.
    expect_error(minimal("[provider.carrier]\nhost = 198.51.100.30\nsign_identity = true\n"),
                 "provider.carrier.sign_identity");
    expect_error(minimal("[stir]\nkey = sp.key\n"), "stir.x5u");
    expect_error(minimal("[stir]\nx5u = https://cert.example.net/sp.pem\n"), "stir.key");
    expect_error(minimal("[stir]\nkey = sp.key\nx5u = cert.example.net/sp.pem\n"), "stir.x5u");
    expect_error(minimal("[stir]\nkey = sp.key\nx5u = https://cert.example.net/a;b\n"), "stir.x5u");
    expect_error(minimal("[stir]\nkey = missing.key\nx5u = https://cert.example.net/sp.pem\n"), "stir.key");
    write_file(dir_ / "rsa.key", sf::test::private_key_pem("RSA"));
    const std::string why = expect_error(minimal("[stir]\nkey = rsa.key\nx5u = https://cert.example.net/sp.pem\n"), "stir.key");
    EXPECT_NE(why.find("P-256"), std::string::npos) << why;
    write_file(dir_ / "junk.key", "not a key\n");
    expect_error(minimal("[stir]\nkey = junk.key\nx5u = https://cert.example.net/sp.pem\n"), "stir.key");
    expect_error(minimal(stir + "sign = yes\n"), "stir.sign");
}

TEST_F(config_test, stir_section_names_the_roots_for_providers_that_verify) {
    const std::string root_key = sf::test::private_key_pem("P-256");
    const std::string root = sf::test::certificate_pem(root_key, {.subject_cn = "STI-PA", .ca = true, .tn_auth_list = false});
    write_file(dir_ / "roots.pem", root);
    write_file(dir_ / "tls.pem", root);
    const config c = parse(minimal("[stir]\nca = roots.pem\nx5u_tls_ca = tls.pem\nmax_age = 90\nfetch_timeout_ms = 500\n"
                                   "x5u_http = true\n[provider.carrier]\nhost = 198.51.100.30\nverify_identity = true\n"));
    EXPECT_EQ(c.stir.ca_file, (dir_ / "roots.pem").string());
    EXPECT_EQ(c.stir.ca_pem, root);
    EXPECT_EQ(c.stir.x5u_tls_ca_pem, root);
    EXPECT_EQ(c.stir.max_age_s, 90u);
    EXPECT_EQ(c.stir.fetch_timeout_ms, 500u);
    EXPECT_TRUE(c.stir.x5u_http);
    ASSERT_EQ(c.providers.size(), 1u);
    EXPECT_TRUE(c.providers[0].verify_identity);
    EXPECT_FALSE(c.providers[0].reject_failed_identity) << "true: a failed call goes on with its verstat";
    EXPECT_FALSE(c.providers[0].require_identity);
    EXPECT_FALSE(c.providers[0].sign_identity) << "verifying needs no key of one's own";
    // An STI-PA's CRL signer must chain to those roots and may sign CRLs, else the load fails.
    const std::string signer = sf::test::certificate_pem(
        sf::test::private_key_pem("P-256"),
        {.subject_cn = "STI-PA CRL", .issuer_cn = "STI-PA", .issuer_key_pem = root_key, .tn_auth_list = false,
         .key_usage = "critical,cRLSign"});
    write_file(dir_ / "crl-signer.pem", signer);
    EXPECT_EQ(parse(minimal("[stir]\nca = roots.pem\ncrl_signers = crl-signer.pem\n")).stir.crl_signers_pem, signer);
    expect_error(minimal("[stir]\ncrl_signers = crl-signer.pem\n"), "stir.crl_signers");  // no roots
    write_file(dir_ / "stranger.pem", sf::test::certificate_pem(sf::test::private_key_pem("P-256"),
                                                                  {.key_usage = "critical,cRLSign"}));
    expect_error(minimal("[stir]\nca = roots.pem\ncrl_signers = stranger.pem\n"), "stir.crl_signers");
    write_file(dir_ / "no-crl-sign.pem", sf::test::certificate_pem(sf::test::private_key_pem("P-256"),
                                                                     {.issuer_cn = "STI-PA", .issuer_key_pem = root_key}));
    expect_error(minimal("[stir]\nca = roots.pem\ncrl_signers = no-crl-sign.pem\n"), "stir.crl_signers");
    expect_error(minimal("[stir]\nca = roots.pem\ncrl_signers = missing.pem\n"), "stir.crl_signers");
    const std::string with_ca = "[stir]\nca = roots.pem\n[provider.carrier]\nhost = 198.51.100.30\nverify_identity = ";
    const config reject = parse(minimal(with_ca + "reject\n"));
    EXPECT_TRUE(reject.providers[0].verify_identity);
    EXPECT_TRUE(reject.providers[0].reject_failed_identity);
    EXPECT_FALSE(reject.providers[0].require_identity);
    const config require = parse(minimal(with_ca + "require\n"));
    EXPECT_TRUE(require.providers[0].reject_failed_identity) << "require rejects failures too";
    EXPECT_TRUE(require.providers[0].require_identity);
    EXPECT_FALSE(parse(minimal(with_ca + "false\n")).providers[0].verify_identity);
    expect_error(minimal(with_ca + "yes\n"), "provider.carrier.verify_identity");
    expect_error(minimal("[provider.carrier]\nhost = 198.51.100.30\nverify_identity = reject\n"),
                 "provider.carrier.verify_identity");
    const config d = parse(minimal());
    EXPECT_TRUE(d.stir.ca_pem.empty());
    EXPECT_EQ(d.stir.max_age_s, 60u) << "RFC 8224 6.2.2's freshness";
    EXPECT_EQ(d.stir.fetch_timeout_ms, 2000u);
    EXPECT_FALSE(d.stir.x5u_http) << "SHAKEN's x5u is https";
    EXPECT_EQ(d.stir.verify_threads, 0u) << "signatures checked on the control thread unless asked";
    EXPECT_EQ(parse(minimal("[stir]\nverify_threads = 4\n")).stir.verify_threads, 4u);
    expect_error(minimal("[stir]\nverify_threads = 17\n"), "stir.verify_threads");
    EXPECT_TRUE(d.stir.check_crl) << "ATIS-1000080: the verifier checks the CRL a certificate names";
    EXPECT_TRUE(d.stir.crl_signers_pem.empty());
    EXPECT_FALSE(parse(minimal("[stir]\ncheck_crl = false\n")).stir.check_crl);
    expect_error(minimal("[stir]\ncheck_crl = maybe\n"), "stir.check_crl");
    EXPECT_EQ(d.stir.crl_grace_s, 0u) << "fail closed: a CRL past its nextUpdate is no CRL";
    EXPECT_EQ(parse(minimal("[stir]\ncrl_grace = 14400\n")).stir.crl_grace_s, 14400u);
    expect_error(minimal("[stir]\ncrl_grace = 604801\n"), "stir.crl_grace");
    expect_error(minimal("[stir]\ncrl_grace = -1\n"), "stir.crl_grace");

    expect_error(minimal("[provider.carrier]\nhost = 198.51.100.30\nverify_identity = true\n"),
                 "provider.carrier.verify_identity");
    expect_error(minimal("[stir]\nca = missing.pem\n"), "stir.ca");
    write_file(dir_ / "key.pem", root_key);
    expect_error(minimal("[stir]\nca = key.pem\n"), "stir.ca");  // a key is no root
    expect_error(minimal("[stir]\nca = .\n"), "stir.ca");         // a directory
    expect_error(minimal("[stir]\nca = roots.pem\nx5u_tls_ca = key.pem\n"), "stir.x5u_tls_ca");
    expect_error(minimal("[stir]\nca = roots.pem\nmax_age = 5\n"), "stir.max_age");
    expect_error(minimal("[stir]\nca = roots.pem\nmax_age = 3601\n"), "stir.max_age");
    expect_error(minimal("[stir]\nfetch_timeout_ms = 50\n"), "stir.fetch_timeout_ms");
}

TEST_F(config_test, hep_section_names_the_collector) {
    const config c = parse(minimal("[hep]\ncollector = 192.0.2.50:9061\ncapture_id = 4294967295\npassword = s3cr3t!\n"));
    EXPECT_EQ(c.hep.collector_addr, 0xc0000232u);
    EXPECT_EQ(c.hep.collector_port, 9061);
    EXPECT_EQ(c.hep.capture_id, 4294967295u);
    EXPECT_FALSE(c.hep.rtcp) << "RTCP reports only when asked";
    EXPECT_TRUE(parse(minimal("[hep]\ncollector = 192.0.2.50:9061\nrtcp = true\n")).hep.rtcp);
    expect_error(minimal("[hep]\ncollector = 192.0.2.50:9061\nrtcp = yes\n"), "hep.rtcp");
    EXPECT_EQ(c.hep.password, "s3cr3t!");
    for (const char* bad : {"192.0.2.50", "192.0.2.50:0", "192.0.2.50:65536", "host:9060", "0.0.0.0:9060",
                            "192.0.2.50:9060x", "192.0.2.50:"}) {
        expect_error(minimal(std::string("[hep]\ncollector = ") + bad + "\n"), "hep.collector");
    }
    expect_error(minimal("[hep]\ncapture_id = 4294967296\n"), "hep.capture_id");
    expect_error(minimal("[hep]\npassword = two words\n"), "hep.password");
    expect_error(minimal("[hep]\npassword = " + std::string(129, 'x') + "\n"), "hep.password");
    expect_error(minimal("[hep]\nport = 9060\n"), "hep.port");
}

TEST_F(config_test, capture_section_sets_the_directory_and_the_limits) {
    const config c = parse(minimal("[capture]\ndir = caps\nmax_seconds = 120\nmax_packets = 5000\n"));
    EXPECT_EQ(c.capture.dir, (dir_ / "caps").string());  // relative to the config's folder
    EXPECT_EQ(c.capture.max_seconds, 120u);
    EXPECT_EQ(c.capture.max_packets, 5000u);
    expect_error(minimal("[capture]\nmax_seconds = 0\n"), "capture.max_seconds");
    expect_error(minimal("[capture]\nmax_seconds = 86401\n"), "capture.max_seconds");
    expect_error(minimal("[capture]\nmax_packets = 0\n"), "capture.max_packets");
    expect_error(minimal("[capture]\nmax_bytes = 1000\n"), "capture.max_bytes");
    EXPECT_EQ(parse(minimal("[capture]\nmax_bytes = 1048576\n")).capture.max_bytes, 1048576u);
    expect_error(minimal("[capture]\nfile = x\n"), "capture.file");
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
    for (const char* f : {"lab-stir.key", "lab-stir-ca.pem"}) {
        write_file(dir_ / "configs" / f, read_file(root / "configs" / f));
    }
    const config c = parse_config(read_file(root / "configs" / "lab.conf"), "lab.conf", (dir_ / "configs").string());
    EXPECT_EQ(c.stir.x5u, "https://cert.lab.invalid/sipferry-lab.pem");
    EXPECT_FALSE(c.stir.key_pem.empty());
    EXPECT_FALSE(c.stir.ca_pem.empty()) << "the lab's STI root";
    const auto& dp = c.dataplane;
    EXPECT_EQ(dp.eal_args.front(), "-l");
    EXPECT_NE(std::find(dp.eal_args.begin(), dp.eal_args.end(), "--no-huge"), dp.eal_args.end());
    EXPECT_EQ(dp.workers, 1u);
    EXPECT_EQ(dp.idle_sleep_us, 200u);
    // Generous: the lab's torture test sends dozens of messages at once from one source.
    EXPECT_EQ(dp.sip_rate_per_source, 5000u);
    EXPECT_EQ(dp.sip_burst_per_source, 10000u);
    EXPECT_EQ(dp.sip_sources_tracked, 1024u);
    ASSERT_EQ(dp.ports.size(), 3u);
    EXPECT_EQ(dp.ports[0].name, "acc");
    EXPECT_EQ(dp.ports[0].device, "net_af_packet0,iface=acc,qpairs=1,blocksz=16384,framesz=16384,framecnt=2048");
    EXPECT_EQ(ipv4_to_string(dp.ports[0].addr), "192.0.2.1");
    EXPECT_EQ(dp.ports[0].prefix, 24);
    EXPECT_EQ(dp.ports[0].gateway, 0u);
    EXPECT_EQ(dp.ports[1].name, "core");
    EXPECT_EQ(ipv4_to_string(dp.ports[1].addr), "198.51.100.1");
    EXPECT_EQ(dp.ports[1].prefix, 24);
    // The flood port of sip_flood_5x_spares_rtp: a memif server, no kernel interface.
    EXPECT_EQ(dp.ports[2].name, "flood");
    EXPECT_EQ(dp.ports[2].device,
              "net_memif0,role=server,socket=/run/sipferry-lab/flood.sock,socket-abstract=no,id=0,rsize=14");
    EXPECT_EQ(ipv4_to_string(dp.ports[2].addr), "203.0.113.1");
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
    ASSERT_EQ(c.dataplane.ports.size(), 3u);
    EXPECT_EQ(c.dataplane.ports[0].name, "acc");
    EXPECT_EQ(ipv4_to_string(c.dataplane.ports[0].addr), "192.0.2.1");
    EXPECT_EQ(c.dataplane.ports[0].prefix, 24);
    EXPECT_EQ(c.dataplane.ports[1].name, "core");
    EXPECT_EQ(ipv4_to_string(c.dataplane.ports[1].addr), "198.51.100.1");
    EXPECT_EQ(c.dataplane.ports[1].prefix, 24);
    EXPECT_EQ(c.dataplane.ports[2].name, "flood");
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
    EXPECT_EQ(dp.sip_mbufs, 65535u);
    EXPECT_EQ(dp.relay_capacity, 1048576u);
    EXPECT_EQ(dp.sip_rate_per_source, 200u);
    EXPECT_EQ(dp.sip_burst_per_source, 400u);
    EXPECT_EQ(dp.sip_sources_tracked, 65536u);
    ASSERT_EQ(dp.ports.size(), 2u);
    EXPECT_EQ(dp.ports[0].name, "access");
    EXPECT_EQ(dp.ports[0].device, "0000:01:00.0");
    EXPECT_EQ(ipv4_to_string(dp.ports[0].addr), "203.0.113.10");
    EXPECT_EQ(ipv4_to_string(dp.ports[0].gateway), "203.0.113.1");
    EXPECT_EQ(ipv4_to_string(dp.ports[0].media_first), "203.0.113.20");
    EXPECT_EQ(dp.ports[0].media_count, 8u);
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

TEST_F(config_test, a_line_that_is_no_setting_is_named_and_never_hangs) {
    // Found by fuzz_config: Boost's own message for this error replaces %invalid_line% with the
    // line until none is left, which never ends when the line holds that placeholder.
    for (const std::string bad : {"just words\n", "%invalid_line%\n", "x %invalid_line% %canonical_option%\n"}) {
        try {
            parse(minimal(bad));
            ADD_FAILURE() << "no error for " << bad;
        } catch (const config_error& e) {
            const std::string what = e.what();
            EXPECT_EQ(what.rfind("test.conf: syntax: the line '", 0), 0u) << what;
            EXPECT_NE(what.find(bad.substr(0, bad.size() - 1)), std::string::npos) << what;
        }
    }
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
    expect_error(minimal("[dataplane]\nsip_mbufs = 100\n"), "dataplane.sip_mbufs");
    expect_error(minimal("[dataplane]\nrelay_entries = 10\n"), "dataplane.relay_entries");
    expect_error(minimal("[dataplane]\nidle_sleep_us = 100001\n"), "dataplane.idle_sleep_us");
}

TEST_F(config_test, sip_rate_limit_keys) {
    const config c = parse(minimal("[dataplane]\nsip_rate_per_source = 50\nsip_burst_per_source = 7\n"
                                   "sip_sources_tracked = 1024\n"));
    EXPECT_EQ(c.dataplane.sip_rate_per_source, 50u);
    EXPECT_EQ(c.dataplane.sip_burst_per_source, 7u);
    EXPECT_EQ(c.dataplane.sip_sources_tracked, 1024u);
    // The burst follows the rate unless given; 0 turns the limit off.
    EXPECT_EQ(parse(minimal("[dataplane]\nsip_rate_per_source = 1000\n")).dataplane.sip_burst_per_source, 2000u);
    const config off = parse(minimal("[dataplane]\nsip_rate_per_source = 0\n"));
    EXPECT_EQ(off.dataplane.sip_rate_per_source, 0u);
    EXPECT_EQ(off.dataplane.sip_burst_per_source, 1u);
    EXPECT_EQ(parse(minimal("[dataplane]\nsip_rate_per_source = 1000000\n")).dataplane.sip_burst_per_source,
              1'000'000u);

    expect_error(minimal("[dataplane]\nsip_rate_per_source = 1000001\n"), "dataplane.sip_rate_per_source");
    expect_error(minimal("[dataplane]\nsip_rate_per_source = -1\n"), "dataplane.sip_rate_per_source");
    expect_error(minimal("[dataplane]\nsip_rate_per_source = fast\n"), "dataplane.sip_rate_per_source");
    expect_error(minimal("[dataplane]\nsip_burst_per_source = 0\n"), "dataplane.sip_burst_per_source");
    expect_error(minimal("[dataplane]\nsip_burst_per_source = 1000001\n"), "dataplane.sip_burst_per_source");
    expect_error(minimal("[dataplane]\nsip_burst_per_source = 1e3\n"), "dataplane.sip_burst_per_source");
    expect_error(minimal("[dataplane]\nsip_sources_tracked = 15\n"), "dataplane.sip_sources_tracked");
    expect_error(minimal("[dataplane]\nsip_sources_tracked = 1048577\n"), "dataplane.sip_sources_tracked");
    expect_error(minimal("[dataplane]\nsip_sources_tracked =\n"), "dataplane.sip_sources_tracked");
    expect_error(minimal("[dataplane]\nsip_rate_per_sources = 10\n"), "dataplane.sip_rate_per_sources");
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

TEST_F(config_test, refer_acceptance_and_challenge) {
    const config d = parse(minimal());
    EXPECT_EQ(d.transfer.accept_status, 202u);
    EXPECT_FALSE(d.transfer.challenge_refer);
    EXPECT_FALSE(d.transfer.continuous_media) << "a relay passes streams as they come unless told";
    const config c =
        parse(minimal("[transfer]\naccept_status = 200\nchallenge_refer = true\ncontinuous_media = true\n"));
    EXPECT_EQ(c.transfer.accept_status, 200u);
    EXPECT_TRUE(c.transfer.challenge_refer);
    EXPECT_TRUE(c.transfer.continuous_media);
    expect_error(minimal("[transfer]\ncontinuous_media = 1x\n"), "transfer.continuous_media");
    expect_error(minimal("[transfer]\naccept_status = 201\n"), "transfer.accept_status");
    expect_error(minimal("[transfer]\naccept_status = 486\n"), "transfer.accept_status");
    expect_error(minimal("[transfer]\nchallenge_refer = yes\n"), "transfer.challenge_refer");
}

TEST_F(config_test, connected_identity_after_a_transfer) {
    EXPECT_EQ(parse(minimal()).transfer.connected_identity, connected_identity_mode::asserted)
        << "a number nobody asserted is not revealed unless told";
    for (const auto& [text, mode] : {std::pair<const char*, connected_identity_mode>{"dialled", connected_identity_mode::dialled},
                                     {"asserted", connected_identity_mode::asserted},
                                     {"none", connected_identity_mode::none}}) {
        EXPECT_EQ(parse(minimal(std::string("[transfer]\nconnected_identity = ") + text + "\n")).transfer.connected_identity,
                  mode)
            << text;
    }
    for (const char* bad : {"dialed", "Dialled", "yes", "asserted,none"}) {
        expect_error(minimal(std::string("[transfer]\nconnected_identity = ") + bad + "\n"), "transfer.connected_identity");
    }
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

TEST_F(config_test, media_timeouts) {
    const config d = parse(minimal());
    EXPECT_EQ(d.media_timeout_s, 60u);
    EXPECT_EQ(d.media_hold_timeout_s, 3600u);
    const config c = parse(minimal("[media]\ntimeout = 0\nhold_timeout = 120\n"));
    EXPECT_EQ(c.media_timeout_s, 0u);
    EXPECT_EQ(c.media_hold_timeout_s, 120u);
    expect_error(minimal("[media]\ntimeout = 86401\n"), "media.timeout");
    expect_error(minimal("[media]\nhold_timeout = x\n"), "media.hold_timeout");
}

TEST_F(config_test, max_ring) {
    EXPECT_EQ(parse(minimal()).sip.max_ring_s, 180u);
    EXPECT_EQ(parse(minimal("[sip]\nmax_ring = 0\n")).sip.max_ring_s, 0u);  // no limit
    EXPECT_EQ(parse(minimal("[sip]\nmax_ring = 45\n")).sip.max_ring_s, 45u);
    expect_error(minimal("[sip]\nmax_ring = 86401\n"), "sip.max_ring");
    expect_error(minimal("[sip]\nmax_ring = -1\n"), "sip.max_ring");
    expect_error(minimal("[sip]\nmax_ring = soon\n"), "sip.max_ring");
}

TEST_F(config_test, max_forwards_and_user_agent) {
    expect_error(minimal("[sip]\nmin_se = 89\n"), "sip.min_se");  // RFC 4028's floor
    expect_error(minimal("[sip]\nsession_expires = 60\n"), "sip.session_expires");
    expect_error(minimal("[sip]\nsession_expires = 300\nmin_se = 600\n"), "sip.session_expires");
    EXPECT_EQ(parse(minimal("[sip]\nsession_expires = 0\n")).sip.session_expires_s, 0u);
    EXPECT_EQ(parse(minimal("[sip]\nsession_expires = 600\nmin_se = 120\n")).sip.min_se_s, 120u);
    EXPECT_EQ(parse(minimal()).sip.session_expires_s, 1800u);
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

// A dialplan path that stat() fails on other than with "no such file" (a name over NAME_MAX:
// ENAMETOOLONG, a symlink loop: ELOOP) is refused like a missing file, with a config_error; it
// used to throw std::filesystem::filesystem_error past the callers (tests/fuzz/fuzz_config).
TEST_F(config_test, dialplan_path_stat_cannot_look_up_is_a_config_error) {
    const std::string long_name(300, 'a');
    std::string text = minimal();
    replace_all(text, "default = default.lua", "default = " + long_name + ".lua");
    expect_error(text, "dialplan.default");
    expect_error(minimal("transfer = " + long_name + "\n"), "dialplan.transfer");
    expect_error(minimal("[dialplans]\nx = " + long_name + "\n"), "dialplans.x");
    fs::create_symlink("loop", dir_ / "loop");
    expect_error(minimal("transfer = loop\n"), "dialplan.transfer");
    expect_error(minimal("[dialplans]\nx = loop/a.lua\n"), "dialplans.x");
}

// The file's own bytes in a message: control characters are shown as \xNN, so a NUL in a key
// no longer cuts the message short and an escape sequence does not reach a terminal.
TEST_F(config_test, control_bytes_in_messages_are_escaped) {
    const std::string what = expect_error(minimal(std::string("[sip]\nbad") + '\0' + "key\x1b[2J = 1\n"), "sip.bad\\x00key\\x1b[2J");
    EXPECT_EQ(what.find('\0'), std::string::npos);
    EXPECT_EQ(what.find('\x1b'), std::string::npos);
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

// ------------------------------------------------------------------ accounts, providers, registrar

TEST_F(config_test, accounts_providers_and_registrar_parse) {
    write_file(dir_ / "transfer.lua", "--\n");
    write_file(dir_ / "plans" / "wholesale.lua", "--\n");
    const config c = parse(minimal("transfer = transfer.lua\n"
                                   "[port.core]\ndevice = y\naddress = 198.51.100.1/24\n"
                                   "[sip]\ndomain = voice.example.net\n"
                                   "[dialplans]\nwholesale = plans/wholesale.lua\n"
                                   "[registrar]\nmin_expires = 120\nmax_expires = 7200\ndefault_expires = 1800\n"
                                   "max_contacts_per_user = 4\nkeepalive_s = 0\nkeepalive_failures = 5\n"
                                   "max_bindings = 5000\n"
                                   "[account.bigcorp]\nnetworks = 203.0.113.64/26, 198.18.7.1\n"
                                   "dialplan = wholesale\ntransfer_dialplan = transfer\nmax_calls = 200\n"
                                   "max_transfers_per_minute = 20\nmax_calls_per_second = 50\n"
                                   "identity = +4930123400\nidentities = +49301234*, 8000\n"
                                   "[account.acme]\npassword = s3cret pass\n"
                                   "ha1_md5 = 0123456789ABCDEF0123456789abcdef\n"
                                   "ha1_sha256 = " + std::string(64, 'e') + "\n"
                                   "realm = acme realm\nregister = true\nusers = 100, 101 ,reception\n"
                                   "codecs = G722,PCMA\nmedia_types = audio\ndiversion_headers = both\n"
                                   "[provider.carrier1]\nhost = 198.51.100.20\nport = 5080\nrealm = core\n"
                                   "username = trunk\npassword = p@ss\nfrom_host = trunk.example.net\n"
                                   "register = true\nregister_expiry = 600\ntransport = UDP\ntrust_identity = true\n"
                                   "ping = 15\nresponse_timeout = 3\nmax_calls = 30\n"
                                   "codecs = PCMA, telephone-event\nmedia_types = audio, image\n"
                                   "diversion_headers = history-info\n"
                                   "[provider.carrier2]\nhost = 192.0.2.99\n"));
    EXPECT_EQ(c.sip.domain, "voice.example.net");
    EXPECT_EQ(c.dialplan.named.size(), 3u);
    EXPECT_EQ(c.dialplan.named.at("default"), (dir_ / "default.lua").string());
    EXPECT_EQ(c.dialplan.named.at("transfer"), (dir_ / "transfer.lua").string());
    EXPECT_EQ(c.dialplan.named.at("wholesale"), (dir_ / "plans" / "wholesale.lua").string());

    EXPECT_EQ(c.registrar.min_expires, 120u);
    EXPECT_EQ(c.registrar.max_expires, 7200u);
    EXPECT_EQ(c.registrar.default_expires, 1800u);
    EXPECT_EQ(c.registrar.max_contacts_per_user, 4u);
    EXPECT_EQ(c.registrar.keepalive_s, 0u);
    EXPECT_EQ(c.registrar.keepalive_failures, 5u);
    EXPECT_EQ(c.registrar.max_bindings, 5000u);

    ASSERT_EQ(c.accounts.size(), 2u);
    const account_config& big = c.accounts[0];
    EXPECT_EQ(big.name, "bigcorp");
    ASSERT_EQ(big.networks.size(), 2u);
    EXPECT_EQ(to_string(big.networks[0]), "203.0.113.64/26");
    EXPECT_EQ(to_string(big.networks[1]), "198.18.7.1/32");
    EXPECT_FALSE(big.has_credentials());
    EXPECT_EQ(big.realm, "voice.example.net") << "sip.domain is the default realm";
    EXPECT_EQ(big.dialplan, "wholesale");
    EXPECT_EQ(big.transfer_dialplan, "transfer");
    EXPECT_EQ(big.max_calls, 200u);
    EXPECT_EQ(big.max_transfers_per_minute, 20u);
    EXPECT_EQ(big.max_calls_per_second, 50u);
    EXPECT_EQ(big.identity, "+4930123400");
    EXPECT_EQ(big.identities, (std::vector<std::string>{"+49301234*", "8000"}));
    EXPECT_FALSE(big.may_register);
    EXPECT_TRUE(big.users.empty());
    EXPECT_EQ(big.diversion_via, diversion_headers::diversion) << "RFC 5806 Diversion unless told";
    const account_config& acme = c.accounts[1];
    EXPECT_EQ(acme.name, "acme");
    EXPECT_EQ(acme.password, "s3cret pass");
    EXPECT_EQ(acme.ha1_md5, "0123456789abcdef0123456789abcdef") << "hex is kept lower-case";
    EXPECT_EQ(acme.ha1_sha256, std::string(64, 'e'));
    EXPECT_EQ(acme.realm, "acme realm");
    EXPECT_EQ(acme.dialplan, "default");
    EXPECT_EQ(acme.transfer_dialplan, "");
    EXPECT_TRUE(acme.may_register);
    EXPECT_EQ(acme.users, (std::vector<std::string>{"100", "101", "reception"}));
    EXPECT_EQ(acme.media.codecs, (std::vector<std::string>{"G722", "PCMA"}));
    EXPECT_EQ(acme.media.types, (std::vector<std::string>{"audio"}));
    EXPECT_EQ(acme.diversion_via, diversion_headers::both);
    EXPECT_FALSE(big.media.restricts());

    ASSERT_EQ(c.providers.size(), 2u);
    const provider_config& p1 = c.providers[0];
    EXPECT_EQ(p1.name, "carrier1");
    EXPECT_EQ(ipv4_to_string(p1.host), "198.51.100.20");
    EXPECT_EQ(p1.port, 5080);
    EXPECT_EQ(p1.realm, 1);
    EXPECT_EQ(p1.realm_name, "core");
    EXPECT_EQ(p1.username, "trunk");
    EXPECT_EQ(p1.password, "p@ss");
    EXPECT_EQ(p1.from_host, "trunk.example.net");
    EXPECT_TRUE(p1.registers);
    EXPECT_EQ(p1.register_expiry, 600u);
    EXPECT_TRUE(p1.trust_identity);
    EXPECT_EQ(p1.ping_s, 15u);
    EXPECT_EQ(p1.response_timeout_s, 3u);
    EXPECT_EQ(p1.max_calls, 30u);
    EXPECT_EQ(p1.media.codecs, (std::vector<std::string>{"PCMA", "telephone-event"}));
    EXPECT_EQ(p1.media.types, (std::vector<std::string>{"audio", "image"}));
    EXPECT_EQ(p1.diversion_via, diversion_headers::history_info);
    const provider_config& p2 = c.providers[1];
    EXPECT_EQ(p2.port, 5060);
    EXPECT_EQ(p2.realm, -1);
    EXPECT_EQ(p2.from_host, "192.0.2.99");
    EXPECT_TRUE(p2.username.empty());
    EXPECT_FALSE(p2.registers);
    EXPECT_EQ(p2.register_expiry, 3600u);
    EXPECT_FALSE(p2.trust_identity) << "outside the trust domain unless said";
    EXPECT_FALSE(p2.media.restricts()) << "any codec and media type unless told";
    EXPECT_EQ(p2.diversion_via, diversion_headers::diversion) << "RFC 5806 Diversion unless told";
    EXPECT_EQ(p2.ping_s, 0u) << "not probed unless said";
    EXPECT_EQ(p2.response_timeout_s, 0u);

    // The directory built from them answers the B2BUA's questions.
    const account_directory d(c.accounts, c.providers);
    uint32_t a = 0;
    ASSERT_TRUE(parse_ipv4_text("203.0.113.100", a));
    EXPECT_EQ(d.account_by_source(a)->name, "bigcorp");
    EXPECT_EQ(d.account_by_user("reception")->name, "acme");
    EXPECT_EQ(d.provider("carrier1")->port, 5080);
}

TEST_F(config_test, account_and_registrar_defaults) {
    config c = parse(minimal("[account.alice]\npassword = x\n[account.bob]\nha1_sha256 = " + std::string(64, '1') +
                             "\nregister = true\n"));
    EXPECT_EQ(c.dialplan.named.size(), 1u) << "only default when no transfer dialplan is set";
    ASSERT_EQ(c.accounts.size(), 2u);
    EXPECT_EQ(c.accounts[0].realm, "sipferry");
    EXPECT_EQ(c.accounts[0].dialplan, "default");
    EXPECT_EQ(c.accounts[0].transfer_dialplan, "");
    EXPECT_EQ(c.accounts[0].max_calls, 0u);
    EXPECT_EQ(c.accounts[0].max_transfers_per_minute, 0u);
    EXPECT_FALSE(c.accounts[0].may_register);
    EXPECT_TRUE(c.accounts[0].users.empty());
    EXPECT_TRUE(c.accounts[0].networks.empty());
    EXPECT_EQ(c.accounts[0].identity, "") << "nothing asserted unless configured";
    EXPECT_TRUE(c.accounts[0].identities.empty());
    EXPECT_TRUE(c.accounts[1].may_register);
    EXPECT_EQ(c.accounts[1].users, std::vector<std::string>{"bob"}) << "the account name is the default user";
    EXPECT_TRUE(c.providers.empty());
    EXPECT_EQ(c.registrar.min_expires, 60u);
    EXPECT_EQ(c.registrar.max_expires, 3600u);
    EXPECT_EQ(c.registrar.default_expires, 3600u);
    EXPECT_EQ(c.registrar.max_contacts_per_user, 10u);
    EXPECT_EQ(c.registrar.keepalive_s, 30u);
    EXPECT_EQ(c.registrar.keepalive_failures, 3u);
    EXPECT_EQ(c.registrar.max_bindings, 100000u);
    // default_expires follows a lower max_expires when not given.
    c = parse(minimal("[registrar]\nmax_expires = 600\n"));
    EXPECT_EQ(c.registrar.default_expires, 600u);
    c = parse(minimal("[registrar]\nmin_expires = 7200\n"));
    EXPECT_EQ(c.registrar.max_expires, 7200u);
    EXPECT_EQ(c.registrar.default_expires, 7200u);
    // Networks alone are enough; /0 and a bare address are accepted.
    c = parse(minimal("[account.any]\nnetworks = 0.0.0.0/0\n[account.one]\nnetworks = 192.0.2.7\n"));
    EXPECT_EQ(c.accounts[0].networks.at(0).prefix, 0);
    EXPECT_EQ(c.accounts[1].networks.at(0).prefix, 32);
}

TEST_F(config_test, named_dialplans) {
    write_file(dir_ / "a.lua", "--\n");
    expect_error(minimal("[dialplans]\ndefault = a.lua\n"), "dialplans.default");
    expect_error(minimal("[dialplans]\ntransfer = a.lua\n"), "dialplans.transfer");
    const std::string what = expect_error(minimal("[dialplans]\nx = missing.lua\n"), "dialplans.x");
    EXPECT_NE(what.find((dir_ / "missing.lua").string()), std::string::npos) << what;
    expect_error(minimal("[dialplans]\nx =\n"), "dialplans.x");
    expect_error(minimal("[dialplans]\nbad!name = a.lua\n"), "dialplans.bad!name");
    expect_error(minimal("[dialplans]\n" + std::string(33, 'n') + " = a.lua\n"), "dialplans." + std::string(33, 'n'));
    // An account naming a dialplan that is not declared.
    expect_error(minimal("[account.a]\npassword = x\ndialplan = nothere\n"), "account.a.dialplan");
    expect_error(minimal("[account.a]\npassword = x\ncodecs = PCMA;PCMU\n"), "account.a.codecs");
    expect_error(minimal("[account.a]\npassword = x\nmedia_types = audio video\n"), "account.a.media_types");
    expect_error(minimal("[account.a]\npassword = x\ndiversion_headers = history\n"), "account.a.diversion_headers");
    expect_error(minimal("[account.a]\npassword = x\ndialplan =\n"), "account.a.dialplan");
    // 'transfer' is declared only when [dialplan] transfer is set.
    expect_error(minimal("[account.a]\npassword = x\ntransfer_dialplan = transfer\n"), "account.a.transfer_dialplan");
    expect_error(minimal("[account.a]\npassword = x\ntransfer_dialplan = other\n"), "account.a.transfer_dialplan");
    const config c = parse(minimal("[dialplans]\nother = a.lua\n[account.a]\npassword = x\ndialplan = other\n"
                                   "transfer_dialplan = other\n"));
    EXPECT_EQ(c.accounts[0].dialplan, "other");
    EXPECT_EQ(c.accounts[0].transfer_dialplan, "other");
    EXPECT_EQ(c.dialplan.named.at("other"), (dir_ / "a.lua").string());
}

TEST_F(config_test, bad_account_values_name_their_key) {
    const std::string a = "[account.a]\n";
    expect_error(minimal(a + "register = true\n"), "account.a.password");  // no credentials, no networks
    expect_error(minimal(a + "networks =\n"), "account.a.password");
    expect_error(minimal(a + "password =\n"), "account.a.password");
    expect_error(minimal(a + "password = a\x01" "b\n"), "account.a.password");
    expect_error(minimal(a + "ha1_md5 = 0123\n"), "account.a.ha1_md5");
    expect_error(minimal(a + "ha1_md5 = " + std::string(31, '0') + "g\n"), "account.a.ha1_md5");
    expect_error(minimal(a + "ha1_md5 = " + std::string(64, '0') + "\n"), "account.a.ha1_md5");
    expect_error(minimal(a + "ha1_sha256 = " + std::string(32, '0') + "\n"), "account.a.ha1_sha256");
    expect_error(minimal(a + "ha1_sha256 = " + std::string(63, 'z') + "\n"), "account.a.ha1_sha256");
    for (const char* bad : {"10.0.0.0/33", "10.1.0.0/8", "10.0.0/24", "host.example", "10.0.0.0/8; 11.0.0.0/8"}) {
        expect_error(minimal(a + "networks = " + bad + "\n"), "account.a.networks");
    }
    const std::string dup =
        expect_error(minimal("[account.b]\nnetworks = 10.0.0.0/8\n" + a + "networks = 192.0.2.0/24, 10.0.0.0/8\n"),
                     "account.a.networks");
    EXPECT_NE(dup.find("account.b"), std::string::npos) << "should say who has it: " << dup;
    expect_error(minimal(a + "password = x\nrealm =\n"), "account.a.realm");
    expect_error(minimal(a + "password = x\nrealm = say \"hi\"\n"), "account.a.realm");
    expect_error(minimal(a + "password = x\nmax_calls = -1\n"), "account.a.max_calls");
    expect_error(minimal(a + "password = x\nmax_calls = many\n"), "account.a.max_calls");
    expect_error(minimal(a + "password = x\nmax_transfers_per_minute = 1000001\n"), "account.a.max_transfers_per_minute");
    expect_error(minimal(a + "password = x\nmax_calls_per_second = 100001\n"), "account.a.max_calls_per_second");
    for (const char* bad : {"yes", "1", "TRUE", "", "on"}) {
        expect_error(minimal(a + "password = x\nregister = " + bad + "\n"), "account.a.register");
    }
    expect_error(minimal(a + "password = x\nusers = a1\n"), "account.a.users");  // without register = true
    expect_error(minimal(a + "password = x\nregister = true\nusers = a b\n"), "account.a.users");
    expect_error(minimal(a + "password = x\nregister = true\nusers = a@b\n"), "account.a.users");
    expect_error(minimal(a + "password = x\nregister = true\nusers = u1, " + std::string(65, 'u') + "\n"),
                 "account.a.users");
    expect_error(minimal(a + "password = x\nregister = true\nusers = u1, u1\n"), "account.a.users");
    const std::string taken = expect_error(
        minimal("[account.b]\npassword = x\nregister = true\nusers = 100\n" + a + "password = x\nregister = true\n"
                "users = 101, 100\n"),
        "account.a.users");
    EXPECT_NE(taken.find("account.b"), std::string::npos) << taken;
    // The default user (the account name) counts too.
    expect_error(minimal("[account.b]\npassword = x\nregister = true\nusers = a\n" + a +
                         "password = x\nregister = true\n"),
                 "account.a.users");
    expect_error(minimal(a + "password = x\nidentity = a b\n"), "account.a.identity");
    expect_error(minimal(a + "password = x\nidentity = <sip:+1555@x>\n"), "account.a.identity");
    expect_error(minimal(a + "password = x\nidentity = " + std::string(65, '1') + "\n"), "account.a.identity");
    expect_error(minimal(a + "password = x\nidentities = +1555*\n"), "account.a.identities");  // needs identity
    for (const char* bad : {"*", "+1*5*", "a b", "+1555@x"}) {
        expect_error(minimal(a + "password = x\nidentity = +15550100\nidentities = " + bad + "\n"),
                     "account.a.identities");
    }
    expect_error(minimal(a + "password = x\nbogus = 1\n"), "account.a.bogus");
    expect_error(minimal("[account.bad.name]\npassword = x\n"), "account.bad.name.password");
    expect_error(minimal("[account.b@d]\npassword = x\n"), "account.b@d");
    expect_error(minimal("[account]\npassword = x\n"), "account.password");
}

TEST_F(config_test, bad_provider_values_name_their_key) {
    const std::string p = "[provider.p]\n";
    expect_error(minimal(p + "port = 5060\n"), "provider.p.host");
    for (const char* bad : {"", "carrier.example", "198.51.100.256", "198.51.100.20:5060", "198.51.100.0/24"}) {
        expect_error(minimal(p + "host = " + bad + "\n"), "provider.p.host");
    }
    const std::string h = p + "host = 198.51.100.20\n";
    expect_error(minimal(h + "port = 0\n"), "provider.p.port");
    expect_error(minimal(h + "port = 65536\n"), "provider.p.port");
    expect_error(minimal(h + "port = sip\n"), "provider.p.port");
    const std::string realm = expect_error(minimal(h + "realm = core\n"), "provider.p.realm");
    EXPECT_NE(realm.find("core"), std::string::npos) << realm;
    expect_error(minimal(h + "username =\n"), "provider.p.username");
    expect_error(minimal(h + "username = a b\n"), "provider.p.username");
    expect_error(minimal(h + "username = a@b\n"), "provider.p.username");
    expect_error(minimal(h + "password = x\n"), "provider.p.username");  // a password needs a user name
    expect_error(minimal(h + "username = u\npassword =\n"), "provider.p.password");
    expect_error(minimal(h + "from_host = bad host\n"), "provider.p.from_host");
    expect_error(minimal(h + "from_host = a@b\n"), "provider.p.from_host");
    expect_error(minimal(h + "register = yes\n"), "provider.p.register");
    expect_error(minimal(h + "trust_identity = yes\n"), "provider.p.trust_identity");
    expect_error(minimal(h + "ping = 3601\n"), "provider.p.ping");
    expect_error(minimal(h + "ping = -1\n"), "provider.p.ping");
    expect_error(minimal(h + "response_timeout = 33\n"), "provider.p.response_timeout");
    expect_error(minimal(h + "max_calls = 1000001\n"), "provider.p.max_calls");
    expect_error(minimal(h + "register = true\n"), "provider.p.username");  // registering needs a user
    expect_error(minimal(h + "username = u\nregister = true\nregister_expiry = 59\n"), "provider.p.register_expiry");
    expect_error(minimal(h + "register_expiry = 86401\n"), "provider.p.register_expiry");
    expect_error(minimal(h + "transport = tcp\n"), "provider.p.transport");
    expect_error(minimal(h + "codecs =\n"), "provider.p.codecs");
    expect_error(minimal(h + "codecs = PCMA/PCMU\n"), "provider.p.codecs");  // a comma list here
    expect_error(minimal(h + "codecs = PCMA, PCMA\n"), "provider.p.codecs");
    expect_error(minimal(h + "media_types =\n"), "provider.p.media_types");
    expect_error(minimal(h + "media_types = audio/image\n"), "provider.p.media_types");  // a comma list here
    expect_error(minimal(h + "media_types = audio, Audio\n"), "provider.p.media_types");
    expect_error(minimal(h + "transport = tls\n"), "provider.p.transport");
    expect_error(minimal(h + "diversion_headers = History-Info\n"), "provider.p.diversion_headers");
    expect_error(minimal(h + "diversion_headers =\n"), "provider.p.diversion_headers");
    expect_error(minimal(h + "proxy = 1.2.3.4\n"), "provider.p.proxy");
    expect_error(minimal("[provider.local]\nhost = 198.51.100.20\n"), "provider.local");
    expect_error(minimal("[provider.x!]\nhost = 198.51.100.20\n"), "provider.x!");
    const std::string media = expect_error(minimal(h + "media_realm = core\n"), "provider.p.media_realm");
    EXPECT_NE(media.find("[port.NAME]"), std::string::npos) << media;
    const config c = parse(minimal(h + "realm = acc\n"));
    EXPECT_EQ(c.providers.at(0).realm, 0);
    EXPECT_EQ(c.providers.at(0).media_realm, -1) << "media follows the SIP unless told";
}

TEST_F(config_test, media_realm_names_the_port_that_carries_an_accounts_or_providers_media) {
    const config c = parse(minimal("[account.a]\nnetworks = 192.0.2.0/24\nmedia_realm = acc\n"
                                   "[account.b]\npassword = x\n"
                                   "[provider.p]\nhost = 198.51.100.20\nrealm = acc\nmedia_realm = acc\n"));
    ASSERT_EQ(c.accounts.size(), 2u);
    EXPECT_EQ(c.accounts[0].media_realm, 0);
    EXPECT_EQ(c.accounts[1].media_realm, -1);
    EXPECT_EQ(c.providers.at(0).media_realm, 0);
    expect_error(minimal("[account.a]\npassword = x\nmedia_realm = nowhere\n"), "account.a.media_realm");
}

TEST_F(config_test, bad_registrar_and_domain_values_name_their_key) {
    expect_error(minimal("[registrar]\nmin_expires = 0\n"), "registrar.min_expires");
    expect_error(minimal("[registrar]\nmin_expires = 86401\n"), "registrar.min_expires");
    expect_error(minimal("[registrar]\nmin_expires = 600\nmax_expires = 300\n"), "registrar.max_expires");
    expect_error(minimal("[registrar]\nmax_expires = 604801\n"), "registrar.max_expires");
    expect_error(minimal("[registrar]\ndefault_expires = 30\n"), "registrar.default_expires");
    expect_error(minimal("[registrar]\ndefault_expires = 3601\n"), "registrar.default_expires");
    expect_error(minimal("[registrar]\nmax_contacts_per_user = 0\n"), "registrar.max_contacts_per_user");
    expect_error(minimal("[registrar]\nkeepalive_s = 3601\n"), "registrar.keepalive_s");
    expect_error(minimal("[registrar]\nkeepalive_s = often\n"), "registrar.keepalive_s");
    expect_error(minimal("[registrar]\nkeepalive_failures = 0\n"), "registrar.keepalive_failures");
    expect_error(minimal("[registrar]\nmax_bindings = 0\n"), "registrar.max_bindings");
    expect_error(minimal("[registrar]\nmax_users = 10\n"), "registrar.max_users");
    expect_error(minimal("[sip]\ndomain = bad domain\n"), "sip.domain");
    expect_error(minimal("[sip]\ndomain = sip:example.com\n"), "sip.domain");
    EXPECT_EQ(parse(minimal("[sip]\ndomain = 192.0.2.1\n")).sip.domain, "192.0.2.1");
}

TEST_F(config_test, example_two_nic_account_examples_parse_when_uncommented) {
    const fs::path root = source_root();
    ASSERT_FALSE(root.empty());
    std::string text = read_file(root / "configs" / "example-two-nic.conf");
    // Example lines are '#key = value' and '#[section]' (no space after '#'); prose is '# ...'.
    std::stringstream in(text);
    std::string line;
    std::string out;
    unsigned uncommented = 0;
    while (std::getline(in, line)) {
        if (line.size() > 1 && line[0] == '#' && line[1] != ' ' && line[1] != '#') {
            line.erase(0, 1);
            ++uncommented;
        }
        out += line + "\n";
    }
    EXPECT_GE(uncommented, 20u);
    for (const char* f : {"default.lua", "transfer.lua", "wholesale.lua"}) {
        write_file(dir_ / f, "--\n");
    }
    replace_all(out, "/etc/sipferry/dialplans/", dir_.string() + "/");
    write_file(dir_ / "stir.key", sf::test::private_key_pem("P-256"));
    replace_all(out, "/etc/sipferry/stir.key", (dir_ / "stir.key").string());
    const std::string root_key = sf::test::private_key_pem("P-256");
    write_file(dir_ / "roots.pem", sf::test::certificate_pem(root_key, {.subject_cn = "STI-PA", .ca = true}));
    replace_all(out, "/etc/sipferry/sti-roots.pem", (dir_ / "roots.pem").string());
    write_file(dir_ / "crl-signer.pem",
               sf::test::certificate_pem(sf::test::private_key_pem("P-256"),
                                         {.subject_cn = "STI-PA CRL", .issuer_cn = "STI-PA", .issuer_key_pem = root_key,
                                          .tn_auth_list = false, .key_usage = "critical,cRLSign"}));
    replace_all(out, "/etc/sipferry/sti-pa-crl-signer.pem", (dir_ / "crl-signer.pem").string());
    const config c = parse(out);
    EXPECT_EQ(c.stir.x5u, "https://cert.example.net/sipferry-sti.pem");
    EXPECT_FALSE(c.stir.ca_pem.empty());
    EXPECT_TRUE(c.stir.check_crl);
    EXPECT_EQ(c.stir.crl_grace_s, 14400u);
    EXPECT_FALSE(c.stir.crl_signers_pem.empty());
    EXPECT_EQ(c.sip.domain, "voice.example.net");
    ASSERT_EQ(c.accounts.size(), 2u);
    EXPECT_EQ(c.accounts[0].name, "bigcorp");
    EXPECT_EQ(c.accounts[0].dialplan, "wholesale");
    EXPECT_EQ(c.accounts[0].media.codecs, (std::vector<std::string>{"PCMA", "G729", "telephone-event"}));
    EXPECT_EQ(c.accounts[0].media.types, (std::vector<std::string>{"audio", "image"}));
    EXPECT_EQ(c.accounts[1].name, "acme");
    EXPECT_EQ(c.accounts[1].users.size(), 3u);
    ASSERT_EQ(c.providers.size(), 1u);
    EXPECT_EQ(c.providers[0].realm, 1);
    EXPECT_TRUE(c.providers[0].verify_identity);
    EXPECT_TRUE(c.providers[0].registers);
    EXPECT_EQ(c.providers[0].media.codecs, (std::vector<std::string>{"PCMA", "PCMU", "telephone-event"}));
    EXPECT_EQ(c.providers[0].media.types, (std::vector<std::string>{"audio", "image"}));
    EXPECT_EQ(c.registrar.keepalive_s, 30u);
}

// ------------------------------------------------------------------ tables for dialplans

TEST_F(config_test, tables_inline_and_from_files) {
    write_file(dir_ / "rates.txt", "# prefix = carrier\n44 = uk\n4420 = london\n");
    const config c = parse(minimal("[table.customers]\n1800 = bob@provider\nsip.example.com = x\n"
                                   "[tables]\nrates = rates.txt\n"));
    ASSERT_TRUE(c.dialplan.tables);
    const lookup_tables& t = *c.dialplan.tables;
    ASSERT_EQ(t.size(), 2u);
    EXPECT_EQ(t.at("customers").find("1800").value_or("-"), "bob@provider");
    EXPECT_EQ(t.at("customers").find("sip.example.com").value_or("-"), "x");  // keys may hold dots
    EXPECT_EQ(t.at("rates").longest_prefix("44207")->second, "london");
    EXPECT_TRUE(parse(minimal()).dialplan.tables->empty());
}

TEST_F(config_test, table_errors_name_the_key) {
    expect_error(minimal("[tables]\nrates = missing.txt\n"), "tables.rates");
    fs::create_directory(dir_ / "folder");
    expect_error(minimal("[tables]\nrates = folder\n"), "tables.rates");  // not an empty table
    write_file(dir_ / "bad.txt", "44 uk\n");
    const std::string what = expect_error(minimal("[tables]\nrates = bad.txt\n"), "tables.rates");
    EXPECT_NE(what.find("line 1"), std::string::npos) << what;
    expect_error(minimal("[table]\nx = 1\n"), "table.x");  // a key needs a [table.NAME] section
    expect_error(minimal("[table.bad!name]\nx = 1\n"), "table.bad!name.x");
}

TEST_F(config_test, reliable_provisional_policy) {
    EXPECT_EQ(parse(minimal()).sip.reliable_to_caller, reliable_policy::sdp);
    EXPECT_EQ(parse(minimal("[sip]\nreliable_provisional = required\n")).sip.reliable_to_caller,
              reliable_policy::required);
    EXPECT_EQ(parse(minimal("[sip]\nreliable_provisional = supported\n")).sip.reliable_to_caller,
              reliable_policy::supported);
    expect_error(minimal("[sip]\nreliable_provisional = always\n"), "sip.reliable_provisional");
}

TEST_F(config_test, media_address_ranges) {
    const config c = parse(minimal("[port.acc]\nmedia_addresses = 192.0.2.100-192.0.2.131\n"));
    ASSERT_EQ(c.dataplane.ports.size(), 1u);
    EXPECT_EQ(ipv4_to_string(c.dataplane.ports[0].media_first), "192.0.2.100");
    EXPECT_EQ(c.dataplane.ports[0].media_count, 32u);
    const config one = parse(minimal("[port.acc]\nmedia_addresses = 192.0.2.7\n"));
    EXPECT_EQ(one.dataplane.ports[0].media_count, 1u);
    EXPECT_EQ(parse(minimal()).dataplane.ports[0].media_count, 0u);
    expect_error(minimal("[port.acc]\nmedia_addresses = 192.0.2.9-192.0.2.8\n"), "port.acc.media_addresses");
    expect_error(minimal("[port.acc]\nmedia_addresses = 198.51.100.5\n"), "port.acc.media_addresses");  // not on the subnet
    expect_error(minimal("[port.acc]\nmedia_addresses = 192.0.2.0-192.0.2.10\n"), "port.acc.media_addresses");  // holds .1
    expect_error(minimal("[port.acc]\nmedia_addresses = bogus\n"), "port.acc.media_addresses");
}

TEST_F(config_test, the_workers_scheduling_class) {
    const auto with = [](const std::string& lines) { return minimal("[dataplane]\n" + lines); };
    EXPECT_EQ(parse(minimal()).dataplane.scheduling, sf::dp::worker_scheduling{});  // normal: as started
    const config fifo = parse(with("worker_scheduling = fifo\n"));
    EXPECT_EQ(fifo.dataplane.scheduling.policy, sf::dp::scheduling_policy::fifo);
    EXPECT_EQ(fifo.dataplane.scheduling.priority, sf::dp::default_worker_priority);
    const config rr = parse(with("worker_scheduling = rr\nworker_priority = 98\n"));
    EXPECT_EQ(rr.dataplane.scheduling, (sf::dp::worker_scheduling{sf::dp::scheduling_policy::rr, 98}));
    EXPECT_EQ(parse(with("worker_scheduling = normal\n")).dataplane.scheduling, sf::dp::worker_scheduling{});
    expect_error(with("worker_scheduling = FIFO\n"), "dataplane.worker_scheduling");
    expect_error(with("worker_scheduling = deadline\n"), "dataplane.worker_scheduling");
    expect_error(with("worker_scheduling =\n"), "dataplane.worker_scheduling");
    // 99 is the kernel's watchdog and migration threads' priority; 0 is no real-time priority.
    expect_error(with("worker_scheduling = fifo\nworker_priority = 99\n"), "dataplane.worker_priority");
    expect_error(with("worker_scheduling = fifo\nworker_priority = 0\n"), "dataplane.worker_priority");
    // A priority without a real-time class would be silently meaningless.
    expect_error(with("worker_priority = 10\n"), "dataplane.worker_priority");
    expect_error(with("worker_scheduling = normal\nworker_priority = 10\n"), "dataplane.worker_priority");
}

TEST_F(config_test, a_port_sets_the_depth_of_its_rings) {
    const config c = parse(minimal());
    ASSERT_EQ(c.dataplane.ports.size(), 1u);
    EXPECT_EQ(c.dataplane.ports[0].rx_descriptors, 1024u);
    EXPECT_EQ(c.dataplane.ports[0].tx_descriptors, 1024u);
    std::string deep = minimal();
    replace_all(deep, "address = 192.0.2.1/24\n", "address = 192.0.2.1/24\nrx_descriptors = 4096\ntx_descriptors = 512\n");
    const config d = parse(deep);
    EXPECT_EQ(d.dataplane.ports[0].rx_descriptors, 4096u);
    EXPECT_EQ(d.dataplane.ports[0].tx_descriptors, 512u);
    for (const char* bad : {"rx_descriptors = 1000\n", "rx_descriptors = 32\n", "rx_descriptors = 32768\n"}) {
        std::string text = minimal();
        replace_all(text, "address = 192.0.2.1/24\n", std::string("address = 192.0.2.1/24\n") + bad);
        expect_error(text, "port.acc.rx_descriptors");
    }
    std::string odd_tx = minimal();
    replace_all(odd_tx, "address = 192.0.2.1/24\n", "address = 192.0.2.1/24\ntx_descriptors = 100\n");
    expect_error(odd_tx, "port.acc.tx_descriptors");
    // The RX rings of every worker on every port hold mbufs: the pool must have more.
    std::string starved = deep;
    replace_all(starved, "[eal]\nargs = --no-huge --no-pci\n",
                "[eal]\nargs = --no-huge --no-pci\n[dataplane]\nworkers = 2\nmbufs = 8191\n");
    const std::string why = expect_error(starved, "dataplane.mbufs");
    EXPECT_NE(why.find("8192"), std::string::npos) << why;
}
