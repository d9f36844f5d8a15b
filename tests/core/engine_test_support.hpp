// Shared fixtures for the engine tests: a fake clock, and a driver that runs
// a write the way bindings/entity_reactor.cpp does — wire::encode_write (what
// js/src/wire.js puts in the input buffer), wire::decode_write,
// Engine::write, wire::encode_records — and reads the records back the way
// js/src/wire.js's readEntry does. Every engine test therefore also checks
// the boundary's layout; wire_test.cpp checks the codec on its own.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "boundary/wire.hpp"
#include "engine/engine.hpp"
#include "json/doc.hpp"
#include "json/value.hpp"

namespace er::testing {

inline const char* kSystemSchema = R"({
  "type":"object",
  "properties":{
    "name":{"type":"string","minLength":1},
    "description":{"type":["string","null"]},
    "metadata":{"type":"object","propertyNames":{"type":"string"},"additionalProperties":{}}
  },
  "required":["name","description","metadata"],
  "additionalProperties":false
})";
// Any object; every field is unlisted (changed fields travel by name).
inline const char* kLooseSchema = R"({"type":"object","additionalProperties":true})";

inline constexpr std::int64_t kStartClock = 1764258720000;  // 2025-11-27T15:52:00.000Z

// A host-store row as JS reads it from the record.
struct Row {
  std::string field;
  std::optional<std::string> from;  // nullopt: no prev (NO_VALUE)
  std::string to;
};

// One entry's record, read as js/src/wire.js's readEntry reads it.
struct Entry {
  std::uint32_t flags = 0;
  std::uint32_t token = 0;
  std::optional<std::string> next_text, prev_text;  // NEXT_NORMALIZED / PREV_NORMALIZED
  std::optional<std::string> masked_prev, masked_next, actor, derived;
  std::vector<std::string> fields;           // changed fields, key order (listed by index, others by name)
  std::vector<std::uint32_t> field_indices;  // into Engine::fields(kind), or NO_VALUE
  std::vector<Row> rows;                     // host store only
  std::uint32_t row_count = 0;
  double at = 0;
  std::string change_id, occurred_at;

  bool changed() const { return (flags & wire::F_CHANGED) != 0; }
  bool has(std::uint32_t flag) const { return (flags & flag) != 0; }
};

// A write's result, copied out of the engine (its WriteResult lives only
// until the next call). Most writes have one entry: an Outcome is also its
// first entry (`out->changed()`), and entries[i] are all of them.
struct Outcome : Entry {
  WriteResult::Status status = WriteResult::Status::Done;
  std::uint32_t miss = 0;
  std::vector<Entry> entries;

  bool cache_miss() const { return status == WriteResult::Status::CacheMiss; }
  std::size_t size() const { return entries.size(); }
  const Entry& operator[](std::size_t i) const { return entries.at(i); }
};

