#include "cdr.hh"

#include <ctime>
#include <filesystem>
#include <stdexcept>

#include "json_writer.hh"

namespace sf::control {

namespace {

std::string iso8601(const call_record::time_point& t) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
    return buf;
}

void optional_number(json_writer& j, const char* name, std::optional<double> v) {
    j.key(name);
    if (v) {
        j.value(*v);
    } else {
        j.null();
    }
}

}  // namespace

void write_direction(json_writer& j, const char* name, const rtp_counts& c, const rtp_counts& other,
                     const std::string& codec) {
    j.key(name).begin_object().key("packets").value(c.packets).key("bytes").value(c.bytes);
    j.key("lost").value(c.lost());
    j.key("rtcp");
    if (c.receiver.reports == 0 && c.receiver.phone_reports == 0) {
        j.null();
    } else {
        j.begin_object().key("reports").value(c.receiver.reports);
        optional_number(j, "loss_pct", c.receiver.loss_pct());
        optional_number(j, "jitter_ms", c.receiver.jitter_ms());
        optional_number(j, "rtt_ms", c.receiver.rtt_ms());
        optional_number(j, "phone_mos", c.receiver.phone_mos());
        j.end_object();
    }
    optional_number(j, "mos", estimate_mos(codec, c.receiver, other.receiver));
    j.end_object();
}

std::string to_json(const call_record& r) {
    json_writer j;
    j.begin_object();
    j.key("call_id").value(r.call_id);
    j.key("b_call_id").value(r.b_call_id);
    j.key("from").value(r.from);
    j.key("to").value(r.to);
    j.key("caller").value(r.caller);
    j.key("callee").value(r.callee);
    j.key("provider").value(r.provider);
    j.key("result").value(r.result);
    j.key("reason").value(r.reason);
    j.key("start").value(iso8601(r.start));
    j.key("answer");
    if (r.answer) {
        j.value(iso8601(*r.answer));
    } else {
        j.null();
    }
    j.key("end").value(iso8601(r.end));
    const double duration =
        r.answer ? std::chrono::duration<double>(r.end - *r.answer).count() : 0.0;
    j.key("duration_s").value(duration);
    j.key("hangup").value(r.hangup);
    j.key("rtp").begin_object();
    write_direction(j, "caller_to_callee", r.caller_to_callee, r.callee_to_caller, r.codec);
    write_direction(j, "callee_to_caller", r.callee_to_caller, r.caller_to_callee, r.codec);
    j.end_object();
    j.key("codec").value(r.codec);
    j.key("t38").value(r.t38);
    j.key("segment").value(r.segment);
    j.key("parent");
    if (r.parent.empty()) {
        j.null();
    } else {
        j.value(r.parent);
    }
    j.key("transferred_by").value(r.transferred_by);
    j.key("billed_account").value(r.billed_account);
    j.key("picked_up").value(r.picked_up);
    j.key("identity").value(r.identity);
    j.key("privacy").value(r.privacy);
    j.key("verstat").value(r.verstat);
    j.key("attest").value(r.attest);
    j.key("signer_spc").value(r.signer_spc);
    j.key("origid").value(r.origid);
    j.key("diverted_from").value(r.diverted_from);
    j.end_object();
    return j.take();
}

cdr_writer::cdr_writer(const std::string& path, uint64_t max_bytes, unsigned files)
    : path_(path), max_bytes_(max_bytes), files_(files == 0 ? 1 : files) {
    if (!path.empty()) {
        file_.open(path, std::ios::app);
        if (!file_) {
            throw std::runtime_error("cdr.file: cannot open '" + path + "' for appending");
        }
        std::error_code ec;
        const auto sz = std::filesystem::file_size(path, ec);
        size_ = ec ? 0 : sz;
    }
}

void cdr_writer::rotate() {
    // Billing picks up closed files; the one being written is always `path`.
    file_.close();
    std::error_code ec;
    std::filesystem::remove(path_ + "." + std::to_string(files_), ec);
    for (unsigned i = files_; i > 1; --i) {
        std::filesystem::rename(path_ + "." + std::to_string(i - 1), path_ + "." + std::to_string(i), ec);
    }
    std::filesystem::rename(path_, path_ + ".1", ec);
    file_.open(path_, std::ios::app);
    size_ = 0;
    ++rotations_;
}

void cdr_writer::write(const call_record& r) {
    std::string line = to_json(r);
    if (file_.is_open()) {
        if (max_bytes_ != 0 && size_ != 0 && size_ + line.size() + 1 > max_bytes_) {
            rotate();
        }
        file_ << line << '\n';
        file_.flush();
        size_ += line.size() + 1;
    }
    recent_.push_back(std::move(line));
    if (recent_.size() > keep) {
        recent_.pop_front();
    }
    ++written_;
    for (const auto& [dir, other] : {std::pair{&r.caller_to_callee, &r.callee_to_caller},
                                     std::pair{&r.callee_to_caller, &r.caller_to_callee}}) {
        if (const std::optional<double> mos = estimate_mos(r.codec, dir->receiver, other->receiver)) {
            for (quality_tally* t : {&all_, r.provider.empty() ? nullptr : &by_provider_[r.provider]}) {
                if (t != nullptr) {
                    t->rated += 1;
                    t->poor += *mos < poor_mos;
                    t->mos_sum += *mos;
                    t->recent_mos = t->rated == 1 ? *mos : t->recent_mos + (*mos - t->recent_mos) / 16;
                }
            }
        }
    }
}

}  // namespace sf::control
