#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "engine/engine.hpp"
#include "engine/wire_format.hpp"
#include "engine_test_support.hpp"

using namespace er;
using namespace er::testing;

namespace {
const char* kAda = R"({"name":"ada","description":null,"metadata":{"tier":1}})";
const char* kAda2 = R"({"metadata":{"tier":1},"name":"ada","description":null})";
}  // namespace

// ---------------------------------------------------------------- §2 event

TEST(EnginePipeline, CreateProducesEventWithSortedFieldsAndNoNullDescription) {
  Harness h;
  auto out = h.write("s1", "", kAda);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_TRUE(out->changed);
  const Change& c = out->change;
  EXPECT_EQ(c.kind, "sys");
  EXPECT_EQ(c.id, "s1");
  EXPECT_FALSE(c.prev.has_value());
  EXPECT_EQ(S(*c.next), R"({"description":null,"metadata":{"tier":1},"name":"ada"})");
  // description: null on create is absent-vs-null, so unchanged (SPEC §3).
  EXPECT_EQ(c.changed_fields, (std::vector<std::string>{"metadata", "name"}));
  EXPECT_EQ(S(c.delta), R"({"metadata":{"tier":1},"name":"ada"})");
  EXPECT_EQ(S(c.actor), R"({"type":"system"})");
  EXPECT_EQ(c.occurred_at, "2025-11-27T15:52:00.000Z");
  EXPECT_TRUE(std::regex_match(c.change_id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << c.change_id;
}

TEST(EnginePipeline, ChangeIdsAreDistinctWithinOneMillisecond) {
  Harness h;
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    auto out = h.write("s" + std::to_string(i), "", kAda);
    ASSERT_TRUE(out.ok());
    ids.insert(out->change.change_id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(EnginePipeline, UserActorIsCarried) {
  Harness h;
  auto out = h.write("s1", "", kAda, R"({"actor":{"type":"user","id":"u1","name":"Ada"}})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(S(out->change.actor), R"({"id":"u1","name":"Ada","type":"user"})");
}

TEST(EnginePipeline, BadOptionsAreRejectedBeforeAnything) {
  Harness h;
  for (const char* bad : {R"({"actor":"root"})", R"({"actor":{}})", R"({"runId":""})", R"({"runId":5})", "[1]", "{"}) {
    auto t = h.engine->begin("sys", "s1", std::string_view(bad));
    ASSERT_FALSE(t.ok()) << bad;
  }
  EXPECT_EQ(h.engine->pending_tickets(), 0u);
  EXPECT_TRUE(h.write("s1", "", kAda).ok());
}

// ---------------------------------------------------------------- §3 diff

TEST(EngineDiff, KeyOrderNeverCreatesAChange) {
  Harness h;
  auto out = h.write("s1", kAda, kAda2);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->changed);
  EXPECT_TRUE(out->rows.empty());
  EXPECT_TRUE(h.engine->history("sys", "s1", std::nullopt, 0).empty());
}

TEST(EngineDiff, NestedNullAndMissingDiffer) {
  Harness h;
  auto out = h.write("s1", R"({"name":"a","description":null,"metadata":{}})",
                     R"({"name":"a","description":null,"metadata":{"k":null}})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->change.changed_fields, std::vector<std::string>{"metadata"});
}

TEST(EngineDiff, FieldRemovedBecomesNullInDelta) {
  auto prev = J(R"({"a":1,"b":2})");
  auto next = J(R"({"a":1})");
  auto fields = changed_fields(&prev, &next);
  EXPECT_EQ(fields, std::vector<std::string>{"b"});
  EXPECT_EQ(S(make_delta(&next, fields)), R"({"b":null})");
  EXPECT_EQ(changed_fields(&prev, nullptr), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(S(make_delta(nullptr, {"a", "b"})), "{}");
}

// ---------------------------------------------------------------- §4 kinds

TEST(EngineKinds, KindRules) {
  Harness h;
  EXPECT_EQ(h.engine->define_kind("sys", std::string_view(kSystemSchema)).error().code, Code::ER_DUPLICATE_KIND);
  EXPECT_NE(h.engine->define_kind("sys", std::string_view(kSystemSchema)).error().message.find("duplicate kind \"sys\""),
            std::string::npos);
  EXPECT_EQ(h.engine->define_kind("  ", std::string_view(kSystemSchema)).error().code, Code::ER_BAD_KIND);
  EXPECT_EQ(h.engine->define_kind("", std::string_view(kSystemSchema)).error().code, Code::ER_BAD_KIND);
  auto bad = h.engine->define_kind("str", std::string_view(R"({"type":"string"})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Code::ER_BAD_SCHEMA);
  EXPECT_NE(bad.error().message.find("str"), std::string::npos);
  EXPECT_EQ(h.engine->define_kind("x", std::string_view("{nope")).error().code, Code::ER_BAD_JSON);
  EXPECT_EQ(h.engine->kinds(), std::vector<std::string>{"sys"});
  EXPECT_EQ(h.engine->begin("nope", "1", "").error().code, Code::ER_UNKNOWN_KIND);
  EXPECT_EQ(h.engine->begin("sys", "", "").error().code, Code::ER_BAD_ID);
}

TEST(EngineKinds, ValidationErrorNamesKindIdAndPathAndNothingHappens) {
  Harness h;
  auto out = h.write("s1", "", R"({"name":"ok","description":null,"metadata":[]})");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Code::ER_SCHEMA);
  EXPECT_EQ(out.error().path, "metadata");
  EXPECT_NE(out.error().message.find("sys"), std::string::npos);
  EXPECT_NE(out.error().message.find("s1"), std::string::npos);
  EXPECT_EQ(h.engine->emitter().size(), 0u);
  EXPECT_TRUE(h.engine->history("sys", "s1", std::nullopt, 0).empty());
  EXPECT_EQ(h.engine->pending_tickets(), 0u);
}

TEST(EngineKinds, UnknownKeysAreStrippedAndReportedAsNormalised) {
  Harness h;
  auto out = h.write("s1", "", R"({"name":"a","description":null,"metadata":{},"extra":1})");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->normalized.has_value());
  EXPECT_EQ(S(*out->normalized), R"({"description":null,"metadata":{},"name":"a"})");
  EXPECT_EQ(out->change.changed_fields, (std::vector<std::string>{"metadata", "name"}));
}

TEST(EngineKinds, StrictKindRejectsUnknownKeys) {
  Harness h;
  ASSERT_TRUE(h.engine->define_kind("strict", std::string_view(kSystemSchema), true).ok());
  auto out = h.write("s1", "", R"({"name":"a","description":null,"metadata":{},"extra":1})", "", "strict");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Code::ER_SCHEMA);
}

TEST(EngineKinds, NonReactiveDeclarations) {
  Harness h;
  ASSERT_TRUE(h.engine->declare_non_reactive_state("samples", "raw-sample", "high volume").ok());
  EXPECT_EQ(h.engine->declare_non_reactive_state("x", "because", "").error().code, Code::ER_BAD_ARGUMENT);
  EXPECT_EQ(h.engine->declare_non_reactive_state("", "sensitive", "").error().code, Code::ER_BAD_ARGUMENT);
  ASSERT_EQ(h.engine->non_reactive_declarations().size(), 1u);
  EXPECT_EQ(h.engine->non_reactive_declarations()[0].reason, "raw-sample");
}

// ---------------------------------------------------------------- §5 pipeline

TEST(EnginePipeline, StepsMustRunInOrder) {
  Harness h;
  auto t = h.engine->begin("sys", "s1", "");
  ASSERT_TRUE(t.ok());
  // commit before prev was taken is refused: prev is read strictly before apply.
  EXPECT_EQ(h.engine->commit(*t, std::string_view(kAda)).error().code, Code::ER_BAD_TICKET);
  ASSERT_TRUE(h.engine->set_prev(*t, "").ok());
  EXPECT_EQ(h.engine->set_prev(*t, "").error().code, Code::ER_BAD_TICKET);
  ASSERT_TRUE(h.engine->commit(*t, std::string_view(kAda)).ok());
  EXPECT_EQ(h.engine->commit(*t, std::string_view(kAda)).error().code, Code::ER_BAD_TICKET);
}

TEST(EnginePipeline, AbortedApplyLeavesNoTraceAndFreesTheLine) {
  Harness h;
  auto t1 = h.engine->begin("sys", "s1", "");
  auto t2 = h.engine->begin("sys", "s1", "");
  ASSERT_TRUE(t1.ok() && t2.ok());
  EXPECT_FALSE(h.engine->ready(*t2));
  ASSERT_TRUE(h.engine->set_prev(*t1, "").ok());
  auto woken = h.engine->abort(*t1);  // apply threw
  EXPECT_EQ(woken, std::vector<std::uint32_t>{*t2});
  EXPECT_TRUE(h.engine->ready(*t2));
  EXPECT_TRUE(h.engine->history("sys", "s1", std::nullopt, 0).empty());
  h.engine->abort(*t2);
  EXPECT_EQ(h.engine->pending_tickets(), 0u);
}

TEST(EnginePipeline, TransitionTextEncoding) {
  Harness h;
  ASSERT_TRUE(h.write("s1", "", R"({"name":"a","description":"d","metadata":{"b":[1,2],"a":true}})").ok());
  h.clock += 5;
  ASSERT_TRUE(h.write("s1", R"({"name":"a","description":"d","metadata":{"b":[1,2],"a":true}})",
                      R"({"name":"a","description":null,"metadata":{}})")
                  .ok());
  auto rows = h.engine->history("sys", "s1", std::nullopt, 0);
  ASSERT_EQ(rows.size(), 5u);  // newest first: metadata, description (reverse append order); then the create's
  EXPECT_EQ(rows[0].field, "metadata");
  EXPECT_EQ(rows[0].from_value, std::optional<std::string>(R"({"a":true,"b":[1,2]})"));
  EXPECT_EQ(rows[0].to_value, "{}");
  EXPECT_EQ(rows[0].transitioned_at, h.clock);
  EXPECT_EQ(rows[1].field, "description");
  EXPECT_EQ(rows[1].from_value, std::optional<std::string>("d"));
  EXPECT_EQ(rows[1].to_value, "null");
  EXPECT_EQ(rows[4].field, "description");
  EXPECT_FALSE(rows[4].from_value.has_value());  // no prev on create
  EXPECT_EQ(rows[4].to_value, "d");
}

TEST(EnginePipeline, TombstoneHasEmptyDeltaAllPrevFieldsAndNoRows) {
  Harness h;
  auto out = h.write("s1", kAda, "");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->changed);
  EXPECT_FALSE(out->change.next.has_value());
  EXPECT_EQ(S(out->change.delta), "{}");
  EXPECT_EQ(out->change.changed_fields, (std::vector<std::string>{"description", "metadata", "name"}));
  EXPECT_TRUE(out->rows.empty());
  EXPECT_TRUE(h.engine->history("sys", "s1", std::nullopt, 0).empty());
}

TEST(EnginePipeline, RemovingAMissingEntityIsANoop) {
  Harness h;
  auto out = h.write("ghost", "", "");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->changed);
}

TEST(EnginePipeline, NonObjectStatesAreRejected) {
  Harness h;
  for (const char* bad : {"[]", "1", "\"x\"", "null", "true"}) {
    auto out = h.write("s1", "", bad);
    ASSERT_FALSE(out.ok()) << bad;
    EXPECT_EQ(out.error().code, Code::ER_NOT_OBJECT) << bad;
    auto prev = h.write("s1", bad, kAda);
    ASSERT_FALSE(prev.ok());
    EXPECT_EQ(prev.error().code, Code::ER_NOT_OBJECT);
  }
  EXPECT_EQ(h.engine->pending_tickets(), 0u);
  EXPECT_TRUE(h.write("s1", "", kAda).ok());
}

// ---------------------------------------------------------------- §5 reads

TEST(EngineReads, InStateSinceAndTransitionCountWindows) {
  Harness h;
  const std::int64_t t0 = h.clock;
  ASSERT_TRUE(h.write("s1", "", R"({"name":"a","description":null,"metadata":{}})").ok());
  h.clock = t0 + 1000;
  ASSERT_TRUE(h.write("s1", R"({"name":"a","description":null,"metadata":{}})",
                      R"({"name":"b","description":null,"metadata":{}})")
                  .ok());
  h.clock = t0 + 2000;
  ASSERT_TRUE(h.write("s1", R"({"name":"b","description":null,"metadata":{}})",
                      R"({"name":"a","description":null,"metadata":{}})")
                  .ok());
  // current name "a": latest row with toValue "a" is at t0+2000, not the create.
  auto text = h.engine->field_text(R"({"name":"a"})", "name");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(h.engine->in_state_since("sys", "s1", "name", **text), t0 + 2000);
  EXPECT_EQ(h.engine->in_state_since("sys", "s1", "name", "zzz"), std::nullopt);
  EXPECT_EQ(h.engine->in_state_since("sys", "nobody", "name", "a"), std::nullopt);
  h.clock = t0 + 2500;
  EXPECT_EQ(h.engine->transition_count("sys", "s1", "name", 500), 1u);   // >= t0+2000
  EXPECT_EQ(h.engine->transition_count("sys", "s1", "name", 1500), 2u);  // >= t0+1000
  EXPECT_EQ(h.engine->transition_count("sys", "s1", "name", 1499), 1u);
  EXPECT_EQ(h.engine->transition_count("sys", "s1", "name", 10000), 3u);
  EXPECT_EQ(h.engine->transition_count("sys", "s1", "metadata", 10000), 1u);
  auto absent = h.engine->field_text("", "name");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
  EXPECT_EQ(**h.engine->field_text(R"({"name":"a"})", "nope"), "null");
}

TEST(EngineReads, HistoryNewestFirstWithFieldAndLimit) {
  Harness h;
  std::string prev;
  for (int i = 0; i < 5; ++i) {
    std::string next = R"({"name":"n)" + std::to_string(i) + R"(","description":null,"metadata":{}})";
    ASSERT_TRUE(h.write("s1", prev, next).ok());
    prev = next;
    ++h.clock;
  }
  auto names = h.engine->history("sys", "s1", "name", 2);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0].to_value, "n4");
  EXPECT_EQ(names[1].to_value, "n3");
  EXPECT_EQ(h.engine->history("sys", "s1", std::nullopt, 0).size(), 6u);
}

TEST(EngineReads, RetentionCapsRowsPerEntity) {
  MemoryTransitionStore store(3);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(store.append({TransitionRow{"k", "e", "f", std::nullopt, std::to_string(i), i}}).ok());
  auto rows = store.history("k", "e", std::nullopt, 0);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].to_value, "9");
  EXPECT_EQ(rows[2].to_value, "7");
  EXPECT_EQ(store.size(), 3u);
  EXPECT_EQ(store.transition_count("k", "e", "f", 100, 9), 3u);
}

