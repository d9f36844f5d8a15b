#include "json/value.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <cstdlib>
#include <cstring>
#include <iterator>

namespace er::json {

// ---------------------------------------------------------------- objects

bool key_less_slow(std::string_view a, std::string_view b) {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i == n) return a.size() < b.size();
  // Back up to the first byte of the differing code point (shared prefix).
  std::size_t start = i;
  while (start > 0 && (static_cast<unsigned char>(a[start]) & 0xC0) == 0x80) --start;
  const auto la = static_cast<unsigned char>(a[start]);
  const auto lb = static_cast<unsigned char>(b[start]);
  // Astral characters (4-byte UTF-8) are surrogate pairs in UTF-16 and sort
  // below U+E000..U+FFFF (3-byte sequences led by 0xEE/0xEF).
  const bool a_astral = la >= 0xF0, b_astral = lb >= 0xF0;
  const bool a_high_bmp = la == 0xEE || la == 0xEF, b_high_bmp = lb == 0xEE || lb == 0xEF;
  if (a_astral && b_high_bmp) return true;
  if (b_astral && a_high_bmp) return false;
  return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
}

namespace {

std::vector<std::uint32_t>& order_scratch() {
  thread_local std::vector<std::uint32_t> order;
  return order;
}

// The one sort of object members, for the parser and normalize_members: an
// index of m[0, n) in key_less order, of equal keys only the last (as
// JSON.parse keeps it). An index is sorted (insertion sort: objects are
// small) so that each member moves once. Returns false, leaving `order`
// alone, when the members already hold the invariant.
bool member_order(const Member* m, std::size_t n, std::vector<std::uint32_t>& order) {
  bool sorted = true;
  for (std::size_t i = 1; i < n && sorted; ++i) sorted = key_less(m[i - 1].key, m[i].key);
  if (sorted) return false;
  order.resize(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
  if (n <= 32) {
    for (std::size_t i = 1; i < n; ++i) {
      const std::uint32_t x = order[i];
      std::size_t j = i;
      for (; j > 0 && key_less(m[x].key, m[order[j - 1]].key); --j) order[j] = order[j - 1];
      order[j] = x;
    }
  } else {
    std::stable_sort(order.begin(), order.end(),
                     [m](std::uint32_t a, std::uint32_t b) { return key_less(m[a].key, m[b].key); });
  }
  // Equal keys are adjacent, in input order (stable): keep the last of each run.
  std::size_t out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 1 < n && m[order[i]].key == m[order[i + 1]].key) continue;
    order[out++] = order[i];
  }
  order.resize(out);
  return true;
}

}  // namespace

void normalize_members(Object& members) {
  auto& order = order_scratch();
  if (!member_order(members.data(), members.size(), order)) return;
  Object sorted;
  sorted.reserve(order.size());
  for (const std::uint32_t i : order) sorted.push_back(std::move(members[i]));
  members = std::move(sorted);
}

Value::Value(Object o) {
  normalize_members(o);
  v_ = std::move(o);
}

namespace {
template <typename Obj>
auto lower_bound_key(Obj& members, std::string_view key) {
  return std::lower_bound(members.begin(), members.end(), key,
                          [](const Member& m, std::string_view k) { return key_less(m.key, k); });
}
}  // namespace

const Value* Value::find(std::string_view key) const {
  if (!is_object()) return nullptr;
  const auto& members = as_object();
  auto it = lower_bound_key(members, key);
  return it != members.end() && it->key == key ? &it->value : nullptr;
}

Value* Value::find(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->find(key));
}

void Value::set(std::string key, Value value) {
  auto& members = as_object();
  auto it = lower_bound_key(members, key);
  if (it != members.end() && it->key == key) {
    it->value = std::move(value);
  } else {
    members.insert(it, Member{std::move(key), std::move(value)});
  }
}

bool Value::erase(std::string_view key) {
  auto& members = as_object();
  auto it = lower_bound_key(members, key);
  if (it == members.end() || it->key != key) return false;
  members.erase(it);
  return true;
}

// ---------------------------------------------------------------- parser

