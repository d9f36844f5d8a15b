// JSON string and number output shared by every writer (Value, Doc).
#include <cmath>

#include "json/detail.hpp"
#include "json/value.hpp"

namespace er::json {

namespace detail {

void put_string(std::string_view s, Sink& out) {
  static const char* const kHex = "0123456789abcdef";
  out.put('"');
  const char* p = s.data();
  const char* end = p + s.size();
  while (p != end) {
    const char* run = p;
    // Printable ASCII and all UTF-8 bytes (>= 0x80) are copied as they are.
    while (end - p >= 8 && !special8(load8(p), false)) p += 8;
    while (p != end && (kPlain.plain[static_cast<unsigned char>(*p)] || static_cast<unsigned char>(*p) >= 0x80)) ++p;
    out.put(run, static_cast<std::size_t>(p - run));
    if (p == end) break;
    const auto c = static_cast<unsigned char>(*p++);
    switch (c) {
      case '"':
        out.put("\\\"", 2);
        break;
      case '\\':
        out.put("\\\\", 2);
        break;
      case '\b':
        out.put("\\b", 2);
        break;
      case '\f':
        out.put("\\f", 2);
        break;
      case '\n':
        out.put("\\n", 2);
        break;
      case '\r':
        out.put("\\r", 2);
        break;
      case '\t':
        out.put("\\t", 2);
        break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.put(esc, 6);
      }
    }
  }
  out.put('"');
}

void put_number(double n, Sink& out) {
  char* at = out.reserve(kNumberChars);
  out.commit(format_number(n, at));
}

}  // namespace detail

void write_string(std::string_view s, std::string& out) {
  detail::Sink sink(out, s.size() + 2);
  detail::put_string(s, sink);
}

}  // namespace er::json