// ---------------------------------------------------------------- host store

TEST(EngineHostStore, RowsWaitForSettleAndAFailedAppendEmitsNothing) {
  Harness h(/*host_store=*/true);
  h.engine->emitter().unwire();
  auto t = h.engine->begin("sys", "s1", "");
  ASSERT_TRUE(h.engine->set_prev(*t, "").ok());
  auto out = h.engine->commit(*t, std::string_view(kAda));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->rows.size(), 2u);
  EXPECT_EQ(h.engine->emitter().size(), 0u);  // nothing published before the append
  auto failed = h.engine->settle(*t, false);
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed->changed);
  EXPECT_EQ(h.engine->emitter().size(), 0u);
  EXPECT_EQ(h.engine->pending_tickets(), 0u);

  auto t2 = h.engine->begin("sys", "s1", "");
  ASSERT_TRUE(h.engine->set_prev(*t2, "").ok());
  ASSERT_TRUE(h.engine->commit(*t2, std::string_view(kAda)).ok());
  auto ok = h.engine->settle(*t2, true);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->changed);
  EXPECT_EQ(h.engine->emitter().size(), 1u);
  EXPECT_TRUE(h.engine->history("sys", "s1", std::nullopt, 0).empty());  // the host keeps the rows
}

// ---------------------------------------------------------------- §6 delivery

