// Units for the offline dialplan check (control/route_check, `sipferry --route`): what a request
// line becomes (account, realm, plan), what the dialplan decided, the transfer policy on REFERs,
// and that bad lines are named, not skipped.

#include "route_check.hh"

#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

using namespace sf::control;
namespace fs = std::filesystem;
namespace pt = boost::property_tree;

namespace {

class route_check_test : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("sf_route_check_" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        write("default.lua", R"(
            sys.Log("default for", req.URI.User, "from", req.Source.Address, "on", req.Realm)
            if req.URI.User == "busy" then sys.Respond(486) end
            if req.URI.User == "broken" then error("boom") end
            if req.URI.User == "nothing" then return end
            if req.Verstat == "TN-Validation-Failed" then sys.Respond(607, "Unwanted") end
            sys.Dial(req.URI.User .. "@198.51.100.20[tr=c]|" .. req.URI.User .. "@carrier")
        )");
        write("transfer.lua", R"(sys.Dial(req.URI.User .. "@carrier"))");
        write("wholesale.lua", R"(sys.Dial(req.URI.User .. "@local&x@gw.example.net"))");
        cfg_ = parse_config(
            "[eal]\nargs = --no-huge --no-pci\n"
            "[port.acc]\ndevice = net_null0\naddress = 192.0.2.1/24\n"
            "[port.core]\ndevice = net_null1\naddress = 198.51.100.1/24\n"
            "[dialplan]\ndefault = default.lua\ntransfer = transfer.lua\n"
            "[dialplans]\nwholesale = wholesale.lua\n"
            "[transfer]\ndeny_prefixes = 0900\n"
            "[account.acme]\nnetworks = 192.0.2.0/24\ntransfer_dialplan = transfer\n"
            "[account.bulk]\nnetworks = 203.0.113.0/24\ndialplan = wholesale\n"
            "[provider.carrier]\nhost = 198.51.100.40\nport = 5080\n",
            "test.conf", dir_.string());
        ASSERT_EQ(load_dialplans(engine_, cfg_), "");
    }
    void TearDown() override { fs::remove_all(dir_); }

    void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

    /// Every output line of `input`, parsed; `unreadable` gets check_routes' count.
    std::vector<pt::ptree> run(const std::string& input, unsigned* unreadable = nullptr) {
        std::istringstream in(input);
        std::ostringstream out;
        const unsigned bad = check_routes(cfg_, engine_, in, out);
        if (unreadable != nullptr) {
            *unreadable = bad;
        }
        std::vector<pt::ptree> lines;
        std::istringstream rows(out.str());
        for (std::string row; std::getline(rows, row);) {
            std::istringstream r(row);
            pt::ptree t;
            pt::read_json(r, t);
            lines.push_back(t);
        }
        return lines;
    }

    fs::path dir_;
    config cfg_;
    dialplan_engine engine_;
};

}  // namespace

TEST_F(route_check_test, a_call_gets_its_account_realm_plan_and_destinations) {
    const auto out = run(R"({"uri": "sip:1234@192.0.2.1", "from": "sip:alice@192.0.2.10", "source": "192.0.2.10:5062"})");
    ASSERT_EQ(out.size(), 1u);
    const pt::ptree& r = out[0];
    EXPECT_EQ(r.get<unsigned>("line"), 1u);
    EXPECT_EQ(r.get<std::string>("kind"), "call");
    EXPECT_EQ(r.get<std::string>("account"), "acme") << "by its trusted network";
    EXPECT_EQ(r.get<std::string>("realm"), "acc") << "the port on the source's network";
    EXPECT_EQ(r.get<std::string>("plan"), "default");
    EXPECT_EQ(r.get<std::string>("decision"), "dial");
    EXPECT_EQ(r.get<std::string>("dial"), "1234@198.51.100.20[tr=c]|1234@carrier") << "the default port is not shown";
    std::vector<pt::ptree> targets;
    for (const auto& [k, t] : r.get_child("targets")) {
        targets.push_back(t);
    }
    ASSERT_EQ(targets.size(), 2u);
    EXPECT_EQ(targets[0].get<std::string>("host"), "198.51.100.20");
    EXPECT_EQ(targets[0].get<unsigned>("group"), 0u);
    EXPECT_EQ(targets[1].get<std::string>("provider"), "carrier");
    EXPECT_EQ(targets[1].get<std::string>("address"), "198.51.100.40:5080");
    EXPECT_EQ(targets[1].get<unsigned>("group"), 1u);
    EXPECT_EQ(r.get_child("log").begin()->second.get_value<std::string>(),
              "default for 1234 from 192.0.2.10 on acc");
}

