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

std::size_t format_number(double x, char* buf) {
  char* o = buf;
  if (!std::isfinite(x)) {
    std::memcpy(o, "null", 4);
    return 4;
  }
  if (x == 0) {
    *o = '0';  // also -0
    return 1;
  }
  if (x < 0) {
    *o++ = '-';
    x = -x;
  }
  // Integers below 2^53 print as themselves.
  if (x < 9007199254740992.0 && x == std::floor(x)) {
    char digits[20];
    char* e = digits + sizeof digits;
    char* b = e;
    auto u = static_cast<unsigned long long>(x);
    do {
      *--b = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    std::memcpy(o, b, static_cast<std::size_t>(e - b));
    return static_cast<std::size_t>(o - buf) + static_cast<std::size_t>(e - b);
  }
  char d[24];
  int k = 0;
  const int n = shortest_digits(x, d, k);
  auto put = [&](const char* p, int len) {
    std::memcpy(o, p, static_cast<std::size_t>(len));
    o += len;
  };
  auto zeros = [&](int len) {
    std::memset(o, '0', static_cast<std::size_t>(len));
    o += len;
  };
  if (k <= n && n <= 21) {
    put(d, k);
    zeros(n - k);
  } else if (0 < n && n <= 21) {
    put(d, n);
    *o++ = '.';
    put(d + n, k - n);
  } else if (-6 < n && n <= 0) {
    put("0.", 2);
    zeros(-n);
    put(d, k);
  } else {
    *o++ = d[0];
    if (k > 1) {
      *o++ = '.';
      put(d + 1, k - 1);
    }
    *o++ = 'e';
    const int e = n - 1;
    *o++ = e < 0 ? '-' : '+';
    o += std::snprintf(o, 8, "%d", e < 0 ? -e : e);
  }
  return static_cast<std::size_t>(o - buf);
}

void write_number(double x, std::string& out) {
  char buf[kNumberChars];
  out.append(buf, format_number(x, buf));
}

}  // namespace er::json
