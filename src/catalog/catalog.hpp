// The catalog entities of SPEC §8: kinds, state schemas, trigger derivers,
// payload mappers, row projections and the update_metadata rules. The JS
// package exports thin wrappers over these; nothing here is written twice.
// Display texts (titles, descriptions, payload schemas for automation UIs)
// are the JS package's: no rule here reads them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "engine/change.hpp"
#include "json/value.hpp"

namespace er {
class Engine;
}

namespace er::catalog {

inline constexpr std::string_view kSystemKind = "catalog-system";
inline constexpr std::string_view kGroupKind = "catalog-group";

inline constexpr std::string_view kSystemCreated = "catalog.created";
inline constexpr std::string_view kSystemUpdated = "catalog.updated";
inline constexpr std::string_view kSystemDeleted = "catalog.deleted";
inline constexpr std::string_view kGroupCreated = "catalog.group.created";
inline constexpr std::string_view kGroupDeleted = "catalog.group.deleted";

// The JSON Schemas of the two states (as zod 4 exports them).
const json::Value& system_state_schema();
const json::Value& group_state_schema();

void derive_system_triggers(const ChangeView& change, std::vector<std::string_view>& out);
void derive_group_triggers(const ChangeView& change, std::vector<std::string_view>& out);
void system_payload(const ChangeView& change, std::string& out);  // JSON
void group_payload(const ChangeView& change, std::string& out);

// Row projections: description ?? null, metadata ?? {}.
json::Value to_system_state(const json::Value& row);
json::Value to_group_state(const json::Value& row);

// catalog.update_metadata: validated config and the resulting metadata.
struct UpdateMetadataConfig {
  std::string system_id;
  bool replace = false;  // strategy "replace"; default "merge" (shallow)
  json::Value metadata;
};
Result<UpdateMetadataConfig> parse_update_metadata_config(const json::Value& config);
json::Value apply_metadata_update(const json::Value& current, const UpdateMetadataConfig& config);

// Defines both kinds' derivers and payload mappers natively on `engine`.
Result<void> register_catalog(Engine& engine);

// What the rules here define and the JS package exports as data (generated
// at build time): kinds, trigger ids, state schemas.
std::string constants_json();

// Dispatch for the JS wrappers: fn in {deriveSystem, deriveGroup,
// systemPayload, groupPayload, toSystemState, toGroupState,
// updateMetadata}; the result as JSON text.
Result<std::string> call(std::string_view fn, std::string_view arg_json);

}  // namespace er::catalog
