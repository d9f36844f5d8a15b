// The write pipeline (SPEC §2–§9) through Engine::write, driven the way the
// binding drives it (engine_test_support.hpp): what a write decides, what it
// appends, what crosses back to JavaScript. Delivery, subscriptions and the
// event object itself live in JS now (tests/js cover them); the core's part
// of an event is its record: flags, changed fields, masked texts, rows,
// change id and time.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "engine/engine.hpp"
#include "engine_test_support.hpp"

using namespace er;
using namespace er::testing;

namespace {
const char* kAda = R"({"name":"ada","description":null,"metadata":{"tier":1}})";
const char* kAda2 = R"({"metadata":{"tier":1},"name":"ada","description":null})";  // kAda, keys reordered

std::string state(std::string_view name, std::string_view description = "null", std::string_view metadata = "{}") {
  return std::string(R"({"name":")") + std::string(name) + R"(","description":)" + std::string(description) +
         R"(,"metadata":)" + std::string(metadata) + "}";
}
}  // namespace

// ---------------------------------------------------------------- §2 the change

TEST(EngineChange, CreateReportsSortedFieldsWithoutTheNullDescription) {
  Harness h;
  auto out = h.write("s1", "", kAda);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 1u);
  const Entry& e = (*out)[0];
  ASSERT_TRUE(e.changed());
  // description: null on create is null-vs-absent, so unchanged (SPEC §3).
  EXPECT_EQ(e.fields, V({"metadata", "name"}));
  EXPECT_EQ(e.field_indices, (std::vector<std::uint32_t>{1, 2}));  // fields(sys): description, metadata, name
  EXPECT_EQ(h.engine->fields(h.sys), V({"description", "metadata", "name"}));
  EXPECT_EQ(e.occurred_at, "2025-11-27T15:52:00.000Z");
  EXPECT_EQ(e.at, static_cast<double>(kStartClock));
  EXPECT_TRUE(
      std::regex_match(e.change_id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << e.change_id;
  // The host's own texts are the change's prev and next: nothing normalised
  // or masked travels back.
  EXPECT_FALSE(e.next_text || e.prev_text || e.masked_prev || e.masked_next || e.actor || e.derived);
  EXPECT_NE(e.token, 0u);
  // Embedded store: no rows in the record, they are in the log.
  EXPECT_EQ(e.row_count, 2u);
  auto rows = h.history("s1");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].field, "name");  // newest first: appended in field order
  EXPECT_EQ(rows[0].to_value, "ada");
  EXPECT_FALSE(rows[0].from_value.has_value());  // no prev on create
  EXPECT_EQ(rows[1].field, "metadata");
  EXPECT_EQ(rows[1].to_value, R"({"tier":1})");
  EXPECT_EQ(rows[1].transitioned_at, kStartClock);
}

TEST(EngineChange, ChangeIdsAreDistinctWithinOneMillisecond) {
  Harness h;
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto out = h.write("s" + std::to_string(i), "", kAda);
    ASSERT_TRUE(out.ok());
    ids.insert(out->change_id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(EngineChange, ChangeIdsFollowTheSeed) {
  Harness a, b;
  auto x = a.write("s1", "", kAda), y = b.write("s1", "", kAda);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_EQ(x->change_id, y->change_id);  // same seed, same sequence
  b.engine->seed({9, 9, 9, 9});
  auto z = b.write("s2", "", kAda);
  auto w = a.write("s2", "", kAda);
  ASSERT_TRUE(z.ok() && w.ok());
  EXPECT_NE(z->change_id, w->change_id);
}

TEST(EngineChange, OccurredAtIsTheWritesClock) {
  Harness h;
  h.clock = 0;
  auto epoch = h.write("a", "", kAda);
  ASSERT_TRUE(epoch.ok());
  EXPECT_EQ(epoch->occurred_at, "1970-01-01T00:00:00.000Z");
  h.clock = 253402300799999;  // the last millisecond of 9999
  auto last = h.write("b", "", kAda);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->occurred_at, "9999-12-31T23:59:59.999Z");
  EXPECT_EQ(last->at, 253402300799999.0);
  EXPECT_EQ(iso8601(1764258720123), "2025-11-27T15:52:00.123Z");
}

TEST(EngineChange, TheActorCrossesBackOnlyWhenARunMaskedIt) {
  Harness h;
  h.engine->secrets().register_values("run-1", {"hunter2"});
  const char* actor = R"({"type":"user","id":"u1","name":"hunter2"})";
  auto masked = h.write("s1", "", kAda, "run-1", actor);
  ASSERT_TRUE(masked.ok());
  ASSERT_TRUE(masked->has(wire::F_ACTOR_MASKED));
  EXPECT_EQ(*masked->actor, R"({"id":"u1","name":"****","type":"user"})");  // canonical key order
  // Clean actor: JS keeps its own object.
  auto clean = h.write("s2", "", kAda, "run-1", R"({"type":"user","id":"u1","name":"Ada"})");
  ASSERT_TRUE(clean.ok());
  EXPECT_FALSE(clean->has(wire::F_ACTOR_MASKED));
  // Outside a run the actor is not read at all (JS sends none), and an
  // actor text that is not JSON is ignored rather than failing the write.
  auto no_run = h.write("s3", "", kAda, "", actor);
  ASSERT_TRUE(no_run.ok());
  EXPECT_FALSE(no_run->has(wire::F_ACTOR_MASKED));
  auto junk = h.write("s4", "", kAda, "run-1", "{not json hunter2");
  ASSERT_TRUE(junk.ok());
  EXPECT_FALSE(junk->has(wire::F_ACTOR_MASKED));
}

// ---------------------------------------------------------------- §3 equality and the diff

TEST(EngineDiff, KeyOrderNeverCreatesAChange) {
  Harness h;
  auto out = h.write("s1", kAda, kAda2);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->changed());
  EXPECT_EQ(out->row_count, 0u);
  EXPECT_TRUE(out->fields.empty());
  EXPECT_TRUE(h.history("s1").empty());
}

TEST(EngineDiff, NestedNullAndMissingDiffer) {
  Harness h;
  auto out = h.write("s1", state("a"), state("a", "null", R"({"k":null})"));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->fields, V({"metadata"}));
}

TEST(EngineDiff, TopLevelNullAndAbsentAreAlike) {
  Harness h;
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  auto gone = h.write(loose, "a", R"({"a":1,"b":null})", R"({"a":1})");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->changed());
  auto added = h.write(loose, "a", R"({"a":1})", R"({"a":1,"b":null,"c":null})");
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(added->changed());
  auto created = h.write(loose, "b", "", R"({"b":null})");
  ASSERT_TRUE(created.ok());
  EXPECT_FALSE(created->changed());  // a create of only nulls is no change
  EXPECT_TRUE(h.engine->history(loose, "b", std::nullopt, 0).empty());
}

