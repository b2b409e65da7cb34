// The management API's capture requests (control/capture_api.hh): what a request may ask for
// ([capture] limits, file names that stay in [capture] dir, filters libpcap compiles), the
// answers' status codes and JSON, and a capture's life through the API (start, 409 while it
// runs, stop, never overwriting a file, the control loop's poll ending it on time). The capture
// itself runs on a real EAL (no hugepages) with no ports to tap: what it writes from ports is
// tests/dataplane/packet_capture_test.cc's and the lab's (capture_of_a_call).

#include "capture_api.hh"

#include <map>

#include <gtest/gtest.h>

#include <rte_errno.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../test_eal.hh"

using namespace sf::control;
namespace fs = std::filesystem;

namespace {

class eal_environment : public ::testing::Environment {
public:
    void SetUp() override {
        if (!sf::test::init_test_eal("sf_capture_api_", {"-m", "256", "-l", "0"})) {
            std::fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
            std::exit(1);
        }
    }
};
[[maybe_unused]] ::testing::Environment* const eal = ::testing::AddGlobalTestEnvironment(new eal_environment);

boost::property_tree::ptree json_of(const api_response& r) {
    boost::property_tree::ptree doc;
    std::istringstream in(r.body);
    boost::property_tree::read_json(in, doc);
    return doc;
}

class capture_api_test : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("sf_capture_api_test_" + std::to_string(::getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        cfg_.dir = (root_ / "captures").string();  // made by the first start
        cfg_.max_seconds = 600;
        cfg_.max_packets = 1000;
    }
    void TearDown() override {
        capture_.stop("test over", 0);
        fs::remove_all(root_);
    }

    std::string error_of(const api_response& r) { return json_of(r).get<std::string>("error", ""); }

    fs::path root_;
    capture_config cfg_;
    sf::dp::packet_capture capture_{{}, 1, nullptr, 511};
    capture_api api_{cfg_, capture_};
};

}  // namespace

TEST_F(capture_api_test, nothing_ran_yet) {
    const api_response r = api_.status(0);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"running":false})");
}

TEST_F(capture_api_test, bad_requests_get_400_and_start_nothing) {
    struct bad {
        std::string body, error_starts;
    };
    for (const bad& b : {bad{"not json", "expected a JSON object"},
                         bad{R"({"seconds":"soon"})", "seconds: expected a whole number"},
                         bad{R"({"packets":2.5})", "packets: expected a whole number"},
                         bad{R"({"snaplen":{"a":1}})", "snaplen: expected a whole number"},
                         bad{R"({"filter":["udp"]})", "filter: expected UTF-8 text"},
                         bad{R"({"seconds":0})", "seconds: expected 1..600"},
                         bad{R"({"seconds":601})", "seconds: expected 1..600"},
                         bad{R"({"seconds":-1})", "seconds: expected a whole number"},
                         bad{R"({"seconds":99999999999999999999})", "seconds: expected a whole number"},
                         bad{R"({"packets":0})", "packets: expected 1..1000"},
                         bad{R"({"packets":1001})", "packets: expected 1..1000"},
                         bad{R"({"snaplen":63})", "snaplen: expected 0"},
                         bad{R"({"snaplen":65536})", "snaplen: expected 0"},
                         bad{R"({"file":"../x.pcapng"})", "file: expected a name"},
                         bad{R"({"file":".x"})", "file: expected a name"},
                         bad{R"({"filter":"udp port"})", "filter: "},
                         bad{R"({"filter":"host 192.0.2.300"})", "filter: "}}) {
        const api_response r = api_.start(b.body, 0);
        EXPECT_EQ(r.status, 400) << b.body << " -> " << r.body;
        EXPECT_EQ(error_of(r).rfind(b.error_starts, 0), 0u) << b.body << " -> " << r.body;
        EXPECT_FALSE(capture_.running());
    }
    // Nothing was written for any of them.
    EXPECT_TRUE(!fs::exists(cfg_.dir) || fs::is_empty(cfg_.dir));
}

