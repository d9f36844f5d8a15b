#include "json/doc.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <type_traits>

#include "json/detail.hpp"

namespace er::json {

using detail::kPlain;
using detail::load8;

// ---------------------------------------------------------------- parser

// The first special byte of a word (SWAR): below 0x20, '"', '\\', or >=
// 0x80. 0 when there is none; otherwise its lowest set bit marks the first
// one (bits above it may be spurious: borrows only propagate upwards).
inline std::uint64_t special_mask(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ull, top = 0x8080808080808080ull;
  const std::uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
  return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w) & top;
}

// Bytes after the text that the eight-byte loads may read. NULs: a scan
// stops on them (below 0x20) exactly at the end of the text.
constexpr std::size_t kPadding = 8;

class DocParser {
 public:
  DocParser(Doc& doc, const Limits& limits) : doc_(doc), limits_(limits) {}

  Result<void> run(std::string_view text) {
    doc_.clear();
    if (text.size() > limits_.max_bytes)
      return make_error(Code::ER_TOO_LARGE, "JSON text of " + std::to_string(text.size()) +
                                                " bytes exceeds the limit of " + std::to_string(limits_.max_bytes) +
                                                " bytes");
    // The text, then NUL padding; strings are decoded in place.
    doc_.bytes_.resize(text.size() + kPadding);
    std::memcpy(doc_.bytes_.data(), text.data(), text.size());
    std::memset(doc_.bytes_.data() + text.size(), 0, kPadding);
    // Valid JSON holds at most one node per two bytes ("[0,0]"); malformed
    // text can open more ("[[[[" one per byte): parse() checks the bound
    // before each node. One key per four bytes ("{\"\":" or "\"\":0,").
    node_cap_ = static_cast<std::uint32_t>(text.size() / 2 + 2);
    doc_.nodes_.ensure(node_cap_);
    doc_.order_.ensure(text.size() / 4 + 2);
    nodes_ = doc_.nodes_.data.get();
    order_ = doc_.order_.data.get();
    prepare_stacks(text.size());
    begin_ = doc_.bytes_.data();
    p_ = begin_;
    end_ = begin_ + text.size();
    if (parse()) {
      doc_.count_ = count_;
      doc_.order_count_ = order_count_;
      // The padding stays: compares read eight bytes at a time.
      return Ok{};
    }
    doc_.clear();
    return std::move(*error_);
  }

  ~DocParser() = default;

 private:
  // An open container: its node, and for an object where its keys start
  // on the key stack.
  struct Frame {
    std::uint32_t node;
    std::uint32_t keys;  // kArray for an array
    std::uint32_t items;
  };
  static constexpr std::uint32_t kArray = 0xFFFFFFFFu;
  // A key of an open object: its node and the first eight bytes of its
  // text, big-endian and zero-padded (see before()).
  struct Key {
    std::uint64_t prefix;
    std::uint32_t node;
    std::uint32_t complex;  // a byte >= 0xEE in the prefix
  };
  // Stacks shared by every parse on a thread (their capacity is reused),
  // sized before a parse: no check per push.
  struct Stacks {
    std::unique_ptr<Key[]> keys;
    std::size_t key_capacity = 0;
    std::unique_ptr<Frame[]> frames;
    std::size_t frame_capacity = 0;
  };
  static Stacks& stacks() {
    thread_local Stacks s;
    return s;
  }

  Doc& doc_;
  const Limits& limits_;
  Doc::Node* nodes_ = nullptr;
  std::uint32_t* order_ = nullptr;
  std::uint32_t count_ = 0;
  std::uint32_t node_cap_ = 0;  // nodes the buffer holds: valid JSON never needs more
  std::uint32_t order_count_ = 0;
  char* begin_ = nullptr;
  char* p_ = nullptr;
  char* end_ = nullptr;
  std::optional<Error> error_;
  Key* keys_ = nullptr;
  std::uint32_t key_top_ = 0;
  Frame* frames_ = nullptr;
  std::uint32_t depth_ = 0;

