#include <gtest/gtest.h>

#include <map>

#include "catalog/catalog.hpp"
#include "engine/engine.hpp"
#include "engine_test_support.hpp"
#include "schema/schema.hpp"

using namespace er;
using namespace er::testing;

namespace {

Change change(std::optional<std::string> prev, std::optional<std::string> next, std::vector<std::string> fields) {
  Change c;
  c.kind = std::string(catalog::kSystemKind);
  c.id = "sys-1";
  if (prev) c.prev = J(*prev);
  if (next) c.next = J(*next);
  c.changed_fields = std::move(fields);
  return c;
}

const char* kSys = R"({"name":"api","description":null,"metadata":{}})";

}  // namespace

TEST(Catalog, SystemDerivation) {
  EXPECT_EQ(catalog::derive_system_triggers(change(std::nullopt, kSys, {"name"})), std::vector<std::string>{"catalog.created"});
  EXPECT_EQ(catalog::derive_system_triggers(change(kSys, kSys, {"name"})), std::vector<std::string>{"catalog.updated"});
  EXPECT_EQ(catalog::derive_system_triggers(change(kSys, std::nullopt, {"name"})), std::vector<std::string>{"catalog.deleted"});
}

TEST(Catalog, GroupUpdateFiresNothing) {
  EXPECT_EQ(catalog::derive_group_triggers(change(std::nullopt, kSys, {"name"})), std::vector<std::string>{"catalog.group.created"});
  EXPECT_TRUE(catalog::derive_group_triggers(change(kSys, kSys, {"name"})).empty());
  EXPECT_EQ(catalog::derive_group_triggers(change(kSys, std::nullopt, {})), std::vector<std::string>{"catalog.group.deleted"});
}

TEST(Catalog, SystemPayloadFiltersFieldsInTheChangesOrder) {
  auto p = catalog::system_payload(change(kSys, R"({"name":"api2","description":null,"metadata":{}})",
                                          {"description", "extra", "metadata", "name"}));
  EXPECT_EQ(S(p), R"({"changedFields":["description","metadata","name"],"systemId":"sys-1","systemName":"api2"})");
  auto tomb = catalog::system_payload(change(kSys, std::nullopt, {"name"}));
  EXPECT_EQ(tomb.find("systemName"), nullptr);  // absent on a tombstone
  EXPECT_EQ(S(catalog::group_payload(change(std::nullopt, kSys, {}))), R"({"groupId":"sys-1","groupName":"api"})");
  EXPECT_EQ(S(catalog::group_payload(change(kSys, std::nullopt, {}))), R"({"groupId":"sys-1"})");
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
  auto replace = catalog::parse_update_metadata_config(J(R"({"systemId":"s","strategy":"replace","metadata":{"b":2}})"));
  ASSERT_TRUE(replace.ok());
  EXPECT_EQ(S(catalog::apply_metadata_update(J(R"({"a":1})"), *replace)), R"({"b":2})");
  for (const char* bad : {R"({"metadata":{}})", R"({"systemId":"","metadata":{}})", R"({"systemId":"s","strategy":"upsert","metadata":{}})",
                          R"({"systemId":"s","metadata":[]})", "[]"}) {
    auto r = catalog::parse_update_metadata_config(J(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Code::ER_BAD_ARGUMENT);
  }
}

TEST(Catalog, MapperPayloadsValidateAgainstTriggerSchemas) {
  auto constants = J(catalog::constants_json());
  std::map<std::string, schema::Schema> schemas;
  for (const auto& t : constants.find("triggers")->as_array()) {
    auto s = schema::Schema::compile(*t.find("payloadSchema"), "payload", schema::CompileOptions{true});
    ASSERT_TRUE(s.ok()) << s.error().message;
    schemas.emplace(t.find("event")->as_string(), std::move(s.value()));
  }
  ASSERT_EQ(schemas.size(), 3u);
  const std::pair<Change, std::string> cases[] = {
      {change(std::nullopt, kSys, {"metadata", "name"}), "catalog.created"},
      {change(kSys, R"({"name":"b","description":null,"metadata":{}})", {"name"}), "catalog.updated"},
      {change(kSys, std::nullopt, {"description", "metadata", "name"}), "catalog.deleted"},
  };
  for (const auto& [c, event] : cases) {
    auto payload = catalog::system_payload(c);
    if (event != "catalog.updated") payload.erase("changedFields");  // those schemas do not declare it
    auto r = schemas.at(event).validate(payload, "payload", c.id);
    EXPECT_TRUE(r.ok()) << event << ": " << (r.ok() ? "" : r.error().message);
  }
}

TEST(Catalog, NativeDerivationInsideTheEngine) {
  Harness h;
  ASSERT_TRUE(h.engine->define_kind(catalog::kSystemKind, catalog::system_state_schema()).ok());
  ASSERT_TRUE(catalog::register_catalog(*h.engine).ok());
  ASSERT_TRUE(catalog::register_catalog(*h.engine).ok());  // registering again is harmless
  EXPECT_TRUE(h.engine->derivers().all_native(catalog::kSystemKind));
  auto created = h.write("s1", "", kSys, "", catalog::kSystemKind);
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->derived);
  EXPECT_EQ(created->triggers, std::vector<std::string>{"catalog.created"});
  EXPECT_EQ(S(*created->payload), R"({"changedFields":["metadata","name"],"systemId":"s1","systemName":"api"})");
  auto removed = h.write("s1", kSys, "", "", catalog::kSystemKind);
  EXPECT_EQ(removed->triggers, std::vector<std::string>{"catalog.deleted"});
  EXPECT_EQ(S(*removed->payload), R"({"changedFields":["description","metadata","name"],"systemId":"s1"})");
}

TEST(Catalog, CallDispatchForTheJsWrappers) {
  EXPECT_EQ(catalog::call("deriveSystem", R"({"id":"a","prev":null,"next":{"name":"x"},"changedFields":["name"]})"),
            R"(["catalog.created"])");
  EXPECT_EQ(catalog::call("toGroupState", R"({"name":"g","metadata":null})"), R"({"metadata":{},"name":"g"})");
  EXPECT_NE(catalog::call("nope", "{}").find("ER_BAD_ARGUMENT"), std::string::npos);
  EXPECT_NE(catalog::call("toSystemState", "[1").find("ER_BAD_JSON"), std::string::npos);
  auto merged = J(catalog::call("updateMetadata", R"({"config":{"systemId":"s","metadata":{"b":2}},"current":{"a":1}})"));
  EXPECT_EQ(S(*merged.find("metadata")), R"({"a":1,"b":2})");
  EXPECT_EQ(merged.find("strategy")->as_string(), "merge");
}