TEST_F(capture_api_test, a_capture_runs_alone_ends_on_request_and_never_overwrites) {
    const api_response r =
        api_.start(R"({"filter":"udp port 5060","seconds":30,"packets":10,"snaplen":128,"file":"one.pcapng"})", 1000);
    ASSERT_EQ(r.status, 200) << r.body;
    auto doc = json_of(r);
    EXPECT_TRUE(doc.get<bool>("running"));
    const std::string path = (fs::path(cfg_.dir) / "one.pcapng").string();
    EXPECT_EQ(doc.get<std::string>("file"), path);
    EXPECT_EQ(doc.get<std::string>("filter"), "udp port 5060");
    EXPECT_TRUE(fs::exists(path));

    const api_response again = api_.start(R"({"file":"two.pcapng"})", 1500);
    EXPECT_EQ(again.status, 409);
    EXPECT_NE(error_of(again).find("running"), std::string::npos) << again.body;
    EXPECT_FALSE(fs::exists(fs::path(cfg_.dir) / "two.pcapng"));

    const api_response stopped = api_.stop(2500);
    EXPECT_EQ(stopped.status, 200);
    doc = json_of(stopped);
    EXPECT_FALSE(doc.get<bool>("running"));
    EXPECT_EQ(doc.get<std::string>("ended_by"), "request");
    EXPECT_EQ(doc.get<uint64_t>("written"), 0u);  // no ports to tap
    EXPECT_DOUBLE_EQ(doc.get<double>("seconds"), 1.5);
    // The file is a pcapng file: a Section Header Block first (block type 0x0A0D0D0A).
    std::ifstream in(path, std::ios::binary);
    char head[4] = {};
    in.read(head, 4);
    EXPECT_EQ(std::string(head, 4), std::string("\x0a\x0d\x0d\x0a", 4));

    // The same name again: refused, the file left as it was.
    const auto size = fs::file_size(path);
    const api_response same = api_.start(R"({"file":"one.pcapng"})", 3000);
    EXPECT_EQ(same.status, 409) << same.body;
    EXPECT_FALSE(capture_.running());
    EXPECT_EQ(fs::file_size(path), size);

    // Stopping when nothing runs tells how the last one ended.
    const api_response idle = api_.stop(4000);
    EXPECT_EQ(idle.status, 200);
    EXPECT_EQ(json_of(idle).get<std::string>("ended_by"), "request");
}

