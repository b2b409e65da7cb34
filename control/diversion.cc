#include "diversion.hh"

namespace sf::control {

bool valid_diversion_reason(std::string_view reason) {
    static constexpr std::string_view reasons[] = {"unknown",         "user-busy",      "no-answer",  "unavailable",
                                                   "unconditional",   "time-of-day",    "do-not-disturb",
                                                   "deflection",      "follow-me",      "out-of-service", "away"};
    for (const std::string_view r : reasons) {
        if (r == reason) {
            return true;
        }
    }
    return false;
}

std::string diversion_line(std::string_view called_user, std::string_view host, std::string_view reason) {
    return "Diversion: <sip:" + std::string(called_user) + "@" + std::string(host) + ">;reason=" +
           std::string(reason) + ";counter=1\r\n";
}

}  // namespace sf::control
