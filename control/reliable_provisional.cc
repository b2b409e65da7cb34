#include "reliable_provisional.hh"

#include "sip_types.hh"

namespace sf::control {

uint32_t first_rseq() {
    // Up to 2^30: the first value is within 1 .. 2^31-1 and counting up never wraps.
    return 1 + static_cast<uint32_t>(random_u64() % (1u << 30));
}

}  // namespace sf::control
