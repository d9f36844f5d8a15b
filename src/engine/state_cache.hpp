// Remembers, per entity, the last state a write committed together with the
// exact JSON text it came from. The next write's prev is usually that same
// text read back from the host; a byte-identical match reuses the parsed,
// validated value instead of parsing and validating it again. Never a
// source of truth: anything but an exact text match parses as usual.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "json/value.hpp"

namespace er {

class StateCache {
 public:
  explicit StateCache(std::size_t capacity) : capacity_(capacity) {}

  // The cached value when `text` is exactly what was stored (moved out).
  std::optional<json::Value> take(const std::string& key, std::string_view text);
  void put(const std::string& key, std::string_view text, json::Value value);
  void erase(const std::string& key) { entries_.erase(key); }
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string text;
    json::Value value;
  };
  std::unordered_map<std::string, Entry> entries_;
  std::size_t capacity_;
};

}  // namespace er
