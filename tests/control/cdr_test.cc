// Call detail records: the JSON shape of one record and the writer (file + recent ring).

#include "cdr.hh"

#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace sf::control;
namespace pt = boost::property_tree;

namespace {

call_record::time_point at_ms(int64_t ms) {
    return call_record::time_point(std::chrono::milliseconds(ms));
}

call_record answered_call() {
    call_record r;
    r.call_id = "a-leg@192.0.2.10";
    r.b_call_id = "0123456789abcdef0123456789abcdef";
    r.from = "sip:alice@192.0.2.10";
    r.to = "sip:bob@192.0.2.1";
    r.caller = "192.0.2.10:5060";
    r.callee = "198.51.100.20:5060";
    r.provider = "carrier1";
    r.result = 200;
    r.reason = "OK";
    // 2024-01-02T03:04:05.678Z
    r.start = at_ms(1704164645678);
    r.answer = at_ms(1704164647000);
    r.end = at_ms(1704164659500);
    r.hangup = "caller";
    r.caller_to_callee = {500, 86000, 500, 500};
    r.callee_to_caller = {498, 85656, 500, 498};  // 2 of the callee's packets never arrived
    return r;
}

pt::ptree parse_json(const std::string& text) {
    std::istringstream in(text);
    pt::ptree tree;
    pt::read_json(in, tree);
    return tree;
}

std::string temp_path(const char* name) {
    return (std::filesystem::temp_directory_path() /
            (std::string("sf_cdr_test_") + std::to_string(::getpid()) + "_" + name))
        .string();
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    std::string l;
    while (std::getline(in, l)) {
        lines.push_back(l);
    }
    return lines;
}

}  // namespace

TEST(cdr, to_json_has_every_field) {
    const std::string j = to_json(answered_call());
    EXPECT_EQ(j.find('\n'), std::string::npos) << "one record is one line";
    pt::ptree t;
    ASSERT_NO_THROW(t = parse_json(j)) << j;
    EXPECT_EQ(t.get<std::string>("call_id"), "a-leg@192.0.2.10");
    EXPECT_EQ(t.get<std::string>("b_call_id"), "0123456789abcdef0123456789abcdef");
    EXPECT_EQ(t.get<std::string>("from"), "sip:alice@192.0.2.10");
    EXPECT_EQ(t.get<std::string>("to"), "sip:bob@192.0.2.1");
    EXPECT_EQ(t.get<std::string>("caller"), "192.0.2.10:5060");
    EXPECT_EQ(t.get<std::string>("callee"), "198.51.100.20:5060");
    EXPECT_EQ(t.get<std::string>("provider"), "carrier1");
    EXPECT_EQ(t.get<unsigned>("result"), 200u);
    EXPECT_EQ(t.get<std::string>("reason"), "OK");
    EXPECT_EQ(t.get<std::string>("start"), "2024-01-02T03:04:05.678Z");
    EXPECT_EQ(t.get<std::string>("answer"), "2024-01-02T03:04:07.000Z");
    EXPECT_EQ(t.get<std::string>("end"), "2024-01-02T03:04:19.500Z");
    EXPECT_DOUBLE_EQ(t.get<double>("duration_s"), 12.5);
    EXPECT_EQ(t.get<std::string>("hangup"), "caller");
    EXPECT_EQ(t.get<uint64_t>("rtp.caller_to_callee.packets"), 500u);
    EXPECT_EQ(t.get<uint64_t>("rtp.caller_to_callee.bytes"), 86000u);
    EXPECT_EQ(t.get<uint64_t>("rtp.callee_to_caller.packets"), 498u);
    EXPECT_EQ(t.get<uint64_t>("rtp.callee_to_caller.bytes"), 85656u);
    EXPECT_EQ(t.get<uint64_t>("rtp.caller_to_callee.lost"), 0u);
    EXPECT_EQ(t.get<uint64_t>("rtp.callee_to_caller.lost"), 2u);
    // Types as JSON sees them (property_tree loses them): numbers unquoted.
    EXPECT_NE(j.find("\"result\":200"), std::string::npos) << j;
    EXPECT_NE(j.find("\"duration_s\":12.500"), std::string::npos) << j;
    EXPECT_NE(j.find("\"packets\":500"), std::string::npos) << j;
    EXPECT_NE(j.find("\"t38\":false"), std::string::npos) << "a boolean, false for a voice call: " << j;
    call_record fax = answered_call();
    fax.t38 = true;
    EXPECT_NE(to_json(fax).find("\"t38\":true"), std::string::npos);
}

