// The native JSON-parse comparison (parse_bench.cpp): er::json::parse against
// nlohmann_json (DOM and no-op SAX) on one catalog-system state text.
#pragma once

#include <string>

namespace er_bench {

// Registers parse_er_json, parse_nlohmann_dom and parse_nlohmann_sax (the
// last two only when nlohmann_json was found). state_text must outlive the run.
void register_parse_benchmarks(const std::string* state_text);

}  // namespace er_bench