TEST_F(route_check_test, every_kind_of_decision_is_reported) {
    const auto out = run(
        "{\"uri\": \"busy@192.0.2.1\"}\n"
        "# a comment and a blank line are skipped\n"
        "\n"
        "{\"uri\": \"broken@192.0.2.1\"}\n"
        "{\"uri\": \"nothing@192.0.2.1\"}\n"
        "{\"uri\": \"5@192.0.2.1\", \"source\": \"203.0.113.9\"}\n");
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].get<std::string>("decision"), "respond");
    EXPECT_EQ(out[0].get<int>("code"), 486);
    EXPECT_EQ(out[1].get<unsigned>("line"), 4u) << "numbered as in the file";
    EXPECT_EQ(out[1].get<std::string>("decision"), "error");
    EXPECT_NE(out[1].get<std::string>("error").find("boom"), std::string::npos);
    EXPECT_EQ(out[2].get<std::string>("decision"), "none");
    // The bulk account's own plan; a registered user and an unroutable host are marked.
    EXPECT_EQ(out[3].get<std::string>("plan"), "wholesale");
    std::vector<pt::ptree> targets;
    for (const auto& [k, t] : out[3].get_child("targets")) {
        targets.push_back(t);
    }
    ASSERT_EQ(targets.size(), 2u);
    EXPECT_TRUE(targets[0].get<bool>("registered_user"));
    EXPECT_TRUE(targets[1].get<bool>("unroutable"));
}

TEST_F(route_check_test, a_refer_runs_the_transfer_plan_and_the_policy) {
    const auto out = run(
        "{\"refer_to\": \"sip:0900123@192.0.2.1\", \"from\": \"sip:bob@198.51.100.20\", \"account\": \"acme\"}\n"
        "{\"refer_to\": \"sip:carol@192.0.2.1\", \"account\": \"acme\"}\n"
        "{\"refer_to\": \"sip:carol@192.0.2.1\", \"account\": \"bulk\"}\n");
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].get<std::string>("kind"), "refer");
    EXPECT_EQ(out[0].get<std::string>("plan"), "transfer");
    EXPECT_EQ(out[0].get<std::string>("decision"), "dial");
    EXPECT_NE(out[0].get<std::string>("policy"), "allowed") << "0900 is on the deny list";
    EXPECT_EQ(out[1].get<std::string>("policy"), "allowed");
    // bulk has no transfer dialplan: declined as the appliance would.
    EXPECT_EQ(out[2].get<std::string>("decision"), "respond");
    EXPECT_EQ(out[2].get<int>("code"), 603);
}

TEST_F(route_check_test, unreadable_lines_are_named_and_counted) {
    unsigned bad = 0;
    const auto out = run(
        "not json\n"
        "{\"from\": \"sip:alice@192.0.2.10\"}\n"
        "{\"uri\": \"<sip:1@x>\"}\n"
        "{\"uri\": \"1@192.0.2.1\", \"source\": \"192.0.2.300\"}\n"
        "{\"uri\": \"1@192.0.2.1\", \"account\": \"nobody\"}\n"
        "{\"uri\": \"1@192.0.2.1\", \"plan\": \"missing\"}\n",
        &bad);
    ASSERT_EQ(out.size(), 6u);
    EXPECT_EQ(bad, 5u);
    for (size_t i = 0; i < 5; ++i) {
        EXPECT_FALSE(out[i].get<std::string>("error", "").empty()) << i;
    }
    EXPECT_EQ(out[5].get<std::string>("decision"), "respond") << "a plan that is not loaded: 500, as on the appliance";
    EXPECT_EQ(out[5].get<int>("code"), 500);
}

TEST_F(route_check_test, a_request_may_say_how_its_caller_was_verified) {
    unsigned bad = 0;
    const auto out = run("{\"uri\": \"sip:1234@192.0.2.1\", \"verstat\": \"TN-Validation-Failed\"}\n"
                         "{\"uri\": \"sip:1234@192.0.2.1\", \"verstat\": \"TN-Validation-Passed\"}\n"
                         "{\"uri\": \"sip:1234@192.0.2.1\", \"verstat\": \"passed\"}\n",
                         &bad);
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].get<std::string>("decision"), "respond");
    EXPECT_EQ(out[0].get<int>("code"), 607);
    EXPECT_EQ(out[1].get<std::string>("decision"), "dial");
    EXPECT_NE(out[2].get<std::string>("error", "").find("verstat"), std::string::npos);
    EXPECT_EQ(bad, 1u);
}

TEST_F(route_check_test, a_request_may_name_the_signer_of_a_call_that_passed) {
    unsigned bad = 0;
    const auto out = run("{\"uri\": \"sip:1234@192.0.2.1\", \"verstat\": \"TN-Validation-Passed\", "
                         "\"signer_spc\": \"1234\", \"origid\": \"o-1\", \"diverted_from\": \"15559000\"}\n"
                         "{\"uri\": \"sip:1234@192.0.2.1\", \"verstat\": \"TN-Validation-Failed\", \"signer_spc\": \"1234\"}\n"
                         "{\"uri\": \"sip:1234@192.0.2.1\", \"origid\": \"o-1\"}\n"
                         "{\"uri\": \"sip:1234@192.0.2.1\", \"verstat\": \"No-TN-Validation\", \"diverted_from\": \"1\"}\n",
                         &bad);
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].get<std::string>("decision"), "dial");
    EXPECT_NE(out[1].get<std::string>("error", "").find("signer_spc"), std::string::npos) << "nothing failed is vouched for";
    EXPECT_NE(out[2].get<std::string>("error", "").find("origid"), std::string::npos);
    EXPECT_NE(out[3].get<std::string>("error", "").find("diverted_from"), std::string::npos);
    EXPECT_EQ(bad, 3u);
}