TEST(EngineDelivery, EmitterBuffersInOrderAndFlushesOnWire) {
  Harness h;
  h.engine->emitter().unwire();
  ASSERT_TRUE(h.write("a", "", kAda).ok());
  ASSERT_TRUE(h.write("b", "", kAda).ok());
  EXPECT_EQ(h.engine->emitter().size(), 2u);
  h.engine->emitter().begin_wire();
  auto first = h.engine->emitter().take();
  ASSERT_TRUE(first.has_value());
  EXPECT_NE(first->find("\"id\":\"a\""), std::string::npos);
  // A change committed during the flush is appended, delivered once, in order.
  auto during = h.write("c", "", kAda);
  ASSERT_TRUE(during.ok());
  EXPECT_FALSE(during->deliver_now);
  auto second = h.engine->emitter().take();
  auto third = h.engine->emitter().take();
  ASSERT_TRUE(second && third);
  EXPECT_NE(second->find("\"id\":\"b\""), std::string::npos);
  EXPECT_NE(third->find("\"id\":\"c\""), std::string::npos);
  EXPECT_FALSE(h.engine->emitter().take().has_value());
  auto after = h.write("d", "", kAda);
  EXPECT_TRUE(after->deliver_now);
  auto parsed = json::parse(*third);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(S(*parsed->find("delta")), R"({"metadata":{"tier":1},"name":"ada"})");
}

