#include "catalog/catalog.hpp"

#include <algorithm>

#include "engine/engine.hpp"
#include "engine/wire_format.hpp"

namespace er::catalog {

namespace {

json::Value parse_static(std::string_view text) {
  auto v = json::parse(text);
  return v.ok() ? std::move(v.value()) : json::Value();
}

constexpr std::string_view kSystemSchema = R"({
  "$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
  "properties":{
    "name":{"type":"string"},
    "description":{"type":["string","null"]},
    "metadata":{"type":"object","propertyNames":{"type":"string"},"additionalProperties":{}}},
  "required":["name","description","metadata"],"additionalProperties":false})";

constexpr std::string_view kGroupSchema = R"({
  "$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",
  "properties":{
    "name":{"type":"string"},
    "metadata":{"type":"object","propertyNames":{"type":"string"},"additionalProperties":{}}},
  "required":["name","metadata"],"additionalProperties":false})";

constexpr std::string_view kChangedFieldEnum[] = {"name", "description", "metadata"};

std::optional<std::string> next_name(const Change& c) {
  if (!c.next) return std::nullopt;
  const json::Value* name = c.next->find("name");
  if (!name || !name->is_string()) return std::nullopt;
  return name->as_string();
}

std::vector<std::string> lifecycle(const Change& c, std::string_view created, std::string_view deleted,
                                   std::string_view updated) {
  if (!c.prev && c.next) return {std::string(created)};
  if (!c.next) return {std::string(deleted)};
  if (updated.empty()) return {};
  return {std::string(updated)};
}

json::Value field_or(const json::Value& row, std::string_view key, json::Value fallback) {
  const json::Value* v = row.find(key);
  return v && !v->is_null() ? *v : std::move(fallback);
}

std::string error_text(const Error& e) {
  std::string out;
  write_error(e, out);
  return out;
}

}  // namespace

const json::Value& system_state_schema() {
  static const json::Value schema = parse_static(kSystemSchema);
  return schema;
}
const json::Value& group_state_schema() {
  static const json::Value schema = parse_static(kGroupSchema);
  return schema;
}

std::vector<std::string> derive_system_triggers(const Change& c) {
  return lifecycle(c, kSystemCreated, kSystemDeleted, kSystemUpdated);
}
std::vector<std::string> derive_group_triggers(const Change& c) {
  return lifecycle(c, kGroupCreated, kGroupDeleted, {});
}

json::Value system_payload(const Change& c) {
  auto payload = json::Value::object();
  payload.set("systemId", c.id);
  if (auto name = next_name(c)) payload.set("systemName", *name);
  json::Array fields;
  for (const auto& f : c.changed_fields)  // the change's order, filtered to the enum
    if (std::find(std::begin(kChangedFieldEnum), std::end(kChangedFieldEnum), f) != std::end(kChangedFieldEnum))
      fields.emplace_back(f);
  payload.set("changedFields", json::Value(std::move(fields)));
  return payload;
}

json::Value group_payload(const Change& c) {
  auto payload = json::Value::object();
  payload.set("groupId", c.id);
  if (auto name = next_name(c)) payload.set("groupName", *name);
  return payload;
}

json::Value to_system_state(const json::Value& row) {
  auto state = json::Value::object();
  if (const json::Value* name = row.find("name")) state.set("name", *name);
  state.set("description", field_or(row, "description", json::Value(nullptr)));
  state.set("metadata", field_or(row, "metadata", json::Value::object()));
  return state;
}

json::Value to_group_state(const json::Value& row) {
  auto state = json::Value::object();
  if (const json::Value* name = row.find("name")) state.set("name", *name);
  state.set("metadata", field_or(row, "metadata", json::Value::object()));
  return state;
}

Result<UpdateMetadataConfig> parse_update_metadata_config(const json::Value& config) {
  auto bad = [](std::string message, std::string path) {
    return make_error(Code::ER_BAD_ARGUMENT, "catalog.update_metadata: " + message, std::move(path));
  };
  if (!config.is_object()) return bad("config must be an object", "");
  UpdateMetadataConfig out;
  const json::Value* id = config.find("systemId");
  if (!id || !id->is_string() || id->as_string().empty()) return bad("systemId must be a non-empty string", "systemId");
  out.system_id = id->as_string();
  if (const json::Value* s = config.find("strategy"); s && !s->is_null()) {
    if (!s->is_string() || (s->as_string() != "merge" && s->as_string() != "replace"))
      return bad("strategy must be \"merge\" or \"replace\"", "strategy");
    out.replace = s->as_string() == "replace";
  }
  const json::Value* metadata = config.find("metadata");
  if (!metadata || !metadata->is_object()) return bad("metadata must be an object (a record)", "metadata");
  out.metadata = *metadata;
  return out;
}

json::Value apply_metadata_update(const json::Value& current, const UpdateMetadataConfig& config) {
  if (config.replace || !current.is_object()) return config.metadata;
  json::Value merged = current;  // shallow: incoming top-level keys win
  for (const auto& m : config.metadata.as_object()) merged.set(m.key, m.value);
  return merged;
}

Result<void> register_catalog(Engine& engine) {
  auto& reg = engine.derivers();
  auto r = reg.add_native(kSystemKind, "catalog-system", derive_system_triggers, system_payload);
  if (!r.ok()) return r;
  return reg.add_native(kGroupKind, "catalog-group", derive_group_triggers, group_payload);
}

