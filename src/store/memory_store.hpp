// The embedded transition store: rows in memory, grouped per entity so every
// query touches one entity's rows only.
#pragma once

#include <unordered_map>

#include "store/transition_store.hpp"

namespace er {

class MemoryTransitionStore final : public TransitionStore {
 public:
  // retention_per_entity: keep at most this many rows per entity, dropping
  // the oldest (0 = keep all).
  explicit MemoryTransitionStore(std::size_t retention_per_entity = 0) : retention_(retention_per_entity) {}

  Result<void> append(std::vector<TransitionRow> rows) override;
  std::optional<std::int64_t> in_state_since(std::string_view kind, std::string_view entity_id, std::string_view field,
                                             std::string_view current_value) const override;
  std::size_t transition_count(std::string_view kind, std::string_view entity_id, std::string_view field,
                               std::int64_t window_ms, std::int64_t now) const override;
  std::vector<TransitionRow> history(std::string_view kind, std::string_view entity_id,
                                     std::optional<std::string_view> field, std::size_t limit) const override;

  std::size_t size() const { return total_; }

 private:
  struct Entry {  // a row without the kind/id its entity already names
    std::string field;
    std::optional<std::string> from_value;
    std::string to_value;
    std::int64_t at;
  };
  struct Entity {
    std::string kind, id;
    std::vector<Entry> rows;  // append order = time order
    std::size_t head = 0;     // rows before head were dropped by retention
  };
  const Entity* find(std::string_view kind, std::string_view id) const;

  std::unordered_map<std::string, Entity> entities_;
  std::size_t retention_;
  std::size_t total_ = 0;
};

}  // namespace er