TEST(EngineDiff, AFieldThatDisappearsBecomesNull) {
  Harness h(true);
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  auto out = h.write(loose, "a", R"({"a":1,"b":[2]})", R"({"a":1})");
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->fields, V({"b"}));
  ASSERT_EQ(out->rows.size(), 1u);
  EXPECT_EQ(out->rows[0].from, std::optional<std::string>("[2]"));
  EXPECT_EQ(out->rows[0].to, "null");
}

TEST(EngineDiff, NumbersCompareByValueAndStringsByText) {
  Harness h;
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  auto same =
      h.write(loose, "a", R"({"n":1,"z":0,"e":1e2,"s":"\u00e9"})", "{\"n\":1.0,\"z\":-0,\"e\":100,\"s\":\"\xC3\xA9\"}");
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->changed());
  auto differ = h.write(loose, "a", R"({"n":1,"s":"1"})", R"({"n":"1","s":1})");
  ASSERT_TRUE(differ.ok());
  EXPECT_EQ(differ->fields, V({"n", "s"}));
}

TEST(EngineDiff, ChangedFieldsAreInUtf16Order) {
  Harness h;
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  // U+FF5E (3-byte UTF-8) sorts after U+1F600 (a surrogate pair) in UTF-16.
  auto out = h.write(loose, "a", "", "{\"\xEF\xBD\x9E\":1,\"\xF0\x9F\x98\x80\":2,\"b\":3,\"B\":4}");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->fields, V({"B", "b", "\xF0\x9F\x98\x80", "\xEF\xBD\x9E"}));
}

TEST(EngineDiff, DiffOverDocumentsReportsTheValueNodesOfEachSide) {
  auto prev = D(R"({"a":1,"b":{"x":1},"c":null,"d":"same"})");
  auto next = D(R"({"d":"same","b":{"x":2},"e":[1],"c":null})");
  std::vector<FieldChange> out;
  diff(DocRef{prev.get(), 0}, DocRef{next.get(), 0}, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].name, "a");
  EXPECT_EQ(json::to_string(*prev, out[0].prev), "1");
  EXPECT_EQ(out[0].next, json::Doc::kNone);
  EXPECT_EQ(out[1].name, "b");
  EXPECT_EQ(json::to_string(*prev, out[1].prev), R"({"x":1})");
  EXPECT_EQ(json::to_string(*next, out[1].next), R"({"x":2})");
  EXPECT_EQ(out[2].name, "e");
  EXPECT_EQ(out[2].prev, json::Doc::kNone);
  // A create skips null fields; a tombstone lists every field of prev,
  // nulls included (SPEC §2).
  diff(DocRef{}, DocRef{prev.get(), 0}, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].name, "d");
  diff(DocRef{prev.get(), 0}, DocRef{}, out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[2].name, "c");
  EXPECT_EQ(out[2].next, json::Doc::kNone);
  diff(DocRef{}, DocRef{}, out);
  EXPECT_TRUE(out.empty());
  // A nested node as a side (the change of a parsed event).
  auto event = D(R"({"prev":{"k":1},"next":{"k":2}})");
  diff(DocRef{event.get(), event->find(0, "prev")}, DocRef{event.get(), event->find(0, "next")}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "k");
}

// ---------------------------------------------------------------- §4 kinds

TEST(EngineKinds, KindRules) {
  Harness h;
  auto dup = h.engine->define_kind("sys", std::string_view(kSystemSchema));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Code::ER_DUPLICATE_KIND);
  EXPECT_NE(dup.error().message.find("duplicate kind \"sys\""), std::string::npos);
  EXPECT_EQ(h.engine->define_kind("  ", std::string_view(kSystemSchema)).error().code, Code::ER_BAD_KIND);
  EXPECT_EQ(h.engine->define_kind("", std::string_view(kSystemSchema)).error().code, Code::ER_BAD_KIND);
  auto bad = h.engine->define_kind("str", std::string_view(R"({"type":"string"})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Code::ER_BAD_SCHEMA);
  EXPECT_NE(bad.error().message.find("str"), std::string::npos);
  auto not_json = h.engine->define_kind("x", std::string_view("{nope"));
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.error().code, Code::ER_BAD_JSON);
  EXPECT_NE(not_json.error().message.find("\"x\""), std::string::npos);
  EXPECT_EQ(h.engine->kinds(), V({"sys"}));  // failed definitions leave nothing
  EXPECT_EQ(h.engine->kind_count(), 1u);
  const std::uint32_t b = h.kind("b-kind", kLooseSchema);
  const std::uint32_t a = h.kind("a-kind", kLooseSchema);
  EXPECT_EQ(h.engine->kinds(), V({"a-kind", "b-kind", "sys"}));  // sorted
  EXPECT_EQ(h.engine->kind_index("a-kind"), std::optional<std::uint32_t>(a));
  EXPECT_EQ(h.engine->kind_index("b-kind"), std::optional<std::uint32_t>(b));
  EXPECT_EQ(h.engine->kind_index("nope"), std::nullopt);
  EXPECT_EQ(h.engine->kind_name(a), "a-kind");
  EXPECT_NE(a, b);
  EXPECT_TRUE(h.engine->fields(a).empty());
}

TEST(EngineKinds, UnknownKindAndEmptyIdFailBeforeAnything) {
  Harness h;
  auto unknown = h.run(7, {no_prev("s1", kAda)});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Code::ER_UNKNOWN_KIND);
  auto no_id = h.run(h.sys, {no_prev("", kAda)});
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.error().code, Code::ER_BAD_ID);
  EXPECT_EQ(no_id.error().path, "id");
  auto in_batch = h.run(h.sys, {no_prev("a", kAda), no_prev("", kAda)});
  ASSERT_FALSE(in_batch.ok());
  EXPECT_EQ(in_batch.error().code, Code::ER_BAD_ID);
  EXPECT_EQ(in_batch.error().path, "[1].id");
  EXPECT_EQ(h.engine->entity_count(), 0u);
}

TEST(EngineKinds, ValidationErrorNamesKindIdAndPathAndNothingHappens) {
  Harness h;
  auto out = h.write("s1", "", state("ok", "null", "[]"));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Code::ER_SCHEMA);
  EXPECT_EQ(out.error().path, "metadata");
  EXPECT_NE(out.error().message.find("\"sys\""), std::string::npos) << out.error().message;
  EXPECT_NE(out.error().message.find("\"s1\""), std::string::npos) << out.error().message;
  EXPECT_TRUE(h.history("s1").empty());
  EXPECT_EQ(h.engine->entity_count(), 0u);
  EXPECT_EQ(h.engine->cached_bytes(), 0u);
}

TEST(EngineKinds, UnknownKeysAreStrippedAndTheNormalisedStateCrossesBack) {
  Harness h;
  auto out = h.write("s1", "", R"({"name":"a","description":null,"metadata":{"keep":1},"extra":1})");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->has(wire::F_NEXT_NORMALIZED));
  EXPECT_EQ(*out->next_text, R"({"description":null,"metadata":{"keep":1},"name":"a"})");
  EXPECT_EQ(out->fields, V({"metadata", "name"}));
  // Validated like next, a normalised state is what the engine compares next time.
  auto again = h.write("s1", *out->next_text, R"({"name":"a","description":null,"metadata":{"keep":1},"other":2})");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->changed());
  EXPECT_TRUE(again->has(wire::F_NEXT_NORMALIZED));
}

