// JSON number texts and how JavaScript prints them (String(JSON.parse(t))),
// shared by the tree's (json_test) and the tape's (doc_test) tests: both
// parsers must give canonical JSON these texts.
#pragma once

#include <utility>

namespace er_test {

inline constexpr std::pair<const char*, const char*> kJsNumberCases[] = {
    {"0", "0"},
    {"-0", "0"},
    {"1.0", "1"},
    {"1.5", "1.5"},
    {"0.1", "0.1"},
    {"0.30000000000000004", "0.30000000000000004"},
    {"1e21", "1e+21"},
    {"1e20", "100000000000000000000"},
    {"123e-20", "1.23e-18"},
    {"0.000001", "0.000001"},
    {"0.0000001", "1e-7"},
    {"-2.5E3", "-2500"},
    {"9007199254740993", "9007199254740992"},
    {"1.7976931348623157e308", "1.7976931348623157e+308"},
    {"5e-324", "5e-324"},
    {"123456789012345680000", "123456789012345680000"},
    {"3.14159", "3.14159"},
    {"100", "100"},
    {"1e400", "null"},  // overflows to Infinity, which JSON.stringify prints as null
    {"-1e400", "null"},
    {"1E+2", "100"},
    {"100e-2", "1"},
    {"0.0", "0"},
    {"-0.0e5", "0"},
};

}  // namespace er_test
