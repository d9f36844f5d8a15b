// Shared pieces of the libFuzzer targets: a check that aborts with a message
// (libFuzzer then saves the input as a crash), reference implementations the
// core is compared against (UTF-16 key order, JavaScript number formatting,
// naive secret masking), and a generator that turns fuzz bytes into JSON
// values built in memory, so most inputs reach the logic instead of the
// parser's error paths.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "json/doc.hpp"
#include "json/value.hpp"

namespace er::fuzz {

[[noreturn]] inline void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "\n== property violated: %s\n%s\n", what, detail.c_str());
  std::abort();
}

#define FUZZ_CHECK(cond, detail)                    \
  do {                                              \
    if (!(cond)) ::er::fuzz::fail(#cond, (detail)); \
  } while (0)

// ------------------------------------------------------- UTF-16 key order

// Valid UTF-8 (as the parser guarantees) to UTF-16 code units.
inline std::u16string utf16(std::string_view s) {
  std::u16string out;
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    unsigned cp;
    std::size_t len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if (c < 0xE0) {
      cp = c & 0x1F;
      len = 2;
    } else if (c < 0xF0) {
      cp = c & 0x0F;
      len = 3;
    } else {
      cp = c & 0x07;
      len = 4;
    }
    for (std::size_t k = 1; k < len && i + k < s.size(); ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xD800 + (cp >> 10));
      out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

inline bool utf16_less(std::string_view a, std::string_view b) { return utf16(a) < utf16(b); }

// Every object in `v` is sorted by UTF-16 code units with unique keys.
inline bool objects_sorted(const json::Value& v, std::string& where) {
  if (v.is_array()) {
    for (const auto& item : v.as_array())
      if (!objects_sorted(item, where)) return false;
  } else if (v.is_object()) {
    const auto& m = v.as_object();
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (i > 0 && !utf16_less(m[i - 1].key, m[i].key)) {
        where = "keys out of order: " + json::to_string(json::Value(m[i - 1].key)) + " then " +
                json::to_string(json::Value(m[i].key));
        return false;
      }
      if (!objects_sorted(m[i].value, where)) return false;
    }
  }
  return true;
}

// ------------------------------------------------ JavaScript number output

// Number::toString (ECMA-262 6.1.6.1.20) from the shortest round-trip digits
// of std::to_chars, an implementation independent of src/json/number.cpp.
inline std::string js_number(double x) {
  if (!std::isfinite(x)) return "null";
  if (x == 0) return "0";
  std::string out;
  if (x < 0) {
    out += '-';
    x = -x;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));  // d[.ddd]e[+-]XX
  const std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  const int k = static_cast<int>(digits.size());
  const int n = std::atoi(std::string(sci.substr(e + 1)).c_str()) + 1;
  if (k <= n && n <= 21) {
    out += digits + std::string(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<std::size_t>(n)) + "." + digits.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0." + std::string(static_cast<std::size_t>(-n), '0') + digits;
  } else {
    out += digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += 'e';
    out += n - 1 < 0 ? '-' : '+';
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

// ------------------------------------------------------- reference masking

// Every occurrence of every secret, overlapping occurrences merged (touching
// ones stay apart), each merged span replaced by "****".
inline std::string naive_mask(std::string_view text, const std::vector<std::string>& secrets) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (const auto& s : secrets) {
    if (s.empty()) continue;
    for (std::size_t at = text.find(s); at != std::string_view::npos; at = text.find(s, at + 1))
      spans.emplace_back(at, at + s.size());
  }
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<std::size_t, std::size_t>> merged;
  for (const auto& sp : spans) {
    if (!merged.empty() && sp.first < merged.back().second)
      merged.back().second = std::max(merged.back().second, sp.second);
    else
      merged.push_back(sp);
  }
  std::string out;
  std::size_t pos = 0;
  for (const auto& [b, e] : merged) {
    out.append(text.substr(pos, b - pos));
    out += "****";
    pos = e;
  }
  out.append(text.substr(pos));
  return out;
}

// A secret made only of '*' is part of the mask itself; one that merely
// contains '*' can be completed by a mask next to it ("c*" in "c****" after
// masking "cab" with secrets {"ab","c*"}) without revealing anything, so
// the plain "never appears" oracle holds for secrets without '*'. The exact
// comparison with naive_mask covers the others.
inline bool plain_secret(std::string_view s) { return !s.empty() && s.find('*') == std::string_view::npos; }

// ------------------------------------------------------- value generator

// Valid UTF-8 text built from a small alphabet that hits the interesting
// cases: ASCII, escapes, 2/3/4-byte sequences, U+E000..U+FFFF (which sort
// above astral characters in UTF-16), and pieces of `pool` (secrets).
inline std::string gen_string(FuzzedDataProvider& in, const std::vector<std::string>& pool, std::size_t max_parts = 6) {
  static const char* const kPieces[] = {"a",
                                        "b",
                                        "Z",
                                        "0",
                                        " ",
                                        "\"",
                                        "\\",
                                        "\n",
                                        "\x01",
                                        "*",
                                        "__proto__",
                                        "constructor",
                                        "\xc3\xa9" /* é */,
                                        "\xe2\x82\xac" /* € */,
                                        "\xef\xbd\x9e" /* U+FF5E */,
                                        "\xee\x80\x80" /* U+E000 */,
                                        "\xf0\x9f\x98\x80" /* U+1F600 */,
                                        "null"};
  std::string s;
  const std::size_t parts = in.ConsumeIntegralInRange<std::size_t>(0, max_parts);
  for (std::size_t i = 0; i < parts && in.remaining_bytes() > 0; ++i) {
    const unsigned pick = in.ConsumeIntegralInRange<unsigned>(0, 3);
    if (pick == 0 && !pool.empty()) {
      const auto& p = pool[in.ConsumeIntegralInRange<std::size_t>(0, pool.size() - 1)];
      // a whole secret, or a prefix of one (partial matches across cuts)
      const std::size_t len = in.ConsumeBool() ? p.size() : in.ConsumeIntegralInRange<std::size_t>(0, p.size());
      std::size_t cut = len;
      while (cut > 0 && cut < p.size() && (static_cast<unsigned char>(p[cut]) & 0xC0) == 0x80) --cut;
      s.append(p, 0, cut);
    } else if (pick == 1) {
      s += kPieces[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kPieces) - 1)];
    } else {
      const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(0, 40);
      for (std::size_t k = 0; k < n; ++k) s += static_cast<char>('a' + in.ConsumeIntegralInRange<int>(0, 25));
    }
  }
  return s;
}