TEST(EngineKinds, DefaultsAreFilledIn) {
  Harness h;
  const std::uint32_t k = h.kind("def", R"({"type":"object","properties":{"n":{"type":"number","default":1},
    "tags":{"type":"array","items":{"type":"string"},"default":[]}},"additionalProperties":false})");
  auto out = h.write(k, "a", "", "{}");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->next_text.has_value());
  EXPECT_EQ(*out->next_text, R"({"n":1,"tags":[]})");
  EXPECT_EQ(out->fields, V({"n", "tags"}));
  EXPECT_EQ(h.engine->fields(k), V({"n", "tags"}));
}

TEST(EngineKinds, StrictKindRejectsUnknownKeys) {
  Harness h;
  const std::uint32_t strict = h.kind("strict", kSystemSchema, true);
  auto out = h.write(strict, "s1", "", R"({"name":"a","description":null,"metadata":{},"extra":1})");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Code::ER_SCHEMA);
  EXPECT_TRUE(h.write(strict, "s1", "", kAda).ok());
}

TEST(EngineKinds, UnlistedFieldsTravelByName) {
  Harness h;
  const std::uint32_t k = h.kind("mixed", R"({"type":"object","properties":{"b":{"type":"number"},"d":{}},
    "additionalProperties":true})");
  EXPECT_EQ(h.engine->fields(k), V({"b", "d"}));
  auto out = h.write(k, "x", "", R"({"a":1,"b":2,"c":3,"d":4,"":5,"e\"q":6})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->fields, V({"", "a", "b", "c", "d", "e\"q"}));
  EXPECT_EQ(out->field_indices, (std::vector<std::uint32_t>{WriteResult::kUnlisted, WriteResult::kUnlisted, 0,
                                                            WriteResult::kUnlisted, 1, WriteResult::kUnlisted}));
}

TEST(EngineKinds, ValidateReturnsTheNormalisedText) {
  Harness h;
  auto v = h.engine->validate(h.sys, R"({"metadata":{},"name":"a","description":"d","x":1})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, R"({"description":"d","metadata":{},"name":"a"})");
  auto plain = h.engine->validate(h.sys, kAda2);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, C(kAda));
  EXPECT_EQ(h.engine->validate(h.sys, "[1]").error().code, Code::ER_NOT_OBJECT);
  EXPECT_EQ(h.engine->validate(h.sys, "{").error().code, Code::ER_BAD_JSON);
  EXPECT_EQ(h.engine->validate(h.sys, R"({"name":""})").error().code, Code::ER_SCHEMA);
  EXPECT_EQ(h.engine->validate(99, "{}").error().code, Code::ER_UNKNOWN_KIND);
  EXPECT_EQ(h.engine->entity_count(), 0u);
}

TEST(EngineKinds, NonReactiveDeclarations) {
  Harness h;
  ASSERT_TRUE(h.engine->declare_non_reactive_state("samples", "raw-sample", "high volume").ok());
  ASSERT_TRUE(h.engine->declare_non_reactive_state("keys", "sensitive", "").ok());
  EXPECT_EQ(h.engine->declare_non_reactive_state("x", "because", "").error().code, Code::ER_BAD_ARGUMENT);
  EXPECT_EQ(h.engine->declare_non_reactive_state(" ", "sensitive", "").error().code, Code::ER_BAD_ARGUMENT);
  ASSERT_EQ(h.engine->non_reactive_declarations().size(), 2u);
  EXPECT_EQ(h.engine->non_reactive_declarations()[0].table, "samples");
  EXPECT_EQ(h.engine->non_reactive_declarations()[0].reason, "raw-sample");
  EXPECT_EQ(h.engine->non_reactive_declarations()[0].note, "high volume");
}

// ---------------------------------------------------------------- §5 the pipeline

TEST(EnginePipeline, TransitionTextEncoding) {
  Harness h;
  const std::string first = state("a", "\"d\"", R"({"b":[1,2],"a":true})");
  ASSERT_TRUE(h.write("s1", "", first).ok());
  h.clock += 5;
  ASSERT_TRUE(h.write("s1", first, state("a")).ok());
  auto rows = h.history("s1");
  ASSERT_EQ(rows.size(), 5u);  // newest first: metadata, description; then the create's
  EXPECT_EQ(rows[0].field, "metadata");
  EXPECT_EQ(rows[0].from_value, std::optional<std::string>(R"({"a":true,"b":[1,2]})"));
  EXPECT_EQ(rows[0].to_value, "{}");
  EXPECT_EQ(rows[0].transitioned_at, h.clock);
  EXPECT_EQ(rows[1].field, "description");
  EXPECT_EQ(rows[1].from_value, std::optional<std::string>("d"));  // a string as itself
  EXPECT_EQ(rows[1].to_value, "null");
  EXPECT_EQ(rows[4].field, "description");
  EXPECT_FALSE(rows[4].from_value.has_value());  // no prev on create
  EXPECT_EQ(rows[4].to_value, "d");
}

TEST(EnginePipeline, AHostStoreGetsTheRowsInTheRecord) {
  Harness h(true);
  auto out = h.write("s1", "", state("a", "\"x\""));
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->rows.size(), 3u);
  EXPECT_EQ(out->rows[0].field, "description");
  EXPECT_FALSE(out->rows[0].from.has_value());
  EXPECT_EQ(out->rows[0].to, "x");
  EXPECT_EQ(out->rows[2].to, "a");
  auto update = h.write("s1", state("a", "\"x\""), state("a", "\"quote \\\" \\u00e9\"", R"({"k":[null]})"));
  ASSERT_TRUE(update.ok());
  ASSERT_EQ(update->rows.size(), 2u);
  EXPECT_EQ(update->rows[0].from, std::optional<std::string>("x"));
  EXPECT_EQ(update->rows[0].to, "quote \" \xC3\xA9");
  EXPECT_EQ(update->rows[1].from, std::optional<std::string>("{}"));
  EXPECT_EQ(update->rows[1].to, R"({"k":[null]})");
  EXPECT_TRUE(h.history("s1").empty());  // the host keeps the rows
}

TEST(EnginePipeline, TombstoneListsEveryPrevFieldAndHasNoRows) {
  for (bool host : {false, true}) {
    Harness h(host);
    ASSERT_TRUE(h.write("s1", "", kAda).ok());
    const std::size_t before = h.history("s1").size();
    auto out = h.write("s1", kAda, "");
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(out->changed());
    EXPECT_EQ(out->fields, V({"description", "metadata", "name"}));  // null description too
    EXPECT_EQ(out->row_count, 0u);
    EXPECT_TRUE(out->rows.empty());
    EXPECT_EQ(out->token, 0u);
    EXPECT_EQ(h.history("s1").size(), before);
  }
}

TEST(EnginePipeline, RemovingAMissingEntityIsANoop) {
  Harness h;
  auto out = h.write("ghost", "", "");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->changed());
  EXPECT_EQ(out->token, 0u);
  EXPECT_EQ(h.engine->entity_count(), 0u);
}

