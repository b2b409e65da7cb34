#pragma once
/// @file
/// Where the source tree is, for tests that read its files (configs/, lua/dialplans/).

#include <cstdlib>
#include <filesystem>

namespace sf::test {

/// SF_SOURCE_ROOT, else the first parent of the test binary (or the working directory) that
/// holds configs/lab.conf; empty when there is none.
inline std::filesystem::path source_root() {
    namespace fs = std::filesystem;
    if (const char* env = std::getenv("SF_SOURCE_ROOT")) {
        return env;
    }
    for (fs::path start : {fs::read_symlink("/proc/self/exe").parent_path(), fs::current_path()}) {
        for (fs::path p = start; !p.empty(); p = p.parent_path()) {
            if (fs::exists(p / "configs" / "lab.conf")) {
                return p;
            }
            if (p == p.root_path()) {
                break;
            }
        }
    }
    return {};
}

}  // namespace sf::test
