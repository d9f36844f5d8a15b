#include "engine/change.hpp"

namespace er {

namespace {
const json::Value kNull;
const json::Value& field_or_null(const json::Value* obj, std::string_view key) {
  if (!obj) return kNull;
  const json::Value* v = obj->find(key);
  return v ? *v : kNull;
}
}  // namespace

const json::Value& system_actor() {
  static const json::Value actor = [] {
    auto a = json::Value::object();
    a.set("type", "system");
    return a;
  }();
  return actor;
}

std::vector<std::string> changed_fields(const json::Value* prev, const json::Value* next) {
  std::vector<std::string> out;
  if (!next) {
    if (prev)
      for (const auto& m : prev->as_object()) out.push_back(m.key);
    return out;
  }
  static const json::Object kEmpty;
  const json::Object& a = prev ? prev->as_object() : kEmpty;
  const json::Object& b = next->as_object();
  // Both member lists are sorted: merge-walk the union of keys.
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && json::key_less(a[i].key, b[j].key))) {
      if (!json::equal(a[i].value, kNull)) out.push_back(a[i].key);
      ++i;
    } else if (i == a.size() || json::key_less(b[j].key, a[i].key)) {
      if (!json::equal(b[j].value, kNull)) out.push_back(b[j].key);
      ++j;
    } else {
      if (!json::equal(a[i].value, b[j].value)) out.push_back(a[i].key);
      ++i;
      ++j;
    }
  }
  return out;
}

json::Value make_delta(const json::Value* next, const std::vector<std::string>& fields) {
  json::Object members;
  if (!next) return json::Value(std::move(members));
  members.reserve(fields.size());
  for (const auto& f : fields) members.push_back(json::Member{f, field_or_null(next, f)});
  return json::Value(std::move(members));  // fields are sorted already
}

std::string transition_text(const json::Value* value) {
  if (!value) return "null";
  if (value->is_string()) return value->as_string();
  return json::to_string(*value);
}

std::vector<TransitionRow> transition_rows(const Change& change) {
  std::vector<TransitionRow> rows;
  if (!change.next) return rows;
  rows.reserve(change.changed_fields.size());
  const json::Value* prev = change.prev ? &*change.prev : nullptr;
  for (const auto& f : change.changed_fields) {
    TransitionRow r;
    r.kind = change.kind;
    r.entity_id = change.id;
    r.field = f;
    if (prev) r.from_value = transition_text(&field_or_null(prev, f));
    r.to_value = transition_text(&field_or_null(&*change.next, f));
    r.transitioned_at = change.occurred_at_ms;
    rows.push_back(std::move(r));
  }
  return rows;
}

void write_change_body(const Change& c, std::string& out) {
  out += "\"delta\":";
  json::write(c.delta, out);
  out += ",\"changedFields\":[";
  for (std::size_t i = 0; i < c.changed_fields.size(); ++i) {
    if (i) out += ',';
    json::write_string(c.changed_fields[i], out);
  }
  out += "],\"actor\":";
  json::write(c.actor, out);
  out += ",\"occurredAt\":";
  json::write_string(c.occurred_at, out);
  out += ",\"changeId\":";
  json::write_string(c.change_id, out);
}

void write_change(const Change& c, std::string& out) {
  out += "{\"kind\":";
  json::write_string(c.kind, out);
  out += ",\"id\":";
  json::write_string(c.id, out);
  out += ",\"prev\":";
  if (c.prev) json::write(*c.prev, out); else out += "null";
  out += ",\"next\":";
  if (c.next) json::write(*c.next, out); else out += "null";
  out += ',';
  write_change_body(c, out);
  out += '}';
}

}  // namespace er