TEST(cdr, quality_is_what_each_receiver_reported_and_null_without_reports) {
    call_record r = answered_call();
    r.codec = "PCMU";
    // bob (receiving caller_to_callee) reported 25 % loss, 4 ms jitter, a 30 ms round trip;
    // alice reported nothing.
    r.caller_to_callee.receiver = {4, 4 * 64, 4 * 4000, 2, 2 * 30'000};
    const std::string j = to_json(r);
    pt::ptree t;
    ASSERT_NO_THROW(t = parse_json(j)) << j;
    EXPECT_EQ(t.get<std::string>("codec"), "PCMU");
    EXPECT_EQ(t.get<uint64_t>("rtp.caller_to_callee.rtcp.reports"), 4u);
    EXPECT_NEAR(t.get<double>("rtp.caller_to_callee.rtcp.loss_pct"), 25.0, 0.001);
    EXPECT_NEAR(t.get<double>("rtp.caller_to_callee.rtcp.jitter_ms"), 4.0, 0.001);
    EXPECT_NEAR(t.get<double>("rtp.caller_to_callee.rtcp.rtt_ms"), 30.0, 0.001);
    // d = 30 / 2 + 2 * 4 + 20 = 43 ms
    const double mos = mos_of(93.2 - 0.024 * 43 - 95.0 * 25 / 50.1);
    EXPECT_NEAR(t.get<double>("rtp.caller_to_callee.mos"), mos, 0.001);
    EXPECT_NE(j.find("\"callee_to_caller\":{\"packets\":498,\"bytes\":85656,\"lost\":2,\"rtcp\":null,\"mos\":null}"),
              std::string::npos)
        << j;
    EXPECT_NE(j.find("\"rtt_ms\":30.000,\"phone_mos\":null}"), std::string::npos) << "no RTCP XR: " << j;
    r.caller_to_callee.receiver.phone_reports = 2;
    r.caller_to_callee.receiver.phone_mos_sum = 39 + 41;
    EXPECT_NEAR(parse_json(to_json(r)).get<double>("rtp.caller_to_callee.rtcp.phone_mos"), 4.0, 1e-3);
    r.callee_to_caller.receiver.phone_reports = 1;  // XR alone, no report block: the object is there
    r.callee_to_caller.receiver.phone_mos_sum = 44;
    EXPECT_EQ(parse_json(to_json(r)).get<unsigned>("rtp.callee_to_caller.rtcp.reports"), 0u);
    r.callee_to_caller.receiver = {};
    r.caller_to_callee.receiver.phone_reports = 0;
    r.codec = "opus";
    EXPECT_NE(to_json(r).find("\"phone_mos\":null},\"mos\":null"), std::string::npos) << "opus is not rated";
    r.caller_to_callee.receiver.rtt_samples = 0;
    EXPECT_NE(to_json(r).find("\"rtt_ms\":null"), std::string::npos) << "no round-trip sample";
}

TEST(cdr, the_writer_counts_rated_and_poor_directions) {
    cdr_writer w("");
    call_record r = answered_call();
    w.write(r);  // no reports: nothing rated
    EXPECT_EQ(w.rated(), 0u);
    r.codec = "PCMA";
    r.caller_to_callee.receiver = {4, 4 * 64, 0, 0, 0};  // 25 % lost: MOS ~1.6
    r.callee_to_caller.receiver = {4, 0, 0, 0, 0};       // clean: MOS ~4.4
    w.write(r);
    EXPECT_EQ(w.rated(), 2u);
    EXPECT_EQ(w.poor(), 1u);
    r.codec = "opus";  // not rated
    w.write(r);
    EXPECT_EQ(w.rated(), 2u);
    // Per provider the calls were placed to (answered_call()'s is carrier1); none for "".
    ASSERT_EQ(w.quality_by_provider().size(), 1u);
    const auto& q = w.quality_by_provider().at("carrier1");
    EXPECT_EQ(q.rated, 2u);
    EXPECT_EQ(q.poor, 1u);
    EXPECT_NEAR(q.mos_sum, *estimate_mos("PCMA", r.caller_to_callee.receiver, r.callee_to_caller.receiver) +
                               *estimate_mos("PCMA", r.callee_to_caller.receiver, r.caller_to_callee.receiver),
                1e-9);
    r.codec = "PCMU";
    r.provider = "";
    w.write(r);
    EXPECT_EQ(w.rated(), 4u);
    EXPECT_EQ(w.quality_by_provider().at("carrier1").rated, 2u) << "a call to no provider counts only overall";
    // The recent MOS: the first direction's, then each new one weighs 1/16.
    cdr_writer x("");
    call_record c = answered_call();
    c.codec = "PCMU";
    c.callee_to_caller.receiver = {};
    c.caller_to_callee.receiver = {4, 0, 0, 0, 0};
    x.write(c);
    const double clean = *estimate_mos("PCMU", c.caller_to_callee.receiver, {});
    EXPECT_DOUBLE_EQ(x.quality_by_provider().at("carrier1").recent_mos, clean);
    c.caller_to_callee.receiver = {4, 4 * 64, 0, 0, 0};
    x.write(c);
    const double lossy = *estimate_mos("PCMU", c.caller_to_callee.receiver, {});
    EXPECT_NEAR(x.quality_by_provider().at("carrier1").recent_mos, clean + (lossy - clean) / 16, 1e-12);
}

TEST(cdr, unanswered_call_has_null_answer_and_zero_duration) {
    call_record r = answered_call();
    r.answer.reset();
    r.result = 486;
    r.reason = "Busy Here";
    r.hangup = "none";
    r.caller_to_callee = {};
    r.callee_to_caller = {};
    const std::string j = to_json(r);
    EXPECT_NE(j.find("\"answer\":null"), std::string::npos) << j;
    EXPECT_NE(j.find("\"duration_s\":0.000"), std::string::npos) << j;
    pt::ptree t;
    ASSERT_NO_THROW(t = parse_json(j)) << j;
    EXPECT_EQ(t.get<unsigned>("result"), 486u);
    EXPECT_EQ(t.get<std::string>("hangup"), "none");
    EXPECT_EQ(t.get<uint64_t>("rtp.caller_to_callee.packets"), 0u);
}

TEST(cdr, field_order_is_stable) {
    const std::string j = to_json(answered_call());
    const char* keys[] = {"\"call_id\"", "\"b_call_id\"", "\"from\"", "\"to\"", "\"caller\"", "\"callee\"",
                          "\"result\"", "\"reason\"", "\"start\"", "\"answer\"", "\"end\"", "\"duration_s\"",
                          "\"hangup\"", "\"rtp\"", "\"caller_to_callee\"", "\"callee_to_caller\""};
    size_t pos = 0;
    for (const char* k : keys) {
        const size_t p = j.find(k, pos);
        ASSERT_NE(p, std::string::npos) << k << " in " << j;
        pos = p + 1;
    }
}

TEST(cdr, escapes_quotes_backslashes_and_control_chars) {
    call_record r = answered_call();
    r.from = "\"Mallory\" <sip:m@x>\\";
    r.reason = std::string("line1\r\nline2\ttab\x01\x1f\x7f", 19);
    const std::string j = to_json(r);
    EXPECT_EQ(j.find('\n'), std::string::npos);
    EXPECT_EQ(j.find('\r'), std::string::npos);
    EXPECT_EQ(j.find('\x01'), std::string::npos);
    EXPECT_NE(j.find(R"("from":"\"Mallory\" <sip:m@x>\\")"), std::string::npos) << j;
    EXPECT_NE(j.find(R"("reason":"line1\r\nline2\ttab\u0001\u001f\u007f")"), std::string::npos) << j;
    pt::ptree t;
    ASSERT_NO_THROW(t = parse_json(j)) << j;
    EXPECT_EQ(t.get<std::string>("from"), r.from);
}

TEST(cdr, bytes_that_are_not_utf8_become_replacement_characters) {
    // Found by fuzz_b2bua: a Call-ID with a byte >= 0x80 made a record that no JSON reader takes.
    call_record r = answered_call();
    r.call_id = std::string("c1@a\xe9", 5);                  // Latin-1, not UTF-8
    r.from = "sip:\xc3\xa9t\xc3\xa9@x \xe2\x82\xac \xf0\x9f\x98\x80";  // "été", "€", an emoji: kept
    r.reason = std::string("\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82", 14);  // overlong, surrogate, > U+10FFFF, cut
    const std::string j = to_json(r);
    EXPECT_NE(j.find(R"("call_id":"c1@a\ufffd")"), std::string::npos) << j;
    EXPECT_NE(j.find("\"from\":\"sip:\xc3\xa9t\xc3\xa9@x \xe2\x82\xac \xf0\x9f\x98\x80\""), std::string::npos) << j;
    EXPECT_NE(j.find(R"("reason":"\ufffd\ufffd \ufffd\ufffd\ufffd \ufffd\ufffd\ufffd\ufffd \ufffd\ufffd")"),
              std::string::npos)
        << j;
    pt::ptree t;
    ASSERT_NO_THROW(t = parse_json(j)) << j;
}

TEST(cdr, writer_without_path_keeps_records_in_memory) {
    cdr_writer w("");
    w.write(answered_call());
    EXPECT_EQ(w.written(), 1u);
    ASSERT_EQ(w.recent().size(), 1u);
    EXPECT_EQ(w.recent().front(), to_json(answered_call()));
}

TEST(cdr, writer_appends_lines_to_the_file) {
    const std::string path = temp_path("append.jsonl");
    std::filesystem::remove(path);
    {
        std::ofstream pre(path);
        pre << "{\"earlier\":1}\n";
    }
    {
        cdr_writer w(path);
        call_record r = answered_call();
        w.write(r);
        r.call_id = "second";
        w.write(r);
        // Flushed per record: visible before the writer goes away.
        const auto lines = read_lines(path);
        ASSERT_EQ(lines.size(), 3u);
    }
    {
        cdr_writer w(path);  // reopening appends, never truncates
        call_record r = answered_call();
        r.call_id = "third";
        w.write(r);
    }
    const auto lines = read_lines(path);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], "{\"earlier\":1}");
    EXPECT_EQ(lines[1], to_json(answered_call()));
    EXPECT_EQ(parse_json(lines[2]).get<std::string>("call_id"), "second");
    EXPECT_EQ(parse_json(lines[3]).get<std::string>("call_id"), "third");
    std::filesystem::remove(path);
}