std::string constants_json() {
  std::string out = R"({"kinds":{"system":"catalog-system","group":"catalog-group"},)"
                    R"("systemTriggerEvents":{"created":"catalog.created","updated":"catalog.updated","deleted":"catalog.deleted"},)"
                    R"("groupTriggerEvents":{"created":"catalog.group.created","deleted":"catalog.group.deleted"},)";
  out += "\"systemStateSchema\":";
  json::write(system_state_schema(), out);
  out += ",\"groupStateSchema\":";
  json::write(group_state_schema(), out);
  out += R"(,"triggers":[)"
         R"({"id":"created","event":"catalog.created","displayName":"System Created",)"
         R"("description":"Fires when a new system is added to the catalog",)"
         R"("payloadSchema":{"type":"object","properties":{"systemId":{"type":"string"},"systemName":{"type":"string"}},"required":["systemId","systemName"]}},)"
         R"({"id":"updated","event":"catalog.updated","displayName":"System Updated",)"
         R"("description":"Fires when a system's name, description, or metadata changes",)"
         R"("payloadSchema":{"type":"object","properties":{"systemId":{"type":"string"},"systemName":{"type":"string"},)"
         R"("changedFields":{"type":"array","items":{"type":"string","enum":["name","description","metadata"]}}},"required":["systemId","systemName","changedFields"]}},)"
         R"({"id":"deleted","event":"catalog.deleted","displayName":"System Deleted",)"
         R"("description":"Fires when a system is removed from the catalog",)"
         R"("payloadSchema":{"type":"object","properties":{"systemId":{"type":"string"},"systemName":{"type":"string"}},"required":["systemId"]}}],)"
         R"("actions":{"updateMetadata":{"id":"update_metadata","qualifiedId":"catalog.update_metadata","displayName":"Update System Metadata",)"
         R"("description":"Set or merge metadata keys on a system (shallow merge by default, or replace).","produces":"system_record",)"
         R"("configSchema":{"type":"object","properties":{"systemId":{"type":"string","minLength":1},)"
         R"("strategy":{"type":"string","enum":["merge","replace"],"default":"merge"},)"
         R"("metadata":{"type":"object","propertyNames":{"type":"string"},"additionalProperties":{}}},"required":["systemId","metadata"]}}},)"
         R"("artifactTypes":{"systemRecord":{"id":"system_record","displayName":"System Record",)"
         R"("description":"Snapshot of a system after an automation-driven change",)"
         R"("schema":{"type":"object","properties":{"systemId":{"type":"string"},"systemName":{"type":"string"},)"
         R"("metadata":{"type":"object","propertyNames":{"type":"string"},"additionalProperties":{}}},"required":["systemId","systemName","metadata"]}}}})";
  return out;
}

std::string call(std::string_view fn, std::string_view arg_json) {
  auto arg = json::parse(arg_json);
  if (!arg.ok()) return error_text(arg.error());
  auto as_change = [&](Change& c) -> bool {
    if (!arg->is_object()) return false;
    if (const json::Value* id = arg->find("id"); id && id->is_string()) c.id = id->as_string();
    if (const json::Value* p = arg->find("prev"); p && p->is_object()) c.prev = *p;
    if (const json::Value* n = arg->find("next"); n && n->is_object()) c.next = *n;
    if (const json::Value* f = arg->find("changedFields"); f && f->is_array())
      for (const auto& s : f->as_array())
        if (s.is_string()) c.changed_fields.push_back(s.as_string());
    return true;
  };
  auto strings = [](const std::vector<std::string>& ids) {
    json::Array a;
    for (const auto& s : ids) a.emplace_back(s);
    return json::to_string(json::Value(std::move(a)));
  };
  Change c;
  if (fn == "toSystemState" || fn == "toGroupState") {
    if (!arg->is_object())
      return error_text(make_error(Code::ER_BAD_ARGUMENT, std::string(fn) + ": row must be an object"));
    return json::to_string(fn == "toSystemState" ? to_system_state(*arg) : to_group_state(*arg));
  }
  if (fn == "updateMetadata") {
    const json::Value* config = arg->find("config");
    auto parsed = parse_update_metadata_config(config ? *config : json::Value());
    if (!parsed.ok()) return error_text(parsed.error());
    const json::Value* current = arg->find("current");
    auto out = json::Value::object();
    out.set("systemId", parsed->system_id);
    out.set("strategy", parsed->replace ? "replace" : "merge");
    out.set("metadata", apply_metadata_update(current ? *current : json::Value::object(), *parsed));
    return json::to_string(out);
  }
  if (!as_change(c)) return error_text(make_error(Code::ER_BAD_ARGUMENT, std::string(fn) + ": change must be an object"));
  if (fn == "deriveSystem") return strings(derive_system_triggers(c));
  if (fn == "deriveGroup") return strings(derive_group_triggers(c));
  if (fn == "systemPayload") return json::to_string(system_payload(c));
  if (fn == "groupPayload") return json::to_string(group_payload(c));
  return error_text(make_error(Code::ER_BAD_ARGUMENT, "unknown catalog function " + std::string(fn)));
}

}  // namespace er::catalog
