// The ENTITY_CHANGED event (SPEC §2) and the diff that produces it (§3).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "json/value.hpp"
#include "store/transition_store.hpp"

namespace er {

struct Change {
  std::string kind;
  std::string id;
  std::optional<json::Value> prev;  // nullopt = no prev (create)
  std::optional<json::Value> next;  // nullopt = tombstone
  std::vector<std::string> changed_fields;  // UTF-16 sorted
  json::Value delta = json::Value::object();
  json::Value actor;
  std::string occurred_at;
  std::int64_t occurred_at_ms = 0;
  std::string change_id;
};

// Top-level diff: sorted names of fields whose values differ structurally.
// A missing side is {}; a field absent on one side and null on the other is
// unchanged. A tombstone (next == nullptr) lists every field of prev.
std::vector<std::string> changed_fields(const json::Value* prev, const json::Value* next);

// delta: changed field -> its next value (null when absent); {} for a tombstone.
json::Value make_delta(const json::Value* next, const std::vector<std::string>& fields);

// Transition text of a field value: null/absent -> "null", a string as
// itself, anything else canonical JSON.
std::string transition_text(const json::Value* value);

// One row per changed field; none for a tombstone.
std::vector<TransitionRow> transition_rows(const Change& change);

// The whole event as JSON: {kind,id,prev,next,delta,changedFields,actor,occurredAt,changeId}.
void write_change(const Change& change, std::string& out);
// The members every written change carries, without braces:
// "delta":..,"changedFields":[..],"actor":..,"occurredAt":..,"changeId":..
void write_change_body(const Change& change, std::string& out);

// The system actor, {"type":"system"}.
const json::Value& system_actor();

}  // namespace er