TEST(EnginePipeline, NonObjectStatesAreRejected) {
  Harness h;
  for (const char* bad : {"[]", "1", "\"x\"", "null", "true"}) {
    auto out = h.write("s1", "", bad);
    ASSERT_FALSE(out.ok()) << bad;
    EXPECT_EQ(out.error().code, Code::ER_NOT_OBJECT) << bad;
    EXPECT_NE(out.error().message.find("apply"), std::string::npos) << out.error().message;
    auto prev = h.write("s1", bad, kAda);
    ASSERT_FALSE(prev.ok());
    EXPECT_EQ(prev.error().code, Code::ER_NOT_OBJECT);
    EXPECT_NE(prev.error().message.find("read"), std::string::npos) << prev.error().message;
  }
  EXPECT_EQ(h.engine->entity_count(), 0u);
  EXPECT_TRUE(h.write("s1", "", kAda).ok());
}

TEST(EnginePipeline, PrevIsNormalisedByTheSchemaSoStrippedKeysNeverDiff) {
  Harness h;
  auto out = h.write("s1", R"({"name":"a","description":null,"metadata":{},"legacy":1})",
                     R"({"name":"b","description":null,"metadata":{},"legacy":2})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->fields, V({"name"}));
  ASSERT_TRUE(out->has(wire::F_PREV_NORMALIZED));
  EXPECT_EQ(*out->prev_text, R"({"description":null,"metadata":{},"name":"a"})");
  EXPECT_EQ(*out->next_text, R"({"description":null,"metadata":{},"name":"b"})");
  // A stored prev that no longer validates is compared as it is.
  auto raw = h.write("s2", R"({"name":5,"description":null,"metadata":{}})", kAda);
  ASSERT_TRUE(raw.ok());
  EXPECT_FALSE(raw->has(wire::F_PREV_NORMALIZED));
  EXPECT_EQ(raw->fields, V({"metadata", "name"}));
  // ... also when it would have been normalised had it been valid.
  auto both = h.write("s3", R"({"name":5,"description":null,"metadata":{},"legacy":1})", kAda);
  ASSERT_TRUE(both.ok());
  EXPECT_FALSE(both->has(wire::F_PREV_NORMALIZED));
  EXPECT_EQ(both->fields, V({"legacy", "metadata", "name"}));
}

TEST(EnginePipeline, AFailedWriteLeavesNoTrace) {
  Harness h;
  auto created = h.write("s1", "", kAda);
  ASSERT_TRUE(created.ok());
  const std::size_t rows = h.history("s1").size();
  const std::size_t cached = h.engine->cached_bytes();
  for (const std::string& bad : {std::string("{"), state(""), std::string("[]")}) {
    auto out = h.run(h.sys, {cached_prev("s1", created->token, bad)});
    ASSERT_FALSE(out.ok()) << bad;
  }
  EXPECT_EQ(h.history("s1").size(), rows);
  EXPECT_EQ(h.engine->cached_bytes(), cached);
  // The committed state is still the one named by the token.
  auto next = h.run(h.sys, {cached_prev("s1", created->token, state("ada", "null", R"({"tier":2})"))});
  ASSERT_TRUE(next.ok());
  ASSERT_FALSE(next->cache_miss());
  EXPECT_EQ(next->fields, V({"metadata"}));
}

// ---------------------------------------------------------------- §5 reads

TEST(EngineReads, InStateSinceAndTransitionCountWindows) {
  Harness h;
  const std::int64_t t0 = h.clock;
  ASSERT_TRUE(h.write("s1", "", state("a")).ok());
  h.clock = t0 + 1000;
  ASSERT_TRUE(h.write("s1", state("a"), state("b")).ok());
  h.clock = t0 + 2000;
  ASSERT_TRUE(h.write("s1", state("b"), state("a")).ok());
  // current name "a": the latest row with toValue "a" is at t0+2000, not the create.
  auto text = h.engine->field_text(R"({"name":"a"})", "name");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "a");
  EXPECT_EQ(h.engine->in_state_since(h.sys, "s1", "name", *text), t0 + 2000);
  EXPECT_EQ(h.engine->in_state_since(h.sys, "s1", "name", "b"), t0 + 1000);
  EXPECT_EQ(h.engine->in_state_since(h.sys, "s1", "name", "zzz"), std::nullopt);
  EXPECT_EQ(h.engine->in_state_since(h.sys, "nobody", "name", "a"), std::nullopt);
  EXPECT_EQ(h.engine->in_state_since(h.sys, "s1", "metadata", "{}"), t0);
  const std::int64_t now = t0 + 2500;
  EXPECT_EQ(h.engine->transition_count(h.sys, "s1", "name", 500, now), 1u);   // >= t0+2000
  EXPECT_EQ(h.engine->transition_count(h.sys, "s1", "name", 1500, now), 2u);  // >= t0+1000
  EXPECT_EQ(h.engine->transition_count(h.sys, "s1", "name", 1499, now), 1u);
  EXPECT_EQ(h.engine->transition_count(h.sys, "s1", "name", 10000, now), 3u);
  EXPECT_EQ(h.engine->transition_count(h.sys, "s1", "metadata", 10000, now), 1u);
  EXPECT_EQ(h.engine->transition_count(h.sys, "nobody", "name", 10000, now), 0u);
}

TEST(EngineReads, FieldTextIsTheTransitionText) {
  Harness h;
  EXPECT_EQ(*h.engine->field_text(R"({"name":"a"})", "nope"), "null");
  EXPECT_EQ(*h.engine->field_text(R"({"n":null})", "n"), "null");
  EXPECT_EQ(*h.engine->field_text(R"({"s":"x\"y"})", "s"), "x\"y");
  EXPECT_EQ(*h.engine->field_text(R"({"o":{"b":1,"a":[1.50,true]}})", "o"), R"({"a":[1.5,true],"b":1})");
  EXPECT_EQ(*h.engine->field_text(R"({"n":1e21})", "n"), "1e+21");
  EXPECT_EQ(h.engine->field_text("[1]", "n").error().code, Code::ER_NOT_OBJECT);
  EXPECT_EQ(h.engine->field_text("{", "n").error().code, Code::ER_BAD_JSON);
}

TEST(EngineReads, HistoryNewestFirstWithFieldAndLimit) {
  Harness h;
  std::string prev;
  for (int i = 0; i < 5; ++i) {
    const std::string next = state("n" + std::to_string(i));
    ASSERT_TRUE(h.write("s1", prev, next).ok());
    prev = next;
    ++h.clock;
  }
  auto names = h.history("s1", "name", 2);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].to_value, "n4");
  EXPECT_EQ(names[0].from_value, std::optional<std::string>("n3"));
  EXPECT_EQ(names[1].to_value, "n3");
  EXPECT_EQ(h.history("s1").size(), 6u);
  EXPECT_EQ(h.history("s1", std::nullopt, 4).size(), 4u);
  EXPECT_TRUE(h.history("s1", "nope").empty());
  EXPECT_TRUE(h.history("nobody").empty());
}

