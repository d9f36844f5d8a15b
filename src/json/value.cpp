#include "json/value.hpp"

#include "json/detail.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <optional>

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

Value* Value::find(std::string_view key) { return const_cast<Value*>(static_cast<const Value*>(this)->find(key)); }

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

// ---------------------------------------------------------------- writer

namespace {

using detail::put_number;
using detail::put_string;
using detail::Sink;

void put_value(const Value& value, Sink& out) {
  switch (value.type()) {
    case Type::Null:
      out.put("null", 4);
      return;
    case Type::Bool:
      if (value.as_bool())
        out.put("true", 4);
      else
        out.put("false", 5);
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
Type canonical_type(const Value& v) { return v.is_number() && !std::isfinite(v.as_number()) ? Type::Null : v.type(); }
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