TEST(EngineDelivery, EmitterOverflowDropsOldestWithAWarning) {
  Harness h(false, 3);
  h.engine->emitter().unwire();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.write("e" + std::to_string(i), "", kAda).ok());
  EXPECT_EQ(h.engine->emitter().size(), 3u);
  EXPECT_EQ(h.engine->emitter().dropped(), 2u);
  EXPECT_EQ(h.warnings.size(), 2u);
  h.engine->emitter().begin_wire();
  auto oldest = h.engine->emitter().take();
  EXPECT_NE(oldest->find("\"id\":\"e2\""), std::string::npos);
}

TEST(EngineDelivery, SubscriptionsRouteBroadcastAndOneWorkerPerGroup) {
  Subscriptions subs;
  auto b1 = subs.add("sys", DeliveryMode::Broadcast, "", 0);
  auto b2 = subs.add("sys", DeliveryMode::Broadcast, "", 0);
  auto w1 = subs.add("sys", DeliveryMode::WorkQueue, "g", 3);
  auto w2 = subs.add("sys", DeliveryMode::WorkQueue, "g", 3);
  auto other = subs.add("other", DeliveryMode::Broadcast, "", 0);
  ASSERT_TRUE(b1.ok() && b2.ok() && w1.ok() && w2.ok() && other.ok());
  EXPECT_EQ(subs.add("", DeliveryMode::Broadcast, "", 0).error().code, Code::ER_BAD_KIND);
  EXPECT_EQ(subs.add("sys", DeliveryMode::WorkQueue, "", 0).error().code, Code::ER_BAD_ARGUMENT);
  auto r1 = subs.route("sys");
  auto r2 = subs.route("sys");
  EXPECT_EQ(r1, (std::vector<std::uint32_t>{*b1, *b2, *w1}));
  EXPECT_EQ(r2, (std::vector<std::uint32_t>{*b1, *b2, *w2}));
  EXPECT_TRUE(subs.remove(*b1));
  EXPECT_FALSE(subs.remove(*b1));  // idempotent
  EXPECT_EQ(subs.find(*w1)->max_retries, 3u);
}

TEST(EngineDelivery, DeriverUnionDedupeAndFailures) {
  DeriverRegistry reg;
  ASSERT_TRUE(reg.add_host("k", 1, 0).ok());
  ASSERT_TRUE(reg.add_host("k", 2, 0).ok());
  ASSERT_TRUE(reg.add_host("k", 3, 0).ok());
  ASSERT_TRUE(reg.add_host("k", 1, 0).ok());  // the same deriver twice is harmless
  Change c;
  c.kind = "k";
  std::vector<Error> errors;
  auto ids = reg.derive(
      c,
      [](std::uint32_t key) -> Result<json::Value> {
        if (key == 1) return J(R"(["a","b",""])");
        if (key == 2) return make_error(Code::ER_BAD_ARGUMENT, "deriver threw");
        return J(R"(["b",7,null,"c"])");
      },
      [&](const Error& e) { errors.push_back(e); });
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(errors.size(), 1u);
  c.kind = "none";
  EXPECT_TRUE(reg.derive(c, nullptr, nullptr).empty());
}

