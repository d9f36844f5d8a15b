// The catalog domain (SPEC §8): trigger derivers and payload mappers over a
// change view, row projections, update_metadata, the JS wrappers' dispatch,
// and native derivation inside a write.
#include <gtest/gtest.h>

#include <map>

#include "catalog/catalog.hpp"
#include "engine/engine.hpp"
#include "engine_test_support.hpp"
#include "schema/schema.hpp"

using namespace er;
using namespace er::testing;

namespace {

// A change with its documents kept alive.
struct Change {
  std::unique_ptr<json::Doc> prev, next;
  std::vector<std::string> field_names;
  std::vector<std::string_view> fields;
  std::string id = "sys-1";
  std::string kind = std::string(catalog::kSystemKind);

  ChangeView view() const {
    ChangeView c;
    c.kind = kind;
    c.id = id;
    if (prev) c.prev = DocRef{prev.get(), json::Doc::root()};
    if (next) c.next = DocRef{next.get(), json::Doc::root()};
    c.changed_fields = fields;
    return c;
  }
};

Change change(std::optional<std::string> prev, std::optional<std::string> next, std::vector<std::string> fields) {
  Change c;
  if (prev) c.prev = D(*prev);
  if (next) c.next = D(*next);
  c.field_names = std::move(fields);
  for (const auto& f : c.field_names) c.fields.push_back(f);
  return c;
}

std::vector<std::string> system_triggers(const Change& c) {
  std::vector<std::string_view> out;
  catalog::derive_system_triggers(c.view(), out);
  return std::vector<std::string>(out.begin(), out.end());
}
std::vector<std::string> group_triggers(const Change& c) {
  std::vector<std::string_view> out;
  catalog::derive_group_triggers(c.view(), out);
  return std::vector<std::string>(out.begin(), out.end());
}
json::Value system_payload(const Change& c) {
  std::string out;
  catalog::system_payload(c.view(), out);
  return J(out);
}
json::Value group_payload(const Change& c) {
  std::string out;
  catalog::group_payload(c.view(), out);
  return J(out);
}

const char* kSys = R"({"name":"api","description":null,"metadata":{}})";

}  // namespace

TEST(Catalog, SystemDerivation) {
  EXPECT_EQ(system_triggers(change(std::nullopt, kSys, {"name"})), V({"catalog.created"}));
  EXPECT_EQ(system_triggers(change(kSys, kSys, {"name"})), V({"catalog.updated"}));
  EXPECT_EQ(system_triggers(change(kSys, std::nullopt, {"name"})), V({"catalog.deleted"}));
}

TEST(Catalog, GroupUpdateFiresNothing) {
  EXPECT_EQ(group_triggers(change(std::nullopt, kSys, {"name"})), V({"catalog.group.created"}));
  EXPECT_TRUE(group_triggers(change(kSys, kSys, {"name"})).empty());
  EXPECT_EQ(group_triggers(change(kSys, std::nullopt, {})), V({"catalog.group.deleted"}));
}

TEST(Catalog, SystemPayloadFiltersFieldsInTheChangesOrder) {
  auto p = system_payload(change(kSys, R"({"name":"api2","description":null,"metadata":{}})",
                                 {"description", "extra", "metadata", "name"}));
  EXPECT_EQ(S(p), R"({"changedFields":["description","metadata","name"],"systemId":"sys-1","systemName":"api2"})");
  auto order = system_payload(change(kSys, kSys, {"name", "metadata"}));  // the change's order, not the enum's
  EXPECT_EQ(S(*order.find("changedFields")), R"(["name","metadata"])");
  auto tomb = system_payload(change(kSys, std::nullopt, {"name"}));
  EXPECT_EQ(tomb.find("systemName"), nullptr);  // absent on a tombstone
  auto no_name = system_payload(change(std::nullopt, R"({"name":5})", {"name"}));
  EXPECT_EQ(no_name.find("systemName"), nullptr);  // only a string name is carried
  Change quoted = change(std::nullopt, R"({"name":"a \"b\""})", {});
  quoted.id = "id \"q\"";
  EXPECT_EQ(S(system_payload(quoted)), R"({"changedFields":[],"systemId":"id \"q\"","systemName":"a \"b\""})");
  EXPECT_EQ(S(group_payload(change(std::nullopt, kSys, {}))), R"({"groupId":"sys-1","groupName":"api"})");
  EXPECT_EQ(S(group_payload(change(kSys, std::nullopt, {}))), R"({"groupId":"sys-1"})");
}

