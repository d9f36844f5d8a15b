// Per-entity state the engine keeps between writes, found by (kind, id):
// the last committed state (the prev cache, bounded in bytes, least
// recently used first out) and the embedded transition log's rows. An
// entity holding neither is freed (its record is reused).
//
// The key is the kind's slot number plus the id's exact bytes, so no two
// (kind, id) pairs can share an entity, whatever bytes an id holds.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "json/doc.hpp"
#include "store/transition_log.hpp"

namespace er {

struct Entity {
  std::uint32_t kind = 0;
  std::string id;
  std::uint64_t hash = 0;
  bool live = false;  // false: a free record
  // ---- prev cache: the state the last write committed (validated,
  // normalised, unmasked); token 0 = nothing cached.
  json::Doc state;
  std::uint32_t token = 0;
  std::size_t cached_bytes = 0;  // what the cache budget counts for it
  std::uint32_t lru_prev = kNil, lru_next = kNil;
  // ---- embedded transition log
  EntityLog log;
  // Rows the per-entity retention dropped whose entries are still in the
  // engine's oldest-first queue (they are skipped there), and the record's
  // generation (a reused record's old queue entries are skipped too).
  std::uint32_t stale_rows = 0;
  std::uint32_t generation = 0;
  std::size_t log_charged = 0;  // what the log budget counts for it
  std::uint32_t batch = 0;      // the last batch that named it (Engine::write)

  static constexpr std::uint32_t kNil = 0xFFFFFFFFu;
};

// The records, in fixed blocks of 64: storage grows a block at a time, so it
// stays within what the budgets count for live entities (a vector's doubling
// left up to half its capacity beyond them: 7 MB at 1,000,000 ids), a record
// never moves, and an index is a shift and a mask (a std::deque's blocks hold
// a number of records that is no power of two: a division per access).
class EntityRecords {
 public:
  Entity& operator[](std::uint32_t i) { return blocks_[i >> kShift][i & kMask]; }
  const Entity& operator[](std::uint32_t i) const { return blocks_[i >> kShift][i & kMask]; }
  std::uint32_t size() const { return size_; }
  // A new default record at index size().
  void add() {
    if ((size_ & kMask) == 0) blocks_.push_back(std::make_unique<Entity[]>(kMask + 1));
    ++size_;
  }

 private:
  static constexpr unsigned kShift = 6;
  static constexpr std::uint32_t kMask = (1u << kShift) - 1;
  std::vector<std::unique_ptr<Entity[]>> blocks_;
  std::uint32_t size_ = 0;
};

class EntityTable {
 public:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

  // The entity's index, or kNone.
  std::uint32_t find(std::uint32_t kind, std::string_view id) const;
  // The entity's index, adding it when absent.
  std::uint32_t get_or_add(std::uint32_t kind, std::string_view id);
  Entity& at(std::uint32_t index) { return records_[index]; }
  const Entity& at(std::uint32_t index) const { return records_[index]; }
  // Frees an entity (it must hold no cached state and no rows).
  void remove(std::uint32_t index);
  std::size_t size() const { return live_; }

 private:
  static std::uint64_t hash_of(std::uint32_t kind, std::string_view id);
  std::uint32_t probe(std::uint32_t kind, std::string_view id, std::uint64_t hash) const;  // slot position
  void grow();

  EntityRecords records_;
  std::vector<std::uint32_t> free_;
  // Open addressing, linear probing: record index + 1, 0 = empty.
  std::vector<std::uint32_t> slots_;
  std::size_t live_ = 0;
};

}  // namespace er