namespace {

// Bytes a JSON string copies as they are: printable ASCII other than '"' and
// '\\'. Scanning runs of them with one table lookup per byte keeps the
// common case (ASCII keys and values) a tight loop, in the parser and the
// writer alike.
struct PlainBytes {
  bool plain[256] = {};
  constexpr PlainBytes() {
    for (int c = 0x20; c < 0x80; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainBytes kPlain;

// Eight bytes at a time (SWAR): does the word hold a byte below 0x20, a '"'
// or a '\\' (and, when high counts, one >= 0x80)? Strings are mostly long
// plain runs, and the byte loop was the top of the profile.
inline std::uint64_t load8(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline bool special8(std::uint64_t w, bool high) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, top = 0x8080808080808080ull;
  const auto zero_byte = [&](std::uint64_t v) { return (v - ones) & ~v & top; };
  std::uint64_t hit = ((w - ones * 0x20) & ~w & top) | zero_byte(w ^ (ones * '"')) | zero_byte(w ^ (ones * '\\'));
  if (high) hit |= w & top;
  return hit != 0;
}

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : p_(text.data()), end_(text.data() + text.size()), begin_(text.data()), limits_(limits) {}

  // An error leaves partial containers on the shared stacks: drop them.
  ~Parser() {
    member_stack_.resize(member_base_);
    item_stack_.resize(item_base_);
  }

  Result<Value> run() {
    skip_ws();
    Value v;
    if (!parse_value(v, 0)) return std::move(*error_);
    skip_ws();
    if (p_ != end_) return fail(Code::ER_BAD_JSON, "unexpected text after the JSON value");
    return v;
  }

 private:
  const char* p_;
  const char* end_;
  const char* begin_;
  const Limits& limits_;
  std::optional<Error> error_;
  // Members and items collect on these stacks while a container is open and
  // move into an exactly sized vector when it closes: one allocation per
  // container instead of a growth series. The stacks outlive the parser so
  // their capacity is reused by every parse.
  static Object& member_stack() {
    thread_local Object stack;
    return stack;
  }
  static Array& item_stack() {
    thread_local Array stack;
    return stack;
  }
  Object& member_stack_ = member_stack();
  Array& item_stack_ = item_stack();
  const std::size_t member_base_ = member_stack_.size();
  const std::size_t item_base_ = item_stack_.size();

  Error fail(Code code, const char* what) {
    std::string msg = "invalid JSON at offset ";
    if (code == Code::ER_TOO_DEEP) msg = "JSON nests deeper than the limit of " + std::to_string(limits_.max_depth) + " at offset ";
    if (code == Code::ER_LONE_SURROGATE) msg = "string holds an unpaired UTF-16 surrogate at offset ";
    msg += std::to_string(p_ - begin_);
    if (code == Code::ER_BAD_JSON) {
      msg += ": ";
      msg += what;
    }
    return make_error(code, std::move(msg));
  }
  bool set_error(Code code, const char* what) {
    if (!error_) error_ = fail(code, what);
    return false;
  }

  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(const char* word, std::size_t len) {
    if (static_cast<std::size_t>(end_ - p_) < len || std::memcmp(p_, word, len) != 0) return set_error(Code::ER_BAD_JSON, "unexpected character");
    p_ += len;
    return true;
  }

  bool parse_value(Value& out, int depth) {
    if (p_ == end_) return set_error(Code::ER_BAD_JSON, "unexpected end of input");
    switch (*p_) {
      case '{':
        return parse_object(out, depth + 1);
      case '[':
        return parse_array(out, depth + 1);
      case '"': {
        std::string s;
        if (!parse_string(s)) return false;
        out.assign_string(std::move(s));
        return true;
      }
      case 't':
        if (!literal("true", 4)) return false;
        out.assign_bool(true);
        return true;
      case 'f':
        if (!literal("false", 5)) return false;
        out.assign_bool(false);
        return true;
      case 'n':
        if (!literal("null", 4)) return false;
        out = Value(nullptr);
        return true;
      default:
        return parse_number(out);
    }
  }

  bool parse_object(Value& out, int depth) {
    if (depth > limits_.max_depth) return set_error(Code::ER_TOO_DEEP, "");
    ++p_;  // '{'
    const std::size_t base = member_stack_.size();
    skip_ws();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      out = Value(Object{});
      return true;
    }
    for (;;) {
      skip_ws();
      if (p_ == end_ || *p_ != '"') return set_error(Code::ER_BAD_JSON, "expected a string key");
      member_stack_.emplace_back();
      if (!parse_string(member_stack_.back().key)) return false;
      skip_ws();
      if (p_ == end_ || *p_ != ':') return set_error(Code::ER_BAD_JSON, "expected ':'");
      ++p_;
      skip_ws();
      if (p_ != end_ && *p_ != '{' && *p_ != '[') {
        // A scalar cannot grow the stack: parse it in place.
        if (!parse_value(member_stack_.back().value, depth)) return false;
      } else {
        Value v;
        if (!parse_value(v, depth)) return false;
        member_stack_.back().value = std::move(v);  // the stack may have grown meanwhile
      }
      skip_ws();
      if (p_ == end_) return set_error(Code::ER_BAD_JSON, "unexpected end of input in object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        break;
      }
      return set_error(Code::ER_BAD_JSON, "expected ',' or '}'");
    }
    sorted_members(base, out);
    return true;
  }

  // Moves the members collected on the stack from base into out as a sorted
  // object (member_order: each member moves once, the last of equal keys wins).
  void sorted_members(std::size_t base, Value& out) {
    const std::size_t n = member_stack_.size() - base;
    Member* m = member_stack_.data() + base;
    auto& order = order_scratch();
    Object members;
    if (!member_order(m, n, order)) {
      members.reserve(n);
      for (std::size_t i = 0; i < n; ++i) members.push_back(std::move(m[i]));
    } else {
      members.reserve(order.size());
      for (const std::uint32_t i : order) members.push_back(std::move(m[i]));
    }
    member_stack_.resize(base);
    out = Value::sorted_object(std::move(members));
  }

  bool parse_array(Value& out, int depth) {
    if (depth > limits_.max_depth) return set_error(Code::ER_TOO_DEEP, "");
    ++p_;  // '['
    const std::size_t base = item_stack_.size();
    skip_ws();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      out = Value(Array{});
      return true;
    }
    for (;;) {
      skip_ws();
      Value v;
      if (!parse_value(v, depth)) return false;
      item_stack_.push_back(std::move(v));
      skip_ws();
      if (p_ == end_) return set_error(Code::ER_BAD_JSON, "unexpected end of input in array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        break;
      }
      return set_error(Code::ER_BAD_JSON, "expected ',' or ']'");
    }
    Array items(std::make_move_iterator(item_stack_.begin() + static_cast<std::ptrdiff_t>(base)),
                std::make_move_iterator(item_stack_.end()));
    item_stack_.resize(base);
    out.assign_array(std::move(items));
    return true;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool read_hex4(unsigned& cu) {
    if (end_ - p_ < 4) return set_error(Code::ER_BAD_JSON, "truncated \\u escape");
    cu = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex(p_[i]);
      if (h < 0) return set_error(Code::ER_BAD_JSON, "bad \\u escape");
      cu = cu * 16 + static_cast<unsigned>(h);
    }
    p_ += 4;
    return true;
  }

