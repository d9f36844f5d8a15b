#include "engine/state_cache.hpp"

#include <cstdint>
#include <cstring>

namespace er {

namespace {
// Eight bytes per step: WASM's libc memcmp compares byte by byte, and this
// compare of a whole state text runs on every write.
bool same_bytes(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  std::size_t n = a.size();
  for (; n >= 8; n -= 8, x += 8, y += 8) {
    std::uint64_t u, v;
    std::memcpy(&u, x, 8);
    std::memcpy(&v, y, 8);
    if (u != v) return false;
  }
  for (; n > 0; --n)
    if (*x++ != *y++) return false;
  return true;
}
}  // namespace

std::optional<json::Value> StateCache::take(const std::string& key, std::string_view text) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  std::optional<json::Value> out;
  if (same_bytes(it->second.text, text)) out = std::move(it->second.value);
  entries_.erase(it);  // either consumed or stale
  return out;
}

void StateCache::put(const std::string& key, std::string_view text, json::Value value) {
  if (capacity_ == 0) return;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    // Full: drop an arbitrary entry; a miss only costs a parse.
    if (entries_.size() >= capacity_) entries_.erase(entries_.begin());
    it = entries_.emplace(key, Entry{}).first;
  }
  it->second.text.assign(text.data(), text.size());
  it->second.value = std::move(value);
}

}  // namespace er