TEST(EngineDelivery, PayloadMapperRules) {
  DeriverRegistry reg;
  ASSERT_TRUE(reg.add_host("k", 1, 10).ok());
  ASSERT_TRUE(reg.add_host("k", 1, 10).ok());  // same mapper again is fine
  auto dup = reg.add_host("k", 2, 11);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, Code::ER_DUPLICATE_MAPPER);
  EXPECT_EQ(reg.mapper_key("k"), 10u);
  EXPECT_EQ(reg.mapper_key("none"), 0u);
  EXPECT_FALSE(reg.all_native("k"));
}

TEST(EngineDelivery, NativeDeriversRunInsideCommit) {
  Harness h;
  ASSERT_TRUE(h.engine->derivers()
                  .add_native(
                      "sys", "test", [](const Change& c) { return std::vector<std::string>{c.prev ? "upd" : "new"}; },
                      [](const Change& c) {
                        auto p = json::Value::object();
                        p.set("id", c.id);
                        return p;
                      })
                  .ok());
  auto out = h.write("s1", "", kAda);
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->derived);
  EXPECT_EQ(out->triggers, std::vector<std::string>{"new"});
  EXPECT_EQ(S(*out->payload), R"({"id":"s1"})");
}

// ---------------------------------------------------------------- §7 masking

TEST(EngineMasking, RunSecretsAreMaskedInEventAndRowsNotInState) {
  Harness h;
  h.engine->secrets().register_values("run-1", {"hunter2", "tok-123"});
  auto out = h.write("s1", R"({"name":"a","description":null,"metadata":{"old":"tok-123"}})",
                     R"({"name":"a","description":"pw hunter2","metadata":{"deep":[{"k":"x hunter2 y"}],"n":5}})",
                     R"({"runId":"run-1"})");
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(out->changed);
  EXPECT_TRUE(out->masked_prev);
  EXPECT_TRUE(out->masked_next);
  std::string event;
  write_change(out->change, event);
  EXPECT_EQ(event.find("hunter2"), std::string::npos) << event;
  EXPECT_EQ(event.find("tok-123"), std::string::npos) << event;
  EXPECT_NE(event.find("x **** y"), std::string::npos);
  for (const auto& r : h.engine->history("sys", "s1", std::nullopt, 0)) {
    EXPECT_EQ(r.to_value.find("hunter2"), std::string::npos);
    EXPECT_EQ(r.from_value.value_or("").find("tok-123"), std::string::npos);
  }
  EXPECT_FALSE(out->normalized.has_value());  // the host's own (unmasked) value stands
  std::string wire;
  write_outcome(*out, false, wire);
  EXPECT_EQ(wire.find("hunter2"), std::string::npos);
}

TEST(EngineMasking, WritesOutsideTheRunAreNotMasked) {
  Harness h;
  h.engine->secrets().register_values("run-1", {"hunter2"});
  auto out = h.write("s1", "", R"({"name":"hunter2","description":null,"metadata":{}})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(S(out->change.delta), R"({"metadata":{},"name":"hunter2"})");
}

TEST(EngineMasking, AChangeOnlyInsideASecretIsNoChangeAfterMasking) {
  Harness h;
  h.engine->secrets().register_values("r", {"secret-a", "secret-b"});
  auto out = h.write("s1", R"({"name":"x","description":"secret-a","metadata":{}})",
                     R"({"name":"x","description":"secret-b","metadata":{}})", R"({"runId":"r"})");
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->changed);  // the diff runs on the masked copies (SPEC §5 step 4)
}

// ---------------------------------------------------------------- §9

TEST(EngineOrdering, SameIdWritesQueueDifferentIdsDoNot) {
  Harness h;
  auto a1 = h.engine->begin("sys", "a", "");
  auto a2 = h.engine->begin("sys", "a", "");
  auto a3 = h.engine->begin("sys", "a", "");
  auto b1 = h.engine->begin("sys", "b", "");
  EXPECT_TRUE(h.engine->ready(*a1));
  EXPECT_FALSE(h.engine->ready(*a2));
  EXPECT_FALSE(h.engine->ready(*a3));
  EXPECT_TRUE(h.engine->ready(*b1));
  EXPECT_EQ(h.engine->set_prev(*a2, "").error().code, Code::ER_BAD_TICKET);  // not its turn
  ASSERT_TRUE(h.engine->set_prev(*a1, "").ok());
  auto o1 = h.engine->commit(*a1, std::string_view(kAda));
  ASSERT_TRUE(o1.ok());
  EXPECT_EQ(o1->woken, std::vector<std::uint32_t>{*a2});
  EXPECT_FALSE(h.engine->ready(*a3));
  EXPECT_EQ(h.engine->abort(*a2), std::vector<std::uint32_t>{*a3});
  h.engine->abort(*a3);
  h.engine->abort(*b1);
  EXPECT_EQ(h.engine->pending_tickets(), 0u);
}

