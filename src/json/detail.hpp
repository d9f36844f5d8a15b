// Internals shared by the JSON parser (doc.cpp) and writers (writer.cpp,
// value.cpp): byte classes, eight-bytes-at-a-time scanning and the output
// sink. Not part of the json API.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace er::json::detail {

// a[0, n) == b[0, n), eight bytes at a time: WebAssembly's libc memcmp
// compares byte by byte, and state compares are mostly short equal strings.
inline bool same_bytes(const char* a, const char* b, std::size_t n) {
  for (; n >= 8; n -= 8, a += 8, b += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
  }
  for (; n > 0; --n)
    if (*a++ != *b++) return false;
  return true;
}
// The same, for text with at least eight readable bytes after a + n and
// b + n (json::Doc's padding): the tail is one masked word compare.
inline bool same_padded(const char* a, const char* b, std::size_t n) {
  for (; n >= 8; n -= 8, a += 8, b += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
  }
  if (n == 0) return true;
  std::uint64_t x, y;
  std::memcpy(&x, a, 8);
  std::memcpy(&y, b, 8);
  return ((x ^ y) & ((std::uint64_t{1} << (8 * n)) - 1)) == 0;  // little-endian: the first n bytes
}
inline bool same_text(std::string_view a, std::string_view b) {
  return a.size() == b.size() && same_bytes(a.data(), b.data(), a.size());
}

// Bytes a JSON string copies as they are: printable ASCII other than '"' and
// '\\'. Scanning runs of them keeps the common case (ASCII keys and values)
// a tight loop, in the parser and the writer alike.
struct PlainBytes {
  bool plain[256] = {};
  constexpr PlainBytes() {
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  }
};
inline constexpr PlainBytes kPlain;

inline std::uint64_t load8(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Eight bytes at a time (SWAR): does the word hold a byte below 0x20, a '"'
// or a '\\' (and, when `high` counts, one >= 0x80)?
inline bool special8(std::uint64_t w, bool high) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, top = 0x8080808080808080ull;
  const auto zero_byte = [&](std::uint64_t v) { return (v - ones) & ~v & top; };
  std::uint64_t hit = ((w - ones * 0x20) & ~w & top) | zero_byte(w ^ (ones * '"')) | zero_byte(w ^ (ones * '\\'));
  if (high) hit |= w & top;
  return hit != 0;
}

// Appends to a std::string through a raw pointer. libstdc++ and libc++ keep
// std::string's members out of line, so per-character push_back/append
// calls dominated serialisation; this grows the string geometrically and
// trims it once at the end.
class Sink {
 public:
  explicit Sink(std::string& s, std::size_t hint) : s_(s), n_(s.size()), start_(n_) {
    s_.resize(n_ + hint);
    p_ = s_.data();
  }
  ~Sink() { s_.resize(n_); }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  [[gnu::always_inline]] void put(char c) {
    if (n_ == s_.size()) grow(1);
    p_[n_++] = c;
  }
  [[gnu::always_inline]] void put(const char* d, std::size_t k) {
    if (s_.size() - n_ < k) grow(k);
    std::memcpy(p_ + n_, d, k);
    n_ += k;
  }
  void put(std::string_view v) { put(v.data(), v.size()); }
  // Room for k more bytes, written through the returned pointer; commit(k).
  [[gnu::always_inline]] char* reserve(std::size_t k) {
    if (s_.size() - n_ < k) grow(k);
    return p_ + n_;
  }
  void commit(std::size_t k) { n_ += k; }

 private:
  // Geometric in what this sink wrote, not in the whole string: resize
  // zero-fills, and the string may already hold megabytes.
  void grow(std::size_t k) {
    s_.resize(n_ + std::max(k, n_ - start_) + 64);
    p_ = s_.data();
  }
  std::string& s_;
  std::size_t n_;
  std::size_t start_;
  char* p_;
};

// A JSON string literal for `s` (valid UTF-8), escaped as JSON.stringify does.
void put_string(std::string_view s, Sink& out);
// A finite number as JavaScript prints it; non-finite as null.
void put_number(double n, Sink& out);

}  // namespace er::json::detail
