#pragma once
/// @file
/// sfgen's JSON report (stdout): trials, the search outcome, per-stream figures on request.

#include <string>
#include <vector>

#include "trial.hh"

namespace sf::gen {

/// One trial as a JSON object; `per_stream` adds each stream's counts.
std::string trial_json(const trial_result& r, const std::vector<stream>& streams, bool per_stream);

}  // namespace sf::gen