TEST(cdr, writer_keeps_at_most_256_recent) {
    const std::string path = temp_path("ring.jsonl");
    std::filesystem::remove(path);
    {
        cdr_writer w(path);
        call_record r = answered_call();
        for (int i = 0; i < 300; ++i) {
            r.call_id = "call-" + std::to_string(i);
            w.write(r);
        }
        EXPECT_EQ(w.written(), 300u);
        ASSERT_EQ(w.recent().size(), cdr_writer::keep);
        EXPECT_EQ(cdr_writer::keep, 256u);
        EXPECT_EQ(parse_json(w.recent().front()).get<std::string>("call_id"), "call-44");
        EXPECT_EQ(parse_json(w.recent().back()).get<std::string>("call_id"), "call-299");
    }
    // The file keeps all of them.
    EXPECT_EQ(read_lines(path).size(), 300u);
    std::filesystem::remove(path);
}

TEST(cdr, writer_throws_when_the_file_cannot_be_opened) {
    EXPECT_THROW(cdr_writer("/nonexistent-dir-sf/cdr.jsonl"), std::runtime_error);
}

TEST(cdr, transfer_chain_fields) {
    call_record r = answered_call();
    const pt::ptree first = parse_json(to_json(r));
    EXPECT_EQ(first.get<unsigned>("segment"), 1u);
    EXPECT_EQ(first.get<std::string>("parent"), "null");
    r.segment = 2;
    r.parent = "0123456789abcdef0123456789abcdef";
    r.transferred_by = "<sip:bob@198.51.100.20>";
    r.billed_account = "acme";
    const pt::ptree second = parse_json(to_json(r));
    EXPECT_EQ(second.get<unsigned>("segment"), 2u);
    EXPECT_EQ(second.get<std::string>("parent"), r.parent);
    EXPECT_EQ(second.get<std::string>("transferred_by"), r.transferred_by);
    EXPECT_EQ(second.get<std::string>("billed_account"), "acme");
}