TEST(EngineReads, HistoryOfTheFieldNamedEmptyIsThatFieldsRowsOnly) {
  Harness h;
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  ASSERT_TRUE(h.write(loose, "a", "", R"({"":1,"x":1})").ok());
  ASSERT_TRUE(h.write(loose, "a", R"({"":1,"x":1})", R"({"":2,"x":1})").ok());
  auto empty_field = h.engine->history(loose, "a", std::string_view(""), 0);
  ASSERT_EQ(empty_field.size(), 2u);
  for (const auto& r : empty_field) EXPECT_EQ(r.field, "");
  EXPECT_EQ(h.engine->history(loose, "a", std::string_view(""), 1).front().to_value, "2");
  EXPECT_EQ(h.engine->history(loose, "a", std::nullopt, 0).size(), 3u);
}

TEST(EngineReads, RetentionCapsRowsPerEntity) {
  EngineOptions o = Harness::options();
  o.retention_per_entity = 3;
  Harness h(o);
  std::string prev;
  for (int i = 0; i < 10; ++i) {
    const std::string next = state("n" + std::to_string(i));
    ASSERT_TRUE(h.write("s1", prev, next).ok());
    prev = next;
    ++h.clock;
  }
  auto rows = h.history("s1");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].to_value, "n9");
  EXPECT_EQ(rows[2].to_value, "n7");
  EXPECT_EQ(h.engine->transition_count(h.sys, "s1", "name", 100, h.clock), 3u);
  EXPECT_EQ(h.engine->transition_count(h.sys, "s1", "metadata", 100, h.clock), 0u);  // the create's dropped
}

TEST(EngineReads, TheSameIdInTwoKindsIsTwoEntities) {
  Harness h;
  const std::uint32_t other = h.kind("other", kSystemSchema);
  auto a = h.write("x", "", state("in-sys"));
  auto b = h.write(other, "x", "", state("in-other"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(h.engine->entity_count(), 2u);
  EXPECT_EQ(h.history("x", "name").front().to_value, "in-sys");
  EXPECT_EQ(h.engine->history(other, "x", std::string_view("name"), 0).front().to_value, "in-other");
  // Each kind's token names its own state.
  auto cached = h.run(other, {cached_prev("x", b->token, state("in-other"))});
  ASSERT_TRUE(cached.ok());
  EXPECT_FALSE(cached->cache_miss());
  EXPECT_FALSE(cached->changed());
  auto crossed = h.run(other, {cached_prev("x", a->token, state("in-sys"))});
  ASSERT_TRUE(crossed.ok());
  EXPECT_TRUE(crossed->cache_miss());
}

// ---------------------------------------------------------------- §7 masking

TEST(EngineMasking, RunSecretsAreMaskedInTheChangeAndRowsNotInTheState) {
  for (bool host : {false, true}) {
    SCOPED_TRACE(host ? "host store" : "embedded store");
    Harness h(host);
    h.engine->secrets().register_values("run-1", {"hunter2", "tok-123"});
    const std::string prev = state("a", "null", R"({"old":"tok-123"})");
    const std::string next = state("a", "\"pw hunter2\"", R"({"deep":[{"k":"x hunter2 y"}],"n":5})");
    auto out = h.write("s1", prev, next, "run-1");
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(out->changed());
    ASSERT_TRUE(out->masked_prev && out->masked_next);
    EXPECT_EQ(*out->masked_prev, R"({"description":null,"metadata":{"old":"****"},"name":"a"})");
    EXPECT_EQ(*out->masked_next,
              R"({"description":"pw ****","metadata":{"deep":[{"k":"x **** y"}],"n":5},"name":"a"})");
    EXPECT_FALSE(out->next_text.has_value());  // the host's own (unmasked) value stands
    std::vector<std::string> row_texts;
    for (const auto& r : h.history("s1")) {
      row_texts.push_back(r.to_value);
      row_texts.push_back(r.from_value.value_or(""));
    }
    for (const auto& r : out->rows) {
      row_texts.push_back(r.to);
      row_texts.push_back(r.from.value_or(""));
    }
    ASSERT_EQ(row_texts.size(), 4u);
    for (const auto& t : row_texts) {
      EXPECT_EQ(t.find("hunter2"), std::string::npos) << t;
      EXPECT_EQ(t.find("tok-123"), std::string::npos) << t;
    }
  }
}

TEST(EngineMasking, TheCacheKeepsTheUnmaskedState) {
  Harness h;
  h.engine->secrets().register_values("run-1", {"hunter2"});
  auto masked = h.write("s1", "", state("a", "\"pw hunter2\""), "run-1");
  ASSERT_TRUE(masked.ok());
  ASSERT_TRUE(masked->masked_next.has_value());
  EXPECT_EQ(*masked->masked_next, R"({"description":"pw ****","metadata":{},"name":"a"})");
  // The next write, outside the run, diffs against the real value.
  auto plain = h.run(h.sys, {cached_prev("s1", masked->token, state("b", "\"pw hunter2\""))});
  ASSERT_TRUE(plain.ok());
  ASSERT_FALSE(plain->cache_miss());
  EXPECT_EQ(plain->fields, V({"name"}));
  auto rows = h.history("s1", "description");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].to_value, "pw ****");  // the run's row stays masked
}

TEST(EngineMasking, WritesOutsideTheRunAndRunsWithoutSecretsAreNotMasked) {
  Harness h(true);
  h.engine->secrets().register_values("run-1", {"hunter2"});
  for (const char* run : {"", "run-2"}) {
    auto out = h.write(std::string("s-") + run, "", state("hunter2"), run);
    ASSERT_TRUE(out.ok());
    EXPECT_FALSE(out->masked_next.has_value());
    EXPECT_EQ(out->rows.back().to, "hunter2");
  }
  h.engine->secrets().register_values("run-3", {""});  // only empty values: nothing to mask
  auto empty = h.write("s3", "", state("hunter2"), "run-3");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->masked_next.has_value());
}

TEST(EngineMasking, AnIdHoldingASecretOfItsRunIsRefused) {
  Harness h(true);
  h.engine->secrets().register_values("run-1", {"hunter2"});
  auto out = h.write("sys-hunter2", "", state("a"), "run-1");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Code::ER_SECRET_IN_ID);
  EXPECT_EQ(out.error().path, "id");
  EXPECT_EQ(out.error().message.find("hunter2"), std::string::npos) << out.error().message;
  EXPECT_EQ(h.engine->entity_count(), 0u);
  // The check the host runs before read agrees with write().
  auto pre = h.engine->check_run_id(h.sys, "run-1", "x-hunter2-y", "[2].id");
  ASSERT_FALSE(pre.ok());
  EXPECT_EQ(pre.error().code, Code::ER_SECRET_IN_ID);
  EXPECT_EQ(pre.error().path, "[2].id");
  EXPECT_TRUE(h.engine->check_run_id(h.sys, "run-1", "plain", "id").ok());
  EXPECT_TRUE(h.engine->check_run_id(h.sys, "", "hunter2", "id").ok());       // no run
  EXPECT_TRUE(h.engine->check_run_id(h.sys, "run-2", "hunter2", "id").ok());  // another run
  // Without the run, the same id is an ordinary write.
  auto plain = h.write("sys-hunter2", "", state("a"));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->changed());
}

