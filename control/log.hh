#pragma once
/// @file
/// Control-plane logging to stderr (never used on a worker lcore).

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace sf::control {

__attribute__((format(printf, 1, 2))) inline void log_info(const char* fmt, ...) {
    std::timespec ts{};
    std::timespec_get(&ts, TIME_UTC);
    std::tm tm{};
    gmtime_r(&ts.tv_sec, &tm);
    std::fprintf(stderr, "%02d:%02d:%02d.%03ld sipferry: ", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
}

}  // namespace sf::control
