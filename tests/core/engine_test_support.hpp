// Shared fixtures for the engine tests: a fake clock, captured warnings and
// a driver that runs the core's steps the way the binding layer does.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.hpp"

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

struct Harness {
  std::int64_t clock = 1764258720000;  // 2025-11-27T15:52:00.000Z
  std::vector<std::string> warnings;
  std::unique_ptr<Engine> engine;

  explicit Harness(bool host_store = false, std::size_t buffer_limit = 10000) {
    EngineOptions o;
    o.now = [this] { return clock; };
    o.seed = {1, 2, 3, 4};
    o.buffer_limit = buffer_limit;
    o.warn = [this](const std::string& w) { warnings.push_back(w); };
    o.host_store = host_store;
    engine = std::make_unique<Engine>(std::move(o));
    auto r = engine->define_kind("sys", std::string_view(kSystemSchema));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    engine->emitter().begin_wire();  // wired, nothing buffered
    while (engine->emitter().take()) {
    }
  }

  // One whole mutation: begin, set_prev, commit. prev/next "" = none.
  Result<CommitOutcome> write(std::string_view id, std::string_view prev, std::string_view next,
                              std::string_view opts = "", std::string_view kind = "sys") {
    auto t = engine->begin(kind, id, opts);
    if (!t.ok()) return t.take_error();
    EXPECT_TRUE(engine->ready(*t));
    auto p = engine->set_prev(*t, prev);
    if (!p.ok()) {
      engine->abort(*t);
      return p.take_error();
    }
    auto out = engine->commit(*t, next);
    if (!out.ok()) engine->abort(*t);
    return out;
  }
};

inline json::Value J(std::string_view text) {
  auto r = json::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? r.value() : json::Value();
}

inline std::string S(const json::Value& v) { return json::to_string(v); }

}  // namespace er::testing