TEST(Catalog, ProjectionsNormaliseMissingAndNull) {
  EXPECT_EQ(S(catalog::to_system_state(J(R"({"name":"a","id":"x","createdAt":"t"})"))),
            R"({"description":null,"metadata":{},"name":"a"})");
  EXPECT_EQ(S(catalog::to_system_state(J(R"({"name":"a","description":null,"metadata":null})"))),
            R"({"description":null,"metadata":{},"name":"a"})");
  EXPECT_EQ(S(catalog::to_system_state(J(R"({"name":"a","description":"d","metadata":{"k":1}})"))),
            R"({"description":"d","metadata":{"k":1},"name":"a"})");
  EXPECT_EQ(S(catalog::to_group_state(J(R"({"name":"g"})"))), R"({"metadata":{},"name":"g"})");
}

TEST(Catalog, UpdateMetadataConfigAndMerge) {
  auto merge = catalog::parse_update_metadata_config(J(R"({"systemId":"s","metadata":{"b":2,"c":{"x":1}}})"));
  ASSERT_TRUE(merge.ok());
  EXPECT_FALSE(merge->replace);
  EXPECT_EQ(S(catalog::apply_metadata_update(J(R"({"a":1,"c":{"y":2}})"), *merge)), R"({"a":1,"b":2,"c":{"x":1}})");
  auto replace =
      catalog::parse_update_metadata_config(J(R"({"systemId":"s","strategy":"replace","metadata":{"b":2}})"));
  ASSERT_TRUE(replace.ok());
  EXPECT_EQ(S(catalog::apply_metadata_update(J(R"({"a":1})"), *replace)), R"({"b":2})");
  auto null_strategy = catalog::parse_update_metadata_config(J(R"({"systemId":"s","strategy":null,"metadata":{}})"));
  ASSERT_TRUE(null_strategy.ok());
  EXPECT_FALSE(null_strategy->replace);
  for (const char* bad :
       {R"({"metadata":{}})", R"({"systemId":"","metadata":{}})",
        R"({"systemId":"s","strategy":"upsert","metadata":{}})", R"({"systemId":"s","metadata":[]})", "[]"}) {
    auto r = catalog::parse_update_metadata_config(J(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Code::ER_BAD_ARGUMENT);
  }
}

TEST(Catalog, StateSchemasCompileAndConstantsListThem) {
  auto constants = J(catalog::constants_json());
  EXPECT_EQ(constants.find("kinds")->find("system")->as_string(), catalog::kSystemKind);
  EXPECT_EQ(constants.find("kinds")->find("group")->as_string(), catalog::kGroupKind);
  EXPECT_EQ(S(*constants.find("changedFieldEnum")), R"(["name","description","metadata"])");
  EXPECT_EQ(S(*constants.find("systemStateSchema")), S(catalog::system_state_schema()));
  EXPECT_EQ(S(*constants.find("groupStateSchema")), S(catalog::group_state_schema()));
  EXPECT_EQ(constants.find("systemTriggerEvents")->find("updated")->as_string(), catalog::kSystemUpdated);
  for (const json::Value* s : {&catalog::system_state_schema(), &catalog::group_state_schema()}) {
    auto compiled = schema::Schema::compile(*s, "k");
    ASSERT_TRUE(compiled.ok()) << compiled.error().message;
  }
}

TEST(Catalog, NativeDerivationInsideTheEngine) {
  Harness h;
  const std::uint32_t sys = h.kind(catalog::kSystemKind, S(catalog::system_state_schema()));
  const std::uint32_t group = h.kind(catalog::kGroupKind, S(catalog::group_state_schema()));
  ASSERT_TRUE(catalog::register_catalog(*h.engine).ok());
  ASSERT_TRUE(catalog::register_catalog(*h.engine).ok());  // registering again is harmless
  EXPECT_TRUE(h.engine->derivers().all_native(catalog::kSystemKind));
  EXPECT_EQ(h.engine->derivers().mapper_key(catalog::kSystemKind), DeriverRegistry::kNativeMapper);
  auto created = h.write(sys, "s1", "", kSys);
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(created->derived.has_value());
  EXPECT_EQ(
      *created->derived,
      R"({"triggers":["catalog.created"],"payload":{"changedFields":["metadata","name"],"systemId":"s1","systemName":"api"}})");
  auto updated = h.write(sys, "s1", kSys, R"({"name":"api","description":"d","metadata":{}})");
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(
      *updated->derived,
      R"({"triggers":["catalog.updated"],"payload":{"changedFields":["description"],"systemId":"s1","systemName":"api"}})");
  auto removed = h.write(sys, "s1", kSys, "");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(
      *removed->derived,
      R"({"triggers":["catalog.deleted"],"payload":{"changedFields":["description","metadata","name"],"systemId":"s1"}})");
  auto group_update = h.write(group, "g1", R"({"name":"g","metadata":{}})", R"({"name":"h","metadata":{}})");
  ASSERT_TRUE(group_update.ok());
  EXPECT_EQ(*group_update->derived, R"({"triggers":[],"payload":{"groupId":"g1","groupName":"h"}})");
  // The event JS hands back for derive()/payload() gives the same answers.
  auto change = h.engine->parse_change(
      R"({"kind":"catalog-system","id":"s1","prev":null,"next":{"name":"api"},"changedFields":["metadata","name"]})");
  ASSERT_TRUE(change.ok());
  std::string payload;
  ASSERT_TRUE(h.engine->derivers().native_payload((*change)->view(), payload));
  EXPECT_EQ(payload, R"({"changedFields":["metadata","name"],"systemId":"s1","systemName":"api"})");
  auto ids = h.engine->derivers().derive((*change)->view(), nullptr, nullptr);
  EXPECT_EQ(ids, V({"catalog.created"}));
}

TEST(Catalog, MapperPayloadsValidateAgainstTriggerSchemas) {
  // The payload shapes of SPEC §8 (the JS package owns the display texts
  // and full trigger descriptions; the shapes are fixed here).
  auto compile = [](std::string_view text) {
    auto s = schema::Schema::compile(J(text), "payload", schema::CompileOptions{true});
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return std::move(s.value());
  };
  std::map<std::string, schema::Schema> schemas;
  schemas.emplace("catalog.created", compile(R"({"type":"object","properties":{"systemId":{"type":"string"},
    "systemName":{"type":"string"}},"required":["systemId","systemName"],"additionalProperties":false})"));
  schemas.emplace("catalog.updated", compile(R"({"type":"object","properties":{"systemId":{"type":"string"},
    "systemName":{"type":"string"},"changedFields":{"type":"array","items":{"enum":["name","description","metadata"]}}},
    "required":["systemId","systemName","changedFields"],"additionalProperties":false})"));
  schemas.emplace("catalog.deleted", compile(R"({"type":"object","properties":{"systemId":{"type":"string"},
    "systemName":{"type":"string"}},"required":["systemId"],"additionalProperties":false})"));
  const std::pair<Change, std::string> cases[] = {
      {change(std::nullopt, kSys, {"metadata", "name"}), "catalog.created"},
      {change(kSys, R"({"name":"b","description":null,"metadata":{}})", {"name"}), "catalog.updated"},
      {change(kSys, std::nullopt, {"description", "metadata", "name"}), "catalog.deleted"},
  };
  for (const auto& [c, event] : cases) {
    EXPECT_EQ(system_triggers(c), V({event.c_str()}));
    auto payload = system_payload(c);
    if (event != "catalog.updated") payload.erase("changedFields");  // those schemas do not declare it
    auto r = schemas.at(event).validate(payload, "payload", c.id);
    EXPECT_TRUE(r.ok()) << event << ": " << (r.ok() ? "" : r.error().message);
  }
}