  void prepare_stacks(std::size_t text_size) {
    Stacks& s = stacks();
    const std::size_t keys = text_size / 4 + 2;  // a member takes at least four bytes
    if (s.key_capacity < keys) {
      s.keys.reset(new Key[keys]);
      s.key_capacity = keys;
    }
    const auto frames = static_cast<std::size_t>(limits_.max_depth) + 1;
    if (s.frame_capacity < frames) {
      s.frames.reset(new Frame[frames]);
      s.frame_capacity = frames;
    }
    keys_ = s.keys.get();
    frames_ = s.frames.get();
  }

  bool set_error(Code code, const char* what) {
    if (error_) return false;
    std::string msg = "invalid JSON at offset ";
    if (code == Code::ER_TOO_DEEP)
      msg = "JSON nests deeper than the limit of " + std::to_string(limits_.max_depth) + " at offset ";
    if (code == Code::ER_LONE_SURROGATE) msg = "string holds an unpaired UTF-16 surrogate at offset ";
    msg += std::to_string(p_ - begin_);
    if (code == Code::ER_BAD_JSON) {
      msg += ": ";
      msg += what;
    }
    error_ = make_error(code, std::move(msg));
    return false;
  }

  void skip_ws() {
    // Compact JSON (what JSON.stringify writes) has none: one compare.
    if (static_cast<unsigned char>(*p_) > ' ') return;
    while (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t') ++p_;  // the padding stops it
  }

  std::string_view text_of(std::uint32_t k) const { return std::string_view(begin_ + nodes_[k].a, nodes_[k].s.b); }

  Doc::Node& push(Type type, std::uint8_t flags = 0) {
    Doc::Node& n = nodes_[count_++];
    // Two eight-byte stores: type, flags, raw_len, a; then the union.
    const std::uint64_t head = static_cast<std::uint64_t>(type) | (static_cast<std::uint64_t>(flags) << 8);
    std::memcpy(&n, &head, 8);
    n.num = 0;
    return n;
  }

  bool literal(const char* word, std::size_t len) {
    if (static_cast<std::size_t>(end_ - p_) < len || std::memcmp(p_, word, len) != 0)
      return set_error(Code::ER_BAD_JSON, "unexpected character");
    p_ += len;
    return true;
  }

  // The whole text: an iterative walk (no recursion per value) with an
  // explicit stack of open containers. The position and node count live in
  // locals (registers) on the common path — plain strings, plain integers,
  // compact JSON — and the members only around the slow paths (escapes,
  // UTF-8, other numbers, errors), which are the general functions below.
  bool parse() {
    char* p = p_;
    char* const end = end_;
    Doc::Node* const nodes = nodes_;
    std::uint32_t n = count_;
    auto sync = [&] {
      p_ = p;
      count_ = n;
    };
    auto load = [&] {
      p = p_;
      n = count_;
    };
    auto ws = [&] {
      if (static_cast<unsigned char>(*p) > ' ') return;
      while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') ++p;  // the padding stops it
    };
    // A string whose text runs to its closing quote with no escape, no
    // control byte and no byte >= 0x80: p at the opening quote. False:
    // not such a string (p unchanged).
    auto plain_string = [&]() -> bool {
      char* const start = p + 1;
      char* q = start;
      std::uint64_t m;
      while ((m = special_mask(load8(q))) == 0) q += 8;
      q += __builtin_ctzll(m) >> 3;
      if (*q != '"' || q >= end) return false;
      Doc::Node& node = nodes[n++];
      const std::uint64_t head = static_cast<std::uint64_t>(Type::String) |
                                 (static_cast<std::uint64_t>(Doc::kPlainString) << 8) |
                                 (static_cast<std::uint64_t>(start - begin_) << 32);
      std::memcpy(&node, &head, 8);
      node.s.b = static_cast<std::uint32_t>(q - start);
      node.s.c = 0;
      p = q + 1;
      return true;
    };
    // More nodes than valid JSON of this length can have: the text is
    // malformed (it would fail later; the buffer must not overflow first).
    auto too_many = [&] {
      sync();
      return set_error(Code::ER_BAD_JSON, "unexpected character");
    };
    ws();
    for (;;) {
      // ---- a value
      if (p == end) {
        sync();
        return set_error(Code::ER_BAD_JSON, "unexpected end of input");
      }
      if (n >= node_cap_) return too_many();
      switch (*p) {
        case '"':
          if (!plain_string()) {
            sync();
            if (!parse_string()) return false;
            load();
          }
          break;
        case '{': {
          if (depth_ >= static_cast<std::uint32_t>(limits_.max_depth)) {
            sync();
            return set_error(Code::ER_TOO_DEEP, "");
          }
          frames_[depth_++] = Frame{n, key_top_, 0};
          Doc::Node& node = nodes[n++];
          const std::uint64_t head = static_cast<std::uint64_t>(Type::Object);
          std::memcpy(&node, &head, 8);
          ++p;
          ws();
          if (*p == '}') {
            ++p;
            count_ = n;
            close_object();
            break;
          }
          goto key;
        }
        case '[': {
          if (depth_ >= static_cast<std::uint32_t>(limits_.max_depth)) {
            sync();
            return set_error(Code::ER_TOO_DEEP, "");
          }
          frames_[depth_++] = Frame{n, kArray, 0};
          Doc::Node& node = nodes[n++];
          const std::uint64_t head = static_cast<std::uint64_t>(Type::Array);
          std::memcpy(&node, &head, 8);
          ++p;
          ws();
          if (*p == ']') {
            ++p;
            count_ = n;
            close_array();
            break;
          }
          ++frames_[depth_ - 1].items;
          continue;
        }
        case 't':
        case 'f':
        case 'n':
          sync();
          if (*p == 't' ? !literal("true", 4) : *p == 'f' ? !literal("false", 5) : !literal("null", 4)) return false;
          push(*p == 't' ? Type::Bool : *p == 'f' ? Type::Bool : Type::Null, *p == 't' ? Doc::kTrue : 0);
          load();
          break;
        default: {
          // A plain integer of up to 15 digits (no sign, no leading zero,
          // no fraction, no exponent): the common number, read here.
          char* q = p;
          std::uint64_t v = 0;
          while (q - p < 15 && static_cast<unsigned>(*q - '0') < 10) v = v * 10 + static_cast<unsigned>(*q++ - '0');
          const char c = *q;
          if (q != p && (*p != '0' || q - p == 1) && c != '.' && c != 'e' && c != 'E' &&
              static_cast<unsigned>(c - '0') >= 10) {
            Doc::Node& node = nodes[n++];
            const std::uint64_t head =
                static_cast<std::uint64_t>(Type::Number) | (static_cast<std::uint64_t>(Doc::kRawNumber) << 8) |
                (static_cast<std::uint64_t>(q - p) << 16) | (static_cast<std::uint64_t>(p - begin_) << 32);
            std::memcpy(&node, &head, 8);
            node.num = static_cast<double>(v);
            p = q;
            break;
          }
          sync();
          if (!parse_number()) return false;
          load();
          break;
        }
      }
      // ---- after a value: close containers, or go on to the next member/item
      for (;;) {
        if (depth_ == 0) {
          ws();
          sync();
          if (p != end) return set_error(Code::ER_BAD_JSON, "unexpected text after the JSON value");
          return true;
        }
        ws();
        Frame& f = frames_[depth_ - 1];
        const char c = *p;
        if (c == ',') {
          ++p;
          ws();
          if (f.keys == kArray) {
            ++f.items;
            break;  // the next item
          }
          goto key;
        }
        if (p == end) {
          sync();
          return set_error(Code::ER_BAD_JSON,
                           f.keys == kArray ? "unexpected end of input in array" : "unexpected end of input in object");
        }
        if (f.keys == kArray) {
          if (c != ']') {
            sync();
            return set_error(Code::ER_BAD_JSON, "expected ',' or ']'");
          }
          ++p;
          count_ = n;
          close_array();
        } else {
          if (c != '}') {
            sync();
            return set_error(Code::ER_BAD_JSON, "expected ',' or '}'");
          }
          ++p;
          count_ = n;
          close_object();
        }
      }
      continue;

    key : {
      // ---- a member's key and colon; then its value
      if (*p != '"' || p == end) {
        sync();
        return set_error(Code::ER_BAD_JSON, "expected a string key");
      }
      if (n >= node_cap_) return too_many();
      const std::uint32_t k = n;
      if (!plain_string()) {
        sync();
        if (!parse_string()) return false;
        load();
      }
      // The key's prefix for sorting: its first eight bytes (the padding
      // keeps the load in bounds), zero-padded, big-endian.
      const Doc::Node& kn = nodes[k];
      std::uint64_t w = load8(begin_ + kn.a);
      if (kn.s.b < 8) w &= (std::uint64_t{1} << (8 * kn.s.b)) - 1;
      // A byte >= 0xEE: its top bit is set and its low seven bits + 0x12
      // reach 0x80 (no carry crosses bytes: 0x7F + 0x12 < 0x100).
      constexpr std::uint64_t ones = 0x0101010101010101ull, top = ones * 0x80;
      keys_[key_top_++] = Key{__builtin_bswap64(w), k, ((w & ~top) + ones * 0x12) & w & top ? 1u : 0u};
      if (*p != ':') {
        ws();
        if (*p != ':' || p == end) {
          sync();
          return set_error(Code::ER_BAD_JSON, "expected ':'");
        }
      }
      ++p;
      ws();
    }
    }
  }

  void close_array() {
    const Frame f = frames_[--depth_];
    Doc::Node& node = nodes_[f.node];
    node.a = f.items;
    node.s.b = count_;
  }

  // Key order from prefixes, unless they are equal or one holds a byte
  // where UTF-8 and UTF-16 orders part: then the keys' texts decide.
  bool before(const Key& x, const Key& y) const {
    if (x.prefix != y.prefix && !(x.complex | y.complex)) return x.prefix < y.prefix;
    return key_less(text_of(x.node), text_of(y.node));
  }

  // Sorts the object's keys into order_ (key order; the last of equal keys).
  void close_object() {
    const Frame f = frames_[--depth_];
    Key* k = keys_ + f.keys;
    const std::size_t n = key_top_ - f.keys;
    const std::uint32_t first = order_count_;
    bool sorted = true;
    for (std::size_t i = 1; i < n && sorted; ++i) sorted = before(k[i - 1], k[i]);
    if (!sorted) {
      if (n <= 32) {  // objects are small: insertion sort, stable
        for (std::size_t i = 1; i < n; ++i) {
          const Key x = k[i];
          std::size_t j = i;
          for (; j > 0 && before(x, k[j - 1]); --j) k[j] = k[j - 1];
          k[j] = x;
        }
      } else {
        std::stable_sort(k, k + n, [this](const Key& x, const Key& y) { return before(x, y); });
      }
      for (std::size_t i = 0; i < n; ++i) {
        // Equal keys are adjacent in input order: keep the last of each run.
        if (i + 1 < n && k[i].prefix == k[i + 1].prefix &&
            detail::same_text(text_of(k[i].node), text_of(k[i + 1].node)))
          continue;
        order_[order_count_++] = k[i].node;
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) order_[order_count_++] = k[i].node;
    }
    Doc::Node& node = nodes_[f.node];
    node.a = order_count_ - first;
    node.s.b = count_;
    node.s.c = first;
    key_top_ = f.keys;
  }

  // A string node viewing the bytes in place; escapes are decoded in place
  // (w trails p_: decoded text is never longer than its escapes).
  bool parse_string() {
    ++p_;  // opening quote
    char* const start = p_;
    // The common case: plain ASCII up to the closing quote.
    for (;;) {
      const std::uint64_t m = special_mask(load8(p_));
      if (m) {
        p_ += __builtin_ctzll(m) >> 3;
        break;
      }
      p_ += 8;
    }
    char* w = nullptr;  // write position once an escape was seen
    if (*p_ != '"' || p_ >= end_) {
      for (;;) {
        char* run = p_;
        while (p_ < end_ && kPlain.plain[static_cast<unsigned char>(*p_)]) ++p_;
        if (p_ >= end_) return set_error(Code::ER_BAD_JSON, "unterminated string");
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"' || c == '\\') {
          if (w) {
            std::memmove(w, run, static_cast<std::size_t>(p_ - run));
            w += p_ - run;
          }
          if (c == '"') break;
          if (!w) w = p_;
          if (!unescape(w)) return false;
          continue;
        }
        if (c < 0x20) return set_error(Code::ER_BAD_JSON, "control character in string");
        std::size_t len = 0;  // c >= 0x80
        if (!utf8_sequence(len)) return false;
        p_ += len;
        if (w) {
          std::memmove(w, run, static_cast<std::size_t>(p_ - run));
          w += p_ - run;
        }
      }
    }
    Doc::Node& n = push(Type::String, w ? 0 : Doc::kPlainString);
    n.a = static_cast<std::uint32_t>(start - begin_);
    n.s.b = static_cast<std::uint32_t>((w ? w : p_) - start);
    ++p_;  // closing quote
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
      const int h = hex(p_[i]);
      if (h < 0) return set_error(Code::ER_BAD_JSON, "bad \\u escape");
      cu = cu * 16 + static_cast<unsigned>(h);
    }
    p_ += 4;
    return true;
  }

  static char* put_utf8(char* w, unsigned cp) {
    if (cp < 0x80) {
      *w++ = static_cast<char>(cp);
    } else if (cp < 0x800) {
      *w++ = static_cast<char>(0xC0 | (cp >> 6));
      *w++ = static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      *w++ = static_cast<char>(0xE0 | (cp >> 12));
      *w++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *w++ = static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      *w++ = static_cast<char>(0xF0 | (cp >> 18));
      *w++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      *w++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      *w++ = static_cast<char>(0x80 | (cp & 0x3F));
    }
    return w;
  }

  // Validates one UTF-8 sequence starting at p_ (a byte >= 0x80).
  bool utf8_sequence(std::size_t& len) {
    const auto* u = reinterpret_cast<const unsigned char*>(p_);
    const auto avail = static_cast<std::size_t>(end_ - p_);
    const unsigned c = u[0];
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
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return set_error(Code::ER_BAD_JSON, "invalid UTF-8 (overlong)");
    if (cp >= 0xD800 && cp <= 0xDFFF) return set_error(Code::ER_LONE_SURROGATE, "");
    return true;
  }

  // p_ at a backslash: decodes one escape to w.
  bool unescape(char*& w) {
    ++p_;
    if (p_ == end_) return set_error(Code::ER_BAD_JSON, "unterminated escape");
    const char e = *p_++;
    switch (e) {
      case '"':
        *w++ = '"';
        return true;
      case '\\':
        *w++ = '\\';
        return true;
      case '/':
        *w++ = '/';
        return true;
      case 'b':
        *w++ = '\b';
        return true;
      case 'f':
        *w++ = '\f';
        return true;
      case 'n':
        *w++ = '\n';
        return true;
      case 'r':
        *w++ = '\r';
        return true;
      case 't':
        *w++ = '\t';
        return true;
      case 'u': {
        unsigned cu = 0;
        if (!read_hex4(cu)) return false;
        if (cu >= 0xD800 && cu <= 0xDBFF) {
          unsigned lo = 0;
          if (end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
            p_ += 2;
            if (!read_hex4(lo)) return false;
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              w = put_utf8(w, 0x10000 + ((cu - 0xD800) << 10) + (lo - 0xDC00));
              return true;
            }
            p_ -= 6;
          }
          return set_error(Code::ER_LONE_SURROGATE, "");
        }
        if (cu >= 0xDC00 && cu <= 0xDFFF) {
          p_ -= 6;
          return set_error(Code::ER_LONE_SURROGATE, "");
        }
        w = put_utf8(w, cu);
        return true;
      }
      default:
        p_ -= 2;
        return set_error(Code::ER_BAD_JSON, "bad escape");
    }
  }

  bool parse_number() {
    const char* start = p_;
    bool neg = false;
    if (*p_ == '-') {
      neg = true;
      ++p_;
    }
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return set_error(Code::ER_BAD_JSON, "unexpected character");
    // Significant digits (up to 19) and the decimal exponent they carry.
    std::uint64_t mant = 0;
    int sig = 0;      // significant digits seen (leading zeros excluded)
    int dropped = 0;  // integer digits beyond 19 (scale the exponent)
    int exp10 = 0;
    bool plain = true;  // digits only
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
      plain = false;
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return set_error(Code::ER_BAD_JSON, "digit expected after '.'");
      while (p_ != end_ && *p_ >= '0' && *p_ <= '9') digit(*p_++, true);
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      plain = false;
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
    double d;
    // Clinger's fast path: <= 15 digits and |exp10| <= 22 are exact in a
    // double with one multiplication or division. (musl's strtod works in
    // long double, which WASM emulates in software: ~10x slower.)
    static const double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (sig <= 15 && exp10 >= -22 && exp10 <= 22) {
      d = static_cast<double>(mant);
      d = exp10 < 0 ? d / kPow10[-exp10] : d * kPow10[exp10];
      if (neg) d = -d;
    } else {
      const std::string buf(start, static_cast<std::size_t>(p_ - start));
      d = std::strtod(buf.c_str(), nullptr);
    }
    Doc::Node& n = push(Type::Number);
    n.num = d;
    // A plain integer of up to 15 digits prints as its own text in
    // JavaScript ("-0" excepted: it prints "0").
    const std::size_t len = static_cast<std::size_t>(p_ - start);
    if (plain && len <= 16 && sig <= 15 && !(neg && d == 0)) {
      n.flags = Doc::kRawNumber;
      n.raw_len = static_cast<std::uint16_t>(len);
      n.a = static_cast<std::uint32_t>(start - begin_);
    }
    return true;
  }
};

