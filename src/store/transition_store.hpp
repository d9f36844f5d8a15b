// The transition log (SPEC §5 step 6): one row per changed top-level field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace er {

struct TransitionRow {
  std::string kind;
  std::string entity_id;
  std::string field;
  std::optional<std::string> from_value;  // nullopt when there was no prev
  std::string to_value;
  std::int64_t transitioned_at = 0;  // epoch ms
};

class TransitionStore {
 public:
  virtual ~TransitionStore() = default;
  // Appends all rows or none (one transaction).
  virtual Result<void> append(std::vector<TransitionRow> rows) = 0;
  // transitioned_at of the newest row of `field` whose to_value equals
  // `current_value`; nullopt when there is none.
  virtual std::optional<std::int64_t> in_state_since(std::string_view kind, std::string_view entity_id,
                                                     std::string_view field, std::string_view current_value) const = 0;
  // Rows of `field` with transitioned_at >= now - window_ms.
  virtual std::size_t transition_count(std::string_view kind, std::string_view entity_id, std::string_view field,
                                       std::int64_t window_ms, std::int64_t now) const = 0;
  // Newest first; no `field` = all fields ("" is a field name like any
  // other); limit 0 = no limit.
  virtual std::vector<TransitionRow> history(std::string_view kind, std::string_view entity_id,
                                             std::optional<std::string_view> field, std::size_t limit) const = 0;
};

}  // namespace er