TEST(EngineMasking, AChangeOnlyInsideASecretIsNoChangeAfterMasking) {
  Harness h;
  h.engine->secrets().register_values("r", {"secret-a", "secret-b"});
  auto out = h.write("s1", state("x", "\"secret-a\""), state("x", "\"secret-b\""), "r");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->changed());  // the diff runs on the masked copies (SPEC §5 step 4)
  EXPECT_TRUE(h.history("s1").empty());
}

TEST(EngineMasking, KeysAreMaskedAndReSorted) {
  Harness h(true);
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  h.engine->secrets().register_values("r", {"ALPHA", "BRAVO"});
  auto out = h.write(loose, "a", "", R"({"b":{"k-ALPHA":1,"k-BRAVO":2,"a":3},"zALPHA":1})", "r");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->masked_next.has_value());
  // Two keys that mask alike keep one member (the later one).
  EXPECT_EQ(*out->masked_next, R"({"b":{"a":3,"k-****":2},"z****":1})");
  EXPECT_EQ(out->fields, V({"b", "z****"}));  // changed fields are the masked names
  for (const auto& r : out->rows) EXPECT_EQ(r.field.find("ALPHA"), std::string::npos);
}

TEST(EngineMasking, ANormalisedStateCrossesBackUnmaskedBesideItsMaskedCopy) {
  Harness h;
  h.engine->secrets().register_values("r", {"hunter2"});
  auto out = h.write("s1", "", R"({"name":"hunter2","description":null,"metadata":{},"junk":"hunter2"})", "r");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->next_text && out->masked_next);
  EXPECT_EQ(*out->next_text, R"({"description":null,"metadata":{},"name":"hunter2"})");
  EXPECT_EQ(*out->masked_next, R"({"description":null,"metadata":{},"name":"****"})");
}

TEST(EngineMasking, NativeDerivationSeesTheMaskedChange) {
  Harness h;
  ASSERT_TRUE(h.engine->derivers()
                  .add_native(
                      "sys", "names",
                      [](const ChangeView& c, std::vector<std::string_view>& out) { out.push_back("changed"); },
                      [](const ChangeView& c, std::string& out) {
                        json::write(*c.next.doc, c.next.doc->find(c.next.node, "name"), out);
                      })
                  .ok());
  h.engine->secrets().register_values("r", {"hunter2"});
  auto out = h.write("s1", "", state("hunter2"), "r");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->derived.has_value());
  EXPECT_EQ(*out->derived, R"({"triggers":["changed"],"payload":"****"})");
}

// ---------------------------------------------------------------- §6 derivers

TEST(EngineDerivers, UnionInRegistrationOrderFirstOccurrenceKeptFailuresSkipped) {
  DeriverRegistry reg;
  ASSERT_TRUE(reg.add_host("k", 1, 0).ok());
  ASSERT_TRUE(reg.add_host("k", 2, 0).ok());
  ASSERT_TRUE(reg.add_host("k", 3, 0).ok());
  ASSERT_TRUE(reg.add_host("k", 1, 0).ok());  // the same deriver twice is harmless
  ASSERT_TRUE(reg.add_host("k", 4, 0).ok());
  EXPECT_EQ(reg.add_host(" ", 5, 0).error().code, Code::ER_BAD_KIND);
  EXPECT_EQ(reg.add_host("k", 0, 0).error().code, Code::ER_BAD_ARGUMENT);
  ChangeView c;
  c.kind = "k";
  std::vector<Error> errors;
  std::vector<std::uint32_t> called;
  auto ids = reg.derive(
      c,
      [&](std::uint32_t key) -> Result<json::Value> {
        called.push_back(key);
        if (key == 1) return J(R"(["a","b",""])");
        if (key == 2) return make_error(Code::ER_BAD_ARGUMENT, "deriver threw");
        if (key == 3) return J(R"(["b",7,null,"c"])");
        return J(R"({"not":"a list"})");
      },
      [&](const Error& e) { errors.push_back(e); });
  EXPECT_EQ(ids, V({"a", "b", "c"}));
  EXPECT_EQ(called, (std::vector<std::uint32_t>{1, 2, 3, 4}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "deriver threw");
  c.kind = "none";
  EXPECT_TRUE(reg.derive(c, nullptr, nullptr).empty());
  EXPECT_TRUE(reg.has_derivers("k"));
  EXPECT_FALSE(reg.has_derivers("none"));
}

TEST(EngineDerivers, PayloadMapperRules) {
  DeriverRegistry reg;
  ASSERT_TRUE(reg.add_host("k", 1, 10).ok());
  ASSERT_TRUE(reg.add_host("k", 1, 10).ok());  // the same mapper again is fine
  ASSERT_TRUE(reg.add_host("k", 2, 0).ok());   // a deriver without a mapper is fine
  auto dup = reg.add_host("k", 3, 11);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Code::ER_DUPLICATE_MAPPER);
  EXPECT_NE(dup.error().message.find("\"k\""), std::string::npos);
  EXPECT_EQ(reg.mapper_key("k"), 10u);
  EXPECT_EQ(reg.mapper_key("none"), 0u);
  EXPECT_FALSE(reg.all_native("k"));
  EXPECT_TRUE(reg.all_native("none"));
  // A native mapper for a kind with a host mapper is a second mapper too.
  EXPECT_EQ(reg.add_native("k", "n", nullptr, [](const ChangeView&, std::string&) {}).error().code,
            Code::ER_DUPLICATE_MAPPER);
  ASSERT_TRUE(reg.add_native("n", "one", nullptr, [](const ChangeView&, std::string& o) { o += "1"; }).ok());
  ASSERT_TRUE(reg.add_native("n", "one", nullptr, [](const ChangeView&, std::string& o) { o += "1"; }).ok());
  EXPECT_EQ(reg.add_native("n", "two", nullptr, [](const ChangeView&, std::string& o) { o += "2"; }).error().code,
            Code::ER_DUPLICATE_MAPPER);
  EXPECT_EQ(reg.mapper_key("n"), DeriverRegistry::kNativeMapper);
  ChangeView c;
  c.kind = "n";
  std::string payload;
  EXPECT_TRUE(reg.native_payload(c, payload));
  EXPECT_EQ(payload, "1");
  c.kind = "k";
  EXPECT_FALSE(reg.native_payload(c, payload));
}