  static void append_utf8(std::string& s, unsigned cp) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Validates one UTF-8 sequence starting at p_ (a byte >= 0x80).
  bool utf8_sequence_length(std::size_t& len) {
    const auto* u = reinterpret_cast<const unsigned char*>(p_);
    const std::size_t avail = static_cast<std::size_t>(end_ - p_);
    unsigned c = u[0];
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return set_error(Code::ER_BAD_JSON, "invalid UTF-8");
    }
    if (avail < len) return set_error(Code::ER_BAD_JSON, "invalid UTF-8");
    for (std::size_t i = 1; i < len; ++i) {
      if ((u[i] & 0xC0) != 0x80) return set_error(Code::ER_BAD_JSON, "invalid UTF-8");
      cp = (cp << 6) | (u[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return set_error(Code::ER_BAD_JSON, "invalid UTF-8 (overlong)");
    if (cp >= 0xD800 && cp <= 0xDFFF) return set_error(Code::ER_LONE_SURROGATE, "");
    return true;
  }

  bool parse_string(std::string& s) {
    ++p_;  // opening quote
    const char* run = p_;
    for (;;) {
      while (end_ - p_ >= 8 && !special8(load8(p_), true)) p_ += 8;
      while (p_ != end_ && kPlain.plain[static_cast<unsigned char>(*p_)]) ++p_;
      if (p_ == end_) return set_error(Code::ER_BAD_JSON, "unterminated string");
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        s.append(run, p_);
        ++p_;
        return true;
      }
      if (c < 0x20) return set_error(Code::ER_BAD_JSON, "control character in string");
      if (c >= 0x80) {
        std::size_t len = 0;
        if (!utf8_sequence_length(len)) return false;
        p_ += len;
        continue;
      }
      if (c != '\\') {
        ++p_;
        continue;
      }
      s.append(run, p_);
      ++p_;
      if (p_ == end_) return set_error(Code::ER_BAD_JSON, "unterminated escape");
      char e = *p_++;
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          unsigned cu;
          if (!read_hex4(cu)) return false;
          if (cu >= 0xD800 && cu <= 0xDBFF) {
            unsigned lo = 0;
            if (end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
              p_ += 2;
              if (!read_hex4(lo)) return false;
              if (lo < 0xDC00 || lo > 0xDFFF) {
                p_ -= 6;
                return set_error(Code::ER_LONE_SURROGATE, "");
              }
              append_utf8(s, 0x10000 + ((cu - 0xD800) << 10) + (lo - 0xDC00));
            } else {
              return set_error(Code::ER_LONE_SURROGATE, "");
            }
          } else if (cu >= 0xDC00 && cu <= 0xDFFF) {
            p_ -= 6;
            return set_error(Code::ER_LONE_SURROGATE, "");
          } else {
            append_utf8(s, cu);
          }
          break;
        }
        default:
          --p_;
          return set_error(Code::ER_BAD_JSON, "bad escape");
      }
      run = p_;
    }
  }

