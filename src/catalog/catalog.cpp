#include "catalog/catalog.hpp"

#include <algorithm>

#include "engine/engine.hpp"

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

// next.name when it is a string.
std::optional<std::string_view> next_name(const ChangeView& c) {
  if (!c.next) return std::nullopt;
  const std::uint32_t name = c.next.doc->find(c.next.node, "name");
  if (name == json::Doc::kNone || c.next.doc->type(name) != json::Type::String) return std::nullopt;
  return c.next.doc->str(name);
}

void lifecycle(const ChangeView& c, std::string_view created, std::string_view deleted, std::string_view updated,
               std::vector<std::string_view>& out) {
  if (!c.prev && c.next)
    out.push_back(created);
  else if (!c.next)
    out.push_back(deleted);
  else if (!updated.empty())
    out.push_back(updated);
}

json::Value field_or(const json::Value& row, std::string_view key, json::Value fallback) {
  const json::Value* v = row.find(key);
  return v && !v->is_null() ? *v : std::move(fallback);
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

void derive_system_triggers(const ChangeView& c, std::vector<std::string_view>& out) {
  lifecycle(c, kSystemCreated, kSystemDeleted, kSystemUpdated, out);
}
void derive_group_triggers(const ChangeView& c, std::vector<std::string_view>& out) {
  lifecycle(c, kGroupCreated, kGroupDeleted, {}, out);
}

void system_payload(const ChangeView& c, std::string& out) {
  // Keys in canonical order: changedFields, systemId, systemName.
  out += "{\"changedFields\":[";
  bool first = true;
  for (std::string_view f : c.changed_fields) {  // the change's order, filtered to the enum
    if (std::find(std::begin(kChangedFieldEnum), std::end(kChangedFieldEnum), f) == std::end(kChangedFieldEnum))
      continue;
    if (!first) out += ',';
    first = false;
    json::write_string(f, out);
  }
  out += "],\"systemId\":";
  json::write_string(c.id, out);
  if (auto name = next_name(c)) {
    out += ",\"systemName\":";
    json::write_string(*name, out);
  }
  out += '}';
}

void group_payload(const ChangeView& c, std::string& out) {
  out += "{\"groupId\":";
  json::write_string(c.id, out);
  if (auto name = next_name(c)) {
    out += ",\"groupName\":";
    json::write_string(*name, out);
  }
  out += '}';
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
  std::string out =
      R"({"kinds":{"system":"catalog-system","group":"catalog-group"},)"
      R"("systemTriggerEvents":{"created":"catalog.created","updated":"catalog.updated","deleted":"catalog.deleted"},)"
      R"("groupTriggerEvents":{"created":"catalog.group.created","deleted":"catalog.group.deleted"},)"
      R"("changedFieldEnum":["name","description","metadata"],)";
  out += "\"systemStateSchema\":";
  json::write(system_state_schema(), out);
  out += ",\"groupStateSchema\":";
  json::write(group_state_schema(), out);
  out += '}';
  return out;
}

Result<std::string> call(std::string_view fn, std::string_view arg_json) {
  json::Doc doc;
  auto parsed = doc.parse(arg_json);
  if (!parsed.ok()) return parsed.take_error();
  const std::uint32_t root = json::Doc::root();
  if (fn == "toSystemState" || fn == "toGroupState" || fn == "updateMetadata") {
    if (!doc.is_object(root)) return make_error(Code::ER_BAD_ARGUMENT, std::string(fn) + ": expected an object");
    const json::Value arg = json::to_value(doc);
    if (fn == "updateMetadata") {
      const json::Value* config = arg.find("config");
      auto plan = parse_update_metadata_config(config ? *config : json::Value());
      if (!plan.ok()) return plan.take_error();
      const json::Value* current = arg.find("current");
      auto out = json::Value::object();
      out.set("systemId", plan->system_id);
      out.set("strategy", plan->replace ? "replace" : "merge");
      out.set("metadata", apply_metadata_update(current ? *current : json::Value::object(), *plan));
      return json::to_string(out);
    }
    return json::to_string(fn == "toSystemState" ? to_system_state(arg) : to_group_state(arg));
  }
  // The derivers and mappers take a change event: { id, prev, next, changedFields }.
  if (!doc.is_object(root)) return make_error(Code::ER_BAD_ARGUMENT, std::string(fn) + ": change must be an object");
  ChangeView c;
  if (auto id = doc.find(root, "id"); id != json::Doc::kNone && doc.type(id) == json::Type::String) c.id = doc.str(id);
  if (auto p = doc.find(root, "prev"); p != json::Doc::kNone && doc.is_object(p)) c.prev = DocRef{&doc, p};
  if (auto n = doc.find(root, "next"); n != json::Doc::kNone && doc.is_object(n)) c.next = DocRef{&doc, n};
  std::vector<std::string_view> fields;
  if (auto f = doc.find(root, "changedFields"); f != json::Doc::kNone && doc.type(f) == json::Type::Array)
    for (std::uint32_t i = doc.first_item(f); i < doc.end(f); i = doc.end(i))
      if (doc.type(i) == json::Type::String) fields.push_back(doc.str(i));
  c.changed_fields = fields;
  std::string out;
  if (fn == "deriveSystem" || fn == "deriveGroup") {
    std::vector<std::string_view> ids;
    if (fn == "deriveSystem")
      derive_system_triggers(c, ids);
    else
      derive_group_triggers(c, ids);
    out += '[';
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ',';
      json::write_string(ids[i], out);
    }
    out += ']';
    return out;
  }
  if (fn == "systemPayload") {
    system_payload(c, out);
    return out;
  }
  if (fn == "groupPayload") {
    group_payload(c, out);
    return out;
  }
  return make_error(Code::ER_BAD_ARGUMENT, "unknown catalog function " + std::string(fn));
}

}  // namespace er::catalog
