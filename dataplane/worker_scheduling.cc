#include "worker_scheduling.hh"

#include <pthread.h>
#include <sched.h>

namespace sf::dp {

std::optional<scheduling_policy> parse_scheduling_policy(std::string_view name) {
    if (name == "normal") {
        return scheduling_policy::normal;
    }
    if (name == "fifo") {
        return scheduling_policy::fifo;
    }
    if (name == "rr") {
        return scheduling_policy::rr;
    }
    return std::nullopt;
}

const char* name_of(scheduling_policy p) {
    switch (p) {
    case scheduling_policy::fifo:
        return "fifo";
    case scheduling_policy::rr:
        return "rr";
    case scheduling_policy::normal:
        break;
    }
    return "normal";
}

int apply_to_this_thread(const worker_scheduling& s) {
    if (s.policy == scheduling_policy::normal) {
        return 0;
    }
    sched_param param{};
    param.sched_priority = static_cast<int>(s.priority);
    return pthread_setschedparam(pthread_self(), s.policy == scheduling_policy::fifo ? SCHED_FIFO : SCHED_RR, &param);
}

std::string to_string(const worker_scheduling& s) {
    std::string out = name_of(s.policy);
    if (s.policy != scheduling_policy::normal) {
        out += " priority " + std::to_string(s.priority);
    }
    return out;
}

}  // namespace sf::dp
