// Regression tests for what the fuzzers (tests/fuzz/) found.
#include <gtest/gtest.h>

#include "engine/engine.hpp"
#include "engine/wire_format.hpp"
#include "engine_test_support.hpp"
#include "schema/schema.hpp"

using namespace er;
using namespace er::testing;

namespace {
const char* kLoose = R"({"type":"object","additionalProperties":true})";
}

// Found by fuzz_pipeline: a state with an empty top-level key ("" is a valid
// JavaScript property) made the embedded store refuse the transition row
// (ER_STORE after the host's write), while a host store took it.
TEST(FuzzRegression, AnEmptyTopLevelKeyIsAFieldLikeAnyOther) {
  Harness h;
  ASSERT_TRUE(h.engine->define_kind("loose", std::string_view(kLoose)).ok());
  auto out = h.write("a", "", R"({"":false,"n":1})", "", "loose");
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->change.changed_fields, (std::vector<std::string>{"", "n"}));
  auto rows = h.engine->history("loose", "a", std::nullopt, 0);
  ASSERT_EQ(rows.size(), 2u);
  auto again = h.write("a", R"({"":false,"n":1})", R"({"":true,"n":1})", "", "loose");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(again->change.changed_fields, std::vector<std::string>{""});
  EXPECT_EQ(h.engine->history("loose", "a", std::nullopt, 0).size(), 3u);
  EXPECT_EQ(h.engine->in_state_since("loose", "a", "", "true"), std::optional<std::int64_t>(h.clock));
}

// Found by fuzz_pipeline: ingest diffed against the raw read state while
// mutate normalises it first (set_prev), so a stored key that the schema
// strips showed up as a change (a spurious event and transition row) in a
// batch but not in a mutate.
TEST(FuzzRegression, IngestNormalisesTheReadPrevLikeMutate) {
  Harness h;
  const char* stored = R"({"name":"a","description":null,"metadata":{},"legacy":1})";
  // mutate: the stripped key is no change
  auto single = h.write("a", stored, R"({"name":"a","description":null,"metadata":{}})");
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE(single->changed);
  // ingest: the same
  auto t = h.engine->begin_batch("sys", {"a", "b"}, {});
  ASSERT_TRUE(t.ok());
  std::vector<Engine::IngestEntry> entries;
  entries.push_back({"a", J(R"({"name":"a","description":null,"metadata":{}})")});
  entries.push_back({"b", std::nullopt});  // tombstone of a stored state with a stripped key
  const std::string prevs = std::string(R"({"a":)") + stored + R"(,"b":)" + stored + "}";
  auto out = h.engine->commit_batch(*t, J(prevs), std::move(entries));
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 2u);
  EXPECT_FALSE((*out)[0].changed) << S(*(*out)[0].change.prev);
  ASSERT_TRUE((*out)[1].changed);
  EXPECT_EQ((*out)[1].change.changed_fields, (std::vector<std::string>{"description", "metadata", "name"}));
  // The normalised prev travels to JavaScript (it differs from the read).
  EXPECT_TRUE((*out)[1].normalized_prev);
  std::string wire;
  write_outcomes(*out, false, wire);
  EXPECT_NE(wire.find(R"("prev":{"description":null,"metadata":{},"name":"a"})"), std::string::npos) << wire;
  EXPECT_TRUE(h.engine->history("sys", "a", std::nullopt, 0).empty());
  EXPECT_EQ(h.engine->pending_tickets(), 0u);
}

// Found by the schema property "a validated state validates again": allOf
// was checked before $ref and anyOf/oneOf normalised the state, so a branch
// that filled a default (or kept extra keys) could hand back a state that
// breaks the allOf — validation accepted what it then rejected.
TEST(FuzzRegression, AllOfHoldsForTheNormalisedState) {
  auto schema = J(R"({"type":"object","allOf":[{"maxProperties":1}],
    "anyOf":[{"properties":{"a":{"default":1}},"additionalProperties":true}]})");
  auto compiled = schema::Schema::compile(schema, "k");
  ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  json::Value two = J(R"({"b":2})");
  auto r = compiled->validate(two, "k", "i");
  ASSERT_FALSE(r.ok()) << "accepted " << S(two);
  EXPECT_EQ(r.error().code, Code::ER_SCHEMA);
  EXPECT_NE(r.error().message.find("at most 1"), std::string::npos) << r.error().message;
  json::Value one = J(R"({"a":5})");
  auto ok = compiled->validate(one, "k", "i");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(S(one), R"({"a":5})");
  json::Value empty = J("{}");
  ASSERT_TRUE(compiled->validate(empty, "k", "i").ok());
  EXPECT_EQ(S(empty), R"({"a":1})");
  json::Value again = empty;
  auto second = compiled->validate(again, "k", "i");
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
}
