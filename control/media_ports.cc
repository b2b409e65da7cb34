#include "media_ports.hh"

namespace sf::control {

media_ports::media_ports(uint16_t min, uint16_t max) : min_(min), used_((max - min + 1) / 2, false) {}

uint16_t media_ports::allocate() {
    const unsigned n = static_cast<unsigned>(used_.size());
    for (unsigned k = 0; k < n; ++k) {
        const unsigned i = (next_ + k) % n;
        if (!used_[i]) {
            used_[i] = true;
            next_ = (i + 1) % n;
            ++in_use_;
            return static_cast<uint16_t>(min_ + 2 * i);
        }
    }
    return 0;
}

void media_ports::release(uint16_t port) {
    if (port < min_ || (port - min_) % 2 != 0) {
        return;
    }
    const unsigned i = (port - min_) / 2;
    if (i < used_.size() && used_[i]) {
        used_[i] = false;
        --in_use_;
    }
}

}  // namespace sf::control