Result<void> Doc::parse(std::string_view text, const Limits& limits) { return DocParser(*this, limits).run(text); }

void Doc::clear() {
  bytes_.clear();
  count_ = 0;
  order_count_ = 0;
}

void Doc::assign_compact(const Doc& other) {
  if (&other == this) return;
  bytes_.assign(other.bytes_);
  // A little room to grow: the next state of an entity is often a bit longer.
  if (nodes_.capacity < other.count_) nodes_.ensure(other.count_ + other.count_ / 4 + 4);
  if (order_.capacity < other.order_count_) order_.ensure(other.order_count_ + other.order_count_ / 4 + 4);
  if (other.count_) std::memcpy(nodes_.data.get(), other.nodes_.data.get(), other.count_ * sizeof(Node));
  if (other.order_count_)
    std::memcpy(order_.data.get(), other.order_.data.get(), other.order_count_ * sizeof(std::uint32_t));
  count_ = other.count_;
  order_count_ = other.order_count_;
}

void Doc::release() {
  std::string().swap(bytes_);
  nodes_.release();
  order_.release();
  count_ = 0;
  order_count_ = 0;
}

void Doc::swap(Doc& other) noexcept {
  bytes_.swap(other.bytes_);
  std::swap(nodes_.data, other.nodes_.data);
  std::swap(nodes_.capacity, other.nodes_.capacity);
  std::swap(order_.data, other.order_.data);
  std::swap(order_.capacity, other.order_.capacity);
  std::swap(count_, other.count_);
  std::swap(order_count_, other.order_count_);
}