TEST_F(capture_api_test, the_control_loops_poll_ends_it_on_time_with_the_default_name) {
    const api_response r = api_.start(R"({"seconds":2})", 10'000);
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string file = json_of(r).get<std::string>("file");
    const std::string name = fs::path(file).filename().string();
    EXPECT_EQ(name.rfind("capture-", 0), 0u) << name;
    EXPECT_EQ(name.size(), 30u) << name;  // capture-YYYYmmdd-HHMMSS.pcapng
    api_.poll(11'999);
    EXPECT_TRUE(capture_.running());
    api_.poll(12'000);
    EXPECT_FALSE(capture_.running());
    const auto doc = json_of(api_.status(13'000));
    EXPECT_EQ(doc.get<std::string>("ended_by"), "time");
    EXPECT_DOUBLE_EQ(doc.get<double>("seconds"), 2.0);
}

TEST_F(capture_api_test, defaults_come_from_the_config) {
    cfg_.max_seconds = 30;  // below the 60-second default: the default shrinks to it
    const api_response r = api_.start("", 0);
    ASSERT_EQ(r.status, 200) << r.body;
    api_.poll(29'999);
    EXPECT_TRUE(capture_.running());
    api_.poll(30'000);
    EXPECT_FALSE(capture_.running());
}

namespace {

capture_term peer(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
    return {static_cast<uint32_t>(a) << 24 | static_cast<uint32_t>(b) << 16 | static_cast<uint32_t>(c) << 8 | d, port,
            port};
}
capture_term ports(uint16_t first, uint16_t last) { return {0, first, last}; }

}  // namespace

TEST(capture_term_test, reads_as_tcpdump_writes_it) {
    EXPECT_EQ(peer(192, 0, 2, 10, 5060).text(), "(host 192.0.2.10 and port 5060)");
    EXPECT_EQ(ports(20000, 20000).text(), "port 20000");
    EXPECT_EQ(ports(20000, 20001).text(), "portrange 20000-20001");
    EXPECT_EQ(call_filter::text({peer(198, 51, 100, 20, 5062), ports(20002, 20003)}),
              "udp and ((host 198.51.100.20 and port 5062) or portrange 20002-20003)");
    EXPECT_EQ(sf::dp::packet_capture::check_filter(call_filter::text({peer(198, 51, 100, 20, 5062), ports(20002, 20003),
                                                                   ports(65535, 65535)})),
              "") << "libpcap compiles it";
}

TEST_F(capture_api_test, a_call_narrows_the_capture_to_its_frames) {
    // The B2BUA's answer for a call reference (b2bua::capture_filter, tested in b2bua_test).
    capture_api with_calls(cfg_, capture_, [](const std::string& ref, uint64_t id) -> call_filter {
        if (id == 7 || ref == "7" || ref == "alice-call@192.0.2.10") {
            return {200, {ports(20000, 20000), ports(20002, 20002)}, {}, 7};
        }
        return {404, {}, R"({"error":"no such call"})", 0};
    });
    const api_response missing = with_calls.start(R"({"call":"8"})", 0);
    EXPECT_EQ(missing.status, 404);
    EXPECT_EQ(missing.body, R"({"error":"no such call"})");
    EXPECT_FALSE(capture_.running());

    api_response r = with_calls.start(R"({"call":"alice-call@192.0.2.10","file":"call.pcapng"})", 0);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json_of(r).get<std::string>("filter"), "udp and (port 20000 or port 20002)");
    EXPECT_EQ(json_of(r).get<uint64_t>("call"), 7u) << "the call's id, whatever named it";
    with_calls.stop(1);
    r = with_calls.start(R"({"call":"7","filter":"udp[8] & 0xc0 == 0x80","file":"call-rtp.pcapng"})", 2);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json_of(r).get<std::string>("filter"), "(udp and (port 20000 or port 20002)) and (udp[8] & 0xc0 == 0x80)");
    with_calls.stop(3);
    // Without the B2BUA's help a call cannot be named.
    EXPECT_EQ(api_.start(R"({"call":"7"})", 4).status, 400);
    // A capture of no call has no "call".
    r = api_.start(R"({"file":"any.pcapng"})", 5);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(json_of(r).get_child_optional("call"));
}

TEST_F(capture_api_test, a_capture_of_a_call_follows_it_as_it_grows) {
    // A call as the B2BUA would describe it over time: what `calls` holds for each id now.
    std::map<std::string, std::vector<capture_term>> calls{{"7", {peer(192, 0, 2, 10, 5060), ports(20000, 20000)}}};
    std::vector<std::string> asked;
    // The start names the call by a reference; following asks by its id (no Call-ID or tag can
    // stand in for it then), and is recorded in `asked`.
    capture_api with_calls(cfg_, capture_, [&](const std::string& ref, uint64_t id) -> call_filter {
        if (id != 0) {
            EXPECT_EQ(ref, "");
            asked.push_back(std::to_string(id));
        }
        auto it = calls.find(id != 0 ? std::to_string(id) : ref);
        if (it == calls.end()) {
            return {404, {}, R"({"error":"no such call"})", 0};
        }
        return {200, it->second, {}, std::stoull(it->first)};
    });
    // Without a capture, or with one of no call, following asks nothing.
    with_calls.follow();
    EXPECT_TRUE(asked.empty());
    api_response r = with_calls.start(R"({"call":"7","filter":"not icmp","file":"follow.pcapng"})", 0);
    ASSERT_EQ(r.status, 200) << r.body;
    asked.clear();
    auto status = [&] { return json_of(with_calls.status(0)); };

    // Nothing new: the filter stays.
    with_calls.follow();
    EXPECT_EQ(asked, std::vector<std::string>{"7"});
    EXPECT_EQ(status().get<uint64_t>("filter_changes"), 0u);

    // A transfer's new leg rings: its peer and relay port join.
    calls["7"] = {peer(192, 0, 2, 10, 5060), peer(198, 51, 100, 20, 5060), peer(198, 51, 100, 30, 5060),
                  ports(20000, 20000), ports(20004, 20005)};
    with_calls.follow();
    EXPECT_EQ(status().get<std::string>("filter"),
              "(udp and ((host 192.0.2.10 and port 5060) or port 20000 or (host 198.51.100.20 and port 5060) or "
              "(host 198.51.100.30 and port 5060) or portrange 20004-20005)) and (not icmp)");
    EXPECT_EQ(status().get<uint64_t>("filter_changes"), 1u);

    // The transferor left: what it had stays in the filter (its BYE, its last RTP).
    calls["7"] = {peer(192, 0, 2, 10, 5060), peer(198, 51, 100, 30, 5060), ports(20000, 20000), ports(20004, 20005)};
    with_calls.follow();
    EXPECT_EQ(status().get<uint64_t>("filter_changes"), 1u);

    // An attended transfer joins call 7 into call 9: from then on call 9 is followed.
    calls["9"] = {peer(192, 0, 2, 10, 5060), peer(198, 51, 100, 40, 5060), ports(20008, 20008)};
    calls.erase("7");
    with_calls.call_joined(8, 9);  // another call's join changes nothing
    with_calls.follow();
    EXPECT_EQ(asked.back(), "7");
    EXPECT_EQ(status().get<uint64_t>("filter_changes"), 1u) << "a call that ended keeps its filter";
    with_calls.call_joined(7, 9);
    with_calls.follow();
    EXPECT_EQ(asked.back(), "9");
    EXPECT_EQ(status().get<uint64_t>("call"), 9u);
    EXPECT_EQ(status().get<std::string>("filter"),
              "(udp and ((host 192.0.2.10 and port 5060) or port 20000 or (host 198.51.100.20 and port 5060) or "
              "(host 198.51.100.30 and port 5060) or portrange 20004-20005 or (host 198.51.100.40 and port 5060) or "
              "port 20008)) and (not icmp)");
    EXPECT_EQ(status().get<uint64_t>("filter_changes"), 2u);

    // After the capture ended nothing is asked.
    with_calls.stop(1);
    asked.clear();
    calls["9"].push_back(ports(20010, 20010));
    with_calls.follow();
    EXPECT_TRUE(asked.empty());
}
