#include "engine/state_cache.hpp"

namespace er {

std::optional<json::Value> StateCache::take(const std::string& key, std::string_view text) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  std::optional<json::Value> out;
  if (it->second.text == text) out = std::move(it->second.value);
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