inline std::uint32_t read_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// readEntry over the records, the FIELDS array and the TEXTS of a result.
inline std::vector<Entry> read_records(const std::vector<std::uint32_t>& records, const WriteResult& result,
                                       const std::vector<std::string>& kind_fields, bool with_rows) {
  std::vector<Entry> out;
  const std::string& texts = result.texts;
  EXPECT_EQ(records.size() % wire::kRecordWords, 0u);
  for (std::size_t at = 0; at + wire::kRecordWords <= records.size(); at += wire::kRecordWords) {
    const std::uint32_t* r = records.data() + at;
    auto span = [&](std::uint32_t slot) {
      EXPECT_LE(std::size_t{r[slot]} + r[slot + 1], texts.size()) << "span at slot " << slot;
      return texts.substr(r[slot], r[slot + 1]);
    };
    Entry e;
    e.flags = r[wire::R_FLAGS];
    e.token = r[wire::R_TOKEN];
    if (e.has(wire::F_NEXT_NORMALIZED)) e.next_text = span(wire::R_NEXT_TEXT);
    if (e.has(wire::F_PREV_NORMALIZED)) e.prev_text = span(wire::R_PREV_TEXT);
    if (e.changed()) {
      const std::uint32_t count = r[wire::R_FIELD_COUNT], begin = r[wire::R_FIELD_BEGIN];
      EXPECT_LE(std::size_t{begin} + count, result.fields.size());
      std::size_t unlisted = r[wire::R_NAMES];
      for (std::uint32_t k = 0; k < count; ++k) {
        const std::uint32_t index = result.fields[begin + k];
        e.field_indices.push_back(index);
        if (index != wire::NO_VALUE) {
          EXPECT_LT(index, kind_fields.size());
          e.fields.push_back(index < kind_fields.size() ? kind_fields[index] : "<bad index>");
        } else {
          const std::uint32_t n = read_u32(texts.data() + unlisted);
          e.fields.push_back(texts.substr(unlisted + 4, n));
          unlisted += 4 + n;
        }
      }
      EXPECT_EQ(unlisted, std::size_t{r[wire::R_NAMES]} + r[wire::R_NAMES + 1]) << "NAMES span length";
      if (e.has(wire::F_PREV_MASKED)) e.masked_prev = span(wire::R_MASKED_PREV);
      if (e.has(wire::F_NEXT_MASKED)) e.masked_next = span(wire::R_MASKED_NEXT);
      if (e.has(wire::F_ACTOR_MASKED)) e.actor = span(wire::R_ACTOR);
      if (e.has(wire::F_DERIVED)) e.derived = span(wire::R_DERIVED);
      std::memcpy(&e.at, r + wire::R_AT, sizeof e.at);
      const char* ids = reinterpret_cast<const char*>(r + wire::R_IDS);
      e.change_id.assign(ids, UuidGenerator::kChars);
      e.occurred_at.assign(ids + UuidGenerator::kChars, kIsoChars);
      e.row_count = r[wire::R_ROW_COUNT];
      if (with_rows) {
        std::size_t p = r[wire::R_ROWS];
        for (std::uint32_t k = 0; k < e.row_count; ++k) {
          Row row;
          row.field = k < e.fields.size() ? e.fields[k] : "<no field>";
          const std::uint32_t from = read_u32(texts.data() + p);
          p += 4;
          if (from != wire::NO_VALUE) {
            row.from = texts.substr(p, from);
            p += from;
          }
          const std::uint32_t to = read_u32(texts.data() + p);
          row.to = texts.substr(p + 4, to);
          p += 4 + to;
          e.rows.push_back(std::move(row));
        }
        EXPECT_EQ(p, std::size_t{r[wire::R_ROWS]} + r[wire::R_ROWS + 1]) << "ROWS span length";
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

// WriteEntry builders. The views point at the caller's strings.
inline WriteEntry text_prev(std::string_view id, std::string_view prev, std::string_view next) {
  WriteEntry e;
  e.id = id;
  e.prev = PrevSource::Text;
  e.prev_text = prev;
  e.next_text = next;
  return e;
}
inline WriteEntry no_prev(std::string_view id, std::string_view next) {
  WriteEntry e;
  e.id = id;
  e.next_text = next;
  return e;
}
inline WriteEntry cached_prev(std::string_view id, std::uint32_t token, std::string_view next) {
  WriteEntry e;
  e.id = id;
  e.prev = PrevSource::Cached;
  e.prev_token = token;
  e.next_text = next;
  return e;
}
inline WriteEntry removal(WriteEntry e) {
  e.remove = true;
  e.next_text = {};
  return e;
}

struct Harness {
  std::int64_t clock = kStartClock;
  std::unique_ptr<Engine> engine;
  std::uint32_t sys = 0;  // kind "sys" (kSystemSchema)
  bool host_store = false;

  static EngineOptions options(bool host_store = false) {
    EngineOptions o;
    o.seed = {1, 2, 3, 4};
    o.host_store = host_store;
    return o;
  }

  explicit Harness(bool host_store = false) : Harness(options(host_store)) {}
  explicit Harness(EngineOptions o) : host_store(o.host_store) {
    engine = std::make_unique<Engine>(std::move(o));
    sys = kind("sys", kSystemSchema);
  }

  std::uint32_t kind(std::string_view name, std::string_view schema, bool strict = false) {
    auto r = engine->define_kind(name, schema, strict);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : 0;
  }

  // One write call through the boundary, as the binding runs it.
  Result<Outcome> run(std::uint32_t kind, const std::vector<WriteEntry>& entries, std::string_view run_id = "",
                      std::string_view actor = "") {
    std::string input;
    wire::encode_write(run_id, actor, entries, input);
    wire::WriteInput decoded;
    if (auto d = wire::decode_write(input, static_cast<std::uint32_t>(entries.size()), decoded); !d.ok())
      return d.take_error();
    WriteContext ctx;
    ctx.kind = kind;
    ctx.run_id = decoded.run_id;
    ctx.actor = decoded.actor;
    ctx.now = clock;
    auto r = engine->write(ctx, decoded.entries);
    if (!r.ok()) return r.take_error();
    const WriteResult& res = **r;
    Outcome out;
    out.status = res.status;
    out.miss = res.miss;
    if (res.status == WriteResult::Status::CacheMiss) {
      EXPECT_TRUE(res.entries.empty()) << "a cache miss reports entries";
      return out;
    }
    std::vector<std::uint32_t> records;
    wire::encode_records(res, records);
    EXPECT_EQ(res.entries.size(), entries.size());
    out.entries = read_records(records, res, engine->fields(kind), host_store);
    if (!out.entries.empty()) static_cast<Entry&>(out) = out.entries.front();
    return out;
  }

  // A write of `kind` with a text prev ("" = none) and next ("" = a removal).
  Result<Outcome> write(std::uint32_t kind, std::string_view id, std::string_view prev, std::string_view next,
                        std::string_view run_id = "", std::string_view actor = "") {
    WriteEntry e = prev.empty() ? no_prev(id, next) : text_prev(id, prev, next);
    if (next.empty()) e = removal(e);
    return run(kind, {e}, run_id, actor);
  }
  Result<Outcome> write(std::string_view id, std::string_view prev, std::string_view next, std::string_view run_id = "",
                        std::string_view actor = "") {
    return write(sys, id, prev, next, run_id, actor);
  }

  std::vector<TransitionRow> history(std::string_view id, std::optional<std::string_view> field = std::nullopt,
                                     std::size_t limit = 0) const {
    return engine->history(sys, id, field, limit);
  }
};

inline json::Value J(std::string_view text) {
  auto r = json::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? r.value() : json::Value();
}

inline std::string S(const json::Value& v) { return json::to_string(v); }

// Canonical text of a JSON text.
inline std::string C(std::string_view text) { return S(J(text)); }

inline std::vector<std::string> V(std::initializer_list<const char*> items) {
  return std::vector<std::string>(items.begin(), items.end());
}

// A parsed document for the change/diff/deriver tests.
inline std::unique_ptr<json::Doc> D(std::string_view text) {
  auto d = std::make_unique<json::Doc>();
  auto r = d->parse(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message);
  return d;
}

}  // namespace er::testing