TEST(cdr, a_pickup_names_the_destination_that_rang) {
    call_record r = answered_call();
    EXPECT_EQ(parse_json(to_json(r)).get<std::string>("picked_up"), "");
    r.picked_up = "198.51.100.20:5060";
    EXPECT_EQ(parse_json(to_json(r)).get<std::string>("picked_up"), "198.51.100.20:5060");
}

TEST(cdr, the_asserted_identity_and_privacy_are_recorded) {
    call_record r = answered_call();
    EXPECT_EQ(parse_json(to_json(r)).get<std::string>("identity"), "");
    EXPECT_EQ(parse_json(to_json(r)).get<std::string>("privacy"), "");
    r.identity = "+4930123456";
    r.privacy = "id;critical";
    const pt::ptree j = parse_json(to_json(r));
    EXPECT_EQ(j.get<std::string>("identity"), "+4930123456");
    EXPECT_EQ(j.get<std::string>("privacy"), "id;critical");
}

TEST(cdr, the_stir_shaken_verification_is_recorded) {
    call_record r = answered_call();
    EXPECT_EQ(parse_json(to_json(r)).get<std::string>("verstat"), "") << "a call that was not verified";
    EXPECT_EQ(parse_json(to_json(r)).get<std::string>("attest"), "");
    r.verstat = "TN-Validation-Passed";
    r.attest = "B";
    const pt::ptree j = parse_json(to_json(r));
    EXPECT_EQ(j.get<std::string>("verstat"), "TN-Validation-Passed");
    EXPECT_EQ(j.get<std::string>("attest"), "B");
}