std::size_t Doc::footprint() const {
  return bytes_.capacity() + nodes_.capacity * sizeof(Node) + order_.capacity * sizeof(std::uint32_t);
}

std::uint32_t Doc::find(std::uint32_t obj, std::string_view key) const {
  if (nodes_[obj].type != Type::Object) return kNone;
  std::uint32_t lo = 0, hi = size(obj);
  while (lo < hi) {
    const std::uint32_t mid = (lo + hi) / 2;
    if (key_less(this->key(obj, mid), key))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < size(obj) && this->key(obj, lo) == key ? value(obj, lo) : kNone;
}

Result<Value> parse(std::string_view text, const Limits& limits) {
  Doc doc;
  auto r = doc.parse(text, limits);
  if (!r.ok()) return r.take_error();
  return to_value(doc);
}

// ---------------------------------------------------------------- writer

namespace {

// The identity string map: canonical output may copy plain strings' text.
struct Same {
  std::string_view operator()(std::string_view s) const { return s; }
};

template <typename Strings>
void put_node(const Doc& d, std::uint32_t i, detail::Sink& out, Strings&& strings) {
  const Doc::Node& n = d.node(i);
  switch (n.type) {
    case Type::Null:
      out.put("null", 4);
      return;
    case Type::Bool:
      if (n.flags & Doc::kTrue)
        out.put("true", 4);
      else
        out.put("false", 5);
      return;
    case Type::Number:
      if (n.flags & Doc::kRawNumber) {
        // The number's own text, still in bytes_ (in-place unescaping never
        // touches text outside strings).
        out.put(d.raw(n.a, n.raw_len));
      } else {
        detail::put_number(n.num, out);
      }
      return;
    case Type::String:
      if constexpr (std::is_same_v<std::decay_t<Strings>, Same>) {
        if (n.flags & Doc::kPlainString) {
          out.put(d.raw(n.a - 1, n.s.b + 2));  // the string with its quotes, as it came
          return;
        }
      }
      detail::put_string(strings(d.str(i)), out);
      return;
    case Type::Array: {
      out.put('[');
      const std::uint32_t end = n.s.b;
      for (std::uint32_t k = i + 1; k < end; k = d.end(k)) {
        if (k != i + 1) out.put(',');
        put_node(d, k, out, strings);
      }
      out.put(']');
      return;
    }
    case Type::Object: {
      out.put('{');
      for (std::uint32_t k = 0; k < n.a; ++k) {
        if (k) out.put(',');
        const std::uint32_t key = d.member(i, k);
        const Doc::Node& kn = d.node(key);
        if (std::is_same_v<std::decay_t<Strings>, Same> && (kn.flags & Doc::kPlainString)) {
          char* at = out.reserve(kn.s.b + 3);  // "key":
          std::memcpy(at, d.raw(kn.a - 1, kn.s.b + 2).data(), kn.s.b + 2);
          at[kn.s.b + 2] = ':';
          out.commit(kn.s.b + 3);
        } else {
          detail::put_string(strings(d.str(key)), out);
          out.put(':');
        }
        put_node(d, key + 1, out, strings);
      }
      out.put('}');
      return;
    }
  }
}

}  // namespace

void write(const Doc& doc, std::uint32_t i, std::string& out) {
  detail::Sink sink(out, 256);
  put_node(doc, i, sink, Same{});
}

void write_mapped(const Doc& doc, std::uint32_t i, std::string& out, StringMap& map) {
  detail::Sink sink(out, 256);
  put_node(doc, i, sink, map);
}

std::string to_string(const Doc& doc, std::uint32_t i) {
  std::string out;
  write(doc, i, out);
  return out;
}

void write_transition_text(const Doc& doc, std::uint32_t i, std::string& out) {
  if (i == Doc::kNone || doc.type(i) == Type::Null) {
    out += "null";
    return;
  }
  if (doc.type(i) == Type::String) {
    out += doc.str(i);
    return;
  }
  write(doc, i, out);
}

// ---------------------------------------------------------------- compare

namespace {
// Canonical JSON prints a non-finite number ("1e400" parses to one) as null:
// it compares as null.
Type canonical_type(const Doc::Node& n) {
  return n.type == Type::Number && !std::isfinite(n.num) ? Type::Null : n.type;
}
}  // namespace

bool is_null(const Doc& d, std::uint32_t i) { return canonical_type(d.node(i)) == Type::Null; }

bool equal(const Doc& a, std::uint32_t ia, const Doc& b, std::uint32_t ib) {
  const Doc::Node& x = a.node(ia);
  const Doc::Node& y = b.node(ib);
  const Type t = canonical_type(x);
  if (t != canonical_type(y)) return false;
  switch (t) {
    case Type::Null:
      return true;
    case Type::Bool:
      return (x.flags & Doc::kTrue) == (y.flags & Doc::kTrue);
    case Type::Number:
      return x.num == y.num;  // 0 == -0, as both print "0"
    case Type::String:
      return same_key(a.str(ia), b.str(ib));
    case Type::Array: {
      if (x.a != y.a) return false;
      for (std::uint32_t p = ia + 1, q = ib + 1; p < x.s.b; p = a.end(p), q = b.end(q))
        if (!equal(a, p, b, q)) return false;
      return true;
    }
    case Type::Object: {
      if (x.a != y.a) return false;
      for (std::uint32_t k = 0; k < x.a; ++k) {
        const std::uint32_t p = a.member(ia, k), q = b.member(ib, k);
        if (!same_key(a.str(p), b.str(q)) || !equal(a, p + 1, b, q + 1)) return false;
      }
      return true;
    }
  }
  return false;
}

bool equal(const Doc& a, std::uint32_t ia, const Value& b) {
  const Doc::Node& x = a.node(ia);
  // Canonical JSON prints a non-finite number as null.
  const Type bt = b.is_number() && !std::isfinite(b.as_number()) ? Type::Null : b.type();
  if (canonical_type(x) != bt) return false;
  switch (bt) {
    case Type::Null:
      return true;
    case Type::Bool:
      return ((x.flags & Doc::kTrue) != 0) == b.as_bool();
    case Type::Number:
      return x.num == b.as_number();
    case Type::String:
      return a.str(ia) == b.as_string();
    case Type::Array: {
      const Array& items = b.as_array();
      if (x.a != items.size()) return false;
      std::size_t k = 0;
      for (std::uint32_t p = ia + 1; p < x.s.b; p = a.end(p), ++k)
        if (!equal(a, p, items[k])) return false;
      return true;
    }
    case Type::Object: {
      const Object& members = b.as_object();
      if (x.a != members.size()) return false;
      for (std::uint32_t k = 0; k < x.a; ++k) {
        const std::uint32_t p = a.member(ia, k);
        if (a.str(p) != members[k].key || !equal(a, p + 1, members[k].value)) return false;
      }
      return true;
    }
  }
  return false;
}

Value to_value(const Doc& d, std::uint32_t i) {
  const Doc::Node& n = d.node(i);
  switch (n.type) {
    case Type::Null:
      return Value(nullptr);
    case Type::Bool:
      return Value((n.flags & Doc::kTrue) != 0);
    case Type::Number:
      return Value(n.num);
    case Type::String:
      return Value(d.str(i));
    case Type::Array: {
      Array items;
      items.reserve(n.a);
      for (std::uint32_t k = i + 1; k < n.s.b; k = d.end(k)) items.push_back(to_value(d, k));
      return Value(std::move(items));
    }
    case Type::Object: {
      Object members;
      members.reserve(n.a);
      for (std::uint32_t k = 0; k < n.a; ++k) {
        const std::uint32_t key = d.member(i, k);
        members.push_back(Member{std::string(d.str(key)), to_value(d, key + 1)});
      }
      return Value::sorted_object(std::move(members));
    }
  }
  return Value();
}

int depth(const Doc& d, std::uint32_t i) {
  const Doc::Node& n = d.node(i);
  if (n.type != Type::Array && n.type != Type::Object) return 0;
  int deepest = 0;
  if (n.type == Type::Array) {
    for (std::uint32_t k = i + 1; k < n.s.b; k = d.end(k)) deepest = std::max(deepest, depth(d, k));
  } else {
    for (std::uint32_t k = 0; k < n.a; ++k) deepest = std::max(deepest, depth(d, d.member(i, k) + 1));
  }
  return deepest + 1;
}

}  // namespace er::json