TEST(EngineOrdering, BatchWaitsForEveryIdItHolds) {
  WriteSequencer seq;
  auto a = seq.enqueue({"a"});
  auto b = seq.enqueue({"b"});
  auto batch = seq.enqueue({"a", "b", "c", "a"});
  auto after = seq.enqueue({"c"});
  EXPECT_FALSE(seq.ready(batch));
  EXPECT_TRUE(seq.finish(a).empty());  // still waits on b
  EXPECT_EQ(seq.finish(b), std::vector<std::uint32_t>{batch});
  EXPECT_FALSE(seq.ready(after));
  EXPECT_EQ(seq.finish(batch), std::vector<std::uint32_t>{after});
}

TEST(EngineBatch, IngestDiffsAgainstReadAndEarlierEntries) {
  Harness h;
  MutationOptions opts;
  auto t = h.engine->begin_batch("sys", {"a", "b", "a", "c"}, opts);
  ASSERT_TRUE(t.ok());
  std::vector<Engine::IngestEntry> entries;
  entries.push_back({"a", J(R"({"name":"a1","description":null,"metadata":{}})")});
  entries.push_back({"b", J(R"({"name":"b","description":null,"metadata":{}})")});  // unchanged
  entries.push_back({"a", J(R"({"name":"a2","description":null,"metadata":{}})")});
  entries.push_back({"c", std::nullopt});  // tombstone
  auto prevs = J(R"({"b":{"name":"b","description":null,"metadata":{}},"c":{"name":"c","description":null,"metadata":{}}})");
  auto out = h.engine->commit_batch(*t, prevs, std::move(entries));
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 4u);
  EXPECT_TRUE((*out)[0].changed);
  EXPECT_FALSE((*out)[0].change.prev.has_value());
  EXPECT_FALSE((*out)[1].changed);
  EXPECT_TRUE((*out)[2].changed);
  EXPECT_EQ((*out)[2].change.changed_fields, std::vector<std::string>{"name"});
  EXPECT_EQ(S(*(*out)[2].change.prev->find("name")), "\"a1\"");
  EXPECT_TRUE((*out)[3].changed);
  EXPECT_FALSE((*out)[3].change.next.has_value());
  EXPECT_EQ(h.engine->history("sys", "a", "name", 0).size(), 2u);
  EXPECT_EQ(h.engine->pending_tickets(), 0u);
}

TEST(EngineBatch, OneBadEntryFailsTheWholeBatchBeforeAnythingIsAppended) {
  Harness h;
  auto t = h.engine->begin_batch("sys", {"a", "b"}, {});
  std::vector<Engine::IngestEntry> entries;
  entries.push_back({"a", J(R"({"name":"a","description":null,"metadata":{}})")});
  entries.push_back({"b", J(R"({"name":5,"description":null,"metadata":{}})")});
  auto out = h.engine->commit_batch(*t, J("{}"), std::move(entries));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().code, Code::ER_SCHEMA);
  EXPECT_NE(out.error().message.find("entry 1"), std::string::npos);
  EXPECT_TRUE(h.engine->history("sys", "a", std::nullopt, 0).empty());
  h.engine->abort(*t);
  EXPECT_EQ(h.engine->begin_batch("nope", {"a"}, {}).error().code, Code::ER_UNKNOWN_KIND);
  EXPECT_EQ(h.engine->begin_batch("sys", {"a", ""}, {}).error().code, Code::ER_BAD_ID);
}

TEST(EngineBadInput, EveryBadInputLeavesTheEngineWorking) {
  Harness h;
  std::string deep(300, '[');
  deep += std::string(300, ']');
  std::string deep_obj = R"({"name":"a","description":null,"metadata":{"x":)" + deep + "}}";
  std::string huge = R"({"name":"a","description":null,"metadata":{"x":")" + std::string(17u << 20, 'x') + "\"}}";
  const std::pair<std::string, Code> cases[] = {
      {"{not json", Code::ER_BAD_JSON},
      {"[1,2]", Code::ER_NOT_OBJECT},
      {deep_obj, Code::ER_TOO_DEEP},
      {R"({"name":"\ud800","description":null,"metadata":{}})", Code::ER_LONE_SURROGATE},
      {huge, Code::ER_TOO_LARGE},
  };
  for (const auto& [text, code] : cases) {
    auto out = h.write("s1", "", text);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, code) << out.error().message.substr(0, 200);
    auto prev = h.write("s1", text, kAda);
    ASSERT_FALSE(prev.ok());
    EXPECT_EQ(prev.error().code, code);
  }
  // __proto__ is data.
  auto proto = h.write("s1", "", R"({"name":"a","description":null,"metadata":{"__proto__":{"polluted":1}}})");
  ASSERT_TRUE(proto.ok());
  EXPECT_EQ(S(proto->change.delta), R"({"metadata":{"__proto__":{"polluted":1}},"name":"a"})");
  EXPECT_EQ(h.engine->pending_tickets(), 0u);
  EXPECT_TRUE(h.write("s2", "", kAda).ok());
}

TEST(EngineWire, OutcomeCarriesOnlyWhatJsLacks) {
  Harness h;
  auto out = h.write("s1", "", kAda);
  std::string wire;
  write_outcome(*out, false, wire);
  auto v = J(wire);
  EXPECT_TRUE(v.find("changed")->as_bool());
  EXPECT_EQ(v.find("prev"), nullptr);
  EXPECT_EQ(v.find("next"), nullptr);
  EXPECT_EQ(v.find("state"), nullptr);
  EXPECT_EQ(S(*v.find("changedFields")), R"(["metadata","name"])");
  EXPECT_EQ(v.find("transitionedAt")->as_number(), static_cast<double>(h.clock));
  std::string err;
  write_error(make_error(Code::ER_SCHEMA, "bad \"x\"", "a.b"), err);
  EXPECT_EQ(err, R"({"error":{"code":"ER_SCHEMA","message":"bad \"x\"","path":"a.b"}})");
}

