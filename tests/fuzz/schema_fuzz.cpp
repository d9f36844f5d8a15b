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
//     no default missing);
//   * Schema::check over a json::Doc (the write path) agrees with validate
//     over the tree: an error is the same error (code, path, message); "valid
//     as it is" (false) means validate accepts it unchanged; "would
//     normalise" (true) sends the engine down the tree path, where validate
//     decides.
// Two exemptions, both zod's own semantics (checked against zod 4):
//   * a `default` that its own schema rejects or would normalise
//     (`{"minimum":10,"default":2}`) is filled in as it is — zod 4 returns
//     defaults unparsed — so the output need not validate again: schemas
//     with such a default are checked for the first two properties only;
//   * under anyOf/oneOf the first branch that accepts wins, and a state
//     normalised by a later branch (a default filled in) may be taken by an
//     earlier branch the second time, which strips differently: with unions
//     the output must validate again, but may change.
#include <cmath>
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

// A host string tester (pattern, format) whose verdict depends on the
// string and the test, so that both outcomes occur.
const schema::StringTester kTester = [](std::uint32_t test, std::string_view text) {
  return (text.size() + test) % 3 != 0;
};

struct Mode {
  const schema::StringTester* tester = nullptr;
  bool strict = false;
  bool revalidate = true;  // all defaults clean
  bool idempotent = true;  // ... and no unions
};

bool has_non_finite(const json::Value& v) {
  if (v.is_number()) return !std::isfinite(v.as_number());
  if (v.is_array())
    for (const auto& item : v.as_array())
      if (has_non_finite(item)) return true;
  if (v.is_object())
    for (const auto& m : v.as_object())
      if (has_non_finite(m.value)) return true;
  return false;
}

// The document check against validate's verdict on the same state (`text`:
// its canonical JSON; `after`: validate's output).
void check_document(const schema::Schema& s, const json::Value& state, const std::string& text,
                    const Result<bool>& validated, const std::string& after, const schema::StringTester* tester) {
  // A tree number that is not finite prints as null: the document parsed
  // from that text is another state.
  if (has_non_finite(state)) return;
  json::Doc doc;
  FUZZ_CHECK(doc.parse(text, json::Limits{~std::size_t{0}, 1 << 20}).ok(), "canonical state does not parse: " + text);
  auto checked = s.check(doc, json::Doc::root(), "fuzz-kind", "fuzz-id", tester);
  if (!checked.ok()) {
    FUZZ_CHECK(!validated.ok(), "check rejects what validate accepts: " + text + ": " + checked.error().message);
    FUZZ_CHECK(checked.error().code == validated.error().code && checked.error().path == validated.error().path &&
                   checked.error().message == validated.error().message,
               "check and validate report different errors for " + text + ":\n  " + checked.error().message + "\n  " +
                   validated.error().message);
    return;
  }
  if (!checked.value()) {
    FUZZ_CHECK(validated.ok(), "check accepts what validate rejects: " + text + ": " + validated.error().message);
    FUZZ_CHECK(!validated.value() && after == text,
               "check says valid as it is, validate normalised " + text + " -> " + after);
  }
}

void check_state(const schema::Schema& s, json::Value state, const Mode& mode) {
  const std::string before = json::to_string(state);
  const json::Value original = state;
  auto first = s.validate(state, "fuzz-kind", "fuzz-id", mode.tester);
  check_document(s, original, before, first, json::to_string(state), mode.tester);
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
  auto second = s.validate(again, "fuzz-kind", "fuzz-id", mode.tester);
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
  if (in.ConsumeBool()) mode.tester = &kTester;
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