TEST(EngineDerivers, ADeriverMayRegisterDeriversWhileDeriveRuns) {
  DeriverRegistry reg;
  ASSERT_TRUE(reg.add_host("k", 1, 0).ok());
  ChangeView c;
  c.kind = "k";
  std::vector<std::uint32_t> called;
  std::uint32_t next_key = 100;
  auto call = [&](std::uint32_t key) -> Result<json::Value> {
    called.push_back(key);
    // Enough registrations to move the kind's list in memory.
    for (int i = 0; i < 64; ++i) EXPECT_TRUE(reg.add_host("k", next_key++, 0).ok());
    EXPECT_TRUE(reg.add_host("other", next_key++, 0).ok());  // and the registry's map
    auto ids = json::Value::array();
    ids.as_array().push_back(json::Value("id-" + std::to_string(key)));
    return ids;
  };
  auto first = reg.derive(c, call, nullptr);
  EXPECT_EQ(first, V({"id-1"}));  // what registered meanwhile counts from the next call on
  EXPECT_EQ(called.size(), 1u);
  called.clear();
  auto second = reg.derive(c, call, nullptr);
  EXPECT_EQ(called.size(), 65u);
  EXPECT_EQ(second.size(), 65u);
  EXPECT_EQ(second[1], "id-100");
}

TEST(EngineDerivers, NativeDerivationRunsInsideTheWrite) {
  Harness h;
  ASSERT_TRUE(h.engine->derivers()
                  .add_native(
                      "sys", "test",
                      [](const ChangeView& c, std::vector<std::string_view>& out) {
                        out.push_back(c.prev ? "upd" : "new");
                        out.push_back("");     // dropped
                        out.push_back("new");  // a repeat: dropped
                      },
                      [](const ChangeView& c, std::string& out) {
                        out += "{\"id\":";
                        json::write_string(c.id, out);
                        out += ",\"fields\":" + std::to_string(c.changed_fields.size()) + "}";
                      })
                  .ok());
  ASSERT_TRUE(h.engine->derivers()
                  .add_native(
                      "sys", "second",
                      [](const ChangeView&, std::vector<std::string_view>& out) {
                        out.push_back("upd");
                        out.push_back("z");
                      },
                      nullptr)
                  .ok());
  auto out = h.write("s1", "", kAda);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->has(wire::F_DERIVED));
  EXPECT_EQ(*out->derived, R"({"triggers":["new","upd","z"],"payload":{"id":"s1","fields":2}})");
  auto none = h.write("s1", kAda, kAda2);  // no change: nothing derived
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->derived.has_value());
  // A host deriver for the kind: JS derives on request, the write does not.
  ASSERT_TRUE(h.engine->derivers().add_host("sys", 7, 0).ok());
  auto host = h.write("s1", kAda, state("b"));
  ASSERT_TRUE(host.ok());
  ASSERT_TRUE(host->changed());
  EXPECT_FALSE(host->derived.has_value());
  // A kind without derivers derives nothing.
  const std::uint32_t loose = h.kind("loose", kLooseSchema);
  auto plain = h.write(loose, "a", "", R"({"a":1})");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->derived.has_value());
}

TEST(EngineDerivers, NativeDerivationWithoutAMapperHasNoPayload) {
  Harness h;
  ASSERT_TRUE(
      h.engine->derivers()
          .add_native(
              "sys", "t",
              [](const ChangeView& c, std::vector<std::string_view>& out) { out.push_back(c.next ? "live" : "gone"); },
              nullptr)
          .ok());
  auto out = h.write("s1", kAda, "");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->derived.has_value());
  EXPECT_EQ(*out->derived, R"({"triggers":["gone"]})");
}

TEST(EngineDerivers, ParseChangeReadsTheEventJsHandsBack) {
  Harness h;
  auto c = h.engine->parse_change(
      R"({"kind":"sys","id":"s1","prev":null,"next":{"name":"a"},"changedFields":["name",5,"x"],"delta":{}})");
  ASSERT_TRUE(c.ok()) << c.error().message;
  const ChangeView v = (*c)->view();
  EXPECT_EQ(v.kind, "sys");
  EXPECT_EQ(v.id, "s1");
  EXPECT_FALSE(v.prev);
  ASSERT_TRUE(v.next);
  EXPECT_EQ(json::to_string(*v.next.doc, v.next.node), R"({"name":"a"})");
  EXPECT_EQ(std::vector<std::string_view>(v.changed_fields.begin(), v.changed_fields.end()),
            (std::vector<std::string_view>{"name", "x"}));
  EXPECT_EQ(h.engine->parse_change("[1]").error().code, Code::ER_BAD_ARGUMENT);
  EXPECT_EQ(h.engine->parse_change(R"({"kind":" "})").error().code, Code::ER_BAD_KIND);
  EXPECT_EQ(h.engine->parse_change(R"({"kind":1})").error().code, Code::ER_BAD_KIND);
  EXPECT_EQ(h.engine->parse_change("{").error().code, Code::ER_BAD_JSON);
}

// ---------------------------------------------------------------- §9 batches

TEST(EngineBatch, IngestDiffsAgainstTheReadStateAndEarlierEntries) {
  Harness h;
  // As js/src/engine.js builds a batch: each id's prev is what read returned
  // for its first entry, then the previous entry's next as text.
  const std::string a1 = state("a1"), a2 = state("a2"), b = state("b"), c = state("c");
  auto out = h.run(h.sys, {no_prev("a", a1), text_prev("b", b, b), text_prev("a", a1, a2),
                           removal(text_prev("c", c, "")), removal(no_prev("d", ""))});
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 5u);
  EXPECT_TRUE((*out)[0].changed());
  EXPECT_EQ((*out)[0].fields, V({"metadata", "name"}));
  EXPECT_FALSE((*out)[1].changed());
  EXPECT_NE((*out)[1].token, 0u);  // unchanged, still cached
  EXPECT_TRUE((*out)[2].changed());
  EXPECT_EQ((*out)[2].fields, V({"name"}));
  EXPECT_TRUE((*out)[3].changed());
  EXPECT_EQ((*out)[3].fields, V({"description", "metadata", "name"}));
  EXPECT_EQ((*out)[3].token, 0u);
  EXPECT_FALSE((*out)[4].changed());
  EXPECT_NE((*out)[0].change_id, (*out)[2].change_id);
  auto rows = h.history("a", "name");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].from_value, std::optional<std::string>("a1"));
  // The entity's token after the batch is its last entry's.
  auto again = h.run(h.sys, {cached_prev("a", (*out)[2].token, a2)});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->cache_miss());
  EXPECT_FALSE(again->changed());
}