TEST(EnginePipeline, PrevIsNormalisedByTheSchemaSoStrippedKeysNeverDiff) {
  Harness h;
  auto out = h.write("s1", R"({"name":"a","description":null,"metadata":{},"legacy":1})",
                     R"({"name":"b","description":null,"metadata":{},"legacy":2})");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->change.changed_fields, std::vector<std::string>{"name"});
  EXPECT_TRUE(out->normalized_prev);
  EXPECT_EQ(S(*out->change.prev), R"({"description":null,"metadata":{},"name":"a"})");
  // A stored prev that no longer validates is compared as it is.
  auto raw = h.write("s2", R"({"name":5,"description":null,"metadata":{}})", kAda);
  ASSERT_TRUE(raw.ok());
  EXPECT_FALSE(raw->normalized_prev);
  EXPECT_EQ(raw->change.changed_fields, (std::vector<std::string>{"metadata", "name"}));
}

TEST(EngineStateCache, AnIdenticalPrevTextReusesTheCommittedStateAndAnythingElseParses) {
  StateCache cache(2);
  cache.put("k1", "{\"a\":1}", J("{\"a\":1}"));
  EXPECT_FALSE(cache.take("k1", "{\"a\": 1}").has_value());  // not byte-identical: parse as usual
  EXPECT_FALSE(cache.take("k1", "{\"a\":1}").has_value());   // a miss dropped the entry
  cache.put("k1", "{\"a\":1}", J("{\"a\":1}"));
  auto hit = cache.take("k1", "{\"a\":1}");
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(S(*hit), "{\"a\":1}");
  cache.put("a", "1", J("1"));
  cache.put("b", "2", J("2"));
  cache.put("c", "3", J("3"));
  EXPECT_EQ(cache.size(), 2u);  // bounded
}

TEST(EngineStateCache, WritesThroughTheCacheDiffExactlyAsWithout) {
  Harness cached;
  EngineOptions o;
  std::int64_t clock = 0;
  o.now = [&] { return clock; };
  o.state_cache_entries = 0;
  Engine plain(o);
  ASSERT_TRUE(plain.define_kind("sys", std::string_view(kSystemSchema)).ok());
  const char* states[] = {kAda, R"({"name":"b","description":null,"metadata":{"tier":1}})", kAda2,
                          R"({"name":"b","description":"x","metadata":{}})", R"({"name":"b","description":"x","metadata":{},"junk":1})",
                          R"({"name":"c","description":"x","metadata":{}})"};
  std::string prev;
  for (const char* next : states) {
    auto a = cached.write("s1", prev, next);
    auto t = plain.begin("sys", "s1", "");
    ASSERT_TRUE(plain.set_prev(*t, prev).ok());
    auto b = plain.commit(*t, std::string_view(next));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->change.changed_fields, b->change.changed_fields) << next;
    EXPECT_EQ(S(a->change.delta), S(b->change.delta));
    EXPECT_EQ(a->normalized_prev, b->normalized_prev) << next;
    prev = next;
  }
}

TEST(EngineStateCache, MovingTheCommittedStateIntoTheCacheChangesNoWireOutcome) {
  // outcome_next_unused (set by the WASM binding) moves next into the prev
  // cache instead of copying it; what write_outcome prints must not change.
  auto make = [](bool lean, std::int64_t& clock) {
    EngineOptions o;
    o.now = [&clock] { return clock; };
    o.seed = {5, 6, 7, 8};
    o.outcome_next_unused = lean;
    auto e = std::make_unique<Engine>(std::move(o));
    EXPECT_TRUE(e->define_kind("sys", std::string_view(kSystemSchema)).ok());
    e->secrets().register_values("run-1", {"hunter2"});
    return e;
  };
  std::int64_t clock = 1000;
  auto lean = make(true, clock);
  auto full = make(false, clock);
  const char* states[] = {kAda, R"({"name":"b","description":null,"metadata":{"tier":1}})", kAda2,
                          R"({"name":"b","description":"hunter2","metadata":{}})",
                          R"({"name":"b","description":"x","metadata":{},"junk":1})",
                          R"({"name":"c","description":"x","metadata":{}})", ""};
  const char* opts[] = {"", "", "", R"({"runId":"run-1"})", "", "", ""};
  std::string prev;
  for (std::size_t i = 0; i < std::size(states); ++i) {
    std::string texts[2];
    Engine* engines[2] = {lean.get(), full.get()};
    for (int k = 0; k < 2; ++k) {
      auto t = engines[k]->begin("sys", "s1", opts[i]);
      ASSERT_TRUE(t.ok());
      ASSERT_TRUE(engines[k]->set_prev(*t, prev).ok());
      auto out = engines[k]->commit(*t, std::string_view(states[i]));
      ASSERT_TRUE(out.ok()) << out.error().message;
      write_outcome(*out, false, texts[k]);
    }
    EXPECT_EQ(texts[0], texts[1]) << "state " << i;
    ++clock;
    prev = states[i];
  }
}

