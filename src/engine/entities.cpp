#include "engine/entities.hpp"

#include <cstring>

namespace er {

std::uint64_t EntityTable::hash_of(std::uint32_t kind, std::string_view id) {
  // Eight bytes at a time, multiply-xorshift (ids are short).
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(kind) << 32) ^ id.size();
  const char* p = id.data();
  std::size_t n = id.size();
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  std::uint64_t w = 0;
  std::memcpy(&w, p, n);
  h = (h ^ w) * 0x94D049BB133111EBull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

std::uint32_t EntityTable::probe(std::uint32_t kind, std::string_view id, std::uint64_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t s = hash & mask;; s = (s + 1) & mask) {
    const std::uint32_t r = slots_[s];
    if (r == 0) return static_cast<std::uint32_t>(s);
    const Entity& e = records_[r - 1];
    if (e.hash == hash && e.kind == kind && e.id == id) return static_cast<std::uint32_t>(s);
  }
}

std::uint32_t EntityTable::find(std::uint32_t kind, std::string_view id) const {
  if (slots_.empty()) return kNone;
  const std::uint32_t r = slots_[probe(kind, id, hash_of(kind, id))];
  return r == 0 ? kNone : r - 1;
}

void EntityTable::grow() {
  std::vector<std::uint32_t> old;
  old.swap(slots_);
  slots_.assign(old.empty() ? 64 : old.size() * 2, 0);
  const std::size_t mask = slots_.size() - 1;
  for (std::uint32_t r : old) {
    if (r == 0) continue;
    std::size_t s = records_[r - 1].hash & mask;
    while (slots_[s] != 0) s = (s + 1) & mask;
    slots_[s] = r;
  }
}

std::uint32_t EntityTable::get_or_add(std::uint32_t kind, std::string_view id) {
  if ((live_ + 1) * 2 > slots_.size()) grow();  // load <= 1/2
  const std::uint64_t hash = hash_of(kind, id);
  const std::uint32_t s = probe(kind, id, hash);
  if (slots_[s] != 0) return slots_[s] - 1;
  std::uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = records_.size();
    records_.add();
  }
  Entity& e = records_[index];
  e.kind = kind;
  e.id.assign(id.data(), id.size());
  e.hash = hash;
  e.live = true;
  e.stale_rows = 0;
  ++e.generation;
  slots_[s] = index + 1;
  ++live_;
  return index;
}

void EntityTable::remove(std::uint32_t index) {
  Entity& e = records_[index];
  if (!e.live) return;
  const std::size_t mask = slots_.size() - 1;
  std::size_t s = e.hash & mask;
  while (slots_[s] != index + 1) s = (s + 1) & mask;
  // Backward-shift deletion: later entries of the cluster move up, so a
  // lookup never stops at a hole before its entry.
  for (std::size_t next = (s + 1) & mask; slots_[next] != 0; next = (next + 1) & mask) {
    const std::size_t home = records_[slots_[next] - 1].hash & mask;
    // Move it when its home is not in (s, next] (cyclically).
    if ((next > s && (home <= s || home > next)) || (next < s && home <= s && home > next)) {
      slots_[s] = slots_[next];
      s = next;
    }
  }
  slots_[s] = 0;
  e.live = false;
  std::string().swap(e.id);
  e.state.release();
  e.log = EntityLog();
  e.token = 0;
  e.cached_bytes = 0;
  e.log_charged = 0;
  e.batch = 0;
  free_.push_back(index);
  --live_;
}

}  // namespace er
