// JavaScript's Number-to-string (ECMA-262 Number::toString) for canonical
// JSON. libc++ 14 (Emscripten 3.1.6) lacks floating std::to_chars, so the
// shortest round-trip digits come from printf: the correctly rounded
// 15-digit form is the shortest whenever the shortest has <= 15 digits,
// otherwise 16 or 17 digits are tried (subnormals search from one digit).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "json/value.hpp"

namespace er::json {

namespace {

// Writes the shortest round-trip decimal digits of |x| (x finite, non-zero)
// into digits (no dot, no trailing zeros) and returns the decimal exponent n
// such that x = 0.d1d2... * 10^n.
int shortest_digits(double x, char* digits, int& ndigits) {
  char buf[40];
  // Subnormals carry fewer significant bits: search from one digit up.
  const int first = x < 2.2250738585072014e-308 ? 1 : 15;
  for (int precision = first; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*e", precision - 1, x);
    if (precision == 17 || std::strtod(buf, nullptr) == x) break;
  }
  // buf: d.ddddde[+-]XX
  int n = 0;
  const char* p = buf;
  digits[n++] = *p++;
  if (*p == '.') {
    ++p;
    while (*p != 'e') digits[n++] = *p++;
  }
  const int exp10 = std::atoi(p + 1);
  while (n > 1 && digits[n - 1] == '0') --n;
  ndigits = n;
  return exp10 + 1;
}

}  // namespace

void write_number(double x, std::string& out) {
  if (!std::isfinite(x)) {
    out += "null";
    return;
  }
  if (x == 0) {
    out += '0';  // also -0
    return;
  }
  if (x < 0) {
    out += '-';
    x = -x;
  }
  // Integers below 2^53 print as themselves.
  if (x < 9007199254740992.0 && x == std::floor(x)) {
    char buf[24];
    int len = std::snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(x));
    out.append(buf, static_cast<std::size_t>(len));
    return;
  }
  char d[24];
  int k = 0;
  const int n = shortest_digits(x, d, k);
  if (k <= n && n <= 21) {
    out.append(d, static_cast<std::size_t>(k));
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(d, static_cast<std::size_t>(n));
    out += '.';
    out.append(d + n, static_cast<std::size_t>(k - n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out.append(d, static_cast<std::size_t>(k));
  } else {
    out += d[0];
    if (k > 1) {
      out += '.';
      out.append(d + 1, static_cast<std::size_t>(k - 1));
    }
    out += 'e';
    const int e = n - 1;
    out += e < 0 ? '-' : '+';
    out += std::to_string(e < 0 ? -e : e);
  }
}

}  // namespace er::json
