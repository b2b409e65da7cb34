#pragma once
/// @file
/// The one rule of the STIR caches (certificates by x5u URL, CRLs by URL): bounded, and full means
/// the entry that expires first makes room, so a peer that makes up URLs cannot grow them.

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>

namespace sf::control {

/// Puts `value` under `key` in `cache` (a std::map whose values have `expires_s`), replacing what
/// the key held; a new key in a cache of `max` entries first drops the one that expires first.
template <class Map>
void put_bounded(Map& cache, const std::string& key, typename Map::mapped_type value, size_t max) {
    if (auto it = cache.find(key); it != cache.end()) {
        it->second = std::move(value);
        return;
    }
    if (cache.size() >= max) {
        cache.erase(std::min_element(cache.begin(), cache.end(), [](const auto& a, const auto& b) {
            return a.second.expires_s < b.second.expires_s;
        }));
    }
    cache.emplace(key, std::move(value));
}

}  // namespace sf::control