TEST(EngineBatch, OneBadEntryFailsTheWholeBatchBeforeAnythingIsAppended) {
  Harness h;
  auto created = h.write("a", "", state("a"));
  ASSERT_TRUE(created.ok());
  const std::size_t rows = h.history("a").size();
  const std::string bad_name = R"({"name":5,"description":null,"metadata":{}})";
  struct Case {
    std::vector<WriteEntry> entries;
    Code code;
    std::string path;
  };
  const std::string a2 = state("a2"), b = state("b");
  const Case cases[] = {
      {{cached_prev("a", created->token, a2), no_prev("b", bad_name)}, Code::ER_SCHEMA, "[1].name"},
      {{cached_prev("a", created->token, a2), no_prev("b", "{")}, Code::ER_BAD_JSON, "[1]"},
      {{cached_prev("a", created->token, a2), no_prev("b", b), text_prev("c", "[]", b)}, Code::ER_NOT_OBJECT, "[2]"},
      {{no_prev("b", b), cached_prev("a", created->token, "\"x\"")}, Code::ER_NOT_OBJECT, "[1]"},
  };
  for (const Case& c : cases) {
    auto out = h.run(h.sys, c.entries);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, c.code) << out.error().message;
    EXPECT_EQ(out.error().path, c.path) << out.error().message;
    const std::string entry = "entry " + c.path.substr(1, 1);
    EXPECT_NE(out.error().message.find(entry), std::string::npos) << out.error().message;
  }
  EXPECT_EQ(h.history("a").size(), rows);
  EXPECT_TRUE(h.history("b").empty());
  EXPECT_EQ(h.engine->entity_count(), 1u);
  // The committed state and its token are untouched.
  auto after = h.run(h.sys, {cached_prev("a", created->token, a2)});
  ASSERT_TRUE(after.ok());
  ASSERT_FALSE(after->cache_miss());
  EXPECT_EQ(after->fields, V({"name"}));
}

TEST(EngineBatch, AStaleTokenAnywhereInTheBatchIsACacheMissWithNoEffect) {
  Harness h;
  auto a = h.write("a", "", state("a"));
  auto b = h.write("b", "", state("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string next = state("z");
  auto out =
      h.run(h.sys, {cached_prev("a", a->token, next), no_prev("c", next), cached_prev("b", b->token + 100, next)});
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->cache_miss());
  EXPECT_EQ(out->miss, 2u);
  EXPECT_TRUE(out->entries.empty());
  EXPECT_EQ(h.history("a").size(), 2u);
  EXPECT_TRUE(h.history("c").empty());
  EXPECT_EQ(h.engine->entity_count(), 2u);
  // Resent with texts (as the JS layer does), it goes through.
  auto resent = h.run(h.sys, {text_prev("a", state("a"), next), no_prev("c", next), text_prev("b", state("b"), next)});
  ASSERT_TRUE(resent.ok());
  ASSERT_EQ(resent->size(), 3u);
  for (const Entry& e : resent->entries) EXPECT_TRUE(e.changed());
}

TEST(EngineBatch, AnEmptyBatchDoesNothing) {
  Harness h;
  auto out = h.run(h.sys, {});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size(), 0u);
  EXPECT_FALSE(out->cache_miss());
}

TEST(EngineBatch, RunBatchesAreMaskedEntryByEntry) {
  Harness h(true);
  h.engine->secrets().register_values("r", {"hunter2"});
  auto out = h.run(h.sys, {no_prev("a", state("hunter2")), no_prev("b", state("plain"))}, "r",
                   R"({"type":"user","id":"hunter2"})");
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->size(), 2u);
  EXPECT_TRUE((*out)[0].masked_next.has_value());
  EXPECT_FALSE((*out)[1].masked_next.has_value());
  for (const Entry& e : out->entries) {
    ASSERT_TRUE(e.actor.has_value());
    EXPECT_EQ(*e.actor, R"({"id":"****","type":"user"})");
    for (const Row& r : e.rows) EXPECT_EQ(r.to.find("hunter2"), std::string::npos);
  }
}

// ---------------------------------------------------------------- §9 bad input

TEST(EngineBadInput, EveryBadInputLeavesTheEngineWorking) {
  Harness h;
  std::string deep(300, '[');
  deep += std::string(300, ']');
  const std::string deep_obj = R"({"name":"a","description":null,"metadata":{"x":)" + deep + "}}";
  const std::string huge = R"({"name":"a","description":null,"metadata":{"x":")" + std::string(17u << 20, 'x') + "\"}}";
  const std::pair<std::string, Code> cases[] = {
      {"{not json", Code::ER_BAD_JSON},
      {"", Code::ER_BAD_JSON},
      {"[1,2]", Code::ER_NOT_OBJECT},
      {deep_obj, Code::ER_TOO_DEEP},
      {R"({"name":"\ud800","description":null,"metadata":{}})", Code::ER_LONE_SURROGATE},
      {"{\"name\":\"\xED\xA0\x80\",\"description\":null,\"metadata\":{}}", Code::ER_LONE_SURROGATE},
      {"{\"name\":\"\xC3\",\"description\":null,\"metadata\":{}}", Code::ER_BAD_JSON},
      {huge, Code::ER_TOO_LARGE},
  };
  for (const auto& [text, code] : cases) {
    auto out = h.run(h.sys, {no_prev("s1", text)});
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, code) << out.error().message.substr(0, 200);
    EXPECT_NE(out.error().message.find("\"s1\""), std::string::npos) << out.error().message.substr(0, 200);
    auto prev = h.run(h.sys, {text_prev("s1", text, kAda)});
    ASSERT_FALSE(prev.ok());
    EXPECT_EQ(prev.error().code, code);
  }
  // __proto__ is data.
  auto proto = h.write("s1", "", R"({"name":"a","description":null,"metadata":{"__proto__":{"polluted":1}}})");
  ASSERT_TRUE(proto.ok());
  EXPECT_EQ(h.history("s1", "metadata").front().to_value, R"({"__proto__":{"polluted":1}})");
  EXPECT_TRUE(h.write("s2", "", kAda).ok());
}

TEST(EngineBadInput, LimitsComeFromTheOptions) {
  // They apply to schemas too: kSystemSchema is 306 bytes, 4 deep.
  EngineOptions o = Harness::options();
  o.limits.max_depth = 4;
  o.limits.max_bytes = 400;
  Harness h(o);
  EXPECT_TRUE(h.write("a", "", R"({"name":"a","description":null,"metadata":{"x":[[1]]}})").ok());
  auto deep = h.write("b", "", R"({"name":"a","description":null,"metadata":{"x":[[[1]]]}})");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, Code::ER_TOO_DEEP);
  EXPECT_TRUE(h.write("c", "", state(std::string(340, 'n'))).ok());
  auto large = h.write("d", "", state(std::string(360, 'n')));
  ASSERT_FALSE(large.ok());
  EXPECT_EQ(large.error().code, Code::ER_TOO_LARGE);
  auto schema =
      h.engine->define_kind("deep", std::string_view(R"({"type":"object","properties":{"a":{"items":{"items":{}}}}})"));
  ASSERT_FALSE(schema.ok());
  EXPECT_EQ(schema.error().code, Code::ER_TOO_DEEP);
}

TEST(EngineBadInput, IdsAreBytes) {
  Harness h;
  const std::string nul_a("a\0b", 3), nul_b("a\0c", 3);
  auto x = h.write(nul_a, "", state("x"));
  auto y = h.write(nul_b, "", state("y"));
  auto z = h.write("a", "", state("z"));
  ASSERT_TRUE(x.ok() && y.ok() && z.ok());
  EXPECT_EQ(h.engine->entity_count(), 3u);
  EXPECT_EQ(h.history(nul_a, "name").front().to_value, "x");
  EXPECT_EQ(h.history(nul_b, "name").front().to_value, "y");
  EXPECT_EQ(h.history("a", "name").front().to_value, "z");
}