TEST(cdr, writer_rotates_at_max_bytes_and_keeps_n_files) {
    const std::string path = temp_path("rotate.jsonl");
    for (const char* suffix : {"", ".1", ".2", ".3"}) {
        std::filesystem::remove(path + suffix);
    }
    const size_t line = to_json(answered_call()).size() + 1;
    {
        cdr_writer w(path, 2 * line, 2);  // two records per file, two rotated files kept
        for (int i = 0; i < 7; ++i) {
            w.write(answered_call());
        }
        EXPECT_EQ(w.rotations(), 3u);
        EXPECT_EQ(w.recent().size(), 7u) << "the API's memory is independent of the files";
    }
    EXPECT_EQ(read_lines(path).size(), 1u) << "the 7th record starts a fresh file";
    EXPECT_EQ(read_lines(path + ".1").size(), 2u);
    EXPECT_EQ(read_lines(path + ".2").size(), 2u);
    EXPECT_FALSE(std::filesystem::exists(path + ".3")) << "only `files` rotated files are kept";
    for (const char* suffix : {"", ".1", ".2"}) {
        std::filesystem::remove(path + suffix);
    }
}

TEST(cdr, loss_of_a_segment_is_the_difference_and_never_negative) {
    const rtp_counts start{100, 17200, 110, 100};   // 10 lost before the segment began
    const rtp_counts now{300, 51600, 320, 300};
    const rtp_counts seg = now - start;
    EXPECT_EQ(seg.packets, 200u);
    EXPECT_EQ(seg.bytes, 34400u);
    EXPECT_EQ(seg.rtp_expected, 210u);
    EXPECT_EQ(seg.rtp_received, 200u);
    EXPECT_EQ(seg.lost(), 10u);
    const rtp_counts dup{10, 1720, 10, 12};  // duplicates: more received than sent
    EXPECT_EQ(dup.lost(), 0u);
}
