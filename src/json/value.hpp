// A JSON value tree for the engine's cold paths: schemas, configuration,
// normalising and building states. The write path never builds one: it
// works on json::Doc (doc.hpp), a flat tape parsed without an allocation
// per node. Object members are kept in a sorted vector (UTF-16 key order,
// the order JavaScript sorts in), so canonical JSON is a plain walk, lookup
// is a binary search and structural equality needs no serialisation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"

namespace er::json {

class Value;
struct Member;
using Array = std::vector<Value>;
// Invariant: sorted by key_less, keys unique.
using Object = std::vector<Member>;

enum class Type : std::uint8_t { Null, Bool, Number, String, Array, Object };

class Value {
 public:
  // Constructors are defined below, once Member is complete (clang with
  // libstdc++ instantiates the variant's destructor at the definition).
  Value();
  Value(std::nullptr_t);      // NOLINT
  Value(bool b);              // NOLINT
  Value(double n);            // NOLINT
  Value(int n);               // NOLINT
  Value(std::int64_t n);      // NOLINT
  Value(std::string s);       // NOLINT
  Value(std::string_view s);  // NOLINT
  Value(const char* s);       // NOLINT
  Value(Array a);             // NOLINT
  Value(Object o);            // NOLINT: sorts and de-duplicates (last wins)
  Value(const Value&);
  Value(Value&&) noexcept;
  Value& operator=(const Value&);
  Value& operator=(Value&&) noexcept;
  ~Value();

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::Null; }
  bool is_bool() const { return type() == Type::Bool; }
  bool is_number() const { return type() == Type::Number; }
  bool is_string() const { return type() == Type::String; }
  bool is_array() const { return type() == Type::Array; }
  bool is_object() const { return type() == Type::Object; }

  bool as_bool() const { return std::get<bool>(v_); }
  double as_number() const { return std::get<double>(v_); }
  const std::string& as_string() const { return std::get<std::string>(v_); }
  std::string& as_string() { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }
  Object& as_object() { return std::get<Object>(v_); }

  // Object access; find returns nullptr when absent or not an object.
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  // Inserts or replaces, keeping the member order invariant.
  void set(std::string key, Value value);
  bool erase(std::string_view key);

  static Value object();
  static Value array();
  // Takes members that already hold the invariant (sorted by key_less, keys
  // unique): the parser sorts an index and moves each member once.
  static Value sorted_object(Object members);
  // Replace the value in place (one variant switch instead of construct +
  // move-assign). Defined below, once Member is complete (see above).
  void assign_string(std::string s);
  void assign_number(double n);
  void assign_bool(bool b);
  void assign_array(Array a);

 private:
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> v_;
};

struct Member {
  std::string key;
  Value value;
};

inline Value::Value() : v_(nullptr) {}
inline Value::Value(std::nullptr_t) : v_(nullptr) {}
inline Value::Value(bool b) : v_(b) {}
inline Value::Value(double n) : v_(n) {}
inline Value::Value(int n) : v_(static_cast<double>(n)) {}
inline Value::Value(std::int64_t n) : v_(static_cast<double>(n)) {}
inline Value::Value(std::string s) : v_(std::move(s)) {}
inline Value::Value(std::string_view s) : v_(std::string(s)) {}
inline Value::Value(const char* s) : v_(std::string(s)) {}
inline Value::Value(Array a) : v_(std::move(a)) {}
inline Value::Value(const Value&) = default;
inline Value::Value(Value&&) noexcept = default;
inline Value& Value::operator=(const Value&) = default;
inline Value& Value::operator=(Value&&) noexcept = default;
inline Value::~Value() = default;
inline Value Value::object() { return Value(Object{}); }
inline Value Value::array() { return Value(Array{}); }
inline void Value::assign_string(std::string s) { v_.emplace<std::string>(std::move(s)); }
inline void Value::assign_number(double n) { v_.emplace<double>(n); }
inline void Value::assign_bool(bool b) { v_.emplace<bool>(b); }
inline void Value::assign_array(Array a) { v_.emplace<Array>(std::move(a)); }
inline Value Value::sorted_object(Object members) {
  Value v;
  v.v_.emplace<Object>(std::move(members));
  return v;
}

// Key order of JavaScript's default sort: UTF-16 code units, which differs
// from UTF-8 byte order only between U+E000..U+FFFF and astral characters.
bool key_less_slow(std::string_view a, std::string_view b);
inline bool key_less(std::string_view a, std::string_view b) {
  // Most keys differ in their first byte; below 0xEE (U+E000) UTF-8 byte
  // order and UTF-16 order agree.
  if (!a.empty() && !b.empty() && a[0] != b[0]) {
    const auto x = static_cast<unsigned char>(a[0]), y = static_cast<unsigned char>(b[0]);
    if (x < 0xEE && y < 0xEE) return x < y;
  }
  return key_less_slow(a, b);
}

// Sorts members by key_less and drops earlier duplicates (JSON.parse keeps
// the last one).
void normalize_members(Object& members);

struct Limits {
  std::size_t max_bytes = 16u << 20;  // 16 MiB of JSON text
  int max_depth = 256;                // nested arrays/objects
};

// Parses strict JSON (RFC 8259) into a tree, through json::Doc's parser
// (the only one). Errors: ER_TOO_LARGE, ER_TOO_DEEP, ER_LONE_SURROGATE,
// ER_BAD_JSON (with the byte offset).
Result<Value> parse(std::string_view text, const Limits& limits = {});

// Canonical JSON: sorted keys, no whitespace, JavaScript number and string
// formatting (what JSON.stringify prints for the same data).
void write(const Value& value, std::string& out);
std::string to_string(const Value& value);
void write_number(double n, std::string& out);
// The same into buf (at least kNumberChars bytes); returns the length.
inline constexpr std::size_t kNumberChars = 32;
std::size_t format_number(double n, char* buf);
void write_string(std::string_view s, std::string& out);

// Structural equality: true iff the canonical forms are equal.
bool equal(const Value& a, const Value& b);

// The nesting depth of a value built in memory (scalars are depth 0).
int depth(const Value& value);

}  // namespace er::json