  bool parse_number(Value& out) {
    const char* start = p_;
    bool neg = false;
    if (*p_ == '-') {
      neg = true;
      ++p_;
    }
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return set_error(Code::ER_BAD_JSON, "unexpected character");
    // Significant digits (up to 19) and the decimal exponent they carry.
    std::uint64_t mant = 0;
    int sig = 0;       // significant digits seen (leading zeros excluded)
    int dropped = 0;   // integer digits beyond 19 (scale the exponent)
    int exp10 = 0;
    auto digit = [&](char c, bool fraction) {
      if (sig == 0 && c == '0') {
        if (fraction) --exp10;
        return;
      }
      if (sig < 19) {
        mant = mant * 10 + static_cast<unsigned>(c - '0');
        ++sig;
        if (fraction) --exp10;
      } else {
        sig = 20;  // too many digits for the fast path
        if (!fraction) ++dropped;
      }
    };
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') digit(*p_++, false);
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return set_error(Code::ER_BAD_JSON, "digit expected after '.'");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') digit(*p_++, true);
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      bool eneg = false;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) eneg = *p_++ == '-';
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return set_error(Code::ER_BAD_JSON, "digit expected in exponent");
      int e = 0;
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
        if (e < 100000) e = e * 10 + (*p_ - '0');
        ++p_;
      }
      exp10 += eneg ? -e : e;
    }
    exp10 += dropped;
    // Clinger's fast path: <= 15 digits and |exp10| <= 22 are exact in a
    // double with one multiplication or division. (musl's strtod works in
    // long double, which WASM emulates in software: ~10x slower.)
    static const double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (sig <= 15 && exp10 >= -22 && exp10 <= 22) {
      double d = static_cast<double>(mant);
      d = exp10 < 0 ? d / kPow10[-exp10] : d * kPow10[exp10];
      out.assign_number(neg ? -d : d);
      return true;
    }
    std::string buf(start, p_);
    out.assign_number(std::strtod(buf.c_str(), nullptr));
    return true;
  }
};

}  // namespace

Result<Value> parse(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_bytes) {
    return make_error(Code::ER_TOO_LARGE, "JSON text of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                                              std::to_string(limits.max_bytes) + " bytes");
  }
  return Parser(text, limits).run();
}

// ---------------------------------------------------------------- writer

namespace {

// Appends to a std::string through a raw pointer. libstdc++ and libc++ keep
// std::string's members out of line (extern templates), so per-character
// push_back/append calls dominated serialisation; this grows the string
// geometrically and trims it once at the end.
class Sink {
 public:
  explicit Sink(std::string& s, std::size_t hint) : s_(s), n_(s.size()), start_(n_) {
    s_.resize(n_ + hint);
    p_ = s_.data();
  }
  ~Sink() { s_.resize(n_); }
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  void put(char c) {
    if (n_ == s_.size()) grow(1);
    p_[n_++] = c;
  }
  void put(const char* d, std::size_t k) {
    if (s_.size() - n_ < k) grow(k);
    std::memcpy(p_ + n_, d, k);
    n_ += k;
  }
  void put(std::string_view v) { put(v.data(), v.size()); }
  // The number formatter works on std::string: let it append, then resume.
  std::string& flush() {
    s_.resize(n_);
    return s_;
  }
  void resume() {
    n_ = s_.size();
    s_.resize(n_ + 64);
    p_ = s_.data();
  }