TEST(EngineReads, HistoryOfTheFieldNamedEmptyIsThatFieldsRowsOnly) {
  Harness h;
  ASSERT_TRUE(h.engine->define_kind("loose", std::string_view(R"({"type":"object"})")).ok());
  ASSERT_TRUE(h.write("a", "", R"({"":1,"x":1})", "", "loose").ok());
  ASSERT_TRUE(h.write("a", R"({"":1,"x":1})", R"({"":2,"x":1})", "", "loose").ok());
  auto empty_field = h.engine->history("loose", "a", std::string_view(""), 0);
  ASSERT_EQ(empty_field.size(), 2u);
  for (const auto& r : empty_field) EXPECT_EQ(r.field, "");
  EXPECT_EQ(h.engine->history("loose", "a", std::string_view(""), 1).front().to_value, "2");
  EXPECT_EQ(h.engine->history("loose", "a", std::nullopt, 0).size(), 3u);
}

TEST(EngineStateCache, AfterAMaskedWriteTheNextWriteStartsFromTheUnmaskedState) {
  Harness h;
  h.engine->secrets().register_values("run-1", {"hunter2"});
  const char* secret = R"({"name":"a","description":"pw hunter2","metadata":{}})";
  auto masked = h.write("s1", "", secret, R"({"runId":"run-1"})");
  ASSERT_TRUE(masked.ok());
  EXPECT_TRUE(masked->masked_next);
  EXPECT_EQ(S(*masked->change.next), R"({"description":"pw ****","metadata":{},"name":"a"})");
  // The host stored the real value; the next write reads exactly that text.
  auto plain = h.write("s1", secret, R"({"name":"b","description":"pw hunter2","metadata":{}})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->change.changed_fields, std::vector<std::string>{"name"});
  EXPECT_EQ(S(*plain->change.prev), R"({"description":"pw hunter2","metadata":{},"name":"a"})");
}

TEST(EngineStateCache, HostStoreWritesUseTheCacheOnlyOnceTheirRowsAreAppended) {
  Harness h(/*host_store=*/true);
  auto run = [&](std::string_view prev, std::string_view next, bool appended) {
    auto t = h.engine->begin("sys", "s1", "");
    EXPECT_TRUE(h.engine->set_prev(*t, prev).ok());
    auto out = h.engine->commit(*t, next);
    EXPECT_TRUE(out.ok());
    auto settled = h.engine->settle(*t, appended);
    EXPECT_TRUE(settled.ok());
    return std::move(out.value());
  };
  const char* a = R"({"name":"a","description":null,"metadata":{},"junk":1})";  // normalised: never cached
  const char* b = R"({"name":"b","description":null,"metadata":{}})";
  run("", a, true);
  auto second = run(a, b, true);
  EXPECT_TRUE(second.normalized_prev);  // parsed and normalised, as without a cache
  EXPECT_EQ(second.change.changed_fields, std::vector<std::string>{"name"});
  auto third = run(b, R"({"name":"c","description":null,"metadata":{}})", false);  // append failed
  EXPECT_FALSE(third.normalized_prev);
  EXPECT_EQ(third.change.changed_fields, std::vector<std::string>{"name"});
  // The failed write left the host on c but the engine's log on b: the next
  // prev is whatever the host reads, parsed as usual.
  auto fourth = run(R"({"name":"c","description":null,"metadata":{}})", b, true);
  EXPECT_EQ(S(*fourth.change.prev), R"({"description":null,"metadata":{},"name":"c"})");
}

TEST(EngineWire, WithATailMaskedPrevAndNextFollowTheOutcomeAsTexts) {
  Harness h;
  h.engine->secrets().register_values("run-1", {"hunter2"});
  ASSERT_TRUE(h.write("s1", "", R"({"name":"hunter2","description":null,"metadata":{}})").ok());
  auto out = h.write("s1", R"({"name":"hunter2","description":null,"metadata":{}})",
                     R"({"name":"hunter2!","description":null,"metadata":{}})", R"({"runId":"run-1"})");
  ASSERT_TRUE(out.ok());
  std::string inline_json, split_json, tail;
  write_outcome(*out, false, inline_json);
  write_outcome(*out, false, split_json, &tail);
  const std::string prev = R"({"description":null,"metadata":{},"name":"****"})";
  const std::string next = R"({"description":null,"metadata":{},"name":"****!"})";
  EXPECT_EQ(tail, prev + next);
  auto a = J(inline_json);
  auto b = J(split_json);
  EXPECT_EQ(S(*a.find("prev")), prev);
  EXPECT_EQ(S(*a.find("next")), next);
  EXPECT_EQ(b.find("prev"), nullptr);
  EXPECT_EQ(b.find("prevBytes")->as_number(), static_cast<double>(prev.size()));
  EXPECT_EQ(b.find("nextBytes")->as_number(), static_cast<double>(next.size()));
  // Everything else is the same.
  a.erase("prev");
  a.erase("next");
  b.erase("prevBytes");
  b.erase("nextBytes");
  EXPECT_EQ(S(a), S(b));
}
