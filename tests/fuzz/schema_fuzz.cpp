// Schema compile + validate (SPEC §4).
//   * compiling any JSON value never crashes; a rejected schema is
//     ER_BAD_SCHEMA with a message naming the kind;
//   * validating any state never crashes; a failure is ER_SCHEMA naming the
//     kind and id;
//   * a state that validation reports as unchanged is canonically unchanged,
//     and objects stay sorted with unique keys;
//   * the output of a successful validation validates again (validation
//     never hands back a state its schema rejects), in strip and strict
//     mode, and unchanged (normalising is idempotent: nothing left to strip,
//     no default missing).
// Two exemptions, both zod's own semantics (checked against zod 4):
//   * a `default` that its own schema rejects or would normalise
//     (`{"minimum":10,"default":2}`) is filled in as it is — zod 4 returns
//     defaults unparsed — so the output need not validate again: schemas
//     with such a default are checked for the first two properties only;
//   * under anyOf/oneOf the first branch that accepts wins, and a state
//     normalised by a later branch (a default filled in) may be taken by an
//     earlier branch the second time, which strips differently: with unions
//     the output must validate again, but may change.
#include <cstdint>
#include <string>

#include "fuzz_util.hpp"
#include "schema/schema.hpp"

using namespace er;

namespace {

// Every object holding "default" is taken for a schema: its default must
// validate, unchanged, against it (the object without "default"). False
// when one does not or cannot be checked on its own ($ref, compile error).
bool defaults_clean(const json::Value& node, bool strict) {
  if (node.is_array()) {
    for (const auto& item : node.as_array())
      if (!defaults_clean(item, strict)) return false;
    return true;
  }
  if (!node.is_object()) return true;
  if (const json::Value* d = node.find("default")) {
    json::Value sub = node;
    sub.erase("default");
    if (json::to_string(sub).find("\"$ref\"") != std::string::npos) return false;
    json::Value props = json::Value::object();
    props.set("x", std::move(sub));
    json::Value wrapper = json::Value::object();
    wrapper.set("type", "object");
    wrapper.set("properties", std::move(props));
    auto compiled = schema::Schema::compile(wrapper, "k", schema::CompileOptions{strict});
    if (!compiled.ok()) return false;
    json::Value state = json::Value::object();
    state.set("x", *d);
    auto r = compiled->validate(state, "k", "i");
    if (!r.ok() || *r) return false;
  }
  for (const auto& m : node.as_object())
    if (!defaults_clean(m.value, strict)) return false;
  return true;
}

struct Mode {
  bool strict = false;
  bool revalidate = true;  // all defaults clean
  bool idempotent = true;  // ... and no unions
};

void check_state(const schema::Schema& s, json::Value state, const Mode& mode) {
  const std::string before = json::to_string(state);
  auto first = s.validate(state, "fuzz-kind", "fuzz-id");
  if (!first.ok()) {
    FUZZ_CHECK(first.error().code == Code::ER_SCHEMA, first.error().message);
    FUZZ_CHECK(first.error().message.find("fuzz-kind") != std::string::npos &&
                   first.error().message.find("fuzz-id") != std::string::npos,
               first.error().message);
    return;
  }
  const std::string after = json::to_string(state);
  if (!*first) FUZZ_CHECK(before == after, "validate said unchanged but changed " + before + " -> " + after);
  std::string where;
  FUZZ_CHECK(fuzz::objects_sorted(state, where), where);
  if (!mode.revalidate) return;
  const std::string label = mode.strict ? "strict: " : "";
  json::Value again = state;
  auto second = s.validate(again, "fuzz-kind", "fuzz-id");
  FUZZ_CHECK(second.ok(), label + "validated output fails validation: " + before + " -> " + after + " -> " +
                              (second.ok() ? std::string() : second.error().message));
  if (!mode.idempotent) return;
  FUZZ_CHECK(!*second && json::to_string(again) == after,
             label + "validating the output changed it: " + before + " -> " + after + " -> " + json::to_string(again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  Mode mode;
  mode.strict = in.ConsumeBool();
  auto schema_json = json::parse(in.ConsumeRandomLengthString(4096));
  if (!schema_json.ok()) return 0;
  auto compiled = schema::Schema::compile(*schema_json, "fuzz-kind", schema::CompileOptions{mode.strict});
  if (!compiled.ok()) {
    FUZZ_CHECK(compiled.error().code == Code::ER_BAD_SCHEMA, compiled.error().message);
    FUZZ_CHECK(compiled.error().message.find("fuzz-kind") != std::string::npos, compiled.error().message);
    return 0;
  }
  const std::string schema_text = json::to_string(*schema_json);
  mode.revalidate = defaults_clean(*schema_json, mode.strict);
  mode.idempotent = mode.revalidate && schema_text.find("\"anyOf\"") == std::string::npos &&
                    schema_text.find("\"oneOf\"") == std::string::npos;
  // States: one as text (so the parser's shapes reach the validator), then
  // generated ones.
  const std::vector<std::string> pool;
  if (in.ConsumeBool()) {
    auto state = json::parse(in.ConsumeRandomLengthString(2048));
    if (state.ok()) check_state(*compiled, std::move(state.value()), mode);
  }
  for (int i = 0; i < 4 && in.remaining_bytes() > 0; ++i) check_state(*compiled, fuzz::gen_value(in, pool), mode);
  return 0;
}