inline std::string gen_key(FuzzedDataProvider& in, const std::vector<std::string>& pool) {
  // A small key space, so two generated objects share fields.
  static const char* const kKeys[] = {"a",           "b", "name",     "description",  "metadata",         "__proto__",
                                      "constructor", "",  "\xc3\xa9", "\xef\xbd\x9e", "\xf0\x9f\x98\x80", "B",
                                      "tags",        "n"};
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) return gen_string(in, pool, 3);
  return kKeys[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kKeys) - 1)];
}

inline double gen_number(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 6)) {
    case 0:
      return 0.0;
    case 1:
      return -0.0;
    case 2:
      return static_cast<double>(in.ConsumeIntegralInRange<int>(-3, 3));
    case 3:
      return HUGE_VAL;  // what "1e400" parses to; canonical null
    case 4:
      return 0.1 * in.ConsumeIntegralInRange<int>(-100, 100);
    default: {
      double d = in.ConsumeFloatingPoint<double>();
      return std::isnan(d) ? 1.5 : d;  // JSON has no NaN (parse never makes one)
    }
  }
}

inline json::Value gen_value(FuzzedDataProvider& in, const std::vector<std::string>& pool, int depth = 0) {
  const int max_kind = depth >= 4 ? 3 : 5;
  switch (in.ConsumeIntegralInRange<int>(0, max_kind)) {
    case 0:
      return json::Value(nullptr);
    case 1:
      return json::Value(in.ConsumeBool());
    case 2:
      return json::Value(gen_number(in));
    case 3:
      return json::Value(gen_string(in, pool));
    case 4: {
      json::Array a;
      const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(0, 4);
      for (std::size_t i = 0; i < n && in.remaining_bytes() > 0; ++i) a.push_back(gen_value(in, pool, depth + 1));
      return json::Value(std::move(a));
    }
    default: {
      json::Object o;
      const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(0, 5);
      for (std::size_t i = 0; i < n && in.remaining_bytes() > 0; ++i)
        o.push_back(json::Member{gen_key(in, pool), gen_value(in, pool, depth + 1)});
      return json::Value(std::move(o));  // sorts, last duplicate wins
    }
  }
}

inline json::Value gen_object(FuzzedDataProvider& in, const std::vector<std::string>& pool) {
  json::Value v = gen_value(in, pool, 1);
  if (v.is_object()) return v;
  json::Object o;
  o.push_back(json::Member{gen_key(in, pool), std::move(v)});
  return json::Value(std::move(o));
}

// True when the document holds a number that is not finite ("1e400",
// canonical null; nlohmann_json refuses such text).
inline bool has_non_finite(const json::Doc& d) {
  for (std::uint32_t i = 0; i < d.node_count(); ++i)
    if (d.type(i) == json::Type::Number && !std::isfinite(d.number(i))) return true;
  return false;
}

// Every string and key in `v`, for the secret oracles.
inline void strings_of(const json::Value& v, std::vector<std::string_view>& out) {
  if (v.is_string()) {
    out.push_back(v.as_string());
  } else if (v.is_array()) {
    for (const auto& item : v.as_array()) strings_of(item, out);
  } else if (v.is_object()) {
    for (const auto& m : v.as_object()) {
      out.push_back(m.key);
      strings_of(m.value, out);
    }
  }
}

}  // namespace er::fuzz