TEST(Catalog, CallDispatchForTheJsWrappers) {
  EXPECT_EQ(*catalog::call("deriveSystem", R"({"id":"a","prev":null,"next":{"name":"x"},"changedFields":["name"]})"),
            R"(["catalog.created"])");
  EXPECT_EQ(*catalog::call("deriveGroup", R"({"id":"a","prev":{"name":"x"},"next":{"name":"y"},"changedFields":[]})"),
            "[]");
  EXPECT_EQ(*catalog::call("systemPayload", R"({"id":"a","prev":{},"next":null,"changedFields":["name",1,"zz"]})"),
            R"({"changedFields":["name"],"systemId":"a"})");
  EXPECT_EQ(*catalog::call("groupPayload", R"({"id":"g","next":{"name":"n"}})"), R"({"groupId":"g","groupName":"n"})");
  EXPECT_EQ(*catalog::call("toGroupState", R"({"name":"g","metadata":null})"), R"({"metadata":{},"name":"g"})");
  EXPECT_EQ(*catalog::call("toSystemState", R"({"name":"s"})"), R"({"description":null,"metadata":{},"name":"s"})");
  EXPECT_EQ(catalog::call("nope", "{}").error().code, Code::ER_BAD_ARGUMENT);
  EXPECT_EQ(catalog::call("toSystemState", "[1").error().code, Code::ER_BAD_JSON);
  EXPECT_EQ(catalog::call("toSystemState", "[1]").error().code, Code::ER_BAD_ARGUMENT);
  EXPECT_EQ(catalog::call("deriveSystem", "1").error().code, Code::ER_BAD_ARGUMENT);
  auto merged =
      J(*catalog::call("updateMetadata", R"({"config":{"systemId":"s","metadata":{"b":2}},"current":{"a":1}})"));
  EXPECT_EQ(S(*merged.find("metadata")), R"({"a":1,"b":2})");
  EXPECT_EQ(merged.find("strategy")->as_string(), "merge");
  EXPECT_EQ(merged.find("systemId")->as_string(), "s");
  EXPECT_EQ(catalog::call("updateMetadata", R"({"config":{"metadata":{}}})").error().code, Code::ER_BAD_ARGUMENT);
}
