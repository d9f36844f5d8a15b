// A parsed JSON document as a flat tape: the write path's document model.
//
// One parse fills three reusable buffers and allocates nothing once they
// have grown to the size of the states a host writes:
// - bytes_: a copy of the JSON text and eight NUL bytes (scans and
//   compares read eight bytes at a time). Strings are unescaped in place
//   (the unescaped form is never longer), so every string and key is a view
//   of these bytes.
// - nodes_: one 16-byte node per value, in document order (pre-order). A
//   container records its member/item count and the index just past its
//   subtree, so a subtree is skipped in one step.
// - order_: per object, the tape indices of its keys sorted in JavaScript's
//   key order (UTF-16 code units), duplicates dropped (the last one wins, as
//   in JSON.parse). Canonical JSON, structural equality and the diff walk
//   objects through it; nothing is moved.
//
// Why not nlohmann::json or json::Value on this path: both build a tree of
// separately allocated nodes (bench/README.md has the measured figures).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "json/detail.hpp"
#include "json/value.hpp"

namespace er::json {

class Doc {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

  struct Extent {
    std::uint32_t b;  // string: byte length; container: index past the subtree
    std::uint32_t c;  // object: first entry in order_
  };
  struct Node {
    Type type;
    std::uint8_t flags;     // kTrue (bool), kRawNumber (number), kPlainString (string)
    std::uint16_t raw_len;  // number with kRawNumber: length of its text
    std::uint32_t a;        // string: byte offset; container: count; raw number: text offset
    union {
      double num;  // number
      Extent s;    // string, array, object
    };
  };
  static constexpr std::uint8_t kTrue = 1;
  // The number's text is exactly what JavaScript prints for it (a plain
  // integer of up to 15 digits): canonical JSON copies it.
  static constexpr std::uint8_t kRawNumber = 2;
  // The string had no escape in its text, so it holds no byte JSON must
  // escape: its canonical form is its own text between the quotes, which
  // still surround it in bytes_ (decoding in place never touches it).
  static constexpr std::uint8_t kPlainString = 4;

  // Parses `text` (copied in), replacing what the document held and keeping
  // its buffers' capacity. On error the document is empty.
  Result<void> parse(std::string_view text, const Limits& limits = {});
  void clear();
  // Becomes a copy of `other` whose buffers are sized to what it holds
  // (a parse sizes them for the worst case; a cache keeps many documents).
  // Reuses this document's buffers when they are large enough.
  void assign_compact(const Doc& other);
  bool empty() const { return count_ == 0; }
  void swap(Doc& other) noexcept;
  // Frees the buffers (clear() keeps them).
  void release();
  // Bytes the buffers hold (capacity): what a cache budgets for.
  std::size_t footprint() const;

  static constexpr std::uint32_t root() { return 0; }
  const Node& node(std::uint32_t i) const { return nodes_[i]; }
  std::uint32_t node_count() const { return count_; }
  Type type(std::uint32_t i) const { return nodes_[i].type; }
  bool is_object(std::uint32_t i) const { return nodes_[i].type == Type::Object; }
  bool boolean(std::uint32_t i) const { return (nodes_[i].flags & kTrue) != 0; }
  double number(std::uint32_t i) const { return nodes_[i].num; }
  std::string_view str(std::uint32_t i) const { return std::string_view(bytes_.data() + nodes_[i].a, nodes_[i].s.b); }
  // Bytes of the copied text (a raw number's own text).
  std::string_view raw(std::uint32_t offset, std::uint32_t length) const {
    return std::string_view(bytes_.data() + offset, length);
  }
  // Members of an object / items of an array.
  std::uint32_t size(std::uint32_t i) const { return nodes_[i].a; }
  // The index just past i's subtree.
  std::uint32_t end(std::uint32_t i) const {
    const Node& n = nodes_[i];
    return n.type == Type::Array || n.type == Type::Object ? n.s.b : i + 1;
  }
  // Object member k in key order: its key's index (the value is key + 1).
  std::uint32_t member(std::uint32_t obj, std::uint32_t k) const { return order_[nodes_[obj].s.c + k]; }
  std::string_view key(std::uint32_t obj, std::uint32_t k) const { return str(member(obj, k)); }
  std::uint32_t value(std::uint32_t obj, std::uint32_t k) const { return member(obj, k) + 1; }
  // The value of `key` in object obj, or kNone.
  std::uint32_t find(std::uint32_t obj, std::string_view key) const;
  // Array items: first = arr + 1, next = end(item).
  std::uint32_t first_item(std::uint32_t arr) const { return arr + 1; }

 private:
  friend class DocParser;
  // Grow-only buffers sized by the parser before it writes: no capacity
  // check per node, no zero-filling.
  template <typename T>
  struct Buffer {
    std::unique_ptr<T[]> data;
    std::uint32_t capacity = 0;
    void ensure(std::size_t n) {
      if (n <= capacity) return;
      data.reset(new T[n]);
      capacity = static_cast<std::uint32_t>(n);
    }
    void release() {
      data.reset();
      capacity = 0;
    }
    T& operator[](std::size_t i) { return data[i]; }
    const T& operator[](std::size_t i) const { return data[i]; }
  };
  std::string bytes_;
  Buffer<Node> nodes_;
  Buffer<std::uint32_t> order_;
  std::uint32_t count_ = 0;        // nodes
  std::uint32_t order_count_ = 0;  // order_ entries
};

// Two keys (or strings) of documents are byte-equal: eight bytes at a time
// (documents are padded).
inline bool same_key(std::string_view a, std::string_view b) {
  return a.size() == b.size() && detail::same_padded(a.data(), b.data(), a.size());
}

// Canonical JSON of node i (sorted keys, no whitespace, JavaScript number
// and string formatting).
void write(const Doc& doc, std::uint32_t i, std::string& out);
std::string to_string(const Doc& doc, std::uint32_t i = Doc::root());
// Rewrites strings for write_mapped: returns the text to write in place of
// `in` (itself, or a view of storage the mapper owns).
class StringMap {
 public:
  virtual std::string_view operator()(std::string_view in) = 0;

 protected:
  ~StringMap() = default;
};
// Like write(), with every string and key passed through `map` first. Keys
// keep their order, so a map that changes keys may leave an object's keys
// unsorted or repeated: parse the text again to get a canonical document.
void write_mapped(const Doc& doc, std::uint32_t i, std::string& out, StringMap& map);
// A transition text (SPEC §5): null/absent -> "null", a string as itself,
// anything else canonical JSON. kNone stands for absent.
void write_transition_text(const Doc& doc, std::uint32_t i, std::string& out);
// Structural equality of two nodes (of the same or different documents):
// true iff their canonical forms are equal.
bool equal(const Doc& a, std::uint32_t ia, const Doc& b, std::uint32_t ib);
// Node i is null in canonical JSON: null, or a non-finite number.
bool is_null(const Doc& doc, std::uint32_t i);
// Equality with a tree value (schema enums and consts).
bool equal(const Doc& a, std::uint32_t ia, const Value& b);
// The node as a tree, for cold paths (normalising, catalog helpers).
Value to_value(const Doc& doc, std::uint32_t i = Doc::root());
// Nesting depth of node i (scalars 0).
int depth(const Doc& doc, std::uint32_t i);

}  // namespace er::json