 private:
  // Geometric in what this sink wrote, not in the whole string: resize
  // zero-fills, and the string may already hold megabytes (batch outcomes).
  // std::string's own capacity doubling keeps reallocation amortised.
  void grow(std::size_t k) {
    s_.resize(n_ + std::max(k, n_ - start_) + 64);
    p_ = s_.data();
  }
  std::string& s_;
  std::size_t n_;
  std::size_t start_;
  char* p_;
};

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
      case '"': out.put("\\\"", 2); break;
      case '\\': out.put("\\\\", 2); break;
      case '\b': out.put("\\b", 2); break;
      case '\f': out.put("\\f", 2); break;
      case '\n': out.put("\\n", 2); break;
      case '\r': out.put("\\r", 2); break;
      case '\t': out.put("\\t", 2); break;
      default: {
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.put(esc, 6);
      }
    }
  }
  out.put('"');
}

void put_number(double n, Sink& out) {
  // Integers of up to 15 digits (counts, ports, ids, epoch ms) without printf.
  if (n == std::floor(n) && n > -1e15 && n < 1e15 && !(n == 0 && std::signbit(n))) {
    char buf[20];
    char* e = buf + sizeof buf;
    char* b = e;
    auto u = static_cast<std::uint64_t>(n < 0 ? -n : n);
    do {
      *--b = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (n < 0) *--b = '-';
    out.put(b, static_cast<std::size_t>(e - b));
    return;
  }
  write_number(n, out.flush());
  out.resume();
}

void put_value(const Value& value, Sink& out) {
  switch (value.type()) {
    case Type::Null:
      out.put("null", 4);
      return;
    case Type::Bool:
      if (value.as_bool()) out.put("true", 4);
      else out.put("false", 5);
      return;
    case Type::Number:
      put_number(value.as_number(), out);
      return;
    case Type::String:
      put_string(value.as_string(), out);
      return;
    case Type::Array: {
      out.put('[');
      bool first = true;
      for (const auto& item : value.as_array()) {
        if (!first) out.put(',');
        first = false;
        put_value(item, out);
      }
      out.put(']');
      return;
    }
    case Type::Object: {
      out.put('{');
      bool first = true;
      for (const auto& m : value.as_object()) {
        if (!first) out.put(',');
        first = false;
        put_string(m.key, out);
        out.put(':');
        put_value(m.value, out);
      }
      out.put('}');
      return;
    }
  }
}

}  // namespace

void write_string(std::string_view s, std::string& out) {
  Sink sink(out, s.size() + 2);
  put_string(s, sink);
}

void write(const Value& value, std::string& out) {
  Sink sink(out, 256);
  put_value(value, sink);
}

std::string to_string(const Value& value) {
  std::string out;
  write(value, out);
  return out;
}

namespace {
// Canonical JSON writes a non-finite number as null, so it compares as null.
Type canonical_type(const Value& v) {
  return v.is_number() && !std::isfinite(v.as_number()) ? Type::Null : v.type();
}
}  // namespace

bool equal(const Value& a, const Value& b) {
  const Type t = canonical_type(a);
  if (t != canonical_type(b)) return false;
  switch (t) {
    case Type::Null:
      return true;
    case Type::Bool:
      return a.as_bool() == b.as_bool();
    case Type::Number:
      return a.as_number() == b.as_number();  // 0 == -0, as both print "0"
    case Type::String:
      return a.as_string() == b.as_string();
    case Type::Array: {
      const auto& x = a.as_array();
      const auto& y = b.as_array();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (!equal(x[i], y[i])) return false;
      return true;
    }
    case Type::Object: {
      const auto& x = a.as_object();
      const auto& y = b.as_object();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i)
        if (x[i].key != y[i].key || !equal(x[i].value, y[i].value)) return false;
      return true;
    }
  }
  return false;
}

int depth(const Value& value) {
  int d = 0;
  if (value.is_array()) {
    for (const auto& item : value.as_array()) d = std::max(d, depth(item));
    return d + 1;
  }
  if (value.is_object()) {
    for (const auto& m : value.as_object()) d = std::max(d, depth(m.value));
    return d + 1;
  }
  return 0;
}

}  // namespace er::json
