#include "engine/wire_format.hpp"

namespace er {

namespace {
void write_ids(const std::vector<std::uint32_t>& ids, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ids[i]);
  }
  out += ']';
}
void write_strings(const std::vector<std::string>& items, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    json::write_string(items[i], out);
  }
  out += ']';
}
}  // namespace

void write_rows(const std::vector<TransitionRow>& rows, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (i) out += ',';
    out += "{\"kind\":";
    json::write_string(r.kind, out);
    out += ",\"entityId\":";
    json::write_string(r.entity_id, out);
    out += ",\"field\":";
    json::write_string(r.field, out);
    out += ",\"fromValue\":";
    if (r.from_value) json::write_string(*r.from_value, out); else out += "null";
    out += ",\"toValue\":";
    json::write_string(r.to_value, out);
    out += ",\"transitionedAt\":";
    out += std::to_string(r.transitioned_at);
    out += '}';
  }
  out += ']';
}

void write_outcome(const CommitOutcome& o, bool awaiting_append, std::string& out, std::string* tail) {
  out += "{\"changed\":";
  out += o.changed ? "true" : "false";
  if (o.normalized) {
    out += ",\"state\":";
    json::write(*o.normalized, out);
  }
  if (o.changed) {
    const Change& c = o.change;
    auto member = [&](const char* name, const char* bytes_name, const json::Value& v) {
      if (!tail) {
        out += name;
        json::write(v, out);
        return;
      }
      const std::size_t before = tail->size();
      json::write(v, *tail);
      out += bytes_name;
      out += std::to_string(tail->size() - before);
    };
    if (c.prev && (o.masked_prev || o.normalized_prev)) member(",\"prev\":", ",\"prevBytes\":", *c.prev);
    if (c.next && (o.masked_next || o.normalized)) member(",\"next\":", ",\"nextBytes\":", *c.next);
    out += ',';
    write_change_body(c, out);
    out += ",\"transitionedAt\":";
    out += std::to_string(c.occurred_at_ms);
    if (awaiting_append) {
      out += ",\"awaitingAppend\":true,\"rows\":";
      write_rows(o.rows, out);
    } else {
      out += ",\"deliver\":";
      out += o.deliver_now ? "true" : "false";
      out += ",\"subscribers\":";
      write_ids(o.subscribers, out);
    }
    if (o.derived) {
      out += ",\"triggers\":";
      write_strings(o.triggers, out);
      if (o.payload) {
        out += ",\"payload\":";
        json::write(*o.payload, out);
      }
    }
  }
  if (!o.woken.empty()) {
    out += ",\"woken\":";
    write_ids(o.woken, out);
  }
  out += '}';
}

void write_outcomes(const std::vector<CommitOutcome>& outcomes, bool awaiting_append, std::string& out) {
  out += '[';
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (i) out += ',';
    write_outcome(outcomes[i], awaiting_append, out);
  }
  out += ']';
}

void write_error(const Error& error, std::string& out) {
  out += "{\"error\":{\"code\":";
  json::write_string(code_name(error.code), out);
  out += ",\"message\":";
  json::write_string(error.message, out);
  out += ",\"path\":";
  json::write_string(error.path, out);
  out += "}}";
}

}  // namespace er
